"""OpenSpiel interop: convert games and tabular policies, exactly.

``from_openspiel(game)`` turns any small sequential, perfect-recall OpenSpiel
game into an ``EFGGame``; ``to_openspiel_policy`` / ``from_openspiel_policy``
convert policies between our ``[num_infosets, max_actions]`` arrays and
OpenSpiel's ``TabularPolicy`` (round trips are exact). Information sets are
matched through one representative history each (the first in OpenSpiel's
``history_str()`` order), replayed in OpenSpiel by its action ids, so the
conversion also works for the native ``kuhn_poker`` / ``leduc_poker`` /
``liars_dice`` / ``goofspiel``; the ``TabularPolicy`` is the very table that
OpenSpiel's own constructor builds, without its walk over every state, and is
found once per tree and OpenSpiel game (later calls copy and gather).
OpenSpiel is an optional dependency (``pip install open-spiel``).
"""

from __future__ import annotations

import copy
import dataclasses
import operator
import weakref

import numpy as np

from jaxgames.core import Policy, require_pyspiel
from jaxgames.efg.game import EFGGame
from jaxgames.efg.tree import build_tree, depth_levels
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


def from_openspiel(game, max_histories: int = 2_000_000, max_bytes: int | None = None) -> EFGGame:
    """Convert a small OpenSpiel extensive-form game (a ``pyspiel.Game`` or a game string).

    Raises ``ValueError`` if the game is not sequential (simultaneous-move
    games must be converted with ``pyspiel.convert_to_turn_based``), provides
    no information-state strings, lacks perfect recall, or has more than
    ``max_histories`` histories (default 2M, as ``build_tree``) or tables above
    ``max_bytes`` (default 4 GiB); both limits hold as the walk goes
    (``build_tree``), so a game too large (``"chess"``) fails within seconds.

    Cost: one pyspiel ``child`` per history, walked depth by depth
    (``build_tree``), then the sequence form, vectorized by depth. 3-player
    Leduc (1.83M histories, 8,600 information sets per player): about 6 to 9 s
    of CPU and under 1 GB peak on a shared 2-core machine, where the bare
    pyspiel calls alone take about 5 to 6 s
    (``benchmarks/bench_openspiel_conversion.py``).

    Example::

        >>> game = from_openspiel("kuhn_poker")
        >>> game.tree.num_histories, game.tree.num_infosets
        (58, (6, 6))
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


#: per tree (weakly): {OpenSpiel game string: _SpielIndex}
_INDEX = weakref.WeakKeyDictionary()


@dataclasses.dataclass(frozen=True)
class _SpielIndex:
    """Where our information sets sit in OpenSpiel: one representative state per information set,
    the ``TabularPolicy`` that OpenSpiel itself would build (uniform), and per player the row of
    each of our information sets in it."""

    template: object  # open_spiel.python.policy.TabularPolicy, uniform
    keys: tuple  # per player: tuple of OpenSpiel keys, one per information set of ours
    rows: tuple  # per player: int64 [n_I] rows of template.action_probability_array


def _preorder(tree) -> np.ndarray:
    """int64 ``[H]``: each history's rank in OpenSpiel's ``history_str()`` order (the ``", "``-joined
    action ids, compared as strings). That order is the depth-first preorder with siblings sorted by
    ``str(action)``: a prefix comes first and ``","`` sorts before every digit. Vectorized over
    depths: subtree sizes bottom-up, then each child's rank is its parent's plus one plus the sizes of
    the siblings before it."""
    H = tree.num_histories
    parent = np.asarray(tree.parent, np.int64)
    action = np.asarray(tree.edge_action, np.int64)
    width = tree.children.shape[1]
    str_rank = np.empty(max(width, int(action.max(initial=0)) + 1), np.int64)
    str_rank[sorted(range(len(str_rank)), key=str)] = np.arange(len(str_rank))
    levels = depth_levels(tree)
    size = np.ones(H, np.int64)
    for ids in reversed(levels):
        np.add.at(size, parent[ids], size[ids])
    rank = np.zeros(H, np.int64)
    for ids in levels:
        ids = ids[np.lexsort((str_rank[action[ids]], parent[ids]))]  # siblings together, in str order
        sz, par = size[ids], parent[ids]
        before = np.cumsum(sz) - sz  # sizes of the histories before, in this depth
        start = np.r_[True, par[1:] != par[:-1]]
        group_first = np.maximum.accumulate(np.where(start, np.arange(len(ids)), 0))
        rank[ids] = rank[par] + 1 + before - before[group_first]
    return rank


def _paths_to(tree, nodes: np.ndarray) -> list:
    """The action ids from the root to each of ``nodes``."""
    parent, action, depth = tree.parent, tree.edge_action, tree.depth
    D = int(depth[nodes].max(initial=0))
    acts = np.zeros((len(nodes), D), np.int64)
    h = np.asarray(nodes, np.int64).copy()
    for k in range(D - 1, -1, -1):  # a history of depth d fills columns D - d .. D - 1
        live = depth[h] > 0
        acts[live, k] = action[h[live]]
        h = np.where(live, parent[h], 0)
    return [row[D - d :].tolist() for row, d in zip(acts, depth[nodes].tolist())]


def _spiel_index(game: EFGGame, spiel_game) -> _SpielIndex:
    """Build (once per tree and OpenSpiel game) the representatives and OpenSpiel's uniform table.

    OpenSpiel's ``TabularPolicy(game)`` walks every state and gives each information set the row of
    its first state in ``history_str()`` order; passing it exactly those first states (one per
    information set, replayed from the root) builds the identical table without the walk."""
    t = game.tree
    if spiel_game.num_players() != t.num_players or spiel_game.num_distinct_actions() != t.max_actions:
        raise ValueError(f"spiel_game: {spiel_game} does not have this game's players and actions")
    per_tree = _INDEX.setdefault(t, {})
    name = str(spiel_game)
    if name in per_tree:
        return per_tree[name]
    rank = _preorder(t)
    reps = []
    for p in range(t.num_players):
        nodes, infos = np.asarray(t.decision_nodes[p], np.int64), np.asarray(t.decision_infosets[p], np.int64)
        first = np.full(t.num_infosets[p], -1, np.int64)
        order = np.lexsort((rank[nodes], infos))
        head = np.r_[True, infos[order][1:] != infos[order][:-1]]
        first[infos[order][head]] = nodes[order][head]
        reps.append(first)
    by_history = []
    key_of = _key_function(spiel_game)
    root = spiel_game.new_initial_state()
    for p, first in enumerate(reps):
        legal = np.zeros((len(first), t.max_actions), bool)
        for k, (h, path) in enumerate(zip(first.tolist(), _paths_to(t, first))):
            state = root.clone()
            try:
                for a in path:
                    state.apply_action(a)
            except Exception as err:  # noqa: BLE001 - pyspiel.SpielError: name the field
                raise ValueError(f"spiel_game: {spiel_game} refuses the actions {path} of history {h}: {err}") from None
            if state.current_player() != p:
                raise ValueError(f"spiel_game: {spiel_game} differs from this game at history {h} (player {p} to move)")
            legal[k, state.legal_actions()] = True
            by_history.append((state.history_str(), p, legal[k], state, key_of(state, p)))
        bad = np.nonzero(np.any(legal != (t.children[first, : t.max_actions] >= 0), axis=1))[0]
        if bad.size:
            raise ValueError(
                f"spiel_game: {spiel_game} has other legal actions than this game at history {first[bad[0]]}"
            )
    template = _tabular_policy(spiel_game, by_history)
    keys = tuple(tuple(r[4] for r in by_history if r[1] == p) for p in range(t.num_players))
    rows = tuple(np.fromiter((template.state_lookup[k] for k in ks), np.int64, len(ks)) for ks in keys)
    per_tree[name] = index = _SpielIndex(template=template, keys=keys, rows=rows)
    return index


def _key_function(spiel_game):
    """``(state, player) -> key``: ``TabularPolicy._state_key``, with the game's flags read once."""
    gtype = spiel_game.get_type()
    if gtype.provides_information_state_string:
        return lambda state, p: state.information_state_string(p)
    if gtype.provides_observation_string:
        return lambda state, p: state.observation_string(p)
    return lambda state, p: str(state)


