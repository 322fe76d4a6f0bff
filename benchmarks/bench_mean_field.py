"""Mean-field games against OpenSpiel: fictitious play and mirror descent on crowd modelling, and a sweep.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_mean_field.py                 # full run
    python benchmarks/bench_mean_field.py --quick         # smoke test, smaller sizes, not for quoting
    python benchmarks/bench_mean_field.py --wait-idle 300 # first wait until no other process uses the CPU

Everything is measured in the same process:

(1) Per-iteration time on ``crowd_modelling()`` (size 10, horizon 10) of
    ``solvers.fictitious_play(alternating=False)`` (= OpenSpiel's ``FictitiousPlay``) and
    ``solvers.mirror_descent(1.0, output="last", alternating=False)`` (= ``MirrorDescent(lr=1)``),
    ``jax.jit(lambda g: solvers.run(solver, g, N, eval_every=N))``, time / N. Peers: OpenSpiel's
    Python ``FictitiousPlay`` / ``MirrorDescent`` on the C++ ``mfg_crowd_modelling``, one
    ``iteration()`` call per iteration (warm-up iteration, then ``--repeats`` timed blocks, median).
    The exploitability after the same N iterations is reported for both (fictitious play: equal
    up to float32 rounding; stock ``MirrorDescent`` differs by its cumulative-value aliasing,
    see ``tests/test_mean_field_solvers.py``).
(2) A sweep of 1,000 (crowd aversion, learning rate) configurations of mirror descent, 200
    iterations each plus the final exploitability, in ONE ``jax.jit(jax.vmap(...))`` call:
    configurations per second, against our own one-configuration call and OpenSpiel's
    (estimated from (1): 200 x its per-iteration time + one ``NashConv``).
(3) Where one mirror-descent iteration spends its time, each piece inside one jitted
    ``lax.fori_loop`` (no dispatch): the step, its gradient (``evaluate``: the mean field forward,
    then backward induction), the mean field alone, the entropic step, and ``log`` of the
    ``[T, S, A]`` policy against ``log`` of as many numbers laid out flat (XLA's CPU code for
    element-wise functions on arrays whose last axis is short, here 3 actions, is not vectorized).

Compile time is reported apart (first call - median, and an AOT ``lower().compile()``).
mfglib (PyTorch) is compared by ``bench_mfglib.py``, which runs it in its own virtual environment.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import pyspiel
from open_spiel.python.mfg.algorithms import fictitious_play as os_fp
from open_spiel.python.mfg.algorithms import mirror_descent as os_md
from open_spiel.python.mfg.algorithms import nash_conv as os_nash_conv

import solvers
from jaxgames import simplex
from jaxgames.mean_field import crowd_modelling
from solvers.geometry import mirror_step

from _common import fold, loop_us, standard_parser, start_run, time_blocks, time_jitted, write_results

# speed targets, iterations/s ratio ours / OpenSpiel: 500x from the first round; mirror descent's
# raised to 1,000x by the scale-and-speed issue
TARGET = {"fictitious_play": 500.0, "mirror_descent": 1000.0}
FULL = dict(block={"fictitious_play": 20, "mirror_descent": 50}, sweep=(40, 25), sweep_iters=200, analysis_loop=5000)
QUICK = dict(block={"fictitious_play": 3, "mirror_descent": 5}, sweep=(10, 10), sweep_iters=50, analysis_loop=200)

OURS = {
    "fictitious_play": lambda: solvers.fictitious_play(alternating=False),
    "mirror_descent": lambda: solvers.mirror_descent(learning_rate=1.0, output="last", alternating=False),
}


def _peer(name, spiel):
    return os_fp.FictitiousPlay(spiel) if name == "fictitious_play" else os_md.MirrorDescent(spiel, lr=1.0)


def bench_iterations(game, spiel, cfg, repeats, rows, summary):
    for name, make in OURS.items():
        block = cfg["block"][name]
        n = 1 + repeats * block
        print(f"\n(1) {name} on crowd modelling: {n} iterations (OpenSpiel: 1 warm-up + {repeats} blocks of {block})")
        solver = make()
        r = time_jitted(lambda: jax.jit(lambda g: solvers.run(solver, g, n, eval_every=n)), game, repeats=repeats)
        _, trace = r.pop("output")
        ours_us, ours_expl = 1e6 * r["median_s"] / n, float(trace.exploitability[-1])

        algo = _peer(name, spiel)
        algo.iteration()
        t = time_blocks(lambda: [algo.iteration() for _ in range(block)], repeats)
        peer_us = 1e6 * t["median_s"] / block
        peer_expl = float(os_nash_conv.NashConv(spiel, algo.get_policy()).nash_conv())
        ratio = peer_us / ours_us
        print(
            f"  ours (jit)          : {ours_us:10.2f} us/it  compile {r['compile_s']:.2f} s "
            f"(AOT {r['aot_compile_s']:.2f} s)  exploitability {ours_expl:.4e}"
        )
        print(f"  OpenSpiel (Python)  : {peer_us:10.2f} us/it  exploitability {peer_expl:.4e}")
        print(
            f"  speed-up            : {ratio:10.0f}x  (target {TARGET[name]:.0f}x: "
            f"{'met' if ratio >= TARGET[name] else 'MISSED'})"
        )
        summary[name] = dict(
            iterations=n,
            ours_us_per_iter=ours_us,
            openspiel_us_per_iter=peer_us,
            speedup=ratio,
            target=TARGET[name],
            ours_exploitability=ours_expl,
            openspiel_exploitability=peer_expl,
            ours_times_s=r["times_s"],
            openspiel_times_s=t["times_s"],
            compile_s=r["compile_s"],
            aot_compile_s=r["aot_compile_s"],
        )
        for impl, us, expl in (("ours", ours_us, ours_expl), ("openspiel", peer_us, peer_expl)):
            rows.append(
                dict(
                    section="iterations",
                    solver=name,
                    implementation=impl,
                    iterations=n,
                    us_per_iter=us,
                    iters_per_s=1e6 / us,
                    exploitability=expl,
                    compile_s=r["compile_s"] if impl == "ours" else "",
                )
            )


def _sweep_fn(num_steps):
    def one(aversion, lr):
        game = crowd_modelling(crowd_aversion=aversion)
        solver = solvers.mirror_descent(learning_rate=lr, output="last", alternating=False)
        return solvers.run(solver, game, num_steps, eval_every=num_steps)[1].exploitability[-1]

    return one


def bench_sweep(cfg, repeats, rows, summary):
    na, nl = cfg["sweep"]
    iters = cfg["sweep_iters"]
    aversion, lr = jnp.meshgrid(jnp.geomspace(0.1, 4.0, na), jnp.geomspace(0.03, 3.0, nl), indexing="ij")
    aversion, lr = aversion.ravel(), lr.ravel()
    configs = aversion.size
    print(
        f"\n(2) sweep: {configs} (crowd aversion, learning rate) configurations x {iters} mirror-descent "
        f"iterations + final exploitability, one jit(vmap) call"
    )
    one = _sweep_fn(iters)
    r = time_jitted(lambda: jax.jit(jax.vmap(one)), aversion, lr, repeats=repeats)
    expl = np.asarray(r.pop("output"))
    single = time_jitted(lambda: jax.jit(one), aversion[0], lr[0], repeats=repeats)
    single.pop("output")
    rate = configs / r["median_s"]
    single_rate = 1.0 / single["median_s"]
    os_iter_us = summary.get("mirror_descent", {}).get("openspiel_us_per_iter")
    spiel = pyspiel.load_game("mfg_crowd_modelling")
    t_nc = time_blocks(
        lambda: os_nash_conv.NashConv(spiel, os_md.MirrorDescent(spiel).get_policy()).nash_conv(), repeats
    )["median_s"]
    os_rate = None if os_iter_us is None else 1.0 / (iters * os_iter_us * 1e-6 + t_nc)
    print(
        f"  ours, vmapped       : {r['median_s']:.3f} s  -> {rate:,.0f} configurations/s "
        f"({rate * iters:,.0f} game-iterations/s); compile {r['compile_s']:.2f} s (AOT {r['aot_compile_s']:.2f} s)"
    )
    print(
        f"  ours, one config    : {single['median_s'] * 1e3:.2f} ms -> {single_rate:,.0f} configurations/s "
        f"(vmap gain {rate / single_rate:.1f}x)"
    )
    if os_rate:
        print(
            f"  OpenSpiel (est.)    : {1 / os_rate:.2f} s per configuration -> {os_rate:.2f} configurations/s "
            f"(ratio {rate / os_rate:,.0f}x)"
        )
    good = int(np.sum(expl < 0.05))
    print(
        f"  {good}/{configs} configurations reach exploitability < 0.05; {int(np.sum(~np.isfinite(expl)))} non-finite"
    )
    summary["sweep"] = dict(
        configurations=configs,
        iterations=iters,
        median_s=r["median_s"],
        configs_per_s=rate,
        single_config_per_s=single_rate,
        openspiel_configs_per_s=os_rate,
        openspiel_nash_conv_s=t_nc,
        compile_s=r["compile_s"],
        aot_compile_s=r["aot_compile_s"],
        times_s=r["times_s"],
        below_005=good,
    )
    rows.append(
        dict(
            section="sweep",
            solver="mirror_descent",
            implementation="ours_vmap",
            iterations=iters,
            configs=configs,
            median_s=r["median_s"],
            configs_per_s=rate,
            compile_s=r["compile_s"],
        )
    )
    rows.append(
        dict(
            section="sweep",
            solver="mirror_descent",
            implementation="ours_single",
            iterations=iters,
            configs=1,
            median_s=single["median_s"],
            configs_per_s=single_rate,
        )
    )
    if os_rate:
        rows.append(
            dict(
                section="sweep",
                solver="mirror_descent",
                implementation="openspiel_estimate",
                iterations=iters,
                configs=1,
                median_s=1 / os_rate,
                configs_per_s=os_rate,
            )
        )


def analyse(game, cfg, repeats, summary):
    """(3): microseconds per piece of one mirror-descent iteration, each inside one ``fori_loop``."""
    k = cfg["analysis_loop"]
    solver = OURS["mirror_descent"]()
    state = solver.init(game)
    policy = state.policy
    grads = game.evaluate(policy).action_values
    flat = policy[0].reshape(-1)
    res = dict(
        step_us=loop_us(lambda s: solver.step(game, s), state, k, repeats),
        evaluate_us=loop_us(lambda p: fold(p, *game.evaluate(p).action_values), policy, k, repeats),
        mean_field_us=loop_us(lambda p: fold(p, game.mean_field(p)), policy, k, repeats),
        entropic_step_us=loop_us(lambda p: mirror_step(game, p, grads, 1.0), policy, k, repeats),
        log_policy_us=loop_us(lambda p: fold(p, simplex.safe_log(p[0])), policy, k, repeats),
        log_flat_us=loop_us(lambda x: fold(x, simplex.safe_log(x)), flat, k, repeats),
        empty_loop_us=loop_us(lambda p: fold(p, p[0]), policy, k, repeats),
    )
    print(f"\n(3) one mirror-descent iteration on crowd modelling, each piece inside one fori_loop of {k}:")
    for name, us in res.items():
        print(f"  {name:18s}: {us:7.3f} us")
    res.update(shape=list(policy[0].shape), loop_iterations=k)
    summary["analysis"] = res


def main(argv=None):
    args, info, cpu = start_run(standard_parser(__doc__), argv, packages=("open_spiel",))
    cfg = QUICK if args.quick else FULL
    rows, summary = [], {}
    t0 = time.perf_counter()
    bench_iterations(crowd_modelling(), pyspiel.load_game("mfg_crowd_modelling"), cfg, args.repeats, rows, summary)
    bench_sweep(cfg, args.repeats, rows, summary)
    analyse(crowd_modelling(), cfg, args.repeats, summary)
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    cpu.finish(info)
    command = args.command_line
    stem = "bench_mean_field_quick" if args.quick else "bench_mean_field"
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": cfg,
        "target": TARGET,
        "machine": info,
        "summary": summary,
        "rows": rows,
    }
    fields = [
        "section",
        "solver",
        "implementation",
        "iterations",
        "configs",
        "median_s",
        "us_per_iter",
        "iters_per_s",
        "configs_per_s",
        "compile_s",
        "exploitability",
    ]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
