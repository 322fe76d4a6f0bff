"""Running the experiments under JAX's multi-controller runtime (``jax.distributed``).

With several processes (one per host, or one per GPU), every process runs the same program; a
jitted call spans the devices of all of them. The experiment code follows three rules:

* **global inputs from host data:** each process knows the whole grid (the same config), so
  ``global_array`` builds a global array from it, each process filling the shards of its own
  devices (``jax.make_array_from_callback``);
* **results gathered:** a result sharded over every process's devices is not addressable from one
  process, so ``to_host`` gathers it (``multihost_utils.process_allgather``) onto every process;
* **decisions made once:** what to compute (the chunks already on disk) is decided by process 0
  and broadcast, and the config must hash the same on every process (``agree``), so all processes
  enter the same jitted calls in the same order. Process 0 writes the files.

``initialize`` starts ``jax.distributed`` with a bounded time-out and clear errors (the CLI's
``--coordinator``, ``--num-processes``, ``--process-id``); on SLURM or a TPU pod those come from the
environment (``jax.distributed.initialize()`` with no arguments).
"""

from __future__ import annotations

import hashlib
import socket
import time

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxgames.experiments.config import ConfigError

__all__ = ["agree", "barrier", "broadcast", "global_array", "initialize", "is_multiprocess", "is_writer", "to_host"]


def is_multiprocess() -> bool:
    """Whether ``jax.distributed`` runs more than one process."""
    return jax.process_count() > 1


def is_writer() -> bool:
    """Whether this process writes the results (process 0)."""
    return jax.process_index() == 0


def grid_mesh() -> Mesh:
    """The 1-D mesh ``("grid",)`` over every device of every process."""
    return Mesh(np.array(jax.devices()), ("grid",))


def global_array(host, mesh: Mesh) -> jax.Array:
    """``host`` (the same values on every process), sharded along its first axis over ``mesh``; each
    process fills the shards of its own devices. PRNG key arrays go through their key data."""
    if isinstance(host, jax.Array) and jax.dtypes.issubdtype(host.dtype, jax.dtypes.prng_key):
        impl = jax.random.key_impl(host)
        return jax.random.wrap_key_data(global_array(jax.random.key_data(host), mesh), impl=impl)
    data = np.asarray(host)
    spec = PartitionSpec("grid", *([None] * (data.ndim - 1)))
    return jax.make_array_from_callback(data.shape, NamedSharding(mesh, spec), lambda index: data[index])


def to_host(x) -> np.ndarray:
    """The whole of ``x`` as a NumPy array on this process (gathered from every process if needed)."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def broadcast(values: np.ndarray) -> np.ndarray:
    """Process 0's ``values`` on every process (one process: unchanged)."""
    if not is_multiprocess():
        return np.asarray(values)
    return np.asarray(multihost_utils.broadcast_one_to_all(np.asarray(values)))


def differing_process(digest: np.ndarray) -> int | None:
    """The first process whose ``digest`` (a uint8 array, the same size everywhere) differs from process
    0's, or ``None`` when every process has the same (a collective: every process must call it)."""
    every = np.asarray(multihost_utils.process_allgather(digest)).reshape(jax.process_count(), -1)
    differ = [i for i in range(len(every)) if not np.array_equal(every[i], every[0])]
    return differ[0] if differ else None


def agree(text: str, what: str) -> None:
    """Raise a ``ConfigError`` on every process unless ``text`` is the same on all of them."""
    if not is_multiprocess():
        return
    first = differing_process(np.frombuffer(hashlib.sha256(text.encode()).digest(), np.uint8))
    if first is not None:
        raise ConfigError(
            f"{what}: differs between processes (process {first} has another than process 0): every "
            "process of a multi-process run must be given the same config and overrides"
        )


def barrier(name: str) -> None:
    """Wait until every process gets here (one process: return)."""
    if is_multiprocess():
        multihost_utils.sync_global_devices(name)


def initialize(coordinator: str | None, num_processes: int | None, process_id: int | None, timeout_s: int = 120):
    """Start ``jax.distributed`` (explicit arguments, or all None: from the cluster environment).

    Raises a ``ConfigError`` naming the coordinator when it cannot be reached within ``timeout_s``,
    and when the arguments are inconsistent."""
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise ConfigError("--coordinator, --num-processes and --process-id: give all three, or none")
    if all(given):
        if num_processes < 1:
            raise ConfigError(f"--num-processes: expected a positive integer, got {num_processes}")
        if not 0 <= process_id < num_processes:
            raise ConfigError(f"--process-id: expected an integer in [0, {num_processes - 1}], got {process_id}")
    if all(given) and process_id > 0:
        # XLA terminates the process (a fatal log, no exception) when the coordinator does not answer:
        # wait for its port here, with a clear error
        _wait_for_port(coordinator, timeout_s)
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id, initialization_timeout=int(timeout_s))
    except Exception as err:  # XLA raises its own error types (DEADLINE_EXCEEDED, ...)
        where = coordinator or "the address from the cluster environment"
        raise ConfigError(
            f"--coordinator: could not start jax.distributed with {where} within {timeout_s} s "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); check that process 0 runs "
            "there, that the port is open, and that every process is given the same --num-processes"
        ) from None
    if all(given):
        _check_process_count(num_processes, process_id)


def _check_process_count(num_processes: int, process_id: int) -> None:
    """Every process was given the coordinator's process count, or a ``ConfigError`` on every process.

    The runtime takes the count from process 0 (the coordinator): a process given another count that
    still connects (its index below the coordinator's count) would run as if it had been given the
    coordinator's, silently. The counts are compared across processes, so every one of them fails."""
    first = differing_process(np.array([num_processes], np.int64).view(np.uint8))
    runs = jax.process_count()
    if runs != num_processes:
        raise ConfigError(
            f"--num-processes: this process ({process_id}) was given {num_processes}, but process 0 (the "
            f"coordinator) was given {runs}: give every process the same --num-processes"
        )
    if first is not None:
        raise ConfigError(
            f"--num-processes: process {first} was given another count than this process's {num_processes}: "
            "give every process the same --num-processes"
        )


def _wait_for_port(address: str, timeout_s: float) -> None:
    """Return once ``HOST:PORT`` accepts a TCP connection; a ``ConfigError`` after ``timeout_s``."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--coordinator: expected HOST:PORT, got {address!r}")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                return
        except OSError as err:
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"--coordinator: could not start jax.distributed with {address} within {timeout_s} s (nothing "
                    f"answers there: {err.strerror or err}); start process 0 there first, and check the address "
                    "and that the port is open"
                ) from None
            time.sleep(0.2)
