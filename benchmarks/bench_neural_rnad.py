"""R-NaD (``solvers.neural.rnad``) on Kuhn and Leduc poker: exact NashConv of the output against
learner steps and wall time.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_neural_rnad.py                    # Kuhn ~90 s, Leduc ~180 s of learning
    python benchmarks/bench_neural_rnad.py --quick            # smoke test (seconds), not for quoting
    python benchmarks/bench_neural_rnad.py --games kuhn_poker --seconds 60

For every game, ``chunk`` learner steps are compiled as one function (``lax.fori_loop`` over
``solver.step``; the compile time is reported apart as ``compile_s``) and called in a Python loop
until the wall-time budget of the steps is spent; after each chunk the exact NashConv of
``solver.output(state)`` (the target network's policy) is recorded (``game.nash_conv``, not
timed). Key 0, the hyperparameters in ``CONFIG``. Results are printed and written to
``benchmarks/results/bench_neural_rnad[_quick].{json,csv,png}``.
"""

from __future__ import annotations

import time

import jax
import numpy as np

import jaxgames
from solvers.neural.rnad import rnad

from _common import RESULTS_DIR, nash_conv_figure, save_figure, standard_parser, start_run, write_results

CONFIG = {
    "kuhn_poker": {"seconds": 90.0, "chunk": 100, "hyper": dict(hidden_sizes=(64,), batch_size=256)},
    "leduc_poker": {
        "seconds": 180.0,
        "chunk": 250,
        "hyper": dict(hidden_sizes=(128,), batch_size=256, period=1000, target_rate=0.003),
    },
}
QUICK = {
    "kuhn_poker": {"seconds": 3.0, "chunk": 50, "hyper": dict(hidden_sizes=(32,), batch_size=64)},
    "leduc_poker": {"seconds": 3.0, "chunk": 20, "hyper": dict(hidden_sizes=(32,), batch_size=32)},
}


def run_game(name: str, game, cfg: dict, seconds: float) -> tuple[list, dict]:
    solver = rnad(**cfg["hyper"])
    chunk = cfg["chunk"]
    state = solver.init(game, jax.random.key(0))
    advance = jax.jit(lambda s: jax.lax.fori_loop(0, chunk, lambda _, x: solver.step(game, x), s))
    t0 = time.perf_counter()
    advance = advance.lower(state).compile()
    compile_s = time.perf_counter() - t0
    nash_conv = jax.jit(game.nash_conv)
    rows = [
        {"game": name, "step": 0, "wall_s": 0.0, "chunk_s": 0.0, "nash_conv": float(nash_conv(solver.output(state)))}
    ]
    wall = 0.0
    while wall < seconds:
        t0 = time.perf_counter()
        state = jax.block_until_ready(advance(state))
        dt = time.perf_counter() - t0
        wall += dt
        rows.append(
            {
                "game": name,
                "step": int(state.step),
                "wall_s": wall,
                "chunk_s": dt,
                "nash_conv": float(nash_conv(solver.output(state))),
            }
        )
    times = [r["chunk_s"] for r in rows[1:]]
    summary = {
        "game": name,
        "hyperparameters": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg["hyper"].items()},
        "chunk": chunk,
        "compile_s": compile_s,
        "median_step_ms": 1e3 * float(np.median(times)) / chunk,
        "steps": rows[-1]["step"],
        "wall_s": wall,
        "initial_nash_conv": rows[0]["nash_conv"],
        "final_nash_conv": rows[-1]["nash_conv"],
        "best_nash_conv": min(r["nash_conv"] for r in rows),
    }
    print(
        f"  {name:12s} {summary['steps']:6d} steps in {wall:6.1f} s ({summary['median_step_ms']:.2f} ms/step, "
        f"compile {compile_s:.1f} s)  NashConv {summary['initial_nash_conv']:.3f} -> "
        f"{summary['final_nash_conv']:.4f} (best {summary['best_nash_conv']:.4f})",
        flush=True,
    )
    for r in rows[:: max(1, len(rows) // 12)]:
        print(f"      step {r['step']:6d}  {r['wall_s']:7.1f} s  NashConv {r['nash_conv']:.4f}")
    return rows, summary


def plot(rows: list, path) -> None:
    games = sorted({r["game"] for r in rows})
    fig, axes = nash_conv_figure(games)
    for g, game in enumerate(games):
        mine = [r for r in rows if r["game"] == game]
        for ax, x, label in (
            (axes[g, 0], "step", "learner steps"),
            (axes[g, 1], "wall_s", "wall time of the steps (s, compile excluded)"),
        ):
            ax.plot([r[x] for r in mine], [r["nash_conv"] for r in mine], marker=".")
            ax.set_xlabel(label)
    save_figure(fig, path)


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--games", default="kuhn_poker,leduc_poker", help="comma-separated subset")
    parser.add_argument("--seconds", type=float, default=None, help="wall-time budget per game (overrides)")
    args, info, cpu = start_run(parser, argv, packages=("flax", "optax"))
    cfg = QUICK if args.quick else CONFIG
    makers = {"kuhn_poker": jaxgames.kuhn_poker, "leduc_poker": jaxgames.leduc_poker}
    rows, summary = [], []
    for name in args.games.split(","):
        game_rows, game_summary = run_game(
            name, makers[name](), cfg[name], args.seconds if args.seconds else cfg[name]["seconds"]
        )
        rows += game_rows
        summary.append(game_summary)
    cpu.finish(info)
    command = args.command_line
    stem = "bench_neural_rnad_quick" if args.quick else "bench_neural_rnad"
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "config": {
            k: {**v, "hyper": {h: list(x) if isinstance(x, tuple) else x for h, x in v["hyper"].items()}}
            for k, v in cfg.items()
        },
        "machine": info,
        "summary": summary,
        "rows": rows,
    }
    write_results(stem, payload, rows, ["game", "step", "wall_s", "chunk_s", "nash_conv"], info["wall_s"])
    png = RESULTS_DIR / f"{stem}{'_low_latency' if info.get('low_latency') else ''}.png"
    plot(rows, png)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
