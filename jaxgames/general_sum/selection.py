"""Exact selection of correlated (CE) and coarse correlated (CCE) equilibria of N-player matrix games.

A joint distribution ``p`` over joint actions ``[A_1, ..., A_N]`` is a CE when no player gains by
deviating from a recommended action ``a_i`` to ``a'``, for every ``a_i, a'``:

    sum_{a_-i} p(a_i, a_-i) [u_i(a', a_-i) - u_i(a_i, a_-i)] <= 0          (CE, sum_i A_i (A_i - 1) rows)

and a CCE when no player gains by committing to ``a'`` before seeing the recommendation:

    sum_{a} p(a) [u_i(a', a_-i) - u_i(a)] <= 0                               (CCE, sum_i A_i rows)

(Aumann 1974; Hannan 1957; Moulin & Vial 1978). Both sets are polytopes, nonempty (they contain every
Nash equilibrium) and inside the simplex, so optimizing over them is always feasible and bounded. We
select from them, as OpenSpiel's JPSRO meta-solvers do (Marris et al. 2021, "Multi-Agent Training
beyond Zero-Sum with Correlated Equilibrium Meta-Solvers"):

* maximum welfare ``max sum_i <p, u_i>`` (a linear program; ``mwce``/``mwcce`` in JPSRO);
* maximum Gini impurity ``max 1 - ||p||^2`` (a strictly concave QP, so the solution is unique;
  ``mgce``/``mgcce``);
* maximum entropy ``max -sum p log p`` (strictly concave, unique; the CE of Ortiz, Schapire &
  Kakade 2007).

All go through the interior-point method of ``jaxgames.general_sum.lp`` with slack variables
``s >= 0``: ``G p + s = 0``, ``1^T p = 1``. Everything jits and vmaps over a batch of games (build the
``MatrixGame`` inside the mapped function, or vmap over a batched ``MatrixGame``); use float64
(``jax.enable_x64(True)``) for gaps near ``1e-9``. Under ``jax.vmap`` the games are solved in chunks
of 8, one chunk after another (``jax.custom_batching.custom_vmap``): each chunk's matrices stay in
the CPU's cache and each chunk stops with its own slowest game, more than twice as fast as one
interior-point loop over the whole batch, with the same iterates game by game.

The reported ``gap`` is the equilibrium gap of the returned joint: for a CCE the largest gain of a
player committing to a fixed action, ``max_i max_a' sum_a p(a) [u_i(a', a_-i) - u_i(a)]`` (clipped
at 0); for a CE the largest gain of a player's best deviation plan,
``max_i sum_{a_i} max_a' (row (a_i, a') of the CE constraints)^+``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.general_sum.gaps import cce_gap, ce_gap
from jaxgames.general_sum.lp import MAX_ITERATIONS, SOLVED, check_tol, ipm, raise_for_status
from jaxgames.matrix.game import MatrixGame

KINDS = ("ce", "cce")
OBJECTIVES = ("welfare", "gini", "entropy")


class CorrelatedSolution(NamedTuple):
    """A selected CE/CCE.

    Fields:
      joint: ``[A_1, ..., A_N]`` distribution over joint actions.
      welfare: ``sum_i <joint, u_i>``.
      values: ``[N]`` expected payoffs under ``joint``.
      gap: the CE/CCE gap of ``joint`` (module docstring); ``<= tol`` when ``status`` is 0.
      status: 0 solved (gap ``<= tol``), 3 not converged within ``max_iter`` (see ``lp.status_name``).
      iterations: interior-point iterations.
    """

    joint: jax.Array
    welfare: jax.Array
    values: jax.Array
    gap: jax.Array
    status: jax.Array
    iterations: jax.Array


def _payoffs(game) -> jax.Array:
    payoffs = game.payoffs if hasattr(game, "own_first") else jnp.asarray(game)
    if payoffs.ndim < 3 or payoffs.ndim != payoffs.shape[0] + 1:
        raise ValueError(f"game: expected a MatrixGame or payoffs [N, A_1, ..., A_N], got shape {payoffs.shape}")
    return payoffs.astype(jnp.result_type(payoffs.dtype, jnp.float32))


def deviation_gains(payoffs, kind: str = "ce") -> jax.Array:
    """The CE or CCE constraint matrix ``G``: ``p`` is an equilibrium iff ``G @ p.ravel() <= 0``.

    Args:
      payoffs: ``[N, A_1, ..., A_N]``.
      kind: ``"ce"`` (rows ``(i, a_i, a')`` for ``a' != a_i``, player-major, then ``a_i``, then ``a'``) or
        ``"cce"`` (rows ``(i, a')``).

    Returns:
      ``[rows, prod A]``: the gain of each deviation, per joint action.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgames.general_sum.selection import deviation_gains
      >>> chicken = jnp.array([[[0.0, -1.0], [1.0, -10.0]], [[0.0, 1.0], [-1.0, -10.0]]])
      >>> deviation_gains(chicken, "cce").shape
      (4, 4)
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    n = payoffs.shape[0]
    shape = payoffs.shape[1:]
    size = int(np.prod(shape))
    rows = []
    for i in range(n):
        own = jnp.moveaxis(payoffs[i], i, 0)  # [A_i, rest]
        a_i = shape[i]
        if kind == "cce":
            # row a': u_i(a', a_-i) - u_i(a) for every joint a
            gains = own[:, None] - own[None, :]  # [a', a_i, rest]
            rows.append(jnp.moveaxis(gains, 1, 1 + i).reshape(a_i, size))
        else:
            flat = own.reshape(a_i, -1)
            diff = flat[None, :] - flat[:, None]  # [a_i, a', rest]: u_i(a', .) - u_i(a_i, .)
            eye = jnp.eye(a_i, dtype=payoffs.dtype)
            full = eye[:, None, :, None] * diff[:, :, None, :]  # [a_i, a', own action, rest]
            full = full.reshape((a_i, a_i, a_i) + own.shape[1:])
            full = jnp.moveaxis(full, 2, 2 + i).reshape(a_i * a_i, size)
            off = np.array([r * a_i + d for r in range(a_i) for d in range(a_i) if r != d], dtype=np.int32)
            rows.append(full[off])
    return jnp.concatenate(rows, axis=0)


def equilibrium_gap(payoffs, joint, kind: str = "ce") -> jax.Array:
    """The CE/CCE gap of ``joint`` ``[A_1, ..., A_N]``: ``jaxgames.general_sum.ce_gap`` / ``cce_gap``."""
    game = MatrixGame(_payoffs(payoffs))
    return ce_gap(game, joint) if kind == "ce" else cce_gap(game, joint)


def _restricted(payoffs, actions):
    """Payoffs whose deviations to actions out of play gain nothing: player ``i``'s payoff wherever its
    own action is out of play is below every payoff (the joint puts no mass there)."""
    low = jnp.min(payoffs) - 1.0
    out = []
    for i, a in enumerate(actions):
        own = a.reshape((-1,) + (1,) * (payoffs.ndim - 2 - i))
        out.append(jnp.where(own, payoffs[i], low))
    return jnp.stack(out)


def correlated_equilibrium(
    game,
    kind: str = "ce",
    objective: str = "welfare",
    *,
    tol: float | None = None,
    max_iter: int = 100,
    check: bool = True,
    actions=None,
) -> CorrelatedSolution:
    """Select a CE or CCE of an N-player matrix game by maximum welfare, Gini impurity or entropy.

    Solves, over ``p >= 0`` with ``1^T p = 1`` and ``G p <= 0`` (``deviation_gains``):

    * ``welfare``: ``max sum_i <p, u_i>`` (LP);
    * ``gini``: ``max 1 - ||p||^2`` (QP, Marris et al. 2021);
    * ``entropy``: ``max -sum_a p(a) log p(a)`` (Ortiz, Schapire & Kakade 2007),

    by the primal-dual interior-point method ``jaxgames.general_sum.lp.ipm`` (Mehrotra's
    predictor-corrector; each iteration one Cholesky factorization of a ``rows + 1`` square matrix).
    The returned joint is clipped at 0 and renormalized, and its gap is computed exactly.

    Args:
      game: a ``MatrixGame`` (payoffs ``[N, A_1, ..., A_N]``) or the payoff array itself.
      kind: ``"ce"`` or ``"cce"``.
      objective: ``"welfare"``, ``"gini"`` or ``"entropy"``.
      tol: > 0; the interior-point residual tolerance, and the bound on the returned gap (relative to
        the payoff range ``1 + max |u|``). ``None``: ``1e-8`` for float64 payoffs, ``1e-4`` for float32,
        whose rounding cannot reach less (a smaller ``tol`` with float32 payoffs is refused).
      max_iter: interior-point iteration cap.
      check: on concrete input, raise a ``ValueError`` if any problem was not solved.
      actions: optional, per player a bool mask ``[A_i]`` (a tuple, or an ``[N, A]`` array when every
        ``A_i = A``) of the actions in play: the equilibrium of the game restricted to them, with the
        others at probability 0 and not available as deviations (JPSRO's growing meta-game, at a fixed
        shape). Each player needs at least one action in play. ``None``: every action.

    Returns:
      ``CorrelatedSolution`` (joint ``[A_1, ..., A_N]``, welfare, values ``[N]``, gap, status, iterations).

    Example:
      >>> import jax
      >>> import jaxgames
      >>> from jaxgames.general_sum.selection import correlated_equilibrium
      >>> with jax.enable_x64(True):
      ...     game = jaxgames.matrix.bimatrix([[6.0, 2.0], [7.0, 0.0]], [[6.0, 7.0], [2.0, 0.0]])  # chicken
      ...     sol = correlated_equilibrium(game, "ce", "welfare")
      >>> round(float(sol.welfare), 6)  # 1/2 on (C, C), 1/4 on each of (C, D), (D, C)
      10.5
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: expected one of {OBJECTIVES}, got {objective!r}")
    payoffs = _payoffs(game)
    tol = _tolerance(tol, payoffs.dtype)
    if actions is not None:
        actions = tuple(jnp.asarray(a, bool) for a in actions)
        shapes = tuple(a.shape for a in actions)
        if shapes != tuple((n,) for n in payoffs.shape[1:]):
            raise ValueError(f"actions: expected one bool mask per player of shapes {payoffs.shape[1:]}, got {shapes}")
        if not any(isinstance(a, jax.core.Tracer) for a in actions) and not all(bool(a.any()) for a in actions):
            raise ValueError("actions: expected at least one action in play for every player")
    sol = _solve(payoffs, kind, objective, tol, max_iter, actions)
    if check and not isinstance(sol.status, jax.core.Tracer):
        raise_for_status(sol.status, f"correlated_equilibrium(kind={kind!r}, objective={objective!r})")
    return sol


def _tolerance(tol, dtype) -> float:
    single = jnp.finfo(dtype).bits < 64
    if tol is None:
        return 1e-4 if single else 1e-8
    tol = check_tol(tol)
    if single and tol < 1e-5:
        raise ValueError(
            f"tol: {tol:g} is below what float32 payoffs can reach (1e-5); pass float64 payoffs (build the game "
            f"under jax.enable_x64(True)) or tol >= 1e-5"
        )
    return tol


def _in_play(payoffs, kind, actions):
    """``(columns [prod A], rows [rows])``: 1 for the joint actions and deviations of the restricted game."""
    dtype = payoffs.dtype
    columns = functools.reduce(lambda acc, a: acc[..., None] & a, actions[1:], actions[0]).reshape(-1)
    rows = []
    for a in actions:
        if kind == "cce":
            rows.append(a)
        else:
            pairs = a[:, None] & a[None, :]
            off = np.array([[r, d] for r in range(a.shape[0]) for d in range(a.shape[0]) if r != d], np.int32)
            rows.append(pairs[off[:, 0], off[:, 1]] if off.size else jnp.zeros((0,), bool))
    return columns.astype(dtype), jnp.concatenate(rows).astype(dtype)


def _normal(G, C, E):
    """``d -> A diag(d) A^T`` for ``A = [[G, I, 0], [C, 0, E]]`` (over ``x = (p, s, t)``) from its blocks: the
    slack identity costs nothing and the product runs over the joint actions only (``rows^2 prod A`` flops
    instead of ``rows^2 (prod A + rows)``)."""
    size, rows = G.shape[1], G.shape[0]

    def normal(D):
        dp, ds, dt = D[:size], D[size : size + rows], D[size + rows :]
        Gd = G * dp
        top_right = Gd @ C.T
        bottom_right = (C * dp) @ C.T + (E * dt) @ E.T
        return jnp.block([[Gd @ G.T + jnp.diag(ds), top_right], [top_right.T, bottom_right]])

    return normal


# Games per vmapped interior-point loop when a batch is solved under jax.vmap (``_batched``).
_CHUNK = 8


@functools.partial(jax.jit, static_argnames=("kind", "objective", "tol", "max_iter"))
def _solve(payoffs, kind, objective, tol, max_iter, actions=None) -> CorrelatedSolution:
    """``_solve_one`` through ``_batched`` (chunked under ``jax.vmap``)."""
    return _batched(kind, objective, tol, max_iter, _CHUNK)((payoffs, actions))


@functools.cache
def _batched(kind: str, objective: str, tol: float, max_iter: int, chunk: int):
    """``_solve_one``, whose ``jax.vmap`` solves the batch in chunks of ``chunk`` games, one after another.

    A plain ``jax.vmap`` runs one interior-point loop over the whole batch: every iteration streams
    every game's matrices (the constraint matrix, the normal matrix and its Cholesky factor, ~60 KB
    per 3-player 4x4x4 CE) through memory once per operation, and the loop lasts as long as the
    slowest of all the games. By chunks (``jax.lax.map`` over ``jax.vmap`` of ``chunk`` games) a chunk's
    data stays in cache and each chunk stops with its own slowest game: on 1,000 such games on a CPU
    the batch is solved more than twice as fast (``benchmarks/bench_correlated.py``). Chunks of 8 measured
    best (max-welfare CE, CPU time: 20 games 1.3x slower, 40 games 1.4x, 1 game 1.2x). Same iterates, game
    by game, as the plain vmap. A batch that is not a multiple of ``chunk`` is padded with copies of its
    first game.
    """

    def one(args):
        payoffs, actions = args
        return _solve_one(payoffs, kind, objective, tol, max_iter, actions)

    @jax.custom_batching.custom_vmap
    def solve(args):
        return one(args)

    @solve.def_vmap
    def rule(axis_size, in_batched, args):
        (batched,) = in_batched
        args = jax.tree.map(lambda a, b: a if b else jnp.broadcast_to(a, (axis_size,) + jnp.shape(a)), args, batched)
        if axis_size <= chunk:
            out = jax.vmap(one)(args)
        else:
            num = -(-axis_size // chunk)
            pad = num * chunk - axis_size  # filled with copies of the first game, dropped after

            def split(a):
                a = jnp.concatenate([a, jnp.broadcast_to(a[:1], (pad,) + a.shape[1:])]) if pad else a
                return a.reshape((num, chunk) + a.shape[1:])

            out = jax.lax.map(jax.vmap(one), jax.tree.map(split, args))
            out = jax.tree.map(lambda a: a.reshape((num * chunk,) + a.shape[2:])[:axis_size], out)
        return out, jax.tree.map(lambda _: True, out)

    return solve


def _solve_one(payoffs, kind, objective, tol, max_iter, actions=None) -> CorrelatedSolution:
    """The interior-point problem in standard form over ``x = (p, s, t)``: ``G p + s = 0`` (slacks
    ``s >= 0``), ``1^T p = 1``; with ``actions``, the joint actions out of play are moved out of these
    rows into one of their own, ``sum p_out + t = 1 + #out``, with no cost (so they sit at an interior
    point that touches nothing), and the deviation rows out of play become ``s = 1``."""
    dtype = payoffs.dtype
    shape = payoffs.shape[1:]
    size = int(np.prod(shape))
    scale = 1.0 + jnp.max(jnp.abs(payoffs))
    G = deviation_gains(payoffs, kind) / scale
    rows = G.shape[0]
    column = jnp.ones((size,), dtype)
    b = jnp.zeros((rows,), dtype)
    C, E, b_extra = column[None, :], jnp.zeros((1, 0), dtype), jnp.ones((1,), dtype)
    if actions is not None:
        column, row = _in_play(payoffs, kind, actions)
        G = G * row[:, None] * column[None, :]
        b = 1.0 - row
        out = 1.0 - column
        C, E = jnp.stack([column, out]), jnp.array([[0.0], [1.0]], dtype)
        b_extra = jnp.stack([jnp.ones((), dtype), 1.0 + jnp.sum(out)])
    k, e = E.shape
    A = jnp.block([[G, jnp.eye(rows, dtype=dtype), jnp.zeros((rows, e), dtype)], [C, jnp.zeros((k, rows), dtype), E]])
    b = jnp.concatenate([b, b_extra])
    width = A.shape[1]
    welfare_vec = jnp.sum(payoffs, axis=0).reshape(-1)
    c = jnp.zeros((width,), dtype)
    q = entropy = None
    if objective == "welfare":
        c = c.at[:size].set(-welfare_vec * column / scale)
    elif objective == "gini":
        q = jnp.zeros((width,), dtype).at[:size].set(2.0 * column)
    else:
        entropy = jnp.zeros((width,), dtype).at[:size].set(column)
    # The interior-point tolerance is tighter than tol: the returned gap is then below tol.
    # No iterative refinement of the Newton solves: on these small, Jacobi-scaled normal matrices it changes no
    # iteration count (1,000 random 4x4x4 CE: mean 10.84, max 18, with or without) and saves 2 of 4 solves an
    # iteration.
    res = ipm(
        c, A, b, q, entropy, tol=tol * 1e-1, max_iter=max_iter, normal=_normal(G, C, E), predictor_refinement=0,
        corrector_refinement=0,
    )  # fmt: skip
    p = jnp.maximum(res.x[:size], 0.0) * column
    p = p / jnp.sum(p)
    joint = p.reshape(shape)
    gap = equilibrium_gap(payoffs if actions is None else _restricted(payoffs, actions), joint, kind)
    values = jnp.sum(payoffs.reshape(payoffs.shape[0], -1) * p, axis=1)
    ok = res.converged & (gap <= tol * scale)
    status = jnp.where(ok, SOLVED, MAX_ITERATIONS).astype(jnp.int32)
    return CorrelatedSolution(
        joint=joint,
        welfare=jnp.sum(values),
        values=values,
        gap=gap,
        status=status,
        iterations=res.iterations,
    )


def max_welfare_ce(game, *, tol: float | None = None, max_iter: int = 100, check: bool = True) -> CorrelatedSolution:
    """The maximum-welfare correlated equilibrium (an LP); see ``correlated_equilibrium``."""
    return correlated_equilibrium(game, "ce", "welfare", tol=tol, max_iter=max_iter, check=check)


def max_welfare_cce(game, *, tol: float | None = None, max_iter: int = 100, check: bool = True) -> CorrelatedSolution:
    """The maximum-welfare coarse correlated equilibrium (an LP); see ``correlated_equilibrium``."""
    return correlated_equilibrium(game, "cce", "welfare", tol=tol, max_iter=max_iter, check=check)


def max_gini_ce(game, *, tol: float | None = None, max_iter: int = 100, check: bool = True) -> CorrelatedSolution:
    """The maximum-Gini (``1 - ||p||^2``) correlated equilibrium, unique (a QP; Marris et al. 2021)."""
    return correlated_equilibrium(game, "ce", "gini", tol=tol, max_iter=max_iter, check=check)


def max_gini_cce(game, *, tol: float | None = None, max_iter: int = 100, check: bool = True) -> CorrelatedSolution:
    """The maximum-Gini coarse correlated equilibrium, unique (a QP; Marris et al. 2021)."""
    return correlated_equilibrium(game, "cce", "gini", tol=tol, max_iter=max_iter, check=check)


def max_entropy_ce(game, *, tol: float | None = None, max_iter: int = 100, check: bool = True) -> CorrelatedSolution:
    """The maximum-entropy correlated equilibrium, unique (Ortiz, Schapire & Kakade 2007)."""
    return correlated_equilibrium(game, "ce", "entropy", tol=tol, max_iter=max_iter, check=check)


def max_entropy_cce(game, *, tol: float | None = None, max_iter: int = 100, check: bool = True) -> CorrelatedSolution:
    """The maximum-entropy coarse correlated equilibrium, unique."""
    return correlated_equilibrium(game, "cce", "entropy", tol=tol, max_iter=max_iter, check=check)
