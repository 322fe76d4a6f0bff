"""Monte Carlo CFR: outcome sampling and external sampling, learned from the simulator only.

Lanctot, Waugh, Zinkevich & Bowling (2009), "Monte Carlo Sampling for Regret Minimization in
Extensive Games" (NeurIPS; Lanctot's 2013 thesis, ch. 4). Per information set ``I`` the solvers keep
cumulative regrets ``R[I, a]`` and strategy sums ``S[I, a]``; the current policy is regret matching,
``sigma(I) ∝ max(R[I], 0)`` (uniform when no regret is positive), and ``output`` is the average
strategy ``S[I] / sum(S[I])``. A traversal for the update player ``i`` samples part of the tree
through the simulator (``jaxgames.efg.env.EFGEnv``): outcome sampling plays one episode, ``i``
drawing from ``q = eps * uniform + (1 - eps) * sigma`` and the others from ``sigma``; external
sampling tries every action at ``i``'s nodes and samples one elsewhere. The sampled counterfactual
regrets it adds are unbiased for CFR's::

    outcome:   R[I_j, a] += u * prod_{l > j} (s_l / q_l) / prod_{l <= j} q_l * (1[a = a_j] - s_j)
               S[I_j, a] += prod_{l < j} (s_l / q_l) / prod_{opponent nodes before t_j} sigma(a) * sigma_j(a)
    external:  R[I, a]  += v(ha) - v(h)          at i's histories h of the sampled tree
               S[I', a] += sigma(I')(a)          at player (i + 1) mod N's histories ("simple" averaging)

(``u``: ``i``'s terminal payoff; ``q_j = q(a_j)``, ``s_j = sigma(a_j)`` at ``i``'s ``j``-th node;
``v``: sampled values backed up from the terminals.) One step runs ``batch_size`` traversals per
player, in turn (``alternating=True``) or all against the same ``sigma``; at ``batch_size=1`` it is
one OpenSpiel iteration. The estimators, the level-by-level traversal and the comparison with
OpenSpiel are explained in the guide ("Sample-based learners", Monte Carlo CFR).

Shapes: regrets and strategy sums per player ``[num_infosets_p, max_actions]``, like the policies;
``extra`` is an ``MCCFRState``. ``batch_size`` is static, ``exploration`` may be traced.

Example::

    import jax, jaxgames, solvers
    solver = solvers.outcome_sampling_mccfr(batch_size=64)
    state, trace = solvers.run(solver, jaxgames.kuhn_poker(), 300, key=jax.random.key(0))
    trace.nash_conv[-1]        # exact NashConv of the average strategy, ~0.02
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import rng, simplex
from jaxgames.core import Policy, as_float_array
from jaxgames.efg.env import EFGEnv, EFGState
from jaxgames.efg.game import EFGGame
from jaxgames.efg.tree import CHANCE, TERMINAL
from solvers.core import (
    Solver,
    SolverState,
    cached_factory,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_solver_key,
    initial_state,
)


class MCCFRState(NamedTuple):
    """``SolverState.extra`` of both MCCFR solvers."""

    regrets: Policy  # per player [num_infosets_p, max_actions]: cumulative sampled regrets
    strategy_sums: Policy  # per player [num_infosets_p, max_actions]: cumulative average-strategy weights
    key: jax.Array  # PRNG key of the next step


# ----------------------------------------------------------------------------- the simulator
# Every call into the simulator goes through the three functions below.

_ENVS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _env(game: EFGGame) -> EFGEnv:
    """The simulator of ``game``'s tree, built once per tree (its tables are NumPy work)."""
    env = _ENVS.get(game.tree)
    if env is None:
        # no auto-reset: a traversal stops at the terminal (later steps are no-ops under jit);
        # the one-hot observation needs no OpenSpiel tensor tables (we never read observations)
        env = _ENVS[game.tree] = EFGEnv(game, observation="infoset_one_hot", autoreset=False)
    return env


def _reset(env: EFGEnv, u, game: EFGGame) -> EFGState:
    return env.reset_with_noise(u, game)[0]


def _step(env: EFGEnv, u, state: EFGState, action, game: EFGGame) -> EFGState:
    """One decision (uniforms ``u [env.noise_size]``); a no-op with zero rewards on a terminated state."""
    return env.step_with_noise(u, state, action, game)[0]


# ----------------------------------------------------------------------------- shared pieces


