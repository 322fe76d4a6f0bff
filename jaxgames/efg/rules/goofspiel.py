"""Turn-based goofspiel rules, as OpenSpiel's ``goofspiel`` under ``pyspiel.convert_to_turn_based``.

Goofspiel (``N`` players, ``n`` cards ``0..n-1`` worth ``1..n`` points): every
player holds the bid cards ``0..n-1``; each round a point card is revealed and
the players bid one of their remaining cards; the one highest bid wins the
point card's value (a tie at the top: nobody does), and the bids are discarded.
Point cards come in order ``"descending"`` (``n-1, n-2, ...``), ``"ascending"``
or ``"random"`` (a chance node per round, uniform over the cards not yet shown;
chance action = card). The last round is played automatically (one card each is
left), so a history holds ``n - 1`` rounds of bids (one for ``n = 1``).

The simultaneous bids are made sequential as OpenSpiel's turn-based transform
does: players ``0, 1, ..., N-1`` bid in turn (action id = card), and each sees
only its own bid of the round. With ``imp_info=True`` a player sees its own bids
and, each round, only who won (OpenSpiel's ``imp_info``); with ``imp_info=False``
it also sees every hand, but not the order of its own past bids: from 4 cards on that game
lacks perfect recall (OpenSpiel's too; ``jaxgames.efg.goofspiel`` refuses it).

Returns at the end (``returns_type``): ``"win_loss"`` (most points: the winners share
+1, the others share -1; all tied: 0), ``"point_difference"`` (points minus the mean)
or ``"total_points"`` (points; a general-sum game).

Information-state strings and both tensors are OpenSpiel's exactly (the transform's
``"Current player: "`` line and current-player and observer one-hots, then goofspiel's).
"""

from __future__ import annotations

from dataclasses import dataclass

from jaxgames.efg.rules.base import CHANCE_PLAYER, TERMINAL_PLAYER, RulesState
from jaxgames.validation import check_bool, check_choice, check_int

POINTS_ORDERS = ("descending", "ascending", "random")
RETURNS_TYPES = ("win_loss", "point_difference", "total_points")
_NO_WINNER = -3  # a tied round (pyspiel.PlayerId.INVALID)


@dataclass(frozen=True)
class GoofspielRules:
    """Turn-based goofspiel: OpenSpiel's ``goofspiel(num_cards=..., imp_info=..., points_order=...,
    returns_type=..., players=...)`` under ``convert_to_turn_based`` (``num_turns = num_cards``)."""

    num_cards: int = 4
    imp_info: bool = True
    points_order: str = "descending"
    returns_type: str = "win_loss"
    n_players: int = 2

    def __post_init__(self):
        check_int(self.num_cards, "num_cards", low=1)
        check_bool(self.imp_info, "imp_info")
        check_choice(self.points_order, "points_order", POINTS_ORDERS)
        check_choice(self.returns_type, "returns_type", RETURNS_TYPES)
        check_int(self.n_players, "num_players", 2, 10)

    @property
    def point_slots(self) -> int:
        """One-hot width of a point total (OpenSpiel's ``MaxPointSlots``: ``n (n + 1) / 2 + 1``)."""
        return self.num_cards * (self.num_cards + 1) // 2 + 1

    def new_initial_state(self) -> GoofspielState:
        return GoofspielState(self)

    def num_players(self) -> int:
        return self.n_players

    def num_distinct_actions(self) -> int:
        return self.num_cards

    def max_chance_outcomes(self) -> int:
        return self.num_cards if self.points_order == "random" else 0

    def max_game_length(self) -> int:
        return self.num_cards * self.n_players

    def information_state_tensor_shape(self) -> list[int]:
        n, k = self.num_cards, self.n_players
        inner = k * self.point_slots + (n + n * k + 2 * n * n if self.imp_info else n * n + k * n)
        return [2 * k + inner]

    def observation_tensor_shape(self) -> list[int]:
        n, k = self.num_cards, self.n_players
        inner = 2 * n + k * self.point_slots + (n + n * k if self.imp_info else k * n)
        return [2 * k + inner]

    def num_histories(self) -> int:
        """Histories of the tree (chance, decision and terminal), in closed form: round ``r`` starts
        from ``(n! / (n - r)!)^(N [+1 with random order])`` histories, each adding a chance node
        (random order) and the ``N`` bids over the ``n - r`` cards left."""
        n, k = self.num_cards, self.n_players
        chance = self.points_order == "random"
        played = max(n - 1, 1)  # rounds with bids; the last one is automatic
        total, start = 0, 1
        for r in range(played):
            left = n - r
            if chance:
                total += start  # the chance node
                start *= left
            total += sum(start * left**j for j in range(k))  # player j's decision nodes
            start *= left**k
        return total + start  # the terminals


