"""The solver contract: pure ``init`` / ``step`` / ``output`` functions and one state type.

Like an optax ``GradientTransformation``, a solver is a NamedTuple of pure
functions built by a factory that closes over its hyperparameters::

    solver = solvers.mirror_prox(learning_rate=0.1)
    state = solver.init(game)             # SolverState
    state = solver.step(game, state)      # one iteration
    policy = solver.output(state)         # the policy the solver reports

Hyperparameters may be Python numbers or traced arrays, so
``jax.vmap(lambda lr: run(solvers.mirror_prox(lr), game, 1000))(lrs)`` sweeps
them with no special code. ``run`` drives any solver on any game with
``lax.scan`` and records the exploitability of ``output(state)``.
"""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import rng, simplex
from jaxgames.core import Game, Policy
from jaxgames.validation import (  # noqa: F401 - re-exported
    _describe,  # the same rendering of a bad value in every message
    check_bool,
    check_choice,
    check_int,
    check_key,
    check_positive,
    check_scalar,
    check_table_bytes,
    host_values,
    is_concrete,
)

#: The largest step count the int32 counter ``SolverState.step`` holds.
MAX_STEPS = 2**31 - 1


@flax.struct.dataclass
class SolverState:
    """The state of every solver (a pytree).

    Attributes:
      policy: the current iterate, a ``Policy`` (what the solver would play now).
      average: the running average of iterates, reach-weighted through
        ``game.mix_policies`` so that it is the average *strategy* in every game.
      step: int32 scalar, the number of completed iterations.
      extra: the solver's own state, a ``NamedTuple`` of named, documented fields, one type per
        solver (``RegretMatchingState``, ``FirstOrderState``, ``ValueIterationState``, ...;
        ``None`` for fictitious play, which needs none). Read its fields as attributes,
        ``state.extra.values``.
    """

    policy: Policy
    average: Policy
    step: jax.Array
    extra: Any = None


class Solver(NamedTuple):
    """A solver: ``init(game, key=None)``, ``step(game, state)``, ``output(state)``.

    ``metric(game, state)``, optional, is the scalar ``run`` records instead of the exploitability
    of ``output(state)`` (default ``None``: that exploitability): the no-regret dynamics of
    ``solvers.no_regret`` record the CCE or CE gap of the joint play they track. ``Trace.diverged``
    then flags only a metric that is not finite.
    """

    init: Callable[..., SolverState]
    step: Callable[[Game, SolverState], SolverState]
    output: Callable[[SolverState], Policy]
    metric: Callable[[Game, SolverState], jax.Array] | None = None


class Trace(NamedTuple):
    """What ``run`` records at each evaluation: ``[K]`` arrays.

    ``exploitability`` is clamped at 0: it is a sum of best-response gains, never negative
    mathematically, but float rounding can give ``-6e-7`` at an equilibrium. ``diverged`` flags an
    evaluation whose exploitability is not finite, or exceeds both the uniform policy's and that of
    the run's starting point (by more than ``DIVERGENCE_RTOL`` relative plus ``DIVERGENCE_ATOL``
    times ``solvers.scale.payoff_scale``): the solver did worse than not solving at all and worse
    than where it began (often a step size too large for the game's payoffs, or a last iterate
    that spirals out); ``trace.diverged[-1]`` is the verdict on the run.
    """

    step: jax.Array  # iterations completed at the evaluation
    exploitability: jax.Array  # exploitability of ``solver.output(state)`` (or ``solver.metric``), clamped at 0
    nash_conv: jax.Array  # ``exploitability * num_players``
    diverged: jax.Array  # bool: non-finite, or worse than both the uniform policy and the start


#: ``Trace.diverged`` tolerances: exploitability above ``max(uniform, start) * (1 + RTOL) + ATOL * payoff_scale``.
DIVERGENCE_RTOL = 1e-3
DIVERGENCE_ATOL = 1e-3


def random_policy(game: Game, key: jax.Array) -> Policy:
    """A policy drawn uniformly from the simplex (Dirichlet(1)) at every decision point."""
    masks = game.legal_mask()
    keys = jax.random.split(key, len(masks))
    dtype = jnp.result_type(float)
    return tuple(simplex.normalize(rng.exponential(k, m.shape, dtype), m) for k, m in zip(keys, masks))


def cached_factory(factory: Callable) -> Callable:
    """Return the same ``Solver`` object for the same hashable hyperparameters.

    ``run`` is compiled once per solver *object*, so building
    ``mirror_prox(0.5)`` twice would otherwise compile twice. Calls with
    unhashable arguments (arrays, tracers under ``vmap``, magnet policies)
    build a fresh solver, as does any call that raises.
    """
    signature = inspect.signature(factory)
    cache: dict = {}

    @functools.wraps(factory)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        key = tuple((k, type(v), v) for k, v in bound.arguments.items())
        try:
            hit = cache.get(key)
        except TypeError:  # unhashable hyperparameters
            return factory(*args, **kwargs)
        if hit is None:
            hit = cache[key] = factory(*args, **kwargs)
        return hit

    return wrapper


