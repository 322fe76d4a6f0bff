"""The exact metrics and the solver steps of every family give the same answer with and without ``jax.jit``.

``chex.variants`` runs each test twice: once through ``jax.jit`` and once calling the function as it is.
Each variant is compared with the compiled reference (one ``jax.jit`` of the whole computation) and, where
one is known, with the analytic value, so a metric or a step that branches in Python on concrete values,
or that XLA's compilation changes, fails here. A step must also keep its state's structure, shapes and
dtypes (``solvers.run`` scans it).
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import parameterized

import jaxgames
import solvers
from jaxgames import markov, matrix, mean_field

from helpers import KUHN_UNIFORM_NASH_CONV

PENNIES = jnp.array([[1.0, -1.0], [-1.0, 1.0]])


def _pure(game):
    """Every player plays its first action (``[..., A]`` one-hot policies)."""
    return tuple(jnp.zeros_like(p).at[..., 0].set(1.0) for p in game.uniform_policy())


def _random(game, seed=0):
    """A random policy over the legal actions (every family's policies are ``[..., A]`` tables)."""
    rng = np.random.default_rng(seed)
    out = []
    for p in game.uniform_policy():
        legal = np.asarray(p) > 0
        w = rng.exponential(size=p.shape) * legal
        out.append(jnp.asarray(w / w.sum(-1, keepdims=True), p.dtype))
    return tuple(out)


# name, game, policy, NashConv when known analytically (None: compared with the op-by-op reference only)
METRIC_CASES = [
    # uniform is rock-paper-scissors' equilibrium
    ("rps_uniform", matrix.rock_paper_scissors, lambda g: g.uniform_policy(), 0.0),
    # (1, 10, 5) / 16 is the equilibrium of biased rock-paper-scissors (OpenSpiel's matrix_brps)
    ("brps_equilibrium", matrix.biased_rock_paper_scissors, lambda g: (jnp.array([1.0, 10.0, 5.0]) / 16,) * 2, 0.0),
    # both play heads: the row player already wins 1, the column player gains 2 by switching
    ("pennies_pure", lambda: matrix.zero_sum(PENNIES), _pure, 2.0),
    # Kuhn poker's uniform policy: 11/12 (OpenSpiel's kuhn_poker_test.py)
    ("kuhn_uniform", jaxgames.kuhn_poker, lambda g: g.uniform_policy(), KUHN_UNIFORM_NASH_CONV),
    # one state, discount 0: the Markov game is matching pennies
    (
        "markov_one_state_pennies",
        lambda: markov.zero_sum(jnp.ones((1, 2, 2, 1)), PENNIES[None], 0.0, jnp.ones(1)),
        _pure,
        2.0,
    ),
    ("crowd_modelling_random", lambda: mean_field.crowd_modelling(4, 3), _random, None),
]


def _metrics(game, policy):
    return game.nash_conv(policy), game.exploitability(policy), game.evaluate(policy).values


_jitted_metrics = jax.jit(_metrics)


# name, game, solver, steps
STEP_CASES = [
    ("extragradient_brps", matrix.biased_rock_paper_scissors, solvers.extragradient, 20),
    ("cfr_plus_kuhn", jaxgames.kuhn_poker, solvers.cfr_plus, 10),
    (
        "minimax_value_iteration_markov",
        lambda: markov.random_zero_sum(jax.random.key(1), 3, 2, 2, 0.9),
        solvers.minimax_value_iteration,
        5,
    ),
]


class JitVariantsTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*METRIC_CASES)
    def test_exact_metrics(self, make_game, make_policy, nash_conv):
        game = make_game()
        policy = make_policy(game)
        got_nc, got_expl, got_values = self.variant(_metrics)(game, policy)
        ref_nc, _, ref_values = _jitted_metrics(game, policy)
        np.testing.assert_allclose(got_nc, ref_nc, atol=1e-5)
        np.testing.assert_allclose(got_values, ref_values, atol=1e-5)
        np.testing.assert_allclose(got_expl, got_nc / game.num_players, rtol=1e-6)
        if nash_conv is not None:
            np.testing.assert_allclose(got_nc, nash_conv, atol=1e-5)
        else:
            assert float(got_nc) > 1e-3  # a random policy is exploitable: the comparison means something

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*STEP_CASES)
    def test_solver_steps(self, make_game, make_solver, steps):
        game, solver = make_game(), make_solver()
        state = start = solver.init(game)
        step = self.variant(solver.step)
        for _ in range(steps):
            state = step(game, state)
        chex.assert_trees_all_equal_shapes_and_dtypes(state, start)
        reference = jax.jit(lambda g, s: jax.lax.fori_loop(0, steps, lambda _, s: solver.step(g, s), s))(game, start)
        for ours, theirs in zip(solver.output(state), solver.output(reference)):
            np.testing.assert_allclose(ours, theirs, atol=1e-5)
        moved = max(float(jnp.abs(a - b).max()) for a, b in zip(solver.output(state), solver.output(start)))
        assert moved > 1e-4, "the steps changed nothing: the comparison would be vacuous"
