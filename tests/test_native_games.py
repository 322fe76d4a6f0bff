"""Native liar's dice and turn-based goofspiel (``jaxgames.efg.liars_dice`` / ``goofspiel``) against OpenSpiel.

* The rule state machines walk in lockstep with pyspiel's ``liars_dice`` and
  ``convert_to_turn_based(goofspiel)`` (``test_efg_rules._compare_with_pyspiel``, the one walker of
  the Kuhn / Leduc checks): node kind, player, chance outcome ids / order / probabilities, legal
  actions, terminal returns, both tensors of every player exactly, and the information-set partition
  of every player; the closed-form history counts equal the walk's.
* The constructors' trees equal ``from_openspiel``'s array by array (same breadth-first order, so
  the same information-set ids, keys - OpenSpiel's own strings -, chance probabilities, payoffs and
  tensor tables), and exact NashConv of the uniform and a random policy equals
  ``open_spiel.python.algorithms.exploitability.nash_conv``.
* CFR+ solves them; sizes are checked before anything is built.
"""

from __future__ import annotations

import time

import jax
import numpy as np
import pytest
from test_efg_rules import _compare_with_pyspiel

import jaxgames
import solvers
from jaxgames.efg import EFGEnv, goofspiel, liars_dice
from jaxgames.efg.native import goofspiel_tree, liars_dice_tree
from jaxgames.efg.rules.goofspiel import goofspiel_rules
from jaxgames.efg.rules.liars_dice import liars_dice_rules
from jaxgames.efg.tree import build_tree

requires_pyspiel = pytest.mark.requires_pyspiel

# (constructor, its kwargs, the OpenSpiel game string); small sizes, every rule variant
CASES = {
    "liars_1x3": (liars_dice, dict(num_dice=1, dice_sides=3), "liars_dice(numdice=1,dice_sides=3)"),
    "liars_2x2_quantity": (
        liars_dice,
        dict(num_dice=2, dice_sides=2, bidding_rule="reset-quantity"),
        "liars_dice(numdice=2,dice_sides=2,bidding_rule=reset-quantity)",
    ),
    "goof_4_descending": (
        goofspiel,
        dict(num_cards=4),
        "turn_based_simultaneous_game(game=goofspiel(num_cards=4,imp_info=True,points_order=descending))",
    ),
    "goof_3_random_3p_total": (
        goofspiel,
        dict(num_cards=3, points_order="random", returns_type="total_points", num_players=3),
        "turn_based_simultaneous_game(game=goofspiel(num_cards=3,imp_info=True,players=3,returns_type=total_points))",
    ),
    "goof_4_public_ascending_diff": (
        goofspiel,
        dict(num_cards=4, imp_info=False, points_order="ascending", returns_type="point_difference"),
        "turn_based_simultaneous_game(game=goofspiel(num_cards=4,imp_info=False,points_order=ascending,"
        "returns_type=point_difference))",
    ),
}
RULES = {liars_dice: liars_dice_rules, goofspiel: goofspiel_rules}


def _rules(make, kwargs):
    return RULES[make](**kwargs)


@requires_pyspiel
@pytest.mark.parametrize("case", list(CASES))
def test_rules_walk_in_lockstep_with_openspiel(case):
    import pyspiel

    make, kwargs, spiel_name = CASES[case]
    ours = _rules(make, kwargs)
    stats = _compare_with_pyspiel(ours, pyspiel.load_game(spiel_name))
    assert stats.histories == ours.num_histories()


def _random_policy(game, rng):
    out = []
    for mask in game.tree.legal:
        w = np.where(mask, rng.exponential(size=mask.shape), 0.0)
        out.append(w / w.sum(axis=1, keepdims=True))
    return tuple(out)


def _assert_same_tree(ours, theirs):
    """Every array of two trees equal (same order, so the same history and information-set ids)."""
    assert (ours.num_players, ours.max_actions) == (theirs.num_players, theirs.max_actions)
    for field in ("depth", "parent", "edge_actor", "edge_infoset", "edge_action", "children", "is_terminal"):
        np.testing.assert_array_equal(getattr(ours, field), getattr(theirs, field), err_msg=field)
    np.testing.assert_allclose(ours.chance_prob, theirs.chance_prob, rtol=0, atol=1e-15)
    np.testing.assert_allclose(ours.payoffs, theirs.payoffs, rtol=0, atol=1e-12)
    for field in ("decision_nodes", "decision_infosets", "legal"):
        for p in range(ours.num_players):
            np.testing.assert_array_equal(getattr(ours, field)[p], getattr(theirs, field)[p], err_msg=field)
    assert ours.infoset_keys == theirs.infoset_keys  # OpenSpiel's information-state strings, in order


