"""A simulator of any tabular Markov game: pure ``reset`` / ``step`` functions.

The gymnax / pgx idiom on top of a ``MarkovGame``'s arrays::

    env = MarkovEnv(game, max_episode_steps=200)
    state, ts = env.reset(key)                           # s_0 ~ game.initial
    state, ts = env.step(key, state, actions)            # actions: int [N], simultaneous
    state, ts = env.step_autoreset(key, state, actions)  # a new episode after each one ends

A step draws ``s' ~ transitions[s, a_1, ..., a_N, :]`` by inverse CDF from one
uniform number and pays ``rewards[:, s, a_1, ..., a_N]`` (``[N]``). Every
method takes an optional ``game`` last argument of the same sizes (default:
the constructor's), whose leaves may be traced, so
``jax.vmap(env.step)(keys, states, actions, games)`` simulates a batch of games.

**Episodes.** A discounted game never ends by itself; an episode ends
(``ts.done``) after ``max_episode_steps`` steps, or after ``game.horizon``
steps for a finite-horizon game (the smaller of the two). With neither, episodes
never end. ``step`` on an ended episode is a no-op (state unchanged, zero
rewards); ``step_autoreset`` instead starts a new episode at once: the returned
state is the new episode's first state while ``ts.rewards`` / ``ts.done``
report the transition that ended the old one (the gymnax convention).

**Estimating values.** The discounted return of an episode truncated after
``H`` steps, ``sum_{t<H} gamma^t r_t``, estimates ``evaluate(policy).values``
with a bias of at most ``gamma^H max|r| / (1 - gamma)`` (the tail it drops);
``rollout`` with ``num_steps = max_episode_steps = H`` plays exactly one such
episode per environment. (An unbiased alternative is geometric termination:
end each step with probability ``1 - gamma`` and sum undiscounted rewards.)

**Invalid actions.** Out-of-range actions raise ``ValueError`` when the actions
are concrete; under tracing they are clipped to the valid range.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.core import Policy, is_concrete
from jaxgames.markov.game import MarkovGame


class MarkovState(NamedTuple):
    """The simulator's state (one environment; ``vmap`` adds a batch axis)."""

    state: jax.Array        # int32 []: the current game state
    step_count: jax.Array   # int32 []: steps taken in this episode
    done: jax.Array         # bool []: the episode is over


class TimeStep(NamedTuple):
    """What the agents see after ``reset`` / ``step`` (fully observed: the state index)."""

    observation: jax.Array  # int32 []: the current state (the new episode's first after an auto-reset)
    rewards: jax.Array      # float [N]: rewards of this transition (0 after reset)
    done: jax.Array         # bool []: this transition ended an episode


class Trajectory(NamedTuple):
    """Per-step records of ``rollout`` (``[num_steps, ...]``, batch axis first when batched)."""

    state: jax.Array        # int32 [T]: the state acted in
    actions: jax.Array      # int32 [T, N]: the joint action
    rewards: jax.Array      # float [T, N]
    done: jax.Array         # bool [T]: this step ended an episode (the next starts a new one)
    step_count: jax.Array   # int32 [T]: the step's index within its episode (for discounting)


