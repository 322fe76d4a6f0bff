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
``O(1 / sqrt(t))``.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxgames import simplex
from jaxgames.core import Game
from solvers.core import Solver, SolverState, cached_factory, check_choice, initial_state, update_average

AVERAGING = {"uniform": 0, "linear": 1, "quadratic": 2}


def _regret_policy(regrets, mask):
    return simplex.normalize(jnp.maximum(regrets, 0.0), mask)


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
    check_choice(averaging, "averaging", AVERAGING)
    power = AVERAGING[averaging]

    def init(game: Game, key=None) -> SolverState:
        zeros = tuple(jnp.zeros(m.shape, jnp.result_type(float)) for m in game.legal_mask())
        return initial_state(game, key, extra=zeros)

    def update_player(ev, policy, regrets, i):
        q, pi = ev.action_values[i], policy[i]
        v = jnp.sum(pi * q, axis=-1, keepdims=True)
        r = regrets[i] + ev.opponent_reach[i][..., None] * (q - v)
        return jnp.maximum(r, 0.0) if plus else r

    def step(game: Game, state: SolverState) -> SolverState:
        masks = game.legal_mask()
        policy, regrets = state.policy, state.extra
        if alternating:
            for i in range(game.num_players):
                r = update_player(game.evaluate(policy), policy, regrets, i)
                regrets = regrets[:i] + (r,) + regrets[i + 1:]
                policy = policy[:i] + (_regret_policy(r, masks[i]),) + policy[i + 1:]
        else:
            ev = game.evaluate(policy)
            regrets = tuple(update_player(ev, policy, regrets, i) for i in range(game.num_players))
            policy = tuple(_regret_policy(r, m) for r, m in zip(regrets, masks))
        average = update_average(game, state, state.policy, power)
        return SolverState(policy=policy, average=average, step=state.step + 1, extra=regrets)

    return Solver(init=init, step=step, output=lambda state: state.average)


def regret_matching_plus(alternating: bool = True, averaging: str = "linear") -> Solver:
    """Regret matching+ with alternating updates and linear averaging (the CFR+ recipe)."""
    return regret_matching(plus=True, alternating=alternating, averaging=averaging)
