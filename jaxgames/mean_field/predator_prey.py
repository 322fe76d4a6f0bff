"""Predator-prey: OpenSpiel's ``python_mfg_predator_prey``, a multi-population mean-field game on a grid.

Perolat, Perrin, Elie, Lauriere, Piliouras, Geist, Tuyls & Pietquin (2022), "Scaling mean field
games by online mirror descent" (AAMAS), Section 5.4; OpenSpiel's
``open_spiel/python/mfg/games/predator_prey.py``.

``P`` populations move on a ``size x size`` grid, state ``x + y size`` (OpenSpiel's
``pos_to_merged``). Five actions move by ``(0, 0), (1, 0), (0, 1), (0, -1), (-1, 0)``; then, with
probability ``noise_probability``, a uniformly drawn one of the four non-null moves is applied
too. ``geometry="square"`` clips at the walls, ``"torus"`` wraps around. At each decision
``t = 0 .. T-1`` an agent of population ``p`` at ``x`` collects, whatever its action::

    r^p_t(x) = - congestion_coeff * log(mu^p_t(x) + 1e-25) + sum_q R[p, q] mu^q_t(x)

(``R`` = ``reward_matrix``; default: population ``p`` chases ``p + 1`` and flees ``p - 1``, mod 3).
The reward depends on the state and the mean fields only, so OpenSpiel's memoised values (keyed
by ``(population, t, position)``) have no path-dependent cost: unlike ``crowd_modelling`` there is
no convention to replay.

One OpenSpiel quirk: at ``t = 0`` its ``rewards()`` read the initial distribution (laid out
``[population, state]``) with the index of later mean fields (``[x, y, population]``), so its
values at ``t = 0`` use a scrambled density (-57.6 = ``log 1e-25`` where a population reads zero).
That term does not depend on the action, so best responses and every population's gain, hence
``NashConv``, are unaffected (the tests compare both); our values use the true ``mu_0`` and differ
from OpenSpiel's by that constant (unless the initial distribution is uniform).

Shapes: policies ``P x [T, size**2, 5]``; ``transition`` ``[P, S, 5, S]``; ``reward`` ``[P, S, 5]``.

Example::

    >>> game = predator_prey(size=3, horizon=4)
    >>> game.num_populations, game.uniform_policy()[0].shape
    (3, (4, 9, 5))
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.mean_field.game import check_tables, policy_table
from jaxgames.mean_field.multi_population import MultiPopulationMeanFieldGame, check_multi_population_model
from jaxgames.validation import as_float_array, check_choice, check_int, check_scalar

#: OpenSpiel's moves: action ``a`` adds ``MOVES[a]`` to ``(x, y)``.
MOVES = np.array([[0, 0], [1, 0], [0, 1], [0, -1], [-1, 0]])
#: OpenSpiel's ``eps`` inside ``log(mu + eps)``.
LOG_EPSILON = 1e-25
#: Population ``p`` is attracted to ``p + 1`` and avoids ``p - 1`` (OpenSpiel's three-population default).
REWARD_MATRIX_THREE_POPULATIONS = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], float)
#: OpenSpiel's four-population default.
REWARD_MATRIX_FOUR_POPULATIONS = np.array([[0, 1, 0, -1], [-1, 0, 1, 0], [0, -1, 0, 1], [1, 0, -1, 0]], float)
GEOMETRIES = ("square", "torus")


def _corner_starts(size: int, populations: int) -> np.ndarray | None:
    """OpenSpiel's default starting corners (3 or 4 populations), generalised from its 5 x 5 grid."""
    last = size - 1
    corners = {
        3: [0, last, last * size],  # (0, 0), (size-1, 0), (0, size-1)
        4: [0, last * size, last * size + last, last],
    }.get(populations)
    if corners is None:
        return None
    initial = np.zeros((populations, size * size))
    initial[np.arange(populations), corners] = 1.0
    return initial


def _moved(size: int, geometry: str) -> np.ndarray:
    """``[S, 5]``: the state after move ``a`` from state ``x + y size``."""
    xy = np.stack(np.divmod(np.arange(size * size), size)[::-1], axis=-1)  # [S, 2] = (x, y)
    pos = xy[:, None, :] + MOVES[None]
    pos = pos % size if geometry == "torus" else np.clip(pos, 0, size - 1)
    return pos[..., 0] + pos[..., 1] * size


@flax.struct.dataclass
class PredatorPrey(MultiPopulationMeanFieldGame):
    """The predator-prey game (see the module docstring); build it with ``predator_prey()``.

    Leaves: ``initial [P, S]``, ``transitions [S, 5, S]`` (shared by the populations),
    ``reward_matrix [P, P]``, ``congestion_coeff``.
    """

    initial: jax.Array
    transitions: jax.Array
    reward_matrix: jax.Array
    congestion_coeff: jax.Array
    size: int = flax.struct.field(pytree_node=False)
    horizon: int = flax.struct.field(pytree_node=False)
    num_populations: int = flax.struct.field(pytree_node=False)
    geometry: str = flax.struct.field(pytree_node=False, default="square")

    @property
    def num_states(self) -> int:
        return self.size * self.size

    @property
    def num_actions(self) -> int:
        return len(MOVES)

    def transition(self, t, mu):
        del t
        return jnp.broadcast_to(self.transitions, (self.num_populations, *self.transitions.shape)).astype(mu.dtype)

    def reward(self, t, mu):
        del t
        r = -self.congestion_coeff * jnp.log(mu + LOG_EPSILON) + self.reward_matrix.astype(mu.dtype) @ mu
        return jnp.broadcast_to(r[..., None], (*r.shape, self.num_actions))


