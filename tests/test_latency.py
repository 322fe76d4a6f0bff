"""``jaxgames.latency.low_latency_cpu``: what it sets, in a fresh process, and its refusal once JAX runs."""

import subprocess
import sys

import jax.numpy as jnp
import pytest

from jaxgames.latency import FLAG, low_latency_cpu

from helpers import KUHN_UNIFORM_NASH_CONV

SCRIPT = """
import os, jax, jax.numpy as jnp, jaxgames
from jaxgames.latency import low_latency_cpu
os.environ.pop("XLA_FLAGS", None)
low_latency_cpu()
g = jaxgames.kuhn_poker()
print(os.environ["XLA_FLAGS"], jax.config.values["jax_cpu_enable_async_dispatch"],
      round(float(jaxgames.exploitability(g, g.uniform_policy())), 4))
"""


@pytest.mark.slow
def test_low_latency_cpu_sets_both_and_results_are_unchanged():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    flags, async_dispatch, expl = out.stdout.split()
    assert flags == FLAG and async_dispatch == "False"
    assert float(expl) == pytest.approx(KUHN_UNIFORM_NASH_CONV / 2, abs=1e-4)  # Kuhn's uniform policy


def test_low_latency_cpu_refuses_once_the_backend_runs(monkeypatch):
    jnp.ones(1).block_until_ready()  # the backend is up in this process
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    with pytest.raises(RuntimeError, match="before the first computation"):
        low_latency_cpu()
