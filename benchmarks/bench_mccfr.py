"""Monte Carlo CFR against OpenSpiel's C++ solvers: NashConv at equal iterations, iterations/s, batches.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_mccfr.py                  # full run (~8 min on 2 CPU cores)
    python benchmarks/bench_mccfr.py --quick          # smoke test (~2 min), fewer iterations, not for quoting
    python benchmarks/bench_mccfr.py --wait-idle 300  # first wait (up to 300 s) until no other process uses the CPU
    python benchmarks/bench_mccfr.py --rates-only --repeats 3        # only the traversals/s of (2) (~2 min)
    python benchmarks/bench_mccfr.py --rates-only --algorithms es --batches 1024   # one case, while iterating
    python benchmarks/bench_mccfr.py --bounds-seeds 100   # only (4): ES bounds, 100 seeds (~30 min, see (4))

Ours: ``solvers.sampled.mccfr.outcome_sampling_mccfr`` / ``external_sampling_mccfr`` on
``jaxgames.kuhn_poker()`` / ``leduc_poker()``, driven by ``solvers.run`` (one jitted call, the exact
NashConv of the average strategy recorded inside it). Peers: OpenSpiel's C++
``pyspiel.OutcomeSamplingMCCFRSolver(game, 0.6, seed)`` and ``pyspiel.ExternalSamplingMCCFRSolver(game,
seed)`` (``run_iteration()`` once per iteration), in the same process.

**Iterations.** One OpenSpiel iteration (C++ ``RunIteration``, both solvers, and Python
``iteration()``) samples one episode / traversal per player, in turn; so does one of our steps at
``batch_size=1``. A step at batch size ``B`` samples ``B`` traversals per player (all against the
same regrets), i.e. ``B`` iterations' worth of samples: "traversals/s" below counts them all
(``num_players`` per iteration). C++ NashConv is computed exactly by us, on its average policy
converted to our arrays (``pyspiel.nash_conv`` cannot evaluate a policy with unvisited information
states; the two exact NashConvs agree to 1e-4, ``bench_efg.py``).

(1) Batch size 1, equal iteration counts: outcome sampling at 1k / 10k / 100k iterations, external
    sampling at 1k / 10k, on Kuhn and Leduc; medians over ``--repeats`` seeds of the NashConv and
    of the wall time (ours: one compiled call per seed; compile time reported apart). Checks
    OpenSpiel's test bounds (OS: Kuhn <= 0.17, Leduc <= 3.07 at 10k; ES: Kuhn <= 0.05, Leduc <= 2.5
    at 1k, medians) and the target "NashConv no worse than C++ at equal iterations".
(2) Batched, Leduc: for each batch size, NashConv against wall time (200 exact evaluations in the
    run; medians of up to 3 seeds), the time to reach the C++ solver's median NashConv at 100k (OS) / 10k (ES)
    iterations, and traversals/s. The wall time is that of the same run compiled with one evaluation
    (the C++ solver's time excludes its NashConv too); the steps to the target come from the run with
    200. Targets: that time <= 1/10 of the C++ solver's; traversals/s >= 10x the C++ solver's.
(3) Why: the simulator's share of a batched outcome-sampling step (the same number of
    ``env.step`` calls on random legal actions, alone), and compile times.

(4) ``--bounds-seeds N`` (only this section): OpenSpiel's external-sampling bounds (``BOUNDS``: Kuhn <= 0.05,
    Leduc <= 2.5 after 1,000 iterations, batch size 1) over ``N`` seeds, for both averaging schemes,
    ours (``external_sampling_mccfr(average=...)``, the seeds vmapped in one compiled call) and the C++
    solver's (``pyspiel.ExternalSamplingMCCFRSolver(game, seed, pyspiel.MCCFRAverageType.SIMPLE / FULL)``):
    median, mean, quartiles, share of seeds within the bound, and a Mann-Whitney U test of ours against
    C++ per scheme. Also "full, OpenSpiel's timing": our full run's sums with the average taken over
    ``sigma^2 .. sigma^{T+1}`` as OpenSpiel's (it averages after the iteration's regret updates), computed
    from the final state (minus the uniform first policy's weights, plus the final policy's), and the
    paired difference full - simple of ours per key (the same key gives the same regrets under both).
    Most of its time is the C++ solver's full averaging on Leduc (a walk of the whole tree per
    iteration: ~15 s per seed on 2 loaded cores; ours: 100 seeds in one vmapped call, ~25 s).

``--rates-only``: only the traversals/s of (2), ours against the C++ solver timed in turn in the same
process (no NashConv curves, no (1) or (3)); ``--algorithms`` and ``--batches`` narrow it.

Writes ``benchmarks/results/bench_mccfr.{json,csv}`` (``bench_mccfr_quick.*`` with ``--quick``,
``bench_mccfr_rates.*`` with ``--rates-only``, ``bench_mccfr_bounds.*`` with ``--bounds-seeds``) and
``bench_mccfr.png`` (NashConv against wall time on Leduc).
"""

