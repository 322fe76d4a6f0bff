"""Neural self-play learners (PPO, MMD-RL): exact NashConv against environment steps and wall time,
several seeds in one call, and the training loop's environment steps per second.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_neural.py                    # Leduc, 10-minute budget per learner
    python benchmarks/bench_neural.py --quick            # smoke test (Kuhn, a few seconds)
    python benchmarks/bench_neural.py --budget 120 --games kuhn_poker

**Curves.** For each game and learner, ``--seeds`` independent runs (``jax.vmap`` over keys) train
in one jitted call per chunk of learner steps (``SETTINGS``) (``solvers.run(..., state=...)``), until
the wall-time budget (``--budget`` seconds, compilation included) is spent. After every chunk we
record the wall time since the start (the first chunk includes compilation, reported apart as
``compile_s``), the environment steps so far (player decisions actually taken, summed over the
seeds' batches and divided by the number of seeds), and the exact NashConv of each seed's policy
(``solvers.run`` evaluates it inside the jitted loop, no sampling error).

**Throughput.** Environment steps per second of one training step (rollout + updates) at batch
1,024 and 16,384 (median of ``--repeats`` jitted calls, compile apart).

Target: a last-iterate learner (PPO or MMD-RL) reaches NashConv <= 0.3 on Leduc within
10 minutes; R-NaD's published curve is about 0.2 after 1M learner steps. Results go to
``benchmarks/results/bench_neural_curves[_quick]_<learners>.{json,csv,png}``.
"""

from __future__ import annotations

import time

import jax
import numpy as np
import optax

import jaxgames
import solvers
from solvers.neural.policy_gradient import mmd_rl, ppo
from solvers.neural.rnad import rnad

from _common import RESULTS_DIR, nash_conv_figure, save_figure, standard_parser, start_run, time_jitted, write_results

LEARNERS = {
    "rnad": lambda batch: rnad(hidden_sizes=(128,), batch_size=batch, period=1000, target_rate=0.003),
    # R-NaD reporting OpenSpiel's post-processed policy (small probabilities dropped, rounded to 1/32)
    "rnad_pp": lambda batch: rnad(
        hidden_sizes=(128,),
        batch_size=batch,
        period=1000,
        target_rate=0.003,
        output_threshold=0.03,
        output_discretization=32,
    ),
    # R-NaD with a step size halved every 4,000 steps (an optax schedule)
    "rnad_decay": lambda batch: rnad(
        hidden_sizes=(128,),
        batch_size=batch,
        period=1000,
        target_rate=0.003,
        learning_rate=optax.exponential_decay(3e-3, 4000, 0.5),
    ),
    # MMD-RL: alpha = 0.3 chips (a stiffer regularization damps the sampling noise), eta = 0.1 (a
    # policy step of at most ~exp(0.1 A)), the reported policy a Polyak average of the parameters
    # (rate 0.005). The uniform magnet's fixed point (the agent logit QRE at 0.3) has NashConv 0.258;
    # the magnet then moves once, after step 500, to the reported policy with a 10% uniform floor
    # (the exact fixed point after that move, from the learner's own magnet, is ~0.14). Once the
    # magnet has moved, on-policy play starves the information sets after rarely taken actions and
    # NashConv climbs back (0.32 -> 0.7 by step 1,500 without exploration); 5% uniform exploration,
    # importance-corrected, keeps them sampled. A (64, 64) network at batch 2,048 costs what (128, 128)
    # at 1,024 does per step, with half the sampling noise.
    "mmd_rl": lambda batch: mmd_rl(
        hidden_sizes=(64, 64),
        batch_size=batch,
        learning_rate=1e-3,
        magnet_coef=0.3,
        proximity=0.1,
        magnet_every=(500,),
        magnet_floor=0.1,
        exploration=0.05,
        target_rate=0.005,
    ),
    # the earlier setting: (128, 128) at batch 1,024, the magnet moved every 500 steps, no floor, no
    # exploration (best median 0.318 at step 650, then rising to ~0.9)
    "mmd_rl_every500": lambda batch: mmd_rl(
        hidden_sizes=(128, 128),
        batch_size=batch,
        learning_rate=1e-3,
        magnet_coef=0.3,
        proximity=0.1,
        magnet_every=500,
        target_rate=0.005,
    ),
    # MMD-RL with the uniform magnet kept (no moves) and alpha annealed linearly from 0.3 to 0.1 over
    # learner steps 400-1000 (the logit QRE path toward Nash), otherwise the "mmd_rl" settings
    "mmd_rl_anneal": lambda batch: mmd_rl(
        hidden_sizes=(128, 128),
        batch_size=batch,
        learning_rate=1e-3,
        magnet_coef=optax.linear_schedule(0.3, 0.1, 600, transition_begin=400),
        proximity=0.1,
        magnet_every=None,
        target_rate=0.005,
    ),
    "ppo": lambda batch: ppo(hidden_sizes=(128, 128), batch_size=batch, learning_rate=3e-3, entropy_coef=0.02),
}
#: learner steps per chunk (between evaluations) and batch size per learner: R-NaD takes one Adam
#: step per batch of 256 episodes, the PPO family two epochs of four minibatches per 1,024 (2,048
#: for "mmd_rl", whose smaller network makes a step cost the same).
SETTINGS = {
    "rnad": (1000, 256),
    "rnad_pp": (1000, 256),
    "rnad_decay": (1000, 256),
    "mmd_rl": (50, 2048),
    "mmd_rl_every500": (50, 1024),
    "mmd_rl_anneal": (50, 1024),
    "ppo": (50, 1024),
}
GAMES = {"kuhn_poker": jaxgames.kuhn_poker, "leduc_poker": jaxgames.leduc_poker}