def _tabular_policy(spiel_game, reps: list):
    """OpenSpiel's ``TabularPolicy(spiel_game, states=...)``, built as its constructor does from
    ``reps`` (``(history_str, player, legal mask, state, key)``, one per information set, each the first of
    its information set in ``history_str`` order) without its per-player passes over every state:
    rows by player, then by ``history_str``; a key already seen keeps its first row."""
    from open_spiel.python import policy as policy_lib

    tab = policy_lib.TabularPolicy.__new__(policy_lib.TabularPolicy)
    policy_lib.Policy.__init__(tab, spiel_game, list(range(spiel_game.num_players())))
    tab.game_type = gtype = spiel_game.get_type()
    tab.state_lookup, tab.states_per_player, tab.states = {}, [[] for _ in range(spiel_game.num_players())], []
    legal, state_in = [], []
    for _, p, mask, state, key in sorted(reps, key=operator.itemgetter(1, 0)):
        if key in tab.state_lookup:
            continue
        tab.state_lookup[key] = len(legal)
        legal.append(mask)
        tab.states_per_player[p].append(key)
        tab.states.append(state)
        if gtype.provides_information_state_tensor:
            state_in.append(state.information_state_tensor(p))
        elif gtype.provides_observation_tensor:
            state_in.append(state.observation_tensor(p))
    tab.state_in = np.array(state_in) if state_in else None
    tab.legal_actions_mask = np.array(legal, dtype=np.int64).reshape(len(legal), spiel_game.num_distinct_actions())
    tab.action_probability_array = tab.legal_actions_mask / np.sum(tab.legal_actions_mask, axis=-1, keepdims=True)
    return tab


