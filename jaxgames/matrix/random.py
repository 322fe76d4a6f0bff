"""Random normal-form games from a ``jax.random`` key.

All generators are pure functions of the key, so ``jax.vmap`` over a batch of
keys builds a batch of games. Action counts are static arguments.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from jaxgames.matrix.game import MatrixGame

_DISTRIBUTIONS = ("uniform", "gaussian")


def _actions(num_actions, min_players: int = 2) -> tuple:
    if isinstance(num_actions, int):
        num_actions = (num_actions, num_actions)
    num_actions = tuple(int(a) for a in num_actions)
    if len(num_actions) < min_players or min(num_actions) < 1:
        raise ValueError(
            f"num_actions: expected >= {min_players} positive action counts, got {num_actions}")
    return num_actions


def _sample(key, shape, distribution: str, dtype=None):
    dtype = dtype or jnp.result_type(float)
    if distribution == "uniform":
        return jax.random.uniform(key, shape, dtype, minval=-1.0, maxval=1.0)
    if distribution == "gaussian":
        return jax.random.normal(key, shape, dtype)
    raise ValueError(f"distribution: expected one of {_DISTRIBUTIONS}, got {distribution!r}")


def random_zero_sum(key, num_actions: int | Sequence[int] = 3, distribution: str = "uniform") -> MatrixGame:
    """Two-player zero-sum game with i.i.d. entries, uniform on [-1, 1] or standard normal."""
    m, n = _actions(num_actions)
    if len((m, n)) != 2:
        raise ValueError("num_actions: a two-player zero-sum game needs two action counts")
    A = _sample(key, (m, n), distribution)
    return MatrixGame(jnp.stack([A, -A]))


def random_general_sum(key, num_actions: int | Sequence[int] = 3, distribution: str = "uniform") -> MatrixGame:
    """Two-player general-sum game with independent i.i.d. payoff matrices."""
    actions = _actions(num_actions)
    if len(actions) != 2:
        raise ValueError(f"num_actions: expected two action counts, got {actions}")
    return MatrixGame(_sample(key, (2, *actions), distribution))


def random_game(key, num_actions: Sequence[int] = (2, 2, 2), zero_sum: bool = False,
                distribution: str = "uniform") -> MatrixGame:
    """N-player game, one player per entry of ``num_actions``.

    With ``zero_sum=True`` the players' payoffs are centred so that they sum to
    zero at every joint action.
    """
    actions = _actions(num_actions)
    payoffs = _sample(key, (len(actions), *actions), distribution)
    if zero_sum:
        payoffs = payoffs - jnp.mean(payoffs, axis=0, keepdims=True)
    return MatrixGame(payoffs)
