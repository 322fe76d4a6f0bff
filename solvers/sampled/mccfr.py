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
    full:      S[I, a]  += pi_p(I) * sigma(I)(a)  at every infoset of every player p, once per step
                                                  (external sampling's ``average="full"``)

(``u``: ``i``'s terminal payoff; ``q_j = q(a_j)``, ``s_j = sigma(a_j)`` at ``i``'s ``j``-th node;
``v``: sampled values backed up from the terminals; ``pi_p(I)``: ``p``'s own reach, the product of
``sigma`` along ``p``'s own actions to ``I``.) One step runs ``batch_size`` traversals per
player, in turn (``alternating=True``) or all against the same ``sigma``; at ``batch_size=1`` it is
one OpenSpiel iteration. The estimators, the batched traversals and the comparison with
OpenSpiel are explained in the guide ("Sample-based learners", Monte Carlo CFR).

With ``discount=(alpha, beta, gamma)`` (default ``None``), after step ``t`` both tables are
discounted as in discounted CFR (Brown & Sandholm 2019, "Solving Imperfect-Information Games via
Discounted Regret Minimization", AAAI; Pluribus ran MCCFR with linear CFR's discounting, Brown &
Sandholm 2019, "Superhuman AI for multiplayer poker", Science)::

    R[I, a] *= t^alpha / (t^alpha + 1) where R[I, a] > 0, t^beta / (t^beta + 1) elsewhere
    S[I, a] *= (t / (t + 1))^gamma

so early, noisy steps weigh less. ``"dcfr"`` is the paper's ``(1.5, 0, 2)``, ``"linear"`` linear
CFR's ``(1, 1, 1)``. On Leduc at batch 1,024, ``"dcfr"`` reaches the NashConv of OpenSpiel's C++
solver after 100k iterations in about 60% of the steps (60 against 96-108, medians of 3-5 seeds;
``benchmarks/bench_mccfr.py``); the default keeps OpenSpiel's semantics.

Shapes: regrets and strategy sums per player ``[num_infosets_p, max_actions]``, like the policies;
``extra`` is an ``MCCFRState``. ``batch_size`` is static, ``exploration`` may be traced.

Example::

    import jax, jaxgames, solvers
    solver = solvers.outcome_sampling_mccfr(batch_size=64)
    state, trace = solvers.run(solver, jaxgames.kuhn_poker(), 300, key=jax.random.key(0))
    trace.nash_conv[-1]        # exact NashConv of the average strategy, ~0.02
"""

from __future__ import annotations

import functools
import itertools
import math
import weakref
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import rng, simplex
from jaxgames.core import Policy, as_float_array
from jaxgames.efg.env import EFGEnv
from jaxgames.efg.game import EFGGame
from jaxgames.efg.sequence import own_reach, sequence_form
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
# The simulator is ``jaxgames.efg.env.EFGEnv``: its lookup tables, packed once per tree into the few
# that a batched traversal gathers from (``_Packed``), and its chance-run draw (``_Packed.step``),
# the same inverse-CDF draw on the same uniform as ``EFGEnv.step_with_noise`` (so the same
# trajectories: ``tests/test_mccfr.py`` checks them against the simulator's own ``step``).

_ENVS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _env(game: EFGGame) -> EFGEnv:
    """The simulator of ``game``'s tree, built once per tree (its tables are NumPy work)."""
    env = _ENVS.get(game.tree)
    if env is None:
        # no auto-reset: a traversal stops at the terminal (later steps are no-ops under jit);
        # the one-hot observation needs no OpenSpiel tensor tables (we never read observations)
        env = _ENVS[game.tree] = EFGEnv(game, observation="infoset_one_hot", autoreset=False)
    return env


class _Packed:
    """``EFGEnv``'s tables for batched traversals: one gather per decision reads the acting player,
    the stacked table row, and each action's child and chance run (``nodes``); a chance run's ends
    and their CDF are one more gather (``runs``). Built once per tree (NumPy); the chance
    probabilities are leaves of the game (possibly traced) and enter in ``chance``.

    ``nodes``: int32 ``[H, 2 + 2A]``: actor (``TERMINAL`` at terminals), row in the stacked tables
    (``num_rows`` where no player acts), the child of each action (-1: illegal), the chance run the
    child starts (-1: none). ``run_paths``: int32 ``[R, W, hops]``, the paths of each run's ends
    (``EFGEnv``'s chance-run table, ``W`` its widest run after an action).
    """

    def __init__(self, env: EFGEnv, offsets):
        tree = env.tree
        a, width = tree.max_actions, env._width
        num_rows = int(offsets[-1])
        table = env._nodes  # [H, width + 4]: children, actor, infoset, run offset, run count
        actor, infoset = table[:, width], table[:, width + 1]
        decision = actor >= 0
        row = np.where(decision, offsets[np.clip(actor, 0, None)] + np.maximum(infoset, 0), num_rows)
        children = np.where(decision[:, None] & env._legal, table[:, :a], -1)
        starts = np.nonzero(table[:, width + 3] > 0)[0]  # histories that start a chance run
        run_of = np.full(len(table) + 1, -1, np.int64)
        run_of[starts] = np.arange(len(starts))
        runs = run_of[children]  # children == -1 reads the sentinel
        self.nodes = np.concatenate([actor[:, None], row[:, None], children, runs], axis=1).astype(np.int32)
        self.num_actions, self.num_rows = a, num_rows
        self.run_width = env._run_width
        slot = np.arange(max(self.run_width, 1))
        offset, count = table[starts, width + 2], table[starts, width + 3]
        self.run_paths = env._path[offset[:, None] + slot]  # [R, W, hops]
        self.run_valid = slot < count[:, None]
        self.legal = np.concatenate([np.asarray(m) for m in tree.legal], axis=0)  # [num_rows, A]
        self.env = env

    def chance(self, game: EFGGame, dtype):
        """The root's ``(ends, cdf)`` and, per run, ``[R, 2W]``: the CDF of its ends, then the ends (as
        ``dtype``, exact for trees of fewer than ``2**(mantissa bits + 1)`` histories; larger trees
        get the ends apart, ``(cdf, ends)``), so a run's draw is one gather."""
        root = self.env._root(game)
        if self.run_width == 0:
            return root, None
        probs = jnp.where(self.run_valid, self.env._path_probs(game.chance_prob, jnp.asarray(self.run_paths)), 0.0)
        cdf = jnp.cumsum(probs, axis=-1).astype(dtype)
        if len(self.nodes) >= 2 ** (jnp.finfo(dtype).nmant + 1):
            return root, (cdf, jnp.asarray(self.run_paths[..., 0]))
        return root, jnp.concatenate([cdf, jnp.asarray(self.run_paths[..., 0], dtype)], axis=-1)

    def reset(self, u, root):
        """The first histories of episodes with uniforms ``u [B]`` (``EFGEnv.reset_with_noise``)."""
        return self.env._pick_root(u, root)

    def step(self, u, child, run, runs):
        """The history after a decision: ``child`` (-1 when the episode was over), or the end of the
        chance run ``run`` it starts, drawn with ``u`` (``EFGEnv.step_with_noise``)."""
        if runs is None:
            return child
        w, at = self.run_width, jnp.maximum(run, 0)
        row = _columns(runs[at]) if isinstance(runs, jax.Array) else _columns(runs[0][at]) + _columns(runs[1][at])
        # row: the CDF of the run's ends, then the ends
        cdf = row[:w]
        target = (1.0 - u) * cdf[-1]
        index = jnp.minimum(functools.reduce(jnp.add, [(c < target).astype(jnp.int32) for c in cdf]), w - 1)
        end = _select([index == j for j in range(w)], row[w:])
        return jnp.where(run >= 0, end.astype(jnp.int32), child)


def _columns(x: jax.Array) -> list:
    return [x[..., j] for j in range(x.shape[-1])]


def _select(chosen: list, columns: list) -> jax.Array:
    """The column where ``chosen`` (one-hot list of masks) is true: a chain of selects."""
    out = columns[-1]
    for c, x in zip(chosen[-2::-1], columns[-2::-1]):
        out = jnp.where(c, x, out)
    return out


def _draw(u: jax.Array, weights: list) -> jax.Array:
    """``simplex.draw`` on weights given column by column (the same running sums and comparisons)."""
    cdf = list(itertools.accumulate(weights))
    target = (1.0 - u) * cdf[-1]
    count = functools.reduce(jnp.add, [(c < target).astype(jnp.int32) for c in cdf])
    return jnp.minimum(count, len(cdf) - 1)


_PACKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _packed(game: EFGGame) -> _Packed:
    packed = _PACKED.get(game.tree)
    if packed is None:
        packed = _PACKED[game.tree] = _Packed(_env(game), _layout(game)[1])
    return packed


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


def _noise(key, num_players: int, batch: int, num_keys: int, num_uniforms: int, dtype, noise_size: int):
    """The randomness of ``num_players x batch`` traversals, from one draw: ``(next_key, simulator
    uniforms [num_players, num_keys, noise_size, batch], uniforms [num_players, num_uniforms, batch])``,
    the batch axis last (the traversals read one row per decision, contiguous). The simulator is
    driven by uniforms (``step_with_noise``), so no key is hashed per simulator call; the draw is
    ``_uniform_words`` (both words of each Threefry hash: half the hashing of ``jax.random.uniform``)."""
    key, k_draw = jax.random.split(key)
    width = num_keys * noise_size
    u = _uniform_words(k_draw, (num_players, width + num_uniforms, batch), dtype)
    return key, u[:, :width].reshape(num_players, num_keys, noise_size, batch), u[:, width:]


_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _fast_threefry(key, dtype, n: int) -> bool:
    """Whether ``_uniform`` / ``_uniform_words`` can hash ``n`` counters themselves (else ``rng.uniform``)."""
    return (
        jax.config.jax_threefry_partitionable
        and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        and str(jax.random.key_impl(key)) == "threefry2x32"
        and jnp.dtype(dtype) in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64))
        and n < 2**32
    )


