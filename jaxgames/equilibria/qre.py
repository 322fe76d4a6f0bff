"""``logit_qre``: the KL-regularized (logit QRE) equilibrium as a differentiable function of the game.

The equilibrium at temperature ``tau`` and reference ``rho`` is the root ``x*`` of

    F(x; game, tau) = x - log softmax(Q(exp x; game, tau) / tau + log rho)

in the log policy ``x`` (``jaxgames.equilibria.response``). The forward pass finds it to rounding;
the backward pass is the implicit function theorem (``jax.lax.custom_root``):

    dx*/dtheta = -(dF/dx)^(-1) dF/dtheta     for every array leaf theta of the game, and tau,

one linear solve with the Jacobian at the root, never a differentiation through the solver's
iterations. ``jax.grad``, ``jax.jacrev``, ``jax.jacfwd`` and ``jax.vmap`` over games all apply.

Forward methods (all end with Newton's method on ``F``, which makes the root exact to rounding, as
the finite-difference checks of the derivative need):

* ``"path"``: the principal branch of ``qre_path`` from the uniform policy up to ``lambda = 1 / tau``
  (Gambit's ``logit_solve_lambda``): the QRE that continuation selects, for general-sum games too;
  a dense Jacobian at every point, so for small games (up to ``_flat.DENSE_MAX`` unknowns);
* ``"anneal"``: continuation in ``lambda`` without arclength (``_anneal``): the target ``lambda``
  first (no annealing where that works), else ``lambda_1 < lambda_2 < ... < lambda`` with a
  tangent predictor, each stage solved by the iteration below and Newton's method; matrix-free
  for large games; it stops at a fold of the branch (which ``"path"`` follows);
* ``"iterate"``: from ``init`` (the warm start; default ``rho``), by default magnetic mirror descent
  toward ``rho`` with a fixed magnet in log space, ``pi <- pi^(1 - d) R(pi)^d`` normalized
  (``solvers.mmd`` with ``magnet_update_every=0`` and ``d = eta tau / (1 + eta tau)``), its step
  ``d`` halved whenever the residual grows, until the residual is ``NEWTON_SWITCH`` or the step
  collapses; or any ``Solver`` given as ``solver`` whose rest point is the regularized equilibrium
  (``solvers.mmd(temperature=tau, magnet_update_every=0)``, with ``geometry="dilated"`` for
  extensive-form games), run in chunks of ``CHECK_EVERY`` steps until the residual is small.

``"auto"``: ``"iterate"`` when ``init`` or ``solver`` is given, else ``"path"`` up to
``AUTO_PATH_MAX`` unknowns (matrix games, Kuhn poker) and ``"anneal"`` above.

Newton's method forms the Jacobian densely (``jax.jacfwd``, one Jacobian-vector product per
unknown) up to ``DENSE_MAX`` unknowns; above, it is inexact Newton-Krylov (GMRES on
Jacobian-vector products, forcing term ``min(|F|, 1e-2)``). The implicit derivative solves
``dF/dx`` (forward mode) or its transpose (reverse mode) the same way: densely up to ``DENSE_MAX``,
else by GMRES to ``1e-12`` inside ``jax.lax.custom_linear_solve`` (whose transpose is GMRES on the
transposed products), so Leduc poker (2,808 unknowns) and crowd modelling on 100 cells over 10
steps (3,000) never form a Jacobian. Measured (float64, 2 shared CPU cores under load, medians,
compilation apart): Leduc at ``tau = 0.1`` 50 ms forward, 68 ms forward and gradient; at
``tau = 0.02`` 0.2 s, at ``0.005`` 15 s (annealed); crowd modelling (3,000 unknowns) at
``tau = 0.1`` 0.11 s and 0.29 s, at ``0.02`` 0.4 s, at ``0.005`` 66 s. Compilation takes 10-45 s.

All the work happens in one compiled program per static configuration (``method``, ``solver``,
``max_steps``, ``newton_steps`` and the game's structure): the game's arrays, the temperature, the
reference and the warm start are traced, so sweeps over them and finite differences reuse it.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from jaxgames.core import Policy, is_concrete
from jaxgames.equilibria import _flat, response
from jaxgames.equilibria.path import REACHED, trace
from jaxgames.validation import check_choice, check_int, check_scalar

METHODS = ("auto", "path", "anneal", "iterate")

#: ``method="auto"`` follows the QRE path up to this many unknowns and anneals above (the path
#: forms a dense Jacobian at every point: 8.5 s for crowd modelling's 300 unknowns, 0.3 s annealed).
AUTO_PATH_MAX = 64
#: Largest number of unknowns for which Newton's method and the implicit derivative form the
#: Jacobian densely (``jax.jacfwd``: one Jacobian-vector product per unknown); above, both are
#: matrix-free (GMRES on Jacobian-vector products, a few dozen of them).
DENSE_MAX = 64
#: Residual ``max |x - log R(x)|`` at which the iterate phase hands over to Newton's method.
NEWTON_SWITCH = 1e-6
#: ``method="anneal"``: residual at which a stage counts as solved, Newton steps per stage, the
#: largest ratio between consecutive inverse temperatures, and the cap on stages (tries included).
STAGE_TOL = 1e-8
STAGE_NEWTON_STEPS = 8
STAGE_ITERATE_STEPS = 500
MAX_RATIO = 16.0
MAX_STAGES = 200
#: A given ``solver`` runs in chunks of this many steps between residual checks.
CHECK_EVERY = 25
#: GMRES restart length and number of restarts (Newton-Krylov steps and the implicit derivative).
GMRES_RESTART = 50
GMRES_MAXITER = 40


class QRE(NamedTuple):
    """A logit QRE.

    Attributes:
      policy: the equilibrium, shaped as the game's policies (differentiable in the game, the
        temperature and the reference).
      regularized_nash_conv: ``game.regularized_nash_conv(policy, temperature, reference)`` at it
        (for ``markov.StageGames``, which has none, the same gap summed over the stage games).
      converged: whether that is at most ``tol``.
      residual: ``max |x - log R(x)|`` of the fixed-point equation in log space.
    """

    policy: Policy
    regularized_nash_conv: jax.Array
    converged: jax.Array
    residual: jax.Array


def _iterate(problem: _flat.Problem, lam, x0, max_steps: int, stop):
    """Mirror-descent iteration with a fixed magnet in log space, adaptive step (module docstring),
    until the residual is at most ``stop``, the step ``d`` falls below ``1e-8`` (a stall) or
    ``max_steps`` steps."""
    mask = ravel_pytree(problem.mask)[0]

    def renormalize(x):
        return ravel_pytree(response.log_normalize_tree(problem.unravel(x), problem.mask))[0]

    def cond(c):
        k, _, d, r = c
        return (k < max_steps) & (r > stop) & (d > 1e-8)

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


def _anneal(problem: _flat.Problem, lam, dense: bool, iterate_steps: int):
    """Continuation in the inverse temperature (annealing): the equation is solved at
    ``lam_1 < lam_2 < ... <= lam``, each stage by ``_iterate`` (at most ``iterate_steps`` steps)
    and Newton's method (dense or Krylov; ``STAGE_NEWTON_STEPS``) from the previous solution moved
    along the branch's tangent ``dx/dlam = -(dF/dx)^(-1) dF/dlam`` (one more linear solve per
    stage). The first stage tries ``lam`` itself from the reference (no annealing where that
    works); when it fails, ``lam_1`` is the inverse temperature at which the reference's residual
    is about ``1/2``, and a failed first stage is retried at a quarter of it. A solved stage
    (residual at most ``STAGE_TOL``) doubles the ratio to the next one (up to ``MAX_RATIO``), a
    failed one takes its square root. Stops at ``lam``, after ``MAX_STAGES`` tries or when the ratio
    falls below ``1 + 1e-6`` (a fold of the branch, which ``method="path"`` follows); returns the
    last solved point (the caller's Newton steps and convergence check follow)."""
    dtype = problem.start.dtype
    x_ref = problem.start
    r_ref = jnp.max(jnp.abs(problem.residual(x_ref, lam)))  # ~ lam * (spread of Q): linear in lam
    lam1 = jnp.minimum(lam, lam * 0.5 / jnp.maximum(r_ref, jnp.finfo(dtype).tiny))
    eye = jnp.eye(x_ref.shape[0], dtype=dtype) if dense else None
    switch = jnp.asarray(NEWTON_SWITCH, dtype)

    def tangent(x, m):
        _, lin = jax.linearize(problem.residual, x, m)
        rhs = -lin(jnp.zeros_like(x), jnp.ones_like(m))  # -dF/dlam
        jvp = lambda v: lin(v, jnp.zeros_like(m))  # noqa: E731
        if dense:
            return jnp.linalg.solve(jax.vmap(jvp, out_axes=1)(eye), rhs)
        return _gmres(jvp, rhs, 1e-6)

    def cond(c):
        k, lam_cur, _, _, _, ratio = c
        return (k < MAX_STAGES) & (lam_cur < lam) & (ratio > 1 + 1e-6)

    def body(c):
        k, lam_cur, x, t, lam_first, ratio = c
        lam_try = jnp.minimum(jnp.where(lam_cur > 0, lam_cur * ratio, lam_first), lam)
        start = _iterate(problem, lam_try, x + (lam_try - lam_cur) * t, iterate_steps, switch)
        x_try, r = _newton(lambda z: problem.residual(z, lam_try), start, STAGE_NEWTON_STEPS, STAGE_TOL, dense)
        ok = r <= STAGE_TOL
        t_new = jax.lax.cond(ok, lambda: tangent(x_try, lam_try), lambda: t)
        # a failed first stage: lam itself, then lam_1, then a quarter of the last try
        retry = jnp.where(lam_first >= lam, lam1, lam_first / 4)
        return (
            k + 1,
            jnp.where(ok, lam_try, lam_cur),
            jnp.where(ok, x_try, x),
            t_new,
            jnp.where(ok | (lam_cur > 0), lam_first, retry),
            jnp.where(ok, jnp.minimum(ratio * 2, MAX_RATIO), jnp.where(lam_cur > 0, jnp.sqrt(ratio), ratio)),
        )

    init = (jnp.zeros((), jnp.int32), jnp.zeros((), dtype), x_ref, jnp.zeros_like(x_ref), lam, jnp.asarray(2.0, dtype))
    _, _, x, _, _, _ = jax.lax.while_loop(cond, body, init)
    return x


def _finite_log(x):
    """Log probabilities with ``-inf`` (a zero probability) replaced by ``-1000``."""
    return jnp.where(jnp.isfinite(x), x, -1e3)


def _solver_iterate(game, solver, problem: _flat.Problem, lam, init: Policy, reference: Policy, max_steps: int, stop):
    """Up to ``max_steps`` steps of an existing ``Solver`` started at ``init`` (its iterate and
    average replaced: the warm start; a magnet in its state, as the MMD family keeps one, replaced
    by ``reference``), in chunks of ``CHECK_EVERY`` steps until the residual of its output is at
    most ``stop``; its output, in log space."""
    from solvers.core import iterate

    def flat(policy):
        return _finite_log(ravel_pytree(response.to_log(policy, problem.mask))[0])

    chunk = max(1, min(CHECK_EVERY, max_steps))
    chunks = -(-max_steps // chunk)
    state = solver.init(game)
    state = state.replace(policy=init, average=init)
    if "magnet" in getattr(state.extra, "_fields", ()):
        # solvers.mmd(magnet_update_every=0) without a magnet keeps none and regularizes toward the
        # (dilated) entropy instead: another equilibrium in extensive-form games
        state = state.replace(extra=state.extra._replace(magnet=reference))
    x0 = flat(init)

    def cond(c):
        k, _, r = c
        return (k < chunks) & (r > stop)

    def body(c):
        k, s, _ = c
        s = iterate(solver, game, s, chunk)
        return k + 1, s, jnp.max(jnp.abs(problem.residual(flat(solver.output(s)), lam)))

    r0 = jnp.max(jnp.abs(problem.residual(x0, lam)))
    _, state, _ = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), state, r0))
    return flat(solver.output(state))


