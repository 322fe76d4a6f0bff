"""Tabular extensive-form games: the tree engine, Kuhn and Leduc poker, liar's dice, goofspiel, OpenSpiel interop."""

from jaxgames.efg.env import EFGEnv, EFGState, TimeStep, Trajectory, rollout
from jaxgames.efg.game import EFGGame
from jaxgames.efg.native import goofspiel, liars_dice
from jaxgames.efg.openspiel import from_openspiel, from_openspiel_policy, infoset_map, to_openspiel_policy
from jaxgames.efg.poker import kuhn_poker, leduc_poker
from jaxgames.efg.tree import Tree, build_tree

__all__ = [
    "EFGGame",
    "Tree",
    "build_tree",
    "kuhn_poker",
    "leduc_poker",
    "liars_dice",
    "goofspiel",
    "from_openspiel",
    "to_openspiel_policy",
    "from_openspiel_policy",
    "infoset_map",
    "EFGEnv",
    "EFGState",
    "TimeStep",
    "Trajectory",
    "rollout",
]
