"""``jaxgames bench``: solvers on games, by steps and by wall-clock time, in three separate steps.

1. **Measure** (``measure``). A bench is a list of suites (by default one per game family), each a
   list of games and the solvers that fit them. For each game the batch of ``num_games`` games is
   drawn from the seed once (``registry.build_games``: the games ``jaxgames run`` would draw); then
   for each solver one jitted call solves the whole batch to ``max(steps)`` iterations, recording the
   exploitability every ``gcd(steps)`` iterations. The call is compiled ahead of time and that time is
   kept apart (``compile_s``); the compiled call is then timed ``repeats`` times (``run_s``, the
   median; the evaluations are included). Timing is ``jaxgames.experiments.timing``, the harness the
   scripts in ``benchmarks/`` use too.
2. **Check** (``check``): every suite, game and solver of the config was measured; exploitabilities
   are finite and non-negative at the configured step counts; compile and run times are positive and
   finite. A failed check is reported (and makes the command exit with status 1); the results are
   written all the same.
3. **Report** (``report``): a table per suite of the median exploitability over the batch at each
   step count and at each wall-clock budget (the last evaluation reached within the budget at the
   measured speed; ``nan`` if none), iterations per second and compile time; ``results.csv`` (one
   row per suite, game and solver) and ``curves.csv`` (the median curves); one PNG per game
   (exploitability against iterations and against seconds); and ``summary.png``, one panel per suite
   with every solver's median exploitability against run time, log-log.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from functools import reduce
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

import solvers
from jaxgames import efg, markov, matrix, mean_field
from jaxgames.experiments import registry
from jaxgames.experiments.config import BenchConfig, GameConfig, SolverConfig, SuiteConfig
from jaxgames.experiments.results import write_csv, write_json
from jaxgames.experiments.timing import CpuAccounting, Timing, aot_compile, contended, environment, time_calls

_EVERY_SOLVER = [
    "fictitious_play",
    "regret_matching",
    "regret_matching_plus",
    "mirror_descent",
    "optimistic_mirror_descent",
    "extragradient",
    "mirror_prox",
    "mmd",
]

#: The suites the README's first command runs, one per game family, each with the solvers that fit
#: it; about 2-3 minutes on 2 CPU cores, most of it compiling. ``configs/bench_default.yaml`` holds
#: the same (a test keeps them equal).
DEFAULT_BENCH = {
    "kind": "bench",
    "start": "uniform",
    "steps": [10, 100, 1000],
    "budgets_s": [0.001, 0.01, 0.1, 1.0],
    "num_games": 32,
    "repeats": 3,
    "seed": 0,
    "suites": [
        {
            "name": "matrix and preference games",
            "games": [
                {"name": "random_zero_sum", "params": {"num_actions": 10}, "label": "random_zero_sum_10x10"},
                {"name": "preference_intransitive", "params": {"num_responses": 8}},
            ],
            "solvers": [{"name": n} for n in _EVERY_SOLVER],
            "steps": [10, 100, 1000, 5000],
        },
        {
            "name": "Kuhn and Leduc poker",
            "games": [{"name": "kuhn_poker"}, {"name": "leduc_poker"}],
            "solvers": [{"name": n} for n in ["cfr", "cfr_plus", "discounted_cfr", "mmd"]],
            "num_games": 1,
        },
        {
            "name": "random Markov games",
            "games": [{"name": "markov_random_zero_sum"}],
            "solvers": [
                {"name": n}
                for n in [
                    "minimax_value_iteration",
                    "smooth_value_iteration",
                    "policy_extragradient",
                    "markov_fictitious_play",
                ]
            ],
        },
        {
            "name": "crowd modelling",
            "games": [{"name": "mfg_crowd_modelling"}],
            "solvers": [{"name": n} for n in ["fictitious_play", "mirror_descent", "mmd", "fixed_point"]],
            "num_games": 1,
        },
    ],
}

#: Game families by model class: a result row names the family of its game.
FAMILIES = {
    "matrix": matrix.MatrixGame,
    "efg": efg.EFGGame,
    "markov": markov.MarkovGame,
    "mean_field": mean_field.MeanFieldGame,
}


def game_family(game) -> str:
    """``"matrix"``, ``"efg"``, ``"markov"`` or ``"mean_field"``: the family of a game model."""
    for name, cls in FAMILIES.items():
        if isinstance(game, cls):
            return name
    raise ValueError(f"game: expected a model of one of the families {sorted(FAMILIES)}, got {type(game).__name__}")


# ---------------------------------------------------------------------------------------- measure
@dataclasses.dataclass(frozen=True)
class Measurement:
    """One solver on one batch of games: the recorded curves and the times."""

    suite: str
    game: str  # the game's title (label or name)
    solver: str  # the solver's title
    family: str  # ``game_family`` of the game
    steps: np.ndarray  # [K] iterations at each evaluation
    exploitability: np.ndarray  # [num_games, K]
    diverged: np.ndarray  # [num_games, K] bool: ``solvers.Trace.diverged``
    compile_s: float  # trace + lower + compile, ahead of time
    run: Timing  # the timed calls of the compiled function

    @property
    def num_games(self) -> int:
        return int(self.exploitability.shape[0])

    @property
    def iterations_per_s(self) -> float:
        return float(self.steps[-1]) / self.run.median_s


@functools.lru_cache(maxsize=64)
def _solve(solver_name: str, solver_params: tuple, num_steps: int, every: int, random_start: bool):
    """Jitted ``vmap`` over a batch of games (and init keys): ``(steps, exploitability, diverged)``."""
    solver = registry.build_solver(solver_name, dict(solver_params))

    def point(game, key):
        _, trace = solvers.run(solver, game, num_steps, eval_every=every, key=key if random_start else None, warn=False)
        return trace.step, trace.exploitability, trace.diverged

    return jax.jit(jax.vmap(point))


def _hashable(params: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))


def measure_one(
    suite: SuiteConfig, game: GameConfig, solver: SolverConfig, games, init_keys, repeats: int, random_start: bool
) -> Measurement:
    """Compile (timed apart) and time ``solver`` on the batch ``games`` built for ``game``."""
    every = reduce(math.gcd, suite.steps)
    fn = _solve(solver.name, _hashable(solver.params), max(suite.steps), every, random_start)
    compiled, compile_s = aot_compile(fn, games, init_keys)
    (steps, expl, diverged), timing = time_calls(compiled, games, init_keys, repeats=repeats)
    return Measurement(
        suite=suite.name,
        game=game.title,
        solver=solver.title,
        family=game_family(games),
        steps=np.asarray(steps)[0],
        exploitability=np.asarray(expl),
        diverged=np.asarray(diverged),
        compile_s=compile_s,
        run=timing,
    )


def measure(config: BenchConfig, progress=None) -> list[Measurement]:
    """Every ``(suite, game, solver)`` of ``config``, in order (``progress(1)`` after each)."""
    out = []
    for suite in config.suites:
        keys = jax.random.split(jax.random.key(config.seed), suite.num_games)
        for game in suite.games:
            games, init_keys = registry.build_games(game.name, game.params, keys)
            for solver in suite.solvers:
                out.append(measure_one(suite, game, solver, games, init_keys, config.repeats, config.start == "random"))
                if progress:
                    progress(1)
    return out


# ------------------------------------------------------------------------------------------ check
def check(measurements: list[Measurement], config: BenchConfig) -> list[str]:
    """What is wrong with the measurements of ``config`` (an empty list when nothing is).

    Every suite, game and solver of the config is measured exactly once; every exploitability is finite
    and >= 0; the evaluations include every configured step count; compile and run times are finite
    and > 0 (the compile is timed apart from the runs).
    """
    problems = []
    expected = [(s.name, g.title, v.title) for s, g, v in config.pairs()]
    got = [(m.suite, m.game, m.solver) for m in measurements]
    for suite in config.suites:
        if not any(m.suite == suite.name for m in measurements):
            problems.append(f"suite {suite.name!r}: nothing was measured")
    for suite, game, solver in expected:
        if (suite, game, solver) not in got:
            problems.append(f"suite {suite!r}: solver {solver!r} on game {game!r} was not measured")
    for key in dict.fromkeys(got):
        suite, game, solver = key
        if key not in expected:
            problems.append(f"suite {suite!r}: solver {solver!r} on game {game!r} is not in the config")
        elif got.count(key) > 1:
            problems.append(f"suite {suite!r}: solver {solver!r} on game {game!r} was measured {got.count(key)} times")
    suites = {s.name: s for s in config.suites}
    for m in measurements:
        what = f"{m.solver} on {m.game}"
        bad = ~np.isfinite(m.exploitability)
        if bad.any():
            problems.append(
                f"{what}: exploitability is not finite in {int(bad.any(axis=1).sum())} of {m.num_games} game(s)"
            )
        if (m.exploitability < 0).any():
            problems.append(f"{what}: negative exploitability (min {float(np.min(m.exploitability)):.3g})")
        suite = suites.get(m.suite)
        missing = sorted(set(suite.steps) - {int(s) for s in m.steps}) if suite else []
        if missing:
            problems.append(f"{what}: no evaluation at step(s) {missing}")
        if not (math.isfinite(m.compile_s) and m.compile_s > 0):
            problems.append(f"{what}: compile time {m.compile_s!r} s is not a positive number")
        if not all(math.isfinite(t) and t > 0 for t in m.run.times_s):
            problems.append(f"{what}: run times {m.run.times_s} s are not all positive numbers")
    return problems


# ----------------------------------------------------------------------------------------- report
def _at_budget(steps, expl_median, it_per_s, budget):
    reachable = int(budget * it_per_s)
    ok = np.nonzero(steps <= reachable)[0]
    return float(expl_median[ok[-1]]) if len(ok) else float("nan")


def result_rows(measurements: list[Measurement], config: BenchConfig) -> list[dict]:
    """One row per measurement: medians over the batch at each step count and budget, speed, times."""
    suites = {s.name: s for s in config.suites}
    rows = []
    for m in measurements:
        suite = suites[m.suite]
        med = np.median(m.exploitability, axis=0)
        row = {
            "suite": m.suite,
            "family": m.family,
            "game": m.game,
            "solver": m.solver,
            "num_games": m.num_games,
            "compile_s": m.compile_s,
            "run_s": m.run.median_s,
            "run_min_s": m.run.min_s,
            "iterations_per_s": m.iterations_per_s,
            "game_iterations_per_s": m.iterations_per_s * m.num_games,
            "cpu_utilization": m.run.cpu_utilization,
            "diverged_games": int(m.diverged[:, -1].sum()),
        }
        for s in suite.steps:
            i = np.searchsorted(m.steps, s)
            row[f"exploitability@{s}_steps"] = float(med[i]) if i < len(m.steps) and m.steps[i] == s else float("nan")
        for b in suite.budgets_s:
            row[f"exploitability@{b}s"] = _at_budget(m.steps, med, m.iterations_per_s, b)
        rows.append(row)
    return rows


def curve_rows(measurements: list[Measurement]) -> list[dict]:
    """The median exploitability over each batch at every evaluation, with its iteration and run time."""
    return [
        {
            "suite": m.suite,
            "game": m.game,
            "solver": m.solver,
            "step": int(s),
            "seconds": s / m.iterations_per_s,
            "exploitability": float(e),
        }
        for m in measurements
        for s, e in zip(m.steps, np.median(m.exploitability, axis=0))
    ]


def _union_columns(rows: list[dict]) -> list[dict]:
    """Rows with the same columns (the union, in order of first appearance; '' where absent)."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return [{c: r.get(c, "") for c in columns} for r in rows]


