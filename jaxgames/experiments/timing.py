"""Timing and the environment record: the one harness behind ``jaxgames bench``, runs, sweeps and
the scripts in ``benchmarks/`` (which import it through ``benchmarks/_common.py``).

Timing a jitted function separates its two costs. ``aot_compile`` traces, lowers and compiles ahead of
time (``fn.lower(*args).compile()``) and reports that time; ``time_calls`` then times blocked calls of
the compiled function (``jax.block_until_ready``), reporting every time, the median and the CPU
utilization of this process. ``compile_and_time`` is the two in a row. ``time_jitted`` (first call,
then repeats, then a fresh ahead-of-time compile), ``time_blocks`` (Python blocks) and
``time_alternating`` (several functions taking turns, so that they see the same load) are the
variants the benchmark scripts use.

Timings on a shared machine are pessimistic. ``CpuAccounting`` measures the CPU time other processes
used during a run (from ``/proc/stat``) and hypervisor steal; ``wait_for_idle`` waits for a quiet
machine first. ``environment()`` records what a result depends on besides its config: versions,
devices, precision, the CPU, the load and (for a source checkout) the git commit.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

#: Above this many cores used by other processes on average, a run counts as contended.
LOADED_CORES = 0.05


# ----------------------------------------------------------------------------- timing


@dataclasses.dataclass(frozen=True)
class Timing:
    """Wall-clock times of ``repeats`` blocked calls (seconds) and this process's CPU use meanwhile."""

    times_s: tuple[float, ...]
    cpu_utilization: float  # median over the calls of own CPU-seconds per wall second

    @property
    def median_s(self) -> float:
        return float(statistics.median(self.times_s))

    @property
    def min_s(self) -> float:
        return float(min(self.times_s))


def aot_compile(fn, *args):
    """Trace, lower and compile the jitted ``fn`` for ``args`` ahead of time: ``(compiled, seconds)``."""
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    return compiled, time.perf_counter() - t0


def time_calls(fn, *args, repeats: int = 1):
    """``repeats`` (at least 1) blocked calls ``fn(*args)``: ``(last output, Timing)``."""
    times, cpu, out = [], [], None
    for _ in range(max(int(repeats), 1)):
        c0, t0 = own_cpu_seconds(), time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        dt = time.perf_counter() - t0
        times.append(dt)
        cpu.append((own_cpu_seconds() - c0) / dt if dt > 0 else 0.0)
    return out, Timing(tuple(times), float(np.median(cpu)))


def compile_and_time(fn, args, repeats: int = 1):
    """Compile ahead of time, then run ``repeats`` times: ``(outputs, compile_s, median run_s)``."""
    compiled, compile_s = aot_compile(fn, *args)
    out, timing = time_calls(compiled, *args, repeats=repeats)
    return out, compile_s, timing.median_s


def time_jitted(make_fn, *args, repeats: int, return_fn: bool = False) -> dict:
    """Time a jitted function built by ``make_fn()``: first call, then ``repeats`` blocked calls.

    ``compile_s`` is the first call minus the steady-state median (noisy when a run takes much
    longer than compiling: it is clamped at 0). ``aot_compile_s`` times trace + lower + XLA compile
    directly, on a fresh function from ``make_fn()`` so that nothing is served from the first
    function's caches. ``cpu_utilization`` is the median of our CPU-seconds per wall second over the
    timed calls. ``return_fn``: also return the warm function (``"fn"``) for further timing.
    """
    fn = make_fn()
    out, first = time_calls(fn, *args)
    _, timing = time_calls(fn, *args, repeats=repeats)
    _, aot = aot_compile(make_fn(), *args)
    median = timing.median_s
    return {
        "first_call_s": first.times_s[0],
        "median_s": median,
        "min_s": timing.min_s,
        "times_s": list(timing.times_s),
        "compile_s": max(first.times_s[0] - median, 0.0),
        "aot_compile_s": aot,
        "cpu_utilization": timing.cpu_utilization,
        "output": out,
        **({"fn": fn} if return_fn else {}),
    }


