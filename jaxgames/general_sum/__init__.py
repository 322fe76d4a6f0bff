"""General-sum and many-player games: correlated and coarse correlated equilibria, evolutionary dynamics."""

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
]
