"""NFSP on Kuhn poker: ours (jitted, batched environments) against OpenSpiel's JAX NFSP.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_nfsp.py                  # full run (~2 min on 2 shared CPU cores)
    python benchmarks/bench_nfsp.py --quick          # smoke test, fewer episodes and seeds, not for quoting
    python benchmarks/bench_nfsp.py --wait-idle 300  # first wait (up to 300 s) until no other process uses the CPU

(1) OpenSpiel's JAX NFSP (``open_spiel.python.jax.nfsp.NFSP``), configured as its Kuhn example
    (``open_spiel/python/examples/nfsp_kuhn_jax.py``: hidden ``[128]``, replay 200k, reservoir 2M,
    anticipatory 0.1, epsilon 0.06 -> 0.001, its defaults otherwise: SGD, RL and SL learning rates
    0.01, batch 128, a learning step every 64 agent steps, learning from 1,000 stored items), one
    agent per player on ``rl_environment.Environment("kuhn_poker")``, in this process. Warm-up
    episodes (its jit compilations, the buffers filling up to learning) are not timed; then
    ``episodes`` timed episodes: episodes/s.
(2) Ours: ``solvers.neural.nfsp.nfsp()`` (defaults: 128 environments, i.e. episodes, per step)
    on ``jaxgames.kuhn_poker()``, seed 0, from a cold start: the wall time from before ``init``
    (its compile included) through the ahead-of-time compilation of a ``solvers.run`` chunk of
    ``chunk`` steps (with the exact exploitability every ``eval_every`` steps) to the first
    evaluation with exploitability <= 0.107, the chunks run one after another. Exploitability here
    is ``Trace.exploitability`` = NashConv / 2, what OpenSpiel's ``exploitability.exploitability``
    (and its NFSP example) prints; NashConv is reported too. Then the steady-state episodes/s (a
    timed chunk with no evaluation) and, over ``seeds`` seeds in one vmapped call, the steps to the
    target and the final exploitability.
(3) Throughput at 1,024 environments: ``nfsp(num_envs=1024)`` steps timed with no evaluation:
    episodes/s, simulator steps/s (``env.step`` calls: ``1024 * max_episode_length`` per step, 3 on
    Kuhn, the no-op steps after an episode's end included) and decisions/s (valid ones only).

Writes ``benchmarks/results/bench_nfsp.{json,csv}`` (``bench_nfsp_quick.*`` with ``--quick``).
"""

from __future__ import annotations

import time

import jax
import numpy as np

import jaxgames
import solvers
from solvers.neural.nfsp import nfsp

from _common import standard_parser, start_run, time_blocks, write_results

TARGET = 0.107  # exploitability (NashConv / 2)
NUM_ENVS = 128  # nfsp()'s default
FULL = dict(
    os_warmup=500,
    os_episodes=3000,
    chunk=50,
    eval_every=25,
    max_steps=5000,
    seeds=8,
    seed_steps=1000,
    big_envs=1024,
    big_steps=50,
)
QUICK = dict(
    os_warmup=200,
    os_episodes=500,
    chunk=50,
    eval_every=25,
    max_steps=2000,
    seeds=2,
    seed_steps=300,
    big_envs=1024,
    big_steps=10,
)


# ----------------------------------------------------------------------------- OpenSpiel


def openspiel_nfsp(cfg) -> dict:
    from open_spiel.python import rl_environment
    from open_spiel.python.jax import nfsp as os_nfsp

    env = rl_environment.Environment("kuhn_poker", players=2)
    size = env.observation_spec()["info_state"][0]
    actions = env.action_spec()["num_actions"]
    kwargs = dict(
        replay_buffer_capacity=int(2e5), epsilon_decay_duration=int(3e6), epsilon_start=0.06, epsilon_end=0.001
    )
    agents = [
        os_nfsp.NFSP(p, size, actions, [128], int(2e6), 0.1, allow_checkpointing=False, **kwargs) for p in range(2)
    ]

    def episodes(n):
        decisions = 0
        for _ in range(n):
            ts = env.reset()
            while not ts.last():
                p = ts.observations["current_player"]
                ts = env.step([agents[p].step(ts).action])
                decisions += 1
            for agent in agents:
                agent.step(ts)
        return decisions

    t0 = time.perf_counter()
    episodes(cfg["os_warmup"])
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    decisions = episodes(cfg["os_episodes"])
    dt = time.perf_counter() - t0
    out = dict(
        impl="open_spiel.python.jax.nfsp",
        config="nfsp_kuhn_jax example",
        warmup_episodes=cfg["os_warmup"],
        warmup_s=warm,
        episodes=cfg["os_episodes"],
        seconds=dt,
        episodes_per_s=cfg["os_episodes"] / dt,
        decisions_per_s=decisions / dt,
    )
    print(
        f"OpenSpiel JAX NFSP: {out['episodes_per_s']:.0f} episodes/s ({out['decisions_per_s']:.0f} decisions/s) "
        f"over {cfg['os_episodes']} episodes after {cfg['os_warmup']} warm-up episodes ({warm:.1f} s)"
    )
    return out


