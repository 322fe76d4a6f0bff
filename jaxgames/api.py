"""Free functions that dispatch to the game contract, with input validation.

``jaxgames.exploitability(game, policy)`` and friends work on every game
family; they validate the policy (shapes always, values when concrete) and call
the game's own method, so solvers never special-case a family.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.capabilities import RegularizedNashConv, require
from jaxgames.core import Evaluation, Game, Policy, is_concrete
from jaxgames.latency import Packed, packed, unpacked, wait
from jaxgames.validation import (
    PROBABILITY_ATOL,
    check_probability_statistics,
    check_scalar,
    probability_statistics,
    probability_violation,
)


def _concrete(game, game_arg, policy, args) -> bool:
    """No tracer among the inputs (a packed game is concrete by construction; ``policy`` is a
    validated tuple of arrays)."""
    if not all(map(is_concrete, policy)):
        return False
    if args and not all(map(is_concrete, jax.tree_util.tree_leaves(args))):
        return False
    return isinstance(game_arg, Packed) or all(map(is_concrete, jax.tree_util.tree_leaves(game)))


def _raise_on_violation(game, policy, name, worst):
    """For each player whose device-side violation ``worst[i]`` exceeds the tolerance (or is NaN),
    the host statistics, which raise a ``ValueError`` naming the fault if there is one."""
    for i, w in enumerate(worst):
        if not w <= PROBABILITY_ATOL:  # NaN included
            p, m = np.asarray(policy[i]), np.asarray(game.legal_mask_host()[i])
            check_probability_statistics(probability_statistics(p, m), f"{name}[{i}]")


def _violations(policy, masks) -> jax.Array:
    """``[N]``: each player's ``probability_violation``."""
    return jnp.stack([probability_violation(p, m, jnp) for p, m in zip(policy, masks)])


def _largest_violation(policy, masks) -> jax.Array:
    """``[]``: the largest ``probability_violation`` over all players. Players whose policies are
    tables of rows of one width (extensive-form and Markov games) are checked as one table, their
    rows side by side: one reduction (two kernels on XLA's CPU) instead of one per player."""
    if policy[0].ndim >= 2 and len({p.shape[1:] for p in policy}) == 1:
        return probability_violation(jnp.concatenate(policy), jnp.concatenate(masks), jnp)
    return jnp.max(_violations(policy, masks))


def _guarded(method, scalar: bool = False):
    """Jit ``method(game, policy, *args)`` together with the policy's largest value violation.

    Shapes are checked on the host before the call; the values (non-negative, no mass
    on illegal actions, rows summing to 1, finite) are reduced to one number per player
    inside the same compiled call (``probability_violation``: one fused reduction each), and
    the host raises on the few numbers that come back; only then does it compute the
    statistics that name the fault. One dispatch instead of a host copy and a dozen NumPy
    passes per call.

    Per-call latency (``jaxgames.latency``): the game travels packed (one buffer per dtype), and
    the host polls the result briefly before it sleeps. A ``scalar`` query called with concrete
    inputs returns one buffer, not two (with asynchronous dispatch, each output the caller
    touches costs a hand-off of its own): the value, or NaN when some player's violation exceeds
    the tolerance. A NaN is then told apart by the two-output call, as when the inputs are traced:
    the host judges each player's violation by its statistics (which can differ from the device's
    reductions by an ulp at the tolerance) and raises, or returns the value (a NaN that no
    violation explains is returned as computed). Called while an enclosing ``jit`` or ``scan``
    traces with every input closed over, the flagged value is itself traced: nothing to inspect,
    so it is not used either.
    """

    def fn(game, policy, *args):
        game = unpacked(game)
        return method(game, policy, *args), _violations(policy, game.legal_mask())

    def flagged(game, policy, *args):
        game = unpacked(game)
        worst = _largest_violation(policy, game.legal_mask())
        return jnp.where(worst <= PROBABILITY_ATOL, method(game, policy, *args), jnp.nan)

    compiled, compiled_flagged = jax.jit(fn), jax.jit(flagged)

    def call(game: Game, policy: Policy, *args, name: str = "policy"):
        if not isinstance(game, Game):
            raise ValueError(f"game: expected a jaxgames game model, got {type(game).__name__}")
        policy = game.validate_policy(policy, name, check_values=False)
        game_arg = packed(game)
        if scalar and _concrete(game, game_arg, policy, args):
            out = compiled_flagged(game_arg, policy, *args)
            if is_concrete(out):  # else staged out by an enclosing trace: the call below, unchecked
                value = np.asarray(wait(out))
                if value.item() == value.item() if value.ndim == 0 else not np.isnan(value).any():
                    return out
                # a NaN: a violation, or a value computed as NaN; the call below tells them apart
        out, worst = compiled(game_arg, policy, *args)
        if is_concrete(worst):
            _raise_on_violation(game, policy, name, np.asarray(wait(worst)).tolist())  # a few floats
        return out

    return call


