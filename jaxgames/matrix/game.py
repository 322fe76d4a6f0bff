"""Normal-form (matrix) games with any number of players.

``MatrixGame(payoffs)`` holds ``payoffs[i, a_1, ..., a_N]``, player ``i``'s
payoff when the players take actions ``a_1, ..., a_N``. A policy is a tuple of
mixed strategies ``(x_1, ..., x_N)`` with ``x_i`` of shape ``[A_i]``.

Action values are ``q_i[a] = sum_{a_-i} payoffs[i, a, a_-i] prod_{j != i} x_j[a_j]``
(for two players, ``q_1 = A x_2`` and ``q_2 = B^T x_1``), computed by one
``einsum`` per player over that player's tensor stored own-action-axis first.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.core import Evaluation, Game, Policy, as_float_array, check_finite
from jaxgames.validation import check_player_axes


@jax.tree_util.register_pytree_node_class
class MatrixGame(Game):
    """An N-player normal-form game; ``payoffs`` has shape ``[N, A_1, ..., A_N]``.

    The constructor checks the shape always and, where the values are
    concrete, that they are finite; it also works on tracers inside ``jit`` and
    ``vmap`` (``jax.vmap(lambda A: zero_sum(A))(batch)``).
    """

    def __init__(self, payoffs):
        payoffs = as_float_array(payoffs, "payoffs")
        n = check_player_axes(payoffs, "payoffs", "[N, A_1, ..., A_N]", 1, 2)
        if min(payoffs.shape[1:]) < 1:
            raise ValueError(f"payoffs: every player needs >= 1 action, got shape {tuple(payoffs.shape)}")
        check_finite(payoffs, "payoffs")
        # Each player's payoff tensor is stored with that player's own action axis
        # first: evaluating q_i is then a contiguous row-major contraction, which
        # is what makes the solvers' inner loop run at memory bandwidth.
        # ``payoffs`` rebuilds the [N, A_1..A_N] view.
        self.own_first = tuple(jnp.moveaxis(payoffs[i], i, 0) for i in range(n))

    # pytree: unflattening bypasses __init__, so tracers and sentinels pass through.
    def tree_flatten(self):
        return self.own_first, None

    @classmethod
    def tree_unflatten(cls, aux, children):
        game = object.__new__(cls)
        game.own_first = tuple(children)
        return game

    def __repr__(self):
        batch = self.own_first[0].shape[: -self.num_players]
        extra = f", batch_shape={batch}" if batch else ""
        return f"MatrixGame(num_actions={self.num_actions}{extra}, dtype={self.own_first[0].dtype})"

    @property
    def num_players(self) -> int:
        return len(self.own_first)

    @property
    def num_actions(self) -> tuple:
        n = self.num_players
        return tuple(t.shape[-n] for t in self.own_first)

    @property
    def payoffs(self) -> jax.Array:
        """``[..., N, A_1, ..., A_N]``: player ``i``'s payoff at each joint action (leading batch axes kept)."""
        n = self.num_players
        return jnp.stack([jnp.moveaxis(t, -n, -n + i) for i, t in enumerate(self.own_first)], axis=-n - 1)

    def payoff(self, actions) -> jax.Array:
        """``[N]`` payoffs of the joint pure action ``actions`` (ints ``[N]``)."""
        n = self.num_players
        return jnp.stack(
            [t[(actions[i], *[actions[j] for j in range(n) if j != i])] for i, t in enumerate(self.own_first)]
        )

    def legal_mask(self) -> Policy:
        return tuple(jnp.ones((a,), dtype=bool) for a in self.num_actions)

    def legal_mask_host(self) -> tuple:
        return tuple(np.ones((a,), bool) for a in self.num_actions)

    def reach(self, policy: Policy) -> Policy:
        return tuple(jnp.ones((), dtype=p.dtype) for p in policy)

    def action_values(self, policy: Policy) -> Policy:
        """``q_i[a]``: player i's expected payoff for action ``a`` against the others."""
        n = self.num_players
        out = []
        for i, tensor in enumerate(self.own_first):
            others = [j for j in range(n) if j != i]
            operands = [tensor, [i, *others]]
            for j in others:
                operands += [policy[j], [j]]
            out.append(jnp.einsum(*operands, [i]))
        return tuple(out)

    def evaluate(self, policy: Policy) -> Evaluation:
        q = self.action_values(policy)
        values = jnp.stack([jnp.dot(p, qi) for p, qi in zip(policy, q)])
        ones = self.reach(policy)
        return Evaluation(values=values, action_values=q, reach=ones, opponent_reach=ones)

    def best_response(self, policy: Policy) -> Policy:
        q = self.action_values(policy)
        return tuple(simplex.one_hot_argmax(qi, jnp.ones_like(qi, bool)) for qi in q)

    def best_response_values(self, policy: Policy) -> jax.Array:
        return jnp.stack([jnp.max(qi) for qi in self.action_values(policy)])

    def smooth_best_response(self, policy: Policy, temperature, reference: Policy | None = None) -> Policy:
        """Logit (softmax) response ``x_i ∝ ref_i exp(q_i / temperature)``; argmax at 0."""
        q = self.action_values(policy)
        reference = self.uniform_policy() if reference is None else reference
        t = jnp.asarray(temperature, q[0].dtype)
        return tuple(simplex.logit_response(qi, jnp.ones_like(qi, bool), t, ri) for qi, ri in zip(q, reference))

    def regularized_nash_conv(self, policy: Policy, temperature, reference: Policy | None = None):
        """Gap to the KL-regularized equilibrium (logit QRE for a uniform reference).

        ``sum_i t log sum_a ref_i[a] exp(q_i[a] / t) - (x_i . q_i - t KL(x_i || ref_i))``, policy
        and reference ``[A_i]`` per player; ``nash_conv`` at ``t = 0``, and ``+inf`` for ``t > 0``
        where ``x_i`` puts mass on an action that ``ref_i`` excludes (an infinite KL).
        """
        reference = self.uniform_policy() if reference is None else reference
        q = self.action_values(policy)
        t = jnp.asarray(temperature, q[0].dtype)
        gap, infinite = 0.0, False
        for x, qi, ri in zip(policy, q, reference):
            best = jnp.where(t > 0, simplex.soft_max_value(qi, ri, t), jnp.max(qi))
            gap = gap + best - (jnp.dot(x, qi) - t * simplex.kl(x, ri))
            infinite = infinite | jnp.any((x > 0) & (ri <= 0))
        return jnp.where((t > 0) & infinite, jnp.inf, gap)


def zero_sum(A) -> MatrixGame:
    """Two-player zero-sum game: the row player gets ``A[i, j]``, the column player ``-A[i, j]``."""
    A = as_float_array(A, "A")
    if A.ndim != 2:
        raise ValueError(f"A: expected a [rows, columns] matrix, got shape {tuple(A.shape)}")
    return MatrixGame(jnp.stack([A, -A]))


def bimatrix(A, B) -> MatrixGame:
    """Two-player general-sum game with row payoffs ``A`` and column payoffs ``B``."""
    A, B = as_float_array(A, "A"), as_float_array(B, "B")
    if A.ndim != 2:
        raise ValueError(f"A: expected a [rows, columns] matrix, got shape {tuple(A.shape)}")
    if B.shape != A.shape:
        raise ValueError(
            f"B: expected shape {tuple(A.shape)} to match A (mismatched action counts), got {tuple(B.shape)}"
        )
    return MatrixGame(jnp.stack([A, B]))
