"""minimax-Q and decentralized Q-learning on small zero-sum Markov games: convergence against transitions.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_q_learning.py                 # full run (discount 0.9, 5,000 steps x 64 envs)
    python benchmarks/bench_q_learning.py --quick         # smoke test (discount 0.6, fewer steps), not for quoting
    python benchmarks/bench_q_learning.py --wait-idle 300 # first wait until no other process uses the CPU

What it measures, in one process run, for every (game, learner):

(1) Convergence. ``--seeds`` seeds in ONE ``jax.jit(jax.vmap(...))`` call over keys: the learner
    (``solvers.sampled.q_learning.minimax_q`` / ``decentralized_q_learning``, ``batch_size`` parallel
    environments, so a step is ``batch_size`` simulator transitions) runs in blocks of ``eval_every``
    steps; after each block the exact exploitability of its output policy and ``|V - V*|_inf``, the
    distance of its value estimate to Shapley's values (``minimax_value_iteration``, 300 sweeps: error
    below ``discount^300``), are recorded (for decentralized Q-learning: the worse of player 0's
    ``|v_0 - V*|`` and player 1's ``|v_1 + V*|``). Reported: median, min and max over seeds against
    transitions (log-log in the PNG).
(2) Time per step (``batch_size`` transitions and the updates, minimax-Q's stage solves included):
    median of ``--repeats`` calls of the same vmapped learner with ``timed_steps`` steps and no
    evaluation, divided by steps and seeds; compile time apart.

Games: a random zero-sum Markov game (``jaxgames.markov.random_zero_sum``: Garnet transitions, branching
2, rewards uniform in [-1, 1]) and, from ``classic.py``, the iterated zero-sum game
``A = [[3, -1], [-2, 1]]`` with memory-one states (fully mixed equilibrium). Decentralized Q-learning
runs with its defaults on the random game and with ``temperature=0.3, epsilon=0.05,
learning_rate=0.3`` on the iterated game (its stakes are 2.5x larger); minimax-Q with its defaults.

Writes ``benchmarks/results/bench_q_learning[_quick].{json,csv,png}``.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

import solvers
from jaxgames import markov
from solvers.sampled.q_learning import MinimaxQState, decentralized_q_learning, minimax_q

from _common import RESULTS_DIR, standard_parser, start_run, time_jitted, write_results

IMP_A = [[3.0, -1.0], [-2.0, 1.0]]
FULL = dict(
    discount=0.9,
    random=dict(num_states=8, num_actions=3),
    steps=5000,
    eval_every=250,
    batch_size=64,
    seeds=4,
    timed_steps=500,
)
QUICK = dict(
    discount=0.6,
    random=dict(num_states=4, num_actions=3),
    steps=2000,
    eval_every=250,
    batch_size=32,
    seeds=2,
    timed_steps=200,
)
#: per game: the hyperparameters of each learner
HYPER = {
    "random": {"minimax_q": {}, "decentralized_q_learning": {}},
    "iterated": {"minimax_q": {}, "decentralized_q_learning": dict(temperature=0.3, epsilon=0.05, learning_rate=0.3)},
}
LEARNERS = {"minimax_q": minimax_q, "decentralized_q_learning": decentralized_q_learning}


def make_games(cfg):
    g = cfg["discount"]
    rnd = markov.random_zero_sum(
        jax.random.PRNGKey(0), cfg["random"]["num_states"], cfg["random"]["num_actions"], 2, discount=g
    )
    return {"random": rnd, "iterated": markov.iterated_matrix_game(jnp.asarray(IMP_A), -jnp.asarray(IMP_A), g)}


def shapley_values(game) -> np.ndarray:
    mvi = solvers.minimax_value_iteration()
    state = jax.jit(lambda g: jax.lax.fori_loop(0, 300, lambda _, s: mvi.step(g, s), mvi.init(g)))(game)
    return np.asarray(state.extra.values)


def value_error(extra, v_star):
    """``|V - V*|_inf`` of a learner's value estimate (per-player estimates: player 1's against ``-V*``)."""
    if isinstance(extra, MinimaxQState):
        return jnp.max(jnp.abs(extra.values - v_star))
    return jnp.maximum(jnp.max(jnp.abs(extra.values[0] - v_star)), jnp.max(jnp.abs(extra.values[1] + v_star)))


def curves(solver, game, v_star, cfg, keys):
    """``(exploitability, value error)`` ``[seeds, evaluations]``: one vmapped call, the learning traced
    apart from the evaluations (which read the exact model; the learner never does)."""
    every, blocks = cfg["eval_every"], cfg["steps"] // cfg["eval_every"]
    v_star = jnp.asarray(v_star)

    def one(key):
        def block(state, _):
            state = jax.lax.fori_loop(0, every, lambda _, s: solver.step(game, s), state)
            return state, (game.exploitability(solver.output(state)), value_error(state.extra, v_star))

        _, out = jax.lax.scan(block, solver.init(game, key), None, length=blocks)
        return out

    expl, err = jax.block_until_ready(jax.jit(jax.vmap(one))(keys))
    return np.asarray(expl), np.asarray(err)


def step_time(solver, game, cfg, keys, repeats):
    n = cfg["timed_steps"]

    def make():
        return jax.jit(
            jax.vmap(
                lambda k: jax.lax.fori_loop(0, n, lambda _, s: solver.step(game, s), solver.init(game, k)).extra.values
            )
        )

    t = time_jitted(make, keys, repeats=repeats)
    t.pop("output")
    t["us_per_step_per_seed"] = 1e6 * t["median_s"] / (n * len(keys))
    return t


def plot(path, title, results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    games = sorted({r["game"] for r in results})
    fig, axes = plt.subplots(2, len(games), figsize=(6 * len(games), 8), squeeze=False)
    for col, name in enumerate(games):
        for res in (r for r in results if r["game"] == name):
            x = np.array(res["transitions"])
            for row, key in enumerate(("exploitability", "value_error")):
                ax = axes[row, col]
                (line,) = ax.plot(x, res[key]["median"], label=res["learner"])
                ax.fill_between(x, res[key]["min"], res[key]["max"], color=line.get_color(), alpha=0.2)
        axes[0, col].axhline(
            results[[r["game"] for r in results].index(name)]["uniform_exploitability"],
            color="k",
            ls="--",
            label="uniform policy",
        )
        axes[0, col].set_title(f"{name} game")
        axes[0, col].set_ylabel("exact exploitability")
        axes[1, col].set_ylabel("|V - V*|_inf (Shapley's values)")
        for ax in axes[:, col]:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("transitions (simulator steps, all environments)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary(x: np.ndarray) -> dict:
    return dict(median=np.median(x, 0).tolist(), min=x.min(0).tolist(), max=x.max(0).tolist(), per_seed=x.tolist())


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--seeds", type=int, default=None, help="seeds per (game, learner) (default: 4, quick: 2)")
    args, info, cpu = start_run(parser, argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.seeds is not None:
        cfg["seeds"] = args.seeds
    keys = jax.random.split(jax.random.PRNGKey(1), cfg["seeds"])
    t0 = time.perf_counter()
    results, rows = [], []
    for game_name, game in make_games(cfg).items():
        v_star = shapley_values(game)
        uniform = float(jax.jit(lambda g: g.exploitability(g.uniform_policy()))(game))
        print(
            f"\n{game_name} game: {game.num_states} states, actions {game.num_actions}, discount "
            f"{cfg['discount']}; V* in [{v_star.min():.3f}, {v_star.max():.3f}]; uniform policy "
            f"exploitability {uniform:.4f}"
        )
        for learner, factory in LEARNERS.items():
            hyper = HYPER[game_name][learner]
            solver = factory(batch_size=cfg["batch_size"], **hyper)
            t1 = time.perf_counter()
            expl, err = curves(solver, game, v_star, cfg, keys)
            curve_s = time.perf_counter() - t1
            timing = step_time(solver, game, cfg, keys, args.repeats)
            steps = cfg["eval_every"] * np.arange(1, cfg["steps"] // cfg["eval_every"] + 1)
            res = dict(
                game=game_name,
                learner=learner,
                hyperparameters=hyper,
                batch_size=cfg["batch_size"],
                steps=steps.tolist(),
                transitions=(steps * cfg["batch_size"]).tolist(),
                uniform_exploitability=uniform,
                shapley_values=v_star.tolist(),
                exploitability=summary(expl),
                value_error=summary(err),
                curve_wall_s=curve_s,
                us_per_step_per_seed=timing["us_per_step_per_seed"],
                compile_s=timing["compile_s"],
                times_s=timing["times_s"],
            )
            results.append(res)
            mid = len(steps) // 2
            print(
                f"  {learner:<25} {hyper or 'defaults'}: after {steps[mid] * cfg['batch_size']:,} / "
                f"{steps[-1] * cfg['batch_size']:,} transitions: exploitability median "
                f"{np.median(expl[:, mid]):.4f} / {np.median(expl[:, -1]):.4f} "
                f"[{expl[:, -1].min():.4f}, {expl[:, -1].max():.4f}], |V - V*| median "
                f"{np.median(err[:, mid]):.4f} / {np.median(err[:, -1]):.4f} "
                f"[{err[:, -1].min():.4f}, {err[:, -1].max():.4f}]; "
                f"{timing['us_per_step_per_seed']:.0f} us/step/seed "
                f"({timing['us_per_step_per_seed'] / cfg['batch_size']:.2f} us/transition; "
                f"compile {timing['compile_s']:.1f} s)"
            )
            rows += [
                dict(
                    game=game_name,
                    learner=learner,
                    steps=s,
                    transitions=s * cfg["batch_size"],
                    exploitability=e,
                    exploitability_min=lo,
                    exploitability_max=hi,
                    value_error=v,
                    value_error_min=vlo,
                    value_error_max=vhi,
                )
                for s, e, lo, hi, v, vlo, vhi in zip(
                    steps, np.median(expl, 0), expl.min(0), expl.max(0), np.median(err, 0), err.min(0), err.max(0)
                )
            ]
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    cpu.finish(info)

    stem = "bench_q_learning_quick" if args.quick else "bench_q_learning"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    png = RESULTS_DIR / f"{stem}.png"
    plot(
        png,
        f"minimax-Q and decentralized Q-learning, discount {cfg['discount']}, {cfg['batch_size']} envs "
        f"({cfg['seeds']} seeds: median, min-max)",
        results,
    )
    print(f"wrote {png}")
    command = args.command_line
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": cfg,
        "machine": info,
        "results": results,
        "plot": str(png.relative_to(RESULTS_DIR.parent.parent)),
        "rows": rows,
    }
    fields = [
        "game",
        "learner",
        "steps",
        "transitions",
        "exploitability",
        "exploitability_min",
        "exploitability_max",
        "value_error",
        "value_error_min",
        "value_error_max",
    ]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