# Compiled once per game structure and policy shapes.
_evaluate = _guarded(lambda game, policy: game.evaluate(policy))
_best_response = _guarded(lambda game, policy: game.best_response(policy))
_nash_conv = _guarded(lambda game, policy: jnp.maximum(game.nash_conv(policy), 0.0), scalar=True)
_exploitability = _guarded(lambda game, policy: game.exploitability(policy), scalar=True)


_regularized = _guarded(lambda game, policy, t, ref: game.regularized_nash_conv(policy, t, ref), scalar=True)


def evaluate(game: Game, policy: Policy) -> Evaluation:
    """Exact evaluation: ``.values`` is ``[N]``, plus action values and reaches."""
    return _evaluate(game, policy)


def best_response(game: Game, policy: Policy) -> Policy:
    """Each player's pure best response to the others' ``policy``."""
    return _best_response(game, policy)


def nash_conv(game: Game, policy: Policy) -> jax.Array:
    """Sum over players of each player's best-response gain (0 at a Nash equilibrium).

    Each gain is ``>= 0`` in exact arithmetic; rounding can leave the sum a few ulps below 0, so
    the reported value is clamped at 0 (as is ``exploitability``; ``game.nash_conv`` is not).
    """
    return _nash_conv(game, policy)


def exploitability(game: Game, policy: Policy) -> jax.Array:
    """``nash_conv(game, policy) / num_players``, OpenSpiel's exploitability."""
    return _exploitability(game, policy)


def regularized_nash_conv(game: Game, policy: Policy, temperature, reference: Policy | None = None):
    """Gap to the KL-regularized equilibrium, on every game family.

    ``sum_i max_{p} [u_i(p, pi_-i) - t D_i(p)] - [u_i(pi) - t D_i(pi_i)]``, zero exactly at the
    regularized equilibrium (a logit QRE when ``reference`` is uniform, the default), with the
    family's divergence ``D_i`` to ``reference``:

    * matrix and contextual games: ``KL(pi_i || ref_i)`` (per context, weighted by its probability);
    * extensive-form games: the dilated KL, ``sum_I x_i(I) KL(pi_i(I) || ref_i(I))`` weighted by the
      player's own reach (``jaxgames.efg.regularized``; Hoda et al. 2010, Sokota et al. 2023);
    * Markov games: the discounted KL penalty of the entropy-regularized Markov game of Cen, Wei &
      Chi (2021), from ``initial`` (``jaxgames.markov.regularized``);
    * mean-field games: the expected KL along the representative player's trajectory against
      ``mu(pi)`` (Cui & Koeppl 2021).

    Args:
      game: any jaxgames game model.
      policy: a policy of ``game`` (validated: shapes always, values when concrete).
      temperature: ``t``, a finite scalar ``>= 0`` (checked when concrete; may be traced). At ``0``
        the result is ``nash_conv``.
      reference: a policy of ``game`` (validated like ``policy``); default uniform over legal actions.

    Returns a scalar. Where ``policy`` puts mass on an action that ``reference`` excludes at a
    decision point that counts (reached, for the families that weigh decision points), that KL is
    infinite and so is the result: ``+inf`` for ``t > 0``.
    """
    if not isinstance(game, Game):
        raise ValueError(f"game: expected a jaxgames game model, got {type(game).__name__}")
    require(game, RegularizedNashConv, "regularized_nash_conv")
    temperature = check_scalar(temperature, "temperature", low=0)
    if reference is not None:
        reference = game.validate_policy(reference, "reference")
    return _regularized(game, policy, temperature, reference)