# ----------------------------------------------------------------------------- ours


def to_target(game, cfg) -> dict:
    """Cold start to exploitability <= TARGET: (init + AOT compile + chunks), seed 0."""
    solver = nfsp()
    t0 = time.perf_counter()
    state = jax.block_until_ready(jax.jit(solver.init, static_argnums=0)(game, jax.random.key(0)))
    init_s = time.perf_counter() - t0
    chunk = jax.jit(lambda s: solvers.run(solver, game, cfg["chunk"], eval_every=cfg["eval_every"], state=s))
    t1 = time.perf_counter()
    chunk = chunk.lower(state).compile()
    compile_s = time.perf_counter() - t1
    steps, expl, nash_conv, hit = [], [], [], None
    while hit is None and (not steps or steps[-1] < cfg["max_steps"]):
        state, trace = chunk(state)
        e = np.asarray(trace.exploitability)
        steps += np.asarray(trace.step).tolist()
        expl += e.tolist()
        nash_conv += np.asarray(trace.nash_conv).tolist()
        if np.any(e <= TARGET):
            hit = steps[len(steps) - len(e) + int(np.argmax(e <= TARGET))]
    wall = time.perf_counter() - t0
    episodes = None if hit is None else hit * NUM_ENVS
    out = dict(
        impl="jaxgames nfsp",
        config="defaults",
        seed=0,
        init_s=init_s,
        compile_s=compile_s,
        wall_s=wall,
        steps_to_target=hit,
        episodes_to_target=episodes,
        trace_step=steps,
        trace_exploitability=expl,
        trace_nash_conv=nash_conv,
    )
    print(
        f"ours (defaults, seed 0): exploitability {expl[-1]:.4f} <= {TARGET} at step {hit} "
        f"({episodes} episodes); wall {wall:.1f} s from cold start (init {init_s:.1f} s, compile "
        f"{compile_s:.1f} s, {len(steps) // (cfg['chunk'] // cfg['eval_every'])} chunks)"
    )
    print("  trace (step: exploitability): " + ", ".join(f"{s}: {x:.3f}" for s, x in zip(steps, expl)))
    return out


def throughput(game, num_envs: int, steps: int, repeats: int) -> dict:
    """Steady-state episodes/s of ``nfsp(num_envs=...)``: ``steps`` steps per timed call, no evaluation."""
    solver = nfsp(num_envs=num_envs)
    env = jaxgames.make_env(game, autoreset=False)

    @jax.jit
    def block(state):
        state = jax.lax.fori_loop(0, steps, lambda _, s: solver.step(game, s), state)
        return state

    state = jax.block_until_ready(jax.jit(solver.init, static_argnums=0)(game, jax.random.key(1)))
    t0 = time.perf_counter()
    compiled = block.lower(state).compile()
    compile_s = time.perf_counter() - t0
    state = jax.block_until_ready(compiled(state))  # past the start (memories filling)
    holder = [state]

    def call():
        holder[0] = jax.block_until_ready(compiled(holder[0]))

    timing = time_blocks(call, repeats)
    dt = timing["median_s"]
    replay = holder[0].extra.replay  # the fraction of slots that were decisions
    valid = np.asarray(replay.experience.valid).reshape(-1)
    frac = float(valid.mean() if bool(replay.is_full) else valid[: int(replay.current_index)].mean())
    slots = num_envs * env.max_episode_length * steps
    out = dict(
        num_envs=num_envs,
        steps_per_call=steps,
        compile_s=compile_s,
        median_s=dt,
        times_s=timing["times_s"],
        episodes_per_s=num_envs * steps / dt,
        env_steps_per_s=slots / dt,
        decisions_per_s=frac * slots / dt,
        us_per_step=1e6 * dt / steps,
    )
    print(
        f"ours, {num_envs} envs: {out['episodes_per_s']:,.0f} episodes/s, {out['env_steps_per_s']:,.0f} simulator "
        f"steps/s ({out['decisions_per_s']:,.0f} decisions/s), {out['us_per_step']:.0f} us per step "
        f"(compile {compile_s:.1f} s)"
    )
    return out


