"""``jaxgames.latency``: ``low_latency_cpu`` (what it sets, in a fresh process, and its refusal once JAX
runs), and what the public queries do by default: the packed game, polling, one output buffer."""

import gc
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
import solvers
from jaxgames import latency
from jaxgames.latency import FLAG, Packed, low_latency_cpu, packed, unpacked, wait

from helpers import KUHN_UNIFORM_NASH_CONV, Tables

SCRIPT = """
import os, jax, jax.numpy as jnp, jaxgames
from jaxgames.latency import low_latency_cpu
os.environ.pop("XLA_FLAGS", None)
low_latency_cpu()
g = jaxgames.kuhn_poker()
print(os.environ["XLA_FLAGS"], jax.config.values["jax_cpu_enable_async_dispatch"],
      round(float(jaxgames.exploitability(g, g.uniform_policy())), 4))
"""


@pytest.mark.slow
def test_low_latency_cpu_sets_both_and_results_are_unchanged():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    flags, async_dispatch, expl = out.stdout.split()
    assert flags == FLAG and async_dispatch == "False"
    assert float(expl) == pytest.approx(KUHN_UNIFORM_NASH_CONV / 2, abs=1e-4)  # Kuhn's uniform policy


def test_low_latency_cpu_refuses_once_the_backend_runs(monkeypatch):
    jnp.ones(1).block_until_ready()  # the backend is up in this process
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    with pytest.raises(RuntimeError, match="before the first computation"):
        low_latency_cpu()


# ----------------------------------------------------------------------------- packing, polling, one output


def test_packed_rebuilds_every_leaf_exactly_one_buffer_per_dtype():
    key = jax.random.PRNGKey(0)
    tree = Tables(
        jax.random.normal(key, (4, 3)),
        jnp.arange(6, dtype=jnp.int32).reshape(2, 3),
        jnp.ones((2, 2, 2)),
        jnp.array([True, False]),
        jnp.zeros((0, 3)),
    )
    leaves = jax.tree_util.tree_leaves(tree)
    p = packed(tree)
    assert isinstance(p, Packed) and len(p.buffers) == 3  # float32, int32, bool
    assert jax.tree_util.tree_structure(unpacked(p)) == jax.tree_util.tree_structure(tree)
    # eagerly and inside jit (the layout is static, the buffers are the arguments)
    for back in (jax.tree_util.tree_leaves(unpacked(p)), jax.jit(lambda q: jax.tree_util.tree_leaves(unpacked(q)))(p)):
        for a, b in zip(leaves, back):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_packed_is_built_once_per_game_and_dropped_with_it():
    game = jaxgames.kuhn_poker()
    assert packed(game) is packed(game)
    key = id(game)
    assert key in latency._PACKED
    del game
    gc.collect()
    assert key not in latency._PACKED


def test_games_that_packing_would_change_travel_as_they_are(monkeypatch):
    game = jaxgames.kuhn_poker()
    # a tracer leaf: the game is built under jit
    seen = []
    jax.jit(lambda s: seen.append(packed(jaxgames.efg.EFGGame(game.tree, payoffs=s * game.payoffs))) or s)(1.0)
    assert not isinstance(seen[0], Packed)
    two = (jnp.ones(2), jnp.ones(3))
    for tree in (
        Tables(np.ones(2), jnp.ones(2)),  # a host (mutable) array
        Tables(jnp.asarray(1.0), jnp.ones(2)),  # a weakly typed leaf would lose its weak type
        Tables(jnp.ones(2)),  # one leaf: nothing to gain
        two,  # a tuple cannot be referenced weakly: nothing to cache against
    ):
        assert packed(tree) is tree
    monkeypatch.setattr(latency, "PACK_MAX_BYTES", 0)
    big = jaxgames.leduc_poker()
    assert packed(big) is big


