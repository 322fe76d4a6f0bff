"""What every neural learner shares: the network, the decision points, the masked policy, the checks.

**Decision points.** A tabular ``Policy`` has one row per decision point of each player (an
information set of an extensive-form game, a state of a Markov game, a (time, state) pair of a
mean-field game, the one decision of a matrix game). ``decision_points(game)`` lists them all,
player after player, as one table::

    points.features  float [M, D]   the network's input at each decision point
    points.legal     bool  [M, A]   legal actions (A = the largest action count)
    points.player    int32 [M]      the player who decides there

Features: extensive-form games use OpenSpiel's information-state tensor of the information set
where the tree has one (Kuhn: 11 values, Leduc: 30), else the one-hot of (player, information
set); Markov games the one-hot of (state, player); mean-field games the one-hot of (time, state);
matrix games the one-hot of the player. The input always says whose decision it is, so one network
serves every player (self-play). Contextual preference games (symmetric) use the one-hot of the
context for both players: the observation, and one shared policy per context.

Learners evaluate their network on *every* decision point once per step (``tabular_policy``),
which is at once the ``output`` of the solver (so ``solvers.run`` records exact exploitability)
and the behaviour policy of the simulator (``jaxgames.rollout``: the one sampler), and they read
the decisions of a trajectory as rows of that table (``trajectory_rows``). Training gathers the
rows' features, so the gradient is that of the network on the sampled decisions only.

**The policy.** ``masked_policy(logits, legal)`` is a ``distrax.Categorical`` on the legal
actions (illegal logits are set to the dtype's lowest finite value, so they get probability 0 and
no NaN in entropies or KL terms).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import chex
import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.core import Game, Policy
from solvers.core import check_int, check_number, check_solver_key


class MLP(nn.Module):
    """A ReLU multilayer perceptron ``D -> hidden[0] -> ... -> outputs`` (flax)."""

    hidden: Sequence[int]
    outputs: int

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.outputs)(x)


class PolicyValueNet(nn.Module):
    """Action logits ``[..., A]`` and a value ``[...]`` from two ``MLP`` torsos (no shared layers:
    the value's regression targets, returns of a few chips, would otherwise drown the policy's
    gradient)."""

    hidden: Sequence[int]
    num_actions: int

    @nn.compact
    def __call__(self, x):
        return MLP(self.hidden, self.num_actions)(x), MLP(self.hidden, 1)(x)[..., 0]


def policy_value_heads(net: PolicyValueNet, params, features, legal):
    """``(masked logits [..., A], value [...])`` of the network at ``features``."""
    logits, value = net.apply(params, features)
    return masked_logits(logits, legal), value


def policy_table(net: PolicyValueNet, params, points) -> jax.Array:
    """``[M, A]``: the network's policy at every decision point (zero on illegal actions)."""
    logits, _ = policy_value_heads(net, params, points.features, points.legal)
    return jax.nn.softmax(logits, axis=-1)


class DecisionPoints(NamedTuple):
    """Every decision point of every player, player after player (see the module docstring)."""

    features: jax.Array  # float [M, D]
    legal: jax.Array  # bool [M, A]
    player: jax.Array  # int32 [M]


def _one_hot(index, size: int) -> np.ndarray:
    return np.eye(size, dtype=np.float32)[np.asarray(index)]


def _row_counts(game: Game) -> list[int]:
    return [int(np.prod(m.shape[:-1], dtype=int)) for m in game.legal_mask_host()]


def row_offsets(game: Game) -> np.ndarray:
    """int ``[N + 1]``: player ``p``'s decision points are rows ``offsets[p]:offsets[p + 1]``."""
    return np.concatenate([[0], np.cumsum(_row_counts(game))]).astype(np.int32)


def _efg_features(game) -> list[np.ndarray]:
    tree = game.tree
    tensors, rows = tree.information_state_tensors, tree.tensor_row
    out = []
    for p, (nodes, infosets) in enumerate(zip(tree.decision_nodes, tree.decision_infosets)):
        count = tree.num_infosets[p]
        if tensors is not None:
            first = np.zeros(count, np.int64)
            first[infosets[::-1]] = nodes[::-1]  # one history of each information set
            out.append(tensors[rows[first], p].astype(np.float32))
        else:
            size = max(tree.num_infosets)
            out.append(
                np.concatenate(
                    [_one_hot(np.full(count, p), tree.num_players), _one_hot(np.arange(count), size)], axis=1
                )
            )
    return out


