"""Extensive-form games against OpenSpiel: CFR+ iterations/s, exact exploitability, batched variants.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_efg.py                    # full run (~80 s on 2 CPU cores)
    python benchmarks/bench_efg.py --quick            # smoke test (~1 min), smaller sizes, not for quoting
    python benchmarks/bench_efg.py --wait-idle 300    # first wait (up to 300 s) until no other process uses the CPU
    python benchmarks/bench_efg.py --only exploitability   # part (2) alone, while iterating

Everything is measured in the same process:

(1) CFR+ on Kuhn and Leduc poker. Ours: ``solvers.cfr_plus()`` on ``jaxgames.kuhn_poker()`` /
    ``jaxgames.leduc_poker()``, ``jax.jit(lambda g: solvers.run(solver, g, N, eval_every=N))``,
    time / N. Peers: OpenSpiel's C++ ``pyspiel.CFRPlusSolver`` (``evaluate_and_update_policy()``
    once per iteration) and OpenSpiel's JAX CFR (``open_spiel.python.jax.cfr.jax_cfr.JaxCFR``, CFR+
    settings by default), both through their own API (one Python call per iteration; JaxCFR
    dispatches one jitted call per player) and, for JaxCFR, also its jitted step inside one
    ``lax.fori_loop`` (no Python dispatch: its kernel cost). All run the same N iterations; the
    exploitability of our average must match the C++ solver's at N (same algorithm; ours is
    float32, the C++ solver float64, so the trajectories drift apart by rounding only).
(2) Exact exploitability of one random policy on Leduc: ``jaxgames.exploitability`` (validation +
    jitted computation) against ``pyspiel.exploitability`` (C++) on the same policy, converted
    with ``jaxgames.efg.to_openspiel_policy``; the values must agree within 1e-4. Calls back to back
    (the target), and each after 100 us of other host work (not counted), by which time the
    runtime's thread sleeps (on CPU a call that XLA's cost model does not rate as tiny is handed
    to a runtime thread unless ``--low-latency``; see ``jaxgames.latency``). Also a plain jitted call
    of the same computation (the game's arrays one by one, ``block_until_ready``: what the API's
    packing, polling and single output save) and the computation inside one ``lax.fori_loop``
    (its kernels without any per-call dispatch).
(3) 1,024 Kuhn variants (bet sizes) solved by CFR+ in one ``jax.jit(jax.vmap(...))`` call:
    aggregate game-iterations/s against the single-game rate of (1).
(4) Why: per-iteration cost of the pieces of our CFR+ step (each inside a ``lax.fori_loop``, so
    without dispatch: ``EFGGame.counterfactual_values`` per player, the same through ``evaluate``,
    the average's ``mix_policies``), including the sequence-form passes of ``jaxgames.efg.sequence`` that
    ``EFGGame`` is built from (realization plans, the sparse payoff mat-vec, opponent reach,
    bottom-up counterfactual values), and op counts of the compiled step / evaluate /
    exploitability.

Timing rules (as ``bench_matrix.py``): every jitted function is called once (trace + compile +
run), then timed ``--repeats`` times with ``jax.block_until_ready``; we report the median.
Compile time is first call - median and an ahead-of-time ``lower().compile()`` of a fresh
function. The stateful peers are warmed up by one iteration, then timed over ``--repeats``
consecutive blocks of iterations (median block). CPU time used by other processes during the
run is reported (and warned about). Results are printed and written to ``benchmarks/results/``
as JSON and CSV. See ``benchmarks/README.md`` for the measured numbers and how to read them.
"""

from __future__ import annotations

import collections
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
import pyspiel
from open_spiel.python import policy as os_policy

import jaxgames
import solvers
from jaxgames.efg.openspiel import to_openspiel_policy
from jaxgames.efg.sequence import bottom_up_levels, opponent_reach, realization_plan, sequence_form, sequence_values

from _common import fold, loop_us, standard_parser, start_run, time_blocks, time_jitted, write_results

# Speed targets: ratios of iterations/s or calls/s, ours over the peer (reported by benchmarks/report.py).
TARGETS = {
    ("cfr_plus", "kuhn_poker", "cpp"): 30.0,
    ("cfr_plus", "leduc_poker", "cpp"): 300.0,
    ("cfr_plus", "leduc_poker", "jaxcfr"): 15.0,
    ("exploitability", "leduc_poker", "cpp"): 1000.0,
}
PARTS = ("cfr", "exploitability", "variants", "analysis")  # (1) .. (4), for --only
EXPLOITABILITY_ATOL = 1e-4  # (2): ours vs pyspiel.exploitability on the same policy
# (1): |ours - C++| <= CFR_RTOL * C++ + CFR_ATOL at the same iteration count. Ours runs in
# float32: after thousands of CFR+ iterations its exploitability differs from the float64
# trajectory by a few per cent (in float64 the two trajectories are the same up to rounding).
CFR_RTOL, CFR_ATOL = 0.15, 1e-5

