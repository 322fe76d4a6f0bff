"""More mean-field models: SIS epidemic, RPS population, beach bar, linear-quadratic (known answers)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames.mean_field import beach_bar, rps_population, sis_epidemic

# Jitted metrics: one XLA program per model type instead of many eager op dispatches.
_expl = jax.jit(lambda g, p: g.exploitability(p))
_value = jax.jit(lambda g, p: g.evaluate(p).values[0])
_mean_field = jax.jit(lambda g, p: g.mean_field(p))
_best_response = jax.jit(lambda g, p: g.best_response(p))


def _constant_policy(game, probs):
    return (jnp.broadcast_to(jnp.asarray(probs, jnp.float32), (game.horizon, game.num_states, game.num_actions)),)


# -- SIS epidemic -------------------------------------------------------------------------------


@pytest.mark.slow
def test_sis_one_step_closed_form():
    """mu_1(I) = mu_0(I)(1 - gamma) + mu_0(S) beta e_a mu_0(I); T = 1: BR never distances."""
    game = sis_epidemic(horizon=2)
    never, always = _constant_policy(game, [1.0, 0.0]), _constant_policy(game, [0.0, 1.0])
    np.testing.assert_allclose(_mean_field(game, never)[1], [0.488, 0.512], atol=1e-6)  # .4*.8 + .6*.8*.4
    np.testing.assert_allclose(_mean_field(game, always)[1], [0.68, 0.32], atol=1e-6)
    one = sis_epidemic(horizon=1)
    uniform = one.uniform_policy()
    # value of the uniform policy: -0.4 (infection) - 0.25 (mean distancing cost); BR gains the 0.25
    assert float(_value(one, uniform)) == pytest.approx(-0.65, abs=1e-6)
    assert float(_expl(one, uniform)) == pytest.approx(0.25, abs=1e-6)
    np.testing.assert_array_equal(_best_response(one, uniform)[0][0, :, 0], 1.0)


@pytest.mark.slow
def test_sis_without_infection_distancing_is_pure_cost():
    """beta = 0: nobody is ever infected by others; infected fraction decays as (1 - gamma)^t."""
    game = sis_epidemic(horizon=6, infection_rate=0.0)
    never = _constant_policy(game, [1.0, 0.0])
    mu_i = 0.4 * 0.8 ** np.arange(6)
    np.testing.assert_allclose(_mean_field(game, never)[:, 1], mu_i, atol=1e-6)
    assert float(_value(game, never)) == pytest.approx(-mu_i.sum(), abs=1e-5)
    assert float(_expl(game, never)) == pytest.approx(0.0, abs=1e-6)
    assert float(_expl(game, _constant_policy(game, [0.0, 1.0]))) == pytest.approx(6 * 0.5, abs=1e-5)


def test_sis_equilibrium_distances_when_prevalence_is_high():
    """At the (damped fixed-point) MFE, susceptibles distance early (prevalence 0.4) and never at the end."""
    game = sis_epidemic()
    solver = solvers.fixed_point(damping=0.01)
    state, trace = jax.jit(lambda g: solvers.run(solver, g, 2000, eval_every=2000))(game)
    policy = solver.output(state)
    assert float(trace.exploitability[-1]) < 2e-3
    assert float(policy[0][0, 0, 1]) > 0.99 and float(policy[0][-1, 0, 1]) < 0.01
    np.testing.assert_allclose(policy[0][:, 1, 0], 1.0, atol=1e-3)  # infected agents never pay to distance


@pytest.mark.slow
def test_sis_vmap_over_parameters_and_bad_input():
    rates = jnp.array([0.0, 0.4, 0.8])
    uniform = sis_epidemic().uniform_policy()
    expl = jax.vmap(lambda b: sis_epidemic(infection_rate=b).exploitability(uniform))(rates)
    for b, e in zip(rates, expl):
        assert float(e) == pytest.approx(float(sis_epidemic(infection_rate=float(b)).exploitability(uniform)), abs=1e-5)
    for kwargs, match in [
        (dict(infection_rate=1.5), "infection_rate: expected a value in"),
        (dict(recovery_rate=-0.1), "recovery_rate"),
        (dict(initial_infected=2.0), "initial_infected"),
        (dict(exposure=(1.0, 2.0)), "exposure: expected values in"),
        (dict(distancing_cost=(0.0, 0.1, 0.2)), "distancing_cost: expected shape"),
        (dict(horizon=0), "horizon: expected an integer >= 1"),
        (dict(infection_cost=float("nan")), "infection_cost: expected finite"),
    ]:
        with pytest.raises(ValueError, match=match):
            sis_epidemic(**kwargs)


# -- rock-paper-scissors population -------------------------------------------------------------


def test_rps_uniform_is_an_equilibrium():
    game = rps_population()
    assert float(_expl(game, game.uniform_policy())) == pytest.approx(0.0, abs=1e-6)
    # from a skewed start, moving everyone to the uniform mix is still exact: rewards vanish from t = 1
    skewed = rps_population(initial=[0.7, 0.2, 0.1])
    assert float(_expl(skewed, skewed.equilibrium_policy())) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow
def test_rps_generalised_equilibrium_and_pure_population():
    a, b, c = 1.0, 2.0, 3.0
    game = rps_population(horizon=5, a=a, b=b, c=c)
    m = np.array([c, b, a]) / (a + b + c)
    np.testing.assert_allclose(game.equilibrium_distribution(), m, atol=1e-6)
    np.testing.assert_allclose(game.payoff @ m, 0.0, atol=1e-6)
    assert float(_expl(game, game.equilibrium_policy())) == pytest.approx(0.0, abs=1e-5)
    # uniform is NOT an equilibrium of the skewed game
    assert float(_expl(game, game.uniform_policy())) > 0.1
    # everyone moves to rock: from t = 1 mu = rock; the best response holds paper (+a per step)
    classic = rps_population(horizon=5)
    rock = _constant_policy(classic, [1.0, 0.0, 0.0])
    assert float(_expl(classic, rock)) == pytest.approx(4 * 1.0, abs=1e-5)
    np.testing.assert_array_equal(_best_response(classic, rock)[0][:-1, :, 1], 1.0)


@pytest.mark.slow
def test_rps_solvers_and_bad_input():
    game = rps_population(horizon=5, a=1.0, b=2.0, c=3.0)
    # deterministic switching makes the game hard (cycling); fictitious play still makes progress
    _, trace = solvers.run(solvers.fictitious_play(alternating=False), game, 200, eval_every=50)
    expl = np.asarray(trace.exploitability)
    assert np.all(np.diff(expl) < 0) and expl[-1] < 0.25 * float(_expl(game, game.uniform_policy()))
    with pytest.raises(ValueError, match="a: expected a value > 0"):
        rps_population(a=-1.0)
    with pytest.raises(ValueError, match="initial: expected probabilities summing to 1"):
        rps_population(initial=[0.5, 0.5, 0.5])


# -- beach bar -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_beach_bar_mirror_symmetry():
    """Reflecting x -> 2 bar - x and swapping left/right maps the game onto itself."""
    game = beach_bar(size=9, horizon=5)
    rng = np.random.default_rng(0)
    policy = (jnp.asarray(rng.dirichlet(np.ones(3), size=(5, 9)), jnp.float32),)
    mirror = (2 * game.bar - np.arange(9)) % 9
    flipped = (policy[0][:, mirror, ::-1],)
    np.testing.assert_allclose(_mean_field(game, flipped), _mean_field(game, policy)[:, mirror], atol=1e-6)
    assert float(_expl(game, flipped)) == pytest.approx(float(_expl(game, policy)), abs=1e-5)
    assert float(_value(game, flipped)) == pytest.approx(float(_value(game, policy)), abs=1e-5)
    # agents want to be at the bar: the best response at the last step stays there
    assert float(_best_response(game, policy)[0][-1, game.bar, 1]) == 1.0


@pytest.mark.slow
def test_beach_bar_solvers_lower_exploitability_and_bad_input():
    game = beach_bar()
    start = float(_expl(game, game.uniform_policy()))
    for solver in (
        solvers.fictitious_play(alternating=False),
        solvers.mirror_descent(1.0, output="last", alternating=False),
    ):
        _, trace = solvers.run(solver, game, 100, eval_every=100)
        assert float(trace.exploitability[-1]) < start / 20
    for kwargs, match in [
        (dict(bar=11), "bar: expected an integer in \\[0, 10\\]"),
        (dict(noise=1.5), "noise"),
        (dict(crowd_aversion=[1.0]), "crowd_aversion: expected a scalar"),
    ]:
        with pytest.raises(ValueError, match=match):
            beach_bar(**kwargs)
