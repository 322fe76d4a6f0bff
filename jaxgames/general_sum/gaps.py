"""Coarse correlated and correlated equilibrium gaps of a joint distribution over joint actions.

A *correlated* strategy is one distribution over joint actions (a mediator draws ``a ~ joint`` and
tells each player ``i`` only its own recommendation ``a_i``), not a tuple of independent mixed
strategies. Two ways to deviate from it give the two solution concepts (Aumann 1974; Moulin &
Vial 1978):

* **coarse correlated (CCE)**: player ``i`` commits to a fixed action ``a'`` *before* seeing its
  recommendation. Its gain is ``max_{a'} sum_a joint(a) [u_i(a', a_-i) - u_i(a)]``.
* **correlated (CE)**: player ``i`` sees ``a_i`` and then plays ``phi(a_i)`` for a *swap*
  ``phi: A_i -> A_i``. The best swap deviates on each recommendation separately, so its gain is
  ``sum_{r} max_{a'} sum_{a_-i} joint(r, a_-i) [u_i(a', a_-i) - u_i(r, a_-i)]``.

The CE gain is ``>= 0`` (``phi`` = identity gains 0) and ``>=`` the CCE gain (a constant ``phi`` is
a fixed deviation). It bounds the *per-recommendation* violation that CE linear programs constrain,
``max_r max_{a'} sum_{a_-i} joint(r, a_-i) [u_i(a', a_-i) - u_i(r, a_-i)]``, from above, and is at
most ``A_i`` times it: all three are 0 exactly at a CE. The CCE gain can be negative (a joint that
every fixed deviation loses against); the reported gaps are clipped at 0, so ``cce_gap(game,
joint) == 0`` exactly when ``joint`` is a CCE and ``ce_gap`` exactly when it is a CE. The product of
a Nash equilibrium's mixed strategies (``product_joint``) is both.

Per player: ``cce_gaps`` / ``ce_gaps`` ``[N]``; the game's gap, the largest over players:
``cce_gap`` / ``ce_gap``. The no-regret dynamics of ``solvers.no_regret`` drive these to 0: the CCE
gap of their empirical joint play *is* the players' largest average external regret, and the CE gap
their largest average swap regret.

**Markov games** (``jaxgames.markov.MarkovGame``): ``joint [S, A_1, ..., A_N]`` is a stationary
correlated policy, a distribution over joint actions in every state, drawn afresh each step. With
the other players' actions drawn from ``joint`` and player ``i`` deviating (Daskalakis, Golowich &
Zhang 2022, Markov CCE; Liu, Wang & Jin 2021; Jin et al. 2021 for the CE form):

* CCE: player ``i`` ignores its recommendations and plays any policy against the others'
  correlated marginal ``joint_-i[s, a_-i] = sum_{a_i} joint[s, a_i, a_-i]``: an MDP on the states,
  solved exactly by the game's own policy iteration (``MarkovGame.best_response_state_values``);
* CE: player ``i`` sees its recommendation ``r ~ joint_i[s]`` and plays ``phi_s(r)``, a swap per
  state (stationary, or per step with a finite horizon): an MDP on the pairs ``(s, r)`` (``S A_i``
  states, ``A_i`` actions), whose transitions draw the others' actions from ``joint[s, r, .] /
  joint_i[s, r]`` and the next recommendation from ``joint_i[s']``, solved the same way. Following
  the recommendations gives the joint's own value, so the CE gain is ``>= 0`` and ``>=`` the CCE gain.

The gains are per player and per state, ``gains[i, s] = V_i^{dev}(s) - V_i^{joint}(s)`` with
``V_i^{dev}`` the optimal deviation's value (simultaneously optimal from every state), clipped at 0:
``cce_gaps`` / ``ce_gaps`` return ``[N, S]`` (the per-state gap ``[S]`` is ``jnp.max(ce_gaps(game,
joint), axis=0)``), ``cce_gap`` / ``ce_gap`` the largest over players and states (the
subgame-perfect form: a Markov (C)CE has gap 0 in every state, reached or not). The gap from the
initial distribution alone is ``max_i (initial @ (V_i^dev - V_i^joint))``: use
``deviation_values(game, joint, kind) @ game.initial - joint_values(game, joint) @ game.initial``.
On a one-state game with discount 0 every Markov quantity is the matrix game's.

Every function is exact, jittable and vmappable (``jax.vmap(ce_gap)(games, joints)``); a concrete
``joint`` of the wrong shape or off the simplex (beyond ``jaxgames.validation.PROBABILITY_ATOL``)
raises a ``ValueError`` naming ``joint``; traced values are not inspected.

Example::

    game = jaxgames.matrix.chicken()                  # (dare, chicken)
    aumann = jnp.array([[0.0, 1 / 3], [1 / 3, 1 / 3]])
    ce_gap(game, aumann)                             # 0: Aumann's correlated equilibrium
    ce_gap(game, jnp.array([[0.5, 0.0], [0.0, 0.5]]))  # 1.0 (and cce_gap 0.5)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgames.core import Policy
from jaxgames.markov.game import MarkovGame
from jaxgames.matrix.game import MatrixGame
from jaxgames.validation import (
    as_float_array,
    check_probability_statistics,
    check_table,
    host_values,
    probability_statistics,
)

_KINDS = ("cce", "ce")


def _check_game(game) -> None:
    if not isinstance(game, (MatrixGame, MarkovGame)):
        raise ValueError(
            f"game: expected a jaxgames.matrix.MatrixGame or jaxgames.markov.MarkovGame, got {type(game).__name__}"
        )


def _expected_shape(game) -> tuple:
    if isinstance(game, MarkovGame):
        return (game.num_states, *game.num_actions)
    return tuple(game.num_actions)


def check_joint(game, joint) -> jax.Array:
    """``joint`` as a float array, checked against ``game``.

    Shape ``[A_1, ..., A_N]`` for a ``MatrixGame``, ``[S, A_1, ..., A_N]`` for a ``MarkovGame``
    (always checked); non-negative and summing to 1 over the joint actions (per state), within
    ``PROBABILITY_ATOL``, when concrete.
    """
    _check_game(game)
    joint = as_float_array(joint, "joint")
    expected = _expected_shape(game)
    markov = isinstance(game, MarkovGame)
    if tuple(joint.shape) != expected:
        what = "[S, A_1, ..., A_N] (a distribution over joint actions per state)" if markov else "[A_1, ..., A_N]"
        raise ValueError(f"joint: expected shape {what} = {expected} for this game, got {tuple(joint.shape)}")
    arr = host_values(joint, "joint")
    if arr is not None:
        rows = arr.reshape(expected[0], -1) if markov else arr.reshape(1, -1)
        what = "a distribution over joint actions in every state" if markov else "a distribution over joint actions"
        check_probability_statistics(probability_statistics(rows), "joint", what)
    return joint


def product_joint(policy: Policy) -> jax.Array:
    """The product distribution of independent mixed strategies: ``joint[a] = prod_i x_i[a_i]``.

    ``policy`` ``([A_1], ..., [A_N])`` gives ``[A_1, ..., A_N]``; a Markov policy ``([S, A_i], ...)``
    gives ``[S, A_1, ..., A_N]`` (leading axes shared). A Nash equilibrium's product has gap 0.
    """
    n = len(policy)
    lead = policy[0].ndim - 1
    letters = "abcdefghijklmnopqrstuvwxyz"
    batch, acts = letters[:lead], letters[lead : lead + n]
    spec = ",".join(batch + a for a in acts) + "->" + batch + acts
    return jnp.einsum(spec, *policy)


# -- matrix games --------------------------------------------------------------------------------
def _deviation_matrix(game: MatrixGame, joint: jax.Array, i: int) -> jax.Array:
    """``M [A_i, A_i]``: ``M[r, a'] = sum_{a_-i} joint(r, a_-i) u_i(a', a_-i)``."""
    own = game.own_first[i]  # [A_i, a_-i in player order]
    a = own.shape[0]
    j = jnp.moveaxis(joint, i, 0).reshape(a, -1)
    return j @ own.reshape(a, -1).T.astype(j.dtype)


def _matrix_gains(game: MatrixGame, joint: jax.Array, kind: str) -> jax.Array:
    gains = []
    for i in range(game.num_players):
        m = _deviation_matrix(game, joint, i)
        value = jnp.trace(m)
        best = jnp.max(jnp.sum(m, axis=0)) if kind == "cce" else jnp.sum(jnp.max(m, axis=1))
        gains.append(best - value)
    return jnp.stack(gains)


# -- Markov games --------------------------------------------------------------------------------
def _player_view(game: MarkovGame, joint: jax.Array, i: int):
    """Player ``i``'s axis second and the others flattened: joint, transitions, rewards."""
    s, a = game.num_states, game.num_actions[i]
    j = jnp.moveaxis(joint, 1 + i, 1).reshape(s, a, -1)  # [S, A_i, K]
    t = jnp.moveaxis(game.transitions, 1 + i, 1).reshape(s, a, -1, s).astype(j.dtype)  # [S, A_i, K, S']
    r = jnp.moveaxis(game.rewards[i], 1 + i, 1).reshape(s, a, -1).astype(j.dtype)  # [S, A_i, K]
    return j, t, r


