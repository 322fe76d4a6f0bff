"""Exact CE/CCE selection (``jaxgames.general_sum.selection``) and the LPs of ``jaxgames.general_sum.lp``.

Cross-checks, in float64 (``jax.enable_x64`` scoped to each test): the deviation-gain matrices against
brute force; maximum-welfare CE/CCE welfare and maximum-Gini objectives against OpenSpiel JPSRO's
cvxpy meta-solvers (``_mwce``, ``_mwcce``, ``_mgce``, ``_mgcce``); the Gini and entropy joints
(unique optima) against cvxpy's Clarabel at tight tolerances (JPSRO's own QP joints are accurate to
only ~1e-5); zero-sum matrix games against ``scipy.optimize.linprog``; the sequence-form LP against
OpenSpiel's ``sequence_form_lp`` on Kuhn (and Leduc, marked slow); infeasible and unbounded LPs.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
from jaxgames.general_sum import lp as glp
from jaxgames.general_sum import selection as sel


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _random_games(seed, num, shape):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (num, len(shape), *shape))


_SOLVERS = {}


def _batched(kind, objective):
    """One jitted, vmapped solver per (kind, objective), shared by the tests (compiled once)."""
    key = (kind, objective)
    if key not in _SOLVERS:
        _SOLVERS[key] = jax.jit(
            jax.vmap(lambda p: sel.correlated_equilibrium(p, kind, objective, tol=1e-8, check=False))
        )
    return _SOLVERS[key]


def _brute_force_gains(payoffs, joint, kind):
    """Deviation gains by enumeration, rows in ``deviation_gains`` order."""
    shape = payoffs.shape[1:]
    out = []
    for i, n_i in enumerate(shape):
        pairs = (
            [(a, b) for a in range(n_i) for b in range(n_i) if a != b]
            if kind == "ce"
            else [(None, b) for b in range(n_i)]
        )
        for a, b in pairs:
            total = 0.0
            for joint_action in itertools.product(*map(range, shape)):
                if kind == "ce" and joint_action[i] != a:
                    continue
                dev = list(joint_action)
                dev[i] = b
                total += joint[joint_action] * (payoffs[i][tuple(dev)] - payoffs[i][joint_action])
            out.append(total)
    return np.array(out)


@pytest.mark.parametrize("kind", ["ce", "cce"])
def test_deviation_gains_match_brute_force(x64, kind):
    rng = np.random.default_rng(0)
    payoffs = rng.uniform(-1, 1, (3, 2, 3, 2))
    joint = rng.dirichlet(np.ones(12)).reshape(2, 3, 2)
    G = np.asarray(sel.deviation_gains(jnp.asarray(payoffs), kind))
    np.testing.assert_allclose(G @ joint.ravel(), _brute_force_gains(payoffs, joint, kind), atol=1e-12)
    # the gap from these rows (per player: the best fixed deviation, or the sum over recommendations of the
    # best swap) equals jaxgames.general_sum.gaps, computed independently
    rows, per_player, start = G @ joint.ravel(), [], 0
    for a_i in payoffs.shape[1:]:
        if kind == "cce":
            per_player.append(max(rows[start : start + a_i].max(), 0.0))
            start += a_i
        else:
            part = rows[start : start + a_i * (a_i - 1)].reshape(a_i, a_i - 1)
            per_player.append(np.maximum(part.max(axis=1), 0.0).sum())
            start += a_i * (a_i - 1)
    np.testing.assert_allclose(sel.equilibrium_gap(payoffs, jnp.asarray(joint), kind), max(per_player), atol=1e-12)


def test_chicken_known_optima(x64):
    game = jaxgames.matrix.bimatrix([[6.0, 2.0], [7.0, 0.0]], [[6.0, 7.0], [2.0, 0.0]])
    ce = sel.max_welfare_ce(game)
    np.testing.assert_allclose(ce.welfare, 10.5, atol=1e-7)  # 1/2 (C, C), 1/4 (C, D), 1/4 (D, C)
    np.testing.assert_allclose(ce.joint, [[0.5, 0.25], [0.25, 0.0]], atol=1e-6)
    assert int(ce.status) == glp.SOLVED and float(ce.gap) <= 1e-8
    # the CCE polytope contains the CE polytope: its welfare optimum is at least as high
    assert float(sel.max_welfare_cce(game).welfare) >= float(ce.welfare) - 1e-7
    # symmetric game, unique optimum: the max-Gini CE is symmetric
    sol = sel.max_gini_ce(game)
    np.testing.assert_allclose(sol.joint, sol.joint.T, atol=1e-7)
    assert float(sol.gap) <= 1e-8


@pytest.mark.slow
@pytest.mark.requires_pyspiel
def test_matches_openspiel_jpsro_meta_solvers(x64):
    cp = pytest.importorskip("cvxpy")
    if "ECOS" not in cp.installed_solvers():
        pytest.skip("JPSRO's LP meta-solvers need ECOS (pip install ecos)")
    from open_spiel.python.algorithms import jpsro

    payoffs = _random_games(1, 4, (3, 3, 3))
    repeats = [np.ones(3)] * 3
    peers = {
        ("ce", "welfare"): jpsro._mwce,
        ("cce", "welfare"): jpsro._mwcce,
        ("ce", "gini"): jpsro._mgce,
        ("cce", "gini"): jpsro._mgcce,
    }
    for (kind, objective), peer in peers.items():
        ours = _batched(kind, objective)(jnp.asarray(payoffs))
        assert np.all(np.asarray(ours.status) == glp.SOLVED)
        assert float(jnp.max(ours.gap)) <= 1e-8
        for k in range(len(payoffs)):
            dist, _ = peer(payoffs[k], repeats)
            if objective == "welfare":
                np.testing.assert_allclose(ours.welfare[k], np.sum(payoffs[k].sum(0) * dist), atol=1e-6)
            else:
                np.testing.assert_allclose(1 - np.sum(np.asarray(ours.joint[k]) ** 2), 1 - np.sum(dist**2), atol=1e-6)


def test_unique_optima_match_cvxpy(x64):
    cp = pytest.importorskip("cvxpy")
    payoffs = _random_games(2, 2, (3, 3, 3))
    payoffs[1, 0, 0] = -2.0  # player 0's action 0 strictly dominated: the optima have zeros (boundary)
    for kind, objective in [("ce", "gini"), ("cce", "gini"), ("ce", "entropy")]:
        ours = _batched(kind, objective)(jnp.asarray(payoffs))
        for k in range(len(payoffs)):
            G = np.asarray(sel.deviation_gains(jnp.asarray(payoffs[k]), kind))
            x = cp.Variable(27, nonneg=True)
            goal = cp.Minimize(cp.sum_squares(x)) if objective == "gini" else cp.Maximize(cp.sum(cp.entr(x)))
            cp.Problem(goal, [G @ x <= 0, cp.sum(x) == 1]).solve(
                solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12
            )
            np.testing.assert_allclose(np.asarray(ours.joint[k]).ravel(), x.value, atol=1e-6)


def test_bad_input_names_the_field():
    game = jaxgames.matrix.chicken()
    for tol in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="tol"):
            sel.max_welfare_ce(game, tol=tol)
        with pytest.raises(ValueError, match="tol"):
            glp.linear_program(jnp.ones(2), tol=tol)
    with pytest.raises(ValueError, match="tol: 1e-08 is below what float32 payoffs can reach"):
        sel.max_welfare_ce(game, tol=1e-8)  # float32 payoffs (no x64 here)
    with pytest.raises(ValueError, match="kind"):
        sel.correlated_equilibrium(game, kind="nash")
    with pytest.raises(ValueError, match="objective"):
        sel.correlated_equilibrium(game, objective="fairness")
    with pytest.raises(ValueError, match="A_ub"):
        glp.linear_program(jnp.ones(2), A_ub=jnp.ones((1, 3)), b_ub=jnp.ones(1))


def test_linear_program_status(x64):
    # min -x1 - 2 x2, x1 + x2 <= 3: optimum -6 at (0, 3), multiplier 2
    r = glp.linear_program(jnp.array([-1.0, -2.0]), A_ub=jnp.array([[1.0, 1.0]]), b_ub=jnp.array([3.0]))
    np.testing.assert_allclose(r.x, [0.0, 3.0], atol=1e-7)
    np.testing.assert_allclose(r.dual_ub, [2.0], atol=1e-7)
    infeasible = dict(c=jnp.array([1.0, 1.0]), A_ub=jnp.array([[1.0, 1.0]]), b_ub=jnp.array([-1.0]))  # x >= 0
    unbounded = dict(c=jnp.array([-1.0, 0.0]), A_ub=jnp.array([[-1.0, 1.0]]), b_ub=jnp.array([1.0]))
    with pytest.raises(ValueError, match="infeasible"):
        glp.linear_program(**infeasible)
    with pytest.raises(ValueError, match="unbounded"):
        glp.linear_program(**unbounded)
    # under jit: no exception, the status says which
    solve = jax.jit(lambda c, A, b: glp.linear_program(c, A_ub=A, b_ub=b).status)
    assert glp.status_name(solve(*infeasible.values())) == "infeasible"
    assert glp.status_name(solve(*unbounded.values())) == "unbounded"


def test_zero_sum_lp_matches_linprog(x64):
    from scipy.optimize import linprog

    A = np.random.default_rng(3).normal(size=(4, 3, 5))
    sol = jax.jit(jax.vmap(lambda a: glp.zero_sum_lp(a, check=False)))(jnp.asarray(A))
    assert np.all(np.asarray(sol.status) == glp.SOLVED)
    for k, a in enumerate(A):
        m, n = a.shape
        ref = linprog(
            np.r_[np.zeros(m), -1.0],
            A_ub=np.c_[-a.T, np.ones(n)],
            b_ub=np.zeros(n),
            A_eq=np.r_[np.ones(m), 0.0][None],
            b_eq=[1.0],
            bounds=[(0, None)] * m + [(None, None)],
            method="highs",
        )
        np.testing.assert_allclose(sol.value[k], -ref.fun, atol=1e-8)
        x, y = sol.policy[0][k], sol.policy[1][k]
        game = jaxgames.matrix.zero_sum(a)
        assert float(game.nash_conv((x, y))) <= 1e-8
    mp = glp.zero_sum_lp(jaxgames.matrix.zoo.matching_pennies())
    np.testing.assert_allclose(mp.value, 0.0, atol=1e-8)
    np.testing.assert_allclose(mp.policy[1], [0.5, 0.5], atol=1e-7)


@pytest.mark.slow
def test_sequence_form_lp_kuhn(x64):
    game = jaxgames.efg.kuhn_poker()
    sol = glp.sequence_form_lp(game)
    np.testing.assert_allclose(sol.value, -1.0 / 18.0, atol=1e-8)
    assert float(game.nash_conv(sol.policy)) <= 1e-7
    np.testing.assert_allclose(sol.nash_conv, game.nash_conv(sol.policy))
    np.testing.assert_allclose(game.evaluate(sol.policy).values[0], -1.0 / 18.0, atol=1e-7)


def _openspiel_value(name):
    cp = pytest.importorskip("cvxpy")  # OpenSpiel's sequence-form LP solves with cvxpy and ECOS
    if "ECOS" not in cp.installed_solvers():
        pytest.skip("OpenSpiel's sequence_form_lp needs ECOS (pip install ecos)")
    import pyspiel
    from open_spiel.python.algorithms import sequence_form_lp

    return sequence_form_lp.solve_zero_sum_game(pyspiel.load_game(name))[0]


@pytest.mark.requires_pyspiel
def test_sequence_form_lp_matches_openspiel_kuhn(x64):
    sol = glp.sequence_form_lp(jaxgames.efg.kuhn_poker())
    np.testing.assert_allclose(sol.value, _openspiel_value("kuhn_poker"), atol=1e-6)


# Leduc (value -0.0856064560, OpenSpiel's sequence_form_lp -0.0856064, NashConv 3.8e-7) takes ~40 s of dense
# interior-point iterations: out of the suite; the command is in docs/guide/general_sum.md.


@pytest.mark.parametrize("kind", ["ce", "cce"])
@pytest.mark.parametrize("objective", ["welfare", "gini"])
def test_actions_in_play_solve_the_restricted_game(x64, kind, objective):
    """JPSRO's fixed-shape meta-game: masking actions out equals solving the smaller game, whatever the
    payoffs of the masked actions (here: far better than the rest, so a wrong mask would show)."""
    rng = np.random.default_rng(3)
    small = rng.uniform(-1, 1, (3, 2, 3, 2))
    big = np.full((3, 3, 4, 3), 5.0)
    big[:, :2, :3, :2] = small
    actions = (np.array([True, True, False]), np.array([True, True, True, False]), np.array([True, True, False]))
    restricted = sel.correlated_equilibrium(jnp.asarray(big), kind, objective, actions=actions)
    direct = sel.correlated_equilibrium(jnp.asarray(small), kind, objective)
    np.testing.assert_allclose(restricted.welfare, direct.welfare, atol=1e-7)
    assert float(np.asarray(restricted.joint)[2:, :, :].sum() + np.asarray(restricted.joint)[:, 3:, :].sum()) == 0.0
    if objective == "gini":  # unique optimum
        np.testing.assert_allclose(restricted.joint[:2, :3, :2], direct.joint, atol=1e-6)
    assert restricted.gap <= 1e-7
    with pytest.raises(ValueError, match="actions"):
        sel.correlated_equilibrium(jnp.asarray(small), kind, objective, actions=(np.zeros(2, bool),) * 3)


def test_vmap_in_chunks_equals_plain_vmap(x64):
    """Under ``jax.vmap`` the batch is solved in chunks (``selection._batched``): with a batch that is not a
    multiple of the chunk (padded) and an unbatched argument (broadcast), every game gets the iterates
    of a plain ``jax.vmap`` of the one-game solve."""
    payoffs = jnp.asarray(_random_games(5, 5, (3, 3)))
    actions = (jnp.array([True, True, True]), jnp.array([True, False, True]))
    chunked = jax.jit(jax.vmap(lambda p: sel._batched("ce", "welfare", 1e-9, 100, 2)((p, actions))))(payoffs)
    plain = jax.jit(jax.vmap(lambda p: sel._solve_one(p, "ce", "welfare", 1e-9, 100, actions)))(payoffs)
    assert np.all(np.asarray(chunked.status) == glp.SOLVED)
    np.testing.assert_array_equal(chunked.iterations, plain.iterations)
    np.testing.assert_allclose(chunked.welfare, plain.welfare, rtol=0, atol=1e-12)
    np.testing.assert_allclose(chunked.joint, plain.joint, rtol=0, atol=1e-12)
