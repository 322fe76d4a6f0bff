"""Discrete linear-quadratic mean-field game: OpenSpiel's ``mean_field_lin_quad`` (Perrin et al. 2020, Sec. 4.1).

Perrin, Perolat, Lauriere, Geist, Elie & Pietquin (2020), "Fictitious play for
mean field games: continuous time analysis and applications" (NeurIPS): the
linear-quadratic model of systemic risk (Carmona, Fouque & Sun 2015) on a ring
of ``size`` cells. With ``n`` = ``n_actions_per_side``, an action
``a in {0 .. 2n}`` is the displacement ``m_a = a - n``; ``mbar(mu) = sum_x x mu(x)``
is the population's mean position (on ``0 .. size-1``, not a circular mean) and
``d = mbar(mu_t) - x`` the agent's distance to it. One step from ``x`` is::

    z  = (x + round((m_a + K d) dt)) mod size                     (drift: control + mean reversion K)
    x' = round(z + k sqrt(dt) sigma) mod size,  k in {-n .. n},     (noise)
         P(k) = Phi((k + 1/2) / sigma) - Phi((k - 1/2) / sigma)     (the tails folded into k = -n, n)

(``round`` is round-half-to-even, Python's). The paper's reward is the negated
running cost ``f = 1/2 m^2 - q m d + kappa/2 d^2`` times ``dt``, and a terminal
cost ``c/2 d_T^2``::

    r_t(x, a, mu) = dt/2 (-m_a^2 + 2 q m_a d - kappa d^2),      g(x, mu_T) = -c/2 d^2.

OpenSpiel's game tree departs from this in three ways (``move_cost_model``):

* ``"openspiel"`` (default): what OpenSpiel's MFG algorithms (``policy_value``,
  ``best_response_value``, ``nash_conv``, fictitious play, mirror descent)
  compute. (1) The decision node at time ``t`` charges the *previous* move
  ``m'``, with the current distance ``d_t``: ``dt/2 (-m'^2 + 2 q m' d_t - kappa d_t^2)``
  (``m' = 0`` at ``t = 0``), so the last move is never charged. (2) Values are
  memoised by the observation string ``"(x, t)"``, which omits ``m'``: each
  ``(t, x)`` keeps the ``m'`` of the path that first reached it in OpenSpiel's
  depth-first traversal (``crowd_modelling.first_visit_last_action``), so
  the reward is a state reward that does not depend on the action chosen.
  (3) The terminal cost is never applied (the terminal node's player is the
  mean-field node, whose reward is 0). With ``mean_revert = 0`` the traversal
  does not depend on the policy and is replayed once at construction
  (``previous_move`` ``[T, S]``); with ``mean_revert != 0`` the drift, hence
  the traversal, depends on the mean field of the policy being evaluated, so
  this mode refuses it. Policies are ``[T, S, 2n+1]``.
* ``"action"``: the paper's model. Each move is charged to the step taking it,
  with the distance at that step, and the terminal cost ``-c/2 d_T^2`` is
  collected at time ``T`` through one extra step whose reward does not depend
  on the action: the model has ``horizon = T + 1`` steps and policies are
  ``[T + 1, S, 2n+1]`` (the last slice is irrelevant; every action is optimal there).

Leaves: ``initial [S]``, ``dt``, ``volatility``, ``mean_revert``, ``cross_q``,
``kappa``, ``terminal_cost``, ``previous_move [T, S]`` (zeros in ``"action"`` mode);
static: ``size``, ``n_actions_per_side``, ``horizon`` (model steps),
``move_cost_model``. ``kappa``, ``cross_q``, ``terminal_cost`` (and, in
``"action"`` mode, ``dt``, ``volatility``, ``mean_revert``) may be traced, so
``jax.vmap`` over ``linear_quadratic(...)`` sweeps them.
"""

from __future__ import annotations

import functools
import math

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from jaxgames.core import check_scalar
from jaxgames.mean_field.crowd_modelling import first_visit_last_action
from jaxgames.mean_field.game import MeanFieldGame, check_distribution, check_model, check_tables, policy_table
from jaxgames.validation import check_choice, check_int

