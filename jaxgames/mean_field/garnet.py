"""Mean-field Garnet: a random finite MDP with a crowd-aversion reward, OpenSpiel's ``mfg_garnet``.

Pérolat, Perrin, Elie, Laurière, Piliouras, Geist, Tuyls & Pietquin (2022), "Scaling up mean
field games with online mirror descent" (AAMAS), Sec. 5.1; OpenSpiel's C++ game ``mfg_garnet``
(``open_spiel/games/mfg/garnet.{h,cc}``). A Garnet ("generic average reward non-stationary
environment testbed", Archibald et al. 1995) is a family of random MDPs. Here, with ``S`` =
``size`` states, ``A`` = ``num_action`` actions and ``K`` = ``num_chance_action`` chance outcomes,
one draw gives, for every ``(x, a)``:

* ``K`` next states ``y_k(x, a)`` uniform over the ``S`` states (repeats allowed) reached with
  probabilities ``p_k(x, a)``, the spacings of ``K - 1`` sorted uniforms on ``[0, 1]`` (a flat
  Dirichlet), so ``P(y | x, a) = sum_k p_k [y_k = y]``;
* a reward ``R(x, a)``: uniform on ``[0, 1]`` with probability ``sparsity_factor``, else 0.

Agents start uniformly; at each decision ``t = 0 .. T-1`` the agent in ``x`` collects::

    R(x_t, a_{t-1}) - eta * log(mu_t(x_t) + 1e-25)          (a_{-1} = 0, OpenSpiel's neutral action)

OpenSpiel charges ``R`` at the decision node with the *previous* action (the one that led
there), as in ``mfg_crowd_modelling``; the game ends after the ``T``-th move, so ``R`` of the
last move is never charged. Two reward conventions (``reward_model``) give that rule as an
``r_t(x, a, mu)`` of a ``MeanFieldGame``:

* ``"openspiel"`` (``garnet_from_openspiel``'s default): what OpenSpiel's MFG algorithms
  (``nash_conv``, fictitious play, ...) compute. They memoise values by the observation string
  ``"(x, t)"``, which omits the previous action, so each ``(t, x)`` keeps ``R(x, a)`` of the path
  that reaches it first in their depth-first traversal (``crowd_modelling.first_visit_last_action``
  replays it), a state reward that does not depend on the action chosen. With it our
  exploitability equals OpenSpiel's ``NashConv``. Needs concrete tables (a host traversal): not
  under ``vmap``.
* ``"action"`` (``garnet``'s default): the expected charge of the move ``a`` taken at ``t``,
  ``sum_y P(y | x, a) R(y, a)``, counted at ``t`` (``t < T - 1``), plus ``R(x, 0)`` at ``t = 0``:
  the expected return of a simulated episode (traceable, vmappable over keys).

The draw itself: ``garnet(key, ...)`` generates it natively with a JAX key (the same laws as
OpenSpiel, not its numbers: OpenSpiel draws from ``std::mt19937(seed)`` through ``absl``);
``garnet_from_openspiel(seed=..., ...)`` reads OpenSpiel's own draw for its ``seed`` off a
``pyspiel`` instance (rewards and chance outcomes of its states), so the game is OpenSpiel's.

Shapes: policies ``[T, S, A]``; ``transition`` ``[S, A, S]``; ``garnet_reward`` ``[S, A]``;
``base_reward`` ``[T, S, A]`` (``R`` as the convention charges it).

Example::

    >>> game = garnet(jax.random.key(0), size=10, horizon=10)      # our draw, "action" rewards
    >>> float(game.exploitability(game.uniform_policy())) > 0
    True
    >>> games = jax.vmap(lambda k: garnet(k, size=5))(jax.random.split(jax.random.key(1), 8))
    >>> spiel_like = garnet_from_openspiel(size=10, horizon=10, seed=0)  # OpenSpiel's draw (needs open-spiel)
"""

from __future__ import annotations

import functools

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.core import is_concrete, require_pyspiel
from jaxgames.mean_field.crowd_modelling import first_visit_last_action
from jaxgames.mean_field.game import MeanFieldGame, check_model, check_tables, policy_table
from jaxgames.validation import check_choice, check_int, check_scalar

