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
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxgames import rng
from jaxgames.markov.game import MarkovGame
from jaxgames.matrix.random import DISTRIBUTIONS, action_counts, sample_payoffs
from jaxgames.validation import check_choice, check_int, check_key, check_table_bytes, table_bytes

#: dense tensors of the transition tensor's size alive at once while drawing it (uniform noise,
#: exponential weights, the result)
_GARNET_COPIES = 3


def _sizes(num_states, num_actions, branching, players: int | None, max_bytes=None) -> tuple[int, tuple, int]:
    """Checked sizes ``(S, (A_1..A_N), branching)``; raises before the tables would pass ``max_bytes``."""
    num_states = check_int(num_states, "num_states", low=1)
    num_actions = action_counts(num_actions, min_players=1, num_players=players)
    branching = check_int(branching, "branching", low=1)
    if branching > num_states:
        raise ValueError(f"branching: expected an integer in [1, num_states = {num_states}], got {branching}")
    check_transition_bytes(num_states, num_actions, max_bytes, copies=_GARNET_COPIES)
    return num_states, num_actions, branching


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
    num_states, num_actions, branching = _sizes(num_states, num_actions, branching, None, max_bytes)
    return _garnet(check_key(key, "key", "garnet_transitions"), num_states, num_actions, branching)


def _garnet(key, num_states: int, num_actions: tuple, branching: int) -> jax.Array:
    k_support, k_prob = jax.random.split(key)
    shape = (num_states, *num_actions, num_states)
    dtype = jnp.result_type(float)
    # the `branching` smallest of i.i.d. uniforms pick a uniformly random subset of next states
    # (top_k finds the threshold without a sorted copy of the whole tensor)
    noise = rng.uniform(k_support, shape, dtype)
    kth = -jax.lax.top_k(-noise, branching)[0][..., branching - 1 : branching]
    support = noise <= kth
    weights = jnp.where(support, rng.exponential(k_prob, shape, dtype), 0.0)
    return weights / jnp.sum(weights, axis=-1, keepdims=True)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _tables(
    key, num_states: int, num_actions: tuple, branching: int, num_reward_players: int, distribution: str
) -> tuple[jax.Array, jax.Array]:
    """Garnet transitions and i.i.d. rewards ``[num_reward_players, S, A_1..A_N]`` (compiled once per size)."""
    k_p, k_r = jax.random.split(key)
    rewards = sample_payoffs(k_r, (num_reward_players, num_states, *num_actions), distribution)
    return _garnet(k_p, num_states, num_actions, branching), rewards


def _draw(key, num_states, num_actions, branching, players, distribution, max_bytes, reward_players, who):
    """Check every argument (sizes first), then draw ``(S, transitions, rewards)``."""
    s, actions, b = _sizes(num_states, num_actions, branching, players, max_bytes)
    check_choice(distribution, "distribution", DISTRIBUTIONS)
    key = check_key(key, "key", who)
    P, rewards = _tables(key, s, actions, b, reward_players or len(actions), distribution)
    return s, P, rewards


def random_zero_sum(
    key,
    num_states: int = 8,
    num_actions: int | Sequence[int] = 3,
    branching: int = 2,
    discount: float = 0.9,
    distribution: str = "uniform",
    max_bytes: int | None = None,
) -> MarkovGame:
    """Random two-player zero-sum Markov game (Garnet transitions, i.i.d. rewards for player 0).

    ``max_bytes`` bounds the transition tensor ``[S, A_1, A_2, S]`` (see ``jaxgames.validation``).
    """
    s, P, reward = _draw(
        key, num_states, num_actions, branching, 2, distribution, max_bytes, 1, "markov.random_zero_sum"
    )
    return MarkovGame(P, jnp.concatenate([reward, -reward]), discount, jnp.full((s,), 1.0 / s, reward.dtype))


def random_general_sum(
    key,
    num_states: int = 8,
    num_actions: int | Sequence[int] = 3,
    branching: int = 2,
    discount: float = 0.9,
    distribution: str = "uniform",
    max_bytes: int | None = None,
) -> MarkovGame:
    """Random general-sum Markov game, one player per entry of ``num_actions`` (an int: two players)."""
    s, P, rewards = _draw(
        key, num_states, num_actions, branching, None, distribution, max_bytes, None, "markov.random_general_sum"
    )
    return MarkovGame(P, rewards, discount, jnp.full((s,), 1.0 / s, rewards.dtype))


def random_mdp(
    key,
    num_states: int = 8,
    num_actions: int = 3,
    branching: int = 2,
    discount: float = 0.9,
    distribution: str = "uniform",
    max_bytes: int | None = None,
) -> MarkovGame:
    """Random Garnet MDP (one player)."""
    s, P, rewards = _draw(key, num_states, num_actions, branching, 1, distribution, max_bytes, 1, "markov.random_mdp")
    return MarkovGame(P, rewards, discount, jnp.full((s,), 1.0 / s, rewards.dtype))
