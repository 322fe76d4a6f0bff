"""Linear-quadratic MFG (OpenSpiel's ``mean_field_lin_quad``) and the minority game's 1/sqrt(N) N-agent rate."""

import ast

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import binom, norm

import solvers
from jaxgames.experiments import registry
from jaxgames.mean_field import linear_quadratic, minority_game, n_agent_values

from helpers import LONG_RUN


@jax.jit
def _metrics(game, policy):
    """(exploitability, best-response value, value, mean field): one compilation per model shape."""
    return (
        game.exploitability(policy),
        game.best_response_values(policy)[0],
        game.evaluate(policy).values[0],
        game.mean_field(policy),
    )


def _expl(game, policy):
    return _metrics(game, policy)[0]


def _value(game, policy):
    return _metrics(game, policy)[2]


def _mean_field(game, policy):
    return _metrics(game, policy)[3]


_best_response = jax.jit(lambda g, p: g.best_response(p))

#: NashConv of the uniform policy on OpenSpiel's default ``mean_field_lin_quad``, as OpenSpiel's
#: ``nash_conv.NashConv`` computes it in float64.
OPENSPIEL_UNIFORM_NASH_CONV = 21.498181599551945


def _random_policy(game, rng):
    return (jnp.asarray(rng.dirichlet(np.ones(game.num_actions), size=(game.horizon, game.num_states)), jnp.float32),)


# -- OpenSpiel side (optional dependency) ---------------------------------------------------------


def _spiel_game(game):
    import pyspiel
    from open_spiel.python.mfg import games  # noqa: F401  (registers the Python MFGs)

    return pyspiel.load_game("mean_field_lin_quad", game.openspiel_params())


def _spiel_policy(spiel_game, table):
    """OpenSpiel policy playing ``table[t, x, a]`` at the decision node ``"(x, t)"`` (every action listed)."""
    from open_spiel.python import policy as policy_std

    class TablePolicy(policy_std.Policy):
        def action_probabilities(self, state, player_id=None):
            x, t = ast.literal_eval(state.observation_string(0))
            return {a: float(table[t, x, a]) for a in state.legal_actions()}

    return TablePolicy(spiel_game, [0])


def _spiel_mean_field(distribution, size, times):
    # t = 0 lives on the decision nodes "(x, 0)", later times on the mean-field nodes "(x, t)_a".
    return np.array(
        [[distribution.value_str(f"({x}, {t})" + ("_a" if t else ""), 0.0) for x in range(size)] for t in range(times)]
    )


#: (constructor kwargs, number of random policies): OpenSpiel's defaults, then round-half-to-even ties
#: in the noise (dt = 1/2: k sqrt(dt) sigma hits .5) and in the drift, and other coefficients.
OPENSPIEL_CASES = [
    (dict(), 1),
    (dict(size=8, horizon=6, n_actions_per_side=2, dt=0.5, volatility=1.3), 1),
    (dict(size=7, horizon=4, n_actions_per_side=4, volatility=0.5, cross_q=0.5, kappa=0.0), 1),
]


@pytest.mark.slow
@pytest.mark.requires_pyspiel
@pytest.mark.parametrize("case", range(len(OPENSPIEL_CASES)))
def test_exploitability_and_mean_field_equal_openspiel(case):
    """Exploitability = OpenSpiel's NashConv (1e-4), mean field = DistributionPolicy, BR value = BestResponse."""
    from open_spiel.python.mfg.algorithms import nash_conv

    kwargs, num_random = OPENSPIEL_CASES[case]
    game = linear_quadratic(**kwargs)
    spiel_game = _spiel_game(game)
    rng = np.random.default_rng(case)
    for policy in [game.uniform_policy()] + [_random_policy(game, rng) for _ in range(num_random)]:
        nc = nash_conv.NashConv(spiel_game, _spiel_policy(spiel_game, np.asarray(policy[0], np.float64)))
        theirs = nc.nash_conv()
        expl, br_value, _, mean_field = _metrics(game, policy)
        assert float(expl) == pytest.approx(theirs, abs=1e-4)
        assert float(br_value) == pytest.approx(nc.br_values()[0], abs=1e-4)
        np.testing.assert_allclose(mean_field, _spiel_mean_field(nc.distribution, game.size, game.horizon), atol=1e-6)
        # The memoisation quirk matters: charging no previous move at all would not match OpenSpiel.
        if case == 0:
            plain = game.replace(previous_move=jnp.zeros_like(game.previous_move))
            assert abs(float(_expl(plain, policy)) - theirs) > 0.1
    if case == 0:
        assert float(_expl(game, game.uniform_policy())) == pytest.approx(OPENSPIEL_UNIFORM_NASH_CONV, abs=1e-4)


