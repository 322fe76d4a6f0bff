"""The logit QRE path of a 64-state Markov game against sgamesolver's QRE homotopy (separate interpreter).

sgamesolver (Eibelshäuser & Poensgen) needs NumPy < 2 and builds Cython extensions, so it is NOT a
dependency: it runs in its own virtual environment, in a subprocess. Set-up (once)::

    python -m venv /tmp/sgvenv
    /tmp/sgvenv/bin/pip install "numpy<2" cython setuptools wheel
    /tmp/sgvenv/bin/pip install --no-build-isolation sgamesolver
    /tmp/sgvenv/bin/pip install "numpy<2" "scipy<1.14" "pandas<2.3" "matplotlib<3.10"

(a plain ``pip install "numpy<2" sgamesolver`` fails: its ``setup.py`` imports NumPy in pip's isolated
build environment; the last line puts back the NumPy 1.26 its extensions were built against, which
pip's resolver upgrades to 2.x with the newest SciPy, pandas and Matplotlib). Then, from the
repository root, on an otherwise idle machine::

    python benchmarks/bench_qre_markov.py --sgamesolver-python /tmp/sgvenv/bin/python
    python benchmarks/bench_qre_markov.py --sgamesolver-python ... --quick     # 16 states, a smoke test
    python benchmarks/bench_qre_markov.py --sgamesolver-python ... --make-fixture  # tests/data fixture
    python benchmarks/bench_qre_markov.py --sgamesolver-python ... --save-game /tmp/game64.npz
    python benchmarks/bench_qre_markov.py --game /tmp/game64.npz   # ours alone: no peer, no cross-check

The game is sgamesolver's README example, ``SGame.random_game(64, 2, 4, seed=42)`` (payoffs uniform
on [0, 1], dense random transitions, discount 0.95); the subprocess writes its arrays, which become
``jaxgames.markov.MarkovGame(transitions, rewards, 0.95, uniform initial)``. Float64.

(1) Ours: ``jaxgames.markov.qre.qre_path(game)`` (the Markov logit QRE, sgamesolver's equation; the
    structured continuation and its end game), ``jax.jit``, median of ``--repeats`` calls after a
    first, compiling one (compile reported apart, and an AOT ``lower().compile()``); the same with
    ``regularized=True`` (Cen et al.'s entropy-regularized game). Peer: ``QRE(game)``,
    ``solver_setup()`` and ``solve()`` (its defaults), timed in the subprocess, median of
    ``--peer-repeats``. Speed-up: its time over ours; the target is ours < 0.1 s.
(2) Cross-check: sgamesolver's final point solves our fixed point at its final lambda (the residual),
    our path point at that lambda equals it, and our limit (``nash``) is the Markov perfect
    equilibrium it approaches (distance O(1 / lambda)); ``nash_conv`` of both by
    ``MarkovGame.nash_conv``.
(3) Where the time goes, per continuation step: the dense Jacobian of the flat fixed-point residual
    that ``jaxgames.equilibria.qre_path`` builds (``jax.jacfwd``: 512 JVPs through the 64-state
    linear solve) and its 513-square LU, against the structured step (per-state blocks, value
    columns, a 129-square LU) and one chord-corrector iteration; plus the path's step counts.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)  # noqa: E402 - before any array exists

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxgames.equilibria import _flat  # noqa: E402
from jaxgames.equilibria import path as path_module  # noqa: E402
from jaxgames.markov import MarkovGame  # noqa: E402
from jaxgames.markov import qre as markov_qre  # noqa: E402

from _common import REPO_ROOT, standard_parser, start_run, time_blocks, time_jitted, write_results  # noqa: E402

TARGET_S = 0.1  # the whole path for 64 states x 2 players x 4 actions, steady state
FULL = dict(states=64, actions=4, seed=42, peer_repeats=1)
QUICK = dict(states=16, actions=4, seed=42, peer_repeats=1)
FIXTURE = dict(states=4, actions=3, seed=7, lambdas=(0.5, 2.0, 8.0, 32.0))
FIXTURE_PATH = REPO_ROOT / "tests" / "data" / "sgamesolver_qre_markov.npz"

SGAMESOLVER = r"""
import json, sys, time
import numpy as np
import sgamesolver
states, actions, seed, repeats, out, mode = sys.argv[1:7]
states, actions, seed, repeats = int(states), int(actions), int(seed), int(repeats)
game = sgamesolver.SGame.random_game(states, 2, actions, delta=0.95, seed=seed)
times, qre = [], None
for _ in range(repeats):
    qre = sgamesolver.homotopy.QRE(game)
    t = time.perf_counter()
    qre.solver_setup()
    qre.solver.verbose = 0
    if mode == "fixture":
        qre.solver.start_storing_path(max_steps=100000)
    qre.solve()
    times.append(time.perf_counter() - t)