def _mdp(game: MarkovGame, transitions, rewards, initial) -> MarkovGame:
    return MarkovGame.from_validated(transitions, rewards[None], game.discount, initial, game.horizon)


def joint_values(game, joint) -> jax.Array:
    """Each player's expected payoff under ``joint``: ``[N]`` for a matrix game; for a Markov game
    the state values ``V [N, S]`` of the stationary correlated policy (exact: the joint actions are
    the actions of one MDP per player, evaluated by ``MarkovGame.state_values``)."""
    return _joint_values(game, check_joint(game, joint))


def _joint_values(game, joint: jax.Array) -> jax.Array:
    if isinstance(game, MatrixGame):
        return jnp.stack([jnp.trace(_deviation_matrix(game, joint, i)) for i in range(game.num_players)])
    s = game.num_states
    flat = joint.reshape(s, -1)
    transitions = game.transitions.reshape(s, -1, s).astype(flat.dtype)
    values = []
    for i in range(game.num_players):
        mdp = _mdp(game, transitions, game.rewards[i].reshape(s, -1).astype(flat.dtype), game.initial)
        values.append(mdp.state_values((flat,))[0])
    return jnp.stack(values)


def _cce_deviation_values(game: MarkovGame, joint: jax.Array, i: int) -> jax.Array:
    j, t, r = _player_view(game, joint, i)
    others = jnp.sum(j, axis=1)  # [S, K]: the others' correlated marginal
    mdp = _mdp(game, jnp.einsum("sk,sakt->sat", others, t), jnp.einsum("sk,sak->sa", others, r), game.initial)
    return mdp.best_response_state_values((jnp.sum(j, axis=2),))[0]


