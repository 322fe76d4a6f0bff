"""Regret matching and regret matching+ (the one-decision-point case of CFR).

Hart & Mas-Colell (2000); regret matching+ from Tammelin (2014) / Tammelin et
al. (2015). With counterfactual values ``c_i = opponent_reach * q_i`` and
``v_i = <pi_i, q_i>`` at every decision point::

    R_i   <- R_i + opponent_reach (q_i - v_i)      (RM+:  R_i <- max(R_i + ..., 0))
    pi_i  <- max(R_i, 0) / sum(max(R_i, 0))         (uniform when no positive regret)

The running average weights iteration ``t`` by ``(t + 1) ** p`` (``averaging``:
uniform p=0, linear p=1 as in CFR+, quadratic p=2), mixed through
``game.mix_policies`` so it is reach-weighted. Written against the game
contract, on an extensive-form game this *is* CFR / CFR+ (Zinkevich et al.
2007). ``output`` is the average; the average regret, and hence the
exploitability of the average in two-player zero-sum games, is
``O(1 / sqrt(t))``. ``extra``: ``RegretMatchingState`` (``DiscountedCFRState`` for
discounted CFR).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgames.core import Game, Policy
from jaxgames.efg.sequence import row_reduce
from solvers.core import (
    Solver,
    SolverState,
    cached_factory,
    check_bool,
    check_choice,
    check_number,
    initial_state,
    update_average,
)

AVERAGING = {"uniform": 0, "linear": 1, "quadratic": 2}


class RegretMatchingState(NamedTuple):
    """``SolverState.extra`` of ``regret_matching`` (and CFR, CFR+).

    Attributes:
      regrets: per player, shaped like its policy ``[*decision_points, A_i]``: the cumulative
        counterfactual regrets (clipped at 0 by regret matching+).
    """

    regrets: Policy


class DiscountedCFRState(NamedTuple):
    """``SolverState.extra`` of ``discounted_cfr``.

    Attributes:
      regrets: per player ``[*decision_points, A_i]``: the discounted cumulative regrets.
      average_weight: scalar, the discounted sum of the iteration weights folded into
        ``SolverState.average`` (the next iterate enters with weight ``1 / average_weight``).
    """

    regrets: Policy
    average_weight: jax.Array


def _zero_regrets(game: Game) -> Policy:
    return tuple(jnp.zeros(m.shape, jnp.result_type(float)) for m in game.legal_mask())


def _regret_policy(regrets, mask):
    """``simplex.normalize(max(regrets, 0), mask)``, with the row sums over a few actions written
    as elementwise code (``row_reduce``) that XLA fuses into one kernel with the regret update."""
    weights = jnp.where(mask, jnp.maximum(regrets, 0.0), 0.0)
    total = row_reduce(weights)[..., None]
    uniform = mask / jnp.maximum(row_reduce(mask.astype(weights.dtype)), 1)[..., None]
    return jnp.where(total > 0, weights / jnp.where(total > 0, total, 1.0), uniform)


def _regret_updates(game: Game, policy, regrets, alternating: bool, transform):
    """Add counterfactual regrets ``opponent_reach * (q - v)`` for every player (in turn when
    ``alternating``), apply ``transform`` (clipping or discounting), and regret-match.

    A game with ``counterfactual_values(policy, player)`` (extensive-form games: ``c = opponent_reach
    * q`` from one payoff mat-vec and one bottom-up pass) gives the same increment as ``c - <pi, c>``,
    with no opponent reach, division or ``evaluate`` of the other players; other games go through
    ``evaluate``.
    """
    masks = game.legal_mask()
    counterfactual_values = getattr(game, "counterfactual_values", None)

    def updated(ev, i):
        pi = policy[i]
        if counterfactual_values is not None:
            c = counterfactual_values(policy, i)
            return transform(regrets[i] + (c - row_reduce(pi * c)[..., None]))
        q = ev.action_values[i]
        v = row_reduce(pi * q)[..., None]
        return transform(regrets[i] + ev.opponent_reach[i][..., None] * (q - v))

    def evaluation():  # only for games without counterfactual_values
        return None if counterfactual_values is not None else game.evaluate(policy)

    if alternating:
        for i in range(game.num_players):
            r = updated(evaluation(), i)
            regrets = regrets[:i] + (r,) + regrets[i + 1 :]
            policy = policy[:i] + (_regret_policy(r, masks[i]),) + policy[i + 1 :]
        return policy, regrets
    ev = evaluation()
    regrets = tuple(updated(ev, i) for i in range(game.num_players))
    return tuple(_regret_policy(r, m) for r, m in zip(regrets, masks)), regrets


@cached_factory
def regret_matching(plus: bool = False, alternating: bool = True, averaging: str = "uniform") -> Solver:
    """Regret matching (``plus=False``) or regret matching+ (``plus=True``).

    Args:
      plus: clip cumulative regrets at zero after every update (RM+ / CFR+).
      alternating: update players in turn, each against the others' newest
        policy (the default, as in CFR implementations; it converges much
        faster than simultaneous updates in practice, Burch et al. 2019).
      averaging: ``"uniform"``, ``"linear"`` or ``"quadratic"`` iteration weights
        for the reported average.
    """
    check_bool(plus, "plus")
    check_bool(alternating, "alternating")
    check_choice(averaging, "averaging", AVERAGING)
    power = AVERAGING[averaging]

    def init(game: Game, key=None) -> SolverState:
        return initial_state(game, key, extra=RegretMatchingState(regrets=_zero_regrets(game)))

    def step(game: Game, state: SolverState) -> SolverState:
        clip = (lambda r: jnp.maximum(r, 0.0)) if plus else (lambda r: r)
        policy, regrets = _regret_updates(game, state.policy, state.extra.regrets, alternating, clip)
        average = update_average(game, state, state.policy, power)
        return SolverState(
            policy=policy, average=average, step=state.step + 1, extra=RegretMatchingState(regrets=regrets)
        )

    return Solver(init=init, step=step, output=lambda state: state.average)


def regret_matching_plus(alternating: bool = True, averaging: str = "linear") -> Solver:
    """Regret matching+ with alternating updates and linear averaging (the CFR+ recipe)."""
    return regret_matching(plus=True, alternating=alternating, averaging=averaging)


@cached_factory
def discounted_cfr(alpha: float = 1.5, beta: float = 0.0, gamma: float = 2.0, alternating: bool = True) -> Solver:
    """Discounted CFR (Brown & Sandholm 2019); linear CFR is ``alpha = beta = gamma = 1``.

    On iteration ``t = 1, 2, ...``, after adding the instantaneous
    counterfactual regrets, positive cumulative regrets are multiplied by
    ``t^alpha / (t^alpha + 1)`` and negative ones by ``t^beta / (t^beta + 1)``;
    the running average's accumulated contributions are multiplied by
    ``((t - 1) / t)^gamma`` before adding iteration ``t`` (reach-weighted, through
    ``game.mix_policies``). ``alpha = inf, beta = -inf`` is CFR+'s clipping (positive regrets
    kept, negative ones zeroed, from the first iteration on: with ``gamma = 1``, linear
    averaging, the iterates are CFR+'s); the defaults (1.5, 0, 2) are the paper's
    recommendation. ``output`` is the average.

    Args:
      alpha: ``>= 0``, or ``inf``.
      beta: a real number, or ``-inf`` (``+inf`` keeps negative regrets: plain CFR's).
      gamma: ``>= 0`` (finite).
      alternating: update the players in turn.
    """
    check_number(alpha, "alpha", 0, infinite=True)
    check_number(beta, "beta", infinite=True)
    check_number(gamma, "gamma", 0)
    check_bool(alternating, "alternating")

    def init(game: Game, key=None) -> SolverState:
        extra = DiscountedCFRState(regrets=_zero_regrets(game), average_weight=jnp.zeros(()))
        return initial_state(game, key, extra=extra)

    def discount(r, t):
        return jnp.where(r > 0, r * _discount_factor(t, alpha), r * _discount_factor(t, beta))

    def step(game: Game, state: SolverState) -> SolverState:
        t = state.step.astype(jnp.result_type(float)) + 1.0
        policy, regrets = _regret_updates(
            game, state.policy, state.extra.regrets, alternating, lambda r: discount(r, t)
        )
        weight = state.extra.average_weight * ((t - 1.0) / t) ** gamma + 1.0
        average = game.mix_policies(state.average, state.policy, 1.0 / weight)
        return SolverState(
            policy=policy,
            average=average,
            step=state.step + 1,
            extra=DiscountedCFRState(regrets=regrets, average_weight=weight),
        )

    return Solver(init=init, step=step, output=lambda state: state.average)


def _discount_factor(t, exponent):
    """``t^e / (t^e + 1) = 1 / (1 + t^-e)`` for ``t >= 1`` (no overflow for large ``t^e``), with the
    limits ``1`` for ``e = inf`` and ``0`` for ``e = -inf`` at every ``t`` (CFR+'s clipping)."""
    exponent = jnp.asarray(exponent, t.dtype)
    finite = 1.0 / (1.0 + t ** -jnp.where(jnp.isinf(exponent), 0.0, exponent))
    return jnp.where(jnp.isposinf(exponent), 1.0, jnp.where(jnp.isneginf(exponent), 0.0, finite))


def cfr(alternating: bool = True) -> Solver:
    """Counterfactual regret minimization (Zinkevich et al. 2007): regret matching at every
    information set on counterfactual values, uniform average. Alias of ``regret_matching``."""
    return regret_matching(plus=False, alternating=alternating, averaging="uniform")


def cfr_plus(alternating: bool = True, averaging: str = "linear") -> Solver:
    """CFR+ (Tammelin 2014): regret matching+, alternating updates, linear averaging.
    The same iterates as OpenSpiel's ``CFRPlusSolver`` (equal to 1e-9 in float64; float32
    rounding decides exact regret ties differently, so float32 runs drift apart slowly)."""
    return regret_matching(plus=True, alternating=alternating, averaging=averaging)
