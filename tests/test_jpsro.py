"""JPSRO (solvers/jpsro.py): the best response to a correlated distribution over the other players'
policies equals a brute force over pure policies, the contraction over profiles equals the explicit sum,
the gaps of a point mass are the players' best-response gains, the CCE and CE gaps fall on Kuhn poker
with two and three players, on a Markov game the gaps equal those of the brute-force normal-form game
over deterministic stationary policies (and JPSRO reaches its CCE), and bad input is refused. Small
populations and few steps."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
import solvers
from jaxgames import markov
from jaxgames.efg.sequence import sequence_form, sequence_values
from solvers.jpsro import correlated_best_response, correlated_sequence_values, member_plans, population_gaps


def random_population(game, key, size):
    keys = jax.random.split(key, game.num_players)
    return tuple(
        jax.nn.softmax(3.0 * jax.random.normal(k, (size, *m.shape)), axis=-1) * m / 1.0
        for k, m in zip(keys, game.legal_mask())
    )


def normalize(population, game):
    out = []
    for pop, m in zip(population, game.legal_mask()):
        pop = jnp.where(m, pop, 0.0)
        out.append(pop / jnp.sum(pop, axis=-1, keepdims=True))
    return tuple(out)


@pytest.fixture(scope="module")
def kuhn2():
    return jaxgames.kuhn_poker()


@pytest.fixture(scope="module")
def kuhn3():
    return jaxgames.kuhn_poker(num_players=3)


def test_correlated_best_response_equals_brute_force_over_pure_policies(kuhn2):
    """Two-player Kuhn poker: 64 pure policies per player, against a mixture of 3 opponent policies."""
    game, size = kuhn2, 3
    population = normalize(random_population(game, jax.random.key(0), size), game)
    weights = jax.random.dirichlet(jax.random.key(1), jnp.ones(size))
    pure = jnp.asarray(list(itertools.product(range(2), repeat=game.legal_mask()[0].shape[0])))
    pure = jax.nn.one_hot(pure, 2)  # [64, n_I, A]: every pure policy (every Kuhn infoset has both actions)

    @jax.jit
    def check(game, population, weights):
        plans = member_plans(game, population)
        out = []
        for i in range(2):

            def value(pi, k, i=i):
                profile = tuple(pi if j == i else population[j][k] for j in range(2))
                return game.evaluate(profile).values[i]

            mixed = lambda pi, i=i: jax.vmap(lambda k: value(pi, k, i))(jnp.arange(size)) @ weights
            br, best = correlated_best_response(game, i, plans, weights)
            out.append((jnp.max(jax.vmap(mixed)(pure)), best, mixed(br)))
        return out

    for brute, best, achieved in check(game, population, weights):
        np.testing.assert_allclose(best, brute, rtol=1e-5)
        np.testing.assert_allclose(achieved, best, rtol=1e-5)


@pytest.mark.slow
def test_three_player_contraction_equals_the_sum_over_profiles(kuhn3):
    game, size = kuhn3, 2
    population = normalize(random_population(game, jax.random.key(2), size), game)
    plans = member_plans(game, population)
    weights = jax.random.dirichlet(jax.random.key(3), jnp.ones(size * size)).reshape(size, size)
    sf = sequence_form(game.tree)
    for i in range(3):
        others = [j for j in range(3) if j != i]
        explicit = 0.0
        for a, b in itertools.product(range(size), repeat=2):
            profile = [None] * 3
            profile[others[0]], profile[others[1]] = plans[others[0]][a], plans[others[1]][b]
            profile[i] = plans[i][0]
            explicit = explicit + weights[a, b] * sequence_values(sf, i, profile, game.terminal_weights[i])
        np.testing.assert_allclose(correlated_sequence_values(game, i, plans, weights), explicit, atol=1e-6)


@pytest.mark.slow
def test_gaps_of_a_point_mass_are_the_best_response_gains(kuhn3):
    """A joint on one profile: CCE gap = CE gap = the largest ``BR value - value`` over the players."""
    game, size = kuhn3, 2
    population = normalize(random_population(game, jax.random.key(4), size), game)
    profile = tuple(pop[1] for pop in population)
    values = game.evaluate(profile).values
    meta = jnp.zeros((3, size, size, size)).at[:, 1, 1, 1].set(values)
    joint = jnp.zeros((size, size, size)).at[1, 1, 1].set(1.0)
    gaps = jax.jit(lambda g, *a: population_gaps(g, *a)[0])(game, population, meta, joint)
    expected = jnp.max(game.best_response_values(profile) - values)
    np.testing.assert_allclose(gaps, [expected, expected], rtol=1e-5)
    assert expected > 0.05


def test_bad_input():
    with pytest.raises(ValueError, match="kind"):
        solvers.jpsro(kind="nash")
    with pytest.raises(ValueError, match="objective"):
        solvers.jpsro(objective="utilitarian")
    with pytest.raises(ValueError, match="max_policies"):
        solvers.jpsro(max_policies=1)
    with pytest.raises(ValueError, match="tol"):
        solvers.jpsro(tol=0.0)
    with pytest.raises(ValueError, match="max_deviations"):
        solvers.jpsro(max_deviations=0)
    with pytest.raises(ValueError, match="max_deviations: JPSRO on a Markov game enumerates"):
        solvers.jpsro(max_deviations=4).init(markov.random_zero_sum(jax.random.key(0), 3, 2))  # 2^3 policies
    with pytest.raises(ValueError, match="game: JPSRO runs on extensive-form games"):
        solvers.jpsro().init(jaxgames.matrix.chicken())


def test_two_player_kuhn_cce_jpsro_reaches_a_nash_equilibrium():
    """Two-player zero-sum: the marginals of a CCE are a Nash equilibrium, and with an exact oracle JPSRO
    is a double oracle that stops at one; on Kuhn poker the CCE gap is 0 after 6 steps (measured: 0.5,
    0.33, 0.17, 0.17, 0.064, 0)."""
    with jax.enable_x64(True):
        game = jaxgames.kuhn_poker()
        solver = solvers.jpsro(kind="cce", max_policies=7)
        state, trace = solvers.run(solver, game, 6, eval_every=1)
        assert float(trace.exploitability[0]) > 0.3
        assert float(trace.exploitability[-1]) <= 1e-7
        assert float(game.nash_conv(solver.output(state))) <= 1e-6


@pytest.mark.slow
def test_three_player_kuhn_ce_jpsro_meta_strategy_is_a_ce_of_the_meta_game(kuhn3):
    """The recorded metric is the full-game CE gap of the joint; the joint is a CE of the restricted
    meta-game (``jaxgames.ce_gap``); the CE gap is at least the CCE gap, and it falls (not monotonically:
    measured 0.333, 0.25, 0.302)."""
    with jax.enable_x64(True):
        game = jaxgames.kuhn_poker(num_players=3)
        solver = solvers.jpsro(kind="ce", max_policies=4)
        state, trace = solvers.run(solver, game, 3, eval_every=1)
        extra = state.extra
        meta = jaxgames.matrix.MatrixGame(extra.meta_payoffs[:, :4, :4, :4])
        assert float(jaxgames.ce_gap(meta, extra.joint)) <= 1e-7
        cce, ce = (float(g) for g in extra.gaps)
        np.testing.assert_allclose(trace.exploitability[-1], ce, rtol=1e-9)
        assert cce <= ce + 1e-12
        assert float(jnp.min(trace.exploitability[1:])) < float(trace.exploitability[0]) - 0.05


# ----------------------------------------------------------------------------- Markov games


def _stationary_normal_form(game):
    """``G [N, D, ..., D]``: the normal-form game over every deterministic stationary policy (brute force,
    one ``game.evaluate`` per profile), and the policies ``[D, S, A]`` (all players have ``A`` actions)."""
    S, A = game.num_states, game.num_actions[0]
    policies = jax.nn.one_hot(jnp.asarray(list(itertools.product(range(A), repeat=S))), A, dtype=jnp.float64)
    D, n = policies.shape[0], game.num_players
    profiles = jnp.asarray(list(itertools.product(range(D), repeat=n)))  # C order
    values = jax.jit(jax.vmap(lambda m: game.evaluate(tuple(policies[m[j]] for j in range(n))).values))(profiles)
    return np.asarray(values).T.reshape((n,) + (D,) * n), policies


def _embed(joint, population, policies):
    """``joint`` over population profiles as a distribution over ``G``'s profiles (members matched to policies)."""
    index = [
        [int(np.flatnonzero(np.all(np.asarray(policies) == np.asarray(member), axis=(1, 2)))[0]) for member in pop]
        for pop in population
    ]
    out = np.zeros((policies.shape[0],) * len(population))
    for prof in itertools.product(*(range(len(i)) for i in index)):
        out[tuple(index[j][k] for j, k in enumerate(prof))] += float(joint[prof])
    return out


