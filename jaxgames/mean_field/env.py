"""N-agent simulator of a mean-field game: the finite population the mean field approximates.

``N`` agents start i.i.d. from ``game.initial``; at each time ``t`` every agent
takes its own action and, with ``emp_t`` the *empirical* distribution of the N
agents (``emp_t(x) = #{i: x_i = x} / N``) standing in for the mean field,
collects ``r_t(x_i, a_i, emp_t)`` and moves to ``x_i' ~ P_t(. | x_i, a_i, emp_t)``.
On the one simulator contract (``jaxgames/env.py``)::

    env = jaxgames.make_env(game, num_agents=100)   # or NAgentEnv(game, 100)
    state, ts = env.reset(key)
    state, ts = env.step(key, state, actions)       # actions [N] ints, one per agent

``ts.rewards`` is ``[N]`` (one per agent), ``ts.observation`` ``[N, 2]`` holds each agent's
``(t, x_i)``, ``ts.legal_action_mask`` ``[N, A]``; an episode terminates after ``game.horizon``
steps. ``jax.vmap`` batches episodes (over keys) and games (over the ``params`` game pytree);
``episode_returns`` plays a whole episode with every agent sampling from a policy (agent 0 may play
another policy: a deviator). As ``N -> inf`` the empirical
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
import numpy as np

from jaxgames import rng, simplex
from jaxgames.core import Policy
from jaxgames.env import (  # noqa: F401
    SIMULTANEOUS,
    TERMINAL,
    Environment,
    TimeStep,
    Trajectory,
    rollout,
)
from jaxgames.mean_field.game import MeanFieldGame
from jaxgames.validation import (
    check_bool,
    check_int,
    check_key,
    check_table_bytes,
    table_bytes,
)


@flax.struct.dataclass
class EnvState:
    """``positions [N]`` int32, ``t`` int32 scalar, ``returns [N]`` accumulated rewards."""

    positions: jax.Array
    t: jax.Array
    returns: jax.Array


def empirical_distribution(positions: jax.Array, num_states: int) -> jax.Array:
    """``[S]``: fraction of agents in each state."""
    counts = jnp.zeros(num_states, jnp.result_type(float)).at[positions].add(1.0)
    return counts / positions.shape[0]


class NAgentEnv(Environment):
    """N agents of ``game`` coupled through their empirical distribution (see the module docstring)."""

    simultaneous = True

    _agents = True  # an action holds one entry per agent

    def __init__(self, game: MeanFieldGame, num_agents: int = 100, autoreset: bool = True, max_bytes=None):
        """``num_agents`` (an integer >= 1) agents of ``game``; ``max_bytes`` bounds the per-step
        transition rows ``[num_agents, num_states]`` (default 4 GiB, see ``jaxgames.validation``)."""
        if not isinstance(game, MeanFieldGame):
            raise ValueError(f"game: expected a MeanFieldGame, got {type(game).__name__}")
        num_agents = check_int(num_agents, "num_agents", low=1)
        self.autoreset = check_bool(autoreset, "autoreset")
        check_table_bytes(
            table_bytes((num_agents, game.num_states, 2)),
            "num_agents",
            "the agents' transition rows and their cumulative sums [num_agents, num_states]",
            max_bytes,
        )
        self.game = game
        self.num_agents = self.num_players = num_agents
        self.num_states, self.num_actions = game.num_states, game.num_actions
        self.action_shape = (self.num_agents,)
        self.noise_size = 2 * self.num_agents if self.autoreset else self.num_agents
        self._mask = np.asarray(game.action_mask())

    def __repr__(self):
        return f"NAgentEnv({self.game!r}, num_agents={self.num_agents})"

    def _check_params(self, game):
        g = self.game
        if not isinstance(game, MeanFieldGame) or (game.num_states, game.num_actions, game.horizon) != (
            g.num_states,
            g.num_actions,
            g.horizon,
        ):
            raise self._params_error(
                f"a MeanFieldGame with {g.num_states} states, {g.num_actions} actions and horizon {g.horizon}", game
            )

    def _dtype(self, params):
        return (self.game if params is None else params).initial.dtype

    def _initial(self, u, params, ctx):
        positions = simplex.inverse_cdf(u[-self.num_agents :], jnp.cumsum(params.initial))
        return EnvState(
            positions=positions, t=jnp.zeros((), jnp.int32), returns=jnp.zeros(self.num_agents, params.initial.dtype)
        )

    def _transition(self, u, state, actions, params, ctx):
        """Rewards and transitions use the current empirical distribution."""
        emp = empirical_distribution(state.positions, self.num_states).astype(params.initial.dtype)
        t = jnp.minimum(state.t, self.game.horizon - 1)
        reward = params.reward(t, emp)[state.positions, actions]
        probs = params.transition(t, emp)[state.positions, actions]  # [N, S']
        nxt = simplex.inverse_cdf(u[: self.num_agents], jnp.cumsum(probs, axis=-1))
        t = state.t + 1
        done = t >= self.game.horizon
        return EnvState(positions=nxt, t=t, returns=state.returns + reward), reward, done, jnp.zeros((), bool)

    def _over(self, state):
        return state.t >= self.game.horizon

    def _acting(self, state):
        player = jnp.where(self._over(state), TERMINAL, SIMULTANEOUS).astype(jnp.int32)
        return player, jnp.asarray(self._mask)[state.positions]

    def _observe(self, state, params):
        return jnp.stack([jnp.broadcast_to(state.t, state.positions.shape), state.positions], axis=-1)

    def _policy_rows(self, tables, state):
        return tables[0][jnp.minimum(state.t, self.game.horizon - 1), state.positions]


def episode_returns(key, env: NAgentEnv, policy: Policy, deviator: Policy | None = None) -> jax.Array:
    """``[N]`` returns of one episode; agent 0 plays ``deviator`` if given (``lax.scan`` over time)."""
    key = check_key(key, "key", "episode_returns")
    _check_env(env)
    reset_key, key = jax.random.split(key)
    state, _ = env.reset(reset_key)
    tables = env.policy_tables(policy)
    dev_tables = None if deviator is None else env.policy_tables(deviator)
    dtype = env._dtype(None)

    def body(state, step_key):
        k_act, k_step = jax.random.split(step_key)
        u = rng.uniform(k_act, env.action_shape, dtype)
        actions = env._sample(u, state, tables)
        if dev_tables is not None:
            actions = actions.at[0].set(env._sample(u, state, dev_tables)[0])
        state, ts = env.step(k_step, state, actions)
        return state, ts.rewards

    _, rewards = jax.lax.scan(body, state, jax.random.split(key, env.game.horizon))
    return rewards.sum(axis=0)  # the episode's rewards (an auto-resetting env's final state is the next episode's)


def _check_env(env) -> None:
    if not isinstance(env, NAgentEnv):
        raise ValueError(f"env: expected an NAgentEnv (jaxgames.make_env(mean_field_game)), got {type(env).__name__}")


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
    key = check_key(key, "key", "deviation_rollout")
    _check_env(env)
    game = env.game

    def episode(deviate):
        reset_key, k = jax.random.split(key)
        state, _ = env.reset(reset_key)

        def body(state, step_key):
            k_act, k_step = jax.random.split(step_key)
            actions = env.sample_action(k_act, state, policy)
            if deviate:
                emp = empirical_distribution(state.positions, game.num_states)
                best = _predicted_best_action(game, policy, state.t, emp, state.positions[0])
                actions = actions.at[0].set(best.astype(jnp.int32))
            state, ts = env.step(k_step, state, actions)
            return state, ts.rewards[0]

        _, rewards = jax.lax.scan(body, state, jax.random.split(k, game.horizon))
        return rewards.sum()

    return episode(False), episode(True)


def deviation_gain(game: MeanFieldGame, policy: Policy, num_agents: int, key, num_episodes: int):
    """Estimated N-agent deviation gain of agent 0 and its standard error (see the module doc)."""
    key = check_key(key, "key", "deviation_gain")
    num_episodes = check_int(num_episodes, "num_episodes", low=1)
    env = NAgentEnv(game, num_agents)
    follow, deviate = jax.vmap(lambda k: deviation_rollout(env, k, policy))(jax.random.split(key, num_episodes))
    diff = deviate - follow
    return jnp.mean(diff), jnp.std(diff) / jnp.sqrt(num_episodes)
