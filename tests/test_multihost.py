"""Sweeps under ``jax.distributed``: two local CPU processes (gloo collectives, two devices each).

The multi-process sweep shards every chunk over the four devices of both processes, gathers the
results, and process 0 writes the files (``jaxgames.experiments.multihost``). Checked against the
same sweep in one process; a resumed sweep recomputes only the missing chunk; different configs on
the two processes, a coordinator that never answers, and every inconsistent launch (checked by the
processes' handshake before the runtime starts) fail with a clear message.
"""

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from jaxgames.cli import main
from jaxgames.experiments import config as cfg
from jaxgames.experiments import multihost
from jaxgames.experiments.execute import run_sweep
from jaxgames.experiments.results import read_csv

from helpers import quick_compile_flags

REPO = Path(__file__).resolve().parents[1]
SWEEP = REPO / "configs" / "matrix_sweep.yaml"
# 2 x 2 x 3 = 12 points in chunks of 5: three chunks, the last one short (padding to 4 devices)
OVERRIDES = [
    "num_steps=60",
    "eval_every=20",
    "chunk_size=5",
    "grid.solver.learning_rate=[0.1,0.5]",
    "grid.solver.temperature=[0.05,0.2]",
    "grid.seed=[0,1,2]",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def env() -> dict:
    flags = "--xla_force_host_platform_device_count=2 " + quick_compile_flags()
    return {
        **os.environ,
        "XLA_FLAGS": flags,
        "JAX_PLATFORMS": "cpu",
        "JAX_CPU_COLLECTIVES_IMPLEMENTATION": "gloo",
        "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }


def sweep_on_two_processes(out: Path, overrides=(OVERRIDES, OVERRIDES), timeout_s: int = 60, port=None, counts=(2, 2)):
    """Start ``jaxgames sweep`` as processes 0 and 1 (given ``counts`` as ``--num-processes``); return both
    ``CompletedProcess``es."""
    port = port or free_port()
    procs = []
    for pid, (extra, count) in enumerate(zip(overrides, counts)):
        cmd = [sys.executable, "-m", "jaxgames", "sweep", str(SWEEP), *extra, "--out", str(out)]
        cmd += ["--coordinator", f"localhost:{port}", "--num-processes", str(count), "--process-id", str(pid)]
        cmd += ["--coordinator-timeout", str(timeout_s)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env()))
    done = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=240)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return done


def finals(rows) -> np.ndarray:
    return np.array([float(r["final_exploitability"]) for r in sorted(rows, key=lambda r: int(r["point"]))])


@pytest.mark.slow  # two processes: ~10 s each to start and compile
def test_two_process_sweep_equals_one_process_and_resumes(tmp_path):
    two = tmp_path / "two"
    procs = sweep_on_two_processes(two)
    for p in procs:
        assert p.returncode == 0, p.stderr[-3000:]
    assert "12 grid points" in procs[0].stdout and "grid points" not in procs[1].stdout  # process 0 reports
    one = run_sweep(cfg.load_config(SWEEP, "sweep", OVERRIDES), tmp_path / "one")
    ours = read_csv(two / "results.csv")
    assert len(ours) == 12 and sorted(os.listdir(two / "chunks")) == [f"chunk_0000{c}.csv" for c in range(3)]
    np.testing.assert_allclose(finals(ours), finals(one), rtol=1e-5, atol=1e-7)  # float32 rounding

    # resume: the second chunk and the results are lost; only that chunk is computed again
    first = (two / "chunks" / "chunk_00000.csv").stat().st_mtime_ns
    (two / "chunks" / "chunk_00001.csv").unlink()
    (two / "results.csv").unlink()
    procs = sweep_on_two_processes(two)
    for p in procs:
        assert p.returncode == 0, p.stderr[-3000:]
    assert "resumed: 7 of 12 grid points were already on disk" in procs[0].stderr
    assert (two / "chunks" / "chunk_00000.csv").stat().st_mtime_ns == first
    np.testing.assert_allclose(finals(read_csv(two / "results.csv")), finals(ours), rtol=0, atol=0)


@pytest.mark.slow
def test_different_configs_fail_on_both(tmp_path):
    other = [*OVERRIDES[:-1], "grid.seed=[0,1,3]"]
    for p in sweep_on_two_processes(tmp_path / "out", overrides=(OVERRIDES, other)):
        assert p.returncode == 2, p.stderr[-3000:]
        assert "config: differs between processes" in p.stderr, p.stderr[-3000:]
        assert "Traceback" not in p.stderr


SAME = ": give every process the same --num-processes"


def meet(processes, timeout_s=3.0):
    """Run ``multihost.handshake`` for each ``(num_processes, process_id)`` in its own thread, all at one
    free port; return each one's ``ConfigError`` message, or None."""
    port = free_port()
    outcome = [None] * len(processes)

    def one(i, count, index):
        try:
            multihost.handshake(f"localhost:{port}", count, index, timeout_s)
        except cfg.ConfigError as err:
            outcome[i] = str(err)

    threads = [threading.Thread(target=one, args=(i, *p)) for i, p in enumerate(processes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcome


def test_handshake_accepts_a_consistent_launch_and_rejects_every_mismatch_on_every_process():
    """Each inconsistent launch fails on every process with one message (XLA's runtime would instead
    terminate the processes, or run silently with process 0's count)."""
    assert meet([(3, 2), (3, 0), (3, 1)]) == [None, None, None]
    count = "--num-processes: process 1 was given 3, but process 0 (the coordinator) was given 2"
    assert meet([(2, 0), (3, 1)]) == [count + SAME] * 2
    # a process index at or above process 0's count
    above = "--num-processes: process 2 was given 3, but process 0 (the coordinator) was given 2"
    assert meet([(2, 0), (3, 2)]) == [above + SAME] * 2
    missing = "--num-processes: process 0 was given 3, but process(es) [2] did not connect to the coordinator"
    assert all(m and m.startswith(missing) for m in meet([(3, 0), (3, 1)], timeout_s=1.0))
    twice = "--process-id: two processes were given 1: give each process its own index"
    assert meet([(3, 0), (3, 1), (3, 1)]) == [twice] * 3


def test_unreachable_coordinator_and_bad_process_flags_fail_clearly(tmp_path, capsys):
    """Checked before ``jax.distributed`` starts (XLA would terminate the process), so in this process."""
    port = free_port()  # nobody listens there
    args = ["sweep", str(SWEEP), *OVERRIDES, "--out", str(tmp_path / "o")]
    for flags, message in (
        (
            ["--coordinator", f"localhost:{port}", "--num-processes", "2", "--process-id", "1"]
            + ["--coordinator-timeout", "1"],
            f"could not start jax.distributed with localhost:{port} within 1 s (nothing answers there",
        ),
        (["--coordinator", f"localhost:{port}"], "give all three, or none"),
        (["--coordinator", "x:1", "--num-processes", "2", "--process-id", "2"], "--process-id: expected an integer"),
        (["--coordinator", "nohost", "--num-processes", "2", "--process-id", "1"], "expected HOST:PORT, got 'nohost'"),
        (["--distributed", "--process-id", "0"], "--distributed: reads the processes from the environment"),
    ):
        assert main([*args, *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
