"""OpenSpiel interop: convert games and tabular policies, exactly.

``from_openspiel(game)`` turns any small sequential, perfect-recall OpenSpiel
game into an ``EFGGame``; ``to_openspiel_policy`` / ``from_openspiel_policy``
convert policies between our ``[num_infosets, max_actions]`` arrays and
OpenSpiel's ``TabularPolicy`` (round trips are exact). Information sets are
matched through one representative history each (the first in OpenSpiel's
``history_str()`` order), replayed in OpenSpiel by its action ids, so the
conversion also works for the native ``kuhn_poker`` / ``leduc_poker`` /
``liars_dice`` / ``goofspiel``; the ``TabularPolicy`` is the very table that
OpenSpiel's own constructor builds, without its walk over every state, and is
found once per tree and OpenSpiel game (later calls copy and gather).
Large trees are walked by several processes (``from_openspiel``'s ``workers``,
``parallel_tree``; the worker side is ``jaxgames.efg._spiel_walk``), into the
very tree that one process builds.
OpenSpiel is an optional dependency (``pip install open-spiel``).
"""

from __future__ import annotations

import copy
import dataclasses
import operator
import os
import pickle
import random
import subprocess
import sys
import tempfile
import warnings
import weakref

import numpy as np

from jaxgames.core import Policy, require_pyspiel
from jaxgames.efg import _spiel_walk
from jaxgames.efg.game import EFGGame
from jaxgames.efg.tree import (
    ROOT,
    Tree,
    _check_recall,
    _provided_tensors,
    build_tree,
    check_tree_size,
    depth_levels,
    number_by_first_visit,
    tree_bytes,
)
from jaxgames.validation import check_int, resolve_max_bytes

#: ``workers=None``: the walk goes parallel when the tree is estimated at this many histories or more
#: (below, starting a worker, about 0.2 to 0.3 s, costs more than it saves)
PARALLEL_MIN_HISTORIES = 200_000
#: ``workers=None``: at most this many processes (the machine's CPUs permitting)
MAX_AUTO_WORKERS = 4
#: the worker's command line (``None``: ``[sys.executable, _spiel_walk.__file__]``); tests replace it
_WORKER_COMMAND = None


def _load(game):
    pyspiel = require_pyspiel()
    if isinstance(game, str):
        try:
            return pyspiel.load_game(game)
        except Exception as err:  # noqa: BLE001 - pyspiel.SpielError and friends: name the field
            raise ValueError(f"game: OpenSpiel cannot load {game!r}: {err}") from None
    if not isinstance(game, pyspiel.Game):
        raise ValueError(f"game: expected a pyspiel.Game or a game string, got {type(game).__name__}")
    return game


