"""The sequence form of a tabular game: what ``EFGGame`` evaluates with.

Player ``i``'s sequences are the empty sequence (id 0) and one per (information
set, action) pair, ``1 + infoset * A + action``. A behavioural policy gives the
realization plan ``x_i[seq(I, a)] = x_i[seq(I)] * pi_i(I, a)``, built top-down
over the player's own decision depth (a handful of levels, not the whole tree).
Per terminal history ``z`` the structure stores each player's last sequence and
the chance edges on its path; then, for player ``i``,

    u_i[s] = sum_{z: last_i(z) = s} chance(z) prod_{j != i} x_j[last_j(z)] payoff_i(z)

(the sparse payoff mat-vec of the sequence form; stored as blocks of the
sequences with equally many terminals below, so that it is gathers and sums of
slices, with no scatter: XLA's CPU scatter is slow), and the counterfactual value of ``(I, a)`` is ``u_i`` at
``seq(I, a)`` plus the values of the information sets right below it, summed
bottom-up over own depth with the policy's expectation; with a ``max`` instead,
the same pass is the best response (von Stengel 1996; Koller, Megiddo & von
Stengel 1994). Everything is exact for any number of players.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.efg.tree import CHANCE, Tree, depth_levels, own_sequences


@dataclasses.dataclass(frozen=True, eq=False)
class SequenceForm:
    num_actions: int
    num_sequences: tuple  # per player: 1 + num_infosets * A
    parent_sequence: tuple  # per player: int [n_I], the sequence leading to each infoset
    depth_masks: tuple  # per player: tuple of bool [n_I], infosets at own depth k (k = 0..levels)
    terminal_last: tuple  # per player i, per player j: int [Z] last_j, terminals ordered by last_i
    # (terminal_order, terminal_chance, decision_chance and the blocks of terminal_buckets /
    # decision_buckets are read only when a game is built: int32 NumPy arrays, kept on the host)
    terminal_order: tuple  # per player i: int [Z] terminal history ids in that order
    terminal_chance: tuple  # per player i: int [Z, C] chance edges on the path (0: none; chance_prob[0] = 1)
    decision_last: tuple  # per player i, per player j: int [M_i] last_j at i's decision histories
    decision_chance: tuple  # per player i: int [M_i, C]
    decision_infoset: tuple  # per player i: int [M_i]
    # Scatter-free layouts (gathers and sums of slices only; XLA's CPU scatter is slow):
    ancestors: tuple = ()  # per player: int [D_i, n_I] own sequences above each infoset, root first (0: none)
    # Segment sums as buckets (see ``_buckets``): the segments with K members form one [K, n] block.
    terminal_buckets: tuple = ()  # per player i: (blocks of terminal positions by last_i, order [S_i])
    terminal_bucket_last: tuple = ()  # per player i, per player j: last_j at each block's positions
    decision_buckets: tuple = ()  # per player i: (blocks of decision-history positions by infoset, order [n_I])
    decision_bucket_last: tuple = ()  # per player i, per player j: last_j at each block's positions
    # Own depth levels, for ``bottom_up_levels`` (per player):
    level_order: tuple = ()  # int [n_I]: the infosets by own depth (then id); level k is a contiguous block
    level_bounds: tuple = ()  # tuple of ints: level k is level_order[bounds[k]:bounds[k + 1]]
    level_sequences: tuple = ()  # int [n_I * A]: the sequences (I, a) in that order
    level_inverse: tuple = ()  # int [n_I * A]: where each (I, a), in id order, sits in that order
    level_identity: tuple = ()  # bools: level_order is the identity (ids already by own depth: no gathers)
    level_children: tuple = ()  # per level k < last: buckets of the positions in level k + 1 of the
    #   infosets right below each (I, a) of level k


@functools.cache
def sequence_form(tree: Tree) -> SequenceForm:
    """Build (once per tree) the index arrays of the sequence form.

    Vectorized with NumPy one depth at a time (``tree.own_sequences`` and the chance paths: each
    history copies its parent's row and writes its own edge), and over own depth per information
    set: liar's dice 1x7 (1.6M histories) 0.37 s of CPU, 1x8 (8.4M) 2.1 s, against 3.7 s and 24 s
    for the former per-history loop, with identical arrays (``tests/test_efg_conversion.py``).
    Each player's arrays go to the device as int32 as soon as they are made (int64 temporaries live
    for one player at a time); those read only at construction (``host_tables``) stay on the host.
    No XLA program is compiled (``tests/test_efg_construction.py`` checks it).

    Example::

        >>> import jaxgames
        >>> sf = sequence_form(jaxgames.kuhn_poker().tree)
        >>> sf.num_sequences, [len(m) for m in sf.depth_masks]
        ((13, 13), [3, 2])
    """
    n, A = tree.num_players, tree.max_actions
    last, chance = _paths(tree)
    terminals = np.nonzero(tree.is_terminal)[0]
    parent_seq, masks, t_last, t_order, t_chance, d_last, d_chance, d_info = ([] for _ in range(8))
    anc, t_slots, t_grid, d_slots, d_grid = ([] for _ in range(5))
    lvl = tuple([] for _ in range(5))  # level_order, level_bounds, level_sequences, level_inverse, level_children
    identity = []

    # Device arrays, created once and per player as soon as they are made (the int64 temporaries of
    # one player are freed before the next): numpy constants closed over by a jitted function would
    # be copied to the device on every call. The index arrays read only when a game is built
    # (``host_tables``) stay int32 NumPy arrays on the host (``host=True``): no device copy.
    def dev(arrays, host=False):  # arrays made here (not views of the tree's): no copy when int32
        arrays = tuple(a.astype(np.int32, copy=False) if a.dtype != bool else a for a in arrays)
        if host:
            return arrays
        with jax.ensure_compile_time_eval():  # concrete even when first built inside a trace
            return tuple(jax.device_put(a) for a in arrays)

    for i in range(n):
        n_inf = tree.num_infosets[i]
        pseq = np.zeros(n_inf, np.int64)
        pseq[tree.decision_infosets[i]] = last[tree.decision_nodes[i], i]
        depth = _own_depth(pseq, A)
        levels = int(depth.max()) + 1 if n_inf else 0
        parent_seq.append(dev([pseq])[0])
        masks.append(dev([depth == k for k in range(levels + 1)]))
        order = terminals[np.argsort(last[terminals, i], kind="stable")]
        t_order.append(dev([order], host=True)[0])
        t_cols = [last[order, j] for j in range(n)]  # int32 [Z] each, reused by the blocks below
        t_last.append(dev(t_cols))
        t_chance.append(dev([chance[order]], host=True)[0])
        d_cols = [last[tree.decision_nodes[i], j] for j in range(n)]
        d_last.append(dev(d_cols))
        d_chance.append(dev([chance[tree.decision_nodes[i]]], host=True)[0])
        d_info.append(dev([np.array(tree.decision_infosets[i], np.int32)])[0])  # a copy, not the tree's
        anc.append(dev([_ancestors(pseq, A, levels)])[0])
        blocks, where = _buckets(t_cols[i], 1 + n_inf * A)
        t_grid.append(tuple(dev(_pick(c, blocks)) for c in t_cols))
        t_slots.append((dev(blocks, host=True), dev([where])[0]))
        del order, blocks, where, t_cols
        blocks, where = _buckets(tree.decision_infosets[i], n_inf)
        d_grid.append(tuple(dev(_pick(c, blocks)) for c in d_cols))
        d_slots.append((dev(blocks, host=True), dev([where])[0]))
        del blocks, where, d_cols
        order, bounds, seqs, inverse, children = _levels(pseq, depth, A, levels)
        lvl[0].append(dev([order])[0])
        lvl[1].append(bounds)
        lvl[2].append(dev([seqs])[0])
        lvl[3].append(dev([inverse])[0])
        lvl[4].append(tuple((dev(b), dev([w])[0]) for b, w in children))
        identity.append(bool(np.array_equal(order, np.arange(len(order)))))
    del last, chance, terminals

    return SequenceForm(
        num_actions=A,
        num_sequences=tuple(1 + m * A for m in tree.num_infosets),
        parent_sequence=tuple(parent_seq),
        depth_masks=tuple(masks),
        terminal_last=tuple(t_last),
        terminal_order=tuple(t_order),
        terminal_chance=tuple(t_chance),
        decision_last=tuple(d_last),
        decision_chance=tuple(d_chance),
        decision_infoset=tuple(d_info),
        ancestors=tuple(anc),
        terminal_buckets=tuple(t_slots),
        terminal_bucket_last=tuple(t_grid),
        decision_buckets=tuple(d_slots),
        decision_bucket_last=tuple(d_grid),
        level_order=tuple(lvl[0]),
        level_bounds=tuple(lvl[1]),
        level_sequences=tuple(lvl[2]),
        level_inverse=tuple(lvl[3]),
        level_identity=tuple(identity),
        level_children=tuple(lvl[4]),
    )


def _levels(pseq: np.ndarray, depth: np.ndarray, A: int, levels: int):
    """The own-depth blocks of ``bottom_up_levels`` (see ``SequenceForm``)."""
    n_inf = pseq.shape[0]
    order = np.argsort(depth, kind="stable")
    bounds = tuple(int(b) for b in np.searchsorted(depth[order], np.arange(levels + 1)))
    rank = np.empty(n_inf, np.int64)
    rank[order] = np.arange(n_inf)
    seqs = (1 + order[:, None] * A + np.arange(A)).reshape(-1)
    inverse = (rank[:, None] * A + np.arange(A)).reshape(-1)
    children = []
    for k in range(levels - 1):
        lo, hi, top = bounds[k], bounds[k + 1], bounds[k + 2]
        below = order[hi:top]  # level k + 1, in id order
        # parent (I, a) of each infoset below, as a position in level k's flattened block
        keys = (rank[(pseq[below] - 1) // A] - lo) * A + (pseq[below] - 1) % A
        blocks, where = _buckets(keys, (hi - lo) * A)
        children.append((blocks, where))
    return order, bounds, seqs, inverse, tuple(children)


#: Padding that ``_buckets`` accepts to save a block (one kernel, about a microsecond on a CPU core,
#: against about half a nanosecond per gathered element).
BUCKET_PAD_BUDGET = 2048


def _buckets(keys: np.ndarray, num_segments: int, pad_budget: int = BUCKET_PAD_BUDGET):
    """A segment sum without scatter: ``blocks``, int ``[K, n]`` arrays (column: the positions ``p``
    with ``keys[p] == s`` of one segment ``s``, in increasing order, padded with ``len(keys)``, an
    appended zero), one per group of segment sizes (sizes are grouped while the padding stays
    within ``pad_budget`` entries), and ``order`` ``[num_segments]``, each segment's column in the
    blocks laid side by side (empty segments: one past the last column, another appended zero)."""
    keys = np.asarray(keys, np.int64)
    sort = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=num_segments)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    sizes = np.unique(counts[counts > 0]).tolist()
    groups = [[k] for k in sizes]  # merge neighbouring sizes, cheapest padding first

    def extra(g, h):  # padding added by merging groups g < h
        return sum(int(np.count_nonzero(counts == k)) * (h[-1] - k) for k in g)

    while len(groups) > 1:
        costs = [extra(groups[j], groups[j + 1]) for j in range(len(groups) - 1)]
        j = int(np.argmin(costs))
        if costs[j] > pad_budget:
            break
        groups[j : j + 2] = [groups[j] + groups[j + 1]]
    padded = np.concatenate([sort, [len(keys)]])
    blocks, order, col = [], np.full(num_segments, int(np.count_nonzero(counts)), np.int64), 0
    for g in groups:
        segs = np.nonzero(np.isin(counts, g))[0]
        k = g[-1]
        pos = start[segs][None, :] + np.arange(k)[:, None]
        blocks.append(
            np.where(np.arange(k)[:, None] < counts[segs][None, :], padded[np.minimum(pos, len(keys))], len(keys))
        )
        order[segs] = col + np.arange(len(segs))
        col += len(segs)
    return tuple(blocks), order


def _bucket_sum(blocks, order) -> jax.Array:
    """The segment sums of ``_buckets``, from the gathered ``blocks`` (``[K, n]`` values each)."""
    if not blocks:
        return jnp.zeros(order.shape)
    sums = [_column_sum(b) for b in blocks]
    return _take_or_zero(sums[0] if len(sums) == 1 else jnp.concatenate(sums), order)


def _take_or_zero(x: jax.Array, idx) -> jax.Array:
    """``x[idx]``, 0 where ``idx == len(x)`` (the padding of ``_buckets``).

    Written as a gather from ``x`` with a zero appended, not as ``mode="fill"``: XLA fuses the
    concatenation into the gather (no copy), and a padding entry then reads the appended zero
    alone. A fill-mode gather clamps the index and masks the result, so when XLA fuses the
    computation of ``x`` into the gather (as it does on the CPU), every padding entry recomputes
    an element of ``x``: in Leduc's bottom-up passes each of the 738 (information set, action)
    slots of a level recomputed a 10-term sum of the level below, which more than doubled the
    cost of its exploitability (``benchmarks/bench_efg.py``).
    """
    return _take(jnp.concatenate([x, jnp.zeros((1, *x.shape[1:]), x.dtype)]), idx)


def _pick(values: np.ndarray, blocks) -> list:
    """``values`` at each of ``blocks`` (index arrays), with 0 at the padding (``== len(values)``),
    in ``values``' dtype."""
    padded = np.zeros(len(values) + 1, values.dtype)
    padded[:-1] = values
    return [padded[b] for b in blocks]


