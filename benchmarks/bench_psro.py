"""PSRO on Kuhn and Leduc poker: NashConv against policies in the population and against wall time.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_psro.py                    # full run
    python benchmarks/bench_psro.py --quick            # smoke test (small populations), not for quoting
    python benchmarks/bench_psro.py --wait-idle 300    # first wait (up to 300 s) for an idle machine

For every game (``jaxgames.kuhn_poker()``, ``jaxgames.leduc_poker()``) and every configuration of
``solvers.sampled.psro.psro`` (below), one jitted ``step`` is called in a Python loop until the
population is full; after each step we record the wall time of the step (blocked; the first call,
which compiles, is reported apart as ``compile_s`` and its time replaced by the median step), the
number of policies per player, the exact NashConv of the reported policy (``game.nash_conv``, not
timed) and the meta-game NashConv of the meta-strategy (how well ``meta_steps`` of the
meta-solver solved the restricted game). Configurations:

* ``exact``: exact oracle (``game.best_response``) and exact meta-game (``game.evaluate``);
* ``sampled``: the sample-based variant (certainty-equivalence Monte Carlo best responses and
  meta-game entries estimated from simulated episodes; key 0).

Reference: OpenSpiel's PSRO reproductions report NashConv ~0.008 on Kuhn poker with 157 policies
(reinforcement-learning or exact best responses, various meta-solvers). Results are printed and
written to ``benchmarks/results/bench_psro[_quick].{json,csv,png}``.
"""

from __future__ import annotations

import time

import jax
import numpy as np

import jaxgames
from solvers.sampled.psro import meta_nash_conv, psro

from _common import RESULTS_DIR, nash_conv_figure, save_figure, standard_parser, start_run, write_results

KUHN_REFERENCE = {"nash_conv": 0.008, "policies": 157, "source": "OpenSpiel PSRO reproductions"}

FULL = {
    "kuhn_poker": {
        "exact": dict(max_policies=157, meta_steps=2000),
        "sampled": dict(oracle="sampled", max_policies=157, meta_steps=2000, num_episodes=1024, oracle_episodes=16384),
    },
    "leduc_poker": {
        "exact": dict(max_policies=256, meta_steps=2000),
        "sampled": dict(oracle="sampled", max_policies=64, meta_steps=2000, num_episodes=512, oracle_episodes=65536),
    },
}
QUICK = {
    "kuhn_poker": {
        "exact": dict(max_policies=12, meta_steps=1000),
        "sampled": dict(oracle="sampled", max_policies=8, meta_steps=1000, num_episodes=256, oracle_episodes=4096),
    },
    "leduc_poker": {
        "exact": dict(max_policies=12, meta_steps=1000),
        "sampled": dict(oracle="sampled", max_policies=6, meta_steps=1000, num_episodes=128, oracle_episodes=8192),
    },
}


def run_config(game_name: str, game, label: str, hyper: dict) -> tuple[list, dict]:
    """Step PSRO until its population is full; one row per step."""
    solver = psro(**hyper)
    key = jax.random.PRNGKey(0)
    state = solver.init(game, key)
    step = jax.jit(solver.step)
    nash_conv = jax.jit(game.nash_conv)
    meta = jax.jit(meta_nash_conv)
    extra = state.extra
    rows = [
        {
            "section": "psro",
            "game": game_name,
            "config": label,
            "step": 0,
            "policies": int(extra.size),
            "step_s": 0.0,
            "nash_conv": float(nash_conv(solver.output(state))),
            "meta_nash_conv": 0.0,
        }
    ]
    times, compile_s = [], None
    for t in range(hyper["max_policies"] - 1):
        t0 = time.perf_counter()
        state = jax.block_until_ready(step(game, state))
        dt = time.perf_counter() - t0
        if t == 0:
            compile_s = dt
        times.append(dt)
        extra = state.extra
        rows.append(
            {
                "section": "psro",
                "game": game_name,
                "config": label,
                "step": t + 1,
                "policies": int(extra.size),
                "step_s": dt,
                "nash_conv": float(nash_conv(solver.output(state))),
                "meta_nash_conv": float(meta(extra.meta_payoffs, extra.meta_strategy, extra.size)),
            }
        )
    median = float(np.median(times[1:])) if len(times) > 1 else times[0]
    rows[1]["step_s"] = median  # the first call compiled; count it as a typical step
    elapsed = 0.0
    for row in rows:
        elapsed += row["step_s"]
        row["wall_s"] = elapsed
    summary = {
        "game": game_name,
        "config": label,
        "hyperparameters": hyper,
        "compile_s": max(compile_s - median, 0.0),
        "median_step_s": median,
        "final_policies": rows[-1]["policies"],
        "final_nash_conv": rows[-1]["nash_conv"],
        "initial_nash_conv": rows[0]["nash_conv"],
        "best_nash_conv": min(r["nash_conv"] for r in rows),
        "final_meta_nash_conv": rows[-1]["meta_nash_conv"],
        "wall_s": rows[-1]["wall_s"],
    }
    print(
        f"  {game_name:12s} {label:8s} {summary['final_policies']:4d} policies  "
        f"NashConv {summary['final_nash_conv']:.4g} (best {summary['best_nash_conv']:.4g})  "
        f"meta NashConv {summary['final_meta_nash_conv']:.2g}  {median * 1e3:8.1f} ms/step  "
        f"compile {summary['compile_s']:.1f} s",
        flush=True,
    )
    return rows, summary


def plot(rows: list, path) -> None:
    games = sorted({r["game"] for r in rows})
    fig, axes = nash_conv_figure(games)
    for g, game in enumerate(games):
        for label in sorted({r["config"] for r in rows if r["game"] == game}):
            mine = [r for r in rows if r["game"] == game and r["config"] == label]
            policies = [r["policies"] for r in mine]
            wall = [r["wall_s"] for r in mine]
            nash_conv = [max(r["nash_conv"], 1e-7) for r in mine]
            axes[g, 0].plot(policies, nash_conv, marker=".", label=label)
            axes[g, 1].plot(wall, nash_conv, marker=".", label=label)
        if game == "kuhn_poker":
            axes[g, 0].axhline(
                KUHN_REFERENCE["nash_conv"],
                color="gray",
                ls=":",
                label=f"OpenSpiel ref. ({KUHN_REFERENCE['policies']} policies)",
            )
        axes[g, 0].set_xlabel("policies per player")
        axes[g, 1].set_xlabel("wall time of the steps (s, compile excluded)")
    save_figure(fig, path)


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--games", default="kuhn_poker,leduc_poker", help="comma-separated subset")
    args, info, cpu = start_run(parser, argv)
    cfg = QUICK if args.quick else FULL
    makers = {"kuhn_poker": jaxgames.kuhn_poker, "leduc_poker": jaxgames.leduc_poker}
    rows, summary = [], []
    for name in args.games.split(","):
        game = makers[name]()
        for label, hyper in cfg[name].items():
            config_rows, config_summary = run_config(name, game, label, hyper)
            rows += config_rows
            summary.append(config_summary)
    cpu.finish(info)
    command = args.command_line
    stem = "bench_psro_quick" if args.quick else "bench_psro"
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "config": cfg,
        "reference": KUHN_REFERENCE,
        "machine": info,
        "summary": summary,
        "rows": rows,
    }
    fields = ["section", "game", "config", "step", "policies", "step_s", "wall_s", "nash_conv", "meta_nash_conv"]
    write_results(stem, payload, rows, fields, info["wall_s"])
    png = RESULTS_DIR / f"{stem}{'_low_latency' if info.get('low_latency') else ''}.png"
    plot(rows, png)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
