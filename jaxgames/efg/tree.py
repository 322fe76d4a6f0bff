"""Turn a game description into the arrays of a tabular extensive-form game.

``build_tree(game)`` walks the whole tree once, in Python, from any object with
the pyspiel ``Game`` / ``State`` interface (OpenSpiel's own games, or the native
rules in ``jaxgames.efg.rules``), and records it breadth-first:

* per history ``h``: its depth, its parent, the action that led to it, who
  acted there (a player, chance, or nobody for the root), the information set
  of the parent (numbered per player), the chance probability of the edge, and
  the terminal payoffs;
* per player: the decision histories and their information sets, the legal
  action mask ``[num_infosets, max_actions]`` and each information set's key
  (the pyspiel ``information_state_string``).

Perfect recall is checked: all histories of an information set must share the
player's own sequence of (information set, action) pairs.

**Tensors.** When the game provides them (pyspiel: ``get_type()``'s
``provides_information_state_tensor`` / ``provides_observation_tensor``; any
game: ``information_state_tensor_shape()`` on the game and
``information_state_tensor(player)`` on its states, likewise for
observations), the tree also holds, for every decision and terminal history
(the histories a simulator stands at) and every player, the flat
information-state and observation tensors, OpenSpiel's layout, as float32
tables ``tree.information_state_tensors [R, N, D_info]`` and
``tree.observation_tensors [R, N, D_obs]``; ``tree.tensor_row[h]`` is the row
of history ``h`` (``-1`` at chance histories). The tables are recorded on first
access, by a second walk of the same game along the tree's edges (the tree
keeps a reference to the game): building a tree for solving alone costs no
tensor calls and no table memory (``poker.py`` builds four trees per game to
solve its payoff basis). A game that does
not provide a kind (or fails to produce it at some history, with a warning)
leaves that table ``None``; ``build_tree(game, tensors=False)`` keeps no
reference and has no tables.
"""

from __future__ import annotations

import dataclasses
import warnings
from array import array

import numpy as np

from jaxgames.validation import check_bool, check_int, check_table_bytes, format_bytes, resolve_max_bytes, table_bytes

CHANCE, TERMINAL, ROOT = -1, -4, -2


@dataclasses.dataclass(frozen=True, eq=False)
class Tree:
    """The static structure of a tabular game tree (NumPy arrays; hashed by identity)."""

    num_players: int
    max_actions: int
    depth: np.ndarray  # int32 [H]
    parent: np.ndarray  # int32 [H] (root: 0)
    edge_actor: np.ndarray  # int32 [H]: who chose the edge into h (player, CHANCE, or ROOT)
    edge_infoset: np.ndarray  # int32 [H]: the parent's information set (player edges), else 0
    edge_action: np.ndarray  # int32 [H]: the action taken at the parent
    children: np.ndarray  # int32 [H, max_actions]: child by action id, -1 if none
    is_terminal: np.ndarray  # bool [H]
    chance_prob: np.ndarray  # float64 [H]: probability of chance edges (1 for other edges)
    payoffs: np.ndarray  # float64 [H, N]: terminal payoffs (0 elsewhere)
    decision_nodes: tuple  # per player: int32 [M_i] histories where the player acts
    decision_infosets: tuple  # per player: int32 [M_i] their information sets
    legal: tuple  # per player: bool [num_infosets_i, max_actions]
    infoset_keys: tuple  # per player: tuple of information-state strings
    # the game that the OpenSpiel tensor tables are read from on first access (None: no tables)
    tensor_source: object = dataclasses.field(default=None, repr=False)
    # the ceiling on the tensor tables (None: the default, see jaxgames.validation)
    max_bytes: object = dataclasses.field(default=None, repr=False)
    _tensors: dict = dataclasses.field(default_factory=dict, repr=False)

    # -- OpenSpiel tensors at decision and terminal histories (None: the game provides none) --
    @property
    def tensor_row(self) -> np.ndarray | None:
        """int32 ``[H]``: the row of each history in the tensor tables, ``-1`` at chance histories."""
        return self._tensor_tables().get("tensor_row")

    @property
    def information_state_tensors(self) -> np.ndarray | None:
        """float32 ``[R, N, D_info]``: each player's information-state tensor at each table row."""
        return self._tensor_tables().get("information_state_tensors")

    @property
    def observation_tensors(self) -> np.ndarray | None:
        """float32 ``[R, N, D_obs]``: each player's observation tensor at each table row."""
        return self._tensor_tables().get("observation_tensors")

    @property
    def information_state_tensor_shape(self) -> tuple | None:
        """The game's (unflattened) information-state tensor shape."""
        return self._tensor_tables().get("information_state_tensor_shape")

    @property
    def observation_tensor_shape(self) -> tuple | None:
        """The game's (unflattened) observation tensor shape."""
        return self._tensor_tables().get("observation_tensor_shape")

    def _tensor_tables(self) -> dict:
        if not self._tensors and self.tensor_source is not None:
            self._tensors.update(_record_tensors(self, self.tensor_source) or {"none": True})
        return self._tensors

    @property
    def num_histories(self) -> int:
        return len(self.depth)

    @property
    def max_depth(self) -> int:
        return int(self.depth.max())

    @property
    def num_infosets(self) -> tuple:
        return tuple(m.shape[0] for m in self.legal)


