"""Matrix-game models: payoffs, exact metrics, generators, cross-checks with OpenSpiel."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
from jaxgames import matrix


def brute_force_nash_conv(payoffs, policy):
    """NashConv by enumerating every joint action (independent of the einsum code)."""
    payoffs = np.asarray(payoffs, np.float64)
    n = payoffs.shape[0]
    actions = payoffs.shape[1:]
    pol = [np.asarray(p, np.float64) for p in policy]
    total = 0.0
    for i in range(n):
        q = np.zeros(actions[i])
        value = 0.0
        for joint in itertools.product(*[range(a) for a in actions]):
            prob_others = np.prod([pol[j][joint[j]] for j in range(n) if j != i])
            q[joint[i]] += prob_others * payoffs[(i, *joint)]
            value += prob_others * pol[i][joint[i]] * payoffs[(i, *joint)]
        total += q.max() - value
    return total


def test_known_equilibria_have_zero_exploitability():
    rps = matrix.rock_paper_scissors()
    assert float(jaxgames.exploitability(rps, rps.uniform_policy())) == pytest.approx(0.0, abs=1e-7)
    brps = matrix.biased_rock_paper_scissors()
    eq = jnp.array([1.0, 10.0, 5.0]) / 16
    assert float(jaxgames.exploitability(brps, (eq, eq))) == pytest.approx(0.0, abs=1e-6)
    # The raw (OpenSpiel-scaled) game has the same equilibrium, 50x the gaps.
    raw = matrix.biased_rock_paper_scissors(normalized=False)
    x = (jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0]))
    assert float(jaxgames.nash_conv(raw, x)) == pytest.approx(50 * float(jaxgames.nash_conv(brps, x)), rel=1e-5)
    pd = matrix.prisoners_dilemma()
    defect = (jnp.array([0.0, 1.0]),) * 2
    assert float(jaxgames.nash_conv(pd, defect)) == 0.0
    cooperate = (jnp.array([1.0, 0.0]),) * 2
    assert float(jaxgames.nash_conv(pd, cooperate)) == pytest.approx(10.0)  # each gains 10 - 5


def test_rps_pure_strategy_values():
    rps = matrix.rock_paper_scissors()
    rock = jnp.array([1.0, 0.0, 0.0])
    ev = jaxgames.evaluate(rps, (rock, rps.uniform_policy()[1]))
    np.testing.assert_allclose(ev.values, [0.0, 0.0], atol=1e-7)
    ev = jaxgames.evaluate(rps, (rock, jnp.array([0.0, 0.0, 1.0])))
    np.testing.assert_allclose(ev.values, [1.0, -1.0])
    # Against rock, paper (index 1) is the best response with gain 1.
    br = jaxgames.best_response(rps, (rock, rock))
    np.testing.assert_array_equal(br[1], [0.0, 1.0, 0.0])
    assert float(jaxgames.nash_conv(rps, (rock, rock))) == pytest.approx(2.0)
    assert float(jaxgames.exploitability(rps, (rock, rock))) == pytest.approx(1.0)


SPIEL_TWINS = {
    "rock_paper_scissors": "matrix_rps",
    "matching_pennies": "matrix_mp",
    "prisoners_dilemma": "matrix_pd",
    "stag_hunt": "matrix_sh",
    "chicken": "matrix_cd",
    "battle_of_the_sexes": "matrix_bos",
    "shapley_game": "matrix_shapleys_game",
    "coordination": "matrix_coordination",
    "biased_rock_paper_scissors": "matrix_brps",
}


@pytest.mark.requires_pyspiel
@pytest.mark.parametrize("name", sorted(SPIEL_TWINS))
def test_classic_games_match_openspiel_payoffs(name):
    import pyspiel
    from open_spiel.python.egt.utils import game_payoffs_array

    game = matrix.CLASSIC_GAMES[name]()
    if name == "biased_rock_paper_scissors":
        game = matrix.biased_rock_paper_scissors(normalized=False)
    ours = np.asarray(game.payoffs)
    theirs = game_payoffs_array(pyspiel.load_game(SPIEL_TWINS[name]))
    np.testing.assert_allclose(ours, theirs)


@pytest.mark.requires_pyspiel
def test_nash_conv_matches_openspiel_on_random_policies():
    import pyspiel
    from open_spiel.python import policy as policy_lib
    from open_spiel.python.algorithms import exploitability as os_expl

    spiel = pyspiel.convert_to_turn_based(pyspiel.load_game("matrix_brps"))
    game = matrix.biased_rock_paper_scissors(normalized=False)
    rng = np.random.default_rng(0)
    for _ in range(3):
        ours = tuple(jnp.asarray(rng.dirichlet(np.ones(3)), jnp.float32) for _ in range(2))
        tab = policy_lib.TabularPolicy(spiel)
        for player, probs in enumerate(ours):
            for state in tab.states_per_player[player]:
                tab.policy_for_key(state)[:] = np.asarray(probs, np.float64)
        expected = os_expl.nash_conv(spiel, tab)
        assert float(jaxgames.nash_conv(game, ours)) == pytest.approx(expected, rel=1e-5, abs=1e-4)
        assert float(jaxgames.exploitability(game, ours)) == pytest.approx(
            os_expl.exploitability(spiel, tab), rel=1e-5, abs=1e-4
        )


@pytest.mark.slow
def test_three_player_exploitability_matches_brute_force():
    rng = np.random.default_rng(1)
    games = [
        matrix.three_player_matching_pennies(),
        matrix.random_game(jax.random.key(3), (2, 3, 4)),
        matrix.random_game(jax.random.key(4), (3, 2, 2, 2), zero_sum=True),
    ]
    for game in games:
        for _ in range(3):
            pol = tuple(jnp.asarray(rng.dirichlet(np.ones(a)), jnp.float32) for a in game.num_actions)
            expected = brute_force_nash_conv(game.payoffs, pol)
            assert float(jaxgames.nash_conv(game, pol)) == pytest.approx(expected, rel=1e-4, abs=1e-5)
            assert float(jaxgames.exploitability(game, pol)) == pytest.approx(
                expected / game.num_players, rel=1e-4, abs=1e-5
            )
    tmp = matrix.three_player_matching_pennies()
    assert float(jaxgames.nash_conv(tmp, tmp.uniform_policy())) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.slow
def test_random_generators_batch_with_vmap_and_have_the_right_structure():
    keys = jax.random.split(jax.random.key(0), 8)
    zs = jax.vmap(lambda k: matrix.random_zero_sum(k, (3, 4)))(keys)
    assert zs.payoffs.shape == (8, 2, 3, 4)
    np.testing.assert_allclose(zs.payoffs[:, 0], -zs.payoffs[:, 1])
    assert float(jnp.abs(zs.payoffs).max()) <= 1.0
    assert not np.allclose(zs.payoffs[0], zs.payoffs[1])  # different keys, different games
    gauss = jax.vmap(lambda k: matrix.random_zero_sum(k, 6, "gaussian"))(keys)
    assert float(jnp.abs(gauss.payoffs).max()) > 1.0
    gs = jax.vmap(lambda k: matrix.random_general_sum(k, (2, 5)))(keys)
    assert gs.payoffs.shape == (8, 2, 2, 5) and not np.allclose(gs.payoffs[:, 0], -gs.payoffs[:, 1])
    nz = jax.vmap(lambda k: matrix.random_game(k, (2, 3, 2), zero_sum=True))(keys)
    np.testing.assert_allclose(nz.payoffs.sum(axis=1), 0.0, atol=1e-6)
    # A batched game evaluates batched policies under vmap.
    values = jax.vmap(lambda g: g.evaluate(g.uniform_policy()).values)(zs)
    np.testing.assert_allclose(values[:, 0], zs.payoffs[:, 0].mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_preference_games():
    P = matrix.cyclic_preferences(5, margin=0.3)
    np.testing.assert_allclose(P + P.T, 1.0)
    game = matrix.preference_game(P)
    np.testing.assert_allclose(game.payoffs[0], P - 0.5)
    assert float(jaxgames.exploitability(game, game.uniform_policy())) == pytest.approx(0.0, abs=1e-6)
    # Bradley-Terry preferences are transitive: the best-scored response is a Condorcet winner.
    key = jax.random.key(7)
    P_bt = matrix.bradley_terry_preferences(key, 6)
    winner = int(jnp.argmax(jnp.sum(P_bt > 0.5, axis=1)))
    pure = jax.nn.one_hot(winner, 6)
    bt = matrix.preference_game(P_bt)
    assert float(jaxgames.nash_conv(bt, (pure, pure))) == pytest.approx(0.0, abs=1e-6)
    P_int = matrix.random_intransitive_preferences(key, 7, cyclic_scale=2.0)
    np.testing.assert_allclose(P_int + P_int.T, 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="P \\+ P.T = 1"):
        matrix.preference_game([[0.5, 0.9], [0.9, 0.5]])


def test_constructors_work_under_jit_and_vmap():
    @jax.jit
    def value_of_uniform(A):
        g = matrix.zero_sum(A)
        return jaxgames.exploitability(g, g.uniform_policy())

    A = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    assert float(value_of_uniform(A)) == pytest.approx(0.0, abs=1e-7)
    # Shape checks still run under tracing.
    with pytest.raises(ValueError, match="A: expected a \\[rows, columns\\] matrix"):
        jax.jit(lambda a: matrix.zero_sum(a).payoffs)(jnp.ones(3))


def test_regularized_gap_is_zero_exactly_at_the_logit_qre():
    game = matrix.matching_pennies()
    # Uniform is the QRE of matching pennies at any temperature, and its Nash equilibrium.
    u = game.uniform_policy()
    assert float(jaxgames.regularized_nash_conv(game, u, 0.3)) == pytest.approx(0.0, abs=1e-6)
    off = (jnp.array([0.7, 0.3]), jnp.array([0.4, 0.6]))
    assert float(jaxgames.regularized_nash_conv(game, off, 0.3)) > 1e-3
    # As the temperature goes to zero the gap tends to NashConv.
    assert float(jaxgames.regularized_nash_conv(game, off, 1e-4)) == pytest.approx(
        float(jaxgames.nash_conv(game, off)), abs=1e-3
    )
