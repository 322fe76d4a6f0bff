"""The logit QRE path: the principal branch from the uniform policy (lambda = 0) toward a Nash equilibrium.

McKelvey & Palfrey (1995) showed that the logit QREs ``pi = softmax(lambda Q(pi) + log rho)`` of a
generic finite game form, for ``lambda = 1 / temperature`` in ``[0, inf)``, a unique smooth branch
from the centroid (``lambda = 0``) whose limit as ``lambda -> inf`` is a Nash equilibrium: the one
the logit tracing procedure *selects*. Turocy (2005) traces it in ``(log pi, lambda)`` by
pseudo-arclength continuation, as Gambit's ``logit_solve`` does; so does ``qre_path``, for every
family of ``response``, on Gambit's form of the equations (``_flat.Problem.path_residual``): per
decision point, with ``b`` the first action of the support,

    x_a - x_b - lambda (Q_a - Q_b) - log(rho_a / rho_b) = 0  (a != b),   logsumexp(x) = 0,

``H(y) = 0`` in ``y = (x, lambda)``, ``x = log pi`` (the normalizer of the logit response, whose
curvature grows like ``lambda^2``, has cancelled). Each step (Allgower & Georg 1990, ch. 6;
Gambit's ``PathTracer``) forms one Jacobian and factors it once:

* predictor: ``y_p = y + h t`` along the unit tangent ``t``;
* corrector: the chord (simplified Newton) iteration on ``[H(y) ; t^T (y - y_p)] = 0`` with
  ``A = [dH/dy(y_p) ; t^T]``, run until the correction is at the level of rounding. Corrections
  are measured relative to ``y``, ``|dy_i| / max(|y_i|, 1)``: ``lambda`` and the log-probabilities
  of dominated actions (``~ -lambda * gap``) grow without bound, and Gambit's absolute norm keeps
  its steps small there. The step is rejected (and ``h`` halved) when the first correction
  exceeds ``max_dist`` (the predictor left the branch's neighbourhood), when a correction shrinks
  by less than ``max_contraction``, when the tangent turns by more than 60 degrees, or when
  ``det A`` changes sign (the corrector landed on another sheet of the QRE correspondence, past a
  nearby pair of folds: Gambit's orientation test);
* tangent: ``A t' = e_(n+1)`` with the same factorization (``dH/dy t' = 0`` and ``t^T t' = 1``:
  the orientation is kept, so the branch is followed through turning points where ``lambda``
  decreases);
* step size: ``h / d`` with the deceleration ``d = max(sqrt(dist_1 / max_dist),
  sqrt(contraction_1 / max_contraction)) * max_accel`` clipped to ``[1 / max_accel, max_accel]``
  (Gambit's rule, from the first correction and the first contraction rate), at most ``max_step``.

It stops when the point's ``nash_conv`` is at most ``max_regret`` times the payoff spread
(``CONVERGED``: Gambit's ``logit_solve`` criterion, with the sum of the players' regrets, a
stricter test than Gambit's largest regret), when ``lambda`` reaches ``max_lambda`` (``REACHED``;
the last point then lies exactly at ``max_lambda``, at the branch's first crossing), when the
buffer of ``max_points`` points is full (``OUT_OF_POINTS``), or when the step size falls below
``min_step`` (``FAILED``). Everything is one ``jax.lax.while_loop`` in one compiled program per
game structure and buffer size (the payoffs, the reference and the step parameters are traced, so
repeated calls reuse it). Under ``jax.vmap`` a queue of games runs through ``LANES`` lanes, a
new game taking the lane of one that stopped (``_trace_games``), so a thousand games cost about
their total number of steps, not a thousand times the longest path.

Checked against pygambit 16.7 (``tests/test_qre_path.py``, ``benchmarks/bench_qre.py``): the same
QREs at the same ``lambda`` (to 1e-10 typically), the same branch through turning points, and the
same selected equilibrium; on a few games Gambit's default steps (``max_accel=1.1``) cross to
another branch where its fine steps (``first_step=0.003, max_accel=1.01``) and ``qre_path`` do not.
"""

