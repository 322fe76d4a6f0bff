"""Measurement plumbing shared by the benchmark scripts (``bench_matrix.py``, ``bench_efg.py``).

The scripts run as ``python benchmarks/bench_x.py``, so ``benchmarks/`` is on ``sys.path`` and they
import this module as ``from _common import ...``. Nothing here is specific to one benchmark:
machine description, CPU accounting (other processes, hypervisor steal), waiting for an idle
machine, timing of jitted functions and of Python blocks, and writing the JSON / CSV results.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- machine / CPU checks

def git(*args) -> str:
    """Output of ``git *args`` in the repository root ('' where git is unavailable)."""
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return ""


def jaxlib_version():
    try:
        import jaxlib
        return jaxlib.__version__
    except Exception:  # noqa: BLE001
        return None


def package_version(name: str):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001
        return None


def machine_info(packages=()) -> dict:
    """CPU, software versions (plus those of the distributions in ``packages``), git state, load."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    l3 = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        model = m.group(1).strip() if m else model
        m = re.search(r"^L3 cache:\s*(.+)$", out, re.M)
        l3 = m.group(1).strip() if m else None
    except OSError:
        pass
    info = {
        "cpu_model": model, "l3_cache": l3, "cpu_count": os.cpu_count(),
        "platform": platform.platform(), "python": platform.python_version(),
        "jax": jax.__version__, "jaxlib": getattr(jax.lib, "__version__", None) or jaxlib_version(),
        "numpy": np.__version__,
    }
    info.update({name: package_version(name) for name in packages})
    info.update({
        "jax_devices": [str(d) for d in jax.devices()],
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty_paths": git("status", "--porcelain", "--", "jaxgames", "solvers").splitlines(),
        "loadavg_at_start": list(os.getloadavg()),
    })
    return info


def warn_if_loaded(info: dict) -> None:
    if info["loadavg_at_start"][0] > 0.5:
        print(f"WARNING: 1-minute load average is {info['loadavg_at_start'][0]:.2f}; other processes "
              "compete for the CPU and timings will be pessimistic", file=sys.stderr)


def busy_cpu_seconds() -> tuple[float, float] | None:
    """(CPU-seconds all processes on this machine spent busy, CPU-seconds stolen by the hypervisor).

    From ``/proc/stat``; ``None`` where that is unavailable. Used to tell whether other
    processes competed with the benchmark (timings would then be pessimistic).
    """
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq) / hz, steal / hz


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def wait_for_idle(max_wait_s: float, threshold_cores: float = 0.1, window_s: float = 2.0,
                  consecutive: int = 3) -> dict:
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
    """Wall time of the run and the CPU time other processes used meanwhile (start it first)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.busy0, self.own0 = busy_cpu_seconds(), own_cpu_seconds()

    def finish(self, info: dict) -> None:
        """Record load, wall time, other processes' CPU time and steal in ``info``; print and warn."""
        info["loadavg_at_end"] = list(os.getloadavg())
        info["wall_s"] = time.perf_counter() - self.start
        busy1 = busy_cpu_seconds()
        if self.busy0 is None or busy1 is None:
            return
        # CPU time used by *other* processes while we ran, in units of cores.
        foreign = max(busy1[0] - self.busy0[0] - (own_cpu_seconds() - self.own0), 0.0)
        info["other_processes_cpu_s"] = foreign
        info["other_processes_cores"] = foreign / info["wall_s"]
        info["steal_cpu_s"] = busy1[1] - self.busy0[1]
        print(f"\nother processes used {foreign:.1f} CPU-s during the run "
              f"({info['other_processes_cores']:.2f} cores on average); hypervisor steal "
              f"{info['steal_cpu_s']:.1f} CPU-s")
        if info["other_processes_cores"] > 0.05:
            print("WARNING: other processes competed for the CPU during this run; timings are "
                  "pessimistic. Re-run on an idle machine for publishable numbers.", file=sys.stderr)


# ----------------------------------------------------------------------------- timing helpers

def time_jitted(make_fn, *args, repeats: int, return_fn: bool = False) -> dict:
    """Time a jitted function built by ``make_fn()``: first call, then ``repeats`` blocked calls.

    ``compile_s`` is the first call minus the steady-state median
    (noisy when a run takes much longer than compiling: it is clamped at 0).
    ``aot_compile_s`` times trace + lower + XLA compile directly, on a fresh function
    from ``make_fn()`` so that nothing is served from the first function's caches.
    ``cpu_utilization`` is the median of our CPU-seconds per wall second over the timed calls.
    ``return_fn``: also return the warm function (``"fn"``) for further timing.
    """
    fn = make_fn()
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    times, cpu = [], []
    for _ in range(repeats):
        c0, t0 = own_cpu_seconds(), time.perf_counter()
        jax.block_until_ready(fn(*args))
        dt = time.perf_counter() - t0
        times.append(dt)
        cpu.append((own_cpu_seconds() - c0) / dt)
    median = float(np.median(times))
    t0 = time.perf_counter()
    make_fn().lower(*args).compile()
    aot = time.perf_counter() - t0
    return {"first_call_s": first, "median_s": median, "min_s": float(np.min(times)),
            "times_s": times, "compile_s": max(first - median, 0.0), "aot_compile_s": aot,
            "cpu_utilization": float(np.median(cpu)), "output": out, **({"fn": fn} if return_fn else {})}


