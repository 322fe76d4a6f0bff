"""The extensive-form simulator agrees with the exact model and has the documented step semantics."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
from jaxgames.efg.env import EFGEnv, EFGState, rollout
from jaxgames.efg.tree import TERMINAL


def _random_policy(game, seed):
    """A random (Dirichlet) policy over the legal actions: more telling than the uniform one."""
    rng = np.random.default_rng(seed)
    out = []
    for mask in game.tree.legal:
        p = rng.dirichlet(np.ones(mask.shape[1]), size=mask.shape[0]) * mask
        out.append(jnp.asarray(p / p.sum(1, keepdims=True), jnp.float32))
    return tuple(out)


def _biased_chance(game, seed):
    """The same tree with random (non-uniform) chance probabilities, normalized at every chance node."""
    tree = game.tree
    rng = np.random.default_rng(seed)
    edge = tree.edge_actor == -1
    w = np.where(edge, rng.uniform(0.05, 1.0, tree.num_histories) ** 2, 0.0)
    total = np.bincount(tree.parent[edge], weights=w[edge], minlength=tree.num_histories)
    prob = np.where(edge, w / np.where(edge, total[tree.parent], 1.0), 1.0)
    # the same name too: the name is static (pytree aux data), so jitted functions are reused
    return jaxgames.efg.EFGGame(tree, payoffs=game.payoffs, chance_prob=prob, name=game.name)


@functools.cache
def _env(name, autoreset=True):
    game = {"kuhn": jaxgames.kuhn_poker, "kuhn3": lambda: jaxgames.kuhn_poker(3), "leduc": jaxgames.leduc_poker}[name]()
    return EFGEnv(game, autoreset=autoreset)


NUM_ENVS, EPISODES = 16384, 2  # the first two episodes of each environment: i.i.d., none cut short


@functools.cache
def _play(name, biased):
    """One jitted call: 16,384 environments, each playing two episodes' worth of steps under a random
    policy. The game (biased chance probabilities or not) and the policy are arguments, so the
    variants of one tree share one compilation."""
    env = _env(name)
    game = _biased_chance(env.game, 5) if biased else env.game  # same tree: a parameter of the env
    policy = _random_policy(game, 0)
    run = _jitted_rollout(env)
    _, traj = run(jax.random.split(jax.random.key(1), NUM_ENVS), policy, game)
    return env, game, policy, jax.tree_util.tree_map(np.asarray, traj)


@functools.cache
def _jitted_rollout(env):
    steps = EPISODES * env.max_episode_length
    return jax.jit(
        jax.vmap(lambda k, policy, game: rollout(k, env, policy, steps, params=game), in_axes=(0, None, None))
    )


def _first_episodes(traj):
    """Mask of the steps that end one of the first ``EPISODES`` episodes of each environment."""
    index = np.cumsum(traj.done, axis=1) - traj.done  # episode each step belongs to
    assert np.all(traj.done.sum(1) >= EPISODES)
    return traj.done & (index < EPISODES)


@pytest.mark.slow
@pytest.mark.parametrize("name, biased", [("kuhn", False), ("kuhn3", False), ("leduc", False), ("kuhn", True)])
def test_mean_return_matches_the_exact_values(name, biased):
    env, game, policy, traj = _play(name, biased)
    returns = traj.rewards[_first_episodes(traj)]  # [B * episodes, N]
    assert returns.shape == (NUM_ENVS * EPISODES, game.num_players)
    np.testing.assert_allclose(returns.sum(1), 0.0, atol=1e-5)  # zero-sum, per episode
    assert np.all(traj.rewards[~traj.done] == 0)  # rewards only at the end
    mean, sem = returns.mean(0), returns.std(0) / np.sqrt(len(returns))
    exact = np.asarray(jaxgames.evaluate(game, policy).values)
    assert np.all(np.abs(mean - exact) < 4 * sem), (mean, exact, sem)
    # the test has power: another policy's values (or, with biased chance, the unbiased game's)
    # are far outside the band
    other = jaxgames.evaluate(env.game, policy) if biased else jaxgames.evaluate(game, game.uniform_policy())
    assert np.any(np.abs(mean - np.asarray(other.values)) > 5 * sem), (mean, other.values, sem)


@pytest.mark.slow
def test_chance_outcomes_follow_the_games_chance_probabilities():
    """Leduc with biased cards (deal and public card): each chance edge's frequency is binomial."""
    env, game, _, traj = _play("leduc", True)
    tree = env.tree
    last = traj.state.history[_first_episodes(traj)]  # last decision of each episode
    visits = np.zeros(tree.num_histories)  # chance edges on the paths to them
    node = last
    for _ in range(tree.max_depth):
        on = tree.edge_actor[node] == -1
        np.add.at(visits, node[on], 1)
        node = tree.parent[node]
    edge = tree.edge_actor == -1
    trials = np.bincount(tree.parent[edge], weights=visits[edge], minlength=tree.num_histories)[tree.parent]

    def worst(p):
        var = trials * p * (1 - p)
        ok = edge & (var > 10)
        return np.max(np.abs(visits[ok] - trials[ok] * p[ok]) / np.sqrt(var[ok])), ok.sum()

    z, tested = worst(np.asarray(game.chance_prob, np.float64))
    assert tested > 100 and z < 5, (z, tested)
    assert worst(np.asarray(env.game.chance_prob, np.float64))[0] > 10  # the unbiased cards are rejected


