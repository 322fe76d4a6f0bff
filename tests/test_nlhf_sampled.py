"""Sampled-feedback NLHF solvers (solvers/sampled/nlhf.py): simulator, estimator, convergence."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames.markov.classic import iterated_matrix_game
from jaxgames.matrix.game import MatrixGame, bimatrix, zero_sum
from jaxgames.matrix.preference import cyclic_preferences, preference_game, random_intransitive_preferences
from solvers.sampled import nlhf

from helpers import forbid_exact_model

BETA = 0.1
STEPS = 300
SEEDS = 4
FACTORIES = {
    "online_ipo": nlhf.online_ipo,
    "nash_md": nlhf.nash_md,
    "sppo": nlhf.sppo,
    "egpo": nlhf.egpo,
    "nash_mp": nlhf.nash_mp,
}
# Constant steps leave a noise floor proportional to the step; half the defaults (online IPO: the default).
LEARNING_RATE = {"online_ipo": 0.05, "nash_md": 0.25, "sppo": 0.25, "egpo": 0.25, "nash_mp": 0.25}
# A non-uniform reference: with the uniform one the cyclic game's regularized equilibrium is the
# uniform starting policy, and every method would start at gap 0.
REFERENCE = jnp.array([5.0, 4.0, 3.0, 2.0, 1.0]) / 15.0
# Stated tolerance: mean regularized gap after STEPS steps with MANY queries per estimate.
MANY = 256
TOLERANCE = 5e-3
# Few-sample runs (4 queries per estimate) for one learner per estimator: online IPO's own, the
# importance-weighted one (SPPO; Nash-MD shares it), and its extragradient use (EGPO; Nash-MP
# shares it). Each run is one more compiled program, and the file must stay fast.
FEW_SAMPLE_METHODS = ("egpo", "online_ipo", "sppo")
# XLA's CPU backend spends ~1.5 s optimizing each program that draws random numbers (the threefry
# kernels); these are tiny programs whose run time is negligible, so the tests compile them
# unoptimized (2-4x faster to compile) to keep the file fast.
fast_jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})


def _random_game():
    return preference_game(random_intransitive_preferences(jax.random.PRNGKey(3), 5))


def _games():
    """Two 5-response preference games stacked on a leading axis: cyclic, random intransitive."""
    games = [preference_game(cyclic_preferences(5)), _random_game()]
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *games)


def _gap(game, policy):
    return game.regularized_nash_conv(policy, BETA, (REFERENCE, REFERENCE))


@functools.cache
def _final(method: str, num_samples):
    """``(policies [games, seeds, n], gaps [games, seeds], queries)`` after STEPS steps from SEEDS
    keys on both ``_games()``, in one compiled call. The call is traced inside
    ``forbid_exact_model``: init and every step learn from the sampled preferences only (the gaps
    are measured outside)."""
    solver = FACTORIES[method](
        num_samples=num_samples, beta=BETA, learning_rate=LEARNING_RATE[method], reference=REFERENCE
    )
    keys = jax.random.split(jax.random.PRNGKey(7), SEEDS)

    def one(game, key):
        state = solver.init(game, key)
        state = jax.lax.fori_loop(0, STEPS, lambda _, s: solver.step(game, s), state)
        return solver.output(state)[0], state.extra.queries

    games = _games()
    with forbid_exact_model(games):
        policies, queries = fast_jit(jax.vmap(jax.vmap(one, (None, 0)), (0, None)))(games, keys)
    return np.asarray(policies), np.asarray(_gaps(games, policies)), np.asarray(queries)


@fast_jit
def _gaps(games, policies):
    """``[games, seeds]`` regularized gaps of ``policies`` ``[games, seeds, n]``."""
    return jax.vmap(jax.vmap(lambda g, p: _gap(g, (p, p)), (None, 0)), (0, 0))(games, policies)


def test_sample_preferences_draws_bernoulli_outcomes_of_P():
    P = random_intransitive_preferences(jax.random.PRNGKey(0), 4)
    game = preference_game(P)
    y, y_prime = jnp.repeat(jnp.arange(4), 4 * 2000), jnp.tile(jnp.repeat(jnp.arange(4), 2000), 4)
    o = fast_jit(nlhf.sample_preferences)(jax.random.PRNGKey(1), game, y, y_prime)
    assert set(np.unique(np.asarray(o))) <= {0.0, 1.0}
    freq = np.asarray(o).reshape(4, 4, 2000).mean(-1)
    np.testing.assert_allclose(freq, P, atol=4 * 0.5 / np.sqrt(2000))


def test_win_rate_estimate_is_unbiased():
    P = random_intransitive_preferences(jax.random.PRNGKey(0), 4)
    game = preference_game(P)
    policy, opponent = jnp.array([0.7, 0.2, 0.08, 0.02]), jnp.array([0.1, 0.2, 0.3, 0.4])

    @fast_jit
    def estimates(key):
        """20000 independent estimates, each from 8 queries."""
        k_draw, k_pref = jax.random.split(key)
        u = jax.random.uniform(k_draw, (2, 8 * 20000))
        y, y_prime = nlhf.draw_responses(u[0], policy), nlhf.draw_responses(u[1], opponent)
        outcomes = nlhf.sample_preferences(k_pref, game, y, y_prime)
        return jax.vmap(nlhf.estimate_win_rates, (0, 0, None))(y.reshape(20000, 8), outcomes.reshape(20000, 8), policy)

    est = np.asarray(estimates(jax.random.PRNGKey(2)))
    se = est.std(0) / np.sqrt(est.shape[0])
    np.testing.assert_array_less(np.abs(est.mean(0) - (P - 0.5) @ opponent), 4 * se + 1e-6)
    exact = nlhf.exact_win_rates(game, opponent)
    np.testing.assert_allclose(exact, (P - 0.5) @ opponent, atol=1e-6)


def test_exact_steps_follow_the_update_rules():
    """One exact-feedback step of each method from a non-uniform policy, against the module
    docstring's formulas written out in numpy."""
    P = np.asarray(random_intransitive_preferences(jax.random.PRNGKey(3), 5), np.float64)
    game, mu, eta, beta = preference_game(P), np.asarray(REFERENCE, np.float64), 0.4, 0.3
    theta = np.array([0.3, -0.2, 0.5, 0.0, -1.0])

    def normalize(logits):
        return logits - np.log(np.sum(np.exp(logits)))

    def g(x):
        return (P - 0.5) @ x

    def explicit(log_pi, grad):
        return normalize((1 - eta * beta) * log_pi + eta * beta * np.log(mu) + eta * grad)

    def proximal(log_pi, grad):
        return normalize((log_pi + eta * beta * np.log(mu) + eta * grad) / (1 + eta * beta))

    log_pi = normalize(theta)
    pi = np.exp(log_pi)
    mixture = explicit(log_pi, 0.0)
    d = log_pi - np.log(mu)
    expected = {
        "sppo": explicit(log_pi, g(pi)),
        "nash_md": normalize(mixture + eta * g(np.exp(mixture))),
        "egpo": explicit(log_pi, g(np.exp(explicit(log_pi, g(pi))))),
        "nash_mp": proximal(log_pi, g(np.exp(proximal(log_pi, g(pi))))),
        "online_ipo": normalize(theta - eta * 4 * pi * (d - pi @ d - g(pi) / beta)),
    }

    @fast_jit
    def one_step_each(theta):
        out = {}
        for method in expected:
            solver = FACTORIES[method](num_samples=None, beta=beta, learning_rate=eta, reference=REFERENCE)
            state = solver.init(game)
            state = state.replace(extra=state.extra._replace(logits=theta))
            out[method] = solver.step(game, state).extra.logits
        return out

    got = one_step_each(jnp.asarray(theta, jnp.float32))
    for method, want in expected.items():
        np.testing.assert_allclose(got[method], want, atol=2e-5, err_msg=method)


