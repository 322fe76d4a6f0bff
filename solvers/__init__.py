"""Equilibrium solvers behind one functional interface (see ``solvers.core``)."""

from solvers.checkpoint import latest_step, restore_state, run_checkpointed, save_state
from solvers.core import Solver, SolverState, Trace, averaging_weight, initial_state, run, update_average
from solvers.evolutionary import projected_replicator_dynamics, replicator_dynamics
from solvers.fictitious_play import fictitious_play
from solvers.first_order import (
    extragradient,
    first_order_solver,
    mirror_descent,
    mirror_prox,
    optimistic_mirror_descent,
)
from solvers.fixed_point import boltzmann_iteration, fixed_point
from solvers.jpsro import jpsro
from solvers.markov_fictitious_play import markov_fictitious_play
from solvers.neural.deep_mean_field import deep_mirror_descent
from solvers.neural.nfsp import nfsp
from solvers.neural.nlhf import neural_nlhf
from solvers.neural.parallel import data_mesh
from solvers.neural.policy_gradient import mmd_rl, ppo
from solvers.neural.rnad import rnad
from solvers.no_regret import blum_mansour, cce_hedge, cce_optimistic_hedge, cce_regret_matching, ce_regret_matching
from solvers.policy_extragradient import entropy_regularized_extragradient
from solvers.policy_gradient import natural_policy_gradient
from solvers.regret_matching import cfr, cfr_plus, discounted_cfr, regret_matching, regret_matching_plus
from solvers.regularized import mmd
from solvers.sampled import (
    decentralized_q_learning,
    egpo,
    external_sampling_mccfr,
    mccfr,
    minimax_q,
    nash_md,
    nash_mp,
    online_ipo,
    outcome_sampling_mccfr,
    psro,
    sampled_fictitious_play,
    sampled_mirror_descent,
    sppo,
)
from solvers.scale import payoff_scale
from solvers.smooth_value_iteration import smooth_value_iteration
from solvers.value_iteration import minimax_value_iteration, policy_iteration, value_iteration

#: Every solver factory by name (for the CLI, configs and tables).
SOLVERS = {
    "fictitious_play": fictitious_play,
    "fixed_point": fixed_point,
    "boltzmann_iteration": boltzmann_iteration,
    "regret_matching": regret_matching,
    "regret_matching_plus": regret_matching_plus,
    "mirror_descent": mirror_descent,
    "optimistic_mirror_descent": optimistic_mirror_descent,
    "extragradient": extragradient,
    "mirror_prox": mirror_prox,
    "mmd": mmd,
    "cfr": cfr,
    "cfr_plus": cfr_plus,
    "discounted_cfr": discounted_cfr,
    "minimax_value_iteration": minimax_value_iteration,
    "value_iteration": value_iteration,
    "policy_iteration": policy_iteration,
    "policy_extragradient": entropy_regularized_extragradient,
    "natural_policy_gradient": natural_policy_gradient,
    "markov_fictitious_play": markov_fictitious_play,
    "smooth_value_iteration": smooth_value_iteration,
    # sample-based: they learn from the simulator only (solvers.sampled)
    "outcome_sampling_mccfr": outcome_sampling_mccfr,
    "external_sampling_mccfr": external_sampling_mccfr,
    "psro": psro,
    "online_ipo": online_ipo,
    "nash_md": nash_md,
    "sppo": sppo,
    "egpo": egpo,
    "nash_mp": nash_mp,
    "minimax_q": minimax_q,
    "decentralized_q_learning": decentralized_q_learning,
    "sampled_mirror_descent": sampled_mirror_descent,
    "sampled_fictitious_play": sampled_fictitious_play,
    # neural learners: flax networks trained from the simulator, scored exactly (solvers.neural)
    "ppo": ppo,
    "nfsp": nfsp,
    "rnad": rnad,
    "deep_mirror_descent": deep_mirror_descent,
    "mmd_rl": mmd_rl,
    "neural_nlhf": neural_nlhf,
    # matrix games only: no-regret dynamics whose joint play converges to CCE / CE (solvers.no_regret),
    # and evolutionary dynamics (solvers.evolutionary)
    "cce_regret_matching": cce_regret_matching,
    "cce_hedge": cce_hedge,
    "cce_optimistic_hedge": cce_optimistic_hedge,
    "ce_regret_matching": ce_regret_matching,
    "blum_mansour": blum_mansour,
    "replicator_dynamics": replicator_dynamics,
    "projected_replicator_dynamics": projected_replicator_dynamics,
    # extensive-form games: PSRO with a correlated (CE / CCE) meta-strategy (solvers.jpsro)
    "jpsro": jpsro,
}

#: Solvers that need a Markov game (``jaxgames.markov``): dynamic programming on its stage games.
MARKOV_SOLVERS = (
    "minimax_value_iteration",
    "value_iteration",
    "policy_iteration",
    "policy_extragradient",
    "natural_policy_gradient",
    "markov_fictitious_play",
    "smooth_value_iteration",
)

