"""Alpha-rank and projected replicator dynamics on many games in one call, against OpenSpiel's loops.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_evolution.py            # full run
    python benchmarks/bench_evolution.py --quick    # smoke test, smaller sizes, not for quoting

Everything in float64 (OpenSpiel computes in float64), in the same process:

(a) ``alpharank``: ``--games`` random 3-player 3x3x3 games (uniform payoffs in [-1, 1], 27 profiles;
    multi-population, ``alpha`` and ``m`` below), all ranked in ONE jitted call
    (``jax.vmap(jaxgames.general_sum.alpha_rank.alpharank)``), against OpenSpiel's
    ``egt.alpharank.compute`` looping over a subset of the same games (Python loops + ``scipy.linalg.eig``).
(b) ``projected_replicator_dynamics``: the same games, ``iterations`` Euler steps of PRD (OpenSpiel's
    ``dt=1e-3``, ``gamma=1e-6`` and exact projection), all in one call, against OpenSpiel's
    ``algorithms.projected_replicator_dynamics`` on a subset.

Throughput is games per second (and game-iterations per second for PRD). Each result is checked
against the peer on the subset (largest absolute difference of ``pi``, or of the averaged
strategies; the script fails above ``TOLERANCE``). Ours: first call (compile) reported apart, then the
median of ``--repeats`` calls. Results are printed and written to
``benchmarks/results/bench_evolution[_quick].{json,csv}``.
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)  # noqa: E402 - OpenSpiel's precision, before any array is built

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxgames import matrix  # noqa: E402
from jaxgames.general_sum.alpha_rank import alpharank  # noqa: E402
from jaxgames.general_sum.evolution import projected_replicator_dynamics  # noqa: E402

from _common import standard_parser, start_run, time_blocks, time_jitted, write_results  # noqa: E402

SHAPE = (3, 3, 3)
ALPHA, POPULATION = 0.2, 20  # fixation probabilities well above underflow (OpenSpiel refuses near-reducible chains)
PRD = dict(dt=1e-3, gamma=1e-6)
TOLERANCE = 1e-8
FULL = dict(games=1000, peer_games=50, iterations=10_000, prd_peer_games=3)
QUICK = dict(games=100, peer_games=5, iterations=1000, prd_peer_games=1)


def random_payoffs(n: int) -> jax.Array:
    keys = jax.random.split(jax.random.key(0), n)
    return jax.vmap(lambda k: matrix.random_game(k, SHAPE).payoffs)(keys)  # [n, 3, 3, 3, 3]


def bench_alpharank(payoffs, cfg, repeats):
    from open_spiel.python.egt import alpharank as os_alpharank

    def make():
        return jax.jit(jax.vmap(lambda P: alpharank(P, alpha=ALPHA, population_size=POPULATION).pi))

    ours = time_jitted(make, payoffs, repeats=repeats)
    host = np.asarray(payoffs[: cfg["peer_games"]])

    def peer():
        return [os_alpharank.compute(list(P), m=POPULATION, alpha=ALPHA)[2] for P in host]

    peer_pi = np.asarray(peer())
    peer_t = time_blocks(peer, repeats=max(1, repeats // 2))
    diff = float(np.max(np.abs(np.asarray(ours["output"])[: len(host)] - peer_pi)))
    n = payoffs.shape[0]
    return {
        "section": "alpharank",
        "games": n,
        "peer_games": len(host),
        "ours_s": ours["median_s"],
        "ours_compile_s": ours["compile_s"],
        "peer_s": peer_t["median_s"],
        "ours_games_per_s": n / ours["median_s"],
        "peer_games_per_s": len(host) / peer_t["median_s"],
        "speedup": (n / ours["median_s"]) / (len(host) / peer_t["median_s"]),
        "max_abs_diff": diff,
    }


def bench_prd(payoffs, cfg, repeats):
    from open_spiel.python.algorithms import projected_replicator_dynamics as os_prd

    iterations = cfg["iterations"]

    def make():
        def one(P):
            return projected_replicator_dynamics(matrix.MatrixGame(P), num_steps=iterations, **PRD).average

        return jax.jit(jax.vmap(one))

    ours = time_jitted(make, payoffs, repeats=repeats)
    host = np.asarray(payoffs[: cfg["prd_peer_games"]])

    def peer():
        return [
            os_prd.projected_replicator_dynamics(
                list(P), prd_iterations=iterations, prd_dt=PRD["dt"], prd_gamma=PRD["gamma"]
            )
            for P in host
        ]

    peer_out = peer()
    peer_t = time_blocks(peer, repeats=1)
    avg = [np.asarray(a) for a in ours["output"]]
    diff = max(float(np.max(np.abs(avg[i][g] - peer_out[g][i]))) for g in range(len(host)) for i in range(3))
    n = payoffs.shape[0]
    return {
        "section": "prd",
        "games": n,
        "peer_games": len(host),
        "iterations": iterations,
        "ours_s": ours["median_s"],
        "ours_compile_s": ours["compile_s"],
        "peer_s": peer_t["median_s"],
        "ours_games_per_s": n / ours["median_s"],
        "peer_games_per_s": len(host) / peer_t["median_s"],
        "ours_game_iterations_per_s": n * iterations / ours["median_s"],
        "peer_game_iterations_per_s": len(host) * iterations / peer_t["median_s"],
        "speedup": (n / ours["median_s"]) / (len(host) / peer_t["median_s"]),
        "max_abs_diff": diff,
    }


def main(argv=None):
    parser = standard_parser(__doc__)
    args, info, cpu = start_run(parser, argv, packages=("open_spiel",))
    cfg = QUICK if args.quick else FULL
    payoffs = random_payoffs(cfg["games"])
    jnp.zeros(()).block_until_ready()
    rows = []
    for bench in (bench_alpharank, bench_prd):
        row = bench(payoffs, cfg, args.repeats)
        rows.append(row)
        print(
            f"  {row['section']:9s} {row['games']} games in {row['ours_s'] * 1e3:.1f} ms "
            f"(compile {row['ours_compile_s']:.1f} s): {row['ours_games_per_s']:.4g} games/s; OpenSpiel "
            f"{row['peer_games_per_s']:.4g} games/s on {row['peer_games']}; speedup {row['speedup']:.0f}x; "
            f"max |diff| {row['max_abs_diff']:.1e}",
            flush=True,
        )
        if not row["max_abs_diff"] <= TOLERANCE:
            raise SystemExit(f"{row['section']}: results differ from OpenSpiel by {row['max_abs_diff']:.2e}")
    cpu.finish(info)
    stem = "bench_evolution_quick" if args.quick else "bench_evolution"
    payload = {
        "command": args.command_line,
        "mode": "quick" if args.quick else "full",
        "config": {**cfg, "shape": SHAPE, "alpha": ALPHA, "population_size": POPULATION, "prd": PRD},
        "machine": info,
        "summary": rows,
        "rows": rows,
    }
    fields = sorted({k for r in rows for k in r}, key=lambda k: (k != "section", k))
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
