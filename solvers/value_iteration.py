"""Dynamic programming on Markov games: Shapley's minimax value iteration, MDP value and policy iteration.

All three iterate on the stage games ``Q(s) = r(s) + gamma sum_s' P(s' | s, .) V(s')``
(``MarkovGame.joint_action_values``, the capability ``jaxgames.capabilities.JointActionValues``)
of infinite-horizon discounted games, with the state values in ``SolverState.extra.values``
(``MinimaxValueIterationState``, ``ValueIterationState``) and the stage policies in
``SolverState.policy`` (also ``average``: these are not averaging methods).

* ``minimax_value_iteration`` (Shapley 1953), two-player zero-sum:
  ``V_{t+1}(s) = val Q_t(s)``, the value of the matrix game at ``s``; ``policy``
  is the stage equilibrium ``(x_t(s), y_t(s))``. The operator is a
  ``gamma``-contraction in the sup norm, so ``||V_{t+1} - V_t|| <= gamma ||V_t - V_{t-1}||``
  and ``||V_t - V*|| <= gamma^t ||V_0 - V*||``; the stage-equilibrium policy of
  ``V_t`` is a ``2 gamma^t ||V_0 - V*|| / (1 - gamma)``-Nash equilibrium.
  Stage games up to ``5 x 5`` are solved **exactly** inside the jitted loop by
  enumerating Shapley–Snow kernels (``solvers.zero_sum_kernels``; ``C(2A, A) - 1``
  closed-form candidates per state, 69 for ``4 x 4``), warm-started: each state first
  checks the one kernel on the supports of its previous stage equilibrium (one closed form
  and its certified duality gap, ``solve_zero_sum_warm``) and enumerates only where that
  fails (``warm_start=False``: always); larger ones by an
  iterative stage solver, the foundation's regret matching+ (alternating,
  linear averaging; scale-free, so no step size to tune to the size of ``Q``)
  run for ``stage_steps`` steps on all ``jaxgames.markov.StageGames`` at once, its value the
  midpoint of certified bounds. That is approximate (``extra.stage_gap``
  reports the largest stage duality gap; ``||V_t - V*|| <= gamma^t ||V*|| +
  max gap / (2 (1 - gamma))``). Among the foundation's matrix solvers RM+'s
  average had the smallest gap after 100-1000 steps on random 3x3 and 8x8
  stage games (entropic last-iterate methods stall where the equilibrium puts
  ~0 mass on an action).
* ``value_iteration`` (MDPs, one player): ``V_{t+1}(s) = max_a Q_t(s, a)``; ``policy``
  is greedy in ``Q_t``.
* ``policy_iteration`` (Howard 1960; MDPs): evaluate ``pi_t`` exactly
  (``game.state_values``, one linear solve), switch every state to a greedy
  action that improves ``Q`` by more than a float tolerance; optimal after
  finitely many steps (Puterman 1994, Thm 6.4.2), then stationary.

``extra.residual`` is the Bellman residual ``||V_{t+1} - V_t||_inf`` of the last step.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.capabilities import JointActionValues, require
from jaxgames.core import Game, is_concrete
from jaxgames.markov.stage_games import StageGames
from jaxgames.validation import check_bool
from solvers.core import Solver, SolverState, cached_factory, check_choice, check_int, iterate
from solvers.regret_matching import regret_matching_plus
from solvers.zero_sum_kernels import (
    MAX_EXACT_CANDIDATES,
    num_kernels,
    solve_zero_sum,
    solve_zero_sum_warm,
    value_bounds,
)

#: Relative tolerance of the zero-sum check at ``init`` (``|r_0 + r_1| <= tol * max |r|``).
ZERO_SUM_RTOL = 1e-5


class ValueIterationState(NamedTuple):
    """``SolverState.extra`` of ``value_iteration`` and ``policy_iteration`` (MDPs).

    Attributes:
      values: ``[S]``: the state values ``V_t``; for policy iteration ``V^{pi_t}`` of the policy
        evaluated in the last step.
      residual: scalar, the Bellman residual ``||V_t - V_{t-1}||_inf`` (``inf`` at ``init``).
    """

    values: jax.Array
    residual: jax.Array


class MinimaxValueIterationState(NamedTuple):
    """``SolverState.extra`` of ``minimax_value_iteration``.

    Attributes:
      values: ``[S]``: player 0's state values ``V_t`` (player 1's are ``-V_t``).
      residual: scalar, the Bellman residual ``||V_t - V_{t-1}||_inf`` (``inf`` at ``init``).
      stage_gap: scalar, the largest duality gap of the last stage solve (~1e-6 for the exact
        solver in float32; 0 at ``init``).
    """

    values: jax.Array
    residual: jax.Array
    stage_gap: jax.Array


def check_markov_game(game: Game, who: str, num_players: int | None = None) -> None:
    """Raise unless ``game`` is an infinite-horizon Markov game with ``num_players``: a
    ``CapabilityError`` without ``jaxgames.capabilities.JointActionValues``, else ``ValueError``."""
    require(game, JointActionValues, who)
    if game.horizon is not None:
        raise ValueError(
            f"game.horizon: {who} solves infinite-horizon discounted games; expected horizon=None, got {game.horizon}"
        )
    if num_players is not None and game.num_players != num_players:
        kind = "an MDP (one player)" if num_players == 1 else f"a {num_players}-player game"
        raise ValueError(f"game: {who} expects {kind}, got {game.num_players} players")


def check_zero_sum(game: Game, who: str) -> None:
    """Two players whose rewards sum to zero (checked when the rewards are concrete)."""
    check_markov_game(game, who, 2)
    rewards = game.rewards
    if is_concrete(rewards):
        r = np.asarray(rewards)
        scale = max(float(np.abs(r).max(initial=0.0)), 1.0)
        worst = float(np.abs(r[0] + r[1]).max(initial=0.0))
        if worst > ZERO_SUM_RTOL * scale:
            raise ValueError(
                f"game.rewards: {who} expects a zero-sum game (rewards[0] = -rewards[1]), "
                f"found |rewards[0] + rewards[1]| up to {worst:.4g}"
            )


def zero_sum_stage_payoffs(game: Game, values: jax.Array) -> jax.Array:
    """``Q [S, A_1, A_2]``: player 0's stage games for player 0's state values ``V [S]``.

    Only player 0's row of ``joint_action_values`` is read, and each player's row depends on its own
    values only, so both rows get ``V``: XLA then computes the one product ``P V`` once (with ``-V`` in
    the second row it computes both; the continuation is ~half of a minimax value-iteration step).
    """
    return game.joint_action_values(jnp.stack([values, values]))[0]


def _stage_mode(game: Game, stage_solver: str) -> str:
    if stage_solver != "auto":
        return stage_solver
    m, n = game.num_actions
    return "exact" if min(m, n) <= 5 and num_kernels(m, n) <= MAX_EXACT_CANDIDATES else "iterative"


def _iterative_stage(Q: jax.Array, steps: int):
    """The foundation's regret matching+ (average) on every stage game at once."""
    stage = StageGames.zero_sum(Q)
    inner = regret_matching_plus()
    state = iterate(inner, stage, inner.init(stage), steps)
    x, y = inner.output(state)
    low, up = value_bounds(Q, x, y)
    return 0.5 * (low + up), x, y, up - low