def test_api_values_equal_the_unpacked_plain_call_on_every_family(monkeypatch):
    key = jax.random.PRNGKey(3)
    games = [
        jaxgames.leduc_poker(),
        jaxgames.matrix.random_zero_sum(key, 4),
        jaxgames.markov.random_zero_sum(key, num_states=5, num_actions=2, branching=2),
        jaxgames.mean_field.crowd_modelling(),
    ]
    for game in games:
        policy = solvers.core.random_policy(game, key)
        plain = jax.jit(lambda g, p: (g.exploitability(p), g.nash_conv(p), g.evaluate(p).values))
        want = [np.asarray(x) for x in plain(game, policy)]
        got = [jaxgames.exploitability(game, policy), jaxgames.nash_conv(game, policy)]
        got.append(jaxgames.evaluate(game, policy).values)
        assert isinstance(packed(game), Packed), type(game).__name__
        np.testing.assert_allclose(np.asarray(got[0]), want[0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.asarray(got[1]), np.maximum(want[1], 0.0), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.asarray(got[2]), want[2], rtol=1e-6, atol=1e-7)
        # called while tracing, with the game closed over (not yet packed): no tracer escapes
        fresh = jax.tree_util.tree_map(lambda x: x, game)
        inside = jax.jit(lambda p, g=fresh: jaxgames.exploitability(g, p))(policy)
        np.testing.assert_allclose(np.asarray(inside), want[0], rtol=1e-6, atol=1e-7)
        assert isinstance(packed(fresh), Packed)


def test_one_output_path_raises_on_a_bad_policy_and_returns_an_unexplained_nan():
    game = jaxgames.kuhn_poker()
    bad = (game.uniform_policy()[0] * 1.5, game.uniform_policy()[1])
    with pytest.raises(ValueError, match=r"policy\[0\].*sum"):
        jaxgames.exploitability(game, bad)
    nan_query = jaxgames.api._guarded(lambda g, p: jax.numpy.nan * g.nash_conv(p), scalar=True)
    assert np.isnan(float(nan_query(game, game.uniform_policy())))  # a valid policy: returned as computed
    with pytest.raises(ValueError, match=r"policy\[0\]"):
        nan_query(game, bad)


def test_wait_returns_the_ready_array_with_and_without_polling(monkeypatch):
    x = jax.jit(lambda a: a * 2)(jax.numpy.arange(3.0))
    assert wait(x) is x and x.is_ready()
    monkeypatch.setattr(latency, "SPIN_S", 0.0)
    y = jax.jit(lambda a: a + 1)(jax.numpy.arange(3.0))
    np.testing.assert_array_equal(np.asarray(wait(y)), [1.0, 2.0, 3.0])


def test_scalar_queries_inside_an_enclosing_trace_with_every_input_closed_over():
    """Game and policy both closed over by ``jax.jit`` / ``lax.scan``: the one-output call is traced
    too, so there is nothing to poll; the query is staged out, as before (it raised AttributeError)."""
    game = jaxgames.kuhn_poker()
    uniform = game.uniform_policy()
    want = KUHN_UNIFORM_NASH_CONV
    assert float(jax.jit(lambda: jaxgames.exploitability(game, uniform))()) == pytest.approx(want / 2, abs=1e-5)
    assert float(jax.jit(lambda: jaxgames.nash_conv(game, uniform))()) == pytest.approx(want, abs=1e-5)
    total, _ = jax.lax.scan(lambda c, _: (c + jaxgames.nash_conv(game, uniform), None), 0.0, None, length=2)
    assert float(total) == pytest.approx(2 * want, abs=1e-5)


def test_a_violation_the_host_statistics_accept_returns_the_value_not_nan(monkeypatch):
    """The device's violation and the host's statistics can disagree at the tolerance (their sums
    differ by an ulp: a [4096] policy summing to 1 + 838 or 839 float32 ulps). The host decides, as
    on the two-output path: no error, so the value, not the NaN that flagged the call. Simulated
    here with a stricter tolerance on the device side only."""
    game = jaxgames.kuhn_poker()
    uniform = game.uniform_policy()
    off = (uniform[0] * (1 + 1e-5), uniform[1])  # sums off by 1e-5: within PROBABILITY_ATOL on the host
    monkeypatch.setattr(jaxgames.api, "PROBABILITY_ATOL", 1e-7)  # read when the query is traced
    query = jaxgames.api._guarded(lambda g, p: g.exploitability(p), scalar=True)
    got = float(query(game, off))
    assert got == pytest.approx(float(game.exploitability(off)), abs=1e-6) and got > 0.4


def test_leaves_without_a_numpy_form_are_not_packed():
    """A typed PRNG key (an extended dtype) has no NumPy form: the tree travels as it is, and a game
    holding one still answers the public queries (it raised AttributeError)."""
    tree = Tables(jax.random.key(0), jnp.ones(2))
    assert packed(tree) is tree

    @jax.tree_util.register_pytree_node_class
    class KeyedMatrix(jaxgames.matrix.MatrixGame):
        def tree_flatten(self):
            return (self.own_first, self.key), None

        @classmethod
        def tree_unflatten(cls, _, children):
            game = object.__new__(cls)
            game.own_first, game.key = children
            return game

    game = KeyedMatrix(jnp.stack([jnp.eye(2), -jnp.eye(2)]))
    game.key = jax.random.key(1)
    policy = (jnp.array([0.9, 0.1]), jnp.array([0.5, 0.5]))
    assert float(jaxgames.exploitability(game, policy)) == pytest.approx(0.2, abs=1e-6)


TWO_DEVICES = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import sys
sys.path.insert(0, {tests!r})
import jax, jax.numpy as jnp
from helpers import Tables
from jaxgames.latency import Packed, packed


d0, d1 = jax.devices()
tree = Tables(jnp.ones(3), jnp.arange(2))
with jax.default_device(d1):
    p = packed(tree)
assert isinstance(p, Packed)
print(sorted(d.id for b in p.buffers for d in b.devices()))
on_d1 = Tables(*jax.device_put(tree.arrays, d1))
mixed = Tables(tree.arrays[0], jax.device_put(tree.arrays[1], d1))
print(packed(on_d1) is on_d1, packed(mixed) is mixed)
"""


@pytest.mark.slow
def test_packed_buffers_stay_on_the_device_of_the_leaves():
    """Two CPU devices: a tree on device 0 first packed under ``jax.default_device(device 1)`` keeps
    its buffers on device 0 (they went to device 1, to be copied back on every later call); trees
    on device 1, or spread over both, travel as they are."""
    script = TWO_DEVICES.format(tests=str(pathlib.Path(__file__).parent))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    devices, unpacked_flags = out.stdout.strip().split("\n")
    assert devices == "[0, 0]" and unpacked_flags == "True True"


def test_a_reassigned_array_is_packed_again():
    key = jax.random.PRNGKey(0)
    game = jaxgames.matrix.random_zero_sum(key, 4)
    policy = solvers.core.random_policy(game, key)
    first = packed(game)
    np.testing.assert_allclose(jaxgames.exploitability(game, policy), game.exploitability(policy), rtol=1e-6)
    other = jaxgames.matrix.random_zero_sum(jax.random.PRNGKey(9), 4)
    for name, value in vars(other).items():  # every array attribute (or tuple of arrays) of another game
        if jax.tree_util.tree_leaves(value) and all(isinstance(x, jax.Array) for x in jax.tree_util.tree_leaves(value)):
            setattr(game, name, value)
    assert packed(game) is not first
    want = float(game.exploitability(policy))
    assert want != pytest.approx(float(jax.jit(lambda g: g.exploitability(policy))(unpacked(first))))
    np.testing.assert_allclose(float(jaxgames.exploitability(game, policy)), want, rtol=1e-6)