def _player_block(p: int, rows: int, num_players: int, body: np.ndarray) -> np.ndarray:
    return np.concatenate([body, _one_hot(np.full(rows, p), num_players)], axis=1)


def decision_points(game: Game) -> DecisionPoints:
    """The decision points of ``game`` with the network's features (host arrays, built once)."""
    from jaxgames.efg.game import EFGGame
    from jaxgames.markov.game import MarkovGame
    from jaxgames.matrix.contextual import ContextualPreferenceGame
    from jaxgames.matrix.game import MatrixGame
    from jaxgames.mean_field.game import MeanFieldGame

    masks = game.legal_mask_host()
    counts = _row_counts(game)
    n = len(masks)
    if isinstance(game, EFGGame):
        feats = _efg_features(game)
    elif isinstance(game, MarkovGame):
        feats = [_player_block(p, c, n, np.eye(c, dtype=np.float32)) for p, c in enumerate(counts)]
    elif isinstance(game, MeanFieldGame):
        t, s = masks[0].shape[:-1]
        feats = [
            np.concatenate(
                [np.repeat(np.eye(t, dtype=np.float32), s, axis=0), np.tile(np.eye(s, dtype=np.float32), (t, 1))],
                axis=1,
            )
        ]
    elif isinstance(game, MatrixGame):
        feats = [_one_hot(np.full(c, p), n) for p, c in enumerate(counts)]
    elif isinstance(game, ContextualPreferenceGame):
        feats = [np.eye(c, dtype=np.float32) for c in counts]
    else:
        raise ValueError(
            f"game: no decision-point features for {type(game).__name__}; expected an EFGGame, "
            "MarkovGame, MeanFieldGame, MatrixGame or ContextualPreferenceGame"
        )
    width = max(m.shape[-1] for m in masks)
    legal = np.concatenate(
        [np.pad(m.reshape(c, -1), [(0, 0), (0, width - m.shape[-1])]) for m, c in zip(masks, counts)]
    )
    player = np.concatenate([np.full(c, p, np.int32) for p, c in enumerate(counts)])
    return DecisionPoints(
        features=jnp.asarray(np.concatenate(feats)), legal=jnp.asarray(legal), player=jnp.asarray(player)
    )


def masked_logits(logits: jax.Array, legal: jax.Array) -> jax.Array:
    """``logits`` with illegal actions at the lowest finite value (probability 0, no NaN)."""
    return jnp.where(legal, logits, jnp.finfo(logits.dtype).min)


def masked_policy(logits: jax.Array, legal: jax.Array) -> distrax.Categorical:
    """The categorical policy on the legal actions (``distrax``; batch shape ``logits.shape[:-1]``)."""
    return distrax.Categorical(logits=masked_logits(logits, legal))


def split_policy(game: Game, probs: jax.Array) -> Policy:
    """A table ``[M, A]`` of probabilities (rows as in ``decision_points``) as the game's ``Policy``."""
    out, start = [], 0
    for m in game.legal_mask_host():
        count = int(np.prod(m.shape[:-1], dtype=int))
        out.append(probs[start : start + count, : m.shape[-1]].reshape(m.shape))
        start += count
    return tuple(out)


def stack_policy(game: Game, policy: Policy) -> jax.Array:
    """The inverse of ``split_policy``: a ``Policy`` as one table ``[M, A]`` (zero-padded actions)."""
    width = max(m.shape[-1] for m in game.legal_mask_host())
    return jnp.concatenate([jnp.pad(p.reshape(-1, p.shape[-1]), [(0, 0), (0, width - p.shape[-1])]) for p in policy])


def tabular_policy(game: Game, probs: jax.Array) -> Policy:
    """``split_policy`` with the game's float dtype (what ``output`` returns)."""
    dtype = jnp.result_type(float)
    return split_policy(game, probs.astype(dtype))


