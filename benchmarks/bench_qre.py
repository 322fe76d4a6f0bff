"""The logit QRE path of matrix games against Gambit's ``logit_solve`` (pygambit), in the same process.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_qre.py                 # full run
    python benchmarks/bench_qre.py --quick         # smoke test, fewer games, not for quoting
    python benchmarks/bench_qre.py --wait-idle 300 # first wait until no other process uses the CPU

Float64 (``jax_enable_x64``), the precision Gambit computes in, with Gambit's criterion: the path
stops once the regret is at most ``1e-8`` of the payoff spread. Payoffs are uniform on ``[-1, 1]``
with 6 decimals, so that Gambit (which parses their decimal text) and JAX hold the same doubles.

(1) Per game: random 10x10, 30x30 and 6x6x6 games, each solved by ``qre_path(game)`` (the eager
    call a user makes: its compiled program is cached per game shape) and by
    ``pygambit.nash.logit_solve(game)`` (its defaults: ``first_step=0.03``, ``max_accel=1.1``).
    Per game, the median of ``--repeats`` calls after a first, compiling one; the speed-up is the
    total Gambit time over the total of ours on the same games. Compile time is reported apart
    (first call - median, and an ahead-of-time ``jax.jit(qre_path).lower().compile()``). Each
    equilibrium is compared with Gambit's (the two stop at different lambdas once the regret is
    below the tolerance: about 1e-5 apart), and, where Gambit's branch never turns back, the QRE of
    our branch at Gambit's final lambda with Gambit's final profile.
(2) 1,000 random 10x10 games in one ``jax.jit(jax.vmap(qre_path))`` call: total time and time per
    game, against Gambit's time per game on the first ``--gambit-games`` of them (whose equilibria are
    compared as in (1)); the same batch in float32 (default ``max_regret`` 1e-4 there) for reference.
"""

from __future__ import annotations

import itertools
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)  # noqa: E402 - before any array exists

import jax.numpy as jnp  # noqa: E402
import pygambit as gbt  # noqa: E402

from jaxgames.equilibria import path as qre_module  # noqa: E402
from jaxgames.equilibria import qre_path  # noqa: E402
from jaxgames.experiments.timing import aot_compile  # noqa: E402
from jaxgames.matrix.game import MatrixGame  # noqa: E402

from _common import standard_parser, start_run, time_blocks, time_jitted, write_results  # noqa: E402

TARGET = 10.0  # speed target: Gambit's time per game / ours
FULL = dict(shapes={"10x10": 10, "30x30": 5, "6x6x6": 10}, batch=1000, gambit_games=50)
QUICK = dict(shapes={"10x10": 3, "30x30": 2, "6x6x6": 3}, batch=100, gambit_games=10)


def random_payoffs(rng, shape, count=None):
    size = (len(shape), *shape) if count is None else (count, len(shape), *shape)
    return np.round(rng.uniform(-1.0, 1.0, size), 6)


def gambit_game(payoffs):
    """The strategic game of ``payoffs [N, A_1..A_N]``: player i, strategies in the same order."""
    shape = payoffs.shape[1:]
    game = gbt.Game.new_table(list(shape))
    players = list(game.players)
    for profile in itertools.product(*(range(a) for a in shape)):
        outcome = game[profile]
        for i, player in enumerate(players):
            outcome[player] = repr(float(payoffs[(i, *profile)]))
    return game


def gambit_profile(game, profile):
    profile = getattr(profile, "profile", profile)
    return [np.array([float(profile[s]) for s in player.strategies]) for player in game.players]


def worst(errors):
    """The largest of the errors measured (``None``: not measured)."""
    return max([e for e in errors if e is not None], default=0.0)


def max_diff(ours, theirs):
    return max(float(np.max(np.abs(np.asarray(a) - b))) for a, b in zip(ours, theirs))


def gambit_solve(payoffs, repeats):
    """Gambit's equilibrium, the lambdas of its branch and the median time of ``repeats`` solves."""
    game = gambit_game(payoffs)
    result = gbt.nash.logit_solve(game)
    t = time_blocks(lambda: gbt.nash.logit_solve(game), repeats)
    lams = np.array([q.lam for q in gbt.qre.logit_solve_branch(game)])  # logit_solve's is the last point
    return gambit_profile(game, result.equilibria[0]), lams, t["median_s"]


