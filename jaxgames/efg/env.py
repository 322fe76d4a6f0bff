"""A simulator of any tabular extensive-form game: pure ``reset`` / ``step`` functions.

The gymnax / pgx idiom on top of an ``EFGGame``'s arrays. ``EFGEnv(game)``
turns the game's static ``Tree`` into a few per-history lookup tables once, in
NumPy; every method is then a pure function of explicit pytrees, jittable and
vmappable, whose cost per call is a fixed number of O(1) gathers (no loop over
histories at run time)::

    env = EFGEnv(jaxgames.leduc_poker())
    state, ts = env.reset(key)                   # chance is sampled until someone must act
    state, ts = env.step(key, state, action)     # the acting player's action id
    state, ts = env.step_autoreset(key, state, action)   # a new episode after each terminal

**The game as a parameter.** Every method takes an optional ``game`` last
argument (default: the game given to the constructor). It must have the same
``tree`` (the same object), but its array leaves (``payoffs``,
``chance_prob``) may differ and may be traced, so
``jax.vmap(env.step_autoreset)(keys, states, actions, games)`` simulates a
batch of variants (e.g. ``jax.vmap(lambda b: kuhn_poker(bet=b))(bets)``).

**Chance.** Chance nodes never reach the user: after ``reset`` and after every
action the environment samples chance outcomes, with the probabilities
``game.chance_prob`` of the chance node's children, until a decision or a
terminal history. Consecutive chance nodes form *runs*; the constructor
lists, for every run (it starts at the root or at a chance node entered by an
action), its ends (the decision or terminal histories reached through chance
edges only) and the paths to them. One uniform number then picks an end by
inverse CDF over the path probabilities (products of ``game.chance_prob``
along each path, computed at run time from the game's leaf, so traced or
vmapped chance probabilities work). This draws exactly the distribution of
sampling each chance node in turn (``jax.random.choice`` over its children)
with no loop over the run: one draw per run instead of one per chance node,
which halves the cost of a simulated step (random-number generation dominates
it on CPU). The cost of a step is O(width of the widest run after an action
x its length) gathers (Leduc: 4 x 1, the public card), plus O(root run) for
the next episode's deal in ``step_autoreset`` (Kuhn: 6 ends, Leduc: 30; a
``rollout`` computes it once per call).

**State and time step.** ``EFGState`` holds the current history index (always
a decision or terminal history), the acting player (``TERMINAL = -4`` when the
episode is over), that player's information set (``-1`` when over), its legal
action mask ``[max_actions]``, the rewards ``[N]`` of the last transition (the
terminal payoffs on the step that ends the episode, zero otherwise),
``terminated`` and ``step_count`` (decisions taken in this episode).
``TimeStep`` repeats what an agent needs next (observation, information set,
acting player, legal mask) plus the ``rewards`` and ``done`` of the transition.

**Observations.** Three encodings, each a pure gather (jittable; ``state``
may be an ``EFGState`` or a ``Trajectory``, with batch axes broadcast;
``player`` defaults to the acting player and may be traced):

* ``env.information_state_tensor(state, player=None)`` ``[..., D_info]``:
  OpenSpiel's ``information_state_tensor(player)`` of the current history
  (Kuhn: 11 values for 2 players, 6N - 1 for N; Leduc: 30), read from the
  table that ``build_tree`` recorded (``tree.information_state_tensors``).
  Defined for every player, acting or not, and at terminal histories;
* ``env.observation_tensor(state, player=None)`` ``[..., D_obs]``:
  OpenSpiel's ``observation_tensor(player)`` (Kuhn: 7, 3N + 1; Leduc: 16),
  the imperfect-recall view (cards and pot contributions, no betting history);
* ``env.infoset_one_hot(state, player=None)`` ``[..., S + N + A]`` with
  ``S = max_p num_infosets_p``: the one-hot of ``player``'s information set
  (its row in the solvers' policy arrays) when that player is acting (zeros
  otherwise: the tree records information sets at decision nodes only), the
  one-hot of the player id, and the legal mask when acting (zeros otherwise).
  Every ``EFGGame`` has it.

With no ``player`` and no acting player (a terminal state) all three are
zeros. The sizes are attributes (``information_state_tensor_size``,
``observation_tensor_size``: ``None`` when the tree has no such table;
``infoset_one_hot_size``). OpenSpiel's tensors exist when the tree was built
from a game that provides them: ``jaxgames.kuhn_poker``, ``leduc_poker`` and
``from_openspiel`` of most OpenSpiel games; asking for one that the tree lacks
raises ``ValueError``. Their values describe the tree only: the native poker
games report pot contributions in OpenSpiel's default chips whatever ``ante``
or ``bet`` the payoffs use, so the tables are shared by a vmapped batch of
variants.

``TimeStep.observation`` carries ``env.observe(state)``, the acting player's
observation in the encoding chosen by ``EFGEnv(game, observation=...)``:
``"information_state_tensor"`` (what OpenSpiel's ``rl_environment`` calls
``info_state``), ``"observation_tensor"``, ``"infoset_one_hot"``, or the
default ``"auto"``: the information-state tensor when the tree has it, else
the one-hot. ``env.observation_size`` is its size and
``env.observation_kind`` the encoding chosen; ``TimeStep.infoset`` is the
information set index itself, for tabular agents.

**Terminal states and auto-reset.** ``step`` on a terminated state is a no-op
(the state is returned unchanged, with zero rewards; the action is ignored),
as in pgx. ``step_autoreset`` instead starts a new episode (its root's chance
outcomes sampled with the same key) as soon as one ends: the returned state
is the first decision state of the new episode, while ``ts.rewards`` and
``ts.done`` report the transition that ended the old one (the gymnax
convention). Given a terminated state it starts a new episode too, ignoring
the action, with zero rewards. (In a game where chance alone can end an
episode before any decision, ``reset`` returns that terminated state, and
``step_autoreset`` skips such episodes with zero rewards.)

**Illegal actions.** When the action and the state are concrete (outside
``jit`` / ``vmap``), an action that is not legal (not in
``legal_action_mask``, or out of ``[0, max_actions)``) raises ``ValueError``.
Under tracing nothing can be raised, so it is replaced by the lowest legal
action id (``argmax(legal_action_mask)``), deterministically.

Helpers: ``random_legal_action`` (uniform over legal actions),
``sample_action`` (from a per-player ``[num_infosets_p, max_actions]`` policy,
the arrays the solvers produce), and ``rollout``, which plays ``num_steps``
auto-resetting steps in a ``lax.scan`` and returns a ``Trajectory``; a batch
of environments is ``jax.vmap`` over keys::

    play = jax.jit(jax.vmap(lambda k: rollout(k, env, policy, 100)))   # policy=None: random legal
    final_states, traj = play(jax.random.split(key, 1024))            # traj.rewards [1024, 100, N]
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.core import Policy, is_concrete
from jaxgames.efg.game import EFGGame
from jaxgames.efg.tree import CHANCE, TERMINAL, Tree


class EFGState(NamedTuple):
    """The simulator's state (one environment; ``vmap`` adds a batch axis)."""

    history: jax.Array            # int32 []: current history (a decision or terminal history)
    current_player: jax.Array     # int32 []: acting player, TERMINAL (-4) when the episode is over
    infoset: jax.Array            # int32 []: the acting player's information set, -1 when over
    legal_action_mask: jax.Array  # bool [max_actions]: the acting player's legal actions
    rewards: jax.Array            # float [N]: terminal payoffs on the step that ended the episode, else 0
    terminated: jax.Array         # bool []: the episode is over
    step_count: jax.Array         # int32 []: player decisions taken in this episode


