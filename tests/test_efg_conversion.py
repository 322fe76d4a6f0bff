"""The vectorized table builders against their reference loops, and the OpenSpiel conversion.

* ``sequence_form`` (level by level with NumPy) equals, field by field and dtype by dtype, the
  per-history Python loop it replaced (kept below as ``_reference_sequence_form``), on Kuhn, Leduc,
  3-player Kuhn, goofspiel 4 and liar's dice 1x4, and on a tree whose histories are not breadth-first.
* ``build_tree`` (level-wise walk) equals the per-history walk it replaced (``_reference_tree``).
* ``to_openspiel_policy`` builds the very ``TabularPolicy`` that OpenSpiel's own constructor builds
  (rows, keys, order, legal masks) without walking the game; ``from_openspiel_policy`` inverts it.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np
import pytest

import jaxgames
from jaxgames.efg import goofspiel, liars_dice
from jaxgames.efg.rules import kuhn_poker_rules, leduc_poker_rules
from jaxgames.efg.sequence import SequenceForm, sequence_form
from jaxgames.efg.tree import CHANCE, ROOT, Tree, build_tree

requires_pyspiel = pytest.mark.requires_pyspiel


# ------------------------------------------------------------------------------ reference loops
def _reference_sequence_form(tree: Tree) -> dict:
    """The per-history loop that ``sequence_form`` replaced (NumPy int32 / bool arrays)."""
    n, A, H = tree.num_players, tree.max_actions, tree.num_histories
    last = np.zeros((H, n), np.int64)
    chance_path = [[] for _ in range(H)]
    for h in range(1, H):
        p = tree.parent[h]
        last[h] = last[p]
        chance_path[h] = chance_path[p]
        actor = tree.edge_actor[h]
        if actor >= 0:
            last[h, actor] = 1 + tree.edge_infoset[h] * A + tree.edge_action[h]
        elif actor == CHANCE:
            chance_path[h] = chance_path[p] + [h]
    width = max(1, max(len(c) for c in chance_path))
    chance = np.zeros((H, width), np.int64)
    for h, path in enumerate(chance_path):
        chance[h, : len(path)] = path
    terminals = np.nonzero(tree.is_terminal)[0]
    out = {k: [] for k in ("parent_sequence", "depth_masks", "terminal_last", "terminal_order")}
    out.update({k: [] for k in ("terminal_chance", "decision_last", "decision_chance", "decision_infoset")})
    for i in range(n):
        n_inf = tree.num_infosets[i]
        pseq = np.zeros(n_inf, np.int64)
        pseq[tree.decision_infosets[i]] = last[tree.decision_nodes[i], i]
        depth = np.zeros(n_inf, np.int64)
        for k in range(n_inf):
            s = pseq[k]
            while s:
                depth[k] += 1
                s = pseq[(s - 1) // A]
        levels = int(depth.max()) + 1 if n_inf else 0
        out["parent_sequence"].append(pseq)
        out["depth_masks"].append(tuple(depth == k for k in range(levels + 1)))
        order = terminals[np.argsort(last[terminals, i], kind="stable")]
        out["terminal_order"].append(order)
        out["terminal_last"].append(tuple(last[order, j] for j in range(n)))
        out["terminal_chance"].append(chance[order])
        out["decision_last"].append(tuple(last[tree.decision_nodes[i], j] for j in range(n)))
        out["decision_chance"].append(chance[tree.decision_nodes[i]])
        out["decision_infoset"].append(tree.decision_infosets[i])
    cast = lambda a: a.astype(np.int32) if a.dtype != bool else a  # noqa: E731 - as sequence_form stores them
    nested = ("depth_masks", "terminal_last", "decision_last")
    return {k: tuple(tuple(map(cast, v)) if k in nested else cast(v) for v in vs) for k, vs in out.items()}


def _assert_same_sequence_form(sf: SequenceForm, ref: dict, tree: Tree):
    assert sf.num_actions == tree.max_actions
    assert sf.num_sequences == tuple(1 + m * tree.max_actions for m in tree.num_infosets)
    for name, expected in ref.items():
        got = getattr(sf, name)
        assert len(got) == len(expected), name
        for i, (g, e) in enumerate(zip(got, expected)):
            pairs = zip(g, e) if isinstance(e, tuple) else [(g, e)]
            if isinstance(e, tuple):
                assert len(g) == len(e), (name, i)
            for a, b in pairs:
                a = np.asarray(a)
                assert a.dtype == b.dtype and a.shape == b.shape, (name, i, a.dtype, b.dtype, a.shape, b.shape)
                np.testing.assert_array_equal(a, b, err_msg=f"{name}[{i}]")


TREES = {
    "kuhn": lambda: jaxgames.kuhn_poker().tree,
    "kuhn_3p": lambda: jaxgames.kuhn_poker(3).tree,
    "leduc": lambda: jaxgames.leduc_poker().tree,
    "goofspiel_4": lambda: goofspiel(num_cards=4).tree,
    "liars_dice_1x4": lambda: liars_dice(num_dice=1, dice_sides=4).tree,
}


@pytest.mark.parametrize("name", list(TREES))
def test_sequence_form_equals_the_reference_loop(name):
    tree = TREES[name]()
    _assert_same_sequence_form(sequence_form(tree), _reference_sequence_form(tree), tree)


def test_sequence_form_of_a_tree_not_in_breadth_first_order():
    """Histories in depth-first order (parents still first): gathered by depth, the same arrays."""
    tree = jaxgames.kuhn_poker().tree
    H = tree.num_histories
    order = [0]  # depth-first preorder of the breadth-first tree
    stack = [0]
    seen = []
    while stack:
        h = stack.pop()
        seen.append(h)
        kids = [int(c) for c in tree.children[h] if c >= 0]
        stack.extend(reversed(kids))
    order = np.asarray(seen)
    assert len(order) == H
    rank = np.empty(H, np.int64)
    rank[order] = np.arange(H)
    children = np.where(tree.children[order] >= 0, rank[np.maximum(tree.children[order], 0)], -1).astype(np.int32)
    dfs = dataclasses.replace(
        tree,
        depth=tree.depth[order],
        parent=rank[tree.parent[order]].astype(np.int32),
        edge_actor=tree.edge_actor[order],
        edge_infoset=tree.edge_infoset[order],
        edge_action=tree.edge_action[order],
        children=children,
        is_terminal=tree.is_terminal[order],
        chance_prob=tree.chance_prob[order],
        payoffs=tree.payoffs[order],
        decision_nodes=tuple(rank[d].astype(np.int32) for d in tree.decision_nodes),
        _tensors={},
    )
    assert np.any(np.diff(dfs.depth) < 0)
    _assert_same_sequence_form(sequence_form(dfs), _reference_sequence_form(dfs), dfs)


# ---------------------------------------------------------------------------- the tree walk
def _reference_tree(game, width) -> dict:
    """The per-history breadth-first walk that ``build_tree`` replaced (its columns)."""
    n = game.num_players()
    cols = {k: [] for k in ("depth", "parent", "edge_actor", "edge_infoset", "edge_action", "chance_prob")}
    payoffs, keys, masks, nodes, infos = {}, [{} for _ in range(n)], [[] for _ in range(n)], [[] for _ in range(n)], []
    infos = [[] for _ in range(n)]
    queue = deque([(game.new_initial_state(), 0, ROOT, 0, 0, 1.0, 0)])
    while queue:
        state, par, act, pinfo, action, prob, d = queue.popleft()
        h = len(cols["depth"])
        for k, v in zip(cols, (d, par, act, pinfo, action, prob)):
            cols[k].append(v)
        if state.is_terminal():
            payoffs[h] = state.returns()
        elif state.is_chance_node():
            queue.extend((state.child(a), h, CHANCE, 0, a, pa, d + 1) for a, pa in state.chance_outcomes())
        else:
            p = state.current_player()
            key, legal = state.information_state_string(p), state.legal_actions()
            if key not in keys[p]:
                keys[p][key] = len(keys[p])
                masks[p].append(np.isin(np.arange(game.num_distinct_actions()), legal))
            nodes[p].append(h)
            infos[p].append(keys[p][key])
            queue.extend((state.child(a), h, p, keys[p][key], a, 1.0, d + 1) for a in legal)
    H = len(cols["depth"])
    pay = np.zeros((H, n))
    for h, r in payoffs.items():
        pay[h] = r
    return dict(
        cols,
        payoffs=pay,
        is_terminal=np.isin(np.arange(H), list(payoffs)),
        decision_nodes=nodes,
        decision_infosets=infos,
        legal=masks,
        infoset_keys=[list(k) for k in keys],
    )


@pytest.mark.parametrize("make", [lambda: kuhn_poker_rules(3), lambda: leduc_poker_rules()], ids=["kuhn_3p", "leduc"])
def test_build_tree_equals_the_reference_walk(make):
    game = make()
    tree = build_tree(game, tensors=False)
    ref = _reference_tree(game, tree.children.shape[1])
    for name, expected in ref.items():
        got = getattr(tree, name)
        if name in ("decision_nodes", "decision_infosets", "legal", "infoset_keys"):
            assert len(got) == len(expected)
            for g, e in zip(got, expected):
                np.testing.assert_array_equal(np.asarray(g), np.asarray(e), err_msg=name)
        else:
            np.testing.assert_array_equal(got, np.asarray(expected), err_msg=name)
    assert tree.depth.dtype == tree.parent.dtype == tree.edge_action.dtype == np.int32
    assert tree.chance_prob.dtype == tree.payoffs.dtype == np.float64
    children = np.full(tree.children.shape, -1)
    children[tree.parent[1:], tree.edge_action[1:]] = np.arange(1, tree.num_histories)
    np.testing.assert_array_equal(tree.children, children)


# --------------------------------------------------------------------------- policies to OpenSpiel
@requires_pyspiel
@pytest.mark.parametrize("spiel_name", ["kuhn_poker(players=3)", "leduc_poker"])
def test_to_openspiel_policy_is_openspiels_own_table(spiel_name):
    import pyspiel
    from open_spiel.python import policy as policy_lib

    spiel = pyspiel.load_game(spiel_name)
    game = jaxgames.efg.from_openspiel(spiel)
    rng = np.random.default_rng(0)
    policy = tuple(
        np.where(m, p, 0.0) / np.where(m, p, 0.0).sum(-1, keepdims=True)
        for m, p in ((m, rng.random(m.shape)) for m in game.tree.legal)
    )
    tab = jaxgames.efg.to_openspiel_policy(game, policy, spiel)
    own = policy_lib.TabularPolicy(spiel)  # OpenSpiel's walk of every state
    assert tab.state_lookup == own.state_lookup
    assert tab.states_per_player == own.states_per_player
    assert [s.history_str() for s in tab.states] == [s.history_str() for s in own.states]
    for field in ("legal_actions_mask", "state_in"):
        a, b = getattr(tab, field), getattr(own, field)
        assert a.dtype == b.dtype and a.shape == b.shape, field
        np.testing.assert_array_equal(a, b, err_msg=field)
    uniform = jaxgames.efg.to_openspiel_policy(game, game.uniform_policy(), spiel).action_probability_array
    np.testing.assert_allclose(uniform, own.action_probability_array, rtol=1e-6)
    assert tab.player_ids == own.player_ids and tab.game is spiel
    stored = game.validate_policy(policy)  # (float32 unless x64 is on)
    for p in range(game.num_players):
        for info, key in enumerate(game.tree.infoset_keys[p]):
            expected = np.asarray(stored[p][info], np.float64)
            np.testing.assert_array_equal(tab.action_probability_array[own.state_lookup[key]], expected)
    back = jaxgames.efg.from_openspiel_policy(game, tab, spiel)
    for ours, theirs in zip(policy, back):
        np.testing.assert_allclose(np.asarray(theirs), ours, rtol=0, atol=1e-7)
    mapping = jaxgames.efg.infoset_map(game, spiel)
    assert mapping == [dict(enumerate(keys)) for keys in game.tree.infoset_keys]


# ------------------------------------------------------------------ parallel walk (workers=)
def _assert_same_tree(got: Tree, expected: Tree):
    """Field by field, dtype by dtype, information set by information set."""
    for field in dataclasses.fields(Tree):
        if field.name in ("tensor_source", "max_bytes", "_tensors"):
            continue
        a, b = getattr(got, field.name), getattr(expected, field.name)
        if field.name == "infoset_keys":
            assert a == b
        elif isinstance(b, tuple):
            assert len(a) == len(b), field.name
            for x, y in zip(a, b):
                assert x.dtype == y.dtype, field.name
                np.testing.assert_array_equal(x, y, err_msg=field.name)
        elif isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, field.name
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        else:
            assert a == b, field.name
    assert (got.tensor_source is None) == (expected.tensor_source is None)


@requires_pyspiel
@pytest.mark.parametrize(
    "spiel_name, workers",
    [("kuhn_poker", 2), ("kuhn_poker(players=3)", 2), ("leduc_poker", 2), ("leduc_poker", 3)],
)
def test_parallel_walk_equals_build_tree(spiel_name, workers):
    """The parts walked by worker processes and merged by offsets make ``build_tree``'s very tree."""
    import pyspiel

    from jaxgames.efg.openspiel import parallel_tree

    spiel = pyspiel.load_game(spiel_name)
    _assert_same_tree(parallel_tree(spiel, workers), build_tree(spiel))