def _threefry(key, n: int) -> list:
    """Threefry-2x32 (20 rounds, as ``jax.random``) of the counters ``0..n-1`` under ``key``, unrolled
    (one fused kernel): the two 32-bit output words ``[x0, x1]``, each ``uint32 [n]``."""
    data = jax.random.key_data(key)
    k = [data[0], data[1], data[0] ^ data[1] ^ np.uint32(0x1BD11BDA)]
    # the counters: the row-major index as (high, low) 32-bit words, high = 0 below 2**32
    x = [jnp.zeros((n,), jnp.uint32) + k[0], jnp.arange(n, dtype=jnp.uint32) + k[1]]
    for i in range(5):
        for r in _THREEFRY_ROTATIONS[i % 2]:
            x[0] = x[0] + x[1]
            x[1] = ((x[1] << np.uint32(r)) | (x[1] >> np.uint32(32 - r))) ^ x[0]
        x = [x[0] + k[(i + 1) % 3], x[1] + k[(i + 2) % 3] + np.uint32(i + 1)]
    return x


def _float32(bits) -> jax.Array:
    """``[0, 1)`` floats from the 23 high bits of ``uint32`` words (``jax.random.uniform``'s mapping)."""
    mantissa = bits >> np.uint32(32 - 23) | np.uint32(0x3F800000)
    return jax.lax.bitcast_convert_type(mantissa, jnp.float32) - jnp.float32(1.0)


