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
from typing import Any, Callable, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp

from jaxgames import simplex
from jaxgames.core import Game, Policy
from jaxgames.validation import check_choice, check_int  # noqa: F401 - check_choice re-exported


@flax.struct.dataclass
class SolverState:
    """The state of every solver (a pytree).

    Attributes:
      policy: the current iterate, a ``Policy`` (what the solver would play now).
      average: the running average of iterates, reach-weighted through
        ``game.mix_policies`` so that it is the average *strategy* in every game.
      step: int32 scalar, the number of completed iterations.
      extra: solver-specific pytree (regrets, previous gradients, magnet, ...).
    """

    policy: Policy
    average: Policy
    step: jax.Array
    extra: Any = None


class Solver(NamedTuple):
    """A solver: ``init(game, key=None)``, ``step(game, state)``, ``output(state)``."""

    init: Callable[..., SolverState]
    step: Callable[[Game, SolverState], SolverState]
    output: Callable[[SolverState], Policy]


class Trace(NamedTuple):
    """What ``run`` records at each evaluation: ``[K]`` arrays."""

    step: jax.Array            # iterations completed at the evaluation
    exploitability: jax.Array  # exploitability of ``solver.output(state)``
    nash_conv: jax.Array       # ``exploitability * num_players``


def random_policy(game: Game, key: jax.Array) -> Policy:
    """A policy drawn uniformly from the simplex (Dirichlet(1)) at every decision point."""
    masks = game.legal_mask()
    keys = jax.random.split(key, len(masks))
    dtype = jnp.result_type(float)
    return tuple(simplex.normalize(jax.random.exponential(k, m.shape, dtype), m)
                 for k, m in zip(keys, masks))


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
    """A fresh state: the uniform policy, or a random one when ``key`` is given."""
    policy = game.uniform_policy() if key is None else random_policy(game, key)
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


def check_count(value, field: str, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (step counts, schedule periods); floats are rejected, not truncated."""
    return check_int(value, field, low=minimum)


def _evaluate_output(solver: Solver, game: Game, state: SolverState):
    return game.exploitability(solver.output(state))


@functools.partial(jax.jit, static_argnames=("solver", "num_steps", "eval_every"))
def _run(solver: Solver, game: Game, state: SolverState, num_steps: int, eval_every: int):
    def block(state, _):
        state = jax.lax.fori_loop(0, eval_every, lambda _, s: solver.step(game, s), state)
        return state, (state.step, _evaluate_output(solver, game, state))

    state, (steps, expl) = jax.lax.scan(block, state, None, length=num_steps // eval_every)
    rest = num_steps % eval_every
    if rest:
        state = jax.lax.fori_loop(0, rest, lambda _, s: solver.step(game, s), state)
        steps = jnp.append(steps, state.step)
        expl = jnp.append(expl, _evaluate_output(solver, game, state))
    return state, Trace(step=steps, exploitability=expl, nash_conv=expl * game.num_players)


def run(solver: Solver, game: Game, num_steps: int, eval_every: int | None = None,
        key: jax.Array | None = None, state: SolverState | None = None):
    """Run ``num_steps`` iterations of ``solver`` on ``game``; return ``(state, trace)``.

    The exploitability of ``solver.output(state)`` is recorded every
    ``eval_every`` steps (default: 100 evaluations in all) and after the last
    step. Compiled once per (solver object, game shapes, num_steps, eval_every);
    works inside ``jit`` and ``vmap`` over games, keys and hyperparameters.
    Pass ``state`` to continue an earlier run.
    """
    if not isinstance(solver, Solver):
        raise ValueError(f"solver: expected a solvers.Solver, got {type(solver).__name__}")
    if not isinstance(game, Game):
        raise ValueError(f"game: expected a jaxgames game model, got {type(game).__name__}")
    num_steps = int(num_steps)
    if num_steps < 1:
        raise ValueError(f"num_steps: expected an integer >= 1, got {num_steps}")
    eval_every = max(1, num_steps // 100) if eval_every is None else int(eval_every)
    if not 1 <= eval_every:
        raise ValueError(f"eval_every: expected an integer >= 1, got {eval_every}")
    eval_every = min(eval_every, num_steps)
    if state is None:
        state = solver.init(game, key)
    return _run(solver, game, state, num_steps, eval_every)
