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
from solvers.first_order import DEFAULT_LEARNING_RATES, _relative, first_order_solver

#: The default temperature, relative to the game's payoff scale (``solvers.scale.payoff_scale``).
DEFAULT_TEMPERATURE = 0.4

#: The default magnet floor (the uniform share of each new magnet) and the step after which it
#: decays like ``1 / t`` (``solvers.first_order.floor_at``).
MAGNET_FLOOR = 1e-3
MAGNET_FLOOR_DECAY = 5000


def mmd(
    learning_rate=None,
    temperature=None,
    magnet: Policy | None = None,
    magnet_update_every: int = 10,
    output: str = "last",
    geometry: str = "entropic",
    magnet_floor=None,
) -> Solver:
    """Magnetic mirror descent with an R-NaD magnet schedule (see the module docstring).

    The defaults are scale-free: ``eta = 0.8 / s`` and ``tau = 0.4 s`` with ``s`` the game's payoff
    scale (``solvers.scale.payoff_scale``: half the payoff spread, 1 for payoffs spanning [-1, 1]),
    so the iterates on ``c * A`` equal those on ``A``. ``eta tau = 0.32`` solves each proximal
    subproblem to about 6% in the 10 steps between magnet updates; ``eta = 2 tau / s^2`` was stable
    on every game we tried (``eta <= tau / L^2``, ``L <= s``, guarantees it; ``3.3 tau / s^2``
    cycled on a random 5x5 game, ``6.7 tau / s^2`` diverged on several).

    Each new magnet mixes in ``MAGNET_FLOOR = 1e-3`` of the uniform policy, decaying like ``1 / t``
    after ``MAGNET_FLOOR_DECAY = 5000`` steps. Entropic last iterates cycle for a long time on games
    whose equilibrium puts little mass on some action: the action's probability underflows in the
    cycle, and a magnet that has lost it cannot bring it back quickly. The plain schedule (the old
    defaults ``eta = tau = 0.3``, every 20 steps, no floor) oscillated between NashConv 1e-2 and
    1e-1 for 20,000 steps on 1-3 of 16 random preference games (``random_intransitive_preferences``,
    5-20 responses) and on 9 of 40 random 5x5 zero-sum games. With these defaults, on 213 other
    games (random 5x5, 3x6 and Gaussian 8x8 zero-sum games, preference games of 6-15 responses;
    uniform and random starts) NashConv was below 4e-4 ``s`` after 20,000 steps and below 1e-4 ``s``
    after 40,000 (medians 1e-4 and 6e-5). The floor biases the fixed point by about ``tau`` times
    the floor (3e-4 on Kuhn poker after 1,000 to 5,000 steps), a bias the decay removes like
    ``1 / t``: for high accuracy on well-conditioned games, ``magnet_floor=0`` (the plain R-NaD
    schedule, no bias: median 1e-6 after 5,000 steps on random 5x5 games, but it can stall as
    described).

    Args:
      learning_rate: ``eta > 0`` in payoff units, as given; ``None``: ``0.8 / s`` (scale-free).
      temperature: regularization ``tau >= 0`` toward the magnet, in payoff units, as given;
        ``None``: ``0.4 s`` (scale-free).
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
      magnet_floor: in ``[0, 1]``, the uniform share of each new magnet, constant; ``None``: the
        decaying default floor above.
    """
    if geometry not in ("entropic", "dilated"):
        raise ValueError(f"geometry: MMD is entropic; expected 'entropic' or 'dilated', got {geometry!r}")
    eta, relative_eta = _relative(learning_rate, DEFAULT_LEARNING_RATES["mmd"])
    tau, relative_tau = _relative(temperature, DEFAULT_TEMPERATURE)
    floor, decay = (MAGNET_FLOOR, MAGNET_FLOOR_DECAY) if magnet_floor is None else (magnet_floor, 0)
    return first_order_solver(
        "mirror_descent",
        eta,
        geometry,
        tau,
        magnet,
        magnet_update_every,
        output,
        magnet_floor=floor,
        magnet_floor_decay=decay,
        relative_learning_rate=relative_eta,
        relative_temperature=relative_tau,
    )
