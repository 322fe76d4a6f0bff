"""Equilibria as differentiable functions: the logit QRE, its path, and inverse game theory.

* ``logit_qre(game, temperature, reference=None)``: the KL-regularized (logit QRE) equilibrium of
  every family, differentiable in the game's arrays and the temperature by implicit
  differentiation at the fixed point (``jaxgames.equilibria.qre``).
* ``qre_path(game)``: the principal branch of logit QREs from the uniform policy toward the Nash
  equilibrium it selects, by predictor-corrector continuation (``jaxgames.equilibria.path``).
"""

from jaxgames.equilibria.path import CONVERGED, FAILED, OUT_OF_POINTS, REACHED, QREPath, describe, qre_path
from jaxgames.equilibria.qre import QRE, logit_qre

__all__ = [
    "CONVERGED",
    "FAILED",
    "OUT_OF_POINTS",
    "QRE",
    "QREPath",
    "REACHED",
    "describe",
    "logit_qre",
    "qre_path",
]
