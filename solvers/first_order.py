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
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgames.core import Game, Policy, check_positive
from solvers.core import (Solver, SolverState, cached_factory, check_choice, initial_state,
                          track_average)
from solvers.geometry import check_geometry, gradient, mirror_step

_KINDS = ("mirror_descent", "optimistic", "extragradient")


def next_magnet(game: Game, step, every, policy: Policy, magnet: Policy, floor=0.0) -> Policy:
    """The R-NaD magnet schedule: after step ``step``, every ``every`` steps (``every > 0``; may be
    traced), the magnet becomes ``policy`` mixed with ``floor`` of the uniform policy over legal
    actions; otherwise it stays ``magnet``. The floor lets an action whose probability underflowed
    come back when the game moves (with a zero in the magnet the KL prox keeps it at 0 for ever)."""
    due = (every > 0) & ((step + 1) % jnp.maximum(every, 1) == 0)
    fresh = jax.tree_util.tree_map(lambda p, u: (1.0 - floor) * p + floor * u, policy, game.uniform_policy())
    return jax.tree_util.tree_map(lambda a, b: jnp.where(due, a, b), fresh, magnet)


@cached_factory
def first_order_solver(kind: str, learning_rate, geometry: str = "entropic", temperature=0.0,
                       magnet: Policy | None = None, magnet_update_every: int = 0,
                       output: str = "last", alternating: bool = False, magnet_floor=0.0) -> Solver:
    """The shared implementation behind every mirror-type solver (see the module docstring).

    Args:
      kind: ``"mirror_descent"``, ``"optimistic"`` or ``"extragradient"``.
      learning_rate: step size ``eta > 0`` (payoffs are assumed to be O(1)).
      geometry: ``"entropic"`` (KL at every decision point), ``"euclidean"``
        (projection) or ``"dilated"`` (the dilated entropy on the sequence form
        of extensive-form games; equal to ``"entropic"`` elsewhere).
      temperature: regularization ``tau >= 0`` toward the magnet.
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
      magnet_floor: each new magnet mixes in this much of the uniform policy (``next_magnet``),
        for games that move (``solvers.smooth_value_iteration``'s stage games); ``0`` for a
        fixed game.
    """
    check_choice(kind, "kind", _KINDS)
    check_positive(learning_rate, "learning_rate")
    check_positive(temperature, "temperature", allow_zero=True)
    check_geometry(geometry, temperature)
    check_choice(output, "output", ("last", "average"))
    if isinstance(magnet_update_every, int) and magnet_update_every < 0:
        raise ValueError(f"magnet_update_every: expected an integer >= 0, got {magnet_update_every}")
    regularized = magnet is not None or magnet_update_every != 0
    if alternating and kind != "mirror_descent":
        raise ValueError(f"alternating: only supported for mirror descent, not {kind!r}")

    def prox(game, policy, grads, magnet_):
        return mirror_step(game, policy, grads, learning_rate, geometry, temperature, magnet_)

    def _gradient(game, policy):
        return gradient(game, policy, geometry)

    def init(game: Game, key=None) -> SolverState:
        extra = {}
        if regularized:
            extra["magnet"] = game.uniform_policy() if magnet is None else game.validate_policy(magnet, "magnet")
        state = initial_state(game, key)
        if kind == "optimistic":
            extra["previous_gradient"] = _gradient(game, state.policy)
        return state.replace(extra=extra)

    def step(game: Game, state: SolverState) -> SolverState:
        extra = dict(state.extra)
        magnet_ = extra.get("magnet")
        policy = state.policy
        grads = _gradient(game, policy)
        played = policy
        if kind == "mirror_descent" and alternating:
            new = policy
            for i in range(game.num_players):
                g = grads if i == 0 else _gradient(game, new)
                stepped = prox(game, new, g, magnet_)
                new = new[:i] + (stepped[i],) + new[i + 1:]
        elif kind == "mirror_descent":
            new = prox(game, policy, grads, magnet_)
        elif kind == "optimistic":
            prev = extra["previous_gradient"]
            new = prox(game, policy, jax.tree_util.tree_map(lambda g, h: 2 * g - h, grads, prev), magnet_)
            extra["previous_gradient"] = grads
        else:
            played = prox(game, policy, grads, magnet_)
            new = prox(game, policy, _gradient(game, played), magnet_)
        if regularized and not (isinstance(magnet_update_every, int) and magnet_update_every == 0):
            extra["magnet"] = next_magnet(game, state.step, magnet_update_every, new, magnet_, magnet_floor)
        average = track_average(game, state, played, new, output)
        return SolverState(policy=new, average=average, step=state.step + 1, extra=extra)

    report = (lambda s: s.policy) if output == "last" else (lambda s: s.average)
    return Solver(init=init, step=step, output=report)