_TENSOR_KINDS = ("information_state", "observation")


def _provided_tensors(game, root) -> dict:
    """``{kind: shape}`` for the tensor kinds that ``game`` declares and its states implement."""
    out = {}
    for kind in _TENSOR_KINDS:
        method = f"{kind}_tensor"
        if not (callable(getattr(game, method + "_shape", None)) and callable(getattr(root, method, None))):
            continue
        if callable(getattr(game, "get_type", None)) and not getattr(game.get_type(), f"provides_{method}", True):
            continue  # pyspiel: the method exists on every game, the flag says whether it works
        try:
            out[kind] = tuple(int(d) for d in getattr(game, method + "_shape")())
        except Exception:  # noqa: BLE001 - a game without the shape simply has no such tensor
            continue
    return out


def _record_tensors(tree: Tree, game) -> dict:
    """Walk ``game`` along ``tree``'s edges; every provided tensor kind, for every player, at every
    decision and terminal history (the fields behind ``Tree.tensor_row`` and the tables)."""
    root = game.new_initial_state()
    shapes = _provided_tensors(game, root)
    if not shapes:
        return {}
    n = tree.num_players
    stands = tree.is_terminal.copy()
    for nodes in tree.decision_nodes:
        stands[nodes] = True
    row = np.where(stands, np.cumsum(stands) - 1, -1).astype(np.int32)
    for kind, shape in shapes.items():
        dims = (int(stands.sum()), n, int(np.prod(shape)))
        check_table_bytes(
            table_bytes(dims, np.float32),
            "game",
            f"the {kind} tensor table [{dims[0]}, {dims[1]}, {dims[2]}] (float32)",
            tree.max_bytes,
        )
    tables = {kind: np.zeros((int(stands.sum()), n, int(np.prod(shape))), np.float32) for kind, shape in shapes.items()}
    stack = [(0, root)]
    while stack:
        h, state = stack.pop()
        if stands[h]:
            for kind in list(tables):
                tensor, out = getattr(state, f"{kind}_tensor"), tables[kind][row[h]]
                for p in range(n):
                    try:
                        values = tensor(p)
                        if len(values) != out.shape[1]:
                            raise ValueError(f"{len(values)} values, expected {out.shape[1]}")
                        out[p] = values
                    except Exception as err:  # noqa: BLE001 - a kind that fails somewhere is dropped
                        warnings.warn(
                            f"game: no {kind} tensors (at history {h}, player {p}: {type(err).__name__}: {err})",
                            RuntimeWarning,
                            stacklevel=4,
                        )
                        del tables[kind], shapes[kind]
                        break
        for a in np.nonzero(tree.children[h] >= 0)[0]:
            stack.append((int(tree.children[h, a]), state.child(int(a))))
    if not tables:
        return {}
    out = dict(tensor_row=row)
    for kind, table in tables.items():
        out[f"{kind}_tensors"] = table
        out[f"{kind}_tensor_shape"] = shapes[kind]
    return out


