"""Self-play PPO and MMD-RL (solvers/neural/policy_gradient.py) and the shared neural base
(solvers/neural/common.py): decision-point features equal the simulator's observations, sampled
returns average to the exact action values, both learners fall below half the uniform policy's
NashConv on Kuhn poker in a short run, seeds, the simulator-only rule, Markov games, bad input.
Convergence targets (Leduc) live in ``benchmarks/bench_neural.py``."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgames
import solvers
from jaxgames import markov
from solvers.neural.common import decision_points, masked_policy, tabular_policy, trajectory_rows
from solvers.neural.policy_gradient import _efg_samples, build_learner, geometric_mix, mmd_rl, ppo

from helpers import KUHN_UNIFORM_NASH_CONV, forbid_exact_model

SMALL = dict(hidden_sizes=(32,), batch_size=512, learning_rate=1e-2)


@pytest.fixture(scope="module")
def kuhn():
    return jaxgames.kuhn_poker()


@pytest.mark.slow
@pytest.mark.parametrize("make", [jaxgames.kuhn_poker, jaxgames.leduc_poker])
def test_decision_features_are_the_simulator_observations(make):
    game = make()
    points = decision_points(game)
    env = jaxgames.make_env(game, autoreset=False)

    @jax.jit  # one compiled call, not op by op (3 s less per game)
    def sample(key):
        _, traj = jaxgames.rollout(key, env, None, game.tree.max_depth, batch_size=64)
        rows, valid = trajectory_rows(env, game, traj.state)
        return rows, valid, env.observe(traj.state), traj.state.current_player, traj.state.legal_action_mask

    rows, valid, obs, acting, legal = sample(jax.random.key(0))
    chex.assert_shape(rows, (64, game.tree.max_depth, 1))
    np.testing.assert_array_equal(np.where(valid, points.features[rows[..., 0]], 0.0), obs)
    # the row's owner is the acting player, and the row's legal actions are the state's
    acting = np.asarray(acting)
    assert np.all(np.asarray(points.player)[rows[..., 0]][acting >= 0] == acting[acting >= 0])
    np.testing.assert_array_equal(np.asarray(points.legal)[rows[..., 0]][acting >= 0], np.asarray(legal)[acting >= 0])


@pytest.mark.slow
def test_sampled_returns_average_to_exact_action_values(kuhn):
    """The Monte Carlo target of a sampled decision is the deciding player's return: its mean at
    (information set, action) is the exact conditional action value of ``game.evaluate``."""
    env = jaxgames.make_env(kuhn, autoreset=False)
    points = decision_points(kuhn)
    policy = kuhn.uniform_policy()

    @jax.jit  # one compiled call, not op by op
    def sample(key):
        _, traj = jaxgames.rollout(key, env, policy, kuhn.tree.max_depth, batch_size=8192)
        rows, valid = trajectory_rows(env, kuhn, traj.state)
        rows, action, valid, _, target = _efg_samples(kuhn, env, traj, rows, valid, jnp.zeros(len(points.player)))
        return rows, action, valid, target, kuhn.evaluate(policy).action_values

    rows, action, valid, target, action_values = sample(jax.random.key(1))
    q = np.concatenate([np.asarray(a) for a in action_values])  # [M, A]
    rows, action, valid, target = (np.asarray(x).ravel() for x in (rows, action, valid, target))
    for m in range(q.shape[0]):
        for a in range(q.shape[1]):
            hit = valid & (rows == m) & (action == a)
            assert hit.sum() > 300
            assert abs(target[hit].mean() - q[m, a]) < 0.2, (m, a, target[hit].mean(), q[m, a])


@pytest.mark.slow
def test_explored_returns_are_corrected_to_the_policy_action_values(kuhn):
    """Episodes of ``mu = 0.7 pi + 0.3 uniform``: at the first decisions of an episode (no earlier
    decision, so the belief over histories is chance's under both policies) the importance-corrected
    targets of ``_efg_samples``, divided by the decision's own ratio ``pi / mu``, average to the exact
    action values of ``pi``, and the targets to its values; the plain returns of ``mu`` miss them."""
    env = jaxgames.make_env(kuhn, autoreset=False)
    points = decision_points(kuhn)
    logits = jax.random.normal(jax.random.key(3), points.legal.shape)
    pi = jax.nn.softmax(jnp.where(points.legal, logits, -jnp.inf), axis=-1)
    mu = 0.7 * pi + 0.3 * points.legal / points.legal.sum(axis=1, keepdims=True)
    zeros = jnp.zeros(len(points.player))

    @jax.jit
    def sample(key):
        _, traj = jaxgames.rollout(key, env, tabular_policy(kuhn, mu), kuhn.tree.max_depth, batch_size=65536)
        rows, valid = trajectory_rows(env, kuhn, traj.state)
        _, _, _, _, plain = _efg_samples(kuhn, env, traj, rows, valid, zeros)
        rows, action, valid, _, target = _efg_samples(kuhn, env, traj, rows, valid, zeros, pi, mu)
        return rows, action, valid, target, plain, kuhn.evaluate(tabular_policy(kuhn, pi)).action_values

    rows, action, valid, target, plain, action_values = sample(jax.random.key(2))
    first = np.unique(np.asarray(rows)[:, 0])  # the decision points that open an episode
    q = np.concatenate([np.asarray(a) for a in action_values])  # [M, A]
    rows, action, valid, target, plain = (np.asarray(x).ravel() for x in (rows, action, valid, target, plain))
    ratio = np.asarray(pi)[rows, action] / np.asarray(mu)[rows, action]
    assert len(first) == 3  # Kuhn: player 0's first decision with each card
    worst_plain = 0.0
    for m in first:
        at = valid & (rows == m)
        assert abs(target[at].mean() - np.dot(np.asarray(pi)[m], q[m])) < 0.05, m  # V^pi(x)
        for a in range(q.shape[1]):
            hit = at & (action == a)
            assert hit.sum() > 1000
            assert abs((target[hit] / ratio[hit]).mean() - q[m, a]) < 0.05, (m, a)
            worst_plain = max(worst_plain, abs(plain[hit].mean() - q[m, a]))
    assert worst_plain > 0.2, worst_plain


def test_masked_policy_gives_illegal_actions_no_mass():
    logits = jnp.array([[1.0, 2.0, 3.0]])
    pi = masked_policy(logits, jnp.array([[True, False, True]]))
    np.testing.assert_allclose(
        pi.probs, [[np.exp(1) / (np.exp(1) + np.exp(3)), 0.0, np.exp(3) / (np.exp(1) + np.exp(3))]], rtol=1e-6
    )
    assert np.isfinite(float(pi.entropy()[0]))


@pytest.mark.slow
def test_mmd_rl_seeds_in_one_call_and_below_half_uniform(kuhn):
    """Three runs in one call (keys k0, k1, k0): the same key gives the same run, another key another;
    the mean NashConv of the last two evaluations is below half the uniform policy's."""
    solver = mmd_rl(**SMALL, magnet_every=25, proximity=0.5, magnet_coef=0.1)
    k0, k1 = jax.random.split(jax.random.key(0))
    keys = jnp.stack([k0, k1, k0])
    state, trace = jax.vmap(lambda k: solvers.run(solver, kuhn, 150, eval_every=25, key=k))(keys)
    assert np.all(np.asarray(trace.nash_conv[:, -2:]).mean(1) < KUHN_UNIFORM_NASH_CONV / 2), trace.nash_conv
    np.testing.assert_array_equal(state.extra.table[0], state.extra.table[2])
    assert not np.allclose(state.extra.table[0], state.extra.table[1])


@pytest.mark.slow
def test_ppo_learns(kuhn):
    """Self-play PPO's last iterate does not converge to Nash (it chases its own best response;
    the magnet of MMD-RL is the fix), but it must leave the uniform policy far behind: NashConv
    below 70% of the uniform policy's (measured: 0.47-0.60 after 100-150 steps)."""
    _, trace = solvers.run(ppo(**SMALL), kuhn, 150, eval_every=25, key=jax.random.key(2))
    assert float(trace.nash_conv[-2:].mean()) < 0.7 * KUHN_UNIFORM_NASH_CONV, trace.nash_conv


@pytest.mark.slow
def test_learns_from_the_simulator_only(kuhn):
    solver = ppo(hidden_sizes=(8,), batch_size=16, num_minibatches=2)
    with forbid_exact_model(kuhn):  # a fresh jit: the trace calls the methods (one compiled call, 5 s less)
        state = jax.jit(lambda key: solver.step(kuhn, solver.init(kuhn, key)))(jax.random.key(0))
    assert int(state.step) == 1
    np.testing.assert_allclose(np.asarray(state.policy[0]).sum(-1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_markov_game_exploitability_falls():
    """A random 3-state zero-sum Markov game: MMD-RL halves the uniform policy's exploitability."""
    rng = np.random.default_rng(0)
    game = markov.zero_sum(
        rng.dirichlet(np.ones(3), size=(3, 2, 2)), rng.uniform(-1.0, 1.0, (3, 2, 2)), 0.8, np.full(3, 1 / 3)
    )
    uniform = float(game.exploitability(game.uniform_policy()))
    solver = mmd_rl(hidden_sizes=(32,), batch_size=64, learning_rate=3e-3, unroll_length=16, magnet_every=25)
    _, trace = solvers.run(solver, game, 150, eval_every=50, key=jax.random.key(3))
    assert float(trace.exploitability[-1]) < uniform / 2, (uniform, trace.exploitability)


def test_bad_input(kuhn):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="hidden_sizes"):
        ppo(hidden_sizes=(0,))
    with pytest.raises(ValueError, match="learning_rate"):
        mmd_rl(learning_rate=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        ppo(batch_size=0)
    with pytest.raises(ValueError, match="num_minibatches"):
        ppo(batch_size=5, num_minibatches=4).init(kuhn, key)
    with pytest.raises(ValueError, match="key"):
        ppo().init(kuhn, None)
    with pytest.raises(ValueError, match=r"EFGGame\) or Markov"):
        ppo().init(jaxgames.mean_field.crowd_modelling(), key)
    with pytest.raises(ValueError, match="game"):
        ppo().init("kuhn", key)


def test_geometric_magnet_mix_known_values():
    """``rho' ∝ rho^(1 - m) pi^m``: [.5, .5] and [.9, .1] at m = 1/2 give [.75, .25] (sqrt(.45) : sqrt(.05)
    = 3 : 1); m = 1 gives the policy; an illegal action keeps no mass."""
    rho = jnp.array([[0.5, 0.5, 0.0]])
    pi = jnp.array([[0.9, 0.1, 0.0]])
    legal = jnp.array([[True, True, False]])
    np.testing.assert_allclose(geometric_mix(rho, pi, 0.5, legal), [[0.75, 0.25, 0.0]], rtol=1e-6)
    np.testing.assert_allclose(geometric_mix(rho, pi, 1.0, legal), pi, rtol=1e-6)


@pytest.mark.slow
def test_mmd_rl_schedules_are_read_at_the_learner_step(kuhn):
    """Optax schedules of ``magnet_coef`` and ``proximity`` give, at learner step 5, the update of the
    constants they take there (not their step-0 values); a ``target_rate`` schedule equal to 1 at
    step 0 makes the Polyak network the network itself after the first step; ``magnet_mix`` moves
    the magnet to ``geometric_mix(magnet, reported)``."""
    kw = dict(hidden_sizes=(8,), batch_size=16, num_minibatches=1)
    state = solvers.mmd_rl(**kw).init(kuhn, jax.random.key(0))
    ex, key = state.extra, jax.random.key(1)

    def table_after(magnet_coef, proximity):
        update = build_learner("mmd_rl", magnet_coef=magnet_coef, proximity=proximity, clip_epsilon=None, **kw)[1]
        return update(kuhn, ex.params, ex.opt_state, key, ex.table, ex.magnet, step=jnp.int32(5))[2]

    scheduled = table_after(
        optax.piecewise_constant_schedule(0.05, {3: 4.0}),  # 0.05 before step 3, 0.2 from step 3
        optax.piecewise_constant_schedule(1.0, {3: 0.5}),
    )
    np.testing.assert_allclose(scheduled, table_after(0.2, 0.5), rtol=1e-5, atol=1e-7)

    solver = solvers.mmd_rl(**kw, target_rate=optax.linear_schedule(1.0, 0.01, 10), magnet_every=1, magnet_mix=0.5)
    after = jax.jit(lambda st: solver.step(kuhn, st))(state).extra
    chex.assert_trees_all_close(after.target, after.params)  # rate 1 at step 0
    legal = jnp.asarray(decision_points(kuhn).legal)
    np.testing.assert_allclose(after.magnet, geometric_mix(ex.magnet, after.table, 0.5, legal), rtol=1e-5, atol=1e-7)
    assert not np.allclose(after.magnet, after.table, atol=1e-4)


def test_mmd_rl_magnet_moves_after_the_listed_steps_only(kuhn):
    """``magnet_every=(2,)``: the magnet stays uniform after step 1, is the reported policy after
    step 2, and stays that policy after step 3 (no move every 2 steps); an int moves it again;
    ``magnet_floor`` mixes the uniform policy into each new magnet."""
    kw = dict(hidden_sizes=(8,), batch_size=16, num_minibatches=1, learning_rate=0.05)
    uniform = solvers.mmd_rl(**kw).init(kuhn, jax.random.key(0)).extra.magnet

    def magnets(magnet_every, **more):
        solver = solvers.mmd_rl(**kw, magnet_every=magnet_every, **more)
        step = jax.jit(lambda st: solver.step(kuhn, st))
        state, out = solver.init(kuhn, jax.random.key(0)), []
        for _ in range(4):
            state = step(state)
            out.append((state.extra.magnet, state.extra.table))
        return out

    listed = magnets((2,))
    np.testing.assert_array_equal(listed[0][0], uniform)
    np.testing.assert_allclose(listed[1][0], listed[1][1], rtol=1e-6)  # moved to the policy after step 2
    assert not np.allclose(listed[1][1], listed[3][1], atol=1e-3)  # the policy went on learning ...
    np.testing.assert_array_equal(listed[3][0], listed[1][0])  # ... and the magnet stayed
    every = magnets(2)
    np.testing.assert_allclose(every[3][0], every[3][1], rtol=1e-6)  # an int moves it after step 4 too
    # a floor f: the new magnet is (1 - f) pi + f uniform (no action near 0)
    floored = magnets(2, magnet_floor=0.2)
    np.testing.assert_allclose(floored[1][0], 0.8 * floored[1][1] + 0.2 * uniform, rtol=1e-6)
    assert floored[1][0].min() >= 0.2 * uniform.min() - 1e-7


def test_mmd_rl_bad_magnet_steps_name_the_field():
    for bad in ([], (5, 3), (2, 2), "500", (0,), (1.5,)):
        with pytest.raises(ValueError, match=r"^magnet_every: "):
            mmd_rl(magnet_every=bad)
    for bad in (1.0, -0.1, "0.1"):
        with pytest.raises(ValueError, match=r"^magnet_floor: "):
            mmd_rl(magnet_floor=bad)
    for bad in (1.0, -0.1, "0.1"):
        with pytest.raises(ValueError, match=r"^exploration: "):
            mmd_rl(exploration=bad)
    with pytest.raises(ValueError, match=r"^exploration: .*Markov game"):
        rng = np.random.default_rng(0)
        game = markov.zero_sum(
            rng.dirichlet(np.ones(2), size=(2, 2, 2)), rng.uniform(-1.0, 1.0, (2, 2, 2)), 0.8, np.full(2, 0.5)
        )
        mmd_rl(exploration=0.1).init(game, jax.random.key(0))


def test_mmd_rl_bad_schedules_name_the_field():
    with pytest.raises(ValueError, match=r"^magnet_mix: "):
        mmd_rl(magnet_mix=0.0)
    with pytest.raises(ValueError, match=r"^magnet_mix: "):
        mmd_rl(magnet_mix=1.5)
    with pytest.raises(ValueError, match=r"^magnet_coef \(the schedule's value at step 0\): "):
        mmd_rl(magnet_coef=lambda step: -1.0)
    with pytest.raises(ValueError, match=r"^target_rate \(the schedule's value at step 0\): "):
        mmd_rl(target_rate=optax.constant_schedule(2.0))
    with pytest.raises(ValueError, match=r"^proximity: .*calling it at step 0 failed"):
        mmd_rl(proximity=lambda: 0.1)  # not a function of the step
