"""Mean-field solvers per iteration: ours vs mfglib (PyTorch), on the beach bar at equal sizes.

mfglib pulls PyTorch (several GB), so it is NOT a dependency: it runs in its own virtual environment,
in a subprocess. Set-up (once)::

    python -m venv /tmp/mfgenv && /tmp/mfgenv/bin/pip install mfglib

Then, from the repository root, on an otherwise idle machine::

    python benchmarks/bench_mfglib.py --mfglib-python /tmp/mfgenv/bin/python            # full run
    python benchmarks/bench_mfglib.py --mfglib-python /tmp/mfgenv/bin/python --quick    # smoke test
    python benchmarks/bench_mfglib.py --quick     # ours only: no mfglib interpreter, the peer is skipped

Timing only: both solve a beach-bar process on a ring of ``n`` positions over ``T`` steps
(``jaxgames.mean_field.beach_bar(size=n, horizon=T)``; mfglib's ``Environment.beach_bar(T, n)``),
but the two papers' reward and noise details differ, so exploitabilities are not compared. Time per
iteration = total / iterations. mfglib: ``solve(env, max_iter=K, atol=None, rtol=None)`` (which also
computes its exploitability every iteration, as its API always does), a warm-up solve, then
``--repeats`` timed solves in the subprocess, median. Ours: ``solvers.run(solver, game, K,
eval_every=1)`` (the exploitability every iteration too, for a like-for-like count), jitted, timed
by ``_common.time_jitted`` (compile apart: first call - median, and an AOT ``lower().compile()``).

Check: our exploitabilities are finite and non-negative, and fictitious play's after ``K`` iterations
is below its first (mirror descent at step size 1 oscillates on the beach bar for hundreds of
iterations, so it is not required to decrease), or the script refuses to report. Without a usable
``--mfglib-python`` (not given, not found, or mfglib not importable in it) the script says so, runs
our side and records why the peer is missing.
Results go to ``benchmarks/results/bench_mfglib{,_quick}.{json,csv}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np

import solvers
from jaxgames.mean_field import beach_bar

from _common import standard_parser, start_run, time_jitted, write_results

FULL = dict(sizes=[[10, 10], [40, 20]], iterations=50)
QUICK = dict(sizes=[[10, 10]], iterations=10)
SOLVERS = {
    "fictitious_play": lambda: solvers.fictitious_play(alternating=False),
    "mirror_descent": lambda: solvers.mirror_descent(1.0, output="last", alternating=False),
}

# Runs in mfglib's interpreter; reads its configuration (JSON) from stdin, prints one JSON line.
MFGLIB = r"""
import json, sys, time
from importlib.metadata import version
from mfglib.env import Environment
from mfglib.alg import FictitiousPlay, OnlineMirrorDescent
def v(name):
    try:
        return version(name)
    except Exception:
        return None
cfg = json.load(sys.stdin)
K, repeats = cfg["iterations"], cfg["repeats"]
out = {"mfglib": v("mfglib"), "torch": v("torch"), "results": []}
for n, T in cfg["sizes"]:
    env = Environment.beach_bar(T=T, n=n)
    for name, alg in (("fictitious_play", FictitiousPlay()), ("mirror_descent", OnlineMirrorDescent(alpha=1.0))):
        alg.solve(env, max_iter=2, atol=None, rtol=None)  # warm-up
        times, res = [], None
        for _ in range(repeats):
            t = time.perf_counter()
            res = alg.solve(env, max_iter=K, atol=None, rtol=None)
            times.append(time.perf_counter() - t)
        try:
            expl = float(res[1][-1])  # solve returns (policies, exploitabilities, runtimes)
        except Exception:
            expl = None
        out["results"].append({"n": n, "T": T, "solver": name, "times_s": times, "exploitability": expl})
print(json.dumps(out))
"""


def run_mfglib(python: str | None, cfg: dict, repeats: int) -> dict:
    """mfglib's timings from its interpreter ``python``: ``{"available": True, ...}``, or why not."""
    setup = "python -m venv /tmp/mfgenv && /tmp/mfgenv/bin/pip install mfglib"
    if not python:
        reason = f"no --mfglib-python given (set-up: {setup})"
    elif not (os.path.isfile(python) and os.access(python, os.X_OK)):
        reason = f"--mfglib-python {python}: no such executable (set-up: {setup})"
    else:
        print(f"mfglib in {python}: {len(cfg['sizes'])} size(s) x 2 solvers x {repeats} solves ...", flush=True)
        request = json.dumps(dict(sizes=cfg["sizes"], iterations=cfg["iterations"], repeats=repeats))
        done = subprocess.run([python, "-c", MFGLIB], input=request, capture_output=True, text=True)
        if done.returncode == 0:
            return dict(available=True, python=python, **json.loads(done.stdout.strip().splitlines()[-1]))
        reason = f"the mfglib subprocess ({python}) failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    print(f"WARNING: mfglib not run: {reason}; timing ours only", file=sys.stderr, flush=True)
    return dict(available=False, python=python, reason=reason)


