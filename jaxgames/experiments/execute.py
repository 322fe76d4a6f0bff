"""Running configs: one experiment, or a sweep as chunked, sharded, resumable vmapped calls.

The grid of a sweep is split by its *static* values (ints, strings, booleans:
they change shapes or code paths, so each combination is compiled once) and,
within each static group, batched over the float hyperparameters and seeds
with ``jax.vmap``. Groups are cut into chunks of at most ``chunk_size`` points;
each chunk is one jitted call, and its rows are written to
``<out>/chunks/chunk_NNNNN.csv`` as soon as it finishes, so an interrupted
sweep rerun with the same config and ``--out`` skips the finished chunks and
loses at most one chunk of work. Sweeps run at the same time into the same
``--out`` share the work: each chunk is claimed with a lock (``flock``) before it
is computed, so it is computed once. The precision (float32, or float64 under
``JAX_ENABLE_X64``) is part of what a resumed sweep must match. When several
devices are visible the chunk axis is sharded across them (``NamedSharding``
over a 1-D mesh) and results are gathered; the same code runs on one CPU, one
GPU or a multi-GPU host.

A run (``run_experiment``) with ``checkpoint_every`` is made durable the same way along the step
axis: it goes in chunks of that many steps and the batched solver state is saved with orbax under
``<out>/checkpoints`` after each (``solvers.checkpoint.run_chunks``), so a killed run rerun with the
same config and ``--out`` resumes from the latest checkpoint, with a bit-identical trace. It runs
on one device (no sharding of the game axis).

A ``qre_path`` config (``run_qre_path``) traces the logit QRE path of one game in float64
(``jaxgames.equilibria.qre_path``, one jitted call) and writes ``path.csv`` (one row per point:
``point``, ``lambda``, ``temperature`` and every legal action probability), ``path.png`` (the
probabilities against ``lambda``, log scale) and ``summary.json`` (status, points, the selected Nash
equilibrium and its ``nash_conv``). A path that fails writes the points it reached and reports the
``lambda`` where it stopped; it never reports a Nash equilibrium.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import solvers
from jaxgames.experiments import multihost, registry
from jaxgames.experiments.config import (
    ConfigError,
    QREPathConfig,
    RunConfig,
    SweepConfig,
    point_params,
    qre_path_game,
    qre_path_options,
    qre_path_reference,
    static_signature,
)
from jaxgames.experiments.results import clean_stale_tmp, config_hash, file_lock, read_csv, write_csv, write_json
from jaxgames.experiments.timing import compile_and_time, environment, precision


def eval_cadence(num_steps: int, eval_every: int | None) -> int:
    return max(1, num_steps // 100) if eval_every is None else min(int(eval_every), num_steps)


@functools.lru_cache(maxsize=64)
def _batched_solve(game_name, solver_name, static_game, static_solver, batched_names, num_steps, eval_every):
    """A jitted ``vmap`` over points: (batched float values, keys) -> exploitability traces."""
    static_game, static_solver = dict(static_game), dict(static_solver)

    def point(values, key):
        game_params, solver_params = dict(static_game), dict(static_solver)
        for name, value in zip(batched_names, values):
            head, _, param = name.partition(".")
            (game_params if head == "game" else solver_params)[param] = value
        game, solver, k_init = registry.build_point(game_name, game_params, solver_name, solver_params, key)
        _, trace = solvers.run(solver, game, num_steps, eval_every=eval_every, key=k_init)
        return trace.exploitability, trace.step

    return jax.jit(jax.vmap(point))


def _hashable(params: dict) -> tuple:
    """Static parameters as a sorted tuple, YAML lists (network widths) as tuples: a cache key."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))


