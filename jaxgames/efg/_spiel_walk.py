"""One part of an OpenSpiel game tree, walked in this process or in a worker process (no JAX).

``from_openspiel(game, workers=k)`` (``jaxgames.efg.openspiel``) walks the first levels of the tree
itself (``walk(game, [[]], depth_limit=L)``), splits the histories left open at depth ``L`` (the
*frontier*) into ``k`` contiguous runs, walks one run in its own process and each other run in a
worker process that runs this file as a script (``python _spiel_walk.py``): it reads the request
(the game string, the action paths from the root to its frontier histories, the history budget)
as a pickle on stdin, loads the game by name, replays the paths, walks the subtrees below them and
writes the ``walk`` result as a pickle on stdout. The worker imports NumPy and pyspiel only, never
JAX or the ``jaxgames`` package (whose import would cost more than the walk saves, and whose
threads make forking unsafe), so it starts in about a quarter of a second.

``walk`` returns its histories in *local breadth-first order* (by depth below the roots, then by
the parent's rank, then by action order), so that the histories of each part form one contiguous
block per depth of the whole tree's breadth-first order: the parts are merged by offsets
(``jaxgames.efg.openspiel._merge_parts``), the information sets renumbered by first breadth-first
visit. The result is exactly ``build_tree``'s (``tests/test_efg_conversion.py`` checks it).
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__" and sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]  # run as a script: this folder's modules (tree.py, game.py, ...) must not shadow others

import pickle
from array import array

import numpy as np

CHANCE, TERMINAL, ROOT = -1, -4, -2

#: expansions between two looks at the other processes' counts in the shared counter
SYNC_EVERY = 1024


class TooLarge(Exception):
    """The walk found more than its budget of histories (``args[0]``: the count so far, at least)."""


class Counter:
    """Per process, the number of histories it has created so far, in a shared ``int64`` file
    (``np.memmap``), so that each part stops once all parts together pass the budget."""

    def __init__(self, path: str, slot: int, slots: int):
        self.values = np.memmap(path, np.int64, mode="r+", shape=(slots,))
        self.slot = slot

    def others(self, mine: int) -> int:
        self.values[self.slot] = mine
        return int(self.values.sum()) - mine


def walk(game, paths, budget: int, depth_limit: int = -1, counter: Counter | None = None, inherited=None) -> dict:
    """Walk the subtrees below the histories reached by ``paths`` (action ids from the root).

    Every history is created with one pyspiel ``child`` (a parent's last child: the parent itself,
    advanced with ``apply_action``) and one ``current_player``; expanded ones call
    ``information_state_string`` and ``legal_actions``, or ``chance_outcomes``; terminals
    ``returns``. Histories at depth ``depth_limit`` below the roots (``-1``: none) are created but
    not expanded (the ``frontier``). Raises ``TooLarge`` once more than ``budget`` histories (not
    counting the roots; with ``counter``, all parts together) are found, ``ValueError`` at a
    simultaneous-move node.

    ``inherited[r][p]``: player ``p``'s last own ``(information-state string, action)`` on the
    path to root ``r`` (``None``: no own action yet; default: ``None`` everywhere).

    Returns, with local ids in breadth-first order (the roots first, ``0 .. F-1``, in order):
    ``counts`` (int64 ``[D+1]``, histories per depth below the roots) and, for the histories below
    the roots (ids ``F ..``), ``parent`` (local id), ``actor`` and ``action`` (int32) and ``prob``
    (float64); ``terminal`` (local ids) with ``payoffs`` (float64 ``[T, N]``); per player
    ``decision`` (local ids, ascending), ``infoset`` (ids numbered by first visit of the walk,
    int64) and ``keys`` (the information-state strings of those ids); ``frontier`` (local ids);
    the perfect-recall evidence (``_recall``): per player ``recall``, the last own
    ``(information-state string, action)`` (or ``None``) shared by every history of each
    information set, ``None`` instead of the list if two histories of one information set differ
    here, and ``frontier_recall`` (per frontier history, per player, the same).
    """
    root = game.new_initial_state()
    roots = []
    for path in paths:
        state = root.clone()
        for a in path:
            state.apply_action(a)
        roots.append(state)
    n, F = game.num_players(), len(roots)
    keys = [dict() for _ in range(n)]  # per player: key -> id in order of first visit by the walk
    decisions = [array("q") for _ in range(n)]  # per player: (history, infoset id) pairs
    # per expanded history, in walk order: (id, depth, number of children, actor); its children get
    # the next ids, in action order
    expanded = array("q")
    actions = array("q")  # per created history, in id order
    chance_at, chance_p = array("q"), array("d")  # chance children: id, probability
    term_id, term_pay, frontier = array("q"), array("d"), array("q")
    stack = []
    for i in range(F - 1, -1, -1):  # the first root on top: the walk order is irrelevant, ids are not
        cp = roots[i].current_player()
        if cp == TERMINAL:
            term_id.append(i)
            term_pay.extend(roots[i].returns())
        else:
            stack.append((roots[i], i, cp, 0))
    H = F
    # the slow path (a look at the other parts' counts, the budget) runs when H + k passes `guard`
    others = counter.others(0) if counter is not None else 0
    next_sync = F + SYNC_EVERY if counter is not None else float("inf")
    guard = min(F + budget - others, next_sync)
    push, pop = stack.append, stack.pop
    while stack:  # depth first: only the open histories' siblings are alive; renumbered below
        state, h, cp, d = pop()
        if d == depth_limit:
            frontier.append(h)
            continue
        if cp == CHANCE:
            outcomes = state.chance_outcomes()
            acts = [a for a, _ in outcomes]
            chance_at.extend(range(H, H + len(acts)))
            chance_p.extend([q for _, q in outcomes])
        elif cp >= 0:
            key = state.information_state_string(cp)
            table = keys[cp]
            info = table.get(key)
            if info is None:
                info = table[key] = len(table)
            decisions[cp].extend((h, info))
            acts = state.legal_actions()
        else:
            raise ValueError(
                f"game: simultaneous-move node (player id {cp}); convert it with pyspiel.convert_to_turn_based first"
            )
        k = len(acts)
        if H + k > guard:
            if counter is not None:
                others = counter.others(H - F)
                next_sync = H + SYNC_EVERY
            if H - F + k + others > budget:
                raise TooLarge(H - F + k + others)
            guard = min(F + budget - others, next_sync)
        expanded.extend((h, d, k, cp))
        actions.extend(acts)
        d += 1
        last = k - 1
        for j, a in enumerate(acts):
            if j == last:  # the last child: the parent itself, advanced (one clone less per parent)
                state.apply_action(a)
                kid = state
            else:
                kid = state.child(a)
            c = kid.current_player()
            if c == TERMINAL:
                term_id.append(H)
                term_pay.extend(kid.returns())
            else:
                push((kid, H, c, d))
            H += 1
    del stack, roots
    state = kid = None  # noqa: F841 - the last states go now
    if counter is not None:
        counter.others(H - F)
    cols = dict(expanded=expanded, actions=actions, chance_at=chance_at, chance_p=chance_p, term_id=term_id)
    cols.update(term_pay=term_pay, frontier=frontier, decisions=decisions)
    out = _breadth_first(n, F, H, cols, keys)
    _recall(out, game.num_distinct_actions(), [[None] * n] * F if inherited is None else inherited)
    return out


def _recall(out: dict, A: int, inherited: list) -> None:
    """Each player's last own sequence at every history of the part, one depth at a time: a code
    ``1 + infoset * A + action`` for an own action within the part, ``-1 - j`` for the ``j``-th
    distinct ``inherited`` one (``0``: none); then per information set the sequence of its first
    history, if all its histories share it (``out["recall"]``), and the sequences at the frontier
    (``out["frontier_recall"]``), written back as ``(information-state string, action)``."""
    n, counts = len(out["keys"]), out["counts"]
    F, total = int(counts[0]), int(counts.sum())
    table = {None: 0}
    last = np.zeros((total, n), np.int64)
    for r, seqs in enumerate(inherited):
        last[r] = [-table.setdefault(q, len(table)) for q in seqs]
    infoset_of = np.zeros(total, np.int64)
    for p in range(n):
        infoset_of[out["decision"][p]] = out["infoset"][p]
    parent, actor = out["parent"].astype(np.int64), out["actor"].astype(np.int64)
    code = 1 + infoset_of[parent] * A + out["action"]
    lo = F
    for c in counts[1:].tolist():
        ids = np.arange(lo, lo + c)
        last[ids] = last[parent[ids - F]]
        own = np.nonzero(actor[ids - F] >= 0)[0]
        last[ids[own], actor[ids[own] - F]] = code[ids[own] - F]
        lo += c
    back = list(table)

    def portable(p, value):
        if value > 0:
            info, a = divmod(value - 1, A)
            return (out["keys"][p][info], a)
        return back[-value]

    out["recall"] = []
    for p in range(n):
        seqs, infos = last[out["decision"][p], p], out["infoset"][p]
        first = np.zeros(len(out["keys"][p]), np.int64)
        first[infos[::-1]] = seqs[::-1]  # the first visit wins
        same = bool(np.all(first[infos] == seqs))
        out["recall"].append([portable(p, v) for v in first.tolist()] if same else None)
    out["frontier_recall"] = [[portable(p, v) for p, v in enumerate(row)] for row in last[out["frontier"]].tolist()]


def _breadth_first(n: int, F: int, H: int, cols: dict, keys: list) -> dict:
    """The walk's columns (ids in creation order) renumbered breadth-first: by depth, then by the
    parent's breadth-first rank, then creation order (a parent's children are created in action
    order). The roots keep ids ``0 .. F-1``."""
    i64 = lambda x: np.frombuffer(x, np.int64) if len(x) else np.zeros(0, np.int64)  # noqa: E731
    expanded = i64(cols.pop("expanded")).reshape(-1, 4)  # (id, depth, children, actor)
    counts = expanded[:, 2]
    w_parent = np.concatenate([np.zeros(F, np.int64), np.repeat(expanded[:, 0], counts)])
    w_depth = np.concatenate([np.zeros(F, np.int64), np.repeat(expanded[:, 1] + 1, counts)])
    w_actor = np.concatenate([np.full(F, ROOT, np.int64), np.repeat(expanded[:, 3], counts)])
    del expanded, counts
    chance_p, term_pay = cols["chance_p"], cols["term_pay"]
    order = np.argsort(w_depth, kind="stable")
    bounds = np.searchsorted(w_depth[order], np.arange(int(w_depth.max(initial=0)) + 2))
    rank = np.zeros(H, np.int64)  # creation id -> breadth-first id
    rank[:F] = np.arange(F)
    for lo, hi in zip(bounds[1:-1].tolist(), bounds[2:].tolist()):
        ids = order[lo:hi]
        ids = ids[np.argsort(rank[w_parent[ids]], kind="stable")]
        order[lo:hi] = ids
        rank[ids] = np.arange(lo, hi)
    below = order[F:]
    w_prob = np.ones(H)
    w_prob[i64(cols["chance_at"])] = np.frombuffer(chance_p, np.float64) if len(chance_p) else 0.0
    out = dict(
        counts=np.diff(bounds),
        parent=rank[w_parent[below]].astype(np.int32),
        actor=w_actor[below].astype(np.int32),
        action=np.concatenate([np.zeros(F, np.int64), i64(cols["actions"])])[below].astype(np.int32),
        prob=w_prob[below],
        terminal=rank[i64(cols["term_id"])],
        payoffs=(np.frombuffer(term_pay, np.float64) if len(term_pay) else np.zeros(0)).reshape(-1, n),
        frontier=np.sort(rank[i64(cols["frontier"])]),
        decision=[],
        infoset=[],
        keys=[list(k) for k in keys],
    )
    for p in range(n):
        pairs = i64(cols["decisions"][p]).reshape(-1, 2)  # (history, infoset id)
        at = rank[pairs[:, 0]]
        sort = np.argsort(at, kind="stable")
        out["decision"].append(at[sort])
        out["infoset"].append(pairs[sort, 1])
    return out


def main() -> int:
    """The worker: a pickled request on stdin, ``("ok", walk(...))``, ``("too_large", count)`` or
    ``("error", message)`` pickled on stdout (exit status 0); anything else is a failure."""
    request = pickle.load(sys.stdin.buffer)
    import pyspiel

    game = pyspiel.load_game(request["game"])
    if str(game) != request["game"]:
        raise RuntimeError(f"{request['game']!r} loads as {str(game)!r}")
    counter = Counter(request["counter"], request["slot"], request["slots"])
    try:
        reply = ("ok", walk(game, request["paths"], request["budget"], counter=counter, inherited=request["inherited"]))
    except TooLarge as err:
        reply = ("too_large", err.args[0])
    except ValueError as err:
        reply = ("error", str(err))
    pickle.dump(reply, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
