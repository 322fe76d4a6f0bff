"""Multi-population mean-field games and OpenSpiel's ``python_mfg_predator_prey``.

Cross-checks (``requires_pyspiel``), all in float64 (``jax.enable_x64`` inside the test):

* exploitability equals OpenSpiel's ``nash_conv.NashConv`` on the uniform and a random policy, and
  each population's gain equals its ``br_values() - PolicyValue`` (to 1e-9); the mean fields equal
  OpenSpiel's ``DistributionPolicy`` (to 1e-12);
* ``solvers.fictitious_play(alternating=False)`` reproduces OpenSpiel's ``FictitiousPlay``
  exploitability trace for 3 iterations (to 1e-9).

Without OpenSpiel: a ``MeanFieldGame`` wrapped as one population has the same mean field,
values, best response, exploitability and fictitious-play trace; vmap over coefficients and
policies; the model's transitions; validation; the registry.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames.experiments import registry
from jaxgames.mean_field import as_multi_population, crowd_modelling, predator_prey

requires_pyspiel = pytest.mark.requires_pyspiel

_exploitability = jax.jit(lambda game, policy: game.exploitability(policy))
# the three metrics of the OpenSpiel cross-check in one compiled call
_metrics = jax.jit(
    lambda game, policy: (game.exploitability(policy), game.population_gains(policy), game.mean_field(policy))
)

# ours (predator_prey kwargs), OpenSpiel's params
CASES = [
    (dict(size=3, horizon=3), dict(size=3, horizon=3, players=3)),
    (
        dict(size=3, horizon=4, reward_matrix=[[0.0, 2.0], [-1.5, 0.5]], initial="uniform", geometry="torus",
             noise_probability=0.5, congestion_coeff=0.7),
        dict(size=3, horizon=4, players=2, reward_matrix="0 2 -1.5 0.5", init_distrib="", geometry=1,
             noise_probability=0.5, congestion_coeff=0.7),
    ),
]  # fmt: skip


def _spiel_game(ours, theirs):
    import open_spiel.python.mfg.games  # noqa: F401 - registers the python_mfg_* games
    import pyspiel

    params = dict(theirs)
    if "init_distrib" not in params:  # the corners of ``predator_prey(initial=None)``, OpenSpiel's layout
        with jax.enable_x64(True):
            params["init_distrib"] = " ".join(repr(float(v)) for v in np.ravel(predator_prey(**ours).initial))
    return pyspiel.load_game("python_mfg_predator_prey", params)


def _table_policy(tables, spiel_game):
    """OpenSpiel policy playing ``tables[p][t, x + y size, a]`` at ``"(pop=p, t=t, pos=[x y])"``."""
    from open_spiel.python import policy as policy_std

    tables = [np.asarray(t, np.float64) for t in tables]
    size = spiel_game.size

    class _Table(policy_std.Policy):
        def action_probabilities(self, state, player_id=None):
            p, t, x, y = map(int, re.fullmatch(r"\(pop=(\d+), t=(\d+), pos=\[(\d+) (\d+)\]\)", str(state)).groups())
            return {a: float(tables[p][t, x + y * size, a]) for a in state.legal_actions()}

    return _Table(spiel_game, list(range(spiel_game.num_players())))


def _random_policy(game, rng):
    shape = (game.horizon, game.num_states)
    return tuple(jnp.asarray(rng.dirichlet(np.ones(game.num_actions), size=shape)) for _ in range(game.num_populations))


@requires_pyspiel
@pytest.mark.parametrize("ours,theirs", CASES, ids=["corners", "torus-2pop"])
def test_exploitability_equals_openspiel_nash_conv(ours, theirs):
    from open_spiel.python.mfg.algorithms import nash_conv

    spiel_game = _spiel_game(ours, theirs)
    with jax.enable_x64(True):
        game = predator_prey(**ours)
        policies = [game.uniform_policy(), _random_policy(game, np.random.default_rng(0))]
        expl, gains, mus = zip(*[jax.tree.map(np.asarray, _metrics(game, p)) for p in policies])
    size, n = game.size, game.num_populations
    for policy, value, gain, mu in zip(policies, expl, gains, mus):
        nc = nash_conv.NashConv(spiel_game, _table_policy(policy, spiel_game))
        roots = spiel_game.new_initial_states()
        theirs_gain = [nc.br_values()[p] - nc._pi_value.eval_state(roots[p]) for p in range(n)]
        assert value == pytest.approx(nc.nash_conv(), abs=1e-9)
        np.testing.assert_allclose(gain, theirs_gain, atol=1e-9, rtol=0)
        for t in range(1, game.horizon):  # the mean field at OpenSpiel's mean-field nodes
            for p in range(n):
                theirs_mu = [
                    nc.distribution.value_str(f"(pop={p}, t={t}_a, pos=[{s % size} {s // size}])", 0.0)
                    for s in range(game.num_states)
                ]
                np.testing.assert_allclose(mu[p, t], theirs_mu, atol=1e-12)
    assert expl[1] > 0.5 and np.min(gains[1]) > 0.05  # every population gains from deviating
    # uniform play: gains in the corners; none on the torus from a uniform start (by symmetry)
    assert expl[0] > 1.0 if ours.get("geometry") is None else expl[0] == pytest.approx(0.0, abs=1e-12)


@requires_pyspiel
def test_fictitious_play_matches_openspiel():
    """Exploitability after each of the first 3 iterations equals OpenSpiel's ``FictitiousPlay``."""
    from open_spiel.python.mfg.algorithms import fictitious_play, nash_conv

    initial = np.zeros((2, 9))
    initial[0, 0] = initial[1, 8] = 1.0  # opposite corners
    ours = dict(size=3, horizon=3, reward_matrix=[[0.0, 2.0], [-1.5, 0.5]], initial=initial, congestion_coeff=0.7)
    theirs = dict(size=3, horizon=3, players=2, reward_matrix="0 2 -1.5 0.5", congestion_coeff=0.7)
    spiel_game = _spiel_game(ours, theirs)
    fp = fictitious_play.FictitiousPlay(spiel_game)
    expected = []
    for _ in range(3):
        fp.iteration()
        expected.append(nash_conv.NashConv(spiel_game, fp.get_policy()).nash_conv())
    with jax.enable_x64(True):
        _, trace = solvers.run(solvers.fictitious_play(alternating=False), predator_prey(**ours), 3, eval_every=1)
        got = np.asarray(trace.exploitability)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, atol=1e-9, rtol=0)
    assert np.ptp(expected) > 1e-2  # the trace moves


