"""One simulator contract for every family: make_env, reset / step / auto-reset, TimeStep, checks,
rollout, and the pgx-compatible view."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
from jaxgames import markov, matrix, mean_field
from jaxgames.env import SIMULTANEOUS, TERMINAL


def _games():
    return {
        "matrix": (matrix.random_game(jax.random.key(0), (2, 3, 2)), {"num_rounds": 3}),
        "preference": (matrix.preference_game(matrix.cyclic_preferences(5)), {"feedback": "bernoulli"}),
        "efg": (jaxgames.kuhn_poker(), {}),
        "markov": (markov.random_zero_sum(jax.random.key(1), 4, 2), {"max_episode_steps": 5}),
        "mean_field": (mean_field.crowd_modelling(5, 4), {"num_agents": 6}),
    }


FAMILIES = list(_games())


def _random_policy(game, seed):
    rng = np.random.default_rng(seed)
    out = []
    for mask in game.legal_mask_host():
        p = rng.dirichlet(np.ones(mask.shape[-1]), size=mask.shape[:-1]) * mask
        out.append(jnp.asarray(p / p.sum(-1, keepdims=True), jnp.float32))
    return tuple(out)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_one_contract_for_every_family(family):
    game, options = _games()[family]
    env = jaxgames.make_env(game, **options)
    assert isinstance(env, jaxgames.Environment)
    state, ts = env.reset(jax.random.key(0))
    assert isinstance(ts, jaxgames.TimeStep)
    n = env.num_players
    assert ts.rewards.shape == (n,) and not bool(ts.terminated) and not bool(ts.truncated)
    np.testing.assert_array_equal(ts.rewards, 0.0)
    assert ts.legal_action_mask.shape == env.action_shape + (env.num_actions,)
    if env.simultaneous:
        assert int(ts.current_player) == SIMULTANEOUS
    else:
        assert 0 <= int(ts.current_player) < n
    action = env.sample_action(jax.random.key(1), state)
    assert action.shape == env.action_shape and action.dtype == jnp.int32
    state, ts = env.step(jax.random.key(2), state, action)
    assert ts.rewards.shape == (n,)
    # the same call under jit and vmap (over keys, states and games) with no special code
    keys = jax.random.split(jax.random.key(3), 4)
    states, _ = jax.vmap(env.reset)(keys)
    actions = jax.vmap(env.sample_action)(keys, states)
    games = jax.tree_util.tree_map(lambda x: jnp.stack([x] * 4), game)
    _, ts = jax.jit(jax.vmap(env.step))(keys, states, actions, games)
    assert ts.rewards.shape == (4, n)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_simulated_returns_match_the_exact_values(family):
    """The mean return of simulated episodes under a random policy equals ``evaluate`` (4 SE)."""
    game, options = _games()[family]
    policy = _random_policy(game, 3)
    if family == "markov":  # the discounted return of a long truncated episode, bias < 1e-6
        env = jaxgames.make_env(game, max_episode_steps=150)
        _, traj = jax.jit(lambda k: jaxgames.rollout(k, env, policy, 150, batch_size=2048))(jax.random.key(4))
        returns = np.asarray(markov.discounted_returns(traj, game.discount))
    elif family == "mean_field":  # no crowd coupling: any N gives the mean-field value
        game = mean_field.crowd_modelling(5, 4, crowd_aversion=0.0)
        env = jaxgames.make_env(game, num_agents=8)
        _, traj = jax.jit(lambda k: jaxgames.rollout(k, env, policy, game.horizon, batch_size=1024))(jax.random.key(4))
        returns = np.asarray(traj.rewards.sum(1)).reshape(-1, 1)  # every agent's return
    else:
        env = jaxgames.make_env(game, **options)
        steps = 3 * 2 if family != "efg" else 2 * env.max_episode_length
        _, traj = jax.jit(lambda k: jaxgames.rollout(k, env, policy, steps, batch_size=4096))(jax.random.key(4))
        rewards, done = np.asarray(traj.rewards), np.asarray(traj.done)
        first = done & (np.cumsum(done, 1) - done < 1)  # first episode of each environment
        index = np.cumsum(done, 1) - done
        returns = np.stack([rewards[b][index[b] == 0].sum(0) for b in range(len(rewards)) if first[b].any()])
    exact = options.get("num_rounds", 1) * np.asarray(game.evaluate(policy).values)[: returns.shape[1]]
    mean, sem = returns.mean(0), returns.std(0) / np.sqrt(len(returns))
    assert np.all(np.abs(mean - exact) < 4 * sem + 1e-5), (mean, exact, sem)


@pytest.mark.slow
def test_rollout_is_reproducible_batched_and_validated():
    env = jaxgames.make_env(jaxgames.leduc_poker())
    # jitted (one compile for a, b and c; eager rollouts: test_env_validation.py)
    roll = jax.jit(lambda k: jaxgames.rollout(k, env, None, 20, batch_size=8)[1])
    a, b, c = roll(jax.random.key(0)), roll(jax.random.key(0)), roll(jax.random.key(1))
    np.testing.assert_array_equal(a.action, b.action)
    assert a.rewards.shape == (8, 20, 2) and a.state.history.shape == (8, 20)
    assert not np.array_equal(a.state.history, c.state.history)
    # continuing from the final states
    final, _ = jax.jit(lambda k: jaxgames.rollout(k, env, None, 5, batch_size=8))(jax.random.key(0))
    _, traj = jax.jit(lambda k, s: jaxgames.rollout(k, env, None, 5, batch_size=8, state=s))(jax.random.key(2), final)
    np.testing.assert_array_equal(traj.state.history[:, 0], final.history)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size: expected an integer"):
            jaxgames.rollout(jax.random.key(0), env, None, 5, batch_size=bad)
    with pytest.raises(ValueError, match="num_steps"):
        jaxgames.rollout(jax.random.key(0), env, None, 0)
    with pytest.raises(ValueError, match="env: expected a jaxgames simulator"):
        jaxgames.rollout(jax.random.key(0), "kuhn", None, 5)
    with pytest.raises(ValueError, match=r"policy\[0\]: expected shape"):
        jaxgames.rollout(jax.random.key(0), env, (jnp.ones(3), jnp.ones(3)), 5)


def test_make_env_rejects_unknown_games_and_options():
    with pytest.raises(ValueError, match="game: no simulator for"):
        jaxgames.make_env("kuhn")
    with pytest.raises(ValueError, match=r"make_env: unknown option\(s\) \['horizon'\] for EFGEnv"):
        jaxgames.make_env(jaxgames.kuhn_poker(), horizon=3)
    with pytest.raises(ValueError, match="num_agents: expected an integer >= 1"):
        jaxgames.make_env(mean_field.crowd_modelling(5, 4), num_agents=0)
    with pytest.raises(ValueError, match="feedback: expected one of"):
        jaxgames.make_env(matrix.rock_paper_scissors(), feedback="sampled")
    with pytest.raises(ValueError, match="game: expected a .*preference game"):
        jaxgames.make_env(matrix.prisoners_dilemma(), feedback="bernoulli")
    env = jaxgames.make_env(markov.random_zero_sum(jax.random.key(0), 4, 2))
    with pytest.raises(ValueError, match="params: expected a MarkovGame with 4 states"):
        env.reset(jax.random.key(0), markov.random_zero_sum(jax.random.key(0), 5, 2))


@pytest.mark.slow
@pytest.mark.parametrize("family", ["efg", "markov", "mean_field"])
def test_bad_actions_raise_when_concrete_and_are_replaced_under_jit(family):
    game, options = _games()[family]
    env = jaxgames.make_env(game, **options)
    state, ts = env.reset(jax.random.key(5))
    shape = env.action_shape
    legal = np.asarray(ts.legal_action_mask).reshape(*shape, -1)
    good = np.argmax(legal, -1).astype(np.int32)
    with pytest.raises(ValueError, match="action: expected integer action ids"):
        env.step(jax.random.key(0), state, np.asarray(good, np.float32))
    with pytest.raises(ValueError, match="action: expected"):
        env.step(jax.random.key(0), state, np.zeros(shape + (2,), np.int32))
    for value in (-1, env.num_actions):
        bad = np.array(good)
        bad[...] = value if not shape else bad
        if shape:
            bad[0] = value
        with pytest.raises(ValueError, match="action: .*not legal"):
            env.step(jax.random.key(0), state, bad)
        # under jit the bad entry becomes the lowest legal action: the same as stepping with it
        got, _ = jax.jit(env.step)(jax.random.key(0), state, jnp.asarray(bad))
        want, _ = jax.jit(env.step)(jax.random.key(0), state, jnp.asarray(good))
        jax.tree_util.tree_map(np.testing.assert_array_equal, got, want)


def test_illegal_action_in_a_state_where_it_is_out_of_the_mask():
    env = jaxgames.make_env(jaxgames.leduc_poker())
    state, ts = env.reset(jax.random.key(0))
    assert not bool(ts.legal_action_mask[0])  # no fold without a bet
    with pytest.raises(ValueError, match=r"action: 0 is not legal for player 0 .* legal actions: \[1, 2\]"):
        env.step(jax.random.key(0), state, 0)


@pytest.mark.slow
def test_stepping_past_the_end_without_autoreset():
    env = jaxgames.make_env(matrix.rock_paper_scissors(), num_rounds=1, autoreset=False)
    state, _ = env.reset(jax.random.key(0))
    state, ts = env.step(jax.random.key(0), state, jnp.array([0, 1]))
    assert bool(ts.terminated) and int(ts.current_player) == TERMINAL
    with pytest.raises(ValueError, match="state: the episode is over"):
        env.step(jax.random.key(0), state, jnp.array([0, 1]))
    same, ts = jax.jit(env.step)(jax.random.key(0), state, jnp.array([2, 2]))  # a no-op under jit
    jax.tree_util.tree_map(np.testing.assert_array_equal, same, state)
    np.testing.assert_array_equal(ts.rewards, 0.0)
    # with auto-reset, the step that ends an episode returns the next one's first state
    auto = jaxgames.make_env(matrix.rock_paper_scissors(), num_rounds=1)
    state, _ = auto.reset(jax.random.key(0))
    state, ts = auto.step(jax.random.key(0), state, jnp.array([0, 1]))
    assert bool(ts.terminated) and int(state.round) == 0 and int(ts.current_player) == SIMULTANEOUS
    np.testing.assert_allclose(ts.rewards, [-1.0, 1.0])
    with pytest.raises(ValueError, match="state: expected one environment's state"):
        auto.step(jax.random.key(0), jax.vmap(auto.reset)(jax.random.split(jax.random.key(0), 2))[0], jnp.array([0, 1]))


@pytest.mark.slow
def test_bernoulli_preference_feedback_is_unbiased():
    P = matrix.cyclic_preferences(3, margin=0.3)
    game = matrix.preference_game(P)
    env = jaxgames.make_env(game, feedback="bernoulli")
    state, _ = env.reset(jax.random.key(0))
    step = jax.jit(jax.vmap(lambda k: env.step(k, state, jnp.array([0, 1]))))
    _, ts = step(jax.random.split(jax.random.key(1), 20000))
    outcomes = np.asarray(ts.rewards[:, 0]) + 0.5
    assert set(np.unique(outcomes)) == {0.0, 1.0}  # a win or a loss, never a draw
    np.testing.assert_allclose(ts.rewards[:, 1], -ts.rewards[:, 0])
    assert abs(outcomes.mean() - float(P[0, 1])) < 4 * np.sqrt(0.8 * 0.2 / 20000)


@pytest.mark.slow
def test_pgx_view_follows_pgx_conventions():
    pgx = pytest.importorskip("pgx")
    from pgx.experimental import auto_reset

    game = jaxgames.kuhn_poker()
    env = jaxgames.make_env(game).as_pgx()
    names = {f.name for f in dataclasses.fields(pgx.State)}
    state = env.init(jax.random.key(0))
    assert names <= set(vars(state)) or all(hasattr(state, n) for n in names)
    assert env.num_players == 2 and env.num_actions == 2 and env.observation_shape == (11,)
    # play to the end by pgx's rules: rewards at the terminal, zero after, all actions legal there
    state = env.step(state, 0, jax.random.key(1))
    state = env.step(state, 0, jax.random.key(2))
    assert bool(state.terminated) and float(jnp.abs(state.rewards).sum()) == 2.0
    assert bool(state.legal_action_mask.all()) and int(state._step_count) == 2
    after = env.step(state, 1, jax.random.key(3))
    np.testing.assert_array_equal(after.rewards, 0.0)
    assert bool(after.terminated) and int(after._step_count) == 2
    # pgx's own auto-reset wrapper and a pgx-style random-play loop: the mean return is Kuhn's
    # uniform-policy value
    batch, steps = 4096, 24
    step = jax.jit(jax.vmap(auto_reset(env.step, env.init)))

    def body(carry, key):
        state, total, episodes = carry
        k_act, k_step = jax.random.split(key)
        logits = jnp.where(state.legal_action_mask, 0.0, -jnp.inf)
        action = jax.random.categorical(k_act, logits, axis=-1)
        state = step(state, action, jax.random.split(k_step, batch))
        return (state, total + state.rewards.sum(0), episodes + state.terminated.sum()), None

    state = jax.vmap(env.init)(jax.random.split(jax.random.key(4), batch))
    (_, total, episodes), _ = jax.lax.scan(body, (state, jnp.zeros(2), 0), jax.random.split(jax.random.key(5), steps))
    mean = np.asarray(total) / int(episodes)
    exact = np.asarray(game.evaluate(game.uniform_policy()).values)
    assert int(episodes) > batch * steps / 3.5
    assert np.all(np.abs(mean - exact) < 4 * 1.5 / np.sqrt(int(episodes))), (mean, exact)
