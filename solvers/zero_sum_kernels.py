"""Exact solutions of batches of small two-player zero-sum matrix games (Shapley–Snow kernels).

For the row player's payoff matrix ``A`` (``m x n``, row maximizes), every
extreme optimal strategy pair ``(x, y)`` has a *kernel*: a square ``k x k``
submatrix ``M = A[I, J]`` with ``1^T adj(M) 1 != 0`` such that, on the supports
``I`` and ``J`` (Shapley & Snow 1950, "Basic solutions of discrete games"),

    x_I = 1^T adj(M) / (1^T adj(M) 1),   y_J = adj(M) 1 / (1^T adj(M) 1),
    v   = det(M) / (1^T adj(M) 1).

So enumerating all ``sum_k C(m, k) C(n, k) = C(m + n, m) - 1`` square submatrices
(69 for ``4 x 4``) and computing each candidate in closed form solves the game
*exactly*, with no iteration and no data-dependent control flow. Selection:
after clipping each candidate to the simplex, ``x`` is the candidate with the
largest certified floor ``min_j (x^T A)_j`` and ``y`` the one with the smallest
ceiling ``max_i (A y)_i`` (independently: every optimal ``x`` pairs with every
optimal ``y``); the floor is ``v*`` exactly for the kernel's ``x``, so the
returned duality gap is rounding only (~1e-7 relative in float32, ~1e-15 in
float64; tested against ``scipy.optimize.linprog``, degenerate games included).
The ``m n`` kernels of size 1 enter as the ``m`` pure ``x``'s and the ``n`` pure
``y``'s they give (57 candidates per player for ``4 x 4`` instead of 69).

Determinants and adjugates are Leibniz sums over permutations (``k!`` terms),
so the cost grows quickly with the action count: ``MAX_EXACT_CANDIDATES``
(all games up to ``5 x 5``, 251 candidates) bounds where
``minimax_value_iteration`` uses it; beyond that it uses an iterative stage
solver. Batches (games x states) of any size work; batches above ``CHUNK``
games run chunk by chunk in a ``lax.map`` so that the candidate arrays stay in cache.

``solve_zero_sum_warm(A, x0, y0)`` first tries the one kernel on the supports of a guess (in
minimax value iteration, the previous step's stage equilibrium), accepts it where its certified
gap is rounding, and enumerates only the other games (gathered into blocks): the same values to
float rounding, ~15x less work per stage game once the supports settle.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

#: Batches (games x states) larger than this are solved chunk by chunk inside ``lax.map``.
CHUNK = 2048

#: Largest number of kernels (``C(m + n, m) - 1``) enumerated by default: all games up to 5 x 5.
MAX_EXACT_CANDIDATES = 251


def num_kernels(m: int, n: int) -> int:
    """``sum_{k >= 1} C(m, k) C(n, k) = C(m + n, m) - 1``: square submatrices of an ``m x n`` matrix."""
    return math.comb(m + n, m) - 1


def _permutations(k: int):
    perms = np.array(list(itertools.permutations(range(k))), dtype=np.int32).reshape(-1, k)
    signs = np.array([_sign(p) for p in perms], dtype=np.float64)
    return perms, signs


def _sign(p) -> int:
    p, s = list(p), 1
    for i in range(len(p)):
        while p[i] != i:
            j = p[i]
            p[i], p[j] = p[j], p[i]
            s = -s
    return s


# Layout. XLA on CPU runs each unfused operation as a separate loop, so thousands of tiny
# operations cost more than the arithmetic; reductions over small axes (and argmax) are
# slow strided loops (measured 100-1000x slower than the same sums written out); and a
# fusion that reads an array transposed is slow. So: one array ``[C, B]`` per matrix entry,
# candidate kernels ``C`` major and games ``B`` minor (contiguous, vectorized); the action
# axes are Python lists whose sums are written out; the only reductions are a max and a
# sum over the candidates.


def _det(M: list) -> jax.Array:
    """Leibniz determinant of the ``k x k`` nested list ``M`` of equally shaped arrays."""
    k = len(M)
    perms, signs = _permutations(k)
    total = 0.0
    for perm, sign in zip(perms, signs):
        term = M[0][perm[0]]
        for r in range(1, k):
            term = term * M[r][perm[r]]
        total = total + term if sign > 0 else total - term
    return total


def _adjugate(M: list) -> list:
    """``adj(M)[j][i] = (-1)^(i + j) det(M without row i and column j)`` (nested lists)."""
    k = len(M)
    if k == 1:
        return [[jnp.ones_like(M[0][0])]]

    def minor(i, j):
        return [[M[r][c] for c in range(k) if c != j] for r in range(k) if r != i]

    cof = [[_det(minor(i, j)) for j in range(k)] for i in range(k)]
    return [[cof[i][j] if (i + j) % 2 == 0 else -cof[i][j] for i in range(k)] for j in range(k)]


def _kernel_candidates(A: jax.Array, k: int):
    """The ``C = C(m, k) C(n, k)`` kernels of size ``k`` of ``A [m, n, B]``.

    Returns lists ``x`` (length ``m``) and ``y`` (length ``n``) of ``[C, B]``
    arrays: the Shapley–Snow strategies of every kernel, embedded in all
    actions (NaN where ``1^T adj(M) 1 = 0``).
    """
    m, n, batch = A.shape
    rows = np.array(list(itertools.combinations(range(m), k)))  # [Cm, k]
    cols = np.array(list(itertools.combinations(range(n), k)))  # [Cn, k]
    r_idx = np.repeat(rows, len(cols), axis=0)  # [C, k]: candidate = (row set, column set)
    c_idx = np.tile(cols, (len(rows), 1))
    flat = A.reshape(m * n, batch)
    M = [[flat[r_idx[:, p] * n + c_idx[:, q]] for q in range(k)] for p in range(k)]  # k x k of [C, B]
    adj = _adjugate(M)
    total = sum(adj[p][q] for p in range(k) for q in range(k))  # 1^T adj 1
    ok = jnp.abs(total) > 0
    inv = jnp.where(ok, 1.0 / jnp.where(ok, total, 1.0), jnp.nan)
    x_k = [sum(adj[p][q] for p in range(k)) * inv for q in range(k)]  # 1^T adj / (1^T adj 1)
    y_k = [sum(adj[p][q] for q in range(k)) * inv for p in range(k)]  # adj 1 / (1^T adj 1)
    zero = jnp.zeros_like(total)
    x = [sum((x_k[q] * jnp.asarray(r_idx[:, q] == i, A.dtype)[:, None] for q in range(k)), zero) for i in range(m)]
    y = [sum((y_k[p] * jnp.asarray(c_idx[:, p] == j, A.dtype)[:, None] for p in range(k)), zero) for j in range(n)]
    return x, y


def _to_simplex(p: list) -> list:
    """Clip a candidate (list over actions) to the simplex; NaN candidates become uniform."""
    p = [jnp.where(jnp.isfinite(v), jnp.maximum(v, 0.0), 0.0) for v in p]
    total = sum(p)
    ok = total > 0
    safe = jnp.where(ok, total, 1.0)
    return [jnp.where(ok, v / safe, 1.0 / len(p)) for v in p]


def _maximum(values: list) -> jax.Array:
    out = values[0]
    for v in values[1:]:
        out = jnp.maximum(out, v)
    return out


def _minimum(values: list) -> jax.Array:
    out = values[0]
    for v in values[1:]:
        out = jnp.minimum(out, v)
    return out


def _best(scores: jax.Array, strategy: list):
    """Max of ``scores [K, B]`` over candidates and the mean of the strategies attaining it.

    Averaging tied candidates is safe: the floor ``min_j (x^T A)_j`` is concave in
    ``x``, so a mean of strategies with floor ``f`` has floor ``>= f`` (no argmax needed).
    """
    scores = jnp.where(jnp.isnan(scores), -jnp.inf, scores)
    best = jnp.max(scores, axis=0)
    pick = (scores >= best).astype(scores.dtype)
    count = jnp.sum(pick, axis=0)
    return best, [jnp.sum(v * pick, axis=0) / count for v in strategy]


def solve_zero_sum(A: jax.Array):
    """Exact equilibrium of the zero-sum games ``A [..., m, n]`` (row player maximizes).

    Returns ``(value [...], x [..., m], y [..., n], gap [...])``: the value is
    the midpoint of the certified bounds ``min_j (x^T A)_j <= v <= max_i (A y)_i``,
    so ``|value - v*| <= gap / 2``. Jittable and vmappable; the action counts
    are static. Under ``jax.vmap`` the mapped axis joins the batch of games
    (``custom_vmap``): one flat ``[games, m, n]`` solve in cache-sized chunks, laid
    out as unbatched, instead of XLA's batched form of every candidate operation
    (2x slower on CPU for 256 vmapped 64-state Markov games). Example::

        value, x, y, gap = solve_zero_sum(jnp.array([[1.0, -1.0], [-1.0, 1.0]]))  # value 0, x = y = (.5, .5)
    """
    return _solve_differentiable(A)


@jax.custom_jvp
def _solve_differentiable(A: jax.Array):
    return _solve_batched(A)


@_solve_differentiable.defjvp
def _solve_jvp(primals, tangents):
    """Derivatives as before the vmap rule (which JAX cannot differentiate): those of the closed forms."""
    return jax.jvp(_solve_any, primals, tangents)


@jax.custom_batching.custom_vmap
def _solve_batched(A: jax.Array):
    return _solve_any(A)


@_solve_batched.def_vmap
def _solve_batched_vmap(axis_size, in_batched, A):
    """vmap rule: the mapped axis (moved to the front by JAX) is one more batch axis of games."""
    del axis_size
    (batched,) = in_batched
    out = _solve_batched(A)
    return out, (batched,) * 4


def _solve_any(A: jax.Array):
    """``solve_zero_sum`` without the vmap rule: any leading batch shape, chunked above ``CHUNK`` games."""
    m, n = A.shape[-2:]
    batch = A.shape[:-2]
    flat = A.reshape(-1, m, n)
    if flat.shape[0] > CHUNK:
        # Large batches (vmapped games x states) in cache-sized chunks: one chunk's
        # candidate arrays stay in cache, and memory does not grow with the batch.
        count = -(-flat.shape[0] // CHUNK)
        padded = jnp.concatenate([flat, jnp.zeros((count * CHUNK - flat.shape[0], m, n), flat.dtype)])
        out = jax.lax.map(_solve_flat, padded.reshape(count, CHUNK, m, n))
        value, x, y, gap = jax.tree_util.tree_map(
            lambda o: o.reshape(count * CHUNK, *o.shape[2:])[: flat.shape[0]], out
        )
    else:
        value, x, y, gap = _solve_flat(flat)
    return value.reshape(batch), x.reshape(*batch, m), y.reshape(*batch, n), gap.reshape(batch)


def _solve_flat(A: jax.Array):
    """``solve_zero_sum`` on ``A [B, m, n]``."""
    m, n = A.shape[-2:]
    A = jnp.moveaxis(A, 0, -1)  # [m, n, B]
    xs, ys = [[] for _ in range(m)], [[] for _ in range(n)]
    for k in range(1, min(m, n) + 1):
        if k == 1:  # the 1 x 1 kernels (i, j) give the pure strategies: m distinct x's and n distinct y's, not m n
            batch = A.shape[-1]
            x = [jnp.broadcast_to(jnp.asarray(np.arange(m) == i, A.dtype)[:, None], (m, batch)) for i in range(m)]
            y = [jnp.broadcast_to(jnp.asarray(np.arange(n) == j, A.dtype)[:, None], (n, batch)) for j in range(n)]
        else:
            x, y = _kernel_candidates(A, k)
        for i in range(m):
            xs[i].append(x[i])
        for j in range(n):
            ys[j].append(y[j])
    x = _to_simplex([jnp.concatenate(v, axis=0) for v in xs])  # m x [K, B]
    y = _to_simplex([jnp.concatenate(v, axis=0) for v in ys])  # n x [K, B]
    a = [[A[i, j] for j in range(n)] for i in range(m)]
    lower = _minimum([sum(x[i] * a[i][j] for i in range(m)) for j in range(n)])  # min_j (x^T A)_j
    upper = _maximum([sum(y[j] * a[i][j] for j in range(n)) for i in range(m)])  # max_i (A y)_i
    # Every optimal x pairs with every optimal y, so the x with the best guaranteed floor
    # and the y with the best ceiling are chosen independently.
    low, x = _best(lower, x)
    neg_up, y = _best(-upper, y)
    up = -neg_up
    return 0.5 * (low + up), jnp.stack(x, axis=-1), jnp.stack(y, axis=-1), up - low


# ----------------------------------------------------------------------------- warm start

#: A warm-start kernel is accepted when its certified duality gap is at most this many ulps of the
#: game's largest payoff (``eps * max |A|``); otherwise the stage game is enumerated in full.
WARM_GAP_ULPS = 16

#: Failing warm starts are gathered and enumerated in blocks of ``ceil(B / WARM_BLOCK_DIVISOR)`` stage
#: games (at least ``WARM_BLOCK_MIN``; ``B`` games in the batch), as many blocks as needed.
WARM_BLOCK_DIVISOR = 32
WARM_BLOCK_MIN = 64


def solve_zero_sum_warm(A: jax.Array, x0: jax.Array, y0: jax.Array):
    """``solve_zero_sum`` that first tries the kernel on the supports of a guess ``(x0, y0)``.

    The supports ``I = {i: x0_i > 0}`` and ``J = {j: y0_j > 0}`` (say of the previous
    minimax value-iteration step's stage equilibria) name one candidate kernel
    ``M = A[I, J]``, ``|I| = |J| = k``. Its Shapley–Snow strategies come from one
    ``max(m, n)`` square adjugate: ``M`` bordered by a permutation block ``D`` on the
    complementary rows and columns has ``adj = [[det(D) adj(M), 0], [0, det(M) adj(D)]]``
    (up to the common permutation sign), so its row / column sums restricted to ``I`` / ``J``
    are ``1^T adj(M)`` / ``adj(M) 1`` up to one factor that the normalization removes. The
    guess is *accepted* where its certified gap ``max_i (A y)_i - min_j (x^T A)_j`` is at
    most ``WARM_GAP_ULPS`` ulps of ``max |A|``: then ``min_j (x^T A)_j <= v* <= max_i (A y)_i``
    pins the value to float rounding, as the full enumeration does. The other stage games
    (wrong support, ties, no guess) are enumerated in full (``solve_zero_sum``): gathered
    into blocks of ``ceil(B / WARM_BLOCK_DIVISOR)`` games, as many blocks as there are
    failures (a ``while`` loop), and scattered back. A game's result does not depend on the
    rest of the batch. Once the values of value iteration settle, most supports repeat
    from one step to the next, and the check costs ~1/15 of the enumeration (CPU, 4 x 4 games).

    Returns what ``solve_zero_sum`` returns; the value and gap agree with it to float
    rounding (the strategies may differ where the game has several equilibria: both are
    optimal). Derivatives are those of ``solve_zero_sum`` (the guess is piecewise constant).
    Example::

        A = jnp.array([[3.0, -1.0], [-2.0, 1.0]])
        value, x, y, gap = solve_zero_sum_warm(A, jnp.ones(2), jnp.ones(2))  # value 1/7, accepted
    """
    return _warm_differentiable(A, x0, y0)


@jax.custom_jvp
def _warm_differentiable(A, x0, y0):
    return _warm_batched(A, x0, y0)


@_warm_differentiable.defjvp
def _warm_jvp(primals, tangents):
    return jax.jvp(_solve_any, primals[:1], tangents[:1])


@jax.custom_batching.custom_vmap
def _warm_batched(A, x0, y0):
    return _warm_any(A, x0, y0)


@_warm_batched.def_vmap
def _warm_batched_vmap(axis_size, in_batched, A, x0, y0):
    """vmap rule: the mapped axis (moved to the front by JAX) is one more batch axis of games."""
    A, x0, y0 = (v if b else jnp.broadcast_to(v, (axis_size, *v.shape)) for v, b in zip((A, x0, y0), in_batched))
    return _warm_batched(A, x0, y0), (True,) * 4


def _warm_any(A, x0, y0):
    """``solve_zero_sum_warm`` without the vmap rule: any leading batch shape (broadcast)."""
    m, n = A.shape[-2:]
    batch = jnp.broadcast_shapes(A.shape[:-2], x0.shape[:-1], y0.shape[:-1])
    flat = jnp.broadcast_to(A, (*batch, m, n)).reshape(-1, m, n)
    x0 = jnp.broadcast_to(x0, (*batch, m)).reshape(-1, m)
    y0 = jnp.broadcast_to(y0, (*batch, n)).reshape(-1, n)
    value, x, y, gap = _warm_flat(flat, x0, y0)
    return value.reshape(batch), x.reshape(*batch, m), y.reshape(*batch, n), gap.reshape(batch)


def _support_kernel(A: jax.Array, x0: jax.Array, y0: jax.Array):
    """Shapley–Snow strategies of the kernel ``A[I, J]`` named by the supports of ``x0 [B, m]``, ``y0 [B, n]``.

    Returns ``(x, y, low, up)``: ``x [m, B]`` and ``y [n, B]`` on the simplex and their
    certified bounds ``min_j (x^T A)_j``, ``max_i (A y)_i`` (``NaN`` where ``|I| != |J|`` or the
    kernel is singular).
    """
    m, n = A.shape[-2:]
    size = max(m, n)  # rows (columns) past m (n) pad the matrix square and are never in the support
    a = [[A[:, i, j] for j in range(n)] for i in range(m)]
    rows = [x0[:, i] > 0 for i in range(m)] + [jnp.zeros(A.shape[:1], bool)] * (size - m)
    cols = [y0[:, j] > 0 for j in range(n)] + [jnp.zeros(A.shape[:1], bool)] * (size - n)
    # rank of each row (column) among those outside the support: the complements are paired by rank
    out_r, out_c, rank_r, rank_c = [~r for r in rows], [~c for c in cols], [], []
    for out, rank in ((out_r, rank_r), (out_c, rank_c)):
        count = jnp.zeros(A.shape[:1], jnp.int32)
        for o in out:
            rank.append(count)
            count = count + o.astype(jnp.int32)
    same = sum(r.astype(jnp.int32) for r in rows) == sum(c.astype(jnp.int32) for c in cols)
    one, zero = jnp.ones((), A.dtype), jnp.zeros((), A.dtype)
    M = [
        [
            jnp.where(
                rows[i] & cols[j],
                a[i][j] if i < m and j < n else zero,
                jnp.where(out_r[i] & out_c[j] & (rank_r[i] == rank_c[j]), one, zero),
            )
            for j in range(size)
        ]
        for i in range(size)
    ]
    # From here on whole arrays [N, B] with sums over their leading axis: a reduction is materialized,
    # whereas with per-entry lists XLA fused the adjugate into every consumer (~8x the work).
    adj = jnp.stack([jnp.stack(row) for row in _adjugate(M)])  # [p, q, B] = adj(M)_pq
    in_r, in_c = jnp.stack(rows), jnp.stack(cols)  # [size, B]
    xs = jnp.where(in_r, jnp.sum(adj, axis=0), 0.0)  # 1^T adj on I
    ys = jnp.where(in_c, jnp.sum(adj, axis=1), 0.0)  # adj 1 on J
    sx, sy = jnp.sum(xs, axis=0), jnp.sum(ys, axis=0)
    ok = same & (jnp.abs(sx) > 0) & (jnp.abs(sy) > 0)
    x = _clip_to_simplex(jnp.where(ok, xs[:m] / jnp.where(ok, sx, 1.0), jnp.nan))  # [m, B]
    y = _clip_to_simplex(jnp.where(ok, ys[:n] / jnp.where(ok, sy, 1.0), jnp.nan))  # [n, B]
    # the bounds written out (as in _solve_flat): the same sums as [m, n, B] array reductions
    # came out wrong on XLA CPU for B = 16384 (jax 0.10.2), right for B <= 8192
    low = _minimum([sum(x[i] * a[i][j] for i in range(m)) for j in range(n)])
    up = _maximum([sum(y[j] * a[i][j] for j in range(n)) for i in range(m)])
    nan = jnp.asarray(jnp.nan, A.dtype)
    return x, y, jnp.where(ok, low, nan), jnp.where(ok, up, nan)


def _clip_to_simplex(p: jax.Array) -> jax.Array:
    """``_to_simplex`` on an array ``[actions, B]``."""
    p = jnp.where(jnp.isfinite(p), jnp.maximum(p, 0.0), 0.0)
    total = jnp.sum(p, axis=0)
    ok = total > 0
    return jnp.where(ok, p / jnp.where(ok, total, 1.0), 1.0 / p.shape[0])


def _warm_flat(A: jax.Array, x0: jax.Array, y0: jax.Array):
    """``solve_zero_sum_warm`` on ``A [B, m, n]``, ``x0 [B, m]``, ``y0 [B, n]``."""
    size, m, n = A.shape
    x, y, low, up = _support_kernel(A, x0, y0)
    scale = _maximum([jnp.abs(A[:, i, j]) for i in range(m) for j in range(n)])  # written out: see Layout
    gap = up - low
    accept = gap <= WARM_GAP_ULPS * jnp.finfo(A.dtype).eps * scale  # False where NaN
    warm = (0.5 * (low + up), x.T, y.T, gap)

    failed = ~accept
    block = min(size, max(WARM_BLOCK_MIN, -(-size // WARM_BLOCK_DIVISOR)))
    blocks = -(-size // block)
    (idx,) = jnp.nonzero(failed, size=blocks * block, fill_value=size)  # past the end: dropped below

    def solve_block(b, out):
        i = jax.lax.dynamic_slice(idx, (b * block,), (block,))
        solved = _solve_any(A[jnp.minimum(i, size - 1)])
        return tuple(o.at[i].set(s, mode="drop") for o, s in zip(out, solved))

    return jax.lax.fori_loop(0, -(-jnp.sum(failed) // block), solve_block, warm)


def value_bounds(A: jax.Array, x: jax.Array, y: jax.Array):
    """``(min_j (x^T A)_j, max_i (A y)_i)``: certified lower / upper bounds on the value of ``A``."""
    return (
        jnp.min(jnp.einsum("...mn,...m->...n", A, x), axis=-1),
        jnp.max(jnp.einsum("...mn,...n->...m", A, y), axis=-1),
    )


def duality_gap(A: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """``max_i (A y)_i - min_j (x^T A)_j >= 0`` (zero exactly at an equilibrium)."""
    low, up = value_bounds(A, x, y)
    return up - low
