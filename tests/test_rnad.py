"""R-NaD (solvers/neural/rnad.py): it learns Kuhn poker from the simulator only (vmapped over two
keys, exact NashConv checked afterwards), the reward transformation vanishes at the regularization
policy and has a known value elsewhere, the interleaved per-player v-trace equals ``rlax.vtrace`` on
each player's compacted sequence and a hand computation, NeuRD's thresholded gradient, the
fixed-point schedule, bad input. Long runs live in ``benchmarks/bench_neural_rnad.py``."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

import jaxgames
from solvers.neural.rnad import (
    VTraceInputs,
    fixed_point_schedule,
    neurd_loss,
    player_vtrace,
    regularization_log_ratio,
    rnad,
    schedule_position,
)

from helpers import KUHN_UNIFORM_NASH_CONV, forbid_exact_model


@pytest.fixture(scope="module")
def kuhn():
    return jaxgames.kuhn_poker()


@pytest.mark.slow
def test_learns_kuhn_from_the_simulator_only_vmapped_over_keys(kuhn):
    """300 learner steps under a fresh ``jit(vmap)`` over two keys inside ``forbid_exact_model``;
    the exact NashConv of each seed's output, computed afterwards, is below half the uniform's."""
    solver = rnad(hidden_sizes=(32,), batch_size=128)
    keys = jax.random.split(jax.random.key(0), 2)
    with forbid_exact_model(kuhn):
        states = jax.jit(
            jax.vmap(lambda k: jax.lax.fori_loop(0, 300, lambda _, s: solver.step(kuhn, s), solver.init(kuhn, k)))
        )(keys)
    assert np.all(np.asarray(states.step) == 300)
    seeds = [jax.tree_util.tree_map(lambda x, i=i: x[i], solver.output(states)) for i in range(2)]
    nash_conv = [float(kuhn.nash_conv(policy)) for policy in seeds]
    assert max(nash_conv) < KUHN_UNIFORM_NASH_CONV / 2, nash_conv
    assert nash_conv[0] != nash_conv[1]  # two independent runs
    for p, mask in zip(solver.output(states), kuhn.legal_mask(), strict=True):
        chex.assert_shape(p, (2,) + mask.shape)
        np.testing.assert_allclose(np.asarray(p).sum(-1), 1.0, atol=1e-5)


def test_reward_transformation_vanishes_at_the_regularization_policy():
    legal = jnp.array([[True, True, True], [True, True, False]])
    logp = jnp.log(jnp.array([[0.2, 0.3, 0.5], [0.6, 0.4, 1.0]]))
    logp = jnp.where(legal, logp, 0.0)
    for alpha in (0.0, 0.3, 1.0):
        np.testing.assert_allclose(regularization_log_ratio(logp, logp, logp, alpha, legal), 0.0, atol=1e-6)
    # known value: pi = (1/2, 1/2), reg_cur = (1/4, 3/4), reg_prev = (1/2, 1/2), alpha = 1/2
    half = jnp.log(jnp.array([[0.5, 0.5]]))
    cur = jnp.log(jnp.array([[0.25, 0.75]]))
    ratio = regularization_log_ratio(half, cur, half, 0.5, jnp.array([[True, True]]))
    np.testing.assert_allclose(ratio, [[0.5 * np.log(2.0), 0.5 * np.log(2.0 / 3.0)]], rtol=1e-6)
    # so the transformed rewards equal the raw ones: v-trace on-policy is the Monte Carlo return
    inputs = _trajectory(np.random.default_rng(0), on_policy=True)
    inputs = inputs._replace(log_ratio=jnp.zeros_like(inputs.log_ratio))
    for player in (0, 1):
        targets, _ = player_vtrace(_seat(inputs, player), player, eta=5.0)
        own = np.asarray(inputs.valid & (inputs.acting == player))
        returns = np.cumsum(np.asarray(inputs.reward[..., player])[::-1])[::-1]
        np.testing.assert_allclose(np.asarray(targets)[own], returns[own], rtol=1e-5)


def _trajectory(rng, on_policy=False, acting=(0, 1, 1, 0, 1, 0, 0, 0), valid=(1, 1, 1, 1, 1, 1, 0, 0)):
    """A random interleaved trajectory of two players, 3 actions, invalid steps at the end."""
    t, a = len(acting), 3
    policy = rng.dirichlet(np.ones(a), size=t)
    mu = policy if on_policy else rng.dirichlet(np.ones(a), size=t)
    action = np.array([rng.choice(a, p=m) for m in mu])
    pick = lambda x: x[np.arange(t), action]
    valid = np.array(valid, bool)
    return VTraceInputs(
        value=jnp.asarray(rng.normal(size=t), jnp.float32),
        reward=jnp.asarray(rng.normal(size=(t, 2)) * valid[:, None], jnp.float32),
        acting=jnp.asarray(acting, jnp.int32),
        valid=jnp.asarray(valid),
        ratio=jnp.asarray(np.where(valid, pick(policy) / pick(mu), 1.0), jnp.float32),
        inv_mu=jnp.asarray(1.0 / pick(mu), jnp.float32),
        log_ratio=jnp.asarray(rng.normal(size=(t, a)), jnp.float32),
        policy=jnp.asarray(policy, jnp.float32),
        action=jnp.asarray(action, jnp.int32),
    )


def _seat(x: VTraceInputs, player: int) -> VTraceInputs:
    """``x`` with the rewards ``[T, 2]`` of both players narrowed to ``player``'s ``[T]``."""
    return x._replace(reward=x.reward[:, player])


