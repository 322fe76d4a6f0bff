"""Mean-field solvers per iteration: ours vs mfglib (PyTorch), on the beach bar at equal sizes.

mfglib pulls PyTorch (several GB), so it is NOT a dependency: this script runs in two interpreters.
Set-up (once): ``python -m venv /tmp/mfgenv && /tmp/mfgenv/bin/pip install mfglib``; then, from the
repository root: ``python benchmarks/bench_mfglib.py --mfglib-python /tmp/mfgenv/bin/python``.

Timing only: both solve a beach-bar process on a ring of ``n`` positions over ``T`` steps
(``jaxgames.mean_field.beach_bar(size=n, horizon=T)``; mfglib's ``Environment.beach_bar(T, n)``),
but the two papers' reward and noise details differ, so exploitabilities are not compared. Per
iteration time = total / iterations (mfglib: its ``solve(max_iter=K, atol=None, rtol=None)``, which
also computes its exploitability every iteration, as its API always does; ours: ``solvers.run`` with
the exploitability every iteration too, for a like-for-like count). Medians of 3; compile apart.
"""

import argparse
import json
import subprocess
import sys
import time

import jax

import solvers
from jaxgames.mean_field import beach_bar

MFGLIB = r"""
import json, sys, time
from mfglib.env import Environment
from mfglib.alg import FictitiousPlay, OnlineMirrorDescent
n, T, K = map(int, sys.argv[1:4])
env = Environment.beach_bar(T=T, n=n)
out = {}
for name, alg in (("fictitious_play", FictitiousPlay()), ("mirror_descent", OnlineMirrorDescent(alpha=1.0))):
    alg.solve(env, max_iter=2, atol=None, rtol=None)  # warm-up
    ts = []
    for _ in range(3):
        t = time.perf_counter(); alg.solve(env, max_iter=K, atol=None, rtol=None); ts.append(time.perf_counter() - t)
    out[name] = sorted(ts)[1] / K
print(json.dumps(out))
"""


def ours(n, T, K):
    game = beach_bar(size=n, horizon=T)
    out = {}
    for name, solver in (
        ("fictitious_play", solvers.fictitious_play(alternating=False)),
        ("mirror_descent", solvers.mirror_descent(1.0, output="last", alternating=False)),
    ):
        f = jax.jit(lambda g, solver=solver: solvers.run(solver, g, K, eval_every=1)[1].exploitability)
        t = time.perf_counter()
        jax.block_until_ready(f(game))
        compile_s = time.perf_counter() - t
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            jax.block_until_ready(f(game))
            ts.append(time.perf_counter() - t)
        out[name] = (sorted(ts)[1] / K, compile_s)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mfglib-python", required=True, help="an interpreter with mfglib installed")
    parser.add_argument("--sizes", default="10x10,40x20", help="comma-separated n x T")
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args()
    rows = []
    for size in args.sizes.split(","):
        n, T = map(int, size.split("x"))
        theirs = json.loads(
            subprocess.run(
                [args.mfglib_python, "-c", MFGLIB, str(n), str(T), str(args.iterations)],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        mine = ours(n, T, args.iterations)
        for name in ("fictitious_play", "mirror_descent"):
            us, them = mine[name][0] * 1e6, theirs[name] * 1e6
            rows.append(
                dict(n=n, T=T, solver=name, ours_us=us, mfglib_us=them, ratio=them / us, compile_s=mine[name][1])
            )
            print(
                f"n={n:3d} T={T:3d} {name:16s} ours {us:9.1f} us/it (compile {mine[name][1]:.2f} s)  "
                f"mfglib {them:10.1f} us/it  ratio {them / us:7.0f}x",
                flush=True,
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    sys.exit(main())