# A hand-made game for what poker lacks: the root is a decision, a chance run of two nodes follows
# an action, and chance can end the game. Histories: action tuples; "p": player, infoset, legal
# actions; "c": chance outcomes; "t": payoffs.
_GAMBLE = {
    (): ("p", 0, "root", [0, 1]),  # 0: safe, 1: gamble
    (0,): ("p", 1, "safe", [0, 1]),
    (0, 0): ("t", (1.0, -1.0)),
    (0, 1): ("t", (-1.0, 1.0)),
    (1,): ("c", [(0, 0.2), (1, 0.5), (2, 0.3)]),
    (1, 0): ("t", (-2.0, 2.0)),  # chance ends the game
    (1, 1): ("c", [(0, 0.6), (1, 0.4)]),  # a second chance node in a row
    (1, 1, 0): ("t", (3.0, -3.0)),
    (1, 1, 1): ("p", 1, "gamble", [0, 1]),
    (1, 2): ("p", 1, "gamble", [0, 1]),
    (1, 1, 1, 0): ("t", (0.5, -0.5)),
    (1, 1, 1, 1): ("t", (-1.5, 1.5)),
    (1, 2, 0): ("t", (2.0, -2.0)),
    (1, 2, 1): ("t", (-0.5, 0.5)),
}


class _GambleState:
    """The pyspiel ``State`` interface that ``build_tree`` reads."""

    def __init__(self, history=()):
        self.history = history
        self.node = _GAMBLE[history]

    def is_terminal(self):
        return self.node[0] == "t"

    def is_chance_node(self):
        return self.node[0] == "c"

    def returns(self):
        return list(self.node[1])

    def chance_outcomes(self):
        return self.node[1]

    def current_player(self):
        return self.node[1]

    def information_state_string(self, player):
        return self.node[2]

    def legal_actions(self):
        return self.node[3]

    def child(self, action):
        return _GambleState(self.history + (action,))


class _GambleGame:
    def num_players(self):
        return 2

    def num_distinct_actions(self):
        return 2

    def max_chance_outcomes(self):
        return 3

    def new_initial_state(self):
        return _GambleState()


