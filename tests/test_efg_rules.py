"""Kuhn / Leduc rule state machines (jaxgames.efg.rules) against OpenSpiel.

Each test walks our tree and pyspiel's in lockstep and checks, at every history,
the node kind, the player to move, chance outcomes (ids, order, probabilities),
legal actions, history, terminal returns, and every player's information-state
and observation tensors (exactly); and that our information-state strings
induce the same partition of histories as pyspiel's, for every player (a bijection
between our strings and OpenSpiel's, at every node where pyspiel defines them).
Those walks are marked ``requires_pyspiel``; the tests of non-default parameters need no OpenSpiel.
"""

from __future__ import annotations

import collections

import pytest

from jaxgames.efg import rules

TOL = 1e-12


def _children(state):
    """Actions of a non-terminal state (chance outcomes or legal actions), in order."""
    if state.is_chance_node():
        return [a for a, _ in state.chance_outcomes()]
    return state.legal_actions()


class _Stats:
    def __init__(self, num_players):
        self.histories = 0
        self.terminals = 0
        # per player: our string -> set of pyspiel strings, and the reverse
        self.ours_to_theirs = [collections.defaultdict(set) for _ in range(num_players)]
        self.theirs_to_ours = [collections.defaultdict(set) for _ in range(num_players)]
        # per player: infosets where that player is to move (the usual count)
        self.decision_infosets = [set() for _ in range(num_players)]


def _walk_against_pyspiel(ours, theirs, stats, num_players):
    stats.histories += 1
    assert ours.history() == theirs.history()
    hist = theirs.history()
    assert ours.is_terminal() == theirs.is_terminal(), hist
    assert ours.is_chance_node() == theirs.is_chance_node(), hist
    assert ours.current_player() == theirs.current_player(), hist

    for p in range(num_players):
        mine, spiel = ours.information_state_string(p), theirs.information_state_string(p)
        stats.ours_to_theirs[p][mine].add(spiel)
        stats.theirs_to_ours[p][spiel].add(mine)
        # OpenSpiel's tensors, exactly, for every player at every history (chance and terminal too)
        assert ours.information_state_tensor(p) == theirs.information_state_tensor(p), (hist, p)
        assert ours.observation_tensor(p) == theirs.observation_tensor(p), (hist, p)

    if theirs.is_terminal():
        stats.terminals += 1
        assert ours.returns() == pytest.approx(theirs.returns(), abs=TOL), hist
        assert ours.legal_actions() == []
        return

    if theirs.is_chance_node():
        mine, spiel = ours.chance_outcomes(), theirs.chance_outcomes()
        assert [a for a, _ in mine] == [a for a, _ in spiel], hist
        for (_, q), (_, r) in zip(mine, spiel):
            assert abs(q - r) <= TOL, hist
        assert ours.legal_actions() == theirs.legal_actions(), hist
        actions = [a for a, _ in spiel]
    else:
        actions = theirs.legal_actions()
        assert ours.legal_actions() == actions, hist
        player = theirs.current_player()
        stats.decision_infosets[player].add(theirs.information_state_string(player))

    for a in actions:
        child = ours.child(a)
        assert ours.history() == hist, "child() must not mutate its parent"
        _walk_against_pyspiel(child, theirs.child(a), stats, num_players)


def _compare_with_pyspiel(our_game, spiel_game):
    n = spiel_game.num_players()
    assert our_game.num_players() == n
    assert our_game.num_distinct_actions() == spiel_game.num_distinct_actions()
    assert our_game.max_chance_outcomes() == spiel_game.max_chance_outcomes()
    assert our_game.max_game_length() == spiel_game.max_game_length()
    assert our_game.information_state_tensor_shape() == spiel_game.information_state_tensor_shape()
    assert our_game.observation_tensor_shape() == spiel_game.observation_tensor_shape()
    stats = _Stats(n)
    _walk_against_pyspiel(our_game.new_initial_state(), spiel_game.new_initial_state(), stats, n)
    for p in range(n):
        # our partition == OpenSpiel's partition  <=>  the string map is a bijection
        bad = {k: v for k, v in stats.ours_to_theirs[p].items() if len(v) != 1}
        assert not bad, f"player {p}: our infoset merges OpenSpiel infosets: {list(bad.items())[:3]}"
        bad = {k: v for k, v in stats.theirs_to_ours[p].items() if len(v) != 1}
        assert not bad, f"player {p}: our strings split an OpenSpiel infoset: {list(bad.items())[:3]}"
    return stats


