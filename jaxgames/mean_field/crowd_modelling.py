"""1-D crowd modelling on a ring: OpenSpiel's ``mfg_crowd_modelling`` (Perrin et al. 2020, Sec. 4.2).

States are the ``size`` cells of a ring, actions move left / stay / right
(``a in {0, 1, 2}``, move ``a - 1``), then a uniform noise move in
``{-1, 0, +1}`` follows (mod ``size``). Agents start uniformly. At each time
``t = 0 .. T-1`` the representative player in cell ``x`` collects::

    r_t(x, a, mu) = 1 - |x - size//2| / (size//2)          (go to the centre)
                    - crowd_aversion * log(mu_t(x))        (avoid crowds)
                    - move_penalty * displacement_t(x, a)  (moving costs 1/size)

``displacement`` follows one of two conventions:

* ``"openspiel"`` (default) reproduces what OpenSpiel's MFG algorithms
  (``policy_value``, ``best_response_value``, ``nash_conv``, fictitious play,
  mirror descent) compute for ``mfg_crowd_modelling``. There the cost of a move
  is charged at the *next* decision node, but values are memoised by the
  observation string ``"(x, t)"``, which omits the last action; each cell and
  time therefore keeps the move cost of the path that first reached it in
  OpenSpiel's depth-first traversal, a state cost that does not depend on the
  action chosen. ``openspiel_displacement(size, horizon)`` replays that
  traversal; with it our exploitability equals OpenSpiel's ``NashConv``
  (``tests/test_mean_field.py``).
* ``"action"`` charges each move ``|a - 1|`` to the step that takes it, except
  the last step's move (OpenSpiel's simulated returns never charge that one,
  the game ends first): the model a reader of the rules expects.

``log`` is taken of ``mu + 1e-25`` (as OpenSpiel's Python twin does) so that a
best response through an empty cell has a finite value.
"""

from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.core import check_scalar
from jaxgames.mean_field.game import MeanFieldGame, check_distribution, check_model, check_tables, policy_table
from jaxgames.validation import check_choice, check_int

#: Move of each action (left, stay, right); the noise uses the same moves.
MOVES = np.array([-1, 0, 1])
LOG_EPSILON = 1e-25
MOVE_COST_MODELS = ("openspiel", "action")


@functools.partial(jax.jit, static_argnames=("size",))
def ring_transition(noise, *, size: int) -> jax.Array:
    """``[S, 3, S']``: move ``a - 1`` then a noise move ``d - 1`` with probability ``noise[d]``, mod ``size``.

    One fused kernel (a sum of three one-hot tables): its peak memory is the output's, never the
    ``[S, 3, 3, S']`` one-hot of every (move, noise) pair.
    """
    moved = jnp.arange(size)[:, None] + jnp.asarray(MOVES)[None, :]  # [S, A]
    return sum(noise[d] * jax.nn.one_hot((moved + int(MOVES[d])) % size, size, dtype=noise.dtype) for d in range(3))


def ring_push(noise, flow) -> jax.Array:
    """``[S']``: mass ``flow [S, 3]`` moved by action ``a`` (``a - 1``), then by the noise (``noise[d]``: ``d - 1``).

    The product with ``ring_transition(noise, size=S)`` computed by circular shifts (``jnp.roll``),
    ``O(S)`` work and memory, so a time loop's cost grows linearly with the ring. The left and right
    terms are added first, then the middle one (``m + (l + r)``), so a mirror-symmetric flow under a
    symmetric noise gives an exactly mirror-symmetric result (ties stay ties). Example::

        ring_push(noise, flow)  # == jnp.einsum("xa,xay->y", flow, ring_transition(noise, size=S)) up to rounding
    """
    noise = noise.astype(flow.dtype)
    moved = flow[:, 1] + (jnp.roll(flow[:, 0], -1) + jnp.roll(flow[:, 2], 1))  # moved[y] = sum_a flow[y - m_a, a]
    return noise[1] * moved + (noise[0] * jnp.roll(moved, -1) + noise[2] * jnp.roll(moved, 1))