class TimeStep(NamedTuple):
    """What the agent sees after ``reset`` / ``step``."""

    observation: jax.Array        # float [observation_size]: the acting player's observation (zeros when over)
    infoset: jax.Array            # int32 []: the acting player's information set (-1 when over)
    current_player: jax.Array     # int32 []: the acting player (TERMINAL when over)
    legal_action_mask: jax.Array  # bool [max_actions]
    rewards: jax.Array            # float [N]: rewards of this transition
    done: jax.Array               # bool []: this transition ended an episode


class Trajectory(NamedTuple):
    """Per-step records of ``rollout`` (``[num_steps, ...]``): the state acted in, the action, the outcome."""

    history: jax.Array            # int32 [T]: the decision history acted at
    current_player: jax.Array     # int32 [T]
    infoset: jax.Array            # int32 [T]
    legal_action_mask: jax.Array  # bool [T, max_actions]
    action: jax.Array             # int32 [T]: the action chosen (before any illegal-action replacement)
    rewards: jax.Array            # float [T, N]: terminal payoffs on the step that ends an episode, else 0
    done: jax.Array               # bool [T]: this step ended an episode (the next step starts a new one)


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
    start_of = np.full(h_count, -1, np.int64)          # the run each chance-entered history belongs to
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
    path = np.full((len(ends), max(hops, 1)), -1, np.int64)   # column 0: the end; then up to the start
    node = ends.copy()
    for j in range(hops):
        path[:, j] = np.where(depth[node] > depth[owner], node, -1)
        node = parent[node]
    root_is_chance = bool(start[0])
    others = np.ones(len(starts), bool)
    if root_is_chance:
        others[run[0]] = False
    run_width = int(counts[others].max(initial=0))             # widest run after an action
    run_offset = np.zeros(h_count, np.int64)
    run_count = np.zeros(h_count, np.int64)
    run_offset[starts], run_count[starts] = offsets, counts
    if root_is_chance:
        root_path = path[offsets[run[0]]:offsets[run[0]] + counts[run[0]]]
    else:
        root_path = np.zeros((1, 1), np.int64)                 # the root itself, probability 1
    # with no run after an action ending at a terminal, the post-action run and the reset are
    # exclusive and share one uniform number
    exclusive = not np.any(tree.is_terminal[ends[owner != 0]])
    path = np.concatenate([path, np.full((max(run_width, 1), path.shape[1]), -1)])   # windows stay in range

    nodes = np.stack([*tree.children.T, actor, infoset, run_offset, run_count], axis=1).astype(np.int32)
    # the most player decisions in one episode
    decisions = np.zeros(h_count, np.int64)
    for d in range(1, tree.max_depth + 1):
        idx = np.nonzero(depth == d)[0]
        decisions[idx] = decisions[parent[idx]] + (edge[idx] >= 0)
    return dict(nodes=nodes, legal=legal, width=width, path=path.astype(np.int32),
                root_path=root_path.astype(np.int32), run_width=run_width, exclusive=exclusive,
                max_episode_length=int(decisions.max(initial=0)))