@pytest.mark.slow
@pytest.mark.requires_pyspiel
def test_fictitious_play_matches_openspiel():
    """solvers.fictitious_play (the shared solver, unchanged) = OpenSpiel's MFG FictitiousPlay on LQ, 3 iterations."""
    from open_spiel.python.mfg.algorithms import fictitious_play, nash_conv

    game = linear_quadratic(size=5, horizon=3, n_actions_per_side=1, volatility=0.7, cross_q=0.3, kappa=1.0)
    spiel_game = _spiel_game(game)
    fp = fictitious_play.FictitiousPlay(spiel_game)
    theirs = []
    for _ in range(3):
        fp.iteration()
        theirs.append(nash_conv.NashConv(spiel_game, fp.get_policy()).nash_conv())
    _, trace = jax.jit(lambda g: solvers.run(solvers.fictitious_play(alternating=False), g, 3, eval_every=1))(game)
    np.testing.assert_allclose(np.asarray(trace.exploitability), theirs, atol=1e-4, rtol=0)
    assert np.ptp(theirs) > 0.05


@pytest.mark.slow
@pytest.mark.requires_pyspiel
def test_action_model_equals_the_paper_rewards_on_openspiel_dynamics():
    """move_cost_model="action", with mean reversion: value and mean field from OpenSpiel's game tree.

    The value is recomputed here by backward induction over OpenSpiel's states (its
    transitions and noise, drift with mean_revert = 0.3) with the paper's rewards written
    out independently: dt/2 (-m^2 + 2 q m d - kappa d^2) for the move taken at each step,
    and -c/2 d_T^2 at the end.
    """
    import pyspiel
    from open_spiel.python.mfg.algorithms import distribution as os_distribution

    params = dict(
        size=6,
        horizon=3,
        n_actions_per_side=1,
        volatility=0.8,
        mean_revert=0.3,
        cross_q=0.2,
        kappa=0.7,
        terminal_cost=1.5,
    )
    game = linear_quadratic(**params, move_cost_model="action")
    assert game.horizon == 4 and game.num_decisions == 3
    policy = _random_policy(game, np.random.default_rng(7))
    table = np.asarray(policy[0], np.float64)
    spiel_game = pyspiel.load_game("mean_field_lin_quad", {**params, "dt": 1.0})
    dist = os_distribution.DistributionPolicy(spiel_game, _spiel_policy(spiel_game, table))
    mu = _spiel_mean_field(dist, 6, 4)  # includes the terminal time T = 3
    np.testing.assert_allclose(_mean_field(game, policy), mu, atol=1e-6)
    means = mu @ np.arange(6)
    memo = {}

    def value(state):  # a decision node "(x, t)" (its distribution registered)
        x, t = ast.literal_eval(state.observation_string(0))
        if (t, x) not in memo:
            d = means[t] - x
            total = 0.0
            for a in range(3):
                m = a - 1
                q = 0.5 * (-(m**2) + 2 * params["cross_q"] * m * d - params["kappa"] * d**2)
                for noise, p in state.child(a).chance_outcomes():
                    nxt = state.child(a).child(noise)
                    y, _ = ast.literal_eval(nxt.observation_string(0)[:-2])  # "(y, t+1)_a"
                    if nxt.is_terminal():
                        q += p * -params["terminal_cost"] / 2 * (means[t + 1] - y) ** 2
                    else:
                        nxt.update_distribution(list(mu[t + 1]))
                        q += p * value(nxt)
                total += table[t, x, a] * q
            memo[t, x] = total
        return memo[t, x]

    root = spiel_game.new_initial_state()
    expected = sum(p * value(root.child(x)) for x, p in root.chance_outcomes())
    assert float(_value(game, policy)) == pytest.approx(expected, abs=1e-4)