def time_blocks(fn, repeats: int) -> dict:
    """``repeats`` timed calls of ``fn`` (each a block of work, blocking itself); median and all times."""
    _, timing = time_calls(fn, repeats=repeats)
    return {"median_s": timing.median_s, "min_s": timing.min_s, "times_s": list(timing.times_s)}


def loop_us(body, carry, iterations: int, repeats: int) -> float:
    """Microseconds per application of ``body`` inside one jitted ``lax.fori_loop`` (no dispatch).

    ``body(carry) -> carry``; the median over ``repeats`` calls of the compiled loop (compiled and
    run once first). Fold outputs of another shape into the carry with ``fold``.
    """
    f = jax.jit(lambda c: jax.lax.fori_loop(0, iterations, lambda _, c: body(c), c))
    jax.block_until_ready(f(carry))
    t = time_blocks(lambda: jax.block_until_ready(f(carry)), repeats)
    return 1e6 * t["median_s"] / iterations


def fold(carry, *arrays):
    """``carry`` plus ``1e-30`` times the sum of ``arrays``: the loop depends on them, so XLA can
    neither drop nor hoist the work that made them, and the carry is unchanged in float32."""
    s = sum(jnp.sum(a) for a in arrays)
    return jax.tree_util.tree_map(lambda c: c + 1e-30 * s, carry)


def time_alternating(fns, arg_of_repeat, repeats: int) -> list:
    """Per function of ``fns``: ``(median_s, compile_s)`` over ``repeats`` calls ``fn(arg_of_repeat(r))``.

    The first call (``r = 0``, compiling) of every function comes first; then the functions take
    turns on each repeat ``r = 1..repeats``, so that they see the same machine load.
    ``compile_s`` is the first call's time minus the median.
    """
    first = [time_calls(fn, arg_of_repeat(0))[1].times_s[0] for fn in fns]
    times = [[] for _ in fns]
    for r in range(1, repeats + 1):
        for fn, out in zip(fns, times):
            out.append(time_calls(fn, arg_of_repeat(r))[1].times_s[0])
    medians = [float(np.median(t)) for t in times]
    return [(m, max(f - m, 0.0)) for m, f in zip(medians, first)]


# ----------------------------------------------------------------------------- CPU accounting


def own_cpu_seconds() -> float:
    """CPU-seconds this process (all its threads, and its waited-for children) used so far."""
    t = os.times()
    return time.process_time() + t.children_user + t.children_system  # process_time: ns resolution


def busy_cpu_seconds() -> tuple[float, float] | None:
    """(CPU-seconds all processes on this machine spent busy, CPU-seconds stolen by the hypervisor).

    From ``/proc/stat``; ``None`` where that is unavailable.
    """
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq) / hz, steal / hz


def wait_for_idle(max_wait_s: float, threshold_cores: float = 0.1, window_s: float = 2.0, consecutive: int = 3) -> dict:
    """Wait until other processes use < ``threshold_cores`` for ``consecutive`` windows."""
    start, calm = time.perf_counter(), 0
    while time.perf_counter() - start < max_wait_s:
        b0, o0 = busy_cpu_seconds(), own_cpu_seconds()
        time.sleep(window_s)
        b1, o1 = busy_cpu_seconds(), own_cpu_seconds()
        if b0 is None or b1 is None:
            return {"waited_s": 0.0, "idle": None}
        other = max(b1[0] - b0[0] - (o1 - o0), 0.0) / window_s
        calm = calm + 1 if other < threshold_cores else 0
        if calm >= consecutive:
            return {"waited_s": time.perf_counter() - start, "idle": True}
        print(f"  waiting for an idle machine: other processes use {other:.2f} cores", flush=True)
    return {"waited_s": time.perf_counter() - start, "idle": False}