def _gmres(matvec, b, tol=1e-12):
    """GMRES for ``A x = b`` to relative accuracy ``tol`` (``0`` for ``b = 0``)."""
    size = b.shape[0]
    x, _ = jax.scipy.sparse.linalg.gmres(
        matvec, b, tol=tol, atol=0.0, restart=min(GMRES_RESTART, size), maxiter=GMRES_MAXITER
    )
    return x


def _newton(residual, x0, max_steps: int, ftol, dense: bool):
    """Damped Newton's method on ``residual(x) = 0``: the Newton direction from the dense Jacobian
    (``dense``) or by GMRES on Jacobian-vector products to relative accuracy ``min(|f|, 1e-2)``
    (inexact Newton-Krylov, still quadratic near the root), then a backtracking line
    search on ``|residual|_inf`` (halvings down to ``1/64``). Stops at ``ftol``, after ``max_steps``
    steps, when no step decreases the residual, or when a residual below ``sqrt(eps)`` no longer
    halves (rounding). Returns ``(x, |residual(x)|_inf)``.

    The residual is traced twice (its linearization and the line search), which keeps the compiled
    program small."""
    eye = jnp.eye(x0.shape[0], dtype=x0.dtype) if dense else None

    def cond(c):
        k, _, r, done = c
        return (k < max_steps) & ~done

    def body(c):
        k, x, _, _ = c
        f, jvp = jax.linearize(residual, x)
        r = jnp.max(jnp.abs(f))
        if dense:
            dx = jnp.linalg.solve(jax.vmap(jvp, out_axes=1)(eye), -f)
        else:
            dx = _gmres(jvp, -f, jnp.clip(r, 1e-12, 1e-2))  # inexact Newton: forcing term |f|

        def try_step(_, carry):
            alpha, best_x, best_r, moved = carry
            cand = x + alpha * dx
            rc = jnp.max(jnp.abs(residual(cand)))
            better = jnp.isfinite(rc) & (rc < r) & ~moved
            return alpha / 2, jnp.where(better, cand, best_x), jnp.where(better, rc, best_r), moved | better

        search = (jnp.asarray(1.0, x.dtype), x, r, jnp.array(False))
        _, x_new, r_new, moved = jax.lax.fori_loop(0, 7, try_step, search)
        at_root = (r <= ftol) | ~jnp.isfinite(r)
        x_new, r_new = jnp.where(at_root, x, x_new), jnp.where(at_root, r, r_new)
        # done: at the root on entry or after the step, no step decreased the residual, or the
        # residual, already below sqrt(eps), no longer halves (the floor of rounding errors)
        floor = (r < jnp.sqrt(jnp.finfo(dtype).eps)) & (r_new > r / 2)
        return k + 1, x_new, r_new, at_root | (r_new <= ftol) | ~moved | floor

    dtype = x0.dtype
    init = (jnp.zeros((), jnp.int32), x0, jnp.asarray(jnp.inf, dtype), jnp.array(False))
    _, x, r, _ = jax.lax.while_loop(cond, body, init)
    return x, r


