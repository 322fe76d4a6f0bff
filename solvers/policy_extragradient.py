"""Entropy-regularized policy extragradient for two-player zero-sum Markov games (Cen, Wei & Chi 2021).

Cen, Wei & Chi, "Fast policy extragradient methods for competitive games with
entropy regularization" (NeurIPS 2021). The regularized game gives player 0
(maximizer) ``sum_t gamma^t (r - tau log mu(a|s) + tau log nu(b|s))``; its
unique equilibrium, the *quantal response equilibrium* (QRE), is the fixed
point of the soft Shapley operator: with ``Q_V(s) = r(s) + gamma P(s) V``,

    V*(s) = max_mu min_nu  mu^T Q_{V*}(s) nu + tau H(mu) - tau H(nu),

whose stage solution is the logit pair ``mu ∝ exp(Q nu / tau)``,
``nu ∝ exp(-Q^T mu / tau)``. Their Markov-game method is approximate soft
value iteration whose stage games are solved by the regularized extragradient
("predictive update") of their matrix-game analysis, warm-started across
iterations. Every step here does exactly that:

1. ``Q_t = r + gamma P V_t`` (``MarkovGame.joint_action_values``) for all states;
2. ``inner_steps`` steps of the foundation's ``extragradient(geometry="entropic",
   temperature=tau, magnet=rho)`` on all stage games at once (``jaxgames.markov.StageGames``),
   from the current policy. Its step ``log mu' = (log mu + eta g + eta tau log rho) / (1 + eta tau)``
   is, with ``eta' = eta / (1 + eta tau)`` and a uniform ``rho``, Cen et al.'s
   update ``mu_bar ∝ mu^(1 - eta' tau) exp(eta' Q nu)``,
   ``mu' ∝ mu^(1 - eta' tau) exp(eta' Q nu_bar)`` (symmetrically for ``nu``).
   ``eta = learning_rate / (tau + max_s spread Q_t(s))``: Cen et al. need
   ``eta <= 1 / (tau + 2 ||Q||_inf)``, and the step is invariant to shifting a
   stage game by a constant, so the spread is what matters;
3. ``V_{t+1} = V_t + alpha (val_t - V_t)`` with the regularized stage value
   ``val_t(s) = mu'^T Q_t nu' - tau KL(mu' || rho_mu) + tau KL(nu' || rho_nu)``
   (``alpha = value_step_size``; ``1`` is Cen et al.'s approximate value iteration).

With the uniform magnet fixed (``magnet_update_every=0``) this is the
entropy-regularized game (``-tau KL(. || uniform) = tau H - tau log A``): the soft
Shapley operator is a ``gamma``-contraction and each inner step contracts the
stage error by ``(1 - eta' tau)``, so policies and values converge **linearly**
to the QRE (Cen et al. 2021, Thm 3).

The QRE is ``O(tau log A / (1 - gamma))``-close to a Nash equilibrium. Two
schedules approach the unregularized Nash: the **magnet schedule**
(``magnet_update_every = K > 0``, the default): every ``K`` steps the magnet
becomes the current policy (mixed with ``MAGNET_FLOOR`` of uniform), an
inexact proximal-point iteration whose fixed points are the Nash equilibria
(the R-NaD / MMD schedule of Perolat et al. 2021 and Sokota et al. 2023, here on
the stage games of value iteration); and **temperature annealing**
(``temperature_decay < 1``): ``tau_{t+1} = max(decay tau_t, min_temperature)``,
each temperature's QRE warm-starting the next (slower in our tests: the
linear rate ``1 - eta' tau`` degrades as ``tau -> 0``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgames import simplex
from jaxgames.core import Game, Policy
from jaxgames.markov.stage_games import StageGames
from solvers.core import (
    Solver,
    SolverState,
    cached_factory,
    check_choice,
    check_int,
    check_number,
    initial_state,
    iterate,
    track_average,
)
from solvers.first_order import extragradient, next_magnet
from solvers.scale import payoff_scale
from solvers.value_iteration import check_zero_sum, zero_sum_stage_payoffs

#: The default temperature, relative to the game's payoff scale (``solvers.scale.payoff_scale``).
DEFAULT_TEMPERATURE = 0.02

#: The magnet schedule mixes this much of the uniform policy into each new magnet, so that an
#: action whose probability underflowed to 0 can come back when the stage games change
#: (with a zero in the magnet the KL prox keeps it at 0 for ever).
MAGNET_FLOOR = 1e-4


class PolicyExtragradientState(NamedTuple):
    """``SolverState.extra`` of ``entropy_regularized_extragradient``.

    Attributes:
      values: ``[S]``: player 0's regularized state values ``V_t`` (the critic).
      temperature: scalar, the current ``tau`` (annealed by ``temperature_decay``).
      magnet: the current magnet ``rho`` (``([S, A_1], [S, A_2])``) with a magnet schedule
        (``magnet_update_every > 0``); ``None`` without (the uniform reference).
    """

    values: jax.Array
    temperature: jax.Array
    magnet: Policy | None = None


def entropy(p: jax.Array) -> jax.Array:
    """Shannon entropy over the last axis (``0 log 0 = 0``)."""
    return -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), axis=-1)


def regularized_stage_values(Q: jax.Array, policy, temperature, magnet=None) -> jax.Array:
    """``[S]``: ``mu^T Q(s) nu - tau KL(mu || rho_mu) + tau KL(nu || rho_nu)`` at every state.

    Without a magnet: ``mu^T Q(s) nu + tau H(mu) - tau H(nu)`` (the uniform
    magnet's value plus the constant ``tau (log A_1 - log A_2)``).
    """
    mu, nu = policy
    base = jnp.einsum("sa,sab,sb->s", mu, Q, nu)
    if magnet is None:
        return base + temperature * (entropy(mu) - entropy(nu))
    return base - temperature * (simplex.kl(mu, magnet[0]) - simplex.kl(nu, magnet[1]))


@cached_factory
def entropy_regularized_extragradient(
    learning_rate=1.0,
    temperature=None,
    inner_steps: int = 5,
    magnet_update_every: int = 20,
    temperature_decay=1.0,
    min_temperature=0.0,
    value_step_size=0.5,
    output: str = "last",
) -> Solver:
    """Entropy-regularized policy extragradient on Markov games (see the module docstring).

    The defaults approach the Nash equilibrium by the magnet schedule (on
    random 10-state, 3-action games with ``gamma = 0.9``: NashConv ~1e-4 to
    1e-6 after 2,000 steps on 7 of 8 games, 2e-3 on the 8th; the last iterate
    is not monotone: magnet updates cause transient spikes). For Cen et al.'s
    QRE solver (linear rate) use ``magnet_update_every=0``, ``inner_steps=1``
    and ``value_step_size=1``; a larger ``temperature`` (0.05-0.2) is then
    the usual choice, the QRE being ``O(tau / (1 - gamma))`` from a Nash
    equilibrium in NashConv.

    Args:
      learning_rate: ``eta`` relative to ``tau + spread(Q)``; ``<= 1`` keeps Cen et al.'s bound.
      temperature: initial regularization ``tau > 0``, in payoff (reward) units as given; ``None``
        (default): ``0.02 s`` with ``s = solvers.scale.payoff_scale(game)`` (half the spread of the
        rewards), so that with the defaults the iterates on ``c * rewards`` equal those on the rewards.
      inner_steps: extragradient steps on the stage games per value update.
      magnet_update_every: ``0`` regularizes toward the uniform policy (entropy:
        the solver finds the QRE); ``K > 0`` replaces the magnet by the current
        policy every ``K`` steps (proximal point / R-NaD schedule: the fixed
        points are the Nash equilibria, approached at a fixed ``tau``).
      temperature_decay: ``tau_{t+1} = max(decay tau_t, min_temperature)``;
        ``1`` keeps ``tau`` fixed.
      min_temperature: floor of the annealed temperature (``>= 0``, in payoff units).
      value_step_size: ``alpha`` in ``(0, 1]``: ``V <- V + alpha (val - V)``;
        ``1`` is Cen et al. (2021)'s approximate value iteration, smaller values
        the smoothed critic of Cen et al. (2023) / Wei et al. (2021), which keeps
        the stage games from jumping while the policies are far from their
        stage equilibria.
      output: ``"last"`` iterate (default; the method's guarantee) or the
        occupancy-weighted ``"average"``.

    ``extra``: ``PolicyExtragradientState``: ``values`` (player 0's regularized ``V_t [S]``),
    ``temperature`` and, with a magnet schedule, ``magnet``.
    """
    check_number(learning_rate, "learning_rate", 0, low_open=True)
    check_number(temperature, "temperature", 0, low_open=True, optional=True)
    check_number(min_temperature, "min_temperature", 0)
    check_number(temperature_decay, "temperature_decay", 0, 1, low_open=True)
    inner_steps = check_int(inner_steps, "inner_steps", low=1)
    magnet_update_every = check_int(magnet_update_every, "magnet_update_every", low=0)
    scheduled = magnet_update_every > 0
    check_choice(output, "output", ("last", "average"))
    check_number(value_step_size, "value_step_size", 0, 1, low_open=True)

    def init(game: Game, key=None) -> SolverState:
        check_zero_sum(game, "entropy_regularized_extragradient")
        state = initial_state(game, key)
        dtype = state.policy[0].dtype
        tau = DEFAULT_TEMPERATURE * payoff_scale(game) if temperature is None else temperature
        extra = PolicyExtragradientState(
            values=jnp.zeros((game.num_states,), dtype),
            temperature=jnp.asarray(tau, dtype),
            magnet=game.uniform_policy() if scheduled else None,
        )
        return state.replace(extra=extra)

    def step(game: Game, state: SolverState) -> SolverState:
        tau, values, magnet = state.extra.temperature, state.extra.values, state.extra.magnet
        Q = zero_sum_stage_payoffs(game, values)
        stage = StageGames.zero_sum(Q)
        inner = extragradient(
            learning_rate=learning_rate / (tau + stage.payoff_spread()),
            geometry="entropic",
            temperature=tau,
            magnet=magnet,
            output="last",
        )
        inner_state = inner.init(stage).replace(policy=state.policy)
        inner_state = iterate(inner, stage, inner_state, inner_steps)
        policy = inner_state.policy
        target = regularized_stage_values(Q, policy, tau, magnet)
        extra = PolicyExtragradientState(
            values=values + value_step_size * (target - values),
            temperature=jnp.maximum(tau * temperature_decay, min_temperature).astype(tau.dtype),
            magnet=next_magnet(game, state.step, magnet_update_every, policy, magnet, MAGNET_FLOOR)
            if scheduled
            else None,
        )
        average = track_average(game, state, policy, policy, output)
        return SolverState(policy=policy, average=average, step=state.step + 1, extra=extra)

    report = (lambda s: s.policy) if output == "last" else (lambda s: s.average)
    return Solver(init=init, step=step, output=report)