def prepare_points(
    game_name, solver_name, static_game: dict, static_solver: dict, batched: dict, keys, num_steps: int, eval_every: int
):
    """The jitted batched solve and its arguments: ``(fn, args, num_points)``.

    ``batched`` maps grid names to float arrays ``[P]``; with more than one
    device the point axis is padded to a multiple of the device count and sharded.
    ``fn(*args)`` returns ``(exploitability [P', K], steps [P', K])``.
    """
    names = tuple(sorted(batched))
    fn = _batched_solve(
        game_name, solver_name, _hashable(static_game), _hashable(static_solver), names, num_steps, eval_every
    )
    dtype = jnp.result_type(float)
    values = tuple(jnp.asarray(batched[n], dtype) for n in names)
    n_points = keys.shape[0]
    if jax.device_count() > 1:
        mesh = multihost.grid_mesh()
        pad = (-n_points) % jax.device_count()
        if pad:
            values = tuple(jnp.concatenate([v, jnp.repeat(v[-1:], pad)]) for v in values)
            keys = jnp.concatenate([keys, jnp.repeat(keys[-1:], pad)])
        values = tuple(multihost.global_array(v, mesh) for v in values)
        keys = multihost.global_array(keys, mesh)
    return fn, (values, keys), n_points


def solve_points(*args, **kwargs):
    """Solve the points in one call (see ``prepare_points``): NumPy ``(exploitability [P, K], steps [K])``,
    gathered onto every process."""
    fn, fn_args, n_points = prepare_points(*args, **kwargs)
    expl, steps = fn(*fn_args)
    return multihost.to_host(expl)[:n_points], multihost.to_host(steps)[0]


# --------------------------------------------------------------------------- run
def run_experiment(config: RunConfig, out: Path | None = None, log=print, checkpoint_every: int | None = None) -> dict:
    """Solve ``config.num_games`` games (drawn from ``config.seed``) in one call; write results.

    With ``checkpoint_every`` the run goes in chunks of that many steps and the (batched) solver
    state is saved after each under ``<out>/checkpoints`` (``solvers.checkpoint``); run again with
    the same config and ``out`` it resumes from the latest checkpoint, with the same trace.
    """
    every = eval_cadence(config.num_steps, config.eval_every)
    if checkpoint_every is not None:
        return _run_checkpointed(config, out, log, every, checkpoint_every)
    keys = jax.random.split(jax.random.key(config.seed), config.num_games)
    fn, args, n_points = prepare_points(
        config.game.name,
        config.solver.name,
        config.game.params,
        config.solver.params,
        {},
        keys,
        config.num_steps,
        every,
    )
    (expl, steps), compile_s, run_s = compile_and_time(fn, args)
    expl, steps = multihost.to_host(expl)[:n_points], multihost.to_host(steps)[0]
    final = expl[:, -1]
    summary = {
        "game": config.game.name,
        "solver": config.solver.name,
        "num_games": config.num_games,
        "num_steps": config.num_steps,
        "final_exploitability_median": float(np.median(final)),
        "final_exploitability_mean": float(np.mean(final)),
        "final_exploitability_max": float(np.max(final)),
        "compile_s": compile_s,
        "run_s": run_s,
        "game_iterations_per_s": config.num_games * config.num_steps / run_s,
    }
    if out is not None and multihost.is_writer():
        out = Path(out)
        write_json(out / "config.json", {"config": config.model_dump(), "environment": environment()})
        _write_run(out, expl, steps, summary)
    log(
        f"{config.solver.name} on {config.num_games} x {config.game.name}, {config.num_steps} steps: "
        f"final exploitability median {summary['final_exploitability_median']:.3e} "
        f"(max {summary['final_exploitability_max']:.3e}); compile {summary['compile_s']:.2f} s, "
        f"run {1e3 * run_s:.1f} ms ({summary['game_iterations_per_s']:.3g} game-iterations/s)"
    )
    return summary


def _write_run(out: Path, expl, steps, summary: dict) -> None:
    write_csv(
        out / "trace.csv",
        [
            {"game": g, "step": int(s), "exploitability": float(e)}
            for g in range(expl.shape[0])
            for s, e in zip(steps, expl[g])
        ],
    )
    write_json(out / "summary.json", summary)