FULL = dict(
    cfr_block={"kuhn_poker": 1000, "leduc_poker": 100},  # iterations per timed block; N = 1 + repeats * block
    expl_calls=200,  # our exploitability calls per timed block (~20 ms: many, for a stable median)
    expl_loop=200,  # (2): exploitability evaluations inside one fori_loop (the dispatch-free figure)
    expl_gap_us=100.0,  # (2): host work before each call of the "spaced" timing (not counted)
    variants=1024,
    variant_iters=1000,
    variant_tol=1e-3,
    variant_spot_atol=CFR_ATOL,
    analysis_loop={"kuhn_poker": 2000, "leduc_poker": 200},
)
QUICK = dict(
    cfr_block={"kuhn_poker": 100, "leduc_poker": 10},
    expl_calls=5,
    expl_loop=20,
    expl_gap_us=100.0,
    # after 200 float32 iterations the smallest-bet variant's exploitability (~2e-4) differs by up to
    # 4.5e-5 between the vmapped and the one-game run (summation order), hence a looser spot check
    variants=64,
    variant_iters=200,
    variant_tol=1e-2,
    variant_spot_atol=1e-4,
    analysis_loop={"kuhn_poker": 200, "leduc_poker": 20},
)


# ----------------------------------------------------------------------------- helpers


def cpp_policy(tabular):
    """A Python ``TabularPolicy`` as the C++ ``pyspiel.TabularPolicy`` that ``pyspiel.exploitability`` takes."""
    return os_policy.python_policy_to_pyspiel_policy(tabular)


# ----------------------------------------------------------------------------- (1) CFR+


def load_jax_cfr():
    """OpenSpiel's JAX CFR class, or the reason it cannot be used."""
    try:
        from open_spiel.python.jax.cfr.jax_cfr import JaxCFR

        return JaxCFR, None
    except Exception as err:  # noqa: BLE001
        return None, f"import open_spiel.python.jax.cfr.jax_cfr failed: {type(err).__name__}: {err}"


