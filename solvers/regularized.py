"""Regularized Nash solvers: magnetic mirror descent and its magnet schedule.

Magnetic mirror descent (MMD; Sokota et al. 2023, "A unified approach to
reinforcement learning, quantal response equilibria, and two-player zero-sum
games"), at every decision point::

    pi' ∝ exp((log pi + eta q(pi) + eta tau log rho) / (1 + eta tau))

the exact proximal step of the KL-regularized game
``max u_i - tau KL(pi_i || rho_i)``. For a fixed magnet ``rho`` the iterates
converge linearly to its regularized equilibrium (a logit QRE when ``rho`` is
uniform) for ``eta <= tau / L^2``. With ``magnet_update_every = K > 0`` the
magnet is replaced by the current iterate every ``K`` steps — the R-NaD
schedule (Perolat et al. 2021), an inexact proximal-point method — and the
last iterate converges to a Nash equilibrium of the unregularized game.
"""

from __future__ import annotations

from jaxgames.core import Policy
from solvers.core import Solver
from solvers.first_order import first_order_solver


def mmd(learning_rate=0.3, temperature=0.3, magnet: Policy | None = None,
        magnet_update_every: int = 20, output: str = "last", geometry: str = "entropic") -> Solver:
    """Magnetic mirror descent with an R-NaD magnet schedule (see the module docstring).

    The defaults satisfy ``eta <= tau / L^2`` for payoffs in [-1, 1] (larger
    steps can diverge). The last iterate's rate is game-dependent: on random
    5x5 zero-sum games about 70-80% reach exploitability < 1e-3 within 5,000
    steps (median ~1e-6); games whose equilibrium puts little mass on some
    action converge more slowly, as for every entropic last-iterate method.

    Args:
      learning_rate: ``eta > 0``.
      temperature: regularization ``tau >= 0`` toward the magnet.
      magnet: initial magnet / reference policy (default: uniform).
      magnet_update_every: replace the magnet by the current iterate every this
        many steps; ``0`` keeps it fixed, and the solver then finds the
        regularized (QRE) equilibrium instead of a Nash equilibrium.
      output: ``"last"`` (default; MMD is a last-iterate method) or ``"average"``.
      geometry: ``"entropic"``, the behavioural form (the closed form above at
        every decision point, with the action values ``q``), or ``"dilated"``,
        the dilated-entropy form for extensive-form games: the same closed form
        with ``q`` replaced by the *regularized* values of the subtrees below,
        solved bottom-up (``EFGGame.dilated_mirror_step``); its gradient is
        reach-weighted, so ``eta <= tau / L^2`` holds for much larger ``eta``.
        Both are the same on matrix games.
    """
    if geometry not in ("entropic", "dilated"):
        raise ValueError(f"geometry: MMD is entropic; expected 'entropic' or 'dilated', got {geometry!r}")
    return first_order_solver("mirror_descent", learning_rate, geometry, temperature, magnet,
                              magnet_update_every, output)