@pytest.mark.slow
def test_action_model_known_answers():
    """No coupling (q = kappa = c = 0): cost dt/2 m^2 only; BR stays, gains T dt n(n+1)/6 over uniform."""
    game = linear_quadratic(
        size=6,
        horizon=3,
        n_actions_per_side=1,
        dt=0.5,
        cross_q=0.0,
        kappa=0.0,
        terminal_cost=0.0,
        move_cost_model="action",
    )
    n, t, dt = 1, 3, 0.5
    assert float(_expl(game, game.uniform_policy())) == pytest.approx(t * dt * n * (n + 1) / 6, abs=1e-6)
    br = _best_response(game, game.uniform_policy())[0]
    np.testing.assert_array_equal(br[:-1, :, n], 1.0)  # move 0 at every decision
    # Terminal cost only, T = 1, everyone at cell 3 and staying: the noise spreads them over 2, 3, 4
    # (mean still 3), so the value is -c/2 (P(-1) + P(+1)); nobody can do better (exploitability 0).
    game = linear_quadratic(
        size=6,
        horizon=1,
        n_actions_per_side=1,
        volatility=1.0,
        cross_q=0.0,
        kappa=0.0,
        terminal_cost=2.0,
        initial=np.eye(6)[3],
        move_cost_model="action",
    )
    stay = (jnp.asarray(np.broadcast_to(np.eye(3)[1], (2, 6, 3)), jnp.float32),)
    pk = np.array([norm.cdf(-0.5), norm.cdf(0.5) - norm.cdf(-0.5), 1.0 - norm.cdf(0.5)])  # OpenSpiel's rule
    expl, _, value, mean_field = _metrics(game, stay)
    np.testing.assert_allclose(mean_field[1], [0, 0, pk[0], pk[1], pk[2], 0], atol=1e-6)
    assert float(value) == pytest.approx(-2.0 / 2 * (pk[0] + pk[2]), abs=1e-6)
    assert float(expl) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow
def test_vmap_jit_and_bad_input():
    config = dict()  # OpenSpiel's default game, whose metrics are compiled above
    kappas = jnp.array([0.0, 2.0])
    uniform = linear_quadratic(**config).uniform_policy()
    batched = jax.jit(jax.vmap(lambda k: linear_quadratic(**config, kappa=k).exploitability(uniform)))(kappas)
    for k, e in zip(kappas, batched):
        assert float(e) == pytest.approx(
            float(_expl(linear_quadratic(**config, kappa=float(k)), uniform)), rel=1e-6
        )  # float32: the vmapped and single calls round alike to ~1 ulp
    assert abs(float(batched[0] - batched[1])) > 1e-2
    # mean reversion is traceable in the paper's model (it changes the drift, hence the value)
    act = dict(size=6, horizon=3, n_actions_per_side=1, move_cost_model="action")
    reverts = jax.jit(
        jax.vmap(
            lambda k: _metrics(linear_quadratic(**act, mean_revert=k), linear_quadratic(**act).uniform_policy())[2]
        )
    )
    values = reverts(jnp.array([0.0, 1.0]))
    assert abs(float(values[0]) - float(values[1])) > 1e-3
    with pytest.raises(ValueError, match="mean_revert: move_cost_model='openspiel' replays"):
        jax.vmap(lambda k: linear_quadratic(mean_revert=k))(jnp.array([0.0, 1.0]))
    for kwargs, match in [
        (dict(size=1), "size: expected an integer >= 2"),
        (dict(horizon=0), "horizon: expected an integer >= 1"),
        (dict(n_actions_per_side=0), "n_actions_per_side: expected an integer >= 1"),
        (dict(dt=0.0), "dt: expected a value > 0"),
        (dict(volatility=-1.0), "volatility: expected a value > 0"),
        (dict(kappa=[1.0, 2.0]), "kappa: expected a scalar"),
        (dict(cross_q=float("nan")), "cross_q: expected finite"),
        (dict(mean_revert=0.5), "mean_revert: move_cost_model='openspiel' needs"),
        (dict(move_cost_model="tree"), "move_cost_model: expected"),
        (dict(size=3, initial=[0.5, 0.5, 0.5]), "initial: expected probabilities summing to 1"),
    ]:
        with pytest.raises(ValueError, match=match):
            linear_quadratic(**kwargs)
    with pytest.raises(ValueError, match="move_cost_model: OpenSpiel computes"):
        linear_quadratic(move_cost_model="action").openspiel_params()
    assert registry.build_game("mfg_linear_quadratic", dict(size=5, horizon=2)).num_actions == 7
    assert registry.build_game("mfg_minority", dict(horizon=3)).num_states == 2


# -- minority game: an equilibrium with indifferent agents, N-agent gain ~ 1/sqrt(N) ------------------

SIZES = (16, 64, 256, 1024)
HORIZON = 3


def _closed_form_gain(num_agents, horizon, c=1.0):
    """(T - 1) c E|2k - (N - 1)| / (2N), k ~ Bin(N - 1, 1/2): the deviator moves once to the emptier place."""
    k = np.arange(num_agents)
    return (
        (horizon - 1)
        * c
        * np.sum(binom.pmf(k, num_agents - 1, 0.5) * np.abs(2 * k - (num_agents - 1)))
        / (2 * num_agents)
    )


@pytest.fixture(scope="module")
def minority_gains():
    """Exact N-agent gains for N in SIZES of three equilibria (one compiled, vmapped call per game), with LLVM's
    basic optimizations (``helpers.LONG_RUN``: 3.7 s of CPU in all, not 6.7 s)."""
    free, costly = minority_game(horizon=HORIZON), minority_game(horizon=HORIZON, switching_cost=0.1)
    sizes = jnp.array(SIZES)
    gains = jax.vmap(lambda g, p, n: n_agent_values(g, p, n, max(SIZES)).gain, in_axes=(None, None, 0))
    fn = jax.jit(gains, compiler_options=LONG_RUN)
    return {
        "stay": np.asarray(fn(free, free.equilibrium_policy(), sizes), np.float64),
        "redraw": np.asarray(fn(free, free.uniform_policy(), sizes), np.float64),
        "stay_costly": np.asarray(fn(costly, costly.equilibrium_policy(), sizes), np.float64),
    }