def infoset_map(game: EFGGame, spiel_game) -> list[dict]:
    """Per player, ``{our infoset index: OpenSpiel information-state string}``."""
    index = _spiel_index(game, _load(spiel_game))
    return [dict(enumerate(keys)) for keys in index.keys]


def _spiel_for(game: EFGGame, spiel_game):
    return _load(spiel_game if spiel_game is not None else game.name)


def to_openspiel_policy(game: EFGGame, policy: Policy, spiel_game=None):
    """An OpenSpiel ``TabularPolicy`` equal to ``policy`` (``spiel_game`` defaults to ``game.name``).

    The table is the one ``TabularPolicy(spiel_game)`` builds (same rows, keys and order), filled by
    one gather per player; the rows are found once per tree and OpenSpiel game, from one replayed
    state per information set, not by walking every state (3-player Leduc: the first call about
    0.6 s of CPU, later calls a few milliseconds; OpenSpiel's ``TabularPolicy(game)`` alone walks
    for 13 s).

    Example::

        >>> game = from_openspiel("kuhn_poker")
        >>> tab = to_openspiel_policy(game, game.uniform_policy())
        >>> tab.action_probability_array.shape
        (12, 2)
    """
    policy = game.validate_policy(policy)
    spiel_game = _spiel_for(game, spiel_game)
    index = _spiel_index(game, spiel_game)
    tmpl = index.template
    tab = copy.copy(tmpl)  # OpenSpiel's shallow copy; give this one its own lookup, lists and masks
    tab.game = spiel_game
    tab.state_lookup = dict(tmpl.state_lookup)
    tab.states_per_player = [list(s) for s in tmpl.states_per_player]
    tab.states = list(tmpl.states)
    tab.legal_actions_mask = np.copy(tmpl.legal_actions_mask)
    for p, rows in enumerate(index.rows):
        tab.action_probability_array[rows] = np.asarray(policy[p], np.float64)
    return tab


def from_openspiel_policy(game: EFGGame, tabular, spiel_game=None) -> Policy:
    """Our policy arrays from an OpenSpiel ``TabularPolicy`` of the same game."""
    import jax.numpy as jnp

    index = _spiel_index(game, _spiel_for(game, spiel_game))
    out = []
    for keys in index.keys:
        rows = np.fromiter((tabular.state_lookup[k] for k in keys), np.int64, len(keys))
        probs = np.asarray(tabular.action_probability_array, np.float64)[rows]
        out.append(jnp.asarray(probs, jnp.result_type(float)))
    return tuple(out)