# ------------------------------------------------------------------------------ without OpenSpiel
@jax.jit
def _summary(game, policy):
    """Mean field, exploitability, values, best response and a smooth best response, in one compiled call."""
    br, soft = game.best_response(policy)[0], game.smooth_best_response(policy, 0.3)[0]
    return game.mean_field(policy), game.exploitability(policy), game.evaluate(policy).values, br, soft


@pytest.mark.slow
def test_single_population_wrapper_agrees_with_mean_field_game():
    single = crowd_modelling(size=5, horizon=4)
    multi = as_multi_population(single)
    policy = (jnp.asarray(np.random.default_rng(0).dirichlet(np.ones(3), size=(4, 5)), jnp.float32),)
    assert multi.num_players == 1 and multi.uniform_policy()[0].shape == single.uniform_policy()[0].shape
    ours, theirs = _summary(multi, policy), _summary(single, policy)
    np.testing.assert_allclose(ours[0][0], theirs[0], atol=1e-6)
    for a, b in zip(ours[1:], theirs[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert float(ours[1]) > 0.1
    fp = solvers.fictitious_play(alternating=False)
    _, trace = solvers.run(fp, multi, 3, eval_every=1)
    _, expected = solvers.run(fp, single, 3, eval_every=1)
    np.testing.assert_allclose(trace.exploitability, expected.exploitability, rtol=1e-5)
    with pytest.raises(ValueError, match="game: expected"):
        as_multi_population(multi)


def test_predator_prey_model_and_known_values():
    game = predator_prey(size=3, horizon=2, noise_probability=0.4)
    p = np.asarray(game.transitions)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)
    # corner (0, 0), staying: stay unless the noise pushes right (x + 1) or down (y + 1); walls clip
    np.testing.assert_allclose(p[0, 0, [0, 1, 3]], [0.6 + 0.2, 0.1, 0.1], atol=1e-6)
    # move right from (0, 0) to (1, 0) = state 1, then the noise
    np.testing.assert_allclose(p[0, 1, [1, 0, 2, 4]], [0.6 + 0.1, 0.1, 0.1, 0.1], atol=1e-6)
    torus = predator_prey(size=3, horizon=2, geometry="torus", noise_probability=0.0)
    assert np.asarray(torus.transitions)[0, 4, 2] == 1.0  # (0, 0) moved by (-1, 0) wraps to (2, 0)
    # the reward at t = 0 for population 0 in its corner: -log(1) + R[0] . (1, 0, 0) = 0; elsewhere -log(eps)
    r = np.asarray(game.reward(0, game.initial))
    assert r.shape == (3, 9, 5) and r[0, 0, 0] == pytest.approx(0.0) and r[0, 4, 2] == pytest.approx(57.5646, abs=1e-3)
    np.testing.assert_array_equal(np.asarray(game.initial).argmax(-1), [0, 2, 6])
    four = predator_prey(populations=4, size=3, horizon=2)
    assert four.num_populations == 4 and np.asarray(four.initial).argmax(-1).tolist() == [0, 6, 8, 2]


@jax.jit
def _deviations(game, policy):
    """``[P]`` values of the best response against ``mu(policy)``, the best-response values, the gains and values."""
    mu = game.mean_field(policy)
    ((_, v0),) = game._backward(mu, (game._policy_head(),), (jnp.stack(game.best_response(policy), 1),))
    values = jnp.sum(mu[:, 0] * v0, -1)
    return values, game.best_response_values(policy), game.population_gains(policy), game.evaluate(policy).values


def test_best_response_values_and_vmap():
    game = predator_prey(size=3, horizon=3)
    u = game.uniform_policy()
    # the best response is worth the best-response value against mu(u); the gains are the differences
    br_played, br_values, gains, values = _deviations(game, u)
    np.testing.assert_allclose(br_played, br_values, rtol=1e-5)
    np.testing.assert_allclose(gains, br_values - values, rtol=1e-5, atol=1e-5)
    # vmap over a coefficient (a traced constructor argument) and over policies
    coefs = jnp.array([0.5, 2.0])
    sweep = jax.vmap(lambda c: predator_prey(size=3, horizon=3, congestion_coeff=c))(coefs)
    swept = np.asarray(jax.vmap(_exploitability, in_axes=(0, None))(sweep, u))
    one = predator_prey(size=3, horizon=3, congestion_coeff=2.0)
    assert swept[1] == pytest.approx(float(_exploitability(one, u)), rel=1e-5) and swept[0] != pytest.approx(swept[1])
    keys = jax.random.split(jax.random.key(0), 3)
    batch = jax.vmap(lambda k: tuple(jax.random.dirichlet(k, jnp.ones(5), (3, 9)) for _ in range(3)))(keys)
    batched = np.asarray(jax.vmap(_exploitability, in_axes=(None, 0))(game, batch))
    single = tuple(b[2] for b in batch)
    assert batched.shape == (3,) and batched[2] == pytest.approx(float(_exploitability(game, single)), rel=1e-5)


def test_validation_and_registry():
    with pytest.raises(ValueError, match="geometry"):
        predator_prey(geometry="hexagon")
    with pytest.raises(ValueError, match="reward_matrix"):
        predator_prey(reward_matrix=[[0.0, 1.0]])
    with pytest.raises(ValueError, match="reward_matrix: OpenSpiel has defaults"):
        predator_prey(populations=2)
    with pytest.raises(ValueError, match="populations: expected 2"):
        predator_prey(reward_matrix=np.zeros((2, 2)), populations=3)
    with pytest.raises(ValueError, match="initial"):
        predator_prey(size=3, initial=np.full((3, 4), 0.25))
    with pytest.raises(ValueError, match="initial"):
        predator_prey(size=2, initial=np.full((3, 4), 0.5))
    with pytest.raises(ValueError, match="noise_probability"):
        predator_prey(noise_probability=1.5)
    with pytest.raises(ValueError, match="policy"):
        predator_prey(size=3, horizon=2).validate_policy((jnp.ones((2, 9, 5)) / 5,))
    game = registry.build_game("mfg_predator_prey", {"size": 3, "horizon": 2})
    assert game.num_populations == 3 and game.horizon == 2


def test_dilated_geometry_is_refused_with_a_clear_error():
    game = predator_prey(size=3, horizon=2)
    with pytest.raises(TypeError, match="implemented for single-population mean-field games only"):
        solvers.run(solvers.mirror_descent(geometry="dilated"), game, 2)
