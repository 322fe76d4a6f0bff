"""Fictitious play: best-respond to the opponents' empirical average.

Brown (1951), Robinson (1951); the smoothed variant is the discretized logit
best-response flow (Fudenberg & Levine 1995; Hofbauer & Sandholm 2002). Update
rule, for each player ``i`` (simultaneously, or in turn with ``alternating``)::

    b_i   = BR_i(avg_-i)                 (temperature = 0: a pure best response)
          = softmax(q_i(avg) / temperature)   (temperature > 0: smoothed)
    avg_i <- (1 - a_t) avg_i + a_t b_i   a_t = 1 / (t + 2) (classic) or step_size

The mixture is taken by ``game.mix_policies``, so in extensive-form games this
is extensive-form fictitious play (XFP, Heinrich et al. 2015) with
reach-weighted averaging. ``output`` is the average; ``extra`` is ``None`` (the
average and the last responses are the whole state). Smoothed FP needs the game
capability ``jaxgames.capabilities.SmoothBestResponse``. Classic FP converges in
two-player zero-sum games (Robinson 1951) at a rate that can be as slow as
``O(t^{-1/2})``; smoothed FP converges to the logit QRE at that temperature.
"""

from __future__ import annotations

from jaxgames.capabilities import SmoothBestResponse, require
from jaxgames.core import Game, Policy, is_concrete
from solvers.core import Solver, SolverState, cached_factory, check_bool, check_number, initial_state


def _response(game: Game, policy: Policy, temperature) -> Policy:
    if is_concrete(temperature) and float(temperature) == 0.0:
        return game.best_response(policy)
    require(game, SmoothBestResponse, "fictitious_play(temperature > 0)")
    return game.smooth_best_response(policy, temperature)


@cached_factory
def fictitious_play(alternating: bool = True, temperature: float = 0.0, step_size: float | None = None) -> Solver:
    """Fictitious play (classic or smoothed, simultaneous or alternating).

    Args:
      alternating: update players in turn, each responding to the others'
        freshly updated averages — Brown's original 1951 process, which
        converges markedly faster in practice (Berger 2007) — instead of
        simultaneously (Robinson's variant).
      temperature: 0 for classic best responses; > 0 for logit (softmax)
        responses, the smoothed FP whose rest point is the logit QRE.
      step_size: constant averaging step in (0, 1]; ``None`` gives the classic
        ``1 / (t + 2)`` running average of all responses.
    """
    check_bool(alternating, "alternating")
    check_number(temperature, "temperature", 0)
    check_number(step_size, "step_size", 0, 1, low_open=True, optional=True)

    def init(game: Game, key=None) -> SolverState:
        return initial_state(game, key)

    def step(game: Game, state: SolverState) -> SolverState:
        alpha = 1.0 / (state.step + 2.0) if step_size is None else step_size
        average = state.average
        if not alternating:
            played = _response(game, average, temperature)
            average = game.mix_policies(average, played, alpha)
        else:
            played = list(average)
            for i in range(game.num_players):
                b = _response(game, average, temperature)[i]
                played[i] = b
                target = average[:i] + (b,) + average[i + 1 :]
                average = game.mix_policies(average, target, alpha)
            played = tuple(played)
        return SolverState(policy=played, average=average, step=state.step + 1, extra=None)

    return Solver(init=init, step=step, output=lambda state: state.average)
