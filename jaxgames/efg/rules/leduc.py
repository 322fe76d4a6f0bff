"""Leduc poker rules, as OpenSpiel's ``leduc_poker`` (see ``jaxgames.efg.rules`` for the state API).

Leduc (n players, ``2(n+1)`` cards; card ``c`` has rank ``c // 2``): chance deals
private cards to players 0..n-1 (action id = card), then two betting rounds
separated by a public card. Actions are fold=0, call=1, raise=2. Fold is legal
only when the player faces a bet; raise only while fewer than ``max_raises``
raises happened this round. A raise first calls and then adds the round's raise
amount. A round ends when every remaining player has called with no raise, or
all remaining players but the last raiser have called since the last raise. The
betting in both rounds starts at player 0 (or the first non-folded player after
it). At showdown a pair with the public card beats any non-pair; otherwise hands
compare by their higher rank, then their lower rank (suits never matter, so equal
ranks tie); tied winners split the pot. Returns are final stack minus initial
stack, as in OpenSpiel (OpenSpiel's 100-chip stacks never bind).
"""

from __future__ import annotations

from dataclasses import dataclass

from jaxgames.efg.rules.base import CHANCE_PLAYER, TERMINAL_PLAYER, RulesState, chip_amount
from jaxgames.validation import check_int

LEDUC_FOLD, LEDUC_CALL, LEDUC_RAISE = 0, 1, 2
_NO_CARD = -1
_CHIP_ANTE, _CHIP_RAISES = 1.0, (2.0, 4.0)  # OpenSpiel's sizes, for the observation tensor


@dataclass(frozen=True)
class LeducPokerRules:
    """Leduc poker with ``n_players`` players and ``2 * (n_players + 1)`` cards.

    ``ante``: each player's forced contribution; ``raise_amounts``: the raise size
    in round 1 and round 2; ``max_raises``: raises allowed per round (changes the
    tree; OpenSpiel uses 2). Defaults equal OpenSpiel's default ``leduc_poker``.
    """

    n_players: int = 2
    ante: float = 1.0
    raise_amounts: tuple[float, float] = (2.0, 4.0)
    max_raises: int = 2

    def __post_init__(self):
        check_int(self.n_players, "num_players", 2, 10)
        if len(self.raise_amounts) != 2:
            raise ValueError(f"raise_amounts: expected one amount per round (2), got {self.raise_amounts!r}")
        check_int(self.max_raises, "max_raises", low=0)

    @property
    def num_cards(self) -> int:
        return 2 * (self.n_players + 1)

    def new_initial_state(self) -> LeducPokerState:
        return LeducPokerState(self)

    def num_players(self) -> int:
        return self.n_players

    def num_distinct_actions(self) -> int:
        return 3

    def max_chance_outcomes(self) -> int:
        return self.num_cards

    def max_game_length(self) -> int:
        """Longest betting sequence (chance moves excluded, as in pyspiel).

        Per round: n-1 checks, the raises, up to n-2 calls between raises, and n-1
        calls after the last raise (``3n - 2`` per round for 2 raises).
        """
        return 2 * self.max_bets_per_round()

    def max_bets_per_round(self) -> int:
        """Longest betting sequence of one round (``3n - 2`` for 2 raises, OpenSpiel's bound)."""
        n, k = self.n_players, self.max_raises
        return (n - 1) + k + max(k - 1, 0) * (n - 2) + (n - 1 if k > 0 else 1)

    def information_state_tensor_shape(self) -> list[int]:
        """``[n + 2 cards + 2 rounds x max_bets_per_round x 2]`` (30 for two players; see the state)."""
        return [self.n_players + 2 * self.num_cards + 4 * self.max_bets_per_round()]

    def observation_tensor_shape(self) -> list[int]:
        """``[n + 2 cards + n]`` (16 for two players; see the state)."""
        return [2 * self.n_players + 2 * self.num_cards]


def leduc_poker_rules(
    num_players: int = 2, ante: float = 1.0, raise_amounts: tuple[float, float] = (2.0, 4.0), max_raises: int = 2
) -> LeducPokerRules:
    """Leduc poker rules; the defaults equal OpenSpiel's default ``leduc_poker``."""
    if isinstance(raise_amounts, (str, bytes)) or not hasattr(raise_amounts, "__len__") or len(raise_amounts) != 2:
        raise ValueError(f"raise_amounts: expected two amounts (round 1, round 2), got {raise_amounts!r}")
    return LeducPokerRules(
        check_int(num_players, "num_players", 2, 10),
        chip_amount(ante, "ante"),
        tuple(chip_amount(r, f"raise_amounts[{k}]") for k, r in enumerate(raise_amounts)),
        check_int(max_raises, "max_raises", low=0),
    )


