"""Policy-space response oracles (PSRO; Lanctot et al. 2017) on extensive-form and Markov games.

Lanctot, Zambaldi, Gruslys, Lazaridou, Tuyls, Perolat, Silver & Graepel (2017), "A unified
game-theoretic approach to multiagent reinforcement learning" (NeurIPS); with the exact oracle and a
Nash meta-solver it is the double-oracle algorithm (McMahan, Gordon & Blum 2003). Each player ``i``
keeps a population of tabular policies ``pi_i^1..pi_i^n``; the meta-game is the normal-form game
``M[i, k_1, ..., k_N] = u_i(pi_1^{k_1}, ..., pi_N^{k_N})`` between them. One ``step``:

1. every player ``i`` adds ``BR_i(sigma_-i)``, a pure best response to the other players'
   meta-strategy mixtures (``oracle``: ``"exact"``, ``"sampled"`` or ``"neural"``);
2. the new meta-game entries are filled in (``meta_game``: ``game.evaluate`` or simulated returns);
3. ``meta_steps`` iterations of the matrix solver ``meta_solver`` on the meta-game give the new
   meta-strategy ``sigma``;
4. the output is ``sigma``'s mixture as one behaviour policy,
   ``pi_i(a | x) ∝ sum_k sigma_k w_k(x) pi_i^k(a | x)`` with ``w_k`` member ``k``'s own reach
   (extensive-form games: exact, by Kuhn's theorem) or state occupancy (Markov games).

The population has a fixed capacity ``K = max_policies``; unused slots are padded with the uniform
mixture of the real policies, which leaves the meta-game's equilibria and NashConv unchanged. The
padding, the sampled oracle, the Markov-game caveat and measurements are in the guide
("Sample-based learners", PSRO). With ``oracle="sampled"`` it learns from the simulators only.

Shapes: ``PSROExtra.population[i]`` ``[K, *legal_mask()[i].shape]``, ``meta_payoffs``
``[N, K, ..., K]``, ``meta_strategy`` ``[N, K]`` (zero beyond ``size``).

Example::

    import jax, jaxgames, solvers
    solver = solvers.psro(meta_solver="regret_matching_plus", oracle="exact", max_policies=8)
    state, trace = solvers.run(solver, jaxgames.kuhn_poker(), 7)
    trace.nash_conv[-1]         # ~6e-4 after 7 steps
    sampled = solvers.psro(oracle="sampled", max_policies=8, oracle_episodes=16384, num_episodes=1024)
    state, trace = solvers.run(sampled, jaxgames.kuhn_poker(), 7, key=jax.random.key(0))
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import rng, simplex
from jaxgames.core import Game, Policy
from jaxgames.efg.game import EFGGame
from jaxgames.env import make_env
from jaxgames.markov.game import MarkovGame
from jaxgames.matrix.game import MatrixGame
from solvers.core import Solver, SolverState, cached_factory, check_choice, check_int, check_number, check_solver_key

ORACLES = ("exact", "sampled", "neural")
META_GAMES = ("exact", "sampled")


class PSROExtra(NamedTuple):
    """PSRO's solver-specific state (``SolverState.extra``)."""

    population: Policy  # per player [K, *policy_shape_i]; unused slots hold the uniform policy
    size: jax.Array  # int32 []: policies in use per player (1 + steps, capped at K)
    meta_payoffs: jax.Array  # [N, K, ..., K]: u_i of the population profile; valid on [0, size)^N
    # once a step ran (init leaves zeros)
    meta_strategy: jax.Array  # [N, K]: each player's meta-strategy, zero beyond size
    key: jax.Array  # PRNG key (a fixed placeholder when nothing is sampled)
    own_parent: tuple  # per player int32 [num_infosets_i]: the own sequence 1 + I*A + a that led
    # to each information set as seen in the simulator (0: none; -1: unseen)


# ----------------------------------------------------------------------------- the meta-game


