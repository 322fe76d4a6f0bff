"""The one set of input checks behind every constructor, solver and simulator.

Each check names the field it guards and what was expected, raises ``ValueError`` (also for
wrong types, so callers catch one exception), and skips what cannot be inspected under
``jit`` / ``vmap`` / ``grad`` (traced values pass; static fields such as sizes must be concrete).

Probabilities (policies, transition rows, distributions) are checked by ``check_probabilities``
with the one tolerance ``PROBABILITY_ATOL``.

Sizes are checked before any dense table is built: ``check_table_bytes`` compares the bytes a
table will take with ``max_bytes`` (default ``DEFAULT_MAX_BYTES``, 4 GiB, or the environment
variable ``JAXGAMES_MAX_BYTES``) and tells the user how to allow more.
"""

from __future__ import annotations

import math
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

#: Default ceiling, in bytes, on any one dense table a constructor builds.
DEFAULT_MAX_BYTES = 4 * 2**30

#: The one tolerance of every probability check (policies, transition rows, distributions):
#: entries may dip to ``-PROBABILITY_ATOL``, sums may be off 1 (and illegal actions hold) up to it.
PROBABILITY_ATOL = 1e-4


def is_concrete(x: Any) -> bool:
    """True when ``x`` holds values we can inspect (not a tracer under jit/vmap/grad)."""
    return not isinstance(x, jax.core.Tracer)


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_int(value: Any, field: str, low: int | None = None, high: int | None = None) -> int:
    """A static integer (a Python or NumPy integer, or a 0-d integer array), within ``[low, high]``.

    Floats are rejected rather than truncated (``2.9`` and ``2.0`` alike), as are bools and
    strings; a traced value is rejected because sizes and counts must be static.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{field}: expected an integer, got {_describe(value)}")
    if not is_concrete(value):
        raise ValueError(
            f"{field}: expected a static Python int, got a traced value "
            "(sizes and counts cannot depend on jit/vmap arguments)"
        )
    if isinstance(value, (np.ndarray, jax.Array)):
        if value.ndim != 0 or not jnp.issubdtype(value.dtype, jnp.integer):
            raise ValueError(
                f"{field}: expected an integer, got an array of dtype {value.dtype} and shape {tuple(value.shape)}"
            )
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        raise ValueError(f"{field}: expected an integer, got {_describe(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{field}: expected an integer {_range_text(low, high)}, got {value}")
    return value


def _range_text(low, high, low_open: bool = False, high_open: bool = False) -> str:
    """``">= 0"``, ``"< 1"``, ``"in (0, 1]"``: the range of a check's message."""
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    if low is None:
        return f"{'<' if high_open else '<='} {high}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def check_bool(value: Any, field: str) -> bool:
    """A Python or NumPy bool (truthy strings, ``None`` and numbers are rejected)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{field}: expected True or False, got {_describe(value)}")
    return bool(value)


def check_choice(value: Any, field: str, choices) -> Any:
    """One of ``choices`` (compared with ``==``; unhashable values are rejected cleanly)."""
    try:
        ok = any(isinstance(value, type(c)) and value == c for c in choices)
    except Exception:  # noqa: BLE001 - arrays or odd objects compare badly: not a choice
        ok = False
    if not ok:
        raise ValueError(f"{field}: expected one of {tuple(choices)}, got {_describe(value)}")
    return value


def check_key(key: Any, field: str = "key", who: str | None = None) -> jax.Array:
    """A JAX PRNG key: a typed key (``jax.random.key(seed)``) of shape ``()`` or a raw
    ``uint32[2]`` key (``jax.random.PRNGKey(seed)``); traced keys are checked by shape and dtype."""
    hint = "pass jax.random.key(seed) or jax.random.PRNGKey(seed)" + (f" to {who}" if who else "")
    if key is None:
        raise ValueError(f"{field}: expected a PRNG key, got None; {hint}")
    if not isinstance(key, (jax.Array, np.ndarray)):
        raise ValueError(f"{field}: expected a PRNG key, got {_describe(key)}; {hint}")
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(
                f"{field}: expected one PRNG key (shape ()), got a batch of shape "
                f"{tuple(key.shape)}; split or vmap over it"
            )
        return key
    if key.dtype != jnp.uint32 or key.shape != (2,):
        raise ValueError(
            f"{field}: expected a PRNG key (a typed key, or uint32 of shape (2,)), "
            f"got dtype {key.dtype} and shape {tuple(key.shape)}; {hint}"
        )
    return key


def _numeric(value: Any, field: str, asarray):
    """``asarray(value)`` of a real numeric dtype (float, int, bool), or a ValueError naming ``field``.
    Strings, ``None``, complex and object values are rejected."""
    if isinstance(value, (str, bytes)) or value is None:
        raise ValueError(f"{field}: expected a number or numeric array, got {_describe(value)}")
    try:
        arr = asarray(value)
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"{field}: expected a numeric array, got {type(value).__name__}") from err
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer) or arr.dtype == np.bool_):
        raise ValueError(f"{field}: expected a real numeric array, got dtype {arr.dtype}")
    return arr


_FLOATS = frozenset(np.dtype(t) for t in ("float16", "float32", "float64"))  # the common case, tested first


def is_float_array(x: Any) -> bool:
    """``x`` is already a floating JAX array (what ``as_float_array`` returns unchanged)."""
    return isinstance(x, jax.Array) and (x.dtype in _FLOATS or jnp.issubdtype(x.dtype, jnp.floating))


def as_float_array(x: Any, field: str) -> jax.Array:
    """Convert user input to a floating JAX array, naming ``field`` on failure."""
    if is_float_array(x):
        return x
    if isinstance(x, (np.ndarray, np.generic, float, int, bool)):
        # host data: converted by NumPy and placed once (``jnp.asarray`` compiles a small program per
        # shape and dtype for this, tens of milliseconds each)
        return jax.device_put(_numeric(x, field, np.asarray).astype(jnp.result_type(float)))
    return _numeric(x, field, jnp.asarray).astype(jnp.result_type(float))


def host_values(value: Any, field: str) -> np.ndarray | None:
    """``value`` as a float NumPy array for checking, or ``None`` when it is traced.

    Read on the host so that a concrete constant inside ``jit`` is still checked (and never
    becomes a traced boolean).
    """
    if not is_concrete(value):
        return None
    return _numeric(value, field, np.asarray).astype(np.float64)


def check_player_axes(x: Any, field: str, layout: str, fixed: int, min_players: int) -> int:
    """The player count ``N`` of ``x``, shaped ``layout`` (``[N, <fixed - 1 axes>, A_1, ..., A_N]``:
    ``N + fixed`` axes); raises a ``ValueError`` naming ``field`` otherwise."""
    if x.ndim < 3:
        raise ValueError(
            f"{field}: expected shape {layout} with N >= {min_players} players, got shape {tuple(x.shape)}"
        )
    n = x.shape[0]
    if x.ndim != n + fixed:
        raise ValueError(
            f"{field}: expected shape {layout}: the leading axis says N = {n} "
            f"players, so {n + fixed} axes, got shape {tuple(x.shape)}"
        )
    return n


def check_finite(x: Any, field: str) -> None:
    """Raise if a concrete array holds NaN or inf (skipped under tracing)."""
    arr = host_values(x, field)
    if arr is not None:
        bad = int(np.sum(~np.isfinite(arr)))
        if bad:
            raise ValueError(f"{field}: expected finite values, found {bad} NaN/inf entries")


def check_positive(value: Any, field: str, allow_zero: bool = False) -> None:
    """Raise if a concrete hyperparameter is not positive (or negative, with ``allow_zero``).
    ``None`` passes (an optional setting left off); strings and other non-numbers are rejected."""
    if value is None:
        return
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{field}: expected a number, got {_describe(value)}")
    arr = host_values(value, field)
    if arr is None:
        return
    if not np.all(np.isfinite(arr)) or (np.any(arr < 0) if allow_zero else np.any(arr <= 0)):
        expected = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{field}: expected a finite value {expected}, got {value!r}")


def check_scalar(
    value: Any, field: str, low=None, high=None, low_open: bool = False, high_open: bool = False
) -> jax.Array:
    """A finite float scalar (traced values pass), within ``[low, high]`` when concrete.

    ``low_open`` / ``high_open`` exclude the bound; ``None`` leaves that side unbounded. The
    one check behind every model coefficient (crowd aversion, rates, costs, discount, damping).
    """
    if value is None or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{field}: expected a number, got {_describe(value)}")
    arr = host_values(value, field)
    if arr is not None:
        if arr.ndim != 0:
            raise ValueError(f"{field}: expected a scalar, got shape {tuple(arr.shape)}")
        if not np.isfinite(arr.astype(np.dtype(jnp.result_type(float)))):  # finite once cast, too
            raise ValueError(f"{field}: expected finite values, got {float(arr)}")
        if low is not None or high is not None:
            x = float(arr)
            ok = (low is None or (x > low if low_open else x >= low)) and (
                high is None or (x < high if high_open else x <= high)
            )
            if not ok:
                raise ValueError(f"{field}: expected a value {_range_text(low, high, low_open, high_open)}, got {x}")
    v = as_float_array(value, field)
    if v.ndim != 0:
        raise ValueError(f"{field}: expected a scalar, got shape {tuple(v.shape)}")
    return v


def format_bytes(num_bytes: float) -> str:
    if num_bytes < 1024:
        return f"{int(num_bytes)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        num_bytes /= 1024
        if num_bytes < 1024 or unit == "PiB":
            return f"{num_bytes:.3g} {unit}"
    return f"{num_bytes:.3g} PiB"  # pragma: no cover


def resolve_max_bytes(max_bytes: Any = None) -> int:
    """``max_bytes`` checked, or the default (``JAXGAMES_MAX_BYTES`` if set, else 4 GiB)."""
    if max_bytes is None:
        env = os.environ.get("JAXGAMES_MAX_BYTES")
        if env is None:
            return DEFAULT_MAX_BYTES
        try:
            return check_int(int(env), "JAXGAMES_MAX_BYTES", low=1)
        except ValueError:
            raise ValueError(f"JAXGAMES_MAX_BYTES: expected an integer number of bytes, got {env!r}") from None
    return check_int(max_bytes, "max_bytes", low=1)


def table_bytes(shape, dtype=None) -> int:
    """Bytes of a dense array of ``shape`` (Python ints, no overflow) and ``dtype`` (default float)."""
    itemsize = np.dtype(dtype if dtype is not None else jnp.result_type(float)).itemsize
    return math.prod(int(s) for s in shape) * itemsize


def check_table_bytes(num_bytes: int, field: str, what: str, max_bytes: Any = None) -> None:
    """Raise before building a table of ``num_bytes`` above ``max_bytes``.

    ``field`` is the size argument responsible (``"size"``, ``"rows, cols"``); ``what`` names the
    table (``"the transition tensor [S, A, S]"``). The message says how to allow more.
    """
    limit = resolve_max_bytes(max_bytes)
    if num_bytes > limit:
        raise ValueError(
            f"{field}: {what} needs {format_bytes(num_bytes)}, above max_bytes = "
            f"{format_bytes(limit)}; choose a smaller {field}, or pass max_bytes= (or set "
            f"JAXGAMES_MAX_BYTES) to allow more if the machine has the memory"
        )


#: Most entries of one dense table: XLA addresses elements with int32 (on CPU a flat ``argmax`` over
#: 2**31 elements returns -2**31), and an allocation that fails inside a computation aborts the
#: process (exit 134) instead of raising.
MAX_TABLE_ELEMENTS = 2**31 - 1


def check_table(shape, field: str, what: str, max_bytes: Any = None, dtype=None) -> None:
    """Refuse, before it is built, a dense table of ``shape`` (Python ints, possibly huge): its bytes
    in ``dtype`` (default float) must fit ``max_bytes`` (``check_table_bytes``) and its entries
    ``MAX_TABLE_ELEMENTS`` whatever ``max_bytes`` allows."""
    check_table_bytes(table_bytes(shape, dtype), field, what, max_bytes)
    count = math.prod(int(n) for n in shape)
    if count > MAX_TABLE_ELEMENTS:
        raise ValueError(
            f"{field}: {what} would hold {count:,} entries, above the {MAX_TABLE_ELEMENTS:,} "
            f"(2**31 - 1) that XLA indexes with int32; choose a smaller {field}"
        )


def probability_statistics(p, mask=None, xp=np):
    """``[3]``: the smallest entry, the largest mass on an illegal action (0 without ``mask``) and
    the largest ``|sum - 1|`` over the last axis of ``p``: what ``check_probability_statistics`` judges.

    NaN propagates through all three. ``xp`` is ``numpy`` (host) or ``jax.numpy``, so the same
    statistics can be computed inside the jitted call they guard (``jaxgames.api`` does).
    """
    low = xp.min(p, initial=np.inf)
    illegal = xp.zeros((), low.dtype) if mask is None else xp.max(xp.where(mask, 0.0, p), initial=0.0)
    off = xp.max(xp.abs(xp.sum(p, axis=-1) - 1.0), initial=0.0)
    return xp.stack([low, illegal, off])


def probability_violation(p, mask=None, xp=np):
    """``[]``: the largest violation among those ``probability_statistics`` measure (a negative entry,
    mass on an illegal action, a row sum off 1), ``<= PROBABILITY_ATOL`` exactly when they all pass, NaN
    when ``p`` has a NaN. One fused reduction inside a jitted call (``jaxgames.api``); the host then
    computes the three statistics, for the message, only when it fails."""
    bad = -p if mask is None else xp.maximum(-p, xp.where(mask, 0.0, p))
    rows = xp.maximum(xp.max(bad, axis=-1, initial=-np.inf), xp.abs(xp.sum(p, axis=-1) - 1.0))
    return xp.max(rows, initial=0.0)


def probabilities_ok(low: float, illegal: float, off: float) -> bool:
    """Whether ``probability_statistics`` pass within ``PROBABILITY_ATOL`` (NaN fails)."""
    return bool(low >= -PROBABILITY_ATOL and illegal <= PROBABILITY_ATOL and off <= PROBABILITY_ATOL)


def check_probability_statistics(stats, field: str, what: str = "probabilities") -> None:
    """Raise the ``ValueError`` that ``probability_statistics`` call for, naming ``field``.

    ``what`` names the rows that must sum to 1 (``"rows over next states"``).
    """
    low, illegal, off = (float(v) for v in stats)
    if probabilities_ok(low, illegal, off):
        return
    if not (np.isfinite(low) or low == np.inf) or not np.isfinite(illegal) or not np.isfinite(off):
        raise ValueError(f"{field}: expected finite probabilities, found NaN/inf")
    if low < -PROBABILITY_ATOL:
        raise ValueError(f"{field}: expected non-negative probabilities, min is {low:.4g}")
    if illegal > PROBABILITY_ATOL:
        raise ValueError(f"{field}: puts probability on illegal actions")
    raise ValueError(f"{field}: expected {what} summing to 1, found a sum off by {off:.4g}")


def check_probabilities(p: Any, field: str, what: str = "probabilities", mask=None) -> None:
    """Raise unless the concrete array ``p`` is non-negative, sums to 1 over its last axis and
    (with ``mask``) puts no mass where ``mask`` is false, all within ``PROBABILITY_ATOL``.

    The one probability check of every game family (policies, transitions, initial and model
    distributions). Traced values pass: they cannot be inspected.
    """
    arr = host_values(p, field)
    if arr is not None:
        check_probability_statistics(probability_statistics(arr, mask), field, what)
