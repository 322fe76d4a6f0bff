"""``jaxgames.equilibria.logit_qre``: the KL-regularized equilibrium of every family and its implicit
derivative, in float64 (``jax.enable_x64`` scoped to each test).

* gradients (every array leaf of the game, and the temperature) against central finite differences
  (relative 1e-6), one game per family: a three-player general-sum matrix game (every payoff, via
  ``jacrev`` and 38 perturbed games in one ``vmap``), Kuhn poker, a 40x33 zero-sum game (Krylov
  solves above ``DENSE_MAX``); ``slow``: a preference game (through ``preference_game(P)``), a
  contextual preference game, a random discounted Markov game, crowd modelling, ``jacfwd``, and
  Leduc poker (2,808 unknowns) and crowd modelling (960);
* cross-checks: a 2x2 game against SciPy's ``brentq`` on the logistic QRE equations (the default
  method, the QRE path); ``slow``: Kuhn poker's dilated-KL-regularized equilibrium against
  ``solvers.mmd(geometry="dilated", magnet_update_every=0)`` alone (the ``solver=`` path, no Newton);
* reporting: ``nan`` under ``jit`` and a ``ValueError`` outside it when not converged, a warm start
  at the answer; bad input.

Every compiled program serves all the evaluations of its test (``value_and_grad`` gives the finite
differences too, in one program per game), which keeps the quick part at about 25 s of CPU.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

import solvers
from jaxgames import efg, markov, matrix, mean_field
from jaxgames.capabilities import CapabilityError
from jaxgames.equilibria import logit_qre
from jaxgames.equilibria import qre as qre_module


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _tree_dot(a, b):
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def _directions(seed, tree, relative=False):
    """A standard normal tree like ``tree`` (NumPy: no compilation per leaf shape); with ``relative``,
    each leaf scaled by its RMS (a finite-difference step small against the leaf: the initial
    distribution of 100 cells is 0.01 each)."""
    rng = np.random.default_rng(seed)
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    out = []
    for x in leaves:
        d = rng.standard_normal(np.shape(x))
        out.append(d * np.sqrt(np.mean(np.square(np.asarray(x)))) if relative else d)
    return jax.tree_util.tree_unflatten(treedef, out)


def _shift(tree, direction, step):
    """``tree + step * direction`` leafwise, in NumPy."""
    return jax.tree_util.tree_map(lambda x, d: jnp.asarray(np.asarray(x) + step * d), tree, direction)


def _check_gradient(build, theta, tau, h=1e-5, rtol=1e-6, **kw):
    """``jax.grad`` of a random linear functional of the QRE along a random direction of
    ``(theta, tau)``, and in ``tau`` alone, against central differences; one compiled
    ``value_and_grad`` gives the gradient and the finite differences."""
    weights = _directions(0, build(theta).uniform_policy())

    def f(theta, tau):
        qre = logit_qre(build(theta), tau, **kw)
        return _tree_dot(weights, qre.policy), qre.regularized_nash_conv

    value_and_grad = jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))

    def value(theta, tau):
        (v, gap), _ = value_and_grad(theta, tau)
        assert abs(float(gap)) < 1e-12
        return float(v)

    _, (g_theta, g_tau) = value_and_grad(theta, tau)
    v, v_tau = _directions(1, theta, relative=True), 0.3 * tau
    ad = float(sum(np.vdot(g, d) for g, d in zip(jax.tree_util.tree_leaves(g_theta), jax.tree_util.tree_leaves(v))))
    ad += float(g_tau) * v_tau
    fd = (value(_shift(theta, v, h), tau + h * v_tau) - value(_shift(theta, v, -h), tau - h * v_tau)) / (2 * h)
    assert abs(ad - fd) <= rtol * abs(fd), (ad, fd)
    fd_tau = (value(theta, tau + h) - value(theta, tau - h)) / (2 * h)
    assert abs(float(g_tau) - fd_tau) <= rtol * abs(fd_tau), (float(g_tau), fd_tau)


@pytest.mark.slow
def test_gradient_kuhn_poker(x64):
    _check_gradient(lambda g: g, efg.kuhn_poker(), 0.2, method="iterate")


@pytest.mark.slow
def test_gradient_preference_game(x64):
    P = matrix.random_intransitive_preferences(jax.random.key(3), 4)
    _check_gradient(matrix.preference_game, P, 0.2, method="iterate")


@pytest.mark.slow
def test_gradient_contextual_preference_game(x64):
    _check_gradient(lambda g: g, matrix.random_contextual_preference(jax.random.key(2), 2, 3), 0.2, method="iterate")


@pytest.mark.slow
def test_gradient_discounted_markov_game(x64):
    """Transitions, rewards, the discount and the initial distribution (on which the Markov
    equilibrium does not depend)."""
    _check_gradient(lambda g: g, markov.random_general_sum(jax.random.key(1), 3, 2), 0.3, method="iterate")


@pytest.mark.slow
def test_gradient_crowd_modelling(x64):
    """Every leaf: crowd aversion, move penalty, position reward, noise, initial distribution."""
    _check_gradient(lambda g: g, mean_field.crowd_modelling(size=5, horizon=3), 0.5, method="iterate")


@pytest.mark.slow
def test_gradient_krylov_above_dense_max(x64):
    """73 unknowns (> ``DENSE_MAX``): Newton and the implicit derivative are matrix-free (GMRES inside
    ``custom_linear_solve``, transposed for reverse mode). (``"auto"`` would anneal here; the slow
    tests on Leduc poker and crowd modelling run it.)"""
    from jaxgames.equilibria import qre

    payoffs = matrix.random_zero_sum(jax.random.key(6), (40, 33)).payoffs
    assert 40 + 33 > qre.DENSE_MAX
    _check_gradient(matrix.MatrixGame, payoffs, 0.1, method="iterate")


def _two_by_two():
    """Asymmetric matching pennies: no pure equilibrium, a unique QRE at every temperature."""
    return matrix.bimatrix(jnp.array([[9.0, 0.0], [0.0, 1.0]]), jnp.array([[0.0, 1.0], [1.0, 0.0]]))


def test_two_by_two_against_brentq(x64):
    """``p = s((10 q - 1) / tau)``, ``q = s((1 - 2 p) / tau)`` (``s`` the logistic function) solved by
    SciPy's ``brentq`` in ``p`` alone, against the default method (the QRE path)."""
    tau = 0.7
    s = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    p = brentq(lambda p: p - s((10 * s((1 - 2 * p) / tau) - 1) / tau), 0.0, 1.0, xtol=1e-15, rtol=1e-15)
    q = s((1 - 2 * p) / tau)
    qre = logit_qre(_two_by_two(), tau)
    np.testing.assert_allclose(qre.policy[0], [p, 1 - p], atol=1e-12)
    np.testing.assert_allclose(qre.policy[1], [q, 1 - q], atol=1e-12)
    assert bool(qre.converged) and float(qre.residual) < 1e-13


