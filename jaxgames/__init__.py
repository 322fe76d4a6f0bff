"""jaxgames: jittable, vmappable game models, simulators and exact equilibrium metrics."""

from jaxgames import efg, general_sum, markov, matrix, mean_field, simplex
from jaxgames.api import best_response, evaluate, exploitability, nash_conv, regularized_nash_conv
from jaxgames.core import Evaluation, Game, Policy, stack_policies
from jaxgames.efg import goofspiel, kuhn_poker, leduc_poker, liars_dice
from jaxgames.env import Environment, TimeStep, Trajectory, make_env, rollout
from jaxgames.general_sum import cce_gap, ce_gap

__version__ = "0.1.0"

__all__ = [
    "Game",
    "Policy",
    "Evaluation",
    "evaluate",
    "best_response",
    "nash_conv",
    "exploitability",
    "regularized_nash_conv",
    "stack_policies",
    "matrix",
    "simplex",
    "efg",
    "markov",
    "mean_field",
    "general_sum",
    "cce_gap",
    "ce_gap",
    "kuhn_poker",
    "leduc_poker",
    "liars_dice",
    "goofspiel",
    "Environment",
    "TimeStep",
    "Trajectory",
    "make_env",
    "rollout",
]
