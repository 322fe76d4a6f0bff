"""NFSP (``solvers.neural.nfsp``): Kuhn learning bound, seeds, reservoir sampling, transitions,
simulator-only learning, bad input.

Cheap by design (small networks, short runs, one compiled run for the learning and seed checks);
the run to exploitability <= 0.107 on Kuhn and the comparison with OpenSpiel's NFSP live in
``benchmarks/bench_nfsp.py``.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
import solvers
from solvers.neural.common import row_offsets
from solvers.neural.nfsp import _play, _transitions, nfsp
from solvers.neural.reservoir import reservoir_add, reservoir_init, reservoir_sample

from helpers import KUHN_UNIFORM_NASH_CONV, forbid_exact_model

SMALL = dict(hidden_sizes=(32,), num_envs=64, batch_size=64, replay_capacity=4096, reservoir_capacity=8192)


@pytest.fixture(scope="module")
def kuhn():
    return jaxgames.kuhn_poker()


@pytest.mark.slow
def test_kuhn_nash_conv_and_seeds(kuhn):
    """200 steps (12,800 episodes) on Kuhn: NashConv below half the uniform policy's for two seeds;
    in one vmapped call the same key gives the same run and another key another run."""
    k0, k1 = jax.random.split(jax.random.key(0))
    keys = jnp.stack([k0, k1, k0])
    solver = nfsp(**SMALL)

    def one(key):
        state, trace = solvers.run(solver, kuhn, 200, eval_every=100, key=key)
        return trace.nash_conv, state.policy[0], state.extra.updates

    nash_conv, policy, updates = jax.jit(jax.vmap(one))(keys)
    nash_conv = np.asarray(nash_conv)
    chex.assert_shape(nash_conv, (3, 2))
    assert np.all(nash_conv[:, -1] < KUHN_UNIFORM_NASH_CONV / 2), nash_conv
    np.testing.assert_array_equal(policy[0], policy[2])
    np.testing.assert_array_equal(nash_conv[0], nash_conv[2])
    assert not np.allclose(policy[0], policy[1])
    assert np.all(np.asarray(updates) == 4 * 200)  # both memories hold a batch after the first step
    np.testing.assert_allclose(np.asarray(policy).sum(-1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_reservoir_keeps_each_item_with_probability_capacity_over_n():
    """Algorithm R in batches: after a stream of n valid items (offered 12 at a time, a third of the
    slots invalid), every item is in the reservoir with probability C / n. 4,000 independent
    streams; each item's frequency must lie within 5 standard errors of C / n (a batch rule that
    let the first of two items drawn to one slot win, or drew slots without the stream index,
    fails). Every stream keeps exactly C distinct items, and a stream shorter than C keeps all."""
    capacity, batches, width, runs = 8, 10, 12, 4000
    ids = jnp.arange(batches * width, dtype=jnp.int32).reshape(batches, width)
    valid = (ids % 3) != 1
    n = int(valid.sum())

    def stream(key):
        res = reservoir_init(capacity, jnp.zeros((), jnp.int32))
        for b in range(batches):
            res = reservoir_add(jax.random.fold_in(key, b), res, ids[b], valid[b])
        return res.items, res.count

    items, count = jax.jit(jax.vmap(stream))(jax.random.split(jax.random.key(1), runs))
    items = np.asarray(items)
    assert np.all(np.asarray(count) == n)
    assert all(len(set(row)) == capacity for row in items)
    assert np.all(np.asarray(valid).reshape(-1)[items])  # only valid items enter
    freq = np.bincount(items.reshape(-1), minlength=ids.size)[np.asarray(valid).reshape(-1)] / runs
    p = capacity / n
    assert np.max(np.abs(freq - p)) < 5 * np.sqrt(p * (1 - p) / runs), (freq, p)

    res = reservoir_init(capacity, jnp.zeros((), jnp.int32))  # not full yet: kept in order
    res = reservoir_add(jax.random.key(2), res, ids[0, :6], jnp.ones(6, bool))
    np.testing.assert_array_equal(res.items[:6], np.arange(6))
    assert set(np.asarray(reservoir_sample(jax.random.key(3), res, 256)).tolist()) == set(range(6))


def test_transitions_go_to_the_players_next_decision(kuhn):
    """Player p's transitions run from its decision to its next one (reward 0) or to the end (its
    payoff, discount 0): per episode and player who acted, one final transition whose reward is
    the return, and next rows that are p's own decision points."""
    env = jaxgames.make_env(kuhn, autoreset=False)
    uniform = kuhn.uniform_policy()

    @jax.jit
    def play(key):
        states, actions, br, returns = _play(kuhn, env, key, uniform, uniform, 0.5, 256)
        return _transitions(env, kuhn, states, actions, returns), env.current_player(states), returns, br

    trans, player, returns, br = jax.tree_util.tree_map(np.asarray, play(jax.random.key(0)))
    offsets = row_offsets(kuhn)
    owner = np.searchsorted(offsets, trans.next_row, side="right") - 1
    for p in range(2):
        mine = trans.valid & (player == p)
        final = mine & (trans.discount == 0)
        np.testing.assert_array_equal(final.sum(-1), mine.any(-1))
        np.testing.assert_allclose((trans.reward * mine).sum(-1), returns[:, p] * mine.any(-1))
        assert np.all(owner[mine] == p) and np.all(trans.reward[mine & ~final] == 0)
    assert not np.any(br & ~trans.valid) and 0.2 < br[trans.valid].mean() < 0.8


