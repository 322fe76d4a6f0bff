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
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np

CHANCE, TERMINAL, ROOT = -1, -4, -2


@dataclasses.dataclass(frozen=True, eq=False)
class Tree:
    """The static structure of a tabular game tree (NumPy arrays; hashed by identity)."""

    num_players: int
    max_actions: int
    depth: np.ndarray          # int32 [H]
    parent: np.ndarray         # int32 [H] (root: 0)
    edge_actor: np.ndarray     # int32 [H]: who chose the edge into h (player, CHANCE, or ROOT)
    edge_infoset: np.ndarray   # int32 [H]: the parent's information set (player edges), else 0
    edge_action: np.ndarray    # int32 [H]: the action taken at the parent
    children: np.ndarray       # int32 [H, max_actions]: child by action id, -1 if none
    is_terminal: np.ndarray    # bool [H]
    chance_prob: np.ndarray    # float64 [H]: probability of chance edges (1 for other edges)
    payoffs: np.ndarray        # float64 [H, N]: terminal payoffs (0 elsewhere)
    decision_nodes: tuple      # per player: int32 [M_i] histories where the player acts
    decision_infosets: tuple   # per player: int32 [M_i] their information sets
    legal: tuple               # per player: bool [num_infosets_i, max_actions]
    infoset_keys: tuple        # per player: tuple of information-state strings

    @property
    def num_histories(self) -> int:
        return len(self.depth)

    @property
    def max_depth(self) -> int:
        return int(self.depth.max())

    @property
    def num_infosets(self) -> tuple:
        return tuple(m.shape[0] for m in self.legal)


def build_tree(game, max_histories: int = 2_000_000) -> Tree:
    """Walk ``game`` (pyspiel interface) breadth-first and return its ``Tree``.

    Raises ``ValueError`` if the tree has more than ``max_histories`` histories
    or the game does not have perfect recall.
    """
    n = game.num_players()
    width = max(game.num_distinct_actions(), game.max_chance_outcomes())
    root = game.new_initial_state()
    depth, parent, actor, e_info, e_action, terminal, prob, pay = [], [], [], [], [], [], [], []
    children = []
    keys = [dict() for _ in range(n)]
    masks = [[] for _ in range(n)]
    recall = [dict() for _ in range(n)]  # infoset -> own sequence
    dec_nodes = [[] for _ in range(n)]
    dec_infos = [[] for _ in range(n)]

    # queue items: (state, parent index, actor, parent infoset, action, chance prob, depth, own sequences)
    queue = deque([(root, 0, ROOT, 0, 0, 1.0, 0, tuple(() for _ in range(n)))])
    while queue:
        state, par, act, pinfo, action, p, d, own = queue.popleft()
        h = len(depth)
        if h >= max_histories:
            raise ValueError(f"game: more than max_histories={max_histories} histories; "
                             "too large for a tabular model (raise max_histories if memory allows)")
        depth.append(d); parent.append(par); actor.append(act); e_info.append(pinfo)
        e_action.append(action); prob.append(p)
        children.append(np.full(width, -1, np.int64))
        if h > 0:
            children[par][action] = h
        if state.is_terminal():
            terminal.append(True)
            pay.append(np.asarray(state.returns(), np.float64))
            continue
        terminal.append(False)
        pay.append(np.zeros(n))
        if state.is_chance_node():
            for a, pa in state.chance_outcomes():
                queue.append((state.child(a), h, CHANCE, 0, a, float(pa), d + 1, own))
            continue
        player = state.current_player()
        if player < 0:
            raise ValueError(f"game: simultaneous-move node (player id {player}); "
                             "convert it with pyspiel.convert_to_turn_based first")
        key = state.information_state_string(player)
        legal = state.legal_actions()
        if key not in keys[player]:
            keys[player][key] = len(keys[player])
            mask = np.zeros(width, bool)
            mask[legal] = True
            masks[player].append(mask)
            recall[player][key] = own[player]
        elif recall[player][key] != own[player]:
            raise ValueError(f"game: not perfect recall: player {player}'s information set {key!r} "
                             "is reached after different own histories")
        info = keys[player][key]
        dec_nodes[player].append(h)
        dec_infos[player].append(info)
        for a in legal:
            seq = own[:player] + (own[player] + ((info, a),),) + own[player + 1:]
            queue.append((state.child(a), h, player, info, a, 1.0, d + 1, seq))

    as_i32 = lambda x: np.asarray(x, np.int32)
    return Tree(
        num_players=n, max_actions=game.num_distinct_actions(), depth=as_i32(depth), parent=as_i32(parent),
        edge_actor=as_i32(actor), edge_infoset=as_i32(e_info), edge_action=as_i32(e_action),
        children=np.stack(children).astype(np.int32), is_terminal=np.asarray(terminal),
        chance_prob=np.asarray(prob), payoffs=np.stack(pay),
        decision_nodes=tuple(as_i32(x) for x in dec_nodes), decision_infosets=tuple(as_i32(x) for x in dec_infos),
        legal=tuple(np.stack(m)[:, :game.num_distinct_actions()] if m else np.zeros((0, game.num_distinct_actions()), bool)
                    for m in masks),
        infoset_keys=tuple(tuple(k) for k in keys))
