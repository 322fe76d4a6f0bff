"""Contextual preference games: the tabular testbed of the alignment papers, with its simulator.

A prompt (context) ``c ~ rho`` is drawn, each player answers with a response, and a judge prefers
``y`` to ``y'`` with probability ``P_c[y, y']`` (``P_c + P_c^T = 1``). A policy gives a response
distribution per context, ``[C, A]`` per player, and player 0's payoff is

    u(x, y) = sum_c rho_c  x_c^T (P_c - 1/2) y_c,         player 1's is ``-u`` (zero-sum, symmetric),

the preference game of each context (``preference_game(P_c)``, Munos et al. 2023) averaged over
contexts. Contexts are independent chance outcomes, so every quantity is per context:

* ``action_values``: ``q_0[c] = (P_c - 1/2) y_c``, ``q_1[c] = -(P_c - 1/2)^T x_c``, the values
  *given* context ``c`` (as in an extensive-form game whose first move is chance;
  ``opponent_reach = rho``);
* ``context_gaps(policy) [C]``: the duality gap of each context,
  ``max_a ((P_c - 1/2) y_c)_a - min_b (x_c^T (P_c - 1/2))_b`` (``2 max_a P_c(a ≻ pi_c) - 1`` for a
  symmetric policy ``x = y = pi``);
* ``nash_conv = sum_c rho_c context_gaps[c]``, the expected duality gap; ``exploitability`` is
  ``nash_conv / 2`` (the contract's convention, as for ``preference_game``): for a symmetric
  policy the NLHF papers' ``E_c max_y P_c(y ≻ pi_c) - 1/2``.

The simulator (``jaxgames.make_env(game)`` -> ``ContextualPreferenceEnv``) plays one query per
episode: reset draws ``c ~ rho`` (the observation), both players respond at once, and the
outcome ``o ~ Bernoulli(P_c[y, y'])`` pays ``o - 1/2`` to player 0 and ``1/2 - o`` to player 1
(``feedback="expected"`` pays ``P_c[y, y'] - 1/2`` instead)::

    import jax, jaxgames
    from jaxgames.matrix import random_contextual_preference
    game = random_contextual_preference(jax.random.key(0), num_contexts=4, num_responses=5)
    game.exploitability(game.uniform_policy())            # exact
    env = jaxgames.make_env(game)
    _, traj = jaxgames.rollout(jax.random.key(1), env, None, 1, batch_size=1024)
    traj.state.context, traj.action, traj.rewards          # [1024, 1], [1024, 1, 2], [1024, 1, 2]
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.core import Evaluation, Game, Policy, as_float_array, check_finite, is_concrete
from jaxgames.env import SIMULTANEOUS, TERMINAL, Environment
from jaxgames.matrix.preference import PREFERENCE_ATOL, bradley_terry_preferences, random_intransitive_preferences
from jaxgames.validation import (
    check_bool,
    check_choice,
    check_int,
    check_key,
    check_probabilities,
    check_scalar,
    check_table_bytes,
    table_bytes,
)

#: what ``random_contextual_preference(kind=...)`` draws
KINDS = ("bradley_terry", "intransitive")
#: what ``ContextualPreferenceEnv(feedback=...)`` pays
FEEDBACK = ("bernoulli", "expected")


@jax.tree_util.register_pytree_node_class
class ContextualPreferenceGame(Game):
    """``preferences [C, A, A]`` (``P_c[y, y'] = Pr(y ≻ y' | c)``), ``context_probs [C]`` (uniform by
    default). Policies are ``([C, A], [C, A])``. Shapes are always checked; values (entries in
    [0, 1], ``P_c + P_c^T = 1``, ``rho`` on the simplex) when concrete, so the constructor also
    works on tracers (``jax.vmap(ContextualPreferenceGame)(batch)``)."""

    num_players = 2

    def __init__(self, preferences, context_probs=None):
        P = as_float_array(preferences, "preferences")
        if P.ndim != 3 or P.shape[1] != P.shape[2] or min(P.shape) < 1:
            raise ValueError(
                "preferences: expected shape [C, A, A] (one square preference matrix per "
                f"context, C, A >= 1), got {tuple(P.shape)}"
            )
        check_finite(P, "preferences")
        if is_concrete(P):
            arr = np.asarray(P, np.float64)
            if arr.min() < -PREFERENCE_ATOL or arr.max() > 1 + PREFERENCE_ATOL:
                raise ValueError(
                    f"preferences: expected probabilities in [0, 1], got range [{arr.min():.3g}, {arr.max():.3g}]"
                )
            err = np.abs(arr + np.swapaxes(arr, 1, 2) - 1.0).max(axis=(1, 2))
            if err.max() > PREFERENCE_ATOL:
                raise ValueError(
                    f"preferences: expected P_c + P_c^T = 1 in every context (P_c[y, y'] = "
                    f"Pr(y beats y')), context {int(err.argmax())} is off by {err.max():.3g}"
                )
        C = P.shape[0]
        if context_probs is None:
            rho = jnp.full((C,), 1.0 / C, P.dtype)
        else:
            rho = as_float_array(context_probs, "context_probs").astype(P.dtype)
            if rho.shape != (C,):
                raise ValueError(
                    f"context_probs: expected shape ({C},), one probability per context, got {tuple(rho.shape)}"
                )
            check_probabilities(rho, "context_probs")
        self.preferences, self.context_probs = P, rho

    # pytree: unflattening bypasses __init__, so tracers and sentinels pass through.
    def tree_flatten(self):
        return (self.preferences, self.context_probs), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        game = object.__new__(cls)
        game.preferences, game.context_probs = children
        return game

    def __repr__(self):
        return (
            f"ContextualPreferenceGame(num_contexts={self.num_contexts}, "
            f"num_responses={self.num_responses}, dtype={self.preferences.dtype})"
        )

    @property
    def num_contexts(self) -> int:
        return self.preferences.shape[-3]

    @property
    def num_responses(self) -> int:
        return self.preferences.shape[-1]

    @property
    def payoff_matrices(self) -> jax.Array:
        """``[C, A, A]``: ``P_c - 1/2``, player 0's payoff in each context."""
        return self.preferences - 0.5

    # -- the contract ---------------------------------------------------------------------------
    def legal_mask(self) -> Policy:
        shape = (self.num_contexts, self.num_responses)
        return (jnp.ones(shape, bool), jnp.ones(shape, bool))

    def legal_mask_host(self) -> tuple:
        shape = (self.num_contexts, self.num_responses)
        return (np.ones(shape, bool), np.ones(shape, bool))

    def reach(self, policy: Policy) -> Policy:
        return tuple(jnp.ones(p.shape[:-1], p.dtype) for p in policy)

    def action_values(self, policy: Policy) -> Policy:
        """``(q_0, q_1)`` ``[C, A]``: each response's expected payoff given the context."""
        M = self.payoff_matrices
        x, y = policy
        return (jnp.einsum("cab,cb->ca", M, y), -jnp.einsum("cab,ca->cb", M, x))

    def evaluate(self, policy: Policy) -> Evaluation:
        q = self.action_values(policy)
        rho = self.context_probs
        values = jnp.stack([jnp.sum(rho * jnp.sum(p * qi, axis=-1)) for p, qi in zip(policy, q)])
        chance = jnp.broadcast_to(rho, policy[0].shape[:-1]).astype(policy[0].dtype)
        return Evaluation(values=values, action_values=q, reach=self.reach(policy), opponent_reach=(chance, chance))

    def best_response(self, policy: Policy) -> Policy:
        return tuple(simplex.one_hot_argmax(qi, jnp.ones_like(qi, bool)) for qi in self.action_values(policy))

    def best_response_values(self, policy: Policy) -> jax.Array:
        return jnp.stack([jnp.dot(self.context_probs, jnp.max(qi, axis=-1)) for qi in self.action_values(policy)])

    def context_gaps(self, policy: Policy) -> jax.Array:
        """``[C]``: the duality gap ``max_a q_0[c, a] + max_b q_1[c, b]`` of each context (the two
        players' best-response gains given ``c``); ``rho . context_gaps = nash_conv``."""
        q0, q1 = self.action_values(policy)
        return jnp.max(q0, axis=-1) + jnp.max(q1, axis=-1)

    def nash_conv(self, policy: Policy) -> jax.Array:
        """``sum_c rho_c context_gaps[c]``, the expected duality gap (the values cancel: zero-sum)."""
        return jnp.dot(self.context_probs, self.context_gaps(policy))

    def smooth_best_response(self, policy: Policy, temperature, reference: Policy | None = None) -> Policy:
        """Per context, ``x_c ∝ ref_c exp(q_c / temperature)``; argmax at 0."""
        reference = self.uniform_policy() if reference is None else reference
        return tuple(
            simplex.logit_response(qi, jnp.ones_like(qi, bool), temperature, ri)
            for qi, ri in zip(self.action_values(policy), reference)
        )

    def regularized_nash_conv(self, policy: Policy, temperature, reference: Policy | None = None):
        """Expected gap to the KL-regularized equilibrium of every context (the beta-regularized NLHF
        objective): ``sum_c rho_c sum_i [t log sum_a ref exp(q / t) - (x . q - t KL(x || ref))]``, policy
        and reference ``[C, A]`` per player; ``nash_conv`` at ``t = 0``, and ``+inf`` for ``t > 0``
        where ``x`` puts mass on a response that ``ref`` excludes in a context of positive probability."""
        reference = self.uniform_policy() if reference is None else reference
        q = self.action_values(policy)
        t = jnp.asarray(temperature, q[0].dtype)
        gap, infinite = 0.0, False
        for x, qi, ri in zip(policy, q, reference):
            ri = jnp.broadcast_to(ri, qi.shape)
            best = jnp.where(t > 0, simplex.soft_max_value(qi, ri, t), jnp.max(qi, axis=-1))
            per_context = best - (jnp.sum(x * qi, axis=-1) - t * simplex.kl(x, ri))
            gap = gap + jnp.dot(self.context_probs, per_context)
            infinite = infinite | jnp.any((self.context_probs[:, None] > 0) & (x > 0) & (ri <= 0))
        return jnp.where((t > 0) & infinite, jnp.inf, gap)