def predator_prey(
    size: int = 5,
    horizon: int = 10,
    reward_matrix=None,
    initial=None,
    geometry: str = "square",
    noise_probability: float = 0.8,
    congestion_coeff: float = 1.0,
    populations: int | None = None,
    *,
    max_bytes: int | None = None,
) -> PredatorPrey:
    """OpenSpiel's ``python_mfg_predator_prey`` (its three-population defaults); policies ``P x [T, size**2, 5]``.

    Args:
      size: grid side (>= 1); horizon: decisions ``T`` (>= 1).
      reward_matrix: ``[P, P]``: ``R[p, q]``, population ``p``'s reward per unit density of ``q``
        at its position; ``None``: OpenSpiel's default for ``populations`` (3 or 4).
      initial: ``[P, size**2]`` starting distributions (state ``x + y size``); ``None``: each
        population in a corner as OpenSpiel's 3- and 4-population defaults (uniform for other
        ``P``); ``"uniform"``: uniform (OpenSpiel's ``init_distrib=""``).
      geometry: ``"square"`` (walls; OpenSpiel's ``Geometry.SQUARE``, default) or ``"torus"``.
      noise_probability: probability in ``[0, 1]`` of the extra random move.
      congestion_coeff: weight of ``-log`` density (its own population's).
      populations: ``P``; ``None``: from ``reward_matrix``, else 3. The float arguments and the
        arrays may be traced (``vmap`` sweeps them); the sizes are static.
      max_bytes: ceiling on any dense table; ``None``: the default.
    """
    size = check_int(size, "size", low=1)
    horizon = check_int(horizon, "horizon", low=1)
    check_choice(geometry, "geometry", GEOMETRIES)
    if reward_matrix is None:
        n = 3 if populations is None else check_int(populations, "populations", low=1)
        defaults = {3: REWARD_MATRIX_THREE_POPULATIONS, 4: REWARD_MATRIX_FOUR_POPULATIONS}
        if n not in defaults:
            raise ValueError(f"reward_matrix: OpenSpiel has defaults for 3 or 4 populations; give one for {n}")
        reward_matrix = defaults[n]
    reward_matrix = as_float_array(reward_matrix, "reward_matrix")
    n = reward_matrix.shape[0] if reward_matrix.ndim == 2 else -1
    if reward_matrix.ndim != 2 or reward_matrix.shape != (n, n) or n < 1:
        raise ValueError(f"reward_matrix: expected a square matrix [P, P], got shape {tuple(reward_matrix.shape)}")
    if populations is not None and check_int(populations, "populations", low=1) != n:
        raise ValueError(f"populations: expected {n} (the size of reward_matrix), got {populations}")
    s = size * size
    check_tables(
        [
            ("size", f"the transition tensor [P, S, A, S'] = [{n}, {s}, 5, {s}]", (n, s, 5, s)),
            policy_table(horizon, s, 5),
        ],
        max_bytes,
    )
    dtype = jnp.result_type(float)
    if initial is None or (isinstance(initial, str) and initial == "uniform"):
        corners = None if initial is not None else _corner_starts(size, n)
        initial = jnp.full((n, s), 1.0 / s, dtype) if corners is None else jnp.asarray(corners, dtype)
    else:
        initial = as_float_array(initial, "initial")
        if tuple(initial.shape) != (n, s):
            raise ValueError(f"initial: expected shape [P, size**2] = {(n, s)}, got {tuple(initial.shape)}")
    noise = check_scalar(noise_probability, "noise_probability", 0.0, 1.0)
    congestion = check_scalar(congestion_coeff, "congestion_coeff")
    moved = _moved(size, geometry)  # [S, 5]
    chance = jnp.concatenate([(1.0 - noise)[None], jnp.full((4,), noise / 4.0)]).astype(dtype)  # [5]
    after = moved[moved]  # [S, A, noise]: the move, then the noise move
    rows, cols = np.arange(s)[:, None, None], np.arange(5)[None, :, None]
    transitions = jnp.zeros((s, 5, s), dtype).at[rows, cols, after].add(jnp.broadcast_to(chance, after.shape))
    game = PredatorPrey(
        initial=initial.astype(dtype),
        transitions=transitions,
        reward_matrix=reward_matrix.astype(dtype),
        congestion_coeff=jnp.asarray(congestion, dtype),
        size=size,
        horizon=horizon,
        num_populations=n,
        geometry=geometry,
    )
    return check_multi_population_model(game)