#: Sample-based solvers, by the family they need: they learn from the simulator only and need a key.
SAMPLED_SOLVERS = {
    "efg": ("outcome_sampling_mccfr", "external_sampling_mccfr"),
    "efg_markov": ("psro",),
    "preference": ("online_ipo", "nash_md", "sppo", "egpo", "nash_mp"),
    "markov": ("minimax_q", "decentralized_q_learning"),
    "mean_field": ("sampled_mirror_descent", "sampled_fictitious_play"),
}

#: Neural learners (``solvers.neural``), by the family they need: networks (flax) trained by optax from
#: the simulator only; ``output`` is the network at every decision point, scored exactly.
NEURAL_SOLVERS = {
    "efg": ("nfsp", "rnad"),
    "efg_markov": ("ppo", "mmd_rl"),
    "preference": ("neural_nlhf",),
    "mean_field": ("deep_mirror_descent",),
}

#: No-regret dynamics of N-player matrix games (``solvers.no_regret``): ``run`` records the CCE or CE gap of
#: their joint play (``Solver.metric``), not the exploitability of their marginals.
NO_REGRET_SOLVERS = ("cce_regret_matching", "cce_hedge", "cce_optimistic_hedge", "ce_regret_matching", "blum_mansour")

#: Solvers that need a matrix game: the no-regret dynamics and the evolutionary dynamics (one population
#: per player).
MATRIX_SOLVERS = NO_REGRET_SOLVERS + ("replicator_dynamics", "projected_replicator_dynamics")

#: Solvers that need an extensive-form or Markov game: JPSRO (``solvers.jpsro``), whose exact oracles work
#: in the sequence form and by enumerating deterministic stationary policies.
EFG_SOLVERS = ("jpsro",)

#: Best-response dynamics posed for mean-field games. They run on every game, but converge only
#: where the (damped, or soft) best-response map contracts: not on zero-sum matrix games such as RPS.
MEAN_FIELD_SOLVERS = ("fixed_point", "boltzmann_iteration")

#: The solvers that run on every game family and converge on every two-player zero-sum game
#: (what the solver x game tables, tests and notebooks iterate over).
GENERAL_SOLVERS = tuple(
    name
    for name in SOLVERS
    if name not in MARKOV_SOLVERS + MATRIX_SOLVERS + EFG_SOLVERS + MEAN_FIELD_SOLVERS
    and name not in sum(SAMPLED_SOLVERS.values(), ()) + sum(NEURAL_SOLVERS.values(), ())
)


def make(name: str, **hyperparameters) -> Solver:
    """Build a registered solver by name, e.g. ``make("mirror_prox", learning_rate=0.2)``."""
    if name not in SOLVERS:
        raise ValueError(f"solver: unknown name {name!r}; expected one of {sorted(SOLVERS)}")
    return SOLVERS[name](**hyperparameters)


__all__ = [
    "Solver",
    "SolverState",
    "Trace",
    "run",
    "run_checkpointed",
    "save_state",
    "restore_state",
    "latest_step",
    "initial_state",
    "update_average",
    "averaging_weight",
    "fictitious_play",
    "fixed_point",
    "boltzmann_iteration",
    "regret_matching",
    "regret_matching_plus",
    "mirror_descent",
    "optimistic_mirror_descent",
    "extragradient",
    "mirror_prox",
    "mmd",
    "first_order_solver",
    "cfr",
    "cfr_plus",
    "discounted_cfr",
    "markov_fictitious_play",
    "minimax_value_iteration",
    "value_iteration",
    "policy_iteration",
    "entropy_regularized_extragradient",
    "natural_policy_gradient",
    "smooth_value_iteration",
    "MARKOV_SOLVERS",
    "MEAN_FIELD_SOLVERS",
    "GENERAL_SOLVERS",
    "SAMPLED_SOLVERS",
    "mccfr",
    "outcome_sampling_mccfr",
    "external_sampling_mccfr",
    "psro",
    "online_ipo",
    "nash_md",
    "sppo",
    "egpo",
    "nash_mp",
    "minimax_q",
    "decentralized_q_learning",
    "sampled_mirror_descent",
    "sampled_fictitious_play",
    "NEURAL_SOLVERS",
    "ppo",
    "mmd_rl",
    "nfsp",
    "rnad",
    "deep_mirror_descent",
    "neural_nlhf",
    "data_mesh",
    "NO_REGRET_SOLVERS",
    "MATRIX_SOLVERS",
    "EFG_SOLVERS",
    "cce_regret_matching",
    "cce_hedge",
    "cce_optimistic_hedge",
    "ce_regret_matching",
    "blum_mansour",
    "replicator_dynamics",
    "projected_replicator_dynamics",
    "jpsro",
    "SOLVERS",
    "make",
    "payoff_scale",
]
