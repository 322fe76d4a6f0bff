"""Write ``benchmarks/README.md`` from the committed result files in ``benchmarks/reported/``.

The benchmark scripts measure and check; this script only reports. Each ``bench_*.py`` writes
``benchmarks/results/<stem>.json`` (a git-ignored scratch folder). A run becomes the reported one
when its JSON is copied into ``benchmarks/reported/`` (``--add`` does that), and the README is
generated from those files alone, so the README and the data cannot disagree::

    python benchmarks/report.py                                            # rewrite benchmarks/README.md
    python benchmarks/report.py --check                                    # exit 1 if README.md is stale
    python benchmarks/report.py --add benchmarks/results/bench_mccfr.json  # adopt a run, then rewrite

Standard library only (no JAX), deterministic: the same files give the same bytes. A file that
is not valid JSON, lacks a field a table needs, or belongs to no benchmark stops the script with
an error naming the file and the field.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from jaxgames.experiments.timing import LOADED_CORES  # above this, other processes competed

HERE = Path(__file__).resolve().parent
REPORTED_DIR = HERE / "reported"
README = HERE / "README.md"
PACKAGES = ("jaxlib", "numpy", "scipy", "nashpy", "open_spiel", "pgx", "flax", "optax", "flashbax", "rlax")


class ReportError(Exception):
    """A result file cannot be reported (unreadable, malformed, or claimed by no benchmark)."""


_MISSING = object()


class Run:
    """One result file: its name, whether it is a ``--quick`` run, and checked access to fields."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.name = self.path.name
        try:
            self.data = json.loads(self.path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ReportError(f"{self.name}: not a readable JSON file ({err})") from None
        if not isinstance(self.data, dict):
            raise ReportError(f"{self.name}: the top level must be a JSON object, not {type(self.data).__name__}")
        self.quick = "_quick" in self.path.stem

    def get(self, *keys, default=_MISSING):
        """``data[k0][k1]...``; a missing field is a ``ReportError`` naming it (unless ``default``)."""
        node = self.data
        for i, key in enumerate(keys):
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                if default is not _MISSING:
                    return default
                where = ".".join(str(k) for k in keys[: i + 1])
                raise ReportError(f"{self.name}: missing field '{where}'") from None
        return node

    def at(self, *prefix) -> At:
        """Checked access below ``prefix``: ``run.at("summary", 0)("game")`` is ``run.get("summary", 0, "game")``."""
        return At(self, prefix)

    def num(self, *keys) -> float:
        value = self.get(*keys)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ReportError(f"{self.name}: field '{'.'.join(map(str, keys))}' must be a number, got {value!r}")
        return float(value)


class At:
    """``Run.get`` / ``Run.num`` below a fixed prefix of keys."""

    def __init__(self, run: Run, prefix: tuple):
        self.run, self.prefix = run, prefix

    def __call__(self, *keys, default=_MISSING):
        return self.run.get(*self.prefix, *keys, default=default)

    def num(self, *keys) -> float:
        return self.run.num(*self.prefix, *keys)


# ----------------------------------------------------------------------------- formatting


def num(x) -> str:
    """A figure to 3 significant digits, without exponents between 1e-3 and 1e9 ('—' for None)."""
    if x is None:
        return "—"
    x = float(x)
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1e6:
        return f"{x / 1e6:.3g}M"
    if a >= 1e4:
        return f"{x / 1e3:.3g}k"
    if a >= 1e3:
        return f"{x:,.0f}"
    if a >= 1e-3:
        return f"{x:.3g}"
    return f"{x:.2e}"


def ratio(x) -> str:
    return "—" if x is None else (f"{x:.2f}x" if x < 10 else f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x")


def secs(x) -> str:
    if x is None:
        return "—"
    return f"{x:.1f} s" if x >= 1 else f"{1e3 * x:.3g} ms" if x >= 1e-3 else f"{1e6 * x:.3g} us"


def spread(med, lo, hi) -> str:
    return f"{num(med)} [{num(lo)}, {num(hi)}]"


def table(header: list[str], rows: list[list], align: str | None = None) -> list[str]:
    """A Markdown table; ``align`` has one letter per column, ``l`` or ``r`` (default: first left)."""
    align = align or "l" + "r" * (len(header) - 1)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def kwargs_text(kwargs: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(kwargs.items())) or "defaults"


def median(values) -> float:
    return float(statistics.median(values))


# ----------------------------------------------------------------------------- the run's record


def run_lines(run: Run, command: str) -> list[str]:
    """How the run was made: command, mode, commit, machine, software, load."""
    data = run.data
    recorded = data.get("command")
    mode = "quick run (`--quick`: smaller sizes, a smoke test)" if run.quick else "full run"
    lines = [f"Result file `{run.name}`, {mode}."]
    if isinstance(recorded, str):
        cmd = recorded
    elif callable(command):
        cmd = command(run)
    else:
        cmd = command + (" --quick" if run.quick else "")
    lines.append(
        f"- Command: `{cmd}`" + ("" if isinstance(recorded, str) else " (the file does not record the command)")
    )
    machine = data.get("machine")
    if not isinstance(machine, dict):
        known = [f"{k} {data[k]}" for k in ("jax", "pgx") if isinstance(data.get(k), str)]
        arch = f", {machine}" if isinstance(machine, str) else ""
        devices = data.get("devices")
        dev = f", devices {', '.join(map(str, devices))}" if isinstance(devices, list) else ""
        lines.append(
            f"- Machine: only {', '.join(known) or 'nothing'}{arch}{dev} recorded; this script does not "
            "record the CPU, the git commit or the load."
        )
        return lines
    commit = str(run.get("machine", "git_commit"))[:7] or "unknown"
    dirty = machine.get("git_dirty_paths") or []
    wall = machine.get("wall_s")
    lines.append(
        f"- Commit `{commit}`"
        + (f" with uncommitted changes in {len(dirty)} library path{'s' * (len(dirty) > 1)}" if dirty else "")
        + (f"; wall time {wall:.0f} s" if isinstance(wall, (int, float)) else "")
        + "."
    )
    l3 = f", L3 cache {machine['l3_cache']}" if machine.get("l3_cache") else ""
    devices = machine.get("jax_devices") or []
    versions = ", ".join(f"{p} {machine[p]}" for p in PACKAGES if machine.get(p))
    lines.append(
        f"- Machine: {run.get('machine', 'cpu_model')}, {run.get('machine', 'cpu_count')} CPUs{l3}; "
        f"JAX devices {', '.join(map(str, devices)) or 'not recorded'}; Python {run.get('machine', 'python')}, "
        f"jax {run.get('machine', 'jax')}"
        + (f", {versions}" if versions else "")
        + (", x64" if machine.get("jax_enable_x64") else "")
        + ("; `--low-latency` CPU settings" if machine.get("low_latency") else "")
        + "."
    )
    cores = machine.get("other_processes_cores")
    if isinstance(cores, (int, float)):
        lines.append(
            f"- Load: other processes used {cores:.2f} cores on average"
            + (" (**loaded**: timings are pessimistic)." if loaded(run) else " (idle).")
        )
    else:
        lines.append("- Load: not recorded.")
    return lines


def loaded(run: Run) -> bool:
    """Whether other processes competed for the CPU during the run (False where not recorded)."""
    machine = run.data.get("machine")
    cores = machine.get("other_processes_cores") if isinstance(machine, dict) else None
    return isinstance(cores, (int, float)) and cores > LOADED_CORES


# ----------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    goal: str
    measured: str
    met: bool | None  # None: not measured


def met_text(met: bool | None) -> str:
    return "not measured" if met is None else "**yes**" if met else "**no**"


# ----------------------------------------------------------------------------- benchmarks with results


def efg_env_tables(runs):
    (run,) = runs
    rows = []
    for i, _ in enumerate(run.get("rows")):
        g = run.at("rows", i).num
        rows.append(
            [
                f"{int(g('batch')):,}",
                f"{int(g('steps')):,}",
                num(g("ours_steps_per_s")),
                num(g("ours_observed_steps_per_s")),
                num(g("ours_one_hot_observed_steps_per_s")),
                num(g("pgx_steps_per_s")),
                ratio(g("ratio")),
                ratio(g("observed_ratio")),
                f"{g('ours_compile_s'):.1f} / {g('ours_observed_compile_s'):.1f} / {g('pgx_compile_s'):.1f}",
            ]
        )
    return table(
        [
            "batch",
            "steps",
            "ours `rollout` steps/s",
            "ours step loop, info-state tensor",
            "step loop, one-hot",
            "pgx steps/s",
            "`rollout` / pgx",
            "step loop / pgx",
            "compile s (rollout / loop / pgx)",
        ],
        rows,
    )


def efg_env_targets(runs):
    (run,) = runs
    rows = run.get("rows")
    big = [i for i, r in enumerate(rows) if r.get("batch") == 16384]
    if not big:
        return [Target("Kuhn simulator >= 3x pgx at batch 16,384", "batch 16,384 not in the run", None)]
    i = big[0]
    r, obs = run.num("rows", i, "ratio"), run.num("rows", i, "observed_ratio")
    return [
        Target(
            "Kuhn simulator >= 3x pgx's env steps/s at batch 16,384",
            f"{ratio(r)} (`rollout`); the pgx-like step loop with observations {ratio(obs)}",
            r >= 3,
        )
    ]


def matrix_tables(runs):
    (run,) = runs
    a = run.at("summary", "a")
    out = [
        f"(a) {a('games'):,} random {a('actions')}x{a('actions')} zero-sum games, fictitious play, "
        f"{a('iterations'):,} iterations, in one jitted call; nashpy on the first {a('nashpy_games')} of them:",
        "",
    ]
    out += table(
        ["", "game-iterations/s", "median exploitability", "compile (first - median / AOT)"],
        [
            [
                "ours",
                num(a("ours_game_iters_per_s")),
                num(a("ours_median_exploitability")),
                f"{secs(a('compile_s'))} / {secs(a('aot_compile_s'))}",
            ],
            ["nashpy", num(a("nashpy_game_iters_per_s")), num(a("nashpy_median_exploitability")), "—"],
            ["ours / nashpy", ratio(a("ratio")), f"uniform policy {num(a('uniform_exploitability'))}", ""],
        ],
    )
    for label in ("b", "b_dram"):
        case = run.get("summary", label, default=None)
        if not case:
            continue
        c = run.at("summary", label)
        out += [
            "",
            f"({label}) {c('games'):,} random {c('actions')}x{c('actions')} games, "
            f"{c('payoff_bytes') / 1e6:.3g} MB of payoffs; `np.copyto` reads {num(c('numpy_copy_read_GBps'))} GB/s"
            + (
                f"; nashpy on {c('nashpy_games')} games: {num(c('nashpy_game_iters_per_s'))} game-iterations/s"
                if case.get("nashpy_game_iters_per_s")
                else ""
            )
            + ":",
            "",
        ]
        rows = []
        for name in c("solvers"):
            v = run.at("summary", label, "solvers", name)
            rows.append(
                [
                    name,
                    f"{v('iterations'):,}",
                    num(v("game_iters_per_s")),
                    num(v("payoff_reads_per_step")),
                    num(v("read_GBps")),
                    f"{100 * v('fraction_of_copy'):.0f}%",
                    num(v("median_exploitability")),
                    f"{secs(v('compile_s'))} / {secs(v('aot_compile_s'))}",
                ]
            )
        ref = case.get("reference_matvec")
        if ref:
            rows.append(
                [
                    "reference: bare batched mat-vec",
                    f"{ref['iterations']:,}",
                    "—",
                    "1",
                    num(ref["read_GBps"]),
                    f"{100 * ref['fraction_of_copy']:.0f}%",
                    "—",
                    "—",
                ]
            )
        out += table(
            [
                "solver",
                "iterations",
                "game-iterations/s",
                "payoff reads / step",
                "GB/s read",
                "% of copy",
                "median exploitability",
                "compile (first - median / AOT)",
            ],
            rows,
        )
    return out


def matrix_targets(runs):
    (run,) = runs
    a = run.get("summary", "a")
    out = [
        Target(
            f"{a['games']:,} {a['actions']}x{a['actions']} games, fictitious play: >= "
            f"{num(a['target_ratio'])}x nashpy's game-iterations/s",
            ratio(a["ratio"]),
            bool(a["met"]),
        )
    ]
    for label in ("b", "b_dram"):
        case = run.get("summary", label, default=None)
        if case:
            fracs = {k: v["fraction_of_copy"] for k, v in case["solvers"].items()}
            worst = min(fracs, key=fracs.get)
            out.append(
                Target(
                    f"({label}) payoff read bandwidth >= {100 * case['target_fraction_of_copy']:.0f}% of "
                    "`np.copyto`'s, every solver",
                    f"lowest {100 * fracs[worst]:.0f}% ({worst})",
                    all(v["met"] for v in case["solvers"].values()),
                )
            )
    return out


def mean_field_tables(runs):
    (run,) = runs
    rows = []
    for name in ("fictitious_play", "mirror_descent"):
        v = run.at("summary", name)
        rows.append(
            [
                name,
                v("iterations"),
                secs(1e-6 * v("ours_us_per_iter")),
                secs(1e-6 * v("openspiel_us_per_iter")),
                ratio(v("speedup")),
                num(v("ours_exploitability")),
                num(v("openspiel_exploitability")),
                f"{secs(v('compile_s'))} / {secs(v('aot_compile_s'))}",
            ]
        )
    out = table(
        [
            "solver",
            "iterations",
            "ours per iteration",
            "OpenSpiel per iteration",
            "speed-up",
            "ours exploitability",
            "OpenSpiel exploitability",
            "compile (first - median / AOT)",
        ],
        rows,
    )
    w = run.at("summary", "sweep")
    out += [
        "",
        f"Sweep: {w('configurations'):,} (crowd aversion, learning rate) configurations x {w('iterations')} "
        f"mirror-descent iterations in one `jit(vmap)` call: {secs(w('median_s'))} = {num(w('configs_per_s'))} "
        f"configurations/s (compile {secs(w('compile_s'))}); "
        f"one configuration alone {num(w('single_config_per_s'))}/s; "
        f"OpenSpiel about {num(w('openspiel_configs_per_s'))}/s (estimated from its iteration and NashConv times). "
        f"{w('below_005')} configurations end below exploitability 0.05.",
    ]
    a = run.get("summary", "analysis", default=None)
    if a:
        shape = "x".join(str(n) for n in a["shape"])
        out += [
            "",
            f"Where a mirror-descent iteration goes (each piece inside one `fori_loop`, no dispatch): the step "
            f"{a['step_us']:.2f} us = its gradient `evaluate` {a['evaluate_us']:.2f} us (the mean field forward, "
            f"{a['mean_field_us']:.2f} us, then backward induction: two scans of 10 time steps, a few small "
            f"kernels each) + the entropic step {a['entropic_step_us']:.2f} us (the loop itself: "
            f"{a['empty_loop_us']:.2f} us). The entropic step at temperature 0 is `simplex.hedge_step`, which "
            "takes no `log`: XLA's CPU code for element-wise functions is not vectorized when the last axis "
            f"is short (3 actions here), and `log` of the [{shape}] policy takes {a['log_policy_us']:.2f} us "
            f"against {a['log_flat_us']:.2f} us for as many numbers laid out flat; with the `log` the step "
            "took 5.37 us and the run gave 859x (the reported run at commit 8af84f1). What is left is the "
            "two scans of 10 time steps, a few small kernels per step.",
        ]
    return out


def mean_field_targets(runs):
    (run,) = runs
    return [
        Target(
            f"crowd modelling, {name}: >= {num(run.num('summary', name, 'target'))}x OpenSpiel's iterations/s",
            ratio(run.num("summary", name, "speedup")),
            run.num("summary", name, "speedup") >= run.num("summary", name, "target"),
        )
        for name in ("fictitious_play", "mirror_descent")
    ]


def mfglib_targets(runs):
    (run,) = runs
    out = []
    for i, _ in enumerate(run.get("rows")):
        r = run.at("rows", i)
        if (int(r("n")), int(r("T"))) == (40, 20) and r("ratio") is not None:
            got = float(r("ratio"))
            out.append(
                Target(f"beach bar 40 x 20, {r('solver')}: >= 100x mfglib per iteration", ratio(got), got >= 100)
            )
    return out


def mfglib_tables(runs):
    (run,) = runs
    peer = run.at("summary", "mfglib")
    rows = []
    for i, _ in enumerate(run.get("rows")):
        r = run.at("rows", i)
        theirs = r("mfglib_us_per_iter")
        rows.append(
            [
                f"{r('n')} x {r('T')}",
                r("solver"),
                f"{r('iterations'):,}",
                secs(1e-6 * r.num("ours_us_per_iter")),
                "—" if theirs is None else secs(1e-6 * r.num("mfglib_us_per_iter")),
                "—" if theirs is None else ratio(r.num("ratio")),
                f"{secs(r.num('compile_s'))} / {secs(r.num('aot_compile_s'))}",
            ]
        )
    if peer("available"):
        versions = ", ".join(f"{k} {peer(k)}" for k in ("mfglib", "torch") if peer(k, default=None))
        head = f"mfglib ({versions or 'versions not recorded'}) in its own interpreter, median of its solves."
    else:
        head = f"mfglib was not run: {peer('reason')}. Our side only."
    header = ["n x T", "solver", "iterations", "ours / it", "mfglib / it", "mfglib / ours"]
    return [head, ""] + table(header + ["compile (first - median / AOT)"], rows, "llrrrrr")


def efg_tables(runs):
    out = []
    for run in runs:
        c = run.at("summary", "cfr_plus")
        rows = []
        for game in ("kuhn_poker", "leduc_poker"):
            o = c(game)
            has_jax = "ratio_jaxcfr" in o
            rows.append(
                [
                    f"CFR+ {game}, {o['iterations']:,} it",
                    f"{secs(1e-6 * c(game, 'ours', 'us_per_iter'))} / it",
                    f"{secs(1e-6 * c(game, 'cpp', 'us_per_iter'))} / it",
                    ratio(c(game, "ratio_cpp")),
                    f"{secs(1e-6 * c(game, 'jaxcfr', 'us_per_iter'))} / "
                    f"{secs(1e-6 * c(game, 'jaxcfr_fused', 'us_per_iter'))} per it"
                    if has_jax
                    else "not run",
                    f"{ratio(c(game, 'ratio_jaxcfr'))} / {ratio(c(game, 'ratio_jaxcfr_fused'))}" if has_jax else "—",
                    f"{secs(c(game, 'ours', 'compile_s'))} / {secs(c(game, 'ours', 'aot_compile_s'))}",
                ]
            )
        e = run.at("summary", "exploitability", "leduc_poker")
        rows.append(
            [
                "exploitability, Leduc, one policy (plain jitted call)",
                f"{secs(1e-3 * e('ours_ms'))} ({secs(1e-3 * e('ours_raw_ms'))})",
                secs(1e-3 * e("cpp_ms")),
                f"{ratio(e('ratio_cpp'))} ({ratio(e('ratio_cpp_raw'))})",
                "—",
                "—",
                f"{secs(e('ours_first_call_s'))} first call / {secs(e('ours_aot_compile_s'))}",
            ]
        )
        v = run.at("summary", "variants")
        rows.append(
            [
                f"{v('games'):,} Kuhn variants, CFR+ {v('iterations'):,} it, one call",
                f"{num(v('game_iters_per_s'))} game-it/s ({ratio(v('ratio_single'))} our single game)",
                "one game",
                ratio(v("ratio_cpp")),
                "—",
                "—",
                f"{secs(v('compile_s'))} / {secs(v('aot_compile_s'))}",
            ]
        )
        mode = "`--low-latency`" if run.get("machine", "low_latency", default=False) else "JAX's defaults"
        out += [f"`{run.name}` ({mode}):", ""]
        out += table(
            [
                "benchmark",
                "ours",
                "OpenSpiel C++",
                "ours / C++",
                "JaxCFR, API / fused loop",
                "ours / JaxCFR, API / fused",
                "compile (first - median / AOT)",
            ],
            rows,
        ) + [""]
        out += efg_time_split(run)
    return out[:-1]


def efg_time_split(run) -> list[str]:
    """Where Leduc's time goes (the script's part (4) and the exploitability's three timings)."""
    a = run.get("summary", "analysis", "leduc_poker", default=None)
    x = run.get("summary", "exploitability", "leduc_poker", default=None)
    if not a or not x or "counterfactual_values_us" not in a:
        return []
    loop, raw, api = 1e3 * x["ours_loop_ms"], 1e3 * x["ours_raw_ms"], 1e3 * x["ours_ms"]
    spaced = x.get("ours_spaced_ms")
    hlo = a.get("exploitability_hlo")
    kernels = f" in {hlo['entry_kernels']} kernels" if hlo else ""
    spaced_text = (
        f"; {1e3 * spaced:.1f} us when each call follows {x['spaced_gap_us']:.0f} us of other host work "
        f"({ratio(x['ratio_cpp_spaced'])}), because by then the runtime's thread has gone to sleep"
        if spaced is not None
        else ""
    )
    return [
        f"Where Leduc's time goes (inside a `fori_loop`, no dispatch): a CFR+ step {a['step_us']:.1f} us = 2 x "
        f"one player's counterfactual values ({a['counterfactual_values_us']:.1f} us: payoff mat-vec "
        f"{a['payoff_matvec_us']:.1f}, bottom-up pass {a['bottom_up_us']:.1f}) + the average's `mix_policies` "
        f"({a['mix_policies_us']:.1f}) + regret matching. One exploitability: {loop:.1f} us of computation"
        f"{kernels}; "
        f"{api:.1f} us through `jaxgames.exploitability`, calls back to back{spaced_text}; {raw:.1f} us as a "
        "plain jitted call (the game's arrays one by one, `block_until_ready`). The rest is dispatch. "
        + (
            "With `--low-latency` (`jaxgames.latency.low_latency_cpu()`) every call runs on the calling "
            "thread, so what remains is JAX's dispatch and the API's checks."
            if run.get("machine", "low_latency", default=False)
            else _DEFAULT_DISPATCH
        ),
        "",
    ]


_DEFAULT_DISPATCH = (
    "With JAX's defaults a call is handed to a runtime thread (asynchronous dispatch), and on these 2 cores "
    "the hand-offs cost more than the computation: the call's fixed part, and about a microsecond or two "
    "for each kernel (when Leduc's query went from 23 kernels to 12, the computation in the loop stayed at "
    "about 20 us and the call went from 74 us to about 50 us). The figure moves between processes: "
    "over 18 idle runs of this script today (14 of them `--only exploitability`; the code changed only in "
    "microseconds of host work between them) the ratio ranged from 770x to 1,420x, median 1,043x, 14 of them "
    "at 1,000x or more, with the peer at 48-68 ms and the API at 45-65 us; the calls sit near the point where "
    "XLA's runtime thread stops spinning and sleeps. The public queries cut what a library can: "
    "the game travels as one buffer per dtype, the caller polls the result for up to 1 ms before it "
    "sleeps, a scalar query returns one buffer (`jaxgames.latency`), and an extensive-form game's "
    "`nash_conv` walks all players' information sets in one pass (`jaxgames.efg.joint`). JAX offers no "
    "per-call synchronous execution (XLA's CPU client runs a call on the calling thread only when the "
    "whole client is synchronous or its cost model counts under 1,000 flops; this one counts about "
    "56,000), so the hand-offs stay; `--low-latency` (`jaxgames.latency.low_latency_cpu()`, a "
    "process-wide setting that the library never changes on its own) removes them."
)


def efg_targets(runs):
    out = []
    for run in runs:
        tag = " (`--low-latency`)" if run.get("machine", "low_latency", default=False) else ""
        for key, goal in sorted(run.get("targets").items()):
            kind, game, peer = key.split("/")
            if kind == "cfr_plus" and peer == "cpp":
                got = run.num("summary", "cfr_plus", game, "ratio_cpp")
                out.append(
                    Target(f"CFR+ {game}: >= {num(goal)}x OpenSpiel C++'s iterations/s{tag}", ratio(got), got >= goal)
                )
            elif kind == "cfr_plus" and peer == "jaxcfr":
                api = run.get("summary", "cfr_plus", game, "ratio_jaxcfr", default=None)
                fused = run.get("summary", "cfr_plus", game, "ratio_jaxcfr_fused", default=None)
                out.append(
                    Target(
                        f"CFR+ {game}: >= {num(goal)}x JaxCFR's iterations/s, its step fused in one loop{tag}",
                        "JaxCFR not run" if fused is None else f"{ratio(fused)} (through its API: {ratio(api)})",
                        None if fused is None else fused >= goal,
                    )
                )
            elif kind == "exploitability":
                got = run.num("summary", "exploitability", game, "ratio_cpp")
                out.append(
                    Target(
                        f"exploitability, {game}: >= {num(goal)}x `pyspiel.exploitability`{tag}",
                        ratio(got),
                        got >= goal,
                    )
                )
            else:
                raise ReportError(f"{run.name}: unknown target '{key}'")
    return out


def markov_tables(runs):
    (run,) = runs
    cfg = run.get("config")
    s = run.at("single")
    n = s("iterations")
    out = [
        f"(1) One random zero-sum Markov game, {cfg['states']} states, {cfg['actions']} x {cfg['actions']} actions, "
        f"branching {cfg.get('branching')}, discount {cfg.get('discount')}, {n} iterations of Shapley iteration:",
        "",
    ]
    out += table(
        ["", "time per run", "per iteration", "compile (first - median / AOT)", "check"],
        [
            [
                "ours, `solvers.run` (final NashConv included)",
                secs(s("ours", "median_s")),
                secs(s("ours", "median_s") / n),
                f"{secs(s('ours', 'compile_s'))} / {secs(s('ours', 'aot_compile_s'))}",
                f"NashConv {num(s('nash_conv'))}",
            ],
            [
                "ours, the stage loop alone",
                secs(s("ours", "loop_median_s")),
                secs(s("ours", "loop_median_s") / n),
                "",
                "",
            ],
            [
                "NumPy + `scipy.optimize.linprog`",
                secs(s("scipy", "median_s")),
                secs(s("scipy", "median_s") / n),
                "",
                f"max \\|V - V_ours\\| = {num(s('max_value_diff'))}",
            ],
            ["speed-up", ratio(s("ratio")), f"loop alone {ratio(s('ratio_loop'))}", "", ""],
        ],
    )
    b = run.at("batch")
    v = run.at("vmap")
    out += ["", f"(2) Many games, {b('iterations')} iterations each, drawn from keys inside the call:", ""]
    out += table(
        ["", "time", "games/s", "stage games/s", "compile"],
        [
            [
                f"{b('games'):,} games, `lax.map` of vmapped chunks of {b('chunk')}",
                secs(b("timing", "median_s")),
                num(b("games_per_s")),
                "",
                secs(b("timing", "compile_s")),
            ],
            ["of which drawing the games", secs(b("generation_timing", "median_s")), "", "", ""],
            ["solving alone", "", num(b("solve_games_per_s")), num(b("stage_games_per_s")), ""],
            [
                f"plain `jax.vmap`, {v('games'):,} games (drawing included)",
                secs(v("timing", "median_s")),
                num(v("games_per_s")),
                "",
                secs(v("timing", "compile_s")),
            ],
        ],
    )
    return out


def markov_targets(runs):
    (run,) = runs
    got, goal = run.num("single", "ratio"), run.num("single", "target")
    out = [Target(f"one game: >= {num(goal)}x the NumPy + SciPy loop", ratio(got), got >= goal)]
    goal = run.get("batch", "target_games_per_s", default=None)
    if goal is not None:
        got = run.num("batch", "games_per_s")
        out.append(
            Target(
                f"{int(run.num('batch', 'games')):,} games x {int(run.num('batch', 'iterations'))} iterations in one "
                f"call, drawing included: >= {num(goal)} games/s",
                f"{num(got)} games/s",
                got >= goal,
            )
        )
    return out


def markov_env_tables(runs):
    (run,) = runs
    rows = []
    for i, _ in enumerate(run.get("rows")):
        g = run.at("rows", i).num
        rows.append(
            [
                f"{int(g('batch')):,}",
                f"{int(g('steps')):,}",
                num(g("ours_steps_per_s")),
                secs(g("ours_compile_s")),
                f"{int(g('numpy_steps')):,}",
                num(g("numpy_steps_per_s")),
                ratio(g("speedup")),
            ]
        )
    return [
        f"Game: {run.get('game')}; a fixed random stationary policy, episodes of 100 steps with auto-reset.",
        "",
    ] + table(["batch", "steps", "ours env steps/s", "compile", "NumPy steps", "NumPy env steps/s", "ratio"], rows)


def neural_nlhf_tables(runs):
    (run,) = runs
    out = []
    for game in dict.fromkeys(s["game"] for s in run.get("summaries")):
        summaries = [s for s in run.get("summaries") if s.get("game") == game]
        steps = sorted({r["step"] for r in run.get("rows") if r.get("game") == game})
        shown = steps if len(steps) <= 8 else [steps[0], steps[len(steps) // 2], steps[-1]]
        floors = summaries[0].get("floors", {})
        out += [
            f"{game} game (contexts x responses): uniform policy's gap {num(summaries[0]['uniform'])}; exact "
            "regularized equilibrium's gap "
            + ", ".join(f"{num(f)} at beta {b}" for b, f in sorted(floors.items()))
            + "; mean gap over seeds:",
            "",
        ]
        rows = []
        for s in summaries:
            curve = {
                r["step"]: r["gap_mean"]
                for r in run.get("rows")
                if r.get("game") == game and r.get("method") == s["method"]
            }
            rows.append([s["method"], *(num(curve.get(st)) for st in shown), secs(s["wall_s_with_compile"])])
        out += table(["method", *(f"step {st}" for st in shown), "wall (with compile)"], rows) + [""]
    return out[:-1]


MCCFR_NAMES = {"os": "outcome sampling", "es": "external sampling"}


def mccfr_tables(runs):
    (run,) = runs
    out = ["Batch size 1, equal iterations (NashConv medians over seeds):", ""]
    rows = []
    for kind in ("os", "es"):
        for game in sorted(run.get("summary", "equal_iterations", kind)):
            s = run.at("summary", "equal_iterations", kind, game)
            ours, cpp = s("ours_nash_conv"), s("cpp_nash_conv")
            its = s("checkpoints")
            ours_med = " / ".join(num(median([seed[j] for seed in ours])) for j in range(len(its)))
            cpp_med = " / ".join(num(median([seed[j] for seed in cpp])) for j in range(len(its)))
            ours_rate, cpp_rate = float(s("ours_iterations_per_s")), float(s("cpp_iterations_per_s"))
            rows.append(
                [
                    f"{game}, {MCCFR_NAMES[kind]}",
                    " / ".join(num(c) for c in its),
                    ours_med,
                    cpp_med,
                    num(ours_rate),
                    num(cpp_rate),
                    ratio(ours_rate / cpp_rate),
                    secs(float(s("compile_s"))),
                ]
            )
    out += table(
        [
            "game, sampling",
            "iterations",
            "ours NashConv",
            "C++ NashConv",
            "ours it/s",
            "C++ it/s",
            "ours / C++ speed",
            "compile",
        ],
        rows,
    )
    out += ["", "Batched, Leduc: time to reach the C++ solver's median NashConv (traversals counted per player):", ""]
    rows = []
    for kind in ("os", "es"):
        batched = run.get("summary", "batched", kind, "leduc_poker")
        cpp = run.get("summary", "batched", kind, "leduc_poker", "cpp")
        rows.append(
            [
                MCCFR_NAMES[kind],
                f"C++ ({int(cpp['iterations']):,} it)",
                num(cpp["traversals_per_s"]),
                "1x",
                secs(cpp["time_s"]),
                "1",
                num(cpp["nash_conv"]),
                "—",
            ]
        )
        for batch in sorted((b for b in batched if b != "cpp"), key=int):
            b = run.at("summary", "batched", kind, "leduc_poker", batch)
            rows.append(
                [
                    "",
                    f"ours, batch {int(batch):,}",
                    num(b("traversals_per_s")),
                    ratio(b("ratio_cpp_traversals")),
                    secs(b("time_to_cpp_nash_conv_s")),
                    num(b("ratio_cpp_time")),
                    num(b("nash_conv")[-1]),
                    secs(b("compile_s")),
                ]
            )
    out += table(
        [
            "sampling",
            "solver",
            "traversals/s",
            "x C++",
            "time to C++'s NashConv",
            "/ C++ time",
            "final NashConv",
            "compile",
        ],
        rows,
    )
    used = run.get("summary", "batched_solvers", default=None)
    if used:
        out += ["", "Solvers of the batched rows: " + "; ".join(f"{k}: `{v}`" for k, v in used["batched"].items())]
        plain = used.get("batched_plain", {})
        if plain:
            rows = []
            for kind, solver in plain.items():
                runs_ = run.get("summary", "batched_plain", kind, "leduc_poker", default={})
                for batch in sorted(runs_, key=int):
                    b = run.at("summary", "batched_plain", kind, "leduc_poker", batch)
                    rows.append(
                        [
                            f"`{solver}`, batch {int(batch):,}",
                            num(b("traversals_per_s")),
                            ratio(b("ratio_cpp_traversals")),
                            secs(b("time_to_cpp_nash_conv_s")),
                            num(b("ratio_cpp_time")),
                        ]
                    )
            if rows:
                out += ["", "The same without discounting (OpenSpiel's plain sums):", ""]
                out += table(["solver", "traversals/s", "x C++", "time to C++'s NashConv", "/ C++ time"], rows)
        out += [
            "",
            "Each batch size's C++ ratios use the C++ solver timed again right after that batch size's run "
            "(the same load).",
        ]
    a = run.at("summary", "analysis").num
    out += [
        "",
        f"For scale: at batch {int(a('batch_size')):,} one outcome-sampling step takes {secs(a('step_s'))}; "
        f"the same number of episodes through `EFGEnv.step` (which MCCFR does not call: its traversals read "
        f"the simulator's tables directly) takes {secs(a('simulator_s'))} ({a('ns_per_episode_step'):.0f} ns "
        "per episode step).",
    ]
    return out


MCCFR_BOUND_ROWS = (
    ("ours/simple", "ours, simple averaging"),
    ("openspiel_cpp/simple", "OpenSpiel C++, SIMPLE"),
    ("ours/full", "ours, full averaging"),
    ("openspiel_cpp/full", "OpenSpiel C++, FULL"),
)


def mccfr_bounds_tables(runs):
    (run,) = runs
    out = [
        "External sampling at batch size 1 over many seeds against OpenSpiel's test bounds (NashConv after "
        "the stated iterations; the C++ solver seeded per seed; Mann-Whitney p of ours against C++ with the "
        "same averaging). The bounds come from one-seed tests, so the share of seeds within them is the figure "
        "to compare:",
        "",
    ]
    rows = []
    for game, g in sorted(run.get("summary", "es_bounds").items()):
        for key, label in MCCFR_BOUND_ROWS:
            r = g.get(key)
            if not r:
                continue
            p = r.get("mann_whitney_p_vs_cpp")
            rows.append(
                [
                    f"{game}, <= {num(g['bound'])} at {int(g['iterations']):,} it" if key == "ours/simple" else "",
                    label,
                    str(int(r["n"])),
                    num(r["median"]),
                    f"[{num(r['q25'])}, {num(r['q75'])}]",
                    f"{100 * r['share_within_bound']:.0f}%",
                    "—" if p is None else f"{p:.2f}",
                ]
            )
    out += table(["game, bound", "solver", "seeds", "median", "quartiles", "within bound", "p vs C++"], rows)
    return out


def mccfr_targets(runs):
    (run,) = runs
    out = []
    for kind in ("os", "es"):
        for game in sorted(run.get("summary", "equal_iterations", kind)):
            s = run.at("summary", "equal_iterations", kind, game)
            b = s("openspiel_bound")
            cpp_median = f"; C++ {num(b['cpp_median'])}" if b.get("cpp_median") is not None else ""
            out.append(
                Target(
                    f"{MCCFR_NAMES[kind]}, {game}, batch 1: median NashConv <= {num(b['bound'])} after "
                    f"{int(b['iterations']):,} iterations (OpenSpiel's test bound)",
                    f"{num(b['ours_median'])} (worst seed {num(b['ours_max'])}{cpp_median})",
                    bool(b["ok"]),
                )
            )
            # OpenSpiel's own protocol: one fixed seed (ours jax.random.key(0), C++ seed 0)
            at = list(s("checkpoints")).index(int(b["iterations"]))
            ours0, cpp0 = float(s("ours_nash_conv")[0][at]), float(s("cpp_nash_conv")[0][at])
            out.append(
                Target(
                    f"{MCCFR_NAMES[kind]}, {game}, batch 1: NashConv <= {num(b['bound'])} after "
                    f"{int(b['iterations']):,} iterations on one fixed seed (OpenSpiel's test protocol; key 0)",
                    f"{num(ours0)} (C++ seed 0: {num(cpp0)})",
                    ours0 <= float(b["bound"]),
                )
            )
            out.append(
                Target(
                    f"{MCCFR_NAMES[kind]}, {game}, batch 1: NashConv no worse than C++ at equal iterations "
                    "(the script's tolerance)",
                    "every checkpoint" if s("no_worse_than_cpp") else "worse at some checkpoint",
                    bool(s("no_worse_than_cpp")),
                )
            )
    batched = run.get("summary", "batched", "os", "leduc_poker")
    best_time = min(
        float(v["ratio_cpp_time"]) for k, v in batched.items() if k != "cpp" and v.get("ratio_cpp_time") is not None
    )
    out.append(
        Target(
            "batched outcome sampling, Leduc: C++'s NashConv at 100k iterations in <= 1/10 of its wall time",
            f"{num(best_time)} of its time (best batch size)",
            best_time <= 0.1,
        )
    )
    for kind in ("os", "es"):
        batched = run.get("summary", "batched", kind, "leduc_poker")
        best = max(float(v["ratio_cpp_traversals"]) for k, v in batched.items() if k != "cpp")
        out.append(
            Target(
                f"batched {MCCFR_NAMES[kind]}, Leduc: samples/s >= 10x the C++ solver's",
                f"{ratio(best)} (best batch size)",
                best >= 10,
            )
        )
    return out


def psro_tables(runs):
    (run,) = runs
    ref = run.num("reference", "nash_conv")
    rows = []
    for i, _ in enumerate(run.get("summary")):
        g = run.at("summary", i)
        curve = sorted(
            (r for r in run.get("rows") if r.get("game") == g("game") and r.get("config") == g("config")),
            key=lambda r: r["step"],
        )
        below = next((r["policies"] for r in curve if r["nash_conv"] <= ref), None)
        rows.append(
            [
                g("game"),
                g("config"),
                kwargs_text(g("hyperparameters")),
                g("final_policies"),
                num(g("final_nash_conv")),
                num(g("best_nash_conv")),
                "never" if below is None else below,
                secs(g("median_step_s")),
                secs(g("compile_s")),
                secs(g("wall_s")),
            ]
        )
    return [
        f"Reference ({run.get('reference', 'source')}): NashConv {num(ref)} on Kuhn with "
        f"{run.get('reference', 'policies')} policies.",
        "",
    ] + table(
        [
            "game",
            "oracle",
            "settings",
            "policies",
            "final NashConv",
            "best NashConv",
            f"policies at NashConv <= {num(ref)}",
            "median step",
            "compile",
            "wall",
        ],
        rows,
        "lllrrrrrrr",
    )


def nfsp_tables(runs):
    (run,) = runs
    t, s128, big, os_ = (run.get(k) for k in ("ours_to_target", "ours_steady_128", "ours_steady_big", "openspiel"))
    seeds = run.get("ours_seeds")
    target = run.num("target_exploitability")
    rows = [
        ["episodes/s", num(s128["episodes_per_s"]), num(big["episodes_per_s"]), num(os_["episodes_per_s"])],
        ["simulator steps/s", num(s128["env_steps_per_s"]), num(big["env_steps_per_s"]), "—"],
        ["decisions/s", num(s128["decisions_per_s"]), num(big["decisions_per_s"]), num(os_["decisions_per_s"])],
        ["compile", secs(s128["compile_s"]), secs(big["compile_s"]), "—"],
    ]
    out = [f"Exploitability is {run.get('exploitability_definition')}.", ""]
    out += table(
        [
            "",
            f"ours, {s128['num_envs']} envs per step",
            f"ours, {big['num_envs']:,} envs",
            f"OpenSpiel JAX NFSP ({os_['config']})",
        ],
        rows,
    )
    firsts = [f for f in seeds["first_step_at_target"] if f is not None]
    finals = seeds["final_exploitability"]
    out += [
        "",
        f"- Cold start to exploitability <= {num(target)} (seed {t['seed']}): {secs(t['wall_s'])}, of which "
        f"{secs(t['compile_s'])} compilation; step {t['steps_to_target']} = {int(t['episodes_to_target']):,} episodes.",
        f"- {seeds['seeds']} seeds x {seeds['steps'][-1]:,} steps in one vmapped call: "
        + (
            f"first at or below {num(target)} between steps {min(firsts)} and {max(firsts)}"
            if firsts
            else f"no seed reaches {num(target)}"
        )
        + (
            f" ({len(seeds['first_step_at_target']) - len(firsts)} seeds never)"
            if len(firsts) < len(seeds["first_step_at_target"])
            else ""
        )
        + (f", all below from step {seeds['stays_below_from_step']}" if seeds.get("stays_below_from_step") else "")
        + f"; final median {spread(median(finals), min(finals), max(finals))}.",
    ]
    return out


def nfsp_targets(runs):
    (run,) = runs
    t = run.get("ours_to_target")
    target = run.num("target_exploitability")
    hit = t.get("steps_to_target") is not None
    wall = run.num("ours_to_target", "wall_s")
    return [
        Target(
            f"NFSP on Kuhn: exploitability <= {num(target)} within 60 s including compilation",
            f"{secs(wall)} (step {t['steps_to_target']})" if hit else "not reached",
            hit and wall <= 60,
        )
    ]


NEURAL_FILE = re.compile(r"bench_neural_curves_(quick_)?([a-z0-9_]+)\.json")


def neural_command(run=None) -> str:
    """The ``bench_neural.py`` command of a run, from its file name and games (its budget is not recorded)."""
    if run is None:
        return "python benchmarks/bench_neural.py --learners rnad,mmd_rl,ppo --games leduc_poker"
    summaries = run.get("summaries")
    learners = ",".join(dict.fromkeys(str(s.get("learner")) for s in summaries))
    games = ",".join(dict.fromkeys(str(s.get("game")) for s in summaries))
    return (
        f"python benchmarks/bench_neural.py{' --quick' if run.quick else ''} --learners {learners} "
        f"--games {games} --budget <seconds: not recorded>"
    )


def neural_curves(runs):
    """{(game, learner): (run, summary, curve rows)} over the runs; a pair in two files is an error."""
    out = {}
    for run in runs:
        for i, s in enumerate(run.get("summaries")):
            key = (run.get("summaries", i, "game"), run.get("summaries", i, "learner"))
            if key in out:
                raise ReportError(f"{run.name}: {key[1]} on {key[0]} is also in {out[key][0].name}; keep one of them")
            curve = [
                r for r in run.get("rows") if r.get("section") == "curve" and (r.get("game"), r.get("learner")) == key
            ]
            if not curve:
                raise ReportError(f"{run.name}: no curve rows for {key[1]} on {key[0]}")
            out[key] = (run, s, sorted(curve, key=lambda r: r["step"]))
    return out


def neural_tables(runs):
    curves = neural_curves(runs)
    rows = []
    for (game, learner), (run, s, curve) in sorted(curves.items()):
        best = min(curve, key=lambda r: r["nash_conv_median"])
        last = curve[-1]
        rows.append(
            [
                game,
                learner,
                s["batch_size"],
                s["seeds"],
                f"{num(best['nash_conv_median'])} at step {best['step']:,}, {secs(best['wall_s'])}, "
                f"{num(best['env_steps'])} env steps",
                f"{spread(last['nash_conv_median'], last['nash_conv_min'], last['nash_conv_max'])} at "
                f"{secs(last['wall_s'])}, step {last['step']:,}",
                secs(s["compile_s"]),
                run.name,
            ]
        )
    out = ["NashConv medians [min, max] over seeds; wall time includes compilation.", ""]
    out += table(
        ["game", "learner", "batch", "seeds", "best median NashConv", "final", "compile", "file"], rows, "llrrllrl"
    )
    rows = []
    for run in runs:
        for r in run.get("rows"):
            if r.get("section") == "throughput":
                rows.append(
                    [
                        r["game"],
                        r["learner"],
                        f"{r['batch_size']:,}",
                        num(r["env_steps_per_s"]),
                        secs(r["step_s"]),
                        secs(r["compile_s"]),
                    ]
                )
    if rows:
        out += [
            "",
            "Training-loop throughput (player decisions per second of one jitted learner step, rollout and "
            "updates, one seed; compile apart):",
            "",
        ]
        out += table(["game", "learner", "batch", "decisions/s", "step", "compile"], sorted(rows), "llrrrr")
    return out


def neural_targets(runs):
    curves = neural_curves(runs)
    best = {}
    for learner in ("ppo", "mmd_rl"):
        if ("leduc_poker", learner) in curves:
            inside = [r["nash_conv_median"] for r in curves[("leduc_poker", learner)][2] if r["wall_s"] <= 600]
            if inside:
                best[learner] = min(inside)
    goal = "PPO or MMD-RL on Leduc: median NashConv <= 0.3 within 10 minutes"
    if not best:
        return [Target(goal, "no Leduc run of PPO or MMD-RL committed", None)]
    text = ", ".join(f"{k} {num(v)}" for k, v in sorted(best.items()))
    return [Target(goal, f"best median within 600 s: {text}", min(best.values()) <= 0.3)]


def neural_rnad_tables(runs):
    (run,) = runs
    rows = []
    for i, _ in enumerate(run.get("summary")):
        g = run.at("summary", i)
        rows.append(
            [
                g("game"),
                kwargs_text(g("hyperparameters")),
                f"{g('steps'):,}",
                secs(g("wall_s")),
                secs(1e-3 * g("median_step_ms")),
                num(g("initial_nash_conv")),
                num(g("final_nash_conv")),
                num(g("best_nash_conv")),
                secs(g("compile_s")),
            ]
        )
    return table(
        ["game", "settings", "steps", "learning time", "median step", "initial NashConv", "final", "best", "compile"],
        rows,
        "llrrrrrrr",
    )


def q_learning_tables(runs):
    (run,) = runs
    rows = []
    for i, _ in enumerate(run.get("results")):
        g = run.at("results", i)
        e, v = g("exploitability"), g("value_error")
        rows.append(
            [
                g("game"),
                g("learner"),
                kwargs_text(g("hyperparameters")),
                num(g("transitions")[-1]),
                spread(e["median"][-1], e["min"][-1], e["max"][-1]),
                spread(v["median"][-1], v["min"][-1], v["max"][-1]),
                num(g("uniform_exploitability")),
                secs(1e-6 * g("us_per_step_per_seed")),
                secs(g("compile_s")),
            ]
        )
    cfg = run.get("config")
    return [
        f"Discount {cfg.get('discount')}, {cfg.get('batch_size')} environments per step, {cfg.get('seeds')} seeds; "
        "medians [min, max] over seeds after the last step.",
        "",
    ] + table(
        [
            "game",
            "learner",
            "settings",
            "transitions",
            "exploitability",
            "\\|V - V*\\|_inf",
            "uniform policy's",
            "per step per seed",
            "compile",
        ],
        rows,
        "lllrrrrrr",
    )


def sampled_mean_field_tables(runs):
    (run,) = runs
    exact = run.get("exact_omd")
    cfg = run.get("config")
    rows = [
        [
            "exact OMD",
            "—",
            "—",
            num(exact["exploitability"][-1]),
            "—",
            secs(1e-6 * exact["us_per_iter"]),
            secs(exact["compile_s"]),
        ]
    ]
    for i, _ in enumerate(run.get("sampled_omd")):
        g = run.at("sampled_omd", i)
        rows.append(
            [
                f"sampled OMD, N={g('num_agents'):,}, E={g('num_episodes')}",
                f"{g('samples_per_iteration'):,}",
                f"{cfg.get('seeds')}",
                spread(g("median")[-1], g("min")[-1], g("max")[-1]),
                num(g("final_gap_to_exact")),
                secs(1e-6 * g("us_per_iter_per_seed")),
                secs(g("compile_s")),
            ]
        )
    return [
        f"Crowd modelling {kwargs_text(cfg.get('game') or {})}, learning rate {cfg.get('learning_rate')}, "
        f"{cfg.get('iterations')} iterations; uniform policy's exploitability "
        f"{num(run.num('uniform_exploitability'))}.",
        "",
    ] + table(
        ["solver", "samples / iteration", "seeds", "final exploitability", "gap to exact", "per iteration", "compile"],
        rows,
        "lrrrrrr",
    )


def deep_mean_field_tables(runs):
    (run,) = runs
    cfg = run.get("config")
    target = run.num("config", "target")
    rows = []
    for i, _ in enumerate(run.get("exact")):
        g = run.at("exact", i)
        first = g("first_at_target")
        rows.append(
            [
                f"exact {g('solver')}",
                kwargs_text(g("kwargs")),
                num(g("exploitability")[-1]),
                "never" if first is None else first,
                "—",
                secs(g("s_per_iter")),
                secs(g("compile_s")),
            ]
        )
    for i, _ in enumerate(run.get("learners")):
        g = run.at("learners", i)
        first, stays, every = g("first_at_target"), g("stays_at_target"), g("all_seeds_stay_at_target")
        rows.append(
            [
                g("solver"),
                kwargs_text(g("kwargs")),
                spread(g("median")[-1], g("min")[-1], g("max")[-1]),
                "never" if first is None else f"{first}" + (f" (stays from {stays})" if stays is not None else ""),
                "never" if every is None else every,
                secs(g("s_per_iter_per_seed")),
                secs(g("compile_s")),
            ]
        )
    game = kwargs_text(cfg.get("game") or {})
    return [
        f"Crowd modelling ({game}); uniform policy's exploitability {num(run.num('uniform_exploitability'))}; "
        f"learners: N = {cfg.get('num_agents'):,} agents x {cfg.get('num_episodes')} episodes per iteration, "
        f"{cfg.get('iterations')} iterations, {cfg.get('seeds')} seeds in one call (median [min, max]).",
        "",
    ] + table(
        [
            "solver",
            "settings",
            "final exploitability",
            f"median <= {num(target)} from iteration",
            f"every seed <= {num(target)} from",
            "per iteration (per seed)",
            "compile",
        ],
        rows,
        "llrrrrr",
    )


def deep_mean_field_targets(runs):
    (run,) = runs
    target = run.num("config", "target")
    deep = [
        (kwargs_text(r.get("kwargs", {})), r["median"][-1])
        for r in run.get("learners")
        if r.get("solver") == "deep_mirror_descent"
    ]
    if not deep:
        return [
            Target(f"deep learner on crowd modelling: exploitability <= {num(target)}", "no deep learner run", None)
        ]
    return [
        Target(
            f"deep learner on crowd modelling: median exploitability <= {num(target)}",
            "; ".join(f"{num(v)} ({k})" for k, v in deep),
            min(v for _, v in deep) <= target,
        )
    ]


def nlhf_tables(runs):
    (run,) = runs
    cfg = run.get("config")
    samples = [str(s) for s in run.get("config", "samples")]
    out = [
        f"beta {cfg.get('beta')}, {cfg.get('steps')} steps, median final regularized gap over {cfg.get('seeds')} "
        "seeds, by queries per win-rate estimate:",
        "",
    ]
    rows = []
    for game in sorted(run.get("results")):
        res = run.get("results", game)
        first = True
        for method in sorted(k for k in res if k != "initial_gap"):
            exact = run.get("results", game, method, "exact", "gap")[-1]
            sampled = [num(run.get("results", game, method, "sampled", s, "median")[-1]) for s in samples]
            rows.append(
                [f"{game} (initial {num(res.get('initial_gap'))})" if first else "", method, num(exact), *sampled]
            )
            first = False
    out += table(["game", "method", "exact feedback", *samples], rows, "ll" + "r" * (1 + len(samples)))
    sweep = run.get("exploration_sweep", default=None)
    if sweep:
        rows = []
        for learner in sorted(sweep):
            for n in sorted(sweep[learner], key=int):
                for expl in sorted(sweep[learner][n], key=float):
                    v = sweep[learner][n][expl]
                    rows.append([learner, n, expl, num(v["mean"]), num(v["median"]), num(v["worst"])])
        out += [
            "",
            f"Exploration (final gap over {cfg.get('exploration_seeds')} seeds after "
            f"{cfg.get('exploration_steps')} steps; exploration 0 draws y from the policy):",
            "",
        ]
        out += table(["learner", "queries", "exploration", "mean", "median", "worst"], rows, "lrrrrr")
    return out


def qre_markov_tables(runs):
    (run,) = runs
    g = run.at("summary")
    rows = [
        [
            "sgamesolver `QRE` (its defaults)",
            secs(g.num("sgamesolver", "median_s")),
            "—",
            str(int(g.num("sgamesolver", "steps"))),
            num(g.num("cross_check", "sgamesolver_nash_conv")),
        ]
    ]
    for key, name in (("markov_logit_qre", "ours, Markov logit QRE"), ("regularized", "ours, `regularized=True`")):
        rows.append(
            [
                name,
                secs(g.num(key, "median_s")),
                f"{g.num(key, 'compile_s'):.1f} s",
                str(int(g.num(key, "points"))),
                num(g.num(key, "nash_conv")),
            ]
        )
    out = table(["path", "time", "compile", "steps / points", "final NashConv"], rows)
    c, p = g("cross_check"), g("per_step")
    out += [
        "",
        f"sgamesolver's final point (lambda {num(c['sgamesolver_final_lambda'])}) solves our equation to "
        f"{num(c['sgamesolver_residual'])}; our point at that lambda differs from it by "
        f"{num(c['at_their_lambda_max_diff'])}; our limit is {num(c['limit_max_diff'])} away (its point is "
        f"O(1/lambda) from the limit). Per step: the dense "
        f"Jacobian of `equilibria.qre_path` ({int(p['unknowns'])} JVPs) {secs(p['dense_jacobian_s'])} + LU "
        f"{secs(p['dense_lu_s'])}, the structured blocks + {int(p['reduced_size'])}-square LU "
        f"{secs(p['structured_factor_s'])}, one chord iteration {secs(p['structured_iteration_s'])}; "
        f"{int(p['steps'])} steps, {int(p['iterations'])} chord iterations.",
    ]
    return out


def qre_markov_targets(runs):
    (run,) = runs
    got = run.num("summary", "markov_logit_qre", "median_s")
    goal = run.num("target_s")
    peer = run.num("summary", "sgamesolver", "median_s")
    states, actions = int(run.num("config", "states")), int(run.num("config", "actions"))
    return [
        Target(
            f"QRE path, {states} states x 2 players x {actions} actions: < {secs(goal)} "
            f"(sgamesolver here: {secs(peer)})",
            secs(got),
            got < goal,
        )
    ]


def qre_tables(runs):
    (run,) = runs
    rows = []
    for label in sorted(run.get("summary", "per_game")):
        g = run.at("summary", "per_game", label)
        rows.append(
            [
                f"{label} ({g('games')} games)",
                secs(g.num("ours_median_s")),
                secs(g.num("gambit_median_s")),
                ratio(g.num("ratio")),
                f"{num(g.num('points_median'))} / {g('points_max')}",
                f"{secs(g.num('compile_s'))} / {secs(g.num('aot_compile_s'))}",
                f"{num(g.num('max_diff_nash'))} / {num(g.num('max_diff_at_gambit_lambda'))}",
            ]
        )
    out = [
        "(1) One game at a time, float64: `qre_path(game)` (its compiled program cached per shape) against "
        "`pygambit.nash.logit_solve(game)`; median time per game, speed-up = total Gambit time / total ours:",
        "",
    ]
    out += table(
        [
            "games",
            "ours per game",
            "Gambit per game",
            "speed-up",
            "points (median / max)",
            "compile (first - median / AOT)",
            "max \\|ours - Gambit\\|: equilibrium / QRE at Gambit's lambda",
        ],
        rows,
    )
    b = run.at("summary", "batch")
    f32 = run.at("summary", "batch", "float32")
    statuses = ", ".join(f"{v} {k}" for k, v in b("statuses").items() if v)
    statuses32 = ", ".join(f"{v} {k}" for k, v in f32("statuses").items() if v)
    out += [
        "",
        f"(2) {b('games'):,} random {b('actions')}x{b('actions')} games in one `jax.jit(jax.vmap(qre_path))` call:",
        "",
    ]
    out += table(
        ["", "total", "per game", "Gambit per game", "speed-up", "paths", "compile (first - median / AOT)"],
        [
            [
                "float64",
                secs(b.num("median_s")),
                secs(b.num("per_game_s")),
                f"{secs(b.num('gambit_per_game_s'))} (first {b('gambit_games')} games)",
                ratio(b.num("ratio")),
                statuses,
                f"{secs(b.num('compile_s'))} / {secs(b.num('aot_compile_s'))}",
            ],
            [
                "float32 (`max_regret` 1e-4)",
                secs(f32.num("median_s")),
                secs(f32.num("per_game_s")),
                "",
                "",
                statuses32,
                secs(f32.num("compile_s")),
            ],
        ],
    )
    out += [
        "",
        f"float64 equilibria against Gambit's on those games: {num(b.num('max_diff_nash'))} (the two stop at "
        f"different lambdas), QRE at Gambit's final lambda {num(b.num('max_diff_at_gambit_lambda'))}; float32 "
        f"against float64 on the converged paths: {num(f32.num('max_diff_vs_float64'))} (its regret criterion "
        "is 1e-4, so its point can be an approximate equilibrium far from the selected one).",
    ]
    return out


def qre_targets(runs):
    (run,) = runs
    out = []
    for label in sorted(run.get("summary", "per_game")):
        g = run.at("summary", "per_game", label)
        out.append(
            Target(
                f"logit QRE path, {label} games: >= {num(g.num('target'))}x Gambit's `logit_solve` per game (float64)",
                ratio(g.num("ratio")),
                bool(g("met")),
            )
        )
    b = run.at("summary", "batch")
    out.append(
        Target(
            f"{b('games'):,} {b('actions')}x{b('actions')} games in one vmapped call: >= {num(b.num('target'))}x "
            "Gambit per game (float64)",
            f"{ratio(b.num('ratio'))} ({secs(b.num('median_s'))} in all)",
            bool(b("met")),
        )
    )
    return out


def correlated_tables(runs):
    (run,) = runs
    cfg = run.get("config")
    variants = run.get("summary", "variants")
    first = next(iter(variants.values()))
    out = [
        f"{cfg['games']:,} random {cfg['players']}-player "
        f"{'x'.join([str(cfg['actions'])] * cfg['players'])} games (float64) solved in one "
        "`jax.jit(jax.vmap(correlated_equilibrium))` call, against OpenSpiel JPSRO's cvxpy meta-solvers and "
        f"SciPy's HiGHS looped over the first {first['jpsro_games']} games (time per game scaled):",
        "",
    ]
    rows = []
    for label in variants:
        v = run.at("summary", "variants", label)
        rows.append(
            [
                label,
                secs(v.num("median_s")),
                secs(v.num("per_game_s")),
                secs(v.num("jpsro_per_game_s")),
                ratio(v.num("ratio")),
                f"{secs(v.num('highs_per_game_s'))} ({ratio(v.num('ratio_highs'))})"
                if v("highs_per_game_s", default=None) is not None
                else "",
                f"{secs(v.num('compile_s'))} / {secs(v.num('aot_compile_s'))}",
                f"{num(v.num('max_gap'))} / {num(v.num('max_diff_jpsro'))} ({v('compared').replace('|', '')})",
            ]
        )
    out += table(
        [
            "",
            "all games",
            "per game",
            "JPSRO per game",
            "speed-up",
            "HiGHS per game (speed-up)",
            "compile (first - median / AOT)",
            "max gap / max \\|ours - JPSRO\\|",
        ],
        rows,
    )
    e = run.at("summary", "entropy_ce")
    out += [
        "",
        f"Maximum-entropy CE (no peer): {secs(e.num('median_s'))} for the {e('games'):,} games, max gap "
        f"{num(e.num('max_gap'))}.",
    ]
    if run.get("summary", "mpax", default=None) is not None:
        m = run.at("summary", "mpax")
        out += [
            "",
            f"mpax's `r2HPDHG` (PDLP-type) on the max-welfare CE LPs of {m('games')} games, one vmapped call, "
            f"tolerance 1e-9: {secs(m.num('per_game_s'))} per game, PDHG iterations median "
            f"{num(m.num('iterations_median'))}, max {m('iterations_max')} (why `jaxgames.general_sum.lp` is an "
            "interior-point method).",
        ]
    return out


def correlated_targets(runs):
    (run,) = runs
    out = []
    for label in run.get("summary", "variants"):
        v = run.at("summary", "variants", label)
        out.append(
            Target(
                f"{label}, {v('games'):,} games in one call: >= {num(v.num('target'))}x the JPSRO cvxpy loop",
                ratio(v.num("ratio")),
                bool(v("met")),
            )
        )
    return out


# ----------------------------------------------------------------------------- the benchmarks


@dataclass(frozen=True)
class Bench:
    script: str
    family: str
    measures: str
    command: str | Callable  # the full run, or run -> the command that made it
    pattern: str  # regex (full match) of the result files it writes
    render: Callable | None = None  # runs -> Markdown lines
    targets: Callable | None = None  # runs -> [Target]
    stated_targets: tuple = ()  # shown as "not measured" without a committed result
    note: str = ""
    files: list = field(default_factory=list, compare=False)


def evolution_tables(runs):
    (run,) = runs
    rows = []
    for i, _ in enumerate(run.get("summary")):
        g = run.at("summary", i)
        what = "alpha-rank" if g("section") == "alpharank" else f"PRD, {int(g.num('iterations')):,} steps"
        rows.append(
            [
                what,
                f"{int(g.num('games')):,}",
                secs(g.num("ours_s")),
                secs(g.num("ours_compile_s")),
                num(g.num("ours_games_per_s")),
                f"{int(g.num('peer_games'))}",
                num(g.num("peer_games_per_s")),
                ratio(g.num("speedup")),
                f"{g.num('max_abs_diff'):.1e}",
            ]
        )
    return [
        "Random 3-player 3x3x3 games, float64; alpha-rank multi-population (alpha 0.2, m 20); PRD with OpenSpiel's "
        "dt = 1e-3, gamma = 1e-6. Ours: all games in one jitted call; OpenSpiel: a Python loop over a subset.",
        "",
    ] + table(
        [
            "method",
            "games",
            "ours (one call)",
            "compile",
            "ours games/s",
            "OpenSpiel games",
            "OpenSpiel games/s",
            "speedup",
            "max abs diff",
        ],
        rows,
        "lrrrrrrrr",
    )


def native_games_tables(runs):
    (run,) = runs
    rows, skipped = [], []
    for i, case in enumerate(run.get("cases")):
        label = f"`{case['game']}({', '.join(map(str, case['args']))})`"
        if not case.get("run"):
            skipped.append(f"{label} ({case['histories']:,} histories, ~{case['estimated_gb']:.0f} GB estimated)")
            continue
        g = run.at("cases", i).num
        peer = case.get("openspiel_nash_conv_s")
        rows.append(
            [
                label,
                f"{int(g('histories')):,}",
                f"{int(case['infosets'][0]):,}",
                f"{secs(g('build_s'))} / {secs(g('sequence_form_s'))} / {secs(g('compile_s'))}",
                secs(g("nash_conv_median_s")),
                f"{g('peak_rss_gb'):.2f}",
                "-" if peer is None else f"{secs(peer)} ({ratio(peer / g('nash_conv_median_s'))})",
            ]
        )
    out = table(
        [
            "game (args)",
            "histories",
            "infosets per player",
            "build / sequence form / compile",
            "exact NashConv (median)",
            "peak GB",
            "`pyspiel.nash_conv` (ours faster by)",
        ],
        rows,
    )
    if skipped:
        out += ["", "Not run (above the run's `--max-gb`): " + "; ".join(skipped) + "."]
    return out


def openspiel_conversion_tables(runs):
    (run,) = runs
    rows = []
    for i, case in enumerate(run.get("cases")):
        if not case.get("run"):
            continue
        g = run.at("cases", i).num
        peer = case.get("openspiel_tabular_policy_s")
        rows.append(
            [
                f"`{run.get('cases', i, 'game')}`",
                f"{int(g('histories')):,}",
                f"{secs(g('conversion_s'))} ({secs(g('conversion_cpu_s'))} CPU)",
                f"{secs(g('walk_cpu_s'))} / {secs(g('efg_game_cpu_s'))}",
                f"{secs(g('bare_walk_cpu_s'))}",
                f"{g('peak_rss_gb'):.2f} (+{g('conversion_rss_gb'):.2f})",
                f"{secs(g('policy_first_s'))} / {secs(g('policy_median_s'))}",
                secs(peer) if peer is not None else "-",
            ]
        )
    return table(
        [
            "game",
            "histories",
            "`from_openspiel` s",
            "walk / `EFGGame` CPU s",
            "bare pyspiel walk CPU s",
            "peak GB (above imports)",
            "`to_openspiel_policy` first / later s",
            "OpenSpiel `TabularPolicy(game)` s",
        ],
        rows,
    )


def openspiel_conversion_targets(runs):
    (run,) = runs
    cases = [i for i, c in enumerate(run.get("cases")) if c.get("game") == "leduc_poker(players=3)" and c.get("run")]
    if not cases:
        return [
            Target("3-player Leduc: conversion <= 5 s and <= 1 GB; policy conversion <= 1 s", "not in the run", None)
        ]
    g = run.at("cases", cases[0]).num
    policy = max(g("policy_first_cpu_s"), g("policy_median_cpu_s"))
    return [
        Target(
            "`from_openspiel`, 3-player Leduc (1.83M histories): <= 5 s",
            f"{secs(g('conversion_s'))} wall, {secs(g('conversion_cpu_s'))} CPU (the bare pyspiel walk alone: "
            f"{secs(g('bare_walk_cpu_s'))} CPU)",
            g("conversion_cpu_s") <= 5.0,
        ),
        Target(
            "`from_openspiel`, 3-player Leduc: peak <= 1 GB",
            f"{g('peak_rss_gb'):.2f} GB (process), {g('conversion_rss_gb'):.2f} GB above the imports",
            g("peak_rss_gb") <= 1.0,
        ),
        Target(
            "`to_openspiel_policy`, 3-player Leduc: <= 1 s",
            f"first call {secs(g('policy_first_s'))} wall / {secs(g('policy_first_cpu_s'))} CPU, later calls "
            f"{secs(g('policy_median_s'))}",
            policy <= 1.0,
        ),
    ]


BENCHES = [
    Bench(
        "bench_matrix.py",
        "Matrix and preference games",
        "Batched matrix-game solvers against nashpy: 100,000 random 3x3 zero-sum games solved by fictitious play "
        "in one jitted call, 1,000 50x50 games for four solvers, and the payoff bytes read per second against "
        "`np.copyto`.",
        "python benchmarks/bench_matrix.py",
        r"bench_matrix(_quick)?\.json",
        matrix_tables,
        matrix_targets,
        stated_targets=(
            "100,000 3x3 games, fictitious play: >= 1,000x nashpy's game-iterations/s",
            "50x50 games: payoff read bandwidth >= 50% of `np.copyto`'s",
        ),
    ),
    Bench(
        "bench_qre.py",
        "Matrix and preference games",
        "The logit QRE path (`jaxgames.equilibria.qre_path`) of random 10x10, 30x30 and 6x6x6 games against "
        "pygambit's `logit_solve` in the same process, and 1,000 10x10 games in one vmapped call.",
        "python benchmarks/bench_qre.py",
        r"bench_qre(_quick)?\.json",
        qre_tables,
        qre_targets,
        stated_targets=(
            "logit QRE path, 10x10, 30x30 and 6x6x6 games: >= 10x Gambit's `logit_solve` per game (float64)",
            "1,000 10x10 games in one vmapped call: >= 10x Gambit per game",
        ),
    ),
    Bench(
        "bench_correlated.py",
        "Matrix and preference games",
        "Exact CE/CCE selection (max-welfare LPs, max-Gini QPs; `jaxgames.general_sum.selection`) of 1,000 random "
        "3-player 4x4x4 games in one call, against OpenSpiel JPSRO's cvxpy meta-solvers and SciPy's HiGHS.",
        "python benchmarks/bench_correlated.py",
        r"bench_correlated(_quick)?\.json",
        correlated_tables,
        correlated_targets,
        stated_targets=("1,000 3-player 4x4x4 games, max-welfare and max-Gini CE/CCE: >= 50x the JPSRO cvxpy loop",),
    ),
    Bench(
        "bench_nlhf.py",
        "Matrix and preference games",
        "NLHF from sampled preference queries (online IPO, Nash-MD, SPPO, EGPO, Nash mirror prox): the exact "
        "regularized gap against the number of queries per win-rate estimate, and against exact feedback.",
        "python benchmarks/bench_nlhf.py",
        r"bench_nlhf(_quick)?\.json",
        nlhf_tables,
    ),
    Bench(
        "bench_neural_nlhf.py",
        "Matrix and preference games",
        "Neural NLHF learners on random contextual preference games: the exact duality gap against steps.",
        "python benchmarks/bench_neural_nlhf.py",
        r"bench_neural_nlhf(_quick)?\.json",
        neural_nlhf_tables,
    ),
    Bench(
        "bench_efg.py",
        "Extensive-form games",
        "CFR+ iterations/s on Kuhn and Leduc poker against OpenSpiel's C++ `CFRPlusSolver` and its JAX `JaxCFR`, "
        "exact exploitability of one Leduc policy against `pyspiel.exploitability`, and 1,024 Kuhn variants "
        "solved in one call.",
        "python benchmarks/bench_efg.py",
        r"bench_efg(_quick)?(_low_latency)?\.json",
        efg_tables,
        efg_targets,
        stated_targets=(
            "CFR+ Kuhn: >= 30x OpenSpiel C++'s iterations/s",
            "CFR+ Leduc: >= 300x OpenSpiel C++'s",
            "CFR+ Leduc: >= 15x JaxCFR's, its step fused in one loop",
            "Leduc exploitability: >= 1,000x `pyspiel.exploitability`",
        ),
    ),
    Bench(
        "bench_efg_env.py",
        "Extensive-form games",
        "Kuhn simulator steps/s against pgx (random legal actions, auto-reset, pgx's own `auto_reset`): "
        "`jaxgames.rollout` and a pgx-like `vmap(env.step)` loop that reads the observation.",
        "python benchmarks/bench_efg_env.py",
        r"bench_efg_env(_quick)?\.json",
        efg_env_tables,
        efg_env_targets,
        stated_targets=("Kuhn simulator >= 3x pgx's env steps/s at batch 16,384",),
    ),
    Bench(
        "bench_native_games.py",
        "Extensive-form games",
        "Native liar's dice and goofspiel (`jaxgames.efg.native`): the time to build the tree and its sequence "
        "form, and one exact NashConv of the uniform policy, up to the largest sizes that fit in memory; "
        "`pyspiel` NashConv on the sizes it handles.",
        "python benchmarks/bench_native_games.py --max-gb 11.5",
        r"bench_native_games(_quick)?\.json",
        native_games_tables,
    ),
    Bench(
        "bench_mccfr.py",
        "Extensive-form games",
        "Outcome- and external-sampling MCCFR against OpenSpiel's C++ solvers: NashConv at equal iterations "
        "(batch size 1), and with batched traversals the time to the C++ solver's NashConv.",
        "python benchmarks/bench_mccfr.py",
        r"bench_mccfr(_quick)?\.json",
        mccfr_tables,
        mccfr_targets,
    ),
    Bench(
        "bench_mccfr.py --bounds-seeds",
        "Extensive-form games",
        "External-sampling MCCFR at batch size 1 over many seeds against OpenSpiel's test bounds, with simple "
        "and full averaging, against OpenSpiel's C++ solver with the same averaging.",
        "python benchmarks/bench_mccfr.py --bounds-seeds 100",
        r"bench_mccfr_bounds\.json",
        mccfr_bounds_tables,
    ),
    Bench(
        "bench_psro.py",
        "Extensive-form games",
        "PSRO with exact or sampled oracle and meta-game: exact NashConv against the population size.",
        "python benchmarks/bench_psro.py",
        r"bench_psro(_quick)?\.json",
        psro_tables,
    ),
    Bench(
        "bench_nfsp.py",
        "Extensive-form games",
        "NFSP on Kuhn poker against OpenSpiel's JAX NFSP (its Kuhn example's settings) in the same process: "
        "episodes/s, and the wall time to the example's exploitability from a cold start.",
        "python benchmarks/bench_nfsp.py",
        r"bench_nfsp(_quick)?\.json",
        nfsp_tables,
        nfsp_targets,
    ),
    Bench(
        "bench_neural.py",
        "Extensive-form games",
        "Last-iterate neural learners (R-NaD, MMD-RL, PPO): exact NashConv of each seed's network policy against "
        "wall time, several seeds in one call, and the training loop's throughput.",
        neural_command,
        NEURAL_FILE.pattern,
        neural_tables,
        neural_targets,
    ),
    Bench(
        "bench_neural_rnad.py",
        "Extensive-form games",
        "R-NaD on Kuhn and Leduc: exact NashConv of the output against learner steps and wall time (key 0).",
        "python benchmarks/bench_neural_rnad.py",
        r"bench_neural_rnad(_quick)?\.json",
        neural_rnad_tables,
    ),
    Bench(
        "bench_markov.py",
        "Markov games",
        "Shapley's minimax value iteration with exact stage solves on a 64-state random zero-sum Markov game "
        "against NumPy + `scipy.optimize.linprog`, and 10,000 games in one jitted call.",
        "python benchmarks/bench_markov.py",
        r"bench_markov(_quick)?\.json",
        markov_tables,
        markov_targets,
        stated_targets=(
            ">= 100x the NumPy + SciPy loop on one game",
            "10,000 games x 100 iterations in one call, drawing included: >= 174 games/s",
        ),
    ),
    Bench(
        "bench_markov_env.py",
        "Markov games",
        "Markov-game simulator steps/s (`jaxgames.markov.rollout`) against a vectorized NumPy loop.",
        "python benchmarks/bench_markov_env.py",
        r"bench_markov_env(_quick)?\.json",
        markov_env_tables,
    ),
    Bench(
        "bench_qre_markov.py",
        "Markov games",
        "The logit QRE path of sgamesolver's 64-state, 2-player, 4-action random game "
        "(`jaxgames.markov.qre.qre_path`) against sgamesolver's QRE homotopy, run in its own virtual environment.",
        "python benchmarks/bench_qre_markov.py --sgamesolver-python /tmp/sgvenv/bin/python",
        r"bench_qre_markov(_quick)?\.json",
        qre_markov_tables,
        qre_markov_targets,
        stated_targets=(
            "QRE path, 64 states x 2 players x 4 actions: < 0.1 s (sgamesolver: 14.4 s on its authors' machine)",
        ),
    ),
    Bench(
        "bench_q_learning.py",
        "Markov games",
        "minimax-Q and decentralized Q-learning from simulator transitions: exploitability and distance to "
        "Shapley's values.",
        "python benchmarks/bench_q_learning.py",
        r"bench_q_learning(_quick)?\.json",
        q_learning_tables,
    ),
    Bench(
        "bench_mean_field.py",
        "Mean-field games",
        "Fictitious play and mirror descent on crowd modelling against OpenSpiel's Python solvers, and a sweep "
        "of 1,000 configurations in one call.",
        "python benchmarks/bench_mean_field.py",
        r"bench_mean_field(_quick)?\.json",
        mean_field_tables,
        mean_field_targets,
        stated_targets=(">= 500x OpenSpiel's iterations/s",),
    ),
    Bench(
        "bench_mfglib.py",
        "Mean-field games",
        "Fictitious play and online mirror descent on the beach bar against mfglib (PyTorch, in its own "
        "virtual environment), time per iteration.",
        "python benchmarks/bench_mfglib.py --mfglib-python /tmp/mfgenv/bin/python",
        r"bench_mfglib(_quick)?\.json",
        mfglib_tables,
        mfglib_targets,
        stated_targets=("beach bar 40 x 20: >= 100x mfglib per iteration",),
    ),
    Bench(
        "bench_sampled_mean_field.py",
        "Mean-field games",
        "Sampled online mirror descent on the N-agent simulator against exact OMD on crowd modelling: "
        "exploitability against agents and episodes per iteration.",
        "python benchmarks/bench_sampled_mean_field.py",
        r"bench_sampled_mean_field(_quick)?\.json",
        sampled_mean_field_tables,
    ),
    Bench(
        "bench_deep_mean_field.py",
        "Mean-field games",
        "Deep online mirror descent on crowd modelling against tabular sampled OMD and the exact solvers.",
        "python benchmarks/bench_deep_mean_field.py --repeats 3",
        r"bench_deep_mean_field(_quick)?\.json",
        deep_mean_field_tables,
        deep_mean_field_targets,
    ),
    Bench(
        "bench_evolution.py",
        "Matrix and preference games",
        "Alpha-rank and projected replicator dynamics on 1,000 random 3-player games in one call, against "
        "OpenSpiel's `egt.alpharank.compute` and `projected_replicator_dynamics` looping over a subset.",
        "python benchmarks/bench_evolution.py",
        r"bench_evolution(_quick)?\.json",
        evolution_tables,
    ),
    Bench(
        "bench_openspiel_conversion.py",
        "Extensive-form games",
        "OpenSpiel interop on 3-player Leduc (1.83M histories): `from_openspiel` (the walk through pyspiel and "
        "the sequence form), its peak memory, and `to_openspiel_policy` (first and later calls), with the bare "
        "pyspiel walk that bounds the conversion and OpenSpiel's own `TabularPolicy(game)` in the same run.",
        "python benchmarks/bench_openspiel_conversion.py",
        r"bench_openspiel_conversion(_quick)?\.json",
        openspiel_conversion_tables,
        openspiel_conversion_targets,
        stated_targets=(
            "`from_openspiel`, 3-player Leduc: <= 5 s and <= 1 GB",
            "`to_openspiel_policy`, 3-player Leduc: <= 1 s",
        ),
    ),
]


# ----------------------------------------------------------------------------- assembling the README


def claim(files: list[Path]) -> dict[str, list[Run]]:
    """The reported runs of every benchmark (full runs preferred; both kinds of one stem is an error)."""
    runs = {b.script: [] for b in BENCHES}
    for path in sorted(files):
        owners = [b for b in BENCHES if re.fullmatch(b.pattern, path.name)]
        if not owners:
            raise ReportError(
                f"{path.name}: no benchmark writes a file of this name; remove it or add its "
                "benchmark to benchmarks/report.py"
            )
        runs[owners[0].script].append(Run(path))
    for script, rs in runs.items():
        stems = {r.path.stem for r in rs}
        for r in rs:
            if r.quick and r.path.stem.replace("_quick", "") in stems:
                raise ReportError(f"{r.name}: a full run of the same benchmark is reported too; remove the quick one")
        if any(not r.quick for r in rs):
            runs[script] = [r for r in rs if not r.quick]
        bench = next(b for b in BENCHES if b.script == script)
        if runs[script] and bench.render is None:
            raise ReportError(f"{runs[script][0].name}: benchmarks/report.py has no table for {script} yet")
    return runs


HEADER = """\
<!-- Generated by `python benchmarks/report.py` from benchmarks/reported/*.json: do not edit by hand. -->
# Benchmarks

Every figure here is read from a result file in [`reported/`](reported/). To update a benchmark, run
its command on an otherwise idle machine (each script also takes `--wait-idle SECONDS`), then adopt
the run and regenerate this page:

```
python benchmarks/report.py --add benchmarks/results/<file>.json
```

All scripts time the same way (`benchmarks/_common.py`): the first call of a jitted function
compiles and is reported apart as compile time; the figure quoted is the median of the repeated
calls that follow; peers run in the same process, on the same inputs. Each file records the
machine, the git commit and the CPU time other processes used during the run: a run where they
used more than 0.05 cores on average is marked **loaded**, and its timings are pessimistic. A
*quick* run uses the script's `--quick` sizes. History of earlier runs: [CHANGELOG.md](../CHANGELOG.md).
"""


def render(runs: dict[str, list[Run]]) -> str:
    lines = [
        HEADER,
        "## Targets",
        "",
        "The speed and quality targets the benchmarks were written for, checked against the reported runs.",
        "",
    ]
    rows, sections, family = [], [], None
    for bench in BENCHES:
        rs = runs[bench.script]
        if bench.family != family:
            family = bench.family
            sections += [f"## {family}", ""]
        sections += [f"### `{bench.script}`", "", bench.measures, ""]
        if rs:
            for run in rs:
                sections += run_lines(run, bench.command) + [""]
            sections += bench.render(rs) + [""]
            targets = bench.targets(rs) if bench.targets else []
            flags = (
                ("quick run", any(r.quick for r in rs)),
                ("loaded machine", any(loaded(r) for r in rs)),
                ("load not recorded", any(not isinstance(r.data.get("machine"), dict) for r in rs)),
            )
            marks = [mark for mark, on in flags if on]
            if marks:
                targets = [Target(t.goal, f"{t.measured} ({', '.join(marks)})", t.met) for t in targets]
        else:
            cmd = bench.command() if callable(bench.command) else bench.command
            sections += [(bench.note + " " if bench.note else "") + f"No committed result: run `{cmd}`.", ""]
            targets = [Target(t, "no committed result", None) for t in bench.stated_targets]
        rows += [[f"`{bench.script}`", t.goal, t.measured, met_text(t.met)] for t in targets]
    lines += table(["benchmark", "target", "measured", "met?"], rows, "llll") + [""]
    return "\n".join(lines + sections).rstrip() + "\n"


def build(reported_dir: Path = REPORTED_DIR) -> str:
    return render(claim(sorted(Path(reported_dir).glob("*.json"))))


def add(paths: list[Path], reported_dir: Path = REPORTED_DIR) -> list[Path]:
    """Copy result files into ``reported_dir`` (after checking they render), replacing a quick run by a full one."""
    reported_dir.mkdir(parents=True, exist_ok=True)
    current = {p.name: p for p in reported_dir.glob("*.json")}
    incoming = {Path(p).name: Path(p) for p in paths}
    for name, path in incoming.items():
        if not path.is_file():
            raise ReportError(f"{path}: no such file")
        if not name.endswith(".json"):
            raise ReportError(f"{path}: not a .json result file")
    kept = [
        p
        for n, p in current.items()
        if n not in incoming and not ("_quick" in n and n.replace("_quick", "") in incoming)
    ]
    render(claim(kept + list(incoming.values())))  # refuse before copying anything
    removed = []
    for name, path in current.items():
        if path not in kept and name not in incoming:
            path.unlink()
            removed.append(path)
    for name, path in incoming.items():
        if path.resolve() != (reported_dir / name).resolve():
            shutil.copyfile(path, reported_dir / name)
    return removed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md differs from what the files give")
    parser.add_argument("--add", nargs="+", type=Path, metavar="JSON", help="adopt these result files first")
    parser.add_argument("--reported", type=Path, default=REPORTED_DIR, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=README, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.add:
            for path in add(args.add, args.reported):
                print(f"removed {path} (replaced by a full run)")
        text = build(args.reported)
    except ReportError as err:
        print(f"report.py: error: {err}", file=sys.stderr)
        return 2
    if args.check:
        if not args.output.exists() or args.output.read_text() != text:
            print(f"{args.output} is out of date: run python benchmarks/report.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