@functools.lru_cache(maxsize=8)
def _chunked_solve(game_name, solver_name, game_params, solver_params, eval_every):
    """Jitted ``vmap``s over keys: ``init(keys) -> states`` and ``advance(keys, states, n) -> (states, Trace)``."""
    game_params, solver_params = dict(game_params), dict(solver_params)

    def point(key):  # as in _batched_solve: the game drawn from the point's key, then the solver
        return registry.build_point(game_name, game_params, solver_name, solver_params, key)

    @jax.jit
    def init(keys):
        def one(key):
            game, solver, k_init = point(key)
            return solver.init(game, k_init)

        return jax.vmap(one)(keys)

    @functools.partial(jax.jit, static_argnums=2)
    def advance(keys, state, n):
        def one(key, state):
            game, solver, _ = point(key)
            return solvers.run(solver, game, n, eval_every=eval_every, state=state)

        return jax.vmap(one)(keys, state)

    return init, advance


def _run_checkpointed(config: RunConfig, out: Path | None, log, every: int, checkpoint_every: int) -> dict:
    """``run_experiment`` in chunks of ``checkpoint_every`` steps, checkpointed under ``<out>/checkpoints``."""
    from solvers.checkpoint import check_checkpoint_every, latest_step, run_chunks

    if out is None:
        raise ConfigError("--checkpoint-every: needs a results directory (--out) to keep the checkpoints in")
    try:
        check_checkpoint_every(checkpoint_every, every)
    except ValueError:
        raise ConfigError(
            f"--checkpoint-every: expected a positive multiple of eval_every ({every}), got {checkpoint_every!r}"
        ) from None
    out = Path(out)
    resolved = config.model_dump()
    digest = config_hash(resolved)
    directory = out / "checkpoints"
    keys = jax.random.split(jax.random.key(config.seed), config.num_games)
    args = (
        config.game.name,
        config.solver.name,
        tuple(sorted(config.game.params.items())),
        tuple(sorted(config.solver.params.items())),
        every,
    )
    try:
        init, advance = _chunked_solve(*args)
    except TypeError:  # unhashable parameter values (lists): no compile cache
        init, advance = _chunked_solve.__wrapped__(*args)
    meta = {
        "config": resolved,
        "config_hash": digest,
        "environment": environment(),
        "checkpoint_every": checkpoint_every,
    }
    resumed = latest_step(directory) or 0
    if resumed:  # config.json is rewritten once the checkpoint is known to be this config's
        log(f"found a checkpoint at step {resumed} of {config.num_steps} in {directory}: resuming")
    else:
        write_json(out / "config.json", meta)
    t0 = time.perf_counter()
    try:
        _, trace = run_chunks(
            lambda: init(keys),
            lambda state, n: advance(keys, state, n),
            config.num_steps,
            every,
            directory=directory,
            checkpoint_every=checkpoint_every,
            fingerprint={"config": digest},
        )
    except ValueError as err:
        raise ConfigError(f"--out {out}: {err}") from None
    write_json(out / "config.json", meta)
    wall_s = time.perf_counter() - t0
    expl, steps = np.asarray(trace.exploitability), np.asarray(trace.step)[0]
    final = expl[:, -1]
    ran = config.num_steps - min(resumed, config.num_steps)
    summary = {
        "game": config.game.name,
        "solver": config.solver.name,
        "num_games": config.num_games,
        "num_steps": config.num_steps,
        "final_exploitability_median": float(np.median(final)),
        "final_exploitability_mean": float(np.mean(final)),
        "final_exploitability_max": float(np.max(final)),
        "checkpoint_every": checkpoint_every,
        "resumed_from_step": resumed,
        "compile_s": None,
        "run_s": wall_s,  # compile and checkpoint I/O included in run_s
        "game_iterations_per_s": config.num_games * ran / wall_s if ran else None,
    }
    _write_run(out, expl, steps, summary)
    log(
        f"{config.solver.name} on {config.num_games} x {config.game.name}, {config.num_steps} steps "
        f"(checkpoints every {checkpoint_every} in {directory}): final exploitability median "
        f"{summary['final_exploitability_median']:.3e} (max {summary['final_exploitability_max']:.3e}); "
        f"{ran} steps run in {wall_s:.2f} s (compile and checkpointing included)"
    )
    return summary


