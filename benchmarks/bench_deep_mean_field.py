"""Deep online mirror descent (D-OMD) on crowd modelling: exploitability and wall time against tabular
sampled OMD and the exact solvers.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_deep_mean_field.py                 # full run (OpenSpiel's 10 x 10 crowd modelling)
    python benchmarks/bench_deep_mean_field.py --quick         # smoke test (5 cells, horizon 4), not for quoting
    python benchmarks/bench_deep_mean_field.py --wait-idle 300 # first wait until no other process uses the CPU

What it measures, in one process run:

(1) Exact references: ``solvers.mirror_descent(eta, output="last", alternating=False)`` at the
    learners' ``eta`` values and ``solvers.fixed_point(damping)`` (plain and damped): exploitability
    every ``eval_every`` iterations and time per iteration (evaluations included).
(2) Learners on the N-agent simulator only, ``--seeds`` seeds in ONE ``jax.jit(jax.vmap(...))``
    call of ``solvers.run`` over keys (exact exploitability of each iterate recorded):
    ``solvers.neural.deep_mean_field.deep_mirror_descent`` (default hyperparameters unless the
    config says otherwise) and the tabular ``solvers.sampled.mean_field.sampled_mirror_descent``
    with the same ``N`` agents and ``E`` episodes per iteration. Reported: median / min / max
    over seeds at every evaluation, the first iteration where the median is <= ``target``
    (0.1), and the wall time to get there (iterations x time per iteration per seed), and the
    iterations from which the median (and every seed) stays <= ``target``.
(3) Time per iteration: median of ``--repeats`` calls of the same vmapped run with
    ``timed_iterations`` iterations (one evaluation), divided by iterations and seeds; the first
    call (compile) apart.

Writes ``benchmarks/results/bench_deep_mean_field[_quick].{json,csv}``.
"""

from __future__ import annotations

import time

import jax
import numpy as np

import solvers
from jaxgames.mean_field import crowd_modelling
from solvers.neural.deep_mean_field import deep_mirror_descent
from solvers.sampled.mean_field import sampled_mirror_descent

from _common import standard_parser, start_run, time_jitted, write_results

FULL = dict(
    game=dict(),
    iterations=200,
    eval_every=10,
    seeds=4,
    timed_iterations=20,
    target=0.1,
    num_agents=1000,
    num_episodes=8,
    learners=[
        ("deep_mirror_descent", dict(learning_rate=0.3)),
        ("deep_mirror_descent", dict(learning_rate=0.2)),
        ("sampled_mirror_descent", dict(learning_rate=0.3)),
        ("sampled_mirror_descent", dict(learning_rate=0.2)),
        ("sampled_mirror_descent", dict(learning_rate=1.0)),
    ],
    exact=[
        ("mirror_descent", dict(learning_rate=0.2)),
        ("mirror_descent", dict(learning_rate=0.3)),
        ("mirror_descent", dict(learning_rate=1.0)),
        ("fixed_point", dict()),
        ("fixed_point", dict(damping=0.1)),
    ],
)
QUICK = dict(
    game=dict(size=5, horizon=4, move_cost_model="action"),
    iterations=30,
    eval_every=5,
    seeds=2,
    timed_iterations=10,
    target=0.1,
    num_agents=200,
    num_episodes=4,
    learners=[
        ("deep_mirror_descent", dict(learning_rate=1.0, hidden_sizes=(32,))),
        ("sampled_mirror_descent", dict(learning_rate=1.0)),
    ],
    exact=[("mirror_descent", dict(learning_rate=1.0)), ("fixed_point", dict())],
)


def make_exact(name, kw):
    if name == "mirror_descent":
        return solvers.mirror_descent(kw["learning_rate"], output="last", alternating=False)
    return solvers.fixed_point(**kw)


def make_learner(name, kw, cfg):
    factory = deep_mirror_descent if name == "deep_mirror_descent" else sampled_mirror_descent
    return factory(num_agents=cfg["num_agents"], num_episodes=cfg["num_episodes"], **kw)


def first_at_most(steps, values, target):
    hit = np.nonzero(np.asarray(values) <= target)[0]
    return int(steps[hit[0]]) if hit.size else None


def stays_at_most(steps, values, target):
    """The first evaluation from which every later one is <= ``target`` (None if the last is above)."""
    above = np.nonzero(np.asarray(values) > target)[0]
    if not above.size:
        return int(steps[0])
    return int(steps[above[-1] + 1]) if above[-1] + 1 < len(steps) else None


def exact_trace(game, solver, cfg, repeats):
    n, every = cfg["iterations"], cfg["eval_every"]
    r = time_jitted(lambda: jax.jit(lambda g: solvers.run(solver, g, n, eval_every=every)), game, repeats=repeats)
    _, trace = r.pop("output")
    return trace, r


