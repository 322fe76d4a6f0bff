"""Exact CE/CCE selection, batched in JAX, against OpenSpiel JPSRO's cvxpy meta-solvers and SciPy's HiGHS.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_correlated.py           # full run
    python benchmarks/bench_correlated.py --quick   # smoke test, fewer games, not for quoting

Float64 (``jax_enable_x64``). 1,000 random 3-player 4x4x4 games, payoffs uniform on ``[-1, 1]``:

(1) For each of maximum-welfare CE and CCE (LPs) and maximum-Gini CE and CCE (QPs, Marris et al.
    2021), all games in ONE ``jax.jit(jax.vmap(correlated_equilibrium))`` call
    (``jaxgames.general_sum.selection``, the interior-point method of ``jaxgames.general_sum.lp``),
    timed by ``_common.time_jitted`` (median of ``--repeats`` calls after a first, compiling one;
    compile time reported apart, also as an ahead-of-time compile). The peer, in the same process:
    OpenSpiel JPSRO's meta-solvers ``_mwce``, ``_mwcce``, ``_mgce``, ``_mgcce`` (cvxpy; ECOS for the
    LPs, CVXOPT then OSQP for the QPs) looped over the first ``--peer-games`` games; its mean time per
    game is scaled to the whole batch. Agreement: max |welfare difference| (LPs) and max |Gini
    difference| (QPs) on those games, and our largest CE/CCE gap over the batch (must be <= 1e-8).
(2) The welfare LPs by ``scipy.optimize.linprog(method="highs")`` looped over the same peer games
    (constraint matrices built beforehand, not timed), scaled the same way.
(3) Maximum-entropy CE, ours only (no peer); and the PDLP-type solver ``mpax.r2HPDHG`` (if installed)
    on the max-welfare CE LPs of the first ``--mpax-games`` games in one vmapped call at tolerance
    1e-9, the measurement behind choosing an interior-point method (see ``jaxgames/general_sum/lp.py``).

Target: each of the four batched solves >= 50x faster than looping JPSRO's cvxpy meta-solver.
"""

from __future__ import annotations

import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)  # noqa: E402 - before any array exists

import jax.numpy as jnp  # noqa: E402

from jaxgames.general_sum import selection as sel  # noqa: E402

from _common import standard_parser, start_run, time_jitted, write_results  # noqa: E402

TARGET = 50.0
TOL = 1e-8
FULL = dict(games=1000, actions=4, players=3, peer_games=50, mpax_games=200)
QUICK = dict(games=100, actions=4, players=3, peer_games=5, mpax_games=20)
VARIANTS = [
    ("ce", "welfare", "_mwce"),
    ("cce", "welfare", "_mwcce"),
    ("ce", "gini", "_mgce"),
    ("cce", "gini", "_mgcce"),
]


def make_solver(kind, objective):
    def make():
        return jax.jit(jax.vmap(lambda p: sel.correlated_equilibrium(p, kind, objective, tol=TOL, check=False)))

    return make


def jpsro_peer(name, payoffs):
    from open_spiel.python.algorithms import jpsro

    fn = getattr(jpsro, name)
    repeats = [np.ones(a) for a in payoffs.shape[2:]]
    dists, times = [], []
    for p in payoffs:
        t0 = time.perf_counter()
        dist, _ = fn(p, repeats)
        times.append(time.perf_counter() - t0)
        dists.append(dist)
    return np.stack(dists), float(np.mean(times))


def highs_peer(payoffs, kind):
    from scipy.optimize import linprog

    Gs = [np.asarray(sel.deviation_gains(jnp.asarray(p), kind)) for p in payoffs]
    welfare, times = [], []
    for p, G in zip(payoffs, Gs):
        c = -p.sum(0).ravel()
        t0 = time.perf_counter()
        r = linprog(c, A_ub=G, b_ub=np.zeros(len(G)), A_eq=np.ones((1, c.size)), b_eq=[1.0], method="highs")
        times.append(time.perf_counter() - t0)
        welfare.append(-r.fun)
    return np.array(welfare), float(np.mean(times))


