"""Solvers on Markov games: Shapley iteration against SciPy linprog, contraction at rate gamma,
VI == PI on MDPs, linear convergence of the regularized extragradient to an independently computed
QRE, NashConv / minimax values of the policy solvers, foundation solvers unchanged on Markov games."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import solvers
from jaxgames import markov, matrix
from solvers.zero_sum_kernels import solve_zero_sum

from helpers import LONG_RUN, lp_value

GAMMA = 0.9
NUM_GAMES = 4


def scipy_shapley(game, iterations):
    """Shapley iteration in NumPy, every stage game by ``scipy.optimize.linprog``: ``V_T [S]``."""
    P = np.asarray(game.transitions, np.float64)
    R = np.asarray(game.rewards[0], np.float64)
    V = np.zeros(R.shape[0])
    for _ in range(iterations):
        Q = R + float(game.discount) * P @ V
        V = np.array([lp_value(q) for q in Q])
    return V


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def numpy_qre(game, tau, iterations=160):
    """The entropy-regularized (logit QRE) equilibrium by soft Shapley iteration in float64.

    Every soft stage game is solved by ``scipy.optimize.root`` on its logit equations
    ``log mu = Q nu / tau + c``, ``log nu = -Q^T mu / tau + c'`` (all states at once);
    independent of the extragradient being tested.
    """
    P = np.asarray(game.transitions, np.float64)
    R = np.asarray(game.rewards[0], np.float64)
    S, A, B = R.shape
    z = np.zeros(S * (A + B))
    V = np.zeros(S)

    def entropy(p):
        return -(p * np.log(p)).sum(-1)

    for _ in range(iterations):
        Q = R + float(game.discount) * P @ V

        def equations(z):
            lm, ln = z[: S * A].reshape(S, A), z[S * A :].reshape(S, B)
            fm = lm - np.einsum("sab,sb->sa", Q, softmax(ln)) / tau
            fn = ln + np.einsum("sab,sa->sb", Q, softmax(lm)) / tau
            return np.r_[(fm - fm.mean(-1, keepdims=True)).ravel(), (fn - fn.mean(-1, keepdims=True)).ravel()]

        z = scipy.optimize.root(equations, z, method="hybr", tol=1e-13).x
        mu, nu = softmax(z[: S * A].reshape(S, A)), softmax(z[S * A :].reshape(S, B))
        V = np.einsum("sa,sab,sb->s", mu, Q, nu) + tau * (entropy(mu) - entropy(nu))
    return mu, nu


def take(batch, i):
    return jax.tree_util.tree_map(lambda x: x[i], batch)


def _iterate(solver, game, steps, state):
    return jax.lax.fori_loop(0, steps, lambda _, s: solver.step(game, s), state)


#: ``steps`` solver steps without the exploitability evaluations of ``solvers.run``: its compiled program holds
#: three copies of the exploitability computation, which cost more to compile than the steps themselves, so the
#: tests judge the final output once, by the programs below (compiled once for the module's games).
iterate = functools.partial(jax.jit, static_argnames=("solver", "steps"))(_iterate)
#: ``steps`` steps from ``solver.init(game)``, init included in the program (eager init compiles op by op).
solve = functools.partial(jax.jit, static_argnames=("solver", "steps"))(
    lambda solver, game, steps: _iterate(solver, game, steps, solver.init(game))
)
#: ``solve`` on every game of a batch.
solve_all = functools.partial(jax.jit, static_argnames=("solver", "steps"))(
    lambda solver, games, steps: jax.vmap(lambda g: _iterate(solver, g, steps, solver.init(g)))(games)
)

nash_conv = jax.jit(lambda game, policy: game.nash_conv(policy))
#: NashConv and player 0's value from ``initial`` of ``policy`` on every game of a batch: ``([G], [G])``.
judge_all = jax.jit(jax.vmap(lambda game, policy: (game.nash_conv(policy), game.evaluate(policy).values[0])))


@pytest.fixture(scope="module")
def zero_sum_games():
    keys = jax.random.split(jax.random.key(0), NUM_GAMES)
    return jax.vmap(lambda k: markov.random_zero_sum(k, 10, 3, 2, GAMMA))(keys)


@pytest.fixture(scope="module")
def minimax(zero_sum_games):
    """Shapley values from every state ``[G, S]`` (300 exact iterations: error <= 0.9^300 * 10)."""
    solver = solvers.minimax_value_iteration()
    state = solve_all(solver, zero_sum_games, 300)
    return {
        "values": np.asarray(state.extra.values),
        "nash_conv": np.asarray(judge_all(zero_sum_games, solver.output(state))[0]),
        "policy": state.policy,
    }


def minimax_from_initial(games, minimax):
    return np.einsum("gs,gs->g", minimax["values"], np.asarray(games.initial))


# ------------------------------------------------------------------------------ exact stage solver
@pytest.mark.slow
@pytest.mark.parametrize("shape", [(1, 3), (3, 5), (4, 4), (5, 5)])
def test_kernel_solver_matches_linprog(shape):
    rng = np.random.default_rng(sum(shape))
    A = rng.uniform(-5, 5, (30, *shape))
    A[:10] = np.round(A[:10] / 3)  # degenerate games: ties, dominated and duplicate actions
    value, x, y, gap = jax.jit(solve_zero_sum)(jnp.asarray(A, jnp.float32))
    ref = np.array([lp_value(a) for a in A])
    np.testing.assert_allclose(np.asarray(value), ref, atol=2e-5)
    assert np.all(np.asarray(gap) < 1e-5)
    # the strategies themselves are optimal: they guarantee the LP value
    np.testing.assert_allclose(np.min(np.einsum("gmn,gm->gn", A, np.asarray(x, float)), -1), ref, atol=2e-5)
    np.testing.assert_allclose(np.max(np.einsum("gmn,gn->gm", A, np.asarray(y, float)), -1), ref, atol=2e-5)
    assert np.allclose(np.asarray(x).sum(-1), 1, atol=1e-6) and np.all(np.asarray(x) >= 0)


# ------------------------------------------------------------------------------ Shapley iteration
@pytest.mark.slow
def test_minimax_value_iteration_equals_scipy_shapley(zero_sum_games):
    solver = solvers.minimax_value_iteration()
    game = take(zero_sum_games, 0)
    state = solve(solver, game, 40)
    np.testing.assert_allclose(np.asarray(state.extra.values), scipy_shapley(game, 40), atol=1e-4)


@pytest.mark.slow
def test_minimax_value_iteration_contracts_at_rate_discount(zero_sum_games, minimax):
    solver = solvers.minimax_value_iteration()

    def residuals(game):
        def body(state, _):
            state = solver.step(game, state)
            return state, (state.extra.residual, state.extra.values)

        return jax.lax.scan(body, solver.init(game), None, length=40)[1]

    res, values = jax.jit(jax.vmap(residuals))(zero_sum_games)
    res = np.asarray(res, np.float64)[:, 1:]  # ||V_{t+1} - V_t||, t >= 1
    ratios = res[:, 1:] / res[:, :-1]
    big = res[:, :-1] > 1e-4  # above float32 noise
    assert np.all(ratios[big] <= GAMMA + 1e-3), ratios[big].max()
    assert np.max(ratios[big]) > 0.5, "the test would pass for any faster method too; it should be near gamma"
    err = np.abs(np.asarray(values) - minimax["values"][:, None]).max(-1)  # ||V_t - V*||
    bound = GAMMA ** np.arange(1, 41) * np.abs(minimax["values"]).max(-1, keepdims=True)
    assert np.all(err <= bound + 1e-4)


@pytest.mark.slow
def test_minimax_value_iteration_output_is_nash(zero_sum_games, minimax):
    assert np.all(minimax["nash_conv"] < 1e-3), minimax["nash_conv"]
    values = judge_all(zero_sum_games, minimax["policy"])[1]
    np.testing.assert_allclose(np.asarray(values), minimax_from_initial(zero_sum_games, minimax), atol=1e-4)


@pytest.mark.slow
def test_iterative_stage_solver_is_close(zero_sum_games, minimax):
    game = take(zero_sum_games, 0)
    solver = solvers.minimax_value_iteration(stage_solver="iterative")
    state = solve(solver, game, 150)
    assert float(state.extra.stage_gap) < 1e-2
    assert float(nash_conv(game, solver.output(state))) < 1e-2
    np.testing.assert_allclose(np.asarray(state.extra.values), minimax["values"][0], atol=1e-2)


@pytest.mark.slow
def test_minimax_value_iteration_float64():
    """In this process with float64 switched on for the test (``jax.enable_x64``; jit caches key on it)."""
    with jax.enable_x64(True):
        g = markov.random_zero_sum(jax.random.key(3), 4, 3, 2, 0.8)
        solver = solvers.minimax_value_iteration()
        state = solve(solver, g, 150)
        assert g.rewards.dtype == np.float64 and state.extra.values.dtype == np.float64
        gap, final = float(state.extra.stage_gap), float(nash_conv(g, solver.output(state)))
    assert jnp.zeros(1).dtype == np.float32  # switched off again
    assert gap < 1e-10 and abs(final) < 1e-9


# ------------------------------------------------------------------------------ MDPs
@pytest.fixture(scope="module")
def mdps():
    return jax.vmap(lambda k: markov.random_mdp(k, 12, 4, 3, GAMMA))(jax.random.split(jax.random.key(5), 3))


@pytest.mark.slow
def test_value_iteration_equals_policy_iteration_and_best_response(mdps):
    def both(game):
        vi = _iterate(solvers.value_iteration(), game, 250, solvers.value_iteration().init(game))
        pi = _iterate(solvers.policy_iteration(), game, 30, solvers.policy_iteration().init(game))
        br = game.best_response(game.uniform_policy())
        return (
            vi.policy[0],
            pi.policy[0],
            br[0],
            vi.extra.values,
            game.state_values(pi.policy)[0],
            game.best_response_values(game.uniform_policy())[0],
            game.evaluate(vi.policy).values[0],
        )

    vi_pol, pi_pol, br_pol, vi_v, pi_v, br_value, vi_value = map(np.asarray, jax.jit(jax.vmap(both))(mdps))
    np.testing.assert_array_equal(vi_pol, pi_pol)
    np.testing.assert_array_equal(vi_pol, br_pol)
    np.testing.assert_allclose(vi_v, pi_v, atol=1e-4)
    np.testing.assert_allclose(vi_value, br_value, atol=1e-4)


@pytest.mark.slow
def test_policy_iteration_is_stationary_once_optimal(mdps):
    game = take(mdps, 0)
    solver = solvers.policy_iteration()
    state = solve(solver, game, 30)
    again = iterate(solver, game, 1, state)
    np.testing.assert_array_equal(np.asarray(again.policy[0]), np.asarray(state.policy[0]))
    assert float(again.extra.residual) < 1e-5


@pytest.mark.slow
def test_natural_policy_gradient_meets_its_rate_on_mdps(mdps):
    """Agarwal et al. (2021), Thm 16: ``V* - V^(T) <= log A / (eta T) + 1 / ((1 - gamma)^2 T)``."""
    eta = 0.5
    solver = solvers.natural_policy_gradient(learning_rate=eta)

    def gaps(game):  # NashConv every 20 steps (as solvers.run(solver, game, 200, eval_every=20) records it)
        def block(state, _):
            state = _iterate(solver, game, 20, state)
            return state, game.nash_conv(solver.output(state))

        return jax.lax.scan(block, solver.init(game), None, length=10)[1]

    gaps = jax.jit(jax.vmap(gaps))(mdps)
    t = np.arange(20, 201, 20)
    bound = np.log(4) / (eta * t) + 1 / ((1 - GAMMA) ** 2 * t)
    assert np.all(np.asarray(gaps) <= bound + 1e-5)
    assert np.all(np.asarray(gaps)[:, -1] < 1e-3)


# ------------------------------------------------------------------------------ regularized extragradient
@pytest.mark.slow
def test_regularized_extragradient_converges_linearly_to_the_qre(zero_sum_games):
    game, tau = take(zero_sum_games, 1), 0.1
    mu, nu = numpy_qre(game, tau)
    solver = solvers.entropy_regularized_extragradient(
        learning_rate=1.0, temperature=tau, inner_steps=1, magnet_update_every=0, value_step_size=1.0
    )

    def errors(game):
        def body(state, _):
            state = jax.lax.fori_loop(0, 20, lambda _, s: solver.step(game, s), state)
            mu_t, nu_t = state.policy
            return state, jnp.maximum(jnp.abs(mu_t - mu).max(), jnp.abs(nu_t - nu).max())

        return jax.lax.scan(body, solver.init(game), None, length=12)[1]

    err = np.asarray(jax.jit(errors)(game), np.float64)
    assert err[0] > 1e-2 and err[-1] < 1e-5, err
    # geometric decay: while above the float32 floor (~1e-6), every 20 steps shrink the error >= 1.7x
    above = err[:-1] > 1e-5
    assert np.all(err[1:][above] <= err[:-1][above] / 1.7), err


@pytest.mark.slow
def test_regularized_extragradient_magnet_schedule_reaches_nash(zero_sum_games, minimax):
    solver = solvers.entropy_regularized_extragradient()

    nc, values = map(np.asarray, judge_all(zero_sum_games, solver.output(solve_all(solver, zero_sum_games, 2000))))
    assert np.all(nc < 1e-3), nc
    np.testing.assert_allclose(values, minimax_from_initial(zero_sum_games, minimax), atol=1e-4)


@pytest.mark.slow
def test_regularized_extragradient_vmaps_over_temperature(zero_sum_games):
    game = take(zero_sum_games, 2)

    def final_values(tau):
        solver = solvers.entropy_regularized_extragradient(
            temperature=tau, magnet_update_every=0, inner_steps=1, value_step_size=1.0
        )
        return _iterate(solver, game, 300, solver.init(game)).extra.values

    batched = np.asarray(jax.jit(jax.vmap(final_values))(jnp.array([0.05, 0.2])))
    np.testing.assert_allclose(batched[1], np.asarray(jax.jit(lambda: final_values(0.2))()), atol=1e-4)
    assert np.abs(batched[0] - batched[1]).max() > 1e-2  # the temperature matters


# ------------------------------------------------------------------------------ smooth value iteration
SVI_STEPS = {"extragradient": 3000, "mirror_prox": 4000, "optimistic_mirror_descent": 4000, "mmd": 6000}


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(SVI_STEPS))
def test_smooth_value_iteration_reaches_nash_and_shapley_values(zero_sum_games, minimax, method):
    """Policy mirror descent / MMD, optimistic MD, mirror prox and extragradient on a smoothed critic's stage games:
    the last iterate's NashConv < 1e-3 and its value from ``initial`` within 1e-4 of Shapley's,
    the critic within 1e-4 of Shapley's values at every state.

    Measured (float32), at most over the games: NashConv 9.5e-7 / 5.8e-5 / 5.8e-5 / 2.0e-5, value error
    9.5e-8 / 3.5e-5 / 3.5e-5 / 5.3e-6, critic error 2.4e-7 / 5.2e-5 / 5.1e-5 / 9.0e-6 for extragradient /
    mirror prox / optimistic / MMD."""
    solver = solvers.smooth_value_iteration(method=method)
    state = solve_all(solver, zero_sum_games, SVI_STEPS[method])
    nc, values = map(np.asarray, judge_all(zero_sum_games, solver.output(state)))
    critic = np.asarray(state.extra.values)
    assert np.all(nc < 1e-3), nc
    np.testing.assert_allclose(values, minimax_from_initial(zero_sum_games, minimax), atol=1e-4)
    np.testing.assert_allclose(critic, minimax["values"], atol=1e-4)


@pytest.mark.slow
def test_smooth_value_iteration_on_one_state_discount_zero_is_the_stage_solver():
    """One state and ``gamma = 0``: the stage game is the matrix game ``A`` (scaled to spread 1), so the
    iterates are the foundation solver's on ``A / spread``, magnet schedule counted in stage steps."""
    A = jax.random.uniform(jax.random.key(3), (3, 3), minval=-1, maxval=1)
    mg = markov.zero_sum(jnp.ones((1, 3, 3, 1)), A[None], 0.0, jnp.ones(1))
    solver = solvers.smooth_value_iteration(
        method="optimistic_mirror_descent", magnet_update_every=2, inner_steps=3, magnet_floor=0.0
    )
    stage = solvers.first_order_solver("optimistic", 1.0, "entropic", 0.02, None, 6, "last")
    scaled = matrix.zero_sum(A / (A.max() - A.min()))
    expected = solve(stage, scaled, 30)
    got = solve(solver, mg, 10)
    for e, g in zip(expected.policy, got.policy):
        np.testing.assert_allclose(np.asarray(g[0]), np.asarray(e), atol=1e-5)
    assert np.abs(np.asarray(got.policy[0][0]) - 1 / 3).max() > 1e-3  # it moved