def _meta_solver(meta_solver) -> Solver:
    if isinstance(meta_solver, Solver):
        return meta_solver
    import solvers  # late: the package registers this module

    unusable = getattr(solvers, "MARKOV_SOLVERS", ()) + getattr(solvers, "EFG_SOLVERS", ())
    names = sorted(name for name, factory in solvers.SOLVERS.items() if name not in unusable and factory is not psro)
    if not isinstance(meta_solver, str) or meta_solver not in names:
        raise ValueError(
            f"meta_solver: expected a solvers.Solver or the name of a solver that runs on "
            f"matrix games, one of {names}, got {meta_solver!r}"
        )
    return solvers.SOLVERS[meta_solver]()


def lifting(size: jax.Array, capacity: int, dtype) -> jax.Array:
    """``L [K, K]``: row ``k < size`` is ``e_k``, every row ``k >= size`` the uniform mixture of the first ``size``."""
    k = jnp.arange(capacity)
    real = (k < size).astype(dtype)
    return jnp.where((k < size)[:, None], jnp.eye(capacity, dtype=dtype), real[None, :] / size.astype(dtype))


def padded_meta_game(meta_payoffs: jax.Array, size: jax.Array) -> MatrixGame:
    """The ``K x ... x K`` matrix game equivalent to the restricted ``size x ... x size`` meta-game.

    Every player's axis is contracted with ``lifting(size)``: unused slots become the uniform
    mixture of the used ones (see the module docstring)."""
    n, capacity = meta_payoffs.shape[0], meta_payoffs.shape[1]
    lift = lifting(size, capacity, meta_payoffs.dtype)
    padded = meta_payoffs
    for axis in range(1, n + 1):
        padded = jnp.moveaxis(jnp.tensordot(lift, padded, axes=[[1], [axis]]), 0, axis)
    return MatrixGame(padded)


def fold(strategies: Policy, size: jax.Array) -> jax.Array:
    """``[N, K]``: mixed strategies of the padded meta-game mapped to the restricted one (``L^T s``)."""
    capacity = strategies[0].shape[0]
    lift = lifting(size, capacity, strategies[0].dtype)
    return jnp.stack([s @ lift for s in strategies])


def solve_meta_game(
    meta: Solver, meta_payoffs: jax.Array, size: jax.Array, meta_steps: int, key: jax.Array
) -> jax.Array:
    """``[N, K]``: ``meta_steps`` iterations of ``meta`` on the padded meta-game, folded back."""
    game = padded_meta_game(meta_payoffs, size)
    try:
        state = meta.init(game, None)
    except ValueError as err:  # a sample-based meta-solver asks for a key
        if not str(err).startswith("key"):
            raise
        state = meta.init(game, key)
    state = jax.lax.fori_loop(0, meta_steps, lambda _, s: meta.step(game, s), state)
    return fold(meta.output(state), size)


def meta_nash_conv(meta_payoffs: jax.Array, meta_strategy: jax.Array, size: jax.Array) -> jax.Array:
    """NashConv of ``meta_strategy`` in the restricted meta-game (how well the meta-solver did)."""
    game = padded_meta_game(meta_payoffs, size)
    return game.nash_conv(tuple(meta_strategy))


def _profiles(num_players: int, capacity: int, player: int, index: jax.Array) -> jax.Array:
    """``[K^(N-1), N]``: every population profile in which ``player`` plays slot ``index``."""
    others = np.indices((capacity,) * (num_players - 1)).reshape(num_players - 1, -1)
    cols = [jnp.asarray(c, jnp.int32) for c in others]
    cols.insert(player, jnp.full((others.shape[1],), index, jnp.int32))
    return jnp.stack(cols, axis=1)


def _gather_profile(population: Policy, members: jax.Array) -> Policy:
    return tuple(pop[members[j]] for j, pop in enumerate(population))


# ----------------------------------------------------------------------------- behaviour mixtures


