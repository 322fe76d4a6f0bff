"""Neural NLHF learners on random contextual preference games: the exact duality gap against steps.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_neural_nlhf.py            # 4x4 and 8x6 games, 400 steps, 4 seeds (~5 min)
    python benchmarks/bench_neural_nlhf.py --quick    # 4x4 only, 100 steps

For each game (``jaxgames.matrix.random_contextual_preference(key(0), C, A)``) and method of
``solvers.neural_nlhf`` (MLP (64,), Adam 1e-2, ``step_size`` 0.5, 64 queries per step; beta 0.02,
0.05 for online IPO), ``--seeds`` runs train in one vmapped call and the exact ``nash_conv`` (the
expected duality gap over contexts) is recorded every 50 steps. The floor is the gap of the exact
beta-regularized equilibrium (Nash mirror prox with exact feedback, per context). Results go to
``benchmarks/results/bench_neural_nlhf[_quick].{json,csv}``.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

import solvers
from jaxgames.matrix import preference_game, random_contextual_preference
from solvers.neural.nlhf import neural_nlhf
from solvers.sampled import nlhf as tabular

from _common import standard_parser, start_run, write_results

METHODS = ("nash_md", "online_ipo", "sppo", "egpo", "nash_mp")
BETA = {"online_ipo": 0.05}


def floor(game, beta: float) -> float:
    policies = []
    for c in range(game.preferences.shape[0]):
        state, _ = solvers.run(
            tabular.nash_mp(num_samples=None, beta=beta, learning_rate=1.0),
            preference_game(game.preferences[c]),
            500,
            eval_every=500,
        )
        policies.append(state.policy[0])
    policy = jnp.stack(policies)
    return float(game.nash_conv((policy, policy)))


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--seeds", type=int, default=4)
    args, info, cpu = start_run(parser, argv)
    t_start = time.perf_counter()
    steps, every = (100, 25) if args.quick else (400, 50)
    rows, summaries = [], []
    for c, a in [(4, 4)] if args.quick else [(4, 4), (8, 6)]:
        game = random_contextual_preference(jax.random.key(0), c, a)
        uniform = float(game.nash_conv(game.uniform_policy()))
        floors = {beta: floor(game, beta) for beta in (0.02, 0.05)}
        print(
            f"{c} contexts x {a} responses: uniform {uniform:.4f}; floors "
            + ", ".join(f"beta {b}: {f:.4f}" for b, f in floors.items())
        )
        for method in METHODS:
            solver = neural_nlhf(
                method,
                hidden_sizes=(64,),
                learning_rate=1e-2,
                beta=BETA.get(method, 0.02),
                step_size=0.5,
                num_samples=64,
            )
            keys = jax.random.split(jax.random.key(1), args.seeds)
            t0 = time.perf_counter()
            states, trace = jax.block_until_ready(
                jax.jit(jax.vmap(lambda k: solvers.run(solver, game, steps, eval_every=every, key=k)))(keys)
            )
            wall = time.perf_counter() - t0
            gap = np.asarray(trace.nash_conv)
            queries = int(states.extra.queries[0]) // steps
            for k, step in enumerate(np.asarray(trace.step[0])):
                rows.append(
                    {
                        "game": f"{c}x{a}",
                        "method": method,
                        "step": int(step),
                        "queries": int(step) * queries,
                        "gap_mean": float(gap[:, k].mean()),
                        "gap_std": float(gap[:, k].std()),
                    }
                )
            summaries.append(
                {
                    "game": f"{c}x{a}",
                    "method": method,
                    "uniform": uniform,
                    "floors": floors,
                    "final_gap_mean": float(gap[:, -1].mean()),
                    "wall_s_with_compile": wall,
                }
            )
            print(
                f"  {method:10s} "
                + " ".join(f"{m:.4f}" for m in gap.mean(0))
                + f"   ({queries} queries/step, {wall:.0f} s with compilation)",
                flush=True,
            )
    cpu.finish(info)
    write_results(
        "bench_neural_nlhf_quick" if args.quick else "bench_neural_nlhf",
        {"machine": info, "summaries": summaries, "rows": rows},
        rows,
        ["game", "method", "step", "queries", "gap_mean", "gap_std"],
        time.perf_counter() - t_start,
    )


if __name__ == "__main__":
    main()
