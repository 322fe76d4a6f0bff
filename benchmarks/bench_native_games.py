"""Native liar's dice and goofspiel: how large a game exact exploitability handles, and how fast.

Per size, in a fresh process (so that its peak resident memory is its own): building the tree
(``jaxgames.efg.native.liars_dice_tree`` / ``goofspiel_tree``: NumPy, level by level), ``EFGGame``
(the sequence form), compiling ``nash_conv`` ahead of time, and the median of ``--repeats`` exact
NashConv calls on the uniform policy; the process's peak RSS. Peer, in the same run, on the sizes
up to ``PEER_MAX_HISTORIES``: OpenSpiel's C++ ``pyspiel.nash_conv`` (uniform policy) and our
``from_openspiel`` (the Python walk of OpenSpiel's game) for the build. Sizes whose estimated
memory (0.3 GB plus the histories times the most bytes per history measured so far on that game)
is above ``--max-gb`` are not run, only extrapolated (printed at the end)::

    python benchmarks/bench_native_games.py                 # up to liar's dice 1x8, goofspiel 5 random
    python benchmarks/bench_native_games.py --max-gb 11.5   # + liar's dice 2x4, 4x2, goofspiel 7 (peaks 14 GB)
    python benchmarks/bench_native_games.py --quick         # smoke test
"""

from __future__ import annotations

import json
import sys
import time

from _common import run_case, standard_parser, start_run, write_results

QUICK = [("liars_dice", (1, 5)), ("goofspiel", (5, "descending")), ("goofspiel", (4, "random"))]
FULL = [
    ("liars_dice", (1, 6)),
    ("liars_dice", (3, 2)),
    ("liars_dice", (2, 3)),
    ("liars_dice", (1, 7)),
    ("liars_dice", (1, 8)),
    ("liars_dice", (2, 4)),
    ("liars_dice", (4, 2)),
    ("liars_dice", (1, 9)),
    ("liars_dice", (1, 10)),
    ("goofspiel", (5, "descending")),
    ("goofspiel", (6, "descending")),
    ("goofspiel", (7, "descending")),
    ("goofspiel", (4, "random")),
    ("goofspiel", (5, "random")),
]
#: peers (OpenSpiel's C++ NashConv, from_openspiel) only up to this many histories
PEER_MAX_HISTORIES = 400_000


def _rules(kind, args):
    from jaxgames.efg.rules.goofspiel import goofspiel_rules
    from jaxgames.efg.rules.liars_dice import liars_dice_rules

    if kind == "liars_dice":
        return liars_dice_rules(*args)
    return goofspiel_rules(num_cards=args[0], points_order=args[1])


def _spiel(kind, args):
    import pyspiel

    if kind == "liars_dice":
        return pyspiel.load_game("liars_dice", {"numdice": args[0], "dice_sides": args[1]})
    params = {"num_cards": args[0], "points_order": args[1], "imp_info": True}
    return pyspiel.convert_to_turn_based(pyspiel.load_game("goofspiel", params))