def bench_mpax(payoffs, repeats):
    try:
        import mpax
    except ImportError:
        return None
    n = payoffs.shape[0]
    Gs = jnp.stack([sel.deviation_gains(jnp.asarray(p), "ce") for p in payoffs])
    cs = -jnp.asarray(payoffs.sum(1).reshape(n, -1))
    rows, size = Gs.shape[1:]

    def solve(c, G):
        lp = mpax.create_lp(
            c, jnp.ones((1, size)), jnp.ones(1), -G, jnp.zeros(rows), jnp.zeros(size), jnp.full(size, jnp.inf),
            use_sparse_matrix=False,
        )  # fmt: skip
        r = mpax.r2HPDHG(eps_abs=1e-9, eps_rel=1e-9, verbose=False).optimize(lp)
        return r.primal_solution, r.iteration_count

    r = time_jitted(lambda: jax.jit(jax.vmap(solve)), cs, Gs, repeats=max(1, min(repeats, 3)))
    x, iters = r.pop("output")
    welfare = -np.sum(np.asarray(x) * np.asarray(cs), axis=1)
    return dict(
        games=n,
        median_s=r["median_s"],
        per_game_s=r["median_s"] / n,
        compile_s=r["compile_s"],
        iterations_median=float(np.median(iters)),
        iterations_max=int(np.max(iters)),
        welfare=welfare,
    )


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random games")
    parser.add_argument("--peer-games", type=int, default=None, help="games the cvxpy / HiGHS loops solve")
    args, info, cpu = start_run(parser, argv, packages=("cvxpy", "ecos", "cvxopt", "osqp", "scipy", "mpax"))
    cfg = dict(QUICK if args.quick else FULL)
    if args.peer_games:
        cfg["peer_games"] = args.peer_games
    n, k = cfg["games"], cfg["peer_games"]
    shape = (cfg["players"],) + (cfg["actions"],) * cfg["players"]
    payoffs = np.random.default_rng(args.seed).uniform(-1.0, 1.0, (n, *shape))
    batch = jnp.asarray(payoffs)
    print(f"{n} random {'x'.join(map(str, shape[1:]))} games, {cfg['players']} players; peers on the first {k}")
    rows, summary = [], {"variants": {}}
    t_start = time.perf_counter()
    ours_welfare = {}
    for kind, objective, peer_name in VARIANTS:
        label = f"max-{objective} {kind.upper()}"
        r = time_jitted(make_solver(kind, objective), batch, repeats=args.repeats)
        out = r.pop("output")
        statuses = np.bincount(np.asarray(out.status), minlength=4).tolist()
        max_gap = float(jnp.max(out.gap))
        dists, peer_per_game = jpsro_peer(peer_name, payoffs[:k])
        joints = np.asarray(out.joint[:k]).reshape(k, -1)
        if objective == "welfare":
            theirs = np.sum(payoffs[:k].sum(1).reshape(k, -1) * dists.reshape(k, -1), axis=1)
            diff = float(np.max(np.abs(np.asarray(out.welfare[:k]) - theirs)))
            ours_welfare[kind] = np.asarray(out.welfare)
        else:
            diff = float(np.max(np.abs(np.sum(joints**2, 1) - np.sum(dists.reshape(k, -1) ** 2, 1))))
        per_game = r["median_s"] / n
        ratio = peer_per_game / per_game
        entry = dict(
            games=n,
            median_s=r["median_s"],
            times_s=r["times_s"],
            per_game_s=per_game,
            compile_s=r["compile_s"],
            aot_compile_s=r["aot_compile_s"],
            iterations_median=float(np.median(out.iterations)),
            iterations_max=int(np.max(out.iterations)),
            statuses=dict(zip(("solved", "infeasible", "unbounded", "max_iterations"), statuses)),
            max_gap=max_gap,
            jpsro_games=k,
            jpsro_per_game_s=peer_per_game,
            ratio=ratio,
            target=TARGET,
            met=bool(ratio >= TARGET and statuses[0] == n and max_gap <= TOL),
            max_diff_jpsro=diff,
            compared="welfare" if objective == "welfare" else "Gini impurity",
        )
        if objective == "welfare":
            highs_w, highs_per_game = highs_peer(payoffs[:k], kind)
            entry["highs_per_game_s"] = highs_per_game
            entry["ratio_highs"] = highs_per_game / per_game
            entry["max_diff_highs"] = float(np.max(np.abs(np.asarray(out.welfare[:k]) - highs_w)))
        summary["variants"][label] = entry
        print(
            f"  {label}: {r['median_s']:.3f} s for {n} games = {1e3 * per_game:.3f} ms/game (compile "
            f"{r['compile_s']:.2f} s, AOT {r['aot_compile_s']:.2f} s; IPM iterations median "
            f"{entry['iterations_median']:.0f}, max {entry['iterations_max']}); solved {statuses[0]}/{n}, max gap "
            f"{max_gap:.1e}\n    JPSRO {peer_name}: {1e3 * peer_per_game:.2f} ms/game -> {ratio:.0f}x (target "
            f"{TARGET:.0f}x: {'met' if entry['met'] else 'MISSED'}); max |diff| {diff:.1e} ({entry['compared']})"
            + (
                f"\n    SciPy HiGHS: {1e3 * entry['highs_per_game_s']:.2f} ms/game -> {entry['ratio_highs']:.0f}x; "
                f"max |welfare diff| {entry['max_diff_highs']:.1e}"
                if objective == "welfare"
                else ""
            )
        )
        rows.append(
            dict(
                variant=label,
                games=n,
                ours_per_game_s=per_game,
                jpsro_per_game_s=peer_per_game,
                ratio=ratio,
                highs_per_game_s=entry.get("highs_per_game_s", ""),
                compile_s=r["compile_s"],
                max_gap=max_gap,
                max_diff_jpsro=diff,
            )
        )
    r = time_jitted(make_solver("ce", "entropy"), batch, repeats=args.repeats)
    out = r.pop("output")
    summary["entropy_ce"] = dict(
        games=n,
        median_s=r["median_s"],
        per_game_s=r["median_s"] / n,
        compile_s=r["compile_s"],
        solved=int(np.sum(np.asarray(out.status) == 0)),
        max_gap=float(jnp.max(out.gap)),
    )
    print(
        f"  max-entropy CE: {r['median_s']:.3f} s for {n} games (compile {r['compile_s']:.2f} s); solved "
        f"{summary['entropy_ce']['solved']}/{n}, max gap {summary['entropy_ce']['max_gap']:.1e}"
    )
    m = bench_mpax(payoffs[: cfg["mpax_games"]], args.repeats)
    if m is not None:
        welfare = m.pop("welfare")
        m["max_diff_ours"] = float(np.max(np.abs(welfare - ours_welfare["ce"][: len(welfare)])))
        summary["mpax"] = m
        ours_same = summary["variants"]["max-welfare CE"]["per_game_s"]
        print(
            f"  mpax r2HPDHG (max-welfare CE, {m['games']} games, tol 1e-9): {m['median_s']:.2f} s = "
            f"{1e3 * m['per_game_s']:.2f} ms/game ({m['per_game_s'] / ours_same:.0f}x slower than ours); "
            f"iterations median {m['iterations_median']:.0f}, max {m['iterations_max']}; max |welfare diff| "
            f"{m['max_diff_ours']:.1e}"
        )
    print(f"\n(total {time.perf_counter() - t_start:.0f} s)")
    cpu.finish(info)
    stem = "bench_correlated_quick" if args.quick else "bench_correlated"
    payload = {
        "command": args.command_line,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": cfg,
        "target": TARGET,
        "tol": TOL,
        "precision": "float64",
        "machine": info,
        "summary": summary,
        "rows": rows,
    }
    fields = [
        "variant",
        "games",
        "ours_per_game_s",
        "jpsro_per_game_s",
        "ratio",
        "highs_per_game_s",
        "compile_s",
        "max_gap",
        "max_diff_jpsro",
    ]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
