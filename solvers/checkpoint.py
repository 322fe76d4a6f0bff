"""Durable long runs: ``solvers.run`` in chunks, the solver state checkpointed with orbax.

``run_checkpointed(solver, game, num_steps, eval_every, key, directory=..., checkpoint_every=C)``
runs ``solvers.run`` for ``C`` steps at a time, each chunk continuing from the previous chunk's
state (``run(..., state=state)``), and after each chunk saves, with an orbax
``CheckpointManager`` under ``directory`` (step ``t`` = iterations done)::

    <directory>/<t>/state   the solver state (every leaf of the pytree, exact bytes)
    <directory>/<t>/trace   the exploitability trace so far (``Trace`` arrays, evaluations 1..K_t)
    <directory>/<t>/meta    JSON: steps done, the run's fingerprint

Orbax writes a checkpoint into a temporary folder and renames it when complete, so a process
killed at any moment (SIGKILL included) leaves only whole checkpoints; the ``max_to_keep`` newest
are kept. Called again with the same arguments, the function restores the latest checkpoint and
runs only the remaining chunks.

**Identical traces.** ``solvers.run`` evaluates every ``eval_every`` steps inside one jitted
``lax.scan``; a chunk of ``C`` steps, ``C`` a multiple of ``eval_every``, is a scan over ``C /
eval_every`` of the same blocks, and the state (PRNG keys included) is carried exactly between
chunks. So the trace of a chunked run, interrupted and resumed any number of times, equals that of
one uninterrupted ``solvers.run(solver, game, num_steps, eval_every, key=key)`` bit for bit
(``tests/test_checkpoint.py`` kills a run with SIGKILL and compares).

**Exact round trip.** Every leaf of the state is saved as an array: typed PRNG keys
(``jax.random.key``) as their ``jax.random.key_data`` and rewrapped with their implementation on
restore; NamedTuples, flax structs, optax states and ``None`` need nothing, because the leaves are
stored flat and put back into the tree structure of ``solver.init``'s abstract output
(``jax.eval_shape``), so restoring needs no concrete ``init``.

**Fingerprint.** Each checkpoint records what the run is: the solver (its functions and the
hyperparameters they close over), the game (its type and arrays, hashed), the key, ``num_steps``,
``eval_every``, the state's leaf paths, shapes and dtypes, and an optional user ``fingerprint``
(e.g. a config hash). A directory whose checkpoint has another fingerprint raises a ``ValueError``
naming the fields that differ, rather than resuming someone else's run. ``checkpoint_every`` is not
part of it: a run may be resumed with another multiple of ``eval_every``.

Example::

    solver = solvers.outcome_sampling_mccfr()
    state, trace = run_checkpointed(solver, jaxgames.kuhn_poker(), 10_000, eval_every=100,
                                    key=jax.random.key(0), directory="ckpt", checkpoint_every=1000)
    # killed and called again: resumes from ckpt/<latest>; trace == solvers.run(...)[1] exactly

``run_chunks`` is the same driver for any ``init() -> state`` and ``advance(state, n) -> (state,
Trace)`` (the CLI uses it for a ``vmap`` over games); ``save_state`` / ``restore_state`` are the
one-off round trip of any state pytree.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from solvers.core import Solver, SolverState, Trace, check_int, divergence_flags, run, warn_if_diverged

#: Bumped when the layout of a checkpoint changes (part of the fingerprint).
CHECKPOINT_FORMAT = 1


# ----------------------------------------------------------------------------- state <-> arrays


def _is_key(leaf) -> bool:
    return jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def _abstract(init: Callable[[], Any]):
    """``(abstract state, key implementation per leaf)``: ``init`` traced, never run."""
    impls: list = []

    def traced():
        state = init()
        impls[:] = [jax.random.key_impl(x) if _is_key(x) else None for x in jax.tree.leaves(state)]
        return state

    return jax.eval_shape(traced), impls


def _to_arrays(state) -> dict:
    """Flat ``{"00000": array, ...}`` of the leaves, PRNG keys as their raw key data."""
    return {f"{i:05d}": (jax.random.key_data(x) if _is_key(x) else x) for i, x in enumerate(jax.tree.leaves(state))}


def _from_arrays(arrays: dict, abstract, impls):
    leaves = [arrays[f"{i:05d}"] for i in range(len(impls))]
    leaves = [x if impl is None else jax.random.wrap_key_data(x, impl=impl) for x, impl in zip(leaves, impls)]
    return jax.tree.unflatten(jax.tree.structure(abstract), leaves)


def _restore_target(abstract) -> dict:
    """Orbax restore target: every raw leaf's shape and dtype, on the default device."""
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    raw = jax.eval_shape(_to_arrays, abstract)
    return {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=sharding) for k, v in raw.items()}