def _uniform(key, shape, dtype) -> jax.Array:
    """``jax.random.uniform(key, shape, dtype)``, bit for bit, as one fused kernel where possible.

    On CPU, JAX lowers its Threefry-2x32 hash as a ``fori_loop`` of 5 rounds (tens of small
    kernels per draw, with copies of the loop state): a step at small batch size spends much
    of its time there. For a Threefry key with ``jax_threefry_partitionable`` (JAX's default)
    and a 32- or 64-bit float, this is the same hash of the same counters, unrolled, so XLA
    fuses the draw into one loop; ``tests/test_mccfr.py`` checks it against ``jax.random``.
    Anything else goes to ``rng.uniform``.
    """
    dtype = jnp.dtype(dtype)
    n = math.prod(shape)
    if not _fast_threefry(key, dtype, n):
        return rng.uniform(key, shape, dtype)
    x = _threefry(key, n)
    if dtype == jnp.float32:
        floats = _float32(x[0] ^ x[1])
    else:
        wide = (x[0].astype(jnp.uint64) << np.uint64(32)) | x[1].astype(jnp.uint64)
        bits = wide >> np.uint64(64 - 52) | np.uint64(0x3FF0000000000000)
        floats = jax.lax.bitcast_convert_type(bits, jnp.float64) - jnp.float64(1.0)
    return jnp.maximum(jnp.zeros((), dtype), floats).reshape(shape)


def _uniform_words(key, shape, dtype) -> jax.Array:
    """Uniforms on ``[0, 1)`` like ``jax.random.uniform``, but a float32 from each of the two 32-bit
    words of a Threefry hash (counters ``0..ceil(n / 2) - 1``; the first half of the flat draw from
    the first words, the second half from the second), so half the hashing. Both words of
    Threefry-2x32 are uniform and independent (Salmon et al. 2011, "Parallel random numbers: as
    easy as 1, 2, 3"); it is not ``jax.random.uniform``'s stream. float64 (one hash per number, as
    ``jax.random``) and other keys go to ``_uniform``."""
    dtype = jnp.dtype(dtype)
    n = math.prod(shape)
    half = (n + 1) // 2
    if dtype != jnp.float32 or not _fast_threefry(key, dtype, half):
        return _uniform(key, shape, dtype)
    x = _threefry(key, half)
    floats = jnp.concatenate([_float32(x[0]), _float32(x[1])])[:n]
    return jnp.maximum(jnp.zeros((), dtype), floats).reshape(shape)


#: named ``discount`` settings: ``(alpha, beta, gamma)`` of Brown & Sandholm's discounted CFR
DISCOUNTS = {"dcfr": (1.5, 0.0, 2.0), "linear": (1.0, 1.0, 1.0)}


def _check_discount(discount):
    """``None``, a name in ``DISCOUNTS`` or three numbers ``(alpha, beta, gamma)``: ``None`` or the tuple."""
    if discount is None:
        return None
    if isinstance(discount, str):
        return DISCOUNTS[check_choice(discount, "discount", tuple(DISCOUNTS))]
    if not isinstance(discount, tuple | list) or len(discount) != 3:
        raise ValueError(
            f"discount: expected None, one of {tuple(DISCOUNTS)} or three numbers (alpha, beta, gamma), "
            f"got {discount!r}"
        )
    return tuple(float(check_number(x, f"discount[{i}]", 0)) for i, x in enumerate(discount))


def _discounted(regrets, sums, t, discount):
    """Discounted CFR's weights after step ``t`` (1-based): positive regrets times ``t^a / (t^a + 1)``,
    negative ones times ``t^b / (t^b + 1)``, strategy sums times ``(t / (t + 1))^g``."""
    alpha, beta, gamma = discount
    t = t.astype(regrets.dtype)
    pos, neg = t**alpha / (t**alpha + 1.0), t**beta / (t**beta + 1.0)
    return regrets * jnp.where(regrets > 0, pos, neg), sums * (t / (t + 1.0)) ** gamma


