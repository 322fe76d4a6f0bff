"""Per-call latency of small jitted calls on CPU: what the library does, and one opt-in.

JAX's defaults favour throughput: calls are dispatched asynchronously (the
Python thread hands the computation to a runtime thread and returns), and
XLA's CPU scheduler orders kernels for concurrency across the thread pool.
For one query that compiles to a few dozen microsecond-sized kernels (the
exploitability of a poker policy, an evaluation, a best response), the
hand-offs can cost more than the computation: when the thread on the other
side sleeps on another core, waking it takes tens of microseconds on a
virtual machine. Long solver runs (one big compiled loop) are unaffected.

What the public queries (``jaxgames.exploitability`` and friends) do on their own:

* ``packed(game)``: the game's arrays travel as one buffer per dtype instead
  of one per array (a Leduc model has 12). With asynchronous dispatch every
  input buffer is tracked on its own; fewer buffers, less of that. Built once
  per game object and kept while the game lives (games of up to
  ``PACK_MAX_BYTES``; larger ones gain nothing measurable).
* ``wait(x)``: the calling thread polls the result for up to ``SPIN_S``
  seconds before it sleeps, so a result that is ready within microseconds
  does not also pay for waking the caller. Only where the process may run on
  more than one core (on one core, polling would hold up the computation).

What only the user may turn on, ``low_latency_cpu()``, for the process:

* ``jax.config.update("jax_cpu_enable_async_dispatch", False)``;
* ``--xla_cpu_enable_concurrency_optimized_scheduler=false`` appended to
  ``XLA_FLAGS``.

JAX reads both when its CPU backend starts, so call ``low_latency_cpu()``
before the first computation; it raises once the backend runs (unless the
flag was already in ``XLA_FLAGS``). It changes global JAX settings, so the
library never calls it on its own. JAX offers no per-call choice: XLA's CPU
client runs a computation on the calling thread only when the whole client is
synchronous or when its cost model counts fewer than 1,000 flops (a Leduc
exploitability counts about 56,000).

``python benchmarks/bench_efg.py --only exploitability`` (and ``--low-latency``)
measures all of this on your machine.
"""

from __future__ import annotations

import math
import operator
import os
import time
import weakref

import jax
import numpy as np

FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler=false"


def backend_started() -> bool:
    """True once JAX has started its backends (after the first computation or device query).

    JAX has no public query for this; it uses the documented contract of the
    ``jax_num_cpu_devices`` option, which may only change before the backends start
    (``jax.config.update`` raises ``RuntimeError`` afterwards). Before that point the
    option is changed and restored, which has no effect.
    """
    current = jax.config.jax_num_cpu_devices
    try:
        jax.config.update("jax_num_cpu_devices", current + 1 if current > 0 else 1)
    except RuntimeError:
        return True
    jax.config.update("jax_num_cpu_devices", current)
    return False


def low_latency_cpu() -> None:
    """Synchronous dispatch and XLA's plain CPU scheduler for this process (see the module docstring).

    Raises ``RuntimeError`` if JAX's backend has already started, when neither setting would take
    effect, unless ``XLA_FLAGS`` already holds the flag (set in the environment before Python started).
    """
    flag_set = FLAG in os.environ.get("XLA_FLAGS", "")
    if not flag_set and backend_started():
        raise RuntimeError(
            "low_latency_cpu: JAX's backend has already started; call it before the first "
            "computation (or set XLA_FLAGS=" + FLAG + " in the environment)"
        )
    if not flag_set:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + FLAG).strip()
    jax.config.update("jax_cpu_enable_async_dispatch", False)


# ----------------------------------------------------------------------------- what the queries do by default

PACK_MAX_BYTES = 8 << 20  # games above this are passed leaf by leaf (their compute dwarfs dispatch)
SPIN_S = 1e-3  # the longest a caller polls a result before sleeping; 0 turns polling off
_MULTICORE = len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) > 1


@jax.tree_util.register_pytree_node_class
class Packed:
    """A pytree whose array leaves travel as one flat buffer per dtype; ``unpack()`` rebuilds it.

    ``layout`` is static (part of ``jax.jit``'s cache key): the tree's structure and, per leaf,
    ``(buffer index, offset, shape)``. Inside a jitted function ``unpack()`` costs slices and
    reshapes of parameters, which XLA folds into their consumers.
    """

    def __init__(self, buffers: tuple, layout: tuple):
        self.buffers = buffers
        self.layout = layout

    def tree_flatten(self):
        return self.buffers, self.layout

    @classmethod
    def tree_unflatten(cls, layout, buffers):
        return cls(tuple(buffers), layout)

    def unpack(self):
        treedef, slots = self.layout
        leaves = [self.buffers[b][start : start + math.prod(shape)].reshape(shape) for b, start, shape in slots]
        return jax.tree_util.tree_unflatten(treedef, leaves)