def decisions_per_step(solver, game, key) -> float:
    """Mean player decisions per training step (whole episodes of ``batch_size`` environments)."""
    from solvers.neural.common import trajectory_rows

    env = jaxgames.make_env(game, autoreset=False)
    batch = 4096
    _, traj = jaxgames.rollout(key, env, None, game.tree.max_depth, batch_size=batch)
    _, valid = trajectory_rows(env, game, traj.state)
    return float(valid.sum()) / batch


def curve(game_name: str, learner: str, batch: int, seeds: int, chunk: int, budget_s: float) -> tuple[list, dict]:
    game = GAMES[game_name]()
    solver = LEARNERS[learner](batch)
    per_episode = decisions_per_step(solver, game, jax.random.key(99))
    keys = jax.random.split(jax.random.key(0), seeds)
    run_chunk = jax.jit(jax.vmap(lambda st: solvers.run(solver, game, chunk, eval_every=chunk, state=st)))
    t0 = time.perf_counter()
    states = jax.jit(jax.vmap(lambda k: solver.init(game, k)))(keys)
    rows, compile_s, steps = [], None, 0
    while True:
        c0 = time.perf_counter()
        states, trace = jax.block_until_ready(run_chunk(states))
        dt = time.perf_counter() - c0
        steps += chunk
        if compile_s is None:
            compile_s = dt
        elif len(rows) == 1:
            compile_s = max(compile_s - dt, 0.0)
        nash_conv = np.asarray(trace.nash_conv)[:, -1]
        rows.append(
            {
                "section": "curve",
                "game": game_name,
                "learner": learner,
                "step": steps,
                "env_steps": steps * batch * per_episode,
                "wall_s": time.perf_counter() - t0,
                "nash_conv_median": float(np.median(nash_conv)),
                "nash_conv_min": float(nash_conv.min()),
                "nash_conv_max": float(nash_conv.max()),
            }
        )
        print(
            f"  {game_name:12s} {learner:7s} step {steps:6d}  {rows[-1]['env_steps']:.3g} env steps  "
            f"{rows[-1]['wall_s']:7.1f} s  NashConv median {rows[-1]['nash_conv_median']:.4f} "
            f"[{nash_conv.min():.4f}, {nash_conv.max():.4f}]",
            flush=True,
        )
        if rows[-1]["wall_s"] >= budget_s:
            break
    summary = {
        "game": game_name,
        "learner": learner,
        "batch_size": batch,
        "seeds": seeds,
        "compile_s": compile_s,
        "final_nash_conv_median": rows[-1]["nash_conv_median"],
        "best_nash_conv_median": min(r["nash_conv_median"] for r in rows),
        "wall_s": rows[-1]["wall_s"],
        "env_steps": rows[-1]["env_steps"],
        "steps": steps,
    }
    return rows, summary