# ------------------------------------------------------------------------------ foundation solvers
FOUNDATION = {
    "mirror_descent": lambda: solvers.mirror_descent(),
    "optimistic_mirror_descent": lambda: solvers.optimistic_mirror_descent(),
    "extragradient": lambda: solvers.extragradient(),
    "mmd": lambda: solvers.mmd(),
    "fictitious_play": lambda: solvers.fictitious_play(),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FOUNDATION))
def test_foundation_solver_on_one_state_markov_game_is_the_matrix_solver(name):
    """With one absorbing state, Q = A pi_2 + gamma V: a constant shift, so every solver's steps equal
    its steps on the matrix game A (the mixing weights are 1 too: the occupancy of the only state)."""
    A = jax.random.uniform(jax.random.key(7), (3, 3), minval=-1, maxval=1)
    mg = markov.zero_sum(jnp.ones((1, 3, 3, 1)), A[None], GAMMA, jnp.ones(1))
    solver = FOUNDATION[name]()
    key = jax.random.key(8)
    m_state = iterate(solver, matrix.zero_sum(A), 50, solver.init(matrix.zero_sum(A), key))
    s = solver.init(mg, key)
    s = s.replace(policy=tuple(p[None] for p in solver.init(matrix.zero_sum(A), key).policy))
    s = s.replace(average=s.policy)
    if name == "optimistic_mirror_descent":  # previous gradient of the same start, as a Markov Q
        s = s.replace(extra=s.extra._replace(previous_gradient=mg.evaluate(s.policy).action_values))
    g_state = iterate(solver, mg, 50, s)
    for mp, gp in zip(solver.output(m_state), solver.output(g_state)):
        np.testing.assert_allclose(np.asarray(gp[0]), np.asarray(mp), atol=2e-5)