def _make_step(
    traverse, noise, batch_size: int, alternating: bool, discount=None, static_players: bool = False, average=None
):
    """A ``step`` that runs ``traverse(game, regrets, keys, uniforms, player)`` on ``batch_size``
    traversals per player (in turn, or all at once) and adds the summed increments.

    ``noise(game)`` gives the static numbers of simulator keys and of uniforms one traversal
    uses; they are drawn here for all traversals at once (each ``jax.random`` call compiles to a
    loop of its own, and XLA's compile time on CPU grows with the number of kernels).
    ``traverse`` takes them for the batch (``[..., B]``, the batch axis last) and returns ``(regret_rows,
    regret_increments, sum_rows, sum_increments)`` (any leading axes, increments ``[..., A]``),
    or a list of such tuples, added in turn; rows index the stacked tables, rows past the end are
    ignored; the same ``rows`` object for both tables makes one scatter of both. The player is a
    traced index (a ``lax.scan`` over players, or a ``vmap``), so one traversal is compiled for all
    players. With ``static_players``, ``player`` is a Python int instead and the players' traversals
    are unrolled (one compiled traversal each, for layouts that differ by player: external sampling).
    ``discount``: ``(alpha, beta, gamma)`` applied to both tables after each step (``_discounted``),
    or ``None``. ``average(game, regrets)``, if given, returns an increment ``[rows, A]`` of the whole
    stacked strategy-sum table from the regrets at the start of the step (full averaging), added
    once per step before the discount.
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
            ex.key, num_players, batch_size, num_keys, num_uniforms, regrets.dtype, env.noise_size
        )
        players = jnp.arange(num_players)
        if average is not None:  # from the step's own policy, before any traversal changes the regrets
            sums = sums + average(game, regrets).astype(sums.dtype)

        def update(tables, outs):
            if isinstance(outs[0], jax.Array):
                outs = [outs]
            for r_rows, r_inc, s_rows, s_inc in outs:
                if r_rows is s_rows:  # one scatter into both tables
                    a = tables[0].shape[-1]
                    both = jnp.concatenate(tables, axis=-1)
                    both = _scatter(both, r_rows, jnp.concatenate([r_inc, s_inc], axis=-1))
                    tables = both[:, :a], both[:, a:]
                else:
                    tables = _scatter(tables[0], r_rows, r_inc), _scatter(tables[1], s_rows, s_inc)
            return tables

        if static_players:  # one traversal compiled per player (its own static layout)
            tables = (regrets, sums)
            outs = []
            for p in range(num_players):
                out = traverse(game, tables[0] if alternating else regrets, keys[p], uniforms[p], p)
                if alternating:
                    tables = update(tables, out)
                else:
                    outs.append(out)
            regrets, sums = functools.reduce(update, outs, tables) if outs else tables
        elif alternating:

            def turn(tables, xs):
                return update(tables, traverse(game, tables[0], *xs)), None

            (regrets, sums), _ = jax.lax.scan(turn, (regrets, sums), (keys, uniforms, players))
        else:
            out = jax.vmap(lambda k, u, p: traverse(game, regrets, k, u, p))(keys, uniforms, players)
            regrets, sums = update((regrets, sums), out)
        if discount is not None:
            regrets, sums = _discounted(regrets, sums, state.step + 1, discount)
        return _finish(game, state, regrets, sums, key, offsets)

    return step


def _output(state: SolverState) -> Policy:
    return state.average


# ----------------------------------------------------------------------------- outcome sampling


def _chance_after_decision(tree, num_steps: int) -> np.ndarray:
    """``bool [num_steps]``: whether a chance run can follow an episode's ``t``-th decision (a decision
    node after ``t`` earlier decisions with a chance child); elsewhere outcome sampling skips the draw
    (its uniform goes unused: the same random stream). Structure only, cached per tree."""
    cached = _CHANCE_AT.get(tree)
    if cached is None:
        actor = np.full(tree.num_histories, CHANCE, np.int64)
        actor[tree.is_terminal] = TERMINAL
        for p in range(tree.num_players):
            actor[tree.decision_nodes[p]] = p
        decisions = np.zeros(tree.num_histories, np.int64)
        for d in range(1, tree.max_depth + 1):
            idx = np.nonzero(tree.depth == d)[0]
            decisions[idx] = decisions[tree.parent[idx]] + (tree.edge_actor[idx] >= 0)
        kids = tree.children
        to_chance = ((kids >= 0) & (actor[np.maximum(kids, 0)] == CHANCE)).any(-1) & (actor >= 0)
        cached = _CHANCE_AT[tree] = np.bincount(decisions[to_chance], minlength=1) > 0
    out = np.zeros(num_steps, bool)
    out[: min(num_steps, len(cached))] = cached[:num_steps]
    return out


_CHANCE_AT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _outcome_traversals(game: EFGGame, regrets, keys, uniforms, player, exploration):
    """``B`` outcome-sampling episodes for update player ``player``, batched; see the module docstring.

    ``keys``: ``[L + 1, 1, B]`` simulator uniforms (reset, then one per decision); ``uniforms``:
    ``[L, B]`` (``L = env.max_episode_length``). Returns rows ``[B, L]`` (the visited information
    sets of ``player``; other rows point past the tables) and the regret and strategy-sum
    increments ``[B, L, A]`` there. The simulator's tables are packed (``_Packed``): per decision
    one gather of the history's row, one of the current policy's row and, where a chance run
    follows, one of the run's CDF; the policy is regret matching of the whole table, once.
    """
    packed = _packed(game)
    num_rows, num_actions = regrets.shape
    dtype = regrets.dtype
    one = jnp.ones((), dtype)
    nodes = jnp.asarray(packed.nodes)
    sigma_table = _policy_table(packed, regrets)
    root, runs = packed.chance(game, dtype)

    def decide(carry, xs):
        # carry: the histories and, over the decisions so far, the products of the player's sampling
        # probabilities, of its own policy's, and of the opponents' policies' probabilities. The
        # actions are few: the work is column by column (elementwise; XLA fuses it into few kernels)
        h, own_q, own_s, opp_s = carry
        k, u, may_draw = xs
        node = nodes[h]  # [B, 2 + 2A]
        actor, row = node[:, 0], node[:, 1]
        children = [node[:, 2 + a] for a in range(num_actions)]
        legal = [c >= 0 for c in children]
        live = actor >= 0
        sigma = _columns(sigma_table[row])
        mine = live & (actor == player)
        count = jnp.maximum(functools.reduce(jnp.add, [x.astype(jnp.int32) for x in legal]), 1)
        q = [jnp.where(mine, exploration * (x / count) + (1.0 - exploration) * s, s) for x, s in zip(legal, sigma)]
        action = _draw(u, q)
        chosen = [action == a for a in range(num_actions)]
        q_a, s_a = _select(chosen, q), _select(chosen, sigma)
        child = _select(chosen, children)
        run = _select(chosen, [node[:, 2 + num_actions + a] for a in range(num_actions)])
        if runs is not None and not np.all(chance_at):  # no chance run can follow some decisions
            drawn = jax.lax.cond(may_draw, lambda: packed.step(k, child, run, runs), lambda: child)
        else:
            drawn = packed.step(k, child, run, runs)
        nxt = jnp.where(live, drawn, h)
        # regret direction, still to be scaled by u * prod_{later own nodes} s / q
        scale = own_q * q_a
        direction = [jnp.where(mine & x, (c - s_a) / scale, 0.0) for x, c in zip(legal, chosen)]
        weight = own_s / (own_q * opp_s)
        sums = [jnp.where(mine, weight * s, 0.0) for s in sigma]
        carry = (
            nxt,
            jnp.where(mine, own_q * q_a, own_q),
            jnp.where(mine, own_s * s_a, own_s),
            jnp.where(live & ~mine, opp_s * s_a, opp_s),
        )
        ratio = jnp.where(mine, s_a / q_a, one)
        return carry, (jnp.where(mine, row, num_rows), jnp.stack([*direction, *sums, ratio], axis=-1))

    h = packed.reset(keys[0, 0], root)
    ones = jnp.ones(h.shape, dtype)
    chance_at = _chance_after_decision(game.tree, num_steps=uniforms.shape[0])
    xs = (keys[1:, 0], uniforms, jnp.asarray(chance_at))
    (h, _, _, _), (rows, out) = jax.lax.scan(decide, (h, ones, ones, ones), xs)
    direction, sums, ratio = out[..., :num_actions], out[..., num_actions:-1], out[..., -1]
    # every episode is over after L decisions: the player's payoff; sampled value after each
    # decision: u times the later own nodes' ratios s / q
    reward = game.payoffs[h, player].astype(dtype)
    later = jnp.cumprod(jnp.concatenate([ratio[1:], jnp.ones_like(ratio[:1])])[::-1], axis=0)[::-1]
    tail = reward * later  # [L, B]
    rows = rows.T
    return rows, jnp.swapaxes(tail[..., None] * direction, 0, 1), rows, jnp.swapaxes(sums, 0, 1)


@cached_factory
def outcome_sampling_mccfr(
    batch_size: int = 1, exploration: float = 0.6, alternating: bool = True, discount=None
) -> Solver:
    """Outcome-sampling MCCFR (Lanctot et al. 2009), epsilon-on-policy exploration.

    Args:
      batch_size: sampled episodes per player per step, one ``vmap`` (static).
        At 1 a step is one OpenSpiel iteration (C++ ``OutcomeSamplingMCCFRSolver.RunIteration``,
        Python ``OutcomeSamplingSolver.iteration``: one episode per player).
      exploration: ``eps`` in ``(0, 1]``, the weight of the uniform policy in the
        update player's sampling policy (OpenSpiel's default 0.6). May be traced.
      alternating: players' batches in turn (default, as OpenSpiel), or all
        players against the same current policy in one ``vmap``.
      discount: ``None`` (default: OpenSpiel's plain sums), or discounted CFR's weights after
        each step (module docstring): ``"dcfr"`` = ``(1.5, 0, 2)``, ``"linear"`` = ``(1, 1, 1)``
        (linear CFR), or ``(alpha, beta, gamma)``.

    The update rule, the meaning of a step and the shapes are in the module
    docstring. ``output`` is the average strategy.
    """
    batch_size = check_int(batch_size, "batch_size", low=1)
    discount = _check_discount(discount)
    exploration = as_float_array(check_number(exploration, "exploration", 0, 1, low_open=True), "exploration")
    check_bool(alternating, "alternating")

    def traverse(game, regrets, keys, uniforms, player):
        return _outcome_traversals(game, regrets, keys, uniforms, player, exploration.astype(regrets.dtype))

    def noise(game):  # random numbers of one traversal: simulator keys, uniforms
        length = _env(game).max_episode_length
        return length + 1, length

    return Solver(init=_init, step=_make_step(traverse, noise, batch_size, alternating, discount), output=_output)


# ----------------------------------------------------------------------------- external sampling


def _policy_table(packed: _Packed, regrets) -> jax.Array:
    """Regret matching of every row of the stacked table, and a zero row for "no player acts"."""
    sigma = _regret_matching(regrets, jnp.asarray(packed.legal))
    return jnp.concatenate([sigma, jnp.zeros((1, sigma.shape[-1]), sigma.dtype)])


class _Skeleton(NamedTuple):
    """The static layout of an external-sampling traversal for one update player ``i`` (NumPy, once per tree).

    A sampled tree branches only at ``i``'s nodes, so each of its states is named by ``i``'s own
    actions on the way (perfect recall of the path, not of the opponents' moves): stage ``k`` holds
    the states after ``k`` of ``i``'s actions, one slot per action sequence that reaches one of
    ``i``'s nodes in the game (``stages[k]`` slots; Leduc: ``[1, 2, 4, 6]`` for player 0,
    ``[1, 2, 3, 1]`` for player 1). The children of stage ``k`` (``stages[k] * A`` positions, every
    action of every slot) walk through the other players' sampled decisions (``chains[k + 1]``;
    ``chains[0]``: from the root) to one of ``i``'s nodes or a terminal; ``nxt[k]`` (static) picks
    those that can be one of ``i``'s nodes into stage ``k + 1``; the others end at terminals. Only
    the positions where some history of the game needs it take a step: a chain step is ``(rows,
    chance_rows)``, the positions where another player can act and, among them, those where a chance
    run can follow; ``expand_chance[k]``: the children of stage ``k`` that can start a chance run.
    """

    stages: tuple  # int per stage: its slots
    nxt: tuple  # int [stages[k + 1]] per stage k: the flat child position (slot * A + action) of each slot of k + 1
    chains: tuple  # per group (the root, then stage k's children): per decision step, (rows, chance_rows)
    expand_chance: tuple  # int [m] per stage: the children that can start a chance run
    terminal: int  # a terminal history: where illegal children park


_SKELETONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _skeleton(tree, player: int) -> _Skeleton:
    """``_Skeleton`` of ``player``'s traversals on ``tree``: per history, ``i``'s own action sequence
    and the other players' decisions since ``i``'s last action, top-down (NumPy; cached per tree)."""
    per_tree = _SKELETONS.setdefault(tree, {})
    if player in per_tree:
        return per_tree[player]
    h_count = tree.num_histories
    actor = np.full(h_count, CHANCE, np.int64)
    actor[tree.is_terminal] = TERMINAL
    for p in range(tree.num_players):
        actor[tree.decision_nodes[p]] = p
    seq, chain = [()] * h_count, np.zeros(h_count, np.int64)
    for d in range(1, tree.max_depth + 1):
        for h in np.nonzero(tree.depth == d)[0]:
            parent = int(tree.parent[h])
            if actor[parent] == player:
                seq[h] = seq[parent] + (int(tree.edge_action[h]),)
            else:
                seq[h], chain[h] = seq[parent], chain[parent] + (actor[parent] >= 0)
    mine = np.nonzero(actor == player)[0]
    num_stages = 1 + max((len(seq[h]) for h in mine), default=-1)
    slots = [sorted({seq[h] for h in mine if len(seq[h]) == k}) for k in range(num_stages)]
    a = tree.max_actions
    index = [{q: j for j, q in enumerate(stage)} for stage in slots]
    nxt = tuple(np.array([index[k][q[:-1]] * a + q[-1] for q in slots[k + 1]], np.int32) for k in range(num_stages - 1))
    # per group (0: the root, k + 1: stage k's children) and chain count: the positions holding a
    # decision of another player, and those where one of its children is a chance node
    opp = [dict() for _ in range(num_stages + 1)]
    chance_after = [dict() for _ in range(num_stages + 1)]
    expand_chance = [set() for _ in range(num_stages)]

    def place(h):
        q = seq[h]
        return (0, 0) if not q else (len(q), index[len(q) - 1][q[:-1]] * a + q[-1])

    for h in range(h_count):
        if actor[h] < 0:
            continue
        kids = tree.children[h][tree.children[h] >= 0]
        to_chance = bool(np.any(actor[kids] == CHANCE))
        if actor[h] == player:
            k = len(seq[h])
            j = index[k][seq[h]]
            for c in np.nonzero(tree.children[h] >= 0)[0]:
                if actor[tree.children[h, c]] == CHANCE:
                    expand_chance[k].add(j * a + int(c))
            continue
        group, pos = place(h)
        opp[group].setdefault(int(chain[h]), set()).add(pos)
        if to_chance:
            chance_after[group].setdefault(int(chain[h]), set()).add(pos)
    ordered = lambda x: np.array(sorted(x), np.int32)
    chains = tuple(
        tuple(
            (ordered(opp[g].get(c, ())), ordered(chance_after[g].get(c, ())))
            for c in range(1 + max(opp[g], default=-1))
        )
        for g in range(num_stages + 1)
    )
    out = per_tree[player] = _Skeleton(
        tuple(len(q) for q in slots),
        nxt,
        chains,
        tuple(ordered(x) for x in expand_chance),
        int(np.nonzero(tree.is_terminal)[0][0]),
    )
    return out


def _external_traversals(game: EFGGame, sigma_table, chance, uniforms, player: int, simple: bool = True):
    """``B`` external-sampling traversals for update player ``player`` (static), batched, stage by stage.

    The layout is ``_skeleton``'s: slots of ``i``'s nodes by ``i``'s action sequences, so a child's
    position in the next stage is static (no packing of a frontier). Per stage: one gather of the
    slots' histories (``_Packed.nodes``) and policies, every legal action at ``i``'s nodes, then the
    other players' decisions on the children, sampled from ``sigma`` (and chance runs drawn), and a
    static pick of the next stage's slots. A decision step or chance draw runs only at the positions
    where some history of the game needs it (static rows of ``_Skeleton``: on Leduc, player 0's
    traversal takes 21 uniforms, not one per position and step). The backup runs the stages in
    reverse: a slot's value is its terminal payoff or ``sum_a sigma(a) v(child a)``. The sampled
    tree, and so the estimator, is OpenSpiel's recursive traversal's, in distribution.

    ``sigma_table``: ``_policy_table`` of the regrets; ``chance``: ``_Packed.chance``; ``uniforms``:
    ``[n, B]`` (``n = _external_noise(game, player)``). Returns stacked-table rows ``[m]`` and their regret
    and strategy-sum increments ``[m, A]`` (rows past the tables where nothing is added). ``simple``
    (static): record the "simple" strategy-sum increments at ``(player + 1) mod N``'s sampled nodes;
    without it (full averaging, ``_full_average``) the traversal adds regrets only (no strategy-sum rows).
    """
    packed = _packed(game)
    skel = _skeleton(game.tree, player)
    num_rows, num_actions = packed.num_rows, packed.num_actions
    dtype = sigma_table.dtype
    nodes = jnp.asarray(packed.nodes)
    root, runs = chance
    payoff = game.payoffs[:, player].astype(dtype)
    averaged = (player + 1) % game.num_players
    batch = uniforms.shape[-1]
    cursor = [0]

    def draw(n):  # the next n rows of uniforms
        u = uniforms[cursor[0] : cursor[0] + n]
        cursor[0] += n
        return u

    sum_rows, sum_incs = [], []

    def chance_step(h, run, at):
        """``_Packed.step`` at the positions ``at`` (static) of ``h [n, B]``, the others unchanged."""
        if len(at) == 0 or runs is None:
            return h
        if len(at) == h.shape[0]:
            return packed.step(draw(len(at)), h, run, runs)
        return h.at[at].set(packed.step(draw(len(at)), h[at], run[at], runs))

    def others(h, steps):
        """The other players' decisions on histories ``h [n, B]``, one step per ``(rows, chance_rows)``
        of ``_Skeleton.chains`` (the positions where one can act); records the strategy-sum
        increments at ``averaged``'s nodes."""
        for rows, chance_rows in steps:
            full = len(rows) == h.shape[0]
            sub = h if full else h[rows]
            node = nodes[sub]  # [r, B, 2 + 2A]
            actor, row = node[..., 0], node[..., 1]
            sigma = sigma_table[row]
            action = _draw(draw(len(rows)), _columns(sigma))
            chosen = [action == a for a in range(num_actions)]
            child = _select(chosen, [node[..., 2 + a] for a in range(num_actions)])
            run = _select(chosen, [node[..., 2 + num_actions + a] for a in range(num_actions)])
            at = np.searchsorted(rows, chance_rows)  # the chance rows among ``rows``
            moved = (actor >= 0) & (actor != player)
            nxt = jnp.where(moved, chance_step(jnp.where(moved, child, sub), run, at), sub)
            h = nxt if full else h.at[rows].set(nxt)
            if simple:
                sum_rows.append(jnp.where(actor == averaged, row, num_rows))
                sum_incs.append(sigma)
        return h

    h = others(packed.reset(draw(1)[0], root)[None], skel.chains[0])  # [1, B]
    stages = []  # per stage: (rows, mine, sigma, legal, the children's histories [S * A, B], the slots' histories)
    for k, size in enumerate(skel.stages):
        node = nodes[h]  # [S, B, 2 + 2A]
        actor, row = node[..., 0], node[..., 1]
        mine = actor == player
        sigma = sigma_table[row]  # [S, B, A]
        legal = mine[..., None] & (node[..., 2 : 2 + num_actions] >= 0)
        kids = jnp.where(legal, node[..., 2 : 2 + num_actions], skel.terminal)
        kid_runs = jnp.where(legal, node[..., 2 + num_actions :], -1)
        # the children, action-major within each slot: [S * A, B]
        kids = jnp.moveaxis(kids, -1, 1).reshape(size * num_actions, batch)
        kid_runs = jnp.moveaxis(kid_runs, -1, 1).reshape(size * num_actions, batch)
        kids = chance_step(kids, kid_runs, skel.expand_chance[k])
        kids = others(kids, skel.chains[k + 1])
        stages.append((row, mine, sigma, legal, kids, h))
        if k + 1 < len(skel.stages):
            h = kids[skel.nxt[k]]
    assert cursor[0] <= uniforms.shape[0], (cursor[0], uniforms.shape)

    # (empty first entries: a player without decisions adds nothing)
    reg_rows, reg_incs = [jnp.zeros((0,), jnp.int32)], [jnp.zeros((0, num_actions), dtype)]
    value = None
    for k in range(len(skel.stages) - 1, -1, -1):
        row, mine, sigma, legal, kids, h = stages[k]
        child = payoff[kids]  # [S * A, B]: terminal payoffs, then the next stage's values
        if value is not None:
            child = child.at[skel.nxt[k]].set(value)
        child = jnp.moveaxis(child.reshape(skel.stages[k], num_actions, batch), 1, -1)  # [S, B, A]
        combined = jnp.sum(sigma * child, -1)
        value = jnp.where(mine, combined, payoff[h])
        reg_rows.append(jnp.where(mine, row, num_rows))
        reg_incs.append(jnp.where(legal, child - combined[..., None], 0.0))
    flat = lambda xs: jnp.concatenate([x.reshape(-1) for x in xs])
    flat_inc = lambda xs: jnp.concatenate([x.reshape(-1, num_actions) for x in xs])
    if not simple:
        return flat(reg_rows), flat_inc(reg_incs), jnp.zeros((0,), jnp.int32), jnp.zeros((0, num_actions), dtype)
    r_rows, s_rows = flat(reg_rows), flat(sum_rows)
    r_inc, s_inc = flat_inc(reg_incs), flat_inc(sum_incs)
    zeros = lambda x: jnp.zeros_like(x)
    rows = jnp.concatenate([r_rows, s_rows])
    return rows, jnp.concatenate([r_inc, zeros(s_inc)]), rows, jnp.concatenate([zeros(r_inc), s_inc])


