"""Inverse game theory and reward design through the differentiable logit QRE.

Both problems optimize a function of the equilibrium ``pi*(theta) = logit_qre(model(theta), tau)``
over parameters ``theta`` of a game, by derivatives through ``logit_qre`` (implicit differentiation
at the fixed point, ``jaxgames.equilibria.qre``): Fisher scoring (the likelihood's natural
gradient) or L-BFGS (``optax.scale_by_lbfgs``) with a line search, or any optax optimizer:

* ``fit``: **inverse game theory**, the maximum-likelihood game given observed action counts
  ``n`` (shaped as the policy, one count per decision point and action):

      theta_hat = argmin_theta  L(theta) = (1 / N) sum_k sum_rows sum_a n[a] (log f[a] - log pi*_k(theta)[a])

  (``f = n / row total``: the loss is the mean KL divergence from the observed frequencies to the
  model, ``0`` for a perfect fit; ``N`` the total count; ``k`` runs over conditions, below).
  Standard errors come from the Fisher information ``I = J^T diag(n_row / pi*) J`` with
  ``J = d pi* / d theta``, which the forward-mode derivative of every step already holds
  (the expected information, equal in expectation to the observed one, ``jax.hessian`` of the
  log-likelihood, and asymptotically the same at the MLE): ``cov = pinv(I)``.
  ``fit_payoffs``, ``fit_preferences`` and ``fit_temperature`` are the matrix-game recipes.
* ``design``: **reward design**, minimize any objective of the equilibrium over the game's
  parameters, e.g. ``(statistic(pi*(theta)) - target) ** 2``: a congestion coefficient that
  spreads a crowd to a target entropy, a subsidy that makes cooperation likely.

What the data can identify (McKelvey & Palfrey 1995; the econometrics of QRE):

* **Opponent-profile shifts.** The logit response of player ``i`` depends on differences of its
  action values across its own actions only, so adding to ``u_i(a_i, a_-i)`` any function
  ``c_i(a_-i)`` of the others' actions leaves every QRE unchanged. Only the payoffs centered over
  the own action, per opponent profile (``center_payoffs``), can be recovered.
* **Scale.** ``pi* = softmax(Q / tau)``: payoffs times ``s`` at temperature ``tau`` times ``s``
  is the same equilibrium. Fix the temperature (``fit_payoffs``) or the payoffs
  (``fit_temperature``); never fit both freely.
* **Counting.** One equilibrium of an ``A_1 x ... x A_N`` game reveals ``sum_i (A_i - 1)``
  numbers, far fewer than the ``sum_i (A_i - 1) prod_{j != i} A_j`` centered payoffs (for
  ``N >= 2``). Identification needs variation: several **conditions** ``k`` (the same game played
  at several known temperatures, or with known payoff shifts ``offsets``, like the treatments of a
  laboratory experiment), each with its own counts. For two players, player ``i``'s centered
  payoffs are identified once the opponent's equilibrium strategies across conditions span
  ``R^(A_-i)`` (at least ``A_-i`` conditions).

``Fit.num_identified`` is the numerical rank of the Fisher information: a rank below the number of
free parameters says some direction of ``theta`` is not identified (the covariance is then the
pseudo-inverse: the covariance of the parameters' component orthogonal to the flat directions,
which is exactly the right one when the model projects its parameters orthogonally first, as
``fit_payoffs`` does by centering and ``fit_preferences`` by taking the skew-symmetric part).

Every step solves the equilibrium by ``logit_qre(..., init=previous policy)``: a warm start from
the last accepted iterate, so each solve is a few mirror-descent and Newton steps and the fit
follows one QRE branch continuously. The first solve starts from the reference policy (the
principal branch for small payoffs), and falls back on ``method="path"`` when that fails.
The likelihood is thus that of *one* branch: where the game has several QREs at a condition's
temperature (coordination games at low temperature), the data may come from another branch than
the one the fit follows, and the fit then lands on payoffs that make the followed branch explain
them (on a 2x2 coordination game with several QREs, a fitted payoff of 9.06 for a true 2.0).
Fit at temperatures where the QRE is unique, or start ``params0`` on the data's branch.

Example::

    game = jaxgames.matrix.bimatrix(A, B)                  # the unknown game, [2, 3, 3]
    temperatures = [0.5, 1.0, 2.0, 4.0]                    # four known conditions
    counts = [sample_counts(logit_qre(game, t).policy, 10**5, seed=k) for k, t in enumerate(temperatures)]
    result = fit_payoffs(counts, temperatures)             # centered payoffs, standard errors
    z = (result.params - center_payoffs(game.payoffs)) / result.standard_errors
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from jaxgames.core import Policy
from jaxgames.equilibria.qre import logit_qre
from jaxgames.validation import check_int, check_scalar


class Fit(NamedTuple):
    """A maximum-likelihood fit of a game's parameters to observed action counts (``fit``).

    Attributes:
      params: the fitted parameters (the pytree of ``params0``).
      standard_errors: per parameter, ``sqrt(diag(covariance))``, shaped as ``params``.
      covariance: ``[P, P]``, the inverse Fisher information (pseudo-inverse, module docstring)
        of the flattened parameters (``jax.flatten_util.ravel_pytree(params)`` order).
      loss: the final loss, the mean KL divergence from the observed frequencies to the model
        (``2 N loss`` is the deviance: about chi-square with ``cells - rows - num_identified``
        degrees of freedom for a correct model).
      losses: ``[steps + 1]`` the loss at every accepted iterate (the first at ``params0``).
      policies: the fitted equilibrium (a list, one per condition, when the model returns several games).
      num_steps: optimizer steps taken.
      converged: whether the stopping rule (``tol``) was met.
      num_identified: numerical rank of the Fisher information (identified directions).
    """

    params: Any
    standard_errors: Any
    covariance: np.ndarray
    loss: float
    losses: np.ndarray
    policies: Any
    num_steps: int
    converged: bool
    num_identified: int


class Design(NamedTuple):
    """A game whose equilibrium minimizes an objective (``design``).

    Attributes:
      params: the designed parameters (the pytree of ``params0``).
      value: the objective there.
      values: ``[steps + 1]`` the objective at every accepted iterate (the first at ``params0``).
      policies: the equilibrium there (a list when the model returns several games).
      num_steps: optimizer steps taken.
      converged: whether the largest gradient entry fell to ``gtol``.
    """

    params: Any
    value: float
    values: np.ndarray
    policies: Any
    num_steps: int
    converged: bool


# ----------------------------------------------------------------------------------------------------
# the model: params -> one game or a list of games (conditions), with their temperatures


def _is_game(x) -> bool:
    return hasattr(x, "uniform_policy") and hasattr(x, "legal_mask")


def _games(model, params, extra) -> tuple[bool, list]:
    out = model(params, extra)
    if _is_game(out):
        return True, [out]
    if isinstance(out, (list, tuple)) and out and all(_is_game(g) for g in out):
        return False, list(out)
    raise ValueError(
        "model: expected model(params) to return a game or a non-empty list of games (one per condition), "
        f"got {type(out).__name__}"
    )


@functools.lru_cache(maxsize=64)
def _without_extra(model):
    """``model(params)`` as ``model(params, extra)`` (one wrapper per model: jit caches stay warm)."""
    return lambda params, extra: model(params)


def _temperatures(temperature, params, num: int):
    taus = temperature(params) if callable(temperature) else temperature
    if not isinstance(taus, (list, tuple)):
        if jnp.ndim(taus) == 0:
            return [taus] * num
        taus = list(taus)
    if len(taus) != num:
        raise ValueError(f"temperature: expected a scalar or {num} temperatures (one per condition), got {len(taus)}")
    return taus


# ----------------------------------------------------------------------------------------------------
# objectives: (params, policies, data) -> scalar


def _safe_log(p, positive):
    return jnp.log(jnp.where(positive, p, 1.0))


def _mean_kl(params, policies, data):
    """Mean KL divergence from the observed frequencies to ``policies`` (the fit's loss)."""
    del params
    counts, total = data
    loss = 0.0
    for pol, cnt in zip(policies, counts):
        for p, c in zip(pol, cnt):
            seen = c > 0
            freq = c / jnp.maximum(jnp.sum(c, axis=-1, keepdims=True), 1.0)
            loss = loss + jnp.sum(jnp.where(seen, c * (_safe_log(freq, seen) - _safe_log(p, seen)), 0.0))
    return loss / total


@functools.lru_cache(maxsize=64)
def _user_objective(objective, single: bool):
    def wrapped(params, policies, data):
        del data
        return objective(params, policies[0] if single else policies)

    return wrapped


# ----------------------------------------------------------------------------------------------------
# the compiled evaluation: value, gradient, policies and d policies / d params, in one forward pass


def _same_structure(trees) -> bool:
    leaves0, tdef0 = jax.tree.flatten(trees[0])
    for tree in trees[1:]:
        leaves, tdef = jax.tree.flatten(tree)
        if tdef != tdef0 or any(
            jnp.shape(a) != jnp.shape(b) or jnp.result_type(a) != jnp.result_type(b) for a, b in zip(leaves, leaves0)
        ):
            return False
    return True


def _stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _solve_all(games, taus, inits, references, options) -> tuple[list, jax.Array]:
    """``logit_qre`` of every condition: one ``vmap`` when the games share their structure (one
    compiled solve, whatever the number of conditions), a Python loop otherwise."""
    num = len(games)
    dtype = jnp.result_type(float)
    taus = [jnp.asarray(t, dtype) for t in taus]
    if num > 1 and _same_structure(games) and (references is None or _same_structure(references)):

        def one(game, tau, init, ref):
            qre = logit_qre(game, tau, ref, init=init, **options)
            return qre.policy, qre.converged

        refs = None if references is None else _stack(references)
        policy, converged = jax.vmap(one)(_stack(games), jnp.stack(taus), _stack(inits), refs)
        return [jax.tree.map(lambda x, k=k: x[k], policy) for k in range(num)], jnp.all(converged)
    policies, ok = [], jnp.array(True)
    for k, game in enumerate(games):
        qre = logit_qre(game, taus[k], None if references is None else references[k], init=inits[k], **options)
        policies.append(qre.policy)
        ok = ok & qre.converged
    return policies, ok


#: The programs run for milliseconds and take seconds to compile: skip XLA's LLVM optimization
#: passes (about half the compile time, the run time barely changes).
_QUICK_COMPILE = {"xla_backend_optimization_level": 0}


@functools.lru_cache(maxsize=64)
def _evaluator(model, temperature, objective, qre_items: tuple):
    """A jitted ``(params, inits, data, extra, references) -> (value, grad, d_policies, policies, ok)``.

    ``grad`` is ``d value / d theta`` and ``d_policies`` ``[M, P]`` the Jacobian of the flat policies
    (``theta`` the flat parameters), both from one forward-mode pass. Cached per (model,
    temperature rule, objective, logit_qre options): another fit of the same model with other
    counts or other start values reuses the compiled program.
    """
    options = dict(qre_items)

    def evaluate(params, inits, data, extra, references):
        theta, unravel = ravel_pytree(params)

        def outputs(th):
            p = unravel(th)
            _, games = _games(model, p, extra)
            taus = _temperatures(temperature if callable(temperature) else extra["temperature"], p, len(games))
            policies, ok = _solve_all(games, taus, inits, references, options)
            value = objective(p, policies, data)
            flat = ravel_pytree(policies)[0]
            return jnp.concatenate([value[None], flat]), (value, policies, ok)

        jac, (value, policies, ok) = jax.jacfwd(outputs, has_aux=True)(theta)
        ok = ok & jnp.isfinite(value) & jnp.all(jnp.isfinite(jac))
        return value, jac[0], jac[1:], policies, ok

    return jax.jit(evaluate, compiler_options=_QUICK_COMPILE)


def _default_qre_options(dtype) -> dict:
    # float32 cannot reach logit_qre's default gap of 1e-9: the values carry ~1e-7 rounding
    return {"max_steps": 200, "tol": 1e-9 if dtype == jnp.float64 else 1e-5}


def _references(reference, single: bool, num: int):
    if reference is None:
        return None
    if single:
        return [tuple(jnp.asarray(r) for r in reference)]
    if not isinstance(reference, (list, tuple)) or len(reference) != num:
        raise ValueError(f"reference: expected None or a list of {num} policies (one per condition)")
    return [tuple(jnp.asarray(r) for r in ref) for ref in reference]


class _Run(NamedTuple):
    params: Any
    value: float
    values: np.ndarray
    grad: np.ndarray
    d_policies: np.ndarray
    policies: list
    num_steps: int
    converged: bool


OPTIMIZERS = ("fisher", "lbfgs")


def _minimize(
    model, params0, objective, data, extra, temperature, reference, optimizer, max_steps, stop, qre_options, curvature
) -> _Run:
    """The shared loop of ``fit`` and ``design``.

    ``stop(value, grad, jac, policies)`` ends it; ``curvature(jac, policies)`` (``fit`` only) is the
    Fisher information of the loss, whose pseudo-inverse preconditions ``optimizer="fisher"``.
    """
    check_int(max_steps, "max_steps", 0)
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS or (optimizer == "fisher" and curvature is None):
            allowed = OPTIMIZERS if curvature is not None else OPTIMIZERS[1:]
            raise ValueError(
                f"optimizer: expected one of {allowed} or an optax GradientTransformation, got {optimizer!r}"
            )
    elif not isinstance(optimizer, optax.GradientTransformation):
        raise ValueError(
            f"optimizer: expected a name or an optax GradientTransformation, got {type(optimizer).__name__}"
        )
    dtype = jnp.result_type(float)
    params0 = jax.tree.map(lambda x: jnp.asarray(x, dtype), params0)
    theta, unravel = ravel_pytree(params0)
    if theta.size == 0:
        raise ValueError("params0: expected at least one parameter (a pytree of float arrays)")
    if not np.all(np.isfinite(np.asarray(theta))):
        raise ValueError("params0: expected finite parameters")

    single, games = _games(model, params0, extra)  # eager: the game constructors check params0's values
    if not callable(temperature):
        taus = _temperatures(temperature, params0, len(games))
        for k, t in enumerate(taus):
            check_scalar(t, f"temperature[{k}]" if len(taus) > 1 else "temperature", low=0, low_open=True)
        extra = {**extra, "temperature": [jnp.asarray(t, dtype) for t in taus]}
    references = _references(reference, single, len(games))
    options = {**_default_qre_options(dtype), **(qre_options or {})}
    if "init" in options or "method" in options:
        raise ValueError("qre_options: 'init' and 'method' are set by the fit (warm starts); leave them out")
    evaluate = _evaluator(
        model, temperature if callable(temperature) else None, objective, tuple(sorted(options.items()))
    )

    def run(th, inits):
        value, grad, jac, policies, ok = evaluate(unravel(th), inits, data, extra, references)
        return float(value), np.asarray(grad, np.float64), jac, policies, bool(ok)

    inits = [g.uniform_policy() if references is None else references[k] for k, g in enumerate(games)]
    value, grad, jac, policies, ok = run(theta, inits)
    if not ok:  # cold start along the principal branch
        taus = _temperatures(temperature, params0, len(games)) if callable(temperature) else extra["temperature"]
        inits = [
            logit_qre(g, t, None if references is None else references[k], method="path").policy
            for k, (g, t) in enumerate(zip(games, taus))
        ]
        value, grad, jac, policies, ok = run(theta, inits)
        if not ok:
            raise ValueError(
                "params0: logit_qre found no equilibrium of model(params0) (or the objective is not finite there); "
                "start from smaller payoffs / a higher temperature, or loosen qre_options"
            )

    line_search = isinstance(optimizer, str)
    if optimizer == "lbfgs":
        optimizer = _LBFGS
    update = None if optimizer == "fisher" else _jitted_update(optimizer)
    state = None if update is None else optimizer.init(theta)
    values, steps, converged, damping = [value], 0, False, 1e-2
    for steps in range(max_steps + 1):  # noqa: B007 (steps is read after the loop)
        if stop(value, grad, jac, policies):
            converged = True
            break
        if steps == max_steps:
            break
        if update is None:  # Fisher scoring (Gauss-Newton), Levenberg-Marquardt damped
            direction = -_damped_inverse(curvature(jac, policies), damping) @ grad
        else:
            updates, new_state = update(jnp.asarray(grad, theta.dtype), state, theta)
            direction = np.asarray(updates, np.float64) * (-1.0 if line_search else 1.0)
        slope = float(grad @ direction)
        if line_search and not slope < 0:
            # not a descent direction (negative curvature spoilt L-BFGS's memory): restart the memory
            # and try a step of length 1 along -grad, which the line search shortens as needed
            if update is not None:
                new_state = update(jnp.asarray(grad, theta.dtype), optimizer.init(theta), theta)[1]
            direction = -grad / max(float(np.linalg.norm(grad)), np.finfo(np.float64).tiny)
            slope = float(grad @ direction)
        accepted = None
        for halving in range(30):
            trial = theta + jnp.asarray(0.5**halving * direction, theta.dtype)
            t_value, t_grad, t_jac, t_policies, t_ok = run(trial, policies)
            if t_ok and (not line_search or t_value <= value + 1e-4 * 0.5**halving * slope):
                accepted = trial, t_value, t_grad, t_jac, t_policies
                break
        if accepted is None:  # no decrease along a descent direction, to rounding: a stationary point
            break
        theta, value, grad, jac, policies = accepted
        damping = damping / 3 if halving == 0 else min(damping * 4**halving, 1e6)
        if update is not None:
            state = new_state
        values.append(value)
    return _Run(
        unravel(theta),
        value,
        np.asarray(values),
        grad,
        np.asarray(jac),
        policies[0] if single else policies,
        steps,
        converged,
    )


_LBFGS = optax.scale_by_lbfgs()


@functools.lru_cache(maxsize=16)
def _jitted_update(optimizer):
    return jax.jit(lambda g, s, p: optimizer.update(g, s, p))


def _gradient_stop(gtol: float):
    def stop(value, grad, jac, policies):
        return float(np.max(np.abs(grad))) <= gtol

    return stop


# ----------------------------------------------------------------------------------------------------
# counts


def _check_counts(counts, games, single: bool) -> list:
    if single:
        counts = [counts]
    elif not isinstance(counts, (list, tuple)) or len(counts) != len(games):
        raise ValueError(f"counts: expected a list of {len(games)} count policies, one per condition (model's games)")
    out = []
    for k, (cnt, game) in enumerate(zip(counts, games)):
        name = "counts" if single else f"counts[{k}]"
        shapes = [tuple(p.shape) for p in game.uniform_policy()]
        if not isinstance(cnt, (list, tuple)) or len(cnt) != len(shapes):
            raise ValueError(f"{name}: expected a tuple of {len(shapes)} count arrays shaped {shapes} (as the policy)")
        leaves = []
        for i, (c, shape, mask) in enumerate(zip(cnt, shapes, game.legal_mask_host())):
            c = np.asarray(c, np.float64)
            if c.shape != shape:
                raise ValueError(f"{name}[{i}]: expected shape {shape} (as the policy), got {c.shape}")
            if not np.all(np.isfinite(c)) or c.min(initial=0.0) < 0:
                raise ValueError(f"{name}[{i}]: expected finite non-negative counts")
            if np.any((c > 0) & ~np.asarray(mask, bool)):
                raise ValueError(f"{name}[{i}]: counts on illegal actions")
            leaves.append(jnp.asarray(c, jnp.result_type(float)))
        out.append(tuple(leaves))
    total = sum(float(np.sum(c)) for cnt in out for c in cnt)
    if total <= 0:
        raise ValueError("counts: expected at least one observed action")
    return out


def sample_counts(policy: Policy, num_samples: int, seed: int | np.random.Generator = 0) -> Policy:
    """Multinomial action counts: ``num_samples`` draws from every decision point of ``policy``.

    Sampled on the host by NumPy (``numpy.random.Generator.multinomial``: fast for any
    ``num_samples``, where a jitted sampler compiles for seconds): synthetic data for ``fit``.

    Args:
      policy: per player ``[..., A]`` probabilities (a matrix game's ``[A_i]``, a mean-field
        game's ``[T, S, A]``: ``num_samples`` draws at every ``(t, s)``).
      num_samples: draws per decision point.
      seed: an integer seed or a ``numpy.random.Generator``.

    Returns counts shaped as the policy (float64 NumPy arrays), the ``counts`` that ``fit`` takes.

    Example::

        counts = sample_counts(logit_qre(game, 0.5).policy, 10_000, seed=0)
    """
    num_samples = check_int(num_samples, "num_samples", 1)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    out = []
    for i, p in enumerate(policy):
        p = np.asarray(p, np.float64)
        if p.ndim < 1 or not np.all(np.isfinite(p)) or p.min(initial=0.0) < 0:
            raise ValueError(f"policy[{i}]: expected non-negative probabilities [..., A]")
        p = p / p.sum(-1, keepdims=True)
        out.append(rng.multinomial(num_samples, p).astype(np.float64))
    return tuple(out)


# ----------------------------------------------------------------------------------------------------
# the public solvers


def fit(
    model: Callable,
    params0,
    counts,
    temperature=1.0,
    *,
    reference=None,
    optimizer="fisher",
    max_steps: int = 100,
    tol=1e-4,
    qre_options: dict | None = None,
) -> Fit:
    """Maximum-likelihood parameters of a game given observed action counts (module docstring).

    Minimizes the mean KL divergence ``L(theta)`` from the observed frequencies to
    ``logit_qre(model(theta), temperature).policy`` (equivalently maximizes the multinomial
    log-likelihood of the counts) by steps through ``logit_qre``, each equilibrium warm-started
    at the previous iterate's policy. Derivatives are forward-mode (one tangent solve per
    parameter: made for up to a few hundred parameters); the same Jacobian ``J = d pi / d theta``
    gives the Fisher information ``I = J^T diag(n_row / pi) J`` at every step. The update rule:

    * ``"fisher"`` (default): Fisher scoring, ``theta <- theta - alpha pinv(I / N) grad L``
      (the natural gradient; Gauss-Newton on the likelihood: a few steps from far away,
      quadratic convergence near the optimum);
    * ``"lbfgs"``: L-BFGS directions (``optax.scale_by_lbfgs``);
    * any optax ``GradientTransformation`` that needs only gradients (``optax.adam(0.05)``).

    The first two take the largest ``alpha`` in ``1, 1/2, 1/4, ...`` that decreases ``L``
    enough (Armijo); an optax transformation's update is applied as is, halved only when an
    equilibrium solve fails. The fit stops when the Fisher-scoring step to the optimum is at
    most ``tol`` standard errors in every parameter: the optimization error is then negligible
    against the sampling error.

    Args:
      model: ``model(params) -> game`` of any family ``logit_qre`` supports, or a list of games,
        one per **condition** (e.g. the same game at several temperatures): the likelihood sums
        over conditions. Traced under ``jit``: build the game with ``jnp`` operations.
      params0: the starting parameters, a pytree of float arrays.
      counts: observed action counts shaped as the game's policy (a tuple per player: ``[A_i]``
        for a matrix game, ``[T, S, A]`` for a mean-field game: the actions taken at each
        ``(t, s)``); a list of those, one per condition, when ``model`` returns a list.
      temperature: ``tau > 0``: a scalar, a list of one per condition, or a function
        ``temperature(params)`` returning those (to fit it: ``fit_temperature``).
      reference: the reference policy of the regularized equilibrium (default uniform); a list of
        one per condition when ``model`` returns a list.
      optimizer: ``"fisher"``, ``"lbfgs"`` or an optax ``GradientTransformation``.
      max_steps: optimizer steps at most.
      tol: stop when the distance to the optimum is at most ``tol`` standard errors.
      qre_options: keyword arguments for ``logit_qre`` (``tol``, ``max_steps``, ``newton_steps``, ...).

    Returns a ``Fit``. Float64 (``jax.enable_x64``) is recommended: the loss differences near the
    optimum are ``~ 1 / N``.

    Example::

        def model(a):  # a 2 x 2 game with one unknown payoff; the column player mismatches
            return jaxgames.matrix.bimatrix(jnp.array([[a, 0.0], [0.0, 1.0]]), jnp.array([[0.0, 1.0], [1.0, 0.0]]))

        counts = (jnp.array([300.0, 700.0]), jnp.array([400.0, 600.0]))
        result = fit(model, 0.5, counts, temperature=0.5)
        result.params, result.standard_errors
    """
    return _fit(
        _without_extra(model),
        {},
        params0,
        counts,
        temperature,
        reference=reference,
        optimizer=optimizer,
        max_steps=max_steps,
        tol=tol,
        qre_options=qre_options,
    )


def _fit(
    model_fn,
    extra,
    params0,
    counts,
    temperature=1.0,
    *,
    reference=None,
    optimizer="fisher",
    max_steps=100,
    tol=1e-4,
    qre_options=None,
) -> Fit:
    """``fit`` of a model ``model_fn(params, extra)`` (``extra``: arrays passed to the compiled program)."""
    tol = float(check_scalar(tol, "tol", 0.0))
    dtype = jnp.result_type(float)
    single, games = _games(model_fn, jax.tree.map(lambda x: jnp.asarray(x, dtype), params0), extra)
    counts = _check_counts(counts, games, single)
    total = float(sum(jnp.sum(c) for cnt in counts for c in cnt))

    def curvature(jac, policies):  # Fisher information of the mean loss L
        return _fisher(jac, policies, counts) / total

    def stop(value, grad, jac, policies):
        cov, _ = _pseudo_inverse(curvature(jac, policies))
        step, se = cov @ grad, np.sqrt(np.maximum(np.diag(cov), 0.0) / total)
        return bool(np.all(np.abs(step) <= tol * se))

    result = _minimize(
        model_fn,
        params0,
        _mean_kl,
        (counts, jnp.asarray(total, dtype)),
        extra,
        temperature,
        reference,
        optimizer,
        max_steps,
        stop,
        qre_options,
        curvature,
    )
    information = _fisher(result.d_policies, [result.policies] if single else result.policies, counts)
    covariance, rank = _pseudo_inverse(information)
    unravel = ravel_pytree(result.params)[1]
    standard_errors = unravel(jnp.asarray(np.sqrt(np.maximum(np.diag(covariance), 0.0)), dtype))
    return Fit(
        result.params,
        standard_errors,
        covariance,
        result.value,
        result.values,
        result.policies,
        result.num_steps,
        result.converged,
        rank,
    )


def _fisher(d_policies, policies: list, counts: list) -> np.ndarray:
    """``J^T diag(n_row / pi) J`` over the entries with ``pi > 0`` (``J = d pi / d theta``, flat):
    the Fisher information of the multinomial counts (``sum_a d pi_a = 0`` per row)."""
    p = np.asarray(ravel_pytree(policies)[0], np.float64)
    rows = [tuple(jnp.broadcast_to(jnp.sum(c, -1, keepdims=True), c.shape) for c in cnt) for cnt in counts]
    n_row = np.asarray(ravel_pytree(rows)[0], np.float64)
    weight = np.where(p > 0, n_row / np.where(p > 0, p, 1.0), 0.0)
    jac = np.asarray(d_policies, np.float64)
    return jac.T @ (weight[:, None] * jac)


def _damped_inverse(information: np.ndarray, damping: float) -> np.ndarray:
    """``(I + damping * mean(eig I) * Id)^(-1)`` on the range of ``I`` (``0`` on its null space)."""
    w, v = np.linalg.eigh((information + information.T) / 2)
    keep = w > 1e-9 * max(float(w.max(initial=0.0)), np.finfo(np.float64).tiny)
    shift = damping * float(np.mean(np.maximum(w, 0.0)))
    inv = np.where(keep, 1.0 / np.where(keep, w + shift, 1.0), 0.0)
    return (v * inv) @ v.T


def _pseudo_inverse(information: np.ndarray) -> tuple[np.ndarray, int]:
    """The covariance ``pinv(I)`` and the rank of ``I`` (eigenvalues above ``1e-9`` of the largest)."""
    w, v = np.linalg.eigh((information + information.T) / 2)
    keep = w > 1e-9 * max(float(w.max(initial=0.0)), np.finfo(np.float64).tiny)
    inv = np.where(keep, 1.0 / np.where(keep, w, 1.0), 0.0)
    return (v * inv) @ v.T, int(keep.sum())


def delta_method(result: Fit, fn: Callable) -> tuple:
    """A derived quantity ``fn(params)`` of a fit and its standard errors, by the delta method.

    ``cov(fn) = G cov(theta) G^T`` with ``G = d fn / d theta`` (``jax.jacfwd``).

    Returns ``(value, standard_errors)``, both shaped as ``fn(result.params)``.

    Example::

        value, se = delta_method(result, lambda log_tau: jnp.exp(log_tau))
    """
    theta, unravel = ravel_pytree(result.params)

    def flat(th):
        return ravel_pytree(fn(unravel(th)))[0]

    value = fn(result.params)
    g = np.asarray(jax.jacfwd(flat)(theta), np.float64).reshape(-1, theta.size)
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", g, result.covariance, g), 0.0))
    return value, ravel_pytree(value)[1](jnp.asarray(se, jnp.result_type(float)))


def design(
    model: Callable,
    params0,
    objective: Callable,
    temperature=1.0,
    *,
    reference=None,
    optimizer="lbfgs",
    max_steps: int = 100,
    gtol=1e-10,
    qre_options: dict | None = None,
) -> Design:
    """Game parameters whose logit QRE minimizes ``objective`` (reward / mechanism design).

    Minimizes ``objective(params, logit_qre(model(params), temperature).policy)`` over
    ``params`` by gradient steps through the equilibrium (implicit differentiation), with the
    same loop as ``fit``: L-BFGS directions (``optax.scale_by_lbfgs``) with a backtracking
    (Armijo) line search by default, or any optax transformation; each equilibrium warm-started
    at the previous iterate's policy; forward-mode derivatives (made for few parameters). To hit a target
    ``c`` with a statistic ``s``: ``objective = lambda params, pi: (s(params, pi) - c) ** 2``
    (``s`` may rebuild the game from ``params``, e.g. a mean-field game's ``mean_field(pi)``).

    Args:
      model: ``model(params) -> game`` (or a list of games: ``objective`` then gets a list of policies).
      params0: starting parameters (a pytree of float arrays).
      objective: ``objective(params, policy) -> scalar`` to minimize, jax-traceable.
      temperature: ``tau > 0``: a scalar, one per game, or a function of ``params``.
      reference: the reference policy (default uniform).
      optimizer: ``"lbfgs"`` (with a line search) or an optax ``GradientTransformation``.
      max_steps: optimizer steps at most.
      gtol: stop when ``max |d objective / d params| <= gtol``.
      qre_options: keyword arguments for ``logit_qre``.

    Returns a ``Design``.

    Example (a subsidy ``s`` for cooperating in the prisoner's dilemma, so that the QRE at
    temperature 1 cooperates half the time)::

        pd = jnp.array([[3.0, 0.0], [5.0, 1.0]])            # row player's payoffs; action 0 cooperates
        cooperate = jnp.array([[1.0, 1.0], [0.0, 0.0]])

        def model(s):
            row = pd + s * cooperate
            return jaxgames.matrix.bimatrix(row, row.T)        # symmetric

        result = design(model, 0.0, lambda s, pi: (pi[0][0] - 0.5) ** 2)
        result.params                                          # the subsidy
    """
    if not callable(objective):
        raise ValueError(f"objective: expected a function objective(params, policy) -> scalar, got {objective!r}")
    gtol = float(check_scalar(gtol, "gtol", 0.0))
    model_fn = _without_extra(model)
    single, _ = _games(model_fn, jax.tree.map(lambda x: jnp.asarray(x, jnp.result_type(float)), params0), {})
    result = _minimize(
        model_fn,
        params0,
        _user_objective(objective, single),
        (),
        {},
        temperature,
        reference,
        optimizer,
        max_steps,
        _gradient_stop(gtol),
        qre_options,
        None,
    )
    return Design(result.params, result.value, result.values, result.policies, result.num_steps, result.converged)


# ----------------------------------------------------------------------------------------------------
# matrix-game recipes


def center_payoffs(payoffs) -> jax.Array:
    """Each player's payoffs centered over its own action, per opponent profile.

    ``u_i(a_i, a_-i) - mean_b u_i(b, a_-i)`` for ``payoffs [N, A_1, ..., A_N]``: the canonical
    representative of the payoffs the logit QRE cannot tell apart (module docstring), the
    quantity ``fit_payoffs`` recovers; an orthogonal projection.

    Example::

        center_payoffs(jnp.array([[[1.0, 2.0], [3.0, 6.0]], [[0.0, 0.0], [0.0, 0.0]]]))
        # player 0: [[-1, -2], [1, 2]]
    """
    payoffs = jnp.asarray(payoffs)
    n = payoffs.shape[0]
    if payoffs.ndim != n + 1:
        raise ValueError(f"payoffs: expected shape [N, A_1, ..., A_N], got {tuple(payoffs.shape)}")
    return jnp.stack([payoffs[i] - jnp.mean(payoffs[i], axis=i, keepdims=True) for i in range(n)])


def _payoff_model(params, extra):
    from jaxgames.matrix.game import MatrixGame

    base = center_payoffs(params)
    offsets = extra["offsets"]
    if offsets is None:
        return MatrixGame(base)
    return [MatrixGame(base + o) for o in offsets]


def _num_conditions(counts) -> int | None:
    """``None`` for one count policy (a tuple of 1-d arrays), else the number of conditions."""
    if isinstance(counts, list) and counts and isinstance(counts[0], (list, tuple)):
        return len(counts)
    return None


def fit_payoffs(counts, temperature=1.0, *, offsets=None, payoffs0=None, **options) -> Fit:
    """The centered payoffs of a matrix game, by maximum likelihood on observed action counts.

    The model: the game ``MatrixGame(center_payoffs(u) + offsets[k])`` played at the known
    temperature ``temperature[k]`` in condition ``k``; ``u`` ``[N, A_1, ..., A_N]`` is fitted
    (module docstring: only the centered payoffs are identified, and only when the conditions
    vary the equilibrium enough: at least ``A_-i`` conditions for player ``i``).

    Args:
      counts: per condition a tuple of ``[A_i]`` action counts (a list of them); one tuple alone
        is one condition (then nothing beyond ``sum_i (A_i - 1)`` numbers is identified).
      temperature: known temperature(s): a scalar or one per condition.
      offsets: known payoff shifts ``[N, A_1, ..., A_N]`` per condition (a list), default none.
      payoffs0: the start (default zeros: the uniform equilibrium).
      **options: ``fit``'s keyword options (``optimizer``, ``max_steps``, ``tol``, ``qre_options``).

    Returns a ``Fit`` whose ``params`` are the centered payoffs ``[N, A_1, ..., A_N]`` and
    ``standard_errors`` theirs.

    Example::

        result = fit_payoffs([c_half, c_one, c_two], temperature=[0.5, 1.0, 2.0])
        result.params, result.standard_errors, result.num_identified
    """
    k = _num_conditions(counts)
    one = counts if k is None else counts[0]
    if not isinstance(one, (list, tuple)) or len(one) < 2:
        raise ValueError("counts: expected a tuple of per-player [A_i] action counts (or a list of them per condition)")
    shape = tuple(int(np.shape(c)[0]) for c in one)
    if any(np.ndim(c) != 1 for c in one):
        raise ValueError("counts: expected one [A_i] count vector per player")
    if offsets is not None:
        if not isinstance(offsets, (list, tuple)) or len(offsets) != (k or 1):
            raise ValueError(f"offsets: expected a list of {k or 1} payoff arrays (one per condition)")
        offsets = [jnp.asarray(o, jnp.result_type(float)) for o in offsets]
        for j, o in enumerate(offsets):
            if o.shape != (len(shape), *shape):
                raise ValueError(f"offsets[{j}]: expected shape {(len(shape), *shape)}, got {tuple(o.shape)}")
    elif k is not None:
        offsets = [jnp.zeros((len(shape), *shape), jnp.result_type(float))] * k
    if offsets is not None and k is None:  # one condition with an offset: a list of one
        counts = [counts]
    payoffs0 = jnp.zeros((len(shape), *shape)) if payoffs0 is None else center_payoffs(payoffs0)
    if payoffs0.shape != (len(shape), *shape):
        raise ValueError(f"payoffs0: expected shape {(len(shape), *shape)}, got {tuple(payoffs0.shape)}")
    return _fit(_payoff_model, {"offsets": offsets}, payoffs0, counts, temperature, **options)


def _preference_model(params, extra):
    from jaxgames.matrix.preference import preference_game

    del extra
    return preference_game(_preferences(params))


def _preferences(logits):
    """``P = sigmoid(Theta - Theta^T)``: ``P + P^T = 1``, ``P_ii = 1/2``."""
    return jax.nn.sigmoid(logits - logits.T)


def fit_preferences(counts, temperature=1.0, *, preferences0=None, **options) -> Fit:
    """A preference matrix ``P`` by maximum likelihood on the responses chosen at its logit QRE.

    The model is the preference game ``jaxgames.matrix.preference.preference_game(P)``, with
    ``P = sigmoid(Theta - Theta^T)`` (so ``P + P^T = 1``; ``Theta``'s symmetric part is the
    invariance, projected out). At temperature ``tau`` both players play the same policy
    ``x = softmax((P - 1/2) x / tau)``: ``n - 1`` numbers per condition against the
    ``n (n - 1) / 2`` entries of ``P``, so give several temperatures (a list of counts) for
    ``n > 3``-ish; ``Fit.num_identified`` says whether they sufficed.

    Args:
      counts: per condition a tuple ``(c_1, c_2)`` of ``[n]`` counts of the responses each
        player chose (a symmetric sample: split it, or pass ``(c, zeros)``); a list of them.
      temperature: known temperature(s): a scalar or one per condition.
      preferences0: the start (default all ``1/2``).
      **options: ``fit``'s keyword options.

    Returns a ``Fit`` whose ``params`` are the fitted ``P`` ``[n, n]`` with its standard errors
    (delta method; ``covariance`` over ``P``'s entries).

    Example::

        result = fit_preferences([counts_01, counts_03], temperature=[0.1, 0.3])
    """
    k = _num_conditions(counts)
    one = counts if k is None else counts[0]
    if not isinstance(one, (list, tuple)) or len(one) != 2 or np.ndim(one[0]) != 1:
        raise ValueError("counts: expected a pair (c_1, c_2) of [n] response counts (or a list of pairs per condition)")
    n = int(np.shape(one[0])[0])
    if preferences0 is None:
        logits0 = jnp.zeros((n, n))
    else:
        p0 = np.asarray(preferences0, np.float64)
        if p0.shape != (n, n) or np.any(p0 <= 0) or np.any(p0 >= 1):
            raise ValueError(f"preferences0: expected an [{n}, {n}] matrix with entries in (0, 1)")
        logits0 = jnp.asarray(np.log(p0) - np.log1p(-p0)) / 2  # Theta - Theta^T = logit(P) for a consistent P
    raw = _fit(_cached_repeat(k), {}, logits0, counts, temperature, **options)
    g = np.asarray(jax.jacfwd(lambda th: _preferences(th.reshape(n, n)).reshape(-1))(raw.params.reshape(-1)))
    covariance = g @ raw.covariance @ g.T  # the delta method
    se = jnp.asarray(np.sqrt(np.maximum(np.diag(covariance), 0.0)).reshape(n, n), raw.params.dtype)
    return raw._replace(params=_preferences(raw.params), standard_errors=se, covariance=covariance)


@functools.lru_cache(maxsize=16)
def _cached_repeat(num: int | None):
    def model(params, extra):
        game = _preference_model(params, extra)
        return game if num is None else [game] * num

    return model


def _temperature_model(params, extra):
    return extra["game"]


def _exp_temperature(log_tau):
    return jnp.exp(log_tau)


def fit_temperature(game, counts, temperature0=1.0, **options) -> Fit:
    """The temperature at which the observed counts are the known ``game``'s logit QRE.

    Fits ``log tau`` (positive by construction) and returns ``tau`` with its standard error by
    the delta method. With the payoffs known, the scale invariance is gone: ``tau`` is
    identified whenever the equilibrium moves with it (not for the uniform QRE of a constant game).

    Args:
      game: the known game (any family ``logit_qre`` supports).
      counts: observed action counts shaped as its policy.
      temperature0: the start.
      **options: ``fit``'s keyword options.

    Returns a ``Fit`` whose ``params`` is ``tau`` (a scalar).

    Example::

        fit_temperature(jaxgames.matrix.bimatrix(A, B), counts, 1.0).params
    """
    t0 = check_scalar(temperature0, "temperature0", low=0, low_open=True)
    raw = _fit(_temperature_model, {"game": game}, jnp.log(t0), counts, _exp_temperature, **options)
    value, se = delta_method(raw, _exp_temperature)
    return raw._replace(params=value, standard_errors=se, covariance=raw.covariance * float(value) ** 2)


__all__ = [
    "Design",
    "Fit",
    "center_payoffs",
    "delta_method",
    "design",
    "fit",
    "fit_payoffs",
    "fit_preferences",
    "fit_temperature",
    "sample_counts",
]