def mirror_descent(learning_rate=0.2, geometry: str = "entropic", temperature=0.0,
                   magnet: Policy | None = None, output: str = "average",
                   alternating: bool = True) -> Solver:
    """Online mirror descent; entropic geometry is multiplicative weights (Hedge).

    ``pi_i <- pi_i exp(eta q_i) / Z`` (Freund & Schapire 1999). No-regret, so in
    two-player zero-sum games the *average* converges while the last iterate
    does not converge to mixed equilibria: with simultaneous updates it spirals
    out to the boundary (Bailey & Piliouras 2018), with alternating updates
    (the default) it cycles on a bounded orbit and the average converges at
    ``O(1/t)`` instead of ``O(1/sqrt t)`` (Bailey, Gidel & Piliouras 2020).
    ``output`` defaults to ``"average"``.
    """
    return first_order_solver("mirror_descent", learning_rate, geometry, temperature, magnet, 0,
                              output, alternating)


def optimistic_mirror_descent(learning_rate=1.0, geometry: str = "entropic", temperature=0.0,
                              magnet: Policy | None = None, output: str = "average") -> Solver:
    """Optimistic MWU / optimistic gradient: ``pi' = P(pi, 2 q(pi_t) - q(pi_{t-1}))``.

    Rakhlin & Sridharan (2013); Daskalakis et al. (2018); last-iterate
    convergence in zero-sum games with a unique equilibrium (Daskalakis &
    Panageas 2019; Wei et al. 2021) at a game-dependent linear rate that can
    be slow when the equilibrium puts little mass on some action; the average
    has ``O(log(A) / (eta t))`` regret (Syrgkanis et al. 2015), so ``output``
    defaults to ``"average"``; for the last iterate (``"last"``) use a smaller
    step (``learning_rate <= 0.3`` for payoffs in [-1, 1]). One gradient per
    step.
    """
    return first_order_solver("optimistic", learning_rate, geometry, temperature, magnet, 0, output)


def extragradient(learning_rate=0.2, geometry: str = "euclidean", temperature=0.0,
                  magnet: Policy | None = None, magnet_update_every: int = 0,
                  output: str = "last") -> Solver:
    """Extragradient (Korpelevich 1976): ``h = P(pi, q(pi))``, ``pi' = P(pi, q(h))``.

    ``geometry="euclidean"`` projects onto the simplex; ``"entropic"`` is
    mirror prox. With ``temperature > 0`` and ``geometry="entropic"`` it is
    the entropy/KL-regularized extragradient of Cen, Wei & Chi (2021), linear
    convergence to the regularized equilibrium at a rate independent of the
    number of actions; toward a reference policy ``magnet`` it is EGPO (Zhou
    et al. 2025) for preference games. Two gradients per step.
    """
    return first_order_solver("extragradient", learning_rate, geometry, temperature, magnet,
                              magnet_update_every, output)


def mirror_prox(learning_rate=1.0, temperature=0.0, magnet: Policy | None = None,
                magnet_update_every: int = 0, output: str = "average", geometry: str = "entropic") -> Solver:
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
    """
    if geometry not in ("entropic", "dilated"):
        raise ValueError(f"geometry: mirror prox is entropic; expected 'entropic' or 'dilated', got {geometry!r}")
    return first_order_solver("extragradient", learning_rate, geometry, temperature, magnet,
                              magnet_update_every, output)