@pytest.fixture(scope="module")
def markov3():
    """Three players, 2 states, 2 actions: 4 deterministic stationary policies each, ``G_stat`` is 4x4x4."""
    with jax.enable_x64(True):
        game = markov.random_general_sum(jax.random.key(0), num_states=2, num_actions=(2, 2, 2))
        return game, *_stationary_normal_form(game)


@pytest.mark.parametrize("form", ["dense", "sparse"])
def test_markov_gaps_equal_the_stationary_normal_form_game(markov3, form):
    """Populations holding every deterministic stationary policy (shuffled) and a random joint: the CCE
    and CE gaps equal ``cce_gap`` / ``ce_gap`` of the brute-force 4x4x4 game, and each response attains
    the best deviation value; the same for the game stored sparsely (``SparseMarkovGame``)."""
    game, G, policies = markov3
    with jax.enable_x64(True):
        if form == "sparse":
            game = markov.SparseMarkovGame.from_dense(game)
        rng = np.random.default_rng(0)
        perms = [rng.permutation(4) for _ in range(3)]
        population = tuple(policies[p] for p in perms)
        joint = jnp.asarray(rng.dirichlet(np.full(64, 0.3)).reshape(4, 4, 4))
        meta = G[(slice(None), *np.ix_(*perms))]  # the meta-game: G in the populations' order
        gaps, cce_br, _ = jax.jit(lambda g, *a: population_gaps(g, *a))(game, population, jnp.asarray(meta), joint)
        full = jnp.asarray(_embed(joint, population, policies))
        G_game = jaxgames.matrix.MatrixGame(jnp.asarray(G))
        np.testing.assert_allclose(gaps, [jaxgames.cce_gap(G_game, full), jaxgames.ce_gap(G_game, full)], atol=1e-10)
        assert float(gaps[0]) > 0.01 and float(gaps[1]) > float(gaps[0])
        for i in range(3):  # the CCE response's value against the others' marginal is the best one
            marginal = jnp.sum(full, axis=i)
            against = jnp.moveaxis(jnp.asarray(G[i]), i, 0).reshape(4, -1) @ marginal.reshape(-1)
            d = int(np.flatnonzero(np.all(np.asarray(policies) == np.asarray(cce_br[i]), axis=(1, 2)))[0])
            np.testing.assert_allclose(against[d], jnp.max(against), atol=1e-10)


