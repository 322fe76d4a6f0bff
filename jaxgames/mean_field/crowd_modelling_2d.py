"""2-D crowd modelling on a torus grid with walls: OpenSpiel's ``mfg_crowd_modelling_2d`` and four rooms.

Cells ``(x, y)`` of a ``size x size`` torus are states ``s = x * size + y``
(OpenSpiel's ``MergeXY``). Actions move by ``(0,-1), (-1,0), (0,0), (1,0), (0,1)``
(OpenSpiel's action ids 0..4; 2 is neutral); moves into a *forbidden* cell (a
wall) are illegal. Then a noise move is drawn among the legal moves at the new
cell: each with probability ``noise_intensity / n_legal``, the neutral move with
``1 - noise_intensity`` more. At each time ``t`` the player in ``(x, y)`` collects::

    r_t = 2 - (2 / size) (|x - cx| + |y - cy|)           (positional, target the centre)
          - crowd_aversion * log(mu_t(x, y) + 1e-25)     (crowd aversion)
          - move_penalty * displacement_t(s, a)          (|dx| + |dy| of a move, / size)

or only the crowd-aversion term with ``only_distribution_reward``. The move cost
follows the same two conventions as the 1-D model (``crowd_modelling``):
``"openspiel"`` replays OpenSpiel's memoised traversal, ``"action"`` charges each
move to the step taking it (but not the last one).

``four_rooms()`` is OpenSpiel's ``FOUR_ROOMS`` setting (13 x 13 grid with walls,
horizon 40, all agents start at cell (1, 1)); Geist et al. (2022),
"Concave utility reinforcement learning: the mean-field game viewpoint".
"""

from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.core import check_scalar, is_concrete
from jaxgames.mean_field.crowd_modelling import MOVE_COST_MODELS, first_visit_last_action
from jaxgames.mean_field.game import MeanFieldGame, check_distribution, check_model, check_tables, policy_table
from jaxgames.validation import check_bool, check_choice, check_int

#: ``(dx, dy)`` of OpenSpiel's actions 0..4; action 2 is neutral.
MOVES_2D = np.array([[0, -1], [-1, 0], [0, 0], [1, 0], [0, 1]])
NEUTRAL = 2
LOG_EPSILON = 1e-25

FOUR_ROOMS_GRID = (
    "#############",
    "#     #     #",
    "#     #     #",
    "#           #",
    "#     #     #",
    "#     #     #",
    "### ##### ###",
    "#     #     #",
    "#     #     #",
    "#           #",
    "#     #     #",
    "#     #     #",
    "#############",
)


def grid_walls(grid) -> tuple:
    """Forbidden ``(x, y)`` cells of a picture (rows are ``y``, columns ``x``, ``'#'`` is a wall)."""
    return tuple((x, y) for y, row in enumerate(grid) for x, c in enumerate(row) if c == "#")


@functools.lru_cache(maxsize=32)
def _layout(size: int, forbidden: tuple):
    """Static arrays: ``target [S, A]`` cell each move reaches, ``legal [S, A]``."""
    wall = np.zeros((size, size), bool)
    for x, y in forbidden:
        wall[x, y] = True
    xs, ys = np.divmod(np.arange(size * size), size)
    tx = (xs[:, None] + MOVES_2D[None, :, 0]) % size
    ty = (ys[:, None] + MOVES_2D[None, :, 1]) % size
    target = tx * size + ty
    legal = ~wall[tx, ty]
    walls = wall.reshape(-1)
    # agents never stand in a wall; give wall cells the neutral move so policies there are well defined
    legal[walls] = np.arange(5) == NEUTRAL
    target[walls, NEUTRAL] = np.flatnonzero(walls)
    return target, legal, walls


@functools.partial(jax.jit, static_argnames=("num_states",))
def grid_transition(noise_intensity, target, legal, *, num_states: int) -> jax.Array:
    """``[S, 5, S']``: move to ``z = target(x, a)`` (an illegal move keeps the agent at ``x``), then noise from ``z``.

    The noise ``[S(z), S']`` is scattered from the ``[S, 5]`` legal moves (no ``[S, 5, S']`` one-hot),
    so the peak memory is the output plus one ``[S, S']`` table.
    """
    dtype = noise_intensity.dtype
    n = jnp.maximum(jnp.sum(legal, axis=-1, keepdims=True), 1)
    noise = noise_intensity * legal / n + (1 - noise_intensity) * (jnp.arange(5) == NEUTRAL)  # [S(z), 5]
    cells = jnp.arange(num_states)
    after_noise = jnp.zeros((num_states, num_states), dtype).at[cells[:, None], target].add(noise.astype(dtype))
    return after_noise[jnp.where(legal, target, cells[:, None])]