@pytest.mark.slow
def test_minority_mean_field_equilibria_are_exact():
    game = minority_game(horizon=HORIZON)
    assert float(_expl(game, game.equilibrium_policy())) == pytest.approx(0.0, abs=1e-7)
    assert float(_expl(game, game.uniform_policy())) == pytest.approx(0.0, abs=1e-7)
    # from a crowded start the equilibrium balances at t = 0 (3/8 of location 0 leaves) and is still exact
    skewed = minority_game(horizon=HORIZON, initial=[0.8, 0.2])
    eq = skewed.equilibrium_policy()
    np.testing.assert_allclose(eq[0][0, 0], [5 / 8, 3 / 8], atol=1e-6)
    np.testing.assert_allclose(_mean_field(skewed, eq)[1:], 0.5, atol=1e-6)
    assert float(_expl(skewed, eq)) == pytest.approx(0.0, abs=1e-6)
    # known gaps: everyone to location 0 forever -> the BR sits alone in 1, saving c per step after t = 0;
    # with a switching cost s, a stay-put population from a uniform start is a strict equilibrium
    herd = (jnp.zeros((HORIZON, 2, 2)).at[..., 0].set(1.0),)
    assert float(_expl(game, herd)) == pytest.approx(HORIZON - 1, abs=1e-5)
    costly = minority_game(horizon=HORIZON, switching_cost=0.3, crowd_aversion=2.0)
    assert float(_expl(costly, costly.equilibrium_policy())) == pytest.approx(0.0, abs=1e-7)
    assert float(_expl(costly, herd)) == pytest.approx(2.0 * (HORIZON - 1), abs=1e-5)  # s/2 - s/2
    with pytest.raises(ValueError, match="switching_cost: expected a value >= 0"):
        minority_game(switching_cost=-1.0)
    with pytest.raises(ValueError, match="num_locations: expected an integer >= 2"):
        minority_game(num_locations=1)
    with pytest.raises(ValueError, match="initial: expected a probability vector of shape"):
        minority_game(initial=[0.5, 0.25, 0.25])


@pytest.mark.slow
def test_minority_n_agent_exploitability_shrinks_like_one_over_sqrt_n(minority_gains):
    """Exact N-agent gain of the stay-put MFE = the binomial closed form; log-log slope in [-0.65, -0.35].

    Measured (float32): 0.1964, 0.0993, 0.0498, 0.0249 for N = 16, 64, 256, 1024, slope -0.496;
    asymptotically (T - 1) c / sqrt(2 pi N). SIS (tests/test_mean_field_env.py) falls as N^-0.92 instead.
    """
    gain = minority_gains["stay"]
    np.testing.assert_allclose(gain, [_closed_form_gain(n, HORIZON) for n in SIZES], rtol=2e-3)
    slope = np.polyfit(np.log(SIZES), np.log(gain), 1)[0]
    assert -0.65 <= slope <= -0.35, slope
    np.testing.assert_allclose(gain * np.sqrt(SIZES), (HORIZON - 1) / np.sqrt(2 * np.pi), rtol=0.05)
    # re-drawing one's location at random every step is also an MFE, but the counts it leaves are
    # unpredictable: nothing to exploit, for every N
    np.testing.assert_allclose(minority_gains["redraw"], 0.0, atol=1e-5)
    # a switching cost makes staying strict: only fluctuations above s/c pay, the gain falls faster
    costly = minority_gains["stay_costly"]
    assert np.all(costly < gain) and costly[-1] < 0.25 * gain[-1]


@pytest.mark.slow
def test_float64():
    """Float64: OpenSpiel's float64 NashConv to 1e-9 and the closed-form N-agent gain to 1e-9.

    In this process with float64 switched on for the test (``jax.enable_x64``; jit caches key on it),
    one jitted call: a subprocess would cost ~4 s of start-up and compilation more."""
    with jax.enable_x64(True):
        g, m = linear_quadratic(), minority_game(horizon=3)
        nash_conv, gain = jax.jit(
            lambda g, m: (g.exploitability(g.uniform_policy()), n_agent_values(m, m.equilibrium_policy(), 101).gain)
        )(g, m)
        dtypes = (g.kappa.dtype, nash_conv.dtype, gain.dtype)
        nash_conv, gain = float(nash_conv), float(gain)
    assert jnp.zeros(1).dtype == np.float32  # switched off again
    assert dtypes == (np.float64,) * 3, dtypes
    k = np.arange(101)
    errors = [
        abs(nash_conv - OPENSPIEL_UNIFORM_NASH_CONV),
        abs(gain - 2 * np.sum(binom.pmf(k, 100, 0.5) * np.abs(2 * k - 100)) / 202),
    ]
    assert max(errors) < 1e-9, errors
