"""N-agent simulator of mean-field games: agreement with the exact model, convergence as N grows."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames.mean_field import NAgentEnv, crowd_modelling, rollout
from jaxgames.mean_field.env import empirical_distribution


@functools.lru_cache(maxsize=None)
def _returns_fn(num_agents):
    def many(game, policy, key):
        env = NAgentEnv(game, num_agents)
        return jax.vmap(lambda k: rollout(env, k, policy))(jax.random.split(key, 1000))
    return jax.jit(many)


def _mean_return(game, policy, num_agents, seed=0):
    rets = np.asarray(_returns_fn(num_agents)(game, policy, jax.random.PRNGKey(seed)), np.float64)
    per_episode = rets.mean(axis=1)  # agents are exchangeable: average them within an episode
    return per_episode.mean(), per_episode.std() / np.sqrt(len(per_episode))


@pytest.fixture(scope="module")
def equilibrium():
    """A mean-field equilibrium of small crowd modelling, by fictitious play (exploitability ~ 2e-3)."""
    game = crowd_modelling(5, 4, move_cost_model="action")
    state, _ = jax.jit(lambda g: solvers.run(solvers.fictitious_play(), g, 300))(game)
    policy = solvers.fictitious_play().output(state)
    assert float(game.exploitability(policy)) < 5e-3
    return game, policy


def test_reset_and_step_shapes():
    game = crowd_modelling(5, 3)
    env = NAgentEnv(game, 7)
    state, ts = env.reset(jax.random.PRNGKey(0))
    assert state.positions.shape == (7,) and ts.empirical.shape == (5,)
    np.testing.assert_allclose(ts.empirical.sum(), 1.0, atol=1e-6)
    state, ts = env.step(jax.random.PRNGKey(1), state, jnp.ones(7, jnp.int32))
    assert int(state.t) == 1 and ts.rewards.shape == (7,) and not bool(ts.done)
    # the reward an agent gets is the model's reward at the empirical distribution
    emp = empirical_distribution(jnp.array([0, 0, 1, 4]), 5)
    np.testing.assert_allclose(emp, [0.5, 0.25, 0, 0, 0.25])


def test_simulator_matches_model_without_mean_field_coupling():
    """crowd_aversion = 0: rewards ignore the population, so every N gives the exact value (within 4 SE)."""
    game = crowd_modelling(5, 4, crowd_aversion=0.0, move_cost_model="action")
    policy = (jnp.asarray(np.random.default_rng(0).dirichlet(np.ones(3), size=(4, 5)), jnp.float32),)
    exact = float(game.evaluate(policy).values[0])
    mean, se = _mean_return(game, policy, 8)
    assert abs(mean - exact) < 4 * se + 1e-4


def test_n_agent_value_converges_to_mean_field_value(equilibrium):
    """The N-agent mean return approaches the mean-field value; the gap (Jensen bias of -log emp) is O(1/N)."""
    game, policy = equilibrium
    exact = float(game.evaluate(policy).values[0])
    sizes = [8, 32, 128]
    errors, ses = [], []
    for n in sizes:
        mean, se = _mean_return(game, policy, n)
        errors.append(abs(mean - exact))
        ses.append(se)
    assert errors[0] > 10 * ses[0]             # a small population really differs from the mean field
    assert errors[-1] < 0.1                    # ... and a large one is close to it
    assert all(a > b for a, b in zip(errors, errors[1:]))
    slope = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert -1.4 < slope < -0.6, slope
