"""Mean-field game models: exact metrics against OpenSpiel, validation, batching.

The OpenSpiel cross-checks are marked ``requires_pyspiel``; the rest runs without OpenSpiel."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
from jaxgames.mean_field import crowd_modelling, openspiel_displacement
from jaxgames.mean_field.openspiel import from_openspiel_policy, openspiel_game, to_openspiel_policy

requires_pyspiel = pytest.mark.requires_pyspiel

#: NashConv of the uniform policy on OpenSpiel's ``mfg_crowd_modelling`` (size 10, horizon 10), as
#: OpenSpiel's ``nash_conv.NashConv`` computes it in float64.
OPENSPIEL_UNIFORM_NASH_CONV = 2.8135365543870385


def random_policy(game, rng):
    return (jnp.asarray(rng.dirichlet(np.ones(game.num_actions), size=(game.horizon, game.num_states)), jnp.float32),)


@pytest.fixture(scope="module")
def game():
    return crowd_modelling()


@pytest.fixture(scope="module")
def crowd(game):
    """The game and OpenSpiel's (``requires_pyspiel`` tests only)."""
    return game, openspiel_game(game)


def _openspiel_mean_field(nc, size, horizon):
    dist = nc.distribution
    # t = 0 lives on the decision nodes "(x, 0)", later times on the mean-field nodes "(x, t)_a".
    return np.array(
        [[dist.value_str(f"({x}, {t})" + ("_a" if t else ""), 0.0) for x in range(size)] for t in range(horizon)]
    )


@pytest.mark.slow
@requires_pyspiel
def test_crowd_modelling_exploitability_and_mean_field_equal_openspiel(crowd):
    from open_spiel.python.mfg.algorithms import nash_conv

    game, spiel_game = crowd
    rng = np.random.default_rng(0)
    policies = [game.uniform_policy()] + [random_policy(game, rng) for _ in range(2)]
    for policy in policies:
        nc = nash_conv.NashConv(spiel_game, to_openspiel_policy(game, policy, spiel_game))
        assert float(jaxgames.exploitability(game, policy)) == pytest.approx(nc.nash_conv(), abs=1e-4)
        assert float(jaxgames.nash_conv(game, policy)) == pytest.approx(nc.nash_conv(), abs=1e-4)
        np.testing.assert_allclose(game.mean_field(policy), _openspiel_mean_field(nc, 10, 10), atol=1e-6)
        assert float(game.best_response_values(policy)[0]) == pytest.approx(nc.br_values()[0], abs=1e-4)


@pytest.mark.slow
def test_uniform_policy_nash_conv_is_openspiels(game):
    assert float(game.exploitability(game.uniform_policy())) == pytest.approx(OPENSPIEL_UNIFORM_NASH_CONV, abs=1e-4)


@pytest.mark.slow
@requires_pyspiel
def test_crowd_modelling_other_sizes_equal_openspiel():
    from open_spiel.python.mfg.algorithms import nash_conv

    for size, horizon in [(7, 4), (4, 1)]:
        game = crowd_modelling(size, horizon)
        spiel_game = openspiel_game(game)
        policy = random_policy(game, np.random.default_rng(size))
        nc = nash_conv.NashConv(spiel_game, to_openspiel_policy(game, policy, spiel_game))
        assert float(game.nash_conv(policy)) == pytest.approx(nc.nash_conv(), abs=1e-4)


@requires_pyspiel
def test_best_response_is_openspiel_greedy_policy(crowd):
    """Our one-hot best response reaches OpenSpiel's best-response value against mu(policy)."""
    from open_spiel.python.mfg import value as os_value
    from open_spiel.python.mfg.algorithms import nash_conv, policy_value

    game, spiel_game = crowd
    policy = random_policy(game, np.random.default_rng(5))
    br = jaxgames.best_response(game, policy)
    nc = nash_conv.NashConv(spiel_game, to_openspiel_policy(game, policy, spiel_game))
    # J(br, mu(policy)) computed by OpenSpiel's PolicyValue against the fixed distribution of `policy`.
    pv = policy_value.PolicyValue(
        spiel_game,
        nc.distribution,
        to_openspiel_policy(game, br, spiel_game),
        os_value.TabularValueFunction(spiel_game),
    )
    assert pv.eval_state(spiel_game.new_initial_state()) == pytest.approx(nc.br_values()[0], abs=1e-4)


