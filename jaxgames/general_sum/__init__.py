"""General-sum and many-player games: CE and CCE (gaps, selection by LP/QP), zero-sum LPs, evolutionary dynamics."""

from jaxgames.general_sum.alpha_rank import AlphaRankResult, alpharank
from jaxgames.general_sum.evolution import (
    DynamicsResult,
    projected_replicator_dynamics,
    replicator_dynamics,
    vector_field,
)
from jaxgames.general_sum.gaps import (
    cce_gap,
    cce_gaps,
    ce_gap,
    ce_gaps,
    check_joint,
    deviation_values,
    joint_values,
    per_recommendation_violation,
    product_joint,
)
from jaxgames.general_sum.lp import (
    LPResult,
    SequenceFormSolution,
    ZeroSumSolution,
    linear_program,
    sequence_form_lp,
    status_name,
    zero_sum_lp,
)
from jaxgames.general_sum.selection import (
    CorrelatedSolution,
    correlated_equilibrium,
    deviation_gains,
    max_entropy_cce,
    max_entropy_ce,
    max_gini_cce,
    max_gini_ce,
    max_welfare_cce,
    max_welfare_ce,
)

__all__ = [
    "cce_gap",
    "ce_gap",
    "cce_gaps",
    "ce_gaps",
    "check_joint",
    "deviation_values",
    "joint_values",
    "per_recommendation_violation",
    "product_joint",
    "alpharank",
    "AlphaRankResult",
    "replicator_dynamics",
    "projected_replicator_dynamics",
    "vector_field",
    "DynamicsResult",
    "LPResult",
    "SequenceFormSolution",
    "ZeroSumSolution",
    "linear_program",
    "sequence_form_lp",
    "status_name",
    "zero_sum_lp",
    "CorrelatedSolution",
    "correlated_equilibrium",
    "deviation_gains",
    "max_entropy_ce",
    "max_entropy_cce",
    "max_gini_ce",
    "max_gini_cce",
    "max_welfare_ce",
    "max_welfare_cce",
]
