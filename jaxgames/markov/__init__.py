"""Tabular Markov (stochastic) games and MDPs: the exact model, generators, classic games, a simulator."""

from jaxgames.markov.classic import (
    ALWAYS_COOPERATE,
    ALWAYS_DEFECT,
    IPD_STATES,
    TIT_FOR_TAT,
    WIN_STAY_LOSE_SHIFT,
    grid_soccer,
    iterated_matrix_game,
    iterated_prisoners_dilemma,
    memory_one_policy,
    pursuit_evasion,
    soccer_symmetry,
)
from jaxgames.markov.env import MarkovEnv, MarkovState, TimeStep, Trajectory, discounted_returns, rollout
from jaxgames.markov.game import MarkovGame, SparseMarkovGame, mdp, zero_sum
from jaxgames.markov.random import garnet_transitions, random_general_sum, random_mdp, random_zero_sum
from jaxgames.markov.stage_games import StageGames

__all__ = [
    "MarkovGame",
    "SparseMarkovGame",
    "zero_sum",
    "mdp",
    "StageGames",
    "random_zero_sum",
    "random_general_sum",
    "random_mdp",
    "garnet_transitions",
    "grid_soccer",
    "soccer_symmetry",
    "pursuit_evasion",
    "iterated_matrix_game",
    "iterated_prisoners_dilemma",
    "memory_one_policy",
    "IPD_STATES",
    "TIT_FOR_TAT",
    "ALWAYS_DEFECT",
    "ALWAYS_COOPERATE",
    "WIN_STAY_LOSE_SHIFT",
    "MarkovEnv",
    "MarkovState",
    "TimeStep",
    "Trajectory",
    "rollout",
    "discounted_returns",
]
