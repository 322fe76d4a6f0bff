"""Inverse game theory and reward design through ``logit_qre`` (``jaxgames.equilibria.inverse``).

Recovery is tested on synthetic data from a known game's QRE (sampled by NumPy, independent of the
code under test): the fitted parameters lie within a few standard errors of the generating ones
(each entry, and jointly by a chi-square bound), modulo the stated invariances. The temperature
fit of a game whose row player ignores the opponent has a closed-form MLE and standard error; the
prisoner's-dilemma subsidy a closed-form design. Everything runs in float64.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgames
from jaxgames.equilibria import inverse
from jaxgames.equilibria.inverse import (
    center_payoffs,
    design,
    fit,
    fit_payoffs,
    fit_preferences,
    fit_temperature,
    sample_counts,
)
from jaxgames.matrix.game import bimatrix
from jaxgames.matrix.preference import preference_game

#: chi-square(12) and chi-square(3) 99.9% quantiles
CHI2_999 = {12: 32.91, 3: 16.27}


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def multinomial(rng, policy, n):
    return tuple(rng.multinomial(n, np.asarray(p, np.float64) / np.sum(p)).astype(np.float64) for p in policy)


def chi_square(estimate, truth, covariance):
    d = np.ravel(np.asarray(estimate) - np.asarray(truth))
    return float(d @ np.linalg.pinv(covariance, rcond=1e-9, hermitian=True) @ d)


# ------------------------------------------------------------------------------------------ fitting
def test_center_payoffs_is_the_invariance():
    """Adding to a player's payoffs any function of the opponent's action changes no logit
    response (so no QRE), and ``center_payoffs`` maps both games to one representative."""
    rng = np.random.default_rng(1)
    u = rng.normal(size=(2, 3, 4))
    shifted = u.copy()
    shifted[0] += rng.normal(size=(1, 4))  # player 0: a function of the column
    shifted[1] += rng.normal(size=(3, 1))  # player 1: a function of the row
    np.testing.assert_allclose(center_payoffs(u), center_payoffs(shifted), atol=1e-12)
    policy = (jnp.array([0.2, 0.5, 0.3]), jnp.array([0.1, 0.2, 0.3, 0.4]))
    for a, b in zip(
        bimatrix(*u).smooth_best_response(policy, 0.7), bimatrix(*shifted).smooth_best_response(policy, 0.7)
    ):
        np.testing.assert_allclose(a, b, atol=1e-12)
    c = np.asarray(center_payoffs(u))
    np.testing.assert_allclose(c[0].sum(0), 0, atol=1e-12)
    np.testing.assert_allclose(c[1].sum(1), 0, atol=1e-12)
    np.testing.assert_allclose(center_payoffs(c), c, atol=1e-12)  # a projection


def test_fit_payoffs_recovers_a_general_sum_game():
    """3 x 3 general-sum game at four known temperatures, 10^5 actions per player and condition."""
    game = jaxgames.matrix.random_general_sum(jax.random.key(0), (3, 3))
    truth = center_payoffs(game.payoffs)
    temperatures = [0.25, 0.5, 1.0, 2.0]
    ones = [(np.ones(3), np.ones(3))] * 4
    # the generating equilibria: the fit's own solve at the true payoffs, certified independently
    policies = fit_payoffs(ones, temperatures, payoffs0=game.payoffs, max_steps=0).policies
    for policy, tau in zip(policies, temperatures):
        assert float(game.regularized_nash_conv(policy, tau)) < 1e-9
    rng = np.random.default_rng(0)
    counts = [multinomial(rng, p, 100_000) for p in policies]

    result = fit_payoffs(counts, temperatures)
    assert result.converged and result.num_steps < 30
    assert result.num_identified == 12  # 2 players x (3 - 1) x 3 centered payoff differences
    np.testing.assert_allclose(result.params, center_payoffs(result.params), atol=1e-12)
    se = np.asarray(result.standard_errors)
    assert np.all((se > 0.005) & (se < 0.2))
    z = (np.asarray(result.params) - np.asarray(truth)) / se
    assert np.max(np.abs(z)) < 4, z
    assert chi_square(result.params, truth, result.covariance) < CHI2_999[12]
    assert np.all(np.diff(result.losses) < 0) and result.losses[-1] < 1e-5

    # one temperature, four times: the data pin down only sum_i (A_i - 1) = 4 numbers
    same = fit_payoffs(counts, [1.0] * 4, max_steps=10)
    assert same.num_identified == 4


def test_fit_preferences_recovers_a_cyclic_preference_matrix():
    P = np.array([[0.5, 0.8, 0.3], [0.2, 0.5, 0.7], [0.7, 0.3, 0.5]])  # 0 > 1 > 2 > 0
    temperatures = [0.05, 0.1, 0.2]
    ones = [(np.ones(3), np.ones(3))] * 3
    policies = fit_preferences(ones, temperatures, preferences0=P, max_steps=0).policies
    for policy, tau in zip(policies, temperatures):
        assert float(preference_game(P).regularized_nash_conv(policy, tau)) < 1e-9
    rng = np.random.default_rng(2)
    counts = [multinomial(rng, p, 100_000) for p in policies]

    result = fit_preferences(counts, temperatures)
    assert result.converged and result.num_identified == 3
    fitted = np.asarray(result.params)
    np.testing.assert_allclose(fitted + fitted.T, 1.0, atol=1e-12)
    upper = np.triu_indices(3, 1)
    se = np.asarray(result.standard_errors)[upper]
    assert np.all(se > 0) and np.all(se < 0.05)
    z = (fitted[upper] - P[upper]) / se
    assert np.max(np.abs(z)) < 4, z
    index = np.ravel_multi_index(upper, (3, 3))
    assert chi_square(fitted[upper], P[upper], result.covariance[np.ix_(index, index)]) < CHI2_999[3]


def test_fit_temperature_closed_form_and_recovery():
    """The row player's payoffs ignore the column: it plays sigmoid(d / tau), whatever the other
    does, so from its counts alone the MLE is tau = d / logit(n_0 / N), with standard error
    tau^2 / (d sqrt(N p (1 - p)))."""
    d = 1.0
    game = bimatrix(jnp.array([[d, d], [0.0, 0.0]]), jnp.array([[0.0, 1.0], [1.0, 0.0]]))
    counts = (np.array([7000.0, 3000.0]), np.zeros(2))
    result = fit_temperature(game, counts, 0.5)
    p, n = 0.7, 10_000
    tau = d / np.log(p / (1 - p))
    np.testing.assert_allclose(float(result.params), tau, rtol=1e-7)
    np.testing.assert_allclose(float(result.standard_errors), tau**2 / (d * np.sqrt(n * p * (1 - p))), rtol=1e-6)
    assert result.num_identified == 1

    # both players' sampled counts at a known temperature: recovered within sampling error
    policy = fit_temperature(game, counts, 0.8, max_steps=0).policies
    assert float(game.regularized_nash_conv(policy, 0.8)) < 1e-9
    sampled = fit_temperature(game, multinomial(np.random.default_rng(3), policy, 100_000), 0.5)
    assert abs(float(sampled.params) - 0.8) < 4 * float(sampled.standard_errors)
    assert 0 < float(sampled.standard_errors) < 0.05


def test_general_fit_with_an_optax_optimizer():
    """``fit`` with a hand-written model and optax.adam: one unknown payoff of a 2 x 2 game (a
    mismatching game: one QRE, where a coordination game's several QREs would make the MLE
    depend on the branch that the start selects)."""

    def model(a):
        return bimatrix(jnp.array([[a, 0.0], [0.0, 1.0]]), jnp.array([[0.0, 1.0], [1.0, 0.0]]))

    policy = fit(model, 2.0, (np.ones(2), np.ones(2)), temperature=0.5, max_steps=0).policies
    counts = tuple(2000 * np.asarray(p) for p in policy)  # exact frequencies: the MLE is the truth
    scoring = fit(model, 0.5, counts, temperature=0.5)
    np.testing.assert_allclose(float(scoring.params), 2.0, atol=1e-6)
    adam = fit(model, 0.5, counts, temperature=0.5, optimizer=optax.adam(0.1), max_steps=150)
    np.testing.assert_allclose(float(adam.params), 2.0, atol=2e-2)
    assert adam.losses[-1] < 1e-3 * adam.losses[0]


def test_sample_counts_shapes_and_totals():
    policy = (jnp.array([0.2, 0.8]), jnp.full((4, 3, 5), 0.2))
    counts = sample_counts(policy, 1000, seed=0)
    assert [c.shape for c in counts] == [(2,), (4, 3, 5)]
    np.testing.assert_allclose(np.sum(counts[1], -1), 1000)
    assert abs(float(counts[0][0]) - 200) < 60
    np.testing.assert_array_equal(sample_counts(policy, 1000, seed=0)[1], counts[1])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: fit(m, 0.0, (np.ones(3), np.ones(2))), r"counts\[0\]: expected shape \(2,\)"),
        (lambda m: fit(m, 0.0, (-np.ones(2), np.ones(2))), r"counts\[0\]: expected finite non-negative"),
        (lambda m: fit(m, 0.0, (np.zeros(2), np.zeros(2))), "counts: expected at least one"),
        (lambda m: fit(m, 0.0, [(np.ones(2), np.ones(2))] * 3), "counts: expected a tuple of 2"),
        (lambda m: fit(m, 0.0, (np.ones(2), np.ones(2)), temperature=0.0), "temperature"),
        (lambda m: fit(m, 0.0, (np.ones(2), np.ones(2)), temperature=[1.0, 2.0]), "temperature: expected a scalar"),
        (lambda m: fit(m, 0.0, (np.ones(2), np.ones(2)), optimizer="newton"), "optimizer: expected one of"),
        (lambda m: fit(m, 0.0, (np.ones(2), np.ones(2)), qre_options={"method": "path"}), "qre_options"),
        (lambda m: fit(lambda a: a, 0.0, (np.ones(2), np.ones(2))), "model: expected model"),
        (lambda m: design(m, 0.0, lambda a, pi: 0.0, optimizer="fisher"), "optimizer: expected one of"),
        (lambda m: fit_payoffs([(np.ones(2), np.ones(2))] * 2, offsets=[np.zeros((2, 2, 2))]), "offsets: expected"),
        (lambda m: fit_preferences((np.ones(3), np.ones(3)), preferences0=np.eye(3)), "preferences0"),
    ],
)
def test_bad_input_is_named(call, match):
    def model(a):
        return bimatrix(jnp.array([[a, 0.0], [0.0, 1.0]]), jnp.eye(2))

    with pytest.raises(ValueError, match=match):
        call(model)


# ------------------------------------------------------------------------------------------- design
def test_design_prisoners_dilemma_subsidy_closed_form():
    """Subsidize cooperation by s: q_C - q_D = s - 1 - x against cooperation probability x, so the
    symmetric QRE cooperates half the time exactly at s = 1.5 (any temperature)."""
    pd = jnp.array([[3.0, 0.0], [5.0, 1.0]])
    cooperate = jnp.array([[1.0, 1.0], [0.0, 0.0]])

    def model(s):
        row = pd + s * cooperate
        return bimatrix(row, row.T)

    def objective(s, policy):
        return (policy[0][0] - 0.5) ** 2

    result = design(model, 0.0, objective, 1.0)
    assert result.converged
    np.testing.assert_allclose(float(result.params), 1.5, atol=1e-7)
    np.testing.assert_allclose(result.policies[0], [0.5, 0.5], atol=1e-8)
    adam = design(model, 0.0, objective, 1.0, optimizer=optax.adam(0.1), max_steps=100)
    assert abs(float(adam.params) - 1.5) < 2e-2


@pytest.mark.slow
def test_design_crowd_aversion_meets_an_entropy_target():
    """Crowd modelling: the crowd aversion at which the regularized MFE's final-time distribution
    has entropy 2.03 nats (it grows from 1.967 at 0 toward log 8 = 2.079)."""
    from jaxgames.mean_field.crowd_modelling import crowd_modelling

    base = crowd_modelling(size=8, horizon=6, move_cost_model="action")
    tau, target = 0.5, 2.03

    def model(c):
        return base.replace(crowd_aversion=c)

    def entropy(c, policy):
        mu = model(c).mean_field(policy)[-1]
        return -jnp.sum(mu * jnp.log(mu))

    # mirror descent converges on this monotone game: skip the Newton polish (halves compile time)
    options = {"newton_steps": 0, "max_steps": 3000}

    def objective(c, policy):
        return (entropy(c, policy) - target) ** 2

    result = design(model, 1.0, objective, tau, qre_options=options)
    assert result.converged and result.num_steps < 20
    c = float(result.params)
    assert 0.1 < c < 0.6
    # a fresh solve of the designed game: logit_qre from the uniform policy (no warm start), in the
    # program the design compiled; certified by the game's own regularized_nash_conv
    fresh = design(model, c, objective, tau, qre_options=options, max_steps=0).policies
    assert float(jax.jit(lambda c, p: model(c).regularized_nash_conv(p, tau))(c, fresh)) < 1e-9
    assert abs(float(jax.jit(entropy)(c, fresh)) - target) < 1e-7
    np.testing.assert_allclose(fresh[0], result.policies[0], atol=1e-8)


def test_inverse_is_exported():
    from jaxgames import equilibria

    for name in inverse.__all__:
        assert getattr(equilibria, name) is getattr(inverse, name)
