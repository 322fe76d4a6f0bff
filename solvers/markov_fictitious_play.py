"""Two-timescale fictitious play for zero-sum Markov games (Sayin, Parise & Ozdaglar 2022).

Sayin, Parise & Ozdaglar, "Fictitious play in zero-sum stochastic games", SIAM J. Control Optim.
60(4), 2022 (arXiv:2010.04223); its continuous-time counterpart is Leslie, Perkins & Xu,
"Best-response dynamics in zero-sum stochastic games", J. Econ. Theory 189, 2020. In every state
``s`` each player ``i`` keeps a *belief* ``pi_-i[s]`` about its opponent's stage play and a value
estimate ``v_i [S]``, which define the stage games ``Q_i(s) = r_i(s) + gamma sum_s' P(s' | s, .)
v_i(s')`` (``MarkovGame.joint_action_values``, held as one ``jaxgames.markov.StageGames``). One step,
with ``t = state.step``::

    b_i[s]   = argmax_a Q_i(s)[a, pi_-i[s]]                 (best response to the belief)
    pi_i[s] <- pi_i[s] + alpha_t (b_i[s] - pi_i[s])           (fast: fictitious play)
    v_i[s]  <- v_i[s]  + beta_t  (target_i[s] - v_i[s])        (slow: value update)

    alpha_t = (t + 2)^(-belief_exponent),   beta_t = min(1, value_step_scale / ((1 - gamma) (t + 2)^value_exponent))

The fast step is ``solvers.fictitious_play(step_size=alpha_t)`` on ``StageGames(Q)`` (alternating by
default). The target is ``pi[s]^T Q_i(s)``, the stage payoff of the beliefs (``value_target="belief"``,
the default), or ``max_a Q_i(s)[a, pi_-i[s]]`` (``"best_response"``, Sayin et al.'s ``v_hat^i``).
With ``belief_exponent < value_exponent`` the beliefs converge to a stationary Nash equilibrium and
``v_0 -> V*``, ``v_1 -> -V*`` (Shapley's values); no rate is proved, and NashConv falls like
``t^(-1/2)``. The guide ("Markov games") discusses the targets, step sizes and measurements.

Shapes: ``average`` ``([S, A_1], [S, A_2])``: the beliefs, which ``output`` returns; ``policy``: the
last best responses (one-hot); ``extra``: ``MarkovFictitiousPlayState``, ``extra.values`` ``[2, S]``.

Example::

    import jax, solvers
    from jaxgames import markov
    game = markov.random_zero_sum(jax.random.key(0), num_states=10, num_actions=3)
    state, trace = solvers.run(solvers.markov_fictitious_play(), game, 4000, eval_every=1000)
    trace.nash_conv[-1], state.extra.values[0]   # ~1e-2; v_0 within 1e-3 of Shapley's values
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
    check_bool,
    check_choice,
    check_number,
    initial_state,
)
from solvers.fictitious_play import fictitious_play
from solvers.value_iteration import check_zero_sum


class MarkovFictitiousPlayState(NamedTuple):
    """``SolverState.extra`` of ``markov_fictitious_play``.

    Attributes:
      values: ``[2, S]``: each player's estimate ``v_i`` of its continuation payoff (the slow
        timescale; ``v_0 -> V*``, ``v_1 -> -V*``).
    """

    values: jax.Array


def _check_exponent(value, field: str) -> None:
    """In ``(0, 1]``: step sizes ``t^-exponent`` must not be summable."""
    check_number(value, field, 0, 1, low_open=True)


def value_targets(stage: StageGames, beliefs, value_target: str) -> jnp.ndarray:
    """``[N, S]``: each player's target for its value estimate (module docstring)."""
    q = stage.action_values(beliefs)
    if value_target == "belief":
        return jnp.stack([jnp.sum(p * qi, axis=-1) for p, qi in zip(beliefs, q)])
    return jnp.stack([jnp.max(qi, axis=-1) for qi in q])


@cached_factory
def markov_fictitious_play(
    belief_exponent=0.9,
    value_exponent=1.0,
    value_step_scale=3.0,
    value_target: str = "belief",
    alternating: bool = True,
) -> Solver:
    """Two-timescale (Markov-game) fictitious play of Sayin et al. (2022); see the module docstring.

    The beliefs' NashConv falls like fictitious play's stage rate, about ``t^(-1/2)``, so a
    NashConv near 1e-3 takes some 10^5 to 10^6 steps. Run that long in float64
    (``JAX_ENABLE_X64=1``): in float32 the belief steps ``(t + 2)^-0.9 (b - pi)`` fall below
    the resolution of ``pi`` there and the iterates stall.

    Args:
      belief_exponent: ``alpha_t = (t + 2)^(-belief_exponent)``, in ``(0, 1]``.
      value_exponent: ``beta_t ∝ (t + 2)^(-value_exponent)``, in ``(0, 1]``;
        Sayin et al.'s two-timescale assumption needs it above ``belief_exponent``.
      value_step_scale: ``kappa`` in ``beta_t = min(1, kappa / ((1 - gamma) (t + 2)^value_exponent))``.
      value_target: ``"belief"`` (the stage payoff of the beliefs) or
        ``"best_response"`` (Sayin et al.'s value of the best response to the belief).
      alternating: player 1 best-responds to player 0's updated belief
        (Brown's order, which converges faster in practice) instead of simultaneously
        (Sayin et al.'s order).
    """
    _check_exponent(belief_exponent, "belief_exponent")
    _check_exponent(value_exponent, "value_exponent")
    check_number(value_step_scale, "value_step_scale", 0, low_open=True)
    check_choice(value_target, "value_target", ("belief", "best_response"))
    check_bool(alternating, "alternating")

    def init(game: Game, key=None) -> SolverState:
        check_zero_sum(game, "markov_fictitious_play")
        state = initial_state(game, key)
        dtype = state.policy[0].dtype
        return state.replace(
            extra=MarkovFictitiousPlayState(values=jnp.zeros((game.num_players, game.num_states), dtype))
        )

    def step(game: Game, state: SolverState) -> SolverState:
        beliefs, values = state.average, state.extra.values
        dtype = values.dtype
        t = state.step.astype(dtype) + 2.0
        alpha = t ** -jnp.asarray(belief_exponent, dtype)
        beta = jnp.minimum(1.0, value_step_scale / ((1.0 - game.discount) * t ** jnp.asarray(value_exponent, dtype)))
        stage = StageGames(game.joint_action_values(values))
        target = value_targets(stage, beliefs, value_target)
        fast = fictitious_play(alternating=alternating, step_size=alpha)
        fast_state = fast.step(stage, SolverState(policy=beliefs, average=beliefs, step=state.step))
        extra = MarkovFictitiousPlayState(values=(values + beta * (target - values)).astype(dtype))
        return SolverState(policy=fast_state.policy, average=fast_state.average, step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda state: state.average)