def check_contextual_preference_game(game, field: str = "game") -> None:
    """Raise ``ValueError`` naming ``field`` unless ``game`` is one unbatched ``ContextualPreferenceGame``."""
    if not isinstance(game, ContextualPreferenceGame):
        raise ValueError(
            f"{field}: expected a contextual preference game "
            f"(jaxgames.matrix.ContextualPreferenceGame; a single preference matrix P is "
            f"ContextualPreferenceGame(P[None])), got {type(game).__name__}"
        )
    if game.preferences.ndim != 3 or game.context_probs.ndim != 1:
        raise ValueError(
            f"{field}: expected one unbatched contextual preference game (vmap over batches), "
            f"got preferences of shape {tuple(game.preferences.shape)}"
        )


def random_contextual_preference(
    key,
    num_contexts: int,
    num_responses: int,
    kind: str = "intransitive",
    scale: float = 1.0,
    cyclic_scale: float = 1.0,
    context_probs=None,
    max_bytes: int | None = None,
) -> ContextualPreferenceGame:
    """Independent random preferences per context: ``kind="bradley_terry"`` (transitive,
    ``P_c[i, j] = sigmoid(s_ci - s_cj)``, ``s ~ N(0, scale^2)``) or ``"intransitive"``
    (``sigmoid(s_ci - s_cj + C_c,ij)``, ``C_c`` skew-symmetric Gaussian times ``cyclic_scale``).
    ``context_probs``: ``None`` (uniform), ``"random"`` (Dirichlet(1)) or a ``[C]`` vector.
    ``max_bytes`` bounds the ``[C, A, A]`` preference tensor (see ``jaxgames.validation``)."""
    C = check_int(num_contexts, "num_contexts", low=1)
    A = check_int(num_responses, "num_responses", low=1)
    check_choice(kind, "kind", KINDS)
    # drawing holds the Gaussian noise and the result: two tensors of the final size
    check_table_bytes(
        2 * table_bytes((C, A, A)),
        "num_contexts, num_responses",
        f"the preference tensor [{C}, {A}, {A}] (twice, while drawing it)",
        max_bytes,
    )
    scale = check_scalar(scale, "scale", low=0)
    cyclic_scale = check_scalar(cyclic_scale, "cyclic_scale", low=0)
    if isinstance(context_probs, str) and context_probs != "random":
        raise ValueError(f"context_probs: expected None, 'random' or a [C] vector, got {context_probs!r}")
    key = check_key(key, "key", "random_contextual_preference")
    k_pref, k_rho = jax.random.split(key)
    keys = jax.random.split(k_pref, C)
    if kind == "bradley_terry":
        P = jax.vmap(lambda k: bradley_terry_preferences(k, A, scale, max_bytes=max_bytes))(keys)
    else:
        P = jax.vmap(lambda k: random_intransitive_preferences(k, A, scale, cyclic_scale, max_bytes=max_bytes))(keys)
    if isinstance(context_probs, str):
        context_probs = jax.random.dirichlet(k_rho, jnp.ones((C,), P.dtype))
    return ContextualPreferenceGame(P, context_probs)