def bench_cfr_plus(name, game, cfg, repeats, rows, summary):
    block = cfg["cfr_block"][name]
    n = 1 + repeats * block  # peers: 1 warm-up iteration + `repeats` timed blocks
    spiel = pyspiel.load_game(name)
    print(f"\n(1) CFR+ on {name}: {n} iterations (peers: 1 warm-up iteration + {repeats} timed blocks of {block})")
    out = summary.setdefault("cfr_plus", {})[name] = {"iterations": n, "block": block}

    # ours: one jitted call runs all n iterations (plus one final exploitability evaluation)
    solver = solvers.cfr_plus()
    r = time_jitted(lambda: jax.jit(lambda g: solvers.run(solver, g, n, eval_every=n)), game, repeats=repeats)
    _, trace = r.pop("output")
    ours_expl = float(trace.exploitability[-1])
    ours_us = 1e6 * r["median_s"] / n
    print(
        f"  ours (jaxgames, jit)      : {ours_us:9.2f} us/it  {1e6 / ours_us:12,.0f} it/s  "
        f"compile {r['compile_s']:.2f} s (AOT {r['aot_compile_s']:.2f} s)  expl {ours_expl:.4e}"
    )
    out["ours"] = dict(
        us_per_iter=ours_us,
        iters_per_s=1e6 / ours_us,
        exploitability=ours_expl,
        median_s=r["median_s"],
        times_s=r["times_s"],
        first_call_s=r["first_call_s"],
        compile_s=r["compile_s"],
        aot_compile_s=r["aot_compile_s"],
    )
    rows.append(
        dict(
            section="cfr_plus",
            game=name,
            implementation="ours",
            iterations=n,
            median_s=r["median_s"],
            us_per_iter=ours_us,
            iters_per_s=1e6 / ours_us,
            compile_s=r["compile_s"],
            aot_compile_s=r["aot_compile_s"],
            exploitability=ours_expl,
        )
    )

    # OpenSpiel C++ CFRPlusSolver
    cpp = pyspiel.CFRPlusSolver(spiel)
    t0 = time.perf_counter()
    cpp.evaluate_and_update_policy()
    first = time.perf_counter() - t0

    def cpp_block():
        for _ in range(block):
            cpp.evaluate_and_update_policy()

    t = time_blocks(cpp_block, repeats)
    cpp_expl = float(pyspiel.exploitability(spiel, cpp.average_policy()))
    cpp_us = 1e6 * t["median_s"] / block
    print(
        f"  OpenSpiel C++ CFRPlusSolver: {cpp_us:9.2f} us/it  {1e6 / cpp_us:12,.0f} it/s  "
        f"(first iteration {1e3 * first:.2f} ms)  expl {cpp_expl:.4e}"
    )
    out["cpp"] = dict(
        us_per_iter=cpp_us,
        iters_per_s=1e6 / cpp_us,
        exploitability=cpp_expl,
        median_block_s=t["median_s"],
        times_s=t["times_s"],
        first_iteration_s=first,
    )
    rows.append(
        dict(
            section="cfr_plus",
            game=name,
            implementation="openspiel_cpp_CFRPlusSolver",
            iterations=n,
            median_s=t["median_s"],
            us_per_iter=cpp_us,
            iters_per_s=1e6 / cpp_us,
            exploitability=cpp_expl,
        )
    )

    # correctness: the same algorithm, so the same exploitability after n iterations
    diff = abs(ours_expl - cpp_expl)
    ok = diff <= CFR_RTOL * cpp_expl + CFR_ATOL
    out["check"] = dict(abs_diff=diff, rel_diff=diff / cpp_expl, rtol=CFR_RTOL, atol=CFR_ATOL, ok=ok)
    print(f"  check: |ours - C++| = {diff:.2e} ({100 * diff / cpp_expl:.2f}% of C++): {'ok' if ok else 'FAILED'}")
    if not ok:
        raise AssertionError(
            f"{name}: our CFR+ exploitability {ours_expl:.6g} after {n} iterations "
            f"differs from OpenSpiel's C++ CFR+ ({cpp_expl:.6g}) by more than "
            f"{CFR_RTOL:.0%} + {CFR_ATOL}; refusing to report the speed of a wrong solver"
        )

    # OpenSpiel JAX CFR
    JaxCFR, why = load_jax_cfr()
    if JaxCFR is not None:
        try:
            jax_cfr_api(JaxCFR, spiel, name, n, block, repeats, out, rows)
        except Exception as err:  # noqa: BLE001
            why = f"JaxCFR failed: {type(err).__name__}: {err}"
    if why:
        print(f"  OpenSpiel JaxCFR          : not measured ({why})")
        out["jaxcfr"] = out["jaxcfr_fused"] = {"error": why}

    out["ratio_cpp"] = cpp_us / ours_us
    if "us_per_iter" in out.get("jaxcfr", {}):
        out["ratio_jaxcfr"] = out["jaxcfr"]["us_per_iter"] / ours_us
        out["ratio_jaxcfr_fused"] = out["jaxcfr_fused"]["us_per_iter"] / ours_us
    print(
        f"  ours / C++: {out['ratio_cpp']:.1f}x"
        + (
            f"; ours / JaxCFR: {out['ratio_jaxcfr']:.1f}x (its API), "
            f"{out['ratio_jaxcfr_fused']:.2f}x (its step in one fori_loop)"
            if "ratio_jaxcfr" in out
            else ""
        )
    )