def _solve(payoffs, tau):
    return logit_qre(matrix.MatrixGame(payoffs), tau, method="iterate").policy


def _solve_with_aux(payoffs, tau):
    policy = _solve(payoffs, tau)
    return policy[0], policy


@pytest.mark.slow
def test_three_player_jacrev_and_vmap_against_central_differences(x64):
    """A three-player general-sum game: ``jacrev`` in every payoff and the temperature against central
    differences, all 38 perturbed games solved in one ``vmap`` (over games and temperatures), whose
    unperturbed row equals the single solve."""
    payoffs, tau, h = matrix.random_game(jax.random.key(0), (2, 3, 2)).payoffs, 0.5, 1e-6
    (jac_p, jac_tau), policy = jax.jit(jax.jacrev(_solve_with_aux, argnums=(0, 1), has_aux=True))(payoffs, tau)
    assert jac_p.shape == (2, *payoffs.shape)
    eye = np.eye(payoffs.size).reshape(-1, *payoffs.shape)
    batch = np.concatenate([np.asarray(payoffs)[None], payoffs + h * eye, payoffs - h * eye, [payoffs] * 2])
    taus = np.concatenate([np.full(1 + 2 * payoffs.size, tau), [tau + h, tau - h]])
    batched = jax.jit(jax.vmap(_solve))(batch, taus)
    for i in range(3):
        np.testing.assert_allclose(batched[i][0], policy[i], atol=1e-13)
    first = np.asarray(batched[0])  # player 0's policy [39, 2]
    fd = (first[1 : 1 + payoffs.size] - first[1 + payoffs.size : -2]) / (2 * h)  # [36, 2]
    np.testing.assert_allclose(np.moveaxis(np.asarray(jac_p).reshape(2, -1), 0, 1), fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(jac_tau, (first[-2] - first[-1]) / (2 * h), rtol=1e-6)


@pytest.mark.slow
def test_jacfwd_equals_jacrev(x64):
    payoffs = matrix.random_game(jax.random.key(5), (2, 3, 2)).payoffs
    rev = jax.jacrev(lambda p: _solve(p, 0.4)[0])(payoffs)
    fwd = jax.jacfwd(lambda p: _solve(p, 0.4)[0])(payoffs)
    np.testing.assert_allclose(rev, fwd, atol=1e-12)


@pytest.mark.slow
def test_kuhn_against_dilated_mmd(x64):
    """The dilated-KL-regularized equilibrium of Kuhn poker: the default solve against
    ``solvers.mmd(geometry="dilated", magnet_update_every=0)`` run alone to rounding (``solver=``,
    no Newton; ``logit_qre`` hands it the uniform reference as magnet), whose rest point it is
    (``EFGGame.dilated_mirror_step``, a closed form of its own); with Newton after it too."""
    game, tau = efg.kuhn_poker(), 0.2
    reference = logit_qre(game, tau)
    mmd = solvers.mmd(learning_rate=1.0, temperature=tau, magnet_update_every=0, geometry="dilated")
    alone = logit_qre(game, tau, solver=mmd, newton_steps=0, max_steps=5000, tol=1e-12)
    polished = logit_qre(game, tau, solver=mmd, max_steps=200)
    for a, b, c in zip(alone.policy, reference.policy, polished.policy):
        np.testing.assert_allclose(a, b, atol=1e-10)
        np.testing.assert_allclose(c, b, atol=1e-13)


def test_not_converged_is_nan_under_jit_and_raises_outside_and_warm_start(x64):
    """One iteration from the uniform policy does not converge: ``nan`` under ``jit``, a ``ValueError``
    outside; from the answer (a warm start, the same compiled program) it does."""
    game, tau = _two_by_two(), 0.5
    kw = dict(method="iterate", max_steps=1, newton_steps=0)
    qre = jax.jit(lambda g: logit_qre(g, tau, init=g.uniform_policy(), **kw))(game)
    assert not bool(qre.converged) and float(qre.regularized_nash_conv) > 1e-9
    assert all(bool(jnp.all(jnp.isnan(p))) for p in qre.policy)
    with pytest.raises(ValueError, match=r"regularized_nash_conv \S+ > tol=1e-09 at temperature 0\.5"):
        logit_qre(game, tau, init=game.uniform_policy(), **kw)
    answer = logit_qre(game, tau, method="iterate").policy
    warm = logit_qre(game, tau, init=answer, **kw)
    assert bool(warm.converged)
    np.testing.assert_allclose(warm.policy[0], answer[0], atol=1e-13)


def test_bad_input():
    game = _two_by_two()
    for tau in (0.0, -1.0, float("nan"), jnp.ones(2)):
        with pytest.raises(ValueError, match="temperature"):
            logit_qre(game, tau)
    mg = markov.random_general_sum(jax.random.key(0), 3, 2)
    finite = markov.MarkovGame(mg.transitions, mg.rewards, 0.9, mg.initial, horizon=3)
    with pytest.raises(CapabilityError, match="horizon=None"):
        logit_qre(finite, 0.5)
    with pytest.raises(ValueError, match="StationaryMeanFieldGame"):
        logit_qre(mean_field.stationary_rps_population(), 0.5)
    with pytest.raises(ValueError, match="logit_qre needs a matrix"):
        logit_qre(object(), 0.5)
    with pytest.raises(ValueError, match=r"init\[1\]: expected shape \(2,\), got \(3,\)"):
        logit_qre(game, 0.5, init=(jnp.full(2, 0.5), jnp.full(3, 1 / 3)))
    with pytest.raises(ValueError, match="reference: expected a policy, a tuple of 2 arrays"):
        logit_qre(game, 0.5, reference=jnp.full(2, 0.5))
    with pytest.raises(ValueError, match=r"reference\[0\]"):
        logit_qre(game, 0.5, reference=(jnp.array([0.7, 0.7]), jnp.full(2, 0.5)))
    with pytest.raises(ValueError, match="method: 'path'"):
        logit_qre(game, 0.5, method="path", init=game.uniform_policy())
    with pytest.raises(ValueError, match="method"):
        logit_qre(game, 0.5, method="newton")
    with pytest.raises(ValueError, match="solver: expected a Solver"):
        logit_qre(game, 0.5, solver="mmd")


@pytest.mark.slow
@pytest.mark.parametrize("family", ["kuhn", "crowd"])
def test_krylov_gradient_large_games(x64, family, monkeypatch):
    """Above ``DENSE_MAX`` unknowns Newton and the implicit derivative are matrix-free (GMRES): Kuhn
    poker with ``DENSE_MAX`` lowered below its 24 unknowns (the program is the one Leduc's 2,808 run;
    three-player Kuhn's 96 unknowns cost 2.6x the compile time) and crowd modelling on 40 cells over 8
    steps (960; the program is the same at 3,000, and each of its five calls 8 times cheaper)."""
    if family == "kuhn":
        monkeypatch.setattr(qre_module, "DENSE_MAX", 16)
        game, tau = efg.kuhn_poker(), 0.1
    else:
        game, tau = mean_field.crowd_modelling(size=40, horizon=8), 0.1
    _check_gradient(lambda g: g, game, tau, rtol=1e-6)
