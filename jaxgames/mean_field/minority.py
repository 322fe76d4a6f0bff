"""Minority (location congestion) game: agents are indifferent at the equilibrium, so N agents gain ~1/sqrt(N).

States are ``L`` locations (``L = 2`` by default: the El Farol / minority game of
Challet & Zhang 1997 in mean-field form); the action is the location to occupy
at the next step (deterministic move). An agent at ``x`` pays linearly for the
crowd it is in, and ``s`` for each switch::

    P_t(x' | x, a, mu) = 1{x' = a},       r_t(x, a, mu) = -c mu_t(x) - s 1{a != x}

(``c`` = ``crowd_aversion`` >= 0, ``s`` = ``switching_cost`` >= 0). The crowd
cost is Lasry-Lions monotone (``<mu - nu, -c (mu - nu)> <= 0``).

Equilibria. Every ``mu_t`` with ``t >= 1`` is chosen by the actions at
``t - 1``; if some location held more than ``1/L`` everybody would rather be
elsewhere, so with ``s = 0`` every mean-field equilibrium has ``mu_t`` uniform
for ``t >= 1``, and conversely any policy that keeps it uniform is one: all
locations then cost ``c / L``, every action has the same value and the agents
are *indifferent* (exploitability exactly 0). ``equilibrium_policy()`` moves
the excess mass of crowded locations to the others at ``t = 0`` (minimal
transport) and then stays; it is an exact equilibrium when ``s = 0``, or for
any ``s >= 0`` when ``initial`` is already uniform (nobody moves, and moving
would cost ``s`` for nothing).

N agents (``finite_population.n_agent_values``, ``L = 2``). With N agents the
realised counts fluctuate by ``O(sqrt(N))`` around ``N / L``. Under
``equilibrium_policy()`` the others stay put, so those fluctuations persist and
the deviator, who sees them, moves once to the emptier location and saves
``c |n_0 - n_1| / (2N)`` per remaining step on average (it starts in either
location with probability 1/2). From a uniform start with ``L = 2`` this is
exactly (``k`` ~ Binomial(N - 1, 1/2) the others in location 1)::

    gain_N = (T - 1) c E|2k - (N - 1)| / (2N)  ~  (T - 1) c / sqrt(2 pi N),

a ``1/sqrt(N)`` rate, because the deviator, indifferent at the mean field,
exploits a fluctuation ``delta`` to first order (``c |delta|``, and
``E|delta| ~ 1/sqrt(N)``). Contrast ``sis_epidemic``, whose equilibrium is
strict almost everywhere: a fluctuation there does not change the best action,
by the envelope argument it moves the best-response and the on-policy values
alike to first order, and the gain is second order, ``E[delta^2] ~ 1/N``
(measured slope -0.92). Two more contrasts, both equilibria of this model too:
the policy that re-draws a location uniformly at random every step makes the
next counts independent of the current ones, so there is nothing to exploit
(N-agent gain 0 for every N); and with ``s > 0`` staying is strictly optimal
and only fluctuations larger than ``s / c`` pay, which become exponentially
rare (``tests/test_mean_field_lq.py``).

Leaves: ``initial [L]``, ``crowd_aversion``, ``switching_cost``; static
``num_locations``, ``horizon``.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from jaxgames.core import Policy, check_scalar
from jaxgames.mean_field.game import MeanFieldGame, check_distribution, check_model, check_tables, policy_table
from jaxgames.validation import check_int


@flax.struct.dataclass
class MinorityGame(MeanFieldGame):
    """Minority / location congestion game (see the module docstring); build it with ``minority_game()``."""

    initial: jax.Array
    crowd_aversion: jax.Array
    switching_cost: jax.Array
    num_locations: int = flax.struct.field(pytree_node=False)
    horizon: int = flax.struct.field(pytree_node=False)

    @property
    def num_states(self) -> int:
        return self.num_locations

    @property
    def num_actions(self) -> int:
        return self.num_locations

    def transition(self, t, mu):
        del t
        eye = jnp.eye(self.num_locations, dtype=jnp.result_type(mu.dtype, self.crowd_aversion.dtype))
        return jnp.broadcast_to(eye[None], (self.num_locations,) * 3)

    def reward(self, t, mu):
        del t
        switch = 1.0 - jnp.eye(self.num_locations, dtype=jnp.result_type(mu.dtype, self.switching_cost.dtype))
        return -self.crowd_aversion * mu[:, None] - self.switching_cost * switch

    def equilibrium_policy(self) -> Policy:
        """``([T, L, L],)``: balance the locations at ``t = 0`` (minimal transport), then stay.

        At ``t = 0`` an agent in a location with ``mu_0(x) > 1/L`` leaves with
        probability ``(mu_0(x) - 1/L) / mu_0(x)``, to the under-full locations
        in proportion to their deficits ``1/L - mu_0(y)``; everyone else stays.
        An exact mean-field equilibrium when ``switching_cost = 0`` or ``initial`` is uniform.
        """
        num = self.num_locations
        mu0 = self.initial
        target = 1.0 / num
        excess = jnp.maximum(mu0 - target, 0.0)
        deficit = jnp.maximum(target - mu0, 0.0)
        leave = jnp.where(mu0 > 0, excess / jnp.where(mu0 > 0, mu0, 1.0), 0.0)
        to = jnp.where(jnp.sum(deficit) > 0, deficit / jnp.maximum(jnp.sum(deficit), 1e-30), 0.0)
        eye = jnp.eye(num, dtype=mu0.dtype)
        first = (1.0 - leave)[:, None] * eye + leave[:, None] * to[None, :]
        stay = jnp.broadcast_to(eye, (self.horizon, num, num))
        return (stay.at[0].set(first),)


def minority_game(
    horizon: int = 4,
    crowd_aversion: float = 1.0,
    switching_cost: float = 0.0,
    num_locations: int = 2,
    initial=None,
    *,
    max_bytes: int | None = None,
) -> MinorityGame:
    """Minority game on ``num_locations`` locations; policies are ``[T, L, L]`` (``pi[t, x, a]``: go to ``a``).

    Args:
      horizon: decisions ``T`` (>= 1).
      crowd_aversion: ``c`` >= 0, the cost per unit of crowd at one's location (may be traced).
      switching_cost: ``s`` >= 0, the cost of changing location (may be traced).
      num_locations: ``L`` >= 2 (the exact N-agent metrics need ``L = 2``).
      initial: ``[L]`` initial distribution; ``None`` is uniform.
      max_bytes: ceiling on any one dense table (``[L, L, L]`` transitions, ``[T, L, L]`` policies);
        ``None`` is the default (4 GiB or ``JAXGAMES_MAX_BYTES``).
    """
    horizon = check_int(horizon, "horizon", low=1)
    num = check_int(num_locations, "num_locations", low=2)
    check_tables(
        [
            ("num_locations", f"the transition tensor [S, A, S'] = [{num}, {num}, {num}]", (num,) * 3),
            policy_table(horizon, num, num),
        ],
        max_bytes,
    )
    crowd_aversion = check_scalar(crowd_aversion, "crowd_aversion", 0.0)
    switching_cost = check_scalar(switching_cost, "switching_cost", 0.0)
    dtype = jnp.result_type(float)
    initial = jnp.full((num,), 1.0 / num, dtype) if initial is None else check_distribution(initial, "initial", num)
    game = MinorityGame(
        initial=initial,
        crowd_aversion=crowd_aversion,
        switching_cost=switching_cost,
        num_locations=num,
        horizon=horizon,
    )
    return check_model(game, ("crowd_aversion", "switching_cost"))