# ------------------------------------------------------------------------- sweep
def plan_chunks(config: SweepConfig) -> list[tuple[tuple, list[int]]]:
    """Split grid points into ``(static signature, point indices)`` chunks, in a fixed order."""
    points = config.points()
    groups: dict[str, tuple[tuple, list[int]]] = {}
    for i, point in enumerate(points):
        static = static_signature(point)
        groups.setdefault(repr(static), (static, []))[1].append(i)  # repr: list values are unhashable
    chunks = []
    for static, idx in groups.values():
        for start in range(0, len(idx), config.chunk_size):
            chunks.append((static, idx[start : start + config.chunk_size]))
    return chunks


def _check_resumable(out: Path, digest: str) -> None:
    """Refuse an ``out`` holding another config's sweep, or one computed in another precision."""
    meta_path = out / "config.json"
    if not meta_path.exists():
        return
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        previous = meta.get("config_hash")
        env = meta.get("environment") or {}
    except (OSError, ValueError, AttributeError) as err:
        raise ConfigError(f"--out {out}: its config.json cannot be read ({err}); use another --out") from None
    if previous != digest:
        raise ConfigError(
            f"--out {out}: holds a sweep of a different config (hash {previous}, "
            f"this one {digest}); use another --out to keep both"
        )
    stored = env.get("precision") or ("float64" if env.get("x64") else "float32")
    now = precision()
    if stored != now:
        flag = "JAX_ENABLE_X64=1" if stored == "float64" else "JAX_ENABLE_X64 unset"
        raise ConfigError(
            f"--out {out}: precision: holds a sweep computed in {stored}, but this run computes in "
            f"{now}; resume it with {flag}, or use another --out"
        )


def run_sweep(config: SweepConfig, out: Path, progress=None, log=print) -> list[dict]:
    """Run every chunk not yet on disk; return all rows (one per grid point).

    A chunk is claimed (an exclusive lock on ``chunks/.chunk_NNNNN.csv.lock``) before it is computed,
    so sweeps started at the same time into the same ``out`` compute each chunk once; one that finds a
    chunk claimed goes on with the others and waits for it at the end (computing it itself if the
    other died). Temporary files left by a killed or failed write are removed on resume.
    """
    out = Path(out)
    resolved = config.model_dump()
    digest = config_hash(resolved)
    if multihost.is_multiprocess():
        return _run_sweep_multihost(config, out, digest, progress, log)
    with file_lock(out / ".sweep.lock"):
        for name in ("config.json", "results.csv"):
            clean_stale_tmp(out / name)
        _check_resumable(out, digest)
        write_json(out / "config.json", {"config": resolved, "config_hash": digest, "environment": environment()})
    points = config.points()
    every = eval_cadence(config.num_steps, config.eval_every)
    chunks = plan_chunks(config)
    paths = [out / "chunks" / f"chunk_{c:05d}.csv" for c in range(len(chunks))]
    done, elsewhere, waiting = 0, 0, []

    def claim(c: int, blocking: bool) -> bool:
        """Compute chunk ``c`` unless another sweep holds it (False) or finished it meanwhile."""
        nonlocal elsewhere
        path, (static, idx) = paths[c], chunks[c]
        lock = path.with_name(f".{path.name}.lock")
        with file_lock(lock, blocking=blocking) as held:
            if not held:
                return False
            if path.exists():  # another sweep finished it
                elsewhere += len(idx)
            else:
                clean_stale_tmp(path)
                _run_chunk(config, points, static, idx, every, path)
                lock.unlink(missing_ok=True)  # done: later sweeps see the chunk and never lock it
        if progress:
            progress(len(idx))
        return True

    for c, (_, idx) in enumerate(chunks):
        if paths[c].exists():
            done += len(idx)
            if progress:
                progress(len(idx), skipped=True)
        elif not claim(c, blocking=False):
            waiting.append(c)
    if waiting:
        log(f"{len(waiting)} chunk(s) are being computed by another sweep into {out}: waiting for them")
    for c in waiting:
        claim(c, blocking=True)
    rows = sorted((r for p in paths for r in read_csv(p)), key=lambda r: int(r["point"]))
    with file_lock(out / ".sweep.lock"):
        write_csv(out / "results.csv", rows)
    if done:
        log(f"resumed: {done} of {len(points)} grid points were already on disk")
    if elsewhere:
        log(f"{elsewhere} of {len(points)} grid points were computed by another sweep into the same --out")
    return rows


