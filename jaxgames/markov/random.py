"""Random Markov games and MDPs from a ``jax.random`` key (Garnet-style).

Garnet problems (Archibald, McKinnon & Thomas 1995; Bhatnagar et al. 2009):
every (state, joint action) pair reaches ``branching`` distinct next states,
drawn uniformly without replacement, with probabilities drawn uniformly from
the simplex over them (Dirichlet(1): normalized exponentials); every other
next state has probability 0. Rewards are i.i.d. uniform on ``[-1, 1]`` (or
standard normal), the initial distribution is uniform over states.

All generators are pure functions of the key (sizes static, ``discount`` may
be traced), so ``jax.vmap(lambda k: random_zero_sum(k, 64, 4))(keys)`` builds
a batch of games.

**Sparse storage.** ``sparse=True`` returns a ``SparseMarkovGame``: ``next_states`` and
``next_probs`` ``[S, A_1..A_N, branching]`` (``O(S prod A_j branching)`` memory instead of the dense
``O(S^2 prod A_j)``); the support is drawn by Floyd's algorithm (a uniformly random subset of
``branching`` distinct states, without an ``[S]`` row of noise), so for the same key it is a different
draw of the same distribution as the dense game. ``sparse=False`` is dense (sizes that would pass
``max_bytes`` are refused); ``sparse=None`` (default) picks sparse when the dense transition tensor would
pass ``SPARSE_ABOVE_BYTES`` (256 MiB), so small games stay dense and keep their draws. E.g.
``random_zero_sum(key, 10_000, 3)`` holds ~0.7 MB of transitions instead of 3.6 GB (float32).

Example::

    game = random_zero_sum(jax.random.key(0), num_states=10_000, num_actions=3, branching=3, sparse=True)
    game.nash_conv(game.uniform_policy())
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxgames import rng
from jaxgames.markov.game import SPARSE_ABOVE_BYTES, MarkovGame, SparseMarkovGame
from jaxgames.matrix.random import DISTRIBUTIONS, action_counts, sample_payoffs
from jaxgames.validation import check_bool, check_choice, check_int, check_key, check_table_bytes, table_bytes

#: dense tensors of the transition tensor's size alive at once while drawing it (uniform noise,
#: exponential weights, the result)
_GARNET_COPIES = 3
#: sparse arrays of the ``[S, A_1..A_N, B]`` size alive at once while drawing them (indices, weights, result)
_SPARSE_COPIES = 3


def _sizes(
    num_states, num_actions, branching, players: int | None, max_bytes=None, sparse=False
) -> tuple[int, tuple, int, bool]:
    """Checked sizes ``(S, (A_1..A_N), branching, sparse)``; raises before the tables would pass ``max_bytes``."""
    num_states = check_int(num_states, "num_states", low=1)
    num_actions = action_counts(num_actions, min_players=1, num_players=players)
    branching = check_int(branching, "branching", low=1)
    if branching > num_states:
        raise ValueError(f"branching: expected an integer in [1, num_states = {num_states}], got {branching}")
    if sparse is None:
        sparse = table_bytes((num_states, *num_actions, num_states)) > SPARSE_ABOVE_BYTES
    sparse = check_bool(sparse, "sparse")
    if sparse:
        shape = (num_states, *num_actions, branching)
        dims = ", ".join(str(d) for d in shape)
        what = f"the sparse transitions [{dims}] (next states and probabilities, while drawing them)"
        check_table_bytes(
            _SPARSE_COPIES * 2 * table_bytes(shape), "num_states, num_actions, branching", what, max_bytes
        )
    else:
        check_transition_bytes(num_states, num_actions, max_bytes, copies=_GARNET_COPIES)
    return num_states, num_actions, branching, sparse


def check_transition_bytes(
    num_states: int, num_actions: tuple, max_bytes=None, copies: int = 1, field: str = "num_states, num_actions"
) -> None:
    """Raise before building a ``[S, A_1..A_N, S]`` transition tensor (``copies`` of it) above ``max_bytes``."""
    shape = (num_states, *num_actions, num_states)
    dims = ", ".join(str(d) for d in shape)
    what = f"the transition tensor [{dims}]" + (
        f" ({copies} tensors of its size while drawing it)" if copies > 1 else ""
    )
    check_table_bytes(copies * table_bytes(shape), field, what, max_bytes)


def garnet_transitions(
    key, num_states: int, num_actions: Sequence[int], branching: int, max_bytes: int | None = None
) -> jax.Array:
    """``[S, A_1..A_N, S]``: each row has ``branching`` random next states with Dirichlet(1) probabilities."""
    num_states, num_actions, branching, _ = _sizes(num_states, num_actions, branching, None, max_bytes)
    return _garnet(check_key(key, "key", "garnet_transitions"), num_states, num_actions, branching)


def _garnet(key, num_states: int, num_actions: tuple, branching: int) -> jax.Array:
    k_support, k_prob = jax.random.split(key)
    shape = (num_states, *num_actions, num_states)
    dtype = jnp.result_type(float)
    # the `branching` smallest of i.i.d. uniforms pick a uniformly random subset of next states
    # (top_k finds the threshold without a sorted copy of the whole tensor). The threshold is the
    # max of the `branching` values, not their last entry: XLA rewrites a slice of top_k's output
    # into a full sort of every row. Same value.
    noise = rng.uniform(k_support, shape, dtype)
    kth = jnp.max(-jax.lax.top_k(-noise, branching)[0], axis=-1, keepdims=True)
    support = noise <= kth
    weights = jnp.where(support, rng.exponential(k_prob, shape, dtype), 0.0)
    return weights / jnp.sum(weights, axis=-1, keepdims=True)


def _garnet_sparse(key, num_states: int, num_actions: tuple, branching: int) -> tuple[jax.Array, jax.Array]:
    """``(next_states, next_probs)`` ``[S, A_1..A_N, B]``: ``B`` distinct uniform next states, Dirichlet(1) weights.

    Floyd's algorithm (Bentley & Floyd 1987): for ``j = S - B, ..., S - 1`` draw ``t`` uniform in
    ``[0, j]`` and take ``t``, or ``j`` if ``t`` was already taken; the result is a uniformly random
    ``B``-subset, drawn with ``B`` integers per row.
    """
    k_support, k_prob = jax.random.split(key)
    rows = (num_states, *num_actions)
    dtype = jnp.result_type(float)
    chosen = []
    for t, k in zip(range(num_states - branching, num_states), jax.random.split(k_support, branching)):
        draw = jax.random.randint(k, rows, 0, t + 1, jnp.int32)
        taken = functools.reduce(jnp.logical_or, [draw == c for c in chosen], jnp.zeros(rows, bool))
        chosen.append(jnp.where(taken, t, draw).astype(jnp.int32))
    weights = rng.exponential(k_prob, (*rows, branching), dtype)
    return jnp.stack(chosen, axis=-1), weights / jnp.sum(weights, axis=-1, keepdims=True)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5, 6))
def _tables(
    key,
    num_states: int,
    num_actions: tuple,
    branching: int,
    num_reward_players: int,
    distribution: str,
    sparse: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """Garnet transitions (dense, or a ``(next_states, next_probs)`` pair) and i.i.d. rewards
    ``[num_reward_players, S, A_1..A_N]`` (compiled once per size).

    Under ``jax.vmap`` over keys the games are drawn one after the other (``lax.map``, a
    ``custom_vmap`` rule): the same numbers, but one game's noise stays in cache, where XLA's
    batched draw streams every intermediate of all the games through memory.
    """

    def draw(key):
        k_p, k_r = jax.random.split(key)
        rewards = sample_payoffs(k_r, (num_reward_players, num_states, *num_actions), distribution)
        if sparse:
            return _garnet_sparse(k_p, num_states, num_actions, branching), rewards
        return _garnet(k_p, num_states, num_actions, branching), rewards

    return _one_game_at_a_time(draw)(key)


def _one_game_at_a_time(draw):
    """``draw(key)``, whose ``jax.vmap`` over keys is a ``lax.map`` on CPU (games drawn in turn, same
    values); on accelerators, where the batched draw is the fast one, a plain ``vmap``."""
    one = jax.custom_batching.custom_vmap(draw)

    @one.def_vmap
    def _rule(axis_size, in_batched, keys):
        del axis_size, in_batched  # one argument: it is batched
        out = jax.lax.map(one, keys) if jax.default_backend() == "cpu" else jax.vmap(draw)(keys)
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return one


def _draw(key, num_states, num_actions, branching, players, distribution, max_bytes, reward_players, who, sparse):
    """Check every argument (sizes first), then draw ``(S, transitions, rewards, sparse)``."""
    s, actions, b, sparse = _sizes(num_states, num_actions, branching, players, max_bytes, sparse)
    check_choice(distribution, "distribution", DISTRIBUTIONS)
    key = check_key(key, "key", who)
    P, rewards = _tables(key, s, actions, b, reward_players or len(actions), distribution, sparse)
    return s, P, rewards, sparse


def _game(P, rewards, discount, s, sparse) -> MarkovGame:
    initial = jnp.full((s,), 1.0 / s, rewards.dtype)
    if sparse:
        return SparseMarkovGame(P[0], P[1], rewards, discount, initial)
    return MarkovGame(P, rewards, discount, initial)


def random_zero_sum(
    key,
    num_states: int = 8,
    num_actions: int | Sequence[int] = 3,
    branching: int = 2,
    discount: float = 0.9,
    distribution: str = "uniform",
    max_bytes: int | None = None,
    sparse: bool | None = None,
) -> MarkovGame:
    """Random two-player zero-sum Markov game (Garnet transitions, i.i.d. rewards for player 0).

    ``max_bytes`` bounds the transition tensor ``[S, A_1, A_2, S]`` (see ``jaxgames.validation``), or
    the sparse ``[S, A_1, A_2, branching]`` arrays; ``sparse``: a ``SparseMarkovGame`` (``True``),
    dense (``False``), or (``None``, default) sparse when the dense tensor would pass ``SPARSE_ABOVE_BYTES``.
    """
    s, P, reward, sparse = _draw(
        key, num_states, num_actions, branching, 2, distribution, max_bytes, 1, "markov.random_zero_sum", sparse
    )
    return _game(P, jnp.concatenate([reward, -reward]), discount, s, sparse)


def random_general_sum(
    key,
    num_states: int = 8,
    num_actions: int | Sequence[int] = 3,
    branching: int = 2,
    discount: float = 0.9,
    distribution: str = "uniform",
    max_bytes: int | None = None,
    sparse: bool | None = None,
) -> MarkovGame:
    """Random general-sum Markov game, one player per entry of ``num_actions`` (an int: two players).

    ``max_bytes`` and ``sparse`` as in ``random_zero_sum``.
    """
    s, P, rewards, sparse = _draw(
        key,
        num_states,
        num_actions,
        branching,
        None,
        distribution,
        max_bytes,
        None,
        "markov.random_general_sum",
        sparse,
    )
    return _game(P, rewards, discount, s, sparse)


def random_mdp(
    key,
    num_states: int = 8,
    num_actions: int = 3,
    branching: int = 2,
    discount: float = 0.9,
    distribution: str = "uniform",
    max_bytes: int | None = None,
    sparse: bool | None = None,
) -> MarkovGame:
    """Random Garnet MDP (one player); ``max_bytes`` and ``sparse`` as in ``random_zero_sum``."""
    s, P, rewards, sparse = _draw(
        key, num_states, num_actions, branching, 1, distribution, max_bytes, 1, "markov.random_mdp", sparse
    )
    return _game(P, rewards, discount, s, sparse)