def mixture(population: Policy, sigma: jax.Array, reach: Policy) -> Policy:
    """Per player ``sum_k sigma_k r_k pi^k / sum_k sigma_k r_k`` at every decision point.

    ``population[i]`` ``[K, *D_i, A]``, ``sigma`` ``[N, K]``, ``reach[i]`` ``[K, *D_i]`` (the
    weight of member ``k`` at each decision point); where no member has weight, the
    ``sigma``-average ``sum_k sigma_k pi^k``.
    """
    out = []
    for pop, s, r in zip(population, sigma, reach):
        w = s.reshape((-1,) + (1,) * (r.ndim - 1)) * r
        total = jnp.sum(w, axis=0)
        num = jnp.einsum("k...,k...a->...a", w, pop)
        plain = jnp.einsum("k,k...a->...a", s, pop)
        out.append(jnp.where(total[..., None] > 0, num / jnp.where(total > 0, total, 1.0)[..., None], plain))
    return tuple(out)


def own_reach(policy: jax.Array, parent: jax.Array, depth: int) -> jax.Array:
    """``[n_I]``: own reach of every information set from the own-sequence structure ``parent``.

    ``parent[I]`` is the sequence ``1 + I' * A + a`` leading to ``I`` (``0``: none; ``-1``: unknown,
    treated as none). ``depth`` rounds of ``r(I) = r(I') pi(a | I')`` are exact for own depth
    ``<= depth``."""

    def body(_, r):
        plan = jnp.concatenate([jnp.ones((1,), policy.dtype), (r[:, None] * policy).reshape(-1)])
        return jnp.where(parent > 0, plan[jnp.maximum(parent, 0)], 1.0)

    return jax.lax.fori_loop(0, depth, body, jnp.ones(parent.shape, policy.dtype))


def markov_occupancy(transitions: jax.Array, initial: jax.Array, policy: jax.Array, discount, steps: int) -> jax.Array:
    """``[S]``: ``sum_{t < steps} discount^t Pr(s_t = s)`` of ``policy [S, A]`` in the decision
    process ``transitions [S, A, S']`` from ``initial [S]`` (rows may sum to less than 1)."""
    chain = jnp.einsum("sa,sat->st", policy, transitions)

    def body(carry, _):
        mu, total, weight = carry
        return (mu @ chain, total + weight * mu, weight * discount), None

    one = jnp.ones((), initial.dtype)
    (_, total, _), _ = jax.lax.scan(body, (initial, jnp.zeros_like(initial), one), None, length=steps)
    return total


# ----------------------------------------------------------------------------- the simulators
# Every call into a simulator (``jaxgames.make_env(..., autoreset=False)``) is in ``_play_efg`` /
# ``_play_markov``.


class EFGEpisodes(NamedTuple):
    """``_play_efg``'s records, ``[E, L]`` per decision (``L`` = the longest episode's decisions)."""

    acting: jax.Array  # bool: a player decided at this step (the episode was not over)
    player: jax.Array  # int32: who decided
    infoset: jax.Array  # int32: at which of its information sets
    action: jax.Array  # int32: the action taken
    previous: jax.Array  # int32: the decider's own sequence 1 + I*A + a before this decision (0: none)
    last: jax.Array  # int32 [E, N]: each player's last own sequence in the episode (0: none)
    returns: jax.Array  # float [E, N]: the episode's payoffs


def _play_efg(key: jax.Array, game: EFGGame, population: Policy, members: jax.Array) -> EFGEpisodes:
    """``E = len(members)`` episodes of ``jaxgames.efg.env``; in episode ``e`` player ``j`` plays
    ``population[j][members[e, j]]`` (``population[j]`` ``[K_j, n_I, A]``)."""
    env = make_env(game, autoreset=False)
    n, num_actions, length = game.num_players, game.tree.max_actions, env.max_episode_length

    def episode(key, member):
        k_reset, k_act, k_env = jax.random.split(key, 3)
        state, _ = env.reset(k_reset, game)
        # random numbers drawn up front: one generator call per step (the simulator's) in the loop
        draws = jax.random.uniform(k_act, (length,), population[0].dtype)

        def body(carry, inputs):
            state, last = carry
            u, k = inputs
            row = jnp.zeros((num_actions,), population[0].dtype)
            for j, pop in enumerate(population):
                mine = pop[member[j], jnp.clip(state.infoset, 0, pop.shape[1] - 1)]
                row = jnp.where(state.current_player == j, mine, row)
            action = simplex.draw(u, jnp.where(state.legal_action_mask, row, 0.0))
            acting = ~state.terminated
            player = jnp.clip(state.current_player, 0, n - 1)
            record = (acting, player, state.infoset, action, last[player])
            mine = acting & (jnp.arange(n) == state.current_player)
            last = jnp.where(mine, 1 + state.infoset * num_actions + action, last)
            state, ts = env.step(k, state, action, game)
            return (state, last), (record, ts.rewards)

        (_, last), (record, rewards) = jax.lax.scan(
            body, (state, jnp.zeros((n,), jnp.int32)), (draws, jax.random.split(k_env, length))
        )
        return (*record, last, jnp.sum(rewards, axis=0))

    out = jax.vmap(episode)(jax.random.split(key, members.shape[0]), members)
    return EFGEpisodes(*out)


