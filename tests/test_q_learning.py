"""minimax-Q and decentralized Q-learning (``solvers.sampled.q_learning``) from simulated play.

Games (discount 0.6): a random zero-sum Markov game (4 states, 3 x 3 actions, Dirichlet(1) transitions; learned
with the exact model forbidden, exploitability computed outside) and, from ``classic.py``, the iterated
zero-sum game ``A = [[3, -1], [-2, 1]]`` with memory-one states (5 states, 2 x 2; Shapley value
``(1/7) / (1 - 0.6) = 0.357`` in every state, fully mixed equilibrium ``x = (3/7, 4/7)``; learned through
``jax.vmap(lambda k: solvers.run(solver, game, T, key=k))``). 2,000 steps of 32 environments (64,000
transitions); Shapley's values from ``minimax_value_iteration`` (random game) and in closed form
(iterated game).

Measured (16 seeds: median / max) against the tolerances asserted below:

* minimax-Q, defaults: ``|V - V*|_inf`` 0.008 / 0.021 (random) and 0.000 / 0.000 (iterated, learning
  rate 1 or 0.5); final exploitability 0.002 / 0.006 and 0.000 / 0.000 (uniform policy: 1.09 / 1.25).
* decentralized Q-learning, random game, defaults (temperature 0.1, epsilon 0.02): ``|V - V*|_inf``
  0.097 / 0.105, exploitability 0.047 / 0.070 (smoothed responses keep a temperature-sized gap).
* decentralized Q-learning, iterated game (temperature 0.3, epsilon 0.05, learning rate 0.3 or 0.15;
  the stakes are 2.5x larger there): ``|V - V*|_inf`` 0.18 / 0.33, exploitability 0.23 / 0.35. The
  equilibrium is fully mixed, and the softmax of noisy ``q`` estimates keeps the last iterate noisy:
  the tolerances are loose.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames import markov, matrix
from solvers.sampled.q_learning import MinimaxQState, decentralized_q_learning, minimax_q

from helpers import forbid_exact_model

DISCOUNT = 0.6
STEPS, EVERY, BATCH = 2000, 500, 32
IMP_A = jnp.array([[3.0, -1.0], [-2.0, 1.0]])
#: hyperparameters of decentralized Q-learning on the iterated game (stakes 2.5x the random game's)
IMP_DECENTRALIZED = dict(temperature=0.3, epsilon=0.05)
# These programs run for well under a second; XLA's CPU backend would spend longer optimizing them
# (the threefry kernels of the simulator, the exact best responses) than running them, so the tests
# compile them unoptimized to keep the file fast.
fast_jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})


def _shapley(game):
    """Shapley's values ``[S]``: 100 steps of ``minimax_value_iteration`` (error <= 0.6^100)."""
    mvi = solvers.minimax_value_iteration()
    state = fast_jit(lambda g: jax.lax.fori_loop(0, 100, lambda _, s: mvi.step(g, s), mvi.init(g)))(game)
    return np.asarray(state.extra.values)


@pytest.fixture(scope="module")
def random_game():
    # drawn in NumPy (Dirichlet(1) transitions, uniform rewards): markov.random_zero_sum would compile
    # its generator for these sizes, for nothing the test needs
    rng = np.random.default_rng(0)
    game = markov.zero_sum(
        rng.dirichlet(np.ones(4), size=(4, 3, 3)), rng.uniform(-1.0, 1.0, (4, 3, 3)), DISCOUNT, np.full(4, 0.25)
    )
    return game, _shapley(game)


@pytest.fixture(scope="module")
def iterated_game():
    # every continuation is worth the same, so every state's stage game is A plus a constant:
    # V* = val(A) / (1 - discount), val(A) = 1/7 (tests/test_markov_solvers.py checks Shapley iteration)
    game = markov.iterated_matrix_game(IMP_A, -IMP_A, discount=DISCOUNT)
    return game, np.full(5, (1 / 7) / (1 - DISCOUNT))


def _learn_without_model(solver, game, key):
    """``init`` and ``STEPS`` steps, traced (first called) with every exact-model method raising."""

    def learn(key):
        return jax.lax.fori_loop(0, STEPS, lambda _, s: solver.step(game, s), solver.init(game, key))

    with forbid_exact_model(game):
        state = fast_jit(learn)(key)
    # one step = BATCH simulator transitions (one per environment)
    assert int(np.asarray(state.extra.counts).sum()) == STEPS * BATCH
    return state


_exploitability = fast_jit(lambda game, policy: game.exploitability(policy))


def _value_error(state, v_star):
    """``|V - V*|_inf``; for per-player estimates ``[..., 2, S]`` player 0's ~ V*, player 1's ~ -V*."""
    values = np.asarray(state.extra.values)
    if isinstance(state.extra, MinimaxQState):
        return np.abs(values - v_star).max(-1)
    return np.maximum(np.abs(values[..., 0, :] - v_star).max(-1), np.abs(values[..., 1, :] + v_star).max(-1))


