"""Sample-based mean-field learners (``solvers.sampled.mean_field``) on the N-agent simulator.

Cross-checks against the exact solvers on a small crowd modelling (5 cells, horizon 4, moves charged to
the step taking them): measured exploitabilities (N = 1000 agents, 8 episodes per step, 3 seeds):

* ``sampled_mirror_descent(1.0)`` after 10 / 20 / 30 steps: 0.100-0.105 / 0.0218-0.0221 / 0.0079-0.0085
  (exact OMD at the same learning rate: 0.1017 / 0.0217 / 0.0084; uniform policy: 0.698);
* ``sampled_fictitious_play()`` after 10 / 20 / 30 steps: 0.067-0.096 / 0.041-0.051 / 0.032-0.035
  (exact FP: 0.0513 / 0.0241 / 0.0171).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames.matrix import rock_paper_scissors
from jaxgames.mean_field import crowd_modelling
from solvers.sampled.mean_field import (
    monte_carlo_action_values,
    sampled_fictitious_play,
    sampled_mirror_descent,
    simulate,
    td_action_values,
)

from helpers import LONG_RUN, forbid_exact_model

K, EVERY = 30, 10


@pytest.fixture(scope="module")
def game():
    return crowd_modelling(5, 4, move_cost_model="action")


def _policies(solver, game, key, num_steps):
    """``[num_steps / EVERY, T, S, A]``: ``solver.output`` every ``EVERY`` steps, from ``init`` and ``step`` only."""

    def block(state, _):
        state = jax.lax.fori_loop(0, EVERY, lambda _, s: solver.step(game, s), state)
        return state, solver.output(state)[0]

    return jax.lax.scan(block, solver.init(game, key), None, length=num_steps // EVERY)[1]


def _learn_without_model(game, fn, *args):
    """``jax.jit(fn)(*args)``, traced (first called) with every exact-model method of the game raising; compiled
    with LLVM's basic optimizations (``helpers.LONG_RUN``): the N-agent simulations run for seconds (the
    vmapped mirror descent test: 2.7 s of CPU to compile and run both calls, 7.1 s with the quick flags)."""
    fn = jax.jit(fn, compiler_options=LONG_RUN)
    with forbid_exact_model(game):
        out = fn(*args)
    return fn, out


_exploitability_of = jax.jit(lambda game, pi: game.exploitability((pi,)))


def _exploitability(game, policies):
    """Exact exploitability of each policy ``[..., T, S, A]`` (outside the learners; one compilation)."""
    policies = np.asarray(policies)
    flat = [float(_exploitability_of(game, p)) for p in policies.reshape(-1, *policies.shape[-3:])]
    return np.array(flat).reshape(policies.shape[:-3])


def _exact_trace(solver, game, num_steps):
    """The exact solver's exploitability every ``EVERY`` steps (as ``solvers.run`` records it)."""
    return _exploitability(game, jax.jit(lambda g: _policies(solver, g, None, num_steps))(game))


@pytest.mark.slow
def test_mirror_descent_tracks_exact_omd_vmapped_over_keys_and_learning_rates(game):
    """One vmapped call over (key, learning rate), with every exact-model method raising.

    Two seeds at eta = 1 stay within 0.01 of exact OMD at the same learning rate at steps 10, 20, 30
    (0.1017 / 0.0217 / 0.0084), end within 0.004 of it and far below the uniform policy's 0.698;
    eta = 1e-3 (traced) barely moves from uniform. Different keys give different runs, the same key
    the same run (in one call, and in a second call with the rows permuted).
    """

    def learn(key, lr):
        return _policies(sampled_mirror_descent(lr), game, key, K)

    k0, k1 = jax.random.split(jax.random.PRNGKey(1))
    keys, lrs = jnp.stack([k0, k1, k0, k0]), jnp.array([1.0, 1.0, 1.0, 1e-3])
    fn, policies = _learn_without_model(game, jax.vmap(learn), keys, lrs)
    policies = np.asarray(policies)
    np.testing.assert_array_equal(policies[2], policies[0])
    np.testing.assert_array_equal(np.asarray(fn(keys[::-1], lrs[::-1]))[3], policies[0])
    assert np.abs(policies[0] - policies[1]).max() > 1e-3

    sampled = _exploitability(game, policies)
    exact = _exact_trace(solvers.mirror_descent(1.0, output="last", alternating=False), game, K)
    uniform = float(_exploitability_of(game, game.uniform_policy()[0]))
    assert np.abs(sampled[:2] - exact).max() < 0.01, (sampled, exact)
    assert sampled[:2, -1].max() < exact[-1] + 0.004, (sampled, exact)
    assert sampled[:2, -1].max() < uniform / 50
    assert np.all(sampled[:2, -1] < sampled[:2, 0] / 5)  # it decays, like the exact one (0.10 -> 0.008)
    assert np.abs(sampled[3] - uniform).max() < 0.05, (sampled[3], uniform)