class MarkovEpisodes(NamedTuple):
    """``_play_markov``'s records, ``[E, T]`` per step (``T = rollout_steps``)."""

    live: jax.Array  # bool: the episode was still running
    state: jax.Array  # int32: the state acted in
    actions: jax.Array  # int32 [E, T, N]
    rewards: jax.Array  # float [E, T, N]
    next_state: jax.Array  # int32
    returns: jax.Array  # float [E, N]: discounted returns of the (truncated) episodes


def _play_markov(
    key: jax.Array, game: MarkovGame, population: Policy, members: jax.Array, rollout_steps: int
) -> MarkovEpisodes:
    """``E = len(members)`` episodes of ``jaxgames.markov.env`` of at most ``rollout_steps`` steps; in
    episode ``e`` player ``j`` plays ``population[j][members[e, j]]`` (``[K_j, S, A_j]``)."""
    env = make_env(game, max_episode_steps=rollout_steps, autoreset=False)
    n = game.num_players

    def episode(key, member):
        k_reset, k_act, k_env = jax.random.split(key, 3)
        state, _ = env.reset(k_reset, game)
        draws = rng.uniform(k_act, (rollout_steps, n), population[0].dtype)

        def body(state, inputs):
            u, k = inputs
            actions = jnp.stack([simplex.draw(u[j], pop[member[j], state.state]) for j, pop in enumerate(population)])
            new, ts = env.step(k, state, actions, game)
            discount = game.discount**state.step_count
            return new, (~state.done, state.state, actions, ts.rewards, new.state, discount * ts.rewards)

        _, (live, s, actions, rewards, nxt, discounted) = jax.lax.scan(
            body, state, (draws, jax.random.split(k_env, rollout_steps))
        )
        return live, s, actions, rewards, nxt, jnp.sum(discounted, axis=0)

    out = jax.vmap(episode)(jax.random.split(key, members.shape[0]), members)
    return MarkovEpisodes(*out)


# ----------------------------------------------------------------------------- sample-based estimates


def _sampled_payoffs(
    key: jax.Array, game: Game, population: Policy, profiles: jax.Array, num_episodes: int, rollout_steps: int
) -> jax.Array:
    """``[P, N]``: mean return of ``num_episodes`` simulated episodes of each profile ``[P, N]``."""
    members = jnp.repeat(profiles, num_episodes, axis=0)
    if isinstance(game, MarkovGame):
        returns = _play_markov(key, game, population, members, rollout_steps).returns
    else:
        returns = _play_efg(key, game, population, members).returns
    return jnp.mean(returns.reshape(profiles.shape[0], num_episodes, -1), axis=1)


