"""Free functions that dispatch to the game contract, with input validation.

``jaxgames.exploitability(game, policy)`` and friends work on every game
family; they validate the policy (shapes always, values when concrete) and call
the game's own method, so solvers never special-case a family.
"""

from __future__ import annotations

import jax

from jaxgames.core import Evaluation, Game, Policy

# Compiled once per game structure and policy shapes; validation stays outside.
_evaluate = jax.jit(lambda game, policy: game.evaluate(policy))
_best_response = jax.jit(lambda game, policy: game.best_response(policy))
_nash_conv = jax.jit(lambda game, policy: game.nash_conv(policy))
_exploitability = jax.jit(lambda game, policy: game.exploitability(policy))
_regularized = jax.jit(lambda game, policy, t, ref: game.regularized_nash_conv(policy, t, ref))


def _checked(game: Game, policy: Policy) -> Policy:
    if not isinstance(game, Game):
        raise ValueError(f"game: expected a jaxgames game model, got {type(game).__name__}")
    return game.validate_policy(policy)


def evaluate(game: Game, policy: Policy) -> Evaluation:
    """Exact evaluation: ``.values`` is ``[N]``, plus action values and reaches."""
    return _evaluate(game, _checked(game, policy))


def best_response(game: Game, policy: Policy) -> Policy:
    """Each player's pure best response to the others' ``policy``."""
    return _best_response(game, _checked(game, policy))


def nash_conv(game: Game, policy: Policy) -> jax.Array:
    """Sum over players of each player's best-response gain (0 at a Nash equilibrium)."""
    return _nash_conv(game, _checked(game, policy))


def exploitability(game: Game, policy: Policy) -> jax.Array:
    """``nash_conv(game, policy) / num_players``, OpenSpiel's exploitability."""
    return _exploitability(game, _checked(game, policy))


def regularized_nash_conv(game: Game, policy: Policy, temperature, reference: Policy | None = None):
    """Gap to the KL-regularized (QRE) equilibrium.

    ``sum_i max_{p} [u_i(p, pi_-i) - t KL(p || ref_i)] - [u_i(pi) - t KL(pi_i || ref_i)]``,
    zero exactly at the regularized equilibrium (a logit QRE when ``reference``
    is uniform, the default).
    """
    policy = _checked(game, policy)
    if reference is not None:
        reference = game.validate_policy(reference, "reference")
    return _regularized(game, policy, temperature, reference)
