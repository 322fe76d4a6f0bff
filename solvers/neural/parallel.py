"""Data-parallel training of the neural learners over every device of every host.

``solvers.run(solver, game, num_steps, key=key, mesh=solvers.neural.parallel.data_mesh())`` trains a
neural learner (``ppo``, ``mmd_rl``, ``nfsp``, ``rnad``, ``neural_nlhf``, ``deep_mirror_descent``)
with its batch (episodes, queries, simulated populations, minibatches) split over the ``"data"``
axis of ``mesh`` and its parameters replicated; the gradients are averaged across devices.

**How.** The learners are written for one device; each marks its batch with ``shard_batch(x,
field)`` where the batch is born (the rollout, the sampled minibatch). Outside a data-parallel run
that is the identity, traced to nothing (the single-device program is unchanged). Inside ``run(...,
mesh=...)`` it is ``jax.lax.with_sharding_constraint`` along the ``"data"`` axis, and XLA's SPMD
partitioner (GSPMD) splits every computation that follows the batch across the devices. A loss is a
mean over the batch, so its gradient with respect to the replicated parameters is a sum of
per-device partial sums that XLA completes with an all-reduce: the average of the devices'
gradients, inserted by the compiler. Everything else (the network on every decision point, the
exact exploitability) is small and computed replicated on every device.

Why not ``shard_map`` with an explicit ``jax.lax.pmean`` of the gradients: that would make every
device draw its own samples from its own key, permute its own minibatches and so on, so the run
would be a *different* algorithm from the one-device run (another random stream, minibatches drawn
per device). With GSPMD the program is the same one: random numbers are drawn with JAX's
partitionable threefry (the default since JAX 0.5), so the same key gives the same samples however
they are split, and the data-parallel run reproduces the one-device run up to the order of floating
point sums (``tests/test_data_parallel.py``: the exploitability traces agree to ~1e-6 in float32).

**Several hosts.** Under ``jax.distributed`` (``jaxgames.experiments.multihost.initialize``) every
process runs the same program with the same key and config; ``data_mesh()`` spans the devices of all
of them, ``run`` makes its inputs (the game, the initial state) global replicated arrays from each
process's identical copy (``replicate``), and its outputs (the final state, the trace) are
replicated, so every process can read them (``np.asarray``).

Shapes: a batch axis of size ``B`` is split into ``B / D`` per device, ``D = mesh.shape["data"]``;
``B`` must be a multiple of ``D`` (a ``ValueError`` names the hyperparameter otherwise).

Example::

    import jax, jaxgames, solvers
    from solvers.neural.parallel import data_mesh
    state, trace = solvers.run(solvers.ppo(batch_size=256), jaxgames.kuhn_poker(), 300,
                               key=jax.random.key(0), mesh=data_mesh())
"""

from __future__ import annotations

import contextlib
import hashlib
import threading

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["AXIS", "active_mesh", "check_mesh", "data_mesh", "replicate", "shard_batch", "using_mesh"]

#: The mesh axis the batch is split over.
AXIS = "data"

_local = threading.local()


def data_mesh(devices=None) -> Mesh:
    """The 1-D mesh ``("data",)`` over ``devices`` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("devices: expected at least one device, got none")
    return Mesh(np.array(devices), (AXIS,))


def check_mesh(mesh) -> Mesh | None:
    """``mesh`` checked: ``None`` (one device, the plain program) or a ``jax.sharding.Mesh`` with a
    ``"data"`` axis."""
    if mesh is None:
        return None
    if not isinstance(mesh, Mesh):
        raise ValueError(
            f"mesh: expected a jax.sharding.Mesh with a {AXIS!r} axis (solvers.neural.parallel.data_mesh()) "
            f"or None, got {type(mesh).__name__}"
        )
    if AXIS not in mesh.axis_names:
        raise ValueError(f"mesh: expected a mesh with a {AXIS!r} axis, got axes {tuple(mesh.axis_names)}")
    return mesh


def active_mesh() -> Mesh | None:
    """The mesh of the data-parallel run being traced, or ``None``."""
    return getattr(_local, "mesh", None)


@contextlib.contextmanager
def using_mesh(mesh: Mesh | None):
    """While tracing inside the block, ``shard_batch`` splits batches over ``mesh`` (``None``: off)."""
    previous = active_mesh()
    _local.mesh = mesh
    try:
        yield
    finally:
        _local.mesh = previous


def shard_batch(tree, field: str, axis: int = 0, what: str | None = None):
    """Split axis ``axis`` of every leaf of ``tree`` over the devices of the data-parallel run.

    The identity outside ``solvers.run(..., mesh=...)``. ``field`` names the hyperparameter that
    sets that axis's size (for the error when it is not a multiple of the device count), ``what``
    says how (default: the axis size is ``field``).
    """
    mesh = active_mesh()
    if mesh is None:
        return tree
    devices = mesh.shape[AXIS]
    for leaf in jax.tree_util.tree_leaves(tree):
        size = leaf.shape[axis]
        if size % devices:
            how = what or f"{field} = {size}"
            raise ValueError(
                f"{field}: data-parallel training splits {how} over the {devices} devices of the mesh's "
                f"{AXIS!r} axis; expected a multiple of {devices}"
            )

    def constrain(x):
        spec = PartitionSpec(*([None] * (axis % x.ndim)), AXIS)
        return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))

    return jax.tree_util.tree_map(constrain, tree)


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding of a value every device holds whole."""
    return NamedSharding(mesh, PartitionSpec())


def replicate(tree, mesh: Mesh, what: str = "state"):
    """Every array leaf of ``tree`` as a global array replicated over ``mesh``, built from this
    process's copy.

    Works across processes (``jax.make_array_from_callback`` fills this process's devices only),
    where ``jax.device_put`` onto devices of other processes would not. Every process must hold the
    same values (the same key, hyperparameters and game): with several processes they are hashed
    and compared, and a ``ValueError`` naming ``what`` is raised on every process if they differ.
    PRNG keys go through their key data; non-array leaves and tracers (``run`` under ``jit``) are
    left alone.
    """
    sharding = replicated(mesh)
    several = jax.process_count() > 1
    digest = hashlib.sha256()

    def one(x):
        if isinstance(x, jax.core.Tracer) or not isinstance(x, (jax.Array, np.ndarray, np.generic)):
            return x
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        if not several:
            return jax.device_put(x, sharding)
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(one(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        data = np.asarray(x)
        digest.update(np.ascontiguousarray(data).tobytes())
        return jax.make_array_from_callback(data.shape, sharding, lambda index: data[index])

    out = jax.tree_util.tree_map(one, tree)
    if several:
        _check_same_everywhere(np.frombuffer(digest.digest(), np.uint8), what)
    return out


def _check_same_everywhere(digest: np.ndarray, what: str) -> None:
    from jaxgames.experiments.multihost import differing_process  # late: jaxgames.experiments imports solvers

    first = differing_process(digest)
    if first is not None:
        raise ValueError(
            f"{what}: differs between processes (process {first} has another than process 0); every process "
            "of a data-parallel run must be given the same key, hyperparameters and game"
        )
