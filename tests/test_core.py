"""The shared game contract: reach-weighted mixing, simplex helpers, uniform policies."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgames import simplex
from jaxgames.core import Game
from solvers.core import averaging_weight


class TwoStepGame(Game):
    """One player: at the root choose L/R; after R, a second decision between a/b/c (c illegal)."""

    num_players = 1

    def legal_mask(self):
        return (jnp.array([[True, True, False], [True, True, True]]),)

    def reach(self, policy):
        root = policy[0][0]
        return (jnp.stack([1.0, root[1]]),)


def test_mix_policies_is_the_sequence_form_mixture():
    game = TwoStepGame()
    p = (jnp.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]),)  # never reaches the second decision
    q = (jnp.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]),)
    mixed = game.mix_policies(p, q, 0.25)[0]
    np.testing.assert_allclose(mixed[0], [0.75, 0.25, 0.0])
    # Only q reaches the second decision point, so the mixture plays exactly like q there.
    np.testing.assert_allclose(mixed[1], q[0][1])
    # When both reach it equally, the mixture is the plain convex combination.
    p2 = (jnp.array([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]]),)
    np.testing.assert_allclose(game.mix_policies(p2, q, 0.25)[0][1], 0.75 * p2[0][1] + 0.25 * q[0][1])


def test_uniform_policy_respects_the_legal_mask():
    u = TwoStepGame().uniform_policy()[0]
    np.testing.assert_allclose(u, [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])


def test_simplex_projection_and_normalization():
    mask = jnp.array([True, True, False, True])
    x = simplex.project(jnp.array([0.5, 2.0, 9.0, -1.0]), mask)
    np.testing.assert_allclose(x, [0.0, 1.0, 0.0, 0.0])
    y = simplex.project(jnp.array([0.3, 0.3, 5.0, 0.1]), mask)
    np.testing.assert_allclose(y, [0.4, 0.4, 0.0, 0.2], atol=1e-6)
    np.testing.assert_allclose(simplex.normalize(jnp.zeros(4), mask), [1 / 3, 1 / 3, 0.0, 1 / 3])
    np.testing.assert_allclose(simplex.masked_softmax(jnp.zeros(4), mask), [1 / 3, 1 / 3, 0.0, 1 / 3])
    # soft_max_value interpolates between the mean under the reference and the max.
    v = jnp.array([1.0, 0.0, 0.0, 0.5])
    ref = simplex.normalize(mask.astype(float), mask)
    assert abs(float(simplex.soft_max_value(v, ref, 1e-4)) - 1.0) < 1e-3
    assert abs(float(simplex.soft_max_value(v, ref, 1e4)) - 0.5) < 1e-3


def test_averaging_weights_reproduce_weighted_means():
    for power in (0, 1, 2):
        avg = 0.0
        xs = np.arange(1.0, 11.0)
        for t, x in enumerate(xs):
            avg += float(averaging_weight(jnp.asarray(t), power)) * (x - avg)
        w = (np.arange(len(xs)) + 1.0) ** power
        assert abs(avg - np.sum(w * xs) / np.sum(w)) < 1e-5


def _reference_projection(v):
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1
    k = np.arange(1, len(v) + 1)
    rho = np.nonzero(u - css / k > 0)[0][-1]
    return np.maximum(v - css[rho] / (rho + 1), 0)


@pytest.mark.slow
def test_projection_matches_the_sorting_algorithm_on_both_code_paths():
    rng = np.random.default_rng(0)
    project = jax.jit(simplex.project)  # one compile per size (the code path depends on the size only)
    for n in (1, 2, 5, 16, 17, 64, 150):  # <= 16: all-pairs path; > 16: Michelot's iteration
        for _ in range(20):
            v = rng.normal(size=n) * rng.choice([0.1, 1.0, 10.0])
            if rng.random() < 0.3:
                v = np.round(v)  # ties
            mask = rng.random(n) < 0.8
            mask[rng.integers(n)] = True
            got = np.asarray(project(jnp.asarray(v, jnp.float32), jnp.asarray(mask)))
            expected = np.zeros(n)
            expected[mask] = _reference_projection(v[mask])
            np.testing.assert_allclose(got, expected, atol=1e-5)


def _hedge_inputs(scale=50.0):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(1), 3)
    p = jax.random.dirichlet(k1, jnp.ones(4), (40, 5)).astype(jnp.float32)
    # exact zeros, numbers far below float32's smallest normal (1.2e-38 after the floor), pure rows
    p = p.at[:5, :, 0].set(0.0).at[5:10, :, 1].set(1e-30).at[10:12].set(jnp.array([1.0, 0.0, 0.0, 0.0]))
    g = scale * jax.random.normal(k2, (40, 5, 4))
    mask = (jax.random.uniform(k3, (40, 5, 4)) > 0.2).at[..., 0].set(True)
    return p, g, mask


@pytest.mark.parametrize("learning_rate", [0.01, 1.0, 3.0])
def test_hedge_step_equals_the_log_form_without_a_log(learning_rate):
    """``hedge_step`` (what ``entropic_step`` runs at temperature 0) against the softmax of
    ``safe_log(p) + eta g`` written out, with zeros, 1e-30, masks and steps up to 150 nats."""
    p, g, mask = _hedge_inputs()
    want = simplex.masked_softmax(simplex.safe_log(p) + learning_rate * g, mask)
    got = simplex.hedge_step(p, g, mask, learning_rate)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    assert np.array_equal(np.asarray(got) == 0, np.asarray(want) == 0)  # the same actions vanish
    np.testing.assert_array_equal(simplex.entropic_step(p, g, mask, learning_rate), got)
    # a magnet or a non-zero (or traced) temperature keeps the log form
    np.testing.assert_allclose(simplex.entropic_step(p, g, mask, learning_rate, 1e-12), want, rtol=2e-5, atol=1e-6)


def test_hedge_step_gradients_equal_the_log_form():
    p, g, mask = _hedge_inputs(scale=1.0)
    w = jax.random.normal(jax.random.PRNGKey(2), p.shape)

    def loss(step):
        return lambda p, g: jnp.sum(w * step(p, g))

    want = jax.grad(loss(lambda p, g: simplex.masked_softmax(simplex.safe_log(p) + 0.3 * g, mask)), (0, 1))(p, g)
    got = jax.grad(loss(lambda p, g: simplex.hedge_step(p, g, mask, 0.3)), (0, 1))(p, g)
    reached = np.asarray(p) > 1e-20  # below, d/dp of the floored log form is 0 in both
    np.testing.assert_allclose(np.where(reached, got[0], 0), np.where(reached, want[0], 0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_hedge_step_reads_the_exponent_of_every_float_width(dtype):
    p, g, mask = _hedge_inputs(scale=5.0)
    p, g = p.astype(dtype), g.astype(dtype)
    got = simplex.hedge_step(p, g, mask, 1.0)
    want = simplex.masked_softmax(simplex.safe_log(p) + g, mask)
    assert got.dtype == p.dtype and np.all(np.isfinite(np.asarray(got, np.float32)))
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(want, np.float32), atol=2e-2)


def test_hedge_step_gradients_stay_finite_at_a_decision_point_without_legal_actions():
    """A row with no legal action (padding) is NaN in both forms; where the caller masks it out,
    the log form's gradient there is 0, and so must be ``hedge_step``'s (it was NaN: 0 * exp(inf))."""
    p = jnp.array([[0.2, 0.3, 0.5], [0.0, 0.0, 0.0]])
    g = jnp.array([[1.0, -2.0, 0.5], [1.0, 1.0, 1.0]])
    mask = jnp.array([[True, True, True], [False, False, False]])
    w = jnp.array([0.3, -1.0, 2.0])

    def loss(step):
        return lambda p, g, eta: jnp.sum(jnp.where(mask.any(-1, keepdims=True), step(p, g, eta), 0.0) * w)

    want = jax.grad(loss(lambda p, g, eta: simplex.masked_softmax(simplex.safe_log(p) + eta * g, mask)), (0, 1, 2))
    got = jax.grad(loss(lambda p, g, eta: simplex.entropic_step(p, g, mask, eta)), (0, 1, 2))
    for a, b in zip(got(p, g, 0.7), want(p, g, 0.7)):
        assert np.all(np.isfinite(np.asarray(a)))
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