class CpuAccounting:
    """Wall time of a run and the CPU time other processes used meanwhile (create it at the start)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.busy0, self.own0 = busy_cpu_seconds(), own_cpu_seconds()

    def measure(self) -> dict:
        """``wall_s``, this process's ``own_cpu_s``, and (where ``/proc/stat`` exists) the CPU-seconds
        and average cores ``other_processes_*`` used since the start, and hypervisor ``steal_cpu_s``."""
        wall = time.perf_counter() - self.start
        own = own_cpu_seconds() - self.own0
        record = {"loadavg_at_end": list(os.getloadavg()), "wall_s": wall, "own_cpu_s": own}
        busy1 = busy_cpu_seconds()
        if self.busy0 is not None and busy1 is not None:
            foreign = max(busy1[0] - self.busy0[0] - own, 0.0)
            record.update(
                other_processes_cpu_s=foreign,
                other_processes_cores=foreign / wall if wall > 0 else 0.0,
                steal_cpu_s=busy1[1] - self.busy0[1],
            )
        return record

    def finish(self, info: dict) -> None:
        """Record ``measure()`` in ``info``; print it, and warn when other processes competed."""
        info.update(self.measure())
        if "other_processes_cpu_s" not in info:
            return
        print(
            f"\nother processes used {info['other_processes_cpu_s']:.1f} CPU-s during the run "
            f"({info['other_processes_cores']:.2f} cores on average); hypervisor steal "
            f"{info['steal_cpu_s']:.1f} CPU-s"
        )
        if contended(info):
            print(
                "WARNING: other processes competed for the CPU during this run; timings are "
                "pessimistic. Re-run on an idle machine for publishable numbers.",
                file=sys.stderr,
            )


def contended(record: dict) -> bool:
    """Whether other processes used more than ``LOADED_CORES`` cores during a measured run."""
    return (record.get("other_processes_cores") or 0.0) > LOADED_CORES


# ----------------------------------------------------------------------------- environment record


def precision() -> str:
    """The float dtype results are computed in: ``"float64"`` under ``JAX_ENABLE_X64``, else ``"float32"``."""
    return jnp.dtype(jnp.result_type(float)).name


def _package_version(name: str):
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - not installed, or broken metadata: nothing to record
        return None


def _cpu() -> tuple[str, str | None]:
    """CPU model and L3 cache size (``lscpu``, else ``/proc/cpuinfo``, else ``platform``)."""
    model, l3 = platform.processor() or "unknown", None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return model, l3
    m = re.search(r"^Model name:\s*(.+)$", out, re.M)
    model = m.group(1).strip() if m else model
    m = re.search(r"^L3 cache:\s*(.+)$", out, re.M)
    return model, (m.group(1).strip() if m else None)


def git(repo: str | Path, *args) -> str:
    """Output of ``git *args`` in ``repo`` ('' where git is unavailable)."""
    try:
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=False, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def source_checkout() -> Path | None:
    """The git checkout jaxgames is imported from, or None (an installed copy)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / ".git").exists() else None


def environment(packages=(), repo: str | Path | None = None) -> dict:
    """What a result depends on besides its config: versions (plus those of the distributions in
    ``packages``), devices, precision, the CPU, the load, and the git commit and changed library
    paths of ``repo`` (default: the checkout jaxgames is imported from, if any)."""
    import jaxgames

    model, l3 = _cpu()
    info = {
        "jaxgames": jaxgames.__version__,
        "jax": jax.__version__,
        "jaxlib": _package_version("jaxlib"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": model,
        "l3_cache": l3,
        "cpu_count": os.cpu_count(),
        "backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "device_count": jax.device_count(),
        "jax_enable_x64": bool(jax.config.read("jax_enable_x64")),
        "precision": precision(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "loadavg_at_start": list(os.getloadavg()),
    }
    info.update({name: _package_version(name) for name in packages})
    repo = source_checkout() if repo is None else repo
    if repo is not None:
        info["git_commit"] = git(repo, "rev-parse", "HEAD")
        info["git_dirty_paths"] = git(repo, "status", "--porcelain", "--", "jaxgames", "solvers").splitlines()
    return info
