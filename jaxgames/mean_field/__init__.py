"""Finite-state mean-field games: exact models and metrics, OpenSpiel interop, an N-agent simulator."""

from jaxgames.mean_field.beach_bar import BeachBar, beach_bar
from jaxgames.mean_field.crowd_modelling import (
    CrowdModelling,
    crowd_modelling,
    first_visit_last_action,
    openspiel_displacement,
)
from jaxgames.mean_field.crowd_modelling_2d import (
    FOUR_ROOMS_GRID,
    CrowdModelling2D,
    crowd_modelling_2d,
    four_rooms,
    grid_walls,
)
from jaxgames.mean_field.dynamic_routing import DynamicRouting, dynamic_routing
from jaxgames.mean_field.env import EnvState, NAgentEnv, TimeStep, deviation_gain, episode_returns, rollout
from jaxgames.mean_field.finite_population import FinitePopulationValues, n_agent_exploitability, n_agent_values
from jaxgames.mean_field.game import MeanFieldGame
from jaxgames.mean_field.garnet import Garnet, garnet, garnet_from_openspiel, garnet_game, garnet_tables
from jaxgames.mean_field.linear_quadratic import LinearQuadratic, linear_quadratic
from jaxgames.mean_field.minority import MinorityGame, minority_game
from jaxgames.mean_field.multi_population import MultiPopulationMeanFieldGame, SinglePopulation, as_multi_population
from jaxgames.mean_field.periodic_aversion import PeriodicAversion, periodic_aversion
from jaxgames.mean_field.predator_prey import PredatorPrey, predator_prey
from jaxgames.mean_field.rps_population import RPSPopulation, rps_population
from jaxgames.mean_field.sis import SISEpidemic, sis_epidemic
from jaxgames.mean_field.stationary import (
    StationaryMeanFieldGame,
    stationary_distribution,
    stationary_game,
    stationary_rps_population,
    stationary_sis_epidemic,
)

__all__ = [
    "MeanFieldGame",
    "CrowdModelling",
    "crowd_modelling",
    "openspiel_displacement",
    "first_visit_last_action",
    "CrowdModelling2D",
    "crowd_modelling_2d",
    "four_rooms",
    "grid_walls",
    "FOUR_ROOMS_GRID",
    "NAgentEnv",
    "EnvState",
    "TimeStep",
    "rollout",
    "episode_returns",
    "deviation_gain",
    "SISEpidemic",
    "sis_epidemic",
    "RPSPopulation",
    "rps_population",
    "BeachBar",
    "beach_bar",
    "FinitePopulationValues",
    "n_agent_values",
    "n_agent_exploitability",
    "LinearQuadratic",
    "linear_quadratic",
    "MinorityGame",
    "minority_game",
    "Garnet",
    "garnet",
    "garnet_from_openspiel",
    "garnet_game",
    "garnet_tables",
    "PeriodicAversion",
    "periodic_aversion",
    "DynamicRouting",
    "dynamic_routing",
    "MultiPopulationMeanFieldGame",
    "SinglePopulation",
    "as_multi_population",
    "PredatorPrey",
    "predator_prey",
    "StationaryMeanFieldGame",
    "stationary_game",
    "stationary_distribution",
    "stationary_rps_population",
    "stationary_sis_epidemic",
]