@pytest.mark.parametrize("args", [(1, 1, "reset-face"), (3, 1, "reset-face"), (2, 2, "reset-quantity")])
def test_vectorized_liars_dice_tree_is_the_walked_tree(args):
    """``liars_dice_tree`` (NumPy, level by level) builds exactly what ``build_tree`` records by walking
    the rules (which ``test_rules_walk_in_lockstep_with_openspiel`` checks against OpenSpiel)."""
    rules = liars_dice_rules(*args)
    _assert_same_tree(liars_dice_tree(rules), build_tree(rules))


@pytest.mark.parametrize(
    "args",
    [
        (1, True, "random"),
        (4, True, "descending"),
        (4, True, "ascending", "point_difference"),
        (3, True, "random", "total_points", 3),
        (3, True, "ascending", "win_loss", 4),
    ],
)
def test_vectorized_goofspiel_tree_is_the_walked_tree(args):
    """``goofspiel_tree`` (NumPy, level by level) builds exactly what ``build_tree`` records by walking
    the rules."""
    rules = goofspiel_rules(*args)
    _assert_same_tree(goofspiel_tree(rules), build_tree(rules))


@requires_pyspiel
@pytest.mark.parametrize("case", ["liars_1x3", "goof_4_descending", "goof_3_random_3p_total"])
def test_tree_and_nash_conv_equal_openspiel(case):
    """The native tree is ``from_openspiel``'s, array by array; exact NashConv is OpenSpiel's."""
    import pyspiel
    from open_spiel.python.algorithms import exploitability as os_expl

    from jaxgames.efg.openspiel import from_openspiel, to_openspiel_policy

    make, kwargs, spiel_name = CASES[case]
    spiel = pyspiel.load_game(spiel_name)
    game, reference = make(**kwargs), from_openspiel(spiel)
    _assert_same_tree(game.tree, reference.tree)
    for field in ("tensor_row", "information_state_tensors", "observation_tensors"):
        np.testing.assert_array_equal(getattr(game.tree, field), getattr(reference.tree, field), err_msg=field)

    nash_conv = jax.jit(jaxgames.nash_conv)
    rng = np.random.default_rng(0)
    for policy in (game.uniform_policy(), _random_policy(game, rng)):
        expected = os_expl.nash_conv(spiel, to_openspiel_policy(game, policy))  # spiel game from game.name
        assert float(nash_conv(game, policy)) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("case", ["liars_1x3", "goof_4_descending"])
def test_cfr_plus_solves_them(case):
    make, kwargs, _ = CASES[case]
    game = make(**kwargs)
    _, trace = solvers.run(solvers.cfr_plus(), game, 200, eval_every=200)
    assert float(trace.exploitability[-1]) < 0.05 * float(jaxgames.exploitability(game, game.uniform_policy()))


def test_simulator_plays_them():
    """``EFGEnv`` on the native trees: OpenSpiel's tensor sizes, episodes end with the game's returns."""
    for game, size in ((liars_dice(1, 3), 2 + 3 + 6 + 1), (goofspiel(4), 4 + 2 * 11 + 4 + 8 + 16 + 16)):
        env = EFGEnv(game)
        assert env.information_state_tensor_size == size
        _, traj = jaxgames.efg.rollout(jax.random.key(0), env, None, 64)
        rewards = np.asarray(traj.rewards)
        assert np.all(np.abs(rewards.sum(-1)) < 1e-6)  # zero-sum
        assert np.asarray(traj.terminated).sum() >= 5  # several episodes
        assert set(np.unique(rewards)) <= {-1.0, 0.0, 1.0}


def test_sizes_are_checked_before_anything_is_built():
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"num_dice, dice_sides: the game tree has 382,205,587 histories"):
        liars_dice(num_dice=3, dice_sides=3)
    with pytest.raises(ValueError, match=r"num_cards: the game tree has 47,506,635 histories"):
        goofspiel(num_cards=7)
    with pytest.raises(ValueError, match="max_bytes"):
        liars_dice(num_dice=1, dice_sides=6, max_bytes=2**20)
    assert time.perf_counter() - start < 1.0  # counted in closed form, nothing walked
    assert liars_dice_rules(1, 6).num_histories() == 294_883  # OpenSpiel's default liar's dice
    assert goofspiel_rules(5, points_order="random").num_histories() == 3_346_656


@pytest.mark.parametrize(
    "make, kwargs, field",
    [
        (liars_dice, dict(num_dice=0), "num_dice"),
        (liars_dice, dict(dice_sides=2.0), "dice_sides"),
        (liars_dice, dict(bidding_rule="reset"), "bidding_rule"),
        (goofspiel, dict(num_cards=0), "num_cards"),
        (goofspiel, dict(points_order="shuffled"), "points_order"),
        (goofspiel, dict(returns_type="points"), "returns_type"),
        (goofspiel, dict(num_players=1), "num_players"),
        (goofspiel, dict(imp_info=1), "imp_info"),
        (goofspiel, dict(num_cards=4, imp_info=False), "imp_info"),  # OpenSpiel's lacks perfect recall
    ],
)
def test_bad_parameters_name_the_field(make, kwargs, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        make(**kwargs)
