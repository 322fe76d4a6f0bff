"""Throughput of our batched matrix-game solvers against nashpy, and payoff-read bandwidth.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_matrix.py            # full run (~100 s on 2 CPU cores)
    python benchmarks/bench_matrix.py --quick    # smoke test (< 30 s), smaller sizes

Everything is measured in the same process:

(a) many small games: random 3x3 zero-sum games, all solved in ONE jitted call
    (``jax.vmap`` over games) by ``solvers.fictitious_play()``; nashpy's
    fictitious play (a Python generator, one game at a time) is timed on a
    subset of the same games with the same number of iterations. Throughput is
    game-iterations per second (games x iterations / seconds).
(b) larger games: random 50x50 zero-sum games, game-iterations/s for ours and
    nashpy, plus the payoff bytes our solvers read per second, compared with the
    read bandwidth of ``np.copyto`` on an array of the same size; also for
    regret matching+, mirror prox and extragradient.
(b_dram) the same for fictitious play on a batch too large for the L3 cache.

Timing rules: every jitted function is called once (compile + run), then timed
``--repeats`` times with ``jax.block_until_ready``; we report the median.
Compile time is reported as first call - median, and as an ahead-of-time
``lower().compile()`` on a fresh function. ``eval_every = num_steps`` so the only
exploitability evaluation is the final one. Each solver must actually converge
(median exploitability of the output below a tolerance) or the script fails.
CPU time used by other processes during the run is reported (and warned about).

Results are printed and written to ``benchmarks/results/`` as JSON and CSV.
See ``benchmarks/README.md`` for the measured numbers and how to read them.
"""

from __future__ import annotations

import collections
import re

import jax
import jax.numpy as jnp
import nashpy
import numpy as np

import jaxgames
import solvers

from _common import standard_parser, start_run, time_blocks, time_jitted, write_results

# Targets this benchmark checks.
TARGET_RATIO_SMALL = 1000.0  # (a) ours / nashpy game-iterations per second
TARGET_BANDWIDTH = 0.5  # (b) our payoff bytes read/s as a fraction of numpy copy bytes read/s

FULL = dict(
    small_games=100_000,
    small_actions=3,
    small_iters=1000,
    small_nashpy_games=50,
    big_games=1000,
    big_actions=50,
    big_iters=1000,
    big_nashpy_games=20,
    # (b, out of cache): 10x more games, a 200 MB payoff batch that cannot stay in L3;
    # fictitious play only, fewer iterations (bandwidth does not depend on them).
    dram_games=10_000,
    dram_iters=200,
    other_iters={"regret_matching_plus": 1000, "mirror_prox": 1000, "extragradient": 1000},
    tolerance={
        "small": 0.05,
        "big": 0.1,
        "dram": 0.15,
        "regret_matching_plus": 0.05,
        "mirror_prox": 0.05,
        "extragradient": 0.15,
    },
)
QUICK = dict(
    small_games=10_000,
    small_actions=3,
    small_iters=200,
    small_nashpy_games=5,
    big_games=100,
    big_actions=50,
    big_iters=200,
    big_nashpy_games=3,
    dram_games=0,
    dram_iters=0,
    other_iters={"regret_matching_plus": 200, "mirror_prox": 200, "extragradient": 100},
    tolerance={
        "small": 0.05,
        "big": 0.15,
        "dram": 0.15,
        "regret_matching_plus": 0.1,
        "mirror_prox": 0.1,
        "extragradient": 0.25,
    },
)

# Full payoff-array reads per step each solver is *expected* to do (for the report only;
# the bandwidth figure uses the count read off the compiled step, see compiled_step_stats).
NOMINAL_READS = {
    "fictitious_play": "1 (one best response per player; alternating FP computes each player's q once)",
    "regret_matching_plus": "1 (alternating: game.evaluate once per player, the unused half is dead code)",
    "mirror_prox": "2 (two gradients per step)",
    "extragradient": "2 (two gradients per step)",
}


# ----------------------------------------------------------------------------- helpers