def learner_traces(game, solver, cfg, repeats):
    """Traces of ``seeds`` seeds (one vmapped call, timed once with its compile), and the time per iteration."""
    keys = jax.random.split(jax.random.PRNGKey(0), cfg["seeds"])

    def make(n, every):
        return jax.jit(jax.vmap(lambda k: solvers.run(solver, game, n, eval_every=every, key=k)[1]))

    t0 = time.perf_counter()
    traces = jax.block_until_ready(make(cfg["iterations"], cfg["eval_every"])(keys))
    run_s = time.perf_counter() - t0
    n = cfg["timed_iterations"]
    timing = time_jitted(lambda: make(n, n), keys, repeats=repeats)
    timing.pop("output")
    timing["s_per_iter_per_seed"] = timing["median_s"] / (n * cfg["seeds"])
    timing["traced_run_first_call_s"] = run_s
    return traces, timing


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--seeds", type=int, default=None, help="seeds per learner (default: 4, quick: 2)")
    args, info, cpu = start_run(parser, argv, packages=("flax", "optax"))
    cfg = dict(QUICK if args.quick else FULL)
    if args.seeds is not None:
        cfg["seeds"] = args.seeds
    game = crowd_modelling(**cfg["game"])
    uniform = float(game.exploitability(game.uniform_policy()))
    target = cfg["target"]
    print(
        f"\ncrowd modelling {cfg['game'] or 'defaults (10 cells, horizon 10)'}: uniform policy exploitability "
        f"{uniform:.4f}; {cfg['iterations']} iterations, {cfg['seeds']} seeds, N={cfg['num_agents']} agents, "
        f"E={cfg['num_episodes']} episodes per iteration; target exploitability <= {target}"
    )
    t0 = time.perf_counter()
    rows, exact, learners = [], [], []

    for name, kw in cfg["exact"]:
        trace, timing = exact_trace(game, make_exact(name, kw), cfg, args.repeats)
        steps, expl = np.asarray(trace.step), np.asarray(trace.exploitability)
        res = dict(
            solver=name,
            kwargs=kw,
            step=steps.tolist(),
            exploitability=expl.tolist(),
            first_at_target=first_at_most(steps, expl, target),
            s_per_iter=timing["median_s"] / cfg["iterations"],
            compile_s=timing["compile_s"],
        )
        exact.append(res)
        print(
            f"(1) exact {name}{kw}: exploitability at {steps[0]} / {steps[len(steps) // 2]} / {steps[-1]} "
            f"iterations {expl[0]:.4f} / {expl[len(expl) // 2]:.4f} / {expl[-1]:.4f}; <= {target} at "
            f"iteration {res['first_at_target']}; {1e6 * res['s_per_iter']:.0f} us/iteration"
        )
        rows += [
            dict(solver=name, kwargs=str(kw), iterations=int(s), exploitability=float(e)) for s, e in zip(steps, expl)
        ]

    for name, kw in cfg["learners"]:
        traces, timing = learner_traces(game, make_learner(name, kw, cfg), cfg, args.repeats)
        expl = np.asarray(traces.exploitability)  # [seeds, evaluations]
        steps = np.asarray(traces.step[0])
        med = np.median(expl, 0)
        hit = first_at_most(steps, med, target)
        res = dict(
            solver=name,
            kwargs={k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()},
            step=steps.tolist(),
            median=med.tolist(),
            min=expl.min(0).tolist(),
            max=expl.max(0).tolist(),
            per_seed=expl.tolist(),
            first_at_target=hit,
            stays_at_target=stays_at_most(steps, med, target),
            all_seeds_stay_at_target=stays_at_most(steps, expl.max(0), target),
            wall_s_to_target=None if hit is None else hit * timing["s_per_iter_per_seed"],
            s_per_iter_per_seed=timing["s_per_iter_per_seed"],
            compile_s=timing["compile_s"],
            traced_run_first_call_s=timing["traced_run_first_call_s"],
            times_s=timing["times_s"],
        )
        learners.append(res)
        wall = (
            "never"
            if hit is None
            else (
                f"iteration {hit} (~{res['wall_s_to_target']:.3g} s per seed), median "
                f"stays there from {res['stays_at_target']}, every seed from "
                f"{res['all_seeds_stay_at_target']}"
            )
        )
        print(
            f"(2) {name}{kw}: final exploitability median {med[-1]:.4f} [{expl[:, -1].min():.4f}, "
            f"{expl[:, -1].max():.4f}], median at the middle {med[len(med) // 2]:.4f}; <= {target}: {wall}; "
            f"{1e3 * res['s_per_iter_per_seed']:.1f} ms/iteration/seed (compile {timing['compile_s']:.1f} s; "
            f"seeded run incl. compile {timing['traced_run_first_call_s']:.1f} s)"
        )
        rows += [
            dict(
                solver=name,
                kwargs=str(kw),
                iterations=int(s),
                exploitability=m,
                exploitability_min=lo,
                exploitability_max=hi,
            )
            for s, m, lo, hi in zip(steps, med, expl.min(0), expl.max(0))
        ]
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    cpu.finish(info)

    stem = "bench_deep_mean_field_quick" if args.quick else "bench_deep_mean_field"
    command = args.command_line
    cfg_json = {k: v for k, v in cfg.items() if k not in ("learners", "exact")}
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": cfg_json,
        "uniform_exploitability": uniform,
        "machine": info,
        "exact": exact,
        "learners": learners,
        "rows": rows,
    }
    fields = ["solver", "kwargs", "iterations", "exploitability", "exploitability_min", "exploitability_max"]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
