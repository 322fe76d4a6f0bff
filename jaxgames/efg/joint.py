"""All players' sequence forms as one forest: ``nash_conv`` in one pass instead of one per player.

``EFGGame.nash_conv`` needs, per player ``i``, the best-response value (a bottom-up pass over
``i``'s information sets with a max) and the policy's value ``<x_i, u_i>``. The players' passes
are independent, so they can run side by side on one forest whose trees are the players' own
sequence trees:

* the forest's information sets are all players' information sets, ordered by own depth, then
  player, then id (so each own-depth level is one contiguous block, ``level_identity``);
* its sequences are the empty sequence (id 0, shared) and one per (information set, action),
  numbered as in ``jaxgames.efg.sequence``; the forest plan ``X`` is every player's realization
  plan side by side, with ``X[0] = 1``;
* its payoff mat-vec has one entry per (player ``i``, terminal ``z``): the key is ``i``'s last
  sequence at ``z``, the weight ``chance(z) payoff_i(z)`` and the factors the other players' plans
  at their last sequences, so ``u[s]`` is ``u_i[s]`` for ``i``'s sequences and
  ``u[0] = sum_i u_i[0]``.

Then the forest's bottom-up pass with a max gives ``sum_i BR_i`` at its root and ``<X, u>`` is
``sum_i <x_i, u_i>``, so ``nash_conv = root - <X, u>``: exactly the per-player sum (von Stengel
1996's sequence form, evaluated for all players at once).

Why: a query that small (Leduc: 936 information sets, 5,520 terminals) is bound by the number
of XLA kernels, not by arithmetic; each level of the pass is a kernel or two whether it holds
one player's information sets or all of them. Leduc's exploitability went from 23 kernels to
about a dozen (``python benchmarks/bench_efg.py --only exploitability``). The tables repeat the
per-player ones (``EFGGame`` keeps those for everything else), so they are built only where
``joint_applies``: at most ``JOINT_MAX_ENTRIES`` (player, terminal) pairs (above that the arithmetic
dominates) and at most ``UNROLL_ACTIONS`` actions (past that a row is reduced by a reduction kernel,
which is slower over a two-channel row: liar's dice 1x5, 11 actions, took 0.61x the per-player
passes' speed and 1x4, 9 actions, 0.84x; with up to 8 actions the joint pass measured 1.03-1.34x
on Leduc, goofspiel 4 and 5 and 3-player goofspiel 4). Elsewhere ``nash_conv`` runs player by player.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.efg.sequence import (
    UNROLL_ACTIONS,
    SequenceForm,
    _ancestors,
    _buckets,
    _levels,
    _others_weighted_sum,
    _own_depth,
    _pick,
    _take,
    _take_or_zero,
    bottom_up_levels,
    realization_plan,
    row_reduce,
    sequence_form,
)
from jaxgames.efg.tree import Tree

#: Largest number of (player, terminal) pairs for which ``EFGGame`` builds the joint tables. Leduc
#: has 11,040, 3-player Kuhn 936; the limit keeps the extra memory of big games (liar's dice, 3-player
#: Leduc) at zero, where one pass more or less per player is lost in the arithmetic anyway.
JOINT_MAX_ENTRIES = 1 << 18


@dataclasses.dataclass(frozen=True, eq=False)
class JointForm:
    """The players' information sets as one forest (see the module docstring).

    * ``forest``: a one-player ``SequenceForm`` of the forest (the fields that
      ``realization_plan`` and ``bottom_up_levels`` read);
    * ``rows`` ``[n]``: each forest information set's row in the players' policies stacked
      (player 0's rows first); ``legal`` ``[n, A]``: the legal mask in forest order;
    * the mat-vec as ``_buckets`` blocks: ``entries`` (NumPy, per block ``[K, m]``) index the
      players' terminal weights stacked (for ``joint_grids``), ``others`` (per other-player slot,
      per block ``[K, m]``) the forest sequences whose plans multiply each entry, and ``where``
      ``[S]`` each sequence's column.
    """

    forest: SequenceForm
    rows: jax.Array
    legal: jax.Array
    entries: tuple
    others: tuple
    where: jax.Array


def joint_size(tree: Tree) -> int:
    """The number of (player, terminal) pairs: the size of the joint mat-vec."""
    return tree.num_players * int(np.count_nonzero(tree.is_terminal))


def joint_applies(tree: Tree) -> bool:
    """Whether ``EFGGame`` builds the joint tables for ``tree``: at most ``UNROLL_ACTIONS`` actions and
    ``JOINT_MAX_ENTRIES`` (player, terminal) pairs (see the module docstring)."""
    return tree.max_actions <= UNROLL_ACTIONS and joint_size(tree) <= JOINT_MAX_ENTRIES


@functools.cache
def joint_form(tree: Tree) -> JointForm:
    """Build (once per tree) the forest of all players' information sets from ``sequence_form``.

    Example::

        >>> import jaxgames
        >>> jf = joint_form(jaxgames.kuhn_poker().tree)
        >>> jf.legal.shape, jf.forest.level_bounds  # 9 information sets at own depth 0, 3 at 1
        ((12, 2), ((0, 9, 12),))
    """
    sf = sequence_form(tree)
    n, A = tree.num_players, tree.max_actions
    sizes = list(tree.num_infosets)
    player = np.repeat(np.arange(n), sizes)
    local = np.concatenate([np.arange(m) for m in sizes]).astype(np.int64)
    pseqs = [np.asarray(p, np.int64) for p in sf.parent_sequence]
    depth = np.concatenate([_own_depth(p, A) for p in pseqs]).astype(np.int64)
    rows = np.lexsort((local, player, depth))  # forest order: own depth, player, id
    pos = np.empty_like(rows)
    pos[rows] = np.arange(len(rows))
    start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    # seq[i][s]: the forest sequence of player i's sequence s (0 stays 0)
    seq = [
        np.concatenate([[0], 1 + (pos[start[i] : start[i + 1], None] * A + np.arange(A)).reshape(-1)]) for i in range(n)
    ]
    pseq = np.concatenate([seq[i][pseqs[i]] for i in range(n)])[rows]
    depth = depth[rows]
    levels = int(depth.max()) + 1 if len(depth) else 0
    order, bounds, seqs, inverse, children = _levels(pseq, depth, A, levels)
    assert np.array_equal(order, np.arange(len(order)))  # levels are contiguous by construction

    # The mat-vec's entries: player i's terminals in i's terminal order, player after player.
    keys, others = [], [[] for _ in range(n - 1)]
    for i in range(n):
        last = [np.asarray(c, np.int64) for c in sf.terminal_last[i]]
        keys.append(seq[i][last[i]])
        for k, j in enumerate(j for j in range(n) if j != i):
            others[k].append(seq[j][last[j]])
    keys = np.concatenate(keys)
    blocks, where = _buckets(keys, 1 + len(rows) * A)

    def dev(a):
        with jax.ensure_compile_time_eval():  # concrete even when first built inside a trace
            return jax.device_put(a.astype(np.int32, copy=False) if a.dtype != bool else a)

    legal = np.concatenate([np.asarray(m) for m in tree.legal])[rows]
    forest = SequenceForm(
        num_actions=A,
        num_sequences=(1 + len(rows) * A,),
        parent_sequence=(dev(pseq),),
        depth_masks=((),),
        terminal_last=(),
        terminal_order=(),
        terminal_chance=(),
        decision_last=(),
        decision_chance=(),
        decision_infoset=(),
        ancestors=(dev(_ancestors(pseq, A, levels)),),
        level_order=(dev(order),),
        level_bounds=(bounds,),
        level_sequences=(dev(seqs),),
        level_inverse=(dev(inverse),),
        level_identity=(True,),
        level_children=(tuple((tuple(dev(b) for b in bl), dev(w)) for bl, w in children),),
    )
    return JointForm(
        forest=forest,
        rows=dev(rows),
        legal=dev(legal),
        entries=tuple(b.astype(np.int32) for b in blocks),
        others=tuple(tuple(dev(o) for o in _pick(np.concatenate(c), blocks)) for c in others),
        where=dev(where),
    )


def joint_grids(jf: JointForm, terminal_weights) -> tuple:
    """The joint mat-vec's weights on the device, one ``[K, n]`` block per bucket: the players'
    ``terminal_weights`` (each ``[Z]`` in that player's terminal order) stacked and laid out by
    ``jf``'s blocks, 0 at the padding. NumPy weights are laid out on the host (``_pick``) and moved
    once; jax arrays (traced) by gathers (``_take_or_zero``)."""
    if all(isinstance(w, np.ndarray) for w in terminal_weights):
        return tuple(jax.device_put(b) for b in _pick(np.concatenate(terminal_weights), jf.entries))
    w = jnp.concatenate(terminal_weights)
    return tuple(_take_or_zero(w, b) for b in jf.entries)


def joint_nash_conv(jf: JointForm, policy, grids) -> jax.Array:
    """``sum_i (BR_i - u_i(pi))`` in one pass over the forest (see the module docstring).

    ``policy``: per player ``[n_I, A]``; ``grids``: ``joint_grids``. Same value as the per-player
    passes up to rounding (``tests/test_efg_fast_paths.py``).
    """
    x = realization_plan(jf.forest, 0, _take(jnp.concatenate(policy), jf.rows))
    # u: the forest's payoff mat-vec; every entry's factors are plans of the other players, all in x
    # (``_others_weighted_sum`` with no player to skip: i = -1).
    u = _others_weighted_sum(-1, [x] * len(jf.others), grids, jf.others, jf.where)

    def reduce(q, legal):  # [n_k, A, 2] -> [n_k, 2]: the legal max of u, the sum of x u
        best = row_reduce(jnp.where(legal, q[..., 0], -jnp.inf), jnp.maximum)
        return jnp.stack([best, row_reduce(q[..., 1])], -1)

    # Two channels, one pass: the best responses' values (channel 0) and <x, u> summed bottom-up
    # (channel 1), so the policy's value costs no reduction kernels of its own.
    _, (best, value) = bottom_up_levels(jf.forest, 0, jnp.stack([u, x * u], -1), reduce, (jf.legal,))
    return best - value