#: Python bytes per history while walking (list slots, int objects, the queued item and its own
#: sequences), on top of the tables; measured on Kuhn and Leduc (see ``tree_bytes``).
WALK_BYTES_PER_HISTORY = 400


def tree_bytes(num_histories: int, num_players: int, width: int) -> int:
    """Bytes to walk and hold a tree of ``num_histories`` histories: the ``Tree`` tables (five int32
    columns, the ``[H, width]`` int32 children table, ``is_terminal``, float64 ``chance_prob`` and
    ``payoffs [H, N]``) plus the walk's Python bookkeeping per history."""
    per_history = 5 * 4 + 4 * width + 1 + 8 + 8 * num_players + WALK_BYTES_PER_HISTORY
    return int(num_histories) * per_history


def check_tree_size(
    num_histories: int,
    num_players: int,
    width: int,
    field: str = "game",
    max_histories=None,
    max_bytes=None,
    at_least: bool = False,
) -> None:
    """Raise ``ValueError`` naming ``field`` if a tree of ``num_histories`` histories is above
    ``max_histories`` or its tables (``tree_bytes``) above ``max_bytes``. ``at_least``: the count is
    what a walk has found so far (the tree is larger)."""
    limit = resolve_max_bytes(max_bytes)
    need = tree_bytes(num_histories, num_players, width)
    over_h = max_histories is not None and num_histories > max_histories
    if not over_h and need <= limit:
        return
    more = "more than " if at_least else ""
    above = (
        (f"max_histories = {max_histories:,}" if over_h else "")
        + (" and " if over_h and need > limit else "")
        + (f"max_bytes = {format_bytes(limit)}" if need > limit else "")
    )
    raise ValueError(
        f"{field}: the game tree has {more}{num_histories:,} histories, whose tables need {more}"
        f"{format_bytes(need)} ({width} actions wide), above {above}; too large for a tabular model: "
        f"choose a smaller {field}, or pass max_histories= and max_bytes= (or set JAXGAMES_MAX_BYTES) to "
        "allow more if the machine has the memory"
    )


def _code_of(fast: bool):
    """``state -> int``: the player to move, ``CHANCE``, ``TERMINAL`` (or another negative pyspiel id)."""
    if fast:  # pyspiel and the native rules: current_player() is -4 at terminals and -1 at chance
        return lambda state: state.current_player()

    def code(state):
        if state.is_terminal():
            return TERMINAL
        return CHANCE if state.is_chance_node() else state.current_player()

    return code


def _fast_codes(root) -> bool:
    """Whether ``root``'s states report ``TERMINAL`` / ``CHANCE`` through ``current_player()``."""
    import sys

    from jaxgames.efg.rules.base import RulesState

    pyspiel = sys.modules.get("pyspiel")
    return isinstance(root, RulesState) or (pyspiel is not None and isinstance(root, pyspiel.State))


