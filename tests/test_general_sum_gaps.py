"""CCE / CE gaps (``jaxgames.general_sum.gaps``) against brute force over every deviation."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgames import markov
from jaxgames.general_sum import (
    cce_gap,
    cce_gaps,
    ce_gap,
    ce_gaps,
    joint_values,
    per_recommendation_violation,
    product_joint,
)
from jaxgames.matrix import MatrixGame
from jaxgames.matrix.zoo import battle_of_the_sexes, chicken, coordination, matching_pennies

TOL = 2e-4


def _random_joint(rng, shape):
    p = rng.exponential(size=shape)
    return p / p.sum()


# -- brute force (numpy) -------------------------------------------------------------------------
def _brute_matrix(payoffs, joint):
    """Per player: (best fixed-deviation gain, best swap gain, largest single-constraint violation)."""
    n, shape = payoffs.shape[0], payoffs.shape[1:]
    out = []
    for i in range(n):
        a_i = shape[i]

        def gain(phi, i=i):
            total = 0.0
            for a in itertools.product(*map(range, shape)):
                dev = list(a)
                dev[i] = phi[a[i]]
                total += joint[a] * (payoffs[(i, *dev)] - payoffs[(i, *a)])
            return total

        cce = max(gain([k] * a_i) for k in range(a_i))
        ce = max(gain(phi) for phi in itertools.product(range(a_i), repeat=a_i))
        single = max(gain([k if r == rec else r for r in range(a_i)]) for rec in range(a_i) for k in range(a_i))
        out.append((cce, ce, single))
    return np.array(out)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2), (2, 2, 2, 2)])
def test_matrix_gaps_equal_brute_force(shape):
    rng = np.random.default_rng(len(shape))
    payoffs = rng.normal(size=(len(shape), *shape))
    joint = _random_joint(rng, shape)
    game = MatrixGame(payoffs)
    brute = _brute_matrix(payoffs, joint)
    np.testing.assert_allclose(cce_gaps(game, joint), np.maximum(brute[:, 0], 0), atol=TOL)
    np.testing.assert_allclose(ce_gaps(game, joint), brute[:, 1], atol=TOL)
    np.testing.assert_allclose(per_recommendation_violation(game, joint), brute[:, 2], atol=TOL)
    np.testing.assert_allclose(cce_gap(game, joint), max(0.0, brute[:, 0].max()), atol=TOL)
    np.testing.assert_allclose(ce_gap(game, joint), brute[:, 1].max(), atol=TOL)
    values = [np.sum(joint * payoffs[i]) for i in range(len(shape))]
    np.testing.assert_allclose(joint_values(game, joint), values, atol=TOL)


def _mixed_2x2(A, B):
    """The interior mixed equilibrium of a 2x2 bimatrix game in closed form (indifference)."""
    q = (A[1, 1] - A[0, 1]) / (A[0, 0] - A[0, 1] - A[1, 0] + A[1, 1])  # column's weight on action 0
    p = (B[1, 1] - B[1, 0]) / (B[0, 0] - B[1, 0] - B[0, 1] + B[1, 1])  # row's weight on action 0
    return jnp.array([p, 1 - p]), jnp.array([q, 1 - q])


def test_products_of_nash_equilibria_have_zero_gaps():
    pure = jnp.array([[1.0, 0.0], [0.0, 0.0]])  # both coordinate on action 0
    three = np.zeros((3, 2, 2, 2))
    three[:, 0, 0, 0] = three[:, 1, 1, 1] = 1.0  # 3-player coordination; (1, 1, 1) is a pure Nash
    cases = [(coordination(), pure), (MatrixGame(three), jnp.zeros((2, 2, 2)).at[1, 1, 1].set(1.0))]
    cases.append((matching_pennies(), product_joint((jnp.full(2, 0.5), jnp.full(2, 0.5)))))
    for game in (chicken(), battle_of_the_sexes()):
        A, B = np.asarray(game.payoffs)
        cases.append((game, product_joint(_mixed_2x2(A, B))))
    bos = product_joint(_mixed_2x2(*np.asarray(battle_of_the_sexes().payoffs)))
    np.testing.assert_allclose(bos, np.outer([0.6, 0.4], [0.4, 0.6]), atol=1e-6)
    for game, joint in cases:
        assert float(cce_gap(game, joint)) < 1e-6
        assert float(ce_gap(game, joint)) < 1e-6
    # and a product that is not an equilibrium: the CCE gains are the best-response gains
    x = (jnp.array([0.2, 0.8]), jnp.array([0.7, 0.3]))
    game = chicken()
    gains = game.best_response_values(x) - game.evaluate(x).values
    np.testing.assert_allclose(cce_gaps(game, product_joint(x)), gains, atol=1e-6)


def test_chicken_known_values():
    game = chicken()  # (dare, chicken)
    aumann = jnp.array([[0.0, 1 / 3], [1 / 3, 1 / 3]])
    assert float(ce_gap(game, aumann)) < 1e-6
    assert float(cce_gap(game, aumann)) < 1e-6
    np.testing.assert_allclose(joint_values(game, aumann), [8 / 3, 8 / 3], atol=1e-6)
    # half (dare, dare), half (chicken, chicken): after "chicken" daring gains 4 - 3, after "dare"
    # chickening gains 1 - 0, each with probability 1/2: swap gain 1.0; a fixed deviation 2 - 1.5 = 0.5
    bad = jnp.array([[0.5, 0.0], [0.0, 0.5]])
    np.testing.assert_allclose(ce_gaps(game, bad), [1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(cce_gaps(game, bad), [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(per_recommendation_violation(game, bad), [0.5, 0.5], atol=1e-6)


def test_ce_gap_dominates_cce_gap_batched_under_jit():
    """vmap over 64 random 3-player 3x2x3 games and joints, under jit: per_rec <= CE <= A_i per_rec, CE >= CCE."""
    k1, k2 = jax.random.split(jax.random.key(0))
    payoffs = jax.random.normal(k1, (64, 3, 3, 2, 3))
    joints = jax.random.dirichlet(k2, jnp.full(18, 0.3), (64,)).reshape(64, 3, 2, 3)

    @jax.jit
    @jax.vmap
    def gaps(p, j):
        g = MatrixGame(p)
        return cce_gaps(g, j), ce_gaps(g, j), per_recommendation_violation(g, j)

    cce, ce, single = (np.asarray(x) for x in gaps(payoffs, joints))
    assert np.all(ce >= cce - 1e-5)
    assert np.all(single <= ce + 1e-5)
    assert np.all(ce <= np.array([3, 2, 3]) * single + 1e-5)
    np.testing.assert_allclose(ce[5], np.asarray(ce_gaps(MatrixGame(payoffs[5]), joints[5])), atol=1e-5)


def test_bad_joint_is_refused():
    game = chicken()
    with pytest.raises(ValueError, match=r"joint: expected shape \[A_1, ..., A_N\] = \(2, 2\)"):
        ce_gap(game, jnp.full((2, 3), 1 / 6))
    with pytest.raises(ValueError, match="joint: expected a distribution over joint actions summing to 1"):
        cce_gap(game, jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="joint: expected non-negative"):
        cce_gap(game, jnp.array([[1.5, -0.5], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="joint: expected finite"):
        cce_gap(game, jnp.array([[np.nan, 0.5], [0.25, 0.25]]))
    with pytest.raises(ValueError, match="game: expected a jaxgames.matrix.MatrixGame or"):
        cce_gap(object(), jnp.ones((2, 2)) / 4)
    mg = markov.random_general_sum(jax.random.key(0), num_states=2, num_actions=2)
    with pytest.raises(ValueError, match=r"joint: expected shape \[S, A_1, ..., A_N\]"):
        ce_gap(mg, jnp.full((2, 2), 0.25))
    with pytest.raises(ValueError, match="joint: expected a distribution over joint actions in every state"):
        ce_gap(mg, jnp.full((2, 2, 2), 0.25).at[1].set(0.5))
    # traced values are not inspected
    assert np.isfinite(jax.jit(cce_gap)(game, jnp.ones((2, 2))))


# -- Markov games --------------------------------------------------------------------------------
def _markov_brute(P, R, gamma, joint, horizon=None):
    """Per player and state: the best deterministic (CCE, CE) deviation's gain, by enumeration of
    every stationary deviation (every per-step one with a horizon)."""
    n, S = R.shape[0], R.shape[1]
    shape = R.shape[2:]
    joints = list(itertools.product(*map(range, shape)))

    def chain(i, rule):  # rule(s, rec) -> the deviator's action
        Pd, rd = np.zeros((S, S)), np.zeros(S)
        for s in range(S):
            for a in joints:
                dev = list(a)
                dev[i] = rule(s, a[i])
                Pd[s] += joint[(s, *a)] * P[(s, *dev)]
                rd[s] += joint[(s, *a)] * R[(i, s, *dev)]
        return Pd, rd

    def value(i, rules):  # rules: one per step (horizon) or one (stationary)
        if horizon is None:
            Pd, rd = chain(i, rules[0])
            return np.linalg.solve(np.eye(S) - gamma * Pd, rd)
        v = np.zeros(S)
        for rule in reversed(rules):  # rules[0] acts first
            Pd, rd = chain(i, rule)
            v = rd + gamma * Pd @ v
        return v

    out = np.zeros((2, n, S))
    steps = 1 if horizon is None else horizon
    for i in range(n):
        a_i = shape[i]
        base = value(i, [lambda s, r: r] * steps)
        fixed = [lambda s, r, t=t: t[s] for t in itertools.product(range(a_i), repeat=S)]
        swaps = [lambda s, r, t=t: t[s * a_i + r] for t in itertools.product(range(a_i), repeat=S * a_i)]
        for k, rules in enumerate((fixed, swaps)):
            best = np.max([value(i, list(seq)) for seq in itertools.product(rules, repeat=steps)], axis=0)
            out[k, i] = best - base
    return np.maximum(out, 0.0)


# one compiled program per game shape, shared by the tests below
_markov_gaps = jax.jit(lambda game, joint: (cce_gaps(game, joint), ce_gaps(game, joint), joint_values(game, joint)))


def _random_markov(rng, actions, S=2):
    P = rng.exponential(size=(S, *actions, S)) ** 3
    P /= P.sum(-1, keepdims=True)
    R = rng.normal(size=(len(actions), S, *actions))
    joint = rng.exponential(size=(S, *actions))
    joint /= joint.reshape(S, -1).sum(1).reshape(S, *([1] * len(actions)))
    return P, R, joint


@pytest.mark.parametrize("actions,horizon", [((2, 2), None), ((2, 2, 2), None), ((2, 2), 2)])
def test_markov_gaps_equal_brute_force(actions, horizon):
    rng = np.random.default_rng(len(actions) + (horizon or 0))
    P, R, joint = _random_markov(rng, actions)
    gamma = 0.9
    game = markov.MarkovGame(P, R, gamma, np.full(2, 0.5), horizon=horizon)
    brute = _markov_brute(P, R, gamma, joint, horizon)
    cce, ce, _ = _markov_gaps(game, joint)
    np.testing.assert_allclose(cce, brute[0], atol=1e-3)
    np.testing.assert_allclose(ce, brute[1], atol=1e-3)
    assert np.all(brute[1] >= brute[0] - 1e-9)
    assert np.max(brute[0]) > 0.05  # not a trivial case
    # independent play: one's own recommendation tells nothing about the others', so a swap gains
    # no more than a fixed deviation
    pi = tuple(np.sum(joint, axis=tuple(1 + j for j in range(len(actions)) if j != i)) for i in range(len(actions)))
    cce, ce, _ = _markov_gaps(game, product_joint(pi))
    np.testing.assert_allclose(ce, cce, atol=1e-4)
    assert np.max(cce) > 0.01


def test_markov_undiscounted_is_the_matrix_game_of_each_state():
    """With discount 0 the gaps in state ``s`` are those of the stage game ``rewards[:, s]`` under
    ``joint[s]`` (the same compiled program as the brute-force test: the discount is data)."""
    rng = np.random.default_rng(7)
    P, R, joint = _random_markov(rng, (2, 2, 2))
    cce, ce, values = _markov_gaps(markov.MarkovGame(P, R, 0.0, np.full(2, 0.5)), joint)
    for s in range(2):
        stage = MatrixGame(R[:, s])
        np.testing.assert_allclose(cce[:, s], cce_gaps(stage, joint[s]), atol=1e-5)
        np.testing.assert_allclose(ce[:, s], ce_gaps(stage, joint[s]), atol=1e-5)
        np.testing.assert_allclose(values[:, s], joint_values(stage, joint[s]), atol=1e-5)


def test_markov_product_cce_gains_are_best_response_gains_and_vmap():
    """Against a product policy the fixed deviation is a best response: the game's own machinery."""
    games = jax.vmap(lambda k: markov.random_general_sum(k, num_states=2, num_actions=(2, 3)))(
        jax.random.split(jax.random.key(1), 3)
    )
    keys = jax.random.split(jax.random.key(2), 3)

    @jax.jit
    @jax.vmap
    def check(game, key):
        k1, k2 = jax.random.split(key)
        pi = (jax.random.dirichlet(k1, jnp.ones(2), (2,)), jax.random.dirichlet(k2, jnp.ones(3), (2,)))
        gains = game.best_response_state_values(pi) - game.state_values(pi)
        return cce_gaps(game, product_joint(pi)), gains

    cce, gains = (np.asarray(x) for x in check(games, keys))
    np.testing.assert_allclose(cce, gains, atol=1e-4)