def jax_cfr_api(JaxCFR, spiel, name, n, block, repeats, out, rows):
    t0 = time.perf_counter()
    jc = JaxCFR(spiel)  # CFR+ defaults: regret matching+, alternating, linear averaging
    init_s = time.perf_counter() - t0
    regrets0, averages0 = list(jc.regrets), list(jc.averages)
    t0 = time.perf_counter()
    jc.evaluate_and_update_policy()  # compiles jit_step
    jax.block_until_ready((jc.regrets, jc.averages))
    first = time.perf_counter() - t0

    def api_block():
        for _ in range(block):
            jc.evaluate_and_update_policy()
        jax.block_until_ready((jc.regrets, jc.averages))

    t = time_blocks(api_block, repeats)
    expl = float(pyspiel.exploitability(spiel, cpp_policy(jc.average_policy())))
    us = 1e6 * t["median_s"] / block
    print(
        f"  OpenSpiel JaxCFR (its API) : {us:9.2f} us/it  {1e6 / us:12,.0f} it/s  "
        f"(tree walk {init_s:.2f} s, first iteration {first:.2f} s)  expl {expl:.4e}"
    )
    out["jaxcfr"] = dict(
        us_per_iter=us,
        iters_per_s=1e6 / us,
        exploitability=expl,
        median_block_s=t["median_s"],
        times_s=t["times_s"],
        init_s=init_s,
        first_iteration_s=first,
    )
    rows.append(
        dict(
            section="cfr_plus",
            game=name,
            implementation="openspiel_JaxCFR_api",
            iterations=n,
            median_s=t["median_s"],
            us_per_iter=us,
            iters_per_s=1e6 / us,
            compile_s=first,
            exploitability=expl,
        )
    )

    # Its kernel cost: the same jitted step, both players, n iterations in one fori_loop.
    def fused(regrets, averages):
        def body(it, carry):
            regrets, averages = carry
            for player in range(jc.constants.players):
                regrets, averages = jc.jit_step(regrets, averages, it + 1, player)
            return regrets, averages

        return jax.lax.fori_loop(0, n, body, (regrets, averages))

    r = time_jitted(lambda: jax.jit(fused), regrets0, averages0, repeats=repeats)
    jc.regrets, jc.averages = r.pop("output")
    expl_f = float(pyspiel.exploitability(spiel, cpp_policy(jc.average_policy())))
    us_f = 1e6 * r["median_s"] / n
    print(
        f"  OpenSpiel JaxCFR (fused)   : {us_f:9.2f} us/it  {1e6 / us_f:12,.0f} it/s  "
        f"compile {r['compile_s']:.2f} s  expl {expl_f:.4e}"
    )
    out["jaxcfr_fused"] = dict(
        us_per_iter=us_f,
        iters_per_s=1e6 / us_f,
        exploitability=expl_f,
        median_s=r["median_s"],
        times_s=r["times_s"],
        compile_s=r["compile_s"],
        aot_compile_s=r["aot_compile_s"],
    )
    rows.append(
        dict(
            section="cfr_plus",
            game=name,
            implementation="openspiel_JaxCFR_fori_loop",
            iterations=n,
            median_s=r["median_s"],
            us_per_iter=us_f,
            iters_per_s=1e6 / us_f,
            compile_s=r["compile_s"],
            aot_compile_s=r["aot_compile_s"],
            exploitability=expl_f,
        )
    )


# ----------------------------------------------------------------------------- (2) exploitability


