"""The repeated matrix game, on the one simulator contract (``jaxgames/env.py``).

All players act at once every round; the observation is the previous joint action (``-1``
before the first round) and an episode *terminates* after ``num_rounds`` rounds::

    env = jaxgames.make_env(game, num_rounds=10)     # or RepeatedMatrixEnv(game, 10)
    state, ts = env.reset(key)
    state, ts = env.step(key, state, actions)          # actions: int [N]

``feedback="expected"`` (the default) pays each player its payoff of the joint action.
``feedback="bernoulli"`` is the simulator of a *preference game* (``preference_game(P)``, payoff
``P - 1/2``): a round is one preference query between response ``a_0`` and ``a_1``, whose outcome is
drawn ``o ~ Bernoulli(P[a_0, a_1])``; player 0 receives ``o - 1/2`` and player 1 ``1/2 - o``, so the
expected reward is the game's payoff (the sampled feedback of Nash learning from human feedback).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.env import (  # noqa: F401
    INT32_MAX,
    SIMULTANEOUS,
    TERMINAL,
    Environment,
    TimeStep,
    Trajectory,
    pad_last,
    rollout,
)
from jaxgames.matrix.game import MatrixGame
from jaxgames.matrix.preference import check_preference_game
from jaxgames.validation import check_bool, check_choice, check_int

#: what ``RepeatedMatrixEnv(feedback=...)`` pays
FEEDBACK = ("expected", "bernoulli")


class EnvState(NamedTuple):
    round: jax.Array  # int32 [], rounds played in this episode
    last_actions: jax.Array  # int32 [N], previous joint action (-1 before round 1)
    done: jax.Array  # bool [], the episode is over


class RepeatedMatrixEnv(Environment):
    """The matrix game ``game`` played for ``num_rounds`` rounds with simultaneous moves."""

    simultaneous = True

    def __init__(self, game: MatrixGame, num_rounds: int = 1, feedback: str = "expected", autoreset: bool = True):
        if not isinstance(game, MatrixGame):
            raise ValueError(f"game: expected a MatrixGame, got {type(game).__name__}")
        self.num_rounds = check_int(num_rounds, "num_rounds", low=1, high=INT32_MAX)
        self.feedback = check_choice(feedback, "feedback", FEEDBACK)
        self.autoreset = check_bool(autoreset, "autoreset")
        if feedback == "bernoulli":
            check_preference_game(game, "game")
        self.game = game
        self.num_players = game.num_players
        self.action_counts = tuple(game.num_actions)
        self.num_actions = max(self.action_counts)
        self.action_shape = (self.num_players,)
        self.noise_size = 1
        self._legal = np.arange(self.num_actions)[None, :] < np.asarray(self.action_counts)[:, None]

    def __repr__(self):
        return f"RepeatedMatrixEnv({self.game!r}, num_rounds={self.num_rounds}, feedback={self.feedback!r})"

    def _check_params(self, game):
        if not isinstance(game, MatrixGame) or tuple(game.num_actions) != self.action_counts:
            raise self._params_error(f"a MatrixGame with actions {self.action_counts}", game)

    def _dtype(self, params):
        return (self.game if params is None else params).own_first[0].dtype

    def _initial(self, u, params, ctx):
        n = self.num_players
        return EnvState(jnp.zeros((), jnp.int32), -jnp.ones((n,), jnp.int32), jnp.zeros((), bool))

    def _transition(self, u, state, actions, params, ctx):
        rewards = params.payoff(actions)
        if self.feedback == "bernoulli":  # o ~ Bernoulli(P[a0, a1]) with P = payoff_0 + 1/2
            outcome = (u[0] < rewards[0] + 0.5).astype(rewards.dtype)
            rewards = jnp.stack([outcome - 0.5, 0.5 - outcome])
        rnd = state.round + 1
        done = rnd >= self.num_rounds
        return EnvState(rnd, actions, done), rewards, done, jnp.zeros((), bool)

    def _over(self, state):
        return state.done

    def _acting(self, state):
        return jnp.where(state.done, TERMINAL, SIMULTANEOUS).astype(jnp.int32), jnp.asarray(self._legal)

    def _observe(self, state, params):
        return state.last_actions

    def _policy_rows(self, tables, state):
        return jnp.stack([pad_last(t, self.num_actions, 1.0) for t in tables])