@cached_factory
def minimax_value_iteration(stage_solver: str = "auto", stage_steps: int = 1000, warm_start: bool = True) -> Solver:
    """Shapley's minimax value iteration for two-player zero-sum Markov games (module docstring).

    Args:
      stage_solver: ``"exact"`` (Shapley–Snow kernel enumeration; exact up to
        float rounding), ``"iterative"`` (regret matching+ on the stage games,
        ``stage_steps`` steps per iteration) or ``"auto"`` (exact up to
        ``5 x 5`` stage games, else iterative).
      stage_steps: iterations of the iterative stage solver per value-iteration step.
      warm_start: exact stage solver only: first try, per state, the kernel on the supports of the
        previous step's stage equilibrium (``solvers.zero_sum_kernels.solve_zero_sum_warm``: one
        closed-form candidate and its certified gap), and enumerate all kernels only where that
        check fails. The values agree with ``warm_start=False`` to float rounding; once the
        supports settle a step costs a fraction of the full enumeration.

    ``extra``: ``MinimaxValueIterationState``: ``values`` (player 0's ``V_t [S]``), ``residual``
    (``||V_t - V_{t-1}||_inf``) and ``stage_gap`` (the largest stage duality
    gap, ~1e-6 for the exact solver in float32).
    """
    check_choice(stage_solver, "stage_solver", ("auto", "exact", "iterative"))
    check_int(stage_steps, "stage_steps", low=1)
    check_bool(warm_start, "warm_start")

    def init(game: Game, key=None) -> SolverState:
        check_zero_sum(game, "minimax_value_iteration")
        policy = game.uniform_policy()
        values = jnp.zeros((game.num_states,), policy[0].dtype)
        extra = MinimaxValueIterationState(
            values=values, residual=jnp.asarray(jnp.inf, values.dtype), stage_gap=jnp.zeros((), values.dtype)
        )
        return SolverState(policy=policy, average=policy, step=jnp.zeros((), jnp.int32), extra=extra)

    def step(game: Game, state: SolverState) -> SolverState:
        values = state.extra.values
        Q = zero_sum_stage_payoffs(game, values)
        if _stage_mode(game, stage_solver) == "exact":
            new, x, y, gap = solve_zero_sum_warm(Q, *state.policy) if warm_start else solve_zero_sum(Q)
        else:
            new, x, y, gap = _iterative_stage(Q, stage_steps)
        extra = MinimaxValueIterationState(values=new, residual=jnp.max(jnp.abs(new - values)), stage_gap=jnp.max(gap))
        return SolverState(policy=(x, y), average=(x, y), step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda state: state.policy)