class MarkovEnv:
    """The simulator of ``game`` (a ``MarkovGame``); see the module docstring for the semantics."""

    def __init__(self, game: MarkovGame, max_episode_steps: int | None = None):
        if not isinstance(game, MarkovGame):
            raise ValueError(f"game: expected a MarkovGame, got {type(game).__name__}")
        if max_episode_steps is not None:
            if isinstance(max_episode_steps, bool) or int(max_episode_steps) != max_episode_steps \
                    or max_episode_steps < 1:
                raise ValueError(f"max_episode_steps: expected None or an integer >= 1, got {max_episode_steps!r}")
            max_episode_steps = int(max_episode_steps)
        self.game = game
        limits = [x for x in (max_episode_steps, game.horizon) if x is not None]
        #: steps after which an episode ends (None: never)
        self.episode_length = min(limits) if limits else None
        self.max_episode_steps = max_episode_steps
        self.num_players = game.num_players
        self.num_states = game.num_states
        self.num_actions = game.num_actions

    def __repr__(self):
        return f"MarkovEnv({self.game!r}, episode_length={self.episode_length})"

    def _game(self, game):
        if game is None:
            return self.game
        if not isinstance(game, MarkovGame) or game.num_actions != self.num_actions \
                or game.num_states != self.num_states:
            raise ValueError(f"game: expected a MarkovGame with {self.num_states} states and actions "
                             f"{self.num_actions} like the environment's, got {game!r}")
        return game

    # -- the simulator -----------------------------------------------------------
    def reset(self, key: jax.Array, game: MarkovGame | None = None) -> tuple[MarkovState, TimeStep]:
        """A new episode: ``s_0 ~ game.initial``."""
        game = self._game(game)
        s = simplex.draw(jax.random.uniform(key, (), game.initial.dtype), game.initial)
        return self._start(s, game)

    def step(self, key: jax.Array, state: MarkovState, actions, game: MarkovGame | None = None
             ) -> tuple[MarkovState, TimeStep]:
        """All players act at once; ``s' ~ transitions[s, actions]``. No-op on an ended episode."""
        game = self._game(game)
        actions = self._check_actions(actions)
        u = jax.random.uniform(key, (), game.initial.dtype)
        s, rewards, count, done = self._transition(game, state, actions, u)
        new = MarkovState(jnp.where(state.done, state.state, s), jnp.where(state.done, state.step_count, count),
                          state.done | done)
        rewards = jnp.where(state.done, 0.0, rewards)
        return new, TimeStep(new.state, rewards, done & ~state.done)

    def step_autoreset(self, key: jax.Array, state: MarkovState, actions, game: MarkovGame | None = None
                       ) -> tuple[MarkovState, TimeStep]:
        """Like ``step``, but an episode that ends is replaced at once by a new one.

        Given an already ended state it starts a new episode (zero rewards, the actions ignored).
        """
        game = self._game(game)
        actions = self._check_actions(actions)
        u = jax.random.uniform(key, (2,), game.initial.dtype)
        return self._autoreset(game, state, actions, u)

    # -- internals ---------------------------------------------------------------
    def _start(self, s, game) -> tuple[MarkovState, TimeStep]:
        zero = jnp.zeros((), jnp.int32)
        state = MarkovState(s, zero, jnp.zeros((), bool))
        return state, TimeStep(s, jnp.zeros((self.num_players,), game.rewards.dtype), jnp.zeros((), bool))

    def _transition(self, game, state, actions, u, cdf=None):
        idx = (state.state, *[actions[i] for i in range(self.num_players)])
        rewards = game.rewards[(slice(None), *idx)]
        s = simplex.draw(u, game.transitions[idx]) if cdf is None else simplex.inverse_cdf(u, cdf[idx])
        count = state.step_count + 1
        done = (count >= self.episode_length) if self.episode_length is not None else jnp.zeros((), bool)
        return s, rewards, count, done

    def _autoreset(self, game, state, actions, u, cdfs=None):
        """``cdfs``: optional precomputed ``(cumsum of transitions, cumsum of initial)`` (rollouts)."""
        s, rewards, count, done = self._transition(game, state, actions, u[0], None if cdfs is None else cdfs[0])
        rewards = jnp.where(state.done, 0.0, rewards)
        restart = state.done | done
        first = simplex.draw(u[1], game.initial) if cdfs is None else simplex.inverse_cdf(u[1], cdfs[1])
        s = jnp.where(restart, first, s)
        new = MarkovState(s, jnp.where(restart, 0, count).astype(jnp.int32), jnp.zeros((), bool))
        return new, TimeStep(s, rewards, done & ~state.done)

    def _check_actions(self, actions) -> jax.Array:
        if not isinstance(actions, jax.Array) or actions.dtype != jnp.int32:
            actions = jnp.asarray(actions)
            if not jnp.issubdtype(actions.dtype, jnp.integer):
                raise ValueError(f"actions: expected integer action ids, got dtype {actions.dtype}")
            actions = actions.astype(jnp.int32)
        if actions.shape != (self.num_players,):
            raise ValueError(f"actions: expected shape ({self.num_players},) (one action per player; vmap "
                             f"for a batch), got {actions.shape}")
        high = jnp.asarray(self.num_actions, jnp.int32)
        if is_concrete(actions):
            a = np.asarray(actions)
            bad = (a < 0) | (a >= np.asarray(self.num_actions))
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"actions: player {i}'s action {int(a[i])} is out of range "
                                 f"[0, {self.num_actions[i]})")
        return jnp.clip(actions, 0, high - 1)


