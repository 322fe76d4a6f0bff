"""The exact regularized mirror step of mean-field games (``geometry="dilated"``).

``MeanFieldGame.dilated_mirror_step`` is the proximal step of the trajectory KL
(soft backward induction against the mean field carried by the gradient):

* (d) it is the argmax of ``eta J(pi, mu) - eta tau KL_traj(pi || rho) - KL_traj(pi || pi_k)``,
  checked against a brute-force NumPy maximisation over all trajectories of a tiny
  model whose dynamics and rewards both depend on the mean field;
* (b) as ``eta -> inf`` it is the soft best response ``smooth_best_response`` and as
  ``eta -> 0`` it stays put (known-answer limits);
* (a) its fixed points are the regularized equilibria: ``mmd(..., geometry="dilated")``
  with a fixed uniform magnet converges to ``pi = softBR_tau(pi)`` (to float32 noise,
  and to 1e-10 in float64), where the behavioural geometry stops ~5e-3 away;
* (c) with the R-NaD magnet schedule the last iterate reaches exploitability < 0.05.
"""

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize

import solvers
from jaxgames.mean_field import crowd_modelling
from jaxgames.mean_field.game import MeanFieldGame, MeanFieldGradient

# --------------------------------------------------------------------------------------
# A tiny model (S=3, A=3, T=3) with mean-field-dependent dynamics and rewards and a mask.
# (T = 3: with T = 2 only P_0(mu_0) is used, and mu_0 = initial does not depend on the policy.)
# --------------------------------------------------------------------------------------
S, A, T = 3, 3, 3
_RNG = np.random.default_rng(7)
BASE_P = _RNG.dirichlet(np.ones(S), size=(T, S, A))  # [T, S, A, S']
CONGESTION = 4.0  # agents avoid crowded next states
BASE_R = _RNG.normal(size=(T, S, A))
COUPLING = _RNG.normal(size=(S, A))  # action payoff scaled by own-state mass
MU0 = np.array([0.5, 0.3, 0.2])
MASK = np.ones((S, A), bool)
MASK[2, 0] = False  # one illegal action


def _np_transition(t, mu):
    logits = np.log(BASE_P[t]) - CONGESTION * mu[None, None, :]
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


def _np_reward(t, mu):
    return BASE_R[t] - np.log(mu)[:, None] + COUPLING * mu[:, None]


@flax.struct.dataclass
class TinyMFG(MeanFieldGame):
    initial: jax.Array
    base_p: jax.Array
    base_r: jax.Array
    coupling: jax.Array
    num_states: int = flax.struct.field(pytree_node=False, default=S)
    num_actions: int = flax.struct.field(pytree_node=False, default=A)
    horizon: int = flax.struct.field(pytree_node=False, default=T)

    def transition(self, t, mu):
        return jax.nn.softmax(jnp.log(self.base_p[t]) - CONGESTION * mu[None, None, :], axis=-1)

    def reward(self, t, mu):
        return self.base_r[t] - jnp.log(mu)[:, None] + self.coupling * mu[:, None]

    def action_mask(self):
        return MASK


def _tiny():
    f = jnp.result_type(float)
    return TinyMFG(
        initial=jnp.asarray(MU0, f),
        base_p=jnp.asarray(BASE_P, f),
        base_r=jnp.asarray(BASE_R, f),
        coupling=jnp.asarray(COUPLING, f),
    )


def _random_policy(rng, shape, mask, concentration=1.0):
    p = np.where(mask, rng.dirichlet(np.full(shape[-1], concentration), size=shape[:-1]), 0.0)
    return p / p.sum(-1, keepdims=True)


def _np_mean_field(pi):
    mu = [MU0]
    for t in range(T - 1):
        mu.append(np.einsum("x,xa,xay->y", mu[t], pi[t], _np_transition(t, mu[t])))
    return np.array(mu)