@requires_pyspiel
def test_policy_conversion_round_trip(crowd):
    game, spiel_game = crowd
    policy = random_policy(game, np.random.default_rng(2))
    back = from_openspiel_policy(game, to_openspiel_policy(game, policy, spiel_game), spiel_game)
    np.testing.assert_allclose(back[0], policy[0], atol=1e-7)


def test_openspiel_displacement_pattern_known_rows():
    """First-visit order: t = 0 is free; at t = 1 the ring is reached first by moves -1 (from x0 = 0), 0, +1."""
    d = openspiel_displacement(5, 3)
    np.testing.assert_array_equal(d[0], 0)
    np.testing.assert_array_equal(d[1], [1, 0, 1, 1, 1])


def _exact_returns(size, horizon, policy, mu, best):
    """Expected OpenSpiel *returns* (full history tree, no memoisation) with mean-field nodes fed ``mu``."""
    import pyspiel

    spiel_game = pyspiel.load_game("mfg_crowd_modelling", {"size": size, "horizon": horizon})

    def value(state):
        if state.is_terminal():
            return state.returns()[0]
        if state.current_player() == pyspiel.PlayerId.MEAN_FIELD:
            t = int(state.observation_string(0).split(",")[1].split(")")[0])
            child = state.clone()
            child.update_distribution([float(v) for v in mu[t]])
            return value(child)
        if state.is_chance_node():
            return sum(p * value(state.child(a)) for a, p in state.chance_outcomes())
        x, t = eval(state.observation_string(0))  # noqa: S307 - "(x, t)" from OpenSpiel
        vals = [value(state.child(a)) for a in state.legal_actions()]
        return max(vals) if best else sum(float(policy[t, x, a]) * v for a, v in enumerate(vals))

    return value(spiel_game.new_initial_state())


@pytest.mark.slow
@requires_pyspiel
def test_action_cost_model_equals_openspiel_returns():
    """``move_cost_model='action'`` is the game's true expected return (full tree, moves charged as played)."""
    size, horizon = 4, 3
    game = crowd_modelling(size, horizon, move_cost_model="action")
    policy = random_policy(game, np.random.default_rng(3))
    mu = np.asarray(game.mean_field(policy), np.float64)
    value = float(game.evaluate(policy).values[0])
    best = float(game.best_response_values(policy)[0])
    assert value == pytest.approx(_exact_returns(size, horizon, policy[0], mu, best=False), abs=1e-4)
    assert best == pytest.approx(_exact_returns(size, horizon, policy[0], mu, best=True), abs=1e-4)


_smooth = jax.jit(lambda g, p, tau: g.smooth_best_response(p, tau))
_value_against = jax.jit(lambda g, p, mu: jnp.dot(mu[0], g._backward(mu, (g._policy_head(),), (p[0],))[0][1]))
_reg_gap = jax.jit(lambda g, p, tau: g.regularized_nash_conv(p, tau))


def test_evaluate_shapes_and_consistency(game):
    policy = random_policy(game, np.random.default_rng(4))
    ev = jaxgames.evaluate(game, policy)
    assert ev.values.shape == (1,)
    assert ev.action_values[0].shape == (10, 10, 3) and ev.reach[0].shape == (10, 10)
    # value = mu_0 . sum_a pi_0 Q_0
    v0 = np.sum(np.asarray(policy[0][0]) * np.asarray(ev.action_values[0][0]), -1)
    assert float(ev.values[0]) == pytest.approx(float(np.dot(game.initial, v0)), abs=1e-5)
    np.testing.assert_allclose(ev.reach[0].sum(-1), 1.0, atol=1e-5)
    # the one-hot best response attains the best-response value against the same mean field
    br = jaxgames.best_response(game, policy)
    best = float(game.best_response_values(policy)[0])
    assert best > float(ev.values[0])
    assert float(_value_against(game, br, ev.reach[0])) == pytest.approx(best, abs=1e-4)


@pytest.mark.slow
def test_smooth_best_response_limits(game):
    policy = random_policy(game, np.random.default_rng(6))
    mu = game.mean_field(policy)
    best = float(game.best_response_values(policy)[0])
    np.testing.assert_array_equal(_smooth(game, policy, 0.0)[0], game.best_response(policy)[0])
    # tau -> 0: the soft response's value tends to the best-response value (ties stay mixed)
    assert float(_value_against(game, _smooth(game, policy, 1e-3), mu)) == pytest.approx(best, abs=1e-2)
    # tau -> inf: the reference (uniform) policy
    np.testing.assert_allclose(_smooth(game, policy, 1e4)[0], 1 / 3, atol=1e-3)
    # the soft best response has zero regularised gap as a *response*: its regularised value against
    # mu(policy) is the soft optimum, so the regularised gap of `policy` is > 0 and of a KL-optimal
    # policy against its own mean field would be 0 (checked on solvers' fixed points, not here)
    assert float(_reg_gap(game, policy, 0.5)) > 0
    assert float(_reg_gap(game, policy, 0.0)) == pytest.approx(float(game.nash_conv(policy)), abs=1e-4)


