"""The stage games of a Markov game, as one batched matrix game: ``S`` normal-form games side by side.

Shapley's (1953) reduction: for state values ``V [N, S]``, state ``s`` of a
Markov game is the normal-form game with payoffs
``Q_i(s, a) = r_i(s, a) + gamma sum_s' P(s' | s, a) V_i(s')``
(``MarkovGame.joint_action_values``). ``StageGames(payoffs)`` holds all of
them, ``payoffs[i, s, a_1, ..., a_N]``, and implements the ``Game`` contract
with the Markov game's policy shapes (``[S, A_i]`` per player): player ``i``'s
action values at ``s`` are ``q_i[s, a_i] = sum_{a_-i} payoffs[i, s, a] prod_{j != i}
pi_j[s, a_j]``, its value is the *sum* over states of its stage payoffs, every
state is reached with weight 1 (so ``mix_policies`` mixes every state with the
plain weight ``alpha``), and ``nash_conv`` is the sum of the stage games'
NashConvs. Every matrix-game solver therefore runs on all stage games at once,
unchanged: that is how the Markov-game solvers (``solvers.value_iteration``,
``solvers.policy_extragradient``, ``solvers.smooth_value_iteration``,
``solvers.markov_fictitious_play``) reuse the matrix-game machinery instead of
re-implementing it.

Example::

    stage = StageGames(game.joint_action_values(values))   # values [N, S]
    state, trace = solvers.run(solvers.regret_matching_plus(), stage, 1000)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.core import Evaluation, Game, Policy
from jaxgames.markov.game import contract_actions


@jax.tree_util.register_pytree_node_class
class StageGames(Game):
    """``S`` independent ``N``-player normal-form games: ``payoffs [N, S, A_1, ..., A_N]``.

    Usually built from ``MarkovGame.joint_action_values``; only the shape of ``payoffs`` is
    checked (the Markov game's values are validated where they are made).
    """

    def __init__(self, payoffs):
        payoffs = jnp.asarray(payoffs)
        if payoffs.ndim < 3 or payoffs.ndim != payoffs.shape[0] + 2:
            raise ValueError(f"payoffs: expected shape [N, S, A_1, ..., A_N], got {tuple(payoffs.shape)}")
        self.payoffs = payoffs

    @classmethod
    def zero_sum(cls, payoff: jax.Array) -> StageGames:
        """Two-player zero-sum stage games: player 0 gets ``payoff [S, A_1, A_2]``, player 1 its negative."""
        return cls(jnp.stack([payoff, -payoff]))

    def tree_flatten(self):
        return (self.payoffs,), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        game = object.__new__(cls)
        game.payoffs = children[0]
        return game

    @property
    def num_players(self) -> int:
        return self.payoffs.shape[0]

    @property
    def num_states(self) -> int:
        return self.payoffs.shape[1]

    @property
    def num_actions(self) -> tuple:
        return tuple(self.payoffs.shape[2:])

    def legal_mask(self) -> Policy:
        return tuple(jnp.ones((self.num_states, a), bool) for a in self.num_actions)

    def legal_mask_host(self) -> tuple:
        return tuple(np.ones((self.num_states, a), bool) for a in self.num_actions)

    def reach(self, policy: Policy) -> Policy:
        return tuple(jnp.ones(p.shape[:-1], p.dtype) for p in policy)

    def action_values(self, policy: Policy) -> Policy:
        """``q_i [S, A_i]``: each player's stage payoff of each action against the others."""
        return tuple(contract_actions(self.payoffs[i], policy, i) for i in range(self.num_players))

    def state_values(self, policy: Policy) -> jax.Array:
        """``[N, S]``: every player's expected payoff in every stage game."""
        q = self.action_values(policy)
        return jnp.stack([jnp.sum(p * qi, axis=-1) for p, qi in zip(policy, q)])

    def evaluate(self, policy: Policy) -> Evaluation:
        q = self.action_values(policy)
        values = jnp.stack([jnp.sum(p * qi) for p, qi in zip(policy, q)])
        ones = self.reach(policy)
        return Evaluation(values=values, action_values=q, reach=ones, opponent_reach=ones)

    def best_response(self, policy: Policy) -> Policy:
        return tuple(simplex.one_hot_argmax(qi, jnp.ones_like(qi, bool)) for qi in self.action_values(policy))

    def best_response_values(self, policy: Policy) -> jax.Array:
        return jnp.stack([jnp.sum(jnp.max(qi, axis=-1)) for qi in self.action_values(policy)])

    def smooth_best_response(self, policy: Policy, temperature, reference: Policy | None = None) -> Policy:
        """Logit response ``pi_i[s] ∝ ref_i[s] exp(q_i[s] / temperature)`` in every stage game (argmax at 0).

        ``reference``: ``([S, A_i], ...)``, default uniform (``jaxgames.capabilities.SmoothBestResponse``).
        """
        q = self.action_values(policy)
        refs = (None,) * len(q) if reference is None else reference
        return tuple(simplex.logit_response(qi, jnp.ones_like(qi, bool), temperature, ri) for qi, ri in zip(q, refs))

    def payoff_spread(self) -> jax.Array:
        """The largest spread ``max - min`` of one player's payoffs in one stage game
        (``jaxgames.capabilities.PayoffSpread``)."""
        axes = tuple(range(2, self.payoffs.ndim))
        return jnp.max(jnp.max(self.payoffs, axis=axes) - jnp.min(self.payoffs, axis=axes))