def _check_game(game) -> EFGGame:
    if not isinstance(game, EFGGame):
        raise ValueError(
            f"game: MCCFR needs an extensive-form game (jaxgames.efg.EFGGame, e.g. "
            f"jaxgames.kuhn_poker()), got {type(game).__name__}"
        )
    return game


def _layout(game: EFGGame):
    """Static row offsets of each player's table in the stacked ``[sum_p num_infosets_p, A]`` view."""
    sizes = game.tree.num_infosets
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    return sizes, offsets


def _stack(tables: Policy) -> jax.Array:
    return jnp.concatenate(tables, axis=0)


def _unstack(flat: jax.Array, offsets) -> Policy:
    return tuple(flat[offsets[p] : offsets[p + 1]] for p in range(len(offsets) - 1))


def _regret_matching(regrets: jax.Array, legal: jax.Array) -> jax.Array:
    """``max(R, 0)`` normalized over the legal actions; uniform where no regret is positive."""
    return simplex.normalize(jnp.maximum(regrets, 0.0), legal)


def _init(game, key=None) -> SolverState:
    game = _check_game(game)
    key = check_solver_key(key, "MCCFR")
    dtype = jnp.result_type(float)
    zeros = tuple(jnp.zeros(m.shape, dtype) for m in game.legal_mask())
    return initial_state(game, None, extra=MCCFRState(regrets=zeros, strategy_sums=zeros, key=key))


def _finish(game: EFGGame, state: SolverState, regrets, sums, key, offsets) -> SolverState:
    masks = game.legal_mask()
    regrets, sums = _unstack(regrets, offsets), _unstack(sums, offsets)
    policy = tuple(_regret_matching(r, m) for r, m in zip(regrets, masks))
    average = tuple(simplex.normalize(s, m) for s, m in zip(sums, masks))
    return SolverState(
        policy=policy,
        average=average,
        step=state.step + 1,
        extra=MCCFRState(regrets=regrets, strategy_sums=sums, key=key),
    )


def _scatter(table: jax.Array, rows: jax.Array, values: jax.Array) -> jax.Array:
    """``table[rows] += values`` for every row (rows ``>= len(table)`` are dropped)."""
    a = table.shape[-1]
    return table.at[rows.reshape(-1)].add(values.reshape(-1, a).astype(table.dtype), mode="drop")


def _noise(key, count: int, num_keys: int, num_uniforms: int, dtype, noise_size: int):
    """The randomness of ``count`` traversals, from two ``jax.random`` calls: ``(next_key,
    simulator uniforms [count, num_keys, noise_size], uniforms [count, num_uniforms])``. The
    simulator is driven by uniforms (``step_with_noise``), so no key is hashed per simulator call."""
    key, k_env, k_act = jax.random.split(key, 3)
    sim = rng.uniform(k_env, (count, num_keys, noise_size), dtype)
    return key, sim, rng.uniform(k_act, (count, num_uniforms), dtype)


def _make_step(traverse, noise, batch_size: int, alternating: bool):
    """A ``step`` that runs ``traverse(env, game, regrets, offsets, keys, uniforms, player)``
    ``batch_size`` times per player (in turn, or all at once) and adds the summed increments.

    ``noise(game)`` gives the static numbers of simulator keys and of uniforms one traversal
    uses; they are drawn here for all traversals at once (each ``jax.random`` call compiles to a
    loop of its own, and XLA's compile time on CPU grows with the number of kernels).
    ``traverse`` returns ``(regret_rows, regret_increments, sum_rows, sum_increments)``; rows
    index the stacked tables, rows past the end are ignored. The player is a traced index (a
    ``lax.scan`` over players, or a ``vmap``), so one traversal is compiled for all players.
    """

    def step(game: EFGGame, state: SolverState) -> SolverState:
        game = _check_game(game)
        env = _env(game)
        _, offsets = _layout(game)
        num_players = game.num_players
        ex = state.extra
        regrets, sums = _stack(ex.regrets), _stack(ex.strategy_sums)
        num_keys, num_uniforms = noise(game)
        key, keys, uniforms = _noise(
            ex.key, num_players * batch_size, num_keys, num_uniforms, regrets.dtype, env.noise_size
        )
        keys = keys.reshape(num_players, batch_size, *keys.shape[1:])
        uniforms = uniforms.reshape(num_players, batch_size, num_uniforms)
        players = jnp.arange(num_players)

        def batch(regrets, keys, uniforms, player):
            return jax.vmap(lambda k, u: traverse(env, game, regrets, offsets, k, u, player))(keys, uniforms)

        def update(tables, out):
            r_rows, r_inc, s_rows, s_inc = out
            return _scatter(tables[0], r_rows, r_inc), _scatter(tables[1], s_rows, s_inc)

        if alternating:

            def turn(tables, xs):
                return update(tables, batch(tables[0], *xs)), None

            (regrets, sums), _ = jax.lax.scan(turn, (regrets, sums), (keys, uniforms, players))
        else:
            out = jax.vmap(lambda k, u, p: batch(regrets, k, u, p))(keys, uniforms, players)
            regrets, sums = update((regrets, sums), out)
        return _finish(game, state, regrets, sums, key, offsets)

    return step