def ring_expect(noise, values) -> jax.Array:
    """``[S, 3, ...]``: ``sum_d noise[d] values[(x + a - 1 + d - 1) mod S, ...]`` for ``values`` ``[S, ...]``.

    The product ``einsum("xay,y...->xa...", ring_transition(noise, size=S), values)`` by circular
    shifts, summed in ``ring_push``'s mirror-symmetric order.
    """
    noise = noise.astype(values.dtype)
    # after_noise[z] = E values(z + noise move)
    after_noise = noise[1] * values + (noise[0] * jnp.roll(values, 1, axis=0) + noise[2] * jnp.roll(values, -1, axis=0))
    return jnp.stack([jnp.roll(after_noise, 1, axis=0), after_noise, jnp.roll(after_noise, -1, axis=0)], axis=1)


def ring_tables(size: int, horizon: int) -> list:
    """``check_tables`` entries of a ring model: the transition tensor and the ``[T, S, 3]`` tables."""
    return [
        ("size", f"the transition tensor [S, A, S'] = [{size}, 3, {size}]", (size, 3, size)),
        policy_table(horizon, size, 3),
    ]


def first_visit_last_action(roots, horizon, num_states, player_moves, noise_moves) -> np.ndarray:
    """``[T, S]``: the action of the path on which OpenSpiel's memoised traversal first reaches ``(t, s)``.

    OpenSpiel's MFG value functions (``policy_value``, ``best_response_value``)
    visit states depth first (initial states in order, then actions, then noise
    outcomes, each in OpenSpiel's order) and cache each chance node and decision
    node by its observation string at its first visit. The crowd models charge
    the *previous* move at a decision node, and the string omits it, so the
    cached reward of ``(t, s)`` carries the move of the first visit. This
    replays the traversal (iteratively: no recursion limit). ``player_moves(s)``
    lists ``(action, next_state)``; ``noise_moves(z)`` lists the noise outcomes'
    next states. Entries at ``t = 0`` hold -1 (no previous move).
    """
    last = np.full((horizon, num_states), -2, np.int64)
    seen_chance = np.zeros((horizon, num_states), bool)

    def children(s, t):
        for a, z in player_moves(s):
            if seen_chance[t, z]:
                continue
            seen_chance[t, z] = True
            if t + 1 >= horizon:
                continue
            for y in noise_moves(z):
                if last[t + 1, y] == -2:  # checked lazily: earlier siblings' subtrees come first
                    yield y, t + 1, a

    for s0 in roots:
        last[0, s0] = -1
        stack = [children(s0, 0)]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                continue
            y, t, a = nxt
            last[t, y] = a
            stack.append(children(y, t))
    return last


@functools.lru_cache(maxsize=64)
def openspiel_displacement(size: int, horizon: int) -> np.ndarray:
    """``[T, S]`` 0/1: the move cost OpenSpiel's memoised values charge at ``(t, x)`` in ``mfg_crowd_modelling``.

    See ``first_visit_last_action``; ``t = 0`` is free (OpenSpiel starts from the neutral action).
    """
    last = first_visit_last_action(
        range(size),
        horizon,
        size,
        lambda x: [(a, (x + MOVES[a]) % size) for a in range(3)],
        lambda z: [(z + d) % size for d in MOVES],
    )
    return np.where(last >= 0, np.abs(MOVES[np.maximum(last, 0)]), 0)