def check_forbidden(forbidden, size: int) -> tuple:
    """``forbidden`` as a tuple of distinct ``(x, y)`` int cells inside the ``size x size`` grid (order kept)."""
    if isinstance(forbidden, (str, bytes)) or forbidden is None:
        raise ValueError(f"forbidden: expected a sequence of (x, y) cells, got {forbidden!r}")
    try:
        cells = list(forbidden)
    except TypeError:
        raise ValueError(f"forbidden: expected a sequence of (x, y) cells, got {type(forbidden).__name__}") from None
    out = []
    for i, cell in enumerate(cells):
        try:
            x, y = cell
        except (TypeError, ValueError):
            raise ValueError(f"forbidden: expected cells (x, y), got {cell!r} at position {i}") from None
        x = check_int(x, f"forbidden[{i}][0]")
        y = check_int(y, f"forbidden[{i}][1]")
        if not (0 <= x < size and 0 <= y < size):
            raise ValueError(f"forbidden: expected cells (x, y) inside the {size} x {size} grid, got {(x, y)}")
        if (x, y) not in out:
            out.append((x, y))
    if len(out) == size * size:
        raise ValueError(f"forbidden: walls cover all {size * size} cells, leaving none to stand on")
    return tuple(out)


def openspiel_root_order(roots, size: int) -> tuple:
    """The start cells ``s = x * size + y`` in OpenSpiel's chance order: by ``x + y * size`` (its ``GetX/GetY``)."""
    return tuple(sorted((int(s) for s in roots), key=lambda s: (s % size) * size + s // size))


@functools.lru_cache(maxsize=32)
def openspiel_displacement_2d(size: int, horizon: int, forbidden: tuple, roots: tuple) -> np.ndarray:
    """``[T, S]``: ``|dx| + |dy|`` of the move OpenSpiel's memoised values charge at ``(t, s)``.

    ``roots``: the start cells in OpenSpiel's chance order (``openspiel_root_order``).
    """
    target, legal, _ = _layout(size, forbidden)

    def moves(s):
        return [(a, int(target[s, a])) for a in range(5) if legal[s, a]]

    last = first_visit_last_action(roots, horizon, size * size, moves, lambda z: [y for _, y in moves(z)])
    cost = np.abs(MOVES_2D).sum(-1)
    return np.where(last >= 0, cost[np.maximum(last, 0)], 0)


@flax.struct.dataclass
class CrowdModelling2D(MeanFieldGame):
    """2-D crowd modelling (see the module docstring); build it with ``crowd_modelling_2d()`` or ``four_rooms()``."""

    initial: jax.Array
    position_reward: jax.Array
    crowd_aversion: jax.Array
    move_penalty: jax.Array
    noise_intensity: jax.Array
    displacement: jax.Array
    size: int = flax.struct.field(pytree_node=False)
    horizon: int = flax.struct.field(pytree_node=False)
    forbidden: tuple = flax.struct.field(pytree_node=False, default=())

    @property
    def num_states(self) -> int:
        return self.size * self.size

    @property
    def num_actions(self) -> int:
        return 5

    def action_mask(self) -> np.ndarray:
        return _layout(self.size, self.forbidden)[1]

    def transition(self, t, mu):
        del t, mu
        target, legal, _ = _layout(self.size, self.forbidden)
        return grid_transition(self.noise_intensity, target, legal, num_states=self.num_states)

    def reward(self, t, mu):
        state = self.position_reward - self.crowd_aversion * jnp.log(mu + LOG_EPSILON)
        return state[:, None] - self.move_penalty * self.displacement[t]


def crowd_modelling_2d(
    size: int = 10,
    horizon: int = 10,
    crowd_aversion: float = 1.0,
    noise_intensity: float = 1.0,
    forbidden=(),
    initial=None,
    only_distribution_reward: bool = False,
    move_cost_model: str = "openspiel",
    *,
    max_bytes: int | None = None,
) -> CrowdModelling2D:
    """OpenSpiel's ``mfg_crowd_modelling_2d`` (defaults: 10 x 10 torus, horizon 10, no walls, uniform start).

    Args:
      size, horizon: grid side (>= 2) and number of decisions (>= 1).
      crowd_aversion: coefficient (>= 0) of ``-log mu`` (OpenSpiel's ``crowd_aversion_coef``).
      noise_intensity: in [0, 1]; 0 makes the dynamics deterministic.
      forbidden: ``(x, y)`` wall cells (``grid_walls`` builds them from a picture).
      initial: ``[size * size]`` initial distribution over ``s = x * size + y``, with no mass on
        walls; ``None`` is uniform over the free cells (over all cells without walls: OpenSpiel's
        default; with walls OpenSpiel's default also puts mass on the walls, which agents then
        leave, a start this model refuses: ``openspiel.openspiel_game`` passes the free cells).
      only_distribution_reward: keep only the crowd-aversion term.
      move_cost_model: ``"openspiel"`` or ``"action"`` (see ``crowd_modelling``).
      max_bytes: ceiling on any one dense table (the transition tensor ``[S, 5, S]`` with
        ``S = size**2``, the ``[T, S, 5]`` tables); ``None`` is the default (4 GiB or ``JAXGAMES_MAX_BYTES``).
    """
    size = check_int(size, "size", low=2)
    horizon = check_int(horizon, "horizon", low=1)
    check_choice(move_cost_model, "move_cost_model", MOVE_COST_MODELS)
    only_distribution_reward = check_bool(only_distribution_reward, "only_distribution_reward")
    num_states = size * size
    check_tables(
        [
            (
                "size",
                f"the transition tensor [S, A, S'] = [{num_states}, 5, {num_states}] (S = size**2)",
                (num_states, 5, num_states),
            ),
            policy_table(horizon, num_states, 5),
        ],
        max_bytes,
    )
    forbidden = check_forbidden(forbidden, size)
    dtype = jnp.result_type(float)
    wall = _layout(size, forbidden)[2]
    if initial is None:
        initial = jnp.asarray(np.where(wall, 0.0, 1.0 / np.sum(~wall)), dtype)
    else:
        initial = check_distribution(initial, "initial", num_states)
        if is_concrete(initial) and np.any(np.asarray(initial)[wall] > 0):
            cells = [divmod(int(s), size) for s in np.flatnonzero(wall & (np.asarray(initial) > 0))]
            raise ValueError(f"initial: puts probability on forbidden cells (x, y) {cells[:5]}")
    crowd_aversion = check_scalar(crowd_aversion, "crowd_aversion", 0.0)
    noise_intensity = check_scalar(noise_intensity, "noise_intensity", 0.0, 1.0)
    if move_cost_model == "openspiel":
        support = np.flatnonzero(np.asarray(initial) > 0) if is_concrete(initial) else np.flatnonzero(~wall)
        disp = openspiel_displacement_2d(size, horizon, forbidden, openspiel_root_order(support, size))
        disp = disp[:, :, None] * np.ones(5)
    else:
        disp = np.broadcast_to(np.abs(MOVES_2D).sum(-1), (horizon, num_states, 5)).copy()
        disp[-1] = 0
    xs, ys = np.divmod(np.arange(num_states), size)
    c = size // 2
    position = 2.0 - (2.0 / size) * (np.abs(xs - c) + np.abs(ys - c))
    move_penalty = 1.0 / size
    if only_distribution_reward:
        position, move_penalty = np.zeros(num_states), 0.0
    game = CrowdModelling2D(
        initial=initial,
        position_reward=jnp.asarray(position, dtype),
        crowd_aversion=crowd_aversion,
        move_penalty=jnp.asarray(move_penalty, dtype),
        noise_intensity=noise_intensity,
        displacement=jnp.asarray(disp, dtype),
        size=size,
        horizon=horizon,
        forbidden=forbidden,
    )
    return check_model(game, ("crowd_aversion",))


def four_rooms(
    horizon: int = 40,
    crowd_aversion: float = 1.0,
    noise_intensity: float = 1.0,
    only_distribution_reward: bool = False,
    move_cost_model: str = "openspiel",
    *,
    max_bytes: int | None = None,
) -> CrowdModelling2D:
    """OpenSpiel's four-rooms crowd model: 13 x 13 grid with walls, everyone starts at (1, 1)."""
    size = len(FOUR_ROOMS_GRID)
    initial = np.zeros(size * size)
    initial[1 * size + 1] = 1.0
    return crowd_modelling_2d(
        size,
        horizon,
        crowd_aversion,
        noise_intensity,
        grid_walls(FOUR_ROOMS_GRID),
        initial,
        only_distribution_reward,
        move_cost_model,
        max_bytes=max_bytes,
    )