sol = qre.solver
extra = {}
if mode == "fixture":
    n = sol.path.index
    ys = sol.path.y[:n]
    lams = ys[:, -1]
    sig = np.exp(ys[:, : game.num_actions_total]).reshape(n, states, 2, actions)
    pick = [int(np.searchsorted(lams, t)) for t in json.loads(sys.argv[7])]
    extra = dict(lambdas=lams[pick], policies=np.moveaxis(sig[pick], 2, 1))  # [K, N, S, A]
np.savez_compressed(
    out,
    rewards=np.moveaxis(game.u, 1, 0),  # [N, S, A_1, A_2] (sgamesolver: u[s, p, a_1, a_2])
    transitions=game.phi,  # [S, A_1, A_2, S']
    discount=game.delta[0],
    final_lambda=sol.y[-1],
    final_policy=np.moveaxis(np.asarray(qre.equilibrium.strategies), 1, 0),  # [N, S, A]
    **extra,
)
print(json.dumps(dict(times_s=times, steps=int(sol.step), final_lambda=float(sol.y[-1]),
                      sgamesolver=sgamesolver.__version__ if hasattr(sgamesolver, "__version__") else "",
                      numpy=np.__version__)))
"""


def run_peer(python, cfg, out, mode="time", extra=()) -> dict:
    cmd = [python, "-c", SGAMESOLVER, str(cfg["states"]), str(cfg["actions"]), str(cfg["seed"])]
    cmd += [str(cfg.get("peer_repeats", 1)), str(out), mode, *extra]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sgamesolver subprocess failed ({' '.join(cmd[:1])}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_game(path) -> tuple[MarkovGame, dict]:
    d = dict(np.load(path))
    rewards = jnp.asarray(d["rewards"])
    s = rewards.shape[1]
    game = MarkovGame(
        jnp.asarray(d["transitions"]), rewards, float(d["discount"]), jnp.full((s,), 1 / s, rewards.dtype)
    )
    return game, d


def max_diff(a, b) -> float:
    return max(float(jnp.max(jnp.abs(jnp.asarray(x) - jnp.asarray(y)))) for x, y in zip(a, b))


def make_fixture(python):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fixture.npz"
        info = run_peer(python, FIXTURE, out, "fixture", [json.dumps(FIXTURE["lambdas"])])
        FIXTURE_PATH.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE_PATH.write_bytes(out.read_bytes())
    print(f"wrote {FIXTURE_PATH} ({FIXTURE_PATH.stat().st_size} bytes): sgamesolver {info}")


def bench_paths(game, repeats, summary, rows):
    print("\n(1) ours: jaxgames.markov.qre.qre_path, jit, float64")
    for name, regularized in (("markov_logit_qre", False), ("regularized", True)):
        r = time_jitted(
            lambda regularized=regularized: jax.jit(lambda g: markov_qre.qre_path(g, regularized=regularized)),
            game,
            repeats=repeats,
        )
        path = r.pop("output")
        n = int(path.num_points)
        rec = dict(
            median_s=r["median_s"],
            min_s=r["min_s"],
            times_s=r["times_s"],
            compile_s=r["compile_s"],
            aot_compile_s=r["aot_compile_s"],
            points=n,
            status=path_module.describe(path.status),
            last_lambda=float(path.inverse_temperatures[n - 1]),
            nash_conv=float(path.nash_conv),
        )
        summary[name] = rec
        rows.append(
            dict(
                section="path",
                variant=name,
                implementation="ours",
                **{k: rec[k] for k in ("median_s", "compile_s", "points", "nash_conv")},
            )
        )
        print(
            f"  {name:17s}: {r['median_s'] * 1e3:8.1f} ms (min {r['min_s'] * 1e3:.1f})  compile {r['compile_s']:.1f} s "
            f"(AOT {r['aot_compile_s']:.1f} s)  {n} points, {rec['status']}, last lambda {rec['last_lambda']:.4g}, "
            f"nash_conv {rec['nash_conv']:.2e}"
        )
    return summary["markov_logit_qre"]


def cross_check(game, d, summary):
    print("\n(2) cross-check with sgamesolver's final point")
    theirs = tuple(jnp.asarray(p) for p in d["final_policy"])
    lam = float(d["final_lambda"])
    at = jax.jit(lambda g, m: markov_qre.qre_path(g, max_lambda=m, polish_from=1e30))(game, lam)
    ours_at = tuple(p[int(at.num_points) - 1] for p in at.policies)
    limit = jax.jit(lambda g: markov_qre.qre_path(g))(game)
    rec = dict(
        sgamesolver_final_lambda=lam,
        sgamesolver_residual=float(markov_qre.qre_residual(game, theirs, lam)),
        at_their_lambda_max_diff=max_diff(ours_at, theirs),
        limit_max_diff=max_diff(limit.nash, theirs),
        sgamesolver_nash_conv=float(jax.jit(lambda g, p: g.nash_conv(p))(game, theirs)),
        ours_nash_conv=float(limit.nash_conv),
    )
    summary["cross_check"] = rec
    print(
        f"  sgamesolver's final point, lambda {lam:.6g}: residual of our equation {rec['sgamesolver_residual']:.2e}; "
        f"our point at that lambda differs by {rec['at_their_lambda_max_diff']:.2e}"
    )
    print(
        f"  limits: max |ours - theirs| {rec['limit_max_diff']:.2e} (theirs is O(1 / lambda) away); nash_conv ours "
        f"{rec['ours_nash_conv']:.2e}, sgamesolver's {rec['sgamesolver_nash_conv']:.2e}"
    )


def step_costs(game, repeats, summary):
    print("\n(3) per continuation step")
    reference = game.uniform_policy()
    problem = _flat.problem(game, reference)
    x = problem.start + 0.01 * jnp.sin(jnp.arange(problem.size))
    H = lambda y: problem.residual(y[:-1], y[-1])  # noqa: E731
    y = jnp.concatenate([x, jnp.ones(1)])

    dense_jac = jax.jit(jax.jacfwd(H))
    dense_lu = jax.jit(lambda J: jax.scipy.linalg.lu_factor(jnp.concatenate([J, jnp.ones((1, J.shape[1]))])))
    J = jax.block_until_ready(dense_jac(y))
    jax.block_until_ready(dense_lu(J))
    S = game.num_states
    nloc = sum(game.num_actions)
    mask = jnp.ones((S, nloc), bool)
    log_rho = jnp.concatenate([jnp.log(r) for r in reference], axis=-1)
    system = markov_qre._System(game, mask, log_rho, False)
    xs = x.reshape(game.num_players, S, -1).transpose(1, 0, 2).reshape(S, nloc)
    Z = system.values(xs, 1.0)
    factor = jax.jit(lambda x, Z: system.factor(system.linearize(x, Z, 1.0), x, 1.0))
    fac = jax.block_until_ready(factor(xs, Z))

    @jax.jit
    def iteration(fac, x, Z):
        h1, h2 = system.residual(x, Z, 1.0)
        return system.solve(fac, -h1, -h2, 0.0)

    jax.block_until_ready(iteration(fac, xs, Z))
    rec = dict(
        dense_jacobian_s=time_blocks(lambda: jax.block_until_ready(dense_jac(y)), repeats)["median_s"],
        dense_lu_s=time_blocks(lambda: jax.block_until_ready(dense_lu(J)), repeats)["median_s"],
        structured_factor_s=time_blocks(lambda: jax.block_until_ready(factor(xs, Z)), repeats)["median_s"],
        structured_iteration_s=time_blocks(lambda: jax.block_until_ready(iteration(fac, xs, Z)), repeats)["median_s"],
        unknowns=int(problem.size),
        reduced_size=game.num_players * S + 1,
    )
    # the path's own counts (steps tried, chord iterations, end-game attempts)
    x0 = jnp.concatenate([jnp.log(r) for r in reference], axis=-1)
    stats = jax.jit(
        lambda: markov_qre._trace(
            system,
            x0,
            game,
            first_step=0.3,
            max_accel=2.0,
            max_step=1e5,
            min_step=1e-10,
            max_lambda=1e6,
            regret_tol=1e-8 * path_module._payoff_spread(game),
            max_points=2000,
            corrector_steps=12,
            corrector_distance=0.5,
            tol=1e-9,  # qre_path's default corrector_tol: the counts of the timed run
            polish_from=10.0 / path_module._payoff_spread(game),
            polish_every=4.0,
        )[4]
    )()
    rec.update({k: int(v) for k, v in stats.items()})
    summary["per_step"] = rec
    print(
        f"  dense (equilibria.qre_path): Jacobian by jacfwd ({rec['unknowns']} JVPs) "
        f"{rec['dense_jacobian_s'] * 1e3:.2f} ms, LU {rec['unknowns'] + 1}^2 {rec['dense_lu_s'] * 1e3:.2f} ms"
    )
    print(
        f"  structured (markov.qre)    : blocks + LU {rec['reduced_size']}^2 "
        f"{rec['structured_factor_s'] * 1e3:.2f} ms, one chord iteration {rec['structured_iteration_s'] * 1e3:.2f} ms"
    )
    print(
        f"  path: {rec['steps']} steps tried, {rec['iterations']} chord iterations, {rec['attempts']} end-game attempts"
    )


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--sgamesolver-python", help="an interpreter with sgamesolver (NumPy < 2)")
    parser.add_argument(
        "--game", help="the game's arrays saved by --save-game: time ours alone (no peer, no cross-check)"
    )
    parser.add_argument("--save-game", help="also save the game's arrays (sgamesolver's random game) to this .npz")
    parser.add_argument("--peer-repeats", type=int, default=None, help="sgamesolver solves timed (median)")
    parser.add_argument("--make-fixture", action="store_true", help=f"write {FIXTURE_PATH.name} and stop")
    args, info, cpu = start_run(parser, argv, packages=("scipy",))
    if (args.sgamesolver_python is None) == (args.game is None):
        parser.error("give one of --sgamesolver-python (the peer and its game) and --game (ours alone)")
    if args.make_fixture:
        make_fixture(args.sgamesolver_python)
        return
    cfg = dict(QUICK if args.quick else FULL)
    if args.peer_repeats:
        cfg["peer_repeats"] = args.peer_repeats
    summary, rows = {}, []
    t0 = time.perf_counter()
    if args.game is not None:
        game, _ = load_game(args.game)
        print(f"ours alone on the saved game {args.game} ({game.num_states} states)")
        ours = bench_paths(game, args.repeats, summary, rows)
        print(f"  target: ours < {TARGET_S} s ({'met' if ours['median_s'] < TARGET_S else 'MISSED'})")
        step_costs(game, args.repeats, summary)
        print(f"\n(total {time.perf_counter() - t0:.0f} s)")
        cpu.finish(info)
        payload = dict(command=args.command_line, mode="game-file", repeats=args.repeats, config=cfg)
        payload.update(target_s=TARGET_S, machine=info, summary=summary, rows=rows)
        fields = ["section", "variant", "implementation", "median_s", "compile_s", "points", "nash_conv"]
        write_results("bench_qre_markov_ours", payload, rows, fields, info["wall_s"])
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "game.npz"
        print(
            f"sgamesolver QRE on SGame.random_game({cfg['states']}, 2, {cfg['actions']}, seed={cfg['seed']}), "
            f"{cfg['peer_repeats']} solve(s) ...",
            flush=True,
        )
        peer = run_peer(args.sgamesolver_python, cfg, out)
        if args.save_game:
            Path(args.save_game).write_bytes(out.read_bytes())
        game, d = load_game(out)
    peer_s = float(np.median(peer["times_s"]))
    summary["sgamesolver"] = dict(median_s=peer_s, **peer)
    rows.append(
        dict(
            section="path",
            variant="markov_logit_qre",
            implementation="sgamesolver",
            median_s=peer_s,
            points=peer["steps"],
        )
    )
    print(
        f"  sgamesolver: {peer_s:.2f} s, {peer['steps']} steps, final lambda {peer['final_lambda']:.6g} "
        f"(numpy {peer['numpy']})"
    )
    ours = bench_paths(game, args.repeats, summary, rows)
    speedup = peer_s / ours["median_s"]
    summary["speedup"] = speedup
    summary["target_s"] = TARGET_S
    print(
        f"  speed-up over sgamesolver {speedup:,.0f}x; target: ours < {TARGET_S} s "
        f"({'met' if ours['median_s'] < TARGET_S else 'MISSED'})"
    )
    cross_check(game, d, summary)
    step_costs(game, args.repeats, summary)
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    cpu.finish(info)
    command = args.command_line
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": cfg,
        "target_s": TARGET_S,
        "machine": info,
        "summary": summary,
        "rows": rows,
    }
    stem = "bench_qre_markov_quick" if args.quick else "bench_qre_markov"
    fields = ["section", "variant", "implementation", "median_s", "compile_s", "points", "nash_conv"]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