def seeds_to_target(game, cfg) -> dict:
    solver = nfsp()
    keys = jax.random.split(jax.random.key(2), cfg["seeds"])
    fn = jax.jit(
        jax.vmap(lambda k: solvers.run(solver, game, cfg["seed_steps"], eval_every=cfg["eval_every"], key=k)[1])
    )
    t0 = time.perf_counter()
    trace = jax.block_until_ready(fn(keys))
    wall = time.perf_counter() - t0
    e = np.asarray(trace.exploitability)
    steps = np.asarray(trace.step[0])
    first = [int(steps[np.argmax(row <= TARGET)]) if np.any(row <= TARGET) else None for row in e]
    above = np.nonzero(np.any(e > TARGET, axis=0))[0]  # evaluations where some seed is above
    stays = int(steps[0]) if above.size == 0 else (int(steps[above[-1] + 1]) if above[-1] + 1 < steps.size else None)
    out = dict(
        seeds=cfg["seeds"],
        steps=steps.tolist(),
        exploitability=e.tolist(),
        first_step_at_target=first,
        final_exploitability=e[:, -1].tolist(),
        wall_s_including_compile=wall,
        stays_below_from_step=stays,
    )
    print(
        f"ours, {cfg['seeds']} seeds x {cfg['seed_steps']} steps (one vmapped call, {wall:.1f} s with compile): "
        f"first step <= {TARGET}: {first}; final exploitability median {np.median(e[:, -1]):.4f} "
        f"[{e[:, -1].min():.4f}, {e[:, -1].max():.4f}]; every seed stays <= {TARGET} from step "
        f"{stays}"
    )
    return out


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--skip-openspiel", action="store_true", help="ours only")
    args, info, cpu = start_run(parser, argv, packages=("open_spiel", "flax", "optax", "flashbax", "rlax"))
    cfg = dict(QUICK if args.quick else FULL)
    game = jaxgames.kuhn_poker()
    t0 = time.perf_counter()
    ours = to_target(game, cfg)
    steady = throughput(game, 128, cfg["chunk"], args.repeats)
    big = throughput(game, cfg["big_envs"], cfg["big_steps"], args.repeats)
    seeds = seeds_to_target(game, cfg)
    theirs = None if args.skip_openspiel else openspiel_nfsp(cfg)
    if theirs is not None:
        ratio = steady["episodes_per_s"] / theirs["episodes_per_s"]
        print(f"\nepisodes/s, ours (128 envs) / OpenSpiel JAX NFSP: {ratio:.0f}x")
    print(f"(total {time.perf_counter() - t0:.0f} s)")
    cpu.finish(info)
    stem = "bench_nfsp_quick" if args.quick else "bench_nfsp"
    command = args.command_line
    rows = [
        dict(
            impl="jaxgames nfsp",
            measure="cold start to exploitability <= 0.107",
            seconds=ours["wall_s"],
            episodes=ours["episodes_to_target"],
            episodes_per_s=steady["episodes_per_s"],
            num_envs=128,
        ),
        dict(
            impl="jaxgames nfsp",
            measure="steady state",
            episodes_per_s=steady["episodes_per_s"],
            env_steps_per_s=steady["env_steps_per_s"],
            num_envs=128,
        ),
        dict(
            impl="jaxgames nfsp",
            measure="steady state",
            episodes_per_s=big["episodes_per_s"],
            env_steps_per_s=big["env_steps_per_s"],
            num_envs=big["num_envs"],
        ),
    ]
    if theirs is not None:
        rows.append(
            dict(impl=theirs["impl"], measure="steady state", episodes_per_s=theirs["episodes_per_s"], num_envs=1)
        )
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": cfg,
        "target_exploitability": TARGET,
        "exploitability_definition": "NashConv / num_players (OpenSpiel's exploitability)",
        "machine": info,
        "ours_to_target": ours,
        "ours_steady_128": steady,
        "ours_steady_big": big,
        "ours_seeds": seeds,
        "openspiel": theirs,
    }
    write_results(
        stem,
        payload,
        rows,
        ["impl", "measure", "num_envs", "seconds", "episodes", "episodes_per_s", "env_steps_per_s"],
        info["wall_s"],
    )


if __name__ == "__main__":
    main()
