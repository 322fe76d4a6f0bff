"""Markov-game simulator throughput: ``jaxgames.markov.rollout`` against a vectorized NumPy loop.

Game: a random Garnet zero-sum Markov game with 64 states, 4 actions per player
(branching 4, discount 0.9). Both sides play a fixed random stationary policy
with auto-reset (episodes of 100 steps) for a fixed number of steps: ours is one
jitted ``lax.scan`` vmapped over the batch (``rollout(..., batch_size=B)``); the
peer is the straightforward NumPy implementation, one Python iteration per step
vectorized over the batch (inverse-CDF sampling of actions and next states with
``cumsum`` + comparison, as ours). Reported: median env steps/s (batch x steps /
seconds) of timed runs after a warm-up call, compile time apart.

    python benchmarks/bench_markov_env.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import jax
import numpy as np

from jaxgames import markov
from solvers.core import random_policy

from _common import time_alternating

STEPS = {1: 10_000, 1024: 1_000, 16384: 200}
EPISODE = 100


def ours(game, policy, batch, steps):
    env = markov.MarkovEnv(game, max_episode_steps=EPISODE)
    # the game and policy are arguments, not closure constants (XLA would constant-fold their CDFs)
    run = jax.jit(lambda key, g, p: markov.rollout(key, env, p, steps, batch_size=batch, params=g)[1].rewards)
    return lambda seed: run(jax.random.key(seed), game, policy)


def numpy_peer(game, policy, batch, steps):
    P = np.asarray(game.transitions)
    R = np.asarray(game.rewards)
    init_cdf = np.cumsum(np.asarray(game.initial))
    pol_cdf = [np.cumsum(np.asarray(p), axis=1) for p in policy]
    P_cdf = np.cumsum(P, axis=-1)

    def draw(cdf_rows, u):
        return np.minimum((cdf_rows < u[:, None] * cdf_rows[:, -1:]).sum(1), cdf_rows.shape[1] - 1)

    def run(seed):
        rng = np.random.default_rng(seed)
        s = np.minimum((init_cdf[None] < rng.random(batch)[:, None]).sum(1), len(init_cdf) - 1)
        count = np.zeros(batch, np.int64)
        total = np.zeros((batch, 2))
        for _ in range(steps):
            u = rng.random((batch, 4))
            a0 = draw(pol_cdf[0][s], u[:, 0])
            a1 = draw(pol_cdf[1][s], u[:, 1])
            total += R[:, s, a0, a1].T
            s = draw(P_cdf[s, a0, a1], u[:, 2])
            count += 1
            done = count >= EPISODE
            s = np.where(done, np.minimum((init_cdf[None] < u[:, 3:4]).sum(1), len(init_cdf) - 1), s)
            count = np.where(done, 0, count)
        return total

    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats and steps")
    args = parser.parse_args()
    repeats = 3 if args.quick else 5
    game = markov.random_zero_sum(jax.random.key(0), num_states=64, num_actions=4, branching=4, discount=0.9)
    policy = random_policy(game, jax.random.key(1))
    rows = []
    for batch, steps in STEPS.items():
        if args.quick:
            steps = max(steps // 5, 20)
        ((t_ours, compile_s),) = time_alternating([ours(game, policy, batch, steps)], int, repeats)
        peer_steps = min(steps, 1000)
        ((t_peer, _),) = time_alternating([numpy_peer(game, policy, batch, peer_steps)], int, max(repeats - 2, 1))
        row = dict(
            batch=batch,
            steps=steps,
            ours_steps_per_s=batch * steps / t_ours,
            ours_compile_s=compile_s,
            numpy_steps_per_s=batch * peer_steps / t_peer,
        )
        row["speedup"] = row["ours_steps_per_s"] / row["numpy_steps_per_s"]
        rows.append(row)
        print(
            f"batch {batch:6d}: ours {row['ours_steps_per_s']:.3e} steps/s (compile {compile_s:.2f} s), "
            f"numpy {row['numpy_steps_per_s']:.3e} steps/s, x{row['speedup']:.1f}"
        )
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    result = dict(
        benchmark="markov_env",
        game="random_zero_sum(64 states, 4x4 actions, branching 4)",
        machine=platform.processor() or platform.machine(),
        jax=jax.__version__,
        quick=args.quick,
        rows=rows,
    )
    name = "markov_env_quick.json" if args.quick else "markov_env.json"  # a smoke run keeps the full figures
    (out / name).write_text(json.dumps(result, indent=2))
    print(f"written {out / name}")


if __name__ == "__main__":
    main()