def one_case(kind: str, args: tuple, repeats: int, peers: bool) -> dict:
    """Measure one size in this process (the child's side)."""
    import resource

    import jax

    from jaxgames.experiments.timing import aot_compile, time_calls

    def rss_gb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    from jaxgames.efg.game import EFGGame
    from jaxgames.efg.native import goofspiel_tree, liars_dice_tree

    rules = _rules(kind, args)
    t0 = time.perf_counter()
    tree = (liars_dice_tree if kind == "liars_dice" else goofspiel_tree)(rules)
    build_s = time.perf_counter() - t0
    build_rss = rss_gb()
    t0 = time.perf_counter()
    game = EFGGame(tree, name=f"{kind}{args}")
    game_s = time.perf_counter() - t0
    policy = game.uniform_policy()
    compiled, compile_s = aot_compile(jax.jit(lambda g, p: g.nash_conv(p)), game, policy)
    value, _ = time_calls(compiled, game, policy)
    _, timing = time_calls(compiled, game, policy, repeats=repeats)
    out = dict(
        game=kind,
        args=list(args),
        histories=tree.num_histories,
        infosets=list(tree.num_infosets),
        build_s=build_s,
        sequence_form_s=game_s,
        compile_s=compile_s,
        nash_conv_median_s=timing.median_s,
        nash_conv_times_s=list(timing.times_s),
        nash_conv_uniform=float(value),
        build_peak_rss_gb=build_rss,
        peak_rss_gb=rss_gb(),
    )
    if peers and tree.num_histories <= PEER_MAX_HISTORIES:
        import pyspiel

        from jaxgames.efg.openspiel import from_openspiel

        spiel = _spiel(kind, args)
        t0 = time.perf_counter()
        expected = pyspiel.nash_conv(spiel, pyspiel.UniformRandomPolicy(spiel))
        out["openspiel_nash_conv_s"] = time.perf_counter() - t0
        out["openspiel_nash_conv_uniform"] = expected
        assert abs(expected - out["nash_conv_uniform"]) < 1e-4, (expected, out["nash_conv_uniform"])
        t0 = time.perf_counter()
        from_openspiel(spiel, max_histories=10**8)
        out["from_openspiel_s"] = time.perf_counter() - t0
    return out


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--max-gb", type=float, default=8.0, help="skip sizes estimated above this many GB")
    parser.add_argument("--no-peers", action="store_true", help="skip OpenSpiel's NashConv and from_openspiel")
    args, info, cpu = start_run(parser, argv, packages=("open_spiel",))
    start = time.perf_counter()
    cases = QUICK if args.quick else FULL
    rows = []
    # bytes per history above the process's baseline, per game: the most measured on a size above
    # 500k histories so far (600 before any)
    per_history, measured, baseline_gb = {"liars_dice": 600.0, "goofspiel": 600.0}, {}, 0.3
    for kind, case in cases:
        count = _rules(kind, case).num_histories()
        estimate = baseline_gb + count * per_history[kind] / 2**30
        label = f"{kind}{case}"
        if estimate > args.max_gb:
            print(f"{label}: {count:,} histories, ~{estimate:.1f} GB estimated: not run (above --max-gb)")
            rows.append(dict(game=kind, args=list(case), histories=count, estimated_gb=estimate, run=False))
            continue
        print(f"{label}: {count:,} histories ...", flush=True)
        peers = ["--no-peers"] if args.no_peers else []
        row, error = run_case(__file__, ["--one", kind, *case, "--repeats", args.repeats, *peers])
        if row is None:
            rows.append(dict(game=kind, args=list(case), histories=count, run=False, error=error))
            continue
        row["run"] = True
        if count > 500_000:
            measured[kind] = max(measured.get(kind, 0.0), (row["peak_rss_gb"] - baseline_gb) * 2**30 / count)
            per_history[kind] = measured[kind]
        rows.append(row)
        peer = (
            f"; OpenSpiel C++ NashConv {row['openspiel_nash_conv_s']:.2f} s, "
            f"from_openspiel {row['from_openspiel_s']:.1f} s"
            if "openspiel_nash_conv_s" in row
            else ""
        )
        print(
            f"  build {row['build_s']:.1f} s, sequence form {row['sequence_form_s']:.1f} s, compile "
            f"{row['compile_s']:.1f} s, NashConv {row['nash_conv_median_s'] * 1e3:.1f} ms (median), "
            f"peak {row['peak_rss_gb']:.2f} GB{peer}",
            flush=True,
        )
    for row in rows:
        if not row["run"]:
            row["estimated_gb"] = baseline_gb + row["histories"] * per_history[row["game"]] / 2**30
            print(f"{row['game']}{tuple(row['args'])}: estimated {row['estimated_gb']:.1f} GB")
    info["wall_s"] = time.perf_counter() - start
    cpu.finish(info)
    payload = dict(command=args.command_line, machine=info, bytes_per_history=per_history, cases=rows)
    stem = "bench_native_games" + ("_quick" if args.quick else "")
    fields = ["game", "args", "histories", "build_s", "sequence_form_s", "compile_s", "nash_conv_median_s"]
    write_results(stem, payload, rows, fields + ["peak_rss_gb", "estimated_gb", "run"], info["wall_s"])


if __name__ == "__main__":
    if "--one" in sys.argv:
        i = sys.argv.index("--one")
        kind = sys.argv[i + 1]
        raw = sys.argv[i + 2 : i + 4]
        case = (int(raw[0]), int(raw[1])) if kind == "liars_dice" else (int(raw[0]), raw[1])
        repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 5
        print(json.dumps(one_case(kind, case, repeats, "--no-peers" not in sys.argv)))
    else:
        main()