def _tangent_solve(size: int):
    """The linear solve of the implicit derivative: dense up to ``DENSE_MAX`` unknowns; above, GMRES
    inside ``jax.lax.custom_linear_solve`` with GMRES on the transposed map as its transpose (reverse
    mode: ``custom_root`` transposes the solve, which a bare Krylov loop does not allow)."""
    if size <= DENSE_MAX:

        def dense(g, y):
            J = jax.jacfwd(g)(jnp.zeros_like(y))
            return jnp.linalg.solve(J, y)

        return dense

    def krylov(g, y):
        return jax.lax.custom_linear_solve(g, y, solve=_gmres, transpose_solve=_gmres)

    return krylov


def _solve(game, tau, reference, init, *, method: str, solver, max_steps: int, newton_steps: int):
    """``(policy, regularized_nash_conv, residual)``: the forward solve wrapped in ``custom_root``
    (module docstring). ``reference`` and ``init`` are policies or ``None``."""
    dtype = tau.dtype
    reference = tuple(jnp.asarray(r, dtype) for r in (game.uniform_policy() if reference is None else reference))
    problem = _flat.problem(game, jax.lax.stop_gradient(reference))
    flat_mask = ravel_pytree(problem.mask)[0]
    ftol = 64 * jnp.finfo(dtype).eps
    stop = jnp.asarray(NEWTON_SWITCH if newton_steps else 0.0, dtype) + ftol

    def equation(x):
        new = response.log_response(game, problem.unravel(x), 1.0 / tau, reference, problem.mask)
        return jnp.where(flat_mask, x - ravel_pytree(new)[0], x)

    def solve(_, x0):
        lam = jax.lax.stop_gradient(1.0 / tau)
        if method == "path":
            _, xs, count, status = trace(
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
            start = reference if init is None else tuple(jnp.asarray(p, dtype) for p in init)
            start, ref = jax.lax.stop_gradient((start, reference))
            x = _solver_iterate(game, solver, problem, lam, start, ref, max_steps, stop)
        elif method == "anneal":
            x = _anneal(problem, lam, problem.size <= DENSE_MAX, min(max_steps, STAGE_ITERATE_STEPS))
        else:
            x = _iterate(problem, lam, x0, max_steps, stop)
        if newton_steps:
            return _newton(lambda z: problem.residual(z, lam), x, newton_steps, ftol, problem.size <= DENSE_MAX)
        return x, jnp.max(jnp.abs(problem.residual(x, lam)))

    if init is None:
        x0 = problem.start
    else:
        x0 = ravel_pytree(response.to_log(tuple(jnp.asarray(p, dtype) for p in init), problem.mask))[0]
    x0 = jax.lax.stop_gradient(_finite_log(x0))
    x, residual = jax.lax.custom_root(equation, x0, solve, _tangent_solve(problem.size), has_aux=True)
    policy = response.to_policy(problem.unravel(x), problem.mask)
    gap = jax.lax.stop_gradient(response.regularized_nash_conv(game, policy, tau, reference))
    return policy, gap, jax.lax.stop_gradient(residual)


_STATIC = ("method", "solver", "max_steps", "newton_steps")
_solve_jit = jax.jit(_solve, static_argnames=_STATIC)


def logit_qre(
    game,
    temperature,
    reference: Policy | None = None,
    *,
    init: Policy | None = None,
    tol=None,
    method: str = "auto",
    solver=None,
    max_steps: int = 20_000,
    newton_steps: int = 30,
) -> QRE:
    """The KL-regularized (logit QRE) equilibrium at ``temperature``, differentiable in the game.

    Every player plays ``pi_i ∝ rho_i exp(Q_i(pi) / tau)`` at every decision point, with the
    family's action values ``Q_i`` (``jaxgames.equilibria.response``):

    * matrix games (N players) and preference games: the logit QRE of McKelvey & Palfrey (1995)
      (``tau = 1 / lambda``); contextual preference games and ``markov.StageGames`` likewise, per
      context / state;
    * extensive-form games: the **dilated-KL-regularized equilibrium**, where each player maximizes
      ``u_i - tau sum_I x_i(I) KL(pi_i(I) || rho(I))`` with ``x_i(I)`` its own reach
      (``jaxgames.efg.regularized``; the rest point of ``solvers.mmd(geometry="dilated",
      magnet=rho, magnet_update_every=0)``); not the agent QRE, which regularizes every
      information set without the reach weight;
    * discounted Markov games: the entropy-regularized Markov equilibrium of Cen, Wei & Chi (2021)
      at every state (``jaxgames.markov.regularized``);
    * finite-horizon mean-field games: the entropy-regularized mean-field equilibrium, the soft
      best response to its own mean field ``mu(pi)`` (e.g. crowd modelling).

    The forward solve (module docstring) ends with Newton's method, so the root is exact to
    rounding; gradients with respect to every array leaf of ``game`` (payoffs, transitions,
    rewards, crowd aversion), ``temperature`` and ``reference`` come from the implicit function
    theorem at the root: one linear solve, dense up to ``DENSE_MAX`` unknowns, GMRES above.
    They are the derivatives of the root returned: where the game has several QREs at ``tau``
    (non-generic games past a bifurcation, such as the battle of the sexes below ``tau`` ~1.24),
    the root selected can jump as the game moves, which no derivative describes.

    Args:
      game: a game of a supported family (others, finite-horizon Markov games and stationary
        mean-field games included, raise a ``CapabilityError``, a ``ValueError``).
      temperature: ``tau > 0`` (may be traced: ``jax.grad`` and ``jax.vmap`` over it apply).
      reference: ``rho``, per player shaped as the policy (default uniform over legal actions).
      init: a warm start (a policy shaped as the game's); implies ``method="iterate"`` under
        ``"auto"``.
      tol: the returned point's ``regularized_nash_conv`` must be at most ``tol`` (in payoff units);
        ``None``: ``1e-9`` in float64, ``1e-4`` in float32 (whose rounding alone leaves gaps of
        ``1e-7`` to ``1e-5``).
      method: ``"auto"``, ``"path"``, ``"anneal"`` or ``"iterate"`` (module docstring).
      solver: an existing ``Solver`` for the iterate phase, whose rest point must be this
        equilibrium (the same temperature, a fixed magnet), e.g.
        ``solvers.mmd(temperature=tau, magnet_update_every=0, geometry="dilated")``; a magnet in its
        state (``extra.magnet``) is replaced by ``rho`` (``solvers.mmd`` without ``magnet=`` keeps
        none and regularizes toward the dilated entropy, whose extensive-form equilibrium is another
        one). Default: mirror descent with a fixed magnet in log space, adaptive step.
      max_steps: step budget of the iterate phase (of each annealing stage: at most
        ``STAGE_ITERATE_STEPS``; the path's point budget is fixed).
      newton_steps: Newton steps after it (``0``: none, the iterate phase then runs to rounding;
        ``"anneal"`` needs at least one).

    Returns a ``QRE``. Outside ``jit``, a point whose ``regularized_nash_conv`` exceeds ``tol``
    raises a ``ValueError`` with the gap reached; under ``jit`` or ``vmap`` such a point has
    ``converged == False`` and a ``nan`` policy (never a silent wrong answer).

    Example::

        game = jaxgames.matrix.random_game(jax.random.key(0), (2, 3, 2))  # three players
        qre = jaxgames.equilibria.logit_qre(game, 0.5)
        jax.grad(lambda g: jaxgames.equilibria.logit_qre(g, 0.5).policy[0][0])(game)
        jax.vmap(lambda t: jaxgames.equilibria.logit_qre(game, t).policy)(jnp.array([0.2, 1.0]))
    """
    response.check_supported(game)
    check_choice(method, "method", METHODS)
    check_scalar(temperature, "temperature", low=0, low_open=True)
    dtype = jnp.result_type(float)
    if tol is None:
        tol = 1e-9 if dtype == jnp.float64 else 1e-4
    check_scalar(tol, "tol", low=0, low_open=True)
    check_int(max_steps, "max_steps", 0)
    check_int(newton_steps, "newton_steps", 0)
    if init is not None:
        _check_policy(game, init, "init")
    if reference is not None:
        _check_policy(game, reference, "reference")
    if solver is not None and not all(callable(getattr(solver, f, None)) for f in ("init", "step", "output")):
        raise ValueError(f"solver: expected a Solver (init, step, output), got {type(solver).__name__}")
    if method == "anneal" and newton_steps == 0:
        raise ValueError("newton_steps: method='anneal' solves every stage by Newton's method; expected >= 1, got 0")
    if method in ("path", "anneal") and (init is not None or solver is not None):
        raise ValueError(
            f"method: {method!r} starts from the reference at infinite temperature; init= and solver= need "
            "method='iterate' (or 'auto')"
        )
    tau = jnp.asarray(temperature, dtype)
    size = sum(math.prod(p.shape) for p in jax.eval_shape(game.uniform_policy))
    if method == "auto":
        method = (
            "iterate" if (init is not None or solver is not None) else "path" if size <= AUTO_PATH_MAX else "anneal"
        )
    if method == "path" and size > _flat.DENSE_MAX:
        raise ValueError(
            f"method: 'path' forms a dense Jacobian, and this game has {size} unknowns "
            f"(> {_flat.DENSE_MAX}); use method='iterate'"
        )
    static = dict(method=method, solver=solver, max_steps=max_steps, newton_steps=newton_steps)
    try:
        hash(solver)
        run = _solve_jit
    except TypeError:  # a solver holding arrays: not a static argument, trace in place
        run = functools.partial(_solve)
    reference = None if reference is None else tuple(reference)
    init = None if init is None else tuple(init)
    policy, gap, residual = run(game, tau, reference, init, **static)
    converged = gap <= tol
    if is_concrete(converged):
        if not bool(converged):
            raise ValueError(
                f"logit_qre: regularized_nash_conv {float(gap):.3g} > tol={tol} at temperature {float(tau):.6g} "
                f"(method={method!r}, residual {float(residual):.3g}); raise max_steps or newton_steps, warm-start "
                "with init=, or use method='anneal' (or 'path' on small games)"
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