@pytest.mark.slow
def test_any_game_root_decision_and_chance_that_ends_the_game():
    game = jaxgames.efg.EFGGame(jaxgames.efg.build_tree(_GambleGame()), name="gamble")
    env = EFGEnv(game)
    assert env.autoreset_draws == 2 and env.max_episode_length == 2
    policy = (jnp.array([[0.3, 0.7]]), jnp.array([[0.6, 0.4], [0.2, 0.8]]))
    _, traj = jax.jit(jax.vmap(lambda k: rollout(k, env, policy, 40)))(jax.random.split(jax.random.key(7), 2048))
    done, rewards = np.asarray(traj.done), np.asarray(traj.rewards)
    index = np.cumsum(done, axis=1) - done
    returns = rewards[done & (index < 20)]  # 20 episodes (of at most 2 steps) per environment
    assert len(returns) == 2048 * 20
    mean, sem = returns.mean(0), returns.std(0) / np.sqrt(len(returns))
    exact = np.asarray(jaxgames.evaluate(game, policy).values)
    assert np.all(np.abs(mean - exact) < 4 * sem), (mean, exact, sem)
    # every episode starts at the root decision; gambles end at once with probability 0.2 + 0.5 * 0.6
    history = np.asarray(traj.state.history)
    np.testing.assert_array_equal(history[:, 1:][done[:, :-1]], 0)
    gambles = (history == 0) & (np.asarray(traj.action) == 1)
    ended = np.mean(done[gambles])
    assert abs(ended - 0.5) < 4 * np.sqrt(0.25 / gambles.sum()), ended
    # a step without auto-reset: the chance run ends the game or reaches player 1
    kept = EFGEnv(game, autoreset=False)
    state, _ = kept.reset(jax.random.key(8))
    assert int(state.history) == 0 and int(state.current_player) == 0
    after, ts = jax.jit(jax.vmap(kept.step, in_axes=(0, None, None)))(jax.random.split(jax.random.key(9), 64), state, 1)
    ended = np.asarray(after.terminated)
    assert ended.any() and not ended.all()
    np.testing.assert_array_equal(ts.terminated, ended)
    assert set(np.asarray(after.current_player)[~ended]) == {1}
    assert {env.tree.infoset_keys[1][i] for i in np.asarray(after.infoset)[~ended]} == {"gamble"}


@pytest.mark.parametrize("name", ["kuhn3", "leduc"])
def test_trajectories_follow_the_tree(name):
    env, _, _, traj = _play(name, False)
    tree = env.tree
    h, player, info, legal = (
        traj.state.history,
        traj.state.current_player,
        traj.state.infoset,
        traj.state.legal_action_mask,
    )
    action, rewards, done = traj.action, traj.rewards, traj.done
    # every state acted in is a decision history of that player, at that information set
    dec_player = np.full(tree.num_histories, -1)
    dec_info = np.full(tree.num_histories, -1)
    for p in range(tree.num_players):
        dec_player[tree.decision_nodes[p]] = p
        dec_info[tree.decision_nodes[p]] = tree.decision_infosets[p]
    assert np.all(player >= 0)
    np.testing.assert_array_equal(dec_player[h], player)
    np.testing.assert_array_equal(dec_info[h], info)
    for p in range(tree.num_players):
        np.testing.assert_array_equal(legal[player == p], tree.legal[p][info[player == p]])
    assert np.all(np.take_along_axis(legal, action[..., None], -1))  # sampled actions are legal
    # a done step moves to a terminal history and pays its payoffs; others move below the child
    child = tree.children[h, action]
    np.testing.assert_array_equal(tree.is_terminal[child], done)
    np.testing.assert_allclose(rewards[done], np.asarray(env.game.payoffs)[child[done]])
    np.testing.assert_allclose(rewards.sum(-1), 0.0, atol=1e-5)
    nxt, cur = h[:, 1:], child[:, :-1]
    up = nxt.copy()
    for _ in range(tree.max_depth):  # walk up to the child's depth
        up = np.where(tree.depth[up] > tree.depth[cur], tree.parent[up], up)
    cont = ~done[:, :-1]
    np.testing.assert_array_equal(up[cont], cur[cont])
    # after a terminal, a new episode: a history with no player decision above it
    decisions = np.zeros(tree.num_histories, int)
    for d in range(1, tree.max_depth + 1):
        idx = np.nonzero(tree.depth == d)[0]
        decisions[idx] = decisions[tree.parent[idx]] + (tree.edge_actor[idx] >= 0)
    assert np.all(decisions[nxt[~cont]] == 0) and np.all(decisions[nxt[cont]] > 0)
    restart = nxt[np.arange(len(nxt)), np.argmax(~cont, axis=1)]  # each environment's second episode
    assert np.mean(restart != h[:, 0]) > 0.5  # new episodes get new deals