def _run_sweep_multihost(config: SweepConfig, out: Path, digest: str, progress, log) -> list[dict]:
    """``run_sweep`` under ``jax.distributed`` with several processes (``multihost``).

    Every process computes every chunk, together: the chunk's points are sharded over the devices of
    all processes and the results gathered. Process 0 checks ``out`` (config and precision), decides
    which chunks are already on disk (its view is broadcast, so all processes run the same calls),
    and writes the chunk files and ``results.csv``; a resumed sweep skips the finished chunks as on
    one host. The other processes return the rows of ``results.csv`` when ``out`` is on a filesystem
    they share with process 0, else the rows they computed in this run.
    """
    multihost.agree(digest, "config")
    error = ""
    if multihost.is_writer():
        try:
            with file_lock(out / ".sweep.lock"):
                for name in ("config.json", "results.csv"):
                    clean_stale_tmp(out / name)
                _check_resumable(out, digest)
                meta = {"config": config.model_dump(), "config_hash": digest, "environment": environment()}
                write_json(out / "config.json", meta)
        except (ConfigError, OSError) as err:
            error = str(err)
    if multihost.broadcast(np.array([len(error)], np.int32))[0]:
        raise ConfigError(error or f"--out {out}: refused by process 0 (its error says why)")
    points = config.points()
    every = eval_cadence(config.num_steps, config.eval_every)
    chunks = plan_chunks(config)
    paths = [out / "chunks" / f"chunk_{c:05d}.csv" for c in range(len(chunks))]
    on_disk = multihost.broadcast(np.array([p.exists() for p in paths], np.uint8))
    done, computed = 0, []
    for c, (static, idx) in enumerate(chunks):
        if on_disk[c]:
            done += len(idx)
            if progress:
                progress(len(idx), skipped=True)
            continue
        rows = _chunk_rows(config, points, static, idx, every)
        if multihost.is_writer():
            clean_stale_tmp(paths[c])
            write_csv(paths[c], rows)
        computed += rows
        if progress:
            progress(len(idx))
    multihost.barrier("jaxgames sweep: chunks written")
    if multihost.is_writer():
        rows = sorted((r for p in paths for r in read_csv(p)), key=lambda r: int(r["point"]))
        with file_lock(out / ".sweep.lock"):
            write_csv(out / "results.csv", rows)
    multihost.barrier("jaxgames sweep: results written")
    if not multihost.is_writer():
        shared = (out / "results.csv").exists()
        rows = read_csv(out / "results.csv") if shared else sorted(computed, key=lambda r: int(r["point"]))
    if done:
        log(f"resumed: {done} of {len(points)} grid points were already on disk")
    return rows


def _run_chunk(config: SweepConfig, points, static, idx, every, path) -> None:
    write_csv(path, _chunk_rows(config, points, static, idx, every))


def _chunk_rows(config: SweepConfig, points, static, idx, every) -> list[dict]:
    """The rows of one chunk: its points solved in one call (on every process, when there are several)."""
    static = dict(static)
    game_static, solver_static = point_params(config, static)
    batched_keys = [k for k in config.grid if k != "seed" and k not in static]
    batched = {k: [points[i][k] for i in idx] for k in batched_keys}
    seeds = [points[i].get("seed", config.seed) for i in idx]
    keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))
    expl, steps = solve_points(
        config.game.name, config.solver.name, game_static, solver_static, batched, keys, config.num_steps, every
    )
    rows = []
    for j, i in enumerate(idx):
        row = {
            "point": i,
            **{k: points[i][k] for k in config.grid},
            "seed": seeds[j],
            "final_exploitability": float(expl[j, -1]),
        }
        row.update({f"exploitability@{int(s)}": float(e) for s, e in zip(steps, expl[j])})
        rows.append(row)
    return rows


