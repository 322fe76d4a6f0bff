"""Mean-field reliability: size limits before any table is built, clear errors for every argument,
traced coefficients, the OpenSpiel bridge of the 2-D crowd model, walls at the start, and the
stationary SIS mean field near its epidemic threshold."""

import ast

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgames import mean_field
from jaxgames.mean_field import (
    beach_bar,
    crowd_modelling,
    crowd_modelling_2d,
    linear_quadratic,
    minority_game,
    n_agent_values,
    rps_population,
    sis_epidemic,
    stationary_game,
    stationary_sis_epidemic,
)

NEVER = (jnp.array([[1.0, 0.0], [1.0, 0.0]]),)  # SIS: nobody distances


# -- 1. sizes are checked before anything is built -------------------------------------------------


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: crowd_modelling(size=10**6), r"size: the transition tensor .* needs [\d.]+ TiB"),
        (lambda: crowd_modelling_2d(size=1000), r"size: the transition tensor .* needs [\d.]+ TiB"),
        (lambda: beach_bar(size=10**6), "size: the transition tensor"),
        (lambda: minority_game(num_locations=10**5), "num_locations: the transition tensor"),
        (lambda: linear_quadratic(size=10**5), "size: the transition tensor"),
        (lambda: linear_quadratic(size=200, n_actions_per_side=2000), "n_actions_per_side: the transition's one-hot"),
        (lambda: crowd_modelling(size=10, horizon=10**9), r"horizon: a policy table \[T, S, A\]"),
        (lambda: rps_population(horizon=10**10), "horizon: a policy table"),
        (lambda: sis_epidemic(horizon=10**10), "horizon: a policy table"),
        (
            lambda: n_agent_values(sis_epidemic(horizon=2), sis_epidemic(horizon=2).uniform_policy(), 10**6),
            "num_agents: the count kernels",
        ),
        (
            lambda: n_agent_values(
                sis_epidemic(horizon=2), sis_epidemic(horizon=2).uniform_policy(), 4, max_agents=10**6
            ),
            "max_agents: the count kernels",
        ),
    ],
)
def test_too_big_games_are_refused_up_front(build, match):
    """A fast ValueError naming the size field and the bytes (these used to abort the process, exit 134)."""
    with pytest.raises(ValueError, match=match) as info:
        build()
    assert "max_bytes" in str(info.value)


@pytest.mark.slow
def test_max_bytes_keyword_and_int32_element_limit():
    with pytest.raises(ValueError, match=r"size: the transition tensor .* needs [\d.]+ KiB, above max_bytes = 500 B"):
        crowd_modelling(size=20, horizon=2, max_bytes=500)
    assert crowd_modelling(size=20, horizon=2, max_bytes=10**4).num_states == 20
    assert crowd_modelling_2d(size=4, horizon=2, max_bytes=10**5).num_states == 16
    with pytest.raises(ValueError, match="max_bytes: expected an integer"):
        crowd_modelling(size=5, max_bytes=2.5)
    # under any max_bytes, XLA's int32 indexing caps one table at 2**31 - 1 entries
    with pytest.raises(ValueError, match=r"size: .* would hold 10,883,911,680 entries, above the .* \(2\*\*31 - 1\)"):
        crowd_modelling_2d(size=216, max_bytes=2**50)
    with pytest.raises(ValueError, match=r"horizon: a policy table .* above the 2,147,483,647"):
        sis_epidemic(horizon=2**31, max_bytes=2**50)


