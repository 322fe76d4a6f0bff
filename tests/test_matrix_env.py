"""The repeated-matrix-game simulator agrees with the exact model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
from jaxgames import matrix


def test_simulated_returns_match_the_exact_values():
    game = matrix.random_game(jax.random.key(0), (2, 3, 2))
    rng = np.random.default_rng(0)
    policy = tuple(jnp.asarray(rng.dirichlet(np.ones(a)), jnp.float32) for a in game.num_actions)
    env = jaxgames.make_env(game, num_rounds=5)
    rewards = jax.jit(lambda k: jaxgames.rollout(k, env, policy, 50, batch_size=400)[1].rewards)(jax.random.key(1))
    assert rewards.shape == (400, 50, 3)
    flat = np.asarray(rewards).reshape(-1, 3)
    mean, sem = flat.mean(0), flat.std(0) / np.sqrt(len(flat))
    exact = np.asarray(jaxgames.evaluate(game, policy).values)
    assert np.all(np.abs(mean - exact) < 4 * sem + 1e-6), (mean, exact, sem)


def test_step_semantics_and_auto_reset():
    game = matrix.prisoners_dilemma()
    env = matrix.RepeatedMatrixEnv(game, num_rounds=2)
    key = jax.random.key(0)
    state, ts = env.reset(key)
    np.testing.assert_array_equal(ts.observation, [-1, -1])
    assert not bool(ts.done)
    state, ts = env.step(key, state, jnp.array([0, 1]))  # cooperate vs defect
    np.testing.assert_allclose(ts.rewards, [0.0, 10.0])
    np.testing.assert_array_equal(ts.observation, [0, 1])
    state, ts = env.step(key, state, jnp.array([1, 1]))
    assert bool(ts.terminated) and int(state.round) == 0  # auto-reset: the next episode's first state
    np.testing.assert_array_equal(ts.observation, [-1, -1])
    state, ts = env.step(key, state, jnp.array([0, 0]))
    assert int(state.round) == 1 and not bool(ts.done)
    np.testing.assert_allclose(ts.rewards, [5.0, 5.0])


@pytest.mark.slow
def test_env_vmaps_over_games():
    games = jax.vmap(lambda k: matrix.random_zero_sum(k, 4))(jax.random.split(jax.random.key(2), 16))
    env = matrix.RepeatedMatrixEnv(matrix.random_zero_sum(jax.random.key(0), 4))
    keys = jax.random.split(jax.random.key(3), 16)
    states, _ = jax.vmap(env.reset)(keys, games)
    actions = jnp.tile(jnp.array([1, 2]), (16, 1))
    _, ts = jax.vmap(env.step)(keys, states, actions, games)
    np.testing.assert_allclose(ts.rewards[:, 0], games.payoffs[:, 0, 1, 2])
    np.testing.assert_allclose(ts.rewards[:, 1], -games.payoffs[:, 0, 1, 2])