@pytest.mark.slow
@pytest.mark.parametrize("make, v_tol, expl_tol", [(minimax_q, 0.05, 0.02), (decentralized_q_learning, 0.15, 0.12)])
def test_random_game_learned_without_the_model(random_game, make, v_tol, expl_tol):
    game, v_star = random_game
    solver = make(batch_size=BATCH)
    state = _learn_without_model(solver, game, jax.random.key(1))
    expl, uniform = (float(_exploitability(game, p)) for p in (solver.output(state), game.uniform_policy()))
    assert _value_error(state, v_star) < v_tol, (state.extra.values, v_star)
    assert expl < expl_tol and expl < uniform / 5, (expl, uniform)


@pytest.mark.slow
@pytest.mark.parametrize(
    "make, rate, hyper, v_tol, expl_tol",
    [
        (minimax_q, 1.0, {}, 0.02, 0.01),
        (decentralized_q_learning, 0.3, IMP_DECENTRALIZED, 0.4, 0.6),
    ],
)
def test_classic_game_run_vmapped_over_seeds_and_learning_rates(iterated_game, make, rate, hyper, v_tol, expl_tol):
    """``solvers.run`` under ``jax.vmap`` over (key, learning rate): the same key gives the same run,
    another key or learning rate (traced) another; every seed reaches Shapley's values and the
    exploitability falls from the uniform policy's 1.25."""
    game, v_star = iterated_game
    k0, k1 = jax.random.split(jax.random.key(2))
    keys, rates = jnp.stack([k0, k1, k0, k0]), rate * jnp.array([1.0, 1.0, 1.0, 0.5])
    state, trace = fast_jit(
        jax.vmap(
            lambda k, lr: solvers.run(
                make(batch_size=BATCH, learning_rate=lr, **hyper), game, STEPS, eval_every=EVERY, key=k
            )
        )
    )(keys, rates)
    q = np.asarray(jax.tree_util.tree_leaves(state.extra.q)[0])
    np.testing.assert_array_equal(q[2], q[0])
    assert np.abs(q[0] - q[1]).max() > 0 and np.abs(q[0] - q[3]).max() > 0
    err = _value_error(state, v_star)
    expl = np.asarray(trace.exploitability)
    assert expl.shape == (4, STEPS // EVERY)
    assert err.max() < v_tol, (err, v_star)
    assert expl[:, -1].max() < expl_tol, expl


@pytest.mark.slow
def test_decentralized_runs_on_general_sum_games():
    """Three players, general-sum: no guarantee, but the updates run on each player's own reward."""
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(2), size=(2, 2, 3, 2))
    game = markov.MarkovGame(P, rng.uniform(-1, 1, (3, 2, 2, 3, 2)), 0.5, np.array([0.5, 0.5]))
    solver = decentralized_q_learning(batch_size=8)
    with forbid_exact_model(game):
        state = fast_jit(lambda k: jax.lax.fori_loop(0, 20, lambda _, s: solver.step(game, s), solver.init(game, k)))(
            jax.random.key(0)
        )
    for p, a in zip(solver.output(state), (2, 3, 2)):
        assert p.shape == (2, a)
        np.testing.assert_allclose(np.asarray(p).sum(-1), 1.0, atol=1e-5)
    assert state.extra.values.shape == (3, 2) and int(state.extra.counts.sum()) == 20 * 8


def test_bad_input():
    key = jax.random.key(0)
    P = np.full((2, 2, 2, 2), 0.5)
    R = np.array([[[1.0, -1.0], [0.0, 2.0]], [[0.5, 0.0], [-1.0, 1.0]]])
    zs = markov.zero_sum(P, R, 0.9, np.array([1.0, 0.0]))
    for make in (minimax_q, decentralized_q_learning):
        with pytest.raises(ValueError, match="batch_size: expected an integer >= 1"):
            make(batch_size=0)
        for eps in (-0.1, 1.5):
            with pytest.raises(ValueError, match=r"epsilon: expected a value in \[0.0, 1.0\]"):
                make(epsilon=eps)
        with pytest.raises(ValueError, match=r"reset_probability: expected a value in \[0.0, 1.0\]"):
            make(reset_probability=2.0)
        with pytest.raises(ValueError, match="learning_rate: expected a value > 0"):
            make(learning_rate=0.0)
        with pytest.raises(ValueError, match="key: a sample-based solver needs a PRNG key"):
            make().init(zs, None)
        with pytest.raises(ValueError, match="needs a Markov game"):
            make().init(matrix.matching_pennies(), key)
        with pytest.raises(ValueError, match="expected horizon=None"):
            make().init(markov.zero_sum(P, R, 0.9, np.array([1.0, 0.0]), horizon=3), key)
    three = markov.MarkovGame(np.full((2, 2, 2, 2, 2), 0.5), np.zeros((3, 2, 2, 2, 2)), 0.9, np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="minimax_q expects a 2-player game"):
        minimax_q().init(three, key)
    general = markov.MarkovGame(P, np.stack([R, R]), 0.9, np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="minimax_q expects a zero-sum game"):
        minimax_q().init(general, key)
    with pytest.raises(ValueError, match="stage_solver: expected one of"):
        minimax_q(stage_solver="lp")
    with pytest.raises(ValueError, match="temperature: expected a value > 0"):
        decentralized_q_learning(temperature=0.0)
    with pytest.raises(ValueError, match="value_power: expected a value > learning_rate_power"):
        decentralized_q_learning(learning_rate_power=0.8, value_power=0.8)