@pytest.mark.slow
def test_vmap_over_crowd_aversion_and_jit():
    aversions = jnp.array([0.0, 0.5, 1.0, 2.0])
    games = jax.vmap(lambda c: crowd_modelling(crowd_aversion=c))(aversions)
    uniform = crowd_modelling().uniform_policy()
    expl = jax.jit(jax.vmap(lambda g: g.exploitability(uniform)))(games)
    for c, e in zip(aversions, expl):
        assert float(e) == pytest.approx(
            float(jaxgames.exploitability(crowd_modelling(crowd_aversion=float(c)), uniform)), abs=1e-4
        )
    # uniform policy + uniform noise from a uniform start keep mu uniform for every aversion,
    # so the -log mu term is a constant and exploitability does not depend on the aversion.
    np.testing.assert_allclose(expl, expl[0], atol=1e-4)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(initial=[0.5, 0.6] + [0.0] * 8), "initial: expected probabilities summing to 1"),
        (dict(initial=[-0.1, 1.1] + [0.0] * 8), "initial: expected non-negative"),
        (dict(initial=[0.5, 0.5]), r"initial: expected a probability vector of shape \[10\]"),
        (dict(horizon=0), "horizon: expected an integer >= 1"),
        (dict(size=1), "size: expected an integer >= 2"),
        (dict(size=3.5), "size: expected an int"),
        (dict(noise=[0.5, 0.5]), r"noise: expected a probability vector of shape \[3\]"),
        (dict(crowd_aversion=[1.0, 2.0]), "crowd_aversion: expected a scalar"),
        (dict(crowd_aversion=float("nan")), "crowd_aversion: expected finite"),
        (dict(move_cost_model="bogus"), "move_cost_model"),
    ],
)
def test_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        crowd_modelling(**kwargs)


def test_bad_policy_raises(game):
    with pytest.raises(ValueError, match=r"policy\[0\]: expected shape \(10, 10, 3\)"):
        jaxgames.exploitability(game, (jnp.ones((10, 3)) / 3,))
    with pytest.raises(ValueError, match="summing to 1"):
        jaxgames.exploitability(game, (jnp.ones((10, 10, 3)),))


@pytest.mark.slow
def test_float64():
    """In this process with float64 switched on for the test (``jax.enable_x64``; jit caches key on it):
    a subprocess would cost ~4 s of start-up more."""
    with jax.enable_x64(True):
        g = crowd_modelling()
        u = g.uniform_policy()
        dtypes = (u[0].dtype, g.initial.dtype)
        nash_conv = float(jax.jit(jaxgames.exploitability)(g, u))
    assert jnp.zeros(1).dtype == np.float32  # switched off again
    assert dtypes == (jnp.float64, jnp.float64), dtypes
    assert nash_conv == pytest.approx(OPENSPIEL_UNIFORM_NASH_CONV, abs=1e-9)


@pytest.mark.slow
@requires_pyspiel
def test_crowd_modelling_2d_and_four_rooms_equal_openspiel():
    from open_spiel.python.mfg.algorithms import nash_conv

    from jaxgames.mean_field import crowd_modelling_2d, four_rooms

    rng = np.random.default_rng(7)
    for game in (crowd_modelling_2d(4, 3, noise_intensity=0.5), four_rooms(horizon=4)):
        spiel_game = openspiel_game(game)
        mask = np.asarray(game.legal_mask()[0])
        w = rng.exponential(size=mask.shape) * mask
        policy = (jnp.asarray(w / w.sum(-1, keepdims=True), jnp.float32),)
        nc = nash_conv.NashConv(spiel_game, to_openspiel_policy(game, policy, spiel_game))
        assert float(jaxgames.exploitability(game, policy)) == pytest.approx(nc.nash_conv(), abs=1e-4)
    with pytest.raises(ValueError, match="forbidden: expected cells"):
        crowd_modelling_2d(4, 3, forbidden=[(5, 0)])
