"""OpenSpiel interop for mean-field games: the matching OpenSpiel game and policy conversions.

Our policy ``pi[t, s, a]`` is OpenSpiel's probability of action ``a`` at the
decision node of time ``t`` and state ``s``; decision nodes are identified by
their observation string (``"(x, t)"`` in ``mfg_crowd_modelling``), which is what
OpenSpiel's MFG algorithms key their tables by. ``to_openspiel_policy`` returns
a ``policy.Policy`` listing every legal action (zeros included), so OpenSpiel's
depth-first value computations visit states in the order
``crowd_modelling.openspiel_displacement`` replays. OpenSpiel is optional.
"""

from __future__ import annotations

import ast

import numpy as np

from jaxgames.core import Policy, require_pyspiel
from jaxgames.mean_field.crowd_modelling import CrowdModelling
from jaxgames.mean_field.crowd_modelling_2d import CrowdModelling2D
from jaxgames.mean_field.game import MeanFieldGame


def openspiel_game(game: MeanFieldGame):
    """The ``pyspiel.Game`` with the same rules as ``game`` (raises if OpenSpiel has none)."""
    pyspiel = require_pyspiel()
    if type(game) is CrowdModelling:  # exactly OpenSpiel's model (not subclasses such as BeachBar)
        return pyspiel.load_game("mfg_crowd_modelling", {"size": game.size, "horizon": game.horizon})
    if isinstance(game, CrowdModelling2D):
        init = np.asarray(game.initial, np.float64)
        support = np.flatnonzero(init > 0)
        cells = lambda idx: "[" + ";".join(f"{i // game.size}|{i % game.size}" for i in idx) + "]"
        only = bool(np.all(np.asarray(game.position_reward) == 0)) and float(game.move_penalty) == 0
        return pyspiel.load_game("mfg_crowd_modelling_2d", {
            "size": game.size, "horizon": game.horizon,
            "forbidden_states": "[" + ";".join(f"{x}|{y}" for x, y in game.forbidden) + "]",
            "initial_distribution": cells(support),
            "initial_distribution_value": "[" + ";".join(repr(float(init[i])) for i in support) + "]",
            "crowd_aversion_coef": float(game.crowd_aversion),
            "noise_intensity": float(game.noise_intensity),
            "only_distribution_reward": only})
    raise ValueError(f"game: no OpenSpiel counterpart is known for {type(game).__name__}")


def state_index(game: MeanFieldGame, state) -> tuple[int, int]:
    """``(t, s)`` of an OpenSpiel decision node of the game matching ``game``."""
    if type(game) is CrowdModelling:  # exactly OpenSpiel's model (not subclasses such as BeachBar)
        x, t = ast.literal_eval(state.observation_string(0))
        return int(t), int(x)
    if isinstance(game, CrowdModelling2D):
        x, y, t = ast.literal_eval(state.observation_string(0))
        return int(t), int(x) * game.size + int(y)
    raise ValueError(f"game: no OpenSpiel counterpart is known for {type(game).__name__}")


def _policy_base():
    require_pyspiel()
    from open_spiel.python import policy as policy_std
    return policy_std.Policy


def to_openspiel_policy(game: MeanFieldGame, policy: Policy, spiel_game=None):
    """An OpenSpiel ``policy.Policy`` playing ``policy[0][t, s, a]`` at decision node ``(t, s)``."""
    spiel_game = openspiel_game(game) if spiel_game is None else spiel_game
    table = np.asarray(game.validate_policy(policy)[0], np.float64)

    class _TablePolicy(_policy_base()):
        def action_probabilities(self, state, player_id=None):
            t, s = state_index(game, state)
            return {a: float(table[t, s, a]) for a in state.legal_actions()}

    return _TablePolicy(spiel_game, [0])


def decision_states(game: MeanFieldGame, spiel_game=None) -> dict:
    """``{(t, s): pyspiel.State}``: one OpenSpiel decision node per time and state.

    Found by a breadth-first walk that dedups by observation string and feeds
    mean-field nodes a uniform distribution (the policy lookup ignores it).
    """
    pyspiel = require_pyspiel()
    spiel_game = openspiel_game(game) if spiel_game is None else spiel_game
    out, frontier = {}, [spiel_game.new_initial_state()]
    while frontier:
        nxt, seen = [], set()
        for state in frontier:
            if state.is_terminal():
                continue
            if state.current_player() == pyspiel.PlayerId.MEAN_FIELD:
                support = state.distribution_support()
                state = state.clone()
                state.update_distribution([1.0 / len(support)] * len(support))
                children = [state]
            elif state.is_chance_node():
                children = [state.child(a) for a, _ in state.chance_outcomes()]
            else:
                out.setdefault(state_index(game, state), state)
                children = [state.child(a) for a in state.legal_actions()]
            for child in children:
                key = str(child)
                if key not in seen:
                    seen.add(key)
                    nxt.append(child)
        frontier = nxt
    return out


def from_openspiel_policy(game: MeanFieldGame, spiel_policy, spiel_game=None) -> Policy:
    """``([T, S, A],)`` float array from an OpenSpiel policy (unvisitable nodes stay uniform)."""
    import jax.numpy as jnp
    table = np.array(game.uniform_policy()[0], np.float64)
    for (t, s), state in decision_states(game, spiel_game).items():
        table[t, s] = 0.0
        for a, p in spiel_policy.action_probabilities(state).items():
            table[t, s, a] = p
    return (jnp.asarray(table, jnp.result_type(float)),)