def sample_actions(key: jax.Array, state: MarkovState, policy: Policy) -> jax.Array:
    """Joint action ``int32 [N]`` drawn from ``policy[i][state.state]`` for every player."""
    u = jax.random.uniform(key, (len(policy),), jnp.result_type(float))
    return _policy_actions(u, state.state, policy)


def _policy_actions(u, s, policy, cumulative: bool = False):
    if cumulative:   # ``policy`` holds cumulative sums over actions
        return jnp.stack([simplex.inverse_cdf(u[i], p[s]) for i, p in enumerate(policy)])
    return jnp.stack([simplex.draw(u[i], jnp.maximum(p[s], 0.0)) for i, p in enumerate(policy)])


def rollout(key: jax.Array, env: MarkovEnv, policy: Policy | None, num_steps: int,
            batch_size: int | None = None, game: MarkovGame | None = None,
            ) -> tuple[MarkovState, Trajectory]:
    """Play ``num_steps`` auto-resetting steps; returns ``(final_state, trajectory)``.

    Actions are drawn from ``policy`` (per player ``[S, A_i]``), uniformly when
    ``None``. With ``batch_size`` ``B``, ``B`` independent environments run at
    once (``jax.vmap`` over keys) and every array gains a leading ``[B]`` axis.
    All random numbers of a step come from one ``uniform`` draw.
    The discounted return of each episode is
    ``sum_t game.discount ** traj.step_count[t] * traj.rewards[t]``.
    """
    game = env._game(game)
    if policy is None:
        policy = game.uniform_policy()
    else:
        policy = game.validate_policy(policy)
    num_steps = int(num_steps)
    n = env.num_players
    # cumulative sums once per rollout: a step is then gathers and one comparison per entry
    policy_cdf = tuple(jnp.cumsum(jnp.maximum(p, 0.0), axis=-1) for p in policy)
    cdfs = (jnp.cumsum(game.transitions, axis=-1), jnp.cumsum(game.initial))

    def one(key):
        k_reset, k_run = jax.random.split(key)
        state, _ = env.reset(k_reset, game)
        uniforms = jax.random.uniform(k_run, (num_steps, n + 2), game.initial.dtype)

        def body(state, u):
            actions = _policy_actions(u[:n], state.state, policy_cdf, cumulative=True)
            new, ts = env._autoreset(game, state, actions, u[n:], cdfs)
            return new, Trajectory(state.state, actions, ts.rewards, ts.done, state.step_count)

        return jax.lax.scan(body, state, uniforms)

    if batch_size is None:
        return one(key)
    return jax.vmap(one)(jax.random.split(key, int(batch_size)))


def discounted_returns(trajectory: Trajectory, discount) -> jax.Array:
    """``[..., N]``: ``sum_t discount^step_count[t] rewards[t]`` over the trajectory's time axis
    (the sum of the discounted returns of the episodes it holds; one episode when
    ``num_steps == max_episode_steps``)."""
    w = jnp.asarray(discount, trajectory.rewards.dtype) ** trajectory.step_count
    return jnp.sum(w[..., None] * trajectory.rewards, axis=-2)