@pytest.mark.slow
def test_one_sampled_online_ipo_step_is_unbiased():
    """Online IPO has its own estimator (both sides of each query). Log-probability differences
    after one step are linear in it, so over many keys they average to the exact-feedback step's."""
    method = "online_ipo"
    game = _random_game()
    sampled = FACTORIES[method](num_samples=4, beta=BETA, reference=REFERENCE)
    exact = FACTORIES[method](num_samples=None, beta=BETA, reference=REFERENCE)
    state = exact.init(game)
    state = exact.step(game, state)  # a non-trivial starting point
    expected = exact.step(game, state).extra.logits

    @fast_jit
    def stepped(keys):
        return jax.vmap(lambda k: sampled.step(game, state.replace(extra=state.extra._replace(key=k))))(
            keys
        ).extra.logits

    logits = np.asarray(stepped(jax.random.split(jax.random.PRNGKey(5), 20000)))
    diffs = logits[:, 1:] - logits[:, :1]
    se = diffs.std(0) / np.sqrt(diffs.shape[0])
    np.testing.assert_array_less(np.abs(diffs.mean(0) - (expected[1:] - expected[0])), 4 * se + 1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(FACTORIES))
def test_learns_only_from_sampled_preferences(method):
    """Init and steps inside ``forbid_exact_model``, un-jitted and in ``_final``'s fresh jit."""
    game = _random_game()
    solver = FACTORIES[method](num_samples=4, beta=BETA)
    with forbid_exact_model(game):
        state = solver.init(game, jax.random.PRNGKey(0))
    assert int(state.extra.queries) == 0
    np.testing.assert_allclose(state.policy[0], 0.2)  # the (uniform) reference
    policies, _, queries = _final(method, MANY)
    assert np.all(queries == STEPS * MANY * nlhf.EVALUATIONS_PER_STEP[method])
    np.testing.assert_allclose(policies.sum(-1), 1.0, atol=1e-5)
    assert np.all(policies >= 0)