def initial_state(game: Game, key: jax.Array | None = None, extra: Any = None) -> SolverState:
    """A fresh state: the uniform policy, or a random one when ``key`` is given (a PRNG key)."""
    policy = game.uniform_policy() if key is None else random_policy(game, check_key(key, "key", "solver.init"))
    return SolverState(policy=policy, average=policy, step=jnp.zeros((), jnp.int32), extra=extra)


def averaging_weight(step: jax.Array, power: int) -> jax.Array:
    """Mixing weight ``w_t / sum_{s <= t} w_s`` for weights ``w_t = (t + 1) ** power``.

    ``power=0`` is the uniform average (``1 / (t + 1)``), ``1`` the linear
    average of CFR+ and linear CFR (``2 / (t + 2)``), ``2`` the quadratic
    average of discounted CFR (``6 (t + 1) / ((t + 2)(2t + 3))``).
    """
    t = step.astype(jnp.result_type(float))
    if power == 0:
        return 1.0 / (t + 1.0)
    if power == 1:
        return 2.0 / (t + 2.0)
    if power == 2:
        return 6.0 * (t + 1.0) / ((t + 2.0) * (2.0 * t + 3.0))
    raise ValueError(f"averaging: expected power 0 (uniform), 1 (linear) or 2 (quadratic), got {power!r}")


def update_average(game: Game, state: SolverState, played: Policy, power: int = 0) -> Policy:
    """Fold the policy ``played`` at iteration ``state.step`` into the running average."""
    return game.mix_policies(state.average, played, averaging_weight(state.step, power))


def track_average(game: Game, state: SolverState, played: Policy, new: Policy, output: str) -> Policy:
    """``state.average`` after a step: the running average of ``played`` when it is what the solver
    reports (``output == "average"``), else the iterate ``new``. The average costs reach
    computations every step (two occupancy solves on a Markov game, a third of a mean-field
    step), so it is not tracked when unused."""
    return update_average(game, state, played) if output == "average" else new


def iterate(solver: Solver, game: Game, state: SolverState, num_steps: int) -> SolverState:
    """``num_steps`` steps of ``solver`` on ``game`` from ``state``, in one ``lax.fori_loop`` (no
    evaluations; the warm-started inner solvers of the Markov-game solvers)."""
    return jax.lax.fori_loop(0, num_steps, lambda _, s: solver.step(game, s), state)


def _infinite_allowed(x: float, low, high) -> bool:
    """Whether the infinite ``x`` lies in the closure of the bounds (``None``: unbounded)."""
    return (x > 0 and high is None) or (x < 0 and low is None)


def check_number(
    value: Any,
    field: str,
    low=None,
    high=None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
    infinite: bool = False,
    schedule: bool = False,
    range_wording: bool = False,
) -> Any:
    """A real scalar hyperparameter within ``[low, high]`` (``low_open`` / ``high_open`` exclude a
    bound; ``None`` leaves that side open); returns ``value`` unchanged.

    The solvers' one numeric check, on top of ``jaxgames.validation.check_scalar``: bools are
    rejected (``True`` is not a learning rate), ``None`` passes only where the parameter is
    ``optional`` (documented as "off" or "default"), ``+-inf`` only with ``infinite=True`` and on
    an unbounded side (discounted CFR's ``alpha = inf``), callables only with ``schedule=True``
    (optax schedules). Traced values pass (checked under ``jit`` by shape only). A bound of 0 alone
    is worded as ``check_positive`` words it ("expected a finite value > 0"), other ranges as
    ``check_scalar`` does ("expected a value in [0, 1]"; ``range_wording=True``: "expected a value > 0").
    """
    if value is None:
        if optional:
            return None
        raise ValueError(f"{field}: expected a number, got None")
    if schedule and callable(value) and not isinstance(value, (jax.Array, np.ndarray)):
        return value
    if isinstance(value, (bool, np.bool_)) or getattr(value, "dtype", None) == np.bool_:
        raise ValueError(f"{field}: expected a number, got {_describe(value)}")
    if infinite:
        arr = host_values(value, field)
        if arr is not None and arr.ndim == 0 and np.isinf(arr):
            if not _infinite_allowed(float(arr), low, high):
                raise ValueError(
                    f"{field}: expected a value in [{low}, {high}] (infinity allowed only "
                    f"on an unbounded side), got {float(arr)}"
                )
            return value
    if low == 0 and high is None and not range_wording:  # "expected a finite value > 0" (or ">= 0")
        check_positive(value, field, allow_zero=not low_open)
    check_scalar(value, field, low, high, low_open=low_open, high_open=high_open)
    return value


