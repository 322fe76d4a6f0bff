"""``jaxgames table``: solve the classic games with every solver.

Prints a table of the final exploitability of each solver's output on each
classic game (from a random initial policy, so that uniform-equilibrium games
are not solved at step 0), then the compile time and run time of each solver.
Games with the same shape are solved together in one ``jit(vmap(run))`` call.
"""

from __future__ import annotations

import statistics
import sys
import time

import jax
import numpy as np

import solvers
from jaxgames.matrix import CLASSIC_GAMES


def _group_by_shape(names):
    groups = {}
    for name in names:
        game = CLASSIC_GAMES[name]()
        groups.setdefault(game.payoffs.shape, []).append((name, game))
    return groups


def solve_classic_games(solver_names, game_names, num_steps: int, seed: int, repeats: int = 3):
    """Return ``{(game, solver): exploitability}`` and ``{solver: (compile_s, run_s)}``."""
    results, timings = {}, {}
    groups = _group_by_shape(game_names)
    for solver_name in solver_names:
        solver = solvers.make(solver_name)
        compile_s, run_s = 0.0, 0.0
        for shape, members in groups.items():
            batch = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *[g for _, g in members])
            keys = jax.random.split(jax.random.key(seed), len(members))
            fn = jax.jit(jax.vmap(lambda g, k: solvers.run(solver, g, num_steps, eval_every=num_steps,
                                                           key=k)[1].exploitability[-1]))
            t0 = time.perf_counter()
            expl = jax.block_until_ready(fn(batch, keys))
            first = time.perf_counter() - t0
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                jax.block_until_ready(fn(batch, keys))
                times.append(time.perf_counter() - t0)
            steady = statistics.median(times)
            compile_s += max(first - steady, 0.0)
            run_s += steady
            for (name, _), e in zip(members, np.asarray(expl)):
                results[(name, solver_name)] = float(e)
        timings[solver_name] = (compile_s, run_s)
        print(f"  solved {len(game_names)} games with {solver_name:<26s} "
              f"compile {compile_s:6.2f} s  run {1e3 * run_s:8.1f} ms", file=sys.stderr, flush=True)
    return results, timings


def format_table(results, timings, solver_names, game_names, num_steps: int) -> str:
    abbrev = {"extragradient": "EG", "fictitious_play": "FP", "mirror_descent": "MWU",
              "mirror_prox": "MirrorProx", "mmd": "MMD", "optimistic_mirror_descent": "OMWU",
              "regret_matching": "RM", "regret_matching_plus": "RM+"}
    short = {n: abbrev.get(n, n) for n in solver_names}
    width = max(len(g) for g in game_names) + 2
    lines = [f"Exploitability of each solver's output after {num_steps} steps (random initial policy)",
             "(Shapley's game and three-player matching pennies are general-sum games on which\n"
             " no-regret dynamics are known to cycle)", ""]
    lines.append("game".ljust(width) + "".join(f"{short[s]:>11s}" for s in solver_names))
    for g in game_names:
        lines.append(g.ljust(width) + "".join(f"{results[(g, s)]:11.1e}" for s in solver_names))
    lines.append("")
    lines.append("compile (s)".ljust(width) + "".join(f"{timings[s][0]:11.2f}" for s in solver_names))
    lines.append("run (ms)".ljust(width) + "".join(f"{1e3 * timings[s][1]:11.1f}" for s in solver_names))
    return "\n".join(lines)