@pytest.mark.slow
def test_kuhn_step_by_step():
    env = _env("kuhn", autoreset=False)
    tree = env.tree
    state, ts = env.reset(jax.random.key(3))
    assert int(state.current_player) == 0 and int(ts.current_player) == 0
    assert int(state.history) in tree.decision_nodes[0]
    assert not bool(state.terminated) and not bool(ts.done)
    np.testing.assert_array_equal(state.legal_action_mask, [True, True])
    np.testing.assert_array_equal(ts.rewards, [0.0, 0.0])
    # the default observation: OpenSpiel's information-state tensor (player, card, betting rows)
    assert env.observation_kind == "information_state_tensor" and env.observation_size == 11
    card = int(env.tree.edge_action[env.tree.parent[int(state.history)]])  # the first card dealt
    expected = np.zeros(11)
    expected[[0, 2 + card]] = 1.0
    np.testing.assert_array_equal(ts.observation, expected)
    # the information-set one-hot: information set, player id, legal mask
    obs = np.asarray(env.infoset_one_hot(state))
    assert obs.shape == (env.infoset_one_hot_size,) == (6 + 2 + 2,)
    expected = np.zeros(10)
    expected[int(state.infoset)] = 1.0
    expected[6] = 1.0
    expected[8:] = 1.0
    np.testing.assert_array_equal(obs, expected)
    np.testing.assert_array_equal(env.infoset_one_hot(state, 1)[:6], 0.0)  # the other player is not acting
    np.testing.assert_array_equal(env.infoset_one_hot(state, 1)[6:8], [0.0, 1.0])
    # pass, pass: showdown for the ante
    state, ts = env.step(jax.random.key(4), state, 0)
    assert int(state.current_player) == 1 and not bool(ts.done)
    assert np.argmax(np.asarray(env.infoset_one_hot(state))[:6]) == int(state.infoset)
    np.testing.assert_array_equal(np.asarray(ts.observation)[[1, 5, 6]], [1.0, 1.0, 0.0])  # player 1; pass was row 0
    state, ts = env.step(jax.random.key(5), state, 0)
    h = int(state.history)
    assert bool(tree.is_terminal[h]) and bool(state.terminated) and bool(ts.done)
    assert int(state.current_player) == TERMINAL and int(state.infoset) == -1
    np.testing.assert_allclose(ts.rewards, np.asarray(env.game.payoffs)[h])
    assert abs(float(ts.rewards[0])) == 1.0 and float(ts.rewards.sum()) == 0.0
    np.testing.assert_array_equal(ts.observation, 0.0)  # nobody acts
    np.testing.assert_array_equal(env.infoset_one_hot(state, 0)[:6], 0.0)
    # ... but each player's tensors exist at the terminal: two passes, contributions 1 and 1
    np.testing.assert_array_equal(np.asarray(env.information_state_tensor(state, 0))[[0, 2 + card, 5, 7]], 1.0)
    np.testing.assert_array_equal(np.asarray(env.observation_tensor(state, 1))[[1, 5, 6]], [1.0, 1.0, 1.0])
    assert int(state.step_count) == 2
    # without auto-reset, a step past the end raises when concrete and is a no-op under jit ...
    with pytest.raises(ValueError, match="state: the episode is over"):
        env.step(jax.random.key(6), state, 1)
    again, ts2 = jax.jit(env.step)(jax.random.key(6), state, 1)
    assert int(again.history) == h and bool(ts2.terminated)
    np.testing.assert_array_equal(ts2.rewards, [0.0, 0.0])
    # ... while step_autoreset starts a new episode
    fresh, ts3 = env.step_autoreset(jax.random.key(7), state, 1)
    assert int(fresh.current_player) == 0 and int(fresh.step_count) == 0 and not bool(ts3.done)
    np.testing.assert_array_equal(ts3.rewards, [0.0, 0.0])


