"""Proximal (mirror) steps on products of simplices, shared by the first-order solvers.

``mirror_step`` solves, independently at every decision point,

    p' = argmax_p  eta <p, g> - eta tau KL(p || rho) - D(p, p_t)

where ``D`` is the Bregman divergence of the geometry:

* ``"entropic"`` (KL): the closed form of magnetic mirror descent
  (Sokota et al. 2023), ``log p' ∝ (log p_t + eta g + eta tau log rho) / (1 + eta tau)``;
  with ``tau = 0`` it is the multiplicative-weights / Hedge update.
* ``"euclidean"``: ``p' = Proj_simplex(p_t + eta g)`` (``tau`` must be 0).
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxgames import simplex
from jaxgames.core import Policy, is_concrete

GEOMETRIES = ("entropic", "euclidean")


def check_geometry(geometry: str, temperature) -> None:
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry: expected one of {GEOMETRIES}, got {geometry!r}")
    if geometry == "euclidean" and not (is_concrete(temperature) and float(temperature) == 0.0):
        raise ValueError("temperature: KL regularization needs geometry='entropic'; "
                         f"expected 0 with geometry='euclidean', got {temperature!r}")


def mirror_step(policy: Policy, grads: Policy, masks: Policy, learning_rate, geometry: str = "entropic",
                temperature=0.0, magnet: Policy | None = None) -> Policy:
    """One proximal ascent step for every player (see the module docstring)."""
    out = []
    for i, (p, g, m) in enumerate(zip(policy, grads, masks)):
        if geometry == "euclidean":
            out.append(simplex.project(p + learning_rate * g, m))
            continue
        logits = simplex.safe_log(p) + learning_rate * g
        if magnet is not None:
            logits = logits + learning_rate * temperature * simplex.safe_log(magnet[i])
        out.append(simplex.masked_softmax(logits / (1.0 + learning_rate * temperature), m))
    return tuple(out)
