"""First-order (mirror) methods on the players' simplices, all from one loop.

Every player ascends its own action values ``g_i = q_i(pi)`` (the gradient
of its expected payoff in the game) with the proximal ``mirror_step`` of
``solvers.geometry``; the methods differ only in where the gradient is taken:

* ``mirror_descent``     ``pi' = P(pi, g(pi))``                     (Hedge / MWU)
* ``optimistic_mirror_descent``
                         ``pi' = P(pi, 2 g(pi) - g(pi_prev))``       (optimistic MWU / OGDA)
* ``extragradient``      ``h = P(pi, g(pi)); pi' = P(pi, g(h))``     (Korpelevich 1976)
* ``mirror_prox``        extragradient with the entropic mirror map (Nemirovski 2004)

``P(pi, g) = mirror_step(pi, g, eta, geometry, tau, magnet)`` maximizes
``eta <p, g> - eta tau KL(p || magnet) - D(p, pi)``: with ``tau > 0`` every
method solves the KL-regularized game, whose equilibrium (a logit QRE for a
uniform magnet) it reaches at a linear rate (Cen, Wei & Chi 2021; Sokota et
al. 2023). Replacing the magnet by the current iterate every
``magnet_update_every`` steps (the R-NaD / proximal-point schedule of Perolat
et al. 2021) makes the last iterate converge to the unregularized equilibrium.

**Step sizes.** ``eta q`` has payoff units. A ``learning_rate`` you give is used as
given (payoff units: scale it with the payoffs). The defaults (``learning_rate=None``) are
scale-free: ``eta = DEFAULT_LEARNING_RATES[name] / s`` (and, for ``mmd``, ``tau = 0.4 s``) with
``s = solvers.scale.payoff_scale(game)``, half the spread of the game's payoffs, computed at
``init``; so with default settings the iterates on ``c * A`` equal those on ``A`` for every
``c > 0``, and on payoffs spanning ``[-1, 1]`` (``s = 1``) the defaults are the step sizes the
methods were tuned with.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgames.core import Game, Policy
from solvers.core import (
    Solver,
    SolverState,
    cached_factory,
    check_bool,
    check_choice,
    check_int,
    check_number,
    initial_state,
    track_average,
)
from solvers.geometry import check_geometry, gradient, mirror_step
from solvers.scale import payoff_scale

_KINDS = ("mirror_descent", "optimistic", "extragradient")


class FirstOrderState(NamedTuple):
    """``SolverState.extra`` of every first-order solver (``first_order_solver`` and its aliases,
    ``mmd``, ``natural_policy_gradient``). A field the configuration does not use is ``None``.

    Attributes:
      magnet: the reference policy of the KL regularization (a ``Policy``); with a magnet schedule
        (``magnet_update_every > 0``) the current magnet. ``None`` without regularization.
      previous_gradient: the optimistic method's last gradient ``g(pi_{t-1})``, shaped like
        ``game.sequence_gradient`` (``geometry="dilated"``) or the action values; else ``None``.
      payoff_scale: scalar ``solvers.scale.payoff_scale(game)``, computed at ``init``, where a
        step size or temperature is relative to it (the factories' defaults); else ``None``.
    """

    magnet: Policy | None = None
    previous_gradient: Policy | None = None
    payoff_scale: jax.Array | None = None


def next_magnet(game: Game, step, every, policy: Policy, magnet: Policy, floor=0.0) -> Policy:
    """The R-NaD magnet schedule: after step ``step``, every ``every`` steps (``every > 0``; may be
    traced), the magnet becomes ``policy`` mixed with ``floor`` of the uniform policy over legal
    actions; otherwise it stays ``magnet``. The floor lets an action whose probability underflowed
    come back when the game moves (with a zero in the magnet the KL prox keeps it at 0 for ever)."""
    due = (every > 0) & ((step + 1) % jnp.maximum(every, 1) == 0)
    fresh = jax.tree_util.tree_map(lambda p, u: (1.0 - floor) * p + floor * u, policy, game.uniform_policy())
    return jax.tree_util.tree_map(lambda a, b: jnp.where(due, a, b), fresh, magnet)


def floor_at(step, floor, decay: int):
    """The magnet floor at step ``step``: ``floor``, or ``floor * min(1, decay / (step + 1))`` for ``decay > 0``."""
    if decay == 0:
        return floor
    return floor * jnp.minimum(1.0, decay / (step + 1.0))


#: Default step sizes, relative to ``solvers.scale.payoff_scale`` (1 for payoffs spanning [-1, 1]).
DEFAULT_LEARNING_RATES = {
    "mirror_descent": 0.2,
    "optimistic_mirror_descent": 1.0,
    "extragradient": 0.2,
    "mirror_prox": 1.0,
    "mmd": 0.8,
}


def _relative(value, default):
    """``(value, relative)``: an explicit value as given (payoff units), or the default, marked relative
    to the game's payoff scale."""
    return (default, True) if value is None else (value, False)


@cached_factory
def first_order_solver(
    kind: str,
    learning_rate,
    geometry: str = "entropic",
    temperature=0.0,
    magnet: Policy | None = None,
    magnet_update_every: int = 0,
    output: str = "last",
    alternating: bool = False,
    magnet_floor=0.0,
    *,
    magnet_floor_decay: int = 0,
    relative_learning_rate: bool = False,
    relative_temperature: bool = False,
) -> Solver:
    """The shared implementation behind every mirror-type solver (see the module docstring).

    Args:
      kind: ``"mirror_descent"``, ``"optimistic"`` or ``"extragradient"``.
      learning_rate: step size ``eta > 0``, in payoff units (a step ``eta q`` with action values ``q``).
      geometry: ``"entropic"`` (KL at every decision point), ``"euclidean"``
        (projection) or ``"dilated"`` (the dilated entropy on the sequence form
        of extensive-form games; equal to ``"entropic"`` elsewhere).
      temperature: regularization ``tau >= 0`` toward the magnet, in payoff units.
      magnet: reference policy (default: uniform); the state carries it.
      magnet_update_every: if > 0, replace the magnet by the current iterate
        every that many steps (R-NaD style).
      output: ``"last"`` iterate or reach-weighted ``"average"``
        (for extragradient, the average of the extrapolated points, as in
        Nemirovski's analysis). With ``"last"`` the running average is not
        tracked (``state.average`` is the iterate); with ``"average"``
        ``state.policy`` still holds the last iterate.
      alternating: (mirror descent only) players step in turn, each against
        the others' newest policy.
      magnet_floor: in ``[0, 1]``: each new magnet mixes in this much of the uniform policy
        (``next_magnet``), for games that move (``solvers.smooth_value_iteration``'s stage games);
        ``0`` for a fixed game.
      magnet_floor_decay: ``T >= 0``: with ``T > 0`` the floor decays, ``magnet_floor * min(1, T / (t + 1))``
        at step ``t`` (``floor_at``), so that it lets actions recover early on and biases the fixed
        point less and less (``solvers.mmd``); ``0`` keeps it constant.
      relative_learning_rate, relative_temperature: take ``learning_rate`` / ``temperature``
        relative to the game's payoff scale ``s = solvers.scale.payoff_scale(game)`` (computed at
        ``init``, kept in ``extra.payoff_scale``): the step uses ``eta / s`` and ``tau * s``, so
        the iterates on ``c * game`` equal those on ``game``. The public factories set them for
        their defaults (``learning_rate=None``).
    """
    check_choice(kind, "kind", _KINDS)
    check_number(learning_rate, "learning_rate", 0, low_open=True)
    check_number(temperature, "temperature", 0)
    check_geometry(geometry, temperature)
    check_choice(output, "output", ("last", "average"))
    magnet_update_every = check_int(magnet_update_every, "magnet_update_every", low=0)
    check_bool(alternating, "alternating")
    check_number(magnet_floor, "magnet_floor", 0, 1)
    magnet_floor_decay = check_int(magnet_floor_decay, "magnet_floor_decay", low=0)
    check_bool(relative_learning_rate, "relative_learning_rate")
    check_bool(relative_temperature, "relative_temperature")
    regularized = magnet is not None or magnet_update_every != 0
    if alternating and kind != "mirror_descent":
        raise ValueError(f"alternating: only supported for mirror descent, not {kind!r}")
    scaled = relative_learning_rate or relative_temperature

    def rates(extra: FirstOrderState):
        """``(eta, tau)`` of the step: relative ones scaled by the game's payoff scale."""
        scale = extra.payoff_scale
        eta = learning_rate / scale if relative_learning_rate else learning_rate
        tau = temperature * scale if relative_temperature else temperature
        return eta, tau

    def _gradient(game, policy):
        return gradient(game, policy, geometry)

    def init(game: Game, key=None) -> SolverState:
        state = initial_state(game, key)
        extra = FirstOrderState()
        if regularized:
            extra = extra._replace(
                magnet=game.uniform_policy() if magnet is None else game.validate_policy(magnet, "magnet")
            )
        if kind == "optimistic":
            extra = extra._replace(previous_gradient=_gradient(game, state.policy))
        if scaled:
            extra = extra._replace(payoff_scale=payoff_scale(game).astype(state.policy[0].dtype))
        return state.replace(extra=extra)

    def step(game: Game, state: SolverState) -> SolverState:
        extra = state.extra
        magnet_ = extra.magnet
        eta, tau = rates(extra)

        def prox(policy, grads):
            return mirror_step(game, policy, grads, eta, geometry, tau, magnet_)

        policy = state.policy
        grads = _gradient(game, policy)
        played = policy
        if kind == "mirror_descent" and alternating:
            new = policy
            for i in range(game.num_players):
                g = grads if i == 0 else _gradient(game, new)
                stepped = prox(new, g)
                new = new[:i] + (stepped[i],) + new[i + 1 :]
        elif kind == "mirror_descent":
            new = prox(policy, grads)
        elif kind == "optimistic":
            prev = extra.previous_gradient
            new = prox(policy, jax.tree_util.tree_map(lambda g, h: 2 * g - h, grads, prev))
            extra = extra._replace(previous_gradient=grads)
        else:
            played = prox(policy, grads)
            new = prox(policy, _gradient(game, played))
        if regularized and magnet_update_every != 0:
            floor = floor_at(state.step, magnet_floor, magnet_floor_decay)
            extra = extra._replace(magnet=next_magnet(game, state.step, magnet_update_every, new, magnet_, floor))
        average = track_average(game, state, played, new, output)
        return SolverState(policy=new, average=average, step=state.step + 1, extra=extra)

    report = (lambda s: s.policy) if output == "last" else (lambda s: s.average)
    return Solver(init=init, step=step, output=report)


def mirror_descent(
    learning_rate=None,
    geometry: str = "entropic",
    temperature=0.0,
    magnet: Policy | None = None,
    output: str = "average",
    alternating: bool = True,
) -> Solver:
    """Online mirror descent; entropic geometry is multiplicative weights (Hedge).

    ``pi_i <- pi_i exp(eta q_i) / Z`` (Freund & Schapire 1999). No-regret, so in
    two-player zero-sum games the *average* converges while the last iterate
    does not converge to mixed equilibria: with simultaneous updates it spirals
    out to the boundary (Bailey & Piliouras 2018), with alternating updates
    (the default) it cycles on a bounded orbit and the average converges at
    ``O(1/t)`` instead of ``O(1/sqrt t)`` (Bailey, Gidel & Piliouras 2020).
    ``output`` defaults to ``"average"``. ``learning_rate``: ``None`` (default) is
    ``0.2 / payoff_scale`` (scale-free, see the module docstring); a number is ``eta`` in payoff units.
    """
    eta, relative = _relative(learning_rate, DEFAULT_LEARNING_RATES["mirror_descent"])
    return first_order_solver(
        "mirror_descent", eta, geometry, temperature, magnet, 0, output, alternating, relative_learning_rate=relative
    )


def optimistic_mirror_descent(
    learning_rate=None,
    geometry: str = "entropic",
    temperature=0.0,
    magnet: Policy | None = None,
    output: str = "average",
) -> Solver:
    """Optimistic MWU / optimistic gradient: ``pi' = P(pi, 2 q(pi_t) - q(pi_{t-1}))``.

    Rakhlin & Sridharan (2013); Daskalakis et al. (2018); last-iterate
    convergence in zero-sum games with a unique equilibrium (Daskalakis &
    Panageas 2019; Wei et al. 2021) at a game-dependent linear rate that can
    be slow when the equilibrium puts little mass on some action; the average
    has ``O(log(A) / (eta t))`` regret (Syrgkanis et al. 2015), so ``output``
    defaults to ``"average"``; for the last iterate (``"last"``) use a smaller
    step (``learning_rate <= 0.3`` for payoffs in [-1, 1]). One gradient per
    step. ``learning_rate``: ``None`` (default) is ``1 / payoff_scale`` (scale-free); a number
    is ``eta`` in payoff units.
    """
    eta, relative = _relative(learning_rate, DEFAULT_LEARNING_RATES["optimistic_mirror_descent"])
    return first_order_solver(
        "optimistic", eta, geometry, temperature, magnet, 0, output, relative_learning_rate=relative
    )


def extragradient(
    learning_rate=None,
    geometry: str = "euclidean",
    temperature=0.0,
    magnet: Policy | None = None,
    magnet_update_every: int = 0,
    output: str = "last",
) -> Solver:
    """Extragradient (Korpelevich 1976): ``h = P(pi, q(pi))``, ``pi' = P(pi, q(h))``.

    ``geometry="euclidean"`` projects onto the simplex; ``"entropic"`` is
    mirror prox. With ``temperature > 0`` and ``geometry="entropic"`` it is
    the entropy/KL-regularized extragradient of Cen, Wei & Chi (2021), linear
    convergence to the regularized equilibrium at a rate independent of the
    number of actions; toward a reference policy ``magnet`` it is EGPO (Zhou
    et al. 2025) for preference games. Two gradients per step. ``learning_rate``: ``None``
    (default) is ``0.2 / payoff_scale`` (scale-free); a number is ``eta`` in payoff units.
    """
    eta, relative = _relative(learning_rate, DEFAULT_LEARNING_RATES["extragradient"])
    return first_order_solver(
        "extragradient",
        eta,
        geometry,
        temperature,
        magnet,
        magnet_update_every,
        output,
        relative_learning_rate=relative,
    )


def mirror_prox(
    learning_rate=None,
    temperature=0.0,
    magnet: Policy | None = None,
    magnet_update_every: int = 0,
    output: str = "average",
    geometry: str = "entropic",
) -> Solver:
    """Mirror prox (Nemirovski 2004) with the entropic mirror map.

    ``h = pi exp(eta q(pi)) / Z``, ``pi' = pi exp(eta q(h)) / Z'``. The average
    of the ``h`` has duality gap ``<= (KL diameter) / (eta t)`` for
    ``eta <= 1 / L`` (Nemirovski's theorem), so ``output`` defaults to that
    average; the last iterate (``output="last"``) also converges in zero-sum
    matrix games, at a game-dependent linear rate. With ``temperature > 0`` and a reference ``magnet`` it
    is Nash mirror prox for preference games (Nash-MP; Munos et al. 2023;
    Tiapkin et al. 2025), linear convergence to the regularized equilibrium.
    On extensive-form games ``geometry="dilated"`` is mirror prox with the
    dilated entropy on the sequence form (Kroer et al. 2020), which keeps
    Nemirovski's ``O(1/t)`` guarantee; ``"entropic"`` (behavioural) does not.
    ``learning_rate``: ``None`` (default) is ``1 / payoff_scale`` (scale-free); a number is
    ``eta`` in payoff units.
    """
    if geometry not in ("entropic", "dilated"):
        raise ValueError(f"geometry: mirror prox is entropic; expected 'entropic' or 'dilated', got {geometry!r}")
    eta, relative = _relative(learning_rate, DEFAULT_LEARNING_RATES["mirror_prox"])
    return first_order_solver(
        "extragradient",
        eta,
        geometry,
        temperature,
        magnet,
        magnet_update_every,
        output,
        relative_learning_rate=relative,
    )
