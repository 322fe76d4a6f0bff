"""SIS epidemic with social distancing: a 2-state mean-field game coupled through its dynamics.

States ``x in {0: susceptible (S), 1: infected (I)}``; actions are social
distancing levels ``a = 0 .. A-1``, level ``a`` leaving a fraction
``exposure[a]`` of one's contacts (1: no distancing, 0: full isolation) at a
cost ``distancing_cost[a]``. With ``mu_t(I)`` the infected fraction::

    P_t(I | S, a, mu) = infection_rate * exposure[a] * mu_t(I)    (infection grows with
                                                                   prevalence and exposure)
    P_t(S | I, a, mu) = recovery_rate                              (recovery, whatever a)
    r_t(x, a, mu)     = -infection_cost * 1{x = I} - distancing_cost[a]

This is the SIS model of Cui & Koeppl (2021), "Approximately solving mean field
games via entropy-regularized deep reinforcement learning" (AISTATS), with their
two actions (no precaution / precaution) generalised to ``A`` levels; the
defaults (infection rate 0.8, recovery rate 0.2, precaution cost 0.5) follow
theirs (we use infection cost 1, an initial prevalence of 0.4 and a horizon of
20). The game is *not* Lasry-Lions monotone (the coupling is in the
transitions), yet a mixed equilibrium appears whenever susceptible agents are
indifferent between distancing and not: exactly where the N-agent deviation
gain is ``O(1/sqrt(N))`` (``finite_population.py``).

Leaves: ``initial [2]``, ``infection_rate``, ``recovery_rate``, ``infection_cost``,
``exposure [A]``, ``distancing_cost [A]``; ``horizon`` static. The model is
finite-horizon like every ``MeanFieldGame``; ``stationary.stationary_sis_epidemic``
is its stationary discounted version (same dynamics and rewards).
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.core import as_float_array, check_finite, check_scalar, is_concrete
from jaxgames.mean_field.game import MeanFieldGame, check_distribution, check_model, check_tables, policy_table
from jaxgames.validation import check_int

SUSCEPTIBLE, INFECTED = 0, 1


@flax.struct.dataclass
class SISEpidemic(MeanFieldGame):
    """SIS epidemic with distancing levels (see the module docstring); build it with ``sis_epidemic()``."""

    initial: jax.Array
    infection_rate: jax.Array
    recovery_rate: jax.Array
    infection_cost: jax.Array
    exposure: jax.Array
    distancing_cost: jax.Array
    horizon: int = flax.struct.field(pytree_node=False)

    @property
    def num_states(self) -> int:
        return 2

    @property
    def num_actions(self) -> int:
        return self.exposure.shape[-1]

    def transition(self, t, mu):
        del t
        p_inf = self.infection_rate * self.exposure * mu[INFECTED]  # [A]
        from_s = jnp.stack([1.0 - p_inf, p_inf], axis=-1)  # [A, 2]
        rec = jnp.broadcast_to(self.recovery_rate, p_inf.shape)
        from_i = jnp.stack([rec, 1.0 - rec], axis=-1)  # [A, 2]
        return jnp.stack([from_s, from_i], axis=0)  # [2, A, 2]

    def reward(self, t, mu):
        del t, mu
        state_cost = jnp.stack([jnp.zeros_like(self.infection_cost), self.infection_cost])
        return -state_cost[:, None] - self.distancing_cost[None, :]


def sis_epidemic(
    horizon: int = 20,
    infection_rate: float = 0.8,
    recovery_rate: float = 0.2,
    infection_cost: float = 1.0,
    exposure=(1.0, 0.0),
    distancing_cost=(0.0, 0.5),
    initial_infected: float = 0.4,
    *,
    max_bytes: int | None = None,
) -> SISEpidemic:
    """SIS epidemic mean-field game (Cui & Koeppl 2021); policies are ``[T, 2, A]``.

    Args:
      horizon: number of decisions ``T`` (>= 1).
      infection_rate: ``beta`` in [0, 1]; a susceptible agent at exposure ``e``
        is infected with probability ``beta * e * mu(I)``.
      recovery_rate: ``gamma`` in [0, 1], probability that an infected agent recovers.
      infection_cost: per-step cost of being infected.
      exposure: ``[A]`` exposures in [0, 1] of the distancing levels (default
        no precaution / full precaution).
      distancing_cost: ``[A]`` per-step costs of the levels.
      initial_infected: ``mu_0(I)`` in [0, 1].
      max_bytes: ceiling on the ``[T, 2, A]`` policy tables (``None``: the default, 4 GiB).
    All numeric arguments may be traced (``jax.vmap`` over the constructor sweeps them).
    """
    horizon = check_int(horizon, "horizon", low=1)
    infection_rate = check_scalar(infection_rate, "infection_rate", 0.0, 1.0)
    recovery_rate = check_scalar(recovery_rate, "recovery_rate", 0.0, 1.0)
    infection_cost = check_scalar(infection_cost, "infection_cost")
    initial_infected = check_scalar(initial_infected, "initial_infected", 0.0, 1.0)
    exposure = as_float_array(exposure, "exposure")
    distancing_cost = as_float_array(distancing_cost, "distancing_cost")
    if exposure.ndim != 1 or exposure.shape[0] < 1:
        raise ValueError(f"exposure: expected a vector [A] with A >= 1, got shape {tuple(exposure.shape)}")
    if distancing_cost.shape != exposure.shape:
        raise ValueError(
            f"distancing_cost: expected shape {tuple(exposure.shape)} (one cost per exposure "
            f"level), got {tuple(distancing_cost.shape)}"
        )
    check_tables([policy_table(horizon, 2, exposure.shape[0])], max_bytes)
    check_finite(exposure, "exposure")
    check_finite(distancing_cost, "distancing_cost")
    if is_concrete(exposure) and (np.asarray(exposure).min() < 0 or np.asarray(exposure).max() > 1):
        raise ValueError(f"exposure: expected values in [0, 1], got {np.asarray(exposure).tolist()}")
    initial = check_distribution(jnp.stack([1.0 - initial_infected, initial_infected]), "initial", 2)
    game = SISEpidemic(
        initial=initial,
        infection_rate=infection_rate,
        recovery_rate=recovery_rate,
        infection_cost=infection_cost,
        exposure=exposure,
        distancing_cost=distancing_cost,
        horizon=horizon,
    )
    return check_model(game, ("infection_cost", "distancing_cost"))
