"""Regularized NashConv of extensive-form games: the gap to the dilated-KL-regularized equilibrium.

Player ``i``'s regularizer is the dilated KL divergence of its behavioural policy to a reference
(Hoda, Gilpin, Pena & Sandholm 2010; Kroer, Waugh, Kilinc-Karzan & Sandholm 2020; the regularizer
of magnetic mirror descent with the dilated entropy, Sokota et al. 2023, Sec. 4):

    D_i(pi_i) = sum_{I in infosets_i} x_i(I) KL(pi_i(I) || rho_i(I))

with ``x_i(I)`` the player's own reach of ``I`` (its realization weight of the sequence leading
to ``I``) and ``rho`` the uniform policy over legal actions unless given. (With the uniform
reference ``D_i = sum_I x_i(I) (log |A(I)| - H(pi_i(I)))``: the negative dilated entropy plus a
term that depends on the policy where information sets have different action counts or depths,
so its equilibrium is the one of MMD with the uniform policy as magnet, not the dilated-entropy
one.) The regularized game gives player ``i`` ``u_i(pi) - tau D_i(pi_i)``, and

    regularized NashConv = sum_i [max_{pi_i'} (u_i(pi_i', pi_-i) - tau D_i(pi_i'))
                                  - (u_i(pi) - tau D_i(pi_i))],

zero exactly at the regularized equilibrium (the fixed point of MMD with the dilated entropy and
a fixed magnet ``rho``: ``solvers.mmd(geometry="dilated", magnet=rho, magnet_update_every=0)``;
Kroer et al.'s and Sokota et al.'s extensive-form QRE with the dilated regularizer). The maximum
is the soft best response, computed on the sequence form by the same bottom-up pass over the
player's information sets as ``nash_conv`` (``jaxgames.efg.sequence.bottom_up``), with the max
replaced by ``V(I) = tau log sum_a rho(I, a) exp(q(I, a) / tau)`` (the Gibbs variational
principle at each information set; the soft best response plays ``pi(I) ∝ rho(I) exp(q(I) / tau)``)
and each information set's value added to its parent sequence's counterfactual value, as in
``EFGGame.dilated_mirror_step`` with an infinite step size. With ``tau = 0`` it is ``nash_conv``.

Where the policy puts mass on a legal action that the reference excludes at an information set
the player reaches itself (``x_i(I) > 0``), the KL is ``+inf`` and so is the result (for
``tau > 0``); at information sets the player's own policy never reaches the term is ``0``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgames import simplex
from jaxgames.core import Policy
from jaxgames.efg.sequence import bottom_up, sequence_form, sequence_values


def _soft_reduce(mask: jax.Array, reference: jax.Array, tau: jax.Array):
    """Information-set value from its action values ``q [n_I, A]``: ``tau log sum_a rho exp(q / tau)``
    over the reference's support for ``tau > 0``, the legal max for ``tau = 0``."""
    support = mask & (reference > 0)
    safe_tau = jnp.where(tau > 0, tau, 1.0)
    log_ref = simplex.safe_log(reference)

    def reduce(q):
        soft = safe_tau * jax.nn.logsumexp(jnp.where(support, q / safe_tau + log_ref, -jnp.inf), axis=-1)
        hard = jnp.max(jnp.where(mask, q, -jnp.inf), axis=-1)
        return jnp.where(tau > 0, soft, hard)

    return reduce