def time_blocks(fn, repeats: int) -> dict:
    """``repeats`` timed calls of ``fn`` (each a block of work); median and all times."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": float(np.median(times)), "min_s": float(np.min(times)), "times_s": times}


# ----------------------------------------------------------------------------- results

def time_alternating(fns, arg_of_repeat, repeats: int) -> list:
    """Per function of ``fns``: ``(median_s, compile_s)`` over ``repeats`` calls ``fn(arg_of_repeat(r))``.

    The first call (``r = 0``, compiling) of every function comes first; then the functions take
    turns on each repeat ``r = 1..repeats``, so that they see the same machine load.
    ``compile_s`` is the first call's time minus the median.
    """
    first = []
    for fn in fns:
        t0 = time.perf_counter()
        jax.block_until_ready(fn(arg_of_repeat(0)))
        first.append(time.perf_counter() - t0)
    times = [[] for _ in fns]
    for r in range(1, repeats + 1):
        for fn, out in zip(fns, times):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(arg_of_repeat(r)))
            out.append(time.perf_counter() - t0)
    medians = [float(np.median(t)) for t in times]
    return [(m, max(f - m, 0.0)) for m, f in zip(medians, first)]


def write_results(stem: str, payload: dict, rows: list, fields: list, wall_s: float) -> None:
    """``RESULTS_DIR/<stem>.json`` (the payload) and ``.csv`` (``rows``, columns ``fields``).

    Runs with ``--low-latency`` write ``<stem>_low_latency.*``, next to the default run's files.
    """
    if payload.get("machine", {}).get("low_latency"):
        stem += "_low_latency"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(payload, indent=2, default=float) + "\n")
    with open(RESULTS_DIR / f"{stem}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in fields})
    print(f"\nwrote {RESULTS_DIR / (stem + '.json')} and .csv; total wall time {wall_s:.0f} s")


# ----------------------------------------------------------------------------- plots

def nash_conv_figure(games):
    """``(fig, axes [G, 2])``: two log-scale NashConv panels per game, one row per game."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(games), 2, figsize=(10, 3.6 * len(games)), squeeze=False)
    for g, game in enumerate(games):
        for ax in axes[g]:
            ax.set_yscale("log")
            ax.set_ylabel(f"NashConv ({game})")
            ax.grid(alpha=0.3)
    return fig, axes


def save_figure(fig, path) -> None:
    """Legends on the panels that have labelled lines, then ``path`` (PNG, 120 dpi); closes ``fig``."""
    import matplotlib.pyplot as plt

    for ax in fig.axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- command line / start

def standard_parser(doc: str):
    """An ``argparse`` parser with the options every benchmark has: ``--quick``, ``--repeats``, ``--wait-idle``."""
    import argparse
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke testing")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to SECONDS until other processes leave the CPU idle")
    parser.add_argument("--low-latency", action="store_true",
                        help="synchronous dispatch and XLA's plain CPU scheduler (jaxgames.latency)")
    return parser


def start_run(parser, argv, packages=()):
    """Parse ``argv``, wait for an idle machine if asked, print the machine line; ``(args, info, cpu)``."""
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.low_latency:   # before machine_info starts the backend
        from jaxgames.latency import low_latency_cpu
        low_latency_cpu()
    idle = wait_for_idle(args.wait_idle) if args.wait_idle > 0 else None
    cpu = CpuAccounting()
    info = machine_info(packages=packages)
    info["wait_for_idle"] = idle
    info["low_latency"] = bool(args.low_latency)
    versions = "; ".join(f"{name} {info.get(name)}" for name in packages)
    print(f"machine: {info['cpu_model']}, {info['cpu_count']} CPUs; jax {info['jax']} on {info['jax_devices']}; "
          f"{versions}; numpy {info['numpy']}; git {info['git_commit'][:9]}"
          + (f" (uncommitted changes in {len(info['git_dirty_paths'])} library paths)"
             if info["git_dirty_paths"] else "")
          + ("; low-latency CPU settings (jaxgames.latency)" if args.low_latency else ""))
    warn_if_loaded(info)
    return args, info, cpu
