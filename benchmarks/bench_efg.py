"""Extensive-form games against OpenSpiel: CFR+ iterations/s, exact exploitability, batched variants.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_efg.py                    # full run (~80 s on 2 CPU cores)
    python benchmarks/bench_efg.py --quick            # smoke test (~1 min), smaller sizes, not for quoting
    python benchmarks/bench_efg.py --wait-idle 300    # first wait (up to 300 s) until no other process uses the CPU

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
    with ``jaxgames.efg.to_openspiel_policy``; the values must agree within 1e-4.
(3) 1,024 Kuhn variants (bet sizes) solved by CFR+ in one ``jax.jit(jax.vmap(...))`` call:
    aggregate game-iterations/s against the single-game rate of (1).
(4) Why: per-iteration cost of the pieces of our CFR+ step (each inside a ``lax.fori_loop``, so
    without dispatch), op counts of the compiled step, and two prototypes written in this script
    only (not library code): the reach pass with gathers on contiguous levels instead of
    scatters, and a sequence-form CFR+ step (one sparse payoff mat-vec per player and iteration),
    both checked against the library.

Timing rules (as ``bench_matrix.py``): every jitted function is called once (trace + compile +
run), then timed ``--repeats`` times with ``jax.block_until_ready``; we report the median.
Compile time is first call - median and an ahead-of-time ``lower().compile()`` of a fresh
function. The stateful peers are warmed up by one iteration, then timed over ``--repeats``
consecutive blocks of iterations (median block). CPU time used by other processes during the
run is reported (and warned about). Results are printed and written to ``benchmarks/results/``
as JSON and CSV. See ``benchmarks/README.md`` for the measured numbers and how to read them.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pyspiel
from open_spiel.python import policy as os_policy

import jaxgames
import solvers
from jaxgames.efg.openspiel import to_openspiel_policy
from jaxgames.efg.tree import CHANCE

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent

# Targets from the issue (ratios of iterations/s or calls/s, ours over the peer).
TARGETS = {
    ("cfr_plus", "kuhn_poker", "cpp"): 15.0,
    ("cfr_plus", "leduc_poker", "cpp"): 100.0,
    ("cfr_plus", "leduc_poker", "jaxcfr"): 15.0,
    ("exploitability", "leduc_poker", "cpp"): 300.0,
}
EXPLOITABILITY_ATOL = 1e-4      # (2): ours vs pyspiel.exploitability on the same policy
# (1): |ours - C++| <= CFR_RTOL * C++ + CFR_ATOL at the same iteration count. Ours runs in
# float32: after thousands of CFR+ iterations its exploitability differs from the float64
# trajectory by a few per cent (in float64 the two agree to 1e-12, see the README).
CFR_RTOL, CFR_ATOL = 0.15, 1e-5

FULL = dict(
    cfr_block={"kuhn_poker": 1000, "leduc_poker": 100},   # iterations per timed block; N = 1 + repeats * block
    expl_calls=20,                                        # our exploitability calls per timed block
    variants=1024, variant_iters=1000, variant_tol=1e-3,
    analysis_loop={"kuhn_poker": 2000, "leduc_poker": 200},
)
QUICK = dict(
    cfr_block={"kuhn_poker": 100, "leduc_poker": 10},
    expl_calls=5,
    variants=64, variant_iters=200, variant_tol=1e-2,
    analysis_loop={"kuhn_poker": 200, "leduc_poker": 20},
)
PENDING = ("Kuhn poker simulator (jaxgames.efg.env) vs pgx: pending -- built separately "
           "(benchmarks/bench_efg_env.py), not measured by this script.")


# ----------------------------------------------------------------------------- machine / CPU checks

def _git(*args) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return ""


def machine_info() -> dict:
    model, l3 = platform.processor() or "unknown", None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        model = m.group(1).strip() if m else model
        m = re.search(r"^L3 cache:\s*(.+)$", out, re.M)
        l3 = m.group(1).strip() if m else None
    except OSError:
        pass
    try:
        import jaxlib
        jaxlib_version = jaxlib.__version__
    except Exception:  # noqa: BLE001
        jaxlib_version = None
    try:
        from importlib.metadata import version
        spiel_version = version("open_spiel")
    except Exception:  # noqa: BLE001
        spiel_version = None
    return {
        "cpu_model": model, "l3_cache": l3, "cpu_count": os.cpu_count(),
        "platform": platform.platform(), "python": platform.python_version(),
        "jax": jax.__version__, "jaxlib": jaxlib_version, "numpy": np.__version__,
        "open_spiel": spiel_version, "jax_devices": [str(d) for d in jax.devices()],
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty_paths": _git("status", "--porcelain", "--", "jaxgames", "solvers").splitlines(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def busy_cpu_seconds() -> tuple[float, float] | None:
    """(busy CPU-seconds of all processes, CPU-seconds stolen by the hypervisor), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq) / hz, steal / hz


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def wait_for_idle(max_wait_s: float, threshold_cores: float = 0.1, window_s: float = 2.0,
                  consecutive: int = 3) -> dict:
    """Wait until other processes use < ``threshold_cores`` for ``consecutive`` windows."""
    start, calm = time.perf_counter(), 0
    while time.perf_counter() - start < max_wait_s:
        b0, o0 = busy_cpu_seconds(), own_cpu_seconds()
        time.sleep(window_s)
        b1, o1 = busy_cpu_seconds(), own_cpu_seconds()
        if b0 is None or b1 is None:
            return {"waited_s": 0.0, "idle": None}
        other = max(b1[0] - b0[0] - (o1 - o0), 0.0) / window_s
        calm = calm + 1 if other < threshold_cores else 0
        if calm >= consecutive:
            return {"waited_s": time.perf_counter() - start, "idle": True}
        print(f"  waiting for an idle machine: other processes use {other:.2f} cores", flush=True)
    return {"waited_s": time.perf_counter() - start, "idle": False}