def _efg_response(episodes: EFGEpisodes, i: int, legal: jax.Array, depth: int):
    """Player ``i``'s certainty-equivalence best response from episodes in which it explored;
    returns ``(pure policy [n_I, A], parent [n_I] seen in these episodes (-1: unseen))``."""
    n_infosets, num_actions = legal.shape
    num_sequences = 1 + n_infosets * num_actions
    dtype = episodes.returns.dtype
    mine = (episodes.acting & (episodes.player == i)).reshape(-1)
    infoset = jnp.where(mine, episodes.infoset.reshape(-1), 0)
    sequence = 1 + infoset * num_actions + episodes.action.reshape(-1)
    visits = jax.ops.segment_sum(mine.astype(dtype), jnp.where(mine, sequence, 0), num_sequences)
    arrivals = jax.ops.segment_sum(mine.astype(dtype), infoset, n_infosets)
    parent = jax.ops.segment_max(jnp.where(mine, episodes.previous.reshape(-1), -1), infoset, n_infosets)
    parent = jnp.where(arrivals > 0, parent, -1)
    # returns of the episodes whose last own decision was (I, a); sequence 0: i never decided
    ending = jax.ops.segment_sum(episodes.returns[:, i], episodes.last[:, i], num_sequences)
    tried = (visits[1:] > 0).reshape(n_infosets, num_actions) & legal

    def action_values(value):
        below = jax.ops.segment_sum(arrivals * value, jnp.maximum(parent, 0), num_sequences)
        q = (ending + below) / jnp.maximum(visits, 1.0)
        return q[1:].reshape(n_infosets, num_actions)

    def backup(_, value):
        q = jnp.where(tried, action_values(value), -jnp.inf)
        return jnp.where(jnp.any(tried, axis=-1), jnp.max(q, axis=-1), 0.0)

    value = jax.lax.fori_loop(0, depth, backup, jnp.zeros((n_infosets,), dtype))
    q = action_values(value)
    choice = jnp.where(jnp.any(tried, axis=-1, keepdims=True), tried, legal)
    return simplex.one_hot_argmax(q, choice), parent


def _markov_response(episodes: MarkovEpisodes, i: int, num_states: int, num_actions: int, discount, backups: int):
    """Player ``i``'s certainty-equivalence best response ``[S, A_i]`` (one-hot) from episodes in
    which it explored: ``backups`` rounds of value iteration on the empirical ``P(s' | s, a_i)``
    and rewards. Also returns that empirical model ``(P [S, A_i, S'], initial [S])``."""
    dtype = episodes.rewards.dtype
    live = episodes.live.reshape(-1).astype(dtype)
    pair = (episodes.state * num_actions + episodes.actions[..., i]).reshape(-1)
    size = num_states * num_actions
    visits = jax.ops.segment_sum(live, pair, size)
    rewards = jax.ops.segment_sum(live * episodes.rewards[..., i].reshape(-1), pair, size)
    moves = jax.ops.segment_sum(live, pair * num_states + episodes.next_state.reshape(-1), size * num_states)
    norm = jnp.maximum(visits, 1.0)
    r_hat = (rewards / norm).reshape(num_states, num_actions)
    p_hat = (moves.reshape(size, num_states) / norm[:, None]).reshape(num_states, num_actions, num_states)
    tried = (visits > 0).reshape(num_states, num_actions)

    def action_values(value):
        return r_hat + discount * p_hat @ value

    def backup(_, value):
        q = jnp.where(tried, action_values(value), -jnp.inf)
        return jnp.where(jnp.any(tried, axis=-1), jnp.max(q, axis=-1), 0.0)

    value = jax.lax.fori_loop(0, backups, backup, jnp.zeros((num_states,), dtype))
    choice = jnp.where(jnp.any(tried, axis=-1, keepdims=True), tried, True)
    initial = jnp.mean(jax.nn.one_hot(episodes.state[:, 0], num_states, dtype=dtype), axis=0)
    return simplex.one_hot_argmax(action_values(value), choice), (p_hat, initial)


