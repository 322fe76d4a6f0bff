"""What the rule state machines share: pyspiel's player ids, the state base class, history counts."""

from __future__ import annotations

from jaxgames.validation import check_scalar

CHANCE_PLAYER = -1  # pyspiel.PlayerId.CHANCE
TERMINAL_PLAYER = -4  # pyspiel.PlayerId.TERMINAL


def chip_amount(value, field: str) -> float:
    """A finite number, as a Python float (the rules are build-time Python: no tracers)."""
    check_scalar(value, field)
    return float(value)


def count_histories(game, max_visits: int = 20_000) -> tuple[int, bool]:
    """``(number of histories, exact)`` of a rules game whose chance outcomes all lead to subtrees of
    the same shape (card deals: the cards never change the betting tree), walking one outcome per
    chance node, so the walk visits the betting tree of one deal (Kuhn with 10 players: 10,252
    states for 4e11 histories). Stops after ``max_visits`` states and returns ``(count so far,
    False)``: the game is larger.
    """
    total, visits = 0, 0
    stack = [(game.new_initial_state(), 1)]  # (state, multiplicity: chance outcomes it stands for)
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


class RulesState:
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
        legal = [a for a, _ in self.chance_outcomes()] if self.is_chance_node() else self.legal_actions()
        if action not in legal:
            raise ValueError(f"illegal action {action} at history {self._history}; legal: {legal}")