def test_key_reproducibility_and_independent_seeds_under_vmap():
    game = _random_game()
    k0, k1 = jax.random.PRNGKey(0), jax.random.PRNGKey(1)
    lrs = jnp.array([0.5, 0.5, 0.5, 0.1])  # traced learning rates: a sweep in the same call
    run = fast_jit(
        jax.vmap(lambda k, lr: solvers.run(nlhf.nash_mp(4, BETA, lr), game, 20, eval_every=20, key=k)[0].policy[0])
    )
    pi = np.asarray(run(jnp.stack([k0, k0, k1, k0]), lrs))
    np.testing.assert_array_equal(pi[0], pi[1])
    assert np.max(np.abs(pi[0] - pi[2])) > 1e-3
    assert np.max(np.abs(pi[0] - pi[3])) > 1e-3


@pytest.mark.parametrize("method", sorted(FACTORIES))
def test_converges_with_many_samples(method):
    """Cyclic and random intransitive 5-response games, 4 seeds: mean gap <= TOLERANCE."""
    initial = np.asarray(_gaps(_games(), jnp.broadcast_to(REFERENCE, (2, 1, 5))))
    _, gaps, _ = _final(method, MANY)
    assert np.all(initial > 0.05)
    assert np.all(gaps.mean(axis=1) < TOLERANCE), gaps


@pytest.mark.parametrize("method", FEW_SAMPLE_METHODS)
def test_more_samples_give_smaller_gaps(method):
    """Constant steps leave a noise floor that shrinks with num_samples: mean gap at 4 vs MANY."""
    _, few, _ = _final(method, 4)
    _, many, _ = _final(method, MANY)
    assert np.all(few.mean(axis=1) > 3 * many.mean(axis=1)), (few.mean(1), many.mean(1))


