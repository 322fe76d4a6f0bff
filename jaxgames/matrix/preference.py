"""Preference games for Nash learning from human feedback (NLHF).

Given a preference matrix ``P[i, j] = Pr(response i is preferred to j)`` with
``P + P^T = 1``, the preference game is the symmetric two-player zero-sum game
with payoff ``P - 1/2`` (Munos et al. 2023, "Nash learning from human
feedback"). Its Nash equilibrium is the von Neumann winner: a mixture of
responses preferred to any other with probability >= 1/2. When preferences are
transitive (Bradley-Terry) it is the Condorcet winner; intransitive (cyclic)
preferences give mixed equilibria, where plain mirror descent cycles.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.core import as_float_array, is_concrete
from jaxgames.matrix.game import MatrixGame, zero_sum


def preference_game(P) -> MatrixGame:
    """Symmetric zero-sum game with row payoff ``P - 1/2``.

    Raises ``ValueError`` if ``P`` is not square, or (when concrete) has
    entries outside [0, 1] or violates ``P + P^T = 1``.
    """
    P = as_float_array(P, "P")
    if P.ndim != 2 or P.shape[0] != P.shape[1]:
        raise ValueError(f"P: expected a square [n, n] preference matrix, got shape {tuple(P.shape)}")
    if is_concrete(P):
        arr = np.asarray(P)
        if not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
            raise ValueError("P: expected probabilities in [0, 1]")
        err = np.max(np.abs(arr + arr.T - 1.0))
        if err > 1e-5:
            raise ValueError(f"P: expected P + P.T = 1 (P[i, j] = Pr(i beats j)), off by {err:.3g}")
    return zero_sum(P - 0.5)


def check_preference_game(game, field: str = "game") -> None:
    """Raise ``ValueError`` unless ``game`` is a preference game: two players, row payoff ``P - 1/2``
    with ``P`` in [0, 1], ``P + P^T = 1`` and column payoff ``-(P - 1/2)`` (checked when concrete)."""
    if not isinstance(game, MatrixGame) or game.num_players != 2 or game.num_actions[0] != game.num_actions[1]:
        raise ValueError(f"{field}: expected a preference game (jaxgames.matrix.preference_game(P): two players, "
                         f"the same responses for both), got {game!r}")
    payoffs = game.payoffs
    if not is_concrete(payoffs):
        return
    A, B = np.asarray(payoffs[0], np.float64), np.asarray(payoffs[1], np.float64)
    if (not np.all(np.isfinite(A)) or A.min() < -0.5 - 1e-6 or A.max() > 0.5 + 1e-6
            or np.max(np.abs(A + B)) > 1e-5 or np.max(np.abs(A + A.T)) > 1e-5):
        raise ValueError(f"{field}: expected a preference game (row payoff P - 1/2 with P in [0, 1], "
                         "P + P.T = 1, zero-sum); build it with jaxgames.matrix.preference_game(P)")


def bradley_terry_preferences(key, num_responses: int, scale: float = 1.0) -> jax.Array:
    """Transitive preferences ``P[i, j] = sigmoid(s_i - s_j)`` with scores ``s ~ N(0, scale^2)``."""
    s = scale * jax.random.normal(key, (num_responses,), jnp.result_type(float))
    return jax.nn.sigmoid(s[:, None] - s[None, :])


def cyclic_preferences(num_responses: int, margin: float = 0.4) -> jax.Array:
    """A tournament in which response ``i`` beats the next ``(n - 1) // 2`` responses cyclically.

    ``P[i, j] = 1/2 + margin`` when ``(j - i) mod n`` is in ``1..(n - 1)//2``.
    For odd ``n`` (rock-paper-scissors for ``n = 3``) the unique von Neumann
    winner is uniform.
    """
    n = int(num_responses)
    d = (jnp.arange(n)[None, :] - jnp.arange(n)[:, None]) % n
    k = (n - 1) // 2
    beats = (d >= 1) & (d <= k)
    loses = (d >= n - k) & (d <= n - 1)
    return 0.5 + margin * (beats.astype(jnp.result_type(float)) - loses)


def random_intransitive_preferences(key, num_responses: int, transitive_scale: float = 1.0,
                                    cyclic_scale: float = 1.0) -> jax.Array:
    """Bradley-Terry scores plus an intransitive part: ``P = sigmoid(s_i - s_j + C_ij)``.

    ``C`` is a random skew-symmetric Gaussian matrix scaled by ``cyclic_scale``;
    ``P + P^T = 1`` holds exactly.
    """
    k1, k2 = jax.random.split(key)
    dtype = jnp.result_type(float)
    s = transitive_scale * jax.random.normal(k1, (num_responses,), dtype)
    G = jax.random.normal(k2, (num_responses, num_responses), dtype)
    C = cyclic_scale * (G - G.T) / jnp.sqrt(2.0)
    return jax.nn.sigmoid(s[:, None] - s[None, :] + C)