# -- 2. integers, booleans, strings ------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: crowd_modelling(size=4.0), "size: expected an integer"),
        (lambda: crowd_modelling(horizon="3"), "horizon: expected an integer"),
        (lambda: crowd_modelling(crowd_aversion="abc"), "crowd_aversion: expected a number"),
        (lambda: crowd_modelling(crowd_aversion=-1.0), "crowd_aversion: expected a value >= 0"),
        (lambda: crowd_modelling(move_penalty=None, noise="x"), "noise: expected a number or numeric array"),
        (lambda: crowd_modelling(move_cost_model=None), "move_cost_model: expected one of"),
        (lambda: crowd_modelling_2d(size=3, only_distribution_reward="yes"), "only_distribution_reward: expected True"),
        (lambda: crowd_modelling_2d(size=3, only_distribution_reward=None), "only_distribution_reward: expected True"),
        (lambda: crowd_modelling_2d(size=3, forbidden=[(1.5, 0)]), r"forbidden\[0\]\[0\]: expected an integer"),
        (lambda: crowd_modelling_2d(size=3, forbidden=[(1, True)]), r"forbidden\[0\]\[1\]: expected an integer"),
        (lambda: crowd_modelling_2d(size=3, forbidden="ab"), "forbidden: expected a sequence"),
        (lambda: crowd_modelling_2d(size=3, forbidden=[1, 2]), "forbidden: expected cells"),
        (lambda: crowd_modelling_2d(size=2, forbidden=[(0, 0), (0, 1), (1, 0), (1, 1)]), "forbidden: walls cover all"),
        (lambda: crowd_modelling_2d(size=3, noise_intensity="0.5"), "noise_intensity: expected a number"),
        (lambda: beach_bar(bar=2.0), "bar: expected an integer"),
        (lambda: beach_bar(bar=-1), r"bar: expected an integer in \[0, 10\]"),
        (lambda: beach_bar(distance_weight="far"), "distance_weight: expected a number"),
        (lambda: minority_game(num_locations=2.5), "num_locations: expected an integer"),
        (lambda: linear_quadratic(n_actions_per_side=True), "n_actions_per_side: expected an integer"),
        (lambda: linear_quadratic(kappa="1"), "kappa: expected a number"),
        (lambda: rps_population(a=None), "a: expected a number"),
        (lambda: rps_population(b=0.0), "b: expected a value > 0"),
        (lambda: sis_epidemic(infection_rate="0.5"), "infection_rate: expected a number"),
        (lambda: sis_epidemic(exposure="ab"), "exposure: expected a number or numeric array"),
        (
            lambda: stationary_game(rps_population(horizon=1), mean_field_dependent="yes"),
            "mean_field_dependent: expected True or False",
        ),
        (lambda: stationary_sis_epidemic(max_mean_field_iterations=10.0), "max_mean_field_iterations: expected an int"),
        (
            lambda: n_agent_values(sis_epidemic(horizon=2), sis_epidemic(horizon=2).uniform_policy(), 3.0),
            "num_agents: expected an integer",
        ),
        (
            lambda: n_agent_values(
                sis_epidemic(horizon=2), sis_epidemic(horizon=2).uniform_policy(), 4.5, max_agents=8
            ),
            "num_agents: expected an integer",
        ),
        (
            lambda: n_agent_values(sis_epidemic(horizon=2), sis_epidemic(horizon=2).uniform_policy(), 9, max_agents=8),
            r"num_agents: expected an integer in \[2, 8\]",
        ),
        (lambda: n_agent_values("sis", None, 4), "game: expected a MeanFieldGame"),
    ],
)
def test_bad_arguments_name_their_field(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.slow
def test_traced_coefficients_under_jit_and_vmap():
    """Float coefficients may be traced: the constructors validate only what is concrete."""
    uniform = sis_epidemic(horizon=3).uniform_policy()

    def expl(b, c):
        return sis_epidemic(3, infection_rate=b, infection_cost=c).exploitability(uniform)

    reference = jax.jit(lambda g: g.exploitability(uniform))
    assert float(jax.jit(expl)(0.3, 2.0)) == pytest.approx(
        float(reference(sis_epidemic(3, 0.3, infection_cost=2.0))), abs=1e-6
    )
    batched = jax.vmap(expl)(jnp.array([0.3, 0.8]), jnp.array([2.0, 1.0]))
    for b, c, e in zip((0.3, 0.8), (2.0, 1.0), batched):
        assert float(e) == pytest.approx(float(reference(sis_epidemic(3, b, infection_cost=c))), abs=1e-6)


# -- 3. the OpenSpiel bridge of the 2-D crowd model --------------------------------------------------


def _openspiel_mean_field(nc, size, horizon):
    """``[T, S]`` from OpenSpiel's distribution (keys ``"(x, y, t)_a"``); ``t = 0`` is the start."""
    out = np.zeros((horizon, size * size))
    for key, value in nc._distrib.distribution.items():
        if key.endswith("_a"):
            x, y, t = ast.literal_eval(key[:-2])
            if t < horizon:
                out[t, x * size + y] = value
    return out


def _cross_check(game, seed):
    from open_spiel.python.mfg.algorithms import nash_conv

    import jaxgames
    from jaxgames.mean_field.openspiel import openspiel_game, to_openspiel_policy

    spiel_game = openspiel_game(game)
    mask = np.asarray(game.legal_mask()[0])
    w = np.random.default_rng(seed).exponential(size=mask.shape) * mask
    policy = (jnp.asarray(w / w.sum(-1, keepdims=True), jnp.float32),)
    nc = nash_conv.NashConv(spiel_game, to_openspiel_policy(game, policy, spiel_game))
    assert float(jaxgames.exploitability(game, policy)) == pytest.approx(nc.nash_conv(), abs=2e-5)
    mu = np.asarray(game.mean_field(policy))
    np.testing.assert_allclose(_openspiel_mean_field(nc, game.size, game.horizon)[1:], mu[1:], atol=1e-6)
    return spiel_game


@pytest.mark.slow
@pytest.mark.requires_pyspiel
def test_crowd_2d_bridge_asymmetric_start_matches_openspiel():
    """OpenSpiel reads start cells as y|x (and starts in its own chance order): an asymmetric start checks both."""
    size = 4
    rng = np.random.default_rng(3)
    for forbidden in ((), ((1, 2), (3, 0))):
        wall = np.zeros((size, size), bool)
        for x, y in forbidden:
            wall[x, y] = True
        start = rng.exponential(size=(size, size)) * ~(wall | wall.T) * (rng.random((size, size)) < 0.6)
        start[0, 1] += 2.0  # far from symmetric
        start = (start / start.sum()).reshape(-1)
        game = crowd_modelling_2d(size, 3, noise_intensity=0.5, forbidden=forbidden, initial=start)
        spiel_game = _cross_check(game, seed=len(forbidden))
        cells = spiel_game.get_parameters()["initial_distribution"]
        assert "1|0" in cells.strip("[]").split(";")  # cell (x, y) = (0, 1) written y|x
    one_cell = np.zeros(size * size)
    one_cell[0 * size + 1] = 1.0
    _cross_check(crowd_modelling_2d(size, 3, initial=one_cell), seed=5)


@pytest.mark.requires_pyspiel
def test_crowd_2d_bridge_uniform_start_is_left_to_openspiel_and_clashes_are_refused():
    from jaxgames.mean_field.openspiel import crowd_modelling_2d_params, openspiel_game

    params = crowd_modelling_2d_params(crowd_modelling_2d(3, 2))
    assert "initial_distribution" not in params and "initial_distribution_value" not in params
    # OpenSpiel's overlap check compares x|y walls with y|x starts: a start on the transpose of a wall
    start = np.zeros(9)
    start[1 * 3 + 0] = 1.0  # cell (1, 0); wall at (0, 1)
    with pytest.raises(ValueError, match=r"initial: OpenSpiel's mfg_crowd_modelling_2d cannot start agents at"):
        openspiel_game(crowd_modelling_2d(3, 2, forbidden=[(0, 1)], initial=start))


@pytest.mark.requires_pyspiel
def test_crowd_1d_bridge_refuses_coefficients_openspiel_does_not_take():
    from jaxgames.mean_field.openspiel import openspiel_game

    assert openspiel_game(crowd_modelling(5, 2, move_cost_model="action")).get_parameters()["size"] == 5
    start = np.arange(1.0, 6.0) / 15
    for field, value in (
        ("crowd_aversion", 2.0),
        ("move_penalty", 0.5),
        ("noise", [0.2, 0.6, 0.2]),
        ("initial", start),
    ):
        with pytest.raises(ValueError, match=f"{field}: OpenSpiel's mfg_crowd_modelling takes only size and horizon"):
            openspiel_game(crowd_modelling(5, 2, **{field: value}))


@pytest.mark.slow
@pytest.mark.requires_pyspiel
def test_crowd_2d_bridge_float64_uniform_start_is_exact():
    """In float64 a uniform start agrees to ~1e-12: it is not sent through OpenSpiel's float32 parser.

    In this process with float64 switched on for the test (``jax.enable_x64``; jit caches key on it):
    a subprocess would cost ~5 s of start-up more."""
    from open_spiel.python.mfg.algorithms import nash_conv

    import jaxgames
    from jaxgames.mean_field.openspiel import openspiel_game, to_openspiel_policy

    w = np.random.default_rng(0).exponential(size=(2, 9, 5))
    with jax.enable_x64(True):
        game = crowd_modelling_2d(3, 2, noise_intensity=0.5)
        policy = (jnp.asarray(w / w.sum(-1, keepdims=True)),)
        spiel = openspiel_game(game)
        theirs = nash_conv.NashConv(spiel, to_openspiel_policy(game, policy, spiel)).nash_conv()
        ours = jax.jit(jaxgames.exploitability)(game, policy)
    assert jnp.zeros(1).dtype == np.float32  # switched off again
    assert game.initial.dtype == np.float64 and ours.dtype == np.float64, (game.initial.dtype, ours.dtype)
    assert abs(float(ours) - theirs) < 1e-10, (float(ours), theirs)


# -- 4. walls hold no start mass -----------------------------------------------------------------------


@pytest.mark.slow
def test_default_start_avoids_walls_and_matches_openspiel():
    game = crowd_modelling_2d(size=5, horizon=4, forbidden=[(1, 1)])
    wall = 1 * 5 + 1
    initial = np.asarray(game.initial)
    assert initial[wall] == 0.0
    np.testing.assert_allclose(np.delete(initial, wall), 1 / 24, rtol=1e-6)
    assert np.all(np.asarray(game.mean_field(game.uniform_policy()))[:, wall] == 0.0)
    explicit = crowd_modelling_2d(size=5, horizon=4, forbidden=[(1, 1)], initial=game.initial)  # accepted
    np.testing.assert_array_equal(explicit.initial, game.initial)
    with pytest.raises(ValueError, match=r"initial: puts probability on forbidden cells \(x, y\) \[\(1, 1\)\]"):
        crowd_modelling_2d(size=5, horizon=4, forbidden=[(1, 1)], initial=np.full(25, 1 / 25))
    pytest.importorskip("pyspiel")
    # walls symmetric about the diagonal: OpenSpiel's overlap check refuses a start on the transpose of a wall
    _cross_check(crowd_modelling_2d(size=4, horizon=3, forbidden=[(1, 1), (2, 0), (0, 2)]), seed=7)


# -- 5. stationary SIS near its epidemic threshold -----------------------------------------------------

_info = jax.jit(lambda g, p: g.mean_field_info(p))


def test_stationary_sis_near_threshold_matches_closed_form():
    """mu(I) = 1 - gamma_r / beta for beta just above gamma_r (the damped map contracts by 0.995 per step;
    the plain iteration stopped 7% off after its 1000 steps)."""
    for beta, damping in ((0.201, 1.0), (0.205, 0.5)):
        game = stationary_sis_epidemic(infection_rate=beta, recovery_rate=0.2, damping=damping)
        info = _info(game, NEVER)
        assert bool(info.converged) and int(info.iterations) < 50
        assert float(info.mean_field[1]) == pytest.approx(1 - 0.2 / beta, abs=2e-5)
        assert float(info.residual) < 1e-6
    # the start still selects the endemic fixed point, not the disease-free one, from a tiny prevalence
    tiny = _info(stationary_sis_epidemic(initial_infected=1e-3), NEVER)
    assert float(tiny.mean_field[1]) == pytest.approx(0.75, abs=1e-5)


@pytest.mark.slow
def test_stationary_sis_stall_is_reported_with_the_true_residual():
    game = stationary_sis_epidemic(infection_rate=0.201, recovery_rate=0.2, max_mean_field_iterations=3)
    info = _info(game, NEVER)
    assert not bool(info.converged) and int(info.iterations) == 3
    # the true residual: |stat(P(mu)) - mu|_1, the frozen chain's infected share being p / (p + gamma_r)
    m = float(info.mean_field[1])
    p = 0.201 * m
    assert float(info.residual) == pytest.approx(2 * abs(p / (p + 0.2) - m), rel=1e-3)
    assert float(info.residual) > 1e-4
    both = jax.jit(lambda g: jnp.stack([g.mean_field(NEVER)[1], g.mean_field_residual(NEVER)]))
    with pytest.warns(
        RuntimeWarning, match="mean_field: the stationary mean-field iteration stopped at max_mean_field_iterations=3"
    ):
        mu_infected, residual = np.asarray(both(game))
    assert float(residual) == pytest.approx(float(info.residual))
    assert float(mu_infected) == pytest.approx(m)


def test_mean_field_family_is_exported():
    assert mean_field.crowd_modelling_2d is crowd_modelling_2d


def test_overflowing_coefficients_are_named():
    """Finite but huge coefficients overflow the rewards: the error names the coefficients."""
    big = 0.9 * float(jnp.finfo(jnp.result_type(float)).max)
    for build, match in (
        (lambda: crowd_modelling(5, 2, crowd_aversion=big), "crowd_aversion, move_penalty: "),
        (lambda: minority_game(crowd_aversion=big, switching_cost=big), "crowd_aversion, "),
        (
            lambda: sis_epidemic(infection_cost=big, distancing_cost=(0.0, big)),
            "infection_cost, distancing_cost: the rewards overflow",
        ),
    ):
        with pytest.raises(ValueError, match=match):
            build()