@flax.struct.dataclass
class CrowdModelling(MeanFieldGame):
    """1-D crowd modelling (see the module docstring); build it with ``crowd_modelling()``.

    Leaves: ``initial [S]``, ``position_reward [S]``, ``crowd_aversion``,
    ``move_penalty``, ``noise [3]`` (probabilities of the noise moves -1, 0, +1),
    ``displacement [T, S, A]`` (0/1: which moves are charged where).
    """

    initial: jax.Array
    position_reward: jax.Array
    crowd_aversion: jax.Array
    move_penalty: jax.Array
    noise: jax.Array
    displacement: jax.Array
    size: int = flax.struct.field(pytree_node=False)
    horizon: int = flax.struct.field(pytree_node=False)

    @property
    def num_states(self) -> int:
        return self.size

    @property
    def num_actions(self) -> int:
        return 3

    def transition(self, t, mu):
        del t, mu
        return ring_transition(self.noise, size=self.size)

    def push_forward(self, t, mu, flow):
        """``[S']``: the ring's forward product by shifts, ``O(S)`` (never the ``[S, 3, S']`` tensor).

        ``mu'(y) = sum_d noise[d] z(y - (d - 1))`` with ``z(y) = sum_a flow(y - (a - 1), a)``:
        equal to ``einsum("xa,xay->y", flow, transition(t, mu))`` up to rounding.
        """
        del t, mu
        return ring_push(self.noise, flow)

    def expected_next(self, t, mu, values):
        """``[S, 3, ...]``: ``E[values(x') | x, a]`` on the ring by shifts, ``O(S)`` per trailing entry."""
        del t, mu
        return ring_expect(self.noise, values)

    def reward(self, t, mu):
        state = self.position_reward - self.crowd_aversion * jnp.log(mu + LOG_EPSILON)
        return state[:, None] - self.move_penalty * self.displacement[t]


def crowd_modelling(
    size: int = 10,
    horizon: int = 10,
    crowd_aversion: float = 1.0,
    move_penalty: float | None = None,
    noise=None,
    initial=None,
    move_cost_model: str = "openspiel",
    *,
    max_bytes: int | None = None,
) -> CrowdModelling:
    """OpenSpiel's ``mfg_crowd_modelling`` (defaults: size 10, horizon 10, crowd aversion 1).

    Args:
      size: number of cells on the ring (>= 2).
      horizon: number of decisions ``T`` (>= 1); policies are ``[T, size, 3]``,
        ``pi[t, x, a]`` = OpenSpiel's probability of action ``a`` at state ``"(x, t)"``.
      crowd_aversion: coefficient (>= 0) of ``-log mu_t(x)`` (may be traced: vmap sweeps it).
      move_penalty: cost of one move; ``None`` gives OpenSpiel's ``1 / size``.
      noise: ``[3]`` probabilities of the noise moves -1, 0, +1; ``None`` is uniform.
      initial: ``[size]`` initial distribution; ``None`` is uniform (OpenSpiel's).
      move_cost_model: ``"openspiel"`` (the values OpenSpiel computes) or
        ``"action"`` (each move charged to the step taking it); see the module doc.
      max_bytes: ceiling on any one dense table (the transition tensor ``[S, 3, S]``, the
        ``[T, S, 3]`` tables); ``None`` is ``validation.DEFAULT_MAX_BYTES`` (or ``JAXGAMES_MAX_BYTES``).
        A bigger game is refused up front with a ``ValueError`` naming ``size`` / ``horizon``.
    """
    size = check_int(size, "size", low=2)
    horizon = check_int(horizon, "horizon", low=1)
    check_choice(move_cost_model, "move_cost_model", MOVE_COST_MODELS)
    check_tables(ring_tables(size, horizon), max_bytes)
    dtype = jnp.result_type(float)
    initial = jnp.full((size,), 1.0 / size, dtype) if initial is None else check_distribution(initial, "initial", size)
    noise = jnp.full((3,), 1.0 / 3.0, dtype) if noise is None else check_distribution(noise, "noise", 3)
    crowd_aversion = check_scalar(crowd_aversion, "crowd_aversion", 0.0)
    move_penalty = check_scalar(1.0 / size if move_penalty is None else move_penalty, "move_penalty")
    if move_cost_model == "openspiel":
        disp = np.broadcast_to(openspiel_displacement(size, horizon)[:, :, None], (horizon, size, 3))
    else:
        disp = np.broadcast_to(np.abs(MOVES)[None, None, :], (horizon, size, 3)).copy()
        disp[-1] = 0  # the game ends before the last move is charged
    half = size // 2
    position = 1.0 - np.abs(np.arange(size) - half) / half
    game = CrowdModelling(
        initial=initial,
        position_reward=jnp.asarray(position, dtype),
        crowd_aversion=crowd_aversion,
        move_penalty=move_penalty,
        noise=noise,
        displacement=jnp.asarray(disp, dtype),
        size=size,
        horizon=horizon,
    )
    return check_model(game, ("crowd_aversion", "move_penalty"))