from __future__ import annotations

import contextlib
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pyspiel

import jaxgames
import solvers
from jaxgames.efg.env import EFGEnv
from jaxgames.efg.openspiel import infoset_map
from solvers.sampled.mccfr import (
    _full_average,
    _layout,
    _stack,
    _unstack,
    external_sampling_mccfr,
    outcome_sampling_mccfr,
)

from _common import RESULTS_DIR, standard_parser, start_run, time_blocks, write_results

#: OpenSpiel's own test bounds (NashConv after the iterations), checked on the median of the seeds
BOUNDS = {
    ("os", "kuhn_poker"): (10_000, 0.17),
    ("os", "leduc_poker"): (10_000, 3.07),
    ("es", "kuhn_poker"): (1_000, 0.05),
    ("es", "leduc_poker"): (1_000, 2.5),
}
#: "no worse than C++": our median NashConv <= C++ median * (1 + SAME_RTOL) at equal iterations
#: (seed-to-seed spread: the 16-seed medians of one solver differ by ~20% between seed sets)
SAME_RTOL = 0.25
FACTORIES = {"os": outcome_sampling_mccfr, "es": external_sampling_mccfr}
CPP = {
    "os": lambda game, seed: pyspiel.OutcomeSamplingMCCFRSolver(game, 0.6, seed),
    "es": lambda game, seed: pyspiel.ExternalSamplingMCCFRSolver(game, seed),
}
NAMES = {"os": "outcome sampling", "es": "external sampling"}

FULL = dict(
    checkpoints={"os": (1_000, 10_000, 100_000), "es": (1_000, 10_000)},
    batches={"os": (64, 256, 512, 1024, 2048, 4096, 8192), "es": (32, 256, 1024)},
    plain_batches={"os": (1024, 4096), "es": ()},
    # traversals per player of each batched run (enough to pass the C++ solver's NashConv)
    budget={"os": 1_000_000, "es": 200_000},
    sim_batch=4096,
)
QUICK = dict(
    checkpoints={"os": (1_000, 10_000), "es": (1_000,)},
    batches={"os": (256, 4096), "es": (256,)},
    plain_batches={"os": (1024,), "es": ()},
    budget={"os": 400_000, "es": 20_000},
    sim_batch=1024,
)
#: NashConv evaluations per batched run (~0.2 ms each on Leduc): the time to the C++ solver's NashConv is
#: resolved to 1/EVALS of the run
EVALS = 200
#: the batched runs' solver options (section (2)): outcome sampling with discounted CFR's weights
#: (``discount="dcfr"``, Brown & Sandholm 2019: fewer traversals to the C++ NashConv); batch size 1 keeps
#: OpenSpiel's semantics. The plain solver (OpenSpiel's weights) runs too, at ``plain_batches``.
BATCHED_OPTIONS = {"os": {"discount": "dcfr"}, "es": {}}


# ----------------------------------------------------------------------------- helpers


class CppNashConv:
    """Exact NashConv of an OpenSpiel MCCFR solver's average policy, through our arrays."""

    def __init__(self, game, spiel):
        self.game = game
        self.keys = infoset_map(game, spiel)
        self.nash_conv = jax.jit(lambda p: game.nash_conv(p))

    def __call__(self, solver) -> float:
        avg = solver.average_policy()
        with _quiet_stderr():  # pyspiel prints every unvisited information state it is asked for
            policy = self._arrays(avg)
        return float(self.nash_conv(tuple(policy)))

    def _arrays(self, avg):
        policy = []
        for p, mask in enumerate(self.game.tree.legal):
            probs = mask / mask.sum(-1, keepdims=True)  # uniform at unvisited information sets
            for info, key in self.keys[p].items():
                try:
                    pairs = avg.get_state_policy(key)
                except pyspiel.SpielError:
                    continue
                row = np.zeros(mask.shape[1])
                for a, prob in pairs:
                    row[a] = prob
                probs[info] = row / row.sum()
            policy.append(jnp.asarray(probs, jnp.result_type(float)))
        return policy


@contextlib.contextmanager
def _quiet_stderr():
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def run_cpp(kind, spiel, cpp_nash_conv, checkpoints, seed):
    """One C++ run to the last checkpoint: (NashConv, elapsed solver seconds) at each checkpoint."""
    solver = CPP[kind](spiel, seed)
    done, elapsed, out = 0, 0.0, []
    for target in checkpoints:
        t0 = time.perf_counter()
        for _ in range(target - done):
            solver.run_iteration()
        elapsed += time.perf_counter() - t0
        done = target
        out.append((cpp_nash_conv(solver), elapsed))
    return out