def _ce_deviation_values(game: MarkovGame, joint: jax.Array, i: int) -> jax.Array:
    j, t, r = _player_view(game, joint, i)
    s, a = j.shape[:2]
    check_table((s * a, a, s * a), "game", f"the CE deviation MDP of player {i} (transitions [S A_i, A_i, S A_i])")
    mass = jnp.sum(j, axis=2)  # [S, A_i]: the recommendation's probability
    others = jnp.sum(j, axis=1)  # [S, K]
    # the others' actions given the recommendation; a recommendation never made is never reached
    cond = jnp.where(mass[..., None] > 0, j / jnp.where(mass > 0, mass, 1.0)[..., None], others[:, None, :])
    nxt = jnp.einsum("srk,sakt->srat", cond, t)  # [S, R, A', S']
    transitions = (nxt[..., None] * mass[None, None, None]).reshape(s * a, a, s * a)
    rewards = jnp.einsum("srk,sak->sra", cond, r).reshape(s * a, a)
    initial = (game.initial.astype(j.dtype)[:, None] * mass).reshape(-1)
    follow = jnp.tile(jnp.eye(a, dtype=j.dtype), (s, 1))  # warm start: obey the recommendation
    w = _mdp(game, transitions, rewards, initial).best_response_state_values((follow,))[0]
    return jnp.sum(mass * w.reshape(s, a), axis=1)


def deviation_values(game: MarkovGame, joint, kind: str = "cce") -> jax.Array:
    """``[N, S]``: each player's value from each state under its best ``kind`` (``"cce"`` or
    ``"ce"``) deviation from the stationary correlated policy ``joint [S, A_1, ..., A_N]`` (module
    docstring), exact (policy iteration on the deviation MDP)."""
    if kind not in _KINDS:
        raise ValueError(f"kind: expected one of {_KINDS}, got {kind!r}")
    if not isinstance(game, MarkovGame):
        raise ValueError(f"game: expected a jaxgames.markov.MarkovGame, got {type(game).__name__}")
    return _deviation_values(game, check_joint(game, joint), kind)


