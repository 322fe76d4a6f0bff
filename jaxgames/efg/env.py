"""A simulator of any tabular extensive-form game: pure ``reset`` / ``step`` functions.

``EFGEnv(game)`` turns the game's static ``Tree`` into per-history lookup tables once, in NumPy;
every method is then a pure, jittable, vmappable function whose cost is a fixed number of O(1)
gathers. Chance nodes never reach the user: after ``reset`` and after every action, chance is
sampled (one inverse-CDF draw per run of consecutive chance nodes, with the probabilities
``game.chance_prob``) until a player must act or the episode ends. ``params`` (the last argument of
every method) is a game with the same ``tree`` whose leaves may be traced, so ``jax.vmap`` over games
simulates a batch of variants.

Observations (pure gathers; ``player`` defaults to the acting player): OpenSpiel's
``information_state_tensor`` ``[..., D_info]`` and ``observation_tensor`` ``[..., D_obs]`` (Kuhn 11 / 7,
Leduc 30 / 16) when the tree recorded them, and ``infoset_one_hot`` ``[..., S + N + A]`` for any game.
Auto-reset, action checks, ``sample_action`` and ``rollout`` are ``jaxgames.env.Environment``'s. The
semantics in full (chance runs, state fields, encodings) are in the docs' extensive-form guide.

Example::

    env = jaxgames.make_env(jaxgames.leduc_poker())   # an EFGEnv
    state, ts = env.reset(key)                         # chance is sampled until someone must act
    state, ts = env.step(key, state, ts.legal_action_mask.argmax())
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.core import is_concrete
from jaxgames.efg.game import EFGGame
from jaxgames.efg.tree import CHANCE, TERMINAL, Tree
from jaxgames.env import Environment, TimeStep, Trajectory, rollout  # noqa: F401  (re-exported)
from jaxgames.validation import check_bool, check_choice


class EFGState(NamedTuple):
    """The simulator's state (one environment; ``vmap`` adds a batch axis)."""

    history: jax.Array  # int32 []: current history (a decision or terminal history)
    current_player: jax.Array  # int32 []: acting player, TERMINAL (-4) when the episode is over
    infoset: jax.Array  # int32 []: the acting player's information set, -1 when over
    legal_action_mask: jax.Array  # bool [max_actions]: the acting player's legal actions
    rewards: jax.Array  # float [N]: terminal payoffs on the step that ended the episode, else 0
    terminated: jax.Array  # bool []: the episode is over
    step_count: jax.Array  # int32 []: player decisions taken in this episode


def _tables(tree: Tree) -> dict:
    """Per-history lookup tables, the chance runs and static bounds (NumPy, built once)."""
    h_count, width = tree.children.shape
    depth, parent, edge = tree.depth, tree.parent, tree.edge_actor
    actor = np.full(h_count, CHANCE, np.int32)
    actor[tree.is_terminal] = TERMINAL
    infoset = np.full(h_count, -1, np.int32)
    legal = np.zeros((h_count, tree.max_actions), bool)
    for p in range(tree.num_players):
        actor[tree.decision_nodes[p]] = p
        infoset[tree.decision_nodes[p]] = tree.decision_infosets[p]
        legal[tree.decision_nodes[p]] = tree.legal[p][tree.decision_infosets[p]]

    # Chance runs: maximal chains of chance nodes. A run starts at a chance node entered by a
    # player's action (or at the root) and ends at the decision or terminal histories below it
    # reached through chance edges only; an end's probability is the product of ``chance_prob``
    # along its path. The ends of all runs lie in one flat table, grouped by run.
    chance = actor == CHANCE
    start = chance & (edge != CHANCE)
    start_of = np.full(h_count, -1, np.int64)  # the run each chance-entered history belongs to
    for d in range(1, tree.max_depth + 1):
        idx = np.nonzero((depth == d) & (edge == CHANCE))[0]
        start_of[idx] = np.where(start[parent[idx]], parent[idx], start_of[parent[idx]])
    ends = np.nonzero((edge == CHANCE) & ~chance)[0]
    ends = ends[np.argsort(start_of[ends], kind="stable")]
    owner = start_of[ends]
    starts = np.nonzero(start)[0]
    run = np.full(h_count, -1, np.int64)
    run[starts] = np.arange(len(starts))
    counts = np.bincount(run[owner], minlength=len(starts))
    offsets = np.cumsum(counts) - counts
    hops = int((depth[ends] - depth[owner]).max(initial=0))
    path = np.full((len(ends), max(hops, 1)), -1, np.int64)  # column 0: the end; then up to the start
    node = ends.copy()
    for j in range(hops):
        path[:, j] = np.where(depth[node] > depth[owner], node, -1)
        node = parent[node]
    root_is_chance = bool(start[0])
    others = np.ones(len(starts), bool)
    if root_is_chance:
        others[run[0]] = False
    run_width = int(counts[others].max(initial=0))  # widest run after an action
    run_offset = np.zeros(h_count, np.int64)
    run_count = np.zeros(h_count, np.int64)
    run_offset[starts], run_count[starts] = offsets, counts
    if root_is_chance:
        root_path = path[offsets[run[0]] : offsets[run[0]] + counts[run[0]]]
    else:
        root_path = np.zeros((1, 1), np.int64)  # the root itself, probability 1
    # with no run after an action ending at a terminal, the post-action run and the reset are
    # exclusive and share one uniform number
    exclusive = not np.any(tree.is_terminal[ends[owner != 0]])
    path = np.concatenate([path, np.full((max(run_width, 1), path.shape[1]), -1)])  # windows stay in range

    nodes = np.stack([*tree.children.T, actor, infoset, run_offset, run_count], axis=1).astype(np.int32)
    # the most player decisions in one episode
    decisions = np.zeros(h_count, np.int64)
    for d in range(1, tree.max_depth + 1):
        idx = np.nonzero(depth == d)[0]
        decisions[idx] = decisions[parent[idx]] + (edge[idx] >= 0)
    return dict(
        nodes=nodes,
        legal=legal,
        width=width,
        path=path.astype(np.int32),
        root_path=root_path.astype(np.int32),
        run_width=run_width,
        exclusive=exclusive,
        max_episode_length=int(decisions.max(initial=0)),
    )


