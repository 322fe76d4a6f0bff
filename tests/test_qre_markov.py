"""The logit QRE paths of discounted Markov games (``jaxgames.markov.qre``) against sgamesolver.

* sgamesolver's ``QRE`` homotopy (Eibelshäuser & Poensgen; sgamesolver 1.0.2 with NumPy 1.26, in
  its own virtual environment, offline) on ``SGame.random_game(4, 2, 3, delta=0.95, seed=7)``: four
  points of its path and its final point are stored in ``tests/data/sgamesolver_qre_markov.npz``
  (``benchmarks/bench_qre_markov.py --make-fixture`` writes it). Its points solve our fixed point,
  our path reaches the same policies at the same ``lambda``, and the limit is the same equilibrium.
* ``regularized=True`` (Cen et al.'s entropy-regularized game): every path point has
  ``regularized_nash_conv`` ~0 at temperature ``1 / lambda``; the limit is a Markov perfect
  equilibrium (``nash_conv`` ~0), as for the plain Markov logit QRE.
* The structured Jacobian (per-state blocks, value columns) equals ``jax.jacfwd`` of the equations,
  for both fixed points and for the limit system, with 3 players, and with 2 players (the per-state
  blocks inverted in closed form, checked against LAPACK's inverse); a 3-player path point is the
  regularized equilibrium found by a plain fixed-point iteration.

Float64 throughout; one compiled path per variant (every game here has 4 states and 3x3 actions).
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgames import equilibria
from jaxgames.equilibria import CONVERGED, REACHED
from jaxgames.markov import MarkovGame, random_general_sum
from jaxgames.markov import qre as markov_qre

DATA = Path(__file__).parent / "data" / "sgamesolver_qre_markov.npz"
NO_POLISH = 1e30  # polish_from: trace the path itself up to max_lambda


def PATH(game, max_lambda=1e6, polish_from=10.0, regularized=False):
    """The path (``qre_path`` compiles one program per variant and reuses it)."""
    return markov_qre.qre_path(
        game, max_lambda=max_lambda, polish_from=polish_from, regularized=regularized, max_points=200
    )


@jax.jit
def nash_conv(game, policy):
    return game.nash_conv(policy)


@jax.jit
def residuals(game, policies, lams):
    """Per point: ``(plain residual, regularized residual, regularized_nash_conv at 1 / lambda)``."""

    def one(policy, lam):
        return (
            markov_qre.qre_residual(game, policy, lam),
            markov_qre.qre_residual(game, policy, lam, regularized=True),
            game.regularized_nash_conv(policy, 1.0 / lam),
        )

    return jax.vmap(one)(policies, lams)


def path_residuals(game, path):
    """``residuals`` at the points ``1 .. num_points - 1`` (``lambda > 0``)."""
    n = int(path.num_points)
    lams = path.inverse_temperatures
    pol = tuple(jnp.where(jnp.isnan(p), 1.0 / p.shape[-1], p) for p in path.policies)
    plain, regularized, gap = residuals(game, pol, jnp.where(jnp.isnan(lams) | (lams == 0), 1.0, lams))
    return lams[1:n], plain[1:n], regularized[1:n], gap[1:n]


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def fixture_game():
    d = np.load(DATA)
    s = d["rewards"].shape[1]
    rewards = jnp.asarray(d["rewards"])
    # the same array types as random_general_sum's games: one compiled path for all
    game = MarkovGame(
        jnp.asarray(d["transitions"]), rewards, float(d["discount"]), jnp.full((s,), 1 / s, rewards.dtype)
    )
    return game, d


def random_game(seed):
    return random_general_sum(jax.random.key(seed), 4, 3, branching=4, discount=0.9)


def point(path, k):
    return tuple(p[k] for p in path.policies)


def last(path):
    return point(path, int(path.num_points) - 1)


def max_diff(a, b):
    return max(float(jnp.max(jnp.abs(jnp.asarray(x) - jnp.asarray(y)))) for x, y in zip(a, b))


@pytest.mark.slow
def test_sgamesolver_points_are_on_our_path():
    game, d = fixture_game()
    for lam, theirs in zip(d["lambdas"], d["policies"]):
        theirs = tuple(jnp.asarray(t) for t in theirs)
        # sgamesolver's corrector stops at 1e-7: its points solve our equation to about that
        assert float(markov_qre.qre_residual(game, theirs, lam)) < 1e-6
        path = PATH(game, max_lambda=lam, polish_from=NO_POLISH)
        assert int(path.status) == REACHED
        assert float(path.inverse_temperatures[int(path.num_points) - 1]) == pytest.approx(lam, rel=1e-12)
        assert max_diff(last(path), theirs) < 1e-6


def test_sgamesolver_limit_is_our_limit():
    game, d = fixture_game()
    theirs = tuple(jnp.asarray(t) for t in d["final_policy"])
    lam = float(d["final_lambda"])  # where sgamesolver stopped (d sigma / d lambda < 1e-7)
    at_theirs = PATH(game, max_lambda=lam, polish_from=NO_POLISH)
    assert max_diff(last(at_theirs), theirs) < 1e-6
    path = PATH(game)
    assert int(path.status) == CONVERGED
    assert float(path.nash_conv) < 1e-10
    # the same Markov perfect equilibrium; sgamesolver's point is still O(1 / lambda) away from it
    assert max_diff(path.nash, theirs) < 20.0 / lam
    assert float(nash_conv(game, theirs)) > float(path.nash_conv)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_regularized_path_points_are_regularized_equilibria(seed):
    game = random_game(seed)
    path = PATH(game, regularized=True)
    assert int(path.status) == CONVERGED
    assert int(path.num_points) > 5
    lams, _, residual, gap = path_residuals(game, path)
    assert float(jnp.max(residual)) < 1e-6
    # regularized_nash_conv (values, up to 1 / (1 - gamma) of the rewards) vanishes at every point
    assert float(jnp.max(jnp.abs(gap) / (1.0 + lams))) < 1e-7 / (1.0 - game.discount)
    assert float(path.nash_conv) < 1e-10
    assert float(nash_conv(game, last(path))) < 0.1  # the last QRE is near the polished limit


def test_equilibria_qre_path_hands_discounted_games_to_the_structured_path():
    """``jaxgames.equilibria.qre_path`` of a discounted Markov game is this module's regularized path
    (the same compiled program: equal to the last bit), and a path that fails raises there too."""
    game = random_game(0)
    ours = equilibria.qre_path(game, max_lambda=1e6, first_step=0.3, max_points=200)
    theirs = PATH(game, regularized=True)
    assert int(ours.status) == CONVERGED
    np.testing.assert_array_equal(ours.inverse_temperatures, theirs.inverse_temperatures)
    np.testing.assert_array_equal(np.concatenate(ours.nash), np.concatenate(theirs.nash))
    with pytest.raises(ValueError, match="min_step"):
        equilibria.qre_path(game, max_lambda=1e6, first_step=0.3, min_step=0.25, max_points=200)


def test_plain_path_is_the_markov_logit_qre_not_the_regularized_one():
    game = random_game(2)
    path = PATH(game)
    assert int(path.status) == CONVERGED
    _, residual, _, _ = path_residuals(game, path)
    assert float(jnp.max(residual)) < 1e-6
    assert float(path.nash_conv) < 1e-10
    # the two fixed points differ: the regularized one pays the divergences along the continuation
    plain = PATH(game, max_lambda=3.0, polish_from=NO_POLISH)
    regularized = PATH(game, max_lambda=3.0, polish_from=NO_POLISH, regularized=True)
    assert max_diff(last(plain), last(regularized)) > 1e-3
    _, residual, residual_regularized, _ = path_residuals(game, plain)
    assert float(residual[-1]) < 1e-6 < 1e-3 < float(residual_regularized[-1])


@pytest.mark.slow
@pytest.mark.parametrize("regularized", [False, True])
def test_end_game_with_supports_of_unequal_sizes(regularized):
    """Sparse games (``branching=2``) whose Markov perfect limit has, in some state, players mixing
    different numbers of actions: the limit system's per-state block is singular there (the values
    of other states balance the extra indifference), and the end game must still converge (it used
    to return nan and the path ran on to ``max_lambda``, ``REACHED`` with ``nash_conv`` ~1e-6)."""
    unequal = 0
    for seed in (8, 24, 25, 34):  # the same shapes as random_game: no new compilation
        game = random_general_sum(jax.random.key(seed), 4, 3, branching=2, discount=0.9)
        path = PATH(game, regularized=regularized)
        assert int(path.status) == CONVERGED, seed
        assert float(nash_conv(game, path.nash)) < 1e-8 * float(jnp.max(game.rewards) - jnp.min(game.rewards))
        assert int(path.num_points) < 120  # the end game stops the path (not the 1 / lambda approach)
        sizes = [jnp.sum(p > 0, axis=-1) for p in path.nash]
        unequal += int(jnp.sum(sizes[0] != sizes[1]))
    assert unequal > 0


@pytest.mark.slow  # ~15 s of compilation: a program for three players (the others share the 2-player ones)
def test_three_player_path_is_the_regularized_fixed_point():
    """A 3-player game (actions 2, 3, 2: every player's axis of ``P`` and ``r`` is told apart): the
    path point at ``lambda = 3`` is the fixed point ``pi_i ∝ rho_i exp(lambda Q_i^tau(pi))`` found by
    a damped float64 fixed-point iteration (``regularized_action_values``, one linear solve per
    iteration), and the same compiled path goes on to a Markov perfect equilibrium."""
    from jaxgames.markov.regularized import regularized_action_values

    game = random_general_sum(jax.random.key(11), 3, (2, 3, 2), branching=2, discount=0.8)
    lam = 3.0
    reference = game.uniform_policy()

    def response(policy):
        q = regularized_action_values(game, policy, 1.0 / lam, reference)
        return tuple(jax.nn.softmax(lam * qi + jnp.log(r), axis=-1) for qi, r in zip(q, reference))

    @jax.jit
    def fixed_point():
        damped = lambda _, pol: tuple(0.5 * p + 0.5 * b for p, b in zip(pol, response(pol)))  # noqa: E731
        pol = jax.lax.fori_loop(0, 400, damped, reference)
        return pol, response(pol)

    theirs, again = fixed_point()
    assert max_diff(theirs, again) < 1e-13  # the iteration has converged
    path = PATH(game, max_lambda=lam, polish_from=NO_POLISH, regularized=True)
    assert int(path.status) == REACHED
    assert max_diff(last(path), theirs) < 1e-8
    assert max_diff(last(path), PATH(game, max_lambda=lam, polish_from=NO_POLISH).nash) > 1e-3  # not the plain QRE
    full = PATH(game, regularized=True)
    assert int(full.status) == CONVERGED
    assert float(nash_conv(game, full.nash)) < 1e-10


@pytest.mark.slow  # ~9 s of compilation; the paths above converge only with the right Jacobian
def test_structured_jacobian_equals_jacfwd():
    game = random_general_sum(jax.random.key(3), 3, (2, 3, 2), branching=3, discount=0.8)
    nloc = 7
    mask = jnp.ones((3, nloc), bool)
    log_rho = jnp.concatenate([jnp.full((3, a), -jnp.log(a)) for a in (2, 3, 2)], axis=-1)
    system = markov_qre._System(game, mask, log_rho, True)  # the limit system: plain values
    support = jnp.array([[1, 1, 1, 0, 1, 1, 0], [1, 0, 0, 1, 0, 1, 0], [1, 1, 1, 1, 0, 1, 1]], bool)
    ref = jnp.array([[1, 0, 0], [0, 1, 0], [0, 1, 0]], jnp.int32)
    key = jax.random.key(4)
    x = jax.random.normal(key, (3, nloc))
    Z = jax.random.normal(jax.random.fold_in(key, 1), (3, 3))
    lam = jnp.asarray(1.7)
    row = jax.random.normal(jax.random.fold_in(key, 2), (31,)).at[21:30].set(0.0)
    rhs = jax.random.normal(jax.random.fold_in(key, 3), (31,))

    @jax.jit
    def both(x, Z, lam, row, rhs):
        out = []
        for sys_ in (system, system.with_support(support, ref)):

            def flat(y, sys_=sys_):
                h1, h2 = sys_.residual(y[:21].reshape(3, nloc), y[21:30].reshape(3, 3), y[30])
                return jnp.concatenate([h1.ravel(), h2.ravel()])

            y = jnp.concatenate([x.ravel(), Z.ravel(), lam[None]])
            dense = jnp.linalg.solve(jnp.concatenate([jax.jacfwd(flat)(y), row[None]]), rhs)
            fac = sys_.factor(sys_.linearize(x, Z, lam), row[:21].reshape(3, nloc), row[30])
            dx, dZ, dl = sys_.solve(fac, rhs[:21].reshape(3, nloc), rhs[21:30].reshape(3, 3), rhs[30])
            out.append((jnp.concatenate([dx.ravel(), dZ.ravel(), dl[None]]), dense))
        return out

    for ours, dense in both(x, Z, lam, row, rhs):
        np.testing.assert_allclose(ours, dense, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(dense))))


@pytest.mark.parametrize("actions", [(3, 2), (2, 4)])
def test_two_player_block_inverse_and_solve_equal_dense(actions):
    # two players on the path: the per-state blocks are inverted in closed form (Schur complement,
    # cofactors; on the smaller player's side, so (3, 2) takes the mirrored branch), not by LAPACK;
    # against jnp.linalg.inv and a dense solve of jacfwd's Jacobian, with actions off the support
    game = random_general_sum(jax.random.key(5), 3, actions, branching=2, discount=0.9)
    nloc, S = sum(actions), 3
    mask = jnp.ones((S, nloc), bool).at[1, 0].set(False).at[2, nloc - 1].set(False)
    log_rho = jnp.where(mask, jnp.log(0.3), 0.0)
    system = markov_qre._System(game, mask, log_rho, False)
    key = jax.random.key(6)
    x = jnp.where(mask, jax.random.normal(key, (S, nloc)), 0.0)
    Z = jax.random.normal(jax.random.fold_in(key, 1), (2, S))
    lam = jnp.asarray(2.3)
    n = nloc * S + 2 * S + 1
    row = jax.random.normal(jax.random.fold_in(key, 2), (n,)).at[nloc * S : n - 1].set(0.0)
    rhs = jax.random.normal(jax.random.fold_in(key, 3), (n,))

    @jax.jit
    def both(x, Z, lam, row, rhs):
        def flat(y):
            h1, h2 = system.residual(y[: nloc * S].reshape(S, nloc), y[nloc * S : n - 1].reshape(2, S), y[-1])
            return jnp.concatenate([h1.ravel(), h2.ravel()])

        y = jnp.concatenate([x.ravel(), Z.ravel(), lam[None]])
        dense = jnp.linalg.solve(jnp.concatenate([jax.jacfwd(flat)(y), row[None]]), rhs)
        lin = system.linearize(x, Z, lam)
        fac = system.factor(lin, row[: nloc * S].reshape(S, nloc), row[-1])
        dx, dZ, dl = system.solve(fac, rhs[: nloc * S].reshape(S, nloc), rhs[nloc * S : n - 1].reshape(2, S), rhs[-1])
        ours = jnp.concatenate([dx.ravel(), dZ.ravel(), dl[None]])
        return system.block_inverse(lin["B"]), jnp.linalg.inv(lin["B"]), ours, dense

    inv, lapack, ours, dense = both(x, Z, lam, row, rhs)
    np.testing.assert_allclose(inv, lapack, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours, dense, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(dense))))


def test_logit_action_values_are_the_policy_action_values():
    game = random_game(5)
    pol = game.uniform_policy()
    for q, e in zip(markov_qre.logit_action_values(game, pol), game.evaluate(pol).action_values):
        np.testing.assert_allclose(q, e, rtol=1e-12)


def test_bad_input():
    game = random_game(0)
    finite = MarkovGame(game.transitions, game.rewards, 0.9, game.initial, horizon=5)
    with pytest.raises(ValueError, match="horizon"):
        markov_qre.qre_path(finite)
    with pytest.raises(ValueError, match="reference"):
        markov_qre.qre_path(game, (jnp.full((4, 3), 1 / 3),))
    with pytest.raises(ValueError, match="max_accel"):
        markov_qre.qre_path(game, max_accel=0.5)
