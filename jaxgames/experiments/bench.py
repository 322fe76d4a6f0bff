"""``jaxgames bench``: every solver on every game, by steps and by wall-clock time.

For each (game, solver) pair the batch of ``num_games`` games (drawn from the
seed) is solved in one jitted call to ``max(steps)`` iterations with the
exploitability recorded every ``gcd(steps)`` iterations. Compile time is the
ahead-of-time ``lower().compile()``; run time is the median of ``repeats``
calls of the compiled function (it includes the evaluations). Reported: the median exploitability
over games at each step count, at each wall-clock budget (the last evaluation
reached within the budget at the measured speed; ``nan`` if none), and
iterations per second. Results go to ``results.csv`` and ``curves.csv``, plots
to one PNG per game (exploitability against steps and against seconds).
"""

from __future__ import annotations

import math
import re
from functools import reduce
from pathlib import Path

import jax
import numpy as np

from jaxgames.experiments.config import BenchConfig
from jaxgames.experiments.execute import compile_and_time, prepare_points
from jaxgames.experiments.results import environment, write_csv, write_json

#: The suite the README's first command runs: about a minute on 2 CPU cores.
DEFAULT_BENCH = {
    "kind": "bench",
    "games": [
        {"name": "rock_paper_scissors"},
        {"name": "biased_rock_paper_scissors"},
        {"name": "random_zero_sum", "params": {"num_actions": 10}, "label": "random_zero_sum_10x10"},
        {"name": "preference_intransitive", "params": {"num_responses": 8}},
    ],
    "solvers": [{"name": n} for n in ["fictitious_play", "regret_matching", "regret_matching_plus",
                                        "mirror_descent", "optimistic_mirror_descent", "extragradient",
                                        "mirror_prox", "mmd"]],
    "steps": [10, 100, 1000, 5000],
    "budgets_s": [0.001, 0.01, 0.1],
    "num_games": 32,
    "repeats": 3,
    "seed": 0,
}


def _at_budget(steps, expl_median, it_per_s, budget):
    reachable = int(budget * it_per_s)
    ok = np.nonzero(steps <= reachable)[0]
    return float(expl_median[ok[-1]]) if len(ok) else float("nan")


def run_bench(config: BenchConfig, out: Path, progress=None, log=print) -> list[dict]:
    out = Path(out)
    write_json(out / "config.json", {"config": config.model_dump(), "environment": environment()})
    max_steps = max(config.steps)
    every = reduce(math.gcd, config.steps)
    keys = jax.random.split(jax.random.key(config.seed), config.num_games)
    rows, curves = [], []
    for game in config.games:
        for solver in config.solvers:
            fn, args, n_points = prepare_points(game.name, solver.name, game.params, solver.params, {},
                                                keys, max_steps, every)
            (expl, steps), compile_s, run_s = compile_and_time(fn, args, config.repeats)
            expl, steps = np.asarray(expl)[:n_points], np.asarray(steps)[0]
            it_per_s = max_steps / run_s
            med = np.median(expl, axis=0)
            row = {"game": game.title, "solver": solver.title, "num_games": config.num_games,
                   "compile_s": compile_s, "run_s": run_s, "iterations_per_s": it_per_s,
                   "game_iterations_per_s": it_per_s * config.num_games}
            for s in config.steps:
                row[f"exploitability@{s}_steps"] = float(med[np.searchsorted(steps, s)])
            for b in config.budgets_s:
                row[f"exploitability@{b}s"] = _at_budget(steps, med, it_per_s, b)
            rows.append(row)
            curves += [{"game": game.title, "solver": solver.title, "step": int(s), "seconds": s / it_per_s,
                        "exploitability": float(e)} for s, e in zip(steps, med)]
            write_csv(out / "results.csv", rows)  # as they come: nothing is lost if interrupted
            if progress:
                progress(1)
    write_csv(out / "curves.csv", curves)
    plots = plot_curves(curves, out)
    log(format_bench_table(rows, config))
    log(f"\nresults: {out / 'results.csv'}\ncurves:  {out / 'curves.csv'}\nplots:   "
        + "\n         ".join(str(p) for p in plots))
    return rows


def format_bench_table(rows: list[dict], config: BenchConfig) -> str:
    cols = [f"exploitability@{s}_steps" for s in config.steps] + [f"exploitability@{b}s" for b in config.budgets_s]
    heads = [f"@{s}" for s in config.steps] + [f"@{b}s" for b in config.budgets_s]
    gw = max(len(r["game"]) for r in rows) + 2
    sw = max(len(r["solver"]) for r in rows) + 2
    lines = [f"Median exploitability over {config.num_games} game(s) at step counts and wall-clock budgets",
             "game".ljust(gw) + "solver".ljust(sw) + "".join(f"{h:>10s}" for h in heads)
             + f"{'iter/s':>11s}{'compile s':>11s}"]
    for r in rows:
        lines.append(r["game"].ljust(gw) + r["solver"].ljust(sw) + "".join(f"{r[c]:10.1e}" for c in cols)
                     + f"{r['iterations_per_s']:11.3g}{r['compile_s']:11.2f}")
    return "\n".join(lines)


def plot_curves(curves: list[dict], out: Path) -> list[Path]:
    """One PNG per game: exploitability against steps and against seconds, log-log."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for game in dict.fromkeys(c["game"] for c in curves):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for solver in dict.fromkeys(c["solver"] for c in curves if c["game"] == game):
            pts = [c for c in curves if c["game"] == game and c["solver"] == solver]
            e = np.maximum([p["exploitability"] for p in pts], 1e-12)
            axes[0].plot([p["step"] for p in pts], e, label=solver)
            axes[1].plot([p["seconds"] for p in pts], e, label=solver)
        for ax, xl in zip(axes, ["iterations", "seconds (excluding compile)"]):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xl)
            ax.set_ylabel("exploitability (median over games)")
            ax.grid(True, which="both", alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle(game)
        fig.tight_layout()
        path = out / f"exploitability_{re.sub(r'[^A-Za-z0-9_.-]', '_', game)}.png"   # labels are free text
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
