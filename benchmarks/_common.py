"""What the benchmark scripts (``bench_matrix.py``, ``bench_efg.py``, ...) share.

The scripts run as ``python benchmarks/bench_x.py``, so ``benchmarks/`` is on ``sys.path`` and they
import this module as ``from _common import ...``. The measuring itself (timing of jitted functions
and of Python blocks, CPU accounting of other processes and hypervisor steal, waiting for an idle
machine, the machine and software record) is ``jaxgames.experiments.timing``, the one harness that
``jaxgames bench`` uses too, re-exported here. What is added: the command line every script has,
the start of a run, the JSON / CSV result files under ``benchmarks/results`` and figure helpers.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from jaxgames.experiments.timing import (
    CpuAccounting,
    busy_cpu_seconds,
    fold,
    loop_us,
    own_cpu_seconds,
    time_alternating,
    time_blocks,
    time_jitted,
    wait_for_idle,
)
from jaxgames.experiments.timing import environment as _environment

__all__ = [  # the shared harness, re-exported for the scripts, then what this module adds
    "CpuAccounting",
    "busy_cpu_seconds",
    "fold",
    "loop_us",
    "own_cpu_seconds",
    "time_alternating",
    "time_blocks",
    "time_jitted",
    "wait_for_idle",
    "RESULTS_DIR",
    "REPO_ROOT",
    "machine_info",
    "warn_if_loaded",
    "write_results",
    "nash_conv_figure",
    "save_figure",
    "standard_parser",
    "start_run",
]

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- machine record


def machine_info(packages=()) -> dict:
    """The environment record (``jaxgames.experiments.timing.environment``) of this checkout, with the
    versions of the distributions in ``packages``."""
    return _environment(packages=packages, repo=REPO_ROOT)


def warn_if_loaded(info: dict) -> None:
    if info["loadavg_at_start"][0] > 0.5:
        print(
            f"WARNING: 1-minute load average is {info['loadavg_at_start'][0]:.2f}; other processes "
            "compete for the CPU and timings will be pessimistic",
            file=sys.stderr,
        )


# ----------------------------------------------------------------------------- results


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
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to SECONDS until other processes leave the CPU idle",
    )
    parser.add_argument(
        "--low-latency",
        action="store_true",
        help="synchronous dispatch and XLA's plain CPU scheduler (jaxgames.latency)",
    )
    return parser


def command_line(parser, args, script: str) -> str:
    """``python benchmarks/<script>`` and every option of ``args`` that differs from ``parser``'s
    default, in the parser's order: the command that reproduces the run (``start_run`` stores it as
    ``args.command_line``)."""
    import argparse

    parts = [f"python benchmarks/{script}"]
    for action in parser._actions:  # argparse keeps its options there, in the order they were added
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        value = getattr(args, action.dest, action.default)
        if value == action.default:
            continue
        flag = max(action.option_strings, key=len)
        if isinstance(action, argparse._StoreTrueAction):
            parts.append(flag)
        else:
            parts.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    return " ".join(parts)


def start_run(parser, argv, packages=()):
    """Parse ``argv``, wait for an idle machine if asked, print the machine line; ``(args, info, cpu)``.

    ``args.command_line`` is the command that reproduces the run (``command_line``)."""
    import inspect

    args = parser.parse_args(argv)
    args.command_line = command_line(parser, args, Path(inspect.stack()[1].filename).name)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.low_latency:  # before machine_info starts the backend
        from jaxgames.latency import low_latency_cpu

        low_latency_cpu()
    idle = wait_for_idle(args.wait_idle) if args.wait_idle > 0 else None
    cpu = CpuAccounting()
    info = machine_info(packages=packages)
    info["wait_for_idle"] = idle
    info["low_latency"] = bool(args.low_latency)
    versions = "".join(f"{name} {info.get(name)}; " for name in packages)
    print(
        f"machine: {info['cpu_model']}, {info['cpu_count']} CPUs; jax {info['jax']} on {info['jax_devices']}; "
        f"{versions}numpy {info['numpy']}; git {info['git_commit'][:9]}"
        + (f" (uncommitted changes in {len(info['git_dirty_paths'])} library paths)" if info["git_dirty_paths"] else "")
        + ("; low-latency CPU settings (jaxgames.latency)" if args.low_latency else "")
    )
    warn_if_loaded(info)
    return args, info, cpu


def run_case(script: str, args: list) -> tuple[dict | None, str]:
    """Run ``script`` with ``args`` in a fresh process (a case measured alone: its own peak memory, its own
    compile); return ``(the JSON row its last stdout line holds, "")``, or ``(None, the end of its stderr)``."""
    done = subprocess.run([sys.executable, script, *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr[-2000:])
        return None, done.stderr[-500:]
    return json.loads(done.stdout.strip().splitlines()[-1]), ""