def make_games(key, num_games: int, num_actions: int):
    keys = jax.random.split(key, num_games)
    gen = jax.jit(jax.vmap(lambda k: jaxgames.matrix.random_zero_sum(k, num_actions)))
    return jax.block_until_ready(gen(keys))


def batched_run(solver, num_steps: int):
    """One jitted call: run ``solver`` on every game of a batch; final exploitabilities ``[G]``."""
    return jax.jit(jax.vmap(lambda g: solvers.run(solver, g, num_steps, eval_every=num_steps)[1].exploitability[-1]))


def uniform_exploitability(games) -> float:
    """Median exploitability of the uniform policy: what 'no progress' looks like."""
    f = jax.jit(jax.vmap(lambda g: g.exploitability(g.uniform_policy())))
    return float(jnp.median(f(games)))


def payoff_nbytes(games) -> int:
    """Bytes of the batch's payoffs, ``[G, N, n, n]`` (however MatrixGame lays them out)."""
    return int(games.payoffs.nbytes)


def compiled_step_stats(solver, games) -> tuple[float | None, int]:
    """Payoff traffic of one batched step, read off the compiled HLO of ``jit(vmap(solver.step))``.

    Returns ``(reads, temporaries)``:

    * ``reads``: full payoff-array reads per step. Counts the batched matrix-vector
      ``dot`` ops (output ``[G, n]`` or ``[G, n, 1]``) left after XLA's dead-code
      elimination; each reads one player's ``[G, n, n]`` matrices, so
      reads = dots / num_players. ``None`` if XLA lowered the products to something
      other than ``dot`` (then no bandwidth is claimed).
    * ``temporaries``: ops whose output is a payoff-sized ``[G, n, n]`` array, each an
      extra write + read of that size per step that the bandwidth figure does not
      count. Either a player's payoff matrices re-materialized (sliced / transposed)
      every step -- what the old ``[G, N, n, n]`` layout cost, see the README -- or
      an ``n x n``-per-game intermediate of the solver itself (extragradient's
      all-pairs simplex projection makes one per projection).
    """
    state = jax.vmap(solver.init)(games)
    text = jax.jit(jax.vmap(solver.step)).lower(games, state).compile().as_text()
    shape = games.payoffs.shape  # batched: [G, N, n, n]
    g, num_players, n = shape[0], shape[1], shape[-1]
    dtype = r"(?:f16|bf16|f32|f64)"
    dots = len(re.findall(rf"=\s*{dtype}\[{g},{n}(?:,1)?\]\S*\s+dot\(", text))
    temporaries = len(re.findall(rf"=\s*{dtype}\[{g},{n},{n}\]\S*\s+(?:fusion|copy|slice|transpose)\(", text))
    return (dots / num_players if dots else None), temporaries


