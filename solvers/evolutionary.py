"""Evolutionary dynamics as solvers: replicator and projected replicator dynamics on matrix games.

One solver step is one integration step of ``jaxgames.general_sum.evolution`` (one population per
player of a ``MatrixGame``)::

    replicator_dynamics:            x_i <- x_i + dt F_i(x),       F_i(x) = x_i * (q_i(x) - x_i . q_i(x))
    projected_replicator_dynamics:  x_i <- P_gamma(x_i + dt F_i(x))                  (Lanctot et al. 2017)

(or the RK4 step of the same field, ``method="rk4"``). ``output`` defaults to the running average
of the iterates: interior orbits of zero-sum games cycle around the equilibrium (the replicator
dynamics conserve a KL divergence there), while their time average converges to it, and PRD's
output in Lanctot et al. and OpenSpiel is its average. ``solvers.run`` records its exploitability.

**Step size.** ``dt F`` has payoff units. ``dt=None`` (the default) is ``0.1 / payoff_scale``
(``solvers.scale``), so each Euler step moves a probability by at most 20 % of itself and the
iterates on ``c * game`` equal those on ``game``; a number is used as given. Matrix games only.
"""

from __future__ import annotations

from typing import NamedTuple

import jax

from jaxgames.core import Game
from jaxgames.general_sum.evolution import METHODS, PROJECTIONS, project_gamma_simplex
from jaxgames.general_sum.evolution import step as dynamics_step
from jaxgames.matrix.game import MatrixGame
from solvers.core import (
    Solver,
    SolverState,
    cached_factory,
    check_choice,
    check_number,
    host_values,
    initial_state,
    track_average,
)
from solvers.scale import payoff_scale

#: The default step, relative to ``solvers.scale.payoff_scale`` (1 for payoffs spanning [-1, 1]).
DEFAULT_DT = 0.1


class EvolutionaryState(NamedTuple):
    """``SolverState.extra`` of the evolutionary solvers.

    Attributes:
      dt: scalar, the step size in payoff units (``DEFAULT_DT / payoff_scale(game)`` by default),
        fixed at ``init``.
    """

    dt: jax.Array


def _evolutionary_solver(dt, gamma, method: str, output: str, projection: str, who: str) -> Solver:
    check_number(dt, "dt", 0, low_open=True, optional=True)
    check_choice(method, "method", METHODS)
    check_choice(output, "output", ("last", "average"))
    check_choice(projection, "projection", PROJECTIONS)

    def init(game: Game, key=None) -> SolverState:
        if not isinstance(game, MatrixGame):
            raise ValueError(
                f"game: {who} is defined on matrix games (jaxgames.matrix.MatrixGame), got {type(game).__name__}"
            )
        if gamma is not None:
            largest = max(game.num_actions)
            g = host_values(gamma, "gamma")
            if g is not None and float(g) * largest > 1.0:
                raise ValueError(
                    f"gamma: expected gamma * (number of actions) <= 1 (the gamma-simplex of {largest} actions is "
                    f"empty above 1/{largest}), got {float(g)}"
                )
        state = initial_state(game, key)
        dtype = state.policy[0].dtype
        step_size = (DEFAULT_DT / payoff_scale(game) if dt is None else jax.numpy.asarray(dt)).astype(dtype)
        policy = state.policy
        if gamma is not None:  # start on the gamma-simplex (a random start may dip below the floor)
            policy = tuple(project_gamma_simplex(p, gamma, projection) for p in policy)
        return state.replace(policy=policy, average=policy, extra=EvolutionaryState(dt=step_size))

    def step(game: Game, state: SolverState) -> SolverState:
        new = dynamics_step(game, state.policy, state.extra.dt, method, gamma, projection)
        average = track_average(game, state, state.policy, new, output)
        return SolverState(policy=new, average=average, step=state.step + 1, extra=state.extra)

    report = (lambda s: s.policy) if output == "last" else (lambda s: s.average)
    return Solver(init=init, step=step, output=report)


@cached_factory
def replicator_dynamics(dt: float | None = None, method: str = "euler", output: str = "average") -> Solver:
    """Replicator dynamics (Taylor & Jonker 1978), one population per player of a matrix game.

    ``x_i <- x_i + dt x_i * (q_i - x_i . q_i)`` (``method="euler"``) or its RK4 step. In two-player
    zero-sum games the last iterate cycles (Euler: slowly spirals out) and the ``"average"`` (the
    default ``output``) approaches the equilibrium. ``dt``: ``None`` is ``0.1 / payoff_scale``
    (module docstring); a number is the step in payoff units.

    Example:
      >>> state, trace = solvers.run(solvers.replicator_dynamics(), matrix.rock_paper_scissors(), 1000)
    """
    return _evolutionary_solver(dt, None, method, output, "exact", "replicator_dynamics")


@cached_factory
def projected_replicator_dynamics(
    dt: float | None = None,
    gamma: float = 1e-6,
    method: str = "euler",
    output: str = "average",
    projection: str = "exact",
) -> Solver:
    """Projected replicator dynamics (Lanctot et al. 2017): ``x_i <- P_gamma(x_i + dt F_i(x))``.

    A replicator step, then the Euclidean projection onto ``{x : x_a >= gamma, sum x = 1}`` that
    keeps every action's probability at least ``gamma`` in ``[0, 1)`` (``gamma * A_i <= 1``);
    ``projection="approx"`` clips and renormalizes instead (OpenSpiel's ``use_approx``). Output: the
    running average (the default, PRD's output) or the last iterate. ``dt``: as in ``replicator_dynamics``.

    Example:
      >>> solver = solvers.projected_replicator_dynamics(gamma=1e-3)
      >>> state, trace = solvers.run(solver, matrix.random_game(jax.random.key(0), (3, 3, 3)), 2000)
    """
    check_number(gamma, "gamma", 0, 1, high_open=True)
    return _evolutionary_solver(dt, gamma, method, output, projection, "projected_replicator_dynamics")
