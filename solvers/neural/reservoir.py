"""Reservoir sampling (Vitter 1985, algorithm R), batched and jittable: a uniform sample of at most
``C`` items of a stream, what NFSP's supervised memory and deep fictitious play's average-policy
memory need (flashbax has circular and prioritised buffers, no reservoir, and no masked add)."""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp


class Reservoir(NamedTuple):
    """A reservoir memory: a uniform sample of at most ``C`` items of a stream.

    ``items``: pytree whose leaves are ``[C, ...]``; ``count``: int32 ``[]``, items offered so far.
    Slots ``0 .. min(count, C) - 1`` are filled.
    """

    items: Any
    count: jax.Array


def reservoir_init(capacity: int, example) -> Reservoir:
    """An empty reservoir of ``capacity`` items shaped like ``example`` (one item, no batch axis)."""
    items = jax.tree_util.tree_map(lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype), example)
    return Reservoir(items=items, count=jnp.zeros((), jnp.int32))


def reservoir_add(key: jax.Array, reservoir: Reservoir, items, valid: jax.Array) -> Reservoir:
    """Offer a batch of ``K`` items (leaves ``[K, ...]``) in order; only those with ``valid [K]`` count.

    Algorithm R: the ``n``-th item of the stream (0-based) goes to slot ``n`` while ``n < C``, else
    to a slot ``j ~ U{0..n}`` if ``j < C`` (it is dropped otherwise). After ``n`` items every one
    of them is in the reservoir with probability ``min(1, C / n)``. Items of one batch drawn to the
    same slot: the last one wins, as in the sequential algorithm.
    """
    capacity = jax.tree_util.tree_leaves(reservoir.items)[0].shape[0]
    chex.assert_rank(valid, 1)
    valid = valid.astype(bool)
    stream = reservoir.count + jnp.cumsum(valid, dtype=jnp.int32) - 1  # n of each valid item
    draw = jax.random.randint(key, valid.shape, 0, jnp.maximum(stream, 0) + 1)  # j ~ U{0..n}
    slot = jnp.where(stream < capacity, stream, draw)
    slot = jnp.where(valid & (slot < capacity), slot, capacity)  # capacity: dropped
    order = jnp.argsort(slot, stable=True)  # stable: stream order kept
    ranked = slot[order]
    last = jnp.concatenate([ranked[1:] != ranked[:-1], jnp.ones((1,), bool)])  # last writer of its slot
    slot = jnp.where(jnp.zeros(valid.shape, bool).at[order].set(last), slot, capacity)
    new = jax.tree_util.tree_map(
        lambda buf, x: buf.at[slot].set(x.astype(buf.dtype), mode="drop"), reservoir.items, items
    )
    return Reservoir(items=new, count=reservoir.count + jnp.sum(valid, dtype=jnp.int32))


def reservoir_sample(key: jax.Array, reservoir: Reservoir, batch_size: int):
    """``batch_size`` items drawn uniformly (with replacement) from the filled slots."""
    capacity = jax.tree_util.tree_leaves(reservoir.items)[0].shape[0]
    size = jnp.maximum(jnp.minimum(reservoir.count, capacity), 1)
    index = jax.random.randint(key, (batch_size,), 0, size)
    return jax.tree_util.tree_map(lambda buf: buf[index], reservoir.items)
