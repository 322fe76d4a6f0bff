"""Proximal (mirror) steps on products of simplices, shared by the first-order solvers.

``mirror_step`` solves, independently at every decision point,

    p' = argmax_p  eta <p, g> - eta tau KL(p || rho) - D(p, p_t)

where ``D`` is the Bregman divergence of the geometry:

* ``"entropic"`` (KL): the closed form of magnetic mirror descent
  (Sokota et al. 2023), ``log p' ∝ (log p_t + eta g + eta tau log rho) / (1 + eta tau)``;
  with ``tau = 0`` it is the multiplicative-weights / Hedge update.
* ``"euclidean"``: ``p' = Proj_simplex(p_t + eta g)`` (``tau`` must be 0).
* ``"dilated"``: the dilated entropy of extensive-form games: ``g`` is the
  sequence-form gradient (``game.sequence_gradient``) and the step is
  ``game.dilated_mirror_step``, solved bottom-up over the game tree. In games
  without nested decision points it equals ``"entropic"``.
"""

from __future__ import annotations

from jaxgames import simplex
from jaxgames.core import Policy, is_concrete

GEOMETRIES = ("entropic", "euclidean", "dilated")


def check_geometry(geometry: str, temperature) -> None:
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry: expected one of {GEOMETRIES}, got {geometry!r}")
    if geometry == "euclidean" and not (is_concrete(temperature) and float(temperature) == 0.0):
        raise ValueError(
            "temperature: KL regularization needs geometry='entropic'; "
            f"expected 0 with geometry='euclidean', got {temperature!r}"
        )


def gradient(game, policy: Policy, geometry: str) -> Policy:
    """The gradient the geometry's step takes: sequence-form for ``"dilated"``, else action values."""
    if geometry == "dilated":
        return game.sequence_gradient(policy)
    return game.evaluate(policy).action_values


def mirror_step(
    game,
    policy: Policy,
    grads: Policy,
    learning_rate,
    geometry: str = "entropic",
    temperature=0.0,
    magnet: Policy | None = None,
) -> Policy:
    """One proximal ascent step for every player (see the module docstring)."""
    if geometry == "dilated":
        return game.dilated_mirror_step(policy, grads, learning_rate, temperature, magnet)
    out = []
    masks = game.legal_mask()
    for i, (p, g, m) in enumerate(zip(policy, grads, masks)):
        if geometry == "euclidean":
            out.append(simplex.project(p + learning_rate * g, m))
            continue
        out.append(simplex.entropic_step(p, g, m, learning_rate, temperature, None if magnet is None else magnet[i]))
    return tuple(out)