@pytest.mark.slow
def test_foundation_solvers_improve_on_random_markov_games(zero_sum_games):
    """Occupancy-weighted fictitious play and policy extragradient on Q-values, on a 10-state game."""
    game = take(zero_sum_games, 3)
    uniform = float(nash_conv(game, game.uniform_policy()))
    for name in ("fictitious_play", "extragradient"):
        make = FOUNDATION[name]
        solver = make()
        final = nash_conv(game, solver.output(solve(solver, game, 300)))
        assert float(final) < 0.5 * uniform, name


# ------------------------------------------------------------------------------ validation
@pytest.mark.slow
def test_bad_input_is_rejected(zero_sum_games, mdps):
    general = markov.random_general_sum(jax.random.key(1), 4, 2, 2, GAMMA)
    with pytest.raises(ValueError, match="game.rewards: minimax_value_iteration expects a zero-sum game"):
        solvers.minimax_value_iteration().init(general)
    with pytest.raises(ValueError, match="game: value_iteration expects an MDP"):
        solvers.value_iteration().init(take(zero_sum_games, 0))
    with pytest.raises(ValueError, match="game: minimax_value_iteration expects a 2-player game"):
        solvers.minimax_value_iteration().init(take(mdps, 0))
    with pytest.raises(ValueError, match="needs a Markov game"):
        solvers.policy_iteration().init(matrix.rock_paper_scissors())
    finite = markov.zero_sum(jnp.ones((1, 2, 2, 1)), jnp.zeros((1, 2, 2)), 1.0, jnp.ones(1), horizon=3)
    with pytest.raises(ValueError, match="game.horizon"):
        solvers.minimax_value_iteration().init(finite)
    with pytest.raises(ValueError, match="stage_solver"):
        solvers.minimax_value_iteration(stage_solver="lp")
    with pytest.raises(ValueError, match="temperature_decay"):
        solvers.entropy_regularized_extragradient(temperature_decay=1.5)
    with pytest.raises(ValueError, match="learning_rate"):
        solvers.natural_policy_gradient(learning_rate=-1.0)
    with pytest.raises(ValueError, match="method"):
        solvers.smooth_value_iteration(method="cfr")
    with pytest.raises(ValueError, match="value_step_size"):
        solvers.smooth_value_iteration(value_step_size=2.0)
    with pytest.raises(ValueError, match="temperature: KL regularization needs geometry='entropic'"):
        solvers.smooth_value_iteration(method="extragradient", temperature=0.1)
    with pytest.raises(ValueError, match="game.rewards: smooth_value_iteration expects a zero-sum game"):
        solvers.smooth_value_iteration().init(general)


