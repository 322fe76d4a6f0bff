"""Deep online mirror descent (solvers/neural/deep_mean_field.py) on a small crowd modelling.

Small crowd modelling (5 cells, horizon 4, moves charged to the step taking them): the uniform
policy's exploitability is 0.698, exact OMD at eta = 1 reaches 0.0217 after 20 steps; D-OMD
(hidden (32,), N = 200 agents, 4 episodes, 50 regression steps) measured 0.025 / 0.027 on two seeds.
Convergence on the default 10 x 10 game is measured in ``benchmarks/bench_deep_mean_field.py``.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames.matrix import rock_paper_scissors
from jaxgames.mean_field import crowd_modelling
from solvers.neural.deep_mean_field import DeepMirrorDescentState, deep_mirror_descent

from helpers import forbid_exact_model

SMALL = dict(hidden_sizes=(32,), num_agents=200, num_episodes=4, regression_steps=50)
STEPS = 20


@pytest.fixture(scope="module")
def game():
    return crowd_modelling(5, 4, move_cost_model="action")


_exploitability_of = jax.jit(lambda game, pi: game.exploitability((pi,)))


@pytest.mark.slow
def test_learns_from_the_simulator_only_vmapped_over_keys_and_learning_rates(game):
    """One jitted vmap over (key, eta), traced with every exact-model method raising.

    Two seeds at eta = 1 end below a tenth of the uniform policy's exploitability and within 0.03
    of exact OMD at the same eta; eta = 1e-3 (traced) stays near uniform; the seeds differ.
    """

    def learn(key, lr):
        solver = deep_mirror_descent(learning_rate=lr, **SMALL)
        state = jax.lax.fori_loop(0, STEPS, lambda _, s: solver.step(game, s), solver.init(game, key))
        return solver.output(state)[0], state.extra.q_loss, state.step

    k0, k1 = jax.random.split(jax.random.key(3))
    keys, lrs = jnp.stack([k0, k1, k0]), jnp.array([1.0, 1.0, 1e-3])
    fn = jax.jit(jax.vmap(learn))
    with forbid_exact_model(game):
        policies, q_loss, steps = fn(keys, lrs)
    chex.assert_shape(policies, (3, 4, 5, 3))
    np.testing.assert_allclose(np.asarray(policies).sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(steps), STEPS)
    assert np.all(np.isfinite(np.asarray(q_loss)))
    assert np.abs(np.asarray(policies[0] - policies[1])).max() > 1e-3

    expl = np.array([float(_exploitability_of(game, p)) for p in policies])
    uniform = float(_exploitability_of(game, game.uniform_policy()[0]))
    exact = solvers.run(solvers.mirror_descent(1.0, output="last", alternating=False), game, STEPS)[1]
    assert abs(uniform - 0.698) < 1e-3
    assert expl[:2].max() < uniform / 10, (expl, uniform)
    assert expl[:2].max() < float(exact.exploitability[-1]) + 0.03, (expl, exact.exploitability[-1])
    assert abs(expl[2] - uniform) < 0.05, (expl[2], uniform)


@pytest.mark.slow
def test_monte_carlo_targets_and_minibatches_learn(game):
    """Monte Carlo returns and 4 minibatches of the 20 decision points also fall below uniform / 10."""
    solver = deep_mirror_descent(learning_rate=1.0, estimator="monte_carlo", num_minibatches=4, **SMALL)

    @jax.jit
    def learn(key):
        return solver.output(jax.lax.fori_loop(0, STEPS, lambda _, s: solver.step(game, s), solver.init(game, key)))

    with forbid_exact_model(game):
        policy = learn(jax.random.key(5))
    expl = float(_exploitability_of(game, policy[0]))
    assert expl < float(_exploitability_of(game, game.uniform_policy()[0])) / 10, expl


@pytest.mark.slow
def test_init_plays_uniform_and_carries_the_networks(game):
    """The cumulative network's output layer starts at zero, so pi_0 is exactly uniform."""
    state = deep_mirror_descent(**SMALL).init(game, jax.random.key(0))
    np.testing.assert_allclose(np.asarray(state.policy[0]), 1.0 / 3.0, atol=1e-7)
    assert isinstance(state.extra, DeepMirrorDescentState)
    kernel = state.extra.cum_params["params"]["Dense_1"]["kernel"]
    chex.assert_shape(kernel, (32, 3))
    chex.assert_shape(state.extra.q_params["params"]["Dense_0"]["kernel"], (4 + 5, 32))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(hidden_sizes=(0,)), "hidden_sizes"),
        (dict(hidden_sizes="wide"), "hidden_sizes"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(regression_learning_rate=0.0), "regression_learning_rate"),
        (dict(regression_steps=0), "regression_steps"),
        (dict(num_minibatches=0), "num_minibatches"),
        (dict(num_agents=0), "num_agents"),
        (dict(num_episodes=0), "num_episodes"),
        (dict(exploration=1.5), "exploration"),
        (dict(num_agents=10, num_explorers=11), "num_explorers"),
        (dict(estimator="sarsa"), "estimator"),
    ],
)
def test_bad_hyperparameters(kwargs, field):
    with pytest.raises(ValueError, match=field):
        deep_mirror_descent(**kwargs)


def test_bad_game_key_and_minibatches(game):
    solver = deep_mirror_descent(**SMALL)
    with pytest.raises(ValueError, match="key: deep_mirror_descent learns from sampled play"):
        solver.init(game)
    with pytest.raises(ValueError, match="game: deep_mirror_descent .*MeanFieldGame.*got MatrixGame"):
        solver.init(rock_paper_scissors(), jax.random.key(0))
    with pytest.raises(ValueError, match="num_minibatches: expected a divisor of .* = 20, got 3"):
        deep_mirror_descent(num_minibatches=3, **SMALL).init(game, jax.random.key(0))
