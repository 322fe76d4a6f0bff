"""Periodic aversion: OpenSpiel's ``python_mfg_periodic_aversion`` (a discretised ergodic MFG on a circle).

Almulla, Ferreira & Gomes (2017), "Two numerical approaches to stationary mean-field games"
(Dyn. Games Appl. 7(4)), whose ergodic MFG has an explicit solution; discretised in time and
space by Elie, Pérolat, Laurière, Geist & Pietquin (2020), "On the convergence of model free
learning in mean field games" (AAAI); OpenSpiel's ``open_spiel/python/mfg/games/periodic_aversion.py``.

``size`` states ``x`` on ``[xmin, xmax]`` (``dx = (xmax - xmin) / (size - 1)``, position
``x dx + xmin``), moved modulo ``size``. With ``n`` = ``n_actions_per_side`` there are ``2n + 1``
actions, move ``a - n`` cells, then a noise move of ``d - n`` cells (``d in 0..2n``) with
probability proportional to the normal density ``phi((d - n) dx / (sigma sqrt(dt)))``
(``sigma`` = ``volatility``). Agents start uniformly. At each decision ``t = 0 .. T-1`` the
agent at ``x`` collects ``dt`` times::

    - 1/2 (v_{t-1})^2                                     (kinetic cost, v = (a - n) dx / dt)
    - coef_aversion * log(mu_t(x) / dx + 1e-15)           (aversion to the density)
    + sigma 2 pi^2 sin(2 pi p) - 2 pi^2 cos(2 pi p)^2 + (2 / sigma^2) sin(2 pi p)   (p = position of x)

where ``v_{t-1}`` is the velocity of the *previous* move (0 at ``t = 0``): OpenSpiel charges a
move at the next decision node, so the last move is never charged. The kinetic cost follows
one of two conventions (``move_cost_model``), as in ``crowd_modelling``:

* ``"openspiel"`` (default): what OpenSpiel's MFG algorithms compute. They memoise values by
  the observation string ``"(x, t)"``, which omits the previous move, so each ``(t, x)`` keeps
  the cost of the move on the path that first reaches it in their depth-first traversal
  (``crowd_modelling.first_visit_last_action``), a state cost independent of the action chosen.
  With it our exploitability equals OpenSpiel's ``NashConv``.
* ``"action"``: each move charged to the step taking it, except the last one (the expected
  return of a simulated episode).

(OpenSpiel's ``returns()`` of this game keeps only the last reward; its value functions, and
the check of ``"action"`` in the tests, sum ``rewards()`` along the history.)

Shapes: policies ``[T, size, 2n + 1]``; ``transition`` ``[S, A, S]``.

Example::

    >>> game = periodic_aversion(size=11, horizon=5, n_actions_per_side=3)
    >>> game.uniform_policy()[0].shape
    (5, 11, 7)
"""

from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.core import is_concrete
from jaxgames.mean_field.crowd_modelling import MOVE_COST_MODELS, first_visit_last_action
from jaxgames.mean_field.game import MeanFieldGame, check_model, check_tables, policy_table
from jaxgames.validation import check_choice, check_int, check_scalar

#: OpenSpiel's ``eps`` inside ``log(mu / dx + eps)``.
LOG_EPSILON = 1e-15


@functools.lru_cache(maxsize=64)
def openspiel_last_move(size: int, horizon: int, n_actions_per_side: int) -> np.ndarray:
    """``[T, S]``: the previous move ``a - n`` OpenSpiel's memoised values charge at ``(t, x)`` (0 at ``t = 0``)."""
    n, moves = n_actions_per_side, range(-n_actions_per_side, n_actions_per_side + 1)
    last = first_visit_last_action(
        range(size),
        horizon,
        size,
        lambda x: [(a, (x + a - n) % size) for a in range(2 * n + 1)],  # chance nodes "(z, t)_a_mu"
        lambda z: [(z + d) % size for d in moves],
    )
    return np.where(last >= 0, last - n, 0)


@functools.partial(jax.jit, static_argnames=("size", "n", "horizon", "move_cost_model"))
def _arrays(dt, xmin, xmax, sigma, *, size, n, horizon, move_cost_model):
    """``(transitions [S, A, S], dt * geometric reward [S], move cost [T, S, A], dx)`` in one compiled call."""
    dtype = jnp.result_type(float)
    num_actions = 2 * n + 1
    dx = (xmax - xmin) / (size - 1)
    moves = np.arange(-n, n + 1)
    noise = jnp.exp(-0.5 * (moves * dx / (sigma * jnp.sqrt(dt))) ** 2)
    noise = noise / jnp.sum(noise)
    # x' = x + (a - n) + (d - n) mod size, summed over the noise d
    shift = (np.arange(size)[:, None, None] + moves[None, :, None] + moves[None, None, :]) % size  # [S, A, D]
    rows, cols = np.arange(size)[:, None, None], np.arange(num_actions)[None, :, None]
    transitions = jnp.zeros((size, num_actions, size), dtype).at[rows, cols, shift].add(noise.astype(dtype))
    pix2 = 2 * jnp.pi * (jnp.arange(size) * dx + xmin)
    geom = sigma * 2 * jnp.pi**2 * jnp.sin(pix2) - 2 * jnp.pi**2 * jnp.cos(pix2) ** 2 + (2 / sigma**2) * jnp.sin(pix2)
    if move_cost_model == "openspiel":
        last = openspiel_last_move(size, horizon, n)[:, :, None]  # [T, S, 1]: the move charged at (t, x)
    else:
        last = np.broadcast_to(moves, (horizon, size, num_actions)).copy()
        last[-1] = 0  # the game ends before the last move is charged
    cost = jnp.broadcast_to(0.5 * (last * dx / dt) ** 2 * dt, (horizon, size, num_actions))
    return transitions, (geom * dt).astype(dtype), cost.astype(dtype), jnp.asarray(dx, dtype)