def check_solver_key(key: Any, who: str, reason: str = "a sample-based solver needs a PRNG key") -> jax.Array:
    """The PRNG key of a solver that samples (``jaxgames.validation.check_key``); ``None`` is refused
    with ``reason`` and how to pass one."""
    if key is None:
        raise ValueError(
            f"key: {reason}; pass jax.random.key(seed) to {who}: solver.init(game, key) or solvers.run(..., key=key)"
        )
    return check_key(key, "key", who)


def _evaluate_output(solver: Solver, game: Game, state: SolverState):
    if solver.metric is not None:
        return jnp.maximum(solver.metric(game, state), 0.0)
    return jnp.maximum(game.exploitability(solver.output(state)), 0.0)


def divergence_threshold(game: Game, start: jax.Array) -> jax.Array:
    """Exploitability above which ``Trace.diverged`` is set: the larger of the uniform policy's and
    ``start`` (the run's first exploitability), plus tolerances."""
    from solvers.scale import payoff_scale

    uniform = jnp.maximum(game.exploitability(game.uniform_policy()), 0.0)
    reference = jnp.maximum(uniform, jnp.where(jnp.isfinite(start), start, 0.0))
    return reference * (1.0 + DIVERGENCE_RTOL) + DIVERGENCE_ATOL * payoff_scale(game)


def _threshold(solver: Solver, game: Game, start: jax.Array) -> jax.Array:
    """``divergence_threshold``; with a ``solver.metric``, ``inf``: its own metric (a CCE gap, which
    no-regret dynamics need not decrease monotonically) is flagged only when not finite."""
    if solver.metric is not None:
        return jnp.full_like(start, jnp.inf)
    return divergence_threshold(game, start)


def _diverged(expl: jax.Array, threshold: jax.Array) -> jax.Array:
    return ~jnp.isfinite(expl) | (expl > threshold)


@functools.partial(jax.jit, static_argnames=("solver",))
def divergence_flags(solver: Solver, game: Game, start_state: SolverState, exploitability: jax.Array) -> jax.Array:
    """``Trace.diverged`` for the ``exploitability`` values of a run that began at ``start_state``
    (what ``run`` records; ``solvers.run_checkpointed`` recomputes it over the whole run)."""
    start = _evaluate_output(solver, game, start_state)
    return _diverged(exploitability, _threshold(solver, game, start))


@functools.partial(jax.jit, static_argnames=("solver", "num_steps", "eval_every", "mesh"))
def _run(solver: Solver, game: Game, state: SolverState, num_steps: int, eval_every: int, mesh=None):
    if mesh is None:
        return _run_steps(solver, game, state, num_steps, eval_every)
    from solvers.neural.parallel import replicated, using_mesh  # data-parallel (solvers.neural.parallel)

    with using_mesh(mesh):  # the learners split their batches over the mesh while they are traced
        out = _run_steps(solver, game, state, num_steps, eval_every)
    return jax.lax.with_sharding_constraint(out, replicated(mesh))  # readable on every process


