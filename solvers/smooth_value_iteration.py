"""Policy optimization on zero-sum Markov games: first-order stage updates with a smoothed critic.

Per-state first-order methods stepped on the policies' own ``Q^pi`` have no Nash guarantee in Markov
games; the methods with guarantees keep a critic ``V [S]`` and step on the stage games it defines
(Shapley 1953), moving ``V`` slowly toward the stage value of the current policies: Wei, Lee, Zhang &
Luo (COLT 2021; optimistic gradient), Cen, Wei & Chi (NeurIPS 2021) and Cen, Chi, Du & Xiao (ICLR
2023; regularized extragradient / optimistic MWU), Zhang, Liu, Wang & Bai (NeurIPS 2022; optimistic
FTRL). ``smooth_value_iteration(method=...)`` is that framework with the foundation's first-order
solvers as the stage update, on all stage games at once (``jaxgames.markov.StageGames``). One step::

    Q   = (r + gamma P V) / scale                             every state (MarkovGame.joint_action_values)
    pi <- inner_steps steps of the stage solver on Q          (warm start: its state persists)
    V  <- V + alpha (pi_0^T Q pi_1 * scale - V)               (alpha = value_step_size)

``scale`` is the largest spread ``max Q(s) - min Q(s)`` over the states, so one step size serves
every game. The stage solver keeps its state (previous gradient, magnet, step count) across critic
steps; its magnet becomes its current policy (mixed with ``magnet_floor`` of uniform) every
``magnet_update_every`` critic steps. At a fixed point ``V`` is the fixed point of Shapley's operator
and the policies are a stationary Nash equilibrium. ``method``: ``"extragradient"`` (the default;
Euclidean, unregularized), ``"mirror_prox"`` (entropic), ``"optimistic_mirror_descent"`` (OMWU;
with ``temperature > 0``, Cen et al. 2023's regularized OMWU) or ``"mmd"`` (Sokota et al. 2023, with
the R-NaD magnet schedule). The guide ("Markov games") compares them.

Shapes: ``policy``/``average`` ``([S, A_1], [S, A_2])`` (``average`` is the iterate: the output is
the last iterate); ``extra``: ``SmoothValueIterationState``.

Example::

    import jax, solvers
    from jaxgames import markov
    game = markov.random_zero_sum(jax.random.key(0), num_states=10, num_actions=3)
    state, trace = solvers.run(solvers.smooth_value_iteration(), game, 3000, eval_every=1000)
    trace.nash_conv[-1], state.extra.values      # ~2e-6; the critic ~ Shapley's values
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgames.core import Game
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
)
from solvers.first_order import first_order_solver
from solvers.value_iteration import check_zero_sum, zero_sum_stage_payoffs

#: ``method`` -> the foundation's first-order kind it runs on the stage games.
METHODS = {
    "mmd": ("mirror_descent", "entropic"),
    "optimistic_mirror_descent": ("optimistic", "entropic"),
    "mirror_prox": ("extragradient", "entropic"),
    "extragradient": ("extragradient", "euclidean"),
}

#: Per-method defaults (``None`` arguments), chosen on random Garnet games (guide: Markov games). MMD's
#: plain prox step needs ``eta <= tau / L^2`` to contract, hence its larger ``tau`` and more stage
#: steps per critic update; the extrapolated methods are stable at a small ``tau``.
DEFAULTS = {
    "mmd": dict(learning_rate=1.0, temperature=0.1, magnet_update_every=5, inner_steps=10),
    "optimistic_mirror_descent": dict(learning_rate=1.0, temperature=0.02, magnet_update_every=20, inner_steps=5),
    "mirror_prox": dict(learning_rate=1.0, temperature=0.02, magnet_update_every=20, inner_steps=5),
    "extragradient": dict(learning_rate=0.5, temperature=0.0, magnet_update_every=0, inner_steps=5),
}

#: Uniform mass mixed into each new magnet (``first_order_solver``'s ``magnet_floor``): an action
#: whose probability underflowed can come back when the stage games move. It biases the fixed
#: point by about ``tau * floor`` in NashConv (1e-4 gave medians of 1e-4, 1e-5 of 1e-6 to 1e-5;
#: 1e-6 left one game in 24 stuck at 3e-3 after 3,000 steps).
MAGNET_FLOOR = 1e-5


class SmoothValueIterationState(NamedTuple):
    """``SolverState.extra`` of ``smooth_value_iteration``.

    Attributes:
      values: ``[S]``: player 0's critic ``V``.
      stage: the stage solver's own ``SolverState`` on the (scaled) stage games, warm-started
        from one critic step to the next; its ``extra`` is a ``solvers.first_order.FirstOrderState``.
    """

    values: jax.Array
    stage: SolverState


def payoff_scale(Q: jax.Array) -> jax.Array:
    """The largest spread of a zero-sum stage game in ``Q [S, A_1, A_2]``, or 1 if every stage game is constant."""
    spread = StageGames.zero_sum(Q).payoff_spread()
    return jnp.where(spread > 0, spread, 1.0)


@cached_factory
def smooth_value_iteration(
    method: str = "extragradient",
    learning_rate=None,
    temperature=None,
    magnet_update_every: int | None = None,
    value_step_size=0.5,
    inner_steps: int | None = None,
    magnet_floor=MAGNET_FLOOR,
) -> Solver:
    """First-order policy updates on the stage games of a smoothed critic (see the module docstring).

    ``None`` arguments take the method's defaults (``DEFAULTS``).

    Args:
      method: the stage update: ``"extragradient"`` (Euclidean), ``"mirror_prox"``,
        ``"optimistic_mirror_descent"`` or ``"mmd"``.
      learning_rate: ``eta > 0`` of the stage update, on payoffs scaled to a spread of at most 1.
      temperature: ``tau >= 0``, KL regularization toward the magnet (on the scaled payoffs).
      magnet_update_every: ``K >= 0``: the magnet becomes the current policy every ``K``
        critic steps (``0``: it stays uniform and, with ``tau > 0``, the stage solutions
        are QREs).
      value_step_size: ``alpha`` in ``(0, 1]``: the critic's step toward the stage value.
      inner_steps: stage-update steps per critic update.
      magnet_floor: uniform mass in every new magnet, in ``[0, 1]`` (``MAGNET_FLOOR``).
    """
    check_choice(method, "method", tuple(METHODS))
    defaults = DEFAULTS[method]
    learning_rate = defaults["learning_rate"] if learning_rate is None else learning_rate
    temperature = defaults["temperature"] if temperature is None else temperature
    magnet_update_every = defaults["magnet_update_every"] if magnet_update_every is None else magnet_update_every
    inner_steps = defaults["inner_steps"] if inner_steps is None else inner_steps
    check_number(learning_rate, "learning_rate", 0, low_open=True)
    check_number(temperature, "temperature", 0)
    check_number(magnet_floor, "magnet_floor", 0, 1)
    check_number(value_step_size, "value_step_size", 0, 1, low_open=True)
    inner_steps = check_int(inner_steps, "inner_steps", low=1)
    magnet_update_every = check_int(magnet_update_every, "magnet_update_every", low=0)
    # The stage solver counts its own steps: the magnet moves every magnet_update_every critic steps.
    kind, geometry = METHODS[method]
    inner = first_order_solver(
        kind,
        learning_rate,
        geometry,
        temperature,
        None,
        magnet_update_every * inner_steps,
        "last",
        magnet_floor=magnet_floor,
    )

    def stage_games(game: Game, values: jax.Array):
        Q = zero_sum_stage_payoffs(game, values)
        return StageGames.zero_sum(Q / payoff_scale(Q)), Q

    def init(game: Game, key=None) -> SolverState:
        check_zero_sum(game, "smooth_value_iteration")
        state = initial_state(game, key)
        values = jnp.zeros((game.num_states,), state.policy[0].dtype)
        stage = inner.init(stage_games(game, values)[0]).replace(policy=state.policy, average=state.policy)
        return state.replace(extra=SmoothValueIterationState(values=values, stage=stage))

    def step(game: Game, state: SolverState) -> SolverState:
        values = state.extra.values
        stage, Q = stage_games(game, values)
        inner_state = iterate(inner, stage, state.extra.stage, inner_steps)
        mu, nu = inner_state.policy
        target = jnp.einsum("sa,sab,sb->s", mu, Q, nu)
        extra = SmoothValueIterationState(values=values + value_step_size * (target - values), stage=inner_state)
        return SolverState(policy=inner_state.policy, average=inner_state.policy, step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda state: state.policy)
