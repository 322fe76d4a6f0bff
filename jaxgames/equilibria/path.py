"""The logit QRE path: the principal branch from the uniform policy (lambda = 0) toward a Nash equilibrium.

McKelvey & Palfrey (1995) showed that the logit QREs ``pi = softmax(lambda Q(pi) + log rho)`` of a
generic finite game form, for ``lambda = 1 / temperature`` in ``[0, inf)``, a unique smooth branch
from the centroid (``lambda = 0``) whose limit as ``lambda -> inf`` is a Nash equilibrium: the one
the logit tracing procedure *selects*. Turocy (2005) traces it in ``(log pi, lambda)`` by
pseudo-arclength continuation; so does ``qre_path``, for every family of ``response``:

    H(x, lambda) = x - log softmax(lambda Q(exp x) + log rho) = 0,   y = (x, lambda) in R^(n+1)

* tangent: ``[dH/dy ; t_prev^T] t = [0 ; 1]``, normalized (the previous tangent fixes the
  orientation, so the branch is followed through turning points where ``lambda`` turns back);
* predictor: ``y + h t``;
* corrector: Newton's method on ``[H(y) ; t^T (y - y_pred)] = 0`` with the Jacobian at the
  predicted point (the chord method), a step accepted when it contracts;
* step size: times ``max_accel`` after an accepted step (up to ``max_step``), halved after a
  rejected one; the path fails (``status = FAILED``) when it falls below ``min_step``.

It stops when the point's ``nash_conv`` is at most ``max_regret`` times the payoff spread
(``CONVERGED``: Gambit's ``logit_solve`` criterion, with the sum of the players' regrets, a
stricter test than Gambit's largest regret), when ``lambda`` reaches ``max_lambda`` (``REACHED``;
the last point then lies exactly at ``max_lambda``), or when the buffer of ``max_points`` points is
full (``OUT_OF_POINTS``). Everything is one ``jax.lax.while_loop``: ``jax.vmap`` traces a thousand
games at once.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.core import Policy, is_concrete
from jaxgames.equilibria import _flat, response
from jaxgames.validation import check_int, check_scalar

#: ``QREPath.status`` codes.
CONVERGED, REACHED, OUT_OF_POINTS, FAILED = 0, 1, 2, 3
STATUS_NAMES = ("converged", "reached max_lambda", "out of points", "failed: step size below min_step")


class QREPath(NamedTuple):
    """A traced logit QRE branch.

    Attributes:
      inverse_temperatures: ``[P]`` the ``lambda`` of each point (``lambda = 1 / temperature``),
        the first ``0`` (the reference policy); ``nan`` past ``num_points``.
      policies: per player ``[P, *policy_shape]``, the QRE at each point (``nan`` past ``num_points``).
      num_points: number of points on the path.
      nash: the last point's policy: the selected Nash equilibrium when ``status == CONVERGED``.
      nash_conv: its ``nash_conv``.
      status: ``CONVERGED``, ``REACHED``, ``OUT_OF_POINTS`` or ``FAILED`` (``STATUS_NAMES``).
    """

    inverse_temperatures: jax.Array
    policies: Policy
    num_points: jax.Array
    nash: Policy
    nash_conv: jax.Array
    status: jax.Array


def _payoff_spread(game) -> jax.Array:
    from solvers.scale import payoff_scale

    return 2.0 * payoff_scale(game)


def trace(
    problem: _flat.Problem,
    regret,
    *,
    first_step,
    max_accel,
    max_step,
    min_step,
    max_lambda,
    regret_tol,
    max_points: int,
    corrector_steps: int = 6,
):
    """The continuation loop on a flat ``problem`` (module docstring). ``regret(policy)``: the scalar
    the ``CONVERGED`` test compares with ``regret_tol``. Returns ``(lams [P], xs [P, n], count, status)``."""
    n = problem.size
    H = lambda y: problem.residual(y[:n], y[n])  # noqa: E731
    dtype = problem.start.dtype
    e_lam = jnp.zeros(n + 1, dtype).at[n].set(1.0)
    corrector_tol = 1e3 * jnp.finfo(dtype).eps

    # the first point: the reference at lambda = 0; continuation starts from a tiny lambda, where the
    # reference solves the equation to rounding (families whose Q needs tau = 1 / lambda are not
    # evaluated at lambda = 0)
    lam0 = jnp.asarray(min_step, dtype)
    x0, _ = _flat.newton(lambda x: problem.residual(x, lam0), problem.start, 8, corrector_tol)
    y0 = jnp.concatenate([x0, lam0[None]])

    def tangent(J, t_prev):
        A = jnp.concatenate([J, t_prev[None]], axis=0)
        t = jnp.linalg.solve(A, e_lam)
        return t / jnp.linalg.norm(t)

    t0 = tangent(jax.jacfwd(H)(y0), e_lam)
    lams = jnp.full((max_points,), jnp.nan, dtype).at[0].set(0.0)
    xs = jnp.full((max_points, n), jnp.nan, dtype).at[0].set(problem.start)
    lams, xs = lams.at[1].set(lam0), xs.at[1].set(x0)

    def cond(c):
        return c["status"] < 0

    def body(c):
        y, t, h = c["y"], c["t"], c["h"]
        y_pred = y + h * t
        final = y_pred[n] >= max_lambda  # land exactly on max_lambda
        h_final = (max_lambda - y[n]) / jnp.where(t[n] > 0, t[n], 1.0)
        y_pred = jnp.where(final & (t[n] > 0), y + h_final * t, y_pred)
        row = jnp.where(final, e_lam, t)
        J = jax.jacfwd(H)(y_pred)
        A = jnp.concatenate([J, row[None]], axis=0)
        lu = jax.scipy.linalg.lu_factor(A)

        def correct(k, cc):
            yc, prev, ok = cc
            r = jnp.concatenate([H(yc), jnp.dot(row, yc - y_pred)[None]])
            dy = jax.scipy.linalg.lu_solve(lu, -r)
            size = jnp.max(jnp.abs(dy))
            ok = ok & jnp.isfinite(size) & ((k == 0) | (size <= 0.5 * prev) | (size <= corrector_tol))
            return yc + dy, size, ok

        y_new, last, ok = jax.lax.fori_loop(0, corrector_steps, correct, (y_pred, jnp.inf, jnp.array(True)))
        residual = jnp.max(jnp.abs(H(y_new)))
        ok = ok & (last <= corrector_tol * (1.0 + jnp.max(jnp.abs(y_new)))) & (residual <= 1e-8)
        t_new = tangent(J, t)
        ok = ok & (jnp.dot(t_new, t) > 0.5) & jnp.all(jnp.isfinite(t_new))

        count = c["count"]
        idx = jnp.minimum(count, max_points - 1)
        lams = jnp.where(ok, c["lams"].at[idx].set(y_new[n]), c["lams"])
        xs = jnp.where(ok, c["xs"].at[idx].set(y_new[:n]), c["xs"])
        count = count + ok.astype(jnp.int32)
        policy = response.to_policy(problem.unravel(y_new[:n]), problem.mask)
        reg = jnp.where(ok, regret(policy), jnp.inf)
        h_next = jnp.where(ok, jnp.minimum(h * max_accel, max_step), h / 2)
        status = jnp.where(
            ok & (reg <= regret_tol),
            CONVERGED,
            jnp.where(
                ok & final,
                REACHED,
                jnp.where(count >= max_points, OUT_OF_POINTS, jnp.where(h_next < min_step, FAILED, -1)),
            ),
        )
        return {
            "y": jnp.where(ok, y_new, y),
            "t": jnp.where(ok, t_new, t),
            "h": h_next,
            "count": count,
            "lams": lams,
            "xs": xs,
            "status": status.astype(jnp.int32),
        }

    init = {
        "y": y0,
        "t": t0,
        "h": jnp.asarray(first_step, dtype),
        "count": jnp.asarray(2, jnp.int32),
        "lams": lams,
        "xs": xs,
        "status": jnp.asarray(-1, jnp.int32),
    }
    out = jax.lax.while_loop(cond, body, init)
    return out["lams"], out["xs"], out["count"], out["status"]


def qre_path(
    game,
    reference: Policy | None = None,
    *,
    max_lambda=1e6,
    max_regret=1e-8,
    first_step=0.03,
    max_accel=1.1,
    max_step=None,
    min_step=1e-10,
    max_points: int = 2000,
) -> QREPath:
    """Trace the principal branch of logit QREs from ``lambda = 0`` toward a Nash equilibrium.

    Pseudo-arclength predictor-corrector continuation of ``pi = softmax(lambda Q(pi) + log rho)``
    in ``(log pi, lambda)`` (module docstring; McKelvey & Palfrey 1995, Turocy 2005), for every
    family of ``jaxgames.equilibria.logit_qre``. The defaults are Gambit's ``logit_solve``:
    ``first_step=0.03``, ``max_accel=1.1``, ``max_regret=1e-8`` of the payoff spread.

    Args:
      game: a game of a supported family (``jaxgames.equilibria.response``).
      reference: the reference policy ``rho`` (default uniform over legal actions).
      max_lambda: stop with the point at exactly this ``lambda`` (``status == REACHED``).
      max_regret: stop when ``nash_conv`` is at most this times the payoff spread (``CONVERGED``).
      first_step, max_accel, max_step, min_step: arclength step sizes (``max_step`` default
        ``max(1, max_lambda / 10)``).
      max_points: size of the path buffers (``OUT_OF_POINTS`` when full).

    Returns a ``QREPath``. Outside ``jit`` a path that fails (the step size falls below
    ``min_step``, for example at a bifurcation of a non-generic game) raises a ``ValueError``
    naming the last ``lambda`` reached; under ``jit`` or ``vmap`` check ``status``.

    Example::

        game = jaxgames.matrix.zero_sum(jnp.array([[1.0, -1.0], [-1.0, 1.0]]))
        path = jaxgames.equilibria.qre_path(game)
        path.nash   # (array([0.5, 0.5]), array([0.5, 0.5]))
    """
    response.check_supported(game)
    check_int(max_points, "max_points", 3)
    for name, value in (("max_lambda", max_lambda), ("first_step", first_step), ("min_step", min_step)):
        check_scalar(value, name, low=0, low_open=True)
    check_scalar(max_regret, "max_regret", low=0)
    check_scalar(max_accel, "max_accel", low=1)
    reference = game.uniform_policy() if reference is None else reference
    dtype = reference[0].dtype
    problem = _flat.problem(game, tuple(r.astype(dtype) for r in reference))
    tol = max_regret * _payoff_spread(game)
    max_step = jnp.maximum(1.0, jnp.asarray(max_lambda) / 10) if max_step is None else max_step
    lams, xs, count, status = trace(
        problem,
        game.nash_conv,
        first_step=first_step,
        max_accel=max_accel,
        max_step=max_step,
        min_step=min_step,
        max_lambda=max_lambda,
        regret_tol=tol,
        max_points=max_points,
    )
    policies = jax.vmap(lambda x: response.to_policy(problem.unravel(x), problem.mask))(xs)
    policies = tuple(jnp.where(jnp.isnan(lams).reshape((-1,) + (1,) * (p.ndim - 1)), jnp.nan, p) for p in policies)
    last = tuple(p[count - 1] for p in policies)
    result = QREPath(lams, policies, count, last, game.nash_conv(last), status)
    if is_concrete(status) and int(status) == FAILED:
        raise ValueError(
            f"qre_path: the path failed at lambda = {float(lams[int(count) - 1]):.6g} after {int(count)} points "
            f"(step size below min_step={min_step}): the branch may bifurcate there (a non-generic game); "
            "try a smaller min_step or perturb the payoffs"
        )
    return result


def describe(status) -> str:
    """The name of a ``QREPath.status`` code."""
    return STATUS_NAMES[int(np.asarray(status))]
