"""Beach bar process (Perrin et al. 2020): walk to a bar on a 1-D torus while avoiding crowds.

Perrin, Pérolat, Laurière, Geist, Elie & Pietquin (2020), "Fictitious play for
mean field games: continuous time analysis and applications" (NeurIPS), Sec. 4
("beach bar process"). States are the ``size`` positions of a ring, the bar
stands at ``bar``; actions move left / stay / right (``a - 1``), then a noise
move ``-1, 0, +1`` with probabilities ``(eps/2, 1 - eps, eps/2)`` follows
(mod ``size``). At each time the agent at ``x`` collects::

    r_t(x, a, mu) = -distance_weight * d(x, bar) / size     (distance to the bar on the ring)
                    - crowd_aversion * log(mu_t(x))         (crowd aversion)
                    - move_cost * |a - 1| / size            (moving costs)

(``log`` of ``mu + 1e-25``, as in ``crowd_modelling``). The dynamics are the
crowd model's (the transition is ``CrowdModelling.transition``); only the
reward differs, and every move is charged to the step taking it. Crowd aversion
makes the game Lasry-Lions monotone, so fictitious play and online mirror descent
converge (Perrin et al. 2020; Pérolat et al. 2022). Symmetry: reflecting
positions about the bar (``x -> 2 bar - x``) and swapping left/right maps the game
onto itself when the initial distribution is symmetric.

Leaves: ``initial [S]``, ``position_reward [S]``, ``crowd_aversion``,
``move_penalty``, ``noise [3]``, ``displacement [T, S, 3]`` (``|a - 1|`` at every
step); ``size``, ``horizon``, ``bar`` static.
"""

from __future__ import annotations

import flax.struct
import jax.numpy as jnp
import numpy as np

from jaxgames.core import check_scalar
from jaxgames.mean_field.crowd_modelling import MOVES, CrowdModelling, ring_tables
from jaxgames.mean_field.game import check_distribution, check_model, check_tables
from jaxgames.validation import check_int


@flax.struct.dataclass
class BeachBar(CrowdModelling):
    """The beach bar process (see the module docstring); build it with ``beach_bar()``.

    A crowd model (its transition and reward) whose ``displacement`` charges every
    move at every step, plus the bar's position ``bar`` (static).
    """

    bar: int = flax.struct.field(pytree_node=False, default=0)


def beach_bar(
    size: int = 11,
    horizon: int = 10,
    bar: int | None = None,
    crowd_aversion: float = 1.0,
    distance_weight: float = 1.0,
    move_cost: float = 1.0,
    noise: float = 0.1,
    initial=None,
    *,
    max_bytes: int | None = None,
) -> BeachBar:
    """Beach bar process on a ring of ``size`` positions; policies are ``[T, size, 3]``.

    Args:
      size: positions (>= 2); horizon: decisions ``T`` (>= 1).
      bar: the bar's position (default ``size // 2``).
      crowd_aversion: coefficient of ``-log mu`` (may be traced).
      distance_weight: coefficient of the ring distance to the bar, over ``size``.
      move_cost: cost of one move, over ``size``.
      noise: ``eps`` in [0, 1], probability of a random displacement (split evenly left/right).
      initial: ``[size]`` initial distribution; ``None`` is uniform.
      max_bytes: ceiling on any one dense table (``[S, 3, S]`` transitions, ``[T, S, 3]`` tables);
        ``None`` is the default (4 GiB or ``JAXGAMES_MAX_BYTES``).
    """
    size = check_int(size, "size", low=2)
    horizon = check_int(horizon, "horizon", low=1)
    bar = size // 2 if bar is None else check_int(bar, "bar", 0, size - 1)
    check_tables(ring_tables(size, horizon), max_bytes)
    scalars = {
        name: check_scalar(v, name, low)
        for name, v, low in (
            ("crowd_aversion", crowd_aversion, 0.0),
            ("distance_weight", distance_weight, None),
            ("move_cost", move_cost, None),
        )
    }
    eps = scalars["noise"] = check_scalar(noise, "noise", 0.0, 1.0)
    dtype = jnp.result_type(float)
    initial = jnp.full((size,), 1.0 / size, dtype) if initial is None else check_distribution(initial, "initial", size)
    gap = np.abs(np.arange(size) - bar)
    distance = np.minimum(gap, size - gap) / size
    game = BeachBar(
        initial=initial,
        position_reward=-scalars["distance_weight"] * jnp.asarray(distance, dtype),
        crowd_aversion=scalars["crowd_aversion"],
        move_penalty=scalars["move_cost"] / size,
        noise=jnp.stack([eps / 2, 1.0 - eps, eps / 2]).astype(dtype),
        displacement=jnp.asarray(np.broadcast_to(np.abs(MOVES), (horizon, size, 3)), dtype),
        size=size,
        horizon=horizon,
        bar=int(bar),
    )
    return check_model(game, ("crowd_aversion", "distance_weight", "move_cost"))
