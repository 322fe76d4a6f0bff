"""OpenSpiel interop for mean-field games: the matching OpenSpiel game and policy conversions.

Our policy ``pi[t, s, a]`` is OpenSpiel's probability of action ``a`` at the
decision node of time ``t`` and state ``s``; decision nodes are identified by
their observation string (``"(x, t)"`` in ``mfg_crowd_modelling``), which is what
OpenSpiel's MFG algorithms key their tables by. ``to_openspiel_policy`` returns
a ``policy.Policy`` listing every legal action (zeros included), so OpenSpiel's
depth-first value computations visit states in the order
``crowd_modelling.openspiel_displacement`` replays. OpenSpiel is optional.

``mfg_crowd_modelling_2d`` conventions (read from its C++ source, checked in
``tests/test_mean_field_limits.py``): ``forbidden_states`` entries are ``"x|y"``,
but ``initial_distribution`` entries are ``"y|x"`` (it merges ``a|b`` to the chance
outcome ``a * size + b`` and decodes ``x = outcome % size``). Its overlap check
compares the two lists as written, so it refuses a start cell ``(x, y)`` whose
transpose ``(y, x)`` is a wall; ``openspiel_game`` raises a ``ValueError`` for
those. ``initial_distribution_value`` is parsed as float32: a start that is
uniform over all cells is left to OpenSpiel's default (exact ``1 / S`` in
double); any other start goes through float32, so in float64 values agree with
OpenSpiel only to ~1e-7.
"""

from __future__ import annotations

import ast

import numpy as np

from jaxgames.core import Policy, is_concrete, require_pyspiel
from jaxgames.mean_field.crowd_modelling import CrowdModelling
from jaxgames.mean_field.crowd_modelling_2d import CrowdModelling2D, openspiel_root_order
from jaxgames.mean_field.game import MeanFieldGame


def _concrete_float(value, field: str) -> float:
    if not is_concrete(value):
        raise ValueError(f"{field}: openspiel_game needs concrete coefficients, got a traced value")
    return float(value)


def crowd_modelling_2d_params(game: CrowdModelling2D) -> dict:
    """``pyspiel.load_game("mfg_crowd_modelling_2d", ...)`` parameters of ``game`` (see the module docstring)."""
    size = game.size
    if not is_concrete(game.initial):
        raise ValueError("initial: openspiel_game needs a concrete initial distribution, got a traced value")
    init = np.asarray(game.initial, np.float64)
    support = openspiel_root_order(np.flatnonzero(init > 0), size)
    walls = set(game.forbidden)
    clash = [divmod(s, size) for s in support if divmod(s, size)[::-1] in walls]
    if clash:
        raise ValueError(
            f"initial: OpenSpiel's mfg_crowd_modelling_2d cannot start agents at {clash[:3]}: its "
            f"overlap check compares forbidden_states, read as x|y, with initial_distribution, read "
            f"as y|x, so it refuses a start cell whose transpose (y, x) is a wall"
        )
    params = {
        "size": size,
        "horizon": game.horizon,
        "forbidden_states": "[" + ";".join(f"{x}|{y}" for x, y in game.forbidden) + "]",
        "crowd_aversion_coef": _concrete_float(game.crowd_aversion, "crowd_aversion"),
        "noise_intensity": _concrete_float(game.noise_intensity, "noise_intensity"),
        "only_distribution_reward": bool(np.all(np.asarray(game.position_reward) == 0))
        and _concrete_float(game.move_penalty, "move_penalty") == 0,
    }
    if len(support) < size * size or np.ptp(init) > 0:  # otherwise OpenSpiel's default: uniform, in double
        # cell (x, y) is written y|x (OpenSpiel's reading); the values are parsed as float32
        params["initial_distribution"] = "[" + ";".join(f"{s % size}|{s // size}" for s in support) + "]"
        params["initial_distribution_value"] = "[" + ";".join(repr(float(init[s])) for s in support) + "]"
    return params


def _check_crowd_modelling_defaults(game: CrowdModelling) -> None:
    """OpenSpiel's ``mfg_crowd_modelling`` takes only ``size`` and ``horizon``: refuse other coefficients."""
    size = game.size
    fixed = (
        ("crowd_aversion", game.crowd_aversion, 1.0),
        ("move_penalty", game.move_penalty, 1.0 / size),
        ("noise", game.noise, np.full(3, 1.0 / 3.0)),
        ("initial", game.initial, np.full(size, 1.0 / size)),
    )
    for field, value, expected in fixed:
        if not is_concrete(value):
            raise ValueError(f"{field}: openspiel_game needs concrete coefficients, got a traced value")
        if not np.allclose(np.asarray(value, np.float64), expected, rtol=1e-6, atol=1e-9):
            raise ValueError(
                f"{field}: OpenSpiel's mfg_crowd_modelling takes only size and horizon and fixes "
                f"{field} at its default (crowd_aversion 1, move_penalty 1 / size, uniform noise and "
                f"start); this game has another, so OpenSpiel has no counterpart"
            )


def openspiel_game(game: MeanFieldGame):
    """The ``pyspiel.Game`` with the same rules as ``game`` (raises if OpenSpiel has none).

    ``move_cost_model`` does not change the rules, only which value convention our metrics
    compute (``"openspiel"`` is the one OpenSpiel's algorithms compute); it is not checked.
    """
    pyspiel = require_pyspiel()
    if type(game) is CrowdModelling:  # exactly OpenSpiel's model (not subclasses such as BeachBar)
        _check_crowd_modelling_defaults(game)
        return pyspiel.load_game("mfg_crowd_modelling", {"size": game.size, "horizon": game.horizon})
    if isinstance(game, CrowdModelling2D):
        return pyspiel.load_game("mfg_crowd_modelling_2d", crowd_modelling_2d_params(game))
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
