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
``--coordinator``, ``--num-processes``, ``--process-id``): the processes first meet at the
coordinator's address (``handshake``) and check that their flags agree. On SLURM or a TPU pod those
come from the environment (``jax.distributed.initialize()`` with no arguments).
"""

from __future__ import annotations

import hashlib
import json
import socket
import time

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxgames.experiments.config import ConfigError

__all__ = [
    "agree",
    "barrier",
    "broadcast",
    "global_array",
    "handshake",
    "initialize",
    "is_multiprocess",
    "is_writer",
    "to_host",
]


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

    With explicit arguments, the processes first meet at the coordinator's address (``handshake``), so
    that an unreachable coordinator, a missing process, different ``--num-processes`` or a repeated or
    out-of-range ``--process-id`` give a ``ConfigError`` on every process, where XLA's runtime would
    terminate the processes (a fatal log) or run silently with process 0's count."""
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if any(given) and not all(given):
        raise ConfigError("--coordinator, --num-processes and --process-id: give all three, or none")
    if all(given):
        handshake(coordinator, num_processes, process_id, timeout_s)
    try:
        jax.distributed.initialize(coordinator, num_processes, process_id, initialization_timeout=int(timeout_s))
    except Exception as err:  # XLA raises its own error types (DEADLINE_EXCEEDED, ...)
        where = coordinator or "the address from the cluster environment"
        raise ConfigError(
            f"--coordinator: could not start jax.distributed with {where} within {timeout_s} s "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); check that process 0 runs "
            "there, that the port is open, and that every process is given the same --num-processes"
        ) from None


def handshake(coordinator: str, num_processes: int, process_id: int, timeout_s: float) -> None:
    """Meet every process at ``coordinator`` (``HOST:PORT``) before ``jax.distributed`` starts there.

    Process 0 listens on the port and waits up to ``timeout_s`` for processes ``1 .. num_processes - 1``;
    each of them connects (retrying until ``timeout_s``) and sends its ``--num-processes`` and
    ``--process-id``. Process 0 checks them against its own (the same count, each index once) and answers
    every process with "ok" or with the error, which every process then raises as a ``ConfigError``.
    Process 0 closes the port before it starts the runtime's coordination service on it."""
    host, port = _address(coordinator)
    if num_processes < 1:
        raise ConfigError(f"--num-processes: expected a positive integer, got {num_processes}")
    if not 0 <= process_id < num_processes:
        raise ConfigError(f"--process-id: expected an integer in [0, {num_processes - 1}], got {process_id}")
    if num_processes == 1:
        return
    deadline = time.monotonic() + timeout_s
    if process_id == 0:
        _meet_as_coordinator(port, num_processes, deadline, timeout_s)
    else:
        _meet_as_process(host, port, coordinator, num_processes, process_id, deadline, timeout_s)


def _address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--coordinator: expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def _send(conn: socket.socket, message: dict) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _receive(conn: socket.socket, deadline: float) -> dict | None:
    """One JSON line from ``conn``, or None (closed, malformed, or ``deadline`` passed)."""
    data = b""
    while not data.endswith(b"\n"):
        conn.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            part = conn.recv(4096)
        except OSError:
            return None
        if not part or len(data) > 65536:
            return None
        data += part
    try:
        message = json.loads(data)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _meet_as_coordinator(port: int, num_processes: int, deadline: float, timeout_s: float) -> None:
    if socket.has_dualstack_ipv6():
        server = socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True, reuse_port=False)
    else:
        server = socket.create_server(("", port))
    met: dict[int, socket.socket] = {}
    errors = []
    try:
        with server:
            while len(met) < num_processes - 1 and time.monotonic() < deadline:
                server.settimeout(max(deadline - time.monotonic(), 0.01))
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    break
                hello = _receive(conn, min(deadline, time.monotonic() + 10))
                if hello is None or not isinstance(hello.get("num_processes"), int):
                    conn.close()  # not one of ours (a port scan, a stale client): ignore it
                    continue
                count, index = hello["num_processes"], hello.get("process_id")
                if count != num_processes:
                    errors.append(
                        f"--num-processes: process {index} was given {count}, but process 0 (the coordinator) was "
                        f"given {num_processes}: give every process the same --num-processes"
                    )
                elif index in met:
                    errors.append(f"--process-id: two processes were given {index}: give each process its own index")
                elif not isinstance(index, int) or not 0 < index < num_processes:
                    errors.append(f"--process-id: a process was given {index}, expected 1 .. {num_processes - 1}")
                if errors:
                    _send(conn, {"error": errors[0]})
                    conn.close()
                    break
                met[index] = conn
        if not errors and len(met) < num_processes - 1:
            missing = sorted(set(range(1, num_processes)) - set(met))
            errors.append(
                f"--num-processes: process 0 was given {num_processes}, but process(es) {missing} did not connect "
                f"to the coordinator within {timeout_s} s: start every process, each with the same --coordinator "
                "and --num-processes"
            )
        for conn in met.values():
            _send(conn, {"error": errors[0]} if errors else {"ok": True})
        for conn in met.values():  # the processes close first, so the port is free for the runtime
            _receive(conn, time.monotonic() + 5)
    finally:
        for conn in met.values():
            conn.close()
    if errors:
        raise ConfigError(errors[0])


def _meet_as_process(host, port, coordinator, num_processes, process_id, deadline, timeout_s) -> None:
    while True:
        try:
            conn = socket.create_connection((host, port), timeout=1.0)
            break
        except OSError as err:
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"--coordinator: could not start jax.distributed with {coordinator} within {timeout_s} s "
                    f"(nothing answers there: {err.strerror or err}); start process 0 there first, and check the "
                    "address and that the port is open"
                ) from None
            time.sleep(0.2)
    with conn:
        _send(conn, {"num_processes": num_processes, "process_id": process_id})
        answer = _receive(conn, deadline + 15)  # process 0 answers by its own deadline
    if answer is None:
        raise ConfigError(
            f"--coordinator: {coordinator} accepted the connection but did not answer as a jaxgames process 0 "
            f"within {timeout_s} s: check the address"
        )
    if "error" in answer:
        raise ConfigError(str(answer["error"]))
