"""Batching of the exact stage solver and the Markov stage games: vmapped = flat, derivatives unchanged.

``solve_zero_sum`` folds a ``jax.vmap`` axis into its batch of games (``custom_vmap``) and keeps the
closed forms' derivatives (``custom_jvp``); ``MarkovGame.joint_action_values`` takes one mat-vec per
player. Checked: vmapped (nested, any axis) solves equal the flat solve exactly; gradients equal those of
the solver without the vmap rule, vmapped or not; the stage games equal the defining ``einsum`` for three
players; minimax value iteration vmapped over games equals game-by-game runs. The warm-started solver
(``solve_zero_sum_warm``) equals the full enumeration, including on degenerate games, and its check
accepts the right kernel and rejects wrong ones.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames import markov
from solvers.zero_sum_kernels import (
    WARM_GAP_ULPS,
    _solve_any,
    _support_kernel,
    solve_zero_sum,
    solve_zero_sum_warm,
    value_bounds,
)

_solve = jax.jit(solve_zero_sum)


def test_vmapped_solves_equal_the_flat_solve():
    A = jax.random.uniform(jax.random.key(0), (3, 5, 3, 4), minval=-1.0, maxval=1.0)
    flat = _solve(A)
    nested = jax.jit(jax.vmap(jax.vmap(solve_zero_sum)))(A)
    inner_axis = jax.jit(jax.vmap(solve_zero_sum, in_axes=1, out_axes=1))(A)
    for f, n, i in zip(flat, nested, inner_axis):
        np.testing.assert_array_equal(n, f)
        np.testing.assert_array_equal(i, f)
    value, x, y, gap = flat
    assert float(gap.max()) < 1e-5
    low = jnp.min(jnp.einsum("...mn,...m->...n", A, x), axis=-1)
    np.testing.assert_allclose(value, low, atol=1e-5)  # value = certified floor of x (up to the gap)


@pytest.mark.slow
def test_gradients_are_those_of_the_closed_forms():
    # 2 x 2 games [[a, -b], [-c, d]] with a, b, c, d > 0: no saddle point, one kernel (the whole
    # matrix), so the value v = (ad - bc) / (a + b + c + d) is smooth and its gradient is known.
    a, b, c, d = jax.random.uniform(jax.random.key(1), (4, 5), minval=0.5, maxval=2.0)
    A = jnp.stack([jnp.stack([a, -b], -1), jnp.stack([-c, d], -1)], -2)  # [5, 2, 2]
    s = a + b + c + d
    x = (d + c) / s  # the row player's weight on row 0; its derivatives are the closed form's as well
    v = (a * d - b * c) / s
    dv = jax.jit(jax.grad(lambda A: jnp.sum(solve_zero_sum(A)[0])))(A)
    np.testing.assert_allclose(dv[:, 0, 0], (d - v) / s, rtol=1e-5)  # dv/da
    np.testing.assert_allclose(dv[:, 0, 1], (c + v) / s, rtol=1e-5)  # dv/dA_01 = -dv/db
    # vmapped: the same derivatives as the solver without the vmap rule (not compared with ``dv`` under jit:
    # with the test suite's XLA flags, jit(vmap(grad)) of the value halves it, before this rule as well)
    per_game = jax.vmap(jax.grad(lambda g: solve_zero_sum(g)[0]))(A)
    np.testing.assert_allclose(per_game, dv, rtol=1e-6, atol=1e-7)
    dx = jax.vmap(jax.grad(lambda g: solve_zero_sum(g)[1][0]))(A)
    np.testing.assert_allclose(dx, jax.vmap(jax.grad(lambda g: _solve_any(g)[1][0]))(A), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx[:, 0, 0], -x / s, rtol=1e-5)  # d/da of (c + d) / s


def test_joint_action_values_three_players():
    game = markov.random_general_sum(jax.random.key(2), num_states=5, num_actions=(2, 3, 2), branching=2)
    V = jax.random.normal(jax.random.key(3), (3, 5))
    want = game.rewards + game.discount * jnp.einsum("sabct,nt->nsabc", game.transitions, V)
    np.testing.assert_allclose(game.joint_action_values(V), want, rtol=1e-6, atol=1e-6)


def test_minimax_value_iteration_vmapped_over_games_equals_one_by_one():
    solver = solvers.minimax_value_iteration()
    keys = jax.random.split(jax.random.key(4), 3)

    @jax.jit
    def solve(key):
        game = markov.random_zero_sum(key, 6, 3, 2, 0.9)
        state = jax.lax.fori_loop(0, 20, lambda _, s: solver.step(game, s), solver.init(game))
        return state.extra.values, state.extra.stage_gap

    values, gaps = jax.jit(jax.vmap(solve))(keys)
    for i, key in enumerate(keys):
        v, g = solve(key)
        np.testing.assert_allclose(values[i], v, rtol=1e-6, atol=1e-6)
        assert float(g) < 1e-5 and float(gaps[i]) < 1e-5


@pytest.mark.parametrize("shape", [(2, 2), (4, 4)])
def test_vmap_of_unbatched_argument_is_broadcast(shape):
    A = jax.random.normal(jax.random.key(5), shape)
    out = jax.vmap(lambda _: solve_zero_sum(A))(jnp.arange(3))
    for o, f in zip(out, _solve(A)):
        np.testing.assert_allclose(o, jnp.broadcast_to(f, o.shape), rtol=1e-6, atol=1e-7)  # eager vs jit rounding


def _stage_games(shape, count=120, seed=6):
    """Random stage games, a third of them degenerate (rounded: ties, duplicate and dominated actions)."""
    A = np.random.default_rng(seed).uniform(-3, 3, (count, *shape))
    A[: count // 3] = np.round(A[: count // 3] / 2)
    return jnp.asarray(A, jnp.float32)


@pytest.mark.parametrize("shape", [(2, 2), (4, 4), pytest.param((3, 5), marks=pytest.mark.slow)])
def test_warm_start_equals_full_enumeration(shape):
    """Exact guesses (accepted), uniform and random-support guesses (mostly enumerated, in several blocks)."""
    A = _stage_games(shape)
    value, x, y, _ = _solve(A)
    m, n = shape
    masks = jax.random.bernoulli(jax.random.key(7), 0.5, (2, A.shape[0], max(m, n)))
    guesses = {
        "exact": (x, y),
        "uniform": (jnp.ones_like(x), jnp.ones_like(y)),
        "random": (masks[0, :, :m].astype(A.dtype), masks[1, :, :n].astype(A.dtype)),
    }
    warm = jax.jit(solve_zero_sum_warm)
    for name, (x0, y0) in guesses.items():
        v, xw, yw, gap = warm(A, x0, y0)
        np.testing.assert_allclose(v, value, atol=4e-6, err_msg=name)
        assert float(gap.max()) < 1e-5, name
        low, up = value_bounds(A, xw, yw)  # the returned strategies certify the value
        np.testing.assert_allclose(low, value, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(up, value, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(xw.sum(-1), 1.0, atol=1e-6)
        assert float(xw.min()) >= 0 and float(yw.min()) >= 0


def test_warm_start_check_accepts_the_right_kernel_and_rejects_wrong_ones():
    """The shortcut is taken: on non-degenerate 4 x 4 games the equilibrium supports pass the check with
    a rounding-size gap and give the LP-exact strategies; a support one action off never passes."""
    A = _stage_games((4, 4), count=300)[100:]  # the non-degenerate ones
    value, x, y, _ = _solve(A)
    xk, yk, low, up = jax.jit(_support_kernel)(A, x, y)
    tol = WARM_GAP_ULPS * np.finfo(np.float32).eps * np.abs(np.asarray(A)).max((1, 2))
    accepted = np.asarray(up - low) <= tol
    assert accepted.mean() > 0.97
    np.testing.assert_allclose(np.asarray(xk).T[accepted], np.asarray(x)[accepted], atol=2e-6)
    np.testing.assert_allclose(np.asarray(yk).T[accepted], np.asarray(y)[accepted], atol=2e-6)
    # drop one action of a mixed row support (and keep y's): no longer square -> rejected
    wrong = np.asarray(x).copy()
    mixed = (wrong > 0).sum(-1) > 1
    wrong[np.arange(len(wrong)), np.argmax(wrong, -1)] = 0.0
    _, _, low, up = jax.jit(_support_kernel)(A, jnp.asarray(wrong), y)
    assert not np.any(np.asarray(up - low)[mixed] <= tol[mixed])


@pytest.mark.slow
def test_minimax_value_iteration_warm_start_equals_full_enumeration():
    """Vmapped over games (the warm solver's vmap rule folds them into one batch of stage games)."""
    keys = jax.random.split(jax.random.key(8), 4)

    def run(warm_start):
        solver = solvers.minimax_value_iteration(warm_start=warm_start)

        def one(key):
            game = markov.random_zero_sum(key, 16, 4, 3, 0.9)
            return jax.lax.fori_loop(0, 30, lambda _, s: solver.step(game, s), solver.init(game)).extra

        return jax.jit(jax.vmap(one))(keys)

    warm, full = run(True), run(False)
    np.testing.assert_allclose(warm.values, full.values, atol=2e-6)
    assert float(warm.stage_gap.max()) < 1e-5


def test_warm_start_bounds_are_certified_in_large_batches():
    """The check's bounds are those of its strategies (NumPy), also for 16,384 stage games in one batch
    (the size of 256 vmapped 64-state games; array reductions for these bounds miscompiled there)."""
    A = jax.random.uniform(jax.random.key(9), (16384, 4, 4), minval=-1.0, maxval=1.0)
    guess = jax.random.bernoulli(jax.random.key(10), 0.6, (2, 16384, 4)).astype(A.dtype)
    x, y, low, up = jax.jit(_support_kernel)(A, guess[0], guess[1])
    A64, x, y = np.asarray(A, np.float64), np.asarray(x, np.float64).T, np.asarray(y, np.float64).T
    ok = np.isfinite(np.asarray(low))
    assert 0.1 < ok.mean() < 0.9  # square supports with a nonsingular kernel, and the others
    np.testing.assert_allclose(np.asarray(low)[ok], np.einsum("bmn,bm->bn", A64, x).min(-1)[ok], atol=1e-6)
    np.testing.assert_allclose(np.asarray(up)[ok], np.einsum("bmn,bn->bm", A64, y).max(-1)[ok], atol=1e-6)
