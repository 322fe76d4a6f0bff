"""A simulator of any tabular Markov game, on the one simulator contract (``jaxgames/env.py``).

::

    env = jaxgames.make_env(game, max_episode_steps=200)   # or MarkovEnv(game, ...)
    state, ts = env.reset(key)                              # s_0 ~ game.initial
    state, ts = env.step(key, state, actions)               # actions: int [N], simultaneous

A step draws ``s' ~ transitions[s, a_1, ..., a_N, :]`` by inverse CDF from one uniform number (for a
``SparseMarkovGame``: over its ``B`` next states and the restart, then, on a restart, from ``initial``
with the same uniform rescaled to its bin, so a step still reads one row of ``B + 1`` entries) and
pays ``rewards[:, s, a_1, ..., a_N]`` (``[N]``). ``ts.observation`` is the state index (fully
observed), ``ts.current_player`` is ``SIMULTANEOUS`` and ``ts.legal_action_mask`` is ``[N, A]``
(player ``i``'s first ``A_i`` entries legal). Every method takes an optional ``params`` game of the
same sizes, whose leaves may be traced, so ``jax.vmap(env.step)(keys, states, actions, games)``
simulates a batch of games.

**Episodes.** A finite-horizon game *terminates* after ``game.horizon`` steps; an episode is
*truncated* after ``max_episode_steps``. A discounted game with neither never ends. Auto-reset and
the rest of the contract (actions checked when concrete, replaced by the lowest legal action under tracing)
are the base's.

**Estimating values.** The discounted return of an episode truncated after ``H`` steps,
``sum_{t<H} gamma^t r_t`` (``discounted_returns``), estimates ``evaluate(policy).values`` with a
bias of at most ``gamma^H max|r| / (1 - gamma)``; ``jaxgames.rollout`` with ``num_steps =
max_episode_steps = H`` plays exactly one such episode per environment.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.env import INT32_MAX, Environment, TimeStep, Trajectory, pad_last, rollout  # noqa: F401  (re-exported)
from jaxgames.markov.game import MarkovGame, SparseMarkovGame
from jaxgames.validation import check_bool, check_int, check_scalar


class MarkovState(NamedTuple):
    """The simulator's state (one environment; ``vmap`` adds a batch axis)."""

    state: jax.Array  # int32 []: the current game state
    step_count: jax.Array  # int32 []: steps taken in this episode
    done: jax.Array  # bool []: the episode is over


