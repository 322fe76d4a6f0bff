"""N-agent simulator of a mean-field game: the finite population the mean field approximates.

``N`` agents start i.i.d. from ``game.initial``; at each time ``t`` every agent
takes its own action and, with ``emp_t`` the *empirical* distribution of the N
agents (``emp_t(x) = #{i: x_i = x} / N``) standing in for the mean field,
collects ``r_t(x_i, a_i, emp_t)`` and moves to ``x_i' ~ P_t(. | x_i, a_i, emp_t)``.
Pure functions over an explicit state (the gymnax/pgx idiom)::

    env = NAgentEnv(game, num_agents=100)
    state, ts = env.reset(key)
    state, ts = env.step(key, state, actions)   # actions [N] ints

``jax.vmap`` batches episodes (over keys) and games (over the game pytree);
``rollout`` plays a whole episode with every agent sampling from a policy
(agent 0 may play another policy: a deviator). As ``N -> inf`` the empirical
distribution tends to the mean field (propagation of chaos) and the agents'
mean return tends to ``game.evaluate(policy).values`` (``tests/test_mean_field_env.py``).

``deviation_gain`` estimates the N-agent exploitability of a policy: the gain of
agent 0 when, at each time, it observes the others' realised distribution,
predicts the future mean field from it under the policy, and plays the best
response to that prediction (a model-predictive best response: a lower bound on
the N-agent best-response gain). Against a mean-field equilibrium this gain is
the advantage of exploiting the population's ``O(1/sqrt(N))`` fluctuations.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from jaxgames.core import Policy
from jaxgames.mean_field.game import MeanFieldGame


@flax.struct.dataclass
class EnvState:
    """``positions [N]`` int32, ``t`` int32 scalar, ``returns [N]`` accumulated rewards."""

    positions: jax.Array
    t: jax.Array
    returns: jax.Array


@flax.struct.dataclass
class TimeStep:
    """``rewards [N]``, ``empirical [S]`` (the empirical distribution the rewards used), ``done``."""

    rewards: jax.Array
    empirical: jax.Array
    done: jax.Array


def empirical_distribution(positions: jax.Array, num_states: int) -> jax.Array:
    """``[S]``: fraction of agents in each state."""
    counts = jnp.zeros(num_states, jnp.result_type(float)).at[positions].add(1.0)
    return counts / positions.shape[0]


@flax.struct.dataclass
class NAgentEnv:
    """N agents of ``game`` coupled through their empirical distribution (``num_agents`` static)."""

    game: MeanFieldGame
    num_agents: int = flax.struct.field(pytree_node=False)

    def reset(self, key) -> tuple[EnvState, TimeStep]:
        logits = jnp.log(self.game.initial)
        positions = jax.random.categorical(key, logits, shape=(self.num_agents,)).astype(jnp.int32)
        dtype = jnp.result_type(float)
        state = EnvState(positions=positions, t=jnp.zeros((), jnp.int32),
                         returns=jnp.zeros(self.num_agents, dtype))
        ts = TimeStep(rewards=jnp.zeros(self.num_agents, dtype),
                      empirical=empirical_distribution(positions, self.game.num_states),
                      done=jnp.asarray(False))
        return state, ts

    def step(self, key, state: EnvState, actions) -> tuple[EnvState, TimeStep]:
        """Every agent acts; rewards and transitions use the current empirical distribution."""
        emp = empirical_distribution(state.positions, self.game.num_states)
        reward = self.game.reward(state.t, emp)[state.positions, actions]
        probs = self.game.transition(state.t, emp)[state.positions, actions]  # [N, S']
        nxt = jax.random.categorical(key, jnp.log(probs), axis=-1).astype(jnp.int32)
        t = state.t + 1
        new = EnvState(positions=nxt, t=t, returns=state.returns + reward)
        return new, TimeStep(rewards=reward, empirical=emp, done=t >= self.game.horizon)


def sample_actions(key, policy: Policy, t, positions) -> jax.Array:
    """``[N]`` actions, agent ``i`` drawing from ``policy[0][t, positions[i]]``."""
    probs = policy[0][t, positions]
    return jax.random.categorical(key, jnp.log(probs), axis=-1).astype(jnp.int32)


def rollout(env: NAgentEnv, key, policy: Policy, deviator: Policy | None = None) -> jax.Array:
    """``[N]`` returns of one episode; agent 0 plays ``deviator`` if given (``lax.scan`` over time)."""
    reset_key, key = jax.random.split(key)
    state, _ = env.reset(reset_key)

    def body(state, step_key):
        k_act, k_dev, k_step = jax.random.split(step_key, 3)
        actions = sample_actions(k_act, policy, state.t, state.positions)
        if deviator is not None:
            actions = actions.at[0].set(sample_actions(k_dev, deviator, state.t, state.positions[:1])[0])
        state, _ = env.step(k_step, state, actions)
        return state, None

    state, _ = jax.lax.scan(body, state, jax.random.split(key, env.game.horizon))
    return state.returns


def _predicted_best_action(game: MeanFieldGame, policy: Policy, t, emp, x) -> jax.Array:
    """Best action at ``(t, x)`` against the mean field predicted from ``emp`` at time ``t`` under ``policy``."""
    pi = policy[0]
    horizon = game.horizon

    def forward(mu, s):
        nxt = jnp.einsum("x,xa,xay->y", mu, pi[s], game.transition(s, mu))
        # before time t the prediction is not used; keep emp there so shapes stay static
        return jnp.where(s >= t, nxt, mu), jnp.where(s >= t, mu, emp)

    _, mus = jax.lax.scan(forward, emp, jnp.arange(horizon))
    ((q, _),) = game._backward(mus, (game._max_head(),))
    mask = jnp.asarray(game.action_mask())
    return jnp.argmax(jnp.where(mask[x], q[t, x], -jnp.inf))


def deviation_rollout(env: NAgentEnv, key, policy: Policy) -> tuple[jax.Array, jax.Array]:
    """Agent 0's return when it follows ``policy`` and when it plays the model-predictive best response.

    Both episodes use the same random numbers for every agent (common random
    numbers), so the others' trajectories coincide whenever the dynamics do
    not depend on the mean field; returns ``(follow, deviate)`` scalars.
    """
    game = env.game

    def episode(deviate):
        reset_key, k = jax.random.split(key)
        state, _ = env.reset(reset_key)

        def body(state, step_key):
            k_act, k_step = jax.random.split(step_key)
            actions = sample_actions(k_act, policy, state.t, state.positions)
            if deviate:
                emp = empirical_distribution(state.positions, game.num_states)
                best = _predicted_best_action(game, policy, state.t, emp, state.positions[0])
                actions = actions.at[0].set(best.astype(jnp.int32))
            state, _ = env.step(k_step, state, actions)
            return state, None

        state, _ = jax.lax.scan(body, state, jax.random.split(k, game.horizon))
        return state.returns[0]

    return episode(False), episode(True)


def deviation_gain(game: MeanFieldGame, policy: Policy, num_agents: int, key, num_episodes: int):
    """Estimated N-agent deviation gain of agent 0 and its standard error (see the module doc)."""
    env = NAgentEnv(game, num_agents)
    follow, deviate = jax.vmap(lambda k: deviation_rollout(env, k, policy))(jax.random.split(key, num_episodes))
    diff = deviate - follow
    return jnp.mean(diff), jnp.std(diff) / jnp.sqrt(num_episodes)