def compile_run(solver, game, steps, every):
    """``solvers.run`` compiled ahead of time for a key argument: (compiled fn, compile seconds)."""
    fn = jax.jit(lambda key: solvers.run(solver, game, steps, eval_every=every, key=key)[1])
    t0 = time.perf_counter()
    compiled = fn.lower(jax.random.key(0)).compile()
    return compiled, time.perf_counter() - t0


def timed(compiled, key):
    t0 = time.perf_counter()
    trace = jax.block_until_ready(compiled(key))
    return trace, time.perf_counter() - t0


# ----------------------------------------------------------------------------- (1) batch size 1


def bench_equal_iterations(kind, name, game, cfg, repeats, rows, summary):
    checkpoints = cfg["checkpoints"][kind]
    spiel = pyspiel.load_game(name)
    cpp_nc = CppNashConv(game, spiel)
    print(
        f"\n(1) {NAMES[kind]} on {name}, batch size 1: NashConv / wall time at {checkpoints} iterations, "
        f"median of {repeats} seeds"
    )
    cpp = np.array([run_cpp(kind, spiel, cpp_nc, checkpoints, seed) for seed in range(repeats)])  # [R, C, 2]

    steps, every = checkpoints[-1], checkpoints[0]
    compiled, compile_s = compile_run(FACTORIES[kind](), game, steps, every)
    ours, walls = [], []
    for seed in range(repeats):
        trace, wall = timed(compiled, jax.random.key(seed))
        at = {int(s): float(v) for s, v in zip(trace.step, trace.nash_conv)}
        ours.append([at[c] for c in checkpoints])
        walls.append(wall)
    ours = np.array(ours)
    wall = float(np.median(walls))
    us_step = 1e6 * wall / steps

    out = summary.setdefault("equal_iterations", {}).setdefault(kind, {})[name] = {
        "checkpoints": list(checkpoints),
        "compile_s": compile_s,
        "ours_wall_s": wall,
        "ours_us_per_iteration": us_step,
        "ours_iterations_per_s": 1e6 / us_step,
        "ours_nash_conv": ours.tolist(),
        "cpp_nash_conv": cpp[:, :, 0].tolist(),
        "cpp_elapsed_s": cpp[:, :, 1].tolist(),
    }
    cpp_rate = checkpoints[-1] / float(np.median(cpp[:, -1, 1]))
    out["cpp_iterations_per_s"] = cpp_rate
    print(f"  {'iterations':>10} {'ours NashConv':>14} {'C++ NashConv':>13} {'ours/C++':>9}")
    verdicts = []
    for j, c in enumerate(checkpoints):
        o, t = float(np.median(ours[:, j])), float(np.median(cpp[:, j, 0]))
        ok = o <= t * (1 + SAME_RTOL)
        verdicts.append(ok)
        print(f"  {c:>10,} {o:>14.4f} {t:>13.4f} {o / t:>9.2f}  {'ok' if ok else 'WORSE'}")
        rows.append(
            dict(
                section="batch_size_1",
                algorithm=kind,
                game=name,
                implementation="ours",
                batch_size=1,
                iterations=c,
                nash_conv=o,
                iters_per_s=1e6 / us_step,
                compile_s=compile_s,
            )
        )
        rows.append(
            dict(
                section="batch_size_1",
                algorithm=kind,
                game=name,
                implementation="openspiel_cpp",
                iterations=c,
                nash_conv=t,
                iters_per_s=cpp_rate,
            )
        )
    out["no_worse_than_cpp"] = all(verdicts)
    print(
        f"  speed: ours {1e6 / us_step:,.0f} it/s ({us_step:.1f} us/it, compile {compile_s:.1f} s apart), "
        f"C++ {cpp_rate:,.0f} it/s: ours/C++ {1e6 / us_step / cpp_rate:.2f}x"
    )
    bound = BOUNDS.get((kind, name))
    if bound and bound[0] in checkpoints:
        j = checkpoints.index(bound[0])
        med = float(np.median(ours[:, j]))
        cpp_med = float(np.median(cpp[:, j, 0]))
        out["openspiel_bound"] = dict(
            iterations=bound[0],
            bound=bound[1],
            ours_median=med,
            ours_max=float(ours[:, j].max()),
            ok=med <= bound[1],
            cpp_median=cpp_med,
            cpp_ok=cpp_med <= bound[1],
        )
        print(
            f"  OpenSpiel's test bound: NashConv <= {bound[1]} after {bound[0]:,} iterations: ours median "
            f"{med:.4f}, max {ours[:, j].max():.4f}: {'ok' if med <= bound[1] else 'FAILED'} (C++ median "
            f"{cpp_med:.4f}: {'ok' if cpp_med <= bound[1] else 'FAILED'})"
        )
        if med > bound[1] * 1.5:
            raise AssertionError(
                f"{kind} on {name}: median NashConv {med:.4g} after {bound[0]} iterations is far "
                f"above OpenSpiel's bound {bound[1]}; refusing to report the speed of a wrong solver"
            )
    return out