MOVE_COST_MODELS = ("openspiel", "action")


def noise_probabilities(n_actions_per_side: int, volatility) -> jax.Array:
    """``[2n+1]``: OpenSpiel's discretised Gaussian ``P(k)``, ``k = -n .. n``, tails folded into the ends."""
    k = jnp.arange(-n_actions_per_side, n_actions_per_side + 1).astype(jnp.result_type(volatility, float))
    upper = norm.cdf((k + 0.5) / volatility)
    lower = norm.cdf((k - 0.5) / volatility)
    return jnp.where(k == k[-1], 1.0, upper) - jnp.where(k == k[0], 0.0, lower)


@functools.lru_cache(maxsize=64)
def openspiel_previous_move(
    size: int, horizon: int, n_actions_per_side: int, dt: float, volatility: float
) -> np.ndarray:
    """``[T, S]``: the previous move OpenSpiel's memoised values charge at ``(t, x)`` (``mean_revert = 0``).

    Replays the depth-first traversal (``first_visit_last_action``): roots
    ``x0 = 0 .. S-1``, actions ``0 .. 2n``, noise outcomes ``-n .. n``, with the
    drift ``round(m_a dt)`` and the noise ``round(z + k sqrt(dt) sigma)`` of the
    rules. ``t = 0`` is charged no move (OpenSpiel starts from the neutral action).
    """
    n = n_actions_per_side
    moves = np.arange(-n, n + 1)
    drift = np.round(moves * dt).astype(np.int64)
    noise = moves * math.sqrt(dt) * volatility
    last = first_visit_last_action(
        range(size),
        horizon,
        size,
        lambda x: [(a, int((x + drift[a]) % size)) for a in range(2 * n + 1)],
        lambda z: [int(np.round(z + e)) % size for e in noise],
    )
    return np.where(last >= 0, last - n, 0).astype(np.float64)


def _distance_to_mean(mu) -> jax.Array:
    cells = jnp.arange(mu.shape[-1]).astype(mu.dtype)
    return jnp.dot(cells, mu) - cells


# The model's two functions are jitted kernels: called eagerly (validation at construction, a metric
# outside jit) they compile once per shape instead of dispatching (and compiling) op by op; inside
# an outer jit they are inlined.
@functools.partial(jax.jit, static_argnames=("size", "n"))
def _transition(mu, dt, volatility, mean_revert, *, size, n):
    dtype = jnp.result_type(mu.dtype, dt.dtype)
    m = jnp.arange(-n, n + 1).astype(dtype)
    dist = _distance_to_mean(mu.astype(dtype))
    drift = jnp.round((m[None, :] + mean_revert * dist[:, None]) * dt).astype(jnp.int32)
    z = jnp.mod(jnp.arange(size)[:, None] + drift, size)  # [S, A]
    shock = m * jnp.sqrt(dt) * volatility  # [K]
    dest = jnp.mod(jnp.round(z[..., None] + shock).astype(jnp.int32), size)  # [S, A, K]
    probs = noise_probabilities(n, volatility).astype(dtype)
    return jnp.einsum("xaky,k->xay", jax.nn.one_hot(dest, size, dtype=dtype), probs)


@functools.partial(jax.jit, static_argnames=("n", "terminal_step", "charge_action"))
def _reward(t, mu, dt, cross_q, kappa, terminal_cost, previous_move, *, n, terminal_step, charge_action):
    dtype = jnp.result_type(mu.dtype, kappa.dtype)
    d = _distance_to_mean(mu.astype(dtype))[:, None]  # [S, 1]
    moves = jnp.arange(-n, n + 1).astype(dtype)
    m = moves[None, :] if charge_action else previous_move[t][:, None].astype(dtype)  # [1, A] / [S, 1]
    running = dt / 2 * (-(m**2) + 2 * cross_q * m * d - kappa * d**2)
    running = jnp.broadcast_to(running, (mu.shape[-1], 2 * n + 1))
    if not charge_action:
        return running
    terminal = jnp.broadcast_to(-terminal_cost / 2 * d**2, running.shape)
    return jnp.where(t == terminal_step, terminal, running)