def _pack(tree) -> Packed | None:
    """``tree`` packed, or ``None`` when packing would change what the call sees or gains nothing.

    Packed only when the call cannot tell the difference: every leaf a concrete (immutable)
    ``jax.Array`` on the default device, none weakly typed (a packed leaf would lose that) nor of an
    extended dtype (a typed PRNG key has no NumPy form), at least two leaves and at most
    ``PACK_MAX_BYTES`` in all.
    """
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    if len(leaves) < 2 or sum(getattr(x, "nbytes", 0) for x in leaves) > PACK_MAX_BYTES:
        return None
    default = jax.devices()[0]
    for x in leaves:
        if not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer):
            return None
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.extended) or x.weak_type:
            return None
        if not x.is_fully_addressable or x.devices() != {default}:
            return None
    dtypes = sorted({x.dtype for x in leaves}, key=str)
    parts: list[list[np.ndarray]] = [[] for _ in dtypes]
    sizes = [0] * len(dtypes)
    slots = []
    for x in leaves:
        b = dtypes.index(x.dtype)
        slots.append((b, sizes[b], tuple(x.shape)))
        parts[b].append(np.asarray(x).ravel())
        sizes[b] += x.size
    # concrete buffers even when called while tracing, and on the leaves' device even when called
    # under ``jax.default_device(another)`` (kept uncommitted, like the leaves of a game model)
    with jax.ensure_compile_time_eval(), jax.default_device(default):
        buffers = tuple(jax.device_put(np.concatenate(p)) for p in parts)
    return Packed(buffers, (treedef, tuple(slots)))


_PACKED: dict[int, tuple] = {}  # id(tree) -> (weak reference to tree, its attributes, Packed)


def packed(tree):
    """``tree`` as a ``Packed`` (built once per object, dropped with it), or ``tree`` itself.

    ``tree`` itself when it cannot be packed (see ``_pack``; checked again on every call) or
    cannot be referenced weakly. Each call checks that the object's attributes are still the same
    objects (arrays and tuples are immutable, so a changed table means a reassigned attribute),
    and packs it again if one was reassigned. Inside the jitted function, ``unpacked(arg)`` gives
    the original tree back.
    """
    key = id(tree)
    state = _state(tree)
    hit = _PACKED.get(key)
    if hit is not None and hit[0]() is tree and _same(hit[1], state):
        return hit[2]

    def forget(ref, key=key):  # the tree is gone: drop its entry (not a newer tree's with the same id)
        if _PACKED.get(key, (None,))[0] is ref:
            del _PACKED[key]

    try:
        ref = weakref.ref(tree, forget)
    except TypeError:  # no weak references (a tuple, a slotted class): nothing to cache against
        return tree
    result = _pack(tree)
    if result is None:  # nothing cached: no reference kept to a tracer or to a big game's arrays
        return tree
    _PACKED[key] = (ref, state, result)
    return result


def _state(tree) -> tuple:
    """What ``packed`` compares by identity: the object's attributes (or its leaves, without any)."""
    attributes = getattr(tree, "__dict__", None)
    return tuple(attributes.values()) if attributes is not None else tuple(jax.tree_util.tree_leaves(tree))


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(map(operator.is_, a, b))


def unpacked(tree):
    """The inverse of ``packed``, for the jitted side."""
    return tree.unpack() if isinstance(tree, Packed) else tree


def wait(x: jax.Array) -> jax.Array:
    """``x`` once it is ready: poll for up to ``SPIN_S`` seconds, then block as usual.

    Polling keeps the calling thread awake, so a result computed within microseconds is not
    delayed by the wake-up of a sleeping thread. Skipped on a single core, where polling would
    take the core from the computation.
    """
    if _MULTICORE and SPIN_S > 0 and not x.is_ready():
        deadline = time.perf_counter() + SPIN_S
        while not x.is_ready() and time.perf_counter() < deadline:
            pass
    return x.block_until_ready()
