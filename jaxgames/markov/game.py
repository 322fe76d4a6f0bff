"""Tabular Markov (stochastic) games and MDPs: the exact model.

``MarkovGame(transitions, rewards, discount, initial, horizon=None)`` is the game of Shapley (1953)
with ``N >= 1`` players moving simultaneously:

* ``transitions[s, a_1, ..., a_N, s']``: probability of ``s'`` after the joint action ``a`` in ``s``;
* ``rewards[i, s, a_1, ..., a_N]``: player ``i``'s reward for that step;
* ``discount`` in ``[0, 1)`` (``[0, 1]`` with a finite horizon), ``initial[s]`` the first state's
  distribution, ``horizon`` ``None`` (infinite, discounted) or a static int ``T``.

A policy is stationary: one ``[S, A_i]`` array per player. Under it ``P_pi[s, s'] = sum_a prod_j
pi_j[s, a_j] transitions[s, a, s']`` and ``r_pi[i, s]`` likewise. ``state_values`` solves ``(I -
gamma P_pi) V = r_pi`` exactly; ``evaluate`` returns ``values[i] = initial @ V[i]``, Q-values
``[S, A_i]`` against the others and, as ``reach``, the normalized discounted occupancy ``d(s) = (1 -
gamma) sum_t gamma^t Pr(s_t = s)``; ``best_response`` runs Howard's policy iteration (Howard 1960;
Puterman 1994, Thm 6.4.2) in a ``lax.while_loop``; ``joint_action_values(V)`` gives Shapley's stage
games ``rewards + gamma transitions @ V``. The derivations (occupancy averaging, finite horizons) are
in the docs' Markov games guide.

Example::

    game = jaxgames.markov.random_zero_sum(jax.random.key(0), num_states=10, num_actions=3)
    pi = game.uniform_policy()                    # ([10, 3], [10, 3])
    game.evaluate(pi).values, game.nash_conv(pi)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.core import Evaluation, Game, Policy
from jaxgames.validation import (
    as_float_array,
    check_finite,
    check_int,
    check_player_axes,
    check_probabilities,
    check_scalar,
    check_table,
    host_values,
)

#: Safety cap on policy-iteration rounds (it stops far earlier: it is exact once stable).
MAX_POLICY_ITERATIONS = 1000


def contract_actions(tensor: jax.Array, policy: Policy, keep: int | None = None) -> jax.Array:
    """Average ``tensor[s, a_1..a_N, *rest]`` over the players' actions under ``policy``.

    Every player's action axis except ``keep``'s is summed out with weights
    ``pi_j[s, a_j]``; returns ``[S, *rest]`` or ``[S, A_keep, *rest]``.
    """
    n = len(policy)
    rest = tensor.ndim - 1 - n
    operands = [tensor, list(range(1 + n + rest))]
    for j, p in enumerate(policy):
        if j != keep:
            operands += [p, [0, 1 + j]]
    out = [0] + ([1 + keep] if keep is not None else []) + list(range(1 + n, 1 + n + rest))
    return jnp.einsum(*operands, out)


def _reward_shape(rewards: jax.Array) -> tuple[int, int, tuple]:
    """``(N, S, (A_1..A_N))`` of ``rewards [N, S, A_1..A_N]``; raises naming ``rewards`` otherwise."""
    n = check_player_axes(rewards, "rewards", "[N, S, A_1, ..., A_N]", 2, 1)
    s, actions = rewards.shape[1], tuple(rewards.shape[2:])
    if s < 1 or min(actions) < 1:
        raise ValueError(f"rewards: every axis needs size >= 1, got shape {tuple(rewards.shape)}")
    return n, s, actions


def _check_initial_shape(initial, rewards) -> None:
    """``initial`` is ``[S]``, ``S`` being the states of ``rewards [N, S, A_1..A_N]``."""
    s = rewards.shape[1]
    if tuple(initial.shape) != (s,):
        raise ValueError(
            f"initial: expected shape ({s},) (one probability per state, as in rewards "
            f"of shape {tuple(rewards.shape)}), got {tuple(initial.shape)}"
        )


def _howard(evaluate, improve, actions, values):
    """Howard's policy iteration from ``actions`` (values ``values``): evaluate, improve greedily, until
    no action changes (at most ``MAX_POLICY_ITERATIONS``); the final actions and their values."""

    def cond(carry):
        k, _, _, changed = carry
        return changed & (k < MAX_POLICY_ITERATIONS)

    def body(carry):
        k, actions, _, _ = carry
        v = evaluate(actions)
        new, changed = improve(actions, v)
        return k + 1, new, v, changed

    init = (jnp.zeros((), jnp.int32), actions, values, jnp.array(True))
    _, actions, v, changed = jax.lax.while_loop(cond, body, init)
    # stopped because nothing changed: v is already the value of these actions
    return actions, jax.lax.cond(changed, evaluate, lambda _: v, actions)


@jax.tree_util.register_pytree_node_class
class MarkovGame(Game):
    """An N-player Markov game (see the module docstring for the math and shapes).

    Args:
      transitions: ``[S, A_1, ..., A_N, S]`` next-state probabilities.
      rewards: ``[N, S, A_1, ..., A_N]`` per-player stage rewards.
      discount: scalar in ``[0, 1)`` (``[0, 1]`` when ``horizon`` is set).
      initial: ``[S]`` initial state distribution.
      horizon: ``None`` (infinite) or the number of steps ``T >= 1`` (static).

    Shapes are always checked; values (probabilities, finiteness, the
    discount's range) when concrete, so the constructor also runs on tracers
    (``jax.vmap(lambda P, R: MarkovGame(P, R, 0.9, init))(Ps, Rs)``).
    """

    def __init__(self, transitions, rewards, discount, initial, horizon: int | None = None):
        transitions = as_float_array(transitions, "transitions")
        rewards = as_float_array(rewards, "rewards")
        initial = as_float_array(initial, "initial")
        if horizon is not None:
            horizon = check_int(horizon, "horizon", low=1)
        # [0, 1) discounted; [0, 1] with a finite horizon
        discount = check_scalar(discount, "discount", 0, 1, high_open=horizon is None)
        n, s, actions = _reward_shape(rewards)
        expected = (s, *actions, s)
        if tuple(transitions.shape) != expected:
            raise ValueError(
                f"transitions: expected shape [S, A_1, ..., A_N, S] = {expected} to match "
                f"rewards of shape {tuple(rewards.shape)}, got {tuple(transitions.shape)}"
            )
        _check_initial_shape(initial, rewards)
        check_finite(rewards, "rewards")
        check_probabilities(transitions, "transitions", "rows over next states")
        check_probabilities(initial, "initial", "a distribution over states")
        self.transitions, self.rewards, self.discount, self.initial = transitions, rewards, discount, initial
        self.horizon = horizon
        self._num_players = n

    # pytree: unflattening bypasses __init__, so tracers, batches and sentinels pass through.
    def tree_flatten(self):
        return (self.transitions, self.rewards, self.discount, self.initial), (self._num_players, self.horizon)

    @classmethod
    def tree_unflatten(cls, aux, children):
        game = object.__new__(cls)
        game.transitions, game.rewards, game.discount, game.initial = children
        game._num_players, game.horizon = aux
        return game

    @classmethod
    def from_validated(
        cls,
        transitions: jax.Array,
        rewards: jax.Array,
        discount: jax.Array,
        initial: jax.Array,
        horizon: int | None = None,
    ) -> MarkovGame:
        """One game (no batch axes) from float arrays already known to be valid: nothing is checked.

        For library code that derives a game from one it has validated, such as the MDP a
        stationary mean-field game induces at a mean field: the caller guarantees what
        ``__init__`` checks (shapes ``[S, A_1..A_N, S]``, ``[N, S, A_1..A_N]``, ``[S]``;
        stochastic rows; ``discount`` a float array in range; ``horizon`` ``None`` or an int >= 1).
        User input goes through ``MarkovGame(...)``.
        """
        return cls.tree_unflatten((rewards.shape[0], horizon), (transitions, rewards, discount, initial))

    def __repr__(self):
        batch = self.transitions.shape[: -self.num_players - 2]
        extra = f", batch_shape={batch}" if batch else ""
        hor = f", horizon={self.horizon}" if self.horizon is not None else ""
        return (
            f"MarkovGame(num_states={self.num_states}, num_actions={self.num_actions}{hor}{extra}, "
            f"dtype={self.rewards.dtype})"
        )

    # -- sizes ----------------------------------------------------------------
    @property
    def num_players(self) -> int:
        return self._num_players

    @property
    def num_states(self) -> int:
        return self.transitions.shape[-1]

    @property
    def num_actions(self) -> tuple:
        return tuple(self.transitions.shape[-self.num_players - 1 : -1])

    @property
    def effective_horizon(self) -> jax.Array:
        """``Z = sum_t gamma^t``: ``1 / (1 - gamma)``, or ``sum_{t<T} gamma^t`` with a horizon."""
        g = self.discount
        if self.horizon is None:
            return 1.0 / (1.0 - g)
        return jnp.sum(g ** jnp.arange(self.horizon, dtype=g.dtype))

    def legal_mask(self) -> Policy:
        return tuple(jnp.ones((self.num_states, a), dtype=bool) for a in self.num_actions)

    def legal_mask_host(self) -> tuple:
        return tuple(np.ones((self.num_states, a), bool) for a in self.num_actions)

    # -- the policy's Markov chain --------------------------------------------
    def _rewards_last(self) -> jax.Array:
        """``[S, A_1..A_N, N]``: rewards with the player axis last (for ``contract_actions``)."""
        return jnp.moveaxis(self.rewards, 0, -1)

    def markov_chain(self, policy: Policy) -> tuple[jax.Array, jax.Array]:
        """``(P_pi [S, S'], r_pi [N, S])``: the chain and expected rewards under the joint policy."""
        return contract_actions(self.transitions, policy), contract_actions(self._rewards_last(), policy).T

    def joint_action_values(self, state_values: jax.Array) -> jax.Array:
        """``[N, S, A_1..A_N]``: ``rewards + gamma sum_s' transitions[..., s'] V[:, s']``.

        ``state_values`` ``[N, S]``; slice ``[:, s]`` is the stage game at ``s``.
        """
        # One mat-vec per player (N is static): the single [N, S'] x [..., S'] contraction runs, under vmap on
        # XLA CPU, through a transposed copy of the whole transition tensor, ~6x slower (benchmarks/bench_markov.py).
        cont = jnp.stack([jnp.tensordot(self.transitions, state_values[i], axes=1) for i in range(len(state_values))])
        return self.rewards + self.discount * cont

    def state_values(self, policy: Policy) -> jax.Array:
        """``V [N, S]``: each player's expected discounted return from each state (exact)."""
        P, r = self.markov_chain(policy)
        if self.horizon is None:
            eye = jnp.eye(self.num_states, dtype=P.dtype)
            return jnp.linalg.solve(eye - self.discount * P, r.T).T
        return self._backups(P, r)[-1]

    def _backups(self, P, r) -> jax.Array:
        """``[T + 1, N, S]``: ``V_0 = 0``, ``V_{k+1} = r + gamma P V_k`` (finite horizon)."""

        def body(v, _):
            v = r + self.discount * v @ P.T
            return v, v

        _, vs = jax.lax.scan(body, jnp.zeros_like(r), None, length=self.horizon)
        return jnp.concatenate([jnp.zeros_like(r)[None], vs])

    def _distributions(self, P) -> jax.Array:
        """``[T, S]``: ``Pr(s_t = s)`` for ``t < T`` (finite horizon)."""

        def body(mu, _):
            return mu @ P, mu

        _, mus = jax.lax.scan(body, self.initial.astype(P.dtype), None, length=self.horizon)
        return mus

    def occupancy(self, policy: Policy) -> jax.Array:
        """``[S]``: normalized discounted occupancy ``sum_t gamma^t Pr(s_t = s) / Z`` from ``initial``."""
        P = contract_actions(self.transitions, policy)
        if self.horizon is None:
            eye = jnp.eye(self.num_states, dtype=P.dtype)
            d = jnp.linalg.solve((eye - self.discount * P).T, self.initial.astype(P.dtype))
            return (1.0 - self.discount) * d
        weights = self.discount ** jnp.arange(self.horizon, dtype=P.dtype)
        return weights @ self._distributions(P) / self.effective_horizon

    def reach(self, policy: Policy) -> Policy:
        d = self.occupancy(policy)
        return tuple(d for _ in policy)

    # -- evaluation -----------------------------------------------------------
    def _own_models(self, policy: Policy, i: int) -> tuple[jax.Array, jax.Array]:
        """Player ``i``'s induced MDP against the others: ``P_i [S, A_i, S']``, ``r_i [S, A_i]``."""
        return (contract_actions(self.transitions, policy, keep=i), contract_actions(self.rewards[i], policy, keep=i))

    def evaluate(self, policy: Policy) -> Evaluation:
        P, r = self.markov_chain(policy)
        if self.horizon is None:
            eye = jnp.eye(self.num_states, dtype=P.dtype)
            A = eye - self.discount * P
            V = jnp.linalg.solve(A, r.T).T
            d = (1.0 - self.discount) * jnp.linalg.solve(A.T, self.initial.astype(P.dtype))
            q = []
            for i in range(self.num_players):
                Pi, ri = self._own_models(policy, i)
                q.append(ri + self.discount * Pi @ V[i])
        else:
            vs = self._backups(P, r)  # [T + 1, N, S]
            mus = self._distributions(P)  # [T, S]
            w = (self.discount ** jnp.arange(self.horizon, dtype=P.dtype))[:, None] * mus  # [T, S]
            total = jnp.sum(w, axis=0)
            d = total / self.effective_horizon
            V = vs[-1]
            q = []
            for i in range(self.num_players):
                Pi, ri = self._own_models(policy, i)
                # Q at time t has T - t steps to go: r_i + gamma P_i V_{T-t-1}
                togo = vs[::-1][1:, i]  # [T, S]: V_{T-1}, ..., V_0
                qt = ri[None] + self.discount * jnp.einsum("sat,kt->ksa", Pi, togo)
                avg = jnp.einsum("ks,ksa->sa", w, qt) / jnp.where(total > 0, total, 1.0)[:, None]
                q.append(jnp.where(total[:, None] > 0, avg, qt[0]))
        values = V @ self.initial.astype(V.dtype)
        return Evaluation(
            values=values,
            action_values=tuple(q),
            reach=tuple(d for _ in policy),
            opponent_reach=tuple(jnp.ones_like(d) for _ in policy),
        )

    # -- best responses -------------------------------------------------------
    def _best_response(self, policy: Policy, i: int) -> tuple[jax.Array, jax.Array]:
        """Player ``i``'s optimal deterministic response: ``(actions [S] int, V* [S])``."""
        Pi, ri = self._own_models(policy, i)
        g = self.discount
        s_idx = jnp.arange(self.num_states)
        if self.horizon is not None:  # backward induction over all (time-dependent) policies

            def backup(v, _):
                q = ri + g * Pi @ v
                return jnp.max(q, axis=-1), jnp.argmax(q, axis=-1)

            v, acts = jax.lax.scan(backup, jnp.zeros_like(ri[:, 0]), None, length=self.horizon)
            return acts[-1].astype(jnp.int32), v

        eye = jnp.eye(self.num_states, dtype=ri.dtype)

        def evaluate(actions):
            return jnp.linalg.solve(eye - g * Pi[s_idx, actions], ri[s_idx, actions])

        def improve(actions, v):
            q = ri + g * Pi @ v
            best = jnp.argmax(q, axis=-1)
            tol = 8 * jnp.finfo(q.dtype).eps * (1.0 + jnp.max(jnp.abs(q)))
            better = q[s_idx, best] > q[s_idx, actions] + tol
            return jnp.where(better, best, actions).astype(jnp.int32), jnp.any(better)

        # warm start: greedy with respect to the player's values under the given policy
        P, r = self.markov_chain(policy)
        v0 = jnp.linalg.solve(eye - g * P, r[i])
        a0 = jnp.argmax(ri + g * Pi @ v0, axis=-1).astype(jnp.int32)

        return _howard(evaluate, improve, a0, v0)

    def best_response(self, policy: Policy) -> Policy:
        """Per player, a deterministic optimal response ``[S, A_i]`` (one-hot) to the others."""
        out = []
        for i, a in enumerate(self.num_actions):
            actions, _ = self._best_response(policy, i)
            out.append(jax.nn.one_hot(actions, a, dtype=policy[i].dtype))
        return tuple(out)

    def best_response_values(self, policy: Policy) -> jax.Array:
        """``[N]``: each player's value from ``initial`` when it best-responds to the others."""
        vals = [
            self._best_response(policy, i)[1] @ self.initial.astype(policy[i].dtype) for i in range(self.num_players)
        ]
        return jnp.stack(vals)

    def best_response_state_values(self, policy: Policy) -> jax.Array:
        """``[N, S]``: each player's optimal value from every state against the others."""
        return jnp.stack([self._best_response(policy, i)[1] for i in range(self.num_players)])

    def smooth_best_response(self, policy: Policy, temperature, reference: Policy | None = None) -> Policy:
        """One-step logit response ``pi_i[s] ∝ ref_i[s] exp(Q_i[s] / temperature)`` to ``policy`` (argmax at 0).

        The softmax of the action values against ``policy`` (not a soft best
        response of the induced MDP): the policy-iteration-style step used by
        smoothed fictitious play and Boltzmann dynamics. ``reference``: a
        policy ``([S, A_i], ...)``, default uniform (the capability
        ``jaxgames.capabilities.SmoothBestResponse``).
        """
        q = self.evaluate(policy).action_values
        t = jnp.asarray(temperature, q[0].dtype)
        refs = (None,) * len(q) if reference is None else reference
        return tuple(simplex.logit_response(qi, jnp.ones_like(qi, bool), t, ri) for qi, ri in zip(q, refs))

    def regularized_nash_conv(self, policy: Policy, temperature, reference: Policy | None = None):
        """Gap to the entropy-regularized Markov equilibrium (``jaxgames.markov.regularized``)."""
        from jaxgames.markov.regularized import regularized_nash_conv

        return regularized_nash_conv(self, policy, temperature, reference)


def zero_sum(transitions, reward, discount, initial, horizon: int | None = None) -> MarkovGame:
    """Two-player zero-sum game: player 0 gets ``reward[s, a_1, a_2]``, player 1 its negative."""
    reward = as_float_array(reward, "reward")
    if reward.ndim != 3:
        raise ValueError(f"reward: expected shape [S, A_1, A_2] (player 0's reward), got {tuple(reward.shape)}")
    return MarkovGame(transitions, jnp.stack([reward, -reward]), discount, initial, horizon)


def mdp(transitions, rewards, discount, initial, horizon: int | None = None) -> MarkovGame:
    """A Markov decision process (one player): ``transitions [S, A, S']``, ``rewards [S, A]``."""
    rewards = as_float_array(rewards, "rewards")
    if rewards.ndim != 2:
        raise ValueError(f"rewards: expected shape [S, A] for an MDP, got {tuple(rewards.shape)}")
    return MarkovGame(transitions, rewards[None], discount, initial, horizon)


# -- sparse storage -----------------------------------------------------------------------------
#: The generators' ``sparse=None`` (random Garnet and grid games) returns a ``SparseMarkovGame`` when the dense
#: ``[S, A_1..A_N, S]`` transition tensor would pass this many bytes (256 MiB).
SPARSE_ABOVE_BYTES = 2**28
#: Up to this many states a ``SparseMarkovGame`` solves its linear systems exactly (one dense
#: ``[S, S]`` LU, as ``MarkovGame``); above it iteratively (BiCGSTAB on gathers, no ``[S, S]`` matrix).
DENSE_SOLVE_MAX_STATES = 512
#: The most BiCGSTAB iterations of one solve (each two gather mat-vecs; ~10-30 suffice on Garnet games).
BICGSTAB_MAX_ITERATIONS = 2000


def _solve_rtol(dtype) -> float:
    """Relative residual the iterative solve stops at: ``1e-12`` in float64, ``1e-6`` in float32."""
    return 1e-12 if jnp.finfo(dtype).bits >= 64 else 1e-6


class _Chain:
    """A sparse stochastic matrix ``P[s, s'] = sum_m prob[s, m] [nxt[s, m] = s'] + restart[s] initial[s']``.

    ``nxt`` int ``[S, M]``, ``prob`` ``[S, M]``, ``restart`` ``[S]``, ``initial`` ``[S]``: the chain
    of a policy (``M = prod A_j * B``) or of a deterministic response (``M = prod_{j != i} A_j * B``).
    """

    def __init__(self, nxt, prob, restart, initial):
        self.nxt, self.prob, self.restart, self.initial = nxt, prob, restart, initial.astype(prob.dtype)

    def matvec(self, v: jax.Array) -> jax.Array:
        """``[..., S]``: ``P v`` (expected next values) for ``v [..., S]``."""
        return jnp.sum(self.prob * v[..., self.nxt], axis=-1) + self.restart * (v @ self.initial)[..., None]

    def rmatvec(self, mu: jax.Array) -> jax.Array:
        """``[S]``: ``mu P`` (the next state's distribution) for ``mu [S]``."""
        s = mu.shape[-1]
        flow = jnp.zeros((s,), self.prob.dtype).at[self.nxt.reshape(-1)].add((mu[:, None] * self.prob).reshape(-1))
        return flow + (mu @ self.restart) * self.initial

    def dense(self) -> jax.Array:
        """``[S, S]``: the matrix (small ``S`` only)."""
        s = self.nxt.shape[0]
        rows = jnp.broadcast_to(jnp.arange(s)[:, None], self.nxt.shape)
        return jnp.zeros((s, s), self.prob.dtype).at[rows, self.nxt].add(self.prob) + jnp.outer(
            self.restart, self.initial
        )


@jax.tree_util.register_pytree_node_class
class SparseMarkovGame(MarkovGame):
    """A ``MarkovGame`` whose transitions are stored sparsely: ``B`` next states per (state, joint action).

    ``transitions[s, a, s'] = sum_b next_probs[s, a, b] [next_states[s, a, b] = s'] + restart[s, a] initial[s']``:
    ``B`` explicit next states (repeats add up, zero-probability padding is allowed) plus an optional
    restart from ``initial`` (the reset after a goal or a capture in the grid games, whose restart
    distribution is dense). Memory is ``O(S prod A_j B)`` instead of ``O(S^2 prod A_j)``.

    The same model as ``MarkovGame`` with the same methods, computed with gathers: expectations
    ``sum_b next_probs * V[next_states] + restart * (initial @ V)`` (``joint_action_values``, Q-values,
    best responses). The linear systems of policy evaluation, ``(I - gamma P_pi) V = r_pi``, the
    occupancy's transpose and each round of Howard's policy iteration (``best_response``), are solved
    exactly (dense LU) up to ``dense_solve_states`` states (default ``DENSE_SOLVE_MAX_STATES``) and
    above that by BiCGSTAB (van der Vorst 1992) on the gather mat-vec ``x - gamma P x``, to a relative
    residual ``||r_pi - (I - gamma P) V|| <= rtol ||r_pi||`` with ``rtol = 1e-12`` in float64 (``1e-6`` in
    float32; so ``|V - V_exact| <= rtol ||r_pi|| / (1 - gamma)``), so no ``[S, S]`` matrix is formed. ``transitions``
    densifies on demand for consumers of the dense tensor (refused above ``max_bytes``, naming the size);
    ``to_dense()`` returns the equal ``MarkovGame``, ``SparseMarkovGame.from_dense(game)`` the converse.
    Infinite horizon only (``horizon=None``).

    Args:
      next_states: int ``[S, A_1, ..., A_N, B]`` next-state indices in ``[0, S)``.
      next_probs: ``[S, A_1, ..., A_N, B]`` their probabilities.
      rewards: ``[N, S, A_1, ..., A_N]`` per-player stage rewards.
      discount: scalar in ``[0, 1)``.
      initial: ``[S]`` initial state distribution (also the restart distribution).
      restart: ``[S, A_1, ..., A_N]`` probability of restarting from ``initial`` (default 0); each row of
        ``next_probs`` plus its ``restart`` sums to 1.
      horizon: must be ``None``.
      dense_solve_states: static; the largest ``S`` solved by dense LU.

    Example::

        game = jaxgames.markov.random_zero_sum(jax.random.key(0), 10_000, 3, branching=3, sparse=True)
        game.nash_conv(game.uniform_policy())     # BiCGSTAB solves, no [S, S] matrix
    """

    def __init__(
        self,
        next_states,
        next_probs,
        rewards,
        discount,
        initial,
        restart=None,
        horizon: int | None = None,
        dense_solve_states: int = DENSE_SOLVE_MAX_STATES,
    ):
        if horizon is not None:
            raise ValueError(
                f"horizon: SparseMarkovGame models infinite-horizon discounted games; expected None, got {horizon!r} "
                "(use MarkovGame for a finite horizon)"
            )
        dense_solve_states = check_int(dense_solve_states, "dense_solve_states", low=0)
        rewards = as_float_array(rewards, "rewards")
        initial = as_float_array(initial, "initial")
        next_probs = as_float_array(next_probs, "next_probs")
        discount = check_scalar(discount, "discount", 0, 1, high_open=True)
        n, s, actions = _reward_shape(rewards)
        next_states = jnp.asarray(next_states)
        if not jnp.issubdtype(next_states.dtype, jnp.integer):
            raise ValueError(f"next_states: expected integer state indices, got dtype {next_states.dtype}")
        next_states = next_states.astype(jnp.int32)
        if next_states.ndim != n + 2 or tuple(next_states.shape[:-1]) != (s, *actions) or next_states.shape[-1] < 1:
            raise ValueError(
                f"next_states: expected shape [S, A_1, ..., A_N, B] = ({s}, {', '.join(map(str, actions))}, B) with "
                f"B >= 1 to match rewards of shape {tuple(rewards.shape)}, got {tuple(next_states.shape)}"
            )
        if tuple(next_probs.shape) != tuple(next_states.shape):
            raise ValueError(
                f"next_probs: expected the shape of next_states {tuple(next_states.shape)}, "
                f"got {tuple(next_probs.shape)}"
            )
        if restart is None:
            restart = jnp.zeros((s, *actions), next_probs.dtype)
        restart = as_float_array(restart, "restart")
        if tuple(restart.shape) != (s, *actions):
            raise ValueError(
                f"restart: expected shape [S, A_1, ..., A_N] = {(s, *actions)}, got {tuple(restart.shape)}"
            )
        _check_initial_shape(initial, rewards)
        check_finite(rewards, "rewards")
        idx = host_values(next_states, "next_states")
        if idx is not None and idx.size and (idx.min() < 0 or idx.max() >= s):
            bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
            raise ValueError(f"next_states: expected state indices in [0, {s}), found {bad}")
        rows = jnp.concatenate([next_probs, restart[..., None]], axis=-1)
        check_probabilities(rows, "next_probs", "rows over next states (with restart: next_probs sum + restart = 1)")
        check_probabilities(initial, "initial", "a distribution over states")
        self.next_states, self.next_probs, self.restart = next_states, next_probs, restart
        self.rewards, self.discount, self.initial = rewards, discount, initial
        self.horizon = None
        self._num_players = n
        self.dense_solve_states = dense_solve_states

    def tree_flatten(self):
        children = (self.next_states, self.next_probs, self.restart, self.rewards, self.discount, self.initial)
        return children, (self._num_players, self.dense_solve_states)

    @classmethod
    def tree_unflatten(cls, aux, children):
        game = object.__new__(cls)
        game.next_states, game.next_probs, game.restart, game.rewards, game.discount, game.initial = children
        game._num_players, game.dense_solve_states = aux
        game.horizon = None
        return game

    @classmethod
    def from_validated(cls, *args, **kwargs):
        raise TypeError("SparseMarkovGame.from_validated: build it with SparseMarkovGame(...)")

    @classmethod
    def from_dense(cls, game: MarkovGame, dense_solve_states: int = DENSE_SOLVE_MAX_STATES) -> SparseMarkovGame:
        """The same game with ``B`` = the most nonzero next states of any row (concrete, unbatched ``game``)."""
        if game.horizon is not None:
            raise ValueError(f"game.horizon: SparseMarkovGame is infinite-horizon only, got horizon={game.horizon}")
        P = np.asarray(game.transitions)
        b = max(int((P > 0).sum(axis=-1).max(initial=1)), 1)
        order = np.argsort(P <= 0, axis=-1, kind="stable")[..., :b]  # nonzero next states first
        probs = np.take_along_axis(P, order, axis=-1)
        return cls(
            order.astype(np.int32), probs, game.rewards, game.discount, game.initial, None, None, dense_solve_states
        )

    def to_dense(self) -> MarkovGame:
        """The equal ``MarkovGame`` (dense transitions; refused above ``max_bytes``)."""
        return MarkovGame.from_validated(self.transitions, self.rewards, self.discount, self.initial)

    def __repr__(self):
        batch = self.rewards.shape[: -self.num_players - 2]
        extra = f", batch_shape={batch}" if batch else ""
        return (
            f"SparseMarkovGame(num_states={self.num_states}, num_actions={self.num_actions}, "
            f"branching={self.branching}{extra}, dtype={self.rewards.dtype})"
        )

    # -- sizes ----------------------------------------------------------------
    @property
    def num_states(self) -> int:
        return self.rewards.shape[-self.num_players - 1]

    @property
    def num_actions(self) -> tuple:
        return tuple(self.rewards.shape[-self.num_players :])

    @property
    def branching(self) -> int:
        """``B``: the explicit next states per (state, joint action)."""
        return self.next_states.shape[-1]

    @property
    def transitions(self) -> jax.Array:
        """``[S, A_1..A_N, S]``: the dense tensor, built on demand (refused above ``max_bytes``)."""
        s, actions = self.num_states, self.num_actions
        shape = (s, *actions, s)
        check_table(shape, "transitions", f"the dense transition tensor {list(shape)} of this SparseMarkovGame")
        k = int(np.prod(actions))
        nxt, prob = self.next_states.reshape(s * k, -1), self.next_probs.reshape(s * k, -1)
        rows = jnp.broadcast_to(jnp.arange(s * k)[:, None], nxt.shape)
        dense = jnp.zeros((s * k, s), prob.dtype).at[rows, nxt].add(prob)
        dense = dense + self.restart.reshape(s * k, 1) * self.initial.astype(prob.dtype)
        return dense.reshape(shape)

    # -- sparse chains ----------------------------------------------------------
    def _joint_weights(self, policy: Policy, skip: int | None = None) -> jax.Array:
        """``[S, A_1..A_N]``: ``prod_{j != skip} pi_j[s, a_j]`` (broadcast along ``skip``'s axis)."""
        n = self.num_players
        w = None
        for j, p in enumerate(policy):
            if j == skip:
                continue
            shape = [p.shape[0]] + [1] * n
            shape[1 + j] = p.shape[1]
            t = p.reshape(shape)
            w = t if w is None else w * t
        if w is None:  # one player, skipped
            return jnp.ones((self.num_states,) + (1,) * n, self.next_probs.dtype)
        return w

    def _policy_chain(self, policy: Policy) -> _Chain:
        w = self._joint_weights(policy)
        s = self.num_states
        prob = (w[..., None] * self.next_probs).reshape(s, -1)
        restart = jnp.sum((w * self.restart).reshape(s, -1), axis=-1)
        return _Chain(self.next_states.reshape(s, -1), prob, restart, self.initial)

    def _own_chains(self, policy: Policy, i: int) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """Player ``i``'s induced MDP, sparse: ``nxt, prob [S, A_i, M]``, ``restart [S, A_i]``, ``r_i [S, A_i]``."""
        s, a = self.num_states, self.num_actions[i]
        w = self._joint_weights(policy, skip=i)
        prob = jnp.moveaxis(w[..., None] * self.next_probs, 1 + i, 1).reshape(s, a, -1)
        nxt = jnp.moveaxis(self.next_states, 1 + i, 1).reshape(s, a, -1)
        restart = jnp.moveaxis(w * self.restart, 1 + i, 1).reshape(s, a, -1).sum(-1)
        return nxt, prob, restart, contract_actions(self.rewards[i], policy, keep=i)

    def _own_expect(self, nxt, prob, restart, v) -> jax.Array:
        """``[S, A_i]``: the expected next value of each own action."""
        return jnp.sum(prob * v[nxt], axis=-1) + restart * (v @ self.initial.astype(v.dtype))

    def _solve(self, chain: _Chain, rhs: jax.Array, transpose: bool = False) -> jax.Array:
        """``x [..., S]`` with ``x (I - gamma P) = rhs`` (``transpose``) or ``(I - gamma P) x = rhs``."""
        g = self.discount
        if self.num_states <= self.dense_solve_states:
            A = jnp.eye(self.num_states, dtype=chain.prob.dtype) - g * chain.dense()
            A = A.T if transpose else A
            return jnp.linalg.solve(A, rhs.T).T if rhs.ndim > 1 else jnp.linalg.solve(A, rhs)
        apply = chain.rmatvec if transpose else chain.matvec
        if transpose and rhs.ndim > 1:
            return jax.vmap(lambda b: self._solve(chain, b, True))(rhs)
        x, _ = jax.scipy.sparse.linalg.bicgstab(
            lambda x: x - g * apply(x), rhs, x0=rhs, tol=_solve_rtol(rhs.dtype), maxiter=BICGSTAB_MAX_ITERATIONS
        )
        return x

    # -- the model's methods (gathers) ----------------------------------------------
    def markov_chain(self, policy: Policy) -> tuple[jax.Array, jax.Array]:
        """``(P_pi [S, S'], r_pi [N, S])``, ``P_pi`` dense (refused above ``max_bytes``)."""
        s = self.num_states
        check_table((s, s), "num_states", f"the dense policy chain [{s}, {s}] of this SparseMarkovGame")
        return self._policy_chain(policy).dense(), contract_actions(self._rewards_last(), policy).T

    def joint_action_values(self, state_values: jax.Array) -> jax.Array:
        """``[N, S, A_1..A_N]``: ``rewards + gamma (sum_b next_probs V[:, next_states] + restart initial @ V)``."""
        v = state_values
        cont = jnp.sum(self.next_probs * v[:, self.next_states], axis=-1)
        at_start = v @ self.initial.astype(v.dtype)  # [N]
        cont = cont + self.restart * at_start.reshape((-1,) + (1,) * self.restart.ndim)
        return self.rewards + self.discount * cont

    def state_values(self, policy: Policy) -> jax.Array:
        chain = self._policy_chain(policy)
        r = contract_actions(self._rewards_last(), policy).T
        return self._solve(chain, r)

    def occupancy(self, policy: Policy) -> jax.Array:
        chain = self._policy_chain(policy)
        return (1.0 - self.discount) * self._solve(chain, self.initial.astype(chain.prob.dtype), transpose=True)

    def evaluate(self, policy: Policy) -> Evaluation:
        chain = self._policy_chain(policy)
        r = contract_actions(self._rewards_last(), policy).T
        V = self._solve(chain, r)
        d = (1.0 - self.discount) * self._solve(chain, self.initial.astype(V.dtype), transpose=True)
        q = []
        for i in range(self.num_players):
            nxt, prob, restart, ri = self._own_chains(policy, i)
            q.append(ri + self.discount * self._own_expect(nxt, prob, restart, V[i]))
        return Evaluation(
            values=V @ self.initial.astype(V.dtype),
            action_values=tuple(q),
            reach=tuple(d for _ in policy),
            opponent_reach=tuple(jnp.ones_like(d) for _ in policy),
        )

    def _best_response(self, policy: Policy, i: int) -> tuple[jax.Array, jax.Array]:
        """Howard's policy iteration on player ``i``'s sparse induced MDP (as ``MarkovGame``)."""
        nxt, prob, restart, ri = self._own_chains(policy, i)
        g = self.discount
        s_idx = jnp.arange(self.num_states)

        def evaluate(actions):
            chain = _Chain(nxt[s_idx, actions], prob[s_idx, actions], restart[s_idx, actions], self.initial)
            return self._solve(chain, ri[s_idx, actions])

        def improve(actions, v):
            q = ri + g * self._own_expect(nxt, prob, restart, v)
            best = jnp.argmax(q, axis=-1)
            tol = 8 * jnp.finfo(q.dtype).eps * (1.0 + jnp.max(jnp.abs(q)))
            if self.num_states > self.dense_solve_states:  # iterative values: switch only on a clear gain
                tol = tol + 16 * _solve_rtol(q.dtype) * (1.0 + jnp.max(jnp.abs(q)))
            better = q[s_idx, best] > q[s_idx, actions] + tol
            return jnp.where(better, best, actions).astype(jnp.int32), jnp.any(better)

        # warm start: greedy with respect to the player's values under the given policy
        r_pi = contract_actions(self._rewards_last()[..., i], policy)
        v0 = self._solve(self._policy_chain(policy), r_pi)
        a0 = jnp.argmax(ri + g * self._own_expect(nxt, prob, restart, v0), axis=-1).astype(jnp.int32)

        return _howard(evaluate, improve, a0, v0)