@flax.struct.dataclass
class LinearQuadratic(MeanFieldGame):
    """The discrete linear-quadratic MFG (see the module docstring); build it with ``linear_quadratic()``."""

    initial: jax.Array
    dt: jax.Array
    volatility: jax.Array
    mean_revert: jax.Array
    cross_q: jax.Array
    kappa: jax.Array
    terminal_cost: jax.Array
    previous_move: jax.Array
    size: int = flax.struct.field(pytree_node=False)
    n_actions_per_side: int = flax.struct.field(pytree_node=False)
    horizon: int = flax.struct.field(pytree_node=False)
    move_cost_model: str = flax.struct.field(pytree_node=False, default="openspiel")

    @property
    def num_states(self) -> int:
        return self.size

    @property
    def num_actions(self) -> int:
        return 2 * self.n_actions_per_side + 1

    @property
    def num_decisions(self) -> int:
        """``T``: the decisions of the game (``horizon - 1`` in ``"action"`` mode, whose last step is terminal)."""
        return self.horizon - 1 if self.move_cost_model == "action" else self.horizon

    def moves(self, dtype=None) -> jax.Array:
        """``[2n+1]``: the displacement ``m_a = a - n`` of each action."""
        dtype = dtype or self.kappa.dtype
        return jnp.arange(-self.n_actions_per_side, self.n_actions_per_side + 1).astype(dtype)

    def distance_to_mean(self, mu) -> jax.Array:
        """``[S]``: ``d(x) = sum_y y mu(y) - x``."""
        return _distance_to_mean(mu)

    def transition(self, t, mu):
        del t
        return _transition(mu, self.dt, self.volatility, self.mean_revert, size=self.size, n=self.n_actions_per_side)

    def reward(self, t, mu):
        return _reward(
            t,
            mu,
            self.dt,
            self.cross_q,
            self.kappa,
            self.terminal_cost,
            self.previous_move,
            n=self.n_actions_per_side,
            terminal_step=self.horizon - 1,
            charge_action=self.move_cost_model == "action",
        )

    def openspiel_params(self) -> dict:
        """Parameters of ``pyspiel.load_game("mean_field_lin_quad", ...)`` for the same game (concrete leaves)."""
        if self.move_cost_model != "openspiel":
            raise ValueError("move_cost_model: OpenSpiel computes the 'openspiel' model, got 'action'")
        horizon = float(self.num_decisions * self.dt)
        if abs(horizon - round(horizon)) > 1e-9:
            raise ValueError(f"dt: OpenSpiel's horizon is an int number of time units; T * dt = {horizon}")
        return {
            "size": self.size,
            "horizon": int(round(horizon)),
            "dt": float(self.dt),
            "n_actions_per_side": self.n_actions_per_side,
            "volatility": float(self.volatility),
            "mean_revert": float(self.mean_revert),
            "cross_q": float(self.cross_q),
            "kappa": float(self.kappa),
            "terminal_cost": float(self.terminal_cost),
        }