#: the encodings ``TimeStep.observation`` can carry (``EFGEnv(game, observation=...)``)
OBSERVATIONS = ("auto", "information_state_tensor", "observation_tensor", "infoset_one_hot")


class EFGEnv:
    """The simulator of ``game`` (any ``EFGGame``); see the module docstring for the semantics.

    ``observation``: what ``TimeStep.observation`` carries, one of ``OBSERVATIONS``
    (default ``"auto"``: OpenSpiel's information-state tensor when the game's
    tree has it, else the information-set one-hot).
    """

    def __init__(self, game: EFGGame, observation: str = "auto"):
        if not isinstance(game, EFGGame):
            raise ValueError(f"game: expected an EFGGame, got {type(game).__name__}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation: expected one of {OBSERVATIONS}, got {observation!r}")
        self.game = game
        self.tree = game.tree
        t = _tables(game.tree)
        self._nodes, self._legal, self._width = t["nodes"], t["legal"], t["width"]
        self._path, self._root_path, self._run_width = t["path"], t["root_path"], t["run_width"]
        #: uniform numbers ``step_autoreset`` draws per step (1 if a chance run after an action
        #: never ends the game, as in poker: that run and the next episode's deal are exclusive)
        self.autoreset_draws = 1 if t["exclusive"] else 2
        #: the most player decisions in one episode
        self.max_episode_length = t["max_episode_length"]
        self.num_players = game.tree.num_players
        self.num_actions = game.tree.max_actions
        self.max_infosets = max(game.tree.num_infosets)
        #: size of ``infoset_one_hot``: max infosets + players + actions
        self.infoset_one_hot_size = self.max_infosets + self.num_players + self.num_actions
        if observation == "auto":
            observation = ("information_state_tensor" if self.tree.information_state_tensors is not None
                           else "infoset_one_hot")
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
        return (f"EFGEnv({self.game.name}, observation={self.observation_kind!r}, "
                f"observation_size={self.observation_size})")

    # -- the simulator ---------------------------------------------------------
    def reset(self, key: jax.Array, game: EFGGame | None = None) -> tuple[EFGState, TimeStep]:
        """A new episode: chance is sampled from the root until a decision (or terminal) history."""
        game = self._game(game)
        h = self._pick_root(jax.random.uniform(key, (), game.chance_prob.dtype), self._root(game))
        zero = jnp.zeros((self.num_players,), game.payoffs.dtype)
        state = self._state(h, zero, jnp.zeros((), jnp.int32))
        return state, self._timestep(state, zero, state.terminated)

    def step(self, key: jax.Array, state: EFGState, action, game: EFGGame | None = None
             ) -> tuple[EFGState, TimeStep]:
        """The acting player plays ``action``; chance is then sampled until the next decision.

        A terminated state is returned unchanged with zero rewards (the action is ignored).
        """
        game = self._game(game)
        action = self._check_action(state, action)
        u = jax.random.uniform(key, (), game.chance_prob.dtype)
        h, over = self._act(state.history, action)
        h = self._run(game, h, u)
        ended = self._terminal(h) & ~over
        rewards = jnp.where(ended, game.payoffs[h], 0.0)
        state = self._state(h, rewards, state.step_count + (~over).astype(jnp.int32))
        return state, self._timestep(state, rewards, ended)

    def step_autoreset(self, key: jax.Array, state: EFGState, action, game: EFGGame | None = None
                       ) -> tuple[EFGState, TimeStep]:
        """Like ``step``, but an episode that ends is replaced by a new one at once.

        The returned state is then the new episode's first decision state, while
        ``ts.rewards`` / ``ts.done`` report the transition that ended the old one.
        """
        game = self._game(game)
        action = self._check_action(state, action)
        u = jax.random.uniform(key, (self.autoreset_draws,), game.chance_prob.dtype)
        return self._autoreset_transition(game, state, action, u, self._root(game))

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
        table = {"information_state_tensor": self.tree.information_state_tensors,
                 "observation_tensor": self.tree.observation_tensors}[kind]
        if table is None:
            raise ValueError(
                f"{field}: {self.game.name}'s tree has no {kind} table (the game it was built from provides "
                f"none, or it was built with build_tree(..., tensors=False)); infoset_one_hot works for any game")
        return table

    def _player(self, player) -> jax.Array:
        """``player`` as int32; out of range raises when concrete (traced: gathers give zeros)."""
        player = jnp.asarray(player)
        if not jnp.issubdtype(player.dtype, jnp.integer):
            raise ValueError(f"player: expected an integer player id, got dtype {player.dtype}")
        if is_concrete(player) and np.any((np.asarray(player) < 0) | (np.asarray(player) >= self.num_players)):
            raise ValueError(f"player: expected ids in 0..{self.num_players - 1}, got {np.asarray(player)}")
        return player.astype(jnp.int32)

    def _gather(self, kind: str, state, player) -> jax.Array:
        """Row ``tensor_row[history]``, column ``player`` of the ``kind`` table; zeros without a player."""
        table = self._table(kind, kind)
        acting = state.current_player if player is None else self._player(player)
        row = jnp.asarray(self.tree.tensor_row)[state.history]          # >= 0 at decision / terminal histories
        ok = (acting >= 0) & (acting < self.num_players) & (row >= 0)
        out = jnp.asarray(table)[jnp.maximum(row, 0), jnp.clip(acting, 0, self.num_players - 1)]
        return jnp.where(ok[..., None], out, 0.0).astype(jnp.result_type(float))

    def _game(self, game):
        if game is None:
            return self.game
        if not isinstance(game, EFGGame) or game.tree is not self.tree:
            raise ValueError("game: expected an EFGGame with the same tree as the environment's "
                             f"({self.game.name}); build another EFGEnv for another game")
        return game

    def _terminal(self, h):
        return jnp.asarray(self._nodes)[h, self._width] == TERMINAL

    def _act(self, h, action):
        """The child of decision history ``h`` by ``action`` (an illegal action becomes the first
        legal one); a terminal ``h`` stays. Returns (history, h was terminal)."""
        row = jnp.asarray(self._nodes)[h]
        legal = jnp.asarray(self._legal)[h]
        ok = (action >= 0) & (action < self.num_actions) & legal[jnp.clip(action, 0, self.num_actions - 1)]
        a = jnp.where(ok, action, jnp.argmax(legal)).astype(jnp.int32)
        over = row[self._width] == TERMINAL
        return jnp.where(over, h, row[a]), over

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
        path = jnp.asarray(self._path)[offset + slot]                     # [run_width, hops]
        probs = jnp.where(slot < count, self._path_probs(game.chance_prob, path), 0.0)
        end = path[simplex.inverse_cdf(u, jnp.cumsum(probs)), 0]
        return jnp.where(count > 0, end, h)

    def _autoreset_transition(self, game, state, action, u, root, observe=True):
        h, over = self._act(state.history, action)
        h = self._run(game, h, u[0])
        ended = self._terminal(h)
        done = ended & ~over
        rewards = jnp.where(done, game.payoffs[h], 0.0)
        h = jnp.where(ended, self._pick_root(u[-1], root), h)
        count = jnp.where(ended, 0, state.step_count + 1).astype(jnp.int32)
        new = self._state(h, jnp.zeros_like(rewards), count)
        return new, self._timestep(new, rewards, done, observe)

    def _state(self, h, rewards, step_count) -> EFGState:
        row = jnp.asarray(self._nodes)[h]
        player, infoset = row[self._width], row[self._width + 1]
        return EFGState(history=h, current_player=player, infoset=infoset,
                        legal_action_mask=jnp.asarray(self._legal)[h], rewards=rewards,
                        terminated=player == TERMINAL, step_count=step_count)

    def _timestep(self, state: EFGState, rewards, done, observe: bool = True) -> TimeStep:
        return TimeStep(observation=self.observe(state) if observe else None, infoset=state.infoset,
                        current_player=state.current_player, legal_action_mask=state.legal_action_mask,
                        rewards=rewards, done=done)

    def _check_action(self, state: EFGState, action) -> jax.Array:
        """Shape always; legality when the action and the state are concrete."""
        if not isinstance(action, jax.Array) or action.dtype != jnp.int32:
            action = jnp.asarray(action)
            if not jnp.issubdtype(action.dtype, jnp.integer):
                raise ValueError(f"action: expected an integer action id, got dtype {action.dtype}")
            action = action.astype(jnp.int32)
        if action.shape != ():
            raise ValueError(f"action: expected a scalar action id (vmap for a batch), got shape {action.shape}")
        if np.shape(state.history) != ():
            raise ValueError(f"state: expected one environment's state (jax.vmap the step for a batch), "
                             f"got history of shape {np.shape(state.history)}")
        if is_concrete(action) and is_concrete(state.history):
            h, a = int(state.history), int(action)
            player = int(self._nodes[h, self._width])
            if player >= 0 and not (0 <= a < self.num_actions and self._legal[h, a]):
                raise ValueError(
                    f"action: {a} is not legal for player {player} at history {h} (information set "
                    f"{int(self._nodes[h, self._width + 1])}); legal actions: "
                    f"{np.nonzero(self._legal[h])[0].tolist()}")
        return action