# --------------------------------------------------------------------------------- the simulator


class ContextState(NamedTuple):
    context: jax.Array  # int32 [], the prompt of this episode
    done: jax.Array  # bool [], the query has been answered


class ContextualPreferenceEnv(Environment):
    """One preference query per episode: ``c ~ rho`` at reset (the observation), both players respond
    (``action int [2]``), ``o ~ Bernoulli(P_c[y, y'])`` pays ``(o - 1/2, 1/2 - o)`` and terminates
    (``feedback="expected"``: ``(P_c[y, y'] - 1/2, 1/2 - P_c[y, y'])``)."""

    simultaneous = True
    num_players = 2
    action_shape = (2,)
    noise_size = 2  # u[0]: the outcome, u[1]: the (next episode's) context

    def __init__(self, game: ContextualPreferenceGame, feedback: str = "bernoulli", autoreset: bool = True):
        check_contextual_preference_game(game)
        check_choice(feedback, "feedback", FEEDBACK)
        self.game, self.feedback, self.autoreset = game, feedback, check_bool(autoreset, "autoreset")
        self.num_actions = game.num_responses
        self._shape = tuple(game.preferences.shape)

    def __repr__(self):
        return f"ContextualPreferenceEnv({self.game!r}, feedback={self.feedback!r})"

    def _check_params(self, game):
        if not isinstance(game, ContextualPreferenceGame) or tuple(game.preferences.shape) != self._shape:
            raise ValueError(
                f"params: expected a ContextualPreferenceGame with preferences of shape "
                f"{self._shape} like the environment's, got {game!r}"
            )

    def _dtype(self, params):
        return (self.game if params is None else params).preferences.dtype

    def _prepare(self, params):
        return jnp.cumsum(params.context_probs)

    def _initial(self, u, params, cdf):
        return ContextState(simplex.inverse_cdf(u[1], cdf), jnp.zeros((), bool))

    def _transition(self, u, state, actions, params, ctx):
        p = params.preferences[state.context, actions[0], actions[1]]
        o = (u[0] < p).astype(p.dtype) if self.feedback == "bernoulli" else p
        rewards = jnp.stack([o - 0.5, 0.5 - o])
        return state._replace(done=jnp.ones((), bool)), rewards, jnp.ones((), bool), jnp.zeros((), bool)

    def _over(self, state):
        return state.done

    def _acting(self, state):
        player = jnp.where(state.done, TERMINAL, SIMULTANEOUS).astype(jnp.int32)
        return player, jnp.ones((2, self.num_actions), bool)

    def _observe(self, state, params):
        return state.context

    def _policy_rows(self, tables, state):
        return jnp.stack([t[state.context] for t in tables])