def from_openspiel(
    game, max_histories: int = 2_000_000, max_bytes: int | None = None, workers: int | None = None
) -> EFGGame:
    """Convert a small OpenSpiel extensive-form game (a ``pyspiel.Game`` or a game string).

    Raises ``ValueError`` if the game is not sequential (simultaneous-move
    games must be converted with ``pyspiel.convert_to_turn_based``), provides
    no information-state strings, lacks perfect recall, or has more than
    ``max_histories`` histories (default 2M, as ``build_tree``) or tables above
    ``max_bytes`` (default 4 GiB); both limits hold as the walk goes
    (``build_tree``), so a game too large (``"chess"``) fails within seconds.

    ``workers``: processes that walk the tree. ``1``: this process alone
    (``build_tree``). ``k >= 2``: this process walks the first levels, splits
    the histories left open there into ``k`` contiguous runs, walks one run and
    hands each other run to a worker process, a fresh interpreter (never a
    bare fork of this process, whose JAX threads make forking unsafe) that
    imports NumPy and pyspiel only (importing JAX would cost more than the
    walk saves), loads the game by name (``str(game)``) and sends
    back its part as breadth-first arrays; the parts are merged by offsets.
    The tree is exactly ``build_tree``'s, array for array and information set
    for information set; the limits hold for all parts
    together (a shared counter). A worker that cannot start, or a game that
    does not load by name in a fresh process, is walked here instead, with a
    ``RuntimeWarning``. ``None`` (default): ``min(CPUs, 4)`` processes when a
    Knuth estimate of the tree size (64 random playouts, a few milliseconds)
    reaches ``PARALLEL_MIN_HISTORIES`` (200,000) and the machine has 2 CPUs
    or more, else 1.

    Cost: one pyspiel ``child`` per history (the floor: the walk costs what the
    bare pyspiel calls cost, shared between the processes), then the sequence
    form (``EFGGame``: NumPy on the host, no XLA compilation). Figures for
    3-player Leduc (1.83M histories): ``benchmarks/bench_openspiel_conversion.py``.

    Example::

        >>> game = from_openspiel("kuhn_poker")
        >>> game.tree.num_histories, game.tree.num_infosets
        (58, (6, 6))
        >>> from_openspiel("kuhn_poker", workers=2).tree.num_infosets  # same tree, walked in 2 parts
        (6, 6)
    """
    max_histories = check_int(max_histories, "max_histories", low=1)
    resolve_max_bytes(max_bytes)
    if workers is not None:
        workers = check_int(workers, "workers", low=1)
    game = _load(game)
    pyspiel = require_pyspiel()
    gtype = game.get_type()
    if gtype.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        raise ValueError(
            f"game: {game} is not an extensive-form (sequential) game; "
            "for simultaneous-move games use pyspiel.convert_to_turn_based(game)"
        )
    if not gtype.provides_information_state_string:
        raise ValueError(f"game: {game} provides no information_state_string; cannot build information sets")
    if workers is None:
        workers = auto_workers(game)
    if workers == 1:
        tree = build_tree(game, max_histories=max_histories, max_bytes=max_bytes)
    else:
        tree = parallel_tree(game, workers, max_histories=max_histories, max_bytes=max_bytes)
    return EFGGame(tree, name=str(game))


def auto_workers(game) -> int:
    """The processes ``from_openspiel(game, workers=None)`` walks with: ``min(CPUs, 4)`` if the
    tree is estimated (``_estimate_histories``) at ``PARALLEL_MIN_HISTORIES`` histories or more and
    the machine has 2 CPUs or more, else 1.

    Example::

        >>> auto_workers(_load("kuhn_poker"))
        1
    """
    cpus = _cpu_count()
    if cpus >= 2 and _estimate_histories(game, stop_above=PARALLEL_MIN_HISTORIES) >= PARALLEL_MIN_HISTORIES:
        return min(cpus, MAX_AUTO_WORKERS)
    return 1


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _estimate_histories(game, probes: int = 64, stop_above: float = float("inf"), seed: int = 0) -> float:
    """Knuth's unbiased estimate of the number of histories: the mean over ``probes`` uniformly
    random playouts of ``1 + b_0 + b_0 b_1 + ...`` (``b_d``: the number of children at the playout's
    depth ``d``); returns early once the running total passes ``probes * stop_above``. Deterministic
    (``seed``)."""
    rng = random.Random(seed)
    root, total = game.new_initial_state(), 0.0
    for _ in range(probes):
        state, weight = root.clone(), 1.0
        total += 1.0
        for _ in range(10_000):  # playout length cap (the estimate is only a size class)
            cp = state.current_player()
            if cp == _spiel_walk.TERMINAL or cp < _spiel_walk.CHANCE:
                break
            acts = [a for a, _ in state.chance_outcomes()] if cp == _spiel_walk.CHANCE else state.legal_actions()
            weight *= len(acts)
            total += weight
            state.apply_action(acts[rng.randrange(len(acts))])
        if total >= probes * stop_above:
            return total / probes
    return total / probes