def _sampled_best_responses(
    key: jax.Array, game: Game, extra: PSROExtra, behaviour: Policy, oracle_episodes: int, rollout_steps: int
):
    """Every player's sampled best response to the others' meta-strategy mixtures, and what was
    learned on the way: per player the own sequence structure (``own_parent``, extensive-form
    games) or the empirical decision process ``(P [S, A_i, S'], initial [S])`` (Markov games).

    All players' episodes are one simulator call: every population gets two extra members, the
    uniform policy (slot ``K``: the learner explores) and the behaviour mixture (slot ``K + 1``)."""
    n, capacity = game.num_players, extra.population[0].shape[0]
    k_play, k_draw = jax.random.split(key)
    population = tuple(
        jnp.concatenate([pop, u[None], b[None].astype(pop.dtype)])
        for pop, u, b in zip(extra.population, game.uniform_policy(), behaviour)
    )
    markov_game = isinstance(game, MarkovGame)
    if markov_game:
        # the others play their stationary behaviour mixtures: the learner faces an MDP
        others = jnp.full((oracle_episodes, n), capacity + 1, jnp.int32)
    else:
        # each opponent draws one member per episode from its meta-strategy: its mixed strategy
        draws = rng.uniform(k_draw, (oracle_episodes, n), extra.meta_strategy.dtype)
        others = jnp.stack([simplex.draw(draws[:, j], extra.meta_strategy[j]) for j in range(n)], axis=1)
    members = jnp.concatenate([others.at[:, i].set(capacity) for i in range(n)])
    if markov_game:
        episodes = _play_markov(k_play, game, population, members, rollout_steps)
    else:
        episodes = _play_efg(k_play, game, population, members)
    responses, learned = [], []
    for i in range(n):
        mine = jax.tree_util.tree_map(lambda x: x[i * oracle_episodes : (i + 1) * oracle_episodes], episodes)
        if markov_game:
            response, model = _markov_response(
                mine, i, game.num_states, game.num_actions[i], game.discount, _markov_steps(game, rollout_steps)
            )
            learned.append(model)
        else:
            response, parent = _efg_response(mine, i, game.legal_mask()[i], int(game.tree.max_depth))
            learned.append(jnp.where(parent >= 0, parent, extra.own_parent[i]))
        responses.append(response)
    return tuple(responses), tuple(learned)


def _neural_best_responses(key: jax.Array, game: Game, behaviour: Policy, learner, oracle_steps: int) -> Policy:
    """Every player's reinforcement-learning best response to the others' behaviour mixture: a fresh
    network trained by ``oracle_steps`` PPO updates (``solvers.neural.policy_gradient``) on
    episodes in which the others play ``behaviour`` (their meta-strategy mixture, which plays
    exactly like their mixed strategy in an extensive-form game) and only player ``i``'s decisions
    are learned from. The response is the network's policy at every decision point."""
    from solvers.neural.common import decision_points, split_policy, stack_policy

    solver, update = learner
    points = decision_points(game)
    fixed = stack_policy(game, behaviour)
    responses = []
    for i, k in enumerate(jax.random.split(key, game.num_players)):
        mine = points.player == i
        k_init, k_train = jax.random.split(k)
        start = solver.init(game, k_init).extra

        def body(carry, k_step, mine=mine):
            params, opt_state, table = carry
            played = jnp.where(mine[:, None], table, fixed.astype(table.dtype))
            return update(game, params, opt_state, k_step, played, start.magnet, learner=mine), None

        (_, _, table), _ = jax.lax.scan(
            body, (start.params, start.opt_state, start.table), jax.random.split(k_train, oracle_steps)
        )
        responses.append(split_policy(game, table.astype(fixed.dtype))[i])
    return tuple(responses)


def _markov_steps(game: MarkovGame, rollout_steps: int) -> int:
    return rollout_steps if game.horizon is None else game.horizon


def _mixing_weights(
    game: Game, population: Policy, responded_to: Policy, learned, sampled: bool, rollout_steps: int
) -> Policy:
    """Per player ``[K, *D_i]``: each member's weight at each decision point in ``mixture``.

    Extensive-form games: own reach, from ``game.reach`` (exact oracle) or from the own sequence
    structure seen in the simulator (``learned``: ``own_parent``). Markov games: the discounted
    state occupancy of the member against the others' behaviour the oracle responded to
    (``responded_to``), from ``game.reach`` (exact oracle) or in the empirical decision process
    the sampled oracle estimated (``learned``)."""
    if isinstance(game, EFGGame):
        if not sampled:
            return jax.vmap(game.reach)(population)
        depth = int(game.tree.max_depth)  # a bound on every player's own depth
        return tuple(
            jax.vmap(lambda p, par=par: own_reach(p, par, depth))(pop) for pop, par in zip(population, learned)
        )
    weights = []
    for i, pop in enumerate(population):
        if sampled:
            transitions, initial = learned[i]
            steps = _markov_steps(game, rollout_steps)
            occupancy = lambda p, P=transitions, mu=initial: markov_occupancy(P, mu, p, game.discount, steps)
        else:
            occupancy = lambda p, i=i: game.reach(responded_to[:i] + (p,) + responded_to[i + 1 :])[i]
        weights.append(jax.vmap(occupancy)(pop))
    return tuple(weights)