@flax.struct.dataclass
class PeriodicAversion(MeanFieldGame):
    """The periodic aversion game (see the module docstring); build it with ``periodic_aversion()``.

    Leaves: ``initial [S]``, ``transitions [S, A, S]``, ``state_reward [S]`` (the geometric term,
    times ``dt``), ``move_cost [T, S, A]`` (the kinetic cost, times ``dt``), ``coef_aversion``,
    ``dx``, ``dt``.
    """

    initial: jax.Array
    transitions: jax.Array
    state_reward: jax.Array
    move_cost: jax.Array
    coef_aversion: jax.Array
    dx: jax.Array
    dt: jax.Array
    size: int = flax.struct.field(pytree_node=False)
    horizon: int = flax.struct.field(pytree_node=False)
    n_actions_per_side: int = flax.struct.field(pytree_node=False)

    @property
    def num_states(self) -> int:
        return self.size

    @property
    def num_actions(self) -> int:
        return 2 * self.n_actions_per_side + 1

    def transition(self, t, mu):
        del t, mu
        return self.transitions

    def reward(self, t, mu):
        aversion = -self.coef_aversion * jnp.log(mu / self.dx + LOG_EPSILON)
        return (self.state_reward + self.dt * aversion)[:, None] - self.move_cost[t]


def periodic_aversion(
    size: int = 21,
    horizon: int = 20,
    dt: float = 0.01,
    xmin: float = 0.0,
    xmax: float = 1.0,
    n_actions_per_side: int = 10,
    volatility: float = 1.0,
    coef_aversion: float = 1.0,
    move_cost_model: str = "openspiel",
    *,
    max_bytes: int | None = None,
) -> PeriodicAversion:
    """OpenSpiel's ``python_mfg_periodic_aversion`` (its defaults); policies are ``[T, size, 2n + 1]``.

    Args:
      size: grid points (>= 2); horizon: decisions ``T`` (>= 1); dt: time step (> 0).
      xmin, xmax: the ends of the position grid (``xmax > xmin``).
      n_actions_per_side: ``n`` (>= 0): moves and noise moves range over ``-n .. n`` cells.
      volatility: ``sigma`` (> 0), the noise's standard deviation per unit time.
      coef_aversion: coefficient of ``-log`` density. The float arguments may be traced (``vmap``
        sweeps them); the sizes are static.
      move_cost_model: ``"openspiel"`` (OpenSpiel's memoised values) or ``"action"``; module docstring.
      max_bytes: ceiling on any dense table (``[S, A, S]``, ``[T, S, A]``); ``None``: the default.
    """
    size = check_int(size, "size", low=2)
    horizon = check_int(horizon, "horizon", low=1)
    n = check_int(n_actions_per_side, "n_actions_per_side", low=0)
    check_choice(move_cost_model, "move_cost_model", MOVE_COST_MODELS)
    num_actions = 2 * n + 1
    check_tables(
        [
            ("size", f"the transition tensor [S, A, S'] = [{size}, {num_actions}, {size}]", (size, num_actions, size)),
            policy_table(horizon, size, num_actions),
        ],
        max_bytes,
    )
    dt = check_scalar(dt, "dt", 0.0, low_open=True)
    xmin, xmax = check_scalar(xmin, "xmin"), check_scalar(xmax, "xmax")
    if is_concrete(xmin) and is_concrete(xmax) and not float(xmax) > float(xmin):
        raise ValueError(f"xmax: expected a value above xmin = {float(xmin)}, got {float(xmax)}")
    sigma = check_scalar(volatility, "volatility", 0.0, low_open=True)
    coef_aversion = check_scalar(coef_aversion, "coef_aversion")
    dtype = jnp.result_type(float)
    transitions, geom, cost, dx = _arrays(
        dt, xmin, xmax, sigma, size=size, n=n, horizon=horizon, move_cost_model=move_cost_model
    )
    game = PeriodicAversion(
        initial=jnp.full((size,), 1.0 / size, dtype),
        transitions=transitions,
        state_reward=geom,
        move_cost=cost,
        coef_aversion=coef_aversion,
        dx=dx,
        dt=jnp.asarray(dt, dtype),
        size=size,
        horizon=horizon,
        n_actions_per_side=n,
    )
    return check_model(game, ("coef_aversion",))