def _external_noise(game: EFGGame, player: int) -> int:
    """The uniforms one external-sampling traversal for ``player`` uses (``_external_traversals``): the
    root's, then per decision step one per acting position and one per possible chance run."""
    skel = _skeleton(game.tree, player)
    steps = [step for group in skel.chains for step in group]
    return 1 + sum(len(rows) + len(chance) for rows, chance in steps) + sum(len(x) for x in skel.expand_chance)


def _full_average(game: EFGGame, regrets: jax.Array) -> jax.Array:
    """Full averaging's strategy-sum increment ``[rows, A]`` of the stacked tables (Lanctot 2013, ch. 4):
    at every information set ``I`` of every player ``p``, ``pi_p(I) * sigma(I)``, with ``sigma`` the
    regret matching of ``regrets`` and ``pi_p(I)`` ``p``'s own reach (``jaxgames.efg.sequence.own_reach``:
    the product of ``sigma`` along ``p``'s own sequence to ``I``): ``p``'s policy and the tree's
    structure only, no chance probability or payoff."""
    sigma = _regret_matching(regrets, jnp.asarray(_packed(game).legal))
    sf = sequence_form(game.tree)
    parts = jnp.split(sigma, np.cumsum(game.tree.num_infosets)[:-1])
    return jnp.concatenate([own_reach(sf, p, pi)[:, None] * pi for p, pi in enumerate(parts)])