def _output(state: SolverState) -> Policy:
    return state.average


# ----------------------------------------------------------------------------- outcome sampling


def _outcome_traversal(env: EFGEnv, game: EFGGame, regrets, offsets, keys, uniforms, player, exploration):
    """One outcome-sampling episode for update player ``player``; see the module docstring.

    ``keys``: ``[L + 1]`` simulator keys (reset, then one per decision); ``uniforms``: ``[L]``
    (``L = env.max_episode_length``). Returns rows ``[L]`` (the visited information sets of
    ``player``; other rows point past the tables) and the regret and strategy-sum increments
    ``[L, A]`` there.
    """
    num_rows = regrets.shape[0]
    dtype = regrets.dtype
    offsets = jnp.asarray(offsets)
    one = jnp.ones((), dtype)

    def decide(carry, xs):
        # carry: the state and, over the decisions so far, the products of the player's sampling
        # probabilities, of its own policy's, and of the opponents' policies' probabilities
        state, own_q, own_s, opp_s = carry
        k, u = xs
        live = ~state.terminated
        legal = state.legal_action_mask
        row = offsets[jnp.clip(state.current_player, 0, None)] + jnp.maximum(state.infoset, 0)
        sigma = _regret_matching(regrets[row], legal)
        mine = live & (state.current_player == player)
        uniform = legal / jnp.maximum(jnp.sum(legal), 1)
        q = jnp.where(mine, exploration * uniform + (1.0 - exploration) * sigma, sigma)
        action = simplex.draw(u, q)
        nxt = _step(env, k, state, action, game)
        q_a, s_a = q[action], sigma[action]
        chosen = jnp.arange(legal.shape[0]) == action
        # regret direction, still to be scaled by u * prod_{later own nodes} s / q
        direction = jnp.where(mine & legal, (chosen - s_a) / (own_q * q_a), 0.0)
        sums = jnp.where(mine, own_s / (own_q * opp_s) * sigma, 0.0)
        # a terminal state keeps its rewards through the no-op steps after it: count them once
        reward = jnp.where(live, nxt.rewards[player], 0.0)
        carry = (
            nxt,
            jnp.where(mine, own_q * q_a, own_q),
            jnp.where(mine, own_s * s_a, own_s),
            jnp.where(live & ~mine, opp_s * s_a, opp_s),
        )
        return carry, (jnp.where(mine, row, num_rows), direction, sums, jnp.where(mine, s_a / q_a, one), reward)

    state = _reset(env, keys[0], game)
    _, (rows, direction, sums, ratio, reward) = jax.lax.scan(decide, (state, one, one, one), (keys[1:], uniforms))
    # sampled value after each decision: u times the later own nodes' ratios s / q
    later = jnp.cumprod(jnp.concatenate([ratio[1:], one[None]])[::-1])[::-1]
    tail = jnp.sum(reward).astype(dtype) * later
    return rows, tail[:, None] * direction, rows, sums