# Counts verified through pyspiel (full tree walk, default parameters).
# (histories incl. chance and terminal nodes, terminal histories, decision infosets per player)
EXPECTED = {
    ("kuhn_poker", 2): (58, 30, [6, 6]),
    ("kuhn_poker", 3): (617, 312, [16, 16, 16]),
    ("kuhn_poker", 4): (7886, 3960, [40, 40, 40, 40]),
    ("leduc_poker", 2): (9457, 5520, [468, 468]),
}


@pytest.mark.requires_pyspiel
@pytest.mark.parametrize("num_players", [2, 3, 4])
def test_kuhn_matches_openspiel(num_players):
    import pyspiel

    stats = _compare_with_pyspiel(
        rules.kuhn_poker_rules(num_players=num_players), pyspiel.load_game("kuhn_poker", {"players": num_players})
    )
    histories, terminals, infosets = EXPECTED[("kuhn_poker", num_players)]
    assert stats.histories == histories
    assert stats.terminals == terminals
    assert [len(s) for s in stats.decision_infosets] == infosets


@pytest.mark.requires_pyspiel
def test_leduc_matches_openspiel():
    import pyspiel

    stats = _compare_with_pyspiel(rules.leduc_poker_rules(), pyspiel.load_game("leduc_poker"))
    histories, terminals, infosets = EXPECTED[("leduc_poker", 2)]
    assert stats.histories == histories
    assert stats.terminals == terminals
    assert [len(s) for s in stats.decision_infosets] == infosets


@pytest.mark.requires_pyspiel
def test_leduc_three_players_random_playouts():
    """3-player Leduc (1.8M histories; a full walk, which also agrees, takes ~1 min):
    compare 400 random playouts step by step."""
    import random

    import pyspiel

    rng = random.Random(0)
    our_game = rules.leduc_poker_rules(num_players=3)
    spiel_game = pyspiel.load_game("leduc_poker", {"players": 3})
    assert our_game.max_game_length() == spiel_game.max_game_length()
    assert our_game.max_chance_outcomes() == spiel_game.max_chance_outcomes()
    assert our_game.information_state_tensor_shape() == spiel_game.information_state_tensor_shape() == [47]
    assert our_game.observation_tensor_shape() == spiel_game.observation_tensor_shape() == [22]
    folds = 0
    for _ in range(400):
        ours, theirs = our_game.new_initial_state(), spiel_game.new_initial_state()
        while True:
            assert ours.history() == theirs.history()
            assert ours.current_player() == theirs.current_player()
            for p in range(3):
                assert ours.information_state_tensor(p) == theirs.information_state_tensor(p)
                assert ours.observation_tensor(p) == theirs.observation_tensor(p)
            if theirs.is_terminal():
                assert ours.returns() == pytest.approx(theirs.returns(), abs=TOL)
                break
            if theirs.is_chance_node():
                mine, spiel = ours.chance_outcomes(), theirs.chance_outcomes()
                assert [a for a, _ in mine] == [a for a, _ in spiel]
                assert all(abs(q - r) <= TOL for (_, q), (_, r) in zip(mine, spiel))
            assert ours.legal_actions() == theirs.legal_actions()
            action = rng.choice(theirs.legal_actions())
            folds += theirs.is_player_node() and action == rules.LEDUC_FOLD
            ours, theirs = ours.child(action), theirs.child(action)
    assert folds > 0


# ---------------------------------------------------------------------------------------
# Non-default parameters: same tree, different payoffs.
# ---------------------------------------------------------------------------------------