def kl_finite_part(policy: jax.Array, reference: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(kl [...], infinite [...])`` per decision point: ``KL(policy || reference)`` over the legal
    actions where it is finite (0 elsewhere) and whether it is ``+inf`` (mass on a legal action of
    zero reference probability)."""
    support = mask & (reference > 0)
    terms = jnp.where(support & (policy > 0), policy * (simplex.safe_log(policy) - simplex.safe_log(reference)), 0.0)
    infinite = jnp.any(mask & (policy > 0) & ~support, axis=-1)
    kl = jnp.sum(terms, axis=-1)
    return jnp.where(infinite, 0.0, kl), infinite


def _values(game, policy: Policy, temperature, reference: Policy | None):
    """``(soft_best [N], regularized [N], infinite [])``: per player the soft best-response value
    ``max_p u_i(p, pi_-i) - tau D_i(p)`` and the policy's ``u_i(pi) - tau D_i(pi_i)`` (its finite
    part), and whether some own-reached KL is infinite."""
    sf = sequence_form(game.tree)
    reference = game.uniform_policy() if reference is None else reference
    plans = game._plans(policy)
    tau = jnp.asarray(temperature, policy[0].dtype)
    best, values, infinite = [], [], jnp.zeros((), bool)
    for i, (pi, rho, mask) in enumerate(zip(policy, reference, game.legal_mask())):
        rho = rho.astype(pi.dtype)
        u = sequence_values(sf, i, plans, game.terminal_weights[i])
        _, soft_best = bottom_up(sf, i, u, _soft_reduce(mask, rho, tau))
        own_reach = plans[i][jnp.asarray(sf.parent_sequence[i])]  # x_i(I) [n_I]
        kl, inf_at = kl_finite_part(pi, rho, mask)
        best.append(soft_best)
        values.append(jnp.dot(plans[i], u) - tau * jnp.sum(own_reach * kl))  # u_i(pi) - tau D_i(pi_i)
        infinite = infinite | jnp.any(inf_at & (own_reach > 0))
    return jnp.stack(best), jnp.stack(values), (tau > 0) & infinite


def soft_best_response_values(game, policy: Policy, temperature, reference: Policy | None = None) -> jax.Array:
    """``[N]``: ``max_{pi_i'} u_i(pi_i', pi_-i) - tau D_i(pi_i')`` per player (the root of the soft
    bottom-up pass); the best-response values at ``tau = 0``."""
    return _values(game, policy, temperature, reference)[0]


def regularized_nash_conv(game, policy: Policy, temperature, reference: Policy | None = None) -> jax.Array:
    """Gap to the dilated-KL-regularized equilibrium of the ``EFGGame`` ``game`` (module docstring).

    Args:
      game: an ``EFGGame``.
      policy: per player ``[num_infosets_i, max_actions]`` behavioural policy.
      temperature: ``tau >= 0`` (may be traced); ``0`` gives ``nash_conv``.
      reference: per player ``[num_infosets_i, max_actions]`` reference policy ``rho``
        (default: uniform over legal actions).

    Returns a scalar, ``+inf`` where the policy's own-reached KL to the reference is infinite.
    """
    best, values, infinite = _values(game, policy, temperature, reference)
    return jnp.where(infinite, jnp.inf, jnp.sum(best - values))


def soft_action_values(game, policy: Policy, temperature, reference: Policy | None = None) -> Policy:
    """Per player ``[I_i, A]``: the counterfactual action values ``q_soft(I, a)`` of the bottom-up soft
    pass against the others' ``policy`` (the subtree below ``(I, a)`` valued by the player's soft best
    response), so that the soft best response is ``pi_i(I) ∝ rho(I) exp(q_soft(I) / tau)``; the
    ordinary best-response counterfactual values at ``tau = 0``."""
    sf = sequence_form(game.tree)
    reference = game.uniform_policy() if reference is None else reference
    plans = game._plans(policy)
    tau = jnp.asarray(temperature, policy[0].dtype)
    out = []
    for i, (rho, mask) in enumerate(zip(reference, game.legal_mask())):
        u = sequence_values(sf, i, plans, game.terminal_weights[i])
        q, _ = bottom_up(sf, i, u, _soft_reduce(mask, rho.astype(policy[i].dtype), tau))
        out.append(q)
    return tuple(out)


def soft_best_response(game, policy: Policy, temperature, reference: Policy | None = None) -> Policy:
    """Per player, the behavioural soft best response ``pi_i(I) ∝ rho(I) exp(q_soft(I) / tau)`` to the
    others (``tau > 0``), ``q_soft`` the counterfactual values of the bottom-up soft pass
    (``soft_action_values``); the one-hot best response at ``tau = 0``. Shapes as ``policy``."""
    reference = game.uniform_policy() if reference is None else reference
    tau = jnp.asarray(temperature, policy[0].dtype)
    q = soft_action_values(game, policy, tau, reference)
    return tuple(
        simplex.logit_response(qi, mask, tau, rho.astype(qi.dtype))
        for qi, rho, mask in zip(q, reference, game.legal_mask())
    )