from __future__ import annotations

import functools
import math
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

#: The step parameters' defaults (``qre_path``'s keywords): Gambit's ``first_step``, a faster
#: ``max_accel`` than Gambit's 1.1 (the step control keeps the corrector contracting either way).
DEFAULT_FIRST_STEP = 0.03
DEFAULT_MAX_ACCEL = 2.0
DEFAULT_MAX_DIST = 0.4
DEFAULT_MAX_CONTRACTION = 0.2
#: Where the loop starts (the reference solves the equation there up to ``O(START_LAMBDA)``).
START_LAMBDA = 1e-10
#: Up to this many unknowns (plus lambda) the step inverts its matrix; above, it factors it (LU).
INVERSE_MAX = 32
#: A sign change of ``det A`` that persists down to steps this short (relative to ``1 + lambda``)
#: is a bifurcation, crossed; above, a jump to another sheet, rejected.
BIFURCATION_STEP = 1e-6
#: Corrector iterations per step before the step counts as rejected.
MAX_CORRECTOR = 20


class QREPath(NamedTuple):
    """A traced logit QRE branch.

    Attributes:
      inverse_temperatures: ``[P]`` the ``lambda`` of each point (``lambda = 1 / temperature``),
        the first ``0`` (the reference policy); ``nan`` past ``num_points``.
      policies: per player ``[P, *policy_shape]``, the QRE at each point (``nan`` past ``num_points``).
      num_points: number of points on the path.
      nash: the last point's policy: the selected Nash equilibrium when ``status == CONVERGED``, the
        QRE at ``max_lambda`` when ``REACHED``, the last QRE reached when ``OUT_OF_POINTS``, and
        ``nan`` when ``FAILED`` (under ``jit`` or ``vmap``; outside, a failed path raises).
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


class _Params(NamedTuple):
    """The step parameters of one path (scalars, traced: one compiled program serves them all)."""

    first_step: jax.Array
    max_accel: jax.Array
    max_step: jax.Array
    min_step: jax.Array
    max_lambda: jax.Array
    regret_tol: jax.Array
    max_dist: jax.Array
    max_contraction: jax.Array


def _params(dtype, **values) -> _Params:
    return _Params(**{k: jnp.asarray(v, dtype) for k, v in values.items()})


def _equation(problem: _flat.Problem):
    """``H(y)`` of the module docstring, ``y = (x, lambda)`` flat (Gambit's form where available)."""
    residual = problem.residual if problem.path_residual is None else problem.path_residual
    n = problem.size
    return lambda y: residual(y[:n], y[n])


def _start(problem: _flat.Problem, params: _Params):
    """The first point and tangent.

    The path starts at the reference (``lambda = 0``). Families whose ``Q`` needs ``tau = 1 /
    lambda`` are not evaluated at 0: the loop starts at ``lambda = START_LAMBDA`` (or ``min_step``
    if smaller), where the reference solves the equation up to ``O(lambda)``. The tangent there is
    the curve's, whatever the form of its equations: in ``problem.residual``'s, ``x - log R(x)``,
    ``dH/dx = I`` at ``lambda = 0``, so ``t ∝ (-dH/dlambda, 1)``, one forward-mode derivative.
    """
    n, dtype = problem.size, problem.start.dtype
    e_last = jnp.zeros(n + 1, dtype).at[n].set(1.0)
    y0 = jnp.concatenate([problem.start, jnp.minimum(params.min_step, START_LAMBDA)[None]])
    _, dH = jax.jvp(lambda y: problem.residual(y[:n], y[n]), (y0,), (e_last,))
    t0 = jnp.concatenate([-dH, jnp.ones((1,), dtype)])
    return y0, t0 / jnp.linalg.norm(t0)


class _State(NamedTuple):
    y: jax.Array  # [n + 1] the last point
    t: jax.Array  # [n + 1] the unit tangent there
    h: jax.Array  # the next step size
    count: jax.Array  # points so far (the reference included)
    steps: jax.Array  # steps attempted
    status: jax.Array  # -1 while running, else the status code
    orientation: jax.Array  # sign of det [dH/dy ; t^T] on the branch so far (0 before the first step)


def _initial_state(problem: _flat.Problem, params: _Params) -> _State:
    y0, t0 = _start(problem, params)
    i32 = jnp.int32
    dtype = y0.dtype
    return _State(
        y0, t0, params.first_step, jnp.asarray(1, i32), jnp.asarray(0, i32), jnp.asarray(-1, i32), jnp.zeros((), dtype)
    )


def _step(problem: _flat.Problem, regret, params: _Params, state: _State, max_points: int, max_corrector: int):
    """One predictor-corrector step (module docstring): ``(new state, corrected point, accepted)``.

    ``max_points`` only sets ``OUT_OF_POINTS``; the caller stores the point (at index
    ``state.count`` when accepted).
    """
    n, dtype = problem.size, problem.start.dtype
    H = _equation(problem)
    eps = float(jnp.finfo(dtype).eps)
    tight = 256 * eps  # converged: the corrector's estimated error is below this
    noise = float(np.sqrt(eps))  # below this, corrections that stop contracting are rounding noise
    e_last = jnp.zeros(n + 1, dtype).at[n].set(1.0)
    p = params

    def corrector(y_p, row, solve):
        """Chord iterations from ``y_p``: ``(y, ok, first correction, first contraction rate)``.

        Corrections are measured relative to the point, ``|dy_i| / max(|y_i|, 1)`` (2-norm): the
        log-probabilities of dominated actions, ``~ -lambda * gap``, and ``lambda`` itself grow
        without bound, and an error relative to them is what matters (Gambit's absolute norm
        keeps the steps at large ``lambda`` from growing). In this norm rounding stays near
        ``eps`` times the conditioning at every ``lambda``: the corrector stops when its estimated
        error is below ``tight``, or when corrections below ``noise`` stop contracting (rounding).
        At least two corrections: the second measures the contraction rate for the step control.
        """
        weight = 1.0 / jnp.maximum(jnp.abs(y_p), 1.0)

        def cond(c):
            return (c[0] < max_corrector) & (c[5] == 0)

        def body(c):
            k, y, d, d1, rate1, _ = c
            dy = solve(jnp.concatenate([H(y), jnp.dot(row, y - y_p)[None]]))
            d2 = jnp.linalg.norm(dy * weight)
            rate = jnp.where((k == 0) | (d2 == 0), 0.0, d2 / jnp.where(d > 0, d, 1.0))
            converged = (rate / jnp.maximum(1.0 - rate, 1e-3) * d2 <= tight) | ((d2 <= noise) & (rate > 0.25))
            converged = converged & (k > 0)  # two corrections at least: the second measures the contraction
            diverging = ~jnp.isfinite(d2) | jnp.where(
                k == 0, d2 > p.max_dist, (rate > p.max_contraction) & (d2 > noise)
            )
            code = jnp.where(diverging, 2, jnp.where(converged, 1, 0)).astype(jnp.int32)  # 0 running, 2 rejected
            # the first contraction rate, for the step control (0 when the corrections are rounding)
            rate1 = jnp.where(k == 1, jnp.where(d2 > noise, rate, 0.0), rate1)
            return k + 1, y - dy, d2, jnp.where(k == 0, d2, d1), rate1, code

        zero = jnp.zeros((), dtype)
        init = (jnp.asarray(0, jnp.int32), y_p, zero, zero, zero, jnp.asarray(0, jnp.int32))
        _, y, _, d1, rate1, code = jax.lax.while_loop(cond, body, init)
        return y, code == 1, d1, rate1

    y, t, h = state.y, state.t, state.h
    # land exactly on max_lambda when the predictor would cross it: the last row then fixes lambda
    final = (t[n] > 0) & (y[n] + h * t[n] >= p.max_lambda)
    h_eff = jnp.where(final, (p.max_lambda - y[n]) / jnp.where(final, t[n], 1.0), h)
    y_p = y + h_eff * t
    y_p = y_p.at[n].set(jnp.where(final, p.max_lambda, y_p[n]))
    row = jnp.where(final, e_last, t)
    # one Jacobian and one factorization per step: the corrector's chord matrix and the tangent
    A = jnp.concatenate([jax.jacfwd(H)(y_p), row[None]], axis=0)
    lu, pivots = jax.scipy.linalg.lu_factor(A)
    swaps = jnp.sum(pivots != jnp.arange(n + 1, dtype=pivots.dtype))
    orientation = jnp.prod(jnp.sign(jnp.diagonal(lu))) * (1 - 2 * (swaps % 2)).astype(dtype)
    if n + 1 <= INVERSE_MAX:  # small: the inverse, then each correction is one product
        inverse = jax.scipy.linalg.lu_solve((lu, pivots), jnp.eye(n + 1, dtype=dtype))
        y_new, ok, d1, rate1 = corrector(y_p, row, lambda b: inverse @ b)
        t_new = inverse[:, n]
    else:  # LAPACK's multi-threaded solves with many right-hand sides cost more than they save here
        y_new, ok, d1, rate1 = corrector(y_p, row, lambda b: jax.scipy.linalg.lu_solve((lu, pivots), b))
        t_new = jax.scipy.linalg.lu_solve((lu, pivots), e_last)
    # t_new solves dH/dy t' = 0, row . t' = 1: the orientation of t is kept
    t_new = t_new / jnp.linalg.norm(t_new)
    # the tangent turns by at most 60 degrees; lambda stays positive (the principal branch never
    # comes back to lambda = 0, where the QRE is unique)
    ok = ok & jnp.all(jnp.isfinite(t_new)) & (jnp.dot(t_new, t) > 0.5) & (y_new[n] > 0)
    # det [dH/dy ; t^T] keeps its sign along a branch: a step that lands where it has the other sign
    # crossed to another sheet of the QRE correspondence (past a nearby pair of folds; Gambit's
    # orientation test) and is retried shorter, unless the sign flips however short the step: a
    # simple bifurcation (non-generic games), which the path then crosses, going straight on
    flip = (state.orientation != 0) & (orientation != state.orientation)
    ok = ok & (~flip | (h_eff <= BIFURCATION_STEP * (1.0 + jnp.abs(y[n]))))

    count = state.count + ok.astype(jnp.int32)
    reg = jnp.where(ok, regret(response.to_policy(problem.unravel(y_new[:n]), problem.mask)), jnp.inf)
    decel = jnp.maximum(jnp.sqrt(d1 / p.max_dist), jnp.sqrt(jnp.maximum(rate1, 0.0) / p.max_contraction))
    decel = jnp.clip(decel * p.max_accel, 1.0 / p.max_accel, p.max_accel)
    h_next = jnp.where(ok, jnp.minimum(h / decel, p.max_step), h / 2)
    status = jnp.where(
        ok & (reg <= p.regret_tol) & (p.regret_tol > 0),  # max_regret = 0: never
        CONVERGED,
        jnp.where(
            ok & final,
            REACHED,
            jnp.where(count >= max_points, OUT_OF_POINTS, jnp.where(h_next < p.min_step, FAILED, -1)),
        ),
    ).astype(jnp.int32)
    new = _State(
        jnp.where(ok, y_new, y),
        jnp.where(ok, t_new, t),
        h_next,
        count,
        state.steps + 1,
        status,
        jnp.where(ok, orientation, state.orientation),
    )
    return new, y_new, ok


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
    max_dist=DEFAULT_MAX_DIST,
    max_contraction=DEFAULT_MAX_CONTRACTION,
    max_corrector: int = MAX_CORRECTOR,
    return_steps: bool = False,
):
    """The continuation loop on a flat ``problem`` (module docstring), one ``jax.lax.while_loop``.

    ``regret(policy)``: the scalar the ``CONVERGED`` test compares with ``regret_tol``. Returns
    ``(lams [P], xs [P, n], count, status)``: the points (``nan`` past ``count``), their number and
    the status code; with ``return_steps`` also the number of steps attempted (accepted or not).
    Under ``jax.vmap`` this is JAX's batched while loop (every game steps until the last one
    stops); ``qre_path`` batches with a queue of games instead (``_trace_games``).
    """
    n, dtype = problem.size, problem.start.dtype
    params = _params(
        dtype,
        first_step=first_step,
        max_accel=max_accel,
        max_step=max_step,
        min_step=min_step,
        max_lambda=max_lambda,
        regret_tol=regret_tol,
        max_dist=max_dist,
        max_contraction=max_contraction,
    )
    lams = jnp.full((max_points,), jnp.nan, dtype).at[0].set(0.0)
    xs = jnp.full((max_points, n), jnp.nan, dtype).at[0].set(problem.start)

    def body(c):
        state, lams, xs = c
        idx = jnp.minimum(state.count, max_points - 1)
        state, y_new, _ = _step(problem, regret, params, state, max_points, max_corrector)
        # written always: a rejected step's point is overwritten by the next accepted one or masked
        return state, lams.at[idx].set(y_new[n]), xs.at[idx].set(y_new[:n])

    state, lams, xs = jax.lax.while_loop(lambda c: c[0].status < 0, body, (_initial_state(problem, params), lams, xs))
    valid = jnp.arange(max_points) < state.count
    lams = jnp.where(valid, lams, jnp.nan)
    xs = jnp.where(valid[:, None], xs, jnp.nan)
    if return_steps:
        return lams, xs, state.count, state.status, state.steps
    return lams, xs, state.count, state.status