def _greedy(q: jax.Array) -> jax.Array:
    return simplex.one_hot_argmax(q, jnp.ones_like(q, bool))


def _mdp_state(game: Game, who: str) -> SolverState:
    check_markov_game(game, who, 1)
    policy = game.uniform_policy()
    values = jnp.zeros((game.num_states,), policy[0].dtype)
    extra = ValueIterationState(values=values, residual=jnp.asarray(jnp.inf, values.dtype))
    return SolverState(policy=policy, average=policy, step=jnp.zeros((), jnp.int32), extra=extra)


@cached_factory
def value_iteration() -> Solver:
    """MDP value iteration (Bellman 1957): ``V_{t+1} = max_a Q_t``, ``policy`` greedy in ``Q_t``.

    ``||V_t - V*||_inf <= gamma^t ||V*||_inf``; the greedy policy of ``V_t`` is
    ``2 gamma^t ||V*|| / (1 - gamma)``-optimal. One player only.
    """

    def init(game: Game, key=None) -> SolverState:
        return _mdp_state(game, "value_iteration")

    def step(game: Game, state: SolverState) -> SolverState:
        values = state.extra.values
        q = game.joint_action_values(values[None])[0]  # [S, A]
        new = jnp.max(q, axis=-1)
        policy = (_greedy(q),)
        extra = state.extra._replace(values=new, residual=jnp.max(jnp.abs(new - values)))
        return SolverState(policy=policy, average=policy, step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda state: state.policy)


@cached_factory
def policy_iteration() -> Solver:
    """Howard's policy iteration on MDPs: exact evaluation, then greedy improvement.

    A state switches action only if that improves its ``Q`` by more than a few
    float ulps, so the iteration stops (stays put) once optimal instead of
    cycling among tied actions. ``extra.values`` is ``V^{pi_t}`` of the
    policy evaluated in the last step. One player only.
    """

    def init(game: Game, key=None) -> SolverState:
        return _mdp_state(game, "policy_iteration")

    def step(game: Game, state: SolverState) -> SolverState:
        (policy,) = state.policy
        values = game.state_values(state.policy)[0]
        q = game.joint_action_values(values[None])[0]  # [S, A]
        current = jnp.sum(policy * q, axis=-1)
        tol = 8 * jnp.finfo(q.dtype).eps * (1.0 + jnp.max(jnp.abs(q)))
        improve = jnp.max(q, axis=-1) > current + tol
        new = (jnp.where(improve[:, None], _greedy(q), policy),)
        extra = state.extra._replace(values=values, residual=jnp.max(jnp.abs(values - state.extra.values)))
        return SolverState(policy=new, average=new, step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda state: state.policy)
