"""The payoff scale of a game: what makes the first-order solvers' default step sizes scale-free.

A first-order step ``eta * q`` has payoff units, so one default ``eta`` cannot suit payoffs of
order 1 and of order 100 alike (on Gaussian 10x10 games with payoffs x100 the old defaults ended
worse than the uniform policy). The solvers' *default* step sizes are therefore relative to
``payoff_scale(game)``, half the spread ``(max - min) / 2`` of the game's payoffs, so ``1`` for
payoffs spanning ``[-1, 1]``, the range the defaults were tuned on (where they are unchanged). It is
computed once at ``init`` from the game's public fields (the Markov stage solvers divide their stage
games by the spread of ``Q`` the same way, ``solvers.smooth_value_iteration``). The spread is:

* ``MatrixGame``: ``max_i (max_a payoffs[i, a] - min_a payoffs[i, a])``, the largest range of one
  player's payoffs;
* ``EFGGame``: the largest range of one player's payoffs over the terminal histories;
* ``MarkovGame``: the largest range of one player's stage rewards over states and joint actions
  (action values are discounted sums of these);
* another game with the capability ``jaxgames.capabilities.PayoffSpread`` (its own cheap bound on
  the spread, ``payoff_spread()``; ``jaxgames.markov.StageGames``, per stage game): that value;
* anything else (mean-field games, whose rewards depend on the mean field): no spread, scale ``1``,
  i.e. the defaults act on payoffs as they are.

Every case is homogeneous, ``payoff_scale(c * game) = c * payoff_scale(game)`` for ``c > 0``, so
with default hyperparameters the iterates on ``c * A`` equal those on ``A``. A game whose payoffs
are all equal has spread ``0`` and gets ``1``. Works under ``jit`` and ``vmap`` (an array result).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.capabilities import PayoffSpread, has
from jaxgames.core import Game


def _spread(x: jax.Array, axes) -> jax.Array:
    """``max - min`` of ``x`` over ``axes``."""
    return jnp.max(x, axis=axes) - jnp.min(x, axis=axes)


def _matrix_spread(game) -> jax.Array:
    return jnp.max(jnp.stack([_spread(t, None) for t in game.own_first]))


def _efg_spread(game) -> jax.Array:
    terminal = np.asarray(game.tree.is_terminal)
    payoffs = game.payoffs[..., terminal, :]  # [Z, N]
    return jnp.max(_spread(payoffs, -2))


def _markov_spread(game) -> jax.Array:
    rewards = game.rewards  # [N, S, A_1, ..., A_N]
    return jnp.max(_spread(rewards.reshape(rewards.shape[0], -1), 1))


def raw_payoff_scale(game: Game) -> jax.Array | None:
    """The spread described in the module docstring, or ``None`` where no cheap bound is known."""
    from jaxgames.efg.game import EFGGame
    from jaxgames.markov.game import MarkovGame
    from jaxgames.matrix.game import MatrixGame

    if isinstance(game, MatrixGame):
        return _matrix_spread(game)
    if isinstance(game, EFGGame):
        return _efg_spread(game)
    if isinstance(game, MarkovGame):
        return _markov_spread(game)
    if has(game, PayoffSpread):
        return jnp.asarray(game.payoff_spread())
    return None


def payoff_scale(game: Game) -> jax.Array:
    """A positive scalar: half the game's payoff spread (module docstring), ``1`` if zero or unknown."""
    dtype = jnp.result_type(float)
    spread = raw_payoff_scale(game)
    if spread is None:
        return jnp.ones((), dtype)
    spread = 0.5 * jnp.asarray(spread, dtype)
    return jnp.where(jnp.isfinite(spread) & (spread > 0), spread, jnp.ones((), dtype))