def _brute_force_step(pi_k, pi_grad, rho, eta, tau, dynamics_from=None):
    """argmax_pi eta J(pi, mu) - eta tau KL_traj(pi||rho) - KL_traj(pi||pi_k), mu = mu(pi_grad), by BFGS.

    The objective is the expectation over all (S A)^T trajectories (x0, a0, ..., x_{T-1}, a_{T-1})
    of ``sum_t eta r_t - eta tau log(pi_t/rho_t) - log(pi_t/pi_k,t)``: no backward induction.
    ``dynamics_from``: take the transitions at the mean field of this policy instead (a wrong step).
    """
    mu = _np_mean_field(pi_grad)
    mu_p = mu if dynamics_from is None else _np_mean_field(dynamics_from)
    p = [_np_transition(t, mu_p[t]) for t in range(T - 1)]
    r = np.array([_np_reward(t, mu[t]) for t in range(T)])
    legal = np.broadcast_to(MASK, (T, S, A))

    def policy_of(theta):
        logits = np.where(legal, np.zeros((T, S, A)), -np.inf)
        logits[legal] = theta
        e = np.exp(logits - logits.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def objective(theta):
        pi = policy_of(theta)
        # Per-step gain of (x_t, a_t); illegal actions have probability 0 and contribute nothing.
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = np.where(legal, eta * r - eta * tau * np.log(pi / rho) - np.log(pi / pi_k), 0.0)
        # Joint law of the whole trajectory under pi with mu fixed: [S, A] * T axes.
        prob, total_gain = MU0[:, None] * pi[0], gain[0]
        for t in range(1, T):
            prob = prob[..., None, None] * p[t - 1][..., None] * pi[t]
            total_gain = total_gain[..., None, None] + gain[t]
        return -np.sum(prob * total_gain)

    theta0 = np.log(pi_k[legal])
    res = optimize.minimize(objective, theta0, method="BFGS", options={"gtol": 1e-10, "maxiter": 2000})
    return policy_of(res.x), -res.fun, objective


@pytest.fixture(scope="module")
def tiny_case():
    rng = np.random.default_rng(0)
    legal = np.broadcast_to(MASK, (T, S, A))
    pi_k, rho = (_random_policy(rng, (T, S, A), legal) for _ in range(2))
    pi_grad = _random_policy(rng, (T, S, A), legal, concentration=0.2)  # far from pi_k: a distinct mean field
    return pi_k, pi_grad, rho


@pytest.mark.slow
@pytest.mark.parametrize("eta,tau", [(0.7, 0.3), (2.0, 0.0)])
def test_step_is_the_trajectory_kl_prox_brute_force(tiny_case, eta, tau):
    """(d) One step equals the brute-force argmax of the trajectory-level proximal objective."""
    pi_k, pi_grad, rho = tiny_case
    game = _tiny()
    f = jnp.result_type(float)
    grads = jax.jit(game.sequence_gradient)((jnp.asarray(pi_grad, f),))
    assert isinstance(grads[0], MeanFieldGradient)
    np.testing.assert_allclose(np.asarray(grads[0].mean_field), _np_mean_field(pi_grad), atol=1e-5)
    ours = jax.jit(game.dilated_mirror_step)((jnp.asarray(pi_k, f),), grads, eta, tau, (jnp.asarray(rho, f),))
    ours = np.asarray(ours[0], np.float64)
    best, best_value, objective = _brute_force_step(pi_k, pi_grad, rho, eta, tau)
    np.testing.assert_allclose(ours, best, atol=2e-5)
    assert np.all(ours[:, ~MASK] == 0)
    # Ours is optimal for the stated objective (up to float32 rounding of the policy).
    ours_value = -objective(np.log(np.maximum(ours, 1e-30)[np.broadcast_to(MASK, (T, S, A))]))
    assert ours_value > best_value - 1e-5
    # The test sees the mean field: with the dynamics (or the dynamics and rewards) of the
    # policy the step starts from, mu(pi_k), instead of mu(pi_grad), the argmax differs.
    for wrong in (
        _brute_force_step(pi_k, pi_grad, rho, eta, tau, dynamics_from=pi_k)[0],
        _brute_force_step(pi_k, pi_k, rho, eta, tau)[0],
    ):
        assert np.abs(wrong - best).max() > 1e-3, np.abs(wrong - best).max()


@pytest.fixture(scope="module")
def game():
    return crowd_modelling()


@pytest.fixture(scope="module")
def crowd_policies(game):
    rng = np.random.default_rng(1)
    shape = game.uniform_policy()[0].shape
    mask = np.ones(shape, bool)
    f = jnp.result_type(float)
    return tuple(jnp.asarray(_random_policy(rng, shape, mask), f) for _ in range(2))


@pytest.mark.slow
def test_infinite_learning_rate_is_the_soft_best_response(game, crowd_policies):
    """(b) eta -> inf: the step is softBR_tau(mu(pi)) toward the magnet; eta -> 0: it stays put."""
    policy, magnet = (crowd_policies[0],), (crowd_policies[1],)
    tau = 0.3

    @jax.jit
    def limits(policy, magnet):
        grads = game.sequence_gradient(policy)
        steps = [game.dilated_mirror_step(policy, grads, eta, tau, magnet)[0] for eta in (1e7, 1.0, 1e-7)]
        # Without a magnet the reference is uniform, as in smooth_best_response.
        default = game.dilated_mirror_step(policy, grads, 1e7, tau)[0]
        return (
            steps,
            default,
            game.smooth_best_response(policy, tau, magnet)[0],
            game.smooth_best_response(policy, tau)[0],
        )

    (huge, one, tiny), default, soft, soft_uniform = jax.tree_util.tree_map(np.asarray, limits(policy, magnet))
    # The step is L = (eta Q + log pi + eta tau log rho) / (1 + eta tau): |error| ~ |log pi| / (eta tau).
    assert np.abs(huge - soft).max() < 1e-4
    assert np.abs(one - soft).max() > 1e-2  # a finite step is not the limit
    assert np.abs(tiny - np.asarray(policy[0])).max() < 1e-4
    assert np.abs(default - soft_uniform).max() < 1e-4
    assert np.abs(soft_uniform - soft).max() > 1e-2  # the magnet matters


def _residual(game, policy, tau):
    """``max |pi - softBR_tau(pi)|``: zero exactly at the regularized equilibrium (first order in the distance)."""
    return jnp.abs(game.smooth_best_response(policy, tau)[0] - policy[0]).max()


TAUS = (0.2, 0.5)


@pytest.fixture(scope="module")
def fixed_magnet_runs(game):
    """100 steps of mmd(eta=1, tau, fixed uniform magnet), both geometries, vmapped over tau."""

    def one(tau, geometry):
        solver = solvers.mmd(learning_rate=1.0, temperature=tau, magnet_update_every=0, geometry=geometry)
        state, _ = solvers.run(solver, game, 100, eval_every=100)
        policy = solver.output(state)
        return _residual(game, policy, tau), game.regularized_nash_conv(policy, tau), game.exploitability(policy)

    taus = jnp.asarray(TAUS)
    return {
        geometry: [np.asarray(x) for x in jax.jit(jax.vmap(lambda t: one(t, geometry)))(taus)]
        for geometry in ("dilated", "entropic")
    }


@pytest.mark.slow
def test_fixed_magnet_converges_to_the_regularized_equilibrium(fixed_magnet_runs):
    """(a) Dilated MMD's last iterate is the regularized equilibrium; the behavioural one is not."""
    residual, gap, expl = fixed_magnet_runs["dilated"]
    assert np.all(residual < 1e-4), residual  # float32 noise (~5e-6 measured)
    assert np.all(np.abs(gap) < 1e-4), gap
    assert np.all(expl > 0.05), expl  # it solves the regularized game, not the Nash one
    b_residual, b_gap, _ = fixed_magnet_runs["entropic"]
    assert np.all(b_residual > 1e-3), b_residual  # ~5e-3 at tau=0.2: the behavioural rest point
    assert np.all(b_gap > gap), (b_gap, gap)


@pytest.mark.slow
def test_fixed_magnet_converges_exactly_in_float64():
    """(a) In float64 the dilated iterate's fixed-point residual goes to ~0: the rest point is exact.

    In this process with float64 switched on for the test (``jax.enable_x64``; jit caches key on it),
    one jitted call: a subprocess would cost ~6 s of start-up and compilation more."""
    tau = 0.2
    solver = solvers.mmd(learning_rate=1.0, temperature=tau, magnet_update_every=0, geometry="dilated")

    def solve(game):
        policy = solver.output(solvers.run(solver, game, 150, eval_every=150)[0])
        return policy[0], _residual(game, policy, tau), game.regularized_nash_conv(policy, tau)

    with jax.enable_x64(True):
        policy, residual, gap = jax.jit(solve)(crowd_modelling())
        residual, gap = float(residual), float(gap)
    assert jnp.zeros(1).dtype == np.float32  # switched off again
    assert policy.dtype == np.float64
    assert residual < 1e-10 and abs(gap) < 1e-12, (residual, gap)


@pytest.mark.slow
def test_magnet_schedule_reaches_the_equilibrium_in_the_last_iterate(game):
    """(c) With the R-NaD schedule (magnet <- iterate every K steps) the last iterate is < 0.05 exploitable."""
    solver = solvers.mmd(learning_rate=1.0, temperature=0.1, magnet_update_every=20, geometry="dilated")
    _, trace = solvers.run(solver, game, 200, eval_every=50)
    expl = np.asarray(trace.exploitability)
    assert expl[-1] < 0.05, expl
    assert np.all(np.diff(expl) < 0), expl
    assert expl[-1] < float(game.exploitability(game.uniform_policy())) / 50


@pytest.mark.slow
def test_vmap_over_games_and_other_first_order_solvers(game, crowd_policies):
    """Batched games through a constructor; extragradient carries the gradient's mean field."""
    aversion = jnp.array([0.5, 1.0])

    @jax.jit
    def step(c):
        g = crowd_modelling(crowd_aversion=c)
        pi = (crowd_policies[0],)  # not uniform: the uniform mean field makes the crowd term constant
        return g.dilated_mirror_step(pi, g.sequence_gradient(pi), 0.5, 0.2)[0]

    batched = jax.vmap(step)(aversion)
    for i, c in enumerate(aversion):
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(step(c)), atol=1e-6)
    assert np.abs(np.asarray(batched[0] - batched[1])).max() > 1e-3
    # Regularized extragradient with the dilated step also rests at the regularized equilibrium.
    solver = solvers.extragradient(0.5, geometry="dilated", temperature=0.2, magnet=game.uniform_policy())
    state, _ = solvers.run(solver, game, 60, eval_every=60)
    assert float(_residual(game, solver.output(state), 0.2)) < 1e-4


@pytest.mark.slow
def test_fixed_magnet_on_mean_field_dependent_dynamics():
    """(a) on SIS, whose infection probability depends on the mean field: the same exact rest point."""
    from jaxgames.mean_field import sis_epidemic

    game, tau = sis_epidemic(), 0.2
    solver = solvers.mmd(learning_rate=0.5, temperature=tau, magnet_update_every=0, geometry="dilated")
    state, _ = solvers.run(solver, game, 150, eval_every=150)
    policy = solver.output(state)
    assert float(_residual(game, policy, tau)) < 1e-4  # behavioural geometry: ~7.5e-2 (measured)
    assert abs(float(game.regularized_nash_conv(policy, tau))) < 1e-4
