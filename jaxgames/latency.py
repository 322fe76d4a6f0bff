"""Opt-in settings for the lowest per-call latency of small jitted calls on CPU.

JAX's defaults favour throughput: calls are dispatched asynchronously (the
Python thread hands the computation to a runtime thread and returns), and
XLA's CPU scheduler orders kernels for concurrency across the thread pool.
For one query that compiles to a few dozen microsecond-sized kernels (the
exploitability of a poker policy, an evaluation, a best response), both cost
more than they give; long solver runs (one big compiled loop) are unaffected
either way. ``python benchmarks/bench_efg.py --low-latency`` measures the
difference on your machine.

``low_latency_cpu()`` turns both off for the process:

* ``jax.config.update("jax_cpu_enable_async_dispatch", False)``;
* ``--xla_cpu_enable_concurrency_optimized_scheduler=false`` appended to
  ``XLA_FLAGS``.

JAX reads both when its CPU backend starts, so call ``low_latency_cpu()``
before the first computation; it raises once the backend runs (unless the
flag was already in ``XLA_FLAGS``). It changes global JAX settings, so the
library never calls it on its own.
"""

from __future__ import annotations

import os

import jax

FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def backend_started() -> bool:
    """True once JAX has started its backends (after the first computation or device query).

    JAX has no public query for this; it uses the documented contract of the
    ``jax_num_cpu_devices`` option, which may only change before the backends start
    (``jax.config.update`` raises ``RuntimeError`` afterwards). Before that point the
    option is changed and restored, which has no effect.
    """
    current = jax.config.jax_num_cpu_devices
    try:
        jax.config.update("jax_num_cpu_devices", current + 1 if current > 0 else 1)
    except RuntimeError:
        return True
    jax.config.update("jax_num_cpu_devices", current)
    return False


def low_latency_cpu() -> None:
    """Synchronous dispatch and XLA's plain CPU scheduler for this process (see the module docstring).

    Raises ``RuntimeError`` if JAX's backend has already started, when neither setting would take
    effect, unless ``XLA_FLAGS`` already holds the flag (set in the environment before Python started).
    """
    flag_set = FLAG in os.environ.get("XLA_FLAGS", "")
    if not flag_set and backend_started():
        raise RuntimeError(
            "low_latency_cpu: JAX's backend has already started; call it before the first "
            "computation (or set XLA_FLAGS=" + FLAG + " in the environment)"
        )
    if not flag_set:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + FLAG).strip()
    jax.config.update("jax_cpu_enable_async_dispatch", False)