@cached_factory
def outcome_sampling_mccfr(batch_size: int = 1, exploration: float = 0.6, alternating: bool = True) -> Solver:
    """Outcome-sampling MCCFR (Lanctot et al. 2009), epsilon-on-policy exploration.

    Args:
      batch_size: sampled episodes per player per step, one ``vmap`` (static).
        At 1 a step is one OpenSpiel iteration (C++ ``OutcomeSamplingMCCFRSolver.RunIteration``,
        Python ``OutcomeSamplingSolver.iteration``: one episode per player).
      exploration: ``eps`` in ``(0, 1]``, the weight of the uniform policy in the
        update player's sampling policy (OpenSpiel's default 0.6). May be traced.
      alternating: players' batches in turn (default, as OpenSpiel), or all
        players against the same current policy in one ``vmap``.

    The update rule, the meaning of a step and the shapes are in the module
    docstring. ``output`` is the average strategy.
    """
    batch_size = check_int(batch_size, "batch_size", low=1)
    exploration = as_float_array(check_number(exploration, "exploration", 0, 1, low_open=True), "exploration")
    check_bool(alternating, "alternating")

    def traverse(env, game, regrets, offsets, keys, uniforms, player):
        eps = exploration.astype(regrets.dtype)
        return _outcome_traversal(env, game, regrets, offsets, keys, uniforms, player, eps)

    def noise(game):  # random numbers of one traversal: simulator keys, uniforms
        length = _env(game).max_episode_length
        return length + 1, length

    return Solver(init=_init, step=_make_step(traverse, noise, batch_size, alternating), output=_output)


# ----------------------------------------------------------------------------- external sampling


def frontier_widths(tree) -> np.ndarray:
    """``int [num_players, L + 1]``: per update player, the most simulator states an external-sampling
    traversal can hold after ``d = 0..L`` decisions (``L`` the most decisions in an episode).

    Bottom-up over the tree, ``F(h)[k]`` bounds the states ``k`` decisions below history ``h``:
    ``e_0`` at a terminal, ``e_0 + shift(sum_a F(ha))`` at the update player's histories,
    ``e_0 + shift(max_a F(ha))`` at the others' and ``max_o F(ho)`` at chance (which the simulator
    resolves within a step); the widths are ``F(root)``. Structure only (no probabilities, no
    payoffs), computed once per tree.
    """
    cached = _WIDTHS.get(tree)
    if cached is not None:
        return cached
    h_count = tree.num_histories
    actor = np.full(h_count, CHANCE, np.int64)
    actor[tree.is_terminal] = TERMINAL
    for p in range(tree.num_players):
        actor[tree.decision_nodes[p]] = p
    # decisions along the longest path: the frontier has L + 1 levels
    decisions = np.zeros(h_count, np.int64)
    for d in range(1, tree.max_depth + 1):
        idx = np.nonzero(tree.depth == d)[0]
        decisions[idx] = decisions[tree.parent[idx]] + (tree.edge_actor[idx] >= 0)
    levels = int(decisions.max(initial=0)) + 1
    out = np.zeros((tree.num_players, levels), np.int64)
    for p in range(tree.num_players):
        f = np.zeros((h_count, levels), np.int64)
        for d in range(tree.max_depth, -1, -1):
            idx = np.nonzero(tree.depth == d)[0]
            kids = tree.children[idx]  # [n, width], -1: none
            below = np.where((kids >= 0)[..., None], f[np.maximum(kids, 0)], 0)  # [n, width, levels]
            kind = actor[idx]
            here = np.where((kind == p)[:, None], below.sum(1), below.max(1))
            shifted = np.concatenate([np.ones((len(idx), 1), np.int64), here[:, :-1]], axis=1)
            f[idx] = np.where((kind == CHANCE)[:, None], here, shifted)
            f[idx[kind == TERMINAL]] = np.eye(1, levels, dtype=np.int64)
        out[p] = f[0]
    _WIDTHS[tree] = out
    return out


_WIDTHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def level_groups(widths, max_groups: int = 3) -> tuple:
    """Split the ``L`` expansions of a traversal into at most ``max_groups`` runs of consecutive levels,
    each scanned at one width: ``((start, stop, width), ...)`` minimizing the padded work
    ``sum (stop - start) * width`` (``width = max(widths[start:stop + 1])``, the states before and
    after each expansion of the run). Unrolling every level would compile one set of kernels per
    level (XLA CPU compile time grows with the kernel count: Leduc took ~30 CPU-s); one run per
    group compiles ``max_groups`` sets.
    """
    widths = [int(w) for w in widths]
    steps = len(widths) - 1
    cost = lambda a, b: (b - a) * max(widths[a : b + 1])
    table = {(0, 0): (0, ())}  # (k, end): (work, groups) of k groups covering expansions [0, end)
    for k in range(1, max_groups + 1):
        for end in range(1, steps + 1):
            options = [
                (table[(k - 1, a)][0] + cost(a, end), table[(k - 1, a)][1] + ((a, end),))
                for a in range(end)
                if (k - 1, a) in table
            ]
            if options:
                table[(k, end)] = min(options)
    # the least work; at equal work, the fewest groups
    best = min(
        ((table[(k, steps)][0], k, table[(k, steps)][1]) for k in range(1, max_groups + 1) if (k, steps) in table),
        default=(0, 0, ()),
    )
    return tuple((a, b, max(widths[a : b + 1])) for a, b in best[2])