#: OpenSpiel's ``kEpsilon`` is a C++ ``float`` 1e-25, widened to double in the log.
LOG_EPSILON = float(np.float32(1e-25))
REWARD_MODELS = ("openspiel", "action")
#: OpenSpiel's ``kNeutralAction``: the "previous action" at ``t = 0``.
NEUTRAL_ACTION = 0


@flax.struct.dataclass
class Garnet(MeanFieldGame):
    """A mean-field Garnet (see the module docstring); build it with ``garnet`` or ``garnet_from_openspiel``.

    Leaves: ``initial [S]`` (uniform), ``transitions [S, A, S]``, ``garnet_reward [S, A]`` (the drawn
    ``R``), ``base_reward [T, S, A]`` (``R`` as ``reward_model`` charges it), ``eta``.
    """

    initial: jax.Array
    transitions: jax.Array
    garnet_reward: jax.Array
    base_reward: jax.Array
    eta: jax.Array
    num_states: int = flax.struct.field(pytree_node=False)
    num_actions: int = flax.struct.field(pytree_node=False)
    horizon: int = flax.struct.field(pytree_node=False)

    def transition(self, t, mu):
        del t, mu
        return self.transitions

    def reward(self, t, mu):
        return self.base_reward[t] - self.eta * jnp.log(mu + LOG_EPSILON)[:, None]


def garnet_tables(key, size: int = 10, num_action: int = 3, num_chance_action: int = 3, sparsity_factor=1.0):
    """A Garnet draw with a JAX key (OpenSpiel's laws): ``(R [S, A], probs [S, A, K], next_states [S, A, K])``.

    Pure JAX (vmappable over keys): ``R(x, a) = U [V < sparsity_factor]`` with ``U, V ~ U(0, 1)``;
    ``probs`` the spacings of ``K - 1`` sorted uniforms (flat Dirichlet); ``next_states`` uniform ints.
    """
    key = jax.random.key(key) if isinstance(key, (int, np.integer)) else key
    return _draw(key, sparsity_factor, size=size, num_action=num_action, num_chance_action=num_chance_action)


@functools.partial(jax.jit, static_argnames=("size", "num_action", "num_chance_action"))
def _draw(key, sparsity_factor, *, size, num_action, num_chance_action):
    k_sparse, k_reward, k_cdf, k_next = jax.random.split(key, 4)
    dtype = jnp.result_type(float)
    shape = (size, num_action)
    rewards = jnp.where(
        jax.random.uniform(k_sparse, shape, dtype) < sparsity_factor, jax.random.uniform(k_reward, shape, dtype), 0.0
    )
    cuts = jnp.sort(jax.random.uniform(k_cdf, (*shape, num_chance_action - 1), dtype), axis=-1)
    cdf = jnp.concatenate([jnp.zeros((*shape, 1), dtype), cuts, jnp.ones((*shape, 1), dtype)], axis=-1)
    probs = jnp.diff(cdf, axis=-1)
    next_states = jax.random.randint(k_next, (*shape, num_chance_action), 0, size)
    return rewards, probs, next_states


@functools.partial(jax.jit, static_argnames=("horizon",))
def _arrays(rewards, probs, next_states, first_visit, *, horizon):
    """``(transitions [S, A, S], base_reward [T, S, A])``; ``first_visit [T, S]`` or ``None`` ("action")."""
    size, num_action, _ = probs.shape
    rows, cols = np.arange(size)[:, None, None], np.arange(num_action)[None, :, None]
    transitions = jnp.zeros((size, num_action, size), probs.dtype).at[rows, cols, next_states].add(probs)
    if first_visit is not None:
        return transitions, jnp.broadcast_to(first_visit[:, :, None], (horizon, size, num_action))
    expected = jnp.einsum("xay,ya->xa", transitions, rewards)  # the next decision's charge of move a
    later = jnp.arange(horizon)[:, None, None] < horizon - 1
    first = (jnp.arange(horizon) == 0)[:, None, None] * rewards[None, :, NEUTRAL_ACTION, None]
    return transitions, jnp.where(later, expected[None], 0.0) + first


