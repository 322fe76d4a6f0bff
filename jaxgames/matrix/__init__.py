"""Normal-form (matrix) games: the model, the classic zoo, random and preference games, a simulator."""

from jaxgames.matrix.contextual import (
    ContextualPreferenceEnv,
    ContextualPreferenceGame,
    check_contextual_preference_game,
    random_contextual_preference,
)
from jaxgames.matrix.env import EnvState, RepeatedMatrixEnv, TimeStep, rollout
from jaxgames.matrix.game import MatrixGame, bimatrix, zero_sum
from jaxgames.matrix.preference import (
    bradley_terry_preferences,
    check_preference_game,
    cyclic_preferences,
    preference_game,
    random_intransitive_preferences,
)
from jaxgames.matrix.random import random_game, random_general_sum, random_zero_sum
from jaxgames.matrix.zoo import (
    CLASSIC_GAMES,
    battle_of_the_sexes,
    biased_rock_paper_scissors,
    chicken,
    coordination,
    matching_pennies,
    prisoners_dilemma,
    rock_paper_scissors,
    shapley_game,
    stag_hunt,
    three_player_matching_pennies,
)

__all__ = [
    "MatrixGame",
    "zero_sum",
    "bimatrix",
    "rock_paper_scissors",
    "biased_rock_paper_scissors",
    "matching_pennies",
    "prisoners_dilemma",
    "stag_hunt",
    "chicken",
    "battle_of_the_sexes",
    "coordination",
    "shapley_game",
    "three_player_matching_pennies",
    "CLASSIC_GAMES",
    "random_zero_sum",
    "random_general_sum",
    "random_game",
    "preference_game",
    "check_preference_game",
    "bradley_terry_preferences",
    "cyclic_preferences",
    "random_intransitive_preferences",
    "ContextualPreferenceGame",
    "random_contextual_preference",
    "check_contextual_preference_game",
    "ContextualPreferenceEnv",
    "RepeatedMatrixEnv",
    "EnvState",
    "TimeStep",
    "rollout",
]