def test_step_autoreset_reports_the_terminal_and_returns_a_new_episode():
    env = _env("kuhn")
    state, _ = env.reset(jax.random.key(8))
    state, ts = env.step_autoreset(jax.random.key(9), state, 0)
    assert not bool(ts.done) and int(state.current_player) == 1
    before = int(state.history)
    state, ts = env.step_autoreset(jax.random.key(10), state, 0)  # pass, pass: the end
    assert bool(ts.done)
    terminal = env.tree.children[before, 0]
    np.testing.assert_allclose(ts.rewards, np.asarray(env.game.payoffs)[terminal])
    assert int(state.current_player) == 0 and int(state.step_count) == 0 and not bool(state.terminated)
    assert int(state.history) in env.tree.decision_nodes[0]
    np.testing.assert_array_equal(state.rewards, [0.0, 0.0])


@pytest.mark.slow
def test_illegal_actions_raise_when_concrete_and_become_the_first_legal_action_under_jit():
    env = _env("leduc")
    state, _ = env.reset(jax.random.key(11))
    np.testing.assert_array_equal(state.legal_action_mask, [False, True, True])  # no fold without a bet
    for bad in (0, -1, 3):
        with pytest.raises(ValueError, match="not legal"):
            env.step(jax.random.key(12), state, bad)
        with pytest.raises(ValueError, match="not legal"):
            env.step_autoreset(jax.random.key(12), state, bad)
    with pytest.raises(ValueError, match="scalar"):
        env.step(jax.random.key(12), state, jnp.array([1, 2]))
    step = jax.jit(env.step)
    call, _ = step(jax.random.key(12), state, 1)
    raise_, _ = step(jax.random.key(12), state, 2)
    assert int(call.history) != int(raise_.history)
    for bad in (0, -1, 3, 100):
        replaced, _ = step(jax.random.key(12), state, bad)
        assert int(replaced.history) == int(call.history), bad
    auto, _ = jax.jit(env.step_autoreset)(jax.random.key(12), state, 0)
    assert int(auto.history) == int(call.history)