def format_bench_table(rows: list[dict], config: BenchConfig) -> str:
    """One table per suite: median exploitability at its step counts and budgets, speed, compile time."""
    blocks = []
    for suite in config.suites:
        group = [r for r in rows if r["suite"] == suite.name]
        if not group:
            continue
        cols = [f"exploitability@{s}_steps" for s in suite.steps] + [f"exploitability@{b}s" for b in suite.budgets_s]
        heads = [f"@{s}" for s in suite.steps] + [f"@{b}s" for b in suite.budgets_s]
        gw = max(len(r["game"]) for r in group) + 2
        sw = max(len(r["solver"]) for r in group) + 2
        lines = [
            f"{suite.name}: median exploitability over {suite.num_games} game(s) at step counts and wall-clock budgets",
            "game".ljust(gw)
            + "solver".ljust(sw)
            + "".join(f"{h:>10s}" for h in heads)
            + f"{'iter/s':>11s}{'compile s':>11s}",
        ]
        for r in group:
            lines.append(
                r["game"].ljust(gw)
                + r["solver"].ljust(sw)
                + "".join(f"{r[c]:10.1e}" for c in cols)
                + f"{r['iterations_per_s']:11.3g}{r['compile_s']:11.2f}"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)  # labels are free text


def plot_curves(curves: list[dict], out: Path) -> list[Path]:
    """One PNG per game: exploitability against steps and against seconds, log-log."""
    plt = _pyplot()
    paths = []
    for game in dict.fromkeys(c["game"] for c in curves):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for solver in dict.fromkeys(c["solver"] for c in curves if c["game"] == game):
            pts = [c for c in curves if c["game"] == game and c["solver"] == solver]
            e = _positive([p["exploitability"] for p in pts])
            axes[0].plot([p["step"] for p in pts], e, label=solver)
            axes[1].plot([p["seconds"] for p in pts], e, label=solver)
        for ax, xl in zip(axes, ["iterations", "seconds (excluding compile)"]):
            _log_log(ax, xl)
        axes[0].legend(fontsize=8)
        fig.suptitle(game)
        fig.tight_layout()
        path = out / f"exploitability_{_file_name(game)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def _positive(values) -> np.ndarray:
    """Exploitabilities for a log axis: exact zeros (a solved game) are left out of the line."""
    e = np.asarray(values, dtype=float)
    return np.where(e > 0, e, np.nan)


