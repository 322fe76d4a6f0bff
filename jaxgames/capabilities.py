"""Optional game capabilities: declared once, each with one signature, checked with ``require``.

Every game model implements the ``jaxgames.core.Game`` contract (``evaluate``, ``best_response``,
``reach``, ...). Some solvers and metrics need more than the contract: smoothed fictitious play
needs a *smooth* best response, Shapley's value iteration needs a Markov game's *joint action
values*. Each such extra is a ``typing.Protocol`` below; a game has the capability when it
defines the protocol's members with the protocol's signature (structural typing: no registration,
no base class). Solvers ask for a capability with ``require`` instead of probing with
``hasattr``, so a game that lacks one fails at once with a ``CapabilityError`` naming the
solver, the game type and the missing capability::

    from jaxgames.capabilities import SmoothBestResponse, require

    require(game, SmoothBestResponse, "fictitious_play(temperature > 0)")
    response = game.smooth_best_response(policy, temperature)

Which family has which capability:

* ``SmoothBestResponse``: matrix, contextual preference, Markov and mean-field games (finite
  horizon and stationary), and ``jaxgames.markov.StageGames`` (the stage games of a Markov game
  as one batched matrix game); not extensive-form games.
* ``RegularizedNashConv``: every family (matrix, contextual, extensive-form, Markov, mean-field).
* ``JointActionValues``: Markov games.
* ``PayoffSpread``: ``jaxgames.markov.StageGames``.

The dilated-entropy step of the first-order solvers
(``sequence_gradient`` and ``dilated_mirror_step``) is not optional: ``Game`` declares it, with a
default that is the entropic step at every decision point (exact for games without nested
decision points), and extensive-form and mean-field games override it with the same signature.
``PayoffSpread`` is how a game outside the four families tells the solvers the spread of its
payoffs (``solvers.scale``, which knows the four families' spreads).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import jax

from jaxgames.core import Policy


@runtime_checkable
class SmoothBestResponse(Protocol):
    """The logit (KL-regularized) best response, each player's to the others' ``policy``.

    ``smooth_best_response(policy, temperature, reference=None)`` returns a policy (shaped like
    ``policy``) whose player ``i`` plays ``pi_i ∝ ref_i exp(Q_i / temperature)`` at every decision
    point, with the family's action values ``Q_i`` (matrix and Markov games: against ``policy``;
    mean-field games: the soft backward induction against ``mu(policy)``). ``reference``: a policy
    of the game, default uniform over legal actions; ``temperature = 0`` gives a (one-hot) best
    response. Used by smoothed fictitious play and Boltzmann iteration.
    """

    def smooth_best_response(self, policy: Policy, temperature, reference: Policy | None = None) -> Policy: ...


@runtime_checkable
class RegularizedNashConv(Protocol):
    """The gap to the KL-regularized equilibrium (``jaxgames.regularized_nash_conv``).

    ``regularized_nash_conv(policy, temperature, reference=None)``: a scalar, zero exactly at the
    regularized equilibrium (a logit QRE for the uniform ``reference``, the default), ``nash_conv``
    at ``temperature = 0``, ``+inf`` where ``policy`` puts mass on an action that ``reference``
    excludes at a decision point that counts.
    """

    def regularized_nash_conv(self, policy: Policy, temperature, reference: Policy | None = None) -> jax.Array: ...


@runtime_checkable
class JointActionValues(Protocol):
    """Shapley's reduction of a Markov game to stage games (``jaxgames.markov.MarkovGame``).

    ``joint_action_values(state_values)``: for ``V [N, S]``, the ``[N, S, A_1, ..., A_N]`` values
    ``r_i(s, a) + discount sum_s' P(s' | s, a) V_i(s')``; with ``num_states`` ``S``, the scalar
    ``discount`` and ``horizon`` (``None``: infinite-horizon). Used by the value-iteration family
    and every solver that works on the stage games.
    """

    num_states: int
    discount: jax.Array
    horizon: int | None

    def joint_action_values(self, state_values: jax.Array) -> jax.Array: ...


@runtime_checkable
class PayoffSpread(Protocol):
    """``payoff_spread()``: a scalar, a cheap bound on the spread ``max - min`` of one player's payoffs.

    What makes the first-order solvers' default step sizes scale-free (``solvers.scale.payoff_scale``
    is half of it), for a game outside the four built-in families (those are handled there);
    homogeneous: ``c * game`` has ``c`` times the spread.
    """

    def payoff_spread(self) -> jax.Array: ...


#: What each capability is, in words, for the error message of ``require``.
DESCRIPTIONS = {
    SmoothBestResponse: "a game with a smooth (logit) best response",
    RegularizedNashConv: "a game with a KL-regularized NashConv",
    JointActionValues: "a Markov game (jaxgames.markov.MarkovGame)",
    PayoffSpread: "a game with a payoff spread",
}

#: The signature of each capability, for the error message of ``require``.
SIGNATURES = {
    SmoothBestResponse: "smooth_best_response(policy, temperature, reference=None)",
    RegularizedNashConv: "regularized_nash_conv(policy, temperature, reference=None)",
    JointActionValues: "joint_action_values(state_values), num_states, discount, horizon",
    PayoffSpread: "payoff_spread()",
}


class CapabilityError(TypeError, ValueError):
    """A game lacks a capability that a solver or metric needs.

    A ``TypeError`` (the game is of the wrong kind); also a ``ValueError``, which is what these
    checks raised before they were declared here, so that code catching that keeps working (as
    ``io.UnsupportedOperation`` is both an ``OSError`` and a ``ValueError``).
    """


def has(game, capability: type) -> bool:
    """Whether ``game`` provides ``capability`` (one of the protocols of this module)."""
    if capability not in DESCRIPTIONS:
        raise ValueError(
            f"capability: expected one of {', '.join(c.__name__ for c in DESCRIPTIONS)}, got {capability!r}"
        )
    return isinstance(game, capability)


def require(game, capability: type, solver: str) -> None:
    """Raise ``CapabilityError`` unless ``game`` provides ``capability``.

    The message starts ``"game: "`` and names the solver (or metric) ``solver``, what it needs,
    the game's type and the missing capability with its signature, e.g. ``game: value_iteration
    needs a Markov game (jaxgames.markov.MarkovGame); MatrixGame does not provide JointActionValues
    (joint_action_values(state_values), num_states, discount, horizon)``.
    """
    if not has(game, capability):
        raise CapabilityError(
            f"game: {solver} needs {DESCRIPTIONS[capability]}; {type(game).__name__} does not provide "
            f"{capability.__name__} ({SIGNATURES[capability]})"
        )
