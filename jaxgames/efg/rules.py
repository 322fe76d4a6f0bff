"""Pure-Python rule state machines for Kuhn and Leduc poker.

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

Rules as implemented (and checked against pyspiel in ``tests/test_efg_rules.py``):

Kuhn (n players, cards ``0..n``): chance deals one card to each player in turn
(player 0 first); the chance action id is the card, outcomes are the cards still
in the deck in increasing order, uniformly. Betting starts with player 0 and
rotates; actions are pass=0, bet=1 (both always legal). With no bet, the game
ends after n passes and the highest card wins. Once someone bets, every other
player acts exactly once more (a pass after a bet is a fold) and the highest
card among the players who bet wins. The winner takes the pot (antes plus bets).

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

from jaxgames.validation import check_int, check_scalar


def _amount(value, field: str) -> float:
    """A finite number, as a Python float (the rules are build-time Python: no tracers)."""
    check_scalar(value, field)
    return float(value)

CHANCE_PLAYER = -1  # pyspiel.PlayerId.CHANCE
TERMINAL_PLAYER = -4  # pyspiel.PlayerId.TERMINAL

__all__ = [
    "CHANCE_PLAYER", "TERMINAL_PLAYER", "KUHN_PASS", "KUHN_BET",
    "LEDUC_FOLD", "LEDUC_CALL", "LEDUC_RAISE",
    "KuhnPokerRules", "KuhnPokerState", "kuhn_poker_rules",
    "LeducPokerRules", "LeducPokerState", "leduc_poker_rules", "count_histories",
]


def count_histories(game, max_visits: int = 20_000) -> tuple[int, bool]:
    """``(number of histories, exact)`` of a rules game whose chance outcomes all lead to subtrees of
    the same shape (card deals: the cards never change the betting tree), walking one outcome per
    chance node, so the walk visits the betting tree of one deal (Kuhn with 10 players: 10,252
    states for 4e11 histories). Stops after ``max_visits`` states and returns ``(count so far,
    False)``: the game is larger.
    """
    total, visits = 0, 0
    stack = [(game.new_initial_state(), 1)]   # (state, multiplicity: chance outcomes it stands for)
    while stack:
        state, mult = stack.pop()
        total += mult
        visits += 1
        if visits > max_visits:
            return total, False
        if state.is_terminal():
            continue
        if state.is_chance_node():
            outcomes = state.chance_outcomes()
            stack.append((state.child(outcomes[0][0]), mult * len(outcomes)))
        else:
            stack.extend((state.child(a), mult) for a in state.legal_actions())
    return total, True


class _RulesState:
    """Shared pyspiel-like conveniences; subclasses implement the rules."""

    def child(self, action: int):
        """A new state with ``action`` applied; ``self`` is left unchanged."""
        state = self.clone()
        state.apply_action(action)
        return state

    def is_player_node(self) -> bool:
        return self.current_player() >= 0

    def is_chance_node(self) -> bool:
        return self.current_player() == CHANCE_PLAYER

    def is_terminal(self) -> bool:
        return self.current_player() == TERMINAL_PLAYER

    def history(self) -> list[int]:
        return list(self._history)

    def num_players(self) -> int:
        return self._game.num_players()

    def _observer(self, player) -> int:
        """The observing player of a tensor query (``None``: the player to move, as in pyspiel)."""
        if player is None:
            player = self.current_player()
            if player < 0:
                raise ValueError("player: required at chance and terminal histories (no player to move)")
        if not 0 <= int(player) < self._game.num_players():
            raise ValueError(f"player: expected 0..{self._game.num_players() - 1}, got {player}")
        return int(player)

    def _check_action(self, action: int) -> None:
        if self.is_terminal():
            raise ValueError("cannot apply an action at a terminal state")
        legal = ([a for a, _ in self.chance_outcomes()] if self.is_chance_node()
                 else self.legal_actions())
        if action not in legal:
            raise ValueError(f"illegal action {action} at history {self._history}; legal: {legal}")


# --------------------------------------------------------------------------------------
# Kuhn poker
# --------------------------------------------------------------------------------------

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

    def new_initial_state(self) -> "KuhnPokerState":
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
    return KuhnPokerRules(check_int(num_players, "num_players", 2, 10), _amount(ante, "ante"),
                          _amount(bet, "bet"))


class KuhnPokerState(_RulesState):
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
        return self._history[self._n:]

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

    def clone(self) -> "KuhnPokerState":
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


# --------------------------------------------------------------------------------------
# Leduc poker
# --------------------------------------------------------------------------------------

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

    def new_initial_state(self) -> "LeducPokerState":
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


def leduc_poker_rules(num_players: int = 2, ante: float = 1.0,
                      raise_amounts: tuple[float, float] = (2.0, 4.0),
                      max_raises: int = 2) -> LeducPokerRules:
    """Leduc poker rules; the defaults equal OpenSpiel's default ``leduc_poker``."""
    if isinstance(raise_amounts, (str, bytes)) or not hasattr(raise_amounts, "__len__") or len(raise_amounts) != 2:
        raise ValueError(f"raise_amounts: expected two amounts (round 1, round 2), got {raise_amounts!r}")
    return LeducPokerRules(check_int(num_players, "num_players", 2, 10), _amount(ante, "ante"),
                           tuple(_amount(r, f"raise_amounts[{k}]") for k, r in enumerate(raise_amounts)),
                           check_int(max_raises, "max_raises", low=0))


class LeducPokerState(_RulesState):
    """A Leduc poker state (mutable internally; :meth:`child` copies)."""

    __slots__ = ("_game", "_history", "_private", "_public", "_round", "_player",
                 "_contrib", "_stakes", "_folded", "_num_calls", "_num_raises",
                 "_sequences", "_terminal", "_chips", "_chip_stakes")

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

    def clone(self) -> "LeducPokerState":
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
        text = (f"P{player} private={private} public={public} r1={r1} r2={r2} "
                f"to_move={self.current_player()}")
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
        return (f"private={self._private} public={self._public} r1={r1} r2={r2} "
                f"contrib={self._contrib}")

    __repr__ = __str__
