"""Regularized NashConv of Markov games: the gap to the entropy/KL-regularized (QRE) equilibrium.

The entropy-regularized Markov game of Cen, Wei & Chi (2021), "Fast policy extragradient methods
for competitive games with entropy regularization" (NeurIPS), with a KL penalty toward a reference
policy ``rho`` (default uniform, where ``-tau KL(p || uniform) = tau H(p) - tau log A``, Cen et
al.'s entropy up to a constant). Cen et al. give player 0 of a zero-sum game the return
``E[sum_t gamma^t (r - tau log mu(a|s) + tau log nu(b|s))]`` and player 1 its negative: each
player pays for its own divergence and the opponent's enters with the opposite sign, so the
regularized game stays zero-sum. For ``N`` players, player ``i``'s regularized stage reward is

    r_i(s, a) - tau KL_i(s) + tau / (N - 1) sum_{j != i} KL_j(s),   KL_j(s) = KL(pi_j(s) || rho_j(s))

(Cen et al.'s game for ``N = 2``; the others' terms sum to the own ones over the players, so the
sum of the players' returns is unchanged; for an MDP, ``N = 1``, the soft-RL objective
``r - tau KL``). Without the others' terms the game would be another one, whose equilibrium is not
Cen et al.'s QRE: the others' divergences along the path a deviation leads to are part of each
player's return. ``J_i^tau(pi)`` is player ``i``'s discounted regularized return from ``initial``,
exactly as ``nash_conv`` weighs values, and

    regularized NashConv = sum_i [max_{pi_i'} J_i^tau(pi_i', pi_-i) - J_i^tau(pi)],

zero exactly at the regularized equilibrium (for zero-sum games the QRE that
``solvers.entropy_regularized_extragradient(magnet_update_every=0)`` converges to). Against the
others' stationary policies, player ``i`` faces an MDP ``P_i [S, A_i, S]``,
``r_i [S, A_i] + tau bonus_i [S]`` whose regularized optimum is the soft (log-sum-exp) Bellman
fixed point ``V(s) = tau log sum_a rho_i(s, a) exp(Q(s, a) / tau)``,
``Q = r_i + tau bonus_i + gamma P_i V``: solved by soft policy iteration (exact linear-solve
evaluations, Newton's method on the soft Bellman equation: a handful of rounds), or, with a finite
horizon ``T``, by ``T`` steps of soft backward induction (over time-dependent deviations, as
``best_response_values``). ``tau = 0`` gives ``nash_conv`` (plain policy iteration). The result is
differentiable (``jax.grad`` in the temperature, the policy or the game): the iterations run
without gradients and the optimal policy's value is evaluated once more, held fixed (the envelope
theorem).

Where a player's policy puts mass on an action the reference excludes, its KL there is ``+inf``;
the result is ``+inf`` (for ``tau > 0``) when such a state is reached from ``initial`` under the
policy, or, for the others' term, under some player's deviation within its reference's support.

Shapes: ``policy`` and ``reference`` per player ``[S, A_i]``; the result is a scalar.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgames import simplex
from jaxgames.core import Policy
from jaxgames.markov.game import contract_actions

#: Safety cap on soft-policy-iteration rounds (Newton's method: it stops after a handful).
MAX_SOFT_POLICY_ITERATIONS = 1000


def divergences(policy: Policy, reference: Policy) -> tuple[jax.Array, jax.Array]:
    """``(kl [N, S], infinite [N, S])``: ``KL(pi_j(s) || rho_j(s))`` where finite (0 where not) and
    where it is ``+inf`` (mass on an action of zero reference probability)."""
    kls, infs = [], []
    for p, rho in zip(policy, reference):
        support = rho > 0
        terms = jnp.where(support & (p > 0), p * (simplex.safe_log(p) - simplex.safe_log(rho)), 0.0)
        inf = jnp.any((p > 0) & ~support, axis=-1)
        kls.append(jnp.where(inf, 0.0, jnp.sum(terms, axis=-1)))
        infs.append(inf)
    return jnp.stack(kls), jnp.stack(infs)


def _reachable(adjacency: jax.Array, start: jax.Array, max_steps: int) -> jax.Array:
    """``[K, S]`` bool: per graph ``adjacency [K, S, S]``, the states reached from ``start [S]`` within
    ``max_steps`` steps (one ``while_loop`` for all ``K`` graphs)."""
    edges = adjacency.astype(jnp.float32)

    def cond(carry):
        k, _, changed = carry
        return changed & (k < max_steps)

    def body(carry):
        k, reach, _ = carry
        new = reach | (jnp.einsum("ks,kst->kt", reach.astype(jnp.float32), edges) > 0)
        return k + 1, new, jnp.any(new != reach)

    init = (jnp.zeros((), jnp.int32), jnp.broadcast_to(start, edges.shape[:2]), jnp.array(True))
    return jax.lax.while_loop(cond, body, init)[1]


def _evaluate(game, P: jax.Array, r: jax.Array) -> jax.Array:
    """``V [..., S]`` of the chain ``P [S, S']`` with rewards ``r [..., S]`` (discounted or ``T`` steps)."""
    g = game.discount
    if game.horizon is None:
        eye = jnp.eye(P.shape[0], dtype=P.dtype)
        return jnp.linalg.solve(eye - g * P, r.T).T
    v, _ = jax.lax.scan(lambda v, _: (r + g * v @ P.T, None), jnp.zeros_like(r), None, length=game.horizon)
    return v


def _optimal_values(game, P: jax.Array, r: jax.Array, reference: jax.Array, tau: jax.Array, v0: jax.Array) -> jax.Array:
    """``[S]``: the optimal values of the MDP ``P [S, A, S']``, ``r [S, A]`` penalized by
    ``tau KL(. || reference [S, A])``, soft for ``tau > 0`` and the plain optimum for ``tau = 0``;
    ``v0 [S]``: the value of some policy (the warm start of policy iteration).

    Finite horizon: backward induction over time-dependent policies. Infinite horizon: (soft)
    policy iteration in a ``while_loop`` without gradients, then one exact evaluation of the
    optimal policy held fixed, through which gradients flow (the envelope theorem: the optimal
    value's derivative is that of the optimal policy's value with the policy held fixed).
    """
    g = game.discount
    support = reference > 0
    log_ref = simplex.safe_log(reference)
    safe_tau = jnp.where(tau > 0, tau, 1.0)

    def backup_value(q):
        soft = safe_tau * jax.nn.logsumexp(jnp.where(support, q / safe_tau + log_ref, -jnp.inf), axis=-1)
        return jnp.where(tau > 0, soft, jnp.max(q, axis=-1))

    if game.horizon is not None:  # backward induction over time-dependent policies
        v, _ = jax.lax.scan(
            lambda v, _: (backup_value(r + g * P @ v), None), jnp.zeros_like(v0), None, length=game.horizon
        )
        return v

    eye = jnp.eye(P.shape[0], dtype=P.dtype)

    def improve(q):
        soft = simplex.masked_softmax(q / safe_tau + log_ref, support)
        return jnp.where(tau > 0, soft, simplex.one_hot_argmax(q, jnp.ones_like(support)))

    def evaluate(p, P, r, tau, log_ref):
        kl = jnp.sum(jnp.where(p > 0, p * (simplex.safe_log(p) - log_ref), 0.0), axis=-1)
        return jnp.linalg.solve(eye - g * jnp.einsum("sa,sat->st", p, P), jnp.sum(p * r, axis=-1) - tau * kl)

    fixed = jax.lax.stop_gradient((P, r, tau, log_ref))

    def cond(carry):
        k, v, delta = carry
        tol = 16 * jnp.finfo(v.dtype).eps * (1.0 + jnp.max(jnp.abs(v))) / (1.0 - g)
        return (k < MAX_SOFT_POLICY_ITERATIONS) & (delta > tol)

    def body(carry):
        k, v, _ = carry
        new = evaluate(improve(r + g * P @ v), *fixed)
        return k + 1, new, jnp.max(jnp.abs(new - v))

    init = (jnp.zeros((), jnp.int32), jax.lax.stop_gradient(v0), jnp.asarray(jnp.inf, v0.dtype))
    _, v, _ = jax.lax.while_loop(cond, lambda c: jax.lax.stop_gradient(body(c)), init)
    best = jax.lax.stop_gradient(improve(r + g * P @ v))
    return evaluate(best, P, r, tau, log_ref)


def _gap(game, policy: Policy, reference: Policy, tau: jax.Array, kl: jax.Array) -> jax.Array:
    """``sum_i initial . (V_i^* - V_i^tau(pi))`` with the finite parts of the KLs."""
    n = game.num_players
    bonus = (jnp.sum(kl, axis=0, keepdims=True) - kl) / (n - 1) if n > 1 else jnp.zeros_like(kl)
    P, r = game.markov_chain(policy)  # [S, S'], [N, S]
    values = _evaluate(game, P, r - tau * kl + tau * bonus)  # [N, S]: V_i^tau(pi)
    initial = game.initial.astype(values.dtype)
    gap = jnp.zeros((), values.dtype)
    for i in range(n):
        P_i = contract_actions(game.transitions, policy, keep=i)  # [S, A_i, S']
        r_i = contract_actions(game.rewards[i], policy, keep=i) + tau * bonus[i][:, None]
        best = _optimal_values(game, P_i, r_i, reference[i].astype(values.dtype), tau, values[i])
        gap = gap + jnp.dot(initial, best - values[i])
    return gap


def _infinite(game, policy: Policy, reference: Policy, infinite_at: jax.Array) -> jax.Array:
    """Whether some infinite KL counts: at a state reached under ``policy`` (its owner's penalty), or,
    for ``N > 1``, reached by some other player's deviation within its reference's support (a bonus)."""
    n = game.num_players
    steps = game.num_states if game.horizon is None else game.horizon - 1
    graphs = [game.markov_chain(policy)[0] > 0]
    for i in range(n if n > 1 else 0):
        P_i = contract_actions(game.transitions, policy, keep=i)
        graphs.append(jnp.any((reference[i][:, :, None] > 0) & (P_i > 0), axis=1))
    reach = _reachable(jnp.stack(graphs), game.initial > 0, steps)
    counts = jnp.any(infinite_at, axis=0) & reach[0]
    for i in range(n if n > 1 else 0):
        counts = counts | (jnp.any(jnp.delete(infinite_at, i, axis=0), axis=0) & reach[1 + i])
    return jnp.any(counts)


def regularized_nash_conv(game, policy: Policy, temperature, reference: Policy | None = None) -> jax.Array:
    """Gap to the entropy/KL-regularized equilibrium of the ``MarkovGame`` ``game`` (module docstring).

    Args:
      game: a ``MarkovGame`` (discounted, or with a finite horizon).
      policy: per player ``[S, A_i]`` stationary policy.
      temperature: ``tau >= 0`` (may be traced); ``0`` gives ``nash_conv``.
      reference: per player ``[S, A_i]`` reference policy ``rho`` (default: uniform).

    Returns a scalar: ``sum_i max_{pi_i'} J_i^tau(pi_i', pi_-i) - J_i^tau(pi)`` from ``initial``,
    ``+inf`` where an infinite KL counts.
    """
    dtype = policy[0].dtype
    uniform = reference is None  # full support: no KL is infinite
    reference = tuple(rho.astype(dtype) for rho in (game.uniform_policy() if uniform else reference))
    tau = jnp.asarray(temperature, dtype)
    kl, infinite_at = divergences(policy, reference)
    gap = _gap(game, policy, reference, tau, kl)
    if uniform:
        return gap
    return jnp.where((tau > 0) & _infinite(game, policy, reference, infinite_at), jnp.inf, gap)


def regularized_action_values(game, policy: Policy, temperature, reference: Policy | None = None) -> Policy:
    """Per player ``[S, A_i]``: the action values of ``policy`` in the regularized game,
    ``Q_i(s, a_i) = E_{a_-i ~ pi_-i(s)}[r_i(s, a) + gamma sum_s' P(s' | s, a) V_i^tau(s')]``, with
    ``V_i^tau`` the policy's own regularized values (stage reward ``r_i - tau KL_i + tau bonus_i``,
    module docstring) from every state, one exact linear solve (discounted games only).

    ``pi_i(s) ∝ rho_i(s) exp(Q_i(s) / tau)`` at every state and for every player is the fixed-point
    (Markov perfect) form of the regularized equilibrium: a policy that is soft-greedy in its own
    regularized values is soft-optimal (soft policy iteration stops there), so its
    ``regularized_nash_conv`` is 0. Differentiable (a linear solve, no loop).

    Not the Markov logit QRE of stochastic games (sgamesolver's ``QRE``), whose ``Q`` continues
    with the plain values: ``jaxgames.markov.qre.logit_action_values``. ``jaxgames.markov.qre``
    traces the paths of both with the per-state block structure of their Jacobians.
    """
    if game.horizon is not None:
        raise ValueError(
            "game: regularized action values need a discounted Markov game (horizon=None); with a finite "
            "horizon the regularized equilibrium is time-dependent and a stationary policy cannot represent it"
        )
    dtype = policy[0].dtype
    reference = tuple(rho.astype(dtype) for rho in (game.uniform_policy() if reference is None else reference))
    tau = jnp.asarray(temperature, dtype)
    kl, _ = divergences(policy, reference)
    n = game.num_players
    bonus = (jnp.sum(kl, axis=0, keepdims=True) - kl) / (n - 1) if n > 1 else jnp.zeros_like(kl)
    P, r = game.markov_chain(policy)
    values = _evaluate(game, P, r - tau * kl + tau * bonus)  # [N, S]
    joint = game.joint_action_values(values)  # [N, S, A_1..A_N]
    return tuple(contract_actions(joint[i], policy, keep=i) for i in range(n))
