"""Equilibria as differentiable functions: the logit QRE, its path, and inverse game theory.

* ``logit_qre(game, temperature, reference=None)``: the KL-regularized (logit QRE) equilibrium of
  every family, differentiable in the game's arrays and the temperature by implicit
  differentiation at the fixed point (``jaxgames.equilibria.qre``).
* ``qre_path(game)``: the principal branch of logit QREs from the uniform policy toward the Nash
  equilibrium it selects, by predictor-corrector continuation (``jaxgames.equilibria.path``).
* ``fit(model, params0, counts, temperature)`` and ``design(model, params0, objective, temperature)``:
  inverse game theory (maximum-likelihood payoffs, preferences or temperature from observed
  action counts, with standard errors) and reward design, by optimization through ``logit_qre``
  (``jaxgames.equilibria.inverse``).
"""

from jaxgames.equilibria.inverse import (
    Design,
    Fit,
    center_payoffs,
    delta_method,
    design,
    fit,
    fit_payoffs,
    fit_preferences,
    fit_temperature,
    sample_counts,
)
from jaxgames.equilibria.path import CONVERGED, FAILED, OUT_OF_POINTS, REACHED, QREPath, describe, qre_path
from jaxgames.equilibria.qre import QRE, logit_qre

__all__ = [
    "CONVERGED",
    "Design",
    "Fit",
    "FAILED",
    "OUT_OF_POINTS",
    "QRE",
    "QREPath",
    "REACHED",
    "center_payoffs",
    "delta_method",
    "design",
    "describe",
    "fit",
    "fit_payoffs",
    "fit_preferences",
    "fit_temperature",
    "logit_qre",
    "qre_path",
    "sample_counts",
]