#: Games stepped at once when ``qre_path`` is vmapped (``_trace_games``).
LANES = 64


def _problem_and_params(game, reference, max_lambda, max_regret, first_step, max_accel, max_step, min_step):
    dtype = reference[0].dtype
    problem = _flat.problem(game, reference)
    params = _params(
        dtype,
        first_step=first_step,
        max_accel=max_accel,
        max_step=max_step,
        min_step=min_step,
        max_lambda=max_lambda,
        regret_tol=jnp.asarray(max_regret, dtype) * _payoff_spread(game).astype(dtype),
        max_dist=DEFAULT_MAX_DIST,
        max_contraction=DEFAULT_MAX_CONTRACTION,
    )
    return problem, params


def _trace_one(args, max_points: int):
    game = args[0]
    problem, params = _problem_and_params(*args)
    return trace(
        problem,
        game.nash_conv,
        max_points=max_points,
        return_steps=True,
        **{k: getattr(params, k) for k in _Params._fields},
    )


def _trace_games(args, num_games: int, max_points: int, lanes: int):
    """``_trace_one`` for ``num_games`` games (leading axis of every leaf of ``args``) with a queue.

    ``lanes`` games step at once (one vmapped step); when one stops, the next game in the queue
    takes its lane. The loop therefore runs about ``sum(steps) / lanes`` iterations instead of
    ``max(steps)``, and the point buffers are written by scatters, never copied by the batched
    while loop's selects. Each game's computation is exactly ``_trace_one``'s.
    """
    B, W, P = num_games, min(lanes, num_games), max_points
    i32 = jnp.int32

    def lane_init(gid):
        def one(a):
            problem, params = _problem_and_params(*a)
            return _initial_state(problem, params), problem.start

        return jax.vmap(one)(jax.tree.map(lambda a: a[gid], args))

    def lane_step(gid, state):
        def one(a, s):
            problem, params = _problem_and_params(*a)
            return _step(problem, a[0].nash_conv, params, s, P, MAX_CORRECTOR)

        return jax.vmap(one)(jax.tree.map(lambda a: a[gid], args), state)

    gid = jnp.arange(W, dtype=i32)
    state, start = lane_init(gid)
    n = start.shape[-1]
    dtype = start.dtype
    lams = jnp.full((B + 1, P), jnp.nan, dtype).at[gid, 0].set(0.0)  # row B: idle lanes write there
    xs = jnp.full((B + 1, P, n), jnp.nan, dtype).at[gid, 0].set(start)
    count = jnp.ones((B + 1,), i32)
    status = jnp.full((B + 1,), -1, i32)
    steps = jnp.zeros((B + 1,), i32)

    def body(c):
        gid, state, nxt, lams, xs, count, status, steps = c
        live = jnp.minimum(gid, B - 1)
        idx = jnp.minimum(state.count, P - 1)
        state, y_new, _ = lane_step(live, state)
        lams = lams.at[gid, idx].set(y_new[:, n])
        xs = xs.at[gid, idx].set(y_new[:, :n])
        count = count.at[gid].set(state.count)
        status = status.at[gid].set(state.status)
        steps = steps.at[gid].set(state.steps)
        # lanes whose game stopped take the next games of the queue
        done = (state.status >= 0) & (gid < B)
        new_gid = jnp.where(done, nxt + jnp.cumsum(done, dtype=i32) - 1, gid)
        new_gid = jnp.where(new_gid < B, new_gid, B).astype(i32)
        fresh, start = lane_init(jnp.minimum(new_gid, B - 1))
        state = jax.tree.map(lambda a, b: jnp.where(done.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), fresh, state)
        lams = lams.at[jnp.where(done, new_gid, B), 0].set(0.0)
        xs = xs.at[jnp.where(done, new_gid, B), 0].set(start)
        return new_gid, state, nxt + jnp.sum(done, dtype=i32), lams, xs, count, status, steps

    init = (gid, state, jnp.asarray(W, i32), lams, xs, count, status, steps)
    _, _, _, lams, xs, count, status, steps = jax.lax.while_loop(lambda c: jnp.any(c[0] < B), body, init)
    lams, xs, count, status, steps = lams[:B], xs[:B], count[:B], status[:B], steps[:B]
    valid = jnp.arange(P) < count[:, None]
    return jnp.where(valid, lams, jnp.nan), jnp.where(valid[..., None], xs, jnp.nan), count, status, steps


