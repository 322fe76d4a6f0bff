"""Kuhn poker rules, as OpenSpiel's ``kuhn_poker`` (see ``jaxgames.efg.rules`` for the state API).

Kuhn (n players, cards ``0..n``): chance deals one card to each player in turn
(player 0 first); the chance action id is the card, outcomes are the cards still
in the deck in increasing order, uniformly. Betting starts with player 0 and
rotates; actions are pass=0, bet=1 (both always legal). With no bet, the game
ends after n passes and the highest card wins. Once someone bets, every other
player acts exactly once more (a pass after a bet is a fold) and the highest
card among the players who bet wins. The winner takes the pot (antes plus bets).
"""

from __future__ import annotations

from dataclasses import dataclass

from jaxgames.efg.rules.base import CHANCE_PLAYER, TERMINAL_PLAYER, RulesState, chip_amount
from jaxgames.validation import check_int

KUHN_PASS, KUHN_BET = 0, 1


@dataclass(frozen=True)
class KuhnPokerRules:
    """Kuhn poker with ``n_players`` players, cards ``0..n_players``.

    ``ante``: each player's forced contribution; ``bet``: the size of a bet/call.
    Defaults (2 players, ante 1, bet 1) are OpenSpiel's ``kuhn_poker``; ``n_players=3``
    is OpenSpiel's ``kuhn_poker(players=3)``.
    """

    n_players: int = 2
    ante: float = 1.0
    bet: float = 1.0

    def __post_init__(self):
        check_int(self.n_players, "num_players", 2, 10)

    def new_initial_state(self) -> KuhnPokerState:
        return KuhnPokerState(self)

    def num_players(self) -> int:
        return self.n_players

    def num_distinct_actions(self) -> int:
        return 2

    def max_chance_outcomes(self) -> int:
        return self.n_players + 1

    def max_game_length(self) -> int:
        """Longest betting sequence (chance moves excluded, as in pyspiel)."""
        return 2 * self.n_players - 1

    def information_state_tensor_shape(self) -> list[int]:
        """``[6n - 1]``: player ``n`` + card ``n + 1`` + betting ``(2n - 1) x 2`` (see the state)."""
        return [6 * self.n_players - 1]

    def observation_tensor_shape(self) -> list[int]:
        """``[3n + 1]``: player ``n`` + card ``n + 1`` + pot contributions ``n`` (see the state)."""
        return [3 * self.n_players + 1]


def kuhn_poker_rules(num_players: int = 2, ante: float = 1.0, bet: float = 1.0) -> KuhnPokerRules:
    """Kuhn poker rules; the defaults equal OpenSpiel's default ``kuhn_poker``."""
    return KuhnPokerRules(
        check_int(num_players, "num_players", 2, 10), chip_amount(ante, "ante"), chip_amount(bet, "bet")
    )


class KuhnPokerState(RulesState):
    """A Kuhn poker history. History = the n dealt cards, then the pass/bet actions."""

    __slots__ = ("_game", "_history")

    def __init__(self, game: KuhnPokerRules, history: tuple[int, ...] = ()):
        self._game = game
        self._history = tuple(history)

    # -- derived quantities ---------------------------------------------------------------
    @property
    def _n(self) -> int:
        return self._game.n_players

    def _cards(self) -> tuple[int, ...]:
        return self._history[: self._n]

    def _betting(self) -> tuple[int, ...]:
        return self._history[self._n :]

    def _first_bettor(self) -> int | None:
        # Betting action i is taken by player i % n; a first bet always falls in
        # the first round of actions, so its index is the bettor.
        betting = self._betting()
        return betting.index(KUHN_BET) if KUHN_BET in betting else None

    def _bettors(self) -> set[int]:
        return {i % self._n for i, a in enumerate(self._betting()) if a == KUHN_BET}

    # -- pyspiel-like API -----------------------------------------------------------------
    def current_player(self) -> int:
        n = len(self._history)
        if n < self._n:
            return CHANCE_PLAYER
        num_actions = n - self._n
        first = self._first_bettor()
        done = num_actions == self._n if first is None else num_actions == self._n + first
        if done:
            return TERMINAL_PLAYER
        return num_actions % self._n

    def chance_outcomes(self) -> list[tuple[int, float]]:
        if not self.is_chance_node():
            raise ValueError("chance_outcomes() called at a non-chance node")
        remaining = [c for c in range(self._n + 1) if c not in self._history]
        p = 1.0 / len(remaining)
        return [(c, p) for c in remaining]

    def legal_actions(self) -> list[int]:
        if self.is_terminal():
            return []
        if self.is_chance_node():
            return [c for c, _ in self.chance_outcomes()]
        return [KUHN_PASS, KUHN_BET]

    def apply_action(self, action: int) -> None:
        """Apply ``action`` in place (pyspiel semantics). Prefer :meth:`child`."""
        self._check_action(action)
        self._history = self._history + (int(action),)

    def clone(self) -> KuhnPokerState:
        return KuhnPokerState(self._game, self._history)

    def returns(self) -> list[float]:
        n, game = self._n, self._game
        if not self.is_terminal():
            return [0.0] * n
        bettors = self._bettors()
        contribution = [game.ante + (game.bet if p in bettors else 0.0) for p in range(n)]
        contenders = bettors if bettors else set(range(n))
        cards = self._cards()
        winner = max(contenders, key=lambda p: cards[p])
        pot = sum(contribution)
        return [(pot if p == winner else 0.0) - contribution[p] for p in range(n)]

    def information_state_string(self, player: int) -> str:
        if not 0 <= player < self._n:
            raise ValueError(f"bad player {player}")
        card = self._history[player] if len(self._history) > player else "-"
        bets = "".join("b" if a == KUHN_BET else "p" for a in self._betting())
        return f"P{player} card={card} bets={bets}"

    def _player_and_card(self, player, size: int) -> tuple[list[float], int]:
        """A zero tensor with the observer's one-hot ``[0, n)`` and card one-hot ``[n, 2n + 1)`` set."""
        player, n = self._observer(player), self._n
        out = [0.0] * size
        out[player] = 1.0
        if len(self._history) > player:
            out[n + self._history[player]] = 1.0
        return out, player

    def information_state_tensor(self, player: int | None = None) -> list[float]:
        """OpenSpiel's Kuhn information-state tensor, size ``6n - 1`` (default ``player``: to move).

        ``[0, n)``: one-hot of the observing player; ``[n, 2n + 1)``: one-hot of
        its card (zeros before it is dealt); then ``2n - 1`` rows of two: row
        ``i`` is the one-hot (pass, bet) of the ``i``-th betting action.
        """
        n = self._n
        out, _ = self._player_and_card(player, 6 * n - 1)
        for i, a in enumerate(self._betting()):
            out[2 * n + 1 + 2 * i + a] = 1.0
        return out

    def observation_tensor(self, player: int | None = None) -> list[float]:
        """OpenSpiel's Kuhn observation tensor, size ``3n + 1`` (default ``player``: to move).

        Player and card one-hots as in the information-state tensor, then each
        player's pot contribution in OpenSpiel's chips: 1 (the ante), 2 once
        that player has bet (whatever this game's ``ante`` and ``bet``).
        """
        n = self._n
        out, _ = self._player_and_card(player, 3 * n + 1)
        bettors = self._bettors()
        for p in range(n):
            out[2 * n + 1 + p] = 2.0 if p in bettors else 1.0
        return out

    def __str__(self) -> str:
        cards = " ".join(map(str, self._cards()))
        bets = "".join("b" if a == KUHN_BET else "p" for a in self._betting())
        return f"{cards} {bets}".strip()

    __repr__ = __str__