def _run_steps(solver: Solver, game: Game, state: SolverState, num_steps: int, eval_every: int):
    def block(state, _):
        state = iterate(solver, game, state, eval_every)
        return state, (state.step, _evaluate_output(solver, game, state))

    start = _evaluate_output(solver, game, state)
    state, (steps, expl) = jax.lax.scan(block, state, None, length=num_steps // eval_every)
    rest = num_steps % eval_every
    if rest:
        state = iterate(solver, game, state, rest)
        steps = jnp.append(steps, state.step)
        expl = jnp.append(expl, _evaluate_output(solver, game, state))
    diverged = _diverged(expl, _threshold(solver, game, start))
    return state, Trace(step=steps, exploitability=expl, nash_conv=expl * game.num_players, diverged=diverged)


#: Bytes per evaluation in a ``Trace`` (int32 step, two floats, one bool).
_TRACE_BYTES_PER_EVALUATION = 4 + 2 * 8 + 1


def check_run_length(num_steps, eval_every, state: SolverState | None = None, max_bytes=None) -> tuple[int, int]:
    """``(num_steps, eval_every)`` checked: integers >= 1 (floats and bools rejected), a step
    count the int32 counter ``SolverState.step`` holds (``MAX_STEPS``, counting the steps a given
    ``state`` has done), and a trace of at most ``max_bytes``. ``eval_every`` defaults to
    ``num_steps // 100`` (100 evaluations) and is capped at ``num_steps``."""
    num_steps = check_int(num_steps, "num_steps", low=1)
    done = 0
    if state is not None and is_concrete(state.step):
        done = int(np.max(np.asarray(state.step), initial=0))
    if num_steps > MAX_STEPS - done:
        already = f" after the {done} steps the state has done" if done else ""
        raise ValueError(
            f"num_steps: expected an integer <= {MAX_STEPS - done}{already} (the int32 "
            f"step counter holds at most 2**31 - 1 = {MAX_STEPS} steps), got {num_steps}; "
            f"run in shorter pieces from a fresh state"
        )
    eval_every = max(1, num_steps // 100) if eval_every is None else check_int(eval_every, "eval_every", low=1)
    eval_every = min(eval_every, num_steps)
    evaluations = math.ceil(num_steps / eval_every)
    check_table_bytes(
        evaluations * _TRACE_BYTES_PER_EVALUATION,
        "eval_every",
        f"the trace of num_steps / eval_every = {evaluations} evaluations",
        max_bytes,
    )
    return num_steps, eval_every


def warn_if_diverged(trace: Trace) -> None:
    """A Python warning when a concrete trace ends diverged (never under jit, where it is traced)."""
    if not is_concrete(trace.diverged):
        return
    flags = np.asarray(trace.diverged)
    if flags.size == 0 or not np.any(flags[..., -1]):
        return
    expl = np.asarray(trace.exploitability)[..., -1]
    what = "non-finite" if not np.all(np.isfinite(expl)) else "above the uniform policy's and the start's"
    warnings.warn(
        f"solvers.run: the run diverged: the final exploitability is {what} "
        f"({np.array2string(expl, precision=4, threshold=6)}); Trace.diverged is set. A step size "
        f"too large for the game's payoffs is the usual cause (explicit learning rates are in "
        f"payoff units; the defaults scale with the payoffs)",
        RuntimeWarning,
        stacklevel=3,
    )


def run(
    solver: Solver,
    game: Game,
    num_steps: int,
    eval_every: int | None = None,
    key: jax.Array | None = None,
    state: SolverState | None = None,
    *,
    max_bytes=None,
    warn: bool = True,
    mesh=None,
):
    """Run ``num_steps`` iterations of ``solver`` on ``game``; return ``(state, trace)``.

    The exploitability of ``solver.output(state)`` is recorded every
    ``eval_every`` steps (default: 100 evaluations in all) and after the last
    step, clamped at 0 (rounding can make it slightly negative at an equilibrium);
    ``trace.diverged`` flags evaluations that are not finite or worse than both the
    uniform policy and the run's start (``Trace``), and a ``RuntimeWarning`` is
    raised when the last one is (on concrete results, not under ``jit``). Compiled once per (solver object, game
    shapes, num_steps, eval_every); works inside ``jit`` and ``vmap`` over games,
    keys and hyperparameters. Pass ``state`` to continue an earlier run.

    ``num_steps`` and ``eval_every`` are integers >= 1; the step counter is int32, so at most
    ``MAX_STEPS`` steps in all, and the trace (about 21 bytes per evaluation) must fit
    ``max_bytes`` (``jaxgames.validation.resolve_max_bytes``: 4 GiB by default). ``warn=False``
    leaves the divergence warning out (the flag is still set).

    ``mesh`` (a ``jax.sharding.Mesh`` with a ``"data"`` axis, e.g.
    ``solvers.neural.parallel.data_mesh()`` over every device of every process): data-parallel
    training of a neural learner, its batch split over the devices and its gradients averaged
    across them; the same key gives the same trace as one device, up to float rounding
    (``solvers.neural.parallel``). The game and state are replicated over the mesh, and so are the
    results, readable on every process under ``jax.distributed``. ``None``: the plain program.
    """
    if not isinstance(solver, Solver):
        raise ValueError(f"solver: expected a solvers.Solver, got {type(solver).__name__}")
    if not isinstance(game, Game):
        raise ValueError(f"game: expected a jaxgames game model, got {type(game).__name__}")
    if state is not None and not isinstance(state, SolverState):
        raise ValueError(f"state: expected a solvers.SolverState, got {type(state).__name__}")
    num_steps, eval_every = check_run_length(num_steps, eval_every, state, max_bytes)
    check_bool(warn, "warn")
    if mesh is not None:
        from solvers.neural.parallel import check_mesh, replicate

        mesh = check_mesh(mesh)
    if state is None:
        state = solver.init(game, key)
    if mesh is None:
        state, trace = _run(solver, game, state, num_steps, eval_every)
    else:
        game, state = replicate(game, mesh, "game"), replicate(state, mesh, "key or state")
        state, trace = _run(solver, game, state, num_steps, eval_every, mesh)
    if warn:
        warn_if_diverged(trace)
    return state, trace
