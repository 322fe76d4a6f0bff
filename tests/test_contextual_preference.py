"""Contextual preference games (jaxgames/matrix/contextual.py): exact values, checks, the simulator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
from jaxgames.env import SIMULTANEOUS, TERMINAL
from jaxgames.matrix import (
    ContextualPreferenceEnv,
    ContextualPreferenceGame,
    preference_game,
    random_contextual_preference,
)

from helpers import lp_solve

C, A = 3, 4


def _game():
    return random_contextual_preference(jax.random.key(0), C, A, context_probs="random")


def _random_policy(seed):
    rng = np.random.default_rng(seed)
    return tuple(jnp.asarray(rng.dirichlet(np.ones(A), size=C), jnp.float32) for _ in range(2))


@pytest.mark.slow
def test_exact_values_match_brute_force_and_the_per_context_preference_games():
    game = _game()
    P, rho = np.asarray(game.preferences, np.float64), np.asarray(game.context_probs, np.float64)
    x, y = (np.asarray(p, np.float64) for p in _random_policy(1))
    M = P - 0.5
    value = sum(rho[c] * x[c] @ M[c] @ y[c] for c in range(C))
    # brute force: best responses over the A^C pure context-to-response maps of each player
    pure = np.stack(np.meshgrid(*[np.arange(A)] * C, indexing="ij"), -1).reshape(-1, C)
    br0 = max(sum(rho[c] * (M[c] @ y[c])[a[c]] for c in range(C)) for a in pure)
    br1 = max(sum(-rho[c] * (x[c] @ M[c])[b[c]] for c in range(C)) for b in pure)
    ev = game.evaluate((jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)))
    np.testing.assert_allclose(ev.values, [value, -value], atol=1e-6)
    policy = (jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))
    np.testing.assert_allclose(game.best_response_values(policy), [br0, br1], atol=1e-6)
    gaps = np.asarray(game.context_gaps(policy))
    want_gaps = [float(preference_game(P[c]).nash_conv((policy[0][c], policy[1][c]))) for c in range(C)]
    np.testing.assert_allclose(gaps, want_gaps, atol=1e-6)
    np.testing.assert_allclose(game.nash_conv(policy), br0 + br1, atol=1e-6)
    np.testing.assert_allclose(game.nash_conv(policy), rho @ gaps, atol=1e-6)
    np.testing.assert_allclose(jaxgames.exploitability(game, policy), (br0 + br1) / 2, atol=1e-6)
    # action values are given the context; chance's reach is rho
    np.testing.assert_allclose(ev.action_values[0], np.einsum("cab,cb->ca", M, y), atol=1e-6)
    np.testing.assert_allclose(ev.opponent_reach[1], rho, atol=1e-7)
    br = game.best_response(policy)
    np.testing.assert_allclose(game.evaluate((br[0], policy[1])).values[0], br0, atol=1e-6)


@pytest.mark.slow
def test_the_lp_equilibrium_of_every_context_has_zero_gap_and_regularized_gap_is_per_context():
    game = _game()
    P = np.asarray(game.preferences, np.float64)
    nash = []
    for c in range(C):
        value, x = lp_solve(P[c] - 0.5)
        assert abs(value) < 1e-7  # symmetric zero-sum: value 0
        nash.append(x)
    nash = jnp.asarray(np.stack(nash), jnp.float32)
    np.testing.assert_allclose(game.context_gaps((nash, nash)), 0.0, atol=1e-5)
    assert float(game.exploitability((nash, nash))) < 1e-5
    uniform = game.uniform_policy()
    assert float(game.exploitability(uniform)) > 0.05
    # a mixture of policies is the per-context mixture (one decision point per context)
    mixed = game.mix_policies(uniform, (nash, nash), 0.25)
    np.testing.assert_allclose(mixed[0], 0.75 * uniform[0] + 0.25 * nash, atol=1e-7)
    # regularized gap: rho-weighted regularized gaps of the per-context preference games
    pol, beta = _random_policy(2), 0.3
    ref = jnp.asarray(np.random.default_rng(3).dirichlet(np.ones(A), size=C), jnp.float32)
    want = sum(
        float(game.context_probs[c])
        * float(preference_game(P[c]).regularized_nash_conv((pol[0][c], pol[1][c]), beta, (ref[c], ref[c])))
        for c in range(C)
    )
    np.testing.assert_allclose(game.regularized_nash_conv(pol, beta, (ref, ref)), want, atol=1e-5)


def test_random_instances_vmap_and_bradley_terry_is_transitive():
    games = jax.vmap(lambda k: random_contextual_preference(k, C, A, kind="bradley_terry"))(
        jax.random.split(jax.random.key(1), 3)
    )
    assert games.preferences.shape == (3, C, A, A)
    gaps = jax.vmap(lambda g: g.nash_conv(g.uniform_policy()))(games)
    assert gaps.shape == (3,) and bool(jnp.all(gaps > 0))
    game = jax.tree_util.tree_map(lambda x: x[0], games)
    P = np.asarray(game.preferences)
    np.testing.assert_allclose(P + np.swapaxes(P, 1, 2), 1.0, atol=1e-6)
    # a Condorcet winner in every context: the best-scored response beats all others
    winner = np.argmax((P > 0.5).sum(-1), axis=-1)
    pure = jax.nn.one_hot(winner, A)
    np.testing.assert_allclose(game.context_gaps((pure, pure)), 0.0, atol=1e-7)
    np.testing.assert_allclose(game.context_probs, 1.0 / C)


def test_bad_input_names_the_field():
    P = np.asarray(_game().preferences)
    with pytest.raises(ValueError, match="preferences: expected shape"):
        ContextualPreferenceGame(P[0])
    with pytest.raises(ValueError, match="preferences: expected shape"):
        ContextualPreferenceGame(P[:, :, :3])
    bad = P.copy()
    bad[1, 0, 1] = 0.9
    bad[1, 1, 0] = 0.9
    with pytest.raises(ValueError, match=r"preferences: expected P_c \+ P_c\^T = 1.*context 1"):
        ContextualPreferenceGame(bad)
    with pytest.raises(ValueError, match="preferences: expected probabilities in"):
        ContextualPreferenceGame(P + 1.0)
    with pytest.raises(ValueError, match="context_probs: expected shape"):
        ContextualPreferenceGame(P, np.ones(C + 1) / (C + 1))
    with pytest.raises(ValueError, match="context_probs: expected non-negative probabilities"):
        ContextualPreferenceGame(P, [0.5, 0.6, -0.1])
    with pytest.raises(ValueError, match="kind"):
        random_contextual_preference(jax.random.key(0), 2, 2, kind="cyclic")
    with pytest.raises(ValueError, match="num_contexts"):
        random_contextual_preference(jax.random.key(0), 0, 2)
    game = ContextualPreferenceGame(P)
    with pytest.raises(ValueError, match=r"policy\[0\]: expected shape"):
        jaxgames.exploitability(game, (jnp.ones(A) / A, jnp.ones(A) / A))
    with pytest.raises(ValueError, match="feedback"):
        jaxgames.make_env(game, feedback="sometimes")
    with pytest.raises(ValueError, match="unknown option"):
        jaxgames.make_env(game, num_rounds=2)


@pytest.mark.slow
def test_simulator_contract_shapes_and_autoreset():
    game = _game()
    env = jaxgames.make_env(game)
    assert isinstance(env, ContextualPreferenceEnv) and env.action_shape == (2,) and env.num_actions == A
    state, ts = env.reset(jax.random.key(0))
    assert int(ts.current_player) == SIMULTANEOUS and ts.legal_action_mask.shape == (2, A)
    assert int(ts.observation) == int(state.context) and 0 <= int(state.context) < C
    np.testing.assert_array_equal(ts.rewards, 0.0)
    state2, ts2 = env.step(jax.random.key(1), state, jnp.array([0, 1]))
    assert bool(ts2.terminated) and not bool(state2.done)  # auto-reset: a new context
    assert ts2.rewards.shape == (2,) and float(ts2.rewards.sum()) == 0.0
    assert float(ts2.rewards[0]) in (-0.5, 0.5)
    once = jaxgames.make_env(game, autoreset=False)
    end, ts3 = once.step(jax.random.key(1), state, jnp.array([0, 1]))
    assert bool(end.done) and int(ts3.current_player) == TERMINAL
    with pytest.raises(ValueError, match="state: the episode is over"):
        once.step(jax.random.key(2), end, jnp.array([0, 1]))
    with pytest.raises(ValueError, match="action"):
        env.step(jax.random.key(2), state, jnp.array([0, A]))
    # the sampler reads row c of each player's table
    x = jax.nn.one_hot(jnp.arange(C) % A, A)
    y = jax.nn.one_hot((jnp.arange(C) + 1) % A, A)
    _, traj = jaxgames.rollout(jax.random.key(3), env, (x, y), 5, batch_size=7)
    assert traj.state.context.shape == (7, 5) and traj.action.shape == (7, 5, 2)
    assert traj.rewards.shape == (7, 5, 2) and traj.terminated.shape == (7, 5) and bool(traj.terminated.all())
    np.testing.assert_array_equal(traj.action[..., 0], traj.state.context % A)
    np.testing.assert_array_equal(traj.action[..., 1], (traj.state.context + 1) % A)


def test_empirical_contexts_and_preferences_match_rho_and_P():
    game = _game()
    P, rho = np.asarray(game.preferences), np.asarray(game.context_probs)
    env = jaxgames.make_env(game)
    n = 40_000
    _, traj = jax.jit(lambda k: jaxgames.rollout(k, env, None, 1, batch_size=n))(jax.random.key(5))
    c, a = np.asarray(traj.state.context[:, 0]), np.asarray(traj.action[:, 0])
    o = np.asarray(traj.rewards[:, 0, 0]) + 0.5
    assert set(np.unique(o)) <= {0.0, 1.0}
    np.testing.assert_allclose(np.bincount(c, minlength=C) / n, rho, atol=4 * 0.5 / np.sqrt(n))
    counts = np.zeros((C, A, A))
    wins = np.zeros((C, A, A))
    np.add.at(counts, (c, a[:, 0], a[:, 1]), 1)
    np.add.at(wins, (c, a[:, 0], a[:, 1]), o)
    freq = wins / np.maximum(counts, 1)
    bound = 4 * 0.5 / np.sqrt(np.maximum(counts, 1))
    assert counts.min() > 10
    assert np.all(np.abs(freq - P) <= bound)
    # the mean reward of a policy is its exact value; expected feedback pays P - 1/2 exactly
    value = game.evaluate(game.uniform_policy()).values[0]
    np.testing.assert_allclose(o.mean() - 0.5, value, atol=4 * 0.5 / np.sqrt(n))
    exact = jaxgames.make_env(game, feedback="expected")
    state, _ = exact.reset(jax.random.key(0))
    _, ts = exact.step(jax.random.key(1), state, jnp.array([2, 3]))
    np.testing.assert_allclose(ts.rewards[0], P[int(state.context), 2, 3] - 0.5, atol=1e-7)
