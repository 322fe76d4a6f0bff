"""Kuhn poker simulator throughput: jaxgames' EFGEnv against pgx, measured in the same run.

Both sides play uniformly random legal actions with auto-reset for a fixed number of
steps inside one jitted ``lax.scan``, vmapped over a batch of environments; pgx uses its own
``pgx.experimental.auto_reset`` wrapper. Reported: median env steps/s of 5 timed runs
after a warm-up call (compile time reported apart).

Ours is timed twice: ``rollout`` (records histories, actions and rewards; no observation),
and, closer to what pgx computes per step (its state carries the observation), the loop
written like pgx's: ``jax.vmap(env.step)`` (auto-resetting) with ``TimeStep.observation`` summed
into the loop carry so it cannot be dropped, once with the default observation (OpenSpiel's
information-state tensor, a table gather) and once with the information-set one-hot (the
default before the tensors existed), timed alternately in the same run.

    python benchmarks/bench_efg_env.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import jax
import jax.numpy as jnp

import jaxgames
from jaxgames.efg import EFGEnv

from _common import time_alternating

STEPS = {1: 10_000, 1024: 1_000, 16384: 200}


def ours(batch, steps):
    env = EFGEnv(jaxgames.kuhn_poker())
    return jax.jit(lambda key: jaxgames.rollout(key, env, None, steps, batch_size=batch)[1].rewards)


def ours_observed(batch, steps, observation="auto"):
    env = EFGEnv(jaxgames.kuhn_poker(), observation=observation)
    step = jax.vmap(env.step)

    def run(key):
        states, ts = jax.vmap(env.reset)(jax.random.split(key, batch))

        def body(carry, k):
            states, seen = carry
            k_act, k_step = jax.random.split(k)
            actions = jax.vmap(env.sample_action)(jax.random.split(k_act, batch), states)
            states, ts = step(jax.random.split(k_step, batch), states, actions)
            return (states, seen + ts.observation), ts.rewards

        (_, seen), rewards = jax.lax.scan(body, (states, ts.observation), jax.random.split(key, steps))
        return rewards, seen

    return jax.jit(run)


def pgx_kuhn(batch, steps):
    import pgx
    from pgx.experimental import auto_reset

    env = pgx.make("kuhn_poker")
    step = jax.vmap(auto_reset(env.step, env.init))

    def run(key):
        state = jax.vmap(env.init)(jax.random.split(key, batch))

        def body(state, k):
            k_act, k_step = jax.random.split(k)
            logits = jnp.where(state.legal_action_mask, 0.0, -jnp.inf)
            action = jax.random.categorical(k_act, logits, axis=-1)
            state = step(state, action, jax.random.split(k_step, batch))
            return state, state.rewards

        _, rewards = jax.lax.scan(body, state, jax.random.split(key, steps))
        return rewards

    return jax.jit(run)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10x fewer steps")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import pgx

    rows = []
    for batch, steps in STEPS.items():
        steps = max(steps // 10, 10) if args.quick else steps
        key = jax.random.key(batch)
        keys = lambda r, key=key: key if r == 0 else jax.random.fold_in(key, r)  # noqa: E731
        ((t_ours, c_ours),) = time_alternating([ours(batch, steps)], keys, args.repeats)
        (t_obs, c_obs), (t_hot, _) = time_alternating(
            [ours_observed(batch, steps), ours_observed(batch, steps, "infoset_one_hot")], keys, args.repeats
        )
        ((t_pgx, c_pgx),) = time_alternating([pgx_kuhn(batch, steps)], keys, args.repeats)
        row = {
            "batch": batch,
            "steps": steps,
            "ours_steps_per_s": batch * steps / t_ours,
            "ours_observed_steps_per_s": batch * steps / t_obs,
            "ours_one_hot_observed_steps_per_s": batch * steps / t_hot,
            "pgx_steps_per_s": batch * steps / t_pgx,
            "ratio": t_pgx / t_ours,
            "observed_ratio": t_pgx / t_obs,
            "ours_compile_s": c_ours,
            "ours_observed_compile_s": c_obs,
            "pgx_compile_s": c_pgx,
        }
        rows.append(row)
        print(
            f"batch {batch:6d}: ours {row['ours_steps_per_s']:.3g} steps/s (step loop with the information-state "
            f"tensor {row['ours_observed_steps_per_s']:.3g}, with the one-hot "
            f"{row['ours_one_hot_observed_steps_per_s']:.3g}), pgx {row['pgx_steps_per_s']:.3g} steps/s, ratio "
            f"{row['ratio']:.1f}x ({row['observed_ratio']:.1f}x) (compile {c_ours:.2f} s / {c_obs:.2f} s / "
            f"{c_pgx:.2f} s)",
            flush=True,
        )
    out = Path(__file__).parent / "results" / ("bench_efg_env_quick.json" if args.quick else "bench_efg_env.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "rows": rows,
                "jax": jax.__version__,
                "pgx": pgx.__version__,
                "machine": platform.processor() or platform.machine(),
                "devices": [str(d) for d in jax.devices()],
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
