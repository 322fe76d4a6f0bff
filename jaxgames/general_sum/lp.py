"""Small dense LPs and separable convex programs in JAX: a batched primal-dual interior-point method.

Every program is brought to the standard form

    minimize   c^T x + sum_j (q_j / 2) x_j^2 + sum_{j: e_j = 1} x_j log x_j
    subject to A x = b,  x >= 0,

with a diagonal quadratic ``q >= 0`` (the Gini objective of Marris et al. 2021) and an entropy mask
``e`` (the maximum-entropy objective): the Hessian of the objective is diagonal, so one Newton step of
the KKT system costs one Cholesky factorization of the normal matrix ``A D A^T`` with
``D = (H + Z X^{-1})^{-1}`` diagonal. The method is Mehrotra's predictor-corrector (Mehrotra 1992;
Wright 1997, "Primal-Dual Interior-Point Methods", ch. 10) from the infeasible start ``x = z = 1``,
``y = 0``, stopped when the scaled primal and dual residuals and the duality gap are all below
``tol``:

    ||A x - b||_inf <= tol (1 + ||b||_inf),   ||grad f(x) - A^T y - z||_inf <= tol (1 + ||c||_inf),
    x^T z <= tol (1 + |f(x)|).

It returns the best iterate by this merit (the largest of the three scaled quantities). Near the
optimum the normal matrix becomes nearly singular; it is Jacobi-scaled, regularized by ``1e-13 I``
and the regularization undone by iterative refinement, and once the merit is below ``sqrt(tol)``
the method also stops after 5 steps without a better iterate (on degenerate LPs such as Leduc's
sequence form the residuals stall around 1e-8 in float64). It is written for many small problems
at once (``jax.vmap`` over a batch: every problem runs in one ``lax.while_loop``, finished ones
frozen) and reaches ``tol = 1e-9`` in float64 in 10-25 iterations; in float32 use ``tol`` around
``1e-5``.

Why our own method and not mpax (PDLP-type, ``mpax.r2HPDHG``): on the problems of this package
(3-player 4x4x4 correlated-equilibrium LPs, 100 standard-form variables and 37 constraints) a
first-order method needs hundreds to thousands of iterations to reach 1e-9 (mpax on 200 games:
median ~900, max ~3,800; ``jax.vmap`` of its solve runs the batch until the slowest problem
finishes), against 10-18 interior-point iterations whose linear algebra (a 37x37 Cholesky per game)
is tiny: ``benchmarks/bench_correlated.py`` measures both in the same run (mpax 4-9x slower per game).
The interior-point method also reaches 1e-9 in float64, jits and vmaps. PDHG wins on large sparse
LPs, which are not what this package solves.

Infeasible or unbounded LPs (``linear_program``): when the main solve does not converge, two
auxiliary problems, each feasible and bounded, decide which: the Farkas problem
``max b^T y s.t. A^T y <= 0, -1 <= y <= 1`` (positive value: the LP is infeasible) and the ray
problem ``min c^T d s.t. A d = 0, 1^T d <= 1, d >= 0`` (negative value, the LP being feasible: it is
unbounded).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse as jsparse

from jaxgames.core import Policy

SOLVED, INFEASIBLE, UNBOUNDED, MAX_ITERATIONS = 0, 1, 2, 3
_REFINEMENT_STEPS = 2  # ipm: iterative-refinement steps per Newton solve
# ipm's entropy term is (x + s) log(x + s): its gradient stays finite at x = 0, so a maximum-entropy
# program whose optimum has zeros (a dominated action) still has KKT multipliers; the optimum moves by
# O(s log s).
_ENTROPY_SHIFT = 1e-12
STATUS_NAMES = ("solved", "infeasible", "unbounded", "max_iterations")


def status_name(status) -> str:
    """The name of a (concrete) status code: ``"solved"``, ``"infeasible"``, ``"unbounded"``, ``"max_iterations"``."""
    return STATUS_NAMES[int(status)]


def check_tol(tol, name: str = "tol") -> float:
    """``tol`` as a float; a ``ValueError`` naming it unless it is a number > 0."""
    try:
        value = float(tol)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number > 0, got {tol!r}") from None
    if not value > 0 or not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number > 0, got {tol!r}")
    return value


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


# ------------------------------------------------------------------------------------- the core solver
class IPMResult(NamedTuple):
    """Output of the standard-form interior-point method ``ipm``."""

    x: jax.Array  # [n] primal solution
    y: jax.Array  # [m] multipliers of A x = b (the Lagrangian is f(x) - y^T (A x - b) - z^T x)
    z: jax.Array  # [n] multipliers of x >= 0
    objective: jax.Array  # f(x)
    converged: jax.Array  # bool
    iterations: jax.Array  # int


def ipm(
    c,
    A,
    b,
    q=None,
    entropy=None,
    *,
    tol: float = 1e-9,
    max_iter: int = 100,
    pattern=None,
    normal: Callable | None = None,
    predictor_refinement: int = _REFINEMENT_STEPS,
    corrector_refinement: int = _REFINEMENT_STEPS,
) -> IPMResult:
    """Mehrotra predictor-corrector for ``min c^T x + sum q x^2 / 2 + sum_{entropy} x log x, A x = b, x >= 0``.

    Args:
      c: ``[n]`` linear cost.
      A: ``[m, n]`` equality matrix, full row rank (a tiny diagonal regularization keeps a rank-deficient
        one solvable).
      b: ``[m]`` right-hand side.
      q: ``[n]`` diagonal of the quadratic term (``>= 0``), or ``None`` (a linear program).
      entropy: ``[n]`` 0/1 mask of the coordinates carrying ``x log x``, or ``None``.
      tol: relative tolerance on the residuals and the duality gap (see the module docstring).
      max_iter: iteration cap; ``converged`` is false when it is reached.
      pattern: optional host ``(rows, cols)`` integer arrays listing every possibly nonzero entry of ``A``;
        the normal matrix is then formed as a sparse-dense product (``nnz * m`` instead of
        ``m^2 n`` flops: what makes Leduc's sequence-form LP take seconds rather than minutes).
      normal: optional function ``d [n] -> A diag(d) A^T [m, m]`` that exploits a structure of ``A``
        (``jaxgames.general_sum.selection`` forms the correlated-equilibrium one from the deviation block
        alone); overrides ``pattern``.
      predictor_refinement: iterative-refinement steps of the predictor (affine-scaling) solve, 2 by
        default like the corrector's; the predictor only sets the centering and the second-order term, and
        on small well-scaled programs (correlated equilibria) 0 gives the same iterates for fewer solves.
      corrector_refinement: iterative-refinement steps of the corrector solve, 2 by default. The stopping
        test always uses freshly computed residuals, so fewer steps only risk more iterations; on the
        correlated-equilibrium programs 0 gives the same iteration counts for 2 fewer solves per iteration.

    Returns:
      ``IPMResult``. Vmap it for a batch; jit it (``tol``, ``max_iter`` static).

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgames.general_sum.lp import ipm
      >>> r = ipm(jnp.array([1.0, 2.0]), jnp.array([[1.0, 1.0]]), jnp.array([1.0]))
      >>> round(float(r.objective), 6)
      1.0
    """
    c = jnp.asarray(c)
    dtype = jnp.result_type(c.dtype, jnp.float32)
    c = c.astype(dtype)
    A = jnp.asarray(A, dtype)
    b = jnp.asarray(b, dtype)
    m, n = A.shape
    linear = q is None and entropy is None
    q = jnp.zeros((n,), dtype) if q is None else jnp.asarray(q, dtype)
    ent = jnp.zeros((n,), dtype) if entropy is None else jnp.asarray(entropy, dtype)
    eps = jnp.finfo(dtype).eps
    b_scale = 1.0 + jnp.max(jnp.abs(b), initial=0.0)
    c_scale = 1.0 + jnp.max(jnp.abs(c), initial=0.0)
    reg = jnp.sqrt(eps) * 1e-2 * (1.0 + jnp.max(jnp.abs(A), initial=0.0) ** 2)

    def fun(x):
        if linear:
            return c @ x
        return c @ x + 0.5 * jnp.sum(q * x * x) + jnp.sum(ent * (x + _ENTROPY_SHIFT) * jnp.log(x + _ENTROPY_SHIFT))

    def grad_hess(x):
        if linear:  # the zero quadratic and entropy terms cost operations the compiler cannot drop (NaN rules)
            return c, jnp.zeros_like(x)
        return c + q * x + ent * (jnp.log(x + _ENTROPY_SHIFT) + 1.0), q + ent / (x + _ENTROPY_SHIFT)

    def residuals(x, y, z):
        g, _ = grad_hess(x)
        rp = b - A @ x
        rd = g - A.T @ y - z
        return rp, rd

    def merit(x, y, z, rp, rd):
        """The largest of the scaled primal residual, dual residual and duality gap: converged when <= tol."""
        return jnp.maximum(
            jnp.maximum(jnp.max(jnp.abs(rp), initial=0.0) / b_scale, jnp.max(jnp.abs(rd)) / c_scale),
            (x @ z) / (1.0 + jnp.abs(fun(x))),
        )

    def max_step(v, dv):
        ratio = jnp.where(dv < 0, -v / jnp.where(dv < 0, dv, -1.0), jnp.inf)
        return jnp.minimum(1.0, jnp.min(ratio))

    def step(state):
        # rp, rd: the residuals of (x, y, z), computed with the merit at the end of the previous step
        x, y, z, rp, rd, it, _, best, best_merit, stall = state
        _, h = grad_hess(x)
        mu = (x @ z) / n
        D = 1.0 / (h + z / x)
        if normal is not None:
            M = normal(D)
        elif pattern is None:
            M = (A * D) @ A.T
        else:
            rows, cols = pattern
            idx = jnp.stack([jnp.asarray(rows), jnp.asarray(cols)], axis=1)
            M = jsparse.BCOO((A[rows, cols] * D[cols], idx), shape=(m, n)) @ A.T
        # Near the optimum the rows of M differ in scale by many orders of magnitude and M is nearly
        # singular: Jacobi-scale it, regularize the scaled matrix by 1e-13 I, and undo the regularization
        # by two steps of iterative refinement against M itself.
        sc = 1.0 / jnp.sqrt(jnp.diagonal(M) + reg)
        L = jnp.linalg.cholesky(sc[:, None] * M * sc[None, :] + 1e-13 * jnp.eye(m, dtype=dtype))

        def solve(r):
            return sc * jax.scipy.linalg.cho_solve((L, True), sc * r)

        def direction(rc, refine):
            rhs = rp - A @ (D * (rc / x - rd))
            dy = solve(rhs)
            for _ in range(refine):
                dy = dy + solve(rhs - M @ dy)
            dx = D * (A.T @ dy + rc / x - rd)
            dz = (rc - z * dx) / x
            return dx, dy, dz

        dx_a, dy_a, dz_a = direction(-x * z, predictor_refinement)
        ap, ad = max_step(x, dx_a), max_step(z, dz_a)
        if not linear:
            ap = ad = jnp.minimum(ap, ad)
        mu_aff = ((x + ap * dx_a) @ (z + ad * dz_a)) / n
        sigma = jnp.clip(mu_aff / mu, 0.0, 1.0) ** 3
        dx, dy, dz = direction(-x * z - dx_a * dz_a + sigma * mu, corrector_refinement)
        eta = jnp.clip(1.0 - mu, 0.9, 0.99)
        ap, ad = eta * max_step(x, dx), eta * max_step(z, dz)
        if not linear:
            ap = ad = jnp.minimum(ap, ad)
        nx, ny, nz = x + ap * dx, y + ad * dy, z + ad * dz
        ok = jnp.all(jnp.isfinite(nx)) & jnp.all(jnp.isfinite(ny)) & jnp.all(jnp.isfinite(nz))
        ok = ok & jnp.all(nx > 0) & jnp.all(nz > 0)
        nx, ny, nz = (jnp.where(ok, new, old) for new, old in ((nx, x), (ny, y), (nz, z)))
        nrp, nrd = residuals(nx, ny, nz)
        new_merit = merit(nx, ny, nz, nrp, nrd)
        better = new_merit < best_merit
        best = tuple(jnp.where(better, new, old) for new, old in zip((nx, ny, nz), best))
        stall = jnp.where(better, 0, stall + 1)
        return nx, ny, nz, nrp, nrd, it + 1, ~ok, best, jnp.minimum(new_merit, best_merit), stall

    def cond(state):
        x, y, z, rp, rd, it, stuck, best, best_merit, stall = state
        # Stop at tol, at max_iter, on a failed step, or, once close (merit <= sqrt(tol)), after 5 steps
        # without a better iterate: near the optimum of a degenerate LP the normal equations lose
        # accuracy and the residuals stall.
        return (it < max_iter) & ~stuck & (best_merit > tol) & ((stall < 5) | (best_merit > jnp.sqrt(tol)))

    x0 = jnp.ones((n,), dtype)
    z0 = jnp.ones((n,), dtype)
    y0 = jnp.zeros((m,), dtype)
    rp0, rd0 = residuals(x0, y0, z0)
    merit0 = merit(x0, y0, z0, rp0, rd0)
    init = (x0, y0, z0, rp0, rd0, jnp.int32(0), jnp.bool_(False), (x0, y0, z0), merit0, jnp.int32(0))
    _, _, _, _, _, it, _, (x, y, z), best_merit, _ = jax.lax.while_loop(cond, step, init)
    return IPMResult(x=x, y=y, z=z, objective=fun(x), converged=best_merit <= tol, iterations=it)


# ------------------------------------------------------------------------------------- linear programs
class LPResult(NamedTuple):
    """A linear program's solution.

    ``x`` ``[n]``; ``objective`` ``c^T x``; ``status`` (``SOLVED`` 0, ``INFEASIBLE`` 1, ``UNBOUNDED`` 2,
    ``MAX_ITERATIONS`` 3; ``status_name`` turns it into a word); ``dual_ub`` ``[m_ub] >= 0`` and
    ``dual_eq`` ``[m_eq]`` the multipliers (``c + A_ub^T dual_ub + A_eq^T dual_eq >= 0``, the sign
    convention of ``scipy.optimize.linprog``'s ``marginals`` negated); ``iterations``.
    """

    x: jax.Array
    objective: jax.Array
    status: jax.Array
    dual_ub: jax.Array
    dual_eq: jax.Array
    iterations: jax.Array


def _standard_form(c, A_ub, b_ub, A_eq, b_eq):
    c = jnp.asarray(c)
    dtype = jnp.result_type(c.dtype, jnp.float32)
    c = c.astype(dtype)
    if c.ndim != 1:
        raise ValueError(f"c: expected shape [n], got shape {tuple(c.shape)}")
    n = c.shape[0]

    def pair(M, v, name):
        if M is None and v is None:
            return jnp.zeros((0, n), dtype), jnp.zeros((0,), dtype)
        if M is None or v is None:
            raise ValueError(f"A_{name}, b_{name}: give both or neither")
        M, v = jnp.asarray(M, dtype), jnp.asarray(v, dtype)
        if M.ndim != 2 or M.shape[1] != n or v.shape != (M.shape[0],):
            raise ValueError(
                f"A_{name}, b_{name}: expected shapes [m, {n}] and [m], got {tuple(M.shape)} and {tuple(v.shape)}"
            )
        return M, v

    A_ub, b_ub = pair(A_ub, b_ub, "ub")
    A_eq, b_eq = pair(A_eq, b_eq, "eq")
    m_ub, m_eq = A_ub.shape[0], A_eq.shape[0]
    A = jnp.block([[A_ub, jnp.eye(m_ub, dtype=dtype)], [A_eq, jnp.zeros((m_eq, m_ub), dtype)]])
    b = jnp.concatenate([b_ub, b_eq])
    return jnp.concatenate([c, jnp.zeros((m_ub,), dtype)]), A, b, n, m_ub


def _diagnose(c, A, b, tol, max_iter):
    """``INFEASIBLE``, ``UNBOUNDED`` or ``MAX_ITERATIONS`` for a standard-form LP the main solve did not finish."""
    m, n = A.shape
    dtype = A.dtype
    scale = 1.0 + jnp.max(jnp.abs(A), initial=0.0) + jnp.max(jnp.abs(b), initial=0.0)
    # Farkas: max b^T y, A^T y <= 0, -1 <= y <= 1. Variables u = y + 1 in [0, 2], slacks s, t:
    # A^T u + s = A^T 1, u + t = 2.
    Af = jnp.block([[A.T, jnp.eye(n, dtype=dtype), jnp.zeros((n, m), dtype)], [jnp.eye(m, dtype=dtype),
                    jnp.zeros((m, n), dtype), jnp.eye(m, dtype=dtype)]])  # fmt: skip
    bf = jnp.concatenate([A.T @ jnp.ones((m,), dtype), jnp.full((m,), 2.0, dtype)])
    cf = jnp.concatenate([-b, jnp.zeros((n + m,), dtype)])
    farkas = -(ipm(cf, Af, bf, tol=tol, max_iter=max_iter).objective + jnp.sum(b))  # b^T (u - 1)
    # Ray: min c^T d, A d = 0, 1^T d + r = 1, d, r >= 0.
    Ar = jnp.block([[A, jnp.zeros((m, 1), dtype)], [jnp.ones((1, n + 1), dtype)]])
    br = jnp.concatenate([jnp.zeros((m,), dtype), jnp.ones((1,), dtype)])
    cr = jnp.concatenate([c, jnp.zeros((1,), dtype)])
    ray = ipm(cr, Ar, br, tol=tol, max_iter=max_iter).objective
    thresh = jnp.sqrt(tol) * scale
    c_thresh = jnp.sqrt(tol) * (1.0 + jnp.max(jnp.abs(c)))
    return jnp.where(farkas > thresh, INFEASIBLE, jnp.where(ray < -c_thresh, UNBOUNDED, MAX_ITERATIONS))


def linear_program(
    c, A_ub=None, b_ub=None, A_eq=None, b_eq=None, *, tol: float = 1e-9, max_iter: int = 100, check: bool = True
) -> LPResult:
    """Solve ``min c^T x s.t. A_ub x <= b_ub, A_eq x = b_eq, x >= 0`` by the interior-point method ``ipm``.

    The form of ``scipy.optimize.linprog`` with its default bounds ``x >= 0``. Inequalities get
    slack variables; when the solve does not converge, two auxiliary LPs (module docstring) tell an
    infeasible LP from an unbounded one, and ``status`` says which.

    Args:
      c: ``[n]`` cost.
      A_ub, b_ub: ``[m_ub, n]``, ``[m_ub]`` inequalities (or ``None``).
      A_eq, b_eq: ``[m_eq, n]``, ``[m_eq]`` equalities (or ``None``).
      tol: relative tolerance (> 0) of the interior-point method; ``1e-9`` suits float64.
      max_iter: iteration cap of each interior-point solve.
      check: on concrete (non-traced) input, raise a ``ValueError`` naming the status when the LP is
        infeasible, unbounded or unsolved. Under ``jit``/``vmap`` read ``status`` instead.

    Returns:
      ``LPResult``.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgames.general_sum.lp import linear_program
      >>> r = linear_program(jnp.array([-1.0, -2.0]), A_ub=jnp.array([[1.0, 1.0]]), b_ub=jnp.array([3.0]))
      >>> round(float(r.objective), 6)
      -6.0
    """
    tol = check_tol(tol)
    c_std, A, b, n, m_ub = _standard_form(c, A_ub, b_ub, A_eq, b_eq)
    out = _linear_program(c_std, A, b, n, m_ub, tol, max_iter)
    if check and _is_concrete(out.status):
        raise_for_status(out.status, "linear_program")
    return out


@functools.partial(jax.jit, static_argnames=("n", "m_ub", "tol", "max_iter"))
def _linear_program(c_std, A, b, n, m_ub, tol, max_iter):
    res = ipm(c_std, A, b, tol=tol, max_iter=max_iter)
    status = jax.lax.cond(
        res.converged,
        lambda: jnp.int32(SOLVED),
        lambda: _diagnose(c_std, A, b, tol, max_iter).astype(jnp.int32),
    )
    return LPResult(
        x=res.x[:n],
        objective=c_std[:n] @ res.x[:n],
        status=status,
        dual_ub=-res.y[:m_ub],
        dual_eq=-res.y[m_ub:],
        iterations=res.iterations,
    )


def raise_for_status(status, where: str) -> None:
    """Raise a ``ValueError`` for concrete statuses other than ``SOLVED`` (any element of a batch)."""
    status = np.asarray(status)
    bad = status[status != SOLVED]
    if bad.size:
        names = sorted({status_name(s) for s in bad.ravel()})
        what = {"infeasible": "the LP is infeasible (no x satisfies the constraints)",
                "unbounded": "the LP is unbounded (the objective decreases without limit)",
                "max_iterations": "the solver hit max_iter before reaching tol"}  # fmt: skip
        raise ValueError(f"{where}: status {', '.join(names)}: " + "; ".join(what[k] for k in names))


# ------------------------------------------------------------------------------ zero-sum matrix games
class ZeroSumSolution(NamedTuple):
    """Exact Nash equilibrium of a two-player zero-sum game: ``policy`` ``(x, y)``, the row player's
    ``value``, the policy's ``nash_conv`` (``max A y - min x^T A``), ``status`` (0 when ``nash_conv <= tol
    (1 + max |A|)``, else 3) and ``iterations`` of the LP."""

    policy: Policy
    value: jax.Array
    nash_conv: jax.Array
    status: jax.Array
    iterations: jax.Array


def zero_sum_lp(game, *, tol: float = 1e-7, max_iter: int = 100, check: bool = True) -> ZeroSumSolution:
    """The exact Nash equilibrium and value of a two-player zero-sum matrix game, by one LP.

    The row player solves ``max v s.t. A^T x >= v 1, 1^T x = 1, x >= 0``; the multipliers of the
    ``n`` inequalities are the column player's equilibrium strategy (LP duality; von Neumann 1928,
    Dantzig 1951). Payoffs are shifted to ``A - min A + 1 > 0`` first so that ``v > 0`` and needs no
    free variable. Batches with ``jax.vmap`` (a batch of games built inside the mapped function).

    Args:
      game: a two-player ``MatrixGame`` (its player-0 payoffs are used; the game should be zero-sum), or
        the ``[m, n]`` payoff matrix of the row player.
      tol: > 0, the bound on the returned policy's NashConv relative to ``1 + max |A|`` (the LP itself
        is solved to ``tol / 100``); ``1e-7`` suits float64, use ``1e-3`` in float32.
      max_iter: interior-point iteration cap.
      check: raise a ``ValueError`` on concrete input whose LP was not solved.

    Returns:
      ``ZeroSumSolution``.

    Example:
      >>> import jaxgames
      >>> from jaxgames.general_sum.lp import zero_sum_lp
      >>> sol = zero_sum_lp(jaxgames.matrix.zoo.matching_pennies())
      >>> round(float(sol.value), 6), [round(float(p), 6) for p in sol.policy[0]]
      (0.0, [0.5, 0.5])
    """
    tol = check_tol(tol)
    if hasattr(game, "own_first"):
        if game.num_players != 2:
            raise ValueError(f"game: expected a two-player game, got {game.num_players} players")
        A = game.payoffs[0]
    else:
        A = jnp.asarray(game)
        if A.ndim != 2:
            raise ValueError(f"game: expected a MatrixGame or an [m, n] payoff matrix, got shape {tuple(A.shape)}")
        A = A.astype(jnp.result_type(A.dtype, jnp.float32))
    sol = _zero_sum_lp(A, tol, max_iter)
    if check and _is_concrete(sol.status):
        raise_for_status(sol.status, "zero_sum_lp")
    return sol


@functools.partial(jax.jit, static_argnames=("tol", "max_iter"))
def _zero_sum_lp(A, tol, max_iter):
    m, n = A.shape
    shift = 1.0 - jnp.min(A)
    As = A + shift
    dtype = As.dtype
    # variables [x (m), v (1), s (n)]: v 1 - As^T x + s = 0 ; 1^T x = 1
    Astd = jnp.block(
        [
            [-As.T, jnp.ones((n, 1), dtype), jnp.eye(n, dtype=dtype)],
            [jnp.ones((1, m), dtype), jnp.zeros((1, 1 + n), dtype)],
        ]
    )
    b = jnp.concatenate([jnp.zeros((n,), dtype), jnp.ones((1,), dtype)])
    c = jnp.zeros((m + 1 + n,), dtype).at[m].set(-1.0)
    res = ipm(c, Astd, b, tol=tol * 1e-2, max_iter=max_iter)
    x = jnp.maximum(res.x[:m], 0.0)
    y = jnp.maximum(-res.y[:n], 0.0)  # multipliers of v - (As^T x)_j <= 0
    x, y = x / jnp.sum(x), y / jnp.sum(y)
    nash_conv = jnp.max(A @ y) - jnp.min(x @ A)
    status = jnp.where(nash_conv <= tol * (1.0 + jnp.max(jnp.abs(A))), SOLVED, MAX_ITERATIONS).astype(jnp.int32)
    return ZeroSumSolution(
        policy=(x, y), value=res.x[m] - shift, nash_conv=nash_conv, status=status, iterations=res.iterations
    )


# --------------------------------------------------------------------- zero-sum extensive-form games
class SequenceFormSolution(NamedTuple):
    """Exact Nash equilibrium of a two-player zero-sum extensive-form game.

    ``policy``: the behavioural policy ``([n_I0, A], [n_I1, A])`` (uniform over legal actions at
    information sets the player's own plan never reaches); ``plans``: the realization plans over each
    player's legal sequences (empty sequence first); ``value``: player 0's game value (its LP's
    optimum); ``nash_conv``: the policy's NashConv (``EFGGame.nash_conv``); ``status``: 0 when
    ``nash_conv <= tol (1 + max |payoff|)``, else 3; ``iterations`` ``[2]``: one LP per player.
    """

    policy: Policy
    plans: tuple
    value: jax.Array
    nash_conv: jax.Array
    status: jax.Array
    iterations: jax.Array


def _legal_sequences(tree, i: int) -> np.ndarray:
    """Indices, in jaxgames' sequence numbering ``1 + infoset * A + action``, of player i's legal sequences."""
    legal = np.asarray(tree.legal[i])
    A = tree.max_actions
    idx = [1 + k * A + a for k in range(legal.shape[0]) for a in range(A) if legal[k, a]]
    return np.array([0, *idx], dtype=np.int64)


def _constraints(tree, i: int, seqs: np.ndarray) -> np.ndarray:
    """``E_i`` ``[1 + n_I, |seqs|]``: ``x[empty] = 1`` and ``sum_a x[(I, a)] = x[parent(I)]`` per infoset."""
    from jaxgames.efg.sequence import sequence_form

    sf = sequence_form(tree)
    pseq = np.asarray(sf.parent_sequence[i])
    col = {int(s): k for k, s in enumerate(seqs)}
    A = tree.max_actions
    E = np.zeros((1 + len(pseq), len(seqs)))
    E[0, 0] = 1.0
    for k, parent in enumerate(pseq):
        E[1 + k, col[int(parent)]] = -1.0
        for a in range(A):
            s = 1 + k * A + a
            if s in col:
                E[1 + k, col[s]] = 1.0
    return E


class _Structure:
    """Per tree (cached, hashed by identity: a static jit argument): legal sequences, ``E``, ``F``,
    the terminals' (row, column) in the payoff matrix and its nonzero pattern."""

    def __init__(self, tree):
        from jaxgames.efg.sequence import sequence_form

        sf = sequence_form(tree)
        self.seqs = (_legal_sequences(tree, 0), _legal_sequences(tree, 1))
        self.E, self.F = _constraints(tree, 0, self.seqs[0]), _constraints(tree, 1, self.seqs[1])
        last0, last1 = (np.asarray(v) for v in sf.terminal_last[0][:2])
        pos = []
        for i, last in enumerate((last0, last1)):
            p = np.full(sf.num_sequences[i], -1, np.int64)
            p[self.seqs[i]] = np.arange(len(self.seqs[i]))
            pos.append(p[last])
        self.rows, self.cols = pos
        self.pattern = np.unique(np.stack(pos, axis=1), axis=0)
        self.shape = (len(self.seqs[0]), len(self.seqs[1]))


@functools.cache
def _structure(tree) -> _Structure:
    return _Structure(tree)


def _payoff_matrix(game, st: _Structure):
    """Player 0's sequence-form payoff matrix ``[|seqs0|, |seqs1|]`` and the chance-only matrix (same shape)."""
    from jaxgames.efg.sequence import sequence_form, terminal_weights

    sf = sequence_form(game.tree)
    w = terminal_weights(sf, 0, game.payoffs, game.chance_prob)
    chance = terminal_weights(sf, 0, jnp.ones_like(game.payoffs), game.chance_prob)
    zeros = jnp.zeros(st.shape, w.dtype)
    return zeros.at[st.rows, st.cols].add(w), zeros.at[st.rows, st.cols].add(chance)


def _maxmin_plan(A, E, F, pattern, tol, max_iter):
    """Player 0's maxmin realization plan: ``max f^T q s.t. F^T q <= A^T x, E x = e, x, q >= 0`` (A > 0)."""
    dtype = A.dtype
    s0, s1 = A.shape
    m0, m1 = E.shape[0], F.shape[0]
    # the nonzero pattern of the constraint matrix below (host): -A^T (pattern holds A's [row, col]), F^T, I, E
    ft_r, ft_c = np.nonzero(F.T)
    e_r, e_c = np.nonzero(E)
    E = jnp.asarray(E, dtype)
    F = jnp.asarray(F, dtype)
    # variables [x (s0), q (m1), slack (s1)]
    Astd = jnp.block(
        [
            [-A.T, F.T, jnp.eye(s1, dtype=dtype)],
            [E, jnp.zeros((m0, m1 + s1), dtype)],
        ]
    )
    b = jnp.zeros((s1 + m0,), dtype).at[s1].set(1.0)
    c = jnp.zeros((s0 + m1 + s1,), dtype).at[s0].set(-1.0)
    rows = np.concatenate([pattern[:, 1], ft_r, np.arange(s1), s1 + e_r])
    cols = np.concatenate([pattern[:, 0], s0 + ft_c, s0 + m1 + np.arange(s1), e_c])
    res = ipm(c, Astd, b, tol=tol, max_iter=max_iter, pattern=(rows.astype(np.int32), cols.astype(np.int32)))
    return res.x[:s0], res.x[s0], res


def _behavioural(tree, i: int, seqs: np.ndarray, plan) -> jax.Array:
    from jaxgames.efg.sequence import sequence_form

    sf = sequence_form(tree)
    legal = jnp.asarray(tree.legal[i])
    full = jnp.zeros((sf.num_sequences[i],), plan.dtype).at[seqs].set(jnp.maximum(plan, 0.0))
    grid = full[1:].reshape(legal.shape)
    total = jnp.sum(grid, axis=1, keepdims=True)
    uniform = legal / jnp.sum(legal, axis=1, keepdims=True)
    return jnp.where(total > 0, grid / jnp.where(total > 0, total, 1.0), uniform)


@functools.partial(jax.jit, static_argnames=("st", "tol", "max_iter"))
def _sequence_form_solve(game, st, tol, max_iter):
    E, F, pattern = st.E, st.F, st.pattern
    A, C = _payoff_matrix(game, st)
    payoffs0 = game.payoffs[..., 0]
    # player 0 maximizes A; player 1 maximizes -A^T; both shifted to positive entries
    shift = 1.0 - jnp.min(payoffs0)
    x, v0, r0 = _maxmin_plan(A + shift * C, E, F, pattern, tol, max_iter)
    shift1 = 1.0 + jnp.max(payoffs0)
    y, _, r1 = _maxmin_plan(-A.T + shift1 * C.T, F, E, pattern[:, ::-1], tol, max_iter)
    policy = (_behavioural(game.tree, 0, st.seqs[0], x), _behavioural(game.tree, 1, st.seqs[1], y))
    return policy, (x, y), v0 - shift, game.nash_conv(policy), jnp.stack([r0.iterations, r1.iterations])


def sequence_form_lp(game, *, tol: float = 1e-6, max_iter: int = 100, check: bool = True) -> SequenceFormSolution:
    """The exact Nash equilibrium of a two-player zero-sum ``EFGGame`` by the sequence-form LP.

    Von Stengel (1996), "Efficient computation of behavior strategies"; Koller, Megiddo & von Stengel
    (1994). With realization plans ``E x = e``, ``F y = f``, ``x, y >= 0`` and player 0's payoff matrix
    ``A`` over sequence pairs (chance-weighted terminal payoffs), player 0's maxmin plan solves

        max_{x, q} f^T q   s.t.  F^T q <= A^T x,  E x = e,  x >= 0,

    (``q``: player 1's best-response values at its information sets); player 1's solves the same with
    ``-A^T``. The payoffs are first shifted by a constant so that every entry is positive, which makes
    ``q >= 0`` at the optimum and lets ``q`` be a nonnegative variable (the value shifts by that
    constant, the plans do not change). Two dense LPs, solved by ``ipm``; the plans become behavioural
    policies ``pi(I, a) = x(I, a) / x(parent(I))`` (uniform where ``x(parent(I)) = 0``). The dense
    normal matrix makes this practical up to a few thousand sequences (Leduc: ~1,100 per player).

    Args:
      game: a two-player zero-sum ``EFGGame`` (player 0's payoffs are used).
      tol: > 0, the bound on the returned policy's NashConv relative to ``1 + max |payoff|`` (the LPs
        are solved to ``tol / 100``, or as far as the normal equations allow: the interior-point method
        returns its best iterate); ``1e-6`` suits float64.
      max_iter: interior-point iteration cap per LP.
      check: raise a ``ValueError`` on concrete input whose LPs were not solved.

    Returns:
      ``SequenceFormSolution`` (policy, plans, value, status, iterations).

    Example:
      >>> import jax
      >>> import jaxgames
      >>> from jaxgames.general_sum.lp import sequence_form_lp
      >>> with jax.enable_x64(True):
      ...     sol = sequence_form_lp(jaxgames.efg.kuhn_poker())
      >>> round(float(sol.value), 6)  # -1/18
      -0.055556
    """
    tol = check_tol(tol)
    tree = game.tree
    if tree.num_players != 2:
        raise ValueError(f"game: expected a two-player game, got {tree.num_players} players")
    policy, plans, value, nash_conv, iterations = _sequence_form_solve(game, _structure(tree), tol * 1e-2, max_iter)
    scale = 1.0 + jnp.max(jnp.abs(game.payoffs))
    status = jnp.where(nash_conv <= tol * scale, SOLVED, MAX_ITERATIONS).astype(jnp.int32)
    if check and _is_concrete(status):
        raise_for_status(status, "sequence_form_lp")
    return SequenceFormSolution(
        policy=policy, plans=plans, value=value, nash_conv=nash_conv, status=status, iterations=iterations
    )