# ----------------------------------------------------------------------------- (2) batched


def bench_batched(
    kind, name, game, cfg, repeats, rows, summary, target, cpp_time, cpp_traversal_rate, options=None, section="batched"
):
    """Each batch size runs twice per seed, compiled apart: with ``EVALS`` exact NashConv evaluations
    (the curve; the first evaluation at or below ``target`` gives the steps to it) and with one
    evaluation at the end (the wall time: the step rate without the evaluations, as the C++ solver's
    time excludes its NashConv). Time to the target = those steps x the seconds per step. The C++
    solver runs its ``checkpoints[-1]`` iterations again after each of our timed runs (the machine
    may be shared: both then see the same load); the ratios are to those times (``cpp_time`` and
    ``cpp_traversal_rate``, from section (1), are printed for reference)."""
    spiel = pyspiel.load_game(name)
    cpp_iterations = cfg["checkpoints"][kind][-1]

    def cpp_timer(seed):
        solver = CPP[kind](spiel, seed)
        t0 = time.perf_counter()
        for _ in range(cpp_iterations):
            solver.run_iteration()
        return time.perf_counter() - t0

    options = BATCHED_OPTIONS[kind] if options is None else options
    out = summary.setdefault(section, {}).setdefault(kind, {})
    solver_text = f"{FACTORIES[kind].__name__}(batch_size=B, **{options})"
    summary.setdefault("batched_solvers", {}).setdefault(section, {})[kind] = solver_text
    print(
        f"\n(2) {NAMES[kind]} on {name}, batched, {solver_text}: time to the C++ solver's NashConv {target:.4f} "
        f"(C++ in (1): {cpp_time:.3f} s) and traversals/s (C++ in (1): {cpp_traversal_rate:,.0f}); NashConv every "
        f"1/{EVALS} of the run, times without the evaluations; C++ timed again beside each batch size"
    )
    print(
        f"  {'batch':>6} {'steps':>7} {'compile s':>9} {'traversals/s':>13} {'C++ now':>9} {'x C++':>6} "
        f"{'final NC':>9} {'time to target':>15} {'C++ time':>9} {'/ C++ time':>10}"
    )
    n = game.num_players
    for batch in cfg["batches" if section == "batched" else "plain_batches"][kind]:
        steps = max(EVALS, math.ceil(cfg["budget"][kind] / batch))
        every = max(1, steps // EVALS)
        steps = every * EVALS
        solver = FACTORIES[kind](batch_size=batch, **options)
        compiled, compile_s = compile_run(solver, game, steps, every)
        plain, plain_compile_s = compile_run(solver, game, steps, steps)
        seeds = [jax.random.key(100 + seed) for seed in range(min(repeats, 3))]
        results = [timed(compiled, key) for key in seeds]
        walls, cpp_walls = [], []
        for seed, key in enumerate(seeds):  # ours and the C++ solver in turn: both see the same load
            walls.append(timed(plain, key)[1])
            cpp_walls.append(cpp_timer(seed))
        wall = float(np.median(walls))
        # the C++ solver's time to its target, measured beside ours (and its traversal rate)
        cpp_time = float(np.median(cpp_walls))
        cpp_traversal_rate = cpp_iterations * n / cpp_time
        wall_evals = float(np.median([w for _, w in results]))
        nash_conv = np.median(np.array([np.asarray(t.nash_conv) for t, _ in results]), axis=0)
        step_of = np.asarray(results[0][0].step)
        rate = steps * batch * n / wall
        hit = np.nonzero(nash_conv <= target)[0]
        to_target = float(step_of[hit[0]] * wall / steps) if len(hit) else None
        shown = f"{to_target:.3f} s" if to_target is not None else "not reached"
        ratio = to_target / cpp_time if to_target is not None else None
        print(
            f"  {batch:>6} {steps:>7} {compile_s:>9.1f} {rate:>13,.0f} {cpp_traversal_rate:>9,.0f} "
            f"{rate / cpp_traversal_rate:>6.2f} {nash_conv[-1]:>9.4f} {shown:>15} {cpp_time:>8.3f}s "
            f"{(f'{ratio:.3f}') if ratio else '-':>10}"
        )
        out.setdefault(name, {})[str(batch)] = dict(
            steps=steps,
            eval_every=every,
            compile_s=compile_s,
            compile_without_evaluations_s=plain_compile_s,
            wall_s=wall,
            wall_with_evaluations_s=wall_evals,
            traversals_per_s=rate,
            ratio_cpp_traversals=rate / cpp_traversal_rate,
            step=step_of.tolist(),
            nash_conv=nash_conv.tolist(),
            steps_to_cpp_nash_conv=int(step_of[hit[0]]) if len(hit) else None,
            cpp_time_s=cpp_time,
            cpp_traversals_per_s=cpp_traversal_rate,
            seconds_per_step=wall / steps,
            time_to_cpp_nash_conv_s=to_target,
            ratio_cpp_time=ratio,
        )
        rows.append(
            dict(
                section=section,
                algorithm=kind,
                game=name,
                implementation="ours",
                batch_size=batch,
                iterations=steps * batch,
                nash_conv=float(nash_conv[-1]),
                iters_per_s=rate / n,
                compile_s=compile_s,
                median_s=wall,
                time_to_target_s=to_target,
            )
        )


# ----------------------------------------------------------------------------- (2) rates only


def bench_rates(kind, name, game, cfg, batches, repeats, rows, summary):
    """Traversals/s of section (2)'s runs (the same solver options, steps and single evaluation), ours and
    the C++ solver (its ``checkpoints[-1]`` iterations) timed in turn ``repeats`` times; medians. Also the
    ratio of traversals per CPU-second (process time: all of our threads against the C++ solver's one),
    which other processes on the machine disturb less than the wall time (and which favours C++)."""
    spiel = pyspiel.load_game(name)
    cpp_iterations = cfg["checkpoints"][kind][-1]
    options = BATCHED_OPTIONS[kind]
    n = game.num_players
    print(
        f"\n(2, rates) {NAMES[kind]} on {name}, {FACTORIES[kind].__name__}(batch_size=B, **{options}): traversals/s, "
        f"medians of {repeats}; C++: {cpp_iterations:,} iterations timed after each of our runs"
    )
    header = f"{'batch':>6} {'steps':>7} {'compile s':>9} {'traversals/s':>13} {'C++':>9} {'x C++':>6}"
    print(f"  {header} {'x C++ CPU':>10}")
    out = summary.setdefault("rates", {}).setdefault(kind, {}).setdefault(name, {})
    for batch in batches:
        steps = EVALS * max(1, math.ceil(cfg["budget"][kind] / batch) // EVALS)
        compiled, compile_s = compile_run(FACTORIES[kind](batch_size=batch, **options), game, steps, steps)
        walls, cpp_walls, cpus, cpp_cpus = [], [], [], []
        for seed in range(repeats):
            c0 = time.process_time()
            walls.append(timed(compiled, jax.random.key(100 + seed))[1])
            cpus.append(time.process_time() - c0)
            solver = CPP[kind](spiel, seed)
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(cpp_iterations):
                solver.run_iteration()
            cpp_walls.append(time.perf_counter() - t0)
            cpp_cpus.append(time.process_time() - c0)
        rate = steps * batch * n / float(np.median(walls))
        cpp_rate = cpp_iterations * n / float(np.median(cpp_walls))
        # CPU seconds (all of our threads; the C++ solver uses one): less sensitive to other processes
        cpu_ratio = (steps * batch / float(np.median(cpus))) / (cpp_iterations / float(np.median(cpp_cpus)))
        print(
            f"  {batch:>6} {steps:>7} {compile_s:>9.1f} {rate:>13,.0f} {cpp_rate:>9,.0f} {rate / cpp_rate:>6.2f} "
            f"{cpu_ratio:>10.2f}"
        )
        out[str(batch)] = dict(
            steps=steps,
            compile_s=compile_s,
            wall_s=walls,
            cpp_wall_s=cpp_walls,
            cpu_s=cpus,
            cpp_cpu_s=cpp_cpus,
            traversals_per_s=rate,
            cpp_traversals_per_s=cpp_rate,
            ratio_cpp_traversals=rate / cpp_rate,
            ratio_cpp_traversals_per_cpu_s=cpu_ratio,
        )
        rows.append(
            dict(
                section="rates",
                algorithm=kind,
                game=name,
                implementation="ours",
                batch_size=batch,
                iterations=steps * batch,
                iters_per_s=rate / n,
                compile_s=compile_s,
                median_s=float(np.median(walls)),
            )
        )
        rows.append(
            dict(
                section="rates",
                algorithm=kind,
                game=name,
                implementation="openspiel_cpp",
                iterations=cpp_iterations,
                iters_per_s=cpp_rate / n,
                median_s=float(np.median(cpp_walls)),
            )
        )


# ----------------------------------------------------------------------------- (4) ES bounds over many seeds

#: the averaging schemes of (4): ours (``average=``) and the C++ solver's ``MCCFRAverageType``
AVERAGING = {"simple": pyspiel.MCCFRAverageType.SIMPLE, "full": pyspiel.MCCFRAverageType.FULL}


def _es_bound_runs(game, average, iterations, seeds):
    """NashConv after ``iterations`` steps of ``external_sampling_mccfr(average=average)`` for each seed
    (``jax.random.key(seed)``), vmapped in one compiled call; for ``"full"`` also the NashConv of the
    average over ``sigma^2 .. sigma^{T+1}`` (OpenSpiel's timing). Returns (``[S]``, ``[S]`` or None, compile+run s)."""
    solver = external_sampling_mccfr(average=average)
    _, offsets = _layout(game)
    masks = game.legal_mask()

    def one(key):
        state, trace = solvers.run(solver, game, iterations, eval_every=iterations, key=key)
        if average != "full":
            return trace.nash_conv[-1], trace.nash_conv[-1]
        regrets = _stack(state.extra.regrets)
        shifted = _stack(state.extra.strategy_sums) - _full_average(game, jnp.zeros_like(regrets))
        shifted = _unstack(shifted + _full_average(game, regrets), offsets)
        policy = tuple(jaxgames.simplex.normalize(jnp.maximum(x, 0.0), m) for x, m in zip(shifted, masks))
        return trace.nash_conv[-1], game.nash_conv(policy)

    t0 = time.perf_counter()
    ours, shifted = jax.jit(jax.vmap(one))(jnp.stack([jax.random.key(s) for s in seeds]))
    ours, shifted = np.asarray(jax.block_until_ready(ours), np.float64), np.asarray(shifted, np.float64)
    return ours, (shifted if average == "full" else None), time.perf_counter() - t0


def _stats(x, bound):
    q25, med, q75 = np.quantile(x, [0.25, 0.5, 0.75])
    return dict(
        median=float(med),
        mean=float(np.mean(x)),
        q25=float(q25),
        q75=float(q75),
        max=float(np.max(x)),
        share_within_bound=float(np.mean(x <= bound)),
        n=int(len(x)),
    )


def bench_es_bounds(games, num_seeds, rows, summary):
    """(4): see the module docstring. C++ seeds ``0..N-1`` (``std::mt19937``), ours ``jax.random.key(0..N-1)``."""
    from scipy.stats import mannwhitneyu, wilcoxon

    seeds = list(range(num_seeds))
    out = summary.setdefault("es_bounds", {})
    for name, game in games.items():
        iterations, bound = BOUNDS[("es", name)]
        spiel = pyspiel.load_game(name)
        cpp_nc = CppNashConv(game, spiel)
        print(
            f"\n(4) external sampling on {name}, batch size 1: NashConv after {iterations:,} iterations over "
            f"{num_seeds} seeds; OpenSpiel's bound {bound}"
        )
        print(
            f"  {'solver':<34} {'median':>8} {'mean':>8} {'q25':>8} {'q75':>8} {'max':>8} {'<= bound':>9} "
            f"{'MWU p vs C++':>12}"
        )
        results = out.setdefault(name, {"iterations": iterations, "bound": bound})
        paired = {}
        for average, cpp_type in AVERAGING.items():
            t0 = time.perf_counter()
            cpp = []
            for seed in seeds:
                solver = pyspiel.ExternalSamplingMCCFRSolver(spiel, seed, cpp_type)
                for _ in range(iterations):
                    solver.run_iteration()
                cpp.append(cpp_nc(solver))
            cpp = np.array(cpp)
            cpp_s = time.perf_counter() - t0
            ours, shifted, ours_s = _es_bound_runs(game, average, iterations, seeds)
            paired[average] = ours
            p_value = float(mannwhitneyu(ours, cpp).pvalue)
            entries = [
                (f"ours, average={average!r}", "ours", ours, p_value, ours_s),
                (f"C++ MCCFRAverageType.{average.upper()}", "openspiel_cpp", cpp, None, cpp_s),
            ]
            if shifted is not None:
                p_shift = float(mannwhitneyu(shifted, cpp).pvalue)
                entries.insert(1, ("ours, full, OpenSpiel's timing", "ours_openspiel_timing", shifted, p_shift, None))
            for label, impl, x, p, seconds in entries:
                st = _stats(x, bound)
                results[f"{impl}/{average}"] = dict(st, mann_whitney_p_vs_cpp=p, seconds=seconds, nash_conv=x.tolist())
                shown_p = f"{p:.2f}" if p is not None else "-"
                print(
                    f"  {label:<34} {st['median']:>8.4f} {st['mean']:>8.4f} {st['q25']:>8.4f} {st['q75']:>8.4f} "
                    f"{st['max']:>8.4f} {100 * st['share_within_bound']:>8.0f}% {shown_p:>12}"
                )
                rows.append(
                    dict(
                        section="es_bounds",
                        algorithm="es",
                        game=name,
                        implementation=impl,
                        average=average,
                        batch_size=1,
                        iterations=iterations,
                        seeds=num_seeds,
                        nash_conv=st["median"],
                        mean=st["mean"],
                        q25=st["q25"],
                        q75=st["q75"],
                        share_within_bound=st["share_within_bound"],
                        mann_whitney_p_vs_cpp=p,
                    )
                )
        # ours, same key: the same traversals and regrets under either scheme (only the sums differ)
        diff = paired["full"] - paired["simple"]
        p_paired = float(wilcoxon(paired["full"], paired["simple"]).pvalue)
        results["ours_full_minus_simple_same_key"] = dict(
            median=float(np.median(diff)), mean=float(np.mean(diff)), share_full_lower=float(np.mean(diff < 0))
        )
        results["ours_full_minus_simple_same_key"]["wilcoxon_p"] = p_paired
        print(
            f"  ours, the same key under both schemes (same regrets): full - simple median {np.median(diff):+.4f}, "
            f"mean {np.mean(diff):+.4f}, full lower for {100 * np.mean(diff < 0):.0f}% of seeds "
            f"(Wilcoxon p {p_paired:.2g})"
        )
        print(
            f"  (ours: {num_seeds} seeds vmapped, one compiled call per scheme, compile included; "
            "C++: one solver per seed, NashConv exact through our arrays)"
        )


# ----------------------------------------------------------------------------- (3) analysis


def analyse(game, cfg, summary):
    """The simulator alone: ``L`` vmapped ``env.step`` calls on random legal actions for ``B x N``
    episodes (what one outcome-sampling step at batch ``B`` asks of it), against that step."""
    batch = cfg["sim_batch"]
    env = EFGEnv(game, observation="infoset_one_hot", autoreset=False)
    n, length = game.num_players, env.max_episode_length

    def simulate(key):
        keys = jax.random.split(key, (length + 1, n * batch))
        states = jax.vmap(lambda k: env.reset(k, game)[0])(keys[0])

        def body(states, k):
            u = jax.random.uniform(k[0], (n * batch,))
            actions = jax.vmap(lambda u, m: jaxgames.simplex.draw(u, m.astype(u.dtype)))(u, states.legal_action_mask)
            return jax.vmap(lambda k, s, a: env.step(k, s, a, game)[0])(k, states, actions), None

        states, _ = jax.lax.scan(body, states, keys[1:])
        return states.rewards.sum()

    sim = jax.jit(simulate)
    jax.block_until_ready(sim(jax.random.key(0)))
    t_sim = time_blocks(lambda: jax.block_until_ready(sim(jax.random.key(1))), 5)["median_s"]
    solver = outcome_sampling_mccfr(batch_size=batch)
    state = solver.init(game, jax.random.key(0))
    step = jax.jit(lambda s: solver.step(game, s))
    jax.block_until_ready(step(state))
    t_step = time_blocks(lambda: jax.block_until_ready(step(state)), 5)["median_s"]
    share = t_sim / t_step
    print(
        f"\n(3) outcome sampling on {game.name}, batch {batch}: one step {1e3 * t_step:.2f} ms; the simulator "
        f"alone ({length} x {n * batch:,} env.step calls, random legal actions) {1e3 * t_sim:.2f} ms = "
        f"{100 * share:.0f}% of it; {1e9 * t_step / (length * n * batch):.0f} ns per episode step"
    )
    summary["analysis"] = dict(
        batch_size=batch,
        step_s=t_step,
        simulator_s=t_sim,
        simulator_share=share,
        ns_per_episode_step=1e9 * t_step / (length * n * batch),
    )


# ----------------------------------------------------------------------------- plot


def plot(summary, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as err:  # noqa: BLE001
        print(f"no plot: {err}")
        return
    name = "leduc_poker"
    kinds = [k for k in ("os", "es") if name in summary.get("equal_iterations", {}).get(k, {})]
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        eq = summary["equal_iterations"][kind][name]
        cpp_t = np.median(np.array(eq["cpp_elapsed_s"]), axis=0)
        cpp_nc = np.median(np.array(eq["cpp_nash_conv"]), axis=0)
        ax.loglog(cpp_t, cpp_nc, "ko-", label="OpenSpiel C++")
        ours_nc = np.median(np.array(eq["ours_nash_conv"]), axis=0)
        ax.loglog(
            np.array(eq["checkpoints"]) * eq["ours_us_per_iteration"] * 1e-6, ours_nc, "s--", label="ours, batch 1"
        )
        for batch, r in summary.get("batched", {}).get(kind, {}).get(name, {}).items():
            if batch == "cpp":
                continue
            ax.loglog(np.array(r["step"]) * r["seconds_per_step"], r["nash_conv"], label=f"ours, batch {batch}")
        ax.set_title(f"{NAMES[kind]}, {name} (compile time excluded)")
        ax.set_xlabel("wall time (s)")
        ax.set_ylabel("NashConv of the average strategy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


# ----------------------------------------------------------------------------- main


def main(argv=None):
    parser = standard_parser(__doc__)
    parser.add_argument("--no-analysis", action="store_true", help="skip (3)")
    parser.add_argument(
        "--rates-only",
        action="store_true",
        help="only the traversals/s of (2) against the C++ solver, in the same process (no NashConv curves)",
    )
    parser.add_argument(
        "--algorithms", default="os,es", help="comma-separated: os (outcome), es (external); default both"
    )
    parser.add_argument(
        "--batches", default=None, help="comma-separated batch sizes for --rates-only (default: section (2)'s)"
    )
    parser.add_argument(
        "--bounds-seeds",
        type=int,
        default=None,
        help="only (4): external sampling's OpenSpiel bounds over this many seeds, both averaging schemes",
    )
    args, info, cpu = start_run(parser, argv, packages=("open_spiel",))
    if args.bounds_seeds is not None and args.bounds_seeds < 2:
        parser.error(f"--bounds-seeds: expected an integer >= 2, got {args.bounds_seeds}")
    cfg = QUICK if args.quick else FULL
    if args.quick:
        args.repeats = min(args.repeats, 2)
    kinds = [k.strip() for k in args.algorithms.split(",") if k.strip()]
    if not kinds or any(k not in FACTORIES for k in kinds):
        parser.error(f"--algorithms: expected a comma-separated subset of {tuple(FACTORIES)}, got {args.algorithms!r}")
    try:
        batches = None if args.batches is None else [int(b) for b in args.batches.split(",")]
    except ValueError:
        parser.error(f"--batches: expected comma-separated integers, got {args.batches!r}")
    if batches is not None and (not batches or min(batches) < 1):
        parser.error(f"--batches: expected batch sizes >= 1, got {args.batches!r}")
    rows, summary = [], {}
    games = {"kuhn_poker": jaxgames.kuhn_poker(), "leduc_poker": jaxgames.leduc_poker()}
    if args.bounds_seeds is not None:
        bench_es_bounds(games, args.bounds_seeds, rows, summary)
        cpu.finish(info)
        payload = {"command": args.command_line, "mode": "bounds", "seeds": args.bounds_seeds, "machine": info}
        payload.update(bounds={"/".join(k): v for k, v in BOUNDS.items()}, summary=summary, rows=rows)
        fields = ["section", "algorithm", "game", "implementation", "average", "batch_size", "iterations", "seeds"]
        fields += ["nash_conv", "mean", "q25", "q75", "share_within_bound", "mann_whitney_p_vs_cpp"]
        write_results("bench_mccfr_bounds", payload, rows, fields, info["wall_s"])
        return
    if args.rates_only:
        for kind in kinds:
            sizes = batches or cfg["batches"][kind]
            bench_rates(kind, "leduc_poker", games["leduc_poker"], cfg, sizes, args.repeats, rows, summary)
        cpu.finish(info)
        stem = "bench_mccfr_rates" + ("_quick" if args.quick else "")
        payload = {"command": args.command_line, "mode": "rates", "repeats": args.repeats, "machine": info}
        payload.update(summary=summary, rows=rows)
        fields = ["section", "algorithm", "game", "implementation", "batch_size", "iterations", "iters_per_s"]
        write_results(stem, payload, rows, fields + ["median_s", "compile_s"], info["wall_s"])
        return
    for kind in kinds:
        for name, game in games.items():
            eq = bench_equal_iterations(kind, name, game, cfg, args.repeats, rows, summary)
        # batched, on Leduc, against the C++ solver at its last checkpoint
        target = float(np.median(np.array(eq["cpp_nash_conv"])[:, -1]))
        cpp_time = float(np.median(np.array(eq["cpp_elapsed_s"])[:, -1]))
        cpp_rate = eq["cpp_iterations_per_s"] * games["leduc_poker"].num_players
        bench_batched(
            kind, "leduc_poker", games["leduc_poker"], cfg, args.repeats, rows, summary, target, cpp_time, cpp_rate
        )
        if cfg["plain_batches"][kind]:
            bench_batched(
                kind, "leduc_poker", games["leduc_poker"], cfg, args.repeats, rows, summary, target, cpp_time,
                cpp_rate, options={}, section="batched_plain",
            )  # fmt: skip
        summary["batched"][kind]["leduc_poker"]["cpp"] = dict(
            iterations=eq["checkpoints"][-1], nash_conv=target, time_s=cpp_time, traversals_per_s=cpp_rate
        )
    if not args.no_analysis:
        analyse(games["leduc_poker"], cfg, summary)

    cpu.finish(info)
    stem = "bench_mccfr_quick" if args.quick else "bench_mccfr"
    command = args.command_line
    payload = {
        "command": command,
        "mode": "quick" if args.quick else "full",
        "repeats": args.repeats,
        "config": {
            k: {a: list(v) if isinstance(v, tuple) else v for a, v in d.items()} if isinstance(d, dict) else d
            for k, d in cfg.items()
        },
        "bounds": {"/".join(k): v for k, v in BOUNDS.items()},
        "machine": info,
        "summary": summary,
        "rows": rows,
    }
    fields = [
        "section",
        "algorithm",
        "game",
        "implementation",
        "batch_size",
        "iterations",
        "nash_conv",
        "iters_per_s",
        "median_s",
        "compile_s",
        "time_to_target_s",
    ]
    write_results(stem, payload, rows, fields, info["wall_s"])
    plot(summary, RESULTS_DIR / f"{stem}.png")


if __name__ == "__main__":
    main()
