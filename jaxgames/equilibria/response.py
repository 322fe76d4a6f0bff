"""The logit response of each game family, in log space: the map whose fixed point is the logit QRE.

For a temperature ``tau > 0`` and a reference policy ``rho`` (uniform unless given), every family has
action values ``Q_i`` per decision point such that the KL-regularized equilibrium is the fixed point

    pi_i = softmax(Q_i(pi) / tau + log rho_i)      over the legal actions with rho_i > 0, every i,

and ``log_response`` returns the right-hand side's logarithm (exact in log space, so probabilities
far below float underflow stay meaningful along a QRE path). ``Q_i`` per family:

* matrix, contextual preference games and ``markov.StageGames``: the expected payoffs of each
  action against the others (``game.action_values``), independent of ``tau``;
* extensive-form games: the counterfactual values of the bottom-up soft pass (the subtree below
  each action valued by the player's own soft best response): the dilated-KL-regularized
  equilibrium of ``jaxgames.efg.regularized``;
* discounted Markov games: the policy's own regularized action values
  (``jaxgames.markov.regularized.regularized_action_values``): the entropy-regularized Markov
  (perfect) equilibrium of Cen, Wei & Chi (2021);
* finite-horizon mean-field games: the soft backward-induction values against ``mu(pi)``
  (``MeanFieldGame.soft_action_values``): the entropy-regularized mean-field equilibrium.

Every map is differentiable in the policy, the game's array leaves and ``tau`` (no loops without
gradients), which the implicit function theorem of ``logit_qre`` needs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgames import simplex
from jaxgames.capabilities import CapabilityError
from jaxgames.core import Policy

SUPPORTED = (
    "a matrix, preference, contextual preference, extensive-form, discounted Markov or finite-horizon mean-field game"
)


def _family(game) -> str:
    from jaxgames.efg.game import EFGGame
    from jaxgames.markov.game import MarkovGame
    from jaxgames.markov.stage_games import StageGames
    from jaxgames.matrix.contextual import ContextualPreferenceGame
    from jaxgames.matrix.game import MatrixGame
    from jaxgames.mean_field.game import MeanFieldGame

    if isinstance(game, (MatrixGame, ContextualPreferenceGame, StageGames)):
        return "normal_form"
    if isinstance(game, EFGGame):
        return "efg"
    if isinstance(game, MarkovGame):
        if game.horizon is not None:
            raise CapabilityError(
                f"game: logit_qre needs a discounted Markov game (horizon=None), got horizon={game.horizon}: "
                "the regularized equilibrium of a finite-horizon game is time-dependent, which the "
                "stationary policies of MarkovGame cannot represent"
            )
        return "markov"
    if isinstance(game, MeanFieldGame):
        return "mean_field"
    from jaxgames.mean_field.stationary import StationaryMeanFieldGame

    if isinstance(game, StationaryMeanFieldGame):
        raise CapabilityError(
            "game: logit_qre needs a finite-horizon MeanFieldGame, got a StationaryMeanFieldGame: its soft action "
            "values come from a soft value iteration loop (no implicit derivative through it here); use the "
            "finite-horizon form of the model"
        )
    raise CapabilityError(f"game: logit_qre needs {SUPPORTED}; got {type(game).__name__}")


def check_supported(game) -> str:
    """The family name of ``game``; a ``CapabilityError`` naming what is supported otherwise."""
    return _family(game)


def soft_action_values(game, policy: Policy, temperature, reference: Policy) -> Policy:
    """Per player, ``Q_i`` of the module docstring, shaped like ``policy[i]``."""
    family = _family(game)
    if family == "normal_form":
        return tuple(game.action_values(policy))
    if family == "efg":
        from jaxgames.efg.regularized import soft_action_values as efg_values

        return efg_values(game, policy, temperature, reference)
    if family == "markov":
        from jaxgames.markov.regularized import regularized_action_values

        return regularized_action_values(game, policy, temperature, reference)
    return game.soft_action_values(policy, temperature, reference)


def regularized_nash_conv(game, policy: Policy, temperature, reference: Policy) -> jax.Array:
    """The game's ``regularized_nash_conv``; for ``markov.StageGames``, which has none, the sum over
    players and stage games of ``tau log sum_a rho exp(q / tau) - (<pi, q> - tau KL(pi || rho))``."""
    from jaxgames.markov.stage_games import StageGames

    if not isinstance(game, StageGames):
        return game.regularized_nash_conv(policy, temperature, reference)
    tau = jnp.asarray(temperature, policy[0].dtype)
    gap = jnp.zeros((), policy[0].dtype)
    for p, q, rho in zip(policy, game.action_values(policy), reference):
        rho = rho.astype(p.dtype)
        best = simplex.soft_max_value(q, rho, tau)
        kl = jnp.sum(jnp.where(p > 0, p * (simplex.safe_log(p) - simplex.safe_log(rho)), 0.0), axis=-1)
        gap = gap + jnp.sum(best - (jnp.sum(p * q, axis=-1) - tau * kl))
    return gap


def support(game, reference: Policy) -> Policy:
    """Per player, bool like the policy: legal actions with positive reference probability."""
    return tuple(jnp.asarray(m) & (r > 0) for m, r in zip(game.legal_mask(), reference))


def log_normalize(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """``logits - logsumexp(logits)`` over ``mask`` along the last axis; ``0`` off the mask."""
    lse = jax.nn.logsumexp(jnp.where(mask, logits, -jnp.inf), axis=-1, keepdims=True)
    return jnp.where(mask, logits - lse, 0.0)


def to_policy(log_policy: Policy, mask: Policy) -> Policy:
    """``exp`` of the log policy on ``mask``, ``0`` elsewhere."""
    return tuple(jnp.where(m, jnp.exp(x), 0.0) for x, m in zip(log_policy, mask))


def to_log(policy: Policy, mask: Policy) -> Policy:
    """The log policy on ``mask`` (``0`` elsewhere; ``-inf`` where the policy is 0 on the mask)."""
    return tuple(jnp.where(m, simplex.safe_log(p), 0.0) for p, m in zip(policy, mask))


def log_response(game, log_policy: Policy, inverse_temperature, reference: Policy, mask: Policy) -> Policy:
    """``log softmax(lambda Q(pi) + log rho)`` per player (``lambda = 1 / tau``), ``0`` off ``mask``.

    Written in the inverse temperature so that a QRE path can start at ``lambda`` near 0; the
    families whose ``Q`` depends on ``tau`` get ``tau = 1 / lambda``.
    """
    lam = jnp.asarray(inverse_temperature, log_policy[0].dtype)
    policy = to_policy(log_policy, mask)
    q = soft_action_values(game, policy, 1.0 / lam, reference)
    return tuple(
        log_normalize(lam * qi + simplex.safe_log(ri.astype(qi.dtype)), m) for qi, ri, m in zip(q, reference, mask)
    )


def log_normalize_tree(log_policy: Policy, mask: Policy) -> Policy:
    """``log_normalize`` per player."""
    return tuple(log_normalize(x, m) for x, m in zip(log_policy, mask))