@functools.cache
def _core(max_points: int):
    """``_trace_one`` with ``max_points`` fixed, batched by ``_trace_games`` under ``jax.vmap``."""

    @jax.custom_batching.custom_vmap
    def core(args):
        return _trace_one(args, max_points)

    @core.def_vmap
    def rule(axis_size, in_batched, args):
        (batched,) = in_batched
        args = jax.tree.map(lambda a, b: a if b else jnp.broadcast_to(a, (axis_size,) + jnp.shape(a)), args, batched)
        out = _trace_games(args, axis_size, max_points, LANES)
        return out, jax.tree.map(lambda _: True, out)

    return core


def _path(game, reference, max_lambda, max_regret, first_step, max_accel, max_step, min_step, *, max_points: int):
    """``qre_path``'s computation, jitted once per game structure and ``max_points``."""
    args = (game, reference, max_lambda, max_regret, first_step, max_accel, max_step, min_step)
    lams, xs, count, status, steps = _core(max_points)(args)
    problem = _flat.problem(game, reference)
    policies = jax.vmap(lambda x: response.to_policy(problem.unravel(x), problem.mask))(xs)
    policies = tuple(jnp.where(jnp.isnan(lams).reshape((-1,) + (1,) * (p.ndim - 1)), jnp.nan, p) for p in policies)
    last = tuple(jnp.where(status == FAILED, jnp.nan, p[count - 1]) for p in policies)
    return QREPath(lams, policies, count, last, game.nash_conv(last), status), steps