def goofspiel_rules(
    num_cards: int = 4,
    imp_info: bool = True,
    points_order: str = "descending",
    returns_type: str = "win_loss",
    num_players: int = 2,
) -> GoofspielRules:
    """Turn-based goofspiel rules (see :class:`GoofspielRules`)."""
    return GoofspielRules(
        check_int(num_cards, "num_cards", low=1),
        check_bool(imp_info, "imp_info"),
        check_choice(points_order, "points_order", POINTS_ORDERS),
        check_choice(returns_type, "returns_type", RETURNS_TYPES),
        check_int(num_players, "num_players", 2, 10),
    )


class GoofspielState(RulesState):
    """A turn-based goofspiel state (mutable internally; :meth:`child` copies)."""

    __slots__ = ("_game", "_history", "_hands", "_points", "_point_seq", "_win_seq", "_bids", "_pending", "_player")

    def __init__(self, game: GoofspielRules):
        n, k = game.num_cards, game.n_players
        self._game = game
        self._history: tuple[int, ...] = ()
        self._hands = tuple(tuple(range(n)) for _ in range(k))  # each player's cards left, increasing
        self._points = (0,) * k
        self._point_seq: tuple[int, ...] = ()
        self._win_seq: tuple[int, ...] = ()
        self._bids: tuple[tuple[int, ...], ...] = ()  # the joint bids of the finished rounds
        self._pending: tuple[int, ...] = ()  # this round's bids so far (players 0..len-1)
        self._player = CHANCE_PLAYER
        if game.points_order != "random":
            self._deal(0 if game.points_order == "ascending" else n - 1)

    def clone(self) -> GoofspielState:
        other = object.__new__(GoofspielState)
        for name in self.__slots__:
            setattr(other, name, getattr(self, name))
        return other

    # -- rules ----------------------------------------------------------------------------
    def _deal(self, card: int) -> None:
        self._point_seq = self._point_seq + (card,)
        self._player = 0

    def _play_round(self, bids: tuple[int, ...]) -> None:
        game = self._game
        n = game.num_cards
        top = max(bids)
        if bids.count(top) == 1:
            winner = bids.index(top)
            points = list(self._points)
            points[winner] += self._point_seq[-1] + 1
            self._points = tuple(points)
            self._win_seq = self._win_seq + (winner,)
        else:
            self._win_seq = self._win_seq + (_NO_WINNER,)
        self._bids = self._bids + (bids,)
        self._hands = tuple(tuple(c for c in hand if c != b) for hand, b in zip(self._hands, bids))
        self._pending = ()
        turn, card = len(self._bids), self._point_seq[-1]
        if turn < n:
            if game.points_order == "random":
                self._player = CHANCE_PLAYER
            elif game.points_order == "ascending" and card < n - 1:
                self._deal(card + 1)
            elif game.points_order == "descending" and card > 0:
                self._deal(card - 1)
        if turn == n - 1:  # the last round plays itself: one point card and one card each are left
            if self._player == CHANCE_PLAYER:
                self._deal(self._remaining_points()[0])
            self._play_round(tuple(hand[0] for hand in self._hands))
        elif turn == n:
            self._player = TERMINAL_PLAYER

    def _remaining_points(self) -> list[int]:
        return [c for c in range(self._game.num_cards) if c not in self._point_seq]

    def _winners(self) -> list[int]:
        best = max(self._points)
        return [p for p, v in enumerate(self._points) if v == best]

    # -- pyspiel-like API -----------------------------------------------------------------
    def current_player(self) -> int:
        return self._player

    def chance_outcomes(self) -> list[tuple[int, float]]:
        if not self.is_chance_node():
            raise ValueError("chance_outcomes() called at a non-chance node")
        left = self._remaining_points()
        return [(c, 1.0 / len(left)) for c in left]

    def legal_actions(self) -> list[int]:
        if self._player == TERMINAL_PLAYER:
            return []
        if self._player == CHANCE_PLAYER:
            return self._remaining_points()
        return list(self._hands[self._player])

    def apply_action(self, action: int) -> None:
        """Apply ``action`` in place (pyspiel semantics). Prefer :meth:`child`."""
        self._check_action(action)
        action = int(action)
        self._history = self._history + (action,)
        if self._player == CHANCE_PLAYER:
            self._deal(action)
            return
        self._pending = self._pending + (action,)
        if len(self._pending) < self._game.n_players:
            self._player += 1
        else:
            self._play_round(self._pending)

    def returns(self) -> list[float]:
        k = self._game.n_players
        if self._player != TERMINAL_PLAYER:
            return [0.0] * k
        kind = self._game.returns_type
        if kind == "total_points":
            return [float(v) for v in self._points]
        if kind == "point_difference":
            mean = sum(self._points) / k
            return [v - mean for v in self._points]
        winners = self._winners()
        if len(winners) == k:
            return [0.0] * k
        return [1.0 / len(winners) if p in winners else -1.0 / (k - len(winners)) for p in range(k)]

    # -- information: OpenSpiel's strings and tensors ---------------------------------------
    def information_state_string(self, player: int) -> str:
        """OpenSpiel's turn-based goofspiel string, exactly."""
        game = self._game
        if not 0 <= player < game.n_players:
            raise ValueError(f"bad player {player}")
        text = f"Current player: {self._player}\n"
        if self._player >= 0 and player < self._player:
            text += f"Observer's action this turn: {self._pending[player]}\n"
        hand = lambda p: f"P{p} hand: " + "".join(f"{c + 1} " for c in self._hands[p]) + "\n"  # noqa: E731
        points_cards = "Point card sequence: " + "".join(f"{c + 1} " for c in self._point_seq) + "\n"
        wins = "Win sequence: " + "".join(f"{w} " for w in self._win_seq) + "\n"
        points = "Points: " + "".join(f"{v} " for v in self._points) + "\n"
        if game.imp_info:
            actions = f"P{player} action sequence: " + "".join(f"{b[player]} " for b in self._bids) + "\n"
            terminal = f"Terminal?: {int(self._player == TERMINAL_PLAYER)}\n"
            return text + hand(player) + actions + points_cards + wins + points + terminal
        return text + points_cards + "".join(hand(p) for p in range(game.n_players)) + wins + points

    def _tensor_start(self, player, size: int) -> tuple[list[float], int, int]:
        """A zero tensor with the transform's current-player and observer one-hots set; returns it,
        the observer and the offset where goofspiel's own tensor starts."""
        k = self._game.n_players
        player = self._observer(player)
        out = [0.0] * size
        if self._player >= 0:
            out[self._player] = 1.0
        out[k + player] = 1.0
        return out, player, 2 * k

    def _write_points(self, out, at: int, player: int) -> int:
        k, slots = self._game.n_players, self._game.point_slots
        for i in range(k):
            out[at + i * slots + self._points[(player + i) % k]] = 1.0
        return at + k * slots

    def _write_hands(self, out, at: int, players) -> int:
        n = self._game.num_cards
        for i, p in enumerate(players):
            for c in self._hands[p]:
                out[at + i * n + c] = 1.0
        return at + len(players) * n

    def _write_wins(self, out, at: int) -> int:
        k = self._game.n_players
        for r, w in enumerate(self._win_seq):
            if w != _NO_WINNER:
                out[at + r * k + w] = 1.0
        return at + self._game.num_cards * k

    def _write_sequence(self, out, at: int, cards) -> int:
        n = self._game.num_cards
        for r, c in enumerate(cards):
            out[at + r * n + c] = 1.0
        return at + n * n

    def _all_hands(self, player: int) -> list[int]:
        k = self._game.n_players
        return [(player + i) % k for i in range(k)]

    def information_state_tensor(self, player: int | None = None) -> list[float]:
        """OpenSpiel's tensor: current player ``[N]``, observer ``[N]``, point totals ``[N, slots]``
        (from the observer on); ``imp_info``: own hand ``[n]``, round winners ``[n, N]``, point cards
        ``[n, n]``, own bids ``[n, n]``; else point cards ``[n, n]`` and every hand ``[N, n]``."""
        game = self._game
        out, player, at = self._tensor_start(player, game.information_state_tensor_shape()[0])
        at = self._write_points(out, at, player)
        if game.imp_info:
            at = self._write_hands(out, at, [player])
            at = self._write_wins(out, at)
            at = self._write_sequence(out, at, self._point_seq)
            self._write_sequence(out, at, [b[player] for b in self._bids])
        else:
            at = self._write_sequence(out, at, self._point_seq)
            self._write_hands(out, at, self._all_hands(player))
        return out

    def observation_tensor(self, player: int | None = None) -> list[float]:
        """OpenSpiel's tensor: current player ``[N]``, observer ``[N]``, the current point card ``[n]``,
        the point cards left ``[n]``, point totals ``[N, slots]``; ``imp_info``: own hand ``[n]`` and
        round winners ``[n, N]``; else every hand ``[N, n]``."""
        game = self._game
        n = game.num_cards
        out, player, at = self._tensor_start(player, game.observation_tensor_shape()[0])
        if self._point_seq:
            out[at + self._point_seq[-1]] = 1.0
        for c in self._remaining_points():
            out[at + n + c] = 1.0
        at = self._write_points(out, at + 2 * n, player)
        if game.imp_info:
            at = self._write_hands(out, at, [player])
            self._write_wins(out, at)
        else:
            self._write_hands(out, at, self._all_hands(player))
        return out

    def __str__(self) -> str:
        return (
            f"points={list(self._points)} point_cards={list(self._point_seq)} bids={list(self._bids)} "
            f"pending={list(self._pending)}"
        )

    __repr__ = __str__
