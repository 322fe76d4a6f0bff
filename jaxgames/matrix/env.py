"""A simulator of the repeated matrix game: pure ``reset`` / ``step`` functions.

The gymnax / pgx idiom: state is an explicit pytree, the game is a parameter
argument (so ``jax.vmap(env.step, in_axes=(0, 0, 0, 0))`` sweeps over games),
and all players act simultaneously every round::

    env = RepeatedMatrixGame(num_rounds=10)
    state, ts = env.reset(key, game)
    state, ts = env.step(key, state, actions, game)   # actions: int [N]

The observation is the previous joint action (``-1`` before the first round).
After the last round ``ts.done`` is true; stepping a finished episode starts a
new one (auto-reset), so long batched rollouts need no host-side logic.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgames.core import Policy
from jaxgames.matrix.game import MatrixGame


class EnvState(NamedTuple):
    round: jax.Array         # int32 [], rounds played in this episode
    last_actions: jax.Array  # int32 [N], previous joint action (-1 before round 1)
    done: jax.Array          # bool [], the episode is over


class TimeStep(NamedTuple):
    observation: jax.Array   # int32 [N], previous joint action
    rewards: jax.Array       # float [N], payoffs of this round
    done: jax.Array          # bool []
    legal_action_mask: Policy  # per player bool [A_i] (all legal in a matrix game)


class RepeatedMatrixGame:
    """The matrix game played for ``num_rounds`` rounds with simultaneous moves."""

    def __init__(self, num_rounds: int = 1):
        if int(num_rounds) < 1:
            raise ValueError(f"num_rounds: expected an integer >= 1, got {num_rounds!r}")
        self.num_rounds = int(num_rounds)

    def reset(self, key: jax.Array, game: MatrixGame) -> tuple[EnvState, TimeStep]:
        del key  # the initial state is deterministic
        n = game.num_players
        state = EnvState(jnp.zeros((), jnp.int32), -jnp.ones((n,), jnp.int32), jnp.zeros((), bool))
        return state, self._timestep(state, jnp.zeros((n,), game.own_first[0].dtype), game)

    def step(self, key: jax.Array, state: EnvState, actions: jax.Array,
             game: MatrixGame) -> tuple[EnvState, TimeStep]:
        """Play one round; a finished episode is reset first (auto-reset)."""
        fresh, _ = self.reset(key, game)
        state = jax.tree_util.tree_map(lambda a, b: jnp.where(state.done, a, b), fresh, state)
        actions = jnp.asarray(actions, jnp.int32)
        rewards = game.payoff(actions)
        rnd = state.round + 1
        state = EnvState(rnd, actions, rnd >= self.num_rounds)
        return state, self._timestep(state, rewards, game)

    @staticmethod
    def _timestep(state: EnvState, rewards, game: MatrixGame) -> TimeStep:
        return TimeStep(state.last_actions, rewards, state.done, game.legal_mask())


def sample_actions(key: jax.Array, policy: Policy) -> jax.Array:
    """One action per player drawn from the mixed strategies in ``policy``: int32 ``[N]``."""
    keys = jax.random.split(key, len(policy))
    return jnp.stack([jax.random.categorical(k, jnp.log(p)) for k, p in zip(keys, policy)]).astype(jnp.int32)


def rollout(key: jax.Array, env: RepeatedMatrixGame, game: MatrixGame, policy: Policy,
            num_steps: int) -> jax.Array:
    """Play ``num_steps`` rounds (auto-resetting) under a stationary policy; rewards ``[T, N]``."""
    state, _ = env.reset(key, game)

    def body(state, k):
        k_act, k_env = jax.random.split(k)
        state, ts = env.step(k_env, state, sample_actions(k_act, policy), game)
        return state, ts.rewards

    _, rewards = jax.lax.scan(body, state, jax.random.split(key, num_steps))
    return rewards