#: the encodings ``TimeStep.observation`` can carry (``EFGEnv(game, observation=...)``)
OBSERVATIONS = ("auto", "information_state_tensor", "observation_tensor", "infoset_one_hot")


class EFGEnv(Environment):
    """The simulator of ``game`` (any ``EFGGame``); semantics in the module docstring and the EFG guide.

    ``observation``: what ``TimeStep.observation`` carries, one of ``OBSERVATIONS``
    (default ``"auto"``: OpenSpiel's information-state tensor when the game's
    tree has it, else the information-set one-hot).
    """

    simultaneous = False
    action_shape = ()

    def __init__(self, game: EFGGame, observation: str = "auto", autoreset: bool = True):
        if not isinstance(game, EFGGame):
            raise ValueError(f"game: expected an EFGGame, got {type(game).__name__}")
        observation = check_choice(observation, "observation", OBSERVATIONS)
        autoreset = check_bool(autoreset, "autoreset")
        self.game = game
        self.tree = game.tree
        t = _tables(game.tree)
        self._nodes, self._legal, self._width = t["nodes"], t["legal"], t["width"]
        self._path, self._root_path, self._run_width = t["path"], t["root_path"], t["run_width"]
        #: uniform numbers an auto-resetting step draws (1 if a chance run after an action
        #: never ends the game, as in poker: that run and the next episode's deal are exclusive)
        self.autoreset_draws = 1 if t["exclusive"] else 2
        self.autoreset = bool(autoreset)
        #: uniforms one step draws: the chance run after the action, and the next deal
        self.noise_size = self.autoreset_draws if self.autoreset else 1
        self.autoreset_noise_size = self.autoreset_draws
        #: the most player decisions in one episode
        self.max_episode_length = t["max_episode_length"]
        self.num_players = game.tree.num_players
        self.num_actions = game.tree.max_actions
        self.max_infosets = max(game.tree.num_infosets)
        #: size of ``infoset_one_hot``: max infosets + players + actions
        self.infoset_one_hot_size = self.max_infosets + self.num_players + self.num_actions
        if observation == "auto":
            observation = (
                "information_state_tensor" if self.tree.information_state_tensors is not None else "infoset_one_hot"
            )
        elif observation != "infoset_one_hot":
            self._table(observation, "observation")
        #: the encoding ``TimeStep.observation`` carries
        self.observation_kind = observation

    # OpenSpiel's tensors, per decision / terminal history (None when the tree has none): read from
    # the tree when first asked for, since the tree records them lazily, by a second walk of the game
    # (an env on the one-hot encoding never pays for it).
    @property
    def information_state_tensor_shape(self) -> tuple | None:
        """OpenSpiel's information-state tensor shape (``None`` if the tree has none)."""
        return self.tree.information_state_tensor_shape

    @property
    def information_state_tensor_size(self) -> int | None:
        """Its flat size (``None`` if the tree has none)."""
        return _size(self.tree.information_state_tensors)

    @property
    def observation_tensor_shape(self) -> tuple | None:
        """OpenSpiel's observation tensor shape (``None`` if the tree has none)."""
        return self.tree.observation_tensor_shape

    @property
    def observation_tensor_size(self) -> int | None:
        """Its flat size (``None`` if the tree has none)."""
        return _size(self.tree.observation_tensors)

    @property
    def observation_size(self) -> int:
        """The size of ``TimeStep.observation`` (``observation_kind``)."""
        if self.observation_kind == "infoset_one_hot":
            return self.infoset_one_hot_size
        return _size(self._table(self.observation_kind, "observation"))

    def __repr__(self):
        return (
            f"EFGEnv({self.game.name}, observation={self.observation_kind!r}, observation_size={self.observation_size})"
        )

    # -- the simulator hooks (jaxgames.env.Environment) -----------------------------------
    def _check_params(self, params):
        if not isinstance(params, EFGGame) or params.tree is not self.tree:
            raise self._params_error(
                f"an EFGGame with the same tree ({self.game.name})", params, "; build another EFGEnv for another game"
            )

    def _dtype(self, params):
        return (self.game if params is None else params).chance_prob.dtype

    def _prepare(self, params):
        return self._root(params)

    def _initial(self, u, params, root):
        h = self._pick_root(u[-1], root)
        return self._state(h, jnp.zeros((self.num_players,), params.payoffs.dtype), jnp.zeros((), jnp.int32))

    def _transition(self, u, state, action, params, root):
        h = self._run(params, jnp.asarray(self._nodes)[state.history, action], u[0])
        ended = self._terminal(h)
        rewards = jnp.where(ended, params.payoffs[h], 0.0)
        return self._state(h, rewards, state.step_count + 1), rewards, ended, jnp.zeros((), bool)

    def _over(self, state):
        return state.terminated

    def _acting(self, state):
        return state.current_player, state.legal_action_mask

    def _observe(self, state, params):
        return self.observe(state)

    def _policy_rows(self, tables, state):
        row = jnp.zeros(state.legal_action_mask.shape, tables[0].dtype)
        for p, table in enumerate(tables):  # O(N * A): one row per player, the acting one kept
            row = jnp.where(state.current_player == p, table[jnp.clip(state.infoset, 0, table.shape[0] - 1)], row)
        return row

    def _check_concrete_action(self, state, action):
        """Legality at the history (the base checked dtype, shape and range)."""
        h, a = int(state.history), int(action)
        player = int(self._nodes[h, self._width])
        if not self._legal[h, a]:
            raise ValueError(
                f"action: {a} is not legal for player {player} at history {h} (information set "
                f"{int(self._nodes[h, self._width + 1])}); legal actions: {np.nonzero(self._legal[h])[0].tolist()}"
            )

    def observe(self, state: EFGState, player=None) -> jax.Array:
        """``player``'s observation (default: the acting one) in the encoding ``TimeStep.observation``
        carries (``observation_kind``): ``[..., observation_size]``."""
        return getattr(self, self.observation_kind)(state, player)

    def information_state_tensor(self, state: EFGState, player=None) -> jax.Array:
        """OpenSpiel's information-state tensor of ``player`` (default: the acting one) at the current
        history: ``[..., information_state_tensor_size]``, zeros when no player is given or acting."""
        return self._gather("information_state_tensor", state, player)

    def observation_tensor(self, state: EFGState, player=None) -> jax.Array:
        """OpenSpiel's observation tensor of ``player`` (default: the acting one) at the current
        history: ``[..., observation_tensor_size]``, zeros when no player is given or acting."""
        return self._gather("observation_tensor", state, player)

    def infoset_one_hot(self, state: EFGState, player=None) -> jax.Array:
        """Information-set one-hot, player one-hot and legal mask of ``player`` (default: the acting
        one): ``[..., infoset_one_hot_size]`` (see the module docstring)."""
        s, n = self.max_infosets, self.num_players
        dtype = jnp.result_type(float)
        acting = state.current_player if player is None else self._player(player)
        mine = (state.current_player == acting) & (state.current_player >= 0)
        info = jax.nn.one_hot(jnp.where(mine, state.infoset, -1), s, dtype=dtype)
        who = jax.nn.one_hot(jnp.where(acting >= 0, acting, -1), n, dtype=dtype)
        legal = jnp.where(mine[..., None], state.legal_action_mask, False).astype(dtype)
        lead = jnp.broadcast_shapes(info.shape[:-1], who.shape[:-1], legal.shape[:-1])
        return jnp.concatenate([jnp.broadcast_to(x, lead + x.shape[-1:]) for x in (info, who, legal)], axis=-1)

    # -- internals ---------------------------------------------------------------
    def _table(self, kind: str, field: str):
        table = {
            "information_state_tensor": self.tree.information_state_tensors,
            "observation_tensor": self.tree.observation_tensors,
        }[kind]
        if table is None:
            raise ValueError(
                f"{field}: {self.game.name}'s tree has no {kind} table (the game it was built from provides "
                f"none, or it was built with build_tree(..., tensors=False)); infoset_one_hot works for any game"
            )
        return table

    def _player(self, player) -> jax.Array:
        """``player`` as int32; out of range raises when concrete (traced: gathers give zeros)."""
        if isinstance(player, jax.Array) and not is_concrete(player):
            if not jnp.issubdtype(player.dtype, jnp.integer):
                raise ValueError(f"player: expected an integer player id, got dtype {player.dtype}")
            return player.astype(jnp.int32)
        try:
            host = np.asarray(player)
        except (TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"player: expected an integer player id, got {type(player).__name__}") from err
        if not np.issubdtype(host.dtype, np.integer):  # bool, float, strings, None, ints beyond 64 bits
            raise ValueError(
                f"player: expected an integer player id, got {type(player).__name__} of dtype {host.dtype}"
            )
        if np.any((host < 0) | (host >= self.num_players)):
            raise ValueError(f"player: expected ids in 0..{self.num_players - 1}, got {host}")
        return jnp.asarray(host.astype(np.int32))

    def _gather(self, kind: str, state, player) -> jax.Array:
        """Row ``tensor_row[history]``, column ``player`` of the ``kind`` table; zeros without a player."""
        table = self._table(kind, kind)
        acting = state.current_player if player is None else self._player(player)
        row = jnp.asarray(self.tree.tensor_row)[state.history]  # >= 0 at decision / terminal histories
        ok = (acting >= 0) & (acting < self.num_players) & (row >= 0)
        out = jnp.asarray(table)[jnp.maximum(row, 0), jnp.clip(acting, 0, self.num_players - 1)]
        return jnp.where(ok[..., None], out, 0.0).astype(jnp.result_type(float))

    def _terminal(self, h):
        return jnp.asarray(self._nodes)[h, self._width] == TERMINAL

    @staticmethod
    def _path_probs(prob, path):
        """Probability of each run end: the product of ``chance_prob`` along its path (``-1``: none)."""
        return jnp.prod(jnp.where(path >= 0, prob[jnp.maximum(path, 0)], 1.0), axis=-1)

    def _root(self, game):
        """The root run's ends and their cumulative probabilities (loop-invariant in a rollout)."""
        path = jnp.asarray(self._root_path)
        return path[:, 0], jnp.cumsum(self._path_probs(game.chance_prob, path))

    @staticmethod
    def _pick_root(u, root):
        ends, cdf = root
        return ends[simplex.inverse_cdf(u, cdf)]

    def _run(self, game, h, u):
        """If ``h`` starts a chance run, one of its ends drawn with ``u``; else ``h``. O(run width) gathers."""
        if self._run_width == 0:
            return h
        row = jnp.asarray(self._nodes)[h]
        offset, count = row[self._width + 2], row[self._width + 3]
        slot = jnp.arange(self._run_width)
        path = jnp.asarray(self._path)[offset + slot]  # [run_width, hops]
        probs = jnp.where(slot < count, self._path_probs(game.chance_prob, path), 0.0)
        end = path[simplex.inverse_cdf(u, jnp.cumsum(probs)), 0]
        return jnp.where(count > 0, end, h)

    def _state(self, h, rewards, step_count) -> EFGState:
        row = jnp.asarray(self._nodes)[h]
        player, infoset = row[self._width], row[self._width + 1]
        return EFGState(
            history=h,
            current_player=player,
            infoset=infoset,
            legal_action_mask=jnp.asarray(self._legal)[h],
            rewards=rewards,
            terminated=player == TERMINAL,
            step_count=step_count,
        )


def _size(table) -> int | None:
    return None if table is None else int(table.shape[-1])