def own_sequences(tree: Tree) -> np.ndarray:
    """int ``[H, N]`` (int32 when the ids fit): each player's last own sequence on the path to each
    history, ``1 + infoset * max_actions + action`` (0: none yet), one depth at a time (parents before
    children)."""
    n, A, H = tree.num_players, tree.max_actions, tree.num_histories
    parent = np.asarray(tree.parent)  # int32 indexes: no int64 copies of the [H] columns
    actor = np.asarray(tree.edge_actor)
    dtype = np.int32 if max(H, 1 + sum(tree.num_infosets) * A) < 2**31 else np.int64
    seq = np.asarray(tree.edge_infoset, dtype) * A  # the ids fit in dtype (checked above)
    seq += np.asarray(tree.edge_action, dtype)
    seq += 1
    last = np.zeros((H, n), dtype)
    for ids in depth_levels(tree):
        last[ids] = last[parent[ids]]
        own = ids[actor[ids] >= 0]
        last[own, actor[own]] = seq[own]
    return last


def depth_levels(tree: Tree) -> list:
    """The histories of each depth ``1, 2, ...`` (int64 ids, in order): a contiguous range each in
    breadth-first order (``build_tree`` and the native builders), else gathered by depth."""
    depth = np.asarray(tree.depth, np.int64)
    if depth.size <= 1:
        return []
    if np.all(depth[1:] >= depth[:-1]):
        bounds = np.searchsorted(depth, np.arange(int(depth[-1]) + 2))
        return [np.arange(bounds[d], bounds[d + 1]) for d in range(1, len(bounds) - 1)]
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(int(depth.max()) + 2))
    return [order[bounds[d] : bounds[d + 1]] for d in range(1, len(bounds) - 1)]


def _check_recall(tree: Tree) -> None:
    """Perfect recall: every history of an information set has the player's first-visit history's
    last own sequence (by induction over own depth, then the whole own sequences agree). Names the
    breadth-first first history that differs, as the walk used to."""
    last = None
    for p in range(tree.num_players):
        nodes, infos = tree.decision_nodes[p], tree.decision_infosets[p]
        if not len(nodes):
            continue
        last = own_sequences(tree) if last is None else last
        seqs = last[nodes, p]
        first = np.full(tree.num_infosets[p], -1, seqs.dtype)
        first[infos[::-1]] = seqs[::-1]  # the first visit wins (decision_nodes is in walk order)
        bad = np.nonzero(first[infos] != seqs)[0]
        if bad.size:
            key = tree.infoset_keys[p][int(infos[bad[0]])]
            raise ValueError(
                f"game: not perfect recall: player {p}'s information set {key!r} "
                "is reached after different own histories"
            )


def number_by_first_visit(at: np.ndarray, tmp: np.ndarray, keys: list) -> tuple:
    """Information sets numbered in order of first breadth-first visit (``build_tree``'s numbering).

    ``at``: the breadth-first ids of one player's decision histories (any order); ``tmp``: their
    temporary information-set ids ``0 .. M-1``; ``keys``: the ``M`` keys in temporary order. Returns
    the histories ascending (int32), their information sets (int32), each information set's first
    history, the new id of each temporary id, and the keys in the new order.
    """
    sort = np.argsort(at, kind="stable")
    at, tmp = at[sort], tmp[sort]
    uniq, first = np.unique(tmp, return_index=True)  # uniq: every temporary id, 0..M-1
    by_first = np.argsort(first, kind="stable")
    new = np.empty(len(uniq), np.int64)
    new[uniq[by_first]] = np.arange(len(uniq))
    ordered = tuple(keys[j] for j in uniq[by_first].tolist())
    return at.astype(np.int32), new[tmp].astype(np.int32), at[first[by_first]], new, ordered