@pytest.mark.parametrize("method", sorted(FACTORIES))
def test_agrees_with_exact_feedback_in_the_limit(method):
    """``num_samples=None`` is the same update with the exact win rates; the sampled learner's
    policy approaches its policy as num_samples grows."""
    exact_pi, exact_gap, _ = _final(method, None)
    many_pi, _, _ = _final(method, MANY)
    near = np.max(np.abs(many_pi - exact_pi))
    assert near < 0.05, near
    if method in FEW_SAMPLE_METHODS:
        few_pi, _, _ = _final(method, 4)
        assert near < np.max(np.abs(few_pi - exact_pi)) / 3
    assert np.all(exact_gap < 1e-3), exact_gap  # with exact feedback each method (nearly) converges


def test_nash_md_plays_against_the_geometric_mixture():
    """Nash-MD's constant-step fixed point is ``log pi - log mu = g(pi_mu) / beta + c`` with
    ``pi_mu ∝ pi^(1 - eta beta) mu^(eta beta)``: not the regularized equilibrium (an O(eta)
    bias, unlike SPPO's ``g(pi)``), which tells the two opponents apart."""
    pi, gaps, _ = _final("nash_md", None)
    P = np.stack([cyclic_preferences(5), random_intransitive_preferences(jax.random.PRNGKey(3), 5)])
    mix = LEARNING_RATE["nash_md"] * BETA
    log_mu = np.log(np.asarray(REFERENCE))
    mixture = np.exp((1 - mix) * np.log(pi) + mix * log_mu)
    mixture /= mixture.sum(-1, keepdims=True)

    def spread(opponent):  # of log pi - log mu - g(opponent) / beta over responses: 0 at the fixed point
        return np.max(np.ptp(np.log(pi) - log_mu - np.einsum("gij,gsj->gsi", P - 0.5, opponent) / BETA, -1))

    assert spread(mixture) < 1e-2 and spread(mixture) < spread(pi) / 5, (spread(mixture), spread(pi))
    assert np.all(gaps[0] > 1e-5)  # the bias, on the cyclic game


def test_bad_input():
    P = cyclic_preferences(3)
    A = jnp.array([[0.0, 0.3], [-0.3, 0.0]])
    key = jax.random.PRNGKey(0)
    solver = nlhf.sppo(num_samples=4)
    game = preference_game(P)
    with pytest.raises(ValueError, match="key: a sample-based solver needs a PRNG key"):
        solver.init(game)
    not_preference = {
        "general-sum": bimatrix(P - 0.5, P - 0.5),
        "not symmetric": zero_sum(jnp.array([[0.0, 0.3], [0.1, 0.0]])),
        "outside [0, 1]": zero_sum(2.0 * (P - 0.5)),
        "three players": MatrixGame(jnp.zeros((3, 2, 2, 2))),
        "Markov": iterated_matrix_game(A, -A),
    }
    for bad in not_preference.values():
        with pytest.raises(ValueError, match="^game: "):
            solver.init(bad, key)
    bad_hyperparameters = [
        dict(num_samples=0),
        dict(num_samples=2.5),
        dict(num_samples=True),
        dict(beta=-0.1),
        dict(learning_rate=0.0),
        dict(learning_rate=20.0),  # egpo's explicit step: eta beta <= 1
        dict(exploration=1.5),
        dict(reference=jnp.ones(3)),
        dict(reference=(jnp.ones(3) / 3, jnp.array([1.0, 0.0, 0.0]))),
    ]
    for kwargs in bad_hyperparameters:
        (field,) = kwargs
        with pytest.raises(ValueError, match=f"^{field}: "):
            nlhf.egpo(**kwargs)
    with pytest.raises(ValueError, match="^beta: "):
        nlhf.online_ipo(beta=0.0)
    with pytest.raises(ValueError, match="^reference: expected shape"):
        nlhf.nash_md(reference=jnp.ones(4) / 4).init(game, key)
    # Exact feedback draws nothing, so it needs no key.
    nlhf.nash_mp(num_samples=None).init(game)