def openspiel_garnet_tables(
    size: int = 10,
    seed: int = 0,
    num_action: int = 3,
    num_chance_action: int = 3,
    sparsity_factor: float = 1.0,
    eta: float = 1.0,
):
    """OpenSpiel's own ``mfg_garnet`` draw for ``seed``, read off a ``pyspiel`` game (needs open-spiel).

    Returns NumPy float64 / int ``(R [S, A], probs [S, A, K], next_states [S, A, K])``. The chance
    outcomes of the node after action ``a`` in ``x`` give ``probs`` and ``next_states``; ``R(y, a)``
    is the reward of the decision node ``y`` entered by action ``a``, read with the mean field set
    to ones (``log 1 = 0``), and ``R(x, 0)`` at ``t = 0`` (uniform mean field: ``eta log(1/S + eps)``
    added back). Pairs ``(y, a)`` that no move reaches are never charged by OpenSpiel: left 0.
    (OpenSpiel's state *deserialisation* redraws the tables with an older rule: not used.)
    """
    pyspiel = require_pyspiel()
    params = {
        "size": size,
        "horizon": 2,
        "seed": seed,
        "num_action": num_action,
        "num_chance_action": num_chance_action,
        "sparsity_factor": float(sparsity_factor),
        "eta": float(eta),
    }
    spiel_game = pyspiel.load_game("mfg_garnet", params)
    root = spiel_game.new_initial_state()
    rewards = np.zeros((size, num_action))
    probs = np.zeros((size, num_action, num_chance_action))
    next_states = np.zeros((size, num_action, num_chance_action), np.int64)
    log_uniform = -float(eta) * np.log(1.0 / size + LOG_EPSILON)
    for x in range(size):
        decision = root.child(x)
        rewards[x, NEUTRAL_ACTION] = decision.rewards()[0] - log_uniform
        for a in range(num_action):
            chance = decision.child(a)
            for k, p in chance.chance_outcomes():
                node = chance.child(k)  # the mean-field node at the next state
                y = int(node.serialize().split(",")[2])
                probs[x, a, k], next_states[x, a, k] = p, y
                node.update_distribution([1.0] * size)
                rewards[y, a] = node.rewards()[0]
    return rewards, probs, next_states


