"""The fixed-point equation of the logit QRE as one flat vector function, and the dense linear algebra
that the Newton corrector, the path follower and the implicit derivative share."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxgames import simplex
from jaxgames.core import Policy
from jaxgames.equilibria import response

#: Largest number of unknowns for which the Jacobian is formed densely (Newton, paths, dense
#: implicit derivatives); above it ``logit_qre`` iterates and differentiates with GMRES.
DENSE_MAX = 4096


class Problem(NamedTuple):
    """The QRE equation of one game, flattened: ``residual(x, lam) = x - log R_lam(x)`` on the
    support (``x`` the log policy; entries off the support are ``x`` itself, pinned at 0)."""

    residual: Callable[[jax.Array, jax.Array], jax.Array]
    unravel: Callable[[jax.Array], Policy]
    start: jax.Array  # the log reference policy, flat: the solution at lam = 0
    mask: Policy
    size: int
    #: The same solutions as ``residual``, in Gambit's form (``path_residual``): what the QRE path follows.
    path_residual: Callable[[jax.Array, jax.Array], jax.Array] | None = None


def problem(game, reference: Policy) -> Problem:
    mask = response.support(game, reference)
    start_tree = response.log_normalize_tree(response.to_log(reference, mask), mask)
    flat, unravel = ravel_pytree(start_tree)
    flat_mask = ravel_pytree(mask)[0]

    def residual(x: jax.Array, lam) -> jax.Array:
        new = response.log_response(game, unravel(x), lam, reference, mask)
        return jnp.where(flat_mask, x - ravel_pytree(new)[0], x)

    base = ravel_pytree(tuple(m & (jnp.cumsum(m, axis=-1) == 1) for m in mask))[0]  # first action in support
    log_ref = tuple(jnp.where(m, simplex.safe_log(r), 0.0) for r, m in zip(reference, mask))

    def path_residual(x: jax.Array, lam) -> jax.Array:
        """Per decision point ``x_a - x_b - lam (Q_a - Q_b) - log(rho_a / rho_b)`` for the actions ``a``
        of the support but its first ``b``, and ``logsumexp(x)`` over the support in ``b``'s row.

        Gambit's equations (Turocy 2005; its ``nfglogit.cc``, with ``log sum exp x = 0`` for
        ``sum exp x = 1``): their solutions are ``residual``'s, but the normalizer of the response,
        ``logsumexp(lam Q + log rho)``, whose curvature grows like ``lam^2``, has cancelled, so
        Newton's method converges from much farther at large ``lam``.
        """
        tree = unravel(x)
        lam = jnp.asarray(lam, x.dtype)
        q = response.soft_action_values(game, response.to_policy(tree, mask), 1.0 / lam, reference)
        gaps, norms = [], []
        for xi, qi, li, m in zip(tree, q, log_ref, mask):
            first = m & (jnp.cumsum(m, axis=-1) == 1)
            g = xi - lam * qi.astype(xi.dtype) - li.astype(xi.dtype)
            gaps.append(g - jnp.sum(jnp.where(first, g, 0.0), axis=-1, keepdims=True))
            lse = jax.nn.logsumexp(jnp.where(m, xi, -jnp.inf), axis=-1, keepdims=True)
            norms.append(jnp.broadcast_to(lse, xi.shape))
        gap, norm = ravel_pytree(tuple(gaps))[0], ravel_pytree(tuple(norms))[0]
        return jnp.where(flat_mask, jnp.where(base, norm, gap), x)

    return Problem(residual, unravel, flat, mask, int(flat.size), path_residual)


def newton(residual: Callable[[jax.Array], jax.Array], x0: jax.Array, max_steps: int, ftol) -> tuple:
    """Damped Newton's method on ``residual(x) = 0`` with a dense Jacobian and a backtracking line
    search on ``|residual|_inf`` (halvings down to ``1/64``). Returns ``(x, |residual(x)|_inf)``."""

    def norm(x):
        return jnp.max(jnp.abs(residual(x)))

    def cond(c):
        k, _, r = c
        return (k < max_steps) & (r > ftol) & jnp.isfinite(r)

    def body(c):
        k, x, r = c
        f = residual(x)
        J = jax.jacfwd(residual)(x)
        dx = jnp.linalg.solve(J, -f)

        def try_step(carry):
            alpha, best_x, best_r, done = carry
            cand = x + alpha * dx
            rc = norm(cand)
            better = jnp.isfinite(rc) & (rc < r) & ~done
            return alpha / 2, jnp.where(better, cand, best_x), jnp.where(better, rc, best_r), done | better

        _, x_new, r_new, moved = jax.lax.fori_loop(0, 7, lambda _, c: try_step(c), (1.0, x, r, jnp.array(False)))
        # no decrease at all: stop (the caller checks the residual)
        return jnp.where(moved, k + 1, max_steps), x_new, r_new

    _, x, r = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), x0, norm(x0)))
    return x, r
