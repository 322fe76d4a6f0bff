"""Two-timescale fictitious play for zero-sum Markov games (Sayin, Parise & Ozdaglar 2022).

Sayin, Parise & Ozdaglar, "Fictitious play in zero-sum stochastic games",
SIAM J. Control Optim. 60(4), 2022 (arXiv:2010.04223); the continuous-time
counterpart is the best-response dynamics with slowly moving continuation
payoffs of Leslie, Perkins & Xu, "Best-response dynamics in zero-sum
stochastic games", J. Econ. Theory 189, 2020.

In every state ``s`` each player ``i`` keeps a *belief* ``pi_-i[s]`` about its
opponent's stage play (the empirical average of the opponent's past responses)
and a value estimate ``v_i [S]`` of its own continuation payoff. The auxiliary
stage game at ``s`` gives player ``i`` the payoffs
``Q_i(s) = r_i(s) + gamma sum_s' P(s' | s, .) v_i(s')``
(``MarkovGame.joint_action_values``; the two players' value estimates need not
sum to zero during learning, so the stage games are general-sum, held as one
``jaxgames.markov.StageGames``). One step, with ``t = state.step``::

    b_i[s]   = argmax_a Q_i(s)[a, pi_-i[s]]                 (best response to the belief)
    pi_i[s] <- pi_i[s] + alpha_t (b_i[s] - pi_i[s])           (fast: fictitious play)
    v_i[s]  <- v_i[s]  + beta_t  (target_i[s] - v_i[s])        (slow: value update)

The fast step *is* the foundation's ``solvers.fictitious_play(step_size=alpha_t)``
run on ``StageGames(Q)`` (every state at once; with ``alternating=True``
player 1 answers player 0's freshly updated belief, Brown's original order).
The value target, computed from the beliefs and ``Q`` of step ``t`` (before the
fast step), is

* ``"belief"`` (default): ``target_i[s] = pi[s]^T Q_i(s)``, player ``i``'s
  stage payoff when both play their beliefs (the payoff of current play, in
  the spirit of Leslie, Perkins & Xu's continuation payoffs). Starting from
  ``v = 0`` it keeps ``v_1 = -v_0``, so the stage games stay zero-sum;
* ``"best_response"``: ``target_i[s] = max_a Q_i(s)[a, pi_-i[s]]``, Sayin et
  al.'s ``v_hat^i`` (the value of the best response to the belief), the
  variant their Theorem 1 covers. It is biased upward by the stage duality
  gap, which the value recursion amplifies by ``1 / (1 - gamma)``: in our
  tests its values are 6e-3 to 1.4e-2 from Shapley's after 4,000 steps
  (``"belief"``: 3e-5 to 1e-3), its NashConv similar.

At a stage equilibrium of the fast process both targets equal ``val Q(s)``,
so on the slow timescale both become Shapley's iteration; for ``"belief"``
and for the alternating order that is our reading, not a theorem of the paper
(which analyses the simultaneous order), and the tests check it.

Writing the slow step on ``v`` is the same as Sayin et al.'s model-based
``Q``-update ``Q_i <- Q_i + beta_t (r_i + gamma P v_hat_i - Q_i)``, because
``Q_v = r + gamma P v`` is affine in ``v`` (their ``Q_0`` is ``r + gamma P v_0``
here); the update is synchronous (every state every step: the expected,
model-based version of their trajectory-driven updates).

**Step sizes.** ``alpha_t = (t + 2)^(-belief_exponent)`` and
``beta_t = min(1, value_step_scale / ((1 - gamma) (t + 2)^value_exponent))``.
Sayin et al.'s step-size assumption needs both to decay, sum to infinity,
and ``beta_t / alpha_t -> 0`` (values on the slower timescale): here exponents in
``(0, 1]`` with ``belief_exponent < value_exponent``, which the defaults
(``0.9 < 1``) satisfy. The ``1 / (1 - gamma)`` scale is ours: with
``value_exponent = 1`` the value error of the slow recursion, a
``gamma``-contraction damped by ``beta_t``, shrinks like
``t^(-value_step_scale)``, whatever the discount. ``belief_exponent=1`` is
classic fictitious play's ``1 / (t + 2)`` running average (then the
assumption fails for every ``value_exponent <= 1``; it converges in our tests
all the same). Under the assumption, the beliefs converge to a stationary Nash
equilibrium of the zero-sum Markov game and ``v_0 -> V*``, ``v_1 -> -V*``
(Shapley's minimax values). No rate is proved; like classic fictitious play
it is slow (NashConv falls like ``t^(-1/2)``; see ``markov_fictitious_play``).

Shapes (as in ``solvers.fictitious_play``): ``average`` ``([S, A_1], [S, A_2])``:
the beliefs, which ``output`` returns; ``policy``: the last best responses
(one-hot, same shapes); ``extra``: ``MarkovFictitiousPlayState``, ``extra.values`` ``[2, S]``: ``v_i``.
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