def check_against_gambit(payoffs, nash, gambit_nash, gambit_lambdas):
    """``(|nash - Gambit's|, |our branch's QRE at Gambit's final lambda - Gambit's final profile|)``;
    the second ``None`` where Gambit's branch turns back (its final lambda was crossed before)."""
    if not np.all(np.diff(gambit_lambdas) > 0):
        return max_diff(nash, gambit_nash), None
    at_theirs = qre_path(MatrixGame(jnp.asarray(payoffs)), max_lambda=float(gambit_lambdas[-1]), max_regret=0.0)
    k = int(at_theirs.num_points) - 1
    return max_diff(nash, gambit_nash), max_diff([p[k] for p in at_theirs.policies], gambit_nash)


def bench_per_game(cfg, repeats, rng, rows, summary):
    for label, count in cfg["shapes"].items():
        shape = tuple(int(a) for a in label.split("x"))
        print(f"\n(1) {count} random {label} games: qre_path vs pygambit logit_solve (float64)")
        payoffs = [random_payoffs(rng, shape) for _ in range(count)]
        games = [MatrixGame(jnp.asarray(p)) for p in payoffs]
        first = time.perf_counter()
        jax.block_until_ready(qre_path(games[0]))
        first = time.perf_counter() - first
        aot = aot_compile(jax.jit(qre_path), games[1 % count])[1]
        ours, theirs, points, errs, errs_at, statuses = [], [], [], [], [], []
        for p, g in zip(payoffs, games):
            out = jax.block_until_ready(qre_path(g))
            ours.append(time_blocks(lambda g=g: jax.block_until_ready(qre_path(g)), repeats)["median_s"])
            nash, lams, t = gambit_solve(p, repeats)
            theirs.append(t)
            e, e_at = check_against_gambit(p, out.nash, nash, lams)
            errs.append(e)
            errs_at.append(e_at)
            points.append(int(out.num_points))
            statuses.append(qre_module.describe(out.status))
        ratio = sum(theirs) / sum(ours)
        compile_s = max(first - float(np.median(ours)), 0.0)
        ms = lambda ts: f"median {1e3 * np.median(ts):8.2f} ms/game (min {1e3 * min(ts):.2f}, max {1e3 * max(ts):.2f})"  # noqa: E731
        print(
            f"  ours   {ms(ours)}; points median {int(np.median(points))}, max {max(points)}; "
            f"compile {compile_s:.2f} s (AOT {aot:.2f} s)"
        )
        print(f"  Gambit {ms(theirs)}")
        print(
            f"  speed-up {ratio:.1f}x (target {TARGET:.0f}x: {'met' if ratio >= TARGET else 'MISSED'}); "
            f"equilibria: max |ours - Gambit| {max(errs):.1e}, at Gambit's lambda {worst(errs_at):.1e}; "
            f"statuses {sorted(set(statuses))}"
        )
        summary["per_game"][label] = dict(
            games=count,
            ours_median_s=float(np.median(ours)),
            ours_times_s=ours,
            gambit_median_s=float(np.median(theirs)),
            gambit_times_s=theirs,
            ratio=ratio,
            target=TARGET,
            met=bool(ratio >= TARGET),
            points_median=float(np.median(points)),
            points_max=max(points),
            compile_s=compile_s,
            aot_compile_s=aot,
            max_diff_nash=max(errs),
            max_diff_at_gambit_lambda=worst(errs_at),
            gambit_branches_turning_back=sum(e is None for e in errs_at),
            statuses=statuses,
        )
        rows.append(
            dict(
                section="per_game",
                game=label,
                games=count,
                ours_s=float(np.median(ours)),
                gambit_s=float(np.median(theirs)),
                ratio=ratio,
                compile_s=compile_s,
                max_diff_nash=max(errs),
            )
        )