def numpy_copy_bandwidth(nbytes: int, repeats: int) -> dict:
    src = np.random.default_rng(0).standard_normal(nbytes // 4).astype(np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch both
    t = time_blocks(lambda: np.copyto(dst, src), max(repeats, 50))
    return {
        "nbytes": src.nbytes,
        "median_s": t["median_s"],
        "min_s": t["min_s"],
        "read_Bps": src.nbytes / t["median_s"],
        "read_plus_write_Bps": 2 * src.nbytes / t["median_s"],
    }


def nashpy_fictitious_play(games, num_games: int, iterations: int, repeats: int) -> dict:
    """nashpy's fictitious play on the first ``num_games`` games, one after another."""
    dense = np.asarray(games.payoffs[:num_games])  # [m, 2, n, n]
    mats = [dense[i, 0] for i in range(num_games)]  # row player's matrix A
    nash_games = [nashpy.Game(A) for A in mats]  # zero-sum: B = -A
    finals = []

    def solve_all():
        np.random.seed(0)  # nashpy breaks best-response ties with np.random
        finals.clear()
        for g in nash_games:
            last = collections.deque(g.fictitious_play(iterations=iterations), maxlen=1)[0]
            finals.append(last)

    t = time_blocks(solve_all, repeats)
    expl = []
    for A, (row_counts, col_counts) in zip(mats, finals):
        A = A.astype(np.float64)
        x, y = row_counts / row_counts.sum(), col_counts / col_counts.sum()
        expl.append(0.5 * (np.max(A @ y) - np.min(x @ A)))
    t["median_exploitability"] = float(np.median(expl))
    t["game_iters_per_s"] = num_games * iterations / t["median_s"]
    return t


def reference_matvec(games, iterations: int):
    """Not a solver: the bare batched mat-vec loop (both players' q each step), as a ceiling.

    The per-player payoff slices are materialized once outside the loop; each step
    reads the whole payoff array once, like one fictitious-play step.
    """

    def f(payoffs):
        p0, p1 = payoffs[:, 0], payoffs[:, 1]
        g, n = payoffs.shape[0], payoffs.shape[-1]
        x = jnp.full((g, n), 1.0 / n, payoffs.dtype)
        y = jnp.full((g, n), 1.0 / n, payoffs.dtype)

        def body(_, carry):
            x, y = carry
            q0 = jnp.einsum("gij,gj->gi", p0, y)
            q1 = jnp.einsum("gij,gi->gj", p1, x)
            return x + 1e-3 * q0, y + 1e-3 * q1

        return jax.lax.fori_loop(0, iterations, body, (x, y))

    return jax.jit(f)


def check_converged(name: str, expl: float, tol: float, uniform: float) -> None:
    if not (np.isfinite(expl) and expl < tol and expl < 0.5 * uniform):
        raise AssertionError(
            f"{name}: median exploitability {expl:.4g} after the run is not below the tolerance "
            f"{tol} (and half the uniform policy's {uniform:.4g}); refusing to report the "
            "throughput of a solver that does not converge"
        )


# ----------------------------------------------------------------------------- benchmarks


def bench_small(cfg, repeats, key, rows, summary):
    G, n, T = cfg["small_games"], cfg["small_actions"], cfg["small_iters"]
    print(f"\n(a) {G:,} random {n}x{n} zero-sum games, {T} iterations of fictitious play")
    games = make_games(key, G, n)
    solver = solvers.fictitious_play()
    r = time_jitted(lambda: batched_run(solver, T), games, repeats=repeats)
    expl = float(jnp.median(r.pop("output")))
    uniform = uniform_exploitability(games)
    check_converged("(a) fictitious_play", expl, cfg["tolerance"]["small"], uniform)
    ours = G * T / r["median_s"]
    print(
        f"  ours   : median {r['median_s']:.3f} s  compile {r['compile_s']:.2f} s "
        f"(AOT {r['aot_compile_s']:.2f} s)  "
        f"{ours:,.0f} game-iter/s  median exploitability {expl:.2e} (uniform {uniform:.2f})"
    )
    rows.append(
        dict(
            case="a",
            implementation="ours",
            solver="fictitious_play",
            num_games=G,
            num_actions=n,
            iterations=T,
            median_s=r["median_s"],
            min_s=r["min_s"],
            compile_s=r["compile_s"],
            aot_compile_s=r["aot_compile_s"],
            game_iters_per_s=ours,
            median_exploitability=expl,
            cpu_utilization=r["cpu_utilization"],
        )
    )

    m = cfg["small_nashpy_games"]
    nr = nashpy_fictitious_play(games, m, T, repeats)
    print(
        f"  nashpy : {m} games, median {nr['median_s']:.3f} s  {nr['game_iters_per_s']:,.0f} "
        f"game-iter/s  median exploitability {nr['median_exploitability']:.2e}"
    )
    rows.append(
        dict(
            case="a",
            implementation="nashpy",
            solver="fictitious_play",
            num_games=m,
            num_actions=n,
            iterations=T,
            median_s=nr["median_s"],
            min_s=nr["min_s"],
            game_iters_per_s=nr["game_iters_per_s"],
            median_exploitability=nr["median_exploitability"],
        )
    )
    ratio = ours / nr["game_iters_per_s"]
    print(
        f"  ratio  : {ratio:,.0f}x  (target >= {TARGET_RATIO_SMALL:,.0f}x: "
        f"{'met' if ratio >= TARGET_RATIO_SMALL else 'MISSED'})"
    )
    summary["a"] = dict(
        games=G,
        actions=n,
        iterations=T,
        nashpy_games=m,
        ours_game_iters_per_s=ours,
        nashpy_game_iters_per_s=nr["game_iters_per_s"],
        ratio=ratio,
        target_ratio=TARGET_RATIO_SMALL,
        met=ratio >= TARGET_RATIO_SMALL,
        compile_s=r["compile_s"],
        aot_compile_s=r["aot_compile_s"],
        ours_median_s=r["median_s"],
        ours_times_s=r["times_s"],
        ours_cpu_utilization=r["cpu_utilization"],
        ours_median_exploitability=expl,
        nashpy_median_exploitability=nr["median_exploitability"],
        uniform_exploitability=uniform,
    )


def bench_big(label, games, iterations, specs, repeats, rows, summary, nashpy_games=0):
    """Case (b): throughput and payoff-read bandwidth of ``specs`` on a batch of games."""
    G, n = games.payoffs.shape[0], games.payoffs.shape[-1]
    nbytes = payoff_nbytes(games)
    print(f"\n({label}) {G:,} random {n}x{n} zero-sum games")
    uniform = uniform_exploitability(games)
    copy = numpy_copy_bandwidth(nbytes, repeats)
    print(
        f"  payoffs {nbytes / 1e6:.1f} MB {games.payoffs.dtype} "
        f"(stored as {len(jax.tree_util.tree_leaves(games))} arrays); "
        f"np.copyto of {nbytes / 1e6:.1f} MB: read {copy['read_Bps'] / 1e9:.2f} GB/s "
        f"(read+write {copy['read_plus_write_Bps'] / 1e9:.2f} GB/s)"
    )
    rows.append(
        dict(
            case=label,
            implementation="numpy",
            solver="np.copyto",
            num_games=G,
            num_actions=n,
            median_s=copy["median_s"],
            min_s=copy["min_s"],
            read_GBps=copy["read_Bps"] / 1e9,
        )
    )
    out = summary[label] = dict(
        games=G,
        actions=n,
        payoff_bytes=nbytes,
        uniform_exploitability=uniform,
        numpy_copy_read_GBps=copy["read_Bps"] / 1e9,
        numpy_copy_read_plus_write_GBps=copy["read_plus_write_Bps"] / 1e9,
        target_fraction_of_copy=TARGET_BANDWIDTH,
        solvers={},
    )

    for name, solver, iters, tol in specs:
        reads, temporaries = compiled_step_stats(solver, games)
        r = time_jitted(lambda: batched_run(solver, iters), games, repeats=repeats)
        expl = float(jnp.median(r.pop("output")))
        check_converged(f"({label}) {name}", expl, tol, uniform)
        rate = G * iters / r["median_s"]
        bw = reads * nbytes * iters / r["median_s"] if reads else float("nan")
        frac = bw / copy["read_Bps"]
        print(
            f"  {name:21s}: {iters} it, median {r['median_s']:.3f} s  compile {r['compile_s']:.2f} s "
            f"(AOT {r['aot_compile_s']:.2f} s)  "
            f"{rate:,.0f} game-iter/s  reads/step {reads} (+{temporaries} [G,n,n] temporaries)  "
            f"{bw / 1e9:.2f} GB/s ({100 * frac:.0f}% of copy)  expl {expl:.2e}  "
            f"cpu {r['cpu_utilization']:.2f}"
        )
        rows.append(
            dict(
                case=label,
                implementation="ours",
                solver=name,
                num_games=G,
                num_actions=n,
                iterations=iters,
                median_s=r["median_s"],
                min_s=r["min_s"],
                compile_s=r["compile_s"],
                aot_compile_s=r["aot_compile_s"],
                game_iters_per_s=rate,
                payoff_reads_per_step=reads,
                nn_temporaries_per_step=temporaries,
                read_GBps=bw / 1e9,
                fraction_of_copy=frac,
                median_exploitability=expl,
                cpu_utilization=r["cpu_utilization"],
            )
        )
        out["solvers"][name] = dict(
            iterations=iters,
            game_iters_per_s=rate,
            compile_s=r["compile_s"],
            aot_compile_s=r["aot_compile_s"],
            median_s=r["median_s"],
            first_call_s=r["first_call_s"],
            times_s=r["times_s"],
            payoff_reads_per_step=reads,
            nn_temporaries_per_step=temporaries,
            nominal_reads=NOMINAL_READS[name],
            read_GBps=bw / 1e9,
            fraction_of_copy=frac,
            met=frac >= TARGET_BANDWIDTH,
            median_exploitability=expl,
            cpu_utilization=r["cpu_utilization"],
        )

    if nashpy_games:
        nr = nashpy_fictitious_play(games, nashpy_games, iterations, repeats)
        ours = out["solvers"]["fictitious_play"]["game_iters_per_s"]
        print(
            f"  nashpy fictitious_play: {nashpy_games} games, {iterations} it, "
            f"median {nr['median_s']:.3f} s  "
            f"{nr['game_iters_per_s']:,.0f} game-iter/s  expl {nr['median_exploitability']:.2e}; "
            f"ours/nashpy {ours / nr['game_iters_per_s']:,.1f}x"
        )
        rows.append(
            dict(
                case=label,
                implementation="nashpy",
                solver="fictitious_play",
                num_games=nashpy_games,
                num_actions=n,
                iterations=iterations,
                median_s=nr["median_s"],
                min_s=nr["min_s"],
                game_iters_per_s=nr["game_iters_per_s"],
                median_exploitability=nr["median_exploitability"],
            )
        )
        out.update(
            nashpy_games=nashpy_games,
            nashpy_iterations=iterations,
            nashpy_game_iters_per_s=nr["game_iters_per_s"],
            nashpy_median_exploitability=nr["median_exploitability"],
            ratio=ours / nr["game_iters_per_s"],
        )

    dense = jax.block_until_ready(games.payoffs)
    ref = time_jitted(lambda: reference_matvec(dense, iterations), dense, repeats=repeats)
    ref.pop("output")
    ref_bw = nbytes * iterations / ref["median_s"]
    print(
        f"  reference (bare batched mat-vec loop, not a solver): {ref_bw / 1e9:.2f} GB/s "
        f"({100 * ref_bw / copy['read_Bps']:.0f}% of copy)  cpu {ref['cpu_utilization']:.2f}"
    )
    rows.append(
        dict(
            case=label,
            implementation="reference",
            solver="bare batched matvec",
            num_games=G,
            num_actions=n,
            iterations=iterations,
            median_s=ref["median_s"],
            min_s=ref["min_s"],
            compile_s=ref["compile_s"],
            aot_compile_s=ref["aot_compile_s"],
            game_iters_per_s=G * iterations / ref["median_s"],
            payoff_reads_per_step=1.0,
            nn_temporaries_per_step=0,
            read_GBps=ref_bw / 1e9,
            fraction_of_copy=ref_bw / copy["read_Bps"],
            cpu_utilization=ref["cpu_utilization"],
        )
    )
    out["reference_matvec"] = dict(
        iterations=iterations,
        read_GBps=ref_bw / 1e9,
        fraction_of_copy=ref_bw / copy["read_Bps"],
        median_s=ref["median_s"],
        cpu_utilization=ref["cpu_utilization"],
    )


# ----------------------------------------------------------------------------- main


def print_table(summary):
    a, b = summary["a"], summary["b"]
    fp = b["solvers"]["fictitious_play"]
    print("\n| benchmark | ours game-iter/s | nashpy game-iter/s | ratio | target | met? |")
    print("|---|---:|---:|---:|---|---|")
    print(
        f"| (a) {a['games']:,} x {a['actions']}x{a['actions']}, FP {a['iterations']} it "
        f"| {a['ours_game_iters_per_s']:,.0f} | {a['nashpy_game_iters_per_s']:,.0f} "
        f"| {a['ratio']:,.0f}x | >= {a['target_ratio']:,.0f}x | {'yes' if a['met'] else 'NO'} |"
    )
    print(
        f"| (b) {b['games']:,} x {b['actions']}x{b['actions']}, FP {fp['iterations']} it "
        f"| {fp['game_iters_per_s']:,.0f} | {b['nashpy_game_iters_per_s']:,.0f} "
        f"| {b['ratio']:,.1f}x | - | - |"
    )
    print(
        "\n| case | solver | iters | game-iter/s | payoff reads/step | [G,n,n] temporaries/step | GB/s read "
        "| np.copyto GB/s read | % of copy | >= 50%? | compile s (1st-median / AOT) | median expl |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for label in ("b", "b_dram"):
        if label not in summary:
            continue
        c = summary[label]
        case = f"({label}) {c['games']:,} games, {c['payoff_bytes'] / 1e6:.0f} MB"
        for name, s in c["solvers"].items():
            print(
                f"| {case} | {name} | {s['iterations']} | {s['game_iters_per_s']:,.0f} "
                f"| {s['payoff_reads_per_step']} | {s['nn_temporaries_per_step']} "
                f"| {s['read_GBps']:.2f} | {c['numpy_copy_read_GBps']:.2f} "
                f"| {100 * s['fraction_of_copy']:.0f}% | {'yes' if s['met'] else 'NO'} "
                f"| {s['compile_s']:.2f} / {s['aot_compile_s']:.2f} | {s['median_exploitability']:.2e} |"
            )
        ref = c["reference_matvec"]
        print(
            f"| {case} | (reference: bare mat-vec) | {ref['iterations']} | - | 1 | 0 "
            f"| {ref['read_GBps']:.2f} "
            f"| {c['numpy_copy_read_GBps']:.2f} | {100 * ref['fraction_of_copy']:.0f}% | - | - | - |"
        )
    print(
        f"\ncompile time (a): {a['compile_s']:.2f} s (first call - median), "
        f"{a['aot_compile_s']:.2f} s (AOT trace + lower + compile)"
    )


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--no-other-solvers", action="store_true", help="in (b), time fictitious play only")
    parser.add_argument("--seed", type=int, default=0)
    args, info, cpu = start_run(parser, argv, packages=("nashpy",))
    cfg = QUICK if args.quick else FULL

    key_a, key_b, key_c = jax.random.split(jax.random.PRNGKey(args.seed), 3)
    rows, summary = [], {}
    bench_small(cfg, args.repeats, key_a, rows, summary)

    tol, T = cfg["tolerance"], cfg["big_iters"]
    specs = [("fictitious_play", solvers.fictitious_play(), T, tol["big"])]
    if not args.no_other_solvers:
        specs += [
            (name, factory(), cfg["other_iters"][name], tol[name])
            for name, factory in (
                ("regret_matching_plus", solvers.regret_matching_plus),
                ("mirror_prox", solvers.mirror_prox),
                ("extragradient", solvers.extragradient),
            )
        ]
    games = make_games(key_b, cfg["big_games"], cfg["big_actions"])
    bench_big("b", games, T, specs, args.repeats, rows, summary, nashpy_games=cfg["big_nashpy_games"])
    del games
    if cfg["dram_games"]:
        games = make_games(key_c, cfg["dram_games"], cfg["big_actions"])
        bench_big(
            "b_dram",
            games,
            cfg["dram_iters"],
            [("fictitious_play", specs[0][1], cfg["dram_iters"], tol["dram"])],
            args.repeats,
            rows,
            summary,
        )
        del games
    print_table(summary)

    cpu.finish(info)
    command = args.command_line
    stem = "bench_matrix_quick" if args.quick else "bench_matrix"
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": cfg,
        "machine": info,
        "summary": summary,
        "rows": rows,
    }
    fields = [
        "case",
        "implementation",
        "solver",
        "num_games",
        "num_actions",
        "iterations",
        "median_s",
        "min_s",
        "compile_s",
        "aot_compile_s",
        "game_iters_per_s",
        "payoff_reads_per_step",
        "nn_temporaries_per_step",
        "read_GBps",
        "fraction_of_copy",
        "median_exploitability",
        "cpu_utilization",
    ]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    main()
