"""Evolutionary game dynamics: replicator and projected replicator dynamics, integrated in ``lax.scan``.

**Replicator dynamics** (Taylor & Jonker 1978; Bloembergen et al. 2015, eq. 5). A population state
``x`` on the simplex grows each strategy in proportion to its excess fitness::

    dx_a / dt = x_a (f_a(x) - x . f(x))

* single population (a symmetric two-player game with payoff matrix ``A[a, b]``, the payoff of
  strategy ``a`` against ``b``): ``f(x) = A x``;
* multi-population (an N-player ``jaxgames.matrix.MatrixGame``, payoffs ``[N, A_1, ..., A_N]``,
  one population per player): ``f_i(x) = q_i(x_{-i})``, player ``i``'s action values against the
  other populations (``game.action_values``).

**Projected replicator dynamics** (PRD; Lanctot et al. 2017, "A Unified Game-Theoretic Approach to
Multiagent Reinforcement Learning", section 3.1): an Euler (or RK4) step of the replicator dynamics
followed by the Euclidean projection onto the ``gamma``-simplex ``{x : x_a >= gamma, sum x = 1}``,
which keeps every strategy alive (exploration ``gamma``)::

    x <- P_gamma(x + dt * x * (f(x) - x . f(x)))

These are the same maps as OpenSpiel's ``open_spiel.python.egt.dynamics`` (``replicator``,
``SinglePopulationDynamics``, ``MultiPopulationDynamics``) and
``open_spiel.python.algorithms.projected_replicator_dynamics`` (whose exact projection,
``_simplex_projection``, is ``projection="exact"`` here; its ``use_approx=True`` clip-and-renormalize
is ``projection="approx"``); ``tests/test_evolution.py`` checks both to 1e-10 in float64.

Every function is pure, jittable and vmappable over games, initial states and step sizes
(``num_steps``, ``save_every``, ``method`` and the averaging window are static)::

    game = matrix.zoo.rock_paper_scissors()
    out = replicator_dynamics(game, dt=0.01, num_steps=1000, method="rk4")
    out.final, out.average                # (x_1, x_2) after 1000 steps; their time average
    jax.vmap(lambda dt: projected_replicator_dynamics(game, dt=dt, num_steps=100).average)(dts)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.matrix.game import MatrixGame
from jaxgames.validation import (
    as_float_array,
    check_choice,
    check_finite,
    check_int,
    check_probabilities,
    check_scalar,
    host_values,
)

#: Integration methods: explicit Euler (OpenSpiel's PRD) or classical fourth-order Runge-Kutta.
METHODS = ("euler", "rk4")
#: PRD projections: OpenSpiel's exact Euclidean projection onto the gamma-simplex, or its approximate
#: one (entries below ``gamma`` raised to ``gamma``, then renormalized: ``use_approx=True``).
PROJECTIONS = ("exact", "approx")

#: Up to this many strategies the exact projection iterates on the active set (``O(K^2)``) instead of sorting.
_ACTIVE_SET_MAX = 16

State = Any  # a [K] array (single population) or a tuple of [A_i] arrays (one per population)


class DynamicsResult(NamedTuple):
    """What ``replicator_dynamics`` and ``projected_replicator_dynamics`` return.

    Attributes:
      final: the state after ``num_steps`` steps (``[K]``, or a tuple of ``[A_i]``).
      average: the time average of the ``num_steps + 1`` states (the initial one included), or of
        the last ``average_over_last`` of them: OpenSpiel's PRD output (its ``StrategyAverager``).
      trajectory: the states at steps ``0, s, 2s, ...`` for ``s = save_every`` (a leading axis of
        ``num_steps // s + 1``; time ``k * s * dt``), or ``None`` with ``save_every=None``.
    """

    final: State
    average: State
    trajectory: State | None


# ------------------------------------------------------------------------------------ vector fields
def replicator(state: jax.Array, fitness: jax.Array) -> jax.Array:
    """The replicator field ``x * (f - x . f)`` over the last axis (OpenSpiel's ``dynamics.replicator``).

    Args:
      state: ``[..., K]`` population state(s) on the simplex.
      fitness: ``[..., K]`` the fitness of each strategy.

    Returns:
      ``[..., K]`` the time derivative ``dx/dt``; it sums to 0 over the last axis.
    """
    average = jnp.sum(state * fitness, axis=-1, keepdims=True)
    return state * (fitness - average)


def _is_single(game) -> bool:
    return not isinstance(game, MatrixGame)


def fitness(game, state: State) -> State:
    """The fitness of every strategy: ``A x`` (single population, ``game`` a ``[K, K]`` matrix) or
    the action values ``q_i(x_{-i})`` of every player (``game`` a ``MatrixGame``, ``state`` a tuple)."""
    if _is_single(game):
        return jnp.matmul(game, state)
    return game.action_values(tuple(state))


def vector_field(game, state: State) -> State:
    """The replicator vector field ``dx/dt`` at ``state``.

    Args:
      game: a ``[K, K]`` payoff matrix ``A`` (single population: ``A[a, b]`` is the payoff of
        strategy ``a`` against ``b``; ``dx/dt = x * (A x - x . A x)``), or an N-player
        ``MatrixGame`` (one population per player: ``dx_i/dt = x_i * (q_i - x_i . q_i)``).
      state: ``[K]``, or a tuple of ``[A_i]`` (one distribution per population).

    Returns:
      the derivative, shaped like ``state``. Equals OpenSpiel's ``SinglePopulationDynamics(payoffs,
      replicator)`` / ``MultiPopulationDynamics(payoffs, replicator)`` (which take the flat
      concatenation of the populations).

    Example:
      >>> vector_field(jnp.array([[0., -1, 1], [1, 0, -1], [-1, 1, 0]]), jnp.ones(3) / 3)  # RPS: 0
    """
    f = fitness(game, state)
    if _is_single(game):
        return replicator(state, f)
    return tuple(replicator(x, fi) for x, fi in zip(state, f))


# -------------------------------------------------------------------------------------- projections
def project_gamma_simplex(x: jax.Array, gamma, projection: str = "exact") -> jax.Array:
    """Project ``x`` ``[K]`` onto ``{p : p_a >= gamma, sum p = 1}`` (needs ``K * gamma <= 1``).

    ``"exact"``: the Euclidean projection ``p = max(x - lam, gamma)``, as OpenSpiel's PRD
    ``_simplex_projection`` (Wang & Carreira-Perpinan 2013, shifted by ``gamma``): for ``K > 16`` its
    very computation (sort, cumulative sums, the last index that stays above ``gamma``); for
    ``K <= 16`` the same ``lam`` by Michelot's (1986) active-set iteration, which needs no sort (a
    sort costs 10x the rest of a PRD step on CPU) and agrees to rounding. ``"approx"``: entries below
    ``gamma`` set to ``gamma``, then renormalized (OpenSpiel's ``use_approx=True``). Any leading axes
    are batch axes.
    """
    if projection == "approx":
        y = jnp.where(x < gamma, gamma, x)
        return y / jnp.sum(y, axis=-1, keepdims=True)
    n = x.shape[-1]
    if n <= _ACTIVE_SET_MAX:
        # Michelot's (1986) active-set iteration, without a sort (slow on CPU): with A the entries above
        # the floor, lam = (1 - sum_A x - (n - |A|) gamma) / |A| (OpenSpiel's u_tmp at |A|), and A shrinks
        # to {x + lam > gamma}; it starts from every entry and is exact after at most n rounds.
        active = jnp.ones_like(x, dtype=bool)
        for _ in range(n):
            count = jnp.sum(active, axis=-1, keepdims=True).astype(x.dtype)
            total = jnp.sum(jnp.where(active, x, 0.0), axis=-1, keepdims=True)
            lam = (1.0 - total - (n - count) * gamma) / jnp.maximum(count, 1.0)
            active = active & ~(x + lam <= gamma)
        return jnp.maximum(x + lam, gamma)
    idx = jnp.arange(1, n + 1, dtype=x.dtype)
    u = jnp.flip(jnp.sort(x, axis=-1), axis=-1)
    u_tmp = (1.0 - jnp.cumsum(u, axis=-1) - (n - idx) * gamma) / idx
    # OpenSpiel: rho = searchsorted(u + u_tmp <= gamma, True); the condition is monotone (False then
    # True), so rho is the number of entries where it fails.
    rho = jnp.maximum(jnp.sum(~(u + u_tmp <= gamma), axis=-1), 1)
    lam = jnp.take_along_axis(u_tmp, (rho - 1)[..., None], axis=-1)
    return jnp.maximum(x + lam, gamma)


# -------------------------------------------------------------------------------------- integration
def _tree_axpy(a, x, y):
    """``y + a * x`` on states."""
    return jax.tree_util.tree_map(lambda xi, yi: yi + a * xi, x, y)


def step(game, state: State, dt, method: str = "euler", gamma=None, projection: str = "exact") -> State:
    """One integration step of the replicator dynamics, projected onto the ``gamma``-simplex when
    ``gamma`` is given (one PRD step).

    ``"euler"``: ``x + dt F(x)``; ``"rk4"``: ``x + dt (k1 + 2 k2 + 2 k3 + k4) / 6``. No input checks
    (the loop's body); ``replicator_dynamics`` / ``projected_replicator_dynamics`` check theirs.
    """
    field = lambda s: vector_field(game, s)  # noqa: E731
    if method == "euler":
        new = _tree_axpy(dt, field(state), state)
    else:
        k1 = field(state)
        k2 = field(_tree_axpy(0.5 * dt, k1, state))
        k3 = field(_tree_axpy(0.5 * dt, k2, state))
        k4 = field(_tree_axpy(dt, k3, state))
        increment = jax.tree_util.tree_map(lambda a, b, c, d: (a + 2.0 * b + 2.0 * c + d) / 6.0, k1, k2, k3, k4)
        new = _tree_axpy(dt, increment, state)
    if gamma is not None:
        new = jax.tree_util.tree_map(lambda x: project_gamma_simplex(x, gamma, projection), new)
    return new


def _integrate(game, state, dt, gamma, num_steps, method, save_every, average_over_last, projection):
    start = 0 if average_over_last is None else max(0, num_steps + 1 - average_over_last)
    count = num_steps + 1 - start
    zero = jax.tree_util.tree_map(jnp.zeros_like, state)
    total = state if start == 0 else zero

    def body(carry, t):
        x, total = carry
        x = step(game, x, dt, method, gamma, projection)
        weight = (t + 1 >= start).astype(jax.tree_util.tree_leaves(x)[0].dtype)
        total = _tree_axpy(weight, x, total)
        return (x, total), (x if save_every is not None else None)

    if save_every is None:
        (final, total), _ = jax.lax.scan(body, (state, total), jnp.arange(num_steps))
        trajectory = None
    else:
        # outer scan over saved points, inner scan of save_every steps; the remainder after the last save
        blocks, rest = divmod(num_steps, save_every)

        def block(carry, b):
            carry, _ = jax.lax.scan(lambda c, t: (body(c, t)[0], None), carry, b * save_every + jnp.arange(save_every))
            return carry, carry[0]

        (x, total), saved = jax.lax.scan(block, (state, total), jnp.arange(blocks))
        if rest:
            (x, total), _ = jax.lax.scan(
                lambda c, t: (body(c, t)[0], None), (x, total), blocks * save_every + jnp.arange(rest)
            )
        final = x
        trajectory = jax.tree_util.tree_map(lambda s0, s: jnp.concatenate([s0[None], s]), state, saved)
    average = jax.tree_util.tree_map(lambda s: s / count, total)
    return DynamicsResult(final=final, average=average, trajectory=trajectory)


_integrate_jit = jax.jit(
    _integrate, static_argnames=("num_steps", "method", "save_every", "average_over_last", "projection")
)


# --------------------------------------------------------------------------------------- validation
def _check_game(game):
    """``game`` as a ``MatrixGame`` or a float ``[K, K]`` matrix."""
    if isinstance(game, MatrixGame):
        return game
    if isinstance(game, (list, tuple)):
        raise ValueError(
            "game: expected a jaxgames.matrix.MatrixGame (multi-population) or a [K, K] payoff matrix "
            f"(single population), got a {type(game).__name__}"
        )
    matrix = as_float_array(game, "game")
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 1:
        raise ValueError(
            "game: expected a jaxgames.matrix.MatrixGame (multi-population) or a square [K, K] payoff "
            f"matrix (single population: A[a, b] is the payoff of a against b), got shape {tuple(matrix.shape)}"
        )
    check_finite(matrix, "game")
    return matrix


def _num_actions(game) -> tuple:
    return (game.shape[-1],) if _is_single(game) else game.num_actions


def _check_initial(game, initial):
    """The initial state: uniform by default, else checked against the game's shapes and the simplex."""
    sizes = _num_actions(game)
    dtype = game.dtype if _is_single(game) else game.own_first[0].dtype
    if initial is None:
        uniform = tuple(jnp.full((a,), 1.0 / a, dtype) for a in sizes)
        return uniform[0] if _is_single(game) else uniform
    if _is_single(game):
        parts = (initial,)
        if isinstance(initial, (list, tuple)) and len(initial) and np.ndim(initial[0]) > 0:
            raise ValueError(f"initial: expected one [K] = [{sizes[0]}] distribution for a single population")
    else:
        if not isinstance(initial, (list, tuple)) or len(initial) != len(sizes):
            raise ValueError(
                f"initial: expected a tuple of {len(sizes)} distributions (one per population) of sizes "
                f"{sizes}, got {type(initial).__name__}"
            )
        parts = tuple(initial)
    out = []
    for i, (x, a) in enumerate(zip(parts, sizes)):
        field = "initial" if _is_single(game) else f"initial[{i}]"
        x = as_float_array(x, field).astype(dtype)
        if x.shape[-1:] != (a,) or x.ndim != 1:
            raise ValueError(f"{field}: expected shape ({a},), got {tuple(x.shape)}")
        check_probabilities(x, field, "a distribution over strategies")
        out.append(x)
    return out[0] if _is_single(game) else tuple(out)


def _check_common(num_steps, method, save_every, average_over_last, dt):
    num_steps = check_int(num_steps, "num_steps", low=1)
    check_choice(method, "method", METHODS)
    if save_every is not None:
        save_every = min(check_int(save_every, "save_every", low=1), num_steps)
    if average_over_last is not None:
        average_over_last = check_int(average_over_last, "average_over_last", low=1)
    check_scalar(dt, "dt", 0, None, low_open=True)
    return num_steps, save_every, average_over_last


# ----------------------------------------------------------------------------------------- public
def replicator_dynamics(
    game,
    initial: State | None = None,
    *,
    dt=0.01,
    num_steps: int = 1000,
    method: str = "euler",
    save_every: int | None = 1,
    average_over_last: int | None = None,
) -> DynamicsResult:
    """Integrate the replicator dynamics ``dx/dt = x * (f(x) - x . f(x))`` for ``num_steps`` steps.

    The update rule is ``x <- x + dt F(x)`` (``method="euler"``) or the classical RK4 step
    (``"rk4"``), ``F = vector_field`` (Taylor & Jonker 1978; see the module docstring), in one
    ``lax.scan``. Euler keeps ``sum x = 1`` exactly; it keeps ``x >= 0`` while ``dt`` times the
    largest fitness gap stays below 1. Interior orbits of zero-sum games cycle (RPS conserves
    ``sum_a log x_a``), so the time ``average`` rather than ``final`` approaches the equilibrium there.

    Args:
      game: a ``[K, K]`` payoff matrix (single population) or an N-player ``MatrixGame``
        (multi-population, payoffs ``[N, A_1, ..., A_N]``).
      initial: ``[K]`` or a tuple of ``[A_i]`` distributions; default uniform.
      dt: step size ``> 0`` (may be traced: ``vmap`` over step sizes).
      num_steps: number of steps ``>= 1`` (static).
      method: ``"euler"`` or ``"rk4"`` (static).
      save_every: keep every ``save_every``-th state in ``trajectory`` (static); ``None`` keeps none.
      average_over_last: average only the last that many states (static); ``None``: all of them.

    Returns:
      ``DynamicsResult(final, average, trajectory)``.

    Example:
      >>> from jaxgames import matrix
      >>> out = replicator_dynamics(matrix.zoo.rock_paper_scissors(), (jnp.array([.5, .3, .2]),) * 2,
      ...                           dt=0.01, num_steps=2000, method="rk4", save_every=10)
      >>> out.trajectory[0].shape     # (201, 3): player 1's state every 10 steps
    """
    game = _check_game(game)
    num_steps, save_every, average_over_last = _check_common(num_steps, method, save_every, average_over_last, dt)
    state = _check_initial(game, initial)
    return _integrate_jit(game, state, dt, None, num_steps, method, save_every, average_over_last, "exact")


def projected_replicator_dynamics(
    game,
    initial: State | None = None,
    *,
    dt=1e-3,
    gamma=1e-6,
    num_steps: int = 100_000,
    method: str = "euler",
    save_every: int | None = None,
    average_over_last: int | None = None,
    projection: str = "exact",
) -> DynamicsResult:
    """Projected replicator dynamics (Lanctot et al. 2017): ``x <- P_gamma(x + dt F(x))``.

    Each step is a replicator step (Euler, as in the paper and OpenSpiel, or RK4) followed by the
    projection ``P_gamma`` onto ``{x : x_a >= gamma, sum x = 1}`` (``project_gamma_simplex``), every
    population at once. ``average`` is PRD's output: the mean of the ``num_steps + 1`` states (or of
    the last ``average_over_last``), equal to OpenSpiel's ``projected_replicator_dynamics(payoffs,
    prd_iterations=num_steps, prd_dt=dt, prd_gamma=gamma, average_over_last_n_strategies=...)``
    (defaults alike: ``dt=1e-3``, ``gamma=1e-6``, 100,000 steps).

    Args:
      game: a ``[K, K]`` payoff matrix (single population) or an N-player ``MatrixGame``.
      initial: ``[K]`` or a tuple of ``[A_i]`` distributions; default uniform.
      dt: step size ``> 0`` (may be traced).
      gamma: exploration floor in ``[0, 1)``, with ``gamma * A_i <= 1`` for every population (may be traced).
      num_steps, method, save_every, average_over_last: as in ``replicator_dynamics`` (here
        ``save_every`` defaults to ``None``: no trajectory).
      projection: ``"exact"`` (Euclidean) or ``"approx"`` (clip and renormalize; OpenSpiel's ``use_approx``).

    Returns:
      ``DynamicsResult(final, average, trajectory)``.

    Example:
      >>> from jaxgames import matrix
      >>> game = matrix.random_game(jax.random.key(0), (3, 3, 3))  # a 3-player general-sum game
      >>> projected_replicator_dynamics(game, dt=1e-2, gamma=1e-3, num_steps=10_000).average
    """
    game = _check_game(game)
    num_steps, save_every, average_over_last = _check_common(num_steps, method, save_every, average_over_last, dt)
    check_scalar(gamma, "gamma", 0, 1, high_open=True)
    check_choice(projection, "projection", PROJECTIONS)
    g = host_values(gamma, "gamma")
    largest = max(_num_actions(game))
    if g is not None and float(g) * largest > 1.0:
        raise ValueError(
            f"gamma: expected gamma * (number of strategies) <= 1 (the gamma-simplex of {largest} strategies "
            f"is empty above 1/{largest}), got {float(g)}"
        )
    state = _check_initial(game, initial)
    return _integrate_jit(game, state, dt, gamma, num_steps, method, save_every, average_over_last, projection)
