"""``logit_qre``: the KL-regularized (logit QRE) equilibrium as a differentiable function of the game.

The equilibrium at temperature ``tau`` and reference ``rho`` is the root ``x*`` of

    F(x; game, tau) = x - log softmax(Q(exp x; game, tau) / tau + log rho)

in the log policy ``x`` (``jaxgames.equilibria.response``). The forward pass finds it to a tolerance;
the backward pass is the implicit function theorem (``jax.lax.custom_root``):

    dx*/dtheta = -(dF/dx)^(-1) dF/dtheta     for every array leaf theta of the game, and tau,

one linear solve with the Jacobian at the root (dense up to ``_flat.DENSE_MAX`` unknowns, GMRES
above), never a differentiation through the solver's iterations. ``jax.grad``, ``jax.jacrev``,
``jax.jacfwd`` and ``jax.vmap`` over games all apply.

Forward methods:

* ``"path"``: the principal branch of ``qre_path`` from the uniform policy up to ``lambda = 1 / tau``
  (Gambit's ``logit_solve_lambda``): the QRE that continuation selects, for general-sum games too;
* ``"iterate"``: an existing solver from ``init`` (warm start), by default magnetic mirror descent
  toward ``rho`` with a fixed magnet, ``pi <- pi^(1 - d) R(pi)^d`` normalized (``solvers.mmd`` with
  ``magnet_update_every=0``: ``d = eta tau / (1 + eta tau)``), its step ``d`` halved whenever the
  residual grows; or any ``Solver`` given as ``solver`` whose rest point is the regularized
  equilibrium (``solvers.mmd(temperature=tau, magnet_update_every=0)``, ``solvers.boltzmann_iteration``);
* both end with Newton's method on ``F`` (games up to ``DENSE_MAX`` unknowns), which makes the root
  exact to rounding, as the finite-difference checks of the derivative need.

``"auto"``: ``"iterate"`` when ``init`` or ``solver`` is given or the game is larger than
``DENSE_MAX``; ``"path"`` otherwise.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxgames.core import Policy, is_concrete
from jaxgames.equilibria import _flat, response
from jaxgames.equilibria.path import REACHED, trace
from jaxgames.validation import check_choice, check_int, check_scalar

METHODS = ("auto", "path", "iterate")


class QRE(NamedTuple):
    """A logit QRE.

    Attributes:
      policy: the equilibrium, shaped as the game's policies (differentiable in the game and the
        temperature).
      regularized_nash_conv: ``game.regularized_nash_conv(policy, temperature, reference)`` at it.
      converged: whether that is at most ``tol``.
      residual: ``max |x - log R(x)|`` of the fixed-point equation in log space.
    """

    policy: Policy
    regularized_nash_conv: jax.Array
    converged: jax.Array
    residual: jax.Array


def _iterate(problem: _flat.Problem, lam, x0, max_steps: int, ftol):
    """Mirror-descent iteration with a fixed magnet in log space, adaptive step (module docstring)."""
    mask = ravel_pytree(problem.mask)[0]

    def renormalize(x):
        return ravel_pytree(response.log_normalize_tree(problem.unravel(x), problem.mask))[0]

    def cond(c):
        k, _, _, r = c
        return (k < max_steps) & (r > ftol)

    def body(c):
        k, x, d, r_prev = c
        f = problem.residual(x, lam)  # x - log R(x)
        r = jnp.max(jnp.abs(f))
        d = jnp.where(r > r_prev, d / 2, jnp.minimum(1.0, d * 1.05))
        x_new = renormalize(jnp.where(mask, x - d * f, x))
        return k + 1, x_new, d, r

    dtype = x0.dtype
    init = (jnp.zeros((), jnp.int32), x0, jnp.asarray(0.5, dtype), jnp.asarray(jnp.inf, dtype))
    _, x, _, _ = jax.lax.while_loop(cond, body, init)
    return x


def _solver_iterate(game, solver, problem: _flat.Problem, init: Policy, max_steps: int):
    """``max_steps`` steps of an existing ``Solver`` started at ``init`` (its iterate and average
    replaced: the warm start); its output, in log space."""
    from solvers.core import iterate

    state = solver.init(game)
    state = state.replace(policy=init, average=init)
    policy = solver.output(iterate(solver, game, state, max_steps))
    return ravel_pytree(response.to_log(policy, problem.mask))[0]


def _tangent_solve(size: int):
    if size <= _flat.DENSE_MAX:

        def dense(g, y):
            J = jax.jacfwd(g)(jnp.zeros_like(y))
            return jnp.linalg.solve(J, y)

        return dense

    def gmres(g, y):
        return jax.scipy.sparse.linalg.gmres(g, y, tol=1e-12, atol=0.0, restart=50, maxiter=100)[0]

    return gmres


def logit_qre(
    game,
    temperature,
    reference: Policy | None = None,
    *,
    init: Policy | None = None,
    tol=1e-9,
    method: str = "auto",
    solver=None,
    max_steps: int = 20_000,
    newton_steps: int = 30,
) -> QRE:
    """The KL-regularized (logit QRE) equilibrium at ``temperature``, differentiable in the game.

    Every player plays ``pi_i ∝ rho_i exp(Q_i(pi) / tau)`` at every decision point, with the
    family's action values ``Q_i`` (``jaxgames.equilibria.response``): for matrix and preference
    games the logit QRE of McKelvey & Palfrey (1995) (``tau = 1 / lambda``); for extensive-form
    games the **dilated-KL-regularized equilibrium** (each player maximizes
    ``u_i - tau sum_I x_i(I) KL(pi_i(I) || rho(I))``, the equilibrium of MMD with the dilated
    entropy, ``jaxgames.efg.regularized``; not the agent QRE, which regularizes every information
    set without the reach weight); for discounted Markov games the entropy-regularized Markov
    equilibrium of Cen, Wei & Chi (2021) at every state; for finite-horizon mean-field games the
    entropy-regularized mean-field equilibrium against ``mu(pi)``.

    Gradients with respect to every array leaf of ``game`` (payoffs, transitions, rewards, crowd
    aversion), ``temperature`` and ``reference`` come from the implicit function theorem at the
    root: one linear solve (module docstring).

    Args:
      game: a game of a supported family.
      temperature: ``tau > 0`` (may be traced).
      reference: ``rho``, per player shaped as the policy (default uniform over legal actions).
      init: a warm start (a policy); implies ``method="iterate"`` under ``"auto"``.
      tol: the returned point's ``regularized_nash_conv`` must be at most ``tol``.
      method: ``"auto"``, ``"path"`` or ``"iterate"`` (module docstring).
      solver: an existing ``Solver`` for the iterate phase (default: mirror descent with a fixed
        magnet, adaptive step).
      max_steps: iteration budget of the iterate phase (the path's point budget is fixed).
      newton_steps: Newton polishing steps (games up to ``DENSE_MAX`` unknowns).

    Returns a ``QRE``. Outside ``jit``, a point whose ``regularized_nash_conv`` exceeds ``tol``
    raises a ``ValueError`` with the gap reached; under ``jit`` or ``vmap`` such a point has
    ``converged == False`` and a ``nan`` policy (never a silent wrong answer).

    Example::

        game = jaxgames.matrix.random_general_sum(jax.random.key(0), (3, 3))
        qre = jaxgames.equilibria.logit_qre(game, 0.5)
        jax.grad(lambda g: jaxgames.equilibria.logit_qre(g, 0.5).policy[0][0])(game)
    """
    response.check_supported(game)
    check_choice(method, "method", METHODS)
    check_scalar(temperature, "temperature", low=0, low_open=True)
    check_scalar(tol, "tol", low=0, low_open=True)
    check_int(max_steps, "max_steps", 0)
    check_int(newton_steps, "newton_steps", 0)
    if init is not None:
        _check_policy(game, init, "init")
    if reference is not None:
        _check_policy(game, reference, "reference")
    dtype = jnp.result_type(float)
    reference = tuple(jnp.asarray(r, dtype) for r in (game.uniform_policy() if reference is None else reference))
    tau = jnp.asarray(temperature, dtype)
    problem = _flat.problem(game, jax.lax.stop_gradient(reference))
    if method == "auto":
        method = "iterate" if (init is not None or solver is not None or problem.size > _flat.DENSE_MAX) else "path"
    if method == "path" and problem.size > _flat.DENSE_MAX:
        raise ValueError(
            f"method: 'path' forms a dense Jacobian, and this game has {problem.size} unknowns "
            f"(> {_flat.DENSE_MAX}); use method='iterate'"
        )
    ftol = 64 * jnp.finfo(dtype).eps

    def equation(x):
        mask = ravel_pytree(problem.mask)[0]
        new = response.log_response(game, problem.unravel(x), 1.0 / tau, reference, problem.mask)
        return jnp.where(mask, x - ravel_pytree(new)[0], x)

    def solve(_, x0):
        lam = jax.lax.stop_gradient(1.0 / tau)
        if method == "path":
            lams, xs, count, status = trace(
                problem,
                lambda p: jnp.asarray(jnp.inf, dtype),
                first_step=0.03,
                max_accel=1.1,
                max_step=jnp.maximum(1.0, lam / 10),
                min_step=1e-10,
                max_lambda=lam,
                regret_tol=-1.0,
                max_points=4000,
            )
            x = jnp.where(status == REACHED, xs[count - 1], jnp.nan)
        elif solver is not None:
            start = init if init is not None else reference
            x = _solver_iterate(game, solver, problem, start, max_steps)
        else:
            x = _iterate(problem, lam, x0, max_steps, ftol)
        if problem.size <= _flat.DENSE_MAX and newton_steps:
            x, _ = _flat.newton(lambda z: problem.residual(z, lam), x, newton_steps, ftol)
        return x

    x0 = problem.start if init is None else ravel_pytree(response.to_log(init, problem.mask))[0]
    x0 = jax.lax.stop_gradient(jnp.where(jnp.isfinite(x0), x0, -1e3))
    x = jax.lax.custom_root(equation, x0, solve, _tangent_solve(problem.size))
    policy = response.to_policy(problem.unravel(x), problem.mask)
    gap = jax.lax.stop_gradient(game.regularized_nash_conv(policy, tau, reference))
    residual = jax.lax.stop_gradient(jnp.max(jnp.abs(equation(x))))
    converged = gap <= tol
    if is_concrete(converged):
        if not bool(converged):
            raise ValueError(
                f"logit_qre: regularized_nash_conv {float(gap):.3g} > tol={tol} at temperature {float(tau):.6g} "
                f"(method={method!r}, residual {float(residual):.3g}); raise max_steps, warm-start with init=, "
                "or use method='path'"
            )
    else:
        policy = tuple(jnp.where(converged, p, jnp.nan) for p in policy)
    return QRE(policy, gap, converged, residual)


def _check_policy(game, policy, field: str) -> None:
    from jaxgames.validation import check_probabilities

    shapes = [tuple(p.shape) for p in game.uniform_policy()]
    if not isinstance(policy, (tuple, list)) or len(policy) != len(shapes):
        raise ValueError(f"{field}: expected a policy, a tuple of {len(shapes)} arrays shaped {shapes}")
    for i, (p, shape) in enumerate(zip(policy, shapes)):
        if tuple(jnp.shape(p)) != shape:
            raise ValueError(f"{field}[{i}]: expected shape {shape}, got {tuple(jnp.shape(p))}")
        check_probabilities(p, f"{field}[{i}]", mask=game.legal_mask()[i])


__all__ = ["QRE", "logit_qre"]