def bench_batch(cfg, repeats, rng, rows, summary):
    n = cfg["batch"]
    print(f"\n(2) {n} random 10x10 games in one jit(vmap(qre_path)) call")
    payoffs = random_payoffs(rng, (10, 10), n)

    def make():
        return jax.jit(jax.vmap(lambda p: qre_path(MatrixGame(p))))

    r = time_jitted(make, jnp.asarray(payoffs), repeats=repeats)
    out = r.pop("output")
    status = np.bincount(np.asarray(out.status), minlength=4)
    gambit_n = min(cfg["gambit_games"], n)
    theirs, errs, errs_at = [], [], []
    for b in range(gambit_n):
        nash, lams, t = gambit_solve(payoffs[b], 1)
        theirs.append(t)
        e, e_at = check_against_gambit(payoffs[b], [p[b] for p in out.nash], nash, lams)
        errs.append(e)
        errs_at.append(e_at)
    per_game = r["median_s"] / n
    gambit_per_game = float(np.mean(theirs))
    ratio = gambit_per_game / per_game
    print(
        f"  ours: {r['median_s']:.3f} s for {n} games = {1e3 * per_game:.3f} ms/game; compile {r['compile_s']:.2f} s "
        f"(AOT {r['aot_compile_s']:.2f} s); statuses {dict(zip(qre_module.STATUS_NAMES, status.tolist()))}; "
        f"points median {int(np.median(out.num_points))}, max {int(np.max(out.num_points))}"
    )
    print(
        f"  Gambit: {1e3 * gambit_per_game:.2f} ms/game (mean of the first {gambit_n}) -> {ratio:.1f}x "
        f"(target {TARGET:.0f}x: {'met' if ratio >= TARGET else 'MISSED'}); max |ours - Gambit| {max(errs):.1e}, "
        f"at Gambit's lambda {worst(errs_at):.1e}"
    )
    with jax.enable_x64(False):
        p32 = jnp.asarray(payoffs, jnp.float32)
        r32 = time_jitted(make, p32, repeats=repeats)
        out32 = r32.pop("output")
        status32 = np.bincount(np.asarray(out32.status), minlength=4)
        agree32 = np.asarray(out32.status) == 0
        err32 = max(
            float(np.max(np.abs(np.asarray(a, np.float64)[agree32] - np.asarray(b)[agree32])))
            for a, b in zip(out32.nash, out.nash)
        )
    print(
        f"  float32: {r32['median_s']:.3f} s = {1e3 * r32['median_s'] / n:.3f} ms/game; statuses "
        f"{dict(zip(qre_module.STATUS_NAMES, status32.tolist()))}; max |float32 - float64| on the converged {err32:.1e}"
    )
    summary["batch"] = dict(
        games=n,
        actions=10,
        median_s=r["median_s"],
        times_s=r["times_s"],
        per_game_s=per_game,
        compile_s=r["compile_s"],
        aot_compile_s=r["aot_compile_s"],
        statuses=dict(zip(qre_module.STATUS_NAMES, status.tolist())),
        points_median=float(np.median(out.num_points)),
        points_max=int(np.max(out.num_points)),
        gambit_games=gambit_n,
        gambit_per_game_s=gambit_per_game,
        ratio=ratio,
        target=TARGET,
        met=bool(ratio >= TARGET),
        max_diff_nash=max(errs),
        max_diff_at_gambit_lambda=worst(errs_at),
        gambit_branches_turning_back=sum(e is None for e in errs_at),
        float32=dict(
            median_s=r32["median_s"],
            per_game_s=r32["median_s"] / n,
            compile_s=r32["compile_s"],
            statuses=dict(zip(qre_module.STATUS_NAMES, status32.tolist())),
            max_diff_vs_float64=err32,
        ),
    )
    rows.append(
        dict(
            section="batch",
            game="10x10",
            games=n,
            ours_s=per_game,
            gambit_s=gambit_per_game,
            ratio=ratio,
            compile_s=r["compile_s"],
            max_diff_nash=max(errs),
        )
    )


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random games")
    args, info, cpu = start_run(parser, argv, packages=("pygambit",))
    cfg = QUICK if args.quick else FULL
    rng = np.random.default_rng(args.seed)
    rows, summary = [], {"per_game": {}}
    t0 = time.perf_counter()
    bench_per_game(cfg, args.repeats, rng, rows, summary)
    bench_batch(cfg, args.repeats, rng, rows, summary)
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    cpu.finish(info)
    command = args.command_line
    stem = "bench_qre_quick" if args.quick else "bench_qre"
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": cfg,
        "target": TARGET,
        "precision": "float64",
        "machine": info,
        "summary": summary,
        "rows": rows,
    }
    fields = ["section", "game", "games", "ours_s", "gambit_s", "ratio", "compile_s", "max_diff_nash"]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
