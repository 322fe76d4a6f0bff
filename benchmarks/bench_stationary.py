"""Stationary distributions: GTH (``jaxgames.markov_chain``) against the two routines it replaced.

Run from the repository root (about 2 minutes on 2 CPU cores)::

    python benchmarks/bench_stationary.py     # prints, and writes benchmarks/results/bench_stationary.txt

In one process, float32, random Dirichlet(0.5) chains: one jitted solve of an ``n x n`` chain
(n = 4 .. 1000), 4096 chains of 4 states under ``vmap``, and 1000 steps of the internal-regret
learners (``ce_regret_matching``, ``blum_mansour``) on a random 3-player 4x4x4 game, every step of
which takes each player's stationary distribution. Peers, restated here: ``jnp.linalg.solve`` of
``pi (I - P + 1 1^T) = 1^T`` (alpha-rank's old routine) and ``lstsq`` of ``[P^T - I; 1^T] pi = e``
(the no-regret solvers' old routine). Median of repeated calls after a first call (trace, compile
and run), whose time is shown apart. The accuracy side is in ``tests/test_markov_chain.py``.
"""

from __future__ import annotations

import pathlib
import statistics
import time

import jax
import jax.numpy as jnp

import solvers
from jaxgames import matrix
from jaxgames.markov_chain import stationary_distribution as gth
from solvers import no_regret

LINES: list[str] = []


def report(line: str) -> None:
    LINES.append(line)
    print(line, flush=True)


def linsolve(C):
    n = C.shape[0]
    return jnp.linalg.solve((jnp.eye(n, dtype=C.dtype) - C + 1.0).T, jnp.ones((n,), C.dtype))


def lstsq(Q):
    a = Q.shape[-1]
    system = jnp.concatenate([Q.T - jnp.eye(a, dtype=Q.dtype), jnp.ones((1, a), Q.dtype)])
    rhs = jnp.zeros((a + 1,), Q.dtype).at[-1].set(1.0)
    x = jnp.maximum(jnp.linalg.lstsq(system, rhs)[0], 0.0)
    return x / jnp.sum(x)


def timeit(f, *args, reps=15):
    start = time.perf_counter()
    jax.block_until_ready(f(*args))
    first = time.perf_counter() - start
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times), first


METHODS = [("gth", gth), ("linsolve", linsolve), ("lstsq", lstsq)]


def main() -> None:
    for n in [4, 27, 64, 216, 1000]:
        C = jax.random.dirichlet(jax.random.key(n), jnp.full((n,), 0.5), (n,))
        cells = []
        for name, f in METHODS:
            med, first = timeit(jax.jit(f), C, reps=15 if n < 1000 else 5)
            cells.append(f"{name} {med * 1e3:.3f} ms (first call {first:.2f} s)")
        report(f"n={n}: " + "; ".join(cells))
    batch = jax.random.dirichlet(jax.random.key(1), jnp.full((4,), 0.5), (4096, 4))
    for name, f in METHODS:
        med, first = timeit(jax.jit(jax.vmap(f)), batch)
        report(f"vmap 4096 x [4, 4] {name}: {med * 1e3:.3f} ms (first call {first:.2f} s)")
    game = matrix.random_game(jax.random.key(0), (4, 4, 4))
    for solver_name in ["ce_regret_matching", "blum_mansour"]:
        for name, f in [("gth", gth), ("lstsq", lstsq)]:
            no_regret.stationary_distribution = f  # the module global the internal-regret step calls
            solver = getattr(no_regret, solver_name).__wrapped__()  # a fresh solver object: a fresh trace
            run = jax.jit(
                lambda g, s=solver: solvers.run(s, g, 1000, eval_every=1000, warn=False)[1].exploitability[-1]
            )
            med, first = timeit(run, game, reps=5)
            report(
                f"{solver_name} {name}: {med * 1e3:.1f} ms / 1000 steps (first call {first:.2f} s), "
                f"CE gap {float(run(game)):.6f}"
            )
    no_regret.stationary_distribution = gth
    out = pathlib.Path("benchmarks/results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_stationary.txt").write_text("\n".join(LINES) + "\n")


if __name__ == "__main__":
    main()
