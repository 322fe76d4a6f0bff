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

from jaxgames import rng
from jaxgames.core import as_float_array, is_concrete
from jaxgames.matrix.game import MatrixGame, zero_sum
from jaxgames.validation import check_int, check_key, check_scalar, check_table_bytes, table_bytes

#: tolerance of the preference-game checks (``P + P^T = 1``, zero-sum, ``P`` in [0, 1])
PREFERENCE_ATOL = 1e-5


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
    """Raise ``ValueError`` naming ``game`` unless it is a two-player symmetric zero-sum game whose
    ``P = payoffs[0] + 1/2`` has entries in [0, 1] and ``P + P^T = 1`` (values checked when
    concrete, skipped under tracing)."""
    if not isinstance(game, MatrixGame):
        raise ValueError(
            f"{field}: expected a preference game (jaxgames.matrix.preference.preference_game(P)), "
            f"got {type(game).__name__}"
        )
    if game.num_players != 2 or game.num_actions[0] != game.num_actions[1]:
        raise ValueError(
            f"{field}: expected a preference game, a two-player game with the same responses "
            f"for both players, got num_actions={game.num_actions}"
        )
    payoffs = game.payoffs
    if payoffs.ndim != 3:
        raise ValueError(
            f"{field}: expected one unbatched preference game (vmap over batches), "
            f"got payoffs of shape {tuple(payoffs.shape)}"
        )
    if not is_concrete(payoffs):
        return
    a, b = np.asarray(payoffs[0], np.float64), np.asarray(payoffs[1], np.float64)
    p = a + 0.5
    if np.max(np.abs(a + b)) > PREFERENCE_ATOL:
        raise ValueError(
            f"{field}: expected a zero-sum preference game (payoffs[1] = -payoffs[0]), "
            f"off by {np.max(np.abs(a + b)):.3g}"
        )
    if p.min() < -PREFERENCE_ATOL or p.max() > 1 + PREFERENCE_ATOL:
        raise ValueError(
            f"{field}: expected P = payoffs[0] + 1/2 with entries in [0, 1] (a preference "
            f"probability), got range [{p.min():.3g}, {p.max():.3g}]"
        )
    err = np.max(np.abs(p + p.T - 1.0))
    if err > PREFERENCE_ATOL:
        raise ValueError(f"{field}: expected a symmetric preference game, P + P^T = 1, off by {err:.3g}")


def _num_responses(num_responses, max_bytes, copies: int = 1) -> int:
    """``num_responses`` checked (an integer >= 1) and its ``[n, n]`` matrix sized against ``max_bytes``."""
    n = check_int(num_responses, "num_responses", low=1)
    check_table_bytes(
        copies * table_bytes((n, n)),
        "num_responses",
        f"the preference matrix [{n}, {n}]"
        + (f" (and {copies - 1} more of its size while drawing it)" if copies > 1 else ""),
        max_bytes,
    )
    return n


def bradley_terry_preferences(key, num_responses: int, scale: float = 1.0, max_bytes: int | None = None) -> jax.Array:
    """Transitive preferences ``P[i, j] = sigmoid(s_i - s_j)`` with scores ``s ~ N(0, scale^2)``.

    ``scale`` may be traced; ``max_bytes`` bounds the ``[n, n]`` matrix (see ``jaxgames.validation``).
    """
    n = _num_responses(num_responses, max_bytes)
    scale = check_scalar(scale, "scale", low=0)
    key = check_key(key, "key", "bradley_terry_preferences")
    s = scale * jax.random.normal(key, (n,), jnp.result_type(float))
    return jax.nn.sigmoid(s[:, None] - s[None, :])


def cyclic_preferences(num_responses: int, margin: float = 0.4, max_bytes: int | None = None) -> jax.Array:
    """A tournament in which response ``i`` beats the next ``(n - 1) // 2`` responses cyclically.

    ``P[i, j] = 1/2 + margin`` when ``(j - i) mod n`` is in ``1..(n - 1)//2``
    (``margin`` in ``[0, 1/2]``, may be traced). For odd ``n`` (rock-paper-scissors
    for ``n = 3``) the unique von Neumann winner is uniform.
    """
    n = _num_responses(num_responses, max_bytes, copies=2)
    margin = check_scalar(margin, "margin", 0.0, 0.5)
    d = (jnp.arange(n)[None, :] - jnp.arange(n)[:, None]) % n
    k = (n - 1) // 2
    beats = (d >= 1) & (d <= k)
    loses = (d >= n - k) & (d <= n - 1)
    return 0.5 + margin * (beats.astype(jnp.result_type(float)) - loses)


def random_intransitive_preferences(
    key, num_responses: int, transitive_scale: float = 1.0, cyclic_scale: float = 1.0, max_bytes: int | None = None
) -> jax.Array:
    """Bradley-Terry scores plus an intransitive part: ``P = sigmoid(s_i - s_j + C_ij)``.

    ``C`` is a random skew-symmetric Gaussian matrix scaled by ``cyclic_scale``;
    ``P + P^T = 1`` holds exactly. The scales may be traced; ``max_bytes`` bounds the
    ``[n, n]`` tables drawn (see ``jaxgames.validation``).
    """
    n = _num_responses(num_responses, max_bytes, copies=2)
    transitive_scale = check_scalar(transitive_scale, "transitive_scale", low=0)
    cyclic_scale = check_scalar(cyclic_scale, "cyclic_scale", low=0)
    key = check_key(key, "key", "random_intransitive_preferences")
    k1, k2 = jax.random.split(key)
    dtype = jnp.result_type(float)
    s = transitive_scale * jax.random.normal(k1, (n,), dtype)
    G = rng.normal(k2, (n, n), dtype)
    C = cyclic_scale * (G - G.T) / jnp.sqrt(2.0)
    return jax.nn.sigmoid(s[:, None] - s[None, :] + C)