@requires_pyspiel
@pytest.mark.parametrize("spiel_name", ["kuhn_poker(players=3)", pytest.param("leduc_poker", marks=pytest.mark.slow)])
def test_parallel_conversion_nash_conv_equals_openspiel(spiel_name):
    import pyspiel
    from open_spiel.python.algorithms import exploitability as os_expl

    spiel = pyspiel.load_game(spiel_name)
    game = jaxgames.efg.from_openspiel(spiel, workers=2)
    rng = np.random.default_rng(1)
    policy = tuple(
        w / w.sum(-1, keepdims=True) for w in (np.where(m, rng.random(m.shape), 0.0) for m in game.tree.legal)
    )
    tab = jaxgames.efg.to_openspiel_policy(game, policy, spiel)
    assert float(jaxgames.nash_conv(game, policy)) == pytest.approx(os_expl.nash_conv(spiel, tab), abs=1e-5)


@requires_pyspiel
def test_parallel_walk_limits_and_recall_as_build_tree():
    """A tree of exactly ``max_histories`` passes, one more fails; imperfect recall is refused with
    ``build_tree``'s message."""
    import pyspiel

    from jaxgames.efg.openspiel import parallel_tree

    leduc = pyspiel.load_game("leduc_poker")
    assert parallel_tree(leduc, 2, max_histories=9457).num_histories == 9457
    with pytest.raises(ValueError, match="too large for a tabular model"):
        parallel_tree(leduc, 2, max_histories=9456)
    forgetful = pyspiel.load_game("turn_based_simultaneous_game(game=goofspiel(num_cards=4,imp_info=False))")
    with pytest.raises(ValueError, match="not perfect recall") as serial:
        build_tree(forgetful)
    with pytest.raises(ValueError, match="not perfect recall") as parallel:
        parallel_tree(forgetful, 2)
    assert str(parallel.value) == str(serial.value)


