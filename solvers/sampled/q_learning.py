"""Q-learning from simulated play in Markov games: minimax-Q and decentralized two-timescale Q-learning.

Both learn from the simulator (``jaxgames.markov.env.MarkovEnv``) only: a ``step`` plays one transition
``(s, a, r, s')`` in each of ``batch_size`` parallel environments and folds them into tabular estimates.

**minimax-Q** (Littman 1994, "Markov games as a framework for multi-agent reinforcement learning",
ICML), two-player zero-sum, on player 0's joint-action values ``Q [S, A_1, A_2]``; both players play
``epsilon``-greedy around the maximin / minimax stage strategies ``(x, y)`` of ``Q``, the output::

    Q(s, a, o) <- Q(s, a, o) + alpha_n (r + gamma V(s') - Q(s, a, o)),   V(s) = max_x min_o sum_a x(a) Q(s, a, o)

**Decentralized Q-learning** (Sayin, Zhang, Leslie, Basar & Ozdaglar 2021, "Decentralized Q-learning
in zero-sum Markov games", NeurIPS): each player sees the state, its own action and reward, keeps
``q_i [S, A_i]`` and ``v_i [S]``, plays ``pi_i(s) = softmax(q_i(s) / temperature)`` (the output),
behaves as ``mu_i = (1 - epsilon) pi_i + epsilon uniform`` and, with ``c = #s`` the visits to ``s``::

    q_i(s, a_i) <- q_i(s, a_i) + min(1, alpha_c / mu_i(s, a_i)) (r_i + gamma v_i(s') - q_i(s, a_i))   (fast)
    v_i(s)      <- v_i(s)      + beta_c (pi_i(s) . q_i(s) - v_i(s))                                  (slow)

Step sizes are count-based, ``alpha_n = min(1, learning_rate / n^power)``; environments restart from
``game.initial`` with probability ``reset_probability`` after each transition. The guide
("Sample-based learners", Q-learning) discusses exploration, step sizes, batches and guarantees.

Shapes: ``batch_size`` ``B``; ``extra.env`` is the simulator state with a leading ``[B]`` axis.

Example::

    import jax, solvers
    from jaxgames import markov
    game = markov.random_zero_sum(jax.random.key(0), num_states=4, num_actions=3, discount=0.6)
    state, trace = solvers.run(solvers.minimax_q(batch_size=32), game, 2000, key=jax.random.key(1))
    state.extra.values          # ~ Shapley's values (within 1e-3 here); trace.exploitability falls
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

import jaxgames
from jaxgames import simplex
from jaxgames.core import Game, as_float_array, is_concrete
from jaxgames.markov.env import MarkovState
from solvers.core import Solver, SolverState, cached_factory, check_choice, check_int, check_number, check_solver_key
from solvers.value_iteration import _iterative_stage, _stage_mode, check_markov_game, check_zero_sum
from solvers.zero_sum_kernels import solve_zero_sum


class MinimaxQState(NamedTuple):
    """``SolverState.extra`` of ``minimax_q``."""

    key: jax.Array  # PRNG key of the next step
    env: MarkovState  # [B] simulator states
    q: jax.Array  # [S, A_1, A_2] player 0's joint-action values
    counts: jax.Array  # int32 [S, A_1, A_2] samples per entry
    values: jax.Array  # [S] val Q(s)
    stage_gap: jax.Array  # [] largest duality gap of the last stage solve (~1e-6: exact kernels)


class DecentralizedQState(NamedTuple):
    """``SolverState.extra`` of ``decentralized_q_learning``."""

    key: jax.Array  # PRNG key of the next step
    env: MarkovState  # [B] simulator states
    q: tuple  # per player [S, A_i]: local action values
    values: jax.Array  # [N, S]: each player's value estimate
    counts: jax.Array  # int32 [S]: visits per state


# -- the simulator (one place, so that it can be re-pointed) ---------------------------------------
def _reset(game: Game, key: jax.Array, batch_size: int) -> MarkovState:
    """``[B]`` fresh episodes, ``s_0 ~ game.initial``."""
    env = jaxgames.make_env(game)
    states, _ = jax.vmap(lambda k: env.reset(k, game))(jax.random.split(key, batch_size))
    return states


def _transition(game: Game, key: jax.Array, states: MarkovState, actions: jax.Array, reset_probability):
    """One simulated transition per environment: ``(s' [B], rewards [B, N], states to continue from)``.

    ``s'`` is the sampled next state; the continuing state is ``s'``, or with probability
    ``reset_probability`` a fresh start from ``game.initial`` (geometric resets).
    """
    env = jaxgames.make_env(game)
    k_step, k_reset, k_coin = jax.random.split(key, 3)
    batch = actions.shape[0]
    new, ts = jax.vmap(lambda k, s, a: env.step(k, s, a, game))(jax.random.split(k_step, batch), states, actions)
    fresh = _reset(game, k_reset, batch)
    restart = jax.random.uniform(k_coin, (batch,), game.initial.dtype) < reset_probability
    cont = jax.tree_util.tree_map(
        lambda f, n: jnp.where(restart.reshape((-1,) + (1,) * (n.ndim - 1)), f, n), fresh, new
    )
    return ts.observation, ts.rewards, cont


# -- shared pieces ---------------------------------------------------------------------------------
def _draw_actions(game: Game, key: jax.Array, states: MarkovState, policy) -> jax.Array:
    """``int32 [B, N]``: every player draws from ``policy[j][s]`` in every environment (the
    simulator's one sampler, ``env.sample_action``)."""
    env = jaxgames.make_env(game)
    keys = jax.random.split(key, states.state.shape[0])
    return jax.vmap(lambda k, st: env.sample_action(k, st, policy))(keys, states)


def _play(game: Game, ex, policy, epsilon, reset_probability):
    """One batch of transitions under the epsilon-uniform behaviour of ``policy``:
    ``(next key, s [B], actions [B, N], s' [B], rewards [B, N], simulator states to continue from,
    the behaviour policy)``."""
    key, k_act, k_env = jax.random.split(ex.key, 3)
    behaviour = tuple((1.0 - epsilon) * p + epsilon / p.shape[-1] for p in policy)
    actions = _draw_actions(game, k_act, ex.env, behaviour)
    s_next, rewards, env = _transition(game, k_env, ex.env, actions, _reset_probability(game, reset_probability))
    return key, ex.env.state, actions, s_next, rewards, env, behaviour


def _step_size(learning_rate, power, count: jax.Array) -> jax.Array:
    """``learning_rate / count^power`` per sample (capped at 1 where it is applied; entries never
    visited, ``count = 0``, get ``learning_rate`` and no sample)."""
    return learning_rate / jnp.maximum(count, 1).astype(jnp.result_type(float)) ** power


def _batch_update(table: jax.Array, index: tuple, targets: jax.Array, rate: jax.Array):
    """Fold the batch's ``targets`` into ``table`` at ``index`` (one index array per axis).

    ``rate`` (shaped like ``table``) is the step size per sample; ``k`` samples at one entry move
    it by ``min(1, k rate)`` toward their mean. Returns ``(table, k)``.
    """
    k = jnp.zeros(table.shape, table.dtype).at[index].add(1.0)
    total = jnp.zeros(table.shape, table.dtype).at[index].add(targets)
    mean = total / jnp.maximum(k, 1.0)
    weight = jnp.where(k > 0, jnp.minimum(1.0, k * rate), 0.0)
    return table + weight * (mean - table), k


def _check_common(batch_size, epsilon, reset_probability, learning_rate, power):
    """Validate the hyperparameters both learners share; returns ``(batch_size, power)``."""
    batch_size = check_int(batch_size, "batch_size", low=1)
    check_number(epsilon, "epsilon", 0.0, 1.0)
    check_number(reset_probability, "reset_probability", 0.0, 1.0, optional=True)
    check_number(learning_rate, "learning_rate", 0.0, low_open=True, range_wording=True)
    return batch_size, as_float_array(check_number(power, "learning_rate_power", 0.0, 1.0), "learning_rate_power")


def _reset_probability(game: Game, reset_probability):
    return 1.0 - game.discount if reset_probability is None else reset_probability


# -- minimax-Q -------------------------------------------------------------------------------------
def _solve_stages(game: Game, q: jax.Array, stage_solver: str, stage_steps: int):
    """``(val [S], x [S, A_1], y [S, A_2], gap [S])`` of the stage games ``q [S, A_1, A_2]``."""
    if _stage_mode(game, stage_solver) == "exact":
        return solve_zero_sum(q)
    return _iterative_stage(q, stage_steps)


@cached_factory
def minimax_q(
    batch_size: int = 32,
    epsilon: float = 0.2,
    learning_rate: float = 1.0,
    learning_rate_power: float = 0.7,
    reset_probability: float | None = None,
    stage_solver: str = "auto",
    stage_steps: int = 200,
) -> Solver:
    """Littman's (1994) minimax-Q from simulated play (two-player zero-sum; module docstring).

    Args:
      batch_size: parallel environments; a step is ``batch_size`` transitions (static int >= 1).
      epsilon: exploration in ``[0, 1]``: each player plays uniformly at random with this
        probability, else its stage strategy (Littman's ``explor = 0.2``).
      learning_rate, learning_rate_power: ``alpha_n = min(1, learning_rate / n^power)`` for the
        ``n``-th sample of an entry ``(s, a, o)``; ``power`` in ``[0, 1]`` (0: constant step).
      reset_probability: geometric resets to ``game.initial`` after each transition (``None``:
        ``1 - discount``; ``0``: one continuing stream).
      stage_solver, stage_steps: as in ``minimax_value_iteration`` (``"auto"``: exact kernels up
        to ``5 x 5`` stage games).

    ``output``: the stage strategies ``(x, y)`` of the current ``Q``; ``extra``: ``MinimaxQState``
    (``values`` is ``val Q``, the estimate of Shapley's values). ``average`` is the policy.
    """
    batch_size, _ = _check_common(batch_size, epsilon, reset_probability, learning_rate, learning_rate_power)
    check_choice(stage_solver, "stage_solver", ("auto", "exact", "iterative"))
    stage_steps = check_int(stage_steps, "stage_steps", low=1)

    def init(game: Game, key=None) -> SolverState:
        check_zero_sum(game, "minimax_q")
        key = check_solver_key(key, "minimax_q")
        k_env, k_next = jax.random.split(key)
        dtype = jnp.result_type(float)
        shape = (game.num_states, *game.num_actions)
        q = jnp.zeros(shape, dtype)
        policy = tuple(jnp.full((game.num_states, a), 1.0 / a, dtype) for a in game.num_actions)
        extra = MinimaxQState(
            key=k_next,
            env=_reset(game, k_env, batch_size),
            q=q,
            counts=jnp.zeros(shape, jnp.int32),
            values=jnp.zeros((game.num_states,), dtype),
            stage_gap=jnp.zeros((), dtype),
        )
        return SolverState(policy=policy, average=policy, step=jnp.zeros((), jnp.int32), extra=extra)

    def step(game: Game, state: SolverState) -> SolverState:
        ex = state.extra
        key, s, actions, s_next, rewards, env, behaviour = _play(game, ex, state.policy, epsilon, reset_probability)
        targets = rewards[:, 0] + game.discount * ex.values[s_next]
        index = (s, actions[:, 0], actions[:, 1])
        counts = ex.counts.at[index].add(1)
        q, _ = _batch_update(ex.q, index, targets, _step_size(learning_rate, learning_rate_power, counts))
        values, x, y, gap = _solve_stages(game, q, stage_solver, stage_steps)
        extra = MinimaxQState(key=key, env=env, q=q, counts=counts, values=values, stage_gap=jnp.max(gap))
        return SolverState(policy=(x, y), average=(x, y), step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda state: state.policy)


# -- decentralized Q-learning ----------------------------------------------------------------------
def _smoothed_best_responses(q: tuple, temperature) -> tuple:
    return tuple(simplex.logit_response(qi, jnp.ones(qi.shape, bool), temperature) for qi in q)


@cached_factory
def decentralized_q_learning(
    batch_size: int = 32,
    temperature: float = 0.1,
    epsilon: float = 0.02,
    learning_rate: float = 1.0,
    learning_rate_power: float = 0.8,
    value_learning_rate: float | None = None,
    value_power: float = 1.0,
    reset_probability: float | None = None,
) -> Solver:
    """Sayin et al.'s (2021) decentralized two-timescale Q-learning (module docstring).

    Args:
      batch_size: parallel environments; a step is ``batch_size`` transitions (static int >= 1).
      temperature: ``> 0``; each player plays ``softmax(q_i(s) / temperature)`` (the smoothed best
        response; also its exploration). The equilibrium gap of the limit grows with it.
      epsilon: in ``[0, 1]``; each player *behaves* as ``(1 - epsilon) pi_i + epsilon uniform`` (the
        step is normalized by that behaviour probability); ``0`` is the paper's algorithm. The default
        floor keeps rarely played actions' estimates alive (guide, "Sample-based learners").
      learning_rate, learning_rate_power: fast step ``alpha_c = learning_rate / c^power`` for
        the local ``q`` (``c = #s``, the state's visit count).
      value_learning_rate, value_power: slow step ``beta_c = min(1, value_learning_rate /
        c^value_power)`` for ``v`` (``None``: ``1 / (1 - discount)``); two timescales need
        ``value_power > learning_rate_power`` (checked when both are concrete).
      reset_probability: geometric resets to ``game.initial`` (``None``: ``1 - discount``; ``0``:
        one continuing stream).

    Runs on any infinite-horizon Markov game (two-player zero-sum: the paper's guarantee;
    otherwise no guarantee). ``output``: the smoothed best responses ``(pi_1, ..., pi_N)``;
    ``extra``: ``DecentralizedQState`` (``values[i]`` estimates player ``i``'s equilibrium value).
    """
    batch_size, fast = _check_common(batch_size, epsilon, reset_probability, learning_rate, learning_rate_power)
    check_number(temperature, "temperature", 0.0, low_open=True, range_wording=True)
    check_number(value_learning_rate, "value_learning_rate", 0.0, low_open=True, optional=True, range_wording=True)
    slow = as_float_array(check_number(value_power, "value_power", 0.0, 1.0), "value_power")
    if is_concrete(fast) and is_concrete(slow) and float(slow) <= float(fast):
        raise ValueError(
            f"value_power: expected a value > learning_rate_power = {float(fast)} (the value "
            f"must move on the slower timescale), got {float(slow)}"
        )

    def init(game: Game, key=None) -> SolverState:
        check_markov_game(game, "decentralized_q_learning")
        key = check_solver_key(key, "decentralized_q_learning")
        k_env, k_next = jax.random.split(key)
        dtype = jnp.result_type(float)
        q = tuple(jnp.zeros((game.num_states, a), dtype) for a in game.num_actions)
        policy = _smoothed_best_responses(q, temperature)
        extra = DecentralizedQState(
            key=k_next,
            env=_reset(game, k_env, batch_size),
            q=q,
            values=jnp.zeros((game.num_players, game.num_states), dtype),
            counts=jnp.zeros((game.num_states,), jnp.int32),
        )
        return SolverState(policy=policy, average=policy, step=jnp.zeros((), jnp.int32), extra=extra)

    def step(game: Game, state: SolverState) -> SolverState:
        ex = state.extra
        key, s, actions, s_next, rewards, env, behaviour = _play(game, ex, state.policy, epsilon, reset_probability)
        visits = jnp.zeros(ex.counts.shape, jnp.int32).at[s].add(1)
        counts = ex.counts + visits
        alpha = _step_size(learning_rate, learning_rate_power, counts)[:, None]
        value_rate = 1.0 / (1.0 - game.discount) if value_learning_rate is None else value_learning_rate
        beta = jnp.minimum(1.0, visits * _step_size(value_rate, value_power, counts))
        new_q, new_v = [], []
        for i, (qi, pi, mu) in enumerate(zip(ex.q, state.policy, behaviour)):
            # player i's own data only: its action, its reward, the state
            targets = rewards[:, i] + game.discount * ex.values[i, s_next]
            rate = alpha / jnp.maximum(mu, jnp.finfo(mu.dtype).tiny)
            new_q.append(_batch_update(qi, (s, actions[:, i]), targets, rate)[0])
            new_v.append(ex.values[i] + beta * (jnp.sum(pi * qi, axis=-1) - ex.values[i]))
        q = tuple(new_q)
        policy = _smoothed_best_responses(q, temperature)
        extra = DecentralizedQState(key=key, env=env, q=q, values=jnp.stack(new_v), counts=counts)
        return SolverState(policy=policy, average=policy, step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda state: state.policy)
