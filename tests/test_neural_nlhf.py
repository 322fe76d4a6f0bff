"""Neural NLHF learners on a contextual preference game (solvers/neural/nlhf.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
import solvers
from jaxgames.matrix import cyclic_preferences, preference_game, prisoners_dilemma, random_contextual_preference
from solvers.neural import nlhf

from helpers import forbid_exact_model

STEPS, SAMPLES = 60, 64
SETTINGS = {
    "nash_md": {"beta": 0.02, "step_size": 0.5, "learning_rate": 1e-2},
    "online_ipo": {"beta": 0.05, "learning_rate": 1e-2},
}


def _game():
    return random_contextual_preference(jax.random.key(0), 4, 4)


def _solver(method):
    return nlhf.neural_nlhf(method, hidden_sizes=(32,), num_samples=SAMPLES, **SETTINGS[method])


@pytest.mark.slow
@pytest.mark.parametrize("method", list(SETTINGS))
def test_duality_gap_falls_below_half_of_uniform_on_two_seeds(method):
    game, solver = _game(), _solver(method)
    uniform = float(game.nash_conv(game.uniform_policy()))
    keys = jax.random.split(jax.random.key(1), 2)
    states, traces = jax.vmap(lambda k: solvers.run(solver, game, STEPS, eval_every=STEPS, key=k))(keys)
    assert traces.nash_conv.shape == (2, 1)
    gaps = np.asarray(traces.nash_conv[:, -1])
    assert np.all(gaps < 0.5 * uniform), (gaps, uniform)
    np.testing.assert_array_equal(states.extra.queries, STEPS * SAMPLES)
    policy = solver.output(jax.tree_util.tree_map(lambda x: x[0], states))
    assert policy[0].shape == (4, 4)
    np.testing.assert_allclose(policy[0], policy[1], rtol=1e-6)  # one network plays both sides (float32 rounding)
    np.testing.assert_allclose(np.asarray(policy[0]).sum(-1), 1.0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["egpo", "online_ipo"])
def test_learns_from_the_simulator_only(method):
    """init and a step, un-jitted, with every exact-model method of the game raising."""
    game = _game()
    solver = nlhf.neural_nlhf(method, hidden_sizes=(8,), num_samples=16, beta=0.1, step_size=0.5)
    with forbid_exact_model(game):
        state = solver.init(game, jax.random.key(0))
        state = solver.step(game, state)
    assert int(state.extra.queries) == (32 if method == "egpo" else 16)
    assert not np.allclose(state.policy[0], solver.init(game, jax.random.key(0)).policy[0])


@pytest.mark.slow
def test_a_plain_preference_game_is_one_context():
    """``preference_game(P)`` is learned as ``P[None]``: policies ``([A], [A])``, simulator only."""
    game = preference_game(cyclic_preferences(3))
    solver = nlhf.neural_nlhf("online_ipo", hidden_sizes=(8,), num_samples=16, beta=0.1)
    with forbid_exact_model(game):
        state = solver.step(game, solver.init(game, jax.random.key(0)))
    assert state.policy[0].shape == (3,) and state.policy[1].shape == (3,)
    assert float(jaxgames.exploitability(game, state.policy)) >= 0.0


def test_context_win_rates_are_importance_weighted_per_context():
    queries = nlhf.Queries(
        row=jnp.array([0, 0, 1, 0]),
        y=jnp.array([1, 1, 0, 0]),
        y_prime=jnp.array([0, 0, 0, 0]),
        outcome=jnp.array([1.0, 0.0, 1.0, 1.0]),
    )
    sampling = jnp.array([[0.5, 0.25], [0.5, 0.5], [0.5, 0.5]])
    g = np.asarray(nlhf.estimate_context_win_rates(queries, sampling))
    # context 0: three queries; y=1 twice (+1/2 and -1/2, weight 1/0.25), y=0 once (+1/2, weight 1/0.5)
    np.testing.assert_allclose(g, [[1.0 / 3, 0.0], [1.0, 0.0], [0.0, 0.0]], atol=1e-6)


def test_bad_input_names_the_field():
    game = _game()
    with pytest.raises(ValueError, match="method: expected one of"):
        nlhf.neural_nlhf("dpo")
    for lr in (0.0, -1e-3):
        with pytest.raises(ValueError, match="learning_rate: expected a finite value > 0"):
            nlhf.neural_nlhf("nash_md", learning_rate=lr)
    with pytest.raises(ValueError, match="hidden_sizes"):
        nlhf.neural_nlhf("nash_md", hidden_sizes=(0,))
    with pytest.raises(ValueError, match="beta"):
        nlhf.neural_nlhf("online_ipo", beta=0.0)
    with pytest.raises(ValueError, match="step_size: nash_md takes the explicit step"):
        nlhf.neural_nlhf("nash_md", beta=0.5, step_size=4.0)
    with pytest.raises(ValueError, match="num_samples"):
        nlhf.neural_nlhf("nash_md", num_samples=0)
    solver = nlhf.neural_nlhf("nash_md", hidden_sizes=(8,))
    with pytest.raises(ValueError, match="game: expected a .*preference game"):
        solver.init(prisoners_dilemma(), jax.random.key(0))
    with pytest.raises(ValueError, match="game: neural_nlhf expected a preference game"):
        solver.init(jaxgames.kuhn_poker(), jax.random.key(0))
    with pytest.raises(ValueError, match="key: neural_nlhf learns from sampled play"):
        solver.init(game, None)
    with pytest.raises(ValueError, match="reference: expected shape"):
        nlhf.neural_nlhf("nash_md", reference=jnp.ones(3) / 3).init(game, jax.random.key(0))