def _structure(abstract) -> list[str]:
    """Leaf paths with dtypes and shapes, e.g. ``".extra.key: key<fry>[]"`` (deterministic text)."""
    paths = jax.tree_util.tree_flatten_with_path(abstract)[0]
    return [f"{jax.tree_util.keystr(p)}: {x.dtype}{list(x.shape)}" for p, x in paths]


def save_state(path: str | Path, state) -> None:
    """Save any solver-state pytree to ``path`` (a new folder) with orbax, exactly.

    The leaves are stored flat, typed PRNG keys as their key data; the structure (NamedTuples,
    flax structs, optax states, ``None``) and the key types come back from the template given
    to ``restore_state``. Values and dtypes round-trip bit for bit (weak types come back strong).
    """
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(Path(path).absolute(), _to_arrays(state))


def restore_state(path: str | Path, init_or_abstract):
    """The state saved by ``save_state``, with the structure (and key types) of the template.

    ``init_or_abstract``: a state of the same structure (e.g. ``jax.eval_shape(solver.init,
    game, key)`` or a concrete state), or a zero-argument function returning one (traced with
    ``jax.eval_shape``, not run). Example::

        save_state("s", state)
        same = restore_state("s", lambda: solver.init(game, key))
    """
    if callable(init_or_abstract):
        init = init_or_abstract
    else:  # abstract (ShapeDtypeStruct) or concrete leaves: zeros of their shapes and dtypes, traced only

        def init():
            return jax.tree.map(
                lambda x: jnp.zeros(jnp.shape(x), getattr(x, "dtype", None) or jnp.result_type(x)), init_or_abstract
            )

    abstract, impls = _abstract(init)
    with ocp.StandardCheckpointer() as checkpointer:
        arrays = checkpointer.restore(Path(path).absolute(), _restore_target(abstract))
    return _from_arrays(arrays, abstract, impls)


# ----------------------------------------------------------------------------- fingerprints


def _digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def describe(obj, depth: int = 0, _seen: set | None = None):
    """A JSON-able, process-independent description of a value (what fingerprints hash).

    Numbers and strings as themselves, arrays as dtype, shape and a hash of their bytes,
    functions as their qualified name plus what they close over (hyperparameters of a solver
    factory), dataclasses (flax structs and modules; fields named ``_...``, lazy caches, are
    left out), other pytree nodes (game models: static data and children) and tuples item by
    item; anything else by its type name. At most 8 levels deep.
    """
    seen = set() if _seen is None else _seen
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return repr(obj)
    if isinstance(obj, jax.core.Tracer):
        return "<traced>"
    if isinstance(obj, (np.ndarray, np.generic, jax.Array)):
        if _is_key(obj):
            obj = jax.random.key_data(obj)
        arr = np.asarray(obj)
        return f"{arr.dtype}{list(arr.shape)}:{hashlib.sha256(arr.tobytes()).hexdigest()[:16]}"
    if depth > 8 or id(obj) in seen:
        return f"<{type(obj).__qualname__}>"
    nested = functools.partial(describe, depth=depth + 1, _seen=seen)
    if isinstance(obj, types.FunctionType):
        seen.add(id(obj))
        cells = []
        for cell in obj.__closure__ or ():
            try:
                cells.append(nested(cell.cell_contents))
            except ValueError:  # an empty cell
                cells.append("<empty>")
        return {
            "function": f"{obj.__module__}.{obj.__qualname__}",
            "closure": cells,
            "defaults": nested(obj.__defaults__),
            "kwdefaults": nested(obj.__kwdefaults__),
        }
    if isinstance(obj, functools.partial):
        return {"partial": nested(obj.func), "args": nested(obj.args), "keywords": nested(obj.keywords)}
    if isinstance(obj, (tuple, list)):
        return [type(obj).__qualname__, *map(nested, obj)]
    if isinstance(obj, dict):
        return {str(k): nested(v) for k, v in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        seen.add(id(obj))
        skip = ("parent", "name") if isinstance(obj, nn.Module) else ()  # flax modules' bookkeeping
        return {
            "type": type(obj).__qualname__,
            **{
                f.name: nested(getattr(obj, f.name, None))
                for f in dataclasses.fields(obj)
                if f.name not in skip and not f.name.startswith("_")
            },
        }  # private fields: lazy caches
    node = jax.tree.structure(obj, is_leaf=lambda x: x is not obj)
    if node.num_nodes > 1:  # a registered pytree node (a game model): its static data and children
        seen.add(id(obj))
        children = jax.tree.leaves(obj, is_leaf=lambda x: x is not obj)
        return {"type": type(obj).__qualname__, "static": nested(node.node_data()[1]), "children": nested(children)}
    return f"<{type(obj).__qualname__}>"


def _check_fingerprint(directory: Path, step: int, stored: dict, expected: dict) -> None:
    differ = sorted(k for k in set(stored) | set(expected) if stored.get(k) != expected.get(k))
    if differ:
        detail = "; ".join(
            f"{k}: checkpoint {stored.get(k)!r}, this run {expected.get(k)!r}"
            for k in differ
            if k not in ("solver", "game", "state")
        )
        raise ValueError(
            f"directory: {directory} holds a checkpoint (step {step}) of a different run; it differs in "
            f"{', '.join(differ)}{' (' + detail + ')' if detail else ''}. Use another directory, or delete "
            f"this one to start over"
        )


# ----------------------------------------------------------------------------- the driver


def _manager(directory: Path, max_to_keep: int) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, enable_async_checkpointing=False, cleanup_tmp_directories=True, create=True
    )
    return ocp.CheckpointManager(directory, options=options)