class MarkovEnv(Environment):
    """The simulator of ``game`` (a ``MarkovGame``); see the module docstring for the semantics."""

    simultaneous = True

    def __init__(self, game: MarkovGame, max_episode_steps: int | None = None, autoreset: bool = True):
        if not isinstance(game, MarkovGame):
            raise ValueError(f"game: expected a MarkovGame, got {type(game).__name__}")
        if max_episode_steps is not None:
            max_episode_steps = check_int(max_episode_steps, "max_episode_steps", low=1, high=INT32_MAX)
        self.autoreset = check_bool(autoreset, "autoreset")
        self.game = game
        limits = [x for x in (max_episode_steps, game.horizon) if x is not None]
        #: steps after which an episode ends (None: never)
        self.episode_length = min(limits) if limits else None
        self.max_episode_steps = max_episode_steps
        self.num_players = game.num_players
        self.num_states = game.num_states
        #: each player's action count; ``num_actions`` is the largest
        self.action_counts = tuple(game.num_actions)
        self.num_actions = max(self.action_counts)
        self.action_shape = (self.num_players,)
        self.noise_size = 2 if self.autoreset else 1
        self._legal = np.arange(self.num_actions)[None, :] < np.asarray(self.action_counts)[:, None]

    def __repr__(self):
        return f"MarkovEnv({self.game!r}, episode_length={self.episode_length})"

    def _check_params(self, game):
        sparse = isinstance(self.game, SparseMarkovGame)
        if (
            not isinstance(game, MarkovGame)
            or isinstance(game, SparseMarkovGame) != sparse
            or tuple(game.num_actions) != self.action_counts
            or game.num_states != self.num_states
            or (sparse and game.branching != self.game.branching)
        ):
            kind = f"a SparseMarkovGame with branching {self.game.branching}, " if sparse else "a MarkovGame with "
            raise self._params_error(f"{kind}{self.num_states} states and actions {self.action_counts}", game)

    # -- the simulator hooks (jaxgames.env.Environment) -----------------------------------
    def _dtype(self, params):
        return (self.game if params is None else params).initial.dtype

    def _prepare(self, params):
        # cumulative sums once per call (a rollout: once): a step is then gathers and comparisons
        return jnp.cumsum(self._rows(params), axis=-1), jnp.cumsum(params.initial)

    @staticmethod
    def _rows(params):
        """``[S, A_1..A_N, K]``: the next-state weights a step draws from (sparse: ``B`` states, then restart)."""
        if isinstance(params, SparseMarkovGame):
            return jnp.concatenate([params.next_probs, params.restart[..., None]], axis=-1)
        return params.transitions

    def _step_context(self, params):
        return None  # one step draws from one row: no cumulative sum of the whole tensor

    def _initial(self, u, params, cdfs):
        zero = jnp.zeros((), jnp.int32)
        s = simplex.draw(u[-1], params.initial) if cdfs is None else simplex.inverse_cdf(u[-1], cdfs[1])
        return MarkovState(s, zero, jnp.zeros((), bool))

    def _transition(self, u, state, actions, params, cdfs):
        idx = (state.state, *[actions[i] for i in range(self.num_players)])
        rewards = params.rewards[(slice(None), *idx)]
        cdf = jnp.cumsum(self._rows(params)[idx], axis=-1) if cdfs is None else cdfs[0][idx]
        s = simplex.inverse_cdf(u[0], cdf)
        if isinstance(params, SparseMarkovGame):
            b = params.branching
            nxt = params.next_states[idx][jnp.minimum(s, b - 1)]
            # a restart: the uniform's position inside the restart bin is again uniform; draw from initial
            total = cdf[-1]
            inside = ((1.0 - u[0]) * total - cdf[b - 1]) / jnp.maximum(cdf[b] - cdf[b - 1], jnp.finfo(cdf.dtype).tiny)
            v = jnp.clip(1.0 - inside, 0.0, 1.0 - jnp.finfo(cdf.dtype).eps)
            start = simplex.inverse_cdf(v, jnp.cumsum(params.initial) if cdfs is None else cdfs[1])
            s = jnp.where(s < b, nxt, start).astype(jnp.int32)
        count = state.step_count + 1
        if self.episode_length is None:
            terminated = truncated = jnp.zeros((), bool)
        else:
            ended = count >= self.episode_length
            by_horizon = self.game.horizon is not None and self.game.horizon == self.episode_length
            terminated, truncated = (ended, jnp.zeros((), bool)) if by_horizon else (jnp.zeros((), bool), ended)
        return MarkovState(s, count, terminated | truncated), rewards, terminated, truncated

    def _over(self, state):
        return state.done

    def _acting(self, state):
        from jaxgames.env import SIMULTANEOUS, TERMINAL

        player = jnp.where(state.done, TERMINAL, SIMULTANEOUS).astype(jnp.int32)
        return player, jnp.asarray(self._legal)

    def _observe(self, state, params):
        return state.state

    def _policy_rows(self, tables, state):
        return jnp.stack([pad_last(t[state.state], self.num_actions, 1.0) for t in tables])


def discounted_returns(trajectory: Trajectory, discount) -> jax.Array:
    """``[..., N]``: ``sum_t discount^step_count[t] rewards[t]`` over the trajectory's time axis
    (the sum of the discounted returns of the episodes it holds; one episode when
    ``num_steps == max_episode_steps``)."""
    if not isinstance(trajectory, Trajectory) or not isinstance(trajectory.state, MarkovState):
        raise ValueError(f"trajectory: expected the Trajectory of a MarkovEnv rollout, got {type(trajectory).__name__}")
    discount = check_scalar(discount, "discount", low=0.0, high=1.0)
    w = jnp.asarray(discount, trajectory.rewards.dtype) ** trajectory.state.step_count
    return jnp.sum(w[..., None] * trajectory.rewards, axis=-2)
