"""Test-session settings.

The suite compiles a few hundred small XLA programs that each run for milliseconds, so LLVM's
optimization passes cost more than they save. Each test process therefore starts its XLA backend
with ``helpers.quick_compile_flags()``: ``--xla_backend_optimization_level=0`` (the sample-based
solvers' tests: 137 s -> 95 s wall on 2 cores) and ``--xla_cpu_use_fusion_emitters=false`` (XLA's
older CPU emitters compile faster: test_mean_field_stationary 42 -> 28 s, test_policy_gradient
49 -> 34 s of CPU), then restores ``XLA_FLAGS``: the processes that tests start (float64
subprocesses, sweeps) run long computations and keep XLA's default optimization, unless they must
compile alike (test_checkpoint's killed run). The notebooks run in the test processes
(``test_notebooks.run_notebook``), with the quick flags.

Each compiled XLA CPU program keeps about three memory mappings of its code until it is freed, and a test
worker compiles thousands: one worker ran past Linux's default limit of 65,530 mappings
(``vm.max_map_count``) after about 760 tests, and XLA aborted. After each test module, a worker above a
third of the limit therefore drops JAX's compilation caches (``_release_compiled_programs``).

Markers: ``slow`` (the quick loop is ``pytest -m "not slow"``) and ``requires_pyspiel`` (cross-checks
against OpenSpiel, skipped when ``open-spiel`` is not installed; the rest of a module still runs).
"""

import functools
import gc
import os

import pytest

from helpers import quick_compile_flags

_original = os.environ.get("XLA_FLAGS")
os.environ["XLA_FLAGS"] = ((_original or "") + " " + quick_compile_flags()).strip()
import jax  # noqa: E402

jax.devices()  # the backend reads XLA_FLAGS once, here
if _original is None:
    del os.environ["XLA_FLAGS"]
else:
    os.environ["XLA_FLAGS"] = _original


# ----------------------------------------------------------------------------------------- markers
def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slow: long runs (subprocesses, notebooks, long convergence runs); "
        "the quick loop is `pytest -m 'not slow'`, CI runs everything",
    )
    config.addinivalue_line(
        "markers", "requires_pyspiel: a cross-check against OpenSpiel; skipped when open-spiel is not installed"
    )


@functools.cache
def _has_pyspiel() -> bool:
    try:
        import open_spiel.python  # noqa: F401
        import pyspiel  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.hookimpl(tryfirst=True)  # before fixtures are set up: a fixture may need OpenSpiel too
def pytest_runtest_setup(item):
    if item.get_closest_marker("requires_pyspiel") is not None and not _has_pyspiel():
        pytest.skip("needs OpenSpiel (pip install open-spiel)")


# ------------------------------------------------------------------------- compiled-code mappings
def _map_count() -> int:
    try:
        with open("/proc/self/maps", "rb") as f:
            return sum(1 for _ in f)
    except OSError:  # not Linux
        return 0


@functools.cache
def _map_budget() -> int:
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read()) // 3
    except (OSError, ValueError):
        return 20_000


def pytest_runtest_teardown(item, nextitem):
    """At the end of a test module, drop JAX's caches if the compiled programs' mappings near the limit."""
    if nextitem is not None and nextitem.module is item.module:
        return
    if _map_count() > _map_budget():
        jax.clear_caches()
        gc.collect()
