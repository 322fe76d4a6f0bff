"""Sample-based mean-field learners: online mirror descent and fictitious play on the N-agent simulator.

``sampled_mirror_descent`` is online mirror descent for mean-field games (Perolat, Perrin, Elie,
Laurière, Piliouras, Geist, Tuyls & Pietquin 2022, "Scaling up mean field games with online mirror
descent") with its Q-values estimated from play, never from the model::

    pi_0 = uniform,   Q^_k = estimate of Q^{pi_k} from N-agent episodes of pi_k,
    pi_{k+1}(a | t, x) ∝ exp(eta * sum_{j <= k} Q^_j(t, x, a))

the update of the exact ``solvers.mirror_descent(eta, output="last", alternating=False)``.
``sampled_fictitious_play`` is fictitious play for MFGs (Perrin, Pérolat, Laurière, Geist, Elie &
Pietquin 2020) with a sampled best response and a sampled, distribution-weighted average. Each step
plays ``num_episodes`` episodes of ``jaxgames.mean_field.env.NAgentEnv`` with ``num_agents`` agents
(``num_explorers`` of them exploring) and regresses the transitions per cell ``(t, x, a)``, backward
in time (``estimator="td"``; or ``"monte_carlo"`` returns-to-go)::

    Q^_t(x, a) = mean over samples at (t, x, a) of  r + V^_{t+1}(x'),
    V^_{t+1}(y) = sum_a pi_{t+1}(a|y) Q^_{t+1}(y, a),     V^_T = 0.

``Q^`` is the value in the ``N``-agent game, not against ``mu(pi)``: the learners reach a
neighbourhood of the MFG equilibrium, an ``O(1/N + num_explorers exploration / N)`` bias plus
sampling noise (derived and measured in the guide, "Sample-based learners").

Shapes: ``policy`` ``([T, S, A],)``, ``Q^`` ``[T, S, A]``; ``Transitions`` ``[T, M]``,
``M = num_episodes * num_agents``.

Example::

    import jax, solvers
    from jaxgames.mean_field import crowd_modelling
    solver = solvers.sampled_mirror_descent(learning_rate=1.0, num_agents=1000, num_episodes=8)
    state, trace = solvers.run(solver, crowd_modelling(5, 4), 30, key=jax.random.key(0))
    trace.exploitability[-1]   # exact exploitability of the last iterate, ~0.02 (uniform: 0.38)
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from jaxgames import simplex
from jaxgames.core import Game
from jaxgames.mean_field.env import NAgentEnv
from jaxgames.mean_field.game import MeanFieldGame
from solvers.core import Solver, SolverState, cached_factory, check_choice, check_int, check_number, check_solver_key

ESTIMATORS = ("td", "monte_carlo")


class Transitions(NamedTuple):
    """Time-major samples of every agent of every episode: ``[T, M]`` arrays, ``M = episodes * agents``."""

    positions: jax.Array  # x (int32)
    actions: jax.Array  # a (int32)
    rewards: jax.Array  # r_t(x, a, empirical mu_t)
    next_positions: jax.Array  # x' (the position at t + 1)


class SampledMirrorDescentState(NamedTuple):
    """``extra`` of ``sampled_mirror_descent``: the PRNG key and ``sum_j Q^_j`` ``[T, S, A]``."""

    key: jax.Array
    q_sum: jax.Array


class SampledFictitiousPlayState(NamedTuple):
    """``extra`` of ``sampled_fictitious_play``: the PRNG key and the average's sampled weights.

    ``weights [T, S, A] = sum_j n_j(t, x) BR_j(a | t, x)``, ``n_j`` the state counts of
    the population playing ``BR_j``; normalized over actions it is the
    distribution-weighted average of the best responses.
    """

    key: jax.Array
    weights: jax.Array


# ----------------------------------------------------------------------------- the simulator


def _play_episode(game: MeanFieldGame, num_agents: int, key, policy: jax.Array, rates: jax.Array) -> Transitions:
    """One episode of ``NAgentEnv(game, num_agents)``; agent ``i`` plays ``explore(policy, rates[i])``.

    The only function here that touches the simulator (``reset``, ``step``): ``[T, N]`` transitions.
    """
    env = NAgentEnv(game, num_agents, autoreset=False)  # the final positions stay this episode's
    mask = jnp.asarray(game.action_mask())
    reset_key, key = jax.random.split(key)
    state, _ = env.reset(reset_key)

    def body(state, step_key):
        k_act, k_step = jax.random.split(step_key)
        positions = state.positions
        probs = explore(policy[state.t, positions], mask[positions], rates[:, None])
        actions = simplex.draw(jax.random.uniform(k_act, (num_agents,), policy.dtype), probs)
        state, ts = env.step(k_step, state, actions)
        return state, Transitions(positions, actions, ts.rewards.astype(policy.dtype), state.positions)

    _, out = jax.lax.scan(body, state, jax.random.split(key, game.horizon))
    return out


def simulate(game: MeanFieldGame, num_agents: int, num_episodes: int, key, policy: jax.Array, rates=0.0) -> Transitions:
    """``num_episodes`` independent episodes (``vmap``), merged: ``[T, num_episodes * num_agents]``.

    Agent ``i`` of every episode plays ``policy`` ``[T, S, A]`` with exploration ``rates[i]``
    (a scalar: the same for all).
    """
    rates = jnp.broadcast_to(jnp.asarray(rates, policy.dtype), (num_agents,))
    batch = jax.vmap(lambda k: _play_episode(game, num_agents, k, policy, rates))(jax.random.split(key, num_episodes))
    return jax.tree_util.tree_map(lambda v: jnp.moveaxis(v, 0, 1).reshape(v.shape[1], -1), batch)


def exploration_rates(num_agents: int, num_explorers: int, exploration) -> jax.Array:
    """``[N]``: ``exploration`` for agents ``0 .. num_explorers - 1``, 0 for the rest (who play the policy)."""
    return jnp.where(jnp.arange(num_agents) < num_explorers, exploration, 0.0)


# ----------------------------------------------------------------------------- estimators (pure array functions)


def explore(policy: jax.Array, mask: jax.Array, exploration) -> jax.Array:
    """``(1 - exploration) policy + exploration * uniform over legal actions``, ``[..., A]``."""
    return (1.0 - exploration) * policy + exploration * simplex.normalize(mask.astype(policy.dtype), mask)


def cell_means(x: jax.Array, a: jax.Array, target: jax.Array, num_states: int, num_actions: int):
    """Per-cell sample means ``[S, A]`` of ``target`` ``[M]`` at cells ``(x, a)`` ``[M]``, and the counts.

    A cell without samples gets its state's mean target (0 for a state without samples).
    """
    chex.assert_equal_shape((x, a, target))
    chex.assert_rank(target, 1)
    cell = x * num_actions + a
    size = num_states * num_actions
    counts = jax.ops.segment_sum(jnp.ones_like(target), cell, size).reshape(num_states, num_actions)
    sums = jax.ops.segment_sum(target, cell, size).reshape(num_states, num_actions)
    state_mean = sums.sum(-1, keepdims=True) / jnp.maximum(counts.sum(-1, keepdims=True), 1.0)
    return jnp.where(counts > 0, sums / jnp.maximum(counts, 1.0), state_mean), counts


def td_action_values(samples: Transitions, policy: jax.Array, bootstrap: str = "policy"):
    """``Q^_t(x, a) = mean(r + V^_{t+1}(x'))`` backward in time (``V^_T = 0``); ``(Q^, counts)``, ``[T, S, A]``.

    ``bootstrap="policy"``: ``V^_{t+1}(y) = sum_a policy_{t+1}(a|y) Q^_{t+1}(y, a)`` (evaluation);
    ``"max"``: ``max_a Q^_{t+1}(y, a)`` over the legal (``policy > 0``), tried actions (optimal values).
    """
    horizon, num_states, num_actions = policy.shape
    chex.assert_shape(samples.rewards, (horizon, None))

    def backward(v_next, inputs):
        pi_t, x, a, r, y = inputs
        q, counts = cell_means(x, a, r + v_next[y], num_states, num_actions)
        if bootstrap == "max":
            v = jnp.max(jnp.where(_tried(pi_t > 0, counts), q, -jnp.inf), axis=-1)
        else:
            v = jnp.sum(pi_t * q, axis=-1)
        return v, (q, counts)

    _, (q, counts) = jax.lax.scan(
        backward,
        jnp.zeros(num_states, policy.dtype),
        (policy, samples.positions, samples.actions, samples.rewards, samples.next_positions),
        reverse=True,
    )
    return q, counts


def _tried(mask: jax.Array, counts: jax.Array) -> jax.Array:
    """The legal actions with samples, or all legal actions where none has one (``[..., A]`` bool)."""
    tried = mask & (counts > 0)
    return jnp.where(jnp.any(tried, axis=-1, keepdims=True), tried, mask)


def monte_carlo_action_values(samples: Transitions, num_states: int, num_actions: int) -> jax.Array:
    """``[T, S, A]``: per-cell means of the returns-to-go ``G_t = sum_{s >= t} r_s`` of each agent."""
    chex.assert_rank(samples.rewards, 2)
    returns = jnp.flip(jnp.cumsum(jnp.flip(samples.rewards, 0), axis=0), 0)
    q, _ = jax.vmap(lambda x, a, g: cell_means(x, a, g, num_states, num_actions))(
        samples.positions, samples.actions, returns
    )
    return q


def state_counts(samples: Transitions, num_states: int) -> jax.Array:
    """``[T, S]``: number of agents (over all episodes) in each state at each time."""
    return jax.vmap(lambda x: jnp.zeros(num_states, samples.rewards.dtype).at[x].add(1.0))(samples.positions)


# ----------------------------------------------------------------------------- shared checks


def _check_game(game: Game, name: str) -> MeanFieldGame:
    if not isinstance(game, MeanFieldGame):
        raise ValueError(
            f"game: {name} learns on the N-agent simulator of a finite-horizon mean-field game "
            f"(a jaxgames.mean_field.MeanFieldGame), got {type(game).__name__}"
        )
    return game


def _check_sampling(num_agents, num_episodes, exploration, num_explorers) -> tuple[int, int, int]:
    num_agents = check_int(num_agents, "num_agents", low=1)
    num_episodes = check_int(num_episodes, "num_episodes", low=1)
    check_number(exploration, "exploration", 0.0, 1.0)
    if num_explorers is None:
        num_explorers = -(-num_agents // 200)  # 0.5% of the population, at least one agent
    num_explorers = check_int(num_explorers, "num_explorers", low=0)
    if num_explorers > num_agents:
        raise ValueError(f"num_explorers: expected an integer in [0, num_agents = {num_agents}], got {num_explorers}")
    return num_agents, num_episodes, num_explorers


def _initial_state(game: Game, key, name: str, extra_of) -> SolverState:
    """The uniform policy (OMD's and FP's ``pi_0``), with ``extra_of(key, policy)``."""
    game = _check_game(game, name)
    key = check_solver_key(key, name)
    policy = game.uniform_policy()
    return SolverState(policy=policy, average=policy, step=jnp.zeros((), jnp.int32), extra=extra_of(key, policy[0]))


# ----------------------------------------------------------------------------- the solvers


@cached_factory
def sampled_mirror_descent(
    learning_rate=1.0,
    num_agents: int = 1000,
    num_episodes: int = 8,
    exploration=1.0,
    num_explorers: int | None = None,
    estimator: str = "td",
) -> Solver:
    """Online mirror descent for mean-field games, with Q-values from N-agent play (module doc).

    ``pi_{k+1}(a | t, x) ∝ exp(eta * sum_{j <= k} Q^_j(t, x, a))`` from ``pi_0`` uniform
    (Perolat et al. 2022), ``Q^_j`` regressed from ``num_episodes`` episodes of
    ``num_agents`` agents playing ``pi_j`` (``num_explorers`` of them exploring).
    ``extra``: ``SampledMirrorDescentState(key, q_sum [T, S, A])``. Output: the last
    iterate ``([T, S, A],)``; ``state.average`` holds the iterate too (the
    distribution-weighted average needs the mean field, which only the exact model has).

    Args:
      learning_rate: ``eta > 0`` (may be traced: ``vmap`` over learning rates works).
      num_agents: ``N >= 1`` agents per episode (static). The finite-N bias is ``O(1/N)``:
        keep ``N`` large (the guide, "Sample-based learners", measures it).
      num_episodes: independent ``N``-agent episodes per step (static, ``vmap``-ed).
      exploration: probability in ``[0, 1]`` that an explorer plays uniformly at a step (may be traced).
      num_explorers: how many agents (of each episode) explore (static, ``0 .. N``); ``None``:
        ``ceil(N / 200)``. The rest play the policy, so that the population's mean field
        is nearly the policy's own.
      estimator: ``"td"`` (backward regression, ``pi``'s continuation) or ``"monte_carlo"``.
    """
    check_number(learning_rate, "learning_rate", 0, low_open=True)
    num_agents, num_episodes, num_explorers = _check_sampling(num_agents, num_episodes, exploration, num_explorers)
    check_choice(estimator, "estimator", ESTIMATORS)

    def init(game: Game, key=None) -> SolverState:
        return _initial_state(
            game,
            key,
            "sampled_mirror_descent",
            lambda k, pi: SampledMirrorDescentState(key=k, q_sum=jnp.zeros_like(pi)),
        )

    def step(game: Game, state: SolverState) -> SolverState:
        pi = state.policy[0]
        mask = game.legal_mask()[0]
        key, sample_key = jax.random.split(state.extra.key)
        rates = exploration_rates(num_agents, num_explorers, exploration)
        samples = simulate(game, num_agents, num_episodes, sample_key, pi, rates)
        if estimator == "td":
            q, _ = td_action_values(samples, pi)
        else:
            q = monte_carlo_action_values(samples, game.num_states, game.num_actions)
        q_sum = state.extra.q_sum + jnp.where(mask, q, 0.0)
        # The paper's form exp(eta sum Q) rather than pi_k exp(eta Q_k): no log of underflowed probabilities.
        policy = (simplex.masked_softmax(learning_rate * q_sum, mask),)
        return SolverState(
            policy=policy, average=policy, step=state.step + 1, extra=SampledMirrorDescentState(key=key, q_sum=q_sum)
        )

    return Solver(init=init, step=step, output=lambda state: state.policy)


@cached_factory
def sampled_fictitious_play(
    num_agents: int = 1000, num_episodes: int = 8, exploration=1.0, num_explorers: int | None = None
) -> Solver:
    """Fictitious play for mean-field games (Perrin et al. 2020), from N-agent play.

    Each step: (1) the population plays the average ``pibar_k`` (``num_explorers``
    exploring); the backward regression with max targets
    (``td_action_values(..., bootstrap="max")``) gives ``Q^*_k`` and
    ``BR_k = argmax_a Q^*_k`` over the tried actions (ties: lowest action);
    (2) the population plays ``BR_k`` (no exploration), and its state counts
    ``n_k(t, x)`` (the sampled ``mu(BR_k)``) weight it in the average::

        pibar_{k+1}(a | t, x) = sum_{j <= k} n_j(t, x) BR_j(a | t, x) / sum_{j <= k} n_j(t, x)

    the sampled form of the distribution-weighted average of exact fictitious play
    (``mix_policies`` with ``1 / (k + 1)`` weights; uniform where no best response
    has visited ``(t, x)``). ``policy`` holds ``BR_k``; the output is the average.
    ``extra``: ``SampledFictitiousPlayState(key, weights [T, S, A])``. Two simulator
    batches per step. A noisy argmax picks a wrong action on near-ties, so fictitious play
    is more sensitive to sampling than mirror descent (guide, "Sample-based learners").

    Args: ``num_agents``, ``num_episodes``, ``exploration``, ``num_explorers``: as in
    ``sampled_mirror_descent``.
    """
    num_agents, num_episodes, num_explorers = _check_sampling(num_agents, num_episodes, exploration, num_explorers)

    def init(game: Game, key=None) -> SolverState:
        return _initial_state(
            game,
            key,
            "sampled_fictitious_play",
            lambda k, pi: SampledFictitiousPlayState(key=k, weights=jnp.zeros_like(pi)),
        )

    def step(game: Game, state: SolverState) -> SolverState:
        average = state.average[0]
        mask = game.legal_mask()[0]
        key, k_learn, k_count = jax.random.split(state.extra.key, 3)
        rates = exploration_rates(num_agents, num_explorers, exploration)
        samples = simulate(game, num_agents, num_episodes, k_learn, average, rates)
        q, counts = td_action_values(samples, mask.astype(average.dtype), bootstrap="max")
        best = simplex.one_hot_argmax(q, _tried(mask, counts))
        visits = state_counts(simulate(game, num_agents, num_episodes, k_count, best), game.num_states)
        weights = state.extra.weights + visits[..., None] * best
        return SolverState(
            policy=(best,),
            average=(simplex.normalize(weights, mask),),
            step=state.step + 1,
            extra=SampledFictitiousPlayState(key=key, weights=weights),
        )

    return Solver(init=init, step=step, output=lambda state: state.average)