def _compacted(x: VTraceInputs, player: int, eta: float):
    """Player ``player``'s own decision process, by brute force: its decision steps, and per
    transition the transformed reward, the ratio product, the opponents' ratio product ``W`` and
    their per-decision weighted rewards ``Y``."""
    x = jax.tree_util.tree_map(np.asarray, x)
    kl = (x.policy * x.log_ratio).sum(-1)
    steps = [t for t in range(len(x.value)) if x.valid[t] and x.acting[t] == player]
    out = []
    for k, t in enumerate(steps):
        end = steps[k + 1] if k + 1 < len(steps) else len(x.value)
        seg = [s for s in range(t, end) if x.valid[s]]
        reward = sum(x.reward[s, player] + (-eta if s == t else eta) * kl[s] for s in seg)
        rho = np.prod([x.ratio[s] for s in seg])
        opp = seg[1:]
        w = np.prod([x.ratio[s] for s in opp]) if opp else 1.0
        y = sum(
            np.prod([x.ratio[u] for u in opp[:j]]) * (eta * kl[s] + x.ratio[s] * x.reward[s, player])
            for j, s in enumerate(opp)
        )
        out.append((t, reward, rho, w, y))
    return out


@pytest.mark.parametrize("rho_bar", [None, 1.0])
def test_vtrace_is_rlax_vtrace_on_each_players_compacted_sequence(rho_bar):
    """Off-policy, interleaved ``0 1 1 0 1 0`` then padding: the targets equal ``rlax.vtrace`` run
    on each player's own decisions (transition = own action + the opponents' until its next turn)."""
    eta = 0.3
    x = _trajectory(np.random.default_rng(1))
    for player in (0, 1):
        targets, q = player_vtrace(_seat(x, player), player, eta=eta, c_bar=1.0, rho_bar=rho_bar)
        seq = _compacted(x, player, eta)
        times = [s[0] for s in seq]
        v = np.asarray(x.value)[times]
        errors = rlax.vtrace(
            jnp.asarray(v),
            jnp.asarray(np.r_[v[1:], 0.0], jnp.float32),
            jnp.asarray([s[1] for s in seq], jnp.float32),
            jnp.asarray([1.0] * (len(seq) - 1) + [0.0], jnp.float32),
            jnp.asarray([s[2] for s in seq], jnp.float32),
            clip_rho_threshold=np.inf if rho_bar is None else rho_bar,
        )
        np.testing.assert_allclose(np.asarray(targets)[times], np.asarray(errors) + v, rtol=1e-5, atol=1e-5)
        others = np.setdiff1d(np.arange(len(x.value)), times)
        np.testing.assert_array_equal(np.asarray(targets)[others], 0.0)
        np.testing.assert_array_equal(np.asarray(q)[others], 0.0)
        # NeuRD action values: v - eta log_ratio, plus the importance-weighted sample on the action taken
        for k, (t, _, _, w, y) in enumerate(seq):
            next_target = float(targets[times[k + 1]]) if k + 1 < len(seq) else 0.0
            expected = np.array(x.value[t] - eta * x.log_ratio[t])
            a = int(x.action[t])
            expected[a] += float(x.inv_mu[t]) * (float(x.reward[t, player]) + y + w * next_target - float(x.value[t]))
            np.testing.assert_allclose(np.asarray(q[t]), expected, rtol=1e-5, atol=1e-5)


def test_vtrace_by_hand_with_truncated_traces():
    """Three decisions ``0 1 0``, player 0 wins 1 at the end; ratios 2 (own) and 1/2 (opponent),
    ``c_bar = 0.5``, ``rho_bar = 1``, no regularization (``log_ratio = 0``). For player 0: the
    last transition has ``rho = 2 -> 1``: ``v_1 = V_1 + (1 - V_1) = 1``; the first spans the
    opponent's action, ``rho = 2 * 1/2 = 1``: ``v_0 = V_0 + (0 + V_1 - V_0) + min(0.5, 1) (v_1 - V_1)``."""
    values = jnp.array([0.1, -0.2, 0.4])
    x = VTraceInputs(
        value=values,
        reward=jnp.array([0.0, 0.0, 1.0]),
        acting=jnp.array([0, 1, 0]),
        valid=jnp.array([True, True, True]),
        ratio=jnp.array([2.0, 0.5, 2.0]),
        inv_mu=jnp.array([4.0, 2.0, 4.0]),
        log_ratio=jnp.zeros((3, 2)),
        policy=jnp.full((3, 2), 0.5),
        action=jnp.array([1, 0, 1]),
    )
    targets, q = player_vtrace(x, 0, eta=0.2, c_bar=0.5, rho_bar=1.0)
    v1 = 1.0
    v0 = 0.1 + (0.4 - 0.1) + 0.5 * (v1 - 0.4)
    np.testing.assert_allclose(targets, [v0, 0.0, v1], rtol=1e-6)
    # Q at step 0, action 1: V_0 + (1 / mu) (0 + W * v_1 - V_0) with W = 1/2 (the opponent's ratio)
    np.testing.assert_allclose(q[0], [0.1, 0.1 + 4.0 * (0.5 * v1 - 0.1)], rtol=1e-6)
    np.testing.assert_allclose(q[2], [0.4, 0.4 + 4.0 * (1.0 - 0.4)], rtol=1e-6)