@pytest.mark.slow
def test_learns_from_the_simulator_only(kuhn):
    """init (eager) and step (under a fresh jit, traced inside the block) never call the exact model;
    with anticipatory = 1 every decision is a best-response decision, so the reservoir holds every
    valid transition of the replay."""
    solver = nfsp(
        hidden_sizes=(8,), num_envs=8, batch_size=8, replay_capacity=128, reservoir_capacity=128, anticipatory=1.0
    )
    with forbid_exact_model(kuhn):
        state = solver.init(kuhn, jax.random.key(0))
        before = state.extra.avg_params
        step = jax.jit(solver.step, static_argnums=0)
        for _ in range(3):
            state = step(kuhn, state)
    ex = state.extra
    assert int(ex.reservoir.count) == int(np.asarray(ex.replay.experience.valid).sum()) > 24
    assert int(ex.episodes) == 24 and int(ex.updates) == 12 and int(state.step) == 3
    changed = jax.tree_util.tree_map(lambda a, b: not np.allclose(a, b), before, ex.avg_params)
    assert all(jax.tree_util.tree_leaves(changed))
    assert np.isfinite(float(ex.rl_loss)) and np.isfinite(float(ex.sl_loss))


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(hidden_sizes=(0,)), "hidden_sizes"),
        (dict(hidden_sizes="wide"), "hidden_sizes"),
        (dict(rl_learning_rate=0.0), "rl_learning_rate"),
        (dict(sl_learning_rate=-1e-3), "sl_learning_rate"),
        (dict(anticipatory=0.0), "anticipatory"),
        (dict(anticipatory=1.5), "anticipatory"),
        (dict(batch_size=0), "batch_size"),
        (dict(num_envs=2.5), "num_envs"),
        (dict(replay_capacity=64, batch_size=128), "replay_capacity"),
        (dict(reservoir_capacity=100, batch_size=128), "reservoir_capacity"),
        (dict(epsilon_start=1.5), "epsilon_start"),
        (dict(epsilon_decay_steps=0), "epsilon_decay_steps"),
        (dict(target_update_every=0), "target_update_every"),
    ],
)
def test_bad_hyperparameters(kwargs, field):
    with pytest.raises(ValueError, match=field):
        nfsp(**kwargs)


def test_bad_game_and_key(kuhn):
    solver = nfsp(**SMALL)
    with pytest.raises(ValueError, match="key"):
        solver.init(kuhn, None)
    with pytest.raises(ValueError, match="game: nfsp needs an extensive-form game"):
        solver.init(jaxgames.matrix.rock_paper_scissors(), jax.random.key(0))
    with pytest.raises(ValueError, match="replay_capacity"):  # fewer slots than one step's transitions
        nfsp(num_envs=64, batch_size=8, replay_capacity=100).init(kuhn, jax.random.key(0))
