"""Opt-in settings for the lowest per-call latency of small jitted calls on CPU.

JAX's defaults favour throughput: calls are dispatched asynchronously (the
Python thread hands the computation to a runtime thread and returns), and
XLA's CPU scheduler orders kernels for concurrency across the thread pool.
For one query that compiles to a few dozen microsecond-sized kernels (the
exploitability of a poker policy, an evaluation, a best response), both cost
more than they give: on a 2-core machine (``python benchmarks/bench_efg.py``
with and without ``--low-latency``), one Leduc exploitability through
``jaxgames.exploitability`` took 0.235 ms with the defaults and 0.082 ms with
both settings below (the jitted computation alone 0.133 -> 0.056 ms; either
setting alone gave no clear gain). Long solver runs (one big compiled loop)
are unaffected either way.

``low_latency_cpu()`` turns both off for the process:

* ``jax.config.update("jax_cpu_enable_async_dispatch", False)``;
* ``--xla_cpu_enable_concurrency_optimized_scheduler=false`` appended to
  ``XLA_FLAGS``, which XLA reads once, when the CPU backend starts: call
  ``low_latency_cpu()`` before the first computation (it raises otherwise).
  The per-``jit`` ``compiler_options`` spelling of the flag did not help in
  our measurements, hence the process-wide form.

It changes global JAX settings, so the library never calls it on its own;
``benchmarks/bench_efg.py --low-latency`` does.
"""

from __future__ import annotations

import os

import jax

FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def low_latency_cpu() -> None:
    """Synchronous dispatch and XLA's plain CPU scheduler for this process (see the module docstring)."""
    from jax._src import xla_bridge
    if xla_bridge._backends and FLAG not in os.environ.get("XLA_FLAGS", ""):
        raise RuntimeError("low_latency_cpu: JAX's backend has already started; call it before the first "
                           "computation (or set XLA_FLAGS=" + FLAG + " in the environment)")
    if FLAG not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + FLAG).strip()
    jax.config.update("jax_cpu_enable_async_dispatch", False)
