"""Stationary discounted mean-field games: exact mean field, values, best responses, known equilibria, solvers."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames.experiments import registry
from jaxgames.markov_chain import stationary_distribution
from jaxgames.mean_field import stationary_game, stationary_rps_population, stationary_sis_epidemic
from jaxgames.mean_field.rps_population import RPSPopulation

_expl = jax.jit(lambda g, p: g.exploitability(p))
_eval = jax.jit(lambda g, p: g.evaluate(p))
_mean_field = jax.jit(lambda g, p: g.mean_field(p))
_br = jax.jit(lambda g, p: g.best_response(p))
_br_value = jax.jit(lambda g, p: g.best_response_values(p)[0])
_soft_br = jax.jit(lambda g, p, tau: g.smooth_best_response(p, tau))
_reg_gap = jax.jit(lambda g, p, tau: g.regularized_nash_conv(p, tau))
_mix = jax.jit(lambda g, p, q, a: g.mix_policies(p, q, a))

GAMMA = 0.9


@pytest.fixture(scope="module")
def rps():
    return stationary_rps_population(discount=GAMMA, a=1.0, b=2.0, c=3.0)


@pytest.fixture(scope="module")
def sis():
    return stationary_sis_epidemic(discount=GAMMA)


def _random_policy(seed, s, a):
    return (jnp.asarray(np.random.default_rng(seed).dirichlet(np.ones(a), size=s), jnp.float32),)


# -- independent NumPy models (float64) ---------------------------------------------------------


def _np_rps(payoff, mu):
    """P[x, a, x'] = 1{x' = a}, r[x, a] = (payoff @ mu)[x]."""
    p = np.broadcast_to(np.eye(3)[None], (3, 3, 3))
    return p, np.broadcast_to((payoff @ mu)[:, None], (3, 3))


def _np_sis(mu, beta=0.8, rec=0.2, cost_i=1.0, exposure=(1.0, 0.0), dist_cost=(0.0, 0.5)):
    e = np.asarray(exposure)
    p = np.zeros((2, len(e), 2))
    p[0, :, 1] = beta * e * mu[1]
    p[0, :, 0] = 1 - p[0, :, 1]
    p[1, :, 0], p[1, :, 1] = rec, 1 - rec
    r = -np.array([0.0, cost_i])[:, None] - np.asarray(dist_cost)[None, :]
    return p, r


def _np_values(p, r, pi, gamma=GAMMA):
    p_pi, r_pi = np.einsum("xa,xay->xy", pi, p), np.sum(pi * r, -1)
    v = np.linalg.solve(np.eye(len(r_pi)) - gamma * p_pi, r_pi)
    return v, r + gamma * p @ v


# -- the stationary mean field -----------------------------------------------------------------


@pytest.mark.slow
def test_mean_field_matches_numpy_power_iteration(rps, sis):
    pi = _random_policy(0, 3, 3)
    chain = np.asarray(pi[0], np.float64)  # switching is deterministic: P_pi[x, x'] = pi(x'|x)
    chain /= chain.sum(-1, keepdims=True)  # float32 rows sum to 1 +- 1e-8: that would leak mass over 5000 steps
    mu = np.full(3, 1 / 3)
    for _ in range(5000):
        mu = mu @ chain
    np.testing.assert_allclose(_mean_field(rps, pi), mu, atol=2e-6)
    # mu-dependent dynamics: iterate the population dynamics itself, mu <- mu P_pi(mu), from initial
    pi = _random_policy(1, 2, 2)
    pi64 = np.asarray(pi[0], np.float64)
    pi64 /= pi64.sum(-1, keepdims=True)
    mu = np.array([0.6, 0.4])
    for _ in range(5000):
        mu = mu @ np.einsum("xa,xay->xy", pi64, _np_sis(mu)[0])
    np.testing.assert_allclose(_mean_field(sis, pi), mu, atol=1e-5)
    assert float(sis.mean_field_residual(pi)) < 1e-5


def test_stationary_distribution_periodic_and_multichain():
    """Periodic chains are solved exactly; with several recurrent classes the start picks one (Cesàro)."""
    np.testing.assert_allclose(
        stationary_distribution(jnp.array([[0.0, 1.0], [1.0, 0.0]]), jnp.array([1.0, 0.0])), [0.5, 0.5], atol=1e-6
    )
    two_traps = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(
        stationary_distribution(two_traps, jnp.array([0.2, 0.0, 0.8])), [0.6, 0.4, 0.0], atol=1e-6
    )


@pytest.mark.slow
def test_sis_closed_forms():
    """Endemic level 1 - gamma_r / (beta e); without infection mu(I) = 0 and distancing is pure cost."""
    game = stationary_sis_epidemic(discount=GAMMA)
    never, always = (jnp.array([[1.0, 0.0], [1.0, 0.0]]),), (jnp.array([[0.0, 1.0], [0.0, 1.0]]),)
    np.testing.assert_allclose(_mean_field(game, never), [0.25, 0.75], atol=2e-6)  # 1 - 0.2 / 0.8
    np.testing.assert_allclose(_mean_field(game, game.uniform_policy()), [0.5, 0.5], atol=2e-6)  # e = 1/2
    np.testing.assert_allclose(_mean_field(game, always), [1.0, 0.0], atol=2e-6)  # beta e = 0 < gamma_r
    free = stationary_sis_epidemic(discount=GAMMA, infection_rate=0.0)
    np.testing.assert_allclose(_mean_field(free, never), [1.0, 0.0], atol=1e-6)
    assert float(_eval(free, never).values[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(_expl(free, never)) == pytest.approx(0.0, abs=1e-6)
    assert float(_eval(free, always).values[0]) == pytest.approx(-0.5 / (1 - GAMMA), abs=1e-5)
    assert float(_expl(free, always)) == pytest.approx(0.5 / (1 - GAMMA), abs=1e-5)


def test_mix_policies_mixes_stationary_distributions(rps):
    """mu-independent dynamics: the distribution-weighted average has mean field (1-a) mu_p + a mu_q."""
    p, q = _random_policy(2, 3, 3), _random_policy(3, 3, 3)
    mixed = _mix(rps, p, q, 0.3)
    np.testing.assert_allclose(
        _mean_field(rps, mixed), 0.7 * _mean_field(rps, p) + 0.3 * _mean_field(rps, q), atol=1e-5
    )


# -- values and best responses ------------------------------------------------------------------


def test_values_match_numpy_linear_solve(rps, sis):
    for game, pi, model in (
        (rps, _random_policy(4, 3, 3), lambda mu: _np_rps(np.asarray(rps.model.payoff), mu)),
        (sis, _random_policy(5, 2, 2), _np_sis),
    ):
        ev = _eval(game, pi)
        mu = np.asarray(ev.reach[0], np.float64)
        v, q = _np_values(*model(mu), np.asarray(pi[0], np.float64))
        np.testing.assert_allclose(ev.action_values[0], q, atol=1e-4)
        assert float(ev.values[0]) == pytest.approx(mu @ v, abs=1e-4)


@pytest.mark.slow
def test_best_response_matches_brute_force(rps, sis):
    """Policy iteration = the best of all |A|^|S| deterministic policies, from every state."""
    for game, pi, model in (
        (rps, _random_policy(6, 3, 3), lambda mu: _np_rps(np.asarray(rps.model.payoff), mu)),
        (sis, _random_policy(7, 2, 2), _np_sis),
    ):
        s, a = game.num_states, game.num_actions
        mu = np.asarray(_mean_field(game, pi), np.float64)
        p, r = model(mu)
        all_v = np.array([_np_values(p, r, np.eye(a)[list(acts)])[0] for acts in itertools.product(range(a), repeat=s)])
        best = all_v.max(axis=0)
        np.testing.assert_allclose(all_v[np.argmax(all_v @ mu)], best, atol=1e-9)  # one policy is optimal everywhere
        assert float(_br_value(game, pi)) == pytest.approx(mu @ best, abs=1e-4)
        br = np.asarray(_br(game, pi)[0], np.float64)
        np.testing.assert_allclose(_np_values(p, r, br)[0], best, atol=1e-4)
        v_pi, _ = _np_values(p, r, np.asarray(pi[0], np.float64))
        assert float(_expl(game, pi)) == pytest.approx(mu @ (best - v_pi), abs=1e-4)


def test_rps_equilibria_closed_form(rps):
    classic = stationary_rps_population(discount=GAMMA)
    assert float(_expl(classic, classic.uniform_policy())) == pytest.approx(0.0, abs=1e-6)
    m = rps.model.equilibrium_distribution()
    eq = (jnp.broadcast_to(m, (3, 3)),)
    np.testing.assert_allclose(_mean_field(rps, eq), [0.5, 1 / 3, 1 / 6], atol=1e-6)
    assert float(_expl(rps, eq)) == pytest.approx(0.0, abs=1e-5)
    # uniform mu: rewards payoff @ u = (1, -2, 1) / 3 average 0 under the uniform policy; the best
    # response collects r(x) now and max r = 1/3 forever after: gain gamma / (1 - gamma) / 3
    for gamma in (0.5, GAMMA):
        game = stationary_rps_population(discount=gamma, a=1.0, b=2.0, c=3.0)
        assert float(_expl(game, game.uniform_policy())) == pytest.approx(gamma / (1 - gamma) / 3, abs=1e-5)


@pytest.mark.slow
def test_smooth_best_response_is_soft_value_iteration(sis):
    pi = _random_policy(8, 2, 2)
    tau = 0.3
    mu = np.asarray(_mean_field(sis, pi), np.float64)
    p, r = _np_sis(mu)
    v = np.zeros(2)
    for _ in range(2000):  # soft Bellman operator with a uniform reference
        q = r + GAMMA * p @ v
        v = tau * np.log(np.mean(np.exp(q / tau), axis=-1))
    expected = np.exp((q - q.max(-1, keepdims=True)) / tau)
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(_soft_br(sis, pi, tau)[0], expected, atol=1e-4)
    np.testing.assert_array_equal(_soft_br(sis, pi, 0.0)[0], _br(sis, pi)[0])
    # the regularised gap against mu(pi): soft optimum minus pi's KL-penalised value, from mu
    kl = np.sum(pi[0] * np.log(2 * np.asarray(pi[0], np.float64)), -1)
    v_pi, _ = _np_values(p, r - tau * kl[:, None], np.asarray(pi[0], np.float64))
    assert float(_reg_gap(sis, pi, tau)) == pytest.approx(mu @ (v - v_pi), abs=1e-4)


# -- the shared solvers run unchanged -----------------------------------------------------------


def _trace(solver, game, steps=200, every=50):
    state, trace = solvers.run(solver, game, steps, eval_every=every)
    return np.asarray(trace.exploitability), solver.output(state)


@pytest.mark.slow
def test_solvers_lower_exploitability_on_sis(sis):
    start = float(_expl(sis, sis.uniform_policy()))
    assert start > 1.0
    for solver in (
        solvers.fictitious_play(alternating=False),
        solvers.mirror_descent(1.0, output="last", alternating=False),
    ):
        expl, _ = _trace(solver, sis)
        assert expl[-1] < 0.01, expl
    tau = 0.2
    _, policy = _trace(solvers.boltzmann_iteration(tau, damping=0.1), sis)
    assert float(_reg_gap(sis, policy, tau)) < 1e-3
    assert float(_expl(sis, policy)) < start


@pytest.mark.slow
def test_solvers_on_stationary_rps(rps):
    """Deterministic switching makes RPS cycle: the averages make progress; Boltzmann converges (regularised)."""
    start = float(_expl(rps, rps.uniform_policy()))  # 3.0
    expl, _ = _trace(solvers.fictitious_play(alternating=False), rps)
    assert expl[-1] < 0.3 * start, expl
    expl, _ = _trace(solvers.mirror_descent(1.0, output="average", alternating=False), rps)
    assert expl[-1] < 0.3 * start, expl
    _, policy = _trace(solvers.boltzmann_iteration(1.0, damping=0.1), rps)
    assert float(_reg_gap(rps, policy, 1.0)) < 1e-3


# -- batching, float64, registry, bad input -----------------------------------------------------


@pytest.mark.slow
def test_vmap_over_discount_and_x64():
    gammas = jnp.array([0.0, 0.5, 0.9])
    uniform = stationary_sis_epidemic().uniform_policy()
    batched = jax.jit(jax.vmap(lambda g: stationary_sis_epidemic(discount=g).exploitability(uniform)))(gammas)
    for g, e in zip(gammas, batched):
        assert float(e) == pytest.approx(float(_expl(stationary_sis_epidemic(discount=float(g)), uniform)), abs=1e-5)
    # float64 in this process (``jax.enable_x64``; jit caches key on it), one jitted call: a subprocess
    # would cost ~5 s of start-up and compilation more
    with jax.enable_x64(True):
        never = (jnp.array([[1.0, 0.0], [1.0, 0.0]]),)
        mean_field, residual, rps_expl = jax.jit(
            lambda g, r: (g.mean_field(never), g.mean_field_residual(never), r.exploitability(r.uniform_policy()))
        )(stationary_sis_epidemic(), stationary_rps_population(a=1.0, b=2.0, c=3.0))
        err, residual, rps_err = abs(float(mean_field[1]) - 0.75), float(residual), abs(float(rps_expl) - 3.0)
    assert jnp.zeros(1).dtype == np.float32  # switched off again
    assert mean_field.dtype == np.float64 and err < 1e-12 and residual < 1e-12 and rps_err < 1e-12


def test_registry_and_bad_input():
    assert registry.build_game("mfg_stationary_sis_epidemic", {}, None).discount == pytest.approx(0.9)
    assert registry.build_game("mfg_stationary_rps_population", {"discount": 0.5}, None).num_states == 3
    for kwargs, match in [
        (dict(discount=1.0), r"discount: expected a value in \[0.0, 1.0\)"),
        (dict(discount=-0.1), "discount: expected a value in"),
        (dict(discount=(0.5, 0.6)), "discount: expected a scalar"),
        (dict(damping=0.0), r"damping: expected a value in \(0, 1\]"),
        (dict(damping=1.5), "damping: expected a value in"),
        (dict(max_mean_field_iterations=0), "max_mean_field_iterations: expected an integer >= 1"),
        (dict(infection_rate=2.0), "infection_rate: expected a value in"),
    ]:
        with pytest.raises(ValueError, match=match):
            stationary_sis_epidemic(**kwargs)
    with pytest.raises(ValueError, match="model: expected a MeanFieldGame"):
        stationary_game("sis", 0.9)

    class MaskedRPS(RPSPopulation):
        def action_mask(self):
            return ~np.eye(3, dtype=bool)

    masked = MaskedRPS(initial=jnp.ones(3) / 3, payoff=jnp.zeros((3, 3)), horizon=1)
    with pytest.raises(ValueError, match="model: expected every action legal"):
        stationary_game(masked, 0.9)
    game = stationary_rps_population()
    with pytest.raises(ValueError, match=r"policy\[0\]: expected shape \(3, 3\)"):
        game.validate_policy((jnp.ones((2, 3, 3)) / 3,))
    with pytest.raises(ValueError, match=r"policy\[0\]: expected probabilities summing to 1"):
        game.validate_policy((jnp.ones((3, 3)),))