def latest_step(directory: str | Path) -> int | None:
    """Iterations done by the newest complete checkpoint under ``directory`` (``None`` if none)."""
    directory = Path(directory).absolute()
    if not directory.is_dir():
        return None
    options = ocp.CheckpointManagerOptions(create=False, enable_async_checkpointing=False)
    with ocp.CheckpointManager(directory, options=options) as manager:
        return manager.latest_step()


def check_checkpoint_every(checkpoint_every, eval_every: int) -> int:
    """``checkpoint_every``: a positive multiple of the (effective) ``eval_every``."""
    if (
        isinstance(checkpoint_every, bool)
        or not isinstance(checkpoint_every, (int, np.integer))
        or checkpoint_every < 1
        or checkpoint_every % eval_every
    ):
        raise ValueError(
            f"checkpoint_every: expected a positive multiple of eval_every ({eval_every}), got {checkpoint_every!r}"
        )
    return int(checkpoint_every)


def run_chunks(
    init: Callable[[], Any],
    advance: Callable[[Any, int], tuple[Any, Trace]],
    num_steps: int,
    eval_every: int,
    *,
    directory: str | Path,
    checkpoint_every: int,
    fingerprint: dict | None = None,
    max_to_keep: int = 2,
    on_checkpoint: Callable[[int], None] | None = None,
):
    """Run ``advance`` in chunks of ``checkpoint_every`` steps, checkpointing after each; resume.

    Args:
      init: ``() -> state``, the fresh state (traceable: it is also traced for the structure).
      advance: ``(state, n) -> (state, Trace)`` runs ``n`` more steps with evaluations every
        ``eval_every`` steps (plus one after the last step); Trace arrays have the evaluations
        on their last axis (a batch of runs may lead).
      num_steps, eval_every: of the whole run; ``eval_every <= num_steps``.
      directory: where the orbax checkpoints live (created if missing).
      checkpoint_every: a positive multiple of ``eval_every``.
      fingerprint: JSON-able dict identifying the run (compared with the checkpoint's).
      max_to_keep: newest checkpoints kept (>= 1).
      on_checkpoint: called with the steps done after each checkpoint is on disk.

    Returns ``(state, Trace)`` of the whole run, the trace concatenated over chunks.
    """
    num_steps = check_int(num_steps, "num_steps", low=1)
    eval_every = check_int(eval_every, "eval_every", low=1)
    checkpoint_every = check_checkpoint_every(checkpoint_every, eval_every)
    max_to_keep = check_int(max_to_keep, "max_to_keep", low=1)
    if directory is None:
        raise ValueError("directory: expected a folder for the checkpoints, got None")
    directory = Path(directory).absolute()
    abstract, impls = _abstract(init)
    expected = json.loads(
        json.dumps(
            {
                "format": CHECKPOINT_FORMAT,
                "num_steps": num_steps,
                "eval_every": eval_every,
                "state": _digest(_structure(abstract)),
                **(fingerprint or {}),
            },
            sort_keys=True,
            default=str,
        )
    )

    with _manager(directory, max_to_keep) as manager:
        step = manager.latest_step()
        if step is None:
            state, parts, done = init(), [], 0
        else:
            meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
            _check_fingerprint(directory, step, meta.get("fingerprint", {}), expected)
            restored = manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(_restore_target(abstract)), trace=ocp.args.StandardRestore()
                ),
            )
            state = _from_arrays(restored.state, abstract, impls)
            parts, done = [_restored_trace(restored.trace)], int(meta["done"])
        while done < num_steps:
            n = min(checkpoint_every, num_steps - done)
            state, trace = advance(state, n)
            parts.append(Trace(*(np.asarray(x) for x in trace)))
            done += n
            so_far = _concat(parts)
            parts = [so_far]
            manager.save(
                done,
                args=ocp.args.Composite(
                    state=ocp.args.StandardSave(_to_arrays(state)),
                    trace=ocp.args.StandardSave(so_far._asdict()),
                    meta=ocp.args.JsonSave({"done": done, "fingerprint": expected}),
                ),
            )
            manager.wait_until_finished()
            if on_checkpoint is not None:
                on_checkpoint(done)
    return state, Trace(*(jnp.asarray(x) for x in _concat(parts)))