# ---------------------------------------------------------------------- qre_path
#: Index names of the policy axes before the action axis, per family (``jaxgames.equilibria.response``).
_AXES = {"efg": ("i",), "markov": ("s",), "mean_field": ("t", "s"), "normal_form": ("c",)}
#: Most probabilities per player drawn in ``path.png`` (the ones that move most along the path).
PLOT_CURVES = 8


def path_columns(game) -> list[tuple[int, tuple, str]]:
    """``(player, index into its policy, column name)`` for every legal action probability.

    Names: ``p<player>_a<action>`` for a matrix game; with more axes, one index per axis before the
    action: ``i<infoset>`` (extensive-form), ``s<state>`` (Markov), ``t<time>_s<state>`` (mean-field),
    ``c<context>`` (contextual preference), e.g. ``p1_s3_a0``.
    """
    from jaxgames.equilibria import response

    family = response.check_supported(game)
    columns = []
    for i, mask in enumerate(game.legal_mask()):
        mask = np.asarray(mask)
        axes = _AXES.get(family, ())
        axes = axes if len(axes) == mask.ndim - 1 else ("d",) * (mask.ndim - 1)
        for idx in zip(*np.nonzero(mask)):
            idx = tuple(int(k) for k in idx)
            parts = [f"{ax}{k}" for ax, k in zip(axes, idx[:-1])] + [f"a{idx[-1]}"]
            columns.append((i, idx, f"p{i}_" + "_".join(parts)))
    return columns


def path_rows(path, columns) -> list[dict]:
    """The rows of ``path.csv``: one per point of a ``QREPath`` (full float precision)."""
    count = int(path.num_points)
    lams = np.asarray(path.inverse_temperatures)[:count]
    policies = [np.asarray(p)[:count] for p in path.policies]
    rows = []
    for k, lam in enumerate(lams):
        row = {"point": k, "lambda": float(lam), "temperature": float(1.0 / lam) if lam > 0 else float("inf")}
        row.update({name: float(policies[i][(k, *idx)]) for i, idx, name in columns})
        rows.append(row)
    return rows


