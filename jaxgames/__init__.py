"""jaxgames: jittable, vmappable game models, simulators and exact equilibrium metrics."""

from jaxgames import efg, markov, matrix, mean_field, simplex
from jaxgames.api import best_response, evaluate, exploitability, nash_conv, regularized_nash_conv
from jaxgames.core import Evaluation, Game, Policy, stack_policies
from jaxgames.efg import kuhn_poker, leduc_poker
from jaxgames.env import Environment, TimeStep, Trajectory, make_env, rollout

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
    "kuhn_poker",
    "leduc_poker",
    "Environment",
    "TimeStep",
    "Trajectory",
    "make_env",
    "rollout",
]
