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
from collections import deque

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


def build_tree(game, max_histories: int = 2_000_000, tensors: bool = True, max_bytes: int | None = None) -> Tree:
    """Walk ``game`` (pyspiel interface) breadth-first and return its ``Tree``.

    ``tensors``: keep ``game`` to read its information-state and observation
    tensors at decision and terminal histories from, on first access, when it
    provides them (see the module docstring). Raises ``ValueError`` if the
    game does not have perfect recall, or as soon as the walk has found more
    than ``max_histories`` histories or more than its tables (``tree_bytes``)
    fit in ``max_bytes`` (default 4 GiB, see ``jaxgames.validation``): the
    limits hold as the walk goes, counting the histories already queued, and a
    child state is only created when its history is recorded.
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
    depth, parent, actor, e_info, e_action, prob = [], [], [], [], [], []
    terminal_payoffs = {}
    keys = [dict() for _ in range(n)]
    masks = [[] for _ in range(n)]
    recall = [dict() for _ in range(n)]  # infoset -> own sequence
    dec_nodes = [[] for _ in range(n)]
    dec_infos = [[] for _ in range(n)]

    # queue items: (parent state, action, parent index, actor, parent infoset, chance prob, depth,
    # own sequences); the root's parent state is None (it is the root itself)
    queue = deque([(None, 0, 0, ROOT, 0, 1.0, 0, tuple(() for _ in range(n)))])
    while queue:
        pstate, action, par, act, pinfo, p, d, own = queue.popleft()
        state = root if pstate is None else pstate.child(action)
        h = len(depth)
        for column, value in ((depth, d), (parent, par), (actor, act), (e_info, pinfo), (e_action, action), (prob, p)):
            column.append(value)
        if state.is_terminal():
            terminal_payoffs[h] = np.asarray(state.returns(), np.float64)
            continue
        if state.is_chance_node():
            for a, pa in state.chance_outcomes():
                queue.append((state, a, h, CHANCE, 0, float(pa), d + 1, own))
        else:
            player = state.current_player()
            if player < 0:
                raise ValueError(
                    f"game: simultaneous-move node (player id {player}); "
                    "convert it with pyspiel.convert_to_turn_based first"
                )
            key = state.information_state_string(player)
            legal = state.legal_actions()
            if key not in keys[player]:
                keys[player][key] = len(keys[player])
                mask = np.zeros(width, bool)
                mask[legal] = True
                masks[player].append(mask)
                recall[player][key] = own[player]
            elif recall[player][key] != own[player]:
                raise ValueError(
                    f"game: not perfect recall: player {player}'s information set {key!r} "
                    "is reached after different own histories"
                )
            info = keys[player][key]
            dec_nodes[player].append(h)
            dec_infos[player].append(info)
            for a in legal:
                seq = own[:player] + (own[player] + ((info, a),),) + own[player + 1 :]
                queue.append((state, a, h, player, info, 1.0, d + 1, seq))
        if len(depth) + len(queue) > cap:
            check_tree_size(len(depth) + len(queue), n, width, "game", max_histories, byte_limit, at_least=True)

    H = len(depth)
    as_i32 = lambda x: np.asarray(x, np.int32)  # noqa: E731
    parent, e_action = as_i32(parent), as_i32(e_action)
    children = np.full((H, width), -1, np.int32)
    children[parent[1:], e_action[1:]] = np.arange(1, H, dtype=np.int32)
    is_terminal = np.zeros(H, bool)
    payoffs = np.zeros((H, n))
    if terminal_payoffs:
        rows = np.fromiter(terminal_payoffs, np.int64, len(terminal_payoffs))
        is_terminal[rows] = True
        payoffs[rows] = np.stack(list(terminal_payoffs.values()))
    A = game.num_distinct_actions()
    return Tree(
        num_players=n,
        max_actions=A,
        depth=as_i32(depth),
        parent=parent,
        edge_actor=as_i32(actor),
        edge_infoset=as_i32(e_info),
        edge_action=e_action,
        children=children,
        is_terminal=is_terminal,
        chance_prob=np.asarray(prob),
        payoffs=payoffs,
        decision_nodes=tuple(as_i32(x) for x in dec_nodes),
        decision_infosets=tuple(as_i32(x) for x in dec_infos),
        legal=tuple(np.stack(m)[:, :A] if m else np.zeros((0, A), bool) for m in masks),
        infoset_keys=tuple(tuple(k) for k in keys),
        tensor_source=game if tensors and _provided_tensors(game, root) else None,
        max_bytes=max_bytes,
    )