#: level runs of an external-sampling traversal (``level_groups``): fewer runs compile faster but
#: take more simulator steps per traversal; unrolling every level compiles slowest.
_MAX_GROUPS = 3


class _Level(NamedTuple):
    """What the backup needs of one frontier level of width ``w`` (few fields: each is a scan output)."""

    actor: jax.Array  # int [w]: the acting player (TERMINAL when over)
    row: jax.Array  # int [w]: the information set's row in the stacked tables
    sigma: jax.Array  # [w, A]: the current policy there
    slot: jax.Array  # int [w, A]: each expanded child's position in the next level, w if not expanded
    arrived: jax.Array  # [w]: the update player's reward on the step into each state (its value if terminal)


def _resize(x, width: int):
    """Pad (repeating the last entry) or cut the leading axis to ``width``; the frontier's valid
    states are packed at the front, and a level never holds more than its width."""
    n = x.shape[0]
    if n >= width:
        return x[:width]
    return jnp.concatenate([x, jnp.repeat(x[-1:], width - n, axis=0)], axis=0)


def _scan(f, carry, xs, reverse=False):
    """``lax.scan``, called directly when there is one iteration (a scan adds kernels of its own)."""
    if jax.tree_util.tree_leaves(xs)[0].shape[0] == 1:
        carry, y = f(carry, jax.tree_util.tree_map(lambda x: x[0], xs))
        return carry, jax.tree_util.tree_map(lambda x: x[None], y)
    return jax.lax.scan(f, carry, xs, reverse=reverse)


