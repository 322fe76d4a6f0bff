"""Random normal-form games from a ``jax.random`` key.

All generators are pure functions of the key, so ``jax.vmap`` over a batch of
keys builds a batch of games. Action counts are static arguments, checked (as
integers) and sized (``max_bytes``, see ``jaxgames.validation``) before any
table is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import rng
from jaxgames.matrix.game import MatrixGame
from jaxgames.validation import check_bool, check_choice, check_int, check_key, check_table_bytes, table_bytes

#: what ``distribution=`` draws: uniform on [-1, 1], or standard normal ("normal" is an alias of "gaussian")
DISTRIBUTIONS = ("uniform", "gaussian", "normal")


def action_counts(
    num_actions, field: str = "num_actions", min_players: int = 2, num_players: int | None = None
) -> tuple:
    """``num_actions`` as a tuple of integers >= 1: an int (one count for each of ``num_players``,
    default 2) or a sequence with one count per player (at least ``min_players``)."""
    if isinstance(num_actions, (str, bytes)) or num_actions is None:
        raise ValueError(f"{field}: expected an integer or a sequence of integers, got {num_actions!r}")
    if isinstance(num_actions, (np.ndarray, jax.Array)) and np.ndim(num_actions) == 0:
        num_actions = check_int(num_actions, field, low=1)
    if isinstance(num_actions, (int, np.integer, bool, np.bool_, float, np.floating)):
        num_actions = (check_int(num_actions, field, low=1),) * (num_players or 2)
    try:
        entries = list(num_actions)
    except TypeError:
        raise ValueError(
            f"{field}: expected an integer or a sequence of integers, got {type(num_actions).__name__}"
        ) from None
    counts = tuple(check_int(a, f"{field}[{i}]", low=1) for i, a in enumerate(entries))
    if len(counts) < min_players:
        raise ValueError(f"{field}: expected >= {min_players} action counts (one per player), got {counts}")
    if num_players is not None and len(counts) != num_players:
        raise ValueError(f"{field}: expected {num_players} action counts (one per player), got {counts}")
    return counts


def check_payoff_bytes(shape: tuple, field: str = "num_actions", max_bytes=None) -> None:
    """Raise before drawing a payoff table of ``shape`` above ``max_bytes`` (default dtype)."""
    dims = ", ".join(str(s) for s in shape)
    check_table_bytes(table_bytes(shape), field, f"the payoff table [{dims}]", max_bytes)


def sample_payoffs(key, shape, distribution: str, dtype=None) -> jax.Array:
    """I.i.d. entries of ``shape``: uniform on ``[-1, 1]`` or standard normal (one of ``DISTRIBUTIONS``).

    The one draw behind every random payoff or reward table (normal-form and Markov games).
    """
    dtype = dtype or jnp.result_type(float)
    if distribution == "uniform":
        return rng.uniform(key, shape, dtype, minval=-1.0, maxval=1.0)
    if distribution in ("gaussian", "normal"):
        return rng.normal(key, shape, dtype)
    raise ValueError(f"distribution: expected one of {DISTRIBUTIONS}, got {distribution!r}")


def _prepare(key, num_actions, distribution, max_bytes, who, num_players=None) -> tuple:
    """Check every argument (sizes first) and the table's bytes; return the action counts."""
    actions = action_counts(num_actions, num_players=num_players)
    check_choice(distribution, "distribution", DISTRIBUTIONS)
    check_payoff_bytes((len(actions), *actions), max_bytes=max_bytes)
    check_key(key, "key", who)
    return actions


def random_zero_sum(
    key, num_actions: int | Sequence[int] = 3, distribution: str = "uniform", max_bytes: int | None = None
) -> MatrixGame:
    """Two-player zero-sum game with i.i.d. entries, uniform on [-1, 1] or standard normal.

    ``max_bytes``: the largest payoff table ``[2, m, n]`` allowed (default 4 GiB, see
    ``jaxgames.validation``).
    """
    m, n = _prepare(key, num_actions, distribution, max_bytes, "random_zero_sum", num_players=2)
    A = sample_payoffs(key, (m, n), distribution)
    return MatrixGame(jnp.stack([A, -A]))


def random_general_sum(
    key, num_actions: int | Sequence[int] = 3, distribution: str = "uniform", max_bytes: int | None = None
) -> MatrixGame:
    """Two-player general-sum game with independent i.i.d. payoff matrices."""
    actions = _prepare(key, num_actions, distribution, max_bytes, "random_general_sum", num_players=2)
    return MatrixGame(sample_payoffs(key, (2, *actions), distribution))


def random_game(
    key,
    num_actions: Sequence[int] = (2, 2, 2),
    zero_sum: bool = False,
    distribution: str = "uniform",
    max_bytes: int | None = None,
) -> MatrixGame:
    """N-player game, one player per entry of ``num_actions`` (an int: two players).

    With ``zero_sum=True`` the players' payoffs are centred so that they sum to
    zero at every joint action.
    """
    actions = action_counts(num_actions)
    zero_sum = check_bool(zero_sum, "zero_sum")
    actions = _prepare(key, actions, distribution, max_bytes, "random_game")
    payoffs = sample_payoffs(key, (len(actions), *actions), distribution)
    if zero_sum:
        payoffs = payoffs - jnp.mean(payoffs, axis=0, keepdims=True)
    return MatrixGame(payoffs)