def test_neurd_gradient_and_threshold():
    """The gradient on the logits is ``-(F - mean_legal F)``; a logit ``beta`` above the mean gets
    no further positive push (and one below ``-beta`` no negative one)."""
    legal = jnp.array([[True, True, True, False]])
    adv = jnp.array([[1.0, -2.0, 0.5, 9.0]])
    grad = jax.grad(lambda y: neurd_loss(y, legal, adv, 2.0, 100.0).sum())(jnp.zeros((1, 4)))
    force = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(grad[0, :3], -(force - force.mean()), rtol=1e-6)
    assert grad[0, 3] == 0.0
    logits = jnp.array([[3.0, -3.0, 0.0, 0.0]])  # centred: (3, -3, 0)
    grad = jax.grad(lambda y: neurd_loss(y, legal, jnp.array([[1.0, -1.0, 0.0, 0.0]]), 2.0, 100.0).sum())(logits)
    np.testing.assert_allclose(grad, 0.0, atol=1e-7)
    clipped = jax.grad(lambda y: neurd_loss(y, legal, adv, 2.0, 0.5).sum())(jnp.zeros((1, 4)))
    np.testing.assert_allclose(clipped[0, :3], -(np.array([0.5, -0.5, 0.5]) - 0.5 / 3), rtol=1e-6)


def test_fixed_point_schedule():
    starts, last = fixed_point_schedule((3, 5), (2, 1))
    np.testing.assert_array_equal(starts, [0, 3, 6, 11])
    assert last == 5
    expected = {
        0: (0.0, False),
        1: (2 / 3, False),
        2: (1.0, False),
        3: (0.0, True),
        4: (2 / 3, False),
        6: (0.0, True),
        8: (0.8, False),
        11: (0.0, True),
        12: (0.4, False),
        16: (0.0, True),
        21: (0.0, True),
        23: (0.8, False),
    }
    for step, (alpha, new) in expected.items():
        a, n = schedule_position(jnp.int32(step), starts, last)
        assert (float(a), bool(n)) == pytest.approx((alpha, new)), step


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(hidden_sizes=(0,)), "hidden_sizes"),
        (dict(hidden_sizes="x"), "hidden_sizes"),
        (dict(batch_size=0), "batch_size"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(eta_reward_transform=-0.1), "eta_reward_transform"),
        (dict(beta=0.0), "beta"),
        (dict(neurd_clip=0.0), "neurd_clip"),
        (dict(target_rate=0.0), "target_rate"),
        (dict(target_rate=1.5), "target_rate"),
        (dict(c_vtrace=0.0), "c_vtrace"),
        (dict(rho_vtrace=-1.0), "rho_vtrace"),
        (dict(max_grad_norm=float("inf")), "max_grad_norm"),
        (dict(period=0), "period"),
        (dict(period=()), "period"),
        (dict(period=(10, 20), period_repeats=(1, 2, 3)), "period_repeats"),
        (dict(period_repeats=0), "period_repeats"),
    ],
)
def test_bad_hyperparameters_raise(kwargs, field):
    with pytest.raises(ValueError, match=field):
        rnad(**kwargs)


def test_bad_game_or_key_raise(kuhn):
    solver = rnad(hidden_sizes=(8,), batch_size=4)
    with pytest.raises(ValueError, match="key"):
        solver.init(kuhn, None)
    with pytest.raises(ValueError, match="game"):
        solver.init(jaxgames.matrix.matching_pennies(), jax.random.key(0))


def test_post_processing_of_the_reported_policy():
    """OpenSpiel's R-NaD post-processing: probabilities below the threshold are dropped, the rest
    rounded to multiples of 1/32 by largest remainders; rows stay distributions (known values)."""
    from solvers.neural.rnad import post_process

    table = jnp.array([[0.5, 0.49, 0.01], [0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3], [0.7, 0.3, 0.0]])
    out = np.asarray(post_process(table, 0.03, 32))
    np.testing.assert_allclose(
        out, [[0.5, 0.5, 0.0], [6 / 32, 10 / 32, 16 / 32], [11 / 32, 11 / 32, 10 / 32], [22 / 32, 10 / 32, 0.0]]
    )
    np.testing.assert_array_equal(np.asarray(post_process(table)), np.asarray(table))  # None: unchanged
    with pytest.raises(ValueError, match="output_discretization"):
        rnad(output_discretization=0)