_path_jit = jax.jit(_path, static_argnames=("max_points",))


def qre_path(
    game,
    reference: Policy | None = None,
    *,
    max_lambda=1e12,
    max_regret=None,
    first_step=DEFAULT_FIRST_STEP,
    max_accel=DEFAULT_MAX_ACCEL,
    max_step=None,
    min_step=1e-10,
    max_points: int | None = None,
) -> QREPath:
    """Trace the principal branch of logit QREs from ``lambda = 0`` toward a Nash equilibrium.

    Pseudo-arclength predictor-corrector continuation of ``pi = softmax(lambda Q(pi) + log rho)``
    in ``(log pi, lambda)`` (module docstring; McKelvey & Palfrey 1995, Turocy 2005), for every
    family of ``jaxgames.equilibria.logit_qre``. The branch and the equilibrium it selects are
    Gambit's ``logit_solve``'s (its ``first_step`` and step-control rule, with ``max_accel`` 2 where
    Gambit has 1.1: fewer points on the same branch). The first point is ``rho`` at ``lambda = 0``;
    every later one solves the equation to rounding.

    Discounted Markov games go to ``jaxgames.markov.qre.qre_path(..., regularized=True)``: the same
    branch (Cen et al.'s entropy-regularized equilibria), traced with the per-state block structure
    of the Jacobian, with an end game that solves for the limit's support (its ``nash`` is that
    polished Markov perfect equilibrium).

    Non-generic games (symmetric ones, most textbook 2x2 games) may have a bifurcation on the
    branch, where ``det A`` changes sign however short the step: the path crosses it straight on
    (battle of the sexes: to the mixed equilibrium), where Gambit perturbs its equations and may
    take another branch (there, to a pure one). Where the reference is already an equilibrium
    (matching pennies, stag hunt), the path stops at its first step.

    Args:
      game: a game of a supported family (``jaxgames.equilibria.response``).
      reference: the reference policy ``rho`` (default uniform over legal actions).
      max_lambda: stop with the point at exactly this ``lambda`` (``status == REACHED``), the
        branch's first crossing of it (Gambit's ``logit_solve_lambda``).
      max_regret: stop when ``nash_conv`` is at most this times the payoff spread (``CONVERGED``);
        default ``1e-8`` (Gambit's) in float64 and ``1e-4`` in float32, where rounding in
        ``lambda Q`` limits how far the branch can be followed (and ill-conditioned branches may
        fail: float64 is the precision to use); ``0``: never (trace to ``max_lambda``).
      first_step, max_accel, max_step, min_step: arclength step sizes: the first, the largest
        growth factor per step, the largest (default unlimited), and the smallest before the path
        counts as failed.
      max_points: size of the path buffers (``OUT_OF_POINTS`` when full); default
        ``default_max_points(game)``: 1,000, and 4,000 for discounted Markov games, whose
        branches can turn back dozens of times.

    Returns a ``QREPath`` of arrays of the reference's dtype. Outside ``jit`` a path that fails
    (the step size falls below ``min_step``) raises a ``ValueError`` naming the last ``lambda``
    reached; under ``jit`` or ``vmap`` its ``status`` is ``FAILED``, its points past
    ``num_points`` and its ``nash`` are ``nan``.

    One compiled program serves every call with the same game structure, dtype and
    ``max_points`` (the payoffs, the reference and the step parameters are traced); under
    ``jax.vmap`` the games run through a queue (module docstring).

    Example::

        game = jaxgames.matrix.prisoners_dilemma()
        path = jaxgames.equilibria.qre_path(game)
        path.nash              # both defect: ([~0, 1], [~0, 1]), to 1e-11 in float64
        path.num_points        # 14
        jax.vmap(jaxgames.equilibria.qre_path)(games)   # a batch of games, one compiled call
    """
    response.check_supported(game)
    max_points = default_max_points(game) if max_points is None else max_points
    check_int(max_points, "max_points", 3)
    for name, value in (("max_lambda", max_lambda), ("first_step", first_step), ("min_step", min_step)):
        check_scalar(value, name, low=0, low_open=True)
    if max_step is not None:
        check_scalar(max_step, "max_step", low=0, low_open=True)
    if max_regret is not None:
        check_scalar(max_regret, "max_regret", low=0)
    check_scalar(max_accel, "max_accel", low=1, low_open=True)
    if all(is_concrete(v) for v in (first_step, min_step)) and float(first_step) < float(min_step):
        raise ValueError(f"first_step: expected a value >= min_step={float(min_step)}, got {float(first_step)}")
    if reference is None:
        reference = game.uniform_policy()
    else:
        _check_reference(game, reference)
    dtype = jnp.asarray(reference[0]).dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    reference = tuple(jnp.asarray(r, dtype) for r in reference)
    if max_regret is None:
        max_regret = 1e-8 if dtype == jnp.float64 else 1e-4
    if _structured_markov(game):
        from jaxgames.markov import qre as markov_qre

        return markov_qre.qre_path(
            game,
            reference,
            regularized=True,
            max_lambda=max_lambda,
            max_regret=max_regret,
            first_step=first_step,
            max_accel=max_accel,
            max_step=max_step,
            min_step=min_step,
            max_points=max_points,
        )
    max_step = jnp.inf if max_step is None else max_step
    result, _ = _path_jit(
        game, reference, max_lambda, max_regret, first_step, max_accel, max_step, min_step, max_points=max_points
    )
    status = result.status
    if is_concrete(status) and int(status) == FAILED:
        count = int(result.num_points)
        raise ValueError(
            f"qre_path: the path failed at lambda = {float(result.inverse_temperatures[count - 1]):.6g} (its last "
            f"point, the {count}th): the step size fell below min_step={min_step}; the branch may bifurcate there "
            f"(a non-generic game) or the equation be too ill-conditioned in {jnp.dtype(dtype).name}; try a "
            "smaller min_step, float64 (jax.enable_x64), or perturbed payoffs"
        )
    return result


