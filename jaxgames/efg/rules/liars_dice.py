"""Liar's dice rules, as OpenSpiel's ``liars_dice`` (see ``jaxgames.efg.rules`` for the state API).

Two players, ``num_dice`` dice each with faces ``1..dice_sides``. Chance rolls
player 0's dice one at a time, then player 1's (chance action ``k`` is face
``k + 1``, each with probability ``1 / dice_sides``); once every die is rolled,
each player's dice are sorted (the information sets see the multiset). Player 0
bids first and the players alternate. With ``T = 2 num_dice`` dice in play,
bid ids ``0..T S - 1`` (``S = dice_sides``) mean ``(quantity, face)``:

* ``"reset-face"`` (OpenSpiel's default): ``quantity = b // S + 1``,
  ``face = b % S + 1``;
* ``"reset-quantity"``: ``quantity = b % T + 1``, ``face = b // T + 1``.

A bid must be strictly higher (by id) than the last one; action ``T S`` calls
"liar", legal once a bid has been made. After the call the dice showing the
bid face or the highest face (``S`` is wild) are counted: if there are at least
``quantity`` of them the bidder wins (+1, the caller -1), else the caller wins.

Information-state strings are OpenSpiel's own (the player's dice, then the bids);
tensors are OpenSpiel's (``2 + D S + T S + 1`` floats: player one-hot, one
one-hot per own die, one bit per bid made and one for "liar"; the observation
tensor keeps only the last two bids).
"""

from __future__ import annotations

from dataclasses import dataclass

from jaxgames.efg.rules.base import CHANCE_PLAYER, TERMINAL_PLAYER, RulesState
from jaxgames.validation import check_choice, check_int

LIARS_DICE_PLAYERS = 2
BIDDING_RULES = ("reset-face", "reset-quantity")
_UNROLLED = -1


@dataclass(frozen=True)
class LiarsDiceRules:
    """Liar's dice with ``num_dice`` dice per player of ``dice_sides`` faces (OpenSpiel's
    ``liars_dice(numdice=num_dice, dice_sides=dice_sides, bidding_rule=bidding_rule)``)."""

    num_dice: int = 1
    dice_sides: int = 6
    bidding_rule: str = "reset-face"

    def __post_init__(self):
        check_int(self.num_dice, "num_dice", low=1)
        check_int(self.dice_sides, "dice_sides", low=1)
        check_choice(self.bidding_rule, "bidding_rule", BIDDING_RULES)

    @property
    def total_dice(self) -> int:
        return LIARS_DICE_PLAYERS * self.num_dice

    @property
    def liar(self) -> int:
        """The "liar" call's action id (``total_dice * dice_sides``)."""
        return self.total_dice * self.dice_sides

    def new_initial_state(self) -> LiarsDiceState:
        return LiarsDiceState(self)

    def num_players(self) -> int:
        return LIARS_DICE_PLAYERS

    def num_distinct_actions(self) -> int:
        return self.liar + 1

    def max_chance_outcomes(self) -> int:
        return self.dice_sides

    def max_game_length(self) -> int:
        return self.liar + 1

    def information_state_tensor_shape(self) -> list[int]:
        """``[2 + num_dice S + T S + 1]`` (21 for one six-sided die each)."""
        return [LIARS_DICE_PLAYERS + self.num_dice * self.dice_sides + self.liar + 1]

    def observation_tensor_shape(self) -> list[int]:
        return self.information_state_tensor_shape()

    def unrank_bid(self, bid: int) -> tuple[int, int]:
        """``(quantity, face)`` of bid id ``bid`` (OpenSpiel's ``UnrankBid``)."""
        if self.bidding_rule == "reset-face":
            return bid // self.dice_sides + 1, bid % self.dice_sides + 1
        return bid % self.total_dice + 1, bid // self.total_dice + 1

    def num_histories(self) -> int:
        """Histories of the tree (chance, decision and terminal), in closed form: the chance
        prefix ``sum_{k<T} S^k`` plus, per ordered roll, the ``2^B`` increasing bid sequences and
        the ``2^B - 1`` "liar" terminals (``B = T S`` bids)."""
        s, t, b = self.dice_sides, self.total_dice, self.liar
        return sum(s**k for k in range(t)) + s**t * (2 ** (b + 1) - 1)


def liars_dice_rules(num_dice: int = 1, dice_sides: int = 6, bidding_rule: str = "reset-face") -> LiarsDiceRules:
    """Liar's dice rules; the defaults equal OpenSpiel's default ``liars_dice``."""
    return LiarsDiceRules(
        check_int(num_dice, "num_dice", low=1),
        check_int(dice_sides, "dice_sides", low=1),
        check_choice(bidding_rule, "bidding_rule", BIDDING_RULES),
    )


