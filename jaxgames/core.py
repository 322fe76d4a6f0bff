"""The game contract shared by every game family.

A game model is an immutable pytree whose array leaves (payoffs, transition
tensors, model coefficients) can be batched with ``jax.vmap`` and whose sizes
are static. A *policy* is a tuple with one array per player, each of shape
``[*decision_points, max_actions]`` (matrix games: ``[A_i]``), holding action
probabilities; ``game.legal_mask()`` gives the legal actions in the same shape.

Every game answers the same questions about a policy, with array code only:

* ``evaluate(policy) -> Evaluation``: values, action values and reach weights;
* ``best_response(policy)``: each player's best response to the others;
* ``nash_conv(policy)``: the sum over players of their best-response gains;
* ``exploitability(policy)``: ``nash_conv / num_players`` (OpenSpiel's convention);
* ``reach(policy)``: each player's own reach of each of its decision points;
* ``mix_policies(p, q, alpha)``: the behavioural policy that plays like the
  mixture ``(1 - alpha) p + alpha q`` (Kuhn's theorem), the game-aware average
  used by every solver's running average.

Solvers are written only against this contract, so the same solver objects run
on every family. What some solvers need beyond it (a smooth best response, a Markov
game's joint action values, ...) is declared once, as a protocol, in
``jaxgames.capabilities``, and asked for with ``jaxgames.capabilities.require``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.validation import (  # noqa: F401 - re-exported: the checks' historical home
    as_float_array,
    check_finite,
    check_positive,
    check_probabilities,
    check_scalar,
    is_concrete,
    is_float_array,
)

Policy = tuple  # tuple[jax.Array, ...], one probability array per player


class Evaluation(NamedTuple):
    """What a game reports about a policy (all arrays; a pytree).

    Attributes:
      values: ``[N]`` expected payoff of each player.
      action_values: tuple, per player, ``[*decision_points, A_i]``: expected
        payoff of taking each action at the decision point (given it is
        reached) and following the policy afterwards.
      reach: tuple, per player, ``[*decision_points]``: the player's own
        probability of reaching each decision point (1 in a matrix game).
      opponent_reach: tuple, per player, ``[*decision_points]``: the others'
        and chance's reach; ``opponent_reach * action_values`` are the
        counterfactual values of CFR (equal to ``action_values`` in a matrix game).
    """

    values: jax.Array
    action_values: Policy
    reach: Policy
    opponent_reach: Policy


class Game:
    """Base class of every game model: the contract plus shared defaults.

    Subclasses implement ``num_players``, ``legal_mask``, ``evaluate``,
    ``best_response`` and ``reach``; the rest follows.
    """

    num_players: int

    # -- the contract ---------------------------------------------------------
    def legal_mask(self) -> Policy:
        raise NotImplementedError

    def evaluate(self, policy: Policy) -> Evaluation:
        raise NotImplementedError

    def best_response(self, policy: Policy) -> Policy:
        """Per player, a pure best response to the other players' ``policy``."""
        raise NotImplementedError

    def best_response_values(self, policy: Policy) -> jax.Array:
        """``[N]``: each player's value when it best-responds to the others."""
        raise NotImplementedError

    def reach(self, policy: Policy) -> Policy:
        raise NotImplementedError

    # -- shared defaults ------------------------------------------------------
    def legal_mask_host(self) -> tuple:
        """``legal_mask()`` as NumPy arrays, for validation on the host."""
        return tuple(np.asarray(m) for m in self.legal_mask())

    def policy_shapes(self) -> tuple:
        return tuple(m.shape for m in self.legal_mask())

    def uniform_policy(self) -> Policy:
        """The uniform policy over legal actions at every decision point."""
        dtype = jnp.result_type(float)
        return tuple(simplex.normalize(m.astype(dtype), m) for m in self.legal_mask())

    def nash_conv(self, policy: Policy) -> jax.Array:
        """Sum over players of ``max_{pi_i'} u_i(pi_i', pi_-i) - u_i(pi)``."""
        gains = self.best_response_values(policy) - self.evaluate(policy).values
        return jnp.sum(gains)

    def exploitability(self, policy: Policy) -> jax.Array:
        """``max(nash_conv, 0) / num_players`` (OpenSpiel's convention).

        NashConv is a sum of best-response gains, each ``>= 0`` in exact arithmetic; rounding can
        leave it a few ulps below 0 (``-6e-7`` in float32 at an equilibrium), so the reported
        exploitability is clamped at 0. ``nash_conv`` itself is returned unclamped.
        """
        return jnp.maximum(self.nash_conv(policy), 0.0) / self.num_players

    def mix_policies(self, p: Policy, q: Policy, alpha) -> Policy:
        """Behavioural policy equivalent to the mixture ``(1 - alpha) p + alpha q``.

        At a decision point reached with own probabilities ``r_p`` and ``r_q``
        the mixture plays ``p + w (q - p)`` with
        ``w = alpha r_q / ((1 - alpha) r_p + alpha r_q)`` (Heinrich et al. 2015,
        Theorem 7). With a single decision point (matrix games) ``w = alpha``.
        """
        reach_p, reach_q = self.reach(p), self.reach(q)
        mixed = []
        for pi, qi, rp, rq in zip(p, q, reach_p, reach_q):
            num = alpha * rq
            den = (1 - alpha) * rp + num
            w = jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), alpha)[..., None]
            mixed.append(pi + w * (qi - pi))
        return tuple(mixed)

    # -- the dilated-entropy geometry (first-order solvers with geometry="dilated") ----
    def sequence_gradient(self, policy: Policy) -> Policy:
        """Per player, the gradient of its payoff in sequence-form coordinates.

        Whatever ``dilated_mirror_step`` consumes; solvers only combine
        gradients linearly (a pytree per player). Extensive-form games: shaped
        like the policy, entry ``[I, a]`` is the payoff reached right after
        playing ``a`` at ``I`` (weighted by the others' and chance's reach),
        *excluding* what follows at the player's own later decision points.
        Mean-field games: the rewards against the policy's mean field, which
        travels with them. Games whose decision points are not nested (normal
        form; Markov games) return their action values (the default).
        """
        return self.evaluate(policy).action_values

    def dilated_mirror_step(
        self, policy: Policy, grads: Policy, learning_rate, temperature=0.0, magnet: Policy | None = None
    ) -> Policy:
        """The proximal step of the dilated entropy on the sequence form.

        ``x' = argmax_x eta <g, x> - eta tau D(x, rho) - D(x, x_t)``, ``g`` from
        ``sequence_gradient`` and ``D`` the Bregman divergence of the dilated
        entropy: the own-reach-weighted sum of the per-decision-point KLs
        (Hoda, Gilpin, Pena & Sandholm 2010; Kroer et al. 2020). Without nested
        decision points it is the entropic step at each decision point
        independently (the default); extensive-form games override it with a
        bottom-up pass over the tree, mean-field games with soft backward
        induction over time against the gradient's mean field.
        """
        return tuple(
            simplex.entropic_step(p, g, m, learning_rate, temperature, None if magnet is None else magnet[i])
            for i, (p, g, m) in enumerate(zip(policy, grads, self.legal_mask()))
        )

    def validate_policy(self, policy: Policy, name: str = "policy", check_values: bool = True) -> Policy:
        """Check shapes always, and values when concrete; return float arrays.

        Raises ``ValueError`` naming the player and what was expected: a tuple of
        one array per player, each of the player's shape, non-negative, with no
        mass on illegal actions and summing to 1 at every decision point.
        """
        masks = self.legal_mask_host()
        if not isinstance(policy, (tuple, list)):
            raise ValueError(
                f"{name}: expected a tuple of {self.num_players} arrays (one per player), got {type(policy).__name__}"
            )
        if len(policy) != self.num_players:
            raise ValueError(f"{name}: expected {self.num_players} arrays (one per player), got {len(policy)}")
        out = []
        for i, (p, mask) in enumerate(zip(policy, masks)):
            if not (is_float_array(p) and p.shape == mask.shape):  # else as given (per-call latency)
                p = as_float_array(p, f"{name}[{i}]")
                if p.shape != mask.shape:
                    raise ValueError(f"{name}[{i}]: expected shape {tuple(mask.shape)}, got {tuple(p.shape)}")
            if check_values:
                check_probabilities(p, f"{name}[{i}]", mask=mask)
            out.append(p)
        return tuple(out)


def require_pyspiel():
    """Import OpenSpiel's ``pyspiel`` (an optional dependency) with a clear error when it is missing."""
    try:
        import pyspiel
    except ImportError as err:  # pragma: no cover - exercised only without open-spiel
        raise ImportError("OpenSpiel interop needs the optional dependency open-spiel: pip install open-spiel") from err
    return pyspiel


def stack_policies(policies: Sequence[Policy]) -> Policy:
    """Stack a list of policies of one game into one batched policy."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *policies)
