"""Regularized solvers converge linearly to the KL-regularized (logit QRE) equilibrium."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special

import jaxgames
import solvers
from jaxgames import matrix

TAU = 0.2


def qre_fixed_point(A, tau):
    """The logit QRE of the zero-sum game A, solved independently in float64 with scipy.

    Unknowns are the log-probabilities; the equations say x = softmax(A y / tau),
    y = softmax(-A^T x / tau).
    """
    A = np.asarray(A, np.float64)
    m, n = A.shape

    def residual(z):
        lx, ly = z[:m], z[m:]
        x, y = np.exp(lx), np.exp(ly)
        return np.r_[lx - scipy.special.log_softmax(A @ y / tau), ly - scipy.special.log_softmax(-A.T @ x / tau)]

    sol = scipy.optimize.root(residual, np.r_[np.full(m, -np.log(m)), np.full(n, -np.log(n))], tol=1e-13)
    assert sol.success and np.max(np.abs(residual(sol.x))) < 1e-10
    return np.exp(sol.x[:m]), np.exp(sol.x[m:])


def distance_trace(solver, game, target, steps):
    tx, ty = (jnp.asarray(t, jnp.float32) for t in target)

    def body(state, _):
        state = solver.step(game, state)
        x, y = state.policy
        return state, jaxgames.simplex.kl(tx, x) + jaxgames.simplex.kl(ty, y)

    _, dist = jax.lax.scan(body, solver.init(game, jax.random.key(0)), None, length=steps)
    return np.asarray(dist)


def contraction_rate(dist, floor=1e-6):
    """Geometric rate fitted on the part of the trace above the float32 noise floor."""
    idx = np.arange(len(dist))
    keep = (dist > floor) & (idx >= 5)
    assert keep.sum() >= 5, "converged too fast to measure a rate"
    slope = np.polyfit(idx[keep], np.log(dist[keep]), 1)[0]
    return float(np.exp(slope))


# (solver, learning rate): extragradient methods allow eta ~ 1 / (tau + L) (Cen et al. 2021),
# MMD needs eta <= tau / L^2 (Sokota et al. 2023); payoffs lie in [-1, 1] so L <= 1.
SOLVERS = {
    "mirror_prox": (solvers.mirror_prox(learning_rate=0.5, temperature=TAU, output="last"), 0.5),
    "extragradient": (solvers.extragradient(learning_rate=0.5, geometry="entropic", temperature=TAU), 0.5),
    "mmd": (solvers.mmd(learning_rate=TAU, temperature=TAU, magnet_update_every=0), TAU),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_linear_convergence_to_qre_independent_of_action_count(name):
    solver, eta = SOLVERS[name]
    steps = int(16 / np.log1p(eta * TAU))  # enough for a 1e-7 reduction at the theoretical rate
    rates = {}
    for n in (3, 300):
        game = matrix.random_zero_sum(jax.random.key(n), n)
        target = qre_fixed_point(game.payoffs[0], TAU)
        dist = distance_trace(solver, game, target, steps)
        assert dist[-1] < 1e-6, f"{name}, {n} actions: KL to the QRE {dist[-1]:.2e}"
        rates[n] = contraction_rate(dist)
        # The regularized gap certifies the same point.
        final = solver.output(
            jax.lax.fori_loop(0, steps, lambda _, s: solver.step(game, s), solver.init(game, jax.random.key(0)))
        )
        assert float(jaxgames.regularized_nash_conv(game, final, TAU)) < 1e-4
    # Cen et al. (2021) / Sokota et al. (2023): KL(qre || pi_t) contracts by at least
    # 1 / (1 + eta tau) per step, whatever the number of actions.
    bound = 1.0 / (1.0 + eta * TAU)
    assert rates[3] <= bound + 0.005 and rates[300] <= bound + 0.005, rates
    assert rates[300] <= rates[3] + 0.01, f"rate degrades with the number of actions: {rates}"


def test_smoothed_fictitious_play_reaches_the_qre():
    game = matrix.random_zero_sum(jax.random.key(12), 4)
    state, _ = solvers.run(solvers.fictitious_play(temperature=TAU), game, 5000)
    x, y = qre_fixed_point(game.payoffs[0], TAU)
    np.testing.assert_allclose(state.average[0], x, atol=5e-3)
    np.testing.assert_allclose(state.average[1], y, atol=5e-3)


@pytest.mark.slow
def test_kl_regularization_toward_a_reference_policy():
    """Nash mirror prox toward a reference: the fixed point is x ∝ ref exp(q / tau)."""
    P = matrix.random_intransitive_preferences(jax.random.key(13), 6)
    game = matrix.preference_game(P)
    ref = jax.nn.softmax(jnp.arange(6.0) / 3)
    solver = solvers.mirror_prox(learning_rate=0.5, temperature=0.1, magnet=(ref, ref), output="last")
    state, _ = solvers.run(solver, game, 2000)
    gap = jaxgames.regularized_nash_conv(game, state.policy, 0.1, (ref, ref))
    assert float(gap) < 1e-5
    # Versus the uniform reference the same point is *not* an equilibrium.
    assert float(jaxgames.regularized_nash_conv(game, state.policy, 0.1)) > 1e-3
