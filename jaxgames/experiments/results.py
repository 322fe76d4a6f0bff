"""Durable results: atomic CSV / JSON writes, the results directory and locks.

Every file is written to a temporary file next to it and moved into place (``os.replace``), so a
reader never sees half a file; a failed write (disk full) removes its temporary file and raises
``WriteError`` naming the file, and ``clean_stale_tmp`` removes those a killed process left behind.
Files get the permissions ``open()`` would give them (``0o666`` less the user's umask).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

from jaxgames.experiments.config import ConfigError
from jaxgames.experiments.timing import environment, precision  # noqa: F401 - the record written with results

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locking between processes
    fcntl = None


class WriteError(OSError):
    """A result file could not be written (disk full, permissions); ``filename`` names it."""


def file_mode() -> int:
    """``0o666`` less the process umask: the mode ``open()`` gives a new file (``mkstemp`` gives 0600)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no portable way to read it without setting it
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and ``os.replace``: a reader never sees half a file.

    On failure the temporary file is removed and ``WriteError`` (an ``OSError`` with the errno and
    the path) is raised.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise WriteError(err.errno, f"could not write the file: {err.strerror or err}", str(path)) from err
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


def clean_stale_tmp(path: Path) -> list[Path]:
    """Remove the temporary files an interrupted ``atomic_write_text`` of ``path`` left; return them.

    Call it only while no other process may be writing ``path`` (under its lock).
    """
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


def write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_csv(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` (dicts with the same keys) as CSV, atomically."""
    if not rows:
        atomic_write_text(path, "")
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def prepare_out(out: str | Path) -> Path:
    """Create the results directory and check that files can be written there, before any work.

    Raises ``ConfigError("--out DIR: ...")`` when ``out`` is a file, lies under a file, or is not
    writable (read-only, permissions, read-only file system).
    """
    out = Path(out)
    try:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out}: is a file; expected a directory for the results")
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(f"--out {out}: a part of the path is a file; expected a directory for the results") from None
    except OSError as err:
        raise ConfigError(f"--out {out}: cannot write results there: {err.strerror or err}") from None
    return out


@contextlib.contextmanager
def file_lock(path: Path, blocking: bool = True):
    """An exclusive ``flock`` on ``path`` (created if needed) for the ``with`` block.

    Yields True when held, False when ``blocking=False`` and another holder has it. The lock goes
    with the open file, so it is released when the process dies, even by SIGKILL; two threads that
    each enter the block also exclude each other. Without ``fcntl`` (not POSIX) it always yields True.
    """
    if fcntl is None:  # pragma: no cover
        yield True
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def config_hash(resolved: dict) -> str:
    return hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode()).hexdigest()[:16]