def _size(table) -> int | None:
    return None if table is None else int(table.shape[-1])


# -- action helpers ------------------------------------------------------------------
def random_legal_action(key: jax.Array, state: EFGState) -> jax.Array:
    """An action drawn uniformly from ``state.legal_action_mask`` (int32 ``[]``; 0 when terminated)."""
    u = jax.random.uniform(key, (), jnp.result_type(float))
    return _random_legal(u, state.legal_action_mask)


def _random_legal(u, legal):
    return simplex.draw(u, legal.astype(u.dtype))


def sample_action(key: jax.Array, state: EFGState, policy: Policy) -> jax.Array:
    """An action drawn from ``policy[current_player][infoset]`` restricted to the legal actions.

    ``policy``: one ``[num_infosets_p, max_actions]`` probability array per
    player (as ``game.uniform_policy()`` and the solvers produce). A row with
    no mass on legal actions falls back to uniform over the legal actions.
    """
    u = jax.random.uniform(key, (), jnp.result_type(float))
    return _policy_action(u, state, policy)


def _policy_action(u, state: EFGState, policy: Policy):
    legal = state.legal_action_mask
    row = jnp.zeros(legal.shape, u.dtype)
    for p, pi in enumerate(policy):   # O(N * A): one row per player, the acting one kept
        mine = pi[jnp.clip(state.infoset, 0, pi.shape[0] - 1)].astype(u.dtype)
        row = jnp.where(state.current_player == p, mine, row)
    row = jnp.where(legal, jnp.maximum(row, 0.0), 0.0)
    row = jnp.where(jnp.sum(row) > 0, row, legal.astype(u.dtype))
    return simplex.draw(u, row)