def bench_exploitability(game, cfg, repeats, seed, rows, summary):
    name = "leduc_poker"
    spiel = pyspiel.load_game(name)
    print(f"\n(2) exact exploitability of one random policy on {name}")
    policy = jax.block_until_ready(solvers.core.random_policy(game, jax.random.PRNGKey(seed)))
    t0 = time.perf_counter()
    tab = to_openspiel_policy(game, policy)
    to_tab_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    cpp_pol = cpp_policy(tab)
    to_cpp_s = time.perf_counter() - t0

    # ours, the public API: validation (on the host) + the jitted computation
    t0 = time.perf_counter()
    ours = float(jax.block_until_ready(jaxgames.exploitability(game, policy)))
    first = time.perf_counter() - t0
    k = cfg["expl_calls"]

    def api_block():
        for _ in range(k):
            jax.block_until_ready(jaxgames.exploitability(game, policy))

    t_api = time_blocks(api_block, repeats)
    gap = cfg["expl_gap_us"] * 1e-6

    def spaced_block():  # each call after `gap` of other host work, which is not counted
        busy = 0.0
        for _ in range(k):
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < gap:
                pass
            busy += time.perf_counter() - t0
            jax.block_until_ready(jaxgames.exploitability(game, policy))
        return busy

    spaced = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        busy = spaced_block()
        spaced.append(time.perf_counter() - t0 - busy)
    spaced_ms = 1e3 * float(np.median(spaced)) / k
    # the jitted computation alone (no validation), and its AOT compile time
    raw = time_jitted(lambda: jax.jit(lambda g, p: g.exploitability(p)), game, policy, repeats=1, return_fn=True)
    raw_fn = raw.pop("fn")  # compiled and warm

    def raw_block():
        for _ in range(k):
            jax.block_until_ready(raw_fn(game, policy))

    t_raw = time_blocks(raw_block, repeats)
    # the same computation inside one jitted fori_loop: its kernels without any per-call dispatch
    loop_ms = 1e-3 * loop_us(lambda p: fold(p, game.exploitability(p)), policy, cfg["expl_loop"], repeats)

    # C++
    t0 = time.perf_counter()
    theirs = float(pyspiel.exploitability(spiel, cpp_pol))
    cpp_first = time.perf_counter() - t0
    t_cpp = time_blocks(lambda: pyspiel.exploitability(spiel, cpp_pol), repeats)

    api_ms, raw_ms, cpp_ms = (1e3 * t_api["median_s"] / k, 1e3 * t_raw["median_s"] / k, 1e3 * t_cpp["median_s"])
    diff = abs(ours - theirs)
    print(
        f"  ours jaxgames.exploitability : {api_ms:8.3f} ms/call  (first call incl. compile "
        f"{first:.2f} s; AOT compile {raw['aot_compile_s']:.2f} s)  value {ours:.6f}"
    )
    print(
        f"  ours, {cfg['expl_gap_us']:.0f} us of host work between calls: {spaced_ms:8.3f} ms/call  (that work not "
        "counted: the runtime's thread has gone to sleep by the next call)"
    )
    print(
        f"  ours, a plain jitted call    : {raw_ms:8.3f} ms/call  (no validation; the game's "
        f"{len(jax.tree_util.tree_leaves(game))} arrays one by one, jax.block_until_ready on the result)"
    )
    print(f"  ours inside one fori_loop    : {loop_ms:8.3f} ms/call  (the computation without any per-call dispatch)")
    print(
        f"  OpenSpiel C++ exploitability : {cpp_ms:8.3f} ms/call  (first {1e3 * cpp_first:.1f} ms)  value {theirs:.6f}"
    )
    print(
        f"  policy conversion (once, not timed above): to_openspiel_policy {1e3 * to_tab_s:.1f} ms, "
        f"python_policy_to_pyspiel_policy {1e3 * to_cpp_s:.1f} ms"
    )
    verdict = "ok" if diff <= EXPLOITABILITY_ATOL else "FAILED"
    print(f"  check: |ours - C++| = {diff:.2e} (<= {EXPLOITABILITY_ATOL}: {verdict})")
    if diff > EXPLOITABILITY_ATOL:
        raise AssertionError(f"exploitability: ours {ours:.8g} vs pyspiel {theirs:.8g} differ by {diff:.3g}")
    ratio = cpp_ms / api_ms
    print(
        f"  ours / C++: {ratio:.1f}x (API), {cpp_ms / spaced_ms:.1f}x (API, calls spaced), "
        f"{cpp_ms / raw_ms:.1f}x (plain jit)"
    )
    summary["exploitability"] = {
        name: dict(
            ours_ms=api_ms,
            ours_raw_ms=raw_ms,
            ours_spaced_ms=spaced_ms,
            spaced_gap_us=cfg["expl_gap_us"],
            ratio_cpp_spaced=cpp_ms / spaced_ms,
            ours_loop_ms=loop_ms,
            leaves=len(jax.tree_util.tree_leaves((game, policy))),
            cpp_ms=cpp_ms,
            ratio_cpp=ratio,
            ratio_cpp_raw=cpp_ms / raw_ms,
            ours_first_call_s=first,
            ours_aot_compile_s=raw["aot_compile_s"],
            ours_value=ours,
            cpp_value=theirs,
            abs_diff=diff,
            calls_per_block=k,
            ours_times_s=t_api["times_s"],
            ours_raw_times_s=t_raw["times_s"],
            cpp_times_s=t_cpp["times_s"],
            cpp_first_call_s=cpp_first,
            to_openspiel_policy_s=to_tab_s,
            to_pyspiel_policy_s=to_cpp_s,
        )
    }
    rows.append(
        dict(
            section="exploitability",
            game=name,
            implementation="ours_api",
            median_s=api_ms / 1e3,
            compile_s=first,
            aot_compile_s=raw["aot_compile_s"],
            exploitability=ours,
        )
    )
    rows.append(
        dict(
            section="exploitability",
            game=name,
            implementation="ours_jit_only",
            median_s=raw_ms / 1e3,
            exploitability=ours,
        )
    )
    rows.append(
        dict(
            section="exploitability",
            game=name,
            implementation="openspiel_cpp",
            median_s=cpp_ms / 1e3,
            exploitability=theirs,
        )
    )


# ----------------------------------------------------------------------------- (3) batched variants