@pytest.mark.slow
def test_batch_of_1024_in_one_jitted_call_and_vmap_over_games():
    env = _env("leduc")
    keys = jax.random.split(jax.random.key(13), 1024)
    states, ts = jax.jit(jax.vmap(env.reset))(keys)
    assert states.history.shape == (1024,) and ts.observation.shape == (1024, env.observation_size)

    @jax.jit
    def play(keys, states):
        k_act, k_env = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
        actions = jax.vmap(env.sample_action)(k_act, states)
        return jax.vmap(env.step)(k_env, states, actions)

    for t in range(3):
        states, ts = play(jax.random.split(jax.random.key(14 + t), 1024), states)
    assert ts.rewards.shape == (1024, 2) and ts.legal_action_mask.shape == (1024, 3)
    live = ~np.asarray(states.terminated)
    assert live.any() and np.all(np.asarray(states.current_player)[live] >= 0)
    # policy sampling, batched
    policy = env.game.uniform_policy()
    a = jax.jit(jax.vmap(lambda k, s: env.sample_action(k, s, policy)))(keys, states)
    assert np.all(np.take_along_axis(np.asarray(states.legal_action_mask), np.asarray(a)[:, None], 1)[live])

    # a batch of Kuhn variants (bet sizes) with one environment: rewards scale with the bet
    kuhn = _env("kuhn")
    bets = jnp.array([1.0, 2.0, 3.0])
    games = jax.vmap(lambda b: jaxgames.kuhn_poker(bet=b))(bets)
    keys = jax.random.split(jax.random.key(15), 3)
    states, _ = jax.jit(jax.vmap(kuhn.reset))(keys, games)
    same = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x[0], x.shape), states)  # one deal for all
    step = jax.jit(jax.vmap(kuhn.step))
    states, _ = step(keys, same, jnp.ones(3, jnp.int32), games)  # bet
    states, ts = step(keys, states, jnp.ones(3, jnp.int32), games)  # call
    assert np.all(np.asarray(ts.done))
    np.testing.assert_allclose(np.abs(np.asarray(ts.rewards[:, 0])), 1.0 + np.asarray(bets))
    with pytest.raises(ValueError, match="same tree"):
        kuhn.reset(keys[0], jaxgames.leduc_poker())


# -- OpenSpiel's information-state and observation tensors ----------------------------------------
_SPIEL = {"kuhn": "kuhn_poker", "kuhn3": "kuhn_poker(players=3)", "leduc": "leduc_poker"}


@functools.cache
def _tensor_env(name):
    if name == "kuhn_openspiel":
        return EFGEnv(jaxgames.efg.from_openspiel("kuhn_poker")), "kuhn_poker"
    return _env(name), _SPIEL[name]


def _spiel_tensors(tree, spiel_game):
    """Walk pyspiel's game and our tree in lockstep: pyspiel's tensors ``[H, N, D]`` at every history
    (NaN at chance histories, where the env never stands) and which histories are chance nodes."""
    n, h_count = spiel_game.num_players(), tree.num_histories
    info = np.full((h_count, n, spiel_game.information_state_tensor_size()), np.nan, np.float32)
    obs = np.full((h_count, n, spiel_game.observation_tensor_size()), np.nan, np.float32)
    chance = np.zeros(h_count, bool)
    stack = [(0, spiel_game.new_initial_state())]
    while stack:
        h, state = stack.pop()
        if state.is_chance_node():
            chance[h] = True
            actions = [a for a, _ in state.chance_outcomes()]
        else:
            info[h] = [state.information_state_tensor(p) for p in range(n)]
            obs[h] = [state.observation_tensor(p) for p in range(n)]
            actions = state.legal_actions()  # [] at terminals
        for a in actions:
            stack.append((int(tree.children[h, a]), state.child(a)))
    return info, obs, chance