def build_tree(game, max_histories: int = 2_000_000, tensors: bool = True, max_bytes: int | None = None) -> Tree:
    """Walk ``game`` (pyspiel interface) breadth-first and return its ``Tree``.

    ``tensors``: keep ``game`` to read its information-state and observation
    tensors at decision and terminal histories from, on first access, when it
    provides them (see the module docstring). Raises ``ValueError`` if the
    game does not have perfect recall, or as soon as the walk has found more
    than ``max_histories`` histories or more than its tables (``tree_bytes``)
    fit in ``max_bytes`` (default 4 GiB, see ``jaxgames.validation``): the
    limits hold as the walk goes, counting the children of the parents about
    to be expanded before any of them is created.

    The walk is depth first with an explicit stack (only the open histories'
    children are alive, so memory stays near the tables'), per history one
    ``child`` (the last child of a pyspiel or native-rules parent is the
    parent itself, advanced with ``apply_action``: one clone less per
    parent), one ``current_player`` and ``returns`` / ``legal_actions`` with
    ``information_state_string`` / ``chance_outcomes``; the columns go to
    typed arrays per expanded parent, and NumPy then renumbers the histories
    breadth-first (by depth, then the parent's rank, then action order) and
    the information sets by first breadth-first visit: the very arrays of a
    breadth-first walk. Perfect recall is checked on the finished arrays
    (``own_sequences``). 3-player Leduc (1.83M histories): about 5.5 s of CPU
    and 0.35 GB, against 25 s and 0.6 GB for the former per-history queue;
    the bare pyspiel calls take about 5 s
    (``benchmarks/bench_openspiel_conversion.py``).

    Example::

        >>> from jaxgames.efg.rules import kuhn_poker_rules
        >>> tree = build_tree(kuhn_poker_rules())
        >>> tree.num_histories, tree.num_infosets, tree.max_depth
        (58, (6, 6), 5)
    """
    max_histories = check_int(max_histories, "max_histories", low=1)
    tensors = check_bool(tensors, "tensors")
    byte_limit = resolve_max_bytes(max_bytes)
    n = game.num_players()
    width = max(game.num_distinct_actions(), game.max_chance_outcomes())
    per_history = tree_bytes(1, n, width)
    # the walk stops at the first count above either limit
    cap = min(max_histories, byte_limit // per_history)
    root = game.new_initial_state()
    tensor_source = game if tensors and _provided_tensors(game, root) else None
    # pyspiel and the native rules: current_player() is TERMINAL / CHANCE there, and a parent's last
    # child is made by applying the action to the parent itself (one clone less per parent)
    fast = _fast_codes(root)
    code = _code_of(fast)
    keys = [dict() for _ in range(n)]  # per player: key -> id in order of first visit by the walk
    dec_nodes = [array("q") for _ in range(n)]
    dec_infos = [array("q") for _ in range(n)]
    # per expanded (non-terminal) history, in walk order: id, depth, number of children, actor, infoset;
    # its children get the next ids, in action order
    par_id, par_depth, par_count, par_actor, par_info = (array("q") for _ in range(5))
    actions = array("q")  # per child, in id order
    chance_at, chance_p = array("q"), array("d")  # chance children: id, probability
    term_id, term_pay = array("q"), array("d")

    root_code = root.current_player() if fast else code(root)
    if root_code == TERMINAL:
        term_id.append(0)
        term_pay.extend(root.returns())
        stack = []
    else:
        stack = [(root, 0, root_code, 0)]
    H = 1
    while stack:  # depth first: only the open histories' siblings are alive; renumbered below
        state, h, cp, d = stack.pop()
        if cp == CHANCE:
            outcomes = state.chance_outcomes()
            acts = [a for a, _ in outcomes]
            chance_at.extend(range(H, H + len(acts)))
            chance_p.extend([q for _, q in outcomes])
            info = 0
        elif cp >= 0:
            key = state.information_state_string(cp)
            table = keys[cp]
            info = table.get(key)
            if info is None:
                info = table[key] = len(table)
            dec_nodes[cp].append(h)
            dec_infos[cp].append(info)
            acts = state.legal_actions()
        else:
            raise ValueError(
                f"game: simultaneous-move node (player id {cp}); convert it with pyspiel.convert_to_turn_based first"
            )
        k = len(acts)
        if H + k > cap:
            check_tree_size(H + k, n, width, "game", max_histories, byte_limit, at_least=True)
        par_id.append(h)
        par_depth.append(d)
        par_count.append(k)
        par_actor.append(cp)
        par_info.append(info)
        actions.extend(acts)
        for j, a in enumerate(acts):
            if fast and j == k - 1:
                state.apply_action(a)
                kid = state
            else:
                kid = state.child(a)
            c = kid.current_player() if fast else code(kid)
            if c == TERMINAL:
                term_id.append(H)
                term_pay.extend(kid.returns())
            else:
                stack.append((kid, H, c, d + 1))
            H += 1
    del stack

    # the walk's columns (ids in creation order), then breadth-first order: by depth, then by the
    # parent's breadth-first rank, then creation order (a parent's children are created in action order)
    counts = np.frombuffer(par_count, np.int64)
    i64 = lambda x: np.frombuffer(x, np.int64)  # noqa: E731
    w_parent = np.concatenate([[0], np.repeat(i64(par_id), counts)])
    w_depth = np.concatenate([[0], np.repeat(i64(par_depth) + 1, counts)])
    w_actor = np.concatenate([[ROOT], np.repeat(i64(par_actor), counts)])
    w_info = np.concatenate([[0], np.repeat(i64(par_info), counts)])
    del par_id, par_depth, par_count, par_actor, par_info
    order = np.argsort(w_depth, kind="stable")
    bounds = np.searchsorted(w_depth[order], np.arange(int(w_depth.max()) + 2))
    rank = np.zeros(H, np.int64)  # creation id -> breadth-first id
    for lo, hi in zip(bounds[1:-1].tolist(), bounds[2:].tolist()):
        ids = order[lo:hi]
        ids = ids[np.argsort(rank[w_parent[ids]], kind="stable")]
        order[lo:hi] = ids
        rank[ids] = np.arange(lo, hi)
    parent = rank[w_parent[order]].astype(np.int32)
    depth = w_depth[order].astype(np.int32)
    actor = w_actor[order].astype(np.int32)
    e_action = np.concatenate([[0], i64(actions)])[order].astype(np.int32)
    w_prob = np.ones(H)
    w_prob[i64(chance_at)] = np.frombuffer(chance_p, np.float64)
    prob = w_prob[order]
    del w_parent, w_depth, w_prob, actions, chance_at, chance_p
    # information sets: renumbered in order of first breadth-first visit
    nodes, infos, firsts, new_ids, key_lists = [], [], [], [], []
    for p in range(n):
        at, info, first, new, ordered = number_by_first_visit(rank[i64(dec_nodes[p])], i64(dec_infos[p]), list(keys[p]))
        nodes.append(at)
        infos.append(info)
        firsts.append(first)
        new_ids.append(new)
        key_lists.append(ordered)
    e_info = w_info[order]
    for p in range(n):
        mine = actor == p
        e_info[mine] = new_ids[p][e_info[mine]]
    e_info = e_info.astype(np.int32)
    del w_info
    children = np.full((H, width), -1, np.int32)
    children[parent[1:], e_action[1:]] = np.arange(1, H, dtype=np.int32)
    is_terminal = np.zeros(H, bool)
    payoffs = np.zeros((H, n))
    rows = rank[i64(term_id)]
    is_terminal[rows] = True
    payoffs[rows] = np.frombuffer(term_pay, np.float64).reshape(-1, n)
    A = game.num_distinct_actions()
    tree = Tree(
        num_players=n,
        max_actions=A,
        depth=depth,
        parent=parent,
        edge_actor=actor,
        edge_infoset=e_info,
        edge_action=e_action,
        children=children,
        is_terminal=is_terminal,
        chance_prob=prob,
        payoffs=payoffs,
        decision_nodes=tuple(nodes),
        decision_infosets=tuple(infos),
        legal=tuple(children[f, :A] >= 0 for f in firsts),
        infoset_keys=tuple(key_lists),
        tensor_source=tensor_source,
        max_bytes=max_bytes,
    )
    _check_recall(tree)
    return tree