def _external_traversal(env: EFGEnv, game: EFGGame, regrets, offsets, keys, uniforms, player, groups):
    """One external-sampling traversal for update player ``player``, level by level.

    ``groups``: ``level_groups`` of the frontier widths; each run of levels is a ``lax.scan`` at
    its width. Returns the rows and increments of the regrets (the player's nodes) and of the
    strategy sums (player ``(player + 1) % N``'s nodes), over all levels.
    """
    num_rows, num_actions = regrets.shape
    dtype = regrets.dtype
    offsets = jnp.asarray(offsets)
    averaged = (player + 1) % env.num_players
    sizes = [(b - a) * w for a, b, w in groups]
    env_keys = jnp.split(keys[1:], np.cumsum(sizes)[:-1])
    uniforms = jnp.split(uniforms, np.cumsum(sizes)[:-1])

    def expand(carry, xs):
        frontier, valid = carry
        keys, u = xs
        width = valid.shape[0]
        live = valid & ~frontier.terminated
        legal = frontier.legal_action_mask
        actor = frontier.current_player
        row = offsets[jnp.clip(actor, 0, None)] + jnp.maximum(frontier.infoset, 0)
        sigma = _regret_matching(regrets[row], legal)
        sampled = jax.vmap(simplex.draw)(u, sigma)
        branch = live[:, None] & jnp.where(
            (actor == player)[:, None], legal, jax.nn.one_hot(sampled, num_actions, dtype=bool)
        )
        flat = branch.reshape(-1)
        slot = jnp.where(flat, jnp.cumsum(flat) - 1, width)  # packed position of each child
        source = jnp.zeros((width,), jnp.int32).at[slot].set(jnp.arange(flat.size, dtype=jnp.int32), mode="drop")
        parents = jax.tree_util.tree_map(lambda x: x[source // num_actions], frontier)
        children = jax.vmap(lambda k, s, a: _step(env, k, s, a, game))(keys, parents, source % num_actions)
        arrived = jnp.where(valid, frontier.rewards[:, player], 0.0).astype(dtype)
        level = _Level(actor, row, sigma, slot.reshape(branch.shape), arrived)
        return (children, jnp.arange(width) < jnp.sum(flat)), level

    frontier = jax.tree_util.tree_map(lambda x: x[None], _reset(env, keys[0], game))
    valid = jnp.ones((1,), bool)
    levels = []
    for (a, b, width), keys, u in zip(groups, env_keys, uniforms):
        carry = jax.tree_util.tree_map(lambda x: _resize(x, width), (frontier, valid))
        carry = (carry[0], carry[1] & (jnp.arange(width) < valid.shape[0]))
        (frontier, valid), level = _scan(
            expand, carry, (keys.reshape(b - a, width, *keys.shape[1:]), u.reshape(b - a, width))
        )
        levels.append(level)

    def combine(level, child):
        """The value of each state from its children's (``i``'s nodes: the policy's mean)."""
        return jnp.where(level.actor[..., None] == player, level.sigma * child, child).sum(-1)

    def backup(value, level):
        # the children's values [w, A]; a state's value is its terminal reward, or theirs combined
        branch = level.slot < value.shape[0]
        child = jnp.where(branch, value[jnp.minimum(level.slot, value.shape[0] - 1)], 0.0)
        return jnp.where(branch.any(-1), combine(level, child), level.arrived), child

    value = jnp.where(valid, frontier.rewards[:, player], 0.0).astype(dtype)
    rows, regret, sums = [], [], []
    for (_, _, width), level in zip(groups[::-1], levels[::-1]):
        value, child = _scan(backup, _resize(value, width), level, reverse=True)
        # the increments, for all levels of the run at once (outside the scan: fewer kernels)
        branch = level.slot < width
        live = branch.any(-1)
        mine = live & (level.actor == player)
        rows.append(level.row)
        regret.append(jnp.where(mine[..., None] & branch, child - combine(level, child)[..., None], 0.0))
        sums.append(jnp.where((live & (level.actor == averaged))[..., None], level.sigma, 0.0))
        rows[-1] = (
            jnp.where(mine, level.row, num_rows),
            jnp.where(live & (level.actor == averaged), level.row, num_rows),
        )
    flat = lambda xs: jnp.concatenate([x.reshape(-1, *x.shape[2:]) for x in xs], axis=0)
    return (flat([r for r, _ in rows]), flat(regret), flat([s for _, s in rows]), flat(sums))


@cached_factory
def external_sampling_mccfr(batch_size: int = 1, alternating: bool = True) -> Solver:
    """External-sampling MCCFR (Lanctot et al. 2009) with OpenSpiel's "simple" averaging.

    Args:
      batch_size: sampled traversals per player per step, one ``vmap`` (static).
        At 1 a step is one OpenSpiel iteration (Python ``ExternalSamplingSolver.iteration``
        and C++ ``ExternalSamplingMCCFRSolver.RunIteration``: one traversal per player).
      alternating: players' batches in turn (default, as OpenSpiel), or all
        players against the same current policy in one ``vmap``.

    The update rule, the meaning of a step and the shapes are in the module docstring;
    the level-by-level traversal is explained in the guide ("Sample-based learners").
    ``output`` is the average strategy.
    """
    batch_size = check_int(batch_size, "batch_size", low=1)
    check_bool(alternating, "alternating")

    def groups(game):
        # the player is traced (one compiled traversal for all): the widest frontier of any player
        return level_groups(frontier_widths(game.tree).max(axis=0), _MAX_GROUPS)

    def traverse(env, game, regrets, offsets, keys, uniforms, player):
        return _external_traversal(env, game, regrets, offsets, keys, uniforms, player, groups(game))

    def noise(game):  # random numbers of one traversal: simulator keys, uniforms
        size = sum((b - a) * w for a, b, w in groups(game))
        return size + 1, size

    return Solver(init=_init, step=_make_step(traverse, noise, batch_size, alternating), output=_output)


#: the sampling schemes of ``mccfr(sampling=...)``
SAMPLING = ("outcome", "external")


def mccfr(sampling: str = "outcome", batch_size: int = 1, **hyperparameters) -> Solver:
    """Monte Carlo CFR by sampling scheme: ``outcome_sampling_mccfr`` (``"outcome"``; takes
    ``exploration``) or ``external_sampling_mccfr`` (``"external"``), with the same hyperparameters."""
    check_choice(sampling, "sampling", SAMPLING)
    factory = outcome_sampling_mccfr if sampling == "outcome" else external_sampling_mccfr
    return factory(batch_size=batch_size, **hyperparameters)
