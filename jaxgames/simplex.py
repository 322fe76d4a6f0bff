"""Operations on (masked) probability simplices.

Every policy array has shape ``[..., A]``: leading axes index decision points
(none for a matrix game), the last axis indexes actions, and a boolean ``mask``
of the same shape marks the legal actions. These helpers keep illegal actions at
exactly zero probability and treat every decision point independently.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_TINY = 1e-30


def masked_softmax(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """``softmax`` over legal actions; illegal actions get probability 0."""
    logits = jnp.where(mask, logits, -jnp.inf)
    logits = logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    weights = jnp.where(mask, jnp.exp(logits), 0.0)
    return weights / jnp.sum(weights, axis=-1, keepdims=True)


def safe_log(policy: jax.Array) -> jax.Array:
    """``log`` that maps 0 to a large negative number instead of ``-inf``."""
    return jnp.log(jnp.maximum(policy, jnp.finfo(policy.dtype).tiny))


def normalize(weights: jax.Array, mask: jax.Array) -> jax.Array:
    """Normalize non-negative ``weights`` over legal actions.

    Decision points whose legal weights sum to zero get the uniform policy, the
    convention of regret matching and of reach-weighted averages at unreached
    information sets.
    """
    weights = jnp.where(mask, weights, 0.0)
    total = jnp.sum(weights, axis=-1, keepdims=True)
    uniform = mask / jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True), 1)
    return jnp.where(total > 0, weights / jnp.where(total > 0, total, 1.0), uniform)


def project(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Euclidean projection of ``x`` onto the simplex over the legal actions.

    ``p = max(x - theta, 0)`` with ``theta = max_k (sum of the k largest - 1) / k``
    (Held, Wolfe & Crowder 1974; Duchi et al. 2008). Up to 64 actions the
    partial sums come from an all-pairs comparison, which XLA runs far faster
    than a sort on CPU; larger action sets sort.
    """
    n = x.shape[-1]
    if n <= 64:
        legal_x = jnp.where(mask, x, -jnp.inf)
        above = (legal_x[..., None, :] >= legal_x[..., :, None]) & mask[..., None, :]
        counts = jnp.sum(above, axis=-1)
        sums = jnp.sum(jnp.where(above, x[..., None, :], 0.0), axis=-1)
        candidates = jnp.where(mask, (sums - 1.0) / jnp.maximum(counts, 1), -jnp.inf)
        theta = jnp.max(candidates, axis=-1, keepdims=True)
    else:
        u = jnp.sort(jnp.where(mask, x, -jnp.inf), axis=-1)[..., ::-1]
        legal = jnp.isfinite(u)
        css = jnp.cumsum(jnp.where(legal, u, 0.0), axis=-1) - 1.0
        ranks = jnp.arange(1, n + 1, dtype=x.dtype)
        theta = jnp.max(jnp.where(legal, css / ranks, -jnp.inf), axis=-1, keepdims=True)
    return jnp.where(mask, jnp.maximum(x - theta, 0.0), 0.0)


def one_hot_argmax(values: jax.Array, mask: jax.Array) -> jax.Array:
    """A pure policy on the best legal action (ties go to the lowest index)."""
    best = jnp.argmax(jnp.where(mask, values, -jnp.inf), axis=-1)
    return jax.nn.one_hot(best, values.shape[-1], dtype=values.dtype)


def kl(p: jax.Array, q: jax.Array) -> jax.Array:
    """``KL(p || q)`` summed over the last axis, with ``0 log 0 = 0``."""
    return jnp.sum(jnp.where(p > 0, p * (safe_log(p) - safe_log(q)), 0.0), axis=-1)


def soft_max_value(values: jax.Array, reference: jax.Array, temperature) -> jax.Array:
    """``max_p <p, values> - temperature * KL(p || reference)`` over the simplex.

    Equals ``temperature * log sum_a reference[a] exp(values[a] / temperature)``
    (the Gibbs variational principle); reduces to ``max`` as temperature -> 0.
    """
    t = jnp.maximum(temperature, _TINY)
    logits = jnp.where(reference > 0, values / t + safe_log(reference), -jnp.inf)
    return t * jax.nn.logsumexp(logits, axis=-1)