@pytest.mark.slow
def test_fictitious_play_tracks_exact_fp(game):
    """Within 0.04 of exact FP after 20 steps (0.0241), decaying, far below uniform; learned from the
    simulator only."""
    solver = sampled_fictitious_play()
    _, policies = _learn_without_model(game, lambda k: _policies(solver, game, k, 20), jax.random.PRNGKey(1))
    sampled = _exploitability(game, policies)
    exact = _exact_trace(solvers.fictitious_play(alternating=False), game, 20)
    assert abs(sampled[-1] - exact[-1]) < 0.04 and sampled[0] < 0.15 and sampled[-1] < sampled[0], (sampled, exact)
    assert sampled[-1] < float(_exploitability_of(game, game.uniform_policy()[0])) / 10


@pytest.mark.slow
def test_q_estimates_match_exact_action_values():
    """TD and Monte Carlo Q-estimates (16,000 agent-episodes of a random policy) against ``evaluate``'s.

    With crowd aversion 0 the simulator is unbiased for every N; with aversion 1 the finite-N bias at
    N = 1000 is ~0.01 (measured max errors 0.06 / 0.08 and 0.07 / 0.10 for TD / Monte Carlo).
    A time or cell index off by one gives errors ~1.
    """
    pi = jnp.asarray(np.random.default_rng(0).dirichlet(3 * np.ones(3), size=(4, 5)), jnp.float32)

    @jax.jit
    def estimates(g, key):
        samples = simulate(g, 1000, 16, key, pi)
        td, counts = td_action_values(samples, pi)
        return td, monte_carlo_action_values(samples, 5, 3), counts, g.evaluate((pi,)).action_values[0]

    for aversion in (0.0, 1.0):
        g = crowd_modelling(5, 4, crowd_aversion=aversion, move_cost_model="action")
        td, mc, counts, exact = estimates(g, jax.random.PRNGKey(0))
        assert float(counts.min()) > 100
        for q in (td, mc):
            err = np.abs(np.asarray(q) - np.asarray(exact))
            assert err.max() < 0.2 and err.mean() < 0.04, (aversion, err)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(num_agents=0), "num_agents"),
        (dict(num_agents=2.5), "num_agents"),
        (dict(num_episodes=0), "num_episodes"),
        (dict(exploration=1.5), "exploration"),
        (dict(exploration=-0.1), "exploration"),
        (dict(num_agents=10, num_explorers=11), "num_explorers"),
        (dict(num_explorers=-1), "num_explorers"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(estimator="sarsa"), "estimator"),
    ],
)
def test_bad_hyperparameters(kwargs, field):
    with pytest.raises(ValueError, match=field):
        sampled_mirror_descent(**kwargs)


@pytest.mark.parametrize("make", [sampled_mirror_descent, sampled_fictitious_play])
def test_bad_game_and_missing_key(game, make):
    with pytest.raises(ValueError, match="key: a sample-based solver needs a PRNG key"):
        make().init(game)
    with pytest.raises(ValueError, match="game: .*MeanFieldGame.*got MatrixGame"):
        make().init(rock_paper_scissors(), jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="num_agents"):
        make(num_agents=0)
