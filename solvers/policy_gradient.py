"""Independent natural policy gradient with softmax policies (Kakade 2001; Agarwal et al. 2021).

For the tabular softmax parametrization the natural gradient step of player
``i``'s value is, at every state (Agarwal, Kakade, Lee & Mahajan 2021, "On the
theory of policy gradient methods", Lemma 15),

    pi_i'(a | s) ∝ pi_i(a | s) exp(eta Q_i^pi(s, a) / (1 - gamma)),

with ``Q_i^pi`` the player's action values against the others
(``MarkovGame.evaluate(pi).action_values``, the discounted *sum* of rewards).
It does not weight states by their occupancy: that is what makes it natural.
This is exactly the foundation's entropic ``mirror_descent`` (Hedge at every
state) with step ``eta / (1 - gamma)``, simultaneous moves and the last
iterate, so ``natural_policy_gradient`` builds that solver with the game's
discount and delegates to it; with ``N`` players every player runs it
independently ("independent NPG").

Guarantees: for MDPs (one player) ``V* - V^{pi_T} <= log A / (eta T) +
1 / ((1 - gamma)^2 T)`` from the uniform start (Agarwal et al. 2021, Thm 16),
and large ``eta`` approaches policy iteration. For two-player zero-sum Markov
games independent NPG's last iterate need not converge (it cycles, as Hedge
does in matrix games; Bailey & Piliouras 2018); its *average* is no-regret only
per state. It is the independent-learning baseline, not a Nash solver: its
entropy-regularized form with a critic (regularized Hedge per state, i.e.
MMD, on the stage games of a slowly updated value) is
``solvers.smooth_value_iteration(method="mmd")``, which converges.
"""

from __future__ import annotations

from jaxgames.core import Game
from solvers.core import Solver, SolverState, cached_factory, check_choice, check_number
from solvers.first_order import _relative, first_order_solver, mirror_descent
from solvers.value_iteration import check_markov_game

#: The default ``eta``, relative to the game's payoff scale (``solvers.scale.payoff_scale``).
DEFAULT_LEARNING_RATE = 1.0


@cached_factory
def natural_policy_gradient(learning_rate=None, output: str = "last") -> Solver:
    """Softmax natural policy gradient, each player independently (module docstring).

    Args:
      learning_rate: ``eta > 0``; the per-state Hedge step is ``eta / (1 - gamma)``. Given, it is in
        payoff (reward) units; ``None`` (default): ``1 / s`` with ``s`` the game's payoff scale
        (half the spread of the rewards), so the iterates on ``c * rewards`` equal those on the rewards.
      output: ``"last"`` iterate (default) or the occupancy-weighted ``"average"``.
    """
    check_number(learning_rate, "learning_rate", 0, low_open=True, optional=True)
    check_choice(output, "output", ("last", "average"))
    eta, relative = _relative(learning_rate, DEFAULT_LEARNING_RATE)

    def inner(game: Game) -> Solver:
        return first_order_solver(
            "mirror_descent",
            eta / (1.0 - game.discount),
            "entropic",
            0.0,
            None,
            0,
            output,
            False,
            relative_learning_rate=relative,
        )

    def init(game: Game, key=None) -> SolverState:
        check_markov_game(game, "natural_policy_gradient")
        return inner(game).init(game, key)

    def step(game: Game, state: SolverState) -> SolverState:
        return inner(game).step(game, state)

    report = mirror_descent(output=output).output
    return Solver(init=init, step=step, output=report)