def bench_ours(n: int, T: int, K: int, repeats: int) -> dict:
    """Per solver: our time per iteration on ``beach_bar(size=n, horizon=T)``, compile times, exploitability."""
    game = beach_bar(size=n, horizon=T)
    out = {}
    for name, make in SOLVERS.items():
        solver = make()
        r = time_jitted(
            lambda solver=solver: jax.jit(lambda g: solvers.run(solver, g, K, eval_every=1)[1].exploitability),
            game,
            repeats=repeats,
        )
        expl = np.asarray(r.pop("output"))
        ok = np.all(np.isfinite(expl)) and expl.min() > -1e-4
        if name == "fictitious_play":  # converges on the beach bar; mirror descent at step size 1 oscillates
            ok = ok and expl[-1] < expl[0]
        if not ok:
            raise AssertionError(
                f"{name} on beach_bar(size={n}, horizon={T}): exploitability {expl[0]:.4g} -> {expl[-1]:.4g} after "
                f"{K} iterations (min {np.nanmin(expl):.4g}, finite: {bool(np.all(np.isfinite(expl)))}); refusing "
                "to report the speed of a solver that does not compute"
            )
        out[name] = dict(r, us_per_iter=1e6 * r["median_s"] / K, exploitability=float(expl[-1]))
    return out


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument(
        "--mfglib-python", default=None, metavar="PATH", help="an interpreter with mfglib (without: ours only)"
    )
    parser.add_argument("--sizes", default=None, help="comma-separated n x T (default 10x10,40x20; --quick 10x10)")
    parser.add_argument("--iterations", type=int, default=None, help="iterations per solve (default 50; --quick 10)")
    args, info, cpu = start_run(parser, argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.sizes:
        try:
            cfg["sizes"] = [[int(v) for v in s.split("x")] for s in args.sizes.split(",")]
        except ValueError:
            parser.error(f"--sizes: expected comma-separated n x T such as 10x10,40x20, got {args.sizes!r}")
        if any(len(s) != 2 for s in cfg["sizes"]):
            parser.error(f"--sizes: expected comma-separated n x T such as 10x10,40x20, got {args.sizes!r}")
    if args.iterations:
        cfg["iterations"] = args.iterations
    K = cfg["iterations"]

    peer = run_mfglib(args.mfglib_python, cfg, args.repeats)
    theirs = {(r["n"], r["T"], r["solver"]): r for r in peer.get("results", [])}
    rows = []
    for n, T in cfg["sizes"]:
        mine = bench_ours(n, T, K, args.repeats)
        for name, r in mine.items():
            them = theirs.get((n, T, name))
            them_us = 1e6 * float(np.median(them["times_s"])) / K if them else None
            row = dict(
                n=n,
                T=T,
                solver=name,
                iterations=K,
                ours_us_per_iter=r["us_per_iter"],
                ours_times_s=r["times_s"],
                compile_s=r["compile_s"],
                aot_compile_s=r["aot_compile_s"],
                ours_exploitability=r["exploitability"],
                mfglib_us_per_iter=them_us,
                mfglib_times_s=them["times_s"] if them else None,
                mfglib_exploitability=them["exploitability"] if them else None,
                ratio=them_us / r["us_per_iter"] if them else None,
            )
            rows.append(row)
            print(
                f"n={n:3d} T={T:3d} {name:16s} ours {r['us_per_iter']:9.1f} us/it (compile {r['compile_s']:.2f} s, "
                f"AOT {r['aot_compile_s']:.2f} s)  "
                + (f"mfglib {them_us:10.1f} us/it  ratio {row['ratio']:8.1f}x" if them else "mfglib not run"),
                flush=True,
            )
    cpu.finish(info)
    command = args.command_line
    stem = "bench_mfglib_quick" if args.quick else "bench_mfglib"
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": cfg,
        "machine": info,
        "summary": {"mfglib": {k: v for k, v in peer.items() if k != "results"}},
        "rows": rows,
    }
    fields = [
        "n",
        "T",
        "solver",
        "iterations",
        "ours_us_per_iter",
        "compile_s",
        "aot_compile_s",
        "ours_exploitability",
        "mfglib_us_per_iter",
        "mfglib_exploitability",
        "ratio",
    ]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
