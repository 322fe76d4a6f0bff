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
from typing import Sequence

import jax
import jax.numpy as jnp

from jaxgames.markov.game import MarkovGame
from jaxgames.matrix.random import _sample


def _sizes(num_states, num_actions, branching, players: int | None) -> tuple[int, tuple, int]:
    num_states = int(num_states)
    if num_states < 1:
        raise ValueError(f"num_states: expected an integer >= 1, got {num_states}")
    if isinstance(num_actions, int):
        num_actions = (num_actions,) * (players or 2)
    num_actions = tuple(int(a) for a in num_actions)
    if players is not None and len(num_actions) != players:
        raise ValueError(f"num_actions: expected {players} action counts, got {num_actions}")
    if not num_actions or min(num_actions) < 1:
        raise ValueError(f"num_actions: expected positive action counts, got {num_actions}")
    branching = int(branching)
    if not 1 <= branching <= num_states:
        raise ValueError(f"branching: expected an integer in [1, num_states = {num_states}], got {branching}")
    return num_states, num_actions, branching


def garnet_transitions(key, num_states: int, num_actions: Sequence[int], branching: int) -> jax.Array:
    """``[S, A_1..A_N, S]``: each row has ``branching`` random next states with Dirichlet(1) probabilities."""
    k_support, k_prob = jax.random.split(key)
    shape = (num_states, *num_actions, num_states)
    dtype = jnp.result_type(float)
    # the `branching` smallest of i.i.d. uniforms pick a uniformly random subset of next states
    noise = jax.random.uniform(k_support, shape, dtype)
    kth = jnp.sort(noise, axis=-1)[..., branching - 1:branching]
    support = noise <= kth
    weights = jnp.where(support, jax.random.exponential(k_prob, shape, dtype), 0.0)
    return weights / jnp.sum(weights, axis=-1, keepdims=True)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _tables(key, num_states: int, num_actions: tuple, branching: int, num_reward_players: int,
            distribution: str) -> tuple[jax.Array, jax.Array]:
    """Garnet transitions and i.i.d. rewards ``[num_reward_players, S, A_1..A_N]`` (compiled once per size)."""
    k_p, k_r = jax.random.split(key)
    rewards = _sample(k_r, (num_reward_players, num_states, *num_actions), distribution)
    return garnet_transitions(k_p, num_states, num_actions, branching), rewards


def _check_distribution(distribution):
    if distribution not in ("uniform", "gaussian"):
        raise ValueError(f"distribution: expected one of ('uniform', 'gaussian'), got {distribution!r}")


def random_zero_sum(key, num_states: int = 8, num_actions: int | Sequence[int] = 3, branching: int = 2,
                    discount: float = 0.9, distribution: str = "uniform") -> MarkovGame:
    """Random two-player zero-sum Markov game (Garnet transitions, i.i.d. rewards for player 0)."""
    s, actions, b = _sizes(num_states, num_actions, branching, 2)
    _check_distribution(distribution)
    P, reward = _tables(key, s, actions, b, 1, distribution)
    return MarkovGame(P, jnp.concatenate([reward, -reward]), discount, jnp.full((s,), 1.0 / s, reward.dtype))


def random_general_sum(key, num_states: int = 8, num_actions: int | Sequence[int] = 3, branching: int = 2,
                       discount: float = 0.9, distribution: str = "uniform") -> MarkovGame:
    """Random general-sum Markov game, one player per entry of ``num_actions`` (an int: two players)."""
    s, actions, b = _sizes(num_states, num_actions, branching, None)
    _check_distribution(distribution)
    P, rewards = _tables(key, s, actions, b, len(actions), distribution)
    return MarkovGame(P, rewards, discount, jnp.full((s,), 1.0 / s, rewards.dtype))


def random_mdp(key, num_states: int = 8, num_actions: int = 3, branching: int = 2, discount: float = 0.9,
               distribution: str = "uniform") -> MarkovGame:
    """Random Garnet MDP (one player)."""
    s, actions, b = _sizes(num_states, (int(num_actions),), branching, 1)
    _check_distribution(distribution)
    P, rewards = _tables(key, s, actions, b, 1, distribution)
    return MarkovGame(P, rewards, discount, jnp.full((s,), 1.0 / s, rewards.dtype))
