"""Sparse Markov games (``SparseMarkovGame``): build, minimax value iteration and exploitability, peak memory.

Each case runs in its own process (so ``ru_maxrss`` is that case's peak resident memory): a random
two-player zero-sum Garnet game (``jaxgames.markov.random_zero_sum``) or ``grid_soccer``, stored
sparse or dense (the peer, at sizes where the dense tensor fits), then ``--steps`` steps of Shapley's
minimax value iteration (``solvers.minimax_value_iteration``, exact 3 x 3 stage games, one jitted
``fori_loop``) and the exploitability of its stage policy (two best responses by Howard's policy
iteration; BiCGSTAB solves above ``DENSE_SOLVE_MAX_STATES`` states). Compile time is reported
apart from the run (medians of ``--repeats`` runs, ``jaxgames.experiments.timing``).

    python benchmarks/bench_markov_sparse.py                       # the default cases
    python benchmarks/bench_markov_sparse.py --case sparse:10000   # one case in this process
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

DEFAULT_CASES = ("sparse:10000", "sparse:2000", "dense:2000", "soccer-sparse:6x7")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(case: str, steps: int, repeats: int, actions: int, branching: int) -> dict:
    import jax

    from jaxgames import markov
    from jaxgames.experiments.timing import compile_and_time
    from solvers import minimax_value_iteration
    from solvers.core import iterate

    kind, size = case.split(":")
    rss0 = peak_rss_mb()
    t0 = time.perf_counter()
    if kind.startswith("soccer"):
        rows, cols = (int(x) for x in size.split("x"))
        game = markov.grid_soccer(rows, cols, sparse=kind.endswith("sparse"))
    else:
        game = markov.random_zero_sum(
            jax.random.key(0), int(size), actions, branching=branching, sparse=kind == "sparse"
        )
    game = jax.block_until_ready(game)
    build_s = time.perf_counter() - t0
    solver = minimax_value_iteration()

    @jax.jit
    def solve(game):
        state = iterate(solver, game, solver.init(game), steps)
        return state.extra.values, solver.output(state)

    @jax.jit
    def exploitability(game, policy):
        return game.exploitability(policy)

    (values, policy), solve_compile_s, solve_s = compile_and_time(solve, (game,), repeats)
    expl, expl_compile_s, expl_s = compile_and_time(exploitability, (game, policy), repeats)
    return dict(
        case=case,
        game=repr(game),
        steps=steps,
        build_s=build_s,
        solve_compile_s=solve_compile_s,
        solve_s=solve_s,
        exploitability_compile_s=expl_compile_s,
        exploitability_s=expl_s,
        exploitability=float(expl),
        value_mean=float(values.mean()),
        peak_rss_mb=peak_rss_mb(),
        rss_before_mb=rss0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", help="kind:size, kind in sparse, dense, soccer-sparse, soccer-dense")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--actions", type=int, default=3)
    parser.add_argument("--branching", type=int, default=3)
    args = parser.parse_args()
    cases = args.case or DEFAULT_CASES
    if len(cases) == 1:
        print(json.dumps(run_case(cases[0], args.steps, args.repeats, args.actions, args.branching)))
        return
    for case in cases:  # one process per case: its own peak RSS
        cmd = [sys.executable, __file__, "--case", case, "--steps", str(args.steps), "--repeats", str(args.repeats)]
        cmd += ["--actions", str(args.actions), "--branching", str(args.branching)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        print(out.stdout.strip().splitlines()[-1] if out.returncode == 0 else f"{case}: failed\n{out.stderr[-2000:]}")


if __name__ == "__main__":
    main()
