"""Pure-Python rule state machines for Kuhn and Leduc poker, liar's dice and goofspiel, one module per game.

(Liar's dice and turn-based goofspiel: ``liars_dice_rules`` and ``goofspiel_rules``, OpenSpiel's
``liars_dice`` and ``convert_to_turn_based(goofspiel)``, with OpenSpiel's own information-state
strings; see their modules and ``jaxgames.efg.native``. What follows describes the poker rules.)

These mirror OpenSpiel's ``kuhn_poker`` and ``leduc_poker`` (default parameters)
exactly: same chance outcome ids, probabilities and order; same player action ids
and legal-action order; same terminal returns; same information-set partition.
They are meant for build time (a tree builder walks the whole game once), so they
favour clarity over speed.

Both state classes implement the subset of the ``pyspiel.State`` API that a tree
walker needs, with the same names and semantics, so one builder can walk either a
pyspiel state or one of ours:

``current_player()``, ``is_terminal()``, ``is_chance_node()``,
``is_player_node()``, ``chance_outcomes()``, ``legal_actions()``,
``child(action)``, ``apply_action(action)``, ``clone()``, ``returns()``,
``information_state_string(player)``, ``information_state_tensor(player)``,
``observation_tensor(player)``, ``history()``, ``num_players()``.

``child`` returns a new state and leaves the receiver unchanged. Information
state strings are not OpenSpiel's strings, but two histories get equal strings
for a player iff OpenSpiel gives them equal ``information_state_string(player)``,
at every history (chance and terminal ones included). That is why Leduc strings
name the player to move (OpenSpiel's do, so a chance node and the decision node
after it differ) and, at terminals, who won the pot (OpenSpiel's terminal strings
show the final stacks, which reveal the showdown). Kuhn strings are the player's
card and the betting, as in OpenSpiel.

Tensors are exactly OpenSpiel's (``information_state_tensor`` and
``observation_tensor``, flat lists of floats, for any player at any history,
chance and terminal ones included); see the two state classes for the layouts.
They describe the tree only: ``ante``, ``bet`` and ``raise_amounts`` do not
enter them, and the pot contributions in the observation tensors count chips at
OpenSpiel's fixed sizes (ante 1; Kuhn bet 1; Leduc raises 2 and 4), so every
payoff variant of a game shares one set of tensors (one table in
``jaxgames.efg.tree.build_tree``).

Games (factories with the ``pyspiel.Game`` subset ``new_initial_state()``,
``num_players()``, ``num_distinct_actions()``, ``max_chance_outcomes()``,
``max_game_length()``, ``information_state_tensor_shape()``,
``observation_tensor_shape()``):

* ``kuhn_poker_rules(num_players=2, ante=1.0, bet=1.0)`` -> :class:`KuhnPokerRules`
* ``leduc_poker_rules(num_players=2, ante=1.0, raise_amounts=(2.0, 4.0),
  max_raises=2)`` -> :class:`LeducPokerRules`

``ante``, ``bet`` and ``raise_amounts`` change only payoffs, never the tree.
``max_raises`` does change the tree; only the default (2) is OpenSpiel's game.

``jaxgames.efg.rules.kuhn`` and ``jaxgames.efg.rules.leduc`` hold each game's rules (as
implemented, and checked against pyspiel in ``tests/test_efg_rules.py``); ``base`` holds what
the two share (player ids, the pyspiel-like state base class, ``count_histories``).
"""

from jaxgames.efg.rules.base import CHANCE_PLAYER, TERMINAL_PLAYER, count_histories
from jaxgames.efg.rules.goofspiel import GoofspielRules, GoofspielState, goofspiel_rules
from jaxgames.efg.rules.kuhn import KUHN_BET, KUHN_PASS, KuhnPokerRules, KuhnPokerState, kuhn_poker_rules
from jaxgames.efg.rules.leduc import (
    LEDUC_CALL,
    LEDUC_FOLD,
    LEDUC_RAISE,
    LeducPokerRules,
    LeducPokerState,
    leduc_poker_rules,
)
from jaxgames.efg.rules.liars_dice import LiarsDiceRules, LiarsDiceState, liars_dice_rules

__all__ = [
    "CHANCE_PLAYER",
    "TERMINAL_PLAYER",
    "KUHN_PASS",
    "KUHN_BET",
    "LEDUC_FOLD",
    "LEDUC_CALL",
    "LEDUC_RAISE",
    "KuhnPokerRules",
    "KuhnPokerState",
    "kuhn_poker_rules",
    "LeducPokerRules",
    "LeducPokerState",
    "leduc_poker_rules",
    "LiarsDiceRules",
    "LiarsDiceState",
    "liars_dice_rules",
    "GoofspielRules",
    "GoofspielState",
    "goofspiel_rules",
    "count_histories",
]