#: The largest linear system (rows) ``qre_path`` factors at every step that configs accept
#: (``system_size``): a float64 LU of 4,096 rows takes about 0.2 s and 128 MB.
MAX_SYSTEM = 4096


def system_size(game) -> tuple[int, str]:
    """``(rows, what they are)`` of the linear system ``qre_path`` factors at every step: the
    policy's entries plus ``lambda``, or for a discounted Markov game the ``N S`` values plus
    ``lambda`` (the per-state blocks eliminated)."""
    if _structured_markov(game):
        return game.num_players * game.num_states + 1, "values (players x states, the per-state blocks eliminated)"
    size = sum(math.prod(p.shape) for p in jax.eval_shape(game.uniform_policy))
    return size + 1, "policy entries"


def default_max_points(game) -> int:
    """``qre_path``'s default buffer size: 1,000 points, 4,000 for a discounted Markov game (its
    branch can turn back dozens of times; ``jaxgames.markov.qre``)."""
    return 4000 if _structured_markov(game) else 1000


def _structured_markov(game) -> bool:
    """Whether ``qre_path`` hands ``game`` to ``jaxgames.markov.qre.qre_path`` (discounted Markov games:
    the per-state block Jacobian and the end game; the dense Jacobian here would take ``S sum_i A_i``
    JVPs through an ``S``-square solve per step)."""
    from jaxgames.markov.game import MarkovGame

    return isinstance(game, MarkovGame) and game.horizon is None


def _check_reference(game, reference) -> None:
    from jaxgames.validation import check_probabilities

    shapes = [tuple(p.shape) for p in game.uniform_policy()]
    if not isinstance(reference, (tuple, list)) or len(reference) != len(shapes):
        raise ValueError(f"reference: expected a policy, a tuple of {len(shapes)} arrays shaped {shapes}")
    for i, (p, shape) in enumerate(zip(reference, shapes)):
        if tuple(jnp.shape(p)) != shape:
            raise ValueError(f"reference[{i}]: expected shape {shape}, got {tuple(jnp.shape(p))}")
        check_probabilities(p, f"reference[{i}]", mask=game.legal_mask()[i])


def describe(status) -> str:
    """The name of a ``QREPath.status`` code."""
    return STATUS_NAMES[int(np.asarray(status))]