def _restored_trace(stored: dict) -> Trace:
    """The ``Trace`` of a checkpoint (one written before ``Trace.diverged`` existed gets all False)."""
    fields = {k: np.asarray(v) for k, v in stored.items()}
    fields.setdefault("diverged", np.zeros(np.shape(fields["step"]), bool))
    return Trace(**fields)


def _concat(parts: list[Trace]) -> Trace:
    return Trace(*(np.concatenate(xs, axis=-1) for xs in zip(*parts)))


def run_checkpointed(
    solver: Solver,
    game,
    num_steps: int,
    eval_every: int | None = None,
    key: jax.Array | None = None,
    *,
    directory: str | Path,
    checkpoint_every: int,
    fingerprint: Any = None,
    max_to_keep: int = 2,
    on_checkpoint: Callable[[int], None] | None = None,
) -> tuple[SolverState, Trace]:
    """``solvers.run`` with the state checkpointed every ``checkpoint_every`` steps; resumes.

    The same arguments and result as ``solvers.run(solver, game, num_steps, eval_every, key=key)``
    (trace equal bit for bit, however often the run is killed and resumed), plus:

    Args:
      directory: the checkpoint folder (orbax ``CheckpointManager``); if it holds a checkpoint
        of this run, the run continues from the newest one.
      checkpoint_every: steps between checkpoints, a positive multiple of ``eval_every``
        (``min(eval_every, num_steps)``; default ``eval_every`` is ``max(1, num_steps // 100)``).
      fingerprint: optional JSON-able value stored with the checkpoints and compared on
        resume, for what the automatic fingerprint cannot see (see ``describe``).
      max_to_keep: how many of the newest checkpoints to keep.
      on_checkpoint: ``f(steps_done)``, called once each checkpoint is on disk.

    Raises ``ValueError`` for bad arguments and for a directory holding another run's checkpoint.
    """
    if not isinstance(solver, Solver):
        raise ValueError(f"solver: expected a solvers.Solver, got {type(solver).__name__}")
    num_steps = check_int(num_steps, "num_steps", low=1)
    eval_every = max(1, num_steps // 100) if eval_every is None else check_int(eval_every, "eval_every", low=1)
    eval_every = min(eval_every, num_steps)
    check_checkpoint_every(checkpoint_every, eval_every)
    fp = {
        "solver": _digest(describe(solver)),
        "game": _digest(describe(game)),
        "key": None if key is None else describe(key),
        "fingerprint": fingerprint,
    }
    state, trace = run_chunks(
        lambda: solver.init(game, key),
        lambda state, n: run(solver, game, n, eval_every, state=state, warn=False),
        num_steps,
        eval_every,
        directory=directory,
        checkpoint_every=checkpoint_every,
        fingerprint=fp,
        max_to_keep=max_to_keep,
        on_checkpoint=on_checkpoint,
    )
    # each chunk flagged divergence against its own start: flag the whole run against the run's start
    trace = trace._replace(diverged=divergence_flags(solver, game, solver.init(game, key), trace.exploitability))
    warn_if_diverged(trace)
    return state, trace
