"""Rock-paper-scissors population game: each agent's state is its current choice.

States ``x in {0: rock, 1: paper, 2: scissors}``; the action ``a`` is the choice
to switch to (deterministic: ``P(x' = a | x, a) = 1``). An agent holding ``x``
at time ``t`` is paid the (generalised) RPS payoff of ``x`` against the population::

    r_t(x, a, mu) = (payoff @ mu_t)[x],      payoff = [[ 0, -a,  b],
                                                        [ a,  0, -c],
                                                        [-b,  c,  0]]

the mean-field RPS of Pérolat et al. (2022), "Scaling up mean field games with
online mirror descent" (JAIR), Sec. on rock-paper-scissors (there with a
continuous-time flavour; here one switch per step). ``a = b = c = 1`` is the
classic game. Known answer: ``payoff @ m = 0`` for ``m ∝ (c, b, a)``, so once
the population is distributed as ``m`` every reward is 0 whatever anyone
does, and the policy that moves everyone to ``m`` (``pi(.|x) = m``) is an
exact mean-field equilibrium (``equilibrium_policy``); for ``a = b = c`` it
keeps the uniform distribution uniform. The game is zero-sum-like and
monotone (``payoff`` is antisymmetric: ``<payoff (mu - nu), mu - nu> = 0``).

Leaves: ``initial [3]``, ``payoff [3, 3]``; ``horizon`` static. ``payoff`` may be
any 3 x 3 matrix (the constructor builds the generalised RPS one).
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from jaxgames.core import Policy, check_scalar
from jaxgames.mean_field.game import MeanFieldGame, check_distribution, check_model, check_tables, policy_table
from jaxgames.validation import check_int


@flax.struct.dataclass
class RPSPopulation(MeanFieldGame):
    """Rock-paper-scissors population game; build it with ``rps_population()``."""

    initial: jax.Array
    payoff: jax.Array
    horizon: int = flax.struct.field(pytree_node=False)

    @property
    def num_states(self) -> int:
        return 3

    @property
    def num_actions(self) -> int:
        return 3

    def transition(self, t, mu):
        del t, mu
        return jnp.broadcast_to(jnp.eye(3, dtype=self.payoff.dtype)[None], (3, 3, 3))

    def reward(self, t, mu):
        del t
        return jnp.broadcast_to((self.payoff @ mu)[:, None], (3, 3))

    def equilibrium_distribution(self) -> jax.Array:
        """``[3]``: ``m ∝ (c, b, a)`` with ``payoff @ m = 0`` (generalised RPS payoffs)."""
        c, b, a = self.payoff[1, 2] * -1, self.payoff[0, 2], self.payoff[1, 0]
        m = jnp.stack([c, b, a])
        return m / jnp.sum(m)

    def equilibrium_policy(self) -> Policy:
        """``([T, 3, 3],)``: every state moves to ``equilibrium_distribution()`` (an exact MFE)."""
        m = self.equilibrium_distribution()
        return (jnp.broadcast_to(m, (self.horizon, 3, 3)),)


def rps_population(
    horizon: int = 10, a: float = 1.0, b: float = 1.0, c: float = 1.0, initial=None, *, max_bytes: int | None = None
) -> RPSPopulation:
    """Generalised RPS population game (see the module docstring); policies are ``[T, 3, 3]``.

    Args:
      horizon: number of decisions ``T`` (>= 1).
      a, b, c: positive payoffs of paper over rock, rock over scissors, scissors
        over paper (may be traced).
      initial: ``[3]`` initial distribution; ``None`` is uniform.
      max_bytes: ceiling on the ``[T, 3, 3]`` policy tables (``None``: the default, 4 GiB).
    """
    horizon = check_int(horizon, "horizon", low=1)
    check_tables([policy_table(horizon, 3, 3)], max_bytes)
    a, b, c = (check_scalar(v, name, 0.0, low_open=True) for name, v in (("a", a), ("b", b), ("c", c)))
    zero = jnp.zeros_like(a)
    payoff = jnp.stack([jnp.stack([zero, -a, b]), jnp.stack([a, zero, -c]), jnp.stack([-b, c, zero])])
    dtype = payoff.dtype
    initial = jnp.full((3,), 1.0 / 3.0, dtype) if initial is None else check_distribution(initial, "initial", 3)
    return check_model(RPSPopulation(initial=initial, payoff=payoff, horizon=horizon), ("a", "b", "c"))