@pytest.mark.requires_pyspiel
@pytest.mark.parametrize("name", ["kuhn", "kuhn3", "leduc", "kuhn_openspiel"])
def test_tensor_tables_and_env_equal_openspiel_at_every_history_for_every_player(name):
    import pyspiel

    env, spiel_name = _tensor_env(name)
    spiel_game, tree = pyspiel.load_game(spiel_name), env.tree
    assert env.information_state_tensor_size == spiel_game.information_state_tensor_size()
    assert env.observation_tensor_size == spiel_game.observation_tensor_size()
    assert tree.information_state_tensor_shape == tuple(spiel_game.information_state_tensor_shape())
    info, obs, chance = _spiel_tensors(tree, spiel_game)
    # the tables hold exactly the decision and terminal histories
    visited = np.nonzero(~chance)[0]
    np.testing.assert_array_equal(tree.tensor_row[chance], -1)
    np.testing.assert_array_equal(np.sort(tree.tensor_row[visited]), np.arange(len(visited)))
    assert tree.information_state_tensors.dtype == np.float32
    np.testing.assert_array_equal(tree.information_state_tensors[tree.tensor_row[visited]], info[visited])
    np.testing.assert_array_equal(tree.observation_tensors[tree.tensor_row[visited]], obs[visited])
    # the env's gathers, every visited history x every player in one jitted call (broadcast batch axes)
    actor = env._nodes[:, env._width]
    states = EFGState(
        history=jnp.asarray(visited)[:, None],
        current_player=jnp.asarray(actor[visited])[:, None],
        infoset=None,
        legal_action_mask=None,
        rewards=None,
        terminated=None,
        step_count=None,
    )
    players = jnp.arange(tree.num_players)[None, :]
    got_info, got_obs = jax.jit(lambda s, p: (env.information_state_tensor(s, p), env.observation_tensor(s, p)))(
        states, players
    )
    np.testing.assert_array_equal(got_info, info[visited])
    np.testing.assert_array_equal(got_obs, obs[visited])
    # default player: the acting one (zeros at terminals)
    acting = jax.jit(env.information_state_tensor)(states)[:, 0]
    decision = actor[visited] >= 0
    np.testing.assert_array_equal(acting[decision], info[visited[decision], actor[visited[decision]]])
    np.testing.assert_array_equal(acting[~decision], 0.0)


@pytest.mark.requires_pyspiel
def test_native_kuhn_and_openspiel_kuhn_share_tables():
    """Both builds record the same tables (the trees enumerate histories in the same order)."""
    native, _ = _tensor_env("kuhn")
    converted, _ = _tensor_env("kuhn_openspiel")
    np.testing.assert_array_equal(native.tree.children, converted.tree.children)
    np.testing.assert_array_equal(native.tree.information_state_tensors, converted.tree.information_state_tensors)
    np.testing.assert_array_equal(native.tree.observation_tensors, converted.tree.observation_tensors)


@pytest.mark.slow
def test_tensors_of_a_jitted_vmapped_episode_are_the_table_rows_of_the_histories_visited():
    """Leduc, 64 environments stepped (plain ``step``: terminals are absorbing and visited) with random
    actions: the TimeStep observation and both tensors of every player equal the table rows."""
    env = _env("leduc", autoreset=False)
    tree, n = env.tree, env.num_players
    steps = env.max_episode_length + 1

    @jax.jit
    def play(key):
        keys = jax.random.split(key, 64)
        states, ts = jax.vmap(env.reset)(keys)

        def body(states, key):
            k = jax.random.split(key, 2 * 64)
            k_act, k_env = k[:64], k[64:]
            actions = jax.vmap(env.sample_action)(k_act, states)
            states, ts = jax.vmap(env.step)(k_env, states, actions)
            every = jax.vmap(
                lambda s: (
                    jax.vmap(lambda p: env.information_state_tensor(s, p))(jnp.arange(n)),
                    jax.vmap(lambda p: env.observation_tensor(s, p))(jnp.arange(n)),
                )
            )(states)
            return states, (states.history, states.current_player, ts.observation, *every)

        return jax.lax.scan(body, states, jax.random.split(key, steps))[1]

    history, player, observation, info, obs = map(np.asarray, play(jax.random.key(21)))
    assert info.shape == (steps, 64, n, 30) and obs.shape == (steps, 64, n, 16)
    assert tree.is_terminal[history[-1]].all() and (player >= 0).any()  # decisions and terminals both seen
    rows = tree.tensor_row[history]
    assert np.all(rows >= 0)
    np.testing.assert_array_equal(info, tree.information_state_tensors[rows])
    np.testing.assert_array_equal(obs, tree.observation_tensors[rows])
    acting = player >= 0
    np.testing.assert_array_equal(observation[acting], info[acting, player[acting]])
    np.testing.assert_array_equal(observation[~acting], 0.0)
    # a rollout's Trajectory is a state too: its tensors are the rows of the histories acted at
    _, _, _, traj = _play("leduc", False)
    got = np.asarray(jax.jit(env.information_state_tensor)(traj.state))
    rows = tree.tensor_row[traj.state.history]
    np.testing.assert_array_equal(got, tree.information_state_tensors[rows, traj.state.current_player])