def plot_path(rows: list[dict], columns, title: str, path: Path) -> None:
    """Each player's action probabilities against ``lambda`` (log scale), one panel per player; at most
    ``PLOT_CURVES`` per player, those that change most along the path."""
    from jaxgames.experiments.bench import _pyplot

    plt = _pyplot()
    players = sorted({i for i, _, _ in columns})
    lams = np.array([r["lambda"] for r in rows])
    shown = lams > 0  # lambda = 0 (the reference) has no place on a log axis
    positive = np.flatnonzero(shown)
    if len(positive) > 1 and lams[positive[0]] < 1e-3 * lams[positive[1]]:
        shown[positive[0]] = False  # a start at lambda = min_step would stretch the axis over decades
    fig, axes = plt.subplots(1, len(players), figsize=(5.2 * len(players), 4.0), squeeze=False)
    for ax, i in zip(axes[0], players):
        names = [name for j, _, name in columns if j == i]
        values = {n: np.array([r[n] for r in rows]) for n in names}
        picked = sorted(names, key=lambda n: -float(np.ptp(values[n])))[:PLOT_CURVES]
        for name in [n for n in names if n in picked]:
            ax.plot(lams[shown], values[name][shown], marker="." if shown.sum() < 30 else None, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("lambda (inverse temperature)")
        ax.set_ylabel("probability")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, which="both", alpha=0.3)
        note = f" ({len(picked)} of {len(names)} that change most)" if len(picked) < len(names) else ""
        ax.set_title(f"player {i}{note}", fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _policy_text(policy) -> str:
    return "; ".join(
        f"p{i} " + np.array2string(np.asarray(p), precision=4, suppress_small=True) for i, p in enumerate(policy)
    )


def run_qre_path(config: QREPathConfig, out: Path | None = None, log=print) -> dict:
    """Trace the logit QRE path of the config's game (float64, one jitted call); write results.

    Returns the summary (also ``<out>/summary.json``): ``status`` (``converged``, ``reached
    max_lambda``, ``out of points`` or ``failed...``), ``num_points``, ``final_lambda``,
    ``nash_conv`` of the last point, ``nash`` (the selected Nash equilibrium: the last point's
    policy when the path converged, else ``None``), ``final_policy`` and timings. A failed path has
    ``error``, naming the ``lambda`` where it stopped; its ``path.csv`` holds the points reached.
    """
    from jaxgames.equilibria import CONVERGED, FAILED, REACHED, describe, qre_path

    with jax.enable_x64(True):  # a path in float32 stalls: the corrector's tolerances need float64
        game = qre_path_game(config)
        reference = qre_path_reference(config, game)
        chosen = config.path_options()
        # jitted whole, so that a failed path returns its points (outside jit qre_path raises)
        fn = jax.jit(lambda game, reference: qre_path(game, reference, **chosen))
        path, compile_s, run_s = compile_and_time(fn, (game, reference))
        path = jax.tree_util.tree_map(np.asarray, path)
        columns = path_columns(game)
        status, count = int(path.status), int(path.num_points)
        final_lambda = float(path.inverse_temperatures[count - 1])
        # the last point reached (``path.nash`` is nan when the path failed)
        last = tuple(jnp.asarray(p)[count - 1] for p in path.policies)
        final = [np.asarray(p).tolist() for p in last]
        nash_conv = float(path.nash_conv) if status != FAILED else float(game.nash_conv(last))
        options = qre_path_options(config)
        summary = {
            "game": config.game.name,
            "kind": "qre_path",
            "status": describe(status),
            "num_points": count,
            "final_lambda": final_lambda,
            "final_temperature": 1.0 / final_lambda if final_lambda > 0 else None,
            "nash_conv": nash_conv,
            "nash": final if status == CONVERGED else None,
            "final_policy": final,
            "options": options,
            "precision": "float64",
            "compile_s": compile_s,
            "run_s": run_s,
        }
        if status == FAILED:
            summary["error"] = (
                f"the QRE path of {config.game.name!r} failed after lambda = {final_lambda:.6g}"
                + (f" (temperature {1.0 / final_lambda:.3g})" if final_lambda > 0 else "")
                + f", its last point ({count} points): the arclength step fell below min_step="
                f"{options['min_step']:g}, perhaps at a bifurcation (a non-generic game); no Nash equilibrium "
                "is reported; try a smaller min_step or perturb the payoffs"
            )
        if out is not None:
            out = Path(out)
            write_json(out / "config.json", {"config": config.model_dump(), "environment": environment()})
            rows = path_rows(path, columns)
            write_csv(out / "path.csv", rows)
            plot_path(rows, columns, f"logit QRE path of {config.game.name} ({summary['status']})", out / "path.png")
            write_json(out / "summary.json", summary)
            if status == FAILED:
                summary["error"] += f"; the points reached are in {out / 'path.csv'}"
    if status != FAILED:
        if status == CONVERGED:
            small = len(columns) <= 24 and all(np.ndim(p) == 1 for p in path.nash)  # a matrix game: print it
            ending = f"; selected Nash: {_policy_text(path.nash)}" if small else " (the selected Nash in summary.json)"
        else:
            hint = "max_lambda" if status == REACHED else "max_points"
            ending = f"; not yet a Nash equilibrium (raise {hint}, or max_regret)"
        log(
            f"qre_path on {config.game.name}: {summary['status']} after {count} points (lambda {final_lambda:.4g}), "
            f"nash_conv {nash_conv:.3e}{ending}; compile {compile_s:.2f} s, run {1e3 * run_s:.1f} ms"
        )
    return summary