def _first_visit_rewards(rewards, next_states, horizon: int) -> np.ndarray:
    """``[T, S]``: ``R(x, a)`` with ``a`` the previous action of OpenSpiel's first visit of ``(t, x)``."""
    size, num_action, _ = next_states.shape
    last = first_visit_last_action(
        range(size),
        horizon,
        size * num_action,  # chance nodes "(x, t, a)_a_mu" are told apart by (x, a)
        lambda x: [(a, x * num_action + a) for a in range(num_action)],
        lambda z: [int(y) for y in next_states[z // num_action, z % num_action]],
    )[:, :size]
    last = np.where(last >= 0, last, NEUTRAL_ACTION)  # t = 0 (and unreachable cells): the neutral action
    return rewards[np.arange(size)[None, :], last]


def garnet_game(
    rewards,
    probs,
    next_states,
    horizon: int = 10,
    eta=1.0,
    reward_model: str = "openspiel",
    *,
    max_bytes: int | None = None,
) -> Garnet:
    """The mean-field Garnet of given tables ``(R [S, A], probs [S, A, K], next_states [S, A, K])``."""
    horizon = check_int(horizon, "horizon", low=1)
    check_choice(reward_model, "reward_model", REWARD_MODELS)
    dtype = jnp.result_type(float)
    rewards = jnp.asarray(rewards, dtype)
    probs = jnp.asarray(probs, dtype)
    next_states = jnp.asarray(next_states)
    if rewards.ndim != 2 or probs.ndim != 3 or probs.shape[:2] != rewards.shape or next_states.shape != probs.shape:
        raise ValueError(
            f"rewards, probs, next_states: expected shapes [S, A], [S, A, K], [S, A, K], got "
            f"{tuple(rewards.shape)}, {tuple(probs.shape)}, {tuple(next_states.shape)}"
        )
    size, num_action = rewards.shape
    if is_concrete(next_states) and (np.any(np.asarray(next_states) < 0) or np.any(np.asarray(next_states) >= size)):
        raise ValueError(f"next_states: expected states in [0, {size}), got values outside")
    check_tables(
        [
            ("size", f"the transition tensor [S, A, S'] = [{size}, {num_action}, {size}]", (size, num_action, size)),
            policy_table(horizon, size, num_action),
        ],
        max_bytes,
    )
    eta = check_scalar(eta, "eta")
    first_visit = None
    if reward_model == "openspiel":
        if not (is_concrete(rewards) and is_concrete(next_states)):
            raise ValueError(
                "reward_model: 'openspiel' replays OpenSpiel's traversal on the host and needs concrete "
                "tables (not traced, e.g. under vmap); use reward_model='action'"
            )
        first_visit = jnp.asarray(_first_visit_rewards(np.asarray(rewards), np.asarray(next_states), horizon), dtype)
    transitions, base = _arrays(rewards, probs, next_states, first_visit, horizon=horizon)
    game = Garnet(
        initial=jnp.full((size,), 1.0 / size, dtype),
        transitions=transitions,
        garnet_reward=rewards,
        base_reward=base,
        eta=eta,
        num_states=size,
        num_actions=num_action,
        horizon=horizon,
    )
    return check_model(game, ("eta",))


def _check_sizes(size, num_action, num_chance_action, sparsity_factor):
    size = check_int(size, "size", low=1)
    num_action = check_int(num_action, "num_action", low=1)
    num_chance_action = check_int(num_chance_action, "num_chance_action", low=1)
    check_scalar(sparsity_factor, "sparsity_factor", 0.0, 1.0)
    return size, num_action, num_chance_action


def garnet(
    key,
    size: int = 10,
    horizon: int = 10,
    num_action: int = 3,
    num_chance_action: int = 3,
    sparsity_factor: float = 1.0,
    eta: float = 1.0,
    reward_model: str = "action",
    *,
    max_bytes: int | None = None,
) -> Garnet:
    """Mean-field Garnet drawn with a JAX key (OpenSpiel's ``mfg_garnet`` laws, our own numbers).

    Args:
      key: a ``jax.random`` key (or an int seed for ``jax.random.key``).
      size: states ``S`` (>= 1); horizon: decisions ``T`` (>= 1).
      num_action: actions ``A``; num_chance_action: chance outcomes ``K`` per ``(x, a)``.
      sparsity_factor: probability in [0, 1] that ``R(x, a)`` is non-zero.
      eta: crowd-aversion coefficient of ``-log mu``.
      reward_model: ``"action"`` (default: the expected return, traceable, so ``vmap`` over keys
        works) or ``"openspiel"`` (OpenSpiel's memoised values; concrete keys only); module docstring.
      max_bytes: ceiling on any dense table (``[S, A, S]``, ``[T, S, A]``); ``None``: the default.

    For OpenSpiel's own draw of a ``seed`` use ``garnet_from_openspiel``.
    """
    size, num_action, num_chance_action = _check_sizes(size, num_action, num_chance_action, sparsity_factor)
    tables = garnet_tables(key, size, num_action, num_chance_action, sparsity_factor)
    return garnet_game(*tables, horizon, eta, reward_model, max_bytes=max_bytes)


def garnet_from_openspiel(
    size: int = 10,
    horizon: int = 10,
    seed: int = 0,
    num_action: int = 3,
    num_chance_action: int = 3,
    sparsity_factor: float = 1.0,
    eta: float = 1.0,
    reward_model: str = "openspiel",
    *,
    max_bytes: int | None = None,
) -> Garnet:
    """OpenSpiel's ``pyspiel.load_game("mfg_garnet", {...})`` with the same parameters, as our model.

    The random tables are read off OpenSpiel's game (``openspiel_garnet_tables``; needs open-spiel),
    so with ``reward_model="openspiel"`` our metrics equal OpenSpiel's (``NashConv``, fictitious play).
    Arguments as ``garnet``, with OpenSpiel's ``seed`` instead of a key.
    """
    size, num_action, num_chance_action = _check_sizes(size, num_action, num_chance_action, sparsity_factor)
    seed = check_int(seed, "seed")
    tables = openspiel_garnet_tables(size, seed, num_action, num_chance_action, float(sparsity_factor), float(eta))
    return garnet_game(*tables, horizon, eta, reward_model, max_bytes=max_bytes)
