"""Batching of the exact stage solver and the Markov stage games: vmapped = flat, derivatives unchanged.

``solve_zero_sum`` folds a ``jax.vmap`` axis into its batch of games (``custom_vmap``) and keeps the
closed forms' derivatives (``custom_jvp``); ``MarkovGame.joint_action_values`` takes one mat-vec per
player. Checked: vmapped (nested, any axis) solves equal the flat solve exactly; gradients equal those of
the solver without the vmap rule, vmapped or not; the stage games equal the defining ``einsum`` for three
players; minimax value iteration vmapped over games equals game-by-game runs.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames import markov
from solvers.zero_sum_kernels import _solve_any, solve_zero_sum

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
