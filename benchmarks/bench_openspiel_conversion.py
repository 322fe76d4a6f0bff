"""OpenSpiel conversion: ``from_openspiel`` and ``to_openspiel_policy`` on 3-player Leduc (1.83M histories).

Per game, in a fresh process (so that its peak resident memory is its own), CPU seconds next to wall
seconds (the machine is shared):

* ``from_openspiel(game)``: the public call (``workers=None``: the walk goes parallel, in
  ``auto_workers`` processes, when the tree is estimated at 200,000 histories or more), its CPU
  split into this process's and its workers', then its parts again on their own: the walk in one
  process (``build_tree``: one ``child`` per history through pyspiel), the walk in ``auto_workers``
  processes (``parallel_tree``, when above 1) and ``EFGGame`` (the sequence form, vectorized by
  depth, and the policy-free weights); the process's peak RSS after the conversion, and above the
  imports, and when the walk is over; the workers' largest peak RSS (``RUSAGE_CHILDREN``) and a
  bound on the peak of all processes together (the larger of this one's peak, and its peak during
  the walk plus each worker's at the largest); the serial conversion
  (``from_openspiel(game, workers=1)``) after the memory is read;
* a worker's start-up: a fresh interpreter importing NumPy and pyspiel (what a walk worker imports)
  next to one importing ``jaxgames`` (what a ``multiprocessing`` spawn or forkserver worker would
  import to unpickle a function of the package; forking after JAX started its threads is unsafe);
* ``to_openspiel_policy``: the first call (finds one representative state per information set and
  builds OpenSpiel's own ``TabularPolicy`` from them, once per tree and game) and the median of
  ``--repeats`` later calls (copy and gather); ``from_openspiel_policy``'s median;
* what limits the walk: the bare pyspiel walk (``child`` and ``current_player`` at every history,
  ``returns`` / ``information_state_string`` + ``legal_actions`` / ``chance_outcomes`` where the
  walk needs them, nothing recorded);
* peer, after the memory is read: OpenSpiel's ``TabularPolicy(game)``, which walks every state in
  Python (the former ``to_openspiel_policy`` did this plus a second walk, at every call).

Targets (issue 16): conversion <= 5 s and <= 1 GB, policy conversion <= 1 s, on 3-player Leduc::

    python benchmarks/bench_openspiel_conversion.py            # Kuhn 3p, Leduc, Leduc 3p
    python benchmarks/bench_openspiel_conversion.py --quick    # Kuhn, Leduc
"""

from __future__ import annotations

import json
import sys
import time

from _common import own_cpu_seconds, run_case, standard_parser, start_run, write_results

QUICK = ["kuhn_poker", "leduc_poker"]
FULL = ["kuhn_poker(players=3)", "leduc_poker", "leduc_poker(players=3)"]
TARGET_GAME = "leduc_poker(players=3)"
TARGETS = dict(conversion_s=5.0, peak_gb=1.0, policy_s=1.0)


def _timed(fn, *args):
    """``(output, wall s, own CPU s)`` of one call."""
    c0, t0 = own_cpu_seconds(), time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0, own_cpu_seconds() - c0


def _bare_walk(spiel) -> int:
    """The pyspiel calls the walk cannot avoid, breadth-first, nothing recorded: the histories."""
    level, count = [spiel.new_initial_state()], 1
    while level:
        nxt = []
        for state in level:
            cp = state.current_player()
            actions = (
                [a for a, _ in state.chance_outcomes()]
                if cp < 0
                else (state.information_state_string(cp), state.legal_actions())[1]
            )
            count += len(actions)
            for a in actions:
                child = state.child(a)
                if child.current_player() == -4:
                    child.returns()
                else:
                    nxt.append(child)
        level = nxt
    return count


def _startup(code: str) -> tuple:
    """``(wall s, CPU s)`` of a fresh interpreter that runs ``code``."""
    import os
    import subprocess

    c0, t0 = os.times(), time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    c1 = os.times()
    return time.perf_counter() - t0, (c1.children_user + c1.children_system) - (c0.children_user + c0.children_system)