class LiarsDiceState(RulesState):
    """A liar's dice history: the rolls (player 0's dice, then player 1's), then the bids."""

    __slots__ = ("_game", "_history", "_dice", "_bids")

    def __init__(self, game: LiarsDiceRules):
        self._game = game
        self._history: tuple[int, ...] = ()
        self._dice: tuple[tuple[int, ...], ...] = tuple((_UNROLLED,) * game.num_dice for _ in range(LIARS_DICE_PLAYERS))
        self._bids: tuple[int, ...] = ()

    def clone(self) -> LiarsDiceState:
        other = object.__new__(LiarsDiceState)
        other._game, other._history, other._dice, other._bids = self._game, self._history, self._dice, self._bids
        return other

    # -- helpers --------------------------------------------------------------------------
    def _rolls(self) -> int:
        return len(self._history) - len(self._bids)

    def _winner(self) -> int:
        """The winner of a finished game (the last bidder if the bid holds, else the caller)."""
        game = self._game
        quantity, face = game.unrank_bid(self._bids[-2])
        matches = sum(d == face or d == game.dice_sides for dice in self._dice for d in dice)
        caller = (len(self._bids) - 1) % LIARS_DICE_PLAYERS
        bidder = 1 - caller
        return bidder if matches >= quantity else caller

    def _bid_text(self) -> str:
        game = self._game
        return "".join(" Liar" if b == game.liar else " {}-{}".format(*game.unrank_bid(b)) for b in self._bids)

    # -- pyspiel-like API -----------------------------------------------------------------
    def current_player(self) -> int:
        if self._rolls() < self._game.total_dice:
            return CHANCE_PLAYER
        if self._bids and self._bids[-1] == self._game.liar:
            return TERMINAL_PLAYER
        return len(self._bids) % LIARS_DICE_PLAYERS

    def chance_outcomes(self) -> list[tuple[int, float]]:
        if not self.is_chance_node():
            raise ValueError("chance_outcomes() called at a non-chance node")
        s = self._game.dice_sides
        return [(k, 1.0 / s) for k in range(s)]

    def legal_actions(self) -> list[int]:
        player = self.current_player()
        if player == TERMINAL_PLAYER:
            return []
        if player == CHANCE_PLAYER:
            return list(range(self._game.dice_sides))
        first = self._bids[-1] + 1 if self._bids else 0
        return list(range(first, self._game.liar + (1 if self._bids else 0)))

    def apply_action(self, action: int) -> None:
        """Apply ``action`` in place (pyspiel semantics). Prefer :meth:`child`."""
        self._check_action(action)
        action = int(action)
        game = self._game
        rolled = self._rolls()
        self._history = self._history + (action,)
        if rolled < game.total_dice:  # a roll: the next die of the current roller
            player, slot = divmod(rolled, game.num_dice)
            dice = list(self._dice)
            dice[player] = dice[player][:slot] + (action + 1,) + dice[player][slot + 1 :]
            if rolled == game.total_dice - 1:  # all rolled: sort each hand (OpenSpiel does)
                dice = [tuple(sorted(d)) for d in dice]
            self._dice = tuple(dice)
            return
        self._bids = self._bids + (action,)

    def returns(self) -> list[float]:
        if not self.is_terminal():
            return [0.0] * LIARS_DICE_PLAYERS
        winner = self._winner()
        return [1.0 if p == winner else -1.0 for p in range(LIARS_DICE_PLAYERS)]

    def information_state_string(self, player: int) -> str:
        """OpenSpiel's string: the player's dice (``-1`` unrolled), then ``" q-f"`` per bid, ``" Liar"``."""
        if not 0 <= player < LIARS_DICE_PLAYERS:
            raise ValueError(f"bad player {player}")
        return "".join(map(str, self._dice[player])) + self._bid_text()

    def _dice_tensor(self, player) -> list[float]:
        game = self._game
        player, s = self._observer(player), game.dice_sides
        out = [0.0] * game.information_state_tensor_shape()[0]
        out[player] = 1.0
        for d, face in enumerate(self._dice[player]):
            if face != _UNROLLED:
                out[LIARS_DICE_PLAYERS + d * s + face - 1] = 1.0
        return out

    def information_state_tensor(self, player: int | None = None) -> list[float]:
        """OpenSpiel's tensor: player one-hot ``[2]``, own dice ``[num_dice, S]`` one-hots, then one
        bit per bid id made and one for "liar" ``[T S + 1]`` (default ``player``: the one to move)."""
        out = self._dice_tensor(player)
        start = LIARS_DICE_PLAYERS + self._game.num_dice * self._game.dice_sides
        for b in self._bids:
            out[start + b] = 1.0
        return out

    def observation_tensor(self, player: int | None = None) -> list[float]:
        """As the information-state tensor, with only the last two bids (OpenSpiel's)."""
        out = self._dice_tensor(player)
        start = LIARS_DICE_PLAYERS + self._game.num_dice * self._game.dice_sides
        for b in self._bids[-LIARS_DICE_PLAYERS:]:
            out[start + b] = 1.0
        return out

    def __str__(self) -> str:
        dice = " ".join("".join(map(str, d)) for d in self._dice)
        return dice + self._bid_text()

    __repr__ = __str__
