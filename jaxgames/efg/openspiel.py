"""OpenSpiel interop: convert games and tabular policies, exactly.

``from_openspiel(game)`` turns any small sequential, perfect-recall OpenSpiel
game into an ``EFGGame``; ``to_openspiel_policy`` / ``from_openspiel_policy``
convert policies between our ``[num_infosets, max_actions]`` arrays and
OpenSpiel's ``TabularPolicy`` (round trips are exact). Information sets are
matched by walking our tree and OpenSpiel's side by side (same action ids), so
the conversion also works for the native ``kuhn_poker`` / ``leduc_poker``.
OpenSpiel is an optional dependency (``pip install open-spiel``).
"""

from __future__ import annotations

import numpy as np

from jaxgames.core import Policy, require_pyspiel
from jaxgames.efg.game import EFGGame
from jaxgames.efg.tree import build_tree
from jaxgames.validation import check_int, resolve_max_bytes


def _load(game):
    pyspiel = require_pyspiel()
    if isinstance(game, str):
        try:
            return pyspiel.load_game(game)
        except Exception as err:  # noqa: BLE001 - pyspiel.SpielError and friends: name the field
            raise ValueError(f"game: OpenSpiel cannot load {game!r}: {err}") from None
    if not isinstance(game, pyspiel.Game):
        raise ValueError(f"game: expected a pyspiel.Game or a game string, got {type(game).__name__}")
    return game


def from_openspiel(game, max_histories: int = 1_000_000, max_bytes: int | None = None) -> EFGGame:
    """Convert a small OpenSpiel extensive-form game (a ``pyspiel.Game`` or a game string).

    Raises ``ValueError`` if the game is not sequential (simultaneous-move
    games must be converted with ``pyspiel.convert_to_turn_based``), provides
    no information-state strings, lacks perfect recall, or has more than
    ``max_histories`` histories or tables above ``max_bytes`` (default 4 GiB);
    both limits hold as the walk goes (``build_tree``), so a game too large
    (``"chess"``) fails within seconds.
    """
    max_histories = check_int(max_histories, "max_histories", low=1)
    resolve_max_bytes(max_bytes)
    game = _load(game)
    pyspiel = require_pyspiel()
    gtype = game.get_type()
    if gtype.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        raise ValueError(
            f"game: {game} is not an extensive-form (sequential) game; "
            "for simultaneous-move games use pyspiel.convert_to_turn_based(game)"
        )
    if not gtype.provides_information_state_string:
        raise ValueError(f"game: {game} provides no information_state_string; cannot build information sets")
    return EFGGame(build_tree(game, max_histories=max_histories, max_bytes=max_bytes), name=str(game))


def infoset_map(game: EFGGame, spiel_game) -> list[dict]:
    """Per player, ``{our infoset index: OpenSpiel information-state string}``."""
    spiel_game = _load(spiel_game)
    t = game.tree
    if spiel_game.num_players() != t.num_players or spiel_game.num_distinct_actions() != t.max_actions:
        raise ValueError(f"spiel_game: {spiel_game} does not have this game's players and actions")
    owner = {}
    for p in range(t.num_players):
        for h, info in zip(t.decision_nodes[p], t.decision_infosets[p]):
            owner[int(h)] = (p, int(info))
    out = [dict() for _ in range(t.num_players)]
    stack = [(0, spiel_game.new_initial_state())]
    while stack:
        h, state = stack.pop()
        if state.is_terminal():
            continue
        if h in owner:
            p, info = owner[h]
            out[p].setdefault(info, state.information_state_string(p))
        actions = [a for a, _ in state.chance_outcomes()] if state.is_chance_node() else state.legal_actions()
        for a in actions:
            child = int(t.children[h, a])
            if child < 0:
                raise ValueError(f"spiel_game: {spiel_game} has an action {a} that this game lacks")
            stack.append((child, state.child(a)))
    return out


def _spiel_for(game: EFGGame, spiel_game):
    return _load(spiel_game if spiel_game is not None else game.name)


def to_openspiel_policy(game: EFGGame, policy: Policy, spiel_game=None):
    """An OpenSpiel ``TabularPolicy`` equal to ``policy`` (``spiel_game`` defaults to ``game.name``)."""
    from open_spiel.python import policy as policy_lib

    policy = game.validate_policy(policy)
    spiel_game = _spiel_for(game, spiel_game)
    tab = policy_lib.TabularPolicy(spiel_game)
    for p, mapping in enumerate(infoset_map(game, spiel_game)):
        probs = np.asarray(policy[p], np.float64)
        for info, key in mapping.items():
            tab.action_probability_array[tab.state_lookup[key]] = probs[info]
    return tab


def from_openspiel_policy(game: EFGGame, tabular, spiel_game=None) -> Policy:
    """Our policy arrays from an OpenSpiel ``TabularPolicy`` of the same game."""
    import jax.numpy as jnp

    spiel_game = _spiel_for(game, spiel_game)
    out = []
    for p, mapping in enumerate(infoset_map(game, spiel_game)):
        probs = np.zeros(game.tree.legal[p].shape)
        for info, key in mapping.items():
            probs[info] = tabular.action_probability_array[tabular.state_lookup[key]]
        out.append(jnp.asarray(probs, jnp.result_type(float)))
    return tuple(out)
