"""Kuhn poker simulator throughput: jaxgames' EFGEnv against pgx, measured in the same run.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_efg_env.py                 # full run
    python benchmarks/bench_efg_env.py --quick         # smoke test, 10x fewer steps, not for quoting
    python benchmarks/bench_efg_env.py --wait-idle 300 # first wait until no other process uses the CPU

Both sides play uniformly random legal actions with auto-reset for a fixed number of steps inside
one jitted ``lax.scan``, vmapped over a batch of environments (1, 1,024 and 16,384); pgx uses its
own ``pgx.experimental.auto_reset`` wrapper. Ours is timed three ways: ``rollout`` (records
histories, actions and rewards; no observation), and, closer to what pgx computes per step (its
state carries the observation), the loop written like pgx's: ``jax.vmap(env.step)``
(auto-resetting) with ``TimeStep.observation`` summed into the loop carry so it cannot be dropped,
once with the default observation (OpenSpiel's information-state tensor, a table gather) and once
with the information-set one-hot (the default before the tensors existed).

Timing: ``_common.time_alternating``: the four functions' first calls (compiling; compile time =
first call - median, reported apart), then ``--repeats`` rounds in which they take turns, so that
ours and pgx see the same machine load; env steps/s = batch x steps / median.

Check: every implementation must play Kuhn poker: rewards are zero-sum and the fraction of steps
that end a hand is what uniform random play gives (2 or 3 decisions per hand, 4/9 of the steps in
the long run, fewer in the first steps), within sampling error, or the script refuses to report.
Target: ``rollout`` >= 3x pgx's env steps/s at batch 16,384. Results go to
``benchmarks/results/bench_efg_env{,_quick}.{json,csv}``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxgames
from jaxgames.efg import EFGEnv

from _common import standard_parser, start_run, time_alternating, write_results

TARGET_RATIO = 3.0
TARGET_BATCH = 16_384
FULL = dict(steps={1: 10_000, 1024: 1_000, 16384: 200})
QUICK = dict(steps={1: 1_000, 1024: 100, 16384: 20})
HAND_LENGTHS = {2: 0.75, 3: 0.25}  # uniform random Kuhn: decisions per hand (bet-x, pass-pass: 2; pass-bet-x: 3)


def end_fraction(steps: int) -> float:
    """Expected fraction of the first ``steps`` steps that end a hand, starting from a fresh deal.

    ``u[t]`` is the probability that a hand ends at step ``t`` (a renewal sequence, ``u[0] = 1``); it tends to
    1 / 2.25 = 4/9, but no hand ends at the first step.
    """
    u = np.zeros(steps + 1)
    u[0] = 1.0
    for t in range(1, steps + 1):
        u[t] = sum(p * u[t - n] for n, p in HAND_LENGTHS.items() if t >= n)
    return float(u[1:].mean())


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


IMPLEMENTATIONS = {  # name -> (maker, rewards of its output)
    "ours": (ours, lambda out: out),
    "ours_observed": (ours_observed, lambda out: out[0]),
    "ours_one_hot_observed": (lambda b, s: ours_observed(b, s, "infoset_one_hot"), lambda out: out[0]),
    "pgx": (pgx_kuhn, lambda out: out),
}


def check_kuhn(name: str, rewards, steps: int) -> float:
    """The fraction of steps that end a hand; raise unless it is ``end_fraction(steps)`` within sampling error
    and the rewards are zero-sum."""
    r = np.asarray(rewards, dtype=np.float64)
    zero_sum = float(np.abs(r.sum(-1)).max())
    ended = (r != 0).any(-1)
    frac, n, expected = float(ended.mean()), ended.size, end_fraction(steps)
    tol = 6 * np.sqrt(expected * (1 - expected) / n) + 1e-3
    if zero_sum > 1e-5 or abs(frac - expected) > tol:
        raise AssertionError(
            f"{name}: rewards are not those of uniform random Kuhn poker (max |r_0 + r_1| {zero_sum:.2g}, "
            f"fraction of steps ending a hand {frac:.4f}, expected {expected:.4f} +- {tol:.4f}); "
            "refusing to report the throughput of a simulator that does not play the game"
        )
    return frac


def bench_batch(batch, steps, repeats, rows, summary):
    key = jax.random.key(batch)
    keys = lambda r: key if r == 0 else jax.random.fold_in(key, r)  # noqa: E731
    fns = {name: make(batch, steps) for name, (make, _) in IMPLEMENTATIONS.items()}
    timings = dict(zip(fns, time_alternating(list(fns.values()), keys, repeats)))
    rec = dict(batch=batch, steps=steps)
    for name, (_, rewards_of) in IMPLEMENTATIONS.items():
        median_s, compile_s = timings[name]
        end_fraction = check_kuhn(f"batch {batch}, {name}", rewards_of(fns[name](key)), steps)
        rec[f"{name}_steps_per_s"] = batch * steps / median_s
        rec[f"{name}_median_s"] = median_s
        rec[f"{name}_compile_s"] = compile_s
        rec[f"{name}_end_fraction"] = end_fraction
    rec["ratio"] = timings["pgx"][0] / timings["ours"][0]
    rec["observed_ratio"] = timings["pgx"][0] / timings["ours_observed"][0]
    rows.append(rec)
    summary[str(batch)] = rec
    print(
        f"batch {batch:6d}, {steps:6d} steps: ours {rec['ours_steps_per_s']:.3g} steps/s (step loop with the "
        f"information-state tensor {rec['ours_observed_steps_per_s']:.3g}, with the one-hot "
        f"{rec['ours_one_hot_observed_steps_per_s']:.3g}), pgx {rec['pgx_steps_per_s']:.3g} steps/s, ratio "
        f"{rec['ratio']:.1f}x ({rec['observed_ratio']:.1f}x); compile {rec['ours_compile_s']:.2f} s / "
        f"{rec['ours_observed_compile_s']:.2f} s / {rec['pgx_compile_s']:.2f} s",
        flush=True,
    )


def main(argv=None):
    args, info, cpu = start_run(standard_parser(__doc__), argv, packages=("pgx",))
    cfg = QUICK if args.quick else FULL
    rows, summary = [], {}
    for batch, steps in cfg["steps"].items():
        bench_batch(batch, steps, args.repeats, rows, summary)
    big = summary[str(TARGET_BATCH)]
    summary["target"] = dict(
        batch=TARGET_BATCH, ratio=TARGET_RATIO, measured=big["ratio"], met=big["ratio"] >= TARGET_RATIO
    )
    print(
        f"\ntarget: ours (rollout) >= {TARGET_RATIO:.0f}x pgx at batch {TARGET_BATCH:,}: {big['ratio']:.2f}x "
        f"({'met' if big['ratio'] >= TARGET_RATIO else 'MISSED'})"
    )
    cpu.finish(info)
    command = args.command_line
    stem = "bench_efg_env_quick" if args.quick else "bench_efg_env"
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": {"steps": {str(b): s for b, s in cfg["steps"].items()}},
        "machine": info,
        "summary": summary,
        "rows": rows,
    }
    fields = ["batch", "steps", "ratio", "observed_ratio"] + [
        f"{name}_{what}" for name in IMPLEMENTATIONS for what in ("steps_per_s", "median_s", "compile_s")
    ]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