def _log_log(ax, xlabel: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("exploitability (median over games)")
    ax.grid(True, which="both", alpha=0.3)


_LINESTYLES = ["-", "--", ":", "-."]


def summary_figure(curves: list[dict]):
    """One panel per suite: every solver's median exploitability against run time, log-log.

    A matplotlib ``Figure``; colour is the solver (the same in every panel), line style the game.
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D

    suites = list(dict.fromkeys(c["suite"] for c in curves))
    ncols = min(len(suites), 2)
    nrows = math.ceil(len(suites) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 4.6 * nrows), squeeze=False)
    for ax in axes.flat[len(suites) :]:
        fig.delaxes(ax)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    palette = {s: colors[i % len(colors)] for i, s in enumerate(dict.fromkeys(c["solver"] for c in curves))}
    for ax, suite in zip(axes.flat, suites):
        mine = [c for c in curves if c["suite"] == suite]
        games = list(dict.fromkeys(c["game"] for c in mine))
        style = {game: _LINESTYLES[g % len(_LINESTYLES)] for g, game in enumerate(games)}
        for game in games:
            for solver in dict.fromkeys(c["solver"] for c in mine if c["game"] == game):
                pts = [c for c in mine if c["game"] == game and c["solver"] == solver]
                ax.plot(
                    [p["seconds"] for p in pts],
                    _positive([p["exploitability"] for p in pts]),
                    color=palette[solver],
                    linestyle=style[game],
                )
        _log_log(ax, "run time, seconds (compile excluded)")
        ax.set_title(suite, fontsize=11)
        names = list(dict.fromkeys(c["solver"] for c in mine))
        legend = ax.legend([Line2D([], [], color=palette[n]) for n in names], names, fontsize=7, loc="lower left")
        if len(games) > 1:
            ax.add_artist(legend)
            ax.legend(
                [Line2D([], [], color="0.3", linestyle=style[g]) for g in games], games, fontsize=7, loc="upper right"
            )
    fig.suptitle("Exploitability (median over each batch of games) against run time")
    fig.tight_layout()
    return fig


def report(measurements: list[Measurement], config: BenchConfig, out: Path, log=print) -> list[dict]:
    """Write ``results.csv``, ``curves.csv``, one PNG per game and ``summary.png``; log the tables."""
    out = Path(out)
    rows = result_rows(measurements, config)
    curves = curve_rows(measurements)
    write_csv(out / "results.csv", _union_columns(rows))
    write_csv(out / "curves.csv", curves)
    plots = plot_curves(curves, out)
    summary = out / "summary.png"
    if curves:
        fig = summary_figure(curves)
        fig.savefig(summary, dpi=110)
        _pyplot().close(fig)
    log(format_bench_table(rows, config))
    log(
        f"\nresults: {out / 'results.csv'}\ncurves:  {out / 'curves.csv'}\nsummary: {summary}\nplots:   "
        + "\n         ".join(str(p) for p in plots)
    )
    return rows


# -------------------------------------------------------------------------------------- the three
class BenchResult(NamedTuple):
    rows: list[dict]  # as in results.csv
    problems: list[str]  # what ``check`` found wrong (empty: nothing)
    record: dict  # wall and CPU time of the whole bench, other processes' CPU use


def run_bench(config: BenchConfig, out: Path, progress=None, log=print) -> BenchResult:
    """Measure, check, report; ``out/run.json`` records the times, the load and the checks."""
    out = Path(out)
    cpu = CpuAccounting()
    resolved = config.model_dump(exclude={"games", "solvers"})
    write_json(out / "config.json", {"config": resolved, "environment": environment()})
    measurements = measure(config, progress)
    problems = check(measurements, config)
    rows = report(measurements, config, out, log)
    record = cpu.measure()
    record.update(
        compile_s=sum(m.compile_s for m in measurements),
        run_s=sum(sum(m.run.times_s) for m in measurements),
        checks_failed=problems,
    )
    write_json(out / "run.json", record)
    log(
        f"\n{len(measurements)} solver runs in {record['wall_s']:.0f} s: compiling {record['compile_s']:.0f} s, "
        f"timed runs {record['run_s']:.1f} s"
        + (
            f"; other processes used {record['other_processes_cores']:.2f} cores meanwhile, so the times are "
            "pessimistic"
            if contended(record)
            else ""
        )
    )
    for problem in problems:
        log(f"check failed: {problem}")
    return BenchResult(rows, problems, record)