@requires_pyspiel
@pytest.mark.parametrize(
    "command, message",
    [(["/nonexistent/python"], "cannot start a walk worker"), (["-c", "import sys; sys.exit(3)"], "worker failed")],
)
def test_parallel_walk_falls_back_when_a_worker_fails(monkeypatch, command, message):
    import sys

    import pyspiel

    from jaxgames.efg import openspiel

    monkeypatch.setattr(openspiel, "_WORKER_COMMAND", command if command[0] != "-c" else [sys.executable, *command])
    spiel = pyspiel.load_game("kuhn_poker(players=3)")
    with pytest.warns(RuntimeWarning, match=message):
        tree = openspiel.parallel_tree(spiel, 2)
    _assert_same_tree(tree, build_tree(spiel))


@requires_pyspiel
def test_from_openspiel_goes_parallel_only_above_the_size_threshold(monkeypatch):
    from jaxgames.efg import openspiel

    calls = []
    monkeypatch.setattr(
        openspiel, "parallel_tree", lambda game, workers, **kw: calls.append(workers) or build_tree(game)
    )
    monkeypatch.setattr(openspiel, "_cpu_count", lambda: 2)
    openspiel.from_openspiel("leduc_poker")  # 9,457 histories: one process
    assert calls == []
    monkeypatch.setattr(openspiel, "PARALLEL_MIN_HISTORIES", 5_000)
    openspiel.from_openspiel("leduc_poker")
    assert calls == [2]
    openspiel.from_openspiel("leduc_poker", workers=1)
    assert calls == [2]
    with pytest.raises(ValueError, match="workers"):
        openspiel.from_openspiel("leduc_poker", workers=0)