def throughput(game_name: str, learner: str, batch: int, repeats: int) -> dict:
    game = GAMES[game_name]()
    solver = LEARNERS[learner](batch)
    per_episode = decisions_per_step(solver, game, jax.random.key(99))
    state = solver.init(game, jax.random.key(0))
    timing = time_jitted(lambda: jax.jit(solver.step, static_argnums=()), game, state, repeats=repeats)
    env_steps = batch * per_episode
    out = {
        "section": "throughput",
        "game": game_name,
        "learner": learner,
        "batch_size": batch,
        "step_s": timing["median_s"],
        "compile_s": timing["compile_s"],
        "env_steps_per_s": env_steps / timing["median_s"],
    }
    print(
        f"  {game_name:12s} {learner:7s} batch {batch:6d}  {timing['median_s'] * 1e3:8.1f} ms/step  "
        f"{out['env_steps_per_s']:.3g} env steps/s  (compile {timing['compile_s']:.1f} s)",
        flush=True,
    )
    return out


def plot(rows: list, path) -> None:
    games = sorted({r["game"] for r in rows if r["section"] == "curve"})
    fig, axes = nash_conv_figure(games)
    for g, game in enumerate(games):
        for learner in sorted({r["learner"] for r in rows if r["section"] == "curve" and r["game"] == game}):
            mine = [r for r in rows if r["section"] == "curve" and r["game"] == game and r["learner"] == learner]
            for ax, x in zip(axes[g], ("env_steps", "wall_s")):
                ax.plot([r[x] for r in mine], [r["nash_conv_median"] for r in mine], marker=".", label=learner)
                ax.fill_between(
                    [r[x] for r in mine],
                    [r["nash_conv_min"] for r in mine],
                    [r["nash_conv_max"] for r in mine],
                    alpha=0.2,
                )
        axes[g, 0].set_xlabel("environment steps (per seed)")
        axes[g, 1].set_xlabel("wall time (s, compilation included)")
        for ax in axes[g]:
            ax.axhline(0.3, color="gray", ls=":", label="target 0.3")
    save_figure(fig, path)


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--games", default=None, help="comma-separated subset of kuhn_poker,leduc_poker")
    parser.add_argument("--learners", default="rnad,mmd_rl,ppo", help=f"comma-separated subset of {','.join(LEARNERS)}")
    parser.add_argument(
        "--budget", type=float, default=None, help="wall-time budget per learner (s; default 600, --quick 5)"
    )
    parser.add_argument("--seeds", type=int, default=4)
    args, info, cpu = start_run(parser, argv, packages=("flax", "optax", "rlax", "distrax"))
    games = (args.games or ("kuhn_poker" if args.quick else "leduc_poker")).split(",")
    learners = args.learners.split(",")
    for option, names, known in (("--games", games, GAMES), ("--learners", learners, LEARNERS)):
        if unknown := [n for n in names if n not in known]:
            parser.error(
                f"{option}: unknown {', '.join(unknown)}; expected a comma-separated subset of {','.join(known)}"
            )
    budget = args.budget if args.budget is not None else (5.0 if args.quick else 600.0)
    rows, summaries = [], []
    for game_name in games:
        for learner in learners:
            chunk, batch = SETTINGS[learner]
            r, s = curve(game_name, learner, batch, args.seeds, 5 if args.quick else chunk, budget)
            rows += r
            summaries.append(s)
    batches = (256,) if args.quick else (1024, 16384)
    for batch in batches:
        for game_name in games:
            for learner in learners:
                rows.append(throughput(game_name, learner, batch, args.repeats))
    stem = "bench_neural_curves" + ("_quick" if args.quick else "") + "_" + "_".join(learners)
    plot(rows, RESULTS_DIR / f"{stem}.png")
    cpu.finish(info)
    command = args.command_line
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": dict(budget_s=budget, seeds=args.seeds, games=games, learners=learners, throughput_batches=batches),
        "machine": info,
        "summaries": summaries,
        "rows": rows,
    }
    fields = sorted({k for r in rows for k in r})
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