# ----------------------------------------------------------------------------- the solver


def _check_game(game) -> None:
    if not isinstance(game, (EFGGame, MarkovGame)):
        raise ValueError(
            f"game: PSRO runs on extensive-form (EFGGame) and Markov (MarkovGame) games, got "
            f"{type(game).__name__}; a matrix game is its own meta-game (solve it directly), and "
            f"mean-field games have no finite population of player policies here"
        )


@cached_factory
def psro(
    meta_solver="regret_matching_plus",
    oracle: str = "exact",
    max_policies: int = 32,
    meta_steps: int = 1000,
    meta_game: str | None = None,
    num_episodes: int = 256,
    oracle_episodes: int = 4096,
    rollout_steps: int = 100,
    oracle_steps: int = 100,
    oracle_hidden_sizes=(64,),
    oracle_learning_rate=3e-3,
) -> Solver:
    """Policy-space response oracles (Lanctot et al. 2017); see the module docstring.

    Args:
      meta_solver: the meta-game solver: a name from ``solvers.SOLVERS`` that runs on matrix games
        (not a Markov-only solver) or a ``Solver``; its ``output`` after ``meta_steps`` iterations
        on the padded meta-game is the meta-strategy.
      oracle: ``"exact"`` (``game.best_response`` of the mixture), ``"sampled"`` (certainty-equivalence
        Monte Carlo best response from ``oracle_episodes`` simulated episodes per player) or
        ``"neural"`` (a reinforcement-learning best response: a network of ``oracle_hidden_sizes``
        trained by ``oracle_steps`` PPO updates of ``oracle_episodes // 8`` episodes against the
        others' mixture; the mixing weights use the sampled oracle's exploration episodes, as
        ``"sampled"`` does).
      max_policies: population capacity ``K >= 1`` per player (static); the population holds the
        uniform policy plus one best response per step, so it is full after ``K - 1`` steps.
      meta_steps: meta-solver iterations per step (static).
      meta_game: ``"exact"`` (``game.evaluate``), ``"sampled"`` (``num_episodes`` simulated episodes per
        new entry) or ``None``: the same as ``oracle``.
      num_episodes: episodes per meta-game entry when ``meta_game="sampled"`` (static).
      oracle_episodes: episodes per player and step of the sampled oracle (static).
      rollout_steps: Markov games only: simulated episodes are truncated after this many steps, and the
        sampled oracle runs this many value-iteration backups (static).

    ``init(game, key)`` needs ``key`` whenever something is sampled. ``output`` is the meta-strategy
    mixture as one behaviour policy (``state.policy == state.average``).
    """
    check_choice(oracle, "oracle", ORACLES)
    meta_game = ("sampled" if oracle == "neural" else oracle) if meta_game is None else meta_game
    check_choice(meta_game, "meta_game", META_GAMES)
    capacity = check_int(max_policies, "max_policies", low=1)
    meta_steps = check_int(meta_steps, "meta_steps", low=1)
    num_episodes = check_int(num_episodes, "num_episodes", low=1)
    oracle_episodes = check_int(oracle_episodes, "oracle_episodes", low=1)
    rollout_steps = check_int(rollout_steps, "rollout_steps", low=1)
    oracle_steps = check_int(oracle_steps, "oracle_steps", low=1)
    check_number(oracle_learning_rate, "oracle_learning_rate", 0, low_open=True, schedule=True)
    meta = _meta_solver(meta_solver)
    sampled_oracle, sampled_meta = oracle in ("sampled", "neural"), meta_game == "sampled"
    learner = None
    if oracle == "neural":
        from solvers.neural.policy_gradient import build_learner

        learner = build_learner(
            "psro",
            oracle_hidden_sizes,
            max(oracle_episodes // 8, 1),
            oracle_learning_rate,
            num_minibatches=1,
            entropy_coef=0.0,
        )

    def payoffs(key, game, population, profiles):
        """``[P, N]`` meta-game entries of the population profiles ``[P, N]``."""
        if sampled_meta:
            return _sampled_payoffs(key, game, population, profiles, num_episodes, rollout_steps)
        return jax.vmap(lambda m: game.evaluate(_gather_profile(population, m)).values)(profiles)

    def behaviour(game, extra, responded_to, learned):
        weights = _mixing_weights(game, extra.population, responded_to, learned, sampled_oracle, rollout_steps)
        return mixture(extra.population, extra.meta_strategy, weights)

    def init(game: Game, key=None) -> SolverState:
        _check_game(game)
        if key is None and not (sampled_oracle or sampled_meta):
            key = jax.random.PRNGKey(0)  # a placeholder: nothing is drawn
        return start(game, check_solver_key(key, "psro with oracle or meta_game 'sampled'"))

    def start(game: Game, key: jax.Array) -> SolverState:
        n = game.num_players
        uniform = game.uniform_policy()
        population = tuple(jnp.broadcast_to(u, (capacity, *u.shape)) for u in uniform)
        dtype = uniform[0].dtype
        # the first step fills the meta-game (the all-zeros profile with the new entries)
        meta_payoffs = jnp.zeros((n,) + (capacity,) * n, dtype)
        sigma = jnp.zeros((n, capacity), dtype).at[:, 0].set(1.0)
        parents = tuple(jnp.full(m.shape[:-1], -1, jnp.int32) for m in game.legal_mask())
        extra = PSROExtra(
            population=population,
            size=jnp.ones((), jnp.int32),
            meta_payoffs=meta_payoffs,
            meta_strategy=sigma,
            key=key,
            own_parent=parents,
        )
        return SolverState(policy=uniform, average=uniform, step=jnp.zeros((), jnp.int32), extra=extra)

    def grow(game: Game, state: SolverState) -> SolverState:
        extra = state.extra
        n = game.num_players
        key, k_oracle, k_meta, k_solve = jax.random.split(extra.key, 4)
        if sampled_oracle:
            responses, learned = _sampled_best_responses(
                k_oracle, game, extra, state.policy, oracle_episodes, rollout_steps
            )
            if learner is not None:
                responses = _neural_best_responses(
                    jax.random.fold_in(k_oracle, 1), game, state.policy, learner, oracle_steps
                )
        else:
            responses, learned = game.best_response(state.policy), extra.own_parent
        parents = learned if isinstance(game, EFGGame) else extra.own_parent
        index = extra.size
        population = tuple(pop.at[index].set(br.astype(pop.dtype)) for pop, br in zip(extra.population, responses))
        meta_payoffs = extra.meta_payoffs
        # every profile with a new policy (player i's slice [..., index (axis i), ...]), and the first
        # policies' profile, which init leaves to the first step (re-estimated each step when sampled)
        profiles = jnp.concatenate(
            [_profiles(n, capacity, i, index) for i in range(n)] + [jnp.zeros((1, n), jnp.int32)]
        )
        values = payoffs(k_meta, game, population, profiles)
        meta_payoffs = meta_payoffs.at[(slice(None), *profiles.T)].set(values.T)
        size = index + 1
        sigma = solve_meta_game(meta, meta_payoffs, size, meta_steps, k_solve)
        extra = PSROExtra(
            population=population,
            size=size,
            meta_payoffs=meta_payoffs,
            meta_strategy=sigma,
            key=key,
            own_parent=parents,
        )
        policy = behaviour(game, extra, state.policy, learned)
        return SolverState(policy=policy, average=policy, step=state.step + 1, extra=extra)

    def step(game: Game, state: SolverState) -> SolverState:
        _check_game(game)
        if capacity == 1:
            return state.replace(step=state.step + 1)
        full = state.extra.size >= capacity
        return jax.lax.cond(full, lambda s: s.replace(step=s.step + 1), lambda s: grow(game, s), state)

    return Solver(init=init, step=step, output=lambda state: state.average)
