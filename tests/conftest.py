"""Test-session settings.

The suite compiles a few hundred small XLA programs that each run for milliseconds, so LLVM's
optimization passes cost more than they save. Each test process therefore starts its XLA backend
with ``--xla_backend_optimization_level=0`` (the sample-based solvers' tests: 137 s -> 95 s wall on
2 cores), then restores ``XLA_FLAGS``: the processes that tests start (notebook kernels, float64
subprocesses, sweeps) run long computations and keep XLA's default optimization.
"""

import os

_original = os.environ.get("XLA_FLAGS")
os.environ["XLA_FLAGS"] = ((_original or "") + " --xla_backend_optimization_level=0").strip()
import jax  # noqa: E402

jax.devices()   # the backend reads XLA_FLAGS once, here
if _original is None:
    del os.environ["XLA_FLAGS"]
else:
    os.environ["XLA_FLAGS"] = _original