def _ancestors(pseq: np.ndarray, A: int, levels: int) -> np.ndarray:
    """int ``[max(levels - 1, 0), n_I]``: the own sequences on the path to each information set,
    root first, padded with 0 at the end (the empty sequence, whose plan value is 1)."""
    chain = []  # chain[k]: the sequence k + 1 own steps above each infoset (0 past the root)
    s = np.asarray(pseq, np.int64).copy()
    while np.any(s):
        chain.append(s)
        s = np.where(s != 0, pseq[np.maximum(s - 1, 0) // A], 0)
    out = np.zeros((max(levels - 1, len(chain)), pseq.shape[0]), np.int64)
    if chain:
        depth = np.count_nonzero(np.stack(chain), axis=0)  # own depth of each infoset
        cols = np.arange(pseq.shape[0])
        for k, row in enumerate(chain):  # root first: chain[depth - 1] goes to row 0
            at = depth > k
            out[depth[at] - 1 - k, cols[at]] = row[at]
    return out


def _paths(tree: Tree):
    """Per history, each player's last own sequence ``last [H, N]`` (``tree.own_sequences``) and the
    chance edges on its path ``chance [H, C]`` (root first, zero-padded; ``C >= 1``), one vectorized
    step per depth: a history copies its parent's row and writes its own edge."""
    H = tree.num_histories
    last = own_sequences(tree)  # first: its temporaries are freed before this function's own
    parent = np.asarray(tree.parent)  # int32 indexes: no int64 copies of the [H] columns
    actor = np.asarray(tree.edge_actor)
    levels = depth_levels(tree)
    count = np.zeros(H, np.int32)  # chance edges on the path
    for ids in levels:
        count[ids] = count[parent[ids]] + (actor[ids] == CHANCE)
    dtype = np.int32 if H < 2**31 else np.int64
    chance = np.zeros((H, max(1, int(count.max()) if H else 0)), dtype)
    for ids in levels:
        par = parent[ids]
        chance[ids] = chance[par]
        at = actor[ids] == CHANCE
        chance[ids[at], count[par[at]]] = ids[at]
    return last, chance


def _own_depth(pseq: np.ndarray, A: int) -> np.ndarray:
    """Each information set's own depth: the number of own sequences above it (``pseq`` chains)."""
    depth = np.zeros(pseq.shape[0], np.int64)
    s = pseq.copy()
    while np.any(s):
        up = s != 0
        depth += up
        s = np.where(up, pseq[np.maximum(s - 1, 0) // A], 0)
    return depth


def _take(x: jax.Array, idx) -> jax.Array:
    """``x[idx]`` for indices known to be in bounds (no clamping or wrap-around code)."""
    return x.at[jnp.asarray(idx)].get(mode="promise_in_bounds")


def own_reach(sf: SequenceForm, i: int, pi: jax.Array) -> jax.Array:
    """``[n_I]``: player ``i``'s own realization weight of each information set, the product of its
    behavioural probabilities on the own sequences above (root first): one fused gather-product."""
    flat = jnp.concatenate([jnp.ones((1,), pi.dtype), pi.reshape(-1)])
    r = jnp.ones(pi.shape[:-1], pi.dtype)
    if len(sf.ancestors[i]):
        for f in _take(flat, sf.ancestors[i]):  # one gather [D, n_I], then the product in root-first order
            r = r * f
    return r


def realization_plan(sf: SequenceForm, i: int, pi: jax.Array) -> jax.Array:
    """``[1 + n_I * A]`` realization plan of player ``i``'s behavioural policy ``pi``:
    ``x[seq(I, a)] = own_reach(I) * pi(I, a)``."""
    x = own_reach(sf, i, pi)[:, None] * pi
    return jnp.concatenate([jnp.ones((1,), pi.dtype), x.reshape(-1)])


def terminal_grid(sf: SequenceForm, i: int, weights: jax.Array) -> tuple:
    """``terminal_weights`` laid out by player ``i``'s last sequence: one ``[K, n]`` block per number
    ``K`` of terminals below a sequence (column: one sequence's terminals), the scatter-free form
    that ``sequence_values`` sums."""
    return tuple(_take_or_zero(weights, b) for b in sf.terminal_buckets[i][0])


def decision_grid(sf: SequenceForm, i: int, weights: jax.Array) -> tuple:
    """``decision_weights`` laid out by information set, as ``terminal_grid`` (blocks of ``[K, n]``)."""
    return tuple(_take_or_zero(weights, b) for b in sf.decision_buckets[i][0])


#: Rows up to this many actions are reduced by slices (elementwise code that XLA fuses with its
#: neighbours) rather than by a reduction (a kernel of its own on the CPU).
UNROLL_ACTIONS = 8


def row_reduce(x: jax.Array, op=jnp.add) -> jax.Array:
    """``x`` reduced over its last axis by ``op`` (``jnp.add`` / ``jnp.maximum``), in order."""
    if x.shape[-1] > UNROLL_ACTIONS or x.shape[-1] == 0:
        return {jnp.add: jnp.sum, jnp.maximum: jnp.max}[op](x, axis=-1)
    out = x[..., 0]
    for a in range(1, x.shape[-1]):
        out = op(out, x[..., a])
    return out


def _column_sum(g: jax.Array) -> jax.Array:
    """``g.sum(0)`` as a chain of row additions (in row order: the order of a sorted segment sum;
    XLA's CPU reduction over a short axis is slower)."""
    out = g[0]
    for k in range(1, g.shape[0]):
        out = out + g[k]
    return out


def terminal_weights(sf: SequenceForm, i: int, payoffs, chance_prob) -> jax.Array:
    """``[Z]``: ``chance(z) * payoff_i(z)`` in player ``i``'s terminal order, the policy-free
    factor of the payoff mat-vec (``EFGGame`` computes it once, at construction)."""
    coef = jnp.prod(chance_prob[jnp.asarray(sf.terminal_chance[i])], axis=-1)
    return coef * payoffs[jnp.asarray(sf.terminal_order[i]), i]


def decision_weights(sf: SequenceForm, i: int, chance_prob) -> jax.Array:
    """``[M_i]``: chance's reach of each decision history of player ``i``."""
    return jnp.prod(chance_prob[jnp.asarray(sf.decision_chance[i])], axis=-1)


def host_tables(sf: SequenceForm, payoffs: np.ndarray, chance_prob: np.ndarray) -> tuple:
    """``terminal_weights``, ``decision_weights``, ``terminal_grid`` and ``decision_grid`` of every
    player, computed with NumPy on the host from concrete ``payoffs [H, N]`` and ``chance_prob [H]``
    of one float dtype: four tuples (per player) of NumPy arrays with the very dtypes, shapes and
    values of the ``jax.numpy`` functions (the chance product taken in path order, as XLA's
    ``reduce_prod``), and no XLA program to compile. ``EFGGame`` moves each to the device once.

    Example::

        >>> import numpy as np, jaxgames
        >>> tree = jaxgames.kuhn_poker().tree
        >>> tw, dw, tg, dg = host_tables(sequence_form(tree), tree.payoffs, tree.chance_prob)
        >>> tw[0].shape, [g.shape for g in dg[0]]
        ((30,), [(2, 6)])
    """
    n = len(sf.num_sequences)
    dtype = payoffs.dtype

    def chance_reach(paths):  # prod over the path's chance edges, left to right
        out = chance_prob[paths[:, 0]]
        for c in range(1, paths.shape[1]):
            out *= chance_prob[paths[:, c]]
        return out

    def grid(weights, blocks):  # _take_or_zero: the appended slot len(weights) reads 0
        padded = np.zeros(weights.shape[0] + 1, dtype)
        padded[:-1] = weights
        return tuple(padded[np.asarray(b)] for b in blocks)

    tw, dw, tg, dg = [], [], [], []
    with np.errstate(all="ignore"):  # as XLA: inf / nan flow through silently
        for i in range(n):
            w = chance_reach(np.asarray(sf.terminal_chance[i]))
            w *= payoffs[np.asarray(sf.terminal_order[i]), i]
            tw.append(w)
            dw.append(chance_reach(np.asarray(sf.decision_chance[i])))
            tg.append(grid(tw[i], sf.terminal_buckets[i][0]))
            dg.append(grid(dw[i], sf.decision_buckets[i][0]))
    return tuple(tw), tuple(dw), tuple(tg), tuple(dg)


def sequence_values(sf: SequenceForm, i: int, plans, weights) -> jax.Array:
    """``u_i`` ``[S_i]``: the sparse payoff mat-vec against the other players' plans.

    ``weights`` is ``terminal_weights(sf, i, payoffs, chance_prob)`` ``[Z]``, or the same laid out by
    ``terminal_grid`` (what ``EFGGame`` keeps). Gathers and sums over the terminals of each sequence
    (in terminal order, as a sorted segment sum), no scatter.
    """
    if not isinstance(weights, (tuple, list)):
        weights = terminal_grid(sf, i, weights)
    return _others_weighted_sum(i, plans, weights, sf.terminal_bucket_last[i], sf.terminal_buckets[i][1])


def opponent_reach(sf: SequenceForm, i: int, plans, weights, num_infosets: int) -> jax.Array:
    """``[n_I]``: chance and the other players' reach of each information set of player ``i``.

    ``weights`` is ``decision_weights(sf, i, chance_prob)`` ``[M_i]``, or the same laid out by
    ``decision_grid`` (what ``EFGGame`` keeps).
    """
    if not isinstance(weights, (tuple, list)):
        weights = decision_grid(sf, i, weights)
    return _others_weighted_sum(i, plans, weights, sf.decision_bucket_last[i], sf.decision_buckets[i][1])


def _others_weighted_sum(i: int, plans, weights, last, buckets) -> jax.Array:
    """Each block of ``weights`` times the other players' plans at the sequences ``last[j][b]`` (the
    last sequence of player ``j`` before each entry), summed per row of player ``i`` (``_bucket_sum``)."""
    blocks = []
    for b, w in enumerate(weights):
        for j, x in enumerate(plans):
            if j != i:
                w = w * _take(x, last[j][b])
        blocks.append(w)
    return _bucket_sum(blocks, buckets)


def bottom_up(sf: SequenceForm, i: int, u: jax.Array, reduce):
    """Counterfactual action values ``[n_I, A]`` and the root value, from the leaves up.

    ``reduce(q)`` turns an information set's action values into its value: the
    policy's expectation, or the legal maximum for a best response.
    """
    A = sf.num_actions
    n_inf = sf.parent_sequence[i].shape[0]
    grid = u[1:].reshape(n_inf, A)
    q = grid
    masks = sf.depth_masks[i]
    pseq = jnp.asarray(sf.parent_sequence[i])
    for k in range(len(masks) - 2, -1, -1):
        below = jax.ops.segment_sum(
            jnp.where(jnp.asarray(masks[k + 1]), reduce(q), 0.0), pseq, num_segments=sf.num_sequences[i]
        )
        q = jnp.where(jnp.asarray(masks[k])[:, None], grid + below[1:].reshape(n_inf, A), q)
    root = u[0] + jnp.sum(jnp.where(jnp.asarray(masks[0]), reduce(q), 0.0)) if n_inf else u[0]
    return q, root


def bottom_up_levels(sf: SequenceForm, i: int, u: jax.Array, reduce, operands=()):
    """``bottom_up`` one own-depth level at a time, on that level's information sets only.

    ``reduce(q, *rows)`` gets a level's action values ``[n_k, A]`` and the same rows of each of
    ``operands`` (``[n_I, ...]`` arrays, e.g. the policy or the legal mask) and returns their values
    ``[n_k]``. Gathers and sums of slices only (no scatter, no full-size masks): the information
    sets are put in level order once, each level adds the values of the information sets right
    below its sequences, and the result is put back in id order. Same values as ``bottom_up``.

    ``u`` may carry trailing channels, ``[S, *c]``: then ``q`` is ``[n_k, A, *c]``, ``reduce``
    returns ``[n_k, *c]`` and the root value is ``[*c]`` (several passes over the same levels in
    the same kernels, as ``jaxgames.efg.joint`` does).
    """
    A, c = sf.num_actions, u.shape[1:]
    n_inf = sf.parent_sequence[i].shape[0]
    if not n_inf:
        return jnp.zeros((0, A, *c), u.dtype), u[0]
    identity = sf.level_identity[i]
    if identity:  # the usual case (build_tree numbers information sets by first visit)
        up, rows = u[1:].reshape(n_inf, A, *c), list(operands)
    else:
        up = _take(u, sf.level_sequences[i]).reshape(n_inf, A, *c)
        rows = [_take(o, sf.level_order[i]) for o in operands]
    bounds, children = sf.level_bounds[i], sf.level_children[i]
    qs, v = [], None
    for k in range(len(bounds) - 2, -1, -1):
        lo, hi = bounds[k], bounds[k + 1]
        q = up[lo:hi]
        if v is not None:
            blocks, where = children[k]
            q = q + _bucket_sum([_take_or_zero(v, b) for b in blocks], where).reshape(hi - lo, A, *c)
        v = reduce(q, *(r[lo:hi] for r in rows))
        qs.append(q)
    q = jnp.concatenate(qs[::-1])
    if not identity:
        q = _take(q.reshape(-1, *c), sf.level_inverse[i]).reshape(n_inf, A, *c)
    return q, u[0] + jnp.sum(v, axis=0)