def _walk_pair(a, b, out):
    """Walk two of our trees in lockstep; assert equal shape; collect terminal returns."""
    assert a.history() == b.history()
    assert a.current_player() == b.current_player()
    for p in range(a.num_players()):
        assert a.information_state_string(p) == b.information_state_string(p)
        # the tensors describe the tree: payoff parameters (ante, bet sizes) do not enter them
        assert a.information_state_tensor(p) == b.information_state_tensor(p)
        assert a.observation_tensor(p) == b.observation_tensor(p)
    if a.is_terminal():
        ra, rb = a.returns(), b.returns()
        assert abs(sum(rb)) <= 1e-9  # still zero-sum
        out.append((tuple(a.history()), ra, rb))
        return
    if a.is_chance_node():
        assert a.chance_outcomes() == b.chance_outcomes()
    else:
        assert a.legal_actions() == b.legal_actions()
    for action in _children(a):
        _walk_pair(a.child(action), b.child(action), out)


def _terminal_returns(game, history):
    state = game.new_initial_state()
    for a in history:
        state = state.child(a)
    assert state.is_terminal()
    return state.returns()


def test_kuhn_parameters_change_payoffs_not_tree():
    default, bigger = rules.kuhn_poker_rules(), rules.kuhn_poker_rules(ante=2.0, bet=3.0)
    out = []
    _walk_pair(default.new_initial_state(), bigger.new_initial_state(), out)
    assert len(out) == EXPECTED[("kuhn_poker", 2)][1]
    assert any(ra != rb for _, ra, rb in out)
    # cards (2, 0); pass, pass -> player 0 wins the antes
    assert _terminal_returns(bigger, [2, 0, 0, 0]) == [2.0, -2.0]
    # cards (0, 2); pass, bet, bet -> showdown, player 1 wins ante + bet
    assert _terminal_returns(bigger, [0, 2, 0, 1, 1]) == [-5.0, 5.0]
    # cards (0, 2); bet, pass -> player 1 folds and loses the ante
    assert _terminal_returns(bigger, [0, 2, 1, 0]) == [2.0, -2.0]


@pytest.mark.slow
def test_leduc_parameters_change_payoffs_not_tree():
    default = rules.leduc_poker_rules()
    other = rules.leduc_poker_rules(ante=2.0, raise_amounts=(3.0, 6.0))
    out = []
    _walk_pair(default.new_initial_state(), other.new_initial_state(), out)
    assert len(out) == EXPECTED[("leduc_poker", 2)][1]
    assert any(ra != rb for _, ra, rb in out)
    F, C, R = rules.LEDUC_FOLD, rules.LEDUC_CALL, rules.LEDUC_RAISE
    # P0 holds K (4), P1 holds J (0); raise/call, public Q (2), raise/call: K high wins
    # ante + round-1 raise + round-2 raise.
    assert _terminal_returns(default, [4, 0, R, C, 2, R, C]) == [7.0, -7.0]
    assert _terminal_returns(other, [4, 0, R, C, 2, R, C]) == [11.0, -11.0]
    # Same deal but public J (1): P1 pairs and wins.
    assert _terminal_returns(other, [4, 0, R, C, 1, R, C]) == [-11.0, 11.0]
    # Re-raise then fold: P1 raises 3 then P0 re-raises 3 more and P1 folds.
    assert _terminal_returns(other, [4, 0, C, R, R, F]) == [5.0, -5.0]
    # Equal ranks tie (K of each suit): pot split.
    assert _terminal_returns(other, [4, 5, R, C, 0, C, C]) == [0.0, 0.0]


def test_child_is_pure_and_illegal_actions_raise():
    for game in (rules.kuhn_poker_rules(), rules.leduc_poker_rules()):
        root = game.new_initial_state()
        assert root.current_player() == rules.CHANCE_PLAYER
        child = root.child(0)
        assert root.history() == [] and child.history() == [0]
        with pytest.raises(ValueError):
            child.child(0)  # card 0 was already dealt
    leduc = rules.leduc_poker_rules().new_initial_state().child(0).child(1)
    assert leduc.legal_actions() == [rules.LEDUC_CALL, rules.LEDUC_RAISE]
    with pytest.raises(ValueError):
        leduc.child(rules.LEDUC_FOLD)  # nothing to call: fold is illegal