class LeducPokerState(RulesState):
    """A Leduc poker state (mutable internally; :meth:`child` copies)."""

    __slots__ = (
        "_game",
        "_history",
        "_private",
        "_public",
        "_round",
        "_player",
        "_contrib",
        "_stakes",
        "_folded",
        "_num_calls",
        "_num_raises",
        "_sequences",
        "_terminal",
        "_chips",
        "_chip_stakes",
    )

    def __init__(self, game: LeducPokerRules):
        n = game.n_players
        self._game = game
        self._history: tuple[int, ...] = ()
        self._private = [_NO_CARD] * n
        self._public = _NO_CARD
        self._round = 0  # 0 or 1
        self._player = CHANCE_PLAYER  # player to move when not terminal
        self._contrib = [game.ante] * n
        self._stakes = game.ante  # contribution needed to stay in
        self._folded = [False] * n
        self._num_calls = 0
        self._num_raises = 0
        self._sequences: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())
        self._terminal = False
        # contributions at OpenSpiel's chip sizes (the observation tensor's pot, whatever the payoffs)
        self._chips = [_CHIP_ANTE] * n
        self._chip_stakes = _CHIP_ANTE

    def clone(self) -> LeducPokerState:
        other = object.__new__(LeducPokerState)
        for name in self.__slots__:
            value = getattr(self, name)
            setattr(other, name, list(value) if isinstance(value, list) else value)
        return other

    # -- helpers --------------------------------------------------------------------------
    @property
    def _n(self) -> int:
        return self._game.n_players

    def _remaining(self) -> int:
        return self._folded.count(False)

    def _dealt(self) -> set[int]:
        cards = {c for c in self._private if c != _NO_CARD}
        if self._public != _NO_CARD:
            cards.add(self._public)
        return cards

    def _next_player(self, after: int) -> int:
        for i in range(1, self._n + 1):
            p = (after + i) % self._n
            if not self._folded[p]:
                return p
        raise AssertionError("no player left")

    def _round_over(self) -> bool:
        if self._num_raises == 0:
            return self._num_calls == self._remaining()
        return self._num_calls == self._remaining() - 1

    def _after_fold_or_call(self) -> None:
        if self._remaining() == 1 or (self._round == 1 and self._round_over()):
            self._terminal = True
        elif self._round_over():
            self._round, self._num_calls, self._num_raises = 1, 0, 0
            self._player = CHANCE_PLAYER
        else:
            self._player = self._next_player(self._player)

    def _hand_rank(self, player: int) -> tuple[int, int, int]:
        a, b = sorted((self._private[player] // 2, self._public // 2))
        return (1 if a == b else 0, b, a)

    def _winners(self) -> list[int]:
        """Players who share the pot (terminal states only)."""
        alive = [p for p in range(self._n) if not self._folded[p]]
        if len(alive) == 1:
            return alive
        best = max(self._hand_rank(p) for p in alive)
        return [p for p in alive if self._hand_rank(p) == best]

    # -- pyspiel-like API -----------------------------------------------------------------
    def current_player(self) -> int:
        return TERMINAL_PLAYER if self._terminal else self._player

    def chance_outcomes(self) -> list[tuple[int, float]]:
        if not self.is_chance_node():
            raise ValueError("chance_outcomes() called at a non-chance node")
        dealt = self._dealt()
        remaining = [c for c in range(self._game.num_cards) if c not in dealt]
        p = 1.0 / len(remaining)
        return [(c, p) for c in remaining]

    def legal_actions(self) -> list[int]:
        if self._terminal:
            return []
        if self.is_chance_node():
            return [c for c, _ in self.chance_outcomes()]
        actions = []
        if self._stakes > self._contrib[self._player]:
            actions.append(LEDUC_FOLD)
        actions.append(LEDUC_CALL)
        if self._num_raises < self._game.max_raises:
            actions.append(LEDUC_RAISE)
        return actions

    def apply_action(self, action: int) -> None:
        """Apply ``action`` in place (pyspiel semantics). Prefer :meth:`child`."""
        self._check_action(action)
        action = int(action)
        self._history = self._history + (action,)
        if self._player == CHANCE_PLAYER:
            undealt = [p for p in range(self._n) if self._private[p] == _NO_CARD]
            if undealt:
                self._private[undealt[0]] = action
                if len(undealt) == 1:
                    self._player = self._next_player(self._n - 1)
            else:
                self._public = action
                self._player = self._next_player(self._n - 1)
            return

        p = self._player
        seqs = list(self._sequences)
        seqs[self._round] = seqs[self._round] + (action,)
        self._sequences = (seqs[0], seqs[1])
        if action == LEDUC_FOLD:
            self._folded[p] = True
            self._after_fold_or_call()
        elif action == LEDUC_CALL:
            self._contrib[p] = self._stakes
            self._chips[p] = self._chip_stakes
            self._num_calls += 1
            self._after_fold_or_call()
        else:  # raise: call, then raise the stakes
            self._stakes += self._game.raise_amounts[self._round]
            self._contrib[p] = self._stakes
            self._chip_stakes += _CHIP_RAISES[self._round]
            self._chips[p] = self._chip_stakes
            self._num_raises += 1
            self._num_calls = 0
            self._player = self._next_player(p)

    def returns(self) -> list[float]:
        n = self._n
        if not self._terminal:
            return [0.0] * n
        winners = self._winners()
        share = sum(self._contrib) / len(winners)
        return [(share if p in winners else 0.0) - self._contrib[p] for p in range(n)]

    def information_state_string(self, player: int) -> str:
        if not 0 <= player < self._n:
            raise ValueError(f"bad player {player}")
        # Like OpenSpiel's string, this names the player to move (so that a chance node
        # and the decision node after it differ) and, at terminals, who won the pot:
        # OpenSpiel's terminal strings show the final stacks, which reveal the result.
        r1, r2 = ("".join("fcr"[a] for a in s) for s in self._sequences)
        private = self._private[player] if self._private[player] != _NO_CARD else "-"
        public = self._public if self._public != _NO_CARD else "-"
        text = f"P{player} private={private} public={public} r1={r1} r2={r2} to_move={self.current_player()}"
        if self._terminal:
            text += " winners=" + ",".join(map(str, self._winners()))
        return text

    def _cards_tensor(self, player, size: int) -> list[float]:
        """A zero tensor with the observer ``[0, n)``, its private card ``[n, n + C)`` and the
        public card ``[n + C, n + 2C)`` one-hots set (``C`` cards; no card yet: zeros)."""
        player, n, c = self._observer(player), self._n, self._game.num_cards
        out = [0.0] * size
        out[player] = 1.0
        if self._private[player] != _NO_CARD:
            out[n + self._private[player]] = 1.0
        if self._public != _NO_CARD:
            out[n + c + self._public] = 1.0
        return out

    def information_state_tensor(self, player: int | None = None) -> list[float]:
        """OpenSpiel's Leduc information-state tensor (default ``player``: the one to move).

        Observer, private card and public card one-hots (``n + 2C``), then the
        betting ``[2 rounds, max_bets_per_round, 2]``: the ``i``-th action of a
        round is ``(1, 0)`` for a call, ``(0, 1)`` for a raise, ``(0, 0)`` for a
        fold (or no action yet). Two players: ``2 + 6 + 6 + 2 x 4 x 2 = 30``.
        """
        game = self._game
        size = game.information_state_tensor_shape()[0]
        out = self._cards_tensor(player, size)
        start, width = self._n + 2 * game.num_cards, game.max_bets_per_round()
        for r, seq in enumerate(self._sequences):
            for i, a in enumerate(seq):
                if a != LEDUC_FOLD:
                    out[start + 2 * (r * width + i) + (a == LEDUC_RAISE)] = 1.0
        return out

    def observation_tensor(self, player: int | None = None) -> list[float]:
        """OpenSpiel's Leduc observation tensor (default ``player``: the one to move).

        Observer, private card and public card one-hots (``n + 2C``), then each
        player's pot contribution in OpenSpiel's chips (ante 1, raises 2 and 4,
        whatever this game's ``ante`` and ``raise_amounts``). Two players: 16.
        """
        out = self._cards_tensor(player, self._game.observation_tensor_shape()[0])
        start = self._n + 2 * self._game.num_cards
        out[start:] = self._chips
        return out

    def __str__(self) -> str:
        r1, r2 = ("".join("fcr"[a] for a in s) for s in self._sequences)
        return f"private={self._private} public={self._public} r1={r1} r2={r2} contrib={self._contrib}"

    __repr__ = __str__
