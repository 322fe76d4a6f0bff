"""Sampled vs exact online mirror descent on crowd modelling: exploitability against samples.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_sampled_mean_field.py                 # full run (OpenSpiel's 10 x 10 crowd modelling)
    python benchmarks/bench_sampled_mean_field.py --quick         # smoke test (5 cells, horizon 4), not for quoting
    python benchmarks/bench_sampled_mean_field.py --wait-idle 300 # first wait until no other process uses the CPU

What it measures, in one process run:

(1) Exact OMD, ``solvers.mirror_descent(eta, output="last", alternating=False)`` (= OpenSpiel's
    ``MirrorDescent`` algorithm, see ``tests/test_mean_field_solvers.py``): exploitability after each
    block of ``eval_every`` iterations.
(2) ``solvers.sampled.mean_field.sampled_mirror_descent(eta, num_agents=N, num_episodes=E)`` at the
    same ``eta``, for several ``(N, E)``: ``--seeds`` seeds in ONE ``jax.jit(jax.vmap(...))`` call of
    ``solvers.run`` over keys, which records the *exact* exploitability of each iterate. Samples
    (agent-transitions drawn from the simulator) per iteration: ``E * N * T``. Reported: median,
    min and max over seeds at every evaluation, against iterations and against cumulative samples,
    and the final gap to exact OMD. Larger ``N`` shrinks the finite-N bias, larger ``E`` the noise.
(3) Time per iteration of each learner: median of ``--repeats`` calls of the same vmapped run with
    ``timed_iterations`` iterations (one evaluation), divided by iterations and seeds; compile time
    apart. The exact solver: its full run, divided by iterations (evaluations included).

Writes ``benchmarks/results/bench_sampled_mean_field[_quick].{json,csv,png}``; the PNG plots
exploitability against iterations (left, with exact OMD) and against samples (right, log-log).
"""

from __future__ import annotations

import time

import jax
import numpy as np

import solvers
from jaxgames.mean_field import crowd_modelling
from solvers.sampled.mean_field import sampled_mirror_descent

from _common import RESULTS_DIR, standard_parser, start_run, time_jitted, write_results

# configs: (num_agents N, num_episodes E); N sets the finite-N bias, E (with N) the noise
FULL = dict(
    game=dict(size=10, horizon=10),
    learning_rate=1.0,
    iterations=200,
    eval_every=10,
    seeds=4,
    timed_iterations=20,
    configs=[(100, 8), (1000, 1), (1000, 8), (10000, 1), (10000, 8)],
)
QUICK = dict(
    game=dict(size=5, horizon=4, move_cost_model="action"),
    learning_rate=1.0,
    iterations=30,
    eval_every=5,
    seeds=2,
    timed_iterations=10,
    configs=[(100, 8), (1000, 1), (1000, 8)],
)


def exact_trace(game, cfg, repeats):
    solver = solvers.mirror_descent(cfg["learning_rate"], output="last", alternating=False)
    n, every = cfg["iterations"], cfg["eval_every"]
    r = time_jitted(lambda: jax.jit(lambda g: solvers.run(solver, g, n, eval_every=every)), game, repeats=repeats)
    _, trace = r.pop("output")
    return trace, r


def sampled_traces(game, cfg, num_agents, num_episodes, seeds, repeats):
    """Exploitability traces of ``seeds`` seeds (one vmapped call, run once), and the time per iteration."""
    solver = sampled_mirror_descent(cfg["learning_rate"], num_agents=num_agents, num_episodes=num_episodes)
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)

    def make(n, every):
        return jax.jit(jax.vmap(lambda k: solvers.run(solver, game, n, eval_every=every, key=k)[1]))

    traces = jax.block_until_ready(make(cfg["iterations"], cfg["eval_every"])(keys))
    n = cfg["timed_iterations"]
    timing = time_jitted(lambda: make(n, n), keys, repeats=repeats)
    timing.pop("output")
    timing["us_per_iter_per_seed"] = 1e6 * timing["median_s"] / (n * seeds)
    return traces, timing