def test_three_player_markov_cce_jpsro_reaches_a_cce_of_the_stationary_game(markov3):
    """CCE-JPSRO on the 3-player Markov game: the CCE gap (measured 0.415, 0.370, 0) reaches 0, and the
    final joint, mapped onto the brute-force normal-form game over deterministic stationary policies,
    is a CCE of it with the recorded gaps (the CE gap of this CCE is not 0)."""
    game, G, policies = markov3
    with jax.enable_x64(True):
        solver = solvers.jpsro(kind="cce", max_policies=4)
        state, trace = solvers.run(solver, game, 3, eval_every=1)
        gaps = np.asarray(trace.exploitability)
        assert gaps[0] > 0.3 and gaps[-1] <= 1e-7
        for pop in state.extra.population:  # deterministic stationary members only
            np.testing.assert_array_equal(np.sort(np.asarray(pop), axis=-1)[..., -1], 1.0)
        full = jnp.asarray(_embed(state.extra.joint, state.extra.population, policies))
        G_game = jaxgames.matrix.MatrixGame(jnp.asarray(G))
        assert float(jaxgames.cce_gap(G_game, full)) <= 1e-7
        np.testing.assert_allclose(jaxgames.ce_gap(G_game, full), state.extra.gaps[1], atol=1e-9)
        assert float(state.extra.gaps[1]) > 0.01  # a CCE, not a CE
