"""No-regret dynamics (``solvers.no_regret``): the gap of the empirical joint play is the players'
average regret, exactly, and stays under the regret bound at every step."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgames import markov
from jaxgames.general_sum import cce_gap, ce_gap, product_joint
from jaxgames.matrix import MatrixGame
from jaxgames.matrix.zoo import chicken, shapley_game
from solvers import no_regret as nr
from solvers.core import run

STEPS = 300


def _bound(name, T, A, spread):
    """The regret bound of ``name`` after ``T`` rounds, divided by ``T`` (module docstring)."""
    log = np.log(A)
    if name == "cce_regret_matching":
        return spread * np.sqrt(A / T)
    if name == "cce_hedge":
        return spread * (np.sqrt(2 * log / T) + np.sqrt(log / 8) / T)
    if name == "cce_optimistic_hedge":  # ln A / eta_T + sum_t eta_t spread^2 / 2 with the anytime eta_t
        return spread * (np.sqrt(log / (8 * T)) + np.sqrt(8 * log / T))
    if name == "ce_regret_matching":
        return spread * np.sqrt(A * (A - 1) / T)
    if name == "blum_mansour":
        return A * spread * (np.sqrt(2 * log / T) + np.sqrt(log / 8) / T)
    raise AssertionError(name)


@pytest.fixture(scope="module")
def game():
    return MatrixGame(jax.random.normal(jax.random.key(3), (3, 3, 3, 3)))


@pytest.mark.parametrize(
    "name", ["cce_regret_matching", "cce_hedge", "cce_optimistic_hedge", "ce_regret_matching", "blum_mansour"]
)
def test_gap_of_joint_play_is_the_average_regret_and_under_the_bound(game, name):
    solver = getattr(nr, name)()
    state, trace = run(solver, game, STEPS, eval_every=1)
    internal = name in ("ce_regret_matching", "blum_mansour")
    gap, regrets = (ce_gap, nr.average_swap_regrets) if internal else (cce_gap, nr.average_external_regrets)
    gaps = np.asarray(trace.exploitability)
    steps = np.asarray(trace.step)
    # the recorded metric is the gap of the tracked joint, which is the largest average regret
    np.testing.assert_allclose(gaps[-1], gap(game, state.extra.joint), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gaps[-1], max(0.0, float(jnp.max(regrets(state)))), rtol=1e-4, atol=1e-5)
    # the regret bound, at every step
    spread = float(state.extra.spread)
    assert np.all(gaps <= _bound(name, steps, 3, spread) + 1e-5)
    assert gaps[-1] < 0.5 * gaps[0]  # and it falls
    # output: the marginals of the joint
    joint = np.asarray(state.extra.joint)
    np.testing.assert_allclose(joint.sum(), 1.0, atol=1e-5)
    np.testing.assert_allclose(state.average[1], joint.sum(axis=(0, 2)), atol=1e-5)
    if internal:
        assert float(ce_gap(game, state.extra.joint)) >= float(cce_gap(game, state.extra.joint)) - 1e-6


def test_internal_regret_dynamics_correlate_play_on_shapleys_game():
    """Shapley's game has one Nash equilibrium (uniform, the product puts 1/3 on the diagonal); the
    joint play of conditional regret matching approaches a CE that is correlated, far from it."""
    game = shapley_game()
    state, trace = run(nr.ce_regret_matching(), game, 400, eval_every=100, key=jax.random.key(0))
    gaps = np.asarray(trace.exploitability)
    assert gaps[-1] < 0.03
    assert np.all(np.diff(gaps) < 0)
    np.testing.assert_allclose(gaps[-1], np.max(np.asarray(nr.average_swap_regrets(state))), atol=1e-5)
    joint = np.asarray(state.extra.joint)
    assert np.trace(joint) < 0.1
    assert np.abs(joint - np.asarray(product_joint(state.average))).max() > 0.05


def test_constant_learning_rates_and_vmap(game):
    """A constant eta, traced under vmap: the constant-rate regret bound ln A / eta + eta T spread^2 / 8."""
    etas = jnp.array([0.05, 0.2])

    @jax.jit
    @jax.vmap
    def final(eta):
        state, trace = run(nr.cce_hedge(eta), game, 200, eval_every=200, warn=False)
        return trace.exploitability[-1], state.extra.spread

    gaps, spread = (np.asarray(x) for x in final(etas))
    bound = np.log(3) / (np.asarray(etas) * 200) + np.asarray(etas) * spread**2 / 8
    assert np.all(gaps <= bound + 1e-5)


def test_bad_input_is_refused():
    mg = markov.random_general_sum(jax.random.key(0), num_states=2, num_actions=2)
    with pytest.raises(ValueError, match="game: solvers.ce_regret_matching needs a jaxgames.matrix.MatrixGame"):
        nr.ce_regret_matching().init(mg)
    with pytest.raises(ValueError, match="learning_rate: expected a finite value > 0"):
        nr.cce_hedge(0.0)
    with pytest.raises(ValueError, match="learning_rate"):
        nr.blum_mansour(-1.0)


def test_stationary_distribution():
    Q = jnp.array([[0.5, 0.5, 0.0], [0.25, 0.75, 0.0], [0.0, 0.0, 1.0]])  # two closed classes
    x = nr.stationary_distribution(Q)
    assert np.all(np.asarray(x) >= 0)
    np.testing.assert_allclose(x @ Q, x, atol=1e-5)
    np.testing.assert_allclose(jnp.sum(x), 1.0, atol=1e-6)
    P = jnp.array([[0.9, 0.1], [0.3, 0.7]])
    np.testing.assert_allclose(nr.stationary_distribution(P), [0.75, 0.25], atol=1e-5)


def test_a_rising_gap_is_not_divergence():
    """Blum-Mansour's CE gap on chicken rises early from this start (within its regret bound): the
    run flags only a non-finite metric, and warns of nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        _, trace = run(nr.blum_mansour(), chicken(), 200, eval_every=50, key=jax.random.key(0))
    gaps = np.asarray(trace.exploitability)
    assert gaps[-1] > gaps[0]
    assert not np.any(np.asarray(trace.diverged))
