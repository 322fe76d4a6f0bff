"""NLHF from sampled preference queries: the exact regularized gap against the queries used.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_nlhf.py                  # full run (~10 min of CPU on 2 cores)
    python benchmarks/bench_nlhf.py --quick          # smoke test: fewer steps, seeds and sizes
    python benchmarks/bench_nlhf.py --exploration 0  # draw y from the policy, as the papers do

What it measures, in one process run, for the five learners of ``solvers/sampled/nlhf.py``
(``online_ipo``, ``nash_md``, ``sppo``, ``egpo``, ``nash_mp``; their default learning rates,
``beta``) on two preference games (a cyclic tournament with a skewed reference policy, whose
regularized equilibrium is neither the reference nor uniform; random intransitive preferences
with the uniform reference):

(1) gap against queries: ``game.regularized_nash_conv((pi, pi), beta, (mu, mu))`` of the last
    iterate every ``eval_every`` steps, for ``--seeds`` seeds in ONE ``jax.jit(jax.vmap(...))``
    call per learner, at ``num_samples = main_samples`` queries per win-rate estimate; x-axis:
    cumulative preference queries (``state.extra.queries``: the extragradient learners ask two
    batches per step). The same update with exact win rates (``num_samples=None``) is drawn
    against the queries its sampled twin would have used for the same steps.
(2) the limit: the final gap (median over seeds) after ``steps`` steps against ``num_samples``,
    with the exact-feedback gap as a horizontal line: constant steps leave a noise floor that
    shrinks as ``num_samples`` grows, toward the exact-feedback solver's gap.

(3) exploration: the final gap of ``sppo`` and ``nash_mp`` on a random intransitive game
    (``exploration_game``) after ``exploration_steps`` steps, mean and worst over
    ``exploration_seeds`` seeds, for ``exploration`` in {0, 0.1, 0.5, 1} (traced: one vmapped call
    per learner and ``num_samples``). ``exploration = 0`` samples ``y ~ pi`` as the papers do; a
    rarely drawn response then gets a huge importance weight, and the worst seeds blow up.

Writes ``benchmarks/results/bench_nlhf[_quick].{json,csv,png}``. Timings are not the point
here (each call is timed once, compile included, for the record).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.matrix.preference import cyclic_preferences, preference_game, random_intransitive_preferences
from solvers.sampled import nlhf

from _common import RESULTS_DIR, standard_parser, start_run, write_results

METHODS = nlhf.METHODS
FLOOR = 1e-7  # float32 round-off of the gap; lower values are drawn at FLOOR
FULL = dict(
    beta=0.1,
    steps=1000,
    eval_every=10,
    seeds=8,
    main_samples=64,
    samples=[4, 16, 64, 256, 1024],
    random_responses=10,
    exploration_game=dict(num_responses=8, key=2),
    exploration_steps=500,
    exploration_seeds=64,
    exploration_samples=[16, 256],
    explorations=[0.0, 0.1, 0.5, 1.0],
)
QUICK = dict(
    beta=0.1,
    steps=200,
    eval_every=10,
    seeds=4,
    main_samples=64,
    samples=[4, 64, 512],
    random_responses=6,
    exploration_game=dict(num_responses=8, key=2),
    exploration_steps=200,
    exploration_seeds=32,
    exploration_samples=[16],
    explorations=[0.0, 0.1, 0.5, 1.0],
)


def make_games(cfg):
    """``{name: (game, reference [n])}``."""
    skewed = jnp.array([5.0, 4.0, 3.0, 2.0, 1.0]) / 15.0
    n = cfg["random_responses"]
    random_game = preference_game(random_intransitive_preferences(jax.random.PRNGKey(0), n))
    return {
        "cyclic_5_skewed_reference": (preference_game(cyclic_preferences(5)), skewed),
        f"random_intransitive_{n}": (random_game, jnp.full((n,), 1.0 / n)),
    }


def traces(method, num_samples, game, reference, cfg, exploration):
    """``(queries [K], gaps [seeds, K])``: the regularized gap every ``eval_every`` steps."""
    kwargs = {} if method == "online_ipo" else {"exploration": exploration}
    solver = getattr(nlhf, method)(num_samples=num_samples, beta=cfg["beta"], reference=reference, **kwargs)
    beta, every, blocks = cfg["beta"], cfg["eval_every"], cfg["steps"] // cfg["eval_every"]

    def one(key):
        def block(state, _):
            state = jax.lax.fori_loop(0, every, lambda _, s: solver.step(game, s), state)
            gap = game.regularized_nash_conv(solver.output(state), beta, (reference, reference))
            return state, (state.extra.queries, gap)

        _, out = jax.lax.scan(block, solver.init(game, key), None, length=blocks)
        return out

    keys = jax.random.split(jax.random.PRNGKey(1), cfg["seeds"])
    t0 = time.perf_counter()
    queries, gaps = jax.block_until_ready(jax.jit(jax.vmap(one))(keys))
    return np.asarray(queries[0]), np.asarray(gaps), time.perf_counter() - t0


def exploration_sweep(cfg):
    """``{method: {num_samples: {exploration: {mean, worst, median}}}}`` of the final gap."""
    n, beta = cfg["exploration_game"]["num_responses"], cfg["beta"]
    P = random_intransitive_preferences(jax.random.PRNGKey(cfg["exploration_game"]["key"]), n)
    game, mu = preference_game(P), jnp.full((n,), 1.0 / n)
    explorations = jnp.array(cfg["explorations"])
    keys = jax.random.split(jax.random.PRNGKey(3), cfg["exploration_seeds"])
    out = {}
    for method in ("sppo", "nash_mp"):
        out[method] = {}
        for num_samples in cfg["exploration_samples"]:

            def one(exploration, key):
                solver = getattr(nlhf, method)(num_samples=num_samples, beta=beta, exploration=exploration)
                state = jax.lax.fori_loop(
                    0, cfg["exploration_steps"], lambda _, s: solver.step(game, s), solver.init(game, key)
                )
                return game.regularized_nash_conv(solver.output(state), beta, (mu, mu))

            gaps = np.asarray(jax.jit(jax.vmap(jax.vmap(one, (None, 0)), (0, None)))(explorations, keys))
            out[method][str(num_samples)] = {
                f"{e:g}": dict(mean=float(g.mean()), median=float(np.median(g)), worst=float(g.max()))
                for e, g in zip(cfg["explorations"], gaps)
            }
            cells = "  ".join(
                f"{e:g}: mean {g.mean():.2e} worst {g.max():.2e}" for e, g in zip(cfg["explorations"], gaps)
            )
            print(f"  {method:8s} N={num_samples:<4d} exploration {cells}")
    return out


def plot(path, title, results, cfg):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(len(names), 2, figsize=(13, 4.5 * len(names)), squeeze=False)
    colors = dict(zip(METHODS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for row, name in zip(axes, names):
        res = results[name]
        left, right = row
        for method in METHODS:
            main = res[method]["sampled"][str(cfg["main_samples"])]
            q, med = np.array(main["queries"]), np.array(main["median"])
            (line,) = left.plot(q, med, color=colors[method], label=f"{method}, N={cfg['main_samples']}")
            left.fill_between(q, main["min"], main["max"], color=line.get_color(), alpha=0.15)
            exact = res[method]["exact"]
            left.plot(
                q,
                np.maximum(exact["gap"], FLOOR),
                color=colors[method],
                ls=":",
                lw=1.5,
                label=f"{method}, exact feedback",
            )
            ns = cfg["samples"]
            right.plot(
                ns, [res[method]["sampled"][str(n)]["median"][-1] for n in ns], "o-", color=colors[method], label=method
            )
            right.axhline(max(exact["gap"][-1], FLOOR), color=colors[method], ls="--", lw=1)
        left.set_xlabel("preference queries")
        left.set_title(f"{name}: gap vs queries\n(median, min-max over {cfg['seeds']} seeds)", fontsize=9)
        right.set_xlabel("num_samples (queries per win-rate estimate)")
        right.set_title(f"{name}: median gap after {cfg['steps']} steps\n(dashed: exact feedback)", fontsize=9)
        for ax in (left, right):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylabel(f"regularized gap (beta={cfg['beta']})")
            ax.grid(True, which="both", alpha=0.3)
        left.legend(fontsize=7, ncol=2)
        right.legend(fontsize=7)
    fig.suptitle(f"{title}\n(float32 round-off: gaps below {FLOOR:g} are drawn at {FLOOR:g})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--seeds", type=int, default=None, help="seeds per configuration (default 8, quick 4)")
    parser.add_argument(
        "--exploration",
        type=float,
        default=0.1,
        help="uniform share of the sampling policy of y (not online IPO); default 0.1, "
        "the factories' default; 0 samples y from the policy as the papers do",
    )
    args, info, cpu = start_run(parser, argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.seeds is not None:
        cfg["seeds"] = args.seeds
    if cfg["main_samples"] not in cfg["samples"]:
        cfg["samples"] = sorted(set(cfg["samples"]) | {cfg["main_samples"]})
    print(
        f"\nbeta {cfg['beta']}, {cfg['steps']} steps, {cfg['seeds']} seeds, num_samples {cfg['samples']}, "
        f"exploration {args.exploration}"
    )
    results, rows = {}, []
    for name, (game, reference) in make_games(cfg).items():
        pair = (reference, reference)
        initial = float(game.regularized_nash_conv(pair, cfg["beta"], pair))
        print(f"\n(1, 2) {name}: gap of the reference policy (the initial iterate) {initial:.4f}")
        results[name] = {"initial_gap": initial}
        for method in METHODS:
            q, gaps, wall = traces(method, None, game, reference, cfg, args.exploration)
            steps = (np.arange(1, len(q) + 1) * cfg["eval_every"]).tolist()
            per_step = nlhf.EVALUATIONS_PER_STEP[method]
            exact = dict(step=steps, gap=gaps[0].tolist(), wall_s=wall)
            entry = {"exact": exact, "sampled": {}}
            line = [f"  {method:10s} exact {exact['gap'][-1]:.2e}"]
            for n in cfg["samples"]:
                q, gaps, wall = traces(method, n, game, reference, cfg, args.exploration)
                entry["sampled"][str(n)] = dict(
                    queries=q.tolist(),
                    median=np.median(gaps, 0).tolist(),
                    min=gaps.min(0).tolist(),
                    max=gaps.max(0).tolist(),
                    final_per_seed=gaps[:, -1].tolist(),
                    wall_s=wall,
                )
                line.append(f"N={n}: {np.median(gaps[:, -1]):.2e}")
                rows += [
                    dict(
                        game=name,
                        method=method,
                        num_samples=n,
                        step=s,
                        queries=int(qq),
                        gap_median=float(m),
                        gap_min=float(lo),
                        gap_max=float(hi),
                    )
                    for s, qq, m, lo, hi in zip(steps, q, np.median(gaps, 0), gaps.min(0), gaps.max(0))
                ]
            # exact feedback drawn against the queries the main sampled run used at the same steps
            exact["queries"] = (np.array(steps) * per_step * cfg["main_samples"]).tolist()
            rows += [
                dict(game=name, method=method, num_samples="exact", step=s, gap_median=g)
                for s, g in zip(steps, exact["gap"])
            ]
            results[name][method] = entry
            print(" ".join(line) + f"   (final median gap over seeds after {cfg['steps']} steps)")
    print(
        f"\n(3) exploration: random intransitive {cfg['exploration_game']['num_responses']} responses, "
        f"{cfg['exploration_steps']} steps, final gap over {cfg['exploration_seeds']} seeds"
    )
    sweep = exploration_sweep(cfg)
    cpu.finish(info)

    stem = "bench_nlhf_quick" if args.quick else "bench_nlhf"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    png = RESULTS_DIR / f"{stem}.png"
    plot(
        png,
        f"NLHF with sampled preference queries: exact regularized gap (beta={cfg['beta']}, "
        f"exploration={args.exploration:g})",
        results,
        cfg,
    )
    print(f"wrote {png}")
    command = args.command_line
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "config": cfg,
        "exploration": args.exploration,
        "learning_rates": "factory defaults",
        "machine": info,
        "results": results,
        "exploration_sweep": sweep,
        "plot": str(png.relative_to(RESULTS_DIR.parent.parent)),
    }
    fields = ["game", "method", "num_samples", "step", "queries", "gap_median", "gap_min", "gap_max"]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
