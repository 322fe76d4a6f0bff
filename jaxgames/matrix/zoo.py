"""The classic normal-form games.

Two-player games use OpenSpiel's payoffs (``matrix_rps``, ``matrix_brps``,
``matrix_mp``, ``matrix_pd``, ``matrix_sh``, ``matrix_cd``, ``matrix_bos``,
``matrix_shapleys_game``, ``matrix_coordination``) so figures compare directly;
biased RPS is scaled to [-1, 1] unless ``normalized=False``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxgames.matrix.game import MatrixGame, bimatrix, zero_sum
from jaxgames.validation import check_bool

_RPS = [[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]]
_BRPS = [[0.0, -25.0, 50.0], [25.0, 0.0, -5.0], [-50.0, 5.0, 0.0]]


def rock_paper_scissors() -> MatrixGame:
    """Rock-paper-scissors; unique equilibrium uniform, value 0."""
    return zero_sum(_RPS)


def biased_rock_paper_scissors(normalized: bool = True) -> MatrixGame:
    """OpenSpiel's biased RPS (``matrix_brps``); equilibrium ``(1, 10, 5) / 16``.

    ``normalized=True`` divides the payoffs by 50 so they lie in [-1, 1], the
    scale the solvers' default learning rates assume; ``False`` gives
    OpenSpiel's raw payoffs.
    """
    normalized = check_bool(normalized, "normalized")
    A = np.asarray(_BRPS) / (50.0 if normalized else 1.0)
    return zero_sum(A)


def matching_pennies() -> MatrixGame:
    """Matching pennies: the row player wins on a match; equilibrium uniform."""
    return zero_sum([[1.0, -1.0], [-1.0, 1.0]])


def prisoners_dilemma() -> MatrixGame:
    """Prisoner's dilemma (cooperate, defect); unique equilibrium: both defect."""
    return bimatrix([[5.0, 0.0], [10.0, 1.0]], [[5.0, 10.0], [0.0, 1.0]])


def stag_hunt() -> MatrixGame:
    """Stag hunt (stag, hare): two pure equilibria and one mixed."""
    return bimatrix([[2.0, 0.0], [1.0, 1.0]], [[2.0, 1.0], [0.0, 1.0]])


def chicken() -> MatrixGame:
    """Chicken (dare, chicken): two asymmetric pure equilibria and one mixed."""
    return bimatrix([[0.0, 4.0], [1.0, 3.0]], [[0.0, 1.0], [4.0, 3.0]])


def battle_of_the_sexes() -> MatrixGame:
    """Battle of the sexes (Bach, Stravinsky): two pure equilibria and a mixed one."""
    return bimatrix([[3.0, 0.0], [0.0, 2.0]], [[2.0, 0.0], [0.0, 3.0]])


def coordination() -> MatrixGame:
    """Pure coordination game: both players get 1 when they match."""
    return bimatrix(np.eye(2), np.eye(2))


def shapley_game() -> MatrixGame:
    """Shapley's (1964) 3x3 game on which fictitious play cycles; unique equilibrium uniform."""
    A = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    B = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    return bimatrix(A, B)


def three_player_matching_pennies() -> MatrixGame:
    """Jordan's (1993) three-player matching pennies; unique equilibrium uniform.

    Player 1 wants to match player 2, player 2 to match player 3, and player 3
    to mismatch player 1; each gets +1 when it succeeds and -1 otherwise.
    """
    a = jnp.arange(2)
    a1, a2, a3 = a[:, None, None], a[None, :, None], a[None, None, :]

    def sign(cond):
        return jnp.where(cond, 1.0, -1.0)

    p1 = jnp.broadcast_to(sign(a1 == a2), (2, 2, 2))
    p2 = jnp.broadcast_to(sign(a2 == a3), (2, 2, 2))
    p3 = jnp.broadcast_to(sign(a3 != a1), (2, 2, 2))
    return MatrixGame(jnp.stack([p1, p2, p3]))


#: Every classic game by name, for the CLI and the default table.
CLASSIC_GAMES = {
    "rock_paper_scissors": rock_paper_scissors,
    "biased_rock_paper_scissors": biased_rock_paper_scissors,
    "matching_pennies": matching_pennies,
    "prisoners_dilemma": prisoners_dilemma,
    "stag_hunt": stag_hunt,
    "chicken": chicken,
    "battle_of_the_sexes": battle_of_the_sexes,
    "coordination": coordination,
    "shapley_game": shapley_game,
    "three_player_matching_pennies": three_player_matching_pennies,
}
