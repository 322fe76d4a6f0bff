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


def entropic_step(
    policy: jax.Array,
    grads: jax.Array,
    mask: jax.Array,
    learning_rate,
    temperature=0.0,
    magnet: jax.Array | None = None,
) -> jax.Array:
    """The closed-form KL-proximal (magnetic mirror descent) step at every decision point.

    ``p' = argmax_p eta <p, g> - eta tau KL(p || rho) - KL(p || p_t)``, i.e.
    ``log p' ∝ (log p_t + eta g + eta tau log rho) / (1 + eta tau)`` (Sokota et
    al. 2023); with ``tau = 0`` it is the multiplicative-weights (Hedge) update.

    Without a magnet and with a temperature that is exactly ``0`` (a Python number, known when
    tracing), it is computed as ``hedge_step`` (the same values, without a ``log``).
    """
    if magnet is None and isinstance(temperature, (int, float)) and temperature == 0:
        return hedge_step(policy, grads, mask, learning_rate)
    return masked_softmax(entropic_logits(policy, grads, learning_rate, temperature, magnet), mask)


def hedge_step(policy: jax.Array, grads: jax.Array, mask: jax.Array, learning_rate) -> jax.Array:
    """``p' ∝ max(p, tiny) exp(eta g)`` over legal actions: ``entropic_step`` at ``tau = 0``, no ``log``.

    Equal to ``masked_softmax(safe_log(p) + eta g, mask)`` (``safe_log`` floors at the dtype's
    smallest normal number, ``tiny``). Instead of ``log p`` it takes the binary exponent
    ``E = floor(log2 max(p, tiny))`` from the float's bits and shifts every row by
    ``c = max_a (eta g_a + E_a log 2)``, which is within ``log 2`` of the largest logit: the
    largest weight ``max(p, tiny) exp(eta g - c)`` lies in ``[1, 2)`` and none exceeds
    ``exp(-E log 2) <= 1 / tiny``, so nothing overflows and nothing that the log form keeps
    underflows. Why: on CPU, XLA does not vectorize element-wise functions over a short last
    axis (a ``[10, 10, 3]`` policy's ``log`` costs as much as ``log`` of six times as many numbers
    laid out flat), and this step is most of a mirror-descent iteration on small games
    (``benchmarks/bench_mean_field.py``, part 3).
    """
    floor = jnp.maximum(policy, jnp.finfo(policy.dtype).tiny)
    g = jnp.where(mask, learning_rate * grads, 0.0)
    shift = _log2_floor(jax.lax.stop_gradient(floor)).astype(floor.dtype) * jnp.log(2.0).astype(floor.dtype)
    c = jax.lax.stop_gradient(jnp.max(jnp.where(mask, g + shift, -jnp.inf), axis=-1, keepdims=True))
    c = jnp.where(c == -jnp.inf, 0.0, c)  # no legal action: exp(g - c) = inf would make d/dp 0 * inf = NaN
    weights = jnp.where(mask, floor * jnp.exp(g - c), 0.0)
    return weights / jnp.sum(weights, axis=-1, keepdims=True)