@pytest.mark.slow
def test_observation_kinds_and_payoff_variants_share_the_tables():
    kuhn = jaxgames.kuhn_poker()
    key = jax.random.key(22)
    for kind, size, method in [
        ("observation_tensor", 7, "observation_tensor"),
        ("infoset_one_hot", 10, "infoset_one_hot"),
        ("information_state_tensor", 11, "information_state_tensor"),
    ]:
        env = EFGEnv(kuhn, observation=kind)
        state, ts = env.reset(key)
        assert env.observation_kind == kind and env.observation_size == size == ts.observation.shape[-1]
        np.testing.assert_array_equal(ts.observation, getattr(env, method)(state))
        np.testing.assert_array_equal(env.observe(state, 1), getattr(env, method)(state, 1))
    # the chip counts of the observation tensor are OpenSpiel's whatever the bet size (tree-only tables)
    env = _env("kuhn")
    games = jax.vmap(lambda b: jaxgames.kuhn_poker(bet=b))(jnp.array([1.0, 3.0]))
    states, _ = jax.jit(jax.vmap(env.reset, in_axes=(None, 0)))(key, games)
    states, ts = jax.jit(jax.vmap(env.step, in_axes=(None, 0, None, 0)))(key, states, 1, games)  # 0 bets
    np.testing.assert_array_equal(ts.observation[0], ts.observation[1])
    np.testing.assert_array_equal(env.observation_tensor(states, 0)[:, 5:], [[2.0, 1.0], [2.0, 1.0]])


@pytest.mark.slow
def test_tensor_bad_input():
    gamble = EFGEnv(jaxgames.efg.EFGGame(jaxgames.efg.build_tree(_GambleGame()), name="gamble"))
    assert gamble.tree.information_state_tensors is None and gamble.information_state_tensor_size is None
    assert gamble.observation_kind == "infoset_one_hot" and gamble.observation_size == 2 + 2 + 2
    state, ts = gamble.reset(jax.random.key(23))
    assert ts.observation.shape == (6,)
    with pytest.raises(ValueError, match="information_state_tensor: gamble's tree has no information_state_tensor"):
        gamble.information_state_tensor(state)
    with pytest.raises(ValueError, match="observation_tensor: gamble's tree has no observation_tensor"):
        gamble.observation_tensor(state, 0)
    with pytest.raises(ValueError, match="observation: gamble's tree has no observation_tensor"):
        EFGEnv(gamble.game, observation="observation_tensor")
    with pytest.raises(ValueError, match="observation: expected one of"):
        EFGEnv(jaxgames.kuhn_poker(), observation="pixels")
    env = _env("kuhn")
    state, _ = env.reset(jax.random.key(24))
    for bad in (2, -1, [0, 5]):
        with pytest.raises(ValueError, match=r"player: expected ids in 0\.\.1"):
            env.information_state_tensor(state, bad)
    with pytest.raises(ValueError, match="player: expected an integer"):
        env.observation_tensor(state, 0.5)
    lazy = jaxgames.efg.build_tree(jaxgames.efg.rules.kuhn_poker_rules())
    assert not lazy._tensors  # the walk itself records nothing: read on first access
    assert lazy.observation_tensors.shape == (54, 2, 7) and lazy.information_state_tensor_shape == (11,)
    bare = jaxgames.efg.build_tree(jaxgames.efg.rules.kuhn_poker_rules(), tensors=False)
    assert bare.tensor_row is None and bare.observation_tensors is None
    with pytest.raises(ValueError, match="tensors=False"):
        EFGEnv(jaxgames.efg.EFGGame(bare)).observation_tensor(state)