def bench_variants(cfg, repeats, rows, summary):
    g_count, n = cfg["variants"], cfg["variant_iters"]
    bets = jnp.linspace(0.25, 4.0, g_count)
    print(
        f"\n(3) {g_count:,} Kuhn variants (bet sizes {float(bets[0])} .. {float(bets[-1])}), "
        f"CFR+ for {n} iterations, one jitted vmapped call"
    )

    def make():
        return jax.jit(
            jax.vmap(
                lambda b: solvers.run(solvers.cfr_plus(), jaxgames.kuhn_poker(bet=b), n, eval_every=n)[
                    1
                ].exploitability[-1]
            )
        )

    r = time_jitted(make, bets, repeats=repeats)
    expl = np.asarray(r.pop("output"))
    # spot-check: the batched result equals a one-game run for a few variants
    # (up to float32 rounding, which vmapped code orders differently: same tolerance as in (1))
    spots, spots_ok = [], True
    for i in (0, g_count // 2, g_count - 1):
        _, tr = solvers.run(solvers.cfr_plus(), jaxgames.kuhn_poker(bet=bets[i]), n, eval_every=n)
        single = float(tr.exploitability[-1])
        spots.append(abs(single - float(expl[i])))
        spots_ok &= spots[-1] <= CFR_RTOL * single + cfg["variant_spot_atol"]
    worst = float(expl.max())
    if not (np.all(np.isfinite(expl)) and worst < cfg["variant_tol"] and spots_ok):
        raise AssertionError(
            f"variants: max exploitability {worst:.3g} (tolerance {cfg['variant_tol']}), "
            f"batched vs single-game differences {spots}"
        )
    rate = g_count * n / r["median_s"]
    single = summary["cfr_plus"]["kuhn_poker"]["ours"]["iters_per_s"]
    cpp = summary["cfr_plus"]["kuhn_poker"]["cpp"]["iters_per_s"]
    print(
        f"  one call: median {r['median_s']:.3f} s  compile {r['compile_s']:.2f} s "
        f"(AOT {r['aot_compile_s']:.2f} s)  {rate:,.0f} game-iter/s "
        f"= {rate / single:.1f}x our single-game rate, {rate / cpp:.1f}x the C++ solver's"
    )
    print(
        f"  exploitability after {n} iterations: max {worst:.2e}, median {float(np.median(expl)):.2e}; "
        f"batched vs single-game runs of 3 variants: max diff {max(spots):.1e}"
    )
    summary["variants"] = dict(
        games=g_count,
        iterations=n,
        median_s=r["median_s"],
        times_s=r["times_s"],
        compile_s=r["compile_s"],
        aot_compile_s=r["aot_compile_s"],
        game_iters_per_s=rate,
        ratio_single=rate / single,
        ratio_cpp=rate / cpp,
        max_exploitability=worst,
        median_exploitability=float(np.median(expl)),
        spot_check_max_diff=max(spots),
    )
    rows.append(
        dict(
            section="variants",
            game=f"kuhn_poker x {g_count}",
            implementation="ours_vmap",
            iterations=n,
            median_s=r["median_s"],
            us_per_iter=1e6 / rate,
            iters_per_s=rate,
            compile_s=r["compile_s"],
            aot_compile_s=r["aot_compile_s"],
            exploitability=worst,
        )
    )


# ----------------------------------------------------------------------------- (4) analysis


def hlo_stats(text: str) -> dict:
    """Instruction counts of a compiled HLO module (after XLA's fusion and dead-code elimination)."""
    ops = collections.Counter(re.findall(r"^\s*(?:ROOT )?\S+ = \S+ ([a-z][a-z0-9\-]*)\(", text, re.M))
    entry = text[text.index("ENTRY") :] if "ENTRY" in text else ""
    entry_ops = collections.Counter(re.findall(r"^\s*(?:ROOT )?\S+ = \S+ ([a-z][a-z0-9\-]*)\(", entry, re.M))
    trivial = {"parameter", "constant", "bitcast", "get-tuple-element", "tuple"}
    return {
        "entry_kernels": sum(v for k, v in entry_ops.items() if k not in trivial),
        "entry_fusions": entry_ops.get("fusion", 0),
        "scatters": ops.get("scatter", 0),
        "gathers": ops.get("gather", 0),
        "instructions": sum(ops.values()),
    }


def analyse(name, game, cfg, repeats, seed, summary):
    """Where one CFR+ iteration (and one exploitability) of ours spends its time.

    Every piece is timed inside one jitted ``lax.fori_loop`` (no dispatch), with its outputs
    folded into the loop carry so that XLA can neither drop nor hoist it.
    """
    K = cfg["analysis_loop"][name]
    solver = solvers.cfr_plus()
    state = solver.init(game)
    policy = state.policy
    t = game.tree
    print(
        f"\n(4) analysis, {name}: {t.num_histories:,} histories in {t.max_depth} levels below the root "
        f"({int(t.is_terminal.sum()):,} terminal), infosets {t.num_infosets}; us per call inside a "
        f"fori_loop of {K}"
    )
    res = {
        "histories": int(t.num_histories),
        "levels": int(t.max_depth),
        "terminals": int(t.is_terminal.sum()),
        "infosets": list(t.num_infosets),
    }

    def evaluate_all(p):
        ev = game.evaluate(p)
        return fold(p, ev.values, *ev.action_values, *ev.reach, *ev.opponent_reach)

    def evaluate_one(p):  # the old half-step's input: player 0's q and opponent reach
        ev = game.evaluate(p)
        return fold(p, ev.action_values[0], ev.opponent_reach[0])

    def cfv_one(p):  # what one alternating half-step uses now: player 0's counterfactual values
        return fold(p, game.counterfactual_values(p, 0))

    res["step_us"] = loop_us(lambda s: solver.step(game, s), state, K, repeats)
    res["evaluate_us"] = loop_us(evaluate_all, policy, K, repeats)
    res["evaluate_one_player_us"] = loop_us(evaluate_one, policy, K, repeats)
    res["counterfactual_values_us"] = loop_us(cfv_one, policy, K, repeats)
    res["mix_policies_us"] = loop_us(lambda p: game.mix_policies(p, policy, 0.3), policy, K, repeats)
    res["reach_us"] = loop_us(lambda p: fold(p, *game.reach(p)), policy, K, repeats)
    random_pol = solvers.core.random_policy(game, jax.random.PRNGKey(seed))
    res["exploitability_us"] = loop_us(lambda p: fold(p, game.exploitability(p)), random_pol, K, repeats)
    sf = sequence_form(t)
    res["own_levels"] = [len(m) - 1 for m in sf.depth_masks]
    parts = {}
    try:  # the sequence-form pieces EFGGame is built from (jaxgames/efg/sequence.py), player 0
        plans = tuple(realization_plan(sf, i, pi) for i, pi in enumerate(policy))
        u = sequence_values(sf, 0, plans, game._terminal_grids[0])
        parts["realization_plans_us"] = loop_us(
            lambda p: fold(p, *(realization_plan(sf, i, pi) for i, pi in enumerate(p))), policy, K, repeats
        )
        parts["payoff_matvec_us"] = loop_us(
            lambda x: fold(x, sequence_values(sf, 0, x, game._terminal_grids[0])), plans, K, repeats
        )
        parts["opponent_reach_us"] = loop_us(
            lambda x: fold(x, opponent_reach(sf, 0, x, game._decision_grids[0], t.num_infosets[0])), plans, K, repeats
        )
        parts["bottom_up_us"] = loop_us(
            lambda u: u + 1e-30 * jnp.sum(bottom_up_levels(sf, 0, u, lambda q, p: jnp.sum(p * q, -1), (policy[0],))[0]),
            u,
            K,
            repeats,
        )
    except Exception as err:  # noqa: BLE001
        parts["error"] = f"{type(err).__name__}: {err}"
    res.update(parts)
    res["step_hlo"] = hlo_stats(jax.jit(lambda s: solver.step(game, s)).lower(state).compile().as_text())
    res["evaluate_hlo"] = hlo_stats(jax.jit(lambda p: game.evaluate(p)).lower(policy).compile().as_text())
    res["exploitability_hlo"] = hlo_stats(jax.jit(lambda p: game.exploitability(p)).lower(policy).compile().as_text())
    res["us_per_kernel"] = res["step_us"] / max(res["step_hlo"]["entry_kernels"], 1)

    s, h, x = res["step_hlo"], res["evaluate_hlo"], res["exploitability_hlo"]
    print(
        f"  CFR+ step {res['step_us']:.2f} us = 2 x counterfactual values of one player "
        f"({res['counterfactual_values_us']:.2f}; through evaluate, with the opponent reach: "
        f"{res['evaluate_one_player_us']:.2f}) + mix_policies for the average ({res['mix_policies_us']:.2f}) "
        f"+ regret matching; full evaluate {res['evaluate_us']:.2f}, reach(policy) {res['reach_us']:.2f}"
    )
    if "payoff_matvec_us" in res:
        print(
            f"  sequence-form pieces (player 0): realization plans of all players {res['realization_plans_us']:.2f}, "
            f"sparse payoff mat-vec {res['payoff_matvec_us']:.2f}, opponent reach {res['opponent_reach_us']:.2f}, "
            f"bottom-up counterfactual values {res['bottom_up_us']:.2f}"
        )
    elif "error" in res:
        print(f"  sequence-form pieces: not measured ({res['error']})")
    print(
        f"  compiled step: {s['entry_kernels']} kernels ({s['entry_fusions']} fusions), {s['scatters']} scatters, "
        f"{s['gathers']} gathers, {s['instructions']} HLO instructions -> {res['us_per_kernel']:.3f} us per kernel; "
        f"evaluate alone: {h['entry_kernels']} kernels, {h['scatters']} scatters"
    )
    passes = (
        f"all players in one bottom-up pass over {max(res['own_levels'])} levels, jaxgames.efg.joint"
        if game._joint_grids is not None
        else f"one bottom-up pass per player over {res['own_levels']} own levels"
    )
    print(
        f"  exploitability {res['exploitability_us']:.2f} us in the loop ({x['entry_kernels']} kernels, "
        f"{x['scatters']} scatters; best responses: {passes})"
    )
    summary.setdefault("analysis", {})[name] = res


# ----------------------------------------------------------------------------- report


def _met(ratio, target):
    return "yes" if ratio >= target else "**NO**"


def print_table(summary):
    c = summary.get("cfr_plus", {})
    print(
        "\n| benchmark | ours | OpenSpiel C++ | ours / C++ | OpenSpiel JaxCFR (API / fused loop) "
        "| ours / JaxCFR (API / fused) | target | met? |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for name, o in ((k, c[k]) for k in ("kuhn_poker", "leduc_poker") if k in c):
        jc = o.get("jaxcfr", {})
        jtxt = (
            f"{jc['us_per_iter']:,.1f} / {o['jaxcfr_fused']['us_per_iter']:,.1f} us" if "us_per_iter" in jc else "n/a"
        )
        rtxt = f"{o['ratio_jaxcfr']:.1f}x / {o['ratio_jaxcfr_fused']:.2f}x" if "ratio_jaxcfr" in o else "n/a"
        tc = TARGETS.get(("cfr_plus", name, "cpp"))
        tj = TARGETS.get(("cfr_plus", name, "jaxcfr"))
        target = f">= {tc:.0f}x C++" + (f", >= {tj:.0f}x JaxCFR" if tj else "")
        met = _met(o["ratio_cpp"], tc) + (
            (", " + _met(o["ratio_jaxcfr"], tj) + " (API) / " + _met(o["ratio_jaxcfr_fused"], tj) + " (fused)")
            if tj and "ratio_jaxcfr" in o
            else ""
        )
        print(
            f"| CFR+ {name}, {o['iterations']} it | {o['ours']['us_per_iter']:,.2f} us/it "
            f"({o['ours']['iters_per_s']:,.0f} it/s) | {o['cpp']['us_per_iter']:,.1f} us/it "
            f"| {o['ratio_cpp']:.1f}x | {jtxt} | {rtxt} | {target} | {met} |"
        )
    if "exploitability" in summary:
        e = summary["exploitability"]["leduc_poker"]
        t = TARGETS[("exploitability", "leduc_poker", "cpp")]
        print(
            f"| exploitability, Leduc, 1 policy | {e['ours_ms']:.3f} ms (jit only {e['ours_raw_ms']:.3f}) "
            f"| {e['cpp_ms']:.2f} ms | {e['ratio_cpp']:.1f}x ({e['ratio_cpp_raw']:.1f}x) | - | - "
            f"| >= {t:.0f}x | {_met(e['ratio_cpp'], t)} |"
        )
    if "variants" in summary:
        v = summary["variants"]
        print(
            f"| {v['games']:,} Kuhn variants, CFR+ {v['iterations']} it, 1 call "
            f"| {v['game_iters_per_s']:,.0f} game-it/s | - | {v['ratio_cpp']:.1f}x "
            f"| - | - | - ({v['ratio_single']:.1f}x our single game) | - |"
        )


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random policy in (2)")
    parser.add_argument("--no-analysis", action="store_true", help="skip (4)")
    parser.add_argument(
        "--only",
        metavar="PARTS",
        help="run only these parts, comma-separated, of " + ",".join(PARTS) + " ((3) variants needs (1) cfr)",
    )
    args, info, cpu = start_run(parser, argv, packages=("open_spiel",))
    cfg = QUICK if args.quick else FULL
    parts = set(PARTS if args.only is None else args.only.split(","))
    if parts - set(PARTS):
        parser.error(f"--only: unknown parts {sorted(parts - set(PARTS))}; choose from {','.join(PARTS)}")
    if "variants" in parts and "cfr" not in parts:
        parser.error("--only: variants needs cfr too (its ratios are against (1))")

    rows, summary = [], {}
    games = {"kuhn_poker": jaxgames.kuhn_poker(), "leduc_poker": jaxgames.leduc_poker()}
    if "cfr" in parts:
        for name, game in games.items():
            bench_cfr_plus(name, game, cfg, args.repeats, rows, summary)
    if "exploitability" in parts:
        bench_exploitability(games["leduc_poker"], cfg, args.repeats, args.seed, rows, summary)
    if "variants" in parts:
        bench_variants(cfg, args.repeats, rows, summary)
    if "analysis" in parts and not args.no_analysis:
        for name, game in games.items():
            analyse(name, game, cfg, args.repeats, args.seed, summary)
    print_table(summary)

    cpu.finish(info)
    command = args.command_line
    stem = ("bench_efg_quick" if args.quick else "bench_efg") + (
        "" if args.only is None else "_only_" + "_".join(sorted(parts))
    )
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": cfg,
        "targets": {"/".join(k): v for k, v in TARGETS.items()},
        "machine": info,
        "summary": summary,
        "rows": rows,
    }
    fields = [
        "section",
        "game",
        "implementation",
        "iterations",
        "median_s",
        "us_per_iter",
        "iters_per_s",
        "compile_s",
        "aot_compile_s",
        "exploitability",
    ]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
