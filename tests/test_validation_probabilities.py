"""One probability check (``validation.check_probabilities``, one ``PROBABILITY_ATOL``) behind every family,
and the trusted constructor ``MarkovGame.from_validated``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
from jaxgames import markov, matrix, validation
from jaxgames.mean_field.game import check_distribution

ATOL = validation.PROBABILITY_ATOL


def _off(n: int, by: float) -> np.ndarray:
    """A vector of ``n`` entries summing to ``1 + by``."""
    x = np.full(n, 1.0 / n)
    x[0] += by
    return x


def _markov_initial(initial):
    P = np.full((3, 2, 2, 3), 1 / 3)
    return markov.MarkovGame(P, np.zeros((2, 3, 2, 2)), 0.9, initial)


def _matrix_policy(p):
    return matrix.zero_sum(np.eye(3)).validate_policy((p, np.ones(3) / 3))


CHECKS = [  # (what the family checks, a callable on a 1-D vector, the field its message names)
    ("policy", _matrix_policy, r"policy\[0\]"),
    ("markov initial", _markov_initial, "initial"),
    ("mean-field distribution", lambda p: check_distribution(p, "initial"), "initial"),
]


@pytest.mark.parametrize("name, check, field", CHECKS, ids=[c[0] for c in CHECKS])
def test_every_family_uses_the_one_tolerance(name, check, field):
    check(_off(3, ATOL / 2))  # inside the tolerance: accepted
    with pytest.raises(ValueError, match=f"^{field}: expected .*summing to 1, found a sum off by"):
        check(_off(3, 2 * ATOL))
    with pytest.raises(ValueError, match=f"^{field}: expected non-negative probabilities"):
        check(np.array([1.0 + 2 * ATOL, -2 * ATOL, 0.0]))
    with pytest.raises(ValueError, match=f"^{field}: expected finite probabilities"):
        check(np.array([np.nan, 0.5, 0.5]))


def test_check_probabilities_rows_mask_and_tracers():
    validation.check_probabilities(np.full((4, 3), 1 / 3), "P", "rows")
    with pytest.raises(ValueError, match="^P: expected rows summing to 1"):
        validation.check_probabilities(np.array([[0.5, 0.5], [0.5, 0.4]]), "P", "rows")
    with pytest.raises(ValueError, match="^pi: puts probability on illegal actions"):
        validation.check_probabilities(np.array([0.5, 0.5]), "pi", mask=np.array([True, False]))
    # traced values cannot be inspected: they pass, and the jitted call runs
    out = jax.jit(lambda p: (validation.check_probabilities(p, "p"), p.sum())[1])(jnp.array([2.0, 3.0]))
    assert float(out) == 5.0


def test_statistics_agree_on_host_and_in_jit():
    p, mask = np.array([[0.7, 0.3, 0.0], [0.2, 0.2, 0.5]]), np.array([[True, True, False]] * 2)
    host = validation.probability_statistics(p, mask)
    dev = jax.jit(lambda q: validation.probability_statistics(q, mask, jnp))(jnp.asarray(p))
    np.testing.assert_allclose(np.asarray(dev), host, atol=1e-6)
    np.testing.assert_allclose(host, [0.0, 0.5, 0.1], atol=1e-12)
    assert validation.probabilities_ok(*host) is False
    assert validation.probabilities_ok(0.0, 0.0, ATOL / 2) is True
    assert validation.probabilities_ok(float("nan"), 0.0, 0.0) is False


def test_from_validated_is_the_checked_game():
    game = markov.random_zero_sum(jax.random.key(0), num_states=5, num_actions=(2, 3))
    trusted = markov.MarkovGame.from_validated(game.transitions, game.rewards, game.discount, game.initial)
    policy = game.uniform_policy()
    np.testing.assert_allclose(trusted.state_values(policy), game.state_values(policy), rtol=1e-6)
    assert (trusted.num_players, trusted.num_actions, trusted.horizon) == (2, (2, 3), None)
    finite = markov.MarkovGame.from_validated(game.transitions, game.rewards, game.discount, game.initial, 4)
    np.testing.assert_allclose(
        finite.state_values(policy),
        markov.MarkovGame(game.transitions, game.rewards, game.discount, game.initial, horizon=4).state_values(policy),
        rtol=1e-6,
    )


def test_stationary_induced_mdp_is_a_validated_markov_game():
    game = jaxgames.mean_field.stationary_game(jaxgames.mean_field.rps_population(horizon=3), discount=0.8)
    mu = jnp.array([0.2, 0.3, 0.5])
    mdp = game.induced_mdp(mu)
    checked = markov.MarkovGame(mdp.transitions, mdp.rewards, mdp.discount, mdp.initial)
    policy = mdp.uniform_policy()
    np.testing.assert_allclose(mdp.state_values(policy), checked.state_values(policy), rtol=1e-6)
    np.testing.assert_allclose(mdp.initial, mu)


def test_sample_payoffs_is_the_shared_draw():
    key = jax.random.key(3)
    uniform = matrix.random.sample_payoffs(key, (1000,), "uniform")
    assert float(uniform.min()) >= -1.0 and float(uniform.max()) <= 1.0
    np.testing.assert_array_equal(
        matrix.random.sample_payoffs(key, (4,), "normal"), matrix.random.sample_payoffs(key, (4,), "gaussian")
    )
    with pytest.raises(ValueError, match="distribution: expected one of"):
        matrix.random.sample_payoffs(key, (2,), "cauchy")