def plot(path, title, exact, results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.semilogy(exact["step"], exact["exploitability"], "k-", lw=2, label="exact OMD")
    for res in results:
        label = f"sampled, N={res['num_agents']}, E={res['num_episodes']}"
        step, med = np.array(res["step"]), np.array(res["median"])
        for ax, x in ((left, step), (right, step * res["samples_per_iteration"])):
            (line,) = ax.plot(x, med, label=label)
            ax.fill_between(x, res["min"], res["max"], color=line.get_color(), alpha=0.2)
    right.set_xscale("log")
    right.set_yscale("log")
    right.axhline(
        exact["exploitability"][-1], color="k", ls="--", label=f"exact OMD after {exact['step'][-1]} iterations"
    )
    left.set_xlabel("iterations")
    right.set_xlabel("samples (agent-transitions from the simulator)")
    for ax in (left, right):
        ax.set_ylabel("exact exploitability")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--seeds", type=int, default=None, help="seeds per configuration (default: 4, quick: 2)")
    args, info, cpu = start_run(parser, argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.seeds is not None:
        cfg["seeds"] = args.seeds
    game = crowd_modelling(**cfg["game"])
    horizon = game.horizon
    uniform = float(game.exploitability(game.uniform_policy()))
    print(
        f"\ncrowd modelling {cfg['game']}: uniform policy exploitability {uniform:.4f}; "
        f"learning rate {cfg['learning_rate']}, {cfg['iterations']} iterations, {cfg['seeds']} seeds"
    )
    t0 = time.perf_counter()

    trace, timing = exact_trace(game, cfg, args.repeats)
    exact = dict(
        step=np.asarray(trace.step).tolist(),
        exploitability=np.asarray(trace.exploitability).tolist(),
        us_per_iter=1e6 * timing["median_s"] / cfg["iterations"],
        compile_s=timing["compile_s"],
    )
    print(
        f"(1) exact OMD: final exploitability {exact['exploitability'][-1]:.4e}; "
        f"{exact['us_per_iter']:.1f} us/iteration (compile {timing['compile_s']:.2f} s)"
    )
    rows = [
        dict(solver="exact_omd", iterations=s, exploitability=e) for s, e in zip(exact["step"], exact["exploitability"])
    ]

    results = []
    for num_agents, num_episodes in cfg["configs"]:
        traces, timing = sampled_traces(game, cfg, num_agents, num_episodes, cfg["seeds"], args.repeats)
        expl = np.asarray(traces.exploitability)  # [seeds, evaluations]
        per_iter = num_episodes * num_agents * horizon
        res = dict(
            num_agents=num_agents,
            num_episodes=num_episodes,
            samples_per_iteration=per_iter,
            step=np.asarray(traces.step[0]).tolist(),
            median=np.median(expl, 0).tolist(),
            min=expl.min(0).tolist(),
            max=expl.max(0).tolist(),
            per_seed=expl.tolist(),
            final_gap_to_exact=float(np.median(expl[:, -1]) - exact["exploitability"][-1]),
            us_per_iter_per_seed=timing["us_per_iter_per_seed"],
            compile_s=timing["compile_s"],
            times_s=timing["times_s"],
        )
        results.append(res)
        print(
            f"(2) sampled OMD, N={num_agents:>6}, E={num_episodes:>3} ({per_iter:,} samples/iteration): "
            f"final exploitability median {res['median'][-1]:.4e} [{res['min'][-1]:.4e}, {res['max'][-1]:.4e}] "
            f"(exact {exact['exploitability'][-1]:.4e}, gap {res['final_gap_to_exact']:+.4e}); "
            f"{res['us_per_iter_per_seed']:.0f} us/iteration/seed (compile {timing['compile_s']:.2f} s)"
        )
        rows += [
            dict(
                solver="sampled_omd",
                num_agents=num_agents,
                num_episodes=num_episodes,
                iterations=s,
                samples=s * per_iter,
                exploitability=m,
                exploitability_min=lo,
                exploitability_max=hi,
            )
            for s, m, lo, hi in zip(res["step"], res["median"], res["min"], res["max"])
        ]
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    cpu.finish(info)

    stem = "bench_sampled_mean_field_quick" if args.quick else "bench_sampled_mean_field"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    png = RESULTS_DIR / f"{stem}.png"
    plot(
        png,
        f"Sampled vs exact OMD, crowd modelling {game.num_states} cells x {horizon} steps, "
        f"eta={cfg['learning_rate']} ({cfg['seeds']} seeds: median, min-max)",
        exact,
        results,
    )
    print(f"wrote {png}")
    command = args.command_line
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": cfg,
        "uniform_exploitability": uniform,
        "machine": info,
        "exact_omd": exact,
        "sampled_omd": results,
        "plot": str(png.relative_to(RESULTS_DIR.parent.parent)),
        "rows": rows,
    }
    fields = [
        "solver",
        "num_agents",
        "num_episodes",
        "iterations",
        "samples",
        "exploitability",
        "exploitability_min",
        "exploitability_max",
    ]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