def linear_quadratic(
    size: int = 10,
    horizon: int = 10,
    n_actions_per_side: int = 3,
    dt: float = 1.0,
    volatility: float = 1.0,
    mean_revert: float = 0.0,
    cross_q: float = 0.01,
    kappa: float = 0.5,
    terminal_cost: float = 1.0,
    initial=None,
    move_cost_model: str = "openspiel",
    *,
    max_bytes: int | None = None,
) -> LinearQuadratic:
    """OpenSpiel's ``mean_field_lin_quad`` (its defaults); see the module docstring for the rules.

    Args:
      size: cells of the ring (>= 2).
      horizon: number of decisions ``T`` (>= 1; OpenSpiel's ``horizon / dt``).
      n_actions_per_side: ``n`` (>= 1): actions are the moves ``-n .. n``, and so are the noise outcomes.
      dt: time step (> 0). volatility: ``sigma`` (> 0).
      mean_revert: ``K``, drift toward the mean position (must be 0 in ``"openspiel"`` mode).
      cross_q: ``q``, reward of moving toward the mean. kappa: cost of the squared distance to the mean.
      terminal_cost: ``c`` (only the ``"action"`` model applies it; OpenSpiel never does).
      initial: ``[size]`` initial distribution; ``None`` is uniform (OpenSpiel's, the only one it supports).
      move_cost_model: ``"openspiel"`` (what OpenSpiel computes; default) or ``"action"`` (the paper's model).
      max_bytes: ceiling on any one dense table: the transition tensor ``[S, A, S]`` (``A = 2n+1``),
        its one-hot kernel ``[S, A, 2n+1, S]``, the ``[T, S, A]`` tables; ``None`` is the default
        (4 GiB or ``JAXGAMES_MAX_BYTES``).
    """
    size = check_int(size, "size", low=2)
    decisions = check_int(horizon, "horizon", low=1)
    n = check_int(n_actions_per_side, "n_actions_per_side", low=1)
    check_choice(move_cost_model, "move_cost_model", MOVE_COST_MODELS)
    a = 2 * n + 1
    check_tables(
        [
            ("size", f"the transition tensor [S, A, S'] = [{size}, {a}, {size}]", (size, a, size)),
            (
                "n_actions_per_side",
                f"the transition's one-hot kernel [S, A, 2n+1, S'] = {[size, a, a, size]}",
                (size, a, a, size),
            ),
            policy_table(decisions + (move_cost_model == "action"), size, a),
        ],
        max_bytes,
    )
    raw = {"dt": dt, "volatility": volatility, "mean_revert": mean_revert}
    dt = check_scalar(dt, "dt", 0.0, low_open=True)
    volatility = check_scalar(volatility, "volatility", 0.0, low_open=True)
    mean_revert = check_scalar(mean_revert, "mean_revert")
    cross_q, kappa = check_scalar(cross_q, "cross_q"), check_scalar(kappa, "kappa")
    terminal_cost = check_scalar(terminal_cost, "terminal_cost")
    dtype = jnp.result_type(float)
    initial = jnp.full((size,), 1.0 / size, dtype) if initial is None else check_distribution(initial, "initial", size)
    if move_cost_model == "openspiel":
        # The traversal runs on the host: it needs the user's values, not their (possibly traced) copies.
        for field, v in raw.items():
            if isinstance(v, jax.core.Tracer):
                raise ValueError(
                    f"{field}: move_cost_model='openspiel' replays OpenSpiel's traversal on the "
                    f"host and needs a concrete value (only kappa, cross_q, terminal_cost may be "
                    f"traced); use move_cost_model='action' to sweep it"
                )
        if float(np.asarray(raw["mean_revert"])) != 0.0:
            raise ValueError(
                f"mean_revert: move_cost_model='openspiel' needs mean_revert = 0 (otherwise "
                f"OpenSpiel's memoised move costs depend on the policy evaluated), got "
                f"{float(np.asarray(raw['mean_revert']))}; use move_cost_model='action'"
            )
        previous = openspiel_previous_move(
            size, decisions, n, float(np.asarray(raw["dt"])), float(np.asarray(raw["volatility"]))
        )
        steps = decisions
    else:
        steps = decisions + 1
        previous = np.zeros((steps, size))
    game = LinearQuadratic(
        initial=initial,
        dt=dt,
        volatility=volatility,
        mean_revert=mean_revert,
        cross_q=cross_q,
        kappa=kappa,
        terminal_cost=terminal_cost,
        previous_move=jnp.asarray(previous, dtype),
        size=size,
        n_actions_per_side=n,
        horizon=steps,
        move_cost_model=move_cost_model,
    )
    return check_model(game, ("dt", "cross_q", "kappa", "terminal_cost"))