# ----------------------------------------------------------------------------- timing helpers

def time_jitted(make_fn, *args, repeats: int) -> dict:
    """First call (trace + compile + run), ``repeats`` blocked calls (median), AOT compile of a fresh fn."""
    fn = make_fn()
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    median = float(np.median(times))
    t0 = time.perf_counter()
    make_fn().lower(*args).compile()
    aot = time.perf_counter() - t0
    return {"first_call_s": first, "median_s": median, "min_s": float(np.min(times)), "times_s": times,
            "compile_s": max(first - median, 0.0), "aot_compile_s": aot, "output": out}


def time_blocks(fn, repeats: int) -> dict:
    """``repeats`` timed calls of ``fn`` (each a block of work); median and all times."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": float(np.median(times)), "min_s": float(np.min(times)), "times_s": times}


def loop_us(body, carry, iterations: int, repeats: int) -> float:
    """Microseconds per application of ``body`` inside one jitted ``lax.fori_loop`` (no dispatch)."""
    f = jax.jit(lambda c: jax.lax.fori_loop(0, iterations, lambda _, c: body(c), c))
    jax.block_until_ready(f(carry))
    t = time_blocks(lambda: jax.block_until_ready(f(carry)), repeats)
    return 1e6 * t["median_s"] / iterations


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
    n = 1 + repeats * block   # peers: 1 warm-up iteration + `repeats` timed blocks
    spiel = pyspiel.load_game(name)
    print(f"\n(1) CFR+ on {name}: {n} iterations "
          f"(peers: 1 warm-up iteration + {repeats} timed blocks of {block})")
    out = summary.setdefault("cfr_plus", {})[name] = {"iterations": n, "block": block}

    # ours: one jitted call runs all n iterations (plus one final exploitability evaluation)
    solver = solvers.cfr_plus()
    r = time_jitted(lambda: jax.jit(lambda g: solvers.run(solver, g, n, eval_every=n)), game,
                    repeats=repeats)
    _, trace = r.pop("output")
    ours_expl = float(trace.exploitability[-1])
    ours_us = 1e6 * r["median_s"] / n
    print(f"  ours (jaxgames, jit)      : {ours_us:9.2f} us/it  {1e6 / ours_us:12,.0f} it/s  "
          f"compile {r['compile_s']:.2f} s (AOT {r['aot_compile_s']:.2f} s)  expl {ours_expl:.4e}")
    out["ours"] = dict(us_per_iter=ours_us, iters_per_s=1e6 / ours_us, exploitability=ours_expl,
                       median_s=r["median_s"], times_s=r["times_s"], first_call_s=r["first_call_s"],
                       compile_s=r["compile_s"], aot_compile_s=r["aot_compile_s"])
    rows.append(dict(section="cfr_plus", game=name, implementation="ours", iterations=n,
                     median_s=r["median_s"], us_per_iter=ours_us, iters_per_s=1e6 / ours_us,
                     compile_s=r["compile_s"], aot_compile_s=r["aot_compile_s"],
                     exploitability=ours_expl))

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
    print(f"  OpenSpiel C++ CFRPlusSolver: {cpp_us:9.2f} us/it  {1e6 / cpp_us:12,.0f} it/s  "
          f"(first iteration {1e3 * first:.2f} ms)  expl {cpp_expl:.4e}")
    out["cpp"] = dict(us_per_iter=cpp_us, iters_per_s=1e6 / cpp_us, exploitability=cpp_expl,
                      median_block_s=t["median_s"], times_s=t["times_s"], first_iteration_s=first)
    rows.append(dict(section="cfr_plus", game=name, implementation="openspiel_cpp_CFRPlusSolver",
                     iterations=n, median_s=t["median_s"], us_per_iter=cpp_us,
                     iters_per_s=1e6 / cpp_us, exploitability=cpp_expl))

    # correctness: the same algorithm, so the same exploitability after n iterations
    diff = abs(ours_expl - cpp_expl)
    ok = diff <= CFR_RTOL * cpp_expl + CFR_ATOL
    out["check"] = dict(abs_diff=diff, rel_diff=diff / cpp_expl, rtol=CFR_RTOL, atol=CFR_ATOL, ok=ok)
    print(f"  check: |ours - C++| = {diff:.2e} ({100 * diff / cpp_expl:.2f}% of C++): "
          f"{'ok' if ok else 'FAILED'}")
    if not ok:
        raise AssertionError(f"{name}: our CFR+ exploitability {ours_expl:.6g} after {n} iterations "
                             f"differs from OpenSpiel's C++ CFR+ ({cpp_expl:.6g}) by more than "
                             f"{CFR_RTOL:.0%} + {CFR_ATOL}; refusing to report the speed of a wrong solver")

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
    print(f"  ours / C++: {out['ratio_cpp']:.1f}x" +
          (f"; ours / JaxCFR: {out['ratio_jaxcfr']:.1f}x (its API), "
           f"{out['ratio_jaxcfr_fused']:.2f}x (its step in one fori_loop)" if "ratio_jaxcfr" in out else ""))


def jax_cfr_api(JaxCFR, spiel, name, n, block, repeats, out, rows):
    t0 = time.perf_counter()
    jc = JaxCFR(spiel)           # CFR+ defaults: regret matching+, alternating, linear averaging
    init_s = time.perf_counter() - t0
    regrets0, averages0 = list(jc.regrets), list(jc.averages)
    t0 = time.perf_counter()
    jc.evaluate_and_update_policy()                      # compiles jit_step
    jax.block_until_ready((jc.regrets, jc.averages))
    first = time.perf_counter() - t0

    def api_block():
        for _ in range(block):
            jc.evaluate_and_update_policy()
        jax.block_until_ready((jc.regrets, jc.averages))

    t = time_blocks(api_block, repeats)
    expl = float(pyspiel.exploitability(spiel, cpp_policy(jc.average_policy())))
    us = 1e6 * t["median_s"] / block
    print(f"  OpenSpiel JaxCFR (its API) : {us:9.2f} us/it  {1e6 / us:12,.0f} it/s  "
          f"(tree walk {init_s:.2f} s, first iteration {first:.2f} s)  expl {expl:.4e}")
    out["jaxcfr"] = dict(us_per_iter=us, iters_per_s=1e6 / us, exploitability=expl,
                         median_block_s=t["median_s"], times_s=t["times_s"], init_s=init_s,
                         first_iteration_s=first)
    rows.append(dict(section="cfr_plus", game=name, implementation="openspiel_JaxCFR_api", iterations=n,
                     median_s=t["median_s"], us_per_iter=us, iters_per_s=1e6 / us, compile_s=first,
                     exploitability=expl))

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
    print(f"  OpenSpiel JaxCFR (fused)   : {us_f:9.2f} us/it  {1e6 / us_f:12,.0f} it/s  "
          f"compile {r['compile_s']:.2f} s  expl {expl_f:.4e}")
    out["jaxcfr_fused"] = dict(us_per_iter=us_f, iters_per_s=1e6 / us_f, exploitability=expl_f,
                               median_s=r["median_s"], times_s=r["times_s"], compile_s=r["compile_s"],
                               aot_compile_s=r["aot_compile_s"])
    rows.append(dict(section="cfr_plus", game=name, implementation="openspiel_JaxCFR_fori_loop",
                     iterations=n, median_s=r["median_s"], us_per_iter=us_f, iters_per_s=1e6 / us_f,
                     compile_s=r["compile_s"], aot_compile_s=r["aot_compile_s"], exploitability=expl_f))


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
    # the jitted computation alone (no validation), and its AOT compile time
    raw = time_jitted(lambda: jax.jit(lambda g, p: g.exploitability(p)), game, policy, repeats=1)
    raw_fn = jax.jit(lambda g, p: g.exploitability(p))
    jax.block_until_ready(raw_fn(game, policy))

    def raw_block():
        for _ in range(k):
            jax.block_until_ready(raw_fn(game, policy))

    t_raw = time_blocks(raw_block, repeats)

    # C++
    t0 = time.perf_counter()
    theirs = float(pyspiel.exploitability(spiel, cpp_pol))
    cpp_first = time.perf_counter() - t0
    t_cpp = time_blocks(lambda: pyspiel.exploitability(spiel, cpp_pol), repeats)

    api_ms, raw_ms, cpp_ms = (1e3 * t_api["median_s"] / k, 1e3 * t_raw["median_s"] / k,
                              1e3 * t_cpp["median_s"])
    diff = abs(ours - theirs)
    print(f"  ours jaxgames.exploitability : {api_ms:8.3f} ms/call  (first call incl. compile "
          f"{first:.2f} s; AOT compile {raw['aot_compile_s']:.2f} s)  value {ours:.6f}")
    print(f"  ours jitted computation only : {raw_ms:8.3f} ms/call  (validation + host checks: "
          f"{api_ms - raw_ms:.3f} ms)")
    print(f"  OpenSpiel C++ exploitability : {cpp_ms:8.3f} ms/call  (first {1e3 * cpp_first:.1f} ms)  "
          f"value {theirs:.6f}")
    print(f"  policy conversion (once, not timed above): to_openspiel_policy {1e3 * to_tab_s:.1f} ms, "
          f"python_policy_to_pyspiel_policy {1e3 * to_cpp_s:.1f} ms")
    verdict = "ok" if diff <= EXPLOITABILITY_ATOL else "FAILED"
    print(f"  check: |ours - C++| = {diff:.2e} (<= {EXPLOITABILITY_ATOL}: {verdict})")
    if diff > EXPLOITABILITY_ATOL:
        raise AssertionError(f"exploitability: ours {ours:.8g} vs pyspiel {theirs:.8g} differ by {diff:.3g}")
    ratio = cpp_ms / api_ms
    print(f"  ours / C++: {ratio:.1f}x (API), {cpp_ms / raw_ms:.1f}x (jitted computation only)")
    summary["exploitability"] = {name: dict(
        ours_ms=api_ms, ours_raw_ms=raw_ms, cpp_ms=cpp_ms, ratio_cpp=ratio, ratio_cpp_raw=cpp_ms / raw_ms,
        ours_first_call_s=first, ours_aot_compile_s=raw["aot_compile_s"], ours_value=ours,
        cpp_value=theirs, abs_diff=diff, calls_per_block=k, ours_times_s=t_api["times_s"],
        ours_raw_times_s=t_raw["times_s"], cpp_times_s=t_cpp["times_s"], cpp_first_call_s=cpp_first,
        to_openspiel_policy_s=to_tab_s, to_pyspiel_policy_s=to_cpp_s)}
    rows.append(dict(section="exploitability", game=name, implementation="ours_api", median_s=api_ms / 1e3,
                     compile_s=first, aot_compile_s=raw["aot_compile_s"], exploitability=ours))
    rows.append(dict(section="exploitability", game=name, implementation="ours_jit_only", median_s=raw_ms / 1e3,
                     exploitability=ours))
    rows.append(dict(section="exploitability", game=name, implementation="openspiel_cpp",
                     median_s=cpp_ms / 1e3, exploitability=theirs))


# ----------------------------------------------------------------------------- (3) batched variants

def bench_variants(cfg, repeats, rows, summary):
    g_count, n = cfg["variants"], cfg["variant_iters"]
    bets = jnp.linspace(0.25, 4.0, g_count)
    print(f"\n(3) {g_count:,} Kuhn variants (bet sizes {float(bets[0])} .. {float(bets[-1])}), "
          f"CFR+ for {n} iterations, one jitted vmapped call")

    def make():
        return jax.jit(jax.vmap(lambda b: solvers.run(solvers.cfr_plus(), jaxgames.kuhn_poker(bet=b), n,
                                                      eval_every=n)[1].exploitability[-1]))

    r = time_jitted(make, bets, repeats=repeats)
    expl = np.asarray(r.pop("output"))
    # spot-check: the batched result equals a one-game run for a few variants
    # (up to float32 rounding, which vmapped code orders differently: same tolerance as in (1))
    spots, spots_ok = [], True
    for i in (0, g_count // 2, g_count - 1):
        _, tr = solvers.run(solvers.cfr_plus(), jaxgames.kuhn_poker(bet=bets[i]), n, eval_every=n)
        single = float(tr.exploitability[-1])
        spots.append(abs(single - float(expl[i])))
        spots_ok &= spots[-1] <= CFR_RTOL * single + CFR_ATOL
    worst = float(expl.max())
    if not (np.all(np.isfinite(expl)) and worst < cfg["variant_tol"] and spots_ok):
        raise AssertionError(f"variants: max exploitability {worst:.3g} (tolerance {cfg['variant_tol']}), "
                             f"batched vs single-game differences {spots}")
    rate = g_count * n / r["median_s"]
    single = summary["cfr_plus"]["kuhn_poker"]["ours"]["iters_per_s"]
    cpp = summary["cfr_plus"]["kuhn_poker"]["cpp"]["iters_per_s"]
    print(f"  one call: median {r['median_s']:.3f} s  compile {r['compile_s']:.2f} s "
          f"(AOT {r['aot_compile_s']:.2f} s)  {rate:,.0f} game-iter/s "
          f"= {rate / single:.1f}x our single-game rate, {rate / cpp:.1f}x the C++ solver's")
    print(f"  exploitability after {n} iterations: max {worst:.2e}, median {float(np.median(expl)):.2e}; "
          f"batched vs single-game runs of 3 variants: max diff {max(spots):.1e}")
    summary["variants"] = dict(games=g_count, iterations=n, median_s=r["median_s"], times_s=r["times_s"],
                               compile_s=r["compile_s"], aot_compile_s=r["aot_compile_s"],
                               game_iters_per_s=rate, ratio_single=rate / single, ratio_cpp=rate / cpp,
                               max_exploitability=worst, median_exploitability=float(np.median(expl)),
                               spot_check_max_diff=max(spots))
    rows.append(dict(section="variants", game=f"kuhn_poker x {g_count}", implementation="ours_vmap",
                     iterations=n, median_s=r["median_s"], us_per_iter=1e6 / rate, iters_per_s=rate,
                     compile_s=r["compile_s"], aot_compile_s=r["aot_compile_s"], exploitability=worst))


# ----------------------------------------------------------------------------- (4) analysis

def hlo_stats(text: str) -> dict:
    """Instruction counts of a compiled HLO module (after XLA's fusion and dead-code elimination)."""
    ops = collections.Counter(re.findall(r"^\s*(?:ROOT )?\S+ = \S+ ([a-z][a-z0-9\-]*)\(", text, re.M))
    entry = text[text.index("ENTRY"):] if "ENTRY" in text else ""
    entry_ops = collections.Counter(re.findall(r"^\s*(?:ROOT )?\S+ = \S+ ([a-z][a-z0-9\-]*)\(", entry, re.M))
    trivial = {"parameter", "constant", "bitcast", "get-tuple-element", "tuple"}
    return {"entry_kernels": sum(v for k, v in entry_ops.items() if k not in trivial),
            "entry_fusions": entry_ops.get("fusion", 0),
            "scatters": ops.get("scatter", 0), "gathers": ops.get("gather", 0),
            "instructions": sum(ops.values())}


def _tiny(policy, *arrays):
    """Fold outputs into the loop carry without changing it (keeps XLA from hoisting the work)."""
    s = sum(jnp.sum(a) for a in arrays)
    return tuple(p + 1e-30 * s for p in policy)


def gather_reach(game):
    """Prototype: the reach pass with gathers on contiguous depth levels (histories are breadth-first)."""
    t = game.tree
    if np.any(np.diff(t.depth) < 0):
        return None
    starts = np.searchsorted(t.depth, np.arange(t.max_depth + 2))
    n = t.num_players
    column = np.where(t.edge_actor == CHANCE, n, t.edge_actor)
    onehot = jnp.asarray(column[:, None] == np.arange(n + 1)[None, :])

    def reach(e):
        factor = jnp.where(onehot, e[:, None], 1.0)
        levels = [jnp.ones((1, n + 1), e.dtype)]
        for d in range(1, t.max_depth + 1):
            lo, hi = starts[d], starts[d + 1]
            levels.append(levels[-1][jnp.asarray(t.parent[lo:hi] - starts[d - 1])] * factor[lo:hi])
        return jnp.concatenate(levels)

    return reach


def sequence_form(game):
    """Prototype (not library code): CFR+ and exploitability on the sequence form of a 2-player game.

    Per player, sequences are ``1 + infoset * A + action`` (0: the empty sequence). The payoff
    matrix is kept sparse, one entry per terminal history (chance probability x payoff, at the
    pair of last own sequences). One CFR+ iteration, for each player in turn: the opponent's
    realization plan (top-down over the opponent's own decision depth), ONE sparse mat-vec
    ``u = A_i x_-i`` (a gather and a sorted segment-sum over the terminals), counterfactual values
    bottom-up over the player's own depth (4 levels in Leduc instead of 11 history levels),
    regret matching+, and the linear average accumulated as own-reach-weighted policy sums (no
    reach pass of the average). A best response is the same bottom-up pass with a max instead of
    the policy's expectation, so exploitability is one mat-vec and one pass per player.
    Returns ``(init, step, output, exploitability)``, or ``None`` for other games.
    """
    t = game.tree
    if t.num_players != 2:
        return None
    A, H = t.max_actions, t.num_histories
    last = np.zeros((H, 2), np.int64)        # last own sequence of each player on the path to h
    creach = np.ones(H)                      # chance reach of h
    for h in range(1, H):                    # breadth-first: parents come first
        p = t.parent[h]
        last[h], creach[h] = last[p], creach[p]
        if t.edge_actor[h] >= 0:
            last[h, t.edge_actor[h]] = 1 + t.edge_infoset[h] * A + t.edge_action[h]
        elif t.edge_actor[h] == CHANCE:
            creach[h] *= t.chance_prob[h]
    terminals = np.nonzero(t.is_terminal)[0]
    info = []
    for i in range(2):
        n_inf = t.num_infosets[i]
        pseq = np.zeros(n_inf, np.int64)     # the sequence leading to each infoset
        pseq[t.decision_infosets[i]] = last[t.decision_nodes[i], i]
        depth = np.zeros(n_inf, np.int64)
        for k in range(n_inf):
            s = pseq[k]
            while s:
                depth[k] += 1
                s = pseq[(s - 1) // A]
        order = np.argsort(last[terminals, i], kind="stable")
        z = terminals[order]
        info.append(dict(n=n_inf, S=1 + n_inf * A, pseq=jnp.asarray(pseq), levels=int(depth.max()) + 1,
                         at=[jnp.asarray(depth == k) for k in range(int(depth.max()) + 2)],
                         own=jnp.asarray(last[z, i]), opp=jnp.asarray(last[z, 1 - i]),
                         coef=jnp.asarray(creach[z]), z=jnp.asarray(z)))
    masks = [jnp.asarray(m) for m in t.legal]

    def plan(i, pi):
        """Realization plan ``[1 + n_I * A]`` (entry 0: the empty sequence, 1)."""
        p, x = info[i], jnp.ones_like(pi)
        for k in range(p["levels"]):
            flat = jnp.concatenate([jnp.ones((1,), pi.dtype), x.reshape(-1)])
            x = jnp.where(p["at"][k][:, None], flat[p["pseq"]][:, None] * pi, x)
        return jnp.concatenate([jnp.ones((1,), pi.dtype), x.reshape(-1)])

    def matvec(i, x_opp, payoffs):
        """``A_i x_-i`` over player i's sequences: the one sparse payoff product."""
        p = info[i]
        w = p["coef"].astype(x_opp.dtype) * payoffs[p["z"], i] * x_opp[p["opp"]]
        return jax.ops.segment_sum(w, p["own"], num_segments=p["S"], indices_are_sorted=True)

    def bottom_up(i, u, value_of):
        """Counterfactual action values ``[n_I, A]`` and the root value, from the leaves up."""
        p = info[i]
        grid = u[1:].reshape(p["n"], A)
        q = grid
        for k in range(p["levels"] - 1, -1, -1):
            below = jax.ops.segment_sum(jnp.where(p["at"][k + 1], value_of(q), 0.0), p["pseq"],
                                        num_segments=p["S"])
            q = jnp.where(p["at"][k][:, None], grid + below[1:].reshape(p["n"], A), q)
        return q, u[0] + jnp.sum(jnp.where(p["at"][0], value_of(q), 0.0))

    def init():
        u = game.uniform_policy()
        zeros = tuple(jnp.zeros_like(x) for x in u)
        return u, zeros, zeros, jnp.zeros((), jnp.int32)

    def step(state):
        policy, regrets, sums, it = (list(x) if isinstance(x, tuple) else x for x in state)
        w = (it + 1).astype(policy[0].dtype)
        for i in range(2):
            pi = policy[i]
            q, _ = bottom_up(i, matvec(i, plan(1 - i, policy[1 - i]), game.payoffs),
                             lambda q, pi=pi: jnp.sum(pi * q, -1))
            v = jnp.sum(pi * q, -1, keepdims=True)
            sums[i] = sums[i] + w * plan(i, pi)[info[i]["pseq"]][:, None] * pi
            regrets[i] = jnp.maximum(regrets[i] + q - v, 0.0) * masks[i]
            total = regrets[i].sum(-1, keepdims=True)
            policy[i] = jnp.where(total > 0, regrets[i] / jnp.where(total > 0, total, 1.0),
                                  masks[i] / masks[i].sum(-1, keepdims=True))
        return tuple(policy), tuple(regrets), tuple(sums), it + 1

    def output(state):
        out = []
        for s, m in zip(state[2], masks):
            total = s.sum(-1, keepdims=True)
            out.append(jnp.where(total > 0, s / jnp.where(total > 0, total, 1.0), m / m.sum(-1, keepdims=True)))
        return tuple(out)

    def exploitability(policy):
        x = [plan(0, policy[0]), plan(1, policy[1])]
        gains = 0.0
        for i in range(2):
            u = matvec(i, x[1 - i], game.payoffs)
            _, best = bottom_up(i, u, lambda q, m=masks[i]: jnp.max(jnp.where(m, q, -jnp.inf), -1))
            gains = gains + best - jnp.dot(u, x[i])
        return gains / 2

    return init, step, output, exploitability


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
    print(f"\n(4) analysis, {name}: {t.num_histories:,} histories in {t.max_depth} levels below the root "
          f"({int(t.is_terminal.sum()):,} terminal), infosets {t.num_infosets}; us per call inside a "
          f"fori_loop of {K}")
    res = {"histories": int(t.num_histories), "levels": int(t.max_depth),
           "terminals": int(t.is_terminal.sum()), "infosets": list(t.num_infosets)}

    def evaluate_all(p):
        ev = game.evaluate(p)
        return _tiny(p, ev.values, *ev.action_values, *ev.reach, *ev.opponent_reach)

    def evaluate_one(p):   # what one alternating half-step uses: player 0's q and opponent reach
        ev = game.evaluate(p)
        return _tiny(p, ev.action_values[0], ev.opponent_reach[0])

    res["step_us"] = loop_us(lambda s: solver.step(game, s), state, K, repeats)
    res["evaluate_us"] = loop_us(evaluate_all, policy, K, repeats)
    res["evaluate_one_player_us"] = loop_us(evaluate_one, policy, K, repeats)
    res["mix_policies_us"] = loop_us(lambda p: game.mix_policies(p, policy, 0.3), policy, K, repeats)
    res["reach_us"] = loop_us(lambda p: _tiny(p, *game.reach(p)), policy, K, repeats)
    random_pol = solvers.core.random_policy(game, jax.random.PRNGKey(seed))
    res["exploitability_us"] = loop_us(lambda p: _tiny(p, game.exploitability(p)), random_pol, K, repeats)
    res["best_response_rounds"] = [int(h) + 1 for h in t.own_heights]
    private = {}
    try:  # the passes of jaxgames/efg/game.py (private methods; skipped if they change)
        e = game._edge_probs(policy)
        r, v = game._reach(e), game._values(e)
        private["edge_probs_us"] = loop_us(lambda p: _tiny(p, game._edge_probs(p)), policy, K, repeats)
        private["reach_pass_us"] = loop_us(lambda e: e + 1e-30 * jnp.sum(game._reach(e), 1), e, K, repeats)
        private["values_pass_us"] = loop_us(lambda e: e + 1e-30 * jnp.sum(game._values(e), 1), e, K, repeats)
        # with one column used, XLA drops the others: the cost follows the scattered elements
        private["reach_pass_one_column_us"] = loop_us(lambda e: e + 1e-30 * game._reach(e)[:, 0], e, K, repeats)
        private["values_pass_one_column_us"] = loop_us(lambda e: e + 1e-30 * game._values(e)[:, 0], e, K,
                                                       repeats)
        private["counterfactual_us"] = loop_us(
            lambda v: v + 1e-30 * sum(jnp.sum(x) for x in game._counterfactual(0, v, game._others(r, 0))),
            v, K, repeats)
        private["own_reach_us"] = loop_us(lambda r: r + 1e-30 * jnp.sum(game._own_reach(r, 0)), r, K, repeats)
        proto = gather_reach(game)
        if proto is not None:
            np.testing.assert_allclose(np.asarray(proto(e)), np.asarray(r), rtol=1e-5, atol=1e-7)
            private["reach_pass_gather_prototype_us"] = loop_us(
                lambda e: e + 1e-30 * jnp.sum(proto(e), 1), e, K, repeats)
    except Exception as err:  # noqa: BLE001
        private["error"] = f"{type(err).__name__}: {err}"
    res.update(private)
    res["step_hlo"] = hlo_stats(jax.jit(lambda s: solver.step(game, s)).lower(state).compile().as_text())
    res["evaluate_hlo"] = hlo_stats(jax.jit(lambda p: game.evaluate(p)).lower(policy).compile().as_text())
    res["exploitability_hlo"] = hlo_stats(
        jax.jit(lambda p: game.exploitability(p)).lower(policy).compile().as_text())
    res["us_per_kernel"] = res["step_us"] / max(res["step_hlo"]["entry_kernels"], 1)

    seq = sequence_form(game)
    if seq is not None:
        init, step, output, seq_expl = seq
        s0 = init()
        # the same iterates as the library's CFR+ (policies after a few iterations)
        few = 5
        ours = jax.jit(lambda g: solvers.run(solver, g, few, eval_every=few)[0].policy)(game)
        proto = jax.jit(lambda s: jax.lax.fori_loop(0, few, lambda _, s: step(s), s))(s0)[0]
        diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(ours, proto))
        res["seqform_policy_diff_after_5"] = diff
        if diff > 1e-4:
            raise AssertionError(f"sequence-form prototype differs from the library's CFR+: {diff}")
        n = summary["cfr_plus"][name]["iterations"]
        f = jax.jit(lambda s: jax.lax.fori_loop(0, n, lambda _, s: step(s), s))
        jax.block_until_ready(f(s0))
        tb = time_blocks(lambda: jax.block_until_ready(f(s0)), repeats)
        res["seqform_step_us"] = 1e6 * tb["median_s"] / n
        res["seqform_cfr_exploitability"] = float(jaxgames.exploitability(game, output(f(s0))))
        res["seqform_hlo"] = hlo_stats(jax.jit(step).lower(s0).compile().as_text())
        # the same exploitability as the library's, in one mat-vec + one pass per player
        lib_value = float(jaxgames.exploitability(game, random_pol))
        fe = jax.jit(seq_expl)
        seq_value = float(fe(random_pol))
        res["seqform_exploitability_diff"] = abs(seq_value - lib_value)
        if abs(seq_value - lib_value) > EXPLOITABILITY_ATOL:
            raise AssertionError(f"sequence-form exploitability {seq_value} != library {lib_value}")
        res["seqform_exploitability_us"] = loop_us(lambda p: _tiny(p, seq_expl(p)), random_pol, K, repeats)
        calls = 20
        tc = time_blocks(lambda: [jax.block_until_ready(fe(random_pol)) for _ in range(calls)], repeats)
        res["seqform_exploitability_call_us"] = 1e6 * tc["median_s"] / calls

    s, h, x = res["step_hlo"], res["evaluate_hlo"], res["exploitability_hlo"]
    print(f"  CFR+ step {res['step_us']:.2f} us = 2 x evaluate-for-one-player ({res['evaluate_one_player_us']:.2f}) "
          f"+ mix_policies for the average ({res['mix_policies_us']:.2f}) + regret matching; "
          f"full evaluate {res['evaluate_us']:.2f}, reach(policy) {res['reach_us']:.2f}")
    if "reach_pass_us" in res:
        print(f"  passes: edge probabilities {res['edge_probs_us']:.2f}, reach (scatter per level) "
              f"{res['reach_pass_us']:.2f} ({res['reach_pass_one_column_us']:.2f} for one of its "
              f"{game.num_players + 1} columns), values (scatter-add per level) {res['values_pass_us']:.2f} "
              f"({res['values_pass_one_column_us']:.2f} for one of {game.num_players}), "
              f"counterfactual values of one player (segment sums) {res['counterfactual_us']:.2f}, "
              f"own reach (segment max) {res['own_reach_us']:.2f}"
              + (f"; reach with gathers on contiguous levels (prototype) "
                 f"{res['reach_pass_gather_prototype_us']:.2f}" if "reach_pass_gather_prototype_us" in res else ""))
    print(f"  compiled step: {s['entry_kernels']} kernels ({s['entry_fusions']} fusions), {s['scatters']} scatters, "
          f"{s['gathers']} gathers, {s['instructions']} HLO instructions -> {res['us_per_kernel']:.3f} us per kernel; "
          f"evaluate alone: {h['entry_kernels']} kernels, {h['scatters']} scatters")
    print(f"  exploitability {res['exploitability_us']:.2f} us in the loop ({x['entry_kernels']} kernels, "
          f"{x['scatters']} scatters; best responses iterate {res['best_response_rounds']} full value passes)")
    if "seqform_step_us" in res:
        q = res["seqform_hlo"]
        print(f"  sequence-form prototype: CFR+ {res['seqform_step_us']:.2f} us/it "
              f"({res['step_us'] / res['seqform_step_us']:.1f}x faster than the library's step; "
              f"{q['entry_kernels']} kernels, {q['scatters']} scatters); same iterates (max policy diff "
              f"{res['seqform_policy_diff_after_5']:.1e} after 5 iterations); exploitability after "
              f"{summary['cfr_plus'][name]['iterations']} iterations {res['seqform_cfr_exploitability']:.4e}")
        print(f"  sequence-form prototype: exploitability {res['seqform_exploitability_us']:.2f} us in the loop, "
              f"{res['seqform_exploitability_call_us']:.2f} us per jitted call "
              f"(library: {res['exploitability_us']:.2f} us in the loop); same value "
              f"(diff {res['seqform_exploitability_diff']:.1e})")
    summary.setdefault("analysis", {})[name] = res


def analyse_variants(cfg, repeats, summary):
    """(3) again with the sequence-form prototype: the same batch of Kuhn variants, one vmapped call."""
    g_count, n = cfg["variants"], cfg["variant_iters"]
    bets = jnp.linspace(0.25, 4.0, g_count)

    def solve(b):
        init, step, output, expl = sequence_form(jaxgames.kuhn_poker(bet=b))
        return expl(output(jax.lax.fori_loop(0, n, lambda _, s: step(s), init())))

    r = time_jitted(lambda: jax.jit(jax.vmap(solve)), bets, repeats=repeats)
    worst = float(np.max(np.asarray(r.pop("output"))))
    rate = g_count * n / r["median_s"]
    ours = summary["variants"]["game_iters_per_s"]
    print(f"\n(4) analysis, {g_count:,} Kuhn variants with the sequence-form prototype: {rate:,.0f} game-iter/s "
          f"({rate / ours:.1f}x the library's batched rate; compile {r['compile_s']:.2f} s); max exploitability "
          f"{worst:.2e} (library: {summary['variants']['max_exploitability']:.2e})")
    summary.setdefault("analysis", {})["variants_seqform"] = dict(
        game_iters_per_s=rate, median_s=r["median_s"], times_s=r["times_s"], compile_s=r["compile_s"],
        ratio_library=rate / ours, max_exploitability=worst)


# ----------------------------------------------------------------------------- report

def _met(ratio, target):
    return "yes" if ratio >= target else "**NO**"


def print_table(summary):
    c = summary["cfr_plus"]
    print("\n| benchmark | ours | OpenSpiel C++ | ours / C++ | OpenSpiel JaxCFR (API / fused loop) "
          "| ours / JaxCFR (API / fused) | target | met? |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for name in ("kuhn_poker", "leduc_poker"):
        if name not in c:
            continue
        o = c[name]
        jc = o.get("jaxcfr", {})
        jtxt = (f"{jc['us_per_iter']:,.1f} / {o['jaxcfr_fused']['us_per_iter']:,.1f} us" if "us_per_iter" in jc
                else "n/a")
        rtxt = (f"{o['ratio_jaxcfr']:.1f}x / {o['ratio_jaxcfr_fused']:.2f}x" if "ratio_jaxcfr" in o else "n/a")
        tc = TARGETS.get(("cfr_plus", name, "cpp"))
        tj = TARGETS.get(("cfr_plus", name, "jaxcfr"))
        target = f">= {tc:.0f}x C++" + (f", >= {tj:.0f}x JaxCFR" if tj else "")
        met = _met(o["ratio_cpp"], tc) + ((", " + _met(o["ratio_jaxcfr"], tj) + " (API) / "
                                           + _met(o["ratio_jaxcfr_fused"], tj) + " (fused)")
                                          if tj and "ratio_jaxcfr" in o else "")
        print(f"| CFR+ {name}, {o['iterations']} it | {o['ours']['us_per_iter']:,.2f} us/it "
              f"({o['ours']['iters_per_s']:,.0f} it/s) | {o['cpp']['us_per_iter']:,.1f} us/it "
              f"| {o['ratio_cpp']:.1f}x | {jtxt} | {rtxt} | {target} | {met} |")
    if "exploitability" in summary:
        e = summary["exploitability"]["leduc_poker"]
        t = TARGETS[("exploitability", "leduc_poker", "cpp")]
        print(f"| exploitability, Leduc, 1 policy | {e['ours_ms']:.3f} ms (jit only {e['ours_raw_ms']:.3f}) "
              f"| {e['cpp_ms']:.2f} ms | {e['ratio_cpp']:.1f}x ({e['ratio_cpp_raw']:.1f}x) | - | - "
              f"| >= {t:.0f}x | {_met(e['ratio_cpp'], t)} |")
    if "variants" in summary:
        v = summary["variants"]
        print(f"| {v['games']:,} Kuhn variants, CFR+ {v['iterations']} it, 1 call "
              f"| {v['game_iters_per_s']:,.0f} game-it/s | - | {v['ratio_cpp']:.1f}x "
              f"| - | - | - ({v['ratio_single']:.1f}x our single game) | - |")
    print(f"| {PENDING} | | | | | | | |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke testing")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random policy in (2)")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to SECONDS until other processes leave the CPU idle")
    parser.add_argument("--no-analysis", action="store_true", help="skip (4)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    cfg = QUICK if args.quick else FULL
    idle = wait_for_idle(args.wait_idle) if args.wait_idle > 0 else None
    start = time.perf_counter()
    busy0, own0 = busy_cpu_seconds(), own_cpu_seconds()
    info = machine_info()
    info["wait_for_idle"] = idle
    print(f"machine: {info['cpu_model']}, {info['cpu_count']} CPUs; jax {info['jax']} on {info['jax_devices']}; "
          f"open_spiel {info['open_spiel']}; numpy {info['numpy']}; git {info['git_commit'][:9]}"
          + (f" (uncommitted changes in {len(info['git_dirty_paths'])} library paths)"
             if info["git_dirty_paths"] else ""))
    if info["loadavg_at_start"][0] > 0.5:
        print(f"WARNING: 1-minute load average is {info['loadavg_at_start'][0]:.2f}; other processes "
              "compete for the CPU and timings will be pessimistic", file=sys.stderr)

    rows, summary = [], {}
    games = {"kuhn_poker": jaxgames.kuhn_poker(), "leduc_poker": jaxgames.leduc_poker()}
    for name, game in games.items():
        bench_cfr_plus(name, game, cfg, args.repeats, rows, summary)
    bench_exploitability(games["leduc_poker"], cfg, args.repeats, args.seed, rows, summary)
    bench_variants(cfg, args.repeats, rows, summary)
    print(f"\n{PENDING}")
    if not args.no_analysis:
        for name, game in games.items():
            analyse(name, game, cfg, args.repeats, args.seed, summary)
        analyse_variants(cfg, args.repeats, summary)
    print_table(summary)

    info["loadavg_at_end"] = list(os.getloadavg())
    info["wall_s"] = time.perf_counter() - start
    busy1 = busy_cpu_seconds()
    if busy0 is not None and busy1 is not None:
        foreign = max(busy1[0] - busy0[0] - (own_cpu_seconds() - own0), 0.0)
        info["other_processes_cpu_s"] = foreign
        info["other_processes_cores"] = foreign / info["wall_s"]
        info["steal_cpu_s"] = busy1[1] - busy0[1]
        print(f"\nother processes used {foreign:.1f} CPU-s during the run "
              f"({info['other_processes_cores']:.2f} cores on average); hypervisor steal "
              f"{info['steal_cpu_s']:.1f} CPU-s")
        if info["other_processes_cores"] > 0.05:
            print("WARNING: other processes competed for the CPU during this run; timings are "
                  "pessimistic. Re-run on an idle machine for publishable numbers.", file=sys.stderr)
    command = "python benchmarks/bench_efg.py" + (" --quick" if args.quick else "") + \
        (f" --repeats {args.repeats}" if args.repeats != 5 else "") + \
        (f" --seed {args.seed}" if args.seed else "") + \
        (f" --wait-idle {args.wait_idle:g}" if args.wait_idle else "") + \
        (" --no-analysis" if args.no_analysis else "")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = "bench_efg_quick" if args.quick else "bench_efg"
    payload = {"command": command, "mode": "quick" if args.quick else "full", "repeats": args.repeats,
               "config": cfg, "targets": {"/".join(k): v for k, v in TARGETS.items()}, "pending": PENDING,
               "machine": info, "summary": summary, "rows": rows}
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(payload, indent=2, default=float) + "\n")
    fields = ["section", "game", "implementation", "iterations", "median_s", "us_per_iter", "iters_per_s",
              "compile_s", "aot_compile_s", "exploitability"]
    with open(RESULTS_DIR / f"{stem}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in fields})
    print(f"\nwrote {RESULTS_DIR / (stem + '.json')} and .csv; total wall time {info['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