#: the ``average`` settings of ``external_sampling_mccfr``
AVERAGES = ("simple", "full")


@cached_factory
def external_sampling_mccfr(
    batch_size: int = 1, alternating: bool = True, discount=None, average: str = "simple"
) -> Solver:
    """External-sampling MCCFR (Lanctot et al. 2009), OpenSpiel's "simple" or "full" averaging.

    Args:
      batch_size: sampled traversals per player per step, batched (static).
        At 1 a step is one OpenSpiel iteration (Python ``ExternalSamplingSolver.iteration``
        and C++ ``ExternalSamplingMCCFRSolver.RunIteration``: one traversal per player).
      alternating: players' batches in turn (default, as OpenSpiel), or all
        players against the same current policy in one ``vmap``.
      discount: as ``outcome_sampling_mccfr``'s (default ``None``: OpenSpiel's plain sums).
      average: how the strategy sums ``S`` grow (OpenSpiel's ``AverageType``):

        * ``"simple"`` (default, OpenSpiel's default): stochastically-weighted averaging,
          ``S[I] += sigma(I)`` at player ``(i + 1) mod N``'s histories of update player ``i``'s
          sampled trees (unbiased for two players; Lanctot 2013, ch. 4).
        * ``"full"``: once per step, ``S[I] += pi_p(sigma, I) * sigma(I)`` at every information set
          of every player ``p``, ``pi_p`` being ``p``'s own reach (the product of its own action
          probabilities on its sequence to ``I``), and ``sigma`` the step's policy (the one the
          traversals measure regrets for); exactly CFR's average-strategy weights, with no sampling
          noise (Lanctot 2013, ch. 4). Costs one gather over the table per step.

    Full averaging uses the information-set structure and the current policy only (no chance
    probability, payoff or opponent policy), so it stays simulator-only. OpenSpiel's version walks
    every history after the iteration's traversals, so it differs in two ways: an information set
    gets ``pi_p(I) sigma(I)`` once per history in it (a constant factor ``|I|`` per information set,
    which the normalization removes: the same output; per Lanctot's definition the weight is
    ``pi_p(I)``, once per information set, as here), and it averages the policy after the
    iteration's regret updates (``sigma^2 .. sigma^{T+1}`` over ``T`` iterations, where CFR's
    average is over ``sigma^1 .. sigma^T``, as here: a shift by one iteration, which moves the
    median NashConv after 1,000 iterations by under 1% on Kuhn and Leduc,
    ``benchmarks/bench_mccfr.py --bounds-seeds``).

    The update rule, the meaning of a step and the shapes are in the module docstring;
    the traversal (``_external_traversals``: static slots named by the update player's own actions,
    one compiled traversal per player) is explained in the guide ("Sample-based learners").
    ``output`` is the average strategy.

    Example::

        solver = solvers.external_sampling_mccfr(average="full")
        state, trace = solvers.run(solver, jaxgames.kuhn_poker(), 1_000, key=jax.random.key(0))
    """
    batch_size = check_int(batch_size, "batch_size", low=1)
    discount = _check_discount(discount)
    check_bool(alternating, "alternating")
    simple = check_choice(average, "average", AVERAGES) == "simple"

    def traverse(game, regrets, keys, uniforms, player):
        packed = _packed(game)
        sigma, chance = _policy_table(packed, regrets), packed.chance(game, regrets.dtype)
        return _external_traversals(game, sigma, chance, uniforms[: _external_noise(game, player)], player, simple)

    def noise(game):  # random numbers of one traversal: no simulator keys, uniforms (the most of any player)
        return 0, max(_external_noise(game, p) for p in range(game.num_players))

    average = None if simple else _full_average
    step = _make_step(traverse, noise, batch_size, alternating, discount, static_players=True, average=average)
    return Solver(init=_init, step=step, output=_output)


#: the sampling schemes of ``mccfr(sampling=...)``
SAMPLING = ("outcome", "external")


def mccfr(sampling: str = "outcome", batch_size: int = 1, **hyperparameters) -> Solver:
    """Monte Carlo CFR by sampling scheme: ``outcome_sampling_mccfr`` (``"outcome"``; takes
    ``exploration``) or ``external_sampling_mccfr`` (``"external"``), with the same hyperparameters."""
    check_choice(sampling, "sampling", SAMPLING)
    factory = outcome_sampling_mccfr if sampling == "outcome" else external_sampling_mccfr
    return factory(batch_size=batch_size, **hyperparameters)
