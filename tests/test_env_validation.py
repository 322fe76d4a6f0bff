"""Every simulator checks its input through the one base (``jaxgames/env.py``): actions (dtype,
shape, range before any cast, legality), states, keys, ``params``, constructor options and
``rollout``'s arguments raise ``ValueError`` naming the field when concrete; under ``jit`` the
documented behaviour holds (bad actions become the lowest legal action, a step past the end is a
no-op)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxgames
from jaxgames import markov, matrix, mean_field
from jaxgames.env import TERMINAL

KEY = jax.random.key(0)


def _env(family: str, autoreset: bool = True):
    """A small simulator of each family (episodes of one or two steps)."""
    if family == "matrix":
        return jaxgames.make_env(matrix.random_game(jax.random.key(0), (3, 2)), num_rounds=1, autoreset=autoreset)
    if family == "contextual":
        game = matrix.random_contextual_preference(jax.random.key(0), 2, 3)
        return jaxgames.make_env(game, autoreset=autoreset)
    if family == "efg":
        return jaxgames.make_env(jaxgames.kuhn_poker(), autoreset=autoreset)
    if family == "markov":
        return jaxgames.make_env(
            markov.random_zero_sum(jax.random.key(1), 3, 2), max_episode_steps=1, autoreset=autoreset
        )
    return jaxgames.make_env(mean_field.crowd_modelling(4, 2), num_agents=3, autoreset=autoreset)


FAMILIES = ["matrix", "contextual", "efg", "markov", "mean_field"]


def _lowest_legal(env, ts):
    return np.argmax(np.asarray(ts.legal_action_mask).reshape(*env.action_shape, -1), -1).astype(np.int32)


def _with(env, good, value, index=0):
    """``good`` with entry ``index`` (or the scalar) replaced by ``value`` (any Python / NumPy value)."""
    if not env.action_shape:
        return value
    out = list(np.asarray(good).tolist())
    out[index] = value
    return out


@pytest.fixture(scope="module", params=FAMILIES)
def started(request):
    env = _env(request.param)
    state, ts = env.reset(KEY)
    return env, state, ts


# -- actions, outside jit -------------------------------------------------------------------------
def test_non_integer_actions_are_rejected_before_any_cast(started):
    env, state, ts = started
    good = _lowest_legal(env, ts)
    for bad in (0.0, 1.5, True, np.bool_(False), 1 + 0j, "0", None, np.float32(0)):
        with pytest.raises(ValueError, match="action: expected integer action ids"):
            env.step(KEY, state, _with(env, good, bad))
    for arr in (
        np.asarray(good, np.float64),
        np.asarray(good, bool),
        np.asarray(good, np.complex64),
        jnp.asarray(good, jnp.float32),
    ):
        with pytest.raises(ValueError, match="action: expected integer action ids, got dtype"):
            env.step(KEY, state, arr)
    with pytest.raises(ValueError, match="action: expected integer action ids"):
        env.step(KEY, state, "left")


def test_big_and_negative_actions_are_out_of_range_never_wrapped(started):
    """``2**32`` used to wrap to action 0 (int32 cast) and uint32 ``2**32 - 1`` to ``-1``."""
    env, state, ts = started
    good = _lowest_legal(env, ts)
    for bad in (
        -1,
        env.num_actions,
        2**31,
        2**32,
        2**63,
        2**70,
        -(2**70),
        np.int64(2**32),
        np.uint32(2**32 - 1),
        np.uint64(2**64 - 1),
    ):
        with pytest.raises(
            ValueError,
            match=rf"action: .*{bad} is not legal: out of range, expected an action "
            rf"id in 0\.\.{env.num_actions - 1}",
        ):
            env.step(KEY, state, _with(env, good, bad))
    with pytest.raises(ValueError, match="action: .*4294967296 is not legal: out of range"):
        env.step(KEY, state, np.asarray(_with(env, good, 2**32), np.int64))
    # in range and of any integer dtype: accepted, the same as int32
    want = env.step(KEY, state, jnp.asarray(good))
    for dtype in (np.int8, np.uint8, np.int64, np.uint32):
        got = env.step(KEY, state, np.asarray(good, dtype))
        jax.tree_util.tree_map(np.testing.assert_array_equal, got, want)


def test_wrong_shapes_name_the_expected_shape(started):
    env, state, ts = started
    good = _lowest_legal(env, ts)
    for bad in (np.stack([good, good]), np.zeros((0,), np.int32), [good.tolist()] if env.action_shape else [0]):
        with pytest.raises(ValueError, match=r"action: expected (a scalar action id|shape \(\d+,\))"):
            env.step(KEY, state, bad)


def test_illegal_action_names_the_player_and_the_legal_ones():
    env = jaxgames.make_env(matrix.random_game(jax.random.key(0), (3, 2)))
    state, _ = env.reset(KEY)
    with pytest.raises(ValueError, match=r"action: player 1's action 2 is not legal here; legal actions: \[0, 1\]"):
        env.step(KEY, state, [0, 2])
    agents = jaxgames.make_env(mean_field.crowd_modelling(4, 2), num_agents=3)
    state, _ = agents.reset(KEY)
    with pytest.raises(ValueError, match=r"action: agent 2's action 7 is not legal: out of range"):
        agents.step(KEY, state, [0, 0, 7])
    with pytest.raises(ValueError, match=r"one action per agent"):
        agents.step(KEY, state, [0, 0])


# -- under jit: the documented behaviour ----------------------------------------------------------
@pytest.mark.slow
def test_under_jit_bad_actions_become_the_lowest_legal_action_in_any_integer_dtype(started):
    env, state, ts = started
    good = _lowest_legal(env, ts)
    step = jax.jit(env.step)
    want = step(KEY, state, jnp.asarray(good))
    bad = [_with(env, good, v) for v in (-1, env.num_actions)]
    bad = [np.asarray(b, np.int32) for b in bad] + [
        np.asarray(_with(env, good, 2**32 - 1), np.uint32),
        np.asarray(_with(env, good, -1), np.int8),
    ]
    for b in bad:
        got = step(KEY, state, jnp.asarray(b))
        jax.tree_util.tree_map(np.testing.assert_array_equal, got, want)
    # dtype and shape are static: checked under jit too; a constant action is range-checked there
    with pytest.raises(ValueError, match="action: expected integer action ids"):
        step(KEY, state, jnp.asarray(good, jnp.float32))
    with pytest.raises(ValueError, match="action: expected"):
        step(KEY, state, jnp.stack([jnp.asarray(good)] * 2))
    with pytest.raises(ValueError, match="action: .*not legal: out of range"):
        jax.jit(lambda s: env.step(KEY, s, _with(env, good, 2**32)))(state)


@pytest.mark.slow
def test_uint32_max_under_jit_is_not_wrapped_to_a_legal_action():
    """Kuhn at its first decision: check (0) and bet (1) both legal; uint32 ``2**32 - 1`` must act as
    the lowest legal (0), and so must ``2**32 + 1`` as int64 would if x64 were on (no wrap to 1)."""
    env = jaxgames.make_env(jaxgames.kuhn_poker())
    state, _ = env.reset(KEY)
    step = jax.jit(env.step)
    zero = step(KEY, state, jnp.int32(0))[0]
    one = step(KEY, state, jnp.int32(1))[0]
    got = step(KEY, state, jnp.asarray(np.uint32(2**32 - 1)))[0]
    assert int(got.history) == int(zero.history) != int(one.history)
    got = step(KEY, state, jnp.asarray(np.uint32(2**31 + 1)))[0]  # int32 cast would give a negative id
    assert int(got.history) == int(zero.history)


@pytest.mark.parametrize("family", FAMILIES)
def test_stepping_past_the_end_raises_and_is_a_no_op_under_jit(family):
    env = _env(family, autoreset=False)
    state, ts = env.reset(KEY)
    for _ in range(4):
        if bool(ts.done):
            break
        state, ts = env.step(KEY, state, _lowest_legal(env, ts))
    assert bool(ts.done) and int(ts.current_player) == TERMINAL
    good = np.zeros(env.action_shape, np.int32)
    with pytest.raises(ValueError, match="state: the episode is over"):
        env.step(KEY, state, good)
    same, ts = jax.jit(env.step)(KEY, state, jnp.asarray(good))
    jax.tree_util.tree_map(np.testing.assert_array_equal, same, state)
    np.testing.assert_array_equal(ts.rewards, 0.0)
    assert bool(ts.terminated | ts.truncated)
    # an out-of-range action is still out of range at a finished state
    with pytest.raises(ValueError, match="action: .*not legal: out of range"):
        env.step(KEY, state, _with(env, good, 2**32))
    # with auto-reset the action is ignored and the next episode starts
    auto = _env(family)
    fresh, ts = auto.step(KEY, state, good)
    assert not bool(auto._over(fresh)) and int(np.asarray(ts.rewards != 0).sum()) == 0


# -- states, keys, params -------------------------------------------------------------------------
@pytest.mark.slow
def test_states_of_the_wrong_kind_name_state(started):
    env, state, ts = started
    good = _lowest_legal(env, ts)
    other = _env("matrix" if isinstance(env, markov.MarkovEnv) else "markov")
    batch = jax.vmap(env.reset)(jax.random.split(KEY, 2))[0]
    for bad, message in (
        (ts, "state: expected the"),
        (None, "state: expected the"),
        (other.reset(KEY)[0], "state: expected the"),
        (batch, r"state: expected one environment's state \(jax.vmap"),
    ):
        with pytest.raises(ValueError, match=message):
            env.step(KEY, bad, good)
    with pytest.raises(ValueError, match=r"state: expected one environment's state"):
        jax.jit(env.step)(KEY, batch, jnp.asarray(good))
    with pytest.raises(ValueError, match="state: expected the"):
        env.sample_action(KEY, ts)
    leaf = jax.tree_util.tree_leaves(state)[0]
    bad = jax.tree_util.tree_unflatten(
        jax.tree_util.tree_structure(state), [leaf.astype(jnp.complex64)] + jax.tree_util.tree_leaves(state)[1:]
    )
    with pytest.raises(ValueError, match="state: expected the .* got a leaf of dtype complex64"):
        env.step(KEY, bad, good)


def test_bad_keys_name_key_not_jax(started):
    env, state, ts = started
    good = _lowest_legal(env, ts)
    for bad in (0, 1.5, "seed", None, jnp.zeros(2), jnp.zeros(3, jnp.uint32), jax.random.split(KEY, 2)):
        with pytest.raises(ValueError, match="key: expected"):
            env.reset(bad)
        with pytest.raises(ValueError, match="key: expected"):
            env.step(bad, state, good)
        with pytest.raises(ValueError, match="key: expected"):
            env.sample_action(bad, state)
        with pytest.raises(ValueError, match="key: expected"):
            jaxgames.rollout(bad, env, None, 2)
    with pytest.raises(ValueError, match="key: expected"):
        env.step_autoreset(3, state, good)
    # both kinds of key work, and traced keys under vmap
    env.step(jax.random.PRNGKey(0), state, good)
    jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 2))


def test_params_of_another_game_are_named():
    env = jaxgames.make_env(matrix.rock_paper_scissors())
    for bad, got in (
        (jaxgames.kuhn_poker(), "got EFGGame"),
        ("rps", "got str"),
        (matrix.random_game(KEY, (2, 2)), "got MatrixGame"),
    ):
        with pytest.raises(ValueError, match=rf"params: expected a MatrixGame with actions \(3, 3\) .*{got}"):
            env.reset(KEY, bad)
        with pytest.raises(ValueError, match="params: expected a MatrixGame"):
            jaxgames.rollout(KEY, env, None, 2, params=bad)
    kuhn = jaxgames.make_env(jaxgames.kuhn_poker())
    with pytest.raises(ValueError, match=r"params: expected an EFGGame with the same tree .*got EFGGame"):
        kuhn.reset(KEY, jaxgames.leduc_poker())
    agents = jaxgames.make_env(mean_field.crowd_modelling(4, 2), num_agents=3)
    with pytest.raises(ValueError, match="params: expected a MeanFieldGame with 4 states"):
        agents.reset(KEY, mean_field.crowd_modelling(5, 2))
    with pytest.raises(ValueError, match="params: expected a MarkovGame with 3 states"):
        _env("markov").reset(KEY, matrix.rock_paper_scissors())


# -- constructor options --------------------------------------------------------------------------
def test_constructor_options_are_checked():
    rps, kuhn = matrix.rock_paper_scissors(), jaxgames.kuhn_poker()
    crowd, mk = mean_field.crowd_modelling(4, 2), markov.random_zero_sum(jax.random.key(1), 3, 2)
    for bad in (0, -1, 2.0, 2.5, "3", True, None, [2]):
        with pytest.raises(ValueError, match="num_rounds: expected an integer"):
            jaxgames.make_env(rps, num_rounds=bad)
        with pytest.raises(ValueError, match="num_agents: expected an integer"):
            jaxgames.make_env(crowd, num_agents=bad)
        if bad is not None:
            with pytest.raises(ValueError, match="max_episode_steps: expected an integer"):
                jaxgames.make_env(mk, max_episode_steps=bad)
    with pytest.raises(ValueError, match="max_episode_steps: expected an integer in"):
        jaxgames.make_env(mk, max_episode_steps=2**31)
    with pytest.raises(ValueError, match="num_rounds: expected an integer in"):
        jaxgames.make_env(rps, num_rounds=2**40)
    for game, extra in ((rps, {}), (kuhn, {}), (crowd, {"num_agents": 2}), (mk, {})):
        for bad in ("yes", "False", None, 1, 0.0):
            with pytest.raises(ValueError, match="autoreset: expected True or False"):
                jaxgames.make_env(game, autoreset=bad, **extra)
    for bad in (3, None, ["auto"], "pixels"):
        with pytest.raises(ValueError, match="observation: expected one of"):
            jaxgames.make_env(kuhn, observation=bad)
    with pytest.raises(ValueError, match="feedback: expected one of"):
        jaxgames.make_env(rps, feedback=None)
    with pytest.raises(ValueError, match=r"num_agents: the agents' transition rows .* needs .* max_bytes"):
        jaxgames.make_env(crowd, num_agents=10**10)
    with pytest.raises(ValueError, match="num_agents: .* max_bytes"):
        jaxgames.make_env(crowd, num_agents=1000, max_bytes=1000)
    assert jaxgames.make_env(crowd, num_agents=np.int64(3)).num_agents == 3
    assert jaxgames.make_env(rps, num_rounds=np.int32(2), autoreset=np.bool_(False)).num_rounds == 2


# -- rollout --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_rollout_arguments_are_checked_not_truncated():
    env = jaxgames.make_env(matrix.rock_paper_scissors(), num_rounds=2)
    for bad in (2.5, 2.0, "3", True, None, 0, -1, [2]):
        with pytest.raises(ValueError, match="num_steps: expected an integer"):
            jaxgames.rollout(KEY, env, None, bad)
        if bad is not None:
            with pytest.raises(ValueError, match="batch_size: expected an integer"):
                jaxgames.rollout(KEY, env, None, 2, batch_size=bad)
    with pytest.raises(ValueError, match=r"num_steps: the rollout's random numbers and trajectory .* needs .* TiB"):
        jaxgames.rollout(KEY, env, None, 10**12)
    with pytest.raises(ValueError, match="num_steps: .* above max_bytes = 100 B"):
        jaxgames.rollout(KEY, env, None, 10, batch_size=10, max_bytes=100)
    with pytest.raises(ValueError, match="max_bytes: expected an integer"):
        jaxgames.rollout(KEY, env, None, 2, max_bytes=1.5)
    final, _ = jaxgames.rollout(KEY, env, None, 2, batch_size=3)
    with pytest.raises(ValueError, match=r"state: expected states batched as \(4,\)"):
        jaxgames.rollout(KEY, env, None, 2, batch_size=4, state=final)
    with pytest.raises(ValueError, match="state: expected one environment's state"):
        jaxgames.rollout(KEY, env, None, 2, state=final)
    _, traj = jaxgames.rollout(KEY, env, None, np.int64(2), batch_size=np.int32(3), state=final)
    assert traj.rewards.shape == (3, 2, 2)


# -- the pgx view, the family helpers -------------------------------------------------------------
def test_pgx_view_checks_actions_keys_and_states():
    view = jaxgames.make_env(jaxgames.kuhn_poker()).as_pgx()
    state = view.init(KEY)
    with pytest.raises(ValueError, match="key: expected"):
        view.init(0)
    with pytest.raises(ValueError, match="key: expected"):
        view.step(state, 0, key=1.0)
    with pytest.raises(ValueError, match="state: expected a PgxState"):
        view.step(state.inner, 0)
    for bad, message in ((2**32, "out of range"), (1.0, "integer action ids"), (True, "integer action ids")):
        with pytest.raises(ValueError, match=f"action: .*{message}"):
            view.step(state, bad)
    finished = view.step(view.step(state, 0), 0)
    assert bool(finished.terminated)
    with pytest.raises(ValueError, match="action: .*out of range"):  # checked at a finished state too
        view.step(finished, 2**32)
    np.testing.assert_array_equal(view.step(finished, 1).rewards, 0.0)


@pytest.mark.slow
def test_family_helpers_check_their_arguments():
    crowd = mean_field.crowd_modelling(4, 2)
    agents = jaxgames.make_env(crowd, num_agents=3)
    with pytest.raises(ValueError, match="key: expected"):
        mean_field.episode_returns(3, agents, crowd.uniform_policy())
    with pytest.raises(ValueError, match="env: expected an NAgentEnv"):
        mean_field.episode_returns(KEY, _env("matrix"), crowd.uniform_policy())
    for bad in (2.5, 0, "4"):
        with pytest.raises(ValueError, match="num_episodes: expected an integer"):
            mean_field.deviation_gain(crowd, crowd.uniform_policy(), 3, KEY, bad)
    with pytest.raises(ValueError, match="key: expected"):
        mean_field.deviation_gain(crowd, crowd.uniform_policy(), 3, None, 2)
    env = _env("markov")
    _, traj = jaxgames.rollout(KEY, env, None, 2)
    for bad in (1.5, -0.1, float("nan"), "0.9", None):
        with pytest.raises(ValueError, match="discount: expected"):
            markov.discounted_returns(traj, bad)
    with pytest.raises(ValueError, match="trajectory: expected the Trajectory of a MarkovEnv"):
        markov.discounted_returns(jaxgames.rollout(KEY, _env("matrix"), None, 2)[1], 0.9)
    kuhn = jaxgames.make_env(jaxgames.kuhn_poker())
    state, _ = kuhn.reset(KEY)
    for bad in (2**32, 2, -1):
        with pytest.raises(ValueError, match=r"player: expected ids in 0\.\.1"):
            kuhn.information_state_tensor(state, bad)
    for bad in (True, 0.0, "0", jnp.float32(1)):  # None is the acting player
        with pytest.raises(ValueError, match="player: expected an integer player id"):
            kuhn.infoset_one_hot(state, bad)
    for bad in (jnp.zeros(3), [0.5]):
        with pytest.raises(ValueError, match=r"u: expected 1 uniform numbers"):
            kuhn.step_with_noise(bad, state, 1)


# -- property-based: random dtypes, shapes and values --------------------------------------------
_DTYPES = [np.int8, np.uint8, np.int32, np.uint32, np.int64, np.uint64, np.float32, np.float64, np.bool_, np.complex64]


@pytest.mark.slow
@pytest.mark.parametrize("family", ["matrix", "efg", "mean_field"])
def test_random_actions_end_in_a_step_or_a_named_error(family):
    env = _env(family)
    state, ts = env.reset(KEY)
    legal = np.asarray(ts.legal_action_mask).reshape(*env.action_shape, -1)
    n = env.action_shape[0] if env.action_shape else 0

    @settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(
        dtype=st.sampled_from(_DTYPES),
        shape=st.sampled_from([env.action_shape] * 3 + [(), (n + 1,), (1, max(n, 1)), (2,)]),
        values=st.lists(st.integers(-(2**40), 2**40) | st.integers(-2, env.num_actions + 1), min_size=4, max_size=4),
    )
    def check(dtype, shape, values):
        size = int(np.prod(shape, dtype=int))
        raw = (values * 2)[:size]
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            raw = [v for v in raw if info.min <= v <= info.max] + [0] * size
            raw = raw[:size]
        action = np.asarray(raw, dtype).reshape(shape)
        ok_dtype = np.issubdtype(dtype, np.integer)
        ok_shape = tuple(shape) == env.action_shape
        ok_value = ok_dtype and ok_shape and bool(np.all((action >= 0) & (action < env.num_actions)))
        ok = ok_value and bool(np.all(np.take_along_axis(legal, action.astype(np.int64)[..., None], -1)))
        if ok:
            env.step(KEY, state, action)
            return
        with pytest.raises(ValueError, match="action: "):
            env.step(KEY, state, action)

    check()