def _deviation_values(game: MarkovGame, joint: jax.Array, kind: str) -> jax.Array:
    best = _cce_deviation_values if kind == "cce" else _ce_deviation_values
    return jnp.stack([best(game, joint, i) for i in range(game.num_players)])


def _gains(game, joint, kind: str) -> jax.Array:
    joint = check_joint(game, joint)
    if isinstance(game, MatrixGame):
        return _matrix_gains(game, joint, kind)
    return _deviation_values(game, joint, kind) - _joint_values(game, joint)


# -- public gaps ---------------------------------------------------------------------------------
def cce_gaps(game, joint) -> jax.Array:
    """Per player, the gain of its best fixed (coarse) deviation from ``joint``, clipped at 0.

    Matrix game: ``[N]``, ``max(0, max_{a'} sum_a joint(a) [u_i(a', a_-i) - u_i(a)])``. Markov
    game: ``[N, S]``, ``max(0, V_i^dev(s) - V_i^joint(s))`` (module docstring).
    """
    return jnp.maximum(_gains(game, joint, "cce"), 0.0)


def ce_gaps(game, joint) -> jax.Array:
    """Per player, the gain of its best swap deviation from ``joint``, clipped at 0 (rounding only).

    Matrix game: ``[N]``, ``sum_r max_{a'} sum_{a_-i} joint(r, a_-i) [u_i(a', a_-i) - u_i(r, a_-i)]``.
    Markov game: ``[N, S]``, ``V_i^dev(s) - V_i^joint(s)`` for the best per-state swap (module docstring).
    """
    return jnp.maximum(_gains(game, joint, "ce"), 0.0)


def cce_gap(game, joint) -> jax.Array:
    """The coarse correlated equilibrium gap of ``joint``: the largest gain of any player's fixed
    deviation (and, in a Markov game, from any state), ``>= 0``, and 0 exactly at a CCE.

    Args:
      game: a ``MatrixGame`` (payoffs ``[N, A_1, ..., A_N]``) or a ``MarkovGame``.
      joint: ``[A_1, ..., A_N]`` (matrix) or ``[S, A_1, ..., A_N]`` (Markov), a distribution over
        joint actions (per state).

    Returns:
      A scalar: ``max`` of ``cce_gaps(game, joint)``.

    Example::

        cce_gap(jaxgames.matrix.chicken(), jnp.array([[0.5, 0.0], [0.0, 0.5]]))  # 0.5
    """
    return jnp.max(cce_gaps(game, joint))


def ce_gap(game, joint) -> jax.Array:
    """The correlated equilibrium gap of ``joint``: the largest gain of any player's best swap
    deviation (deviating after seeing its recommendation; in a Markov game from any state),
    ``>= cce_gap``, and 0 exactly at a CE. Arguments as ``cce_gap``; returns the ``max`` of
    ``ce_gaps(game, joint)``.

    Example::

        ce_gap(jaxgames.matrix.chicken(), jnp.array([[0.0, 1 / 3], [1 / 3, 1 / 3]]))  # 0 (Aumann's CE)
    """
    return jnp.max(ce_gaps(game, joint))


def per_recommendation_violation(game: MatrixGame, joint) -> jax.Array:
    """``[N]``: the largest violation of one CE constraint, ``max_{r, a'} sum_{a_-i} joint(r, a_-i)
    [u_i(a', a_-i) - u_i(r, a_-i)]`` (what a CE linear program bounds), ``>= 0``; between
    ``ce_gaps / A_i`` and ``ce_gaps`` (matrix games)."""
    joint = check_joint(game, joint)
    if not isinstance(game, MatrixGame):
        raise ValueError(f"game: expected a jaxgames.matrix.MatrixGame, got {type(game).__name__}")
    out = []
    for i in range(game.num_players):
        m = _deviation_matrix(game, joint, i)
        out.append(jnp.max(m - jnp.diag(m)[:, None]))
    return jnp.maximum(jnp.stack(out), 0.0)


__all__ = [
    "cce_gap",
    "ce_gap",
    "cce_gaps",
    "ce_gaps",
    "check_joint",
    "deviation_values",
    "joint_values",
    "per_recommendation_violation",
    "product_joint",
]
