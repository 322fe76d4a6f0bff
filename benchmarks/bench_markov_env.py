"""Markov-game simulator throughput: ``jaxgames.markov.rollout`` against a vectorized NumPy loop.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_markov_env.py                 # full run
    python benchmarks/bench_markov_env.py --quick         # smoke test, 5x fewer steps, not for quoting
    python benchmarks/bench_markov_env.py --wait-idle 300 # first wait until no other process uses the CPU

Game: a random Garnet zero-sum Markov game with 64 states, 4 actions per player (branching 4,
discount 0.9). Both sides play a fixed random stationary policy with auto-reset (episodes of 100
steps) for a fixed number of steps at batch 1, 1,024 and 16,384: ours is one jitted ``lax.scan``
vmapped over the batch (``rollout(..., batch_size=B)``); the peer is the straightforward NumPy
implementation, one Python iteration per step vectorized over the batch (inverse-CDF sampling of
actions and next states with ``cumsum`` + comparison, as ours), at most 1,000 steps.

Timing: ``_common.time_alternating``: both first calls (ours compiles: compile time = first call -
median, reported apart), then ``--repeats`` rounds in which they take turns, so that they see the
same machine load; env steps/s = batch x steps / median.

Check: ours is zero-sum, and at batch >= 1,024 the mean reward per step of player 0 of ours and of
the NumPy loop agree within sampling error (6 standard errors over the batch), or the script
refuses to report. Results go to ``benchmarks/results/bench_markov_env{,_quick}.{json,csv}``.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxgames import markov
from solvers.core import random_policy

from _common import standard_parser, start_run, time_alternating, write_results

FULL = dict(steps={1: 10_000, 1024: 1_000, 16384: 200}, peer_max_steps=1_000)
QUICK = dict(steps={1: 2_000, 1024: 200, 16384: 40}, peer_max_steps=1_000)
GAME = dict(num_states=64, num_actions=4, branching=4, discount=0.9)
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


def check_rewards(batch, ours_rewards, numpy_totals, peer_steps) -> dict:
    """Zero-sum rewards, and (batch >= 1,024) the same mean reward per step as the NumPy loop."""
    r = np.asarray(ours_rewards, dtype=np.float64)  # [batch, steps, 2]
    zero_sum = float(np.abs(r.sum(-1)).max())
    ours_env = r[..., 0].mean(axis=1)  # per environment: independent over the batch
    peer_env = np.asarray(numpy_totals)[:, 0] / peer_steps
    diff = float(ours_env.mean() - peer_env.mean())
    se = float(np.sqrt(ours_env.var() / batch + peer_env.var() / batch))
    if zero_sum > 1e-5 or (batch >= 1024 and abs(diff) > 6 * se):
        raise AssertionError(
            f"batch {batch}: ours is not the NumPy loop's process (max |r_0 + r_1| {zero_sum:.2g}; mean reward "
            f"per step of player 0: ours {ours_env.mean():.5f}, NumPy {peer_env.mean():.5f}, difference "
            f"{diff:.2g} > 6 standard errors {6 * se:.2g}); refusing to report"
        )
    return dict(ours_mean_reward=float(ours_env.mean()), numpy_mean_reward=float(peer_env.mean()), standard_error=se)


def bench_batch(game, policy, batch, steps, cfg, repeats, rows):
    peer_steps = min(steps, cfg["peer_max_steps"])
    fns = [ours(game, policy, batch, steps), numpy_peer(game, policy, batch, peer_steps)]
    (t_ours, compile_s), (t_peer, _) = time_alternating(fns, int, repeats)
    check = check_rewards(batch, fns[0](0), fns[1](0), peer_steps)
    row = dict(
        batch=batch,
        steps=steps,
        ours_steps_per_s=batch * steps / t_ours,
        ours_median_s=t_ours,
        ours_compile_s=compile_s,
        numpy_steps=peer_steps,
        numpy_steps_per_s=batch * peer_steps / t_peer,
        numpy_median_s=t_peer,
        **check,
    )
    row["speedup"] = row["ours_steps_per_s"] / row["numpy_steps_per_s"]
    rows.append(row)
    print(
        f"batch {batch:6d}: ours {row['ours_steps_per_s']:.3e} steps/s over {steps} steps (compile {compile_s:.2f} s), "
        f"numpy {row['numpy_steps_per_s']:.3e} steps/s over {peer_steps}, x{row['speedup']:.1f}; mean reward "
        f"{check['ours_mean_reward']:+.4f} / {check['numpy_mean_reward']:+.4f}",
        flush=True,
    )


def main(argv=None):
    args, info, cpu = start_run(standard_parser(__doc__), argv)
    cfg = QUICK if args.quick else FULL
    game = markov.random_zero_sum(jax.random.key(0), **GAME)
    policy = random_policy(game, jax.random.key(1))
    rows = []
    for batch, steps in cfg["steps"].items():
        bench_batch(game, policy, batch, steps, cfg, args.repeats, rows)
    cpu.finish(info)
    command = args.command_line
    stem = "bench_markov_env_quick" if args.quick else "bench_markov_env"
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": {"steps": {str(b): s for b, s in cfg["steps"].items()}, "peer_max_steps": cfg["peer_max_steps"]},
        "game": "random_zero_sum(64 states, 4x4 actions, branching 4, discount 0.9)",
        "episode_steps": EPISODE,
        "machine": info,
        "rows": rows,
    }
    fields = [
        "batch",
        "steps",
        "ours_steps_per_s",
        "ours_median_s",
        "ours_compile_s",
        "numpy_steps",
        "numpy_steps_per_s",
        "numpy_median_s",
        "speedup",
        "ours_mean_reward",
        "numpy_mean_reward",
        "standard_error",
    ]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