def _log2_floor(x: jax.Array) -> jax.Array:
    """``floor(log2 x)`` of positive normal floats, read from the exponent bits (integers)."""
    info = jnp.finfo(x.dtype)
    ints = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}[info.bits // 8]
    bits = jax.lax.bitcast_convert_type(x, ints)
    return ((bits >> info.nmant) & ((1 << info.nexp) - 1)) - ((1 << (info.nexp - 1)) - 1)


def entropic_logits(policy, grads, learning_rate, temperature=0.0, magnet=None):
    """The unnormalized log-probabilities of ``entropic_step``."""
    logits = safe_log(policy) + learning_rate * grads
    if magnet is not None:
        logits = logits + learning_rate * temperature * safe_log(magnet)
    return logits / (1.0 + learning_rate * temperature)


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


_ALL_PAIRS_MAX = 16


def project(x: jax.Array, mask: jax.Array) -> jax.Array:
    """Euclidean projection of ``x`` onto the simplex over the legal actions.

    ``p = max(x - theta, 0)`` with ``sum(p) = 1``. The threshold is found by
    Michelot's (1986) fixed point: start from ``theta = (sum(x) - 1) / n`` and
    repeat ``theta <- (sum_{x_j > theta} x_j - 1) / #{x_j > theta}``; ``theta``
    only grows, the active set only shrinks, and it stops exactly when the active
    set no longer changes (at most ``n`` rounds, a handful in practice). Each round
    is O(n) elementwise work, with no sort (slow in XLA on CPU) and no n x n array.
    Up to ``_ALL_PAIRS_MAX`` actions an all-pairs comparison gives the same
    threshold, ``max_k (sum of the k largest - 1) / k``, without a loop.
    """
    if x.shape[-1] <= _ALL_PAIRS_MAX:
        legal_x = jnp.where(mask, x, -jnp.inf)
        above = (legal_x[..., None, :] >= legal_x[..., :, None]) & mask[..., None, :]
        sums = jnp.sum(jnp.where(above, x[..., None, :], 0.0), axis=-1)
        counts = jnp.maximum(jnp.sum(above, axis=-1), 1)
        theta = jnp.max(jnp.where(mask, (sums - 1.0) / counts, -jnp.inf), axis=-1, keepdims=True)
        return jnp.where(mask, jnp.maximum(x - theta, 0.0), 0.0)

    def theta_of(active):
        count = jnp.maximum(jnp.sum(active, axis=-1, keepdims=True), 1)
        return (jnp.sum(jnp.where(active, x, 0.0), axis=-1, keepdims=True) - 1.0) / count

    def body(carry):
        i, active, _ = carry
        new = mask & (x > theta_of(active))
        return i + 1, new, jnp.any(new != active)

    def cond(carry):
        i, _, changed = carry
        return (i < x.shape[-1]) & changed

    _, active, _ = jax.lax.while_loop(cond, body, (0, mask, jnp.array(True)))
    return jnp.where(mask, jnp.maximum(x - theta_of(active), 0.0), 0.0)


def one_hot_argmax(values: jax.Array, mask: jax.Array) -> jax.Array:
    """A pure policy on the best legal action (ties go to the lowest index)."""
    best = jnp.argmax(jnp.where(mask, values, -jnp.inf), axis=-1)
    return jax.nn.one_hot(best, values.shape[-1], dtype=values.dtype)


def kl(p: jax.Array, q: jax.Array) -> jax.Array:
    """``KL(p || q)`` summed over the last axis, with ``0 log 0 = 0``."""
    return jnp.sum(jnp.where(p > 0, p * (safe_log(p) - safe_log(q)), 0.0), axis=-1)


def inverse_cdf(u: jax.Array, cdf: jax.Array) -> jax.Array:
    """Inverse CDF: the index ``i`` with ``cdf[i-1] < (1 - u) cdf[-1] <= cdf[i]`` (``u`` uniform in
    [0, 1); ``cdf`` an unnormalized cumulative sum, one comparison per entry). Zero-probability
    entries are never drawn: ``(1 - u) cdf[-1] > 0``. Leading axes are rows, each with its own ``u``."""
    u = jnp.asarray(u)[..., None]  # rows: ``u [...]`` against ``cdf [..., K]``
    return jnp.minimum(jnp.sum(cdf < (1.0 - u) * cdf[..., -1:], axis=-1), cdf.shape[-1] - 1).astype(jnp.int32)


def draw(u: jax.Array, weights: jax.Array) -> jax.Array:
    """Index drawn with probability proportional to ``weights`` (``u`` uniform in [0, 1))."""
    return inverse_cdf(u, jnp.cumsum(weights, axis=-1))


def logit_response(values: jax.Array, mask: jax.Array, temperature, reference: jax.Array | None = None):
    """``p ∝ reference exp(values / temperature)`` over legal actions (``reference``: uniform if
    ``None``); the one-hot argmax at ``temperature = 0``, which may be traced. The smooth best
    response of every game family."""
    logits = values / jnp.maximum(temperature, _TINY)
    if reference is not None:
        logits, mask_soft = logits + safe_log(reference), mask & (reference > 0)
    else:
        mask_soft = mask
    return jnp.where(temperature > 0, masked_softmax(logits, mask_soft), one_hot_argmax(values, mask))


def soft_max_value(values: jax.Array, reference: jax.Array, temperature) -> jax.Array:
    """``max_p <p, values> - temperature * KL(p || reference)`` over the simplex.

    Equals ``temperature * log sum_a reference[a] exp(values[a] / temperature)``
    (the Gibbs variational principle); reduces to ``max`` as temperature -> 0.
    """
    t = jnp.maximum(temperature, _TINY)
    logits = jnp.where(reference > 0, values / t + safe_log(reference), -jnp.inf)
    return t * jax.nn.logsumexp(logits, axis=-1)
