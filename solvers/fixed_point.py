"""Damped fixed-point iteration and Boltzmann iteration (mean-field games, and any game).

A mean-field Nash equilibrium is a fixed point ``pi = BR(mu(pi))``: the policy is
a best response to the mean field it induces. Banach-Picard iteration of that
map (Huang, Malhame & Caines 2006; OpenSpiel's ``mfg.algorithms.fixed_point``)
rarely converges — best responses jump between pure policies — so it is damped
(Lauriere et al. 2022, "Learning mean field games: a survey", Sec. 4; Cui &
Koeppl 2021, "Approximately solving mean field games via entropy-regularized
deep reinforcement learning")::

    b_k     = BR(pi_k)                        (temperature = 0: backward induction vs mu(pi_k))
            = softBR_tau(pi_k)                (temperature > 0: Boltzmann / soft best response,
                                               ``game.smooth_best_response``)
    pi_{k+1} = mix(pi_k, b_k, d)              d = damping in (0, 1]

``mix`` is ``game.mix_policies``: in a mean-field game the distribution-weighted
average ``(1 - d) mu_k pi_k + d mu_b b_k`` normalised per (t, x) (Perrin et al.
2020, Eq. 5), whose mean field is exactly ``(1 - d) mu(pi_k) + d mu(b_k)`` when
the dynamics do not depend on the mean field (crowd modelling, beach bar,
RPS population) — the damped *mean-field* update of the survey. ``d = 1`` is
the undamped fixed-point iteration; ``d = 1 / (k + 2)`` would be fictitious
play. With ``temperature > 0`` the rest point is the entropy-regularised
(Boltzmann) equilibrium ``pi = softBR_tau(pi)``, a contraction for large
enough ``tau`` (Cui & Koeppl 2021, Thm. 3), and approaches a Nash equilibrium
as ``tau -> 0``.

The update is fictitious play's averaging step with a constant step size, so
both factories return ``solvers.fictitious_play(alternating=False,
temperature=tau, step_size=d)``: ``output(state)`` (the ``average`` field) is
the iterate ``pi_k``, ``state.policy`` the last (soft) best response ``b_k``.
"""

from __future__ import annotations

from solvers.core import Solver, check_number
from solvers.fictitious_play import fictitious_play


def _check_damping(damping) -> None:
    check_number(damping, "damping", 0, 1, low_open=True)


def fixed_point(damping=1.0, temperature=0.0) -> Solver:
    """Damped fixed-point iteration ``pi <- mix(pi, BR(pi), damping)`` (see the module docstring).

    Args:
      damping: ``d`` in (0, 1]; 1 is the plain (Banach-Picard) iteration,
        equal to OpenSpiel's ``FixedPoint``.
      temperature: 0 for exact best responses; ``tau > 0`` for soft (Boltzmann)
        best responses, see ``boltzmann_iteration``.
    """
    _check_damping(damping)
    check_number(temperature, "temperature", 0)
    return fictitious_play(alternating=False, temperature=temperature, step_size=damping)


def boltzmann_iteration(temperature=0.2, damping=1.0) -> Solver:
    """Boltzmann iteration: ``pi <- mix(pi, softBR_tau(pi), damping)`` (Cui & Koeppl 2021).

    ``softBR_tau(pi)_t(a|x) ∝ exp(Q^soft_t(x, a) / tau)`` with ``Q^soft`` the
    entropy-regularised Q-values against ``mu(pi)`` (soft backward induction,
    ``game.smooth_best_response``). The rest point is the regularised
    equilibrium (``game.regularized_nash_conv(pi, tau) = 0``).

    Args:
      temperature: ``tau > 0``.
      damping: ``d`` in (0, 1].
    """
    check_number(temperature, "temperature", 0, low_open=True)
    return fixed_point(damping, temperature)