def trajectory_rows(env, game: Game, state) -> tuple[jax.Array, jax.Array]:
    """``(rows, valid)`` of the decisions taken at ``state`` (any batch shape ``[...]``).

    ``rows`` int32 ``[..., K]`` indexes ``decision_points(game)``, one entry per action slot of
    the simulator (``K = prod(env.action_shape)``: 1 for turn-based games, ``N`` for simultaneous
    ones, the number of agents for a mean-field simulator, whose agents share player 0's table);
    ``valid`` bool ``[..., K]`` is false where no decision was taken (a terminal state).
    """
    masks = game.legal_mask_host()
    offsets = row_offsets(game)
    index_tables = tuple(
        jnp.broadcast_to(
            jnp.arange(int(np.prod(m.shape[:-1], dtype=int)), dtype=jnp.int32).reshape(m.shape[:-1])[..., None], m.shape
        )
        for m in masks
    )
    lead = jax.tree_util.tree_leaves(state)[0].shape[: _batch_ndim(env, state)]

    def one(s):
        within = env._policy_rows(index_tables, s)[..., 0].reshape(-1)
        player, _ = env._acting(s)
        if env.simultaneous:
            owner = jnp.arange(within.shape[0]) if len(masks) == within.shape[0] else jnp.zeros_like(within)
            valid = jnp.broadcast_to(player != -4, within.shape)
        else:
            owner = jnp.broadcast_to(jnp.maximum(player, 0), within.shape)
            valid = jnp.broadcast_to(player >= 0, within.shape)
        return jnp.asarray(offsets)[owner] + within, valid

    flat = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[len(lead) :]), state)
    rows, valid = jax.vmap(one)(flat)
    return rows.reshape(lead + rows.shape[1:]), valid.reshape(lead + valid.shape[1:])


def _batch_ndim(env, state) -> int:
    """Leading batch axes of ``state`` beyond one environment's state (reset's shapes)."""
    single, _ = jax.eval_shape(env.reset, jax.random.key(0))
    return jax.tree_util.tree_leaves(state)[0].ndim - jax.tree_util.tree_leaves(single)[0].ndim


def check_hidden(hidden, field: str = "hidden_sizes") -> tuple[int, ...]:
    """Hidden layer widths: a sequence of integers >= 1 (an empty one is a linear policy)."""
    if isinstance(hidden, (int, np.integer)):
        hidden = (hidden,)
    try:
        if isinstance(hidden, (str, bytes)):
            raise TypeError
        widths = tuple(hidden)
    except TypeError:
        raise ValueError(f"{field}: expected a sequence of integers >= 1, got {hidden!r}") from None
    for w in widths:
        check_int(w, field, low=1)
    return tuple(int(w) for w in widths)


def check_rates(optional: tuple = (), schedules: tuple = (), **rates) -> None:
    """Every named hyperparameter is a finite number > 0 (traced values pass, bools do not); those
    named in ``schedules`` (the rates optax takes) may also be optax schedules, i.e. callables of the
    step, and those in ``optional`` ``None`` (the term is off)."""
    for field, value in rates.items():
        check_number(value, field, 0, low_open=True, optional=field in optional, schedule=field in schedules)


def check_divides(batch: int, parts: int, field: str, whole: str) -> None:
    if batch % parts:
        raise ValueError(f"{field}: expected a divisor of {whole} = {batch}, got {parts}")


def check_key(key, who: str):
    """The learner's PRNG key (``solvers.core.check_solver_key``, i.e. ``jaxgames.validation.check_key``)."""
    return check_solver_key(key, who, f"{who} learns from sampled play; it needs a PRNG key")


def check_simulator(game: Game, who: str):
    """The game's simulator (``jaxgames.make_env``), with a clear error when it has none."""
    from jaxgames.env import make_env

    if not isinstance(game, Game):
        raise ValueError(f"game: {who} expected a jaxgames game model, got {type(game).__name__}")
    try:
        return make_env(game, autoreset=False)
    except ValueError as err:
        raise ValueError(f"game: {who} needs a game with a simulator; {err}") from None


def assert_table(points: DecisionPoints, table: jax.Array) -> None:
    """chex contract of a policy table: ``[M, A]`` float, rows on the simplex of legal actions."""
    chex.assert_shape(table, points.legal.shape)
    chex.assert_type(table, float)