def parallel_tree(game, workers: int, max_histories: int = 2_000_000, max_bytes: int | None = None) -> Tree:
    """``build_tree(game)`` walked by ``workers`` processes (this one and ``workers - 1`` workers),
    for a ``pyspiel.Game`` that loads by name; see ``from_openspiel``'s ``workers``.

    The first ``L`` levels are walked here, ``L`` the first of the depths 1, 2, 3, 4, 6, 9, ... with
    ``8 * workers`` open histories or more (or where the top passes 50,000 histories); the open histories at
    depth ``L`` are split into ``workers`` contiguous runs by count; the first is walked here while
    the workers walk theirs.

    Example::

        >>> tree = parallel_tree(_load("leduc_poker"), 2)
        >>> tree.num_histories, tree.num_infosets
        (9457, (468, 468))
    """
    workers = check_int(workers, "workers", low=1)
    max_histories = check_int(max_histories, "max_histories", low=1)
    byte_limit = resolve_max_bytes(max_bytes)
    n = game.num_players()
    width = max(game.num_distinct_actions(), game.max_chance_outcomes())
    cap = min(max_histories, byte_limit // tree_bytes(1, n, width))

    def too_large(count, at_least=True):
        check_tree_size(count, n, width, "game", max_histories, byte_limit, at_least=at_least)
        raise AssertionError("unreachable")  # check_tree_size raised

    top, depth = None, 1
    while True:
        try:
            top = _spiel_walk.walk(game, [[]], cap - 1, depth_limit=depth)
        except _spiel_walk.TooLarge as err:
            too_large(1 + err.args[0])
        if not len(top["frontier"]) or len(top["frontier"]) >= 8 * workers or top["counts"].sum() >= 50_000:
            break
        depth += max(1, depth // 2)  # 1, 2, 3, 4, 6, 9, ...: the re-walks cost at most a few top walks
    T = int(top["counts"].sum())
    # contiguous runs of the frontier (positions in it), as even as the count allows
    at = [i for i in np.array_split(np.arange(len(top["frontier"])), workers) if len(i)]
    runs = [top["frontier"][i] for i in at]
    paths = [_top_paths(top, run) for run in runs]
    inherited = [[top["frontier_recall"][j] for j in i.tolist()] for i in at]
    fd, counter_path = tempfile.mkstemp(prefix="jaxgames-walk-")
    procs = []
    try:
        os.write(fd, bytes(8 * max(len(runs), 1)))
        os.close(fd)
        for w in range(1, len(runs)):
            procs.append(_start_worker(game, paths[w], inherited[w], cap - T, counter_path, w, len(runs)))
        parts = []
        for w in range(len(runs)):
            part = _finish_worker(procs[w - 1]) if w else None
            if part is None:  # this process's run, or a worker that failed: walk the run here
                try:
                    counter = _spiel_walk.Counter(counter_path, w, len(runs))
                    part = _spiel_walk.walk(game, paths[w], cap - T, counter=counter, inherited=inherited[w])
                except _spiel_walk.TooLarge as err:
                    too_large(T + err.args[0])
            elif part[0] == "too_large":
                too_large(T + part[1])
            elif part[0] == "error":
                raise ValueError(part[1])
            else:
                part = part[1]
            parts.append(part)
    finally:
        for proc in procs:
            if proc is not None:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stdout.close()
                proc.errors.close()
        try:
            os.unlink(counter_path)
        except OSError:
            pass
    total = T + sum(int(p["counts"][1:].sum()) for p in parts)
    if total > cap:  # the parts saw each other's counts late: the exact total decides, as build_tree's
        too_large(total, at_least=False)
    return _merge_parts(game, top, runs, parts, max_bytes)


def _top_paths(top: dict, nodes: np.ndarray) -> list:
    """The action ids from the root to each of the top walk's histories ``nodes``."""
    parent = np.r_[0, top["parent"]]
    action = np.r_[0, top["action"]]
    out = []
    for h in nodes.tolist():
        path = []
        while h:
            path.append(int(action[h]))
            h = int(parent[h])
        out.append(path[::-1])
    return out


def _start_worker(game, paths: list, inherited: list, budget: int, counter_path: str, slot: int, slots: int):
    """A worker process (``python _spiel_walk.py``) with its request written, or ``None`` (with a
    ``RuntimeWarning``) if it cannot start."""
    request = dict(game=str(game), paths=paths, inherited=inherited, budget=budget, counter=counter_path)
    request.update(slot=slot, slots=slots)
    errors = tempfile.TemporaryFile()  # not a pipe: a chatty worker cannot block on it
    try:
        proc = subprocess.Popen(
            _WORKER_COMMAND or [sys.executable, _spiel_walk.__file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
    except (OSError, ValueError, TypeError) as err:  # no such program, no sys.executable, ...
        errors.close()
        warnings.warn(f"workers: cannot start a walk worker ({err}); walking its part here", RuntimeWarning, 3)
        return None
    proc.errors = errors
    try:
        proc.stdin.write(pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))
        proc.stdin.close()
    except OSError:
        pass  # it died at once: _finish_worker reports its stderr
    return proc


def _finish_worker(proc):
    """The worker's reply (``("ok", part)``, ``("too_large", count)`` or ``("error", message)``), or
    ``None`` (with a ``RuntimeWarning`` quoting its stderr) if it failed."""
    if proc is None:
        return None
    try:
        reply = pickle.load(proc.stdout)
        proc.stdout.close()
        rc = proc.wait()
        if rc == 0 and isinstance(reply, tuple) and reply and reply[0] in ("ok", "too_large", "error"):
            return reply
    except Exception:  # noqa: BLE001 - any failure of the worker: its part is walked here instead
        pass
    proc.kill()
    proc.wait()
    proc.errors.seek(0)
    tail = proc.errors.read().decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
    proc.errors.close()
    warnings.warn(f"workers: a walk worker failed ({tail[0]}); walking its part in this process", RuntimeWarning, 4)
    return None


def _merge_parts(game, top: dict, runs: list, parts: list, max_bytes) -> Tree:
    """The ``Tree`` of the top levels (``top``, breadth-first from the root) and the parts below its
    open histories (``parts[w]`` below ``runs[w]``, contiguous runs in order): at every depth below
    the top the parts' breadth-first blocks follow each other in run order, which is the whole
    tree's breadth-first order; information sets are renumbered by first breadth-first visit, as
    ``build_tree`` numbers them."""
    n, A = game.num_players(), game.num_distinct_actions()
    width = max(A, game.max_chance_outcomes())
    T = int(top["counts"].sum())
    D = max((len(p["counts"]) for p in parts), default=1) - 1  # depths below the top
    per = np.zeros((len(parts), D + 1), np.int64)
    for w, p in enumerate(parts):
        per[w, 1 : len(p["counts"])] = p["counts"][1:]
    totals = per.sum(0)
    H = T + int(totals.sum())
    gstart = T + np.cumsum(totals) - totals  # first id at each depth below the top (index 0 unused)
    before = np.cumsum(per, 0) - per  # histories of the earlier parts there
    depth = np.repeat(np.arange(len(top["counts"]) + D, dtype=np.int32), np.r_[top["counts"], totals[1:]])
    parent = np.zeros(H, np.int32)
    actor = np.full(H, ROOT, np.int32)
    action = np.zeros(H, np.int32)
    prob = np.ones(H)
    is_terminal = np.zeros(H, bool)
    payoffs = np.zeros((H, n))
    parent[1:T], actor[1:T], action[1:T], prob[1:T] = top["parent"], top["actor"], top["action"], top["prob"]
    is_terminal[top["terminal"]] = True
    payoffs[top["terminal"]] = top["payoffs"]
    gmaps = []
    for w, (run, p) in enumerate(zip(runs, parts)):
        c = p["counts"]
        gmap = np.empty(int(c.sum()), np.int64)  # local id -> global id
        gmap[: c[0]] = run
        lo = int(c[0])
        for k in range(1, len(c)):
            g0 = int(gstart[k] + before[w, k])
            gmap[lo : lo + c[k]] = np.arange(g0, g0 + c[k])
            sl, src = slice(g0, g0 + c[k]), slice(lo - c[0], lo - c[0] + c[k])
            parent[sl] = gmap[p["parent"][src]]
            actor[sl], action[sl], prob[sl] = p["actor"][src], p["action"][src], p["prob"][src]
            lo += int(c[k])
        at = gmap[p["terminal"]]
        is_terminal[at] = True
        payoffs[at] = p["payoffs"]
        gmaps.append(gmap)
    children = np.full((H, width), -1, np.int32)
    children[parent[1:], action[1:]] = np.arange(1, H, dtype=np.int32)
    infoset_of = np.zeros(H, np.int32)
    nodes, infos, legal, key_lists = [], [], [], []
    for pl in range(n):
        ids, tmps, table = [], [], {}
        for gm, piece in [(None, top), *zip(gmaps, parts)]:
            local = piece["decision"][pl]
            ids.append(local if gm is None else gm[local])
            to_tmp = np.fromiter((table.setdefault(k, len(table)) for k in piece["keys"][pl]), np.int64)
            tmps.append(to_tmp[piece["infoset"][pl]] if len(to_tmp) else piece["infoset"][pl])
        at, info, first, _, ordered = number_by_first_visit(np.concatenate(ids), np.concatenate(tmps), list(table))
        nodes.append(at)
        infos.append(info)
        infoset_of[at] = info
        legal.append(children[first, :A] >= 0)
        key_lists.append(ordered)
    mine = actor >= 0
    e_info = np.zeros(H, np.int32)
    e_info[mine] = infoset_of[parent[mine]]
    tree = Tree(
        num_players=n,
        max_actions=A,
        depth=depth,
        parent=parent,
        edge_actor=actor,
        edge_infoset=e_info,
        edge_action=action,
        children=children,
        is_terminal=is_terminal,
        chance_prob=prob,
        payoffs=payoffs,
        decision_nodes=tuple(nodes),
        decision_infosets=tuple(infos),
        legal=tuple(legal),
        infoset_keys=tuple(key_lists),
        tensor_source=game if _provided_tensors(game, game.new_initial_state()) else None,
        max_bytes=max_bytes,
    )
    if not _recall_agrees([top, *parts]):
        _check_recall(tree)  # raises, naming the same information set as build_tree
    return tree


def _recall_agrees(pieces: list) -> bool:
    """Perfect recall from the parts' evidence (``_spiel_walk._recall``): within each part every
    information set's histories share one last own sequence, and the parts that visit an
    information set agree on it (the condition ``_check_recall`` tests on the whole tree)."""
    for p in range(len(pieces[0]["keys"])):
        seen = {}
        for piece in pieces:
            if piece["recall"][p] is None:
                return False
            for key, seq in zip(piece["keys"][p], piece["recall"][p]):
                if seen.setdefault(key, seq) != seq:
                    return False
    return True


#: per tree (weakly): {OpenSpiel game string: _SpielIndex}
_INDEX = weakref.WeakKeyDictionary()


@dataclasses.dataclass(frozen=True)
class _SpielIndex:
    """Where our information sets sit in OpenSpiel: one representative state per information set,
    the ``TabularPolicy`` that OpenSpiel itself would build (uniform), and per player the row of
    each of our information sets in it."""

    template: object  # open_spiel.python.policy.TabularPolicy, uniform
    keys: tuple  # per player: tuple of OpenSpiel keys, one per information set of ours
    rows: tuple  # per player: int64 [n_I] rows of template.action_probability_array


def _preorder(tree) -> np.ndarray:
    """int64 ``[H]``: each history's rank in OpenSpiel's ``history_str()`` order (the ``", "``-joined
    action ids, compared as strings). That order is the depth-first preorder with siblings sorted by
    ``str(action)``: a prefix comes first and ``","`` sorts before every digit. Vectorized over
    depths: subtree sizes bottom-up, then each child's rank is its parent's plus one plus the sizes of
    the siblings before it."""
    H = tree.num_histories
    parent = np.asarray(tree.parent, np.int64)
    action = np.asarray(tree.edge_action, np.int64)
    width = tree.children.shape[1]
    str_rank = np.empty(max(width, int(action.max(initial=0)) + 1), np.int64)
    str_rank[sorted(range(len(str_rank)), key=str)] = np.arange(len(str_rank))
    levels = depth_levels(tree)
    size = np.ones(H, np.int64)
    for ids in reversed(levels):
        np.add.at(size, parent[ids], size[ids])
    rank = np.zeros(H, np.int64)
    for ids in levels:
        ids = ids[np.lexsort((str_rank[action[ids]], parent[ids]))]  # siblings together, in str order
        sz, par = size[ids], parent[ids]
        before = np.cumsum(sz) - sz  # sizes of the histories before, in this depth
        start = np.r_[True, par[1:] != par[:-1]]
        group_first = np.maximum.accumulate(np.where(start, np.arange(len(ids)), 0))
        rank[ids] = rank[par] + 1 + before - before[group_first]
    return rank


def _paths_to(tree, nodes: np.ndarray) -> list:
    """The action ids from the root to each of ``nodes``."""
    parent, action, depth = tree.parent, tree.edge_action, tree.depth
    D = int(depth[nodes].max(initial=0))
    acts = np.zeros((len(nodes), D), np.int64)
    h = np.asarray(nodes, np.int64).copy()
    for k in range(D - 1, -1, -1):  # a history of depth d fills columns D - d .. D - 1
        live = depth[h] > 0
        acts[live, k] = action[h[live]]
        h = np.where(live, parent[h], 0)
    return [row[D - d :].tolist() for row, d in zip(acts, depth[nodes].tolist())]


def _spiel_index(game: EFGGame, spiel_game) -> _SpielIndex:
    """Build (once per tree and OpenSpiel game) the representatives and OpenSpiel's uniform table.

    OpenSpiel's ``TabularPolicy(game)`` walks every state and gives each information set the row of
    its first state in ``history_str()`` order; passing it exactly those first states (one per
    information set, replayed from the root) builds the identical table without the walk."""
    t = game.tree
    if spiel_game.num_players() != t.num_players or spiel_game.num_distinct_actions() != t.max_actions:
        raise ValueError(f"spiel_game: {spiel_game} does not have this game's players and actions")
    per_tree = _INDEX.setdefault(t, {})
    name = str(spiel_game)
    if name in per_tree:
        return per_tree[name]
    rank = _preorder(t)
    reps = []
    for p in range(t.num_players):
        nodes, infos = np.asarray(t.decision_nodes[p], np.int64), np.asarray(t.decision_infosets[p], np.int64)
        first = np.full(t.num_infosets[p], -1, np.int64)
        order = np.lexsort((rank[nodes], infos))
        head = np.r_[True, infos[order][1:] != infos[order][:-1]]
        first[infos[order][head]] = nodes[order][head]
        reps.append(first)
    by_history = []
    key_of = _key_function(spiel_game)
    root = spiel_game.new_initial_state()
    for p, first in enumerate(reps):
        legal = np.zeros((len(first), t.max_actions), bool)
        for k, (h, path) in enumerate(zip(first.tolist(), _paths_to(t, first))):
            state = root.clone()
            try:
                for a in path:
                    state.apply_action(a)
            except Exception as err:  # noqa: BLE001 - pyspiel.SpielError: name the field
                raise ValueError(f"spiel_game: {spiel_game} refuses the actions {path} of history {h}: {err}") from None
            if state.current_player() != p:
                raise ValueError(f"spiel_game: {spiel_game} differs from this game at history {h} (player {p} to move)")
            legal[k, state.legal_actions()] = True
            by_history.append((state.history_str(), p, legal[k], state, key_of(state, p)))
        bad = np.nonzero(np.any(legal != (t.children[first, : t.max_actions] >= 0), axis=1))[0]
        if bad.size:
            raise ValueError(
                f"spiel_game: {spiel_game} has other legal actions than this game at history {first[bad[0]]}"
            )
    template = _tabular_policy(spiel_game, by_history)
    keys = tuple(tuple(r[4] for r in by_history if r[1] == p) for p in range(t.num_players))
    rows = tuple(np.fromiter((template.state_lookup[k] for k in ks), np.int64, len(ks)) for ks in keys)
    per_tree[name] = index = _SpielIndex(template=template, keys=keys, rows=rows)
    return index


def _key_function(spiel_game):
    """``(state, player) -> key``: ``TabularPolicy._state_key``, with the game's flags read once."""
    gtype = spiel_game.get_type()
    if gtype.provides_information_state_string:
        return lambda state, p: state.information_state_string(p)
    if gtype.provides_observation_string:
        return lambda state, p: state.observation_string(p)
    return lambda state, p: str(state)


def _tabular_policy(spiel_game, reps: list):
    """OpenSpiel's ``TabularPolicy(spiel_game, states=...)``, built as its constructor does from
    ``reps`` (``(history_str, player, legal mask, state, key)``, one per information set, each the first of
    its information set in ``history_str`` order) without its per-player passes over every state:
    rows by player, then by ``history_str``; a key already seen keeps its first row."""
    from open_spiel.python import policy as policy_lib

    tab = policy_lib.TabularPolicy.__new__(policy_lib.TabularPolicy)
    policy_lib.Policy.__init__(tab, spiel_game, list(range(spiel_game.num_players())))
    tab.game_type = gtype = spiel_game.get_type()
    tab.state_lookup, tab.states_per_player, tab.states = {}, [[] for _ in range(spiel_game.num_players())], []
    legal, state_in = [], []
    for _, p, mask, state, key in sorted(reps, key=operator.itemgetter(1, 0)):
        if key in tab.state_lookup:
            continue
        tab.state_lookup[key] = len(legal)
        legal.append(mask)
        tab.states_per_player[p].append(key)
        tab.states.append(state)
        if gtype.provides_information_state_tensor:
            state_in.append(state.information_state_tensor(p))
        elif gtype.provides_observation_tensor:
            state_in.append(state.observation_tensor(p))
    tab.state_in = np.array(state_in) if state_in else None
    tab.legal_actions_mask = np.array(legal, dtype=np.int64).reshape(len(legal), spiel_game.num_distinct_actions())
    tab.action_probability_array = tab.legal_actions_mask / np.sum(tab.legal_actions_mask, axis=-1, keepdims=True)
    return tab


def infoset_map(game: EFGGame, spiel_game) -> list[dict]:
    """Per player, ``{our infoset index: OpenSpiel information-state string}``."""
    index = _spiel_index(game, _load(spiel_game))
    return [dict(enumerate(keys)) for keys in index.keys]


def _spiel_for(game: EFGGame, spiel_game):
    return _load(spiel_game if spiel_game is not None else game.name)


def to_openspiel_policy(game: EFGGame, policy: Policy, spiel_game=None):
    """An OpenSpiel ``TabularPolicy`` equal to ``policy`` (``spiel_game`` defaults to ``game.name``).

    The table is the one ``TabularPolicy(spiel_game)`` builds (same rows, keys and order), filled by
    one gather per player; the rows are found once per tree and OpenSpiel game, from one replayed
    state per information set, not by walking every state (3-player Leduc: the first call about
    0.6 s of CPU, later calls a few milliseconds; OpenSpiel's ``TabularPolicy(game)`` alone walks
    for 13 s).

    Example::

        >>> game = from_openspiel("kuhn_poker")
        >>> tab = to_openspiel_policy(game, game.uniform_policy())
        >>> tab.action_probability_array.shape
        (12, 2)
    """
    policy = game.validate_policy(policy)
    spiel_game = _spiel_for(game, spiel_game)
    index = _spiel_index(game, spiel_game)
    tmpl = index.template
    tab = copy.copy(tmpl)  # OpenSpiel's shallow copy; give this one its own lookup, lists and masks
    tab.game = spiel_game
    tab.state_lookup = dict(tmpl.state_lookup)
    tab.states_per_player = [list(s) for s in tmpl.states_per_player]
    tab.states = list(tmpl.states)
    tab.legal_actions_mask = np.copy(tmpl.legal_actions_mask)
    for p, rows in enumerate(index.rows):
        tab.action_probability_array[rows] = np.asarray(policy[p], np.float64)
    return tab


def from_openspiel_policy(game: EFGGame, tabular, spiel_game=None) -> Policy:
    """Our policy arrays from an OpenSpiel ``TabularPolicy`` of the same game."""
    import jax.numpy as jnp

    index = _spiel_index(game, _spiel_for(game, spiel_game))
    out = []
    for keys in index.keys:
        rows = np.fromiter((tabular.state_lookup[k] for k in keys), np.int64, len(keys))
        probs = np.asarray(tabular.action_probability_array, np.float64)[rows]
        out.append(jnp.asarray(probs, jnp.result_type(float)))
    return tuple(out)