def test_registered_for_the_cli():
    for name in solvers.MARKOV_SOLVERS:
        assert name in solvers.SOLVERS
    assert solvers.SOLVERS["policy_extragradient"] is solvers.entropy_regularized_extragradient


# ------------------------------------------------------------------------------ Markov-game fictitious play
MFP_STEPS = 4000


def numpy_value(game, policy):
    """Player 0's value of ``policy`` from ``initial``: ``initial @ (I - gamma P_pi)^-1 r_pi`` (float64 NumPy)."""
    P, R = np.asarray(game.transitions, np.float64), np.asarray(game.rewards[0], np.float64)
    x, y = (np.asarray(p, np.float64) for p in policy)
    P_pi, r_pi = np.einsum("sabt,sa,sb->st", P, x, y), np.einsum("sab,sa,sb->s", R, x, y)
    V = np.linalg.solve(np.eye(len(r_pi)) - float(game.discount) * P_pi, r_pi)
    return np.asarray(game.initial, np.float64) @ V


@pytest.fixture(scope="module")
def markov_fp_runs(zero_sum_games):
    """Two-timescale FP (NashConv every 1,000 steps) and the foundation's occupancy-weighted FP, 4,000 steps
    each, game by game (``iterate`` and ``nash_conv`` then compile once for all games: cheaper than ``run``)."""
    mfp, plain = solvers.markov_fictitious_play(), solvers.fictitious_play()
    out = {"nash_conv": [], "values": [], "belief_value": [], "plain": []}
    for g in range(NUM_GAMES):
        game = take(zero_sum_games, g)
        state, plain_state, trace = mfp.init(game), plain.init(game), []
        for _ in range(MFP_STEPS // 1000):
            state = iterate(mfp, game, 1000, state)
            plain_state = iterate(plain, game, 1000, plain_state)
            trace.append(nash_conv(game, mfp.output(state)))
        out["nash_conv"].append(trace)
        out["values"].append(state.extra.values)
        out["belief_value"].append(numpy_value(game, mfp.output(state)))
        out["plain"].append(nash_conv(game, plain.output(plain_state)))
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


@pytest.mark.slow
def test_markov_fictitious_play_approaches_nash(markov_fp_runs):
    """Sayin, Parise & Ozdaglar (2022), Thm 1: the beliefs converge to a stationary Nash equilibrium.
    Measured (float32): NashConv 6e-3 to 3.5e-2 after 1,000 steps, 3.5e-3 to 1.7e-2 after 4,000 (mean 1e-2);
    the foundation's FP 1e-2 to 2.9e-2 after 4,000 (mean 1.9e-2): both are limited by fictitious play's slow
    stage rate, so the margin is ~2x, not orders of magnitude."""
    nash_conv, plain = markov_fp_runs["nash_conv"], markov_fp_runs["plain"]
    assert np.all(nash_conv[:, -1] < 2.5e-2), nash_conv
    assert nash_conv[:, -1].sum() < nash_conv[:, 0].sum() / 1.5, nash_conv  # still decreasing
    assert nash_conv[:, -1].mean() < 0.75 * plain.mean(), (nash_conv[:, -1], plain)


@pytest.mark.slow
def test_markov_fictitious_play_values_approach_shapley(zero_sum_games, minimax, markov_fp_runs):
    """The slow timescale: ``v_0 -> V*`` and ``v_1 -> -V*`` (Shapley's minimax values, every state);
    and the beliefs' value from ``initial`` is within NashConv of the minimax value (zero-sum duality)."""
    values = markov_fp_runs["values"]  # [G, 2, S]
    np.testing.assert_allclose(values[:, 0], minimax["values"], atol=5e-3)
    np.testing.assert_allclose(values[:, 1], -minimax["values"], atol=5e-3)
    gap = np.abs(markov_fp_runs["belief_value"] - minimax_from_initial(zero_sum_games, minimax))
    assert np.all(gap <= markov_fp_runs["nash_conv"][:, -1] + 1e-5)


@pytest.mark.slow
def test_markov_fictitious_play_reaches_nash_in_float64():
    """NashConv < 1e-3 with values within 1e-4 of Shapley's, on the 4 test games, after 600k steps.
    FP's ``t^(-1/2)`` rate needs ~10^5.5 steps; by then the ``(t + 2)^-0.9`` belief steps are below
    float32's resolution and the iterates stall, so this runs in float64 (``jax.enable_x64`` in this
    process; jit caches key on it), in one compiled call with LLVM's basic optimizations (``LONG_RUN``:
    7.5 s of CPU; 34 s with this process's quick flags, 25 s in a subprocess with XLA's defaults)."""
    vi, s = solvers.minimax_value_iteration(), solvers.markov_fictitious_play()

    def one(g):
        vstar = solvers.run(vi, g, 300, eval_every=300)[0].extra.values
        state, trace = solvers.run(s, g, 600_000, eval_every=600_000)
        critic, value = state.extra.values, g.evaluate(s.output(state)).values[0]
        return (
            trace.nash_conv[-1],
            jnp.abs(critic[0] - vstar).max(),
            jnp.abs(critic[1] + vstar).max(),
            jnp.abs(value - g.initial @ vstar),
        )

    with jax.enable_x64(True):
        games = jax.jit(jax.vmap(lambda k: markov.random_zero_sum(k, 10, 3, 2, GAMMA)))(
            jax.random.split(jax.random.key(0), 4)
        )
        out = jax.jit(jax.vmap(one), compiler_options=LONG_RUN)(games)
        assert games.rewards.dtype == jnp.float64
    nc, err0, err1, value_err = (float(np.max(x)) for x in out)
    assert nc < 1e-3
    assert err0 < 1e-4 and err1 < 1e-4 and value_err < 1e-4, (err0, err1, value_err)


@pytest.mark.slow
@pytest.mark.parametrize("alternating", [True, False])
def test_markov_fictitious_play_on_one_state_discount_zero_is_matrix_fp(alternating):
    """With one state and discount 0 the stage game is ``A`` whatever the values, so the beliefs are
    matrix-game fictitious play's average (with ``belief_exponent=1``: the same ``1 / (t + 2)`` steps)."""
    A = jax.random.uniform(jax.random.key(9), (3, 4), minval=-1, maxval=1)
    mg = markov.zero_sum(jnp.ones((1, 3, 4, 1)), A[None], 0.0, jnp.ones(1))
    mfp = solvers.markov_fictitious_play(belief_exponent=1.0, alternating=alternating)
    fp = solvers.fictitious_play(alternating=alternating)
    m_state = iterate(fp, matrix.zero_sum(A), 200, fp.init(matrix.zero_sum(A)))
    g_state = iterate(mfp, mg, 200, mfp.init(mg))
    x, y = (np.asarray(p[0], np.float64) for p in mfp.output(g_state))
    for mp, gp in zip(fp.output(m_state), (x, y)):
        np.testing.assert_allclose(gp, np.asarray(mp), atol=1e-5)
    A = np.asarray(A, np.float64)
    assert np.max(A @ y) - np.min(x @ A) > 1e-4  # 200 FP steps are not yet exact: the match means something


def test_markov_fictitious_play_rejects_bad_input():
    general = markov.random_general_sum(jax.random.key(1), 4, 2, 2, GAMMA)
    with pytest.raises(ValueError, match="game.rewards: markov_fictitious_play expects a zero-sum game"):
        solvers.markov_fictitious_play().init(general)
    finite = markov.zero_sum(jnp.ones((1, 2, 2, 1)), jnp.zeros((1, 2, 2)), 1.0, jnp.ones(1), horizon=3)
    with pytest.raises(ValueError, match="game.horizon"):
        solvers.markov_fictitious_play().init(finite)
    with pytest.raises(ValueError, match=r"belief_exponent: expected a value in \(0, 1\]"):
        solvers.markov_fictitious_play(belief_exponent=1.5)
    with pytest.raises(ValueError, match="value_exponent"):
        solvers.markov_fictitious_play(value_exponent=0.0)
    with pytest.raises(ValueError, match="value_step_scale"):
        solvers.markov_fictitious_play(value_step_scale=-1.0)
    with pytest.raises(ValueError, match="value_target"):
        solvers.markov_fictitious_play(value_target="max")
    assert solvers.SOLVERS["markov_fictitious_play"] is solvers.markov_fictitious_play