def one_case(name: str, repeats: int, peers: bool) -> dict:
    """Measure one game in this process (the child's side)."""
    import resource
    import statistics

    import jax
    import numpy as np
    import pyspiel

    from jaxgames.efg import EFGGame, build_tree, from_openspiel, from_openspiel_policy, to_openspiel_policy
    from jaxgames.efg.openspiel import auto_workers, parallel_tree

    def rss_gb(who=resource.RUSAGE_SELF):
        return resource.getrusage(who).ru_maxrss / 2**20

    import jaxgames.efg.openspiel as conversion

    jax.devices()
    spiel = pyspiel.load_game(name)
    base_gb = rss_gb()
    workers = auto_workers(spiel)
    walk_peak = []  # this process's peak RSS when the walk is over (EFGGame not yet started)

    def efg_game(*args, **kwargs):
        walk_peak.append(rss_gb())
        return EFGGame(*args, **kwargs)

    conversion.EFGGame = efg_game
    parent_cpu0 = time.process_time()
    game, conv_s, conv_cpu = _timed(lambda: from_openspiel(spiel, max_histories=10**8))
    parent_cpu = time.process_time() - parent_cpu0
    peak_gb, children_gb = rss_gb(), rss_gb(resource.RUSAGE_CHILDREN)
    conversion.EFGGame = EFGGame
    tree, walk_s, walk_cpu = _timed(lambda: build_tree(spiel, max_histories=10**8))
    _, game_s, game_cpu = _timed(EFGGame, tree)
    tree = None
    par_s = par_cpu = None
    if workers > 1:
        _, par_s, par_cpu = _timed(lambda: parallel_tree(spiel, workers, max_histories=10**8))
    _, serial_s, serial_cpu = _timed(lambda: from_openspiel(spiel, max_histories=10**8, workers=1))
    rng = np.random.default_rng(0)
    raw = [np.where(m, rng.random(m.shape), 0.0) for m in game.tree.legal]
    policy = tuple(p / p.sum(-1, keepdims=True) for p in raw)
    tab, first_s, first_cpu = _timed(to_openspiel_policy, game, policy, spiel)
    later = [_timed(to_openspiel_policy, game, policy, spiel)[1:] for _ in range(repeats)]
    back = [_timed(from_openspiel_policy, game, tab, spiel)[1:] for _ in range(repeats)]
    err = max(float(np.max(np.abs(np.asarray(b) - p))) for b, p in zip(from_openspiel_policy(game, tab, spiel), policy))
    assert err < 1e-6, err
    out = dict(
        game=name,
        histories=game.tree.num_histories,
        infosets=list(game.tree.num_infosets),
        workers=workers,
        conversion_s=conv_s,
        conversion_cpu_s=conv_cpu,
        conversion_parent_cpu_s=parent_cpu,
        conversion_workers_cpu_s=conv_cpu - parent_cpu,
        conversion_serial_s=serial_s,
        conversion_serial_cpu_s=serial_cpu,
        walk_s=walk_s,
        walk_cpu_s=walk_cpu,
        parallel_walk_s=par_s,
        parallel_walk_cpu_s=par_cpu,
        efg_game_s=game_s,
        efg_game_cpu_s=game_cpu,
        peak_rss_gb=peak_gb,
        imports_rss_gb=base_gb,
        conversion_rss_gb=peak_gb - base_gb,
        walk_peak_rss_gb=walk_peak[0],
        workers_peak_rss_gb=children_gb if workers > 1 else 0.0,
        # all processes together: during the walk at most this one's peak then and each worker's peak,
        # afterwards this one alone
        peak_total_bound_gb=max(peak_gb, walk_peak[0] + (workers - 1) * children_gb if workers > 1 else 0.0),
        policy_first_s=first_s,
        policy_first_cpu_s=first_cpu,
        policy_median_s=statistics.median(w for w, _ in later),
        policy_median_cpu_s=statistics.median(c for _, c in later),
        from_policy_median_s=statistics.median(w for w, _ in back),
        round_trip_max_error=err,
    )
    _, out["bare_walk_s"], out["bare_walk_cpu_s"] = _timed(_bare_walk, spiel)
    out["worker_startup_s"], out["worker_startup_cpu_s"] = _startup("import numpy, pyspiel")
    out["jaxgames_startup_s"], out["jaxgames_startup_cpu_s"] = _startup("import jaxgames")
    if peers:
        from open_spiel.python import policy as policy_lib

        own, out["openspiel_tabular_policy_s"], out["openspiel_tabular_policy_cpu_s"] = _timed(
            policy_lib.TabularPolicy, spiel
        )
        assert own.state_lookup == tab.state_lookup  # the very table OpenSpiel builds
    return out


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--no-peers", action="store_true", help="skip OpenSpiel's TabularPolicy(game)")
    args, info, cpu = start_run(parser, argv, packages=("open_spiel",))
    start = time.perf_counter()
    rows = []
    for name in QUICK if args.quick else FULL:
        print(f"{name} ...", flush=True)
        peers = ["--no-peers"] if args.no_peers else []
        row, error = run_case(__file__, ["--one", name, "--repeats", args.repeats, *peers])
        if row is None:
            rows.append(dict(game=name, run=False, error=error))
            continue
        row["run"] = True
        rows.append(row)
        peer = (
            f"; OpenSpiel TabularPolicy(game) {row['openspiel_tabular_policy_s']:.1f} s"
            if "openspiel_tabular_policy_s" in row
            else ""
        )
        par = (
            f", walk in {row['workers']} processes {row['parallel_walk_s']:.2f} s "
            f"({row['parallel_walk_cpu_s']:.2f} s CPU)"
            if row["parallel_walk_s"] is not None
            else ""
        )
        print(
            f"  {row['histories']:,} histories: from_openspiel {row['conversion_s']:.2f} s "
            f"({row['workers']} processes; {row['conversion_cpu_s']:.2f} s CPU, "
            f"{row['conversion_parent_cpu_s']:.2f} here, {row['conversion_workers_cpu_s']:.2f} in workers); "
            f"in one process {row['conversion_serial_s']:.2f} s ({row['conversion_serial_cpu_s']:.2f} s CPU: "
            f"walk {row['walk_cpu_s']:.2f}, EFGGame {row['efg_game_cpu_s']:.2f}){par}; "
            f"peak {row['peak_rss_gb']:.2f} GB (+{row['conversion_rss_gb']:.2f} over the imports; "
            f"{row['walk_peak_rss_gb']:.2f} GB after the walk, "
            f"workers {row['workers_peak_rss_gb']:.2f} GB each at most, "
            f"all processes <= {row['peak_total_bound_gb']:.2f} GB); "
            f"worker start-up {row['worker_startup_s']:.2f} s (importing jaxgames: {row['jaxgames_startup_s']:.2f} s); "
            f"to_openspiel_policy first {row['policy_first_s']:.2f} s ({row['policy_first_cpu_s']:.2f} s CPU), "
            f"then {row['policy_median_s'] * 1e3:.1f} ms; "
            f"bare pyspiel walk {row['bare_walk_cpu_s']:.2f} s CPU{peer}",
            flush=True,
        )
    targets = {}
    for row in rows:
        if row.get("run") and row["game"] == TARGET_GAME:
            targets = dict(
                conversion_s=row["conversion_s"] <= TARGETS["conversion_s"],
                conversion_cpu_s=row["conversion_cpu_s"] <= TARGETS["conversion_s"],
                peak_gb=row["peak_rss_gb"] <= TARGETS["peak_gb"],
                peak_total_gb=row["peak_total_bound_gb"] <= TARGETS["peak_gb"],
                policy_s=max(row["policy_first_s"], row["policy_median_s"]) <= TARGETS["policy_s"],
                policy_cpu_s=max(row["policy_first_cpu_s"], row["policy_median_cpu_s"]) <= TARGETS["policy_s"],
            )
            print(f"targets on {TARGET_GAME} ({TARGETS}): {targets}")
    info["wall_s"] = time.perf_counter() - start
    cpu.finish(info)
    payload = dict(command=args.command_line, machine=info, targets=TARGETS, met=targets, cases=rows)
    stem = "bench_openspiel_conversion" + ("_quick" if args.quick else "")
    fields = ["game", "histories", "workers", "conversion_s", "conversion_cpu_s", "conversion_parent_cpu_s"]
    fields += ["conversion_serial_s", "walk_cpu_s", "parallel_walk_s", "efg_game_cpu_s", "peak_rss_gb"]
    fields += ["workers_peak_rss_gb", "peak_total_bound_gb", "worker_startup_s"]
    fields += ["policy_first_s", "policy_median_s", "bare_walk_cpu_s", "openspiel_tabular_policy_s", "run"]
    write_results(stem, payload, rows, fields, info["wall_s"])


if __name__ == "__main__":
    if "--one" in sys.argv:
        name = sys.argv[sys.argv.index("--one") + 1]
        repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 5
        print(json.dumps(one_case(name, repeats, "--no-peers" not in sys.argv)))
    else:
        main()