def rollout(key: jax.Array, env: EFGEnv, policy: Policy | None, num_steps: int,
            game: EFGGame | None = None, state: EFGState | None = None) -> tuple[EFGState, Trajectory]:
    """Play ``num_steps`` decisions with ``step_autoreset``; returns ``(final_state, trajectory)``.

    Actions are drawn from ``policy`` (per player ``[num_infosets_p, max_actions]``
    probabilities), or uniformly among the legal actions when ``policy`` is
    ``None``. Starts from ``state`` if given (to continue a rollout), else from
    ``env.reset``. A new episode starts after every terminal, so
    ``trajectory.rewards[t]`` is nonzero only where ``trajectory.done[t]``, and
    the sum of the rewards is the total return of the episodes completed.
    Random numbers for all steps are drawn up front (one ``uniform`` call).
    """
    game = env._game(game)
    if policy is not None:
        policy = game.validate_policy(policy)
    num_steps = int(num_steps)
    k_reset, k_run = jax.random.split(key)
    if state is None:
        state, _ = env.reset(k_reset, game)
    uniforms = jax.random.uniform(k_run, (num_steps, 1 + env.autoreset_draws), game.chance_prob.dtype)
    root = env._root(game)   # the next episode's deal: computed once

    def body(state, u):
        if policy is None:
            action = _random_legal(u[0], state.legal_action_mask)
        else:
            action = _policy_action(u[0], state, policy)
        new, ts = env._autoreset_transition(game, state, action, u[1:], root, observe=False)
        record = Trajectory(state.history, state.current_player, state.infoset, state.legal_action_mask,
                            action, ts.rewards, ts.done)
        return new, record

    return jax.lax.scan(body, state, uniforms)
