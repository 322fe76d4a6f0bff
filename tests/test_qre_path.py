"""The logit QRE path (``jaxgames.equilibria.qre_path``) against Gambit, known equilibria and its contract.

Cross-checks against pygambit (skipped without it, per test): ``logit_solve_lambda`` (the QRE on
the principal branch at the same ``lambda``, payoffs identical) and ``logit_solve`` (the Nash
equilibrium the branch selects) on random general-sum games, 2-player 3x3 and 4x5 and 3-player
2x2x2 and 3x3x3, and on a 3x3 game whose branch turns back in ``lambda`` twice (402 -> 24 -> up).
Float64 throughout (``jax.enable_x64`` per test), one compiled program per game shape.
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgames.equilibria import CONVERGED, FAILED, REACHED, logit_qre, qre_path
from jaxgames.equilibria import path as path_module
from jaxgames.matrix import zoo
from jaxgames.matrix.game import MatrixGame

#: A 3x3 game whose principal branch folds: lambda rises to ~402, falls back to ~24, then rises to
#: the selected equilibrium (found by scanning random games; Gambit's branch turns at the same lambdas).
FOLD = [
    [[0.667378, 0.691273, -0.890833], [-0.137898, -0.615429, -0.778347], [0.77463, -0.723129, -0.441371]],
    [[0.24859, 0.24269, -0.626673], [0.506324, -0.943145, 0.65774], [-0.040949, -0.212028, -0.934701]],
]
LAMBDAS = (0.5, 3.0, 20.0, 100.0)  # the QRE at each, compared with logit_solve_lambda
SHAPES = ((3, 3), (4, 5), (2, 2, 2), (3, 3, 3))
GAMES_PER_SHAPE = 2


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def random_payoffs(shape, seed):
    """Payoffs with 6 decimals: the same doubles in JAX and in Gambit (which parses their decimal text)."""
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(-1, 1, (len(shape), *shape)), 6)


def path(payoffs, **kwargs):
    """One game's path (``max_points=400`` everywhere: one compiled program per game shape)."""
    return qre_path(MatrixGame(jnp.asarray(payoffs)), max_points=400, **kwargs)


def last(path, b=None):
    """The last point of a path (of game ``b`` of a batch)."""
    k = int(path.num_points if b is None else path.num_points[b]) - 1
    return [np.asarray(p[k] if b is None else p[b, k]) for p in path.policies]


def gambit_game(payoffs):
    """The strategic game of ``payoffs [N, A_1..A_N]``: player i, strategies in the same order."""
    gbt = pytest.importorskip("pygambit")
    shape = payoffs.shape[1:]
    game = gbt.Game.new_table(list(shape))
    players = list(game.players)
    for profile in itertools.product(*(range(a) for a in shape)):
        outcome = game[profile]
        for i, player in enumerate(players):
            outcome[player] = repr(float(payoffs[(i, *profile)]))  # a decimal string: no binary rounding
    return game


def gambit_profile(game, profile):
    profile = getattr(profile, "profile", profile)  # a LogitQREMixedStrategyProfile wraps one
    return [np.array([float(profile[s]) for s in player.strategies]) for player in game.players]


def max_diff(ours, theirs):
    return max(float(np.max(np.abs(np.asarray(a) - b))) for a, b in zip(ours, theirs))


# ----------------------------------------------------------------------------------- Gambit


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_gambit_logit_solve_and_logit_solve_lambda(shape):
    """Per game: the branch's QRE at each of LAMBDAS is ``logit_solve_lambda``'s to 1e-6; the
    selected equilibrium is ``logit_solve``'s (to 1e-4: the two stop at different lambdas once
    the regret is below 1e-8, and a mixed equilibrium is approached like 1 / lambda) and the
    branch's QRE at Gambit's final lambda is Gambit's final profile to 1e-6 (where Gambit's branch
    never turns back: else that lambda is crossed earlier)."""
    gbt = pytest.importorskip("pygambit")
    for seed in range(GAMES_PER_SHAPE):
        payoffs = random_payoffs(shape, seed)
        game = gambit_game(payoffs)
        for lam, theirs in zip(LAMBDAS, gbt.qre.logit_solve_lambda(game, list(LAMBDAS))):
            assert abs(theirs.lam - lam) < 1e-6
            ours = path(payoffs, max_lambda=lam, max_regret=0.0)
            assert int(ours.status) == REACHED and float(ours.inverse_temperatures[int(ours.num_points) - 1]) == lam
            assert max_diff(last(ours), gambit_profile(game, theirs)) < 1e-6, (shape, seed, lam)

        branch = gbt.qre.logit_solve_branch(game)  # logit_solve's equilibrium is its last point
        nash = gambit_profile(game, gbt.nash.logit_solve(game).equilibria[0])
        assert max_diff(gambit_profile(game, branch[-1]), nash) < 1e-12
        lams = np.array([q.lam for q in branch])
        if np.all(np.diff(lams) > 0):  # else Gambit's last point is not the first crossing of its lambda
            at_theirs = path(payoffs, max_lambda=float(lams[-1]), max_regret=0.0)
            assert max_diff(last(at_theirs), nash) < 1e-6, (shape, seed, "at Gambit's final lambda")
        ours = path(payoffs)
        assert int(ours.status) == CONVERGED and max_diff(ours.nash, nash) < 1e-4, (shape, seed)
        assert float(ours.nash_conv) <= 1e-8 * 2 * float(np.max(np.ptp(payoffs.reshape(len(shape), -1), axis=1)))


def test_turning_point_branch_matches_gambit():
    """The FOLD branch turns back at lambda ~402 and again at ~24; Gambit's branch turns at the same
    lambdas; at lambda = 100 (crossed three times) both return the first crossing, at 1000 (past
    the fold) the same QRE, and both select the same equilibrium."""
    gbt = pytest.importorskip("pygambit")
    payoffs = np.asarray(FOLD)
    game = gambit_game(payoffs)
    theirs = np.array([q.lam for q in gbt.qre.logit_solve_branch(game)])
    full = path(payoffs)
    ours = np.asarray(full.inverse_temperatures[: int(full.num_points)])

    def turns(lams):
        i = np.flatnonzero(np.diff(np.sign(np.diff(lams))) != 0)
        return lams[i + 1]

    np.testing.assert_allclose(turns(ours), turns(theirs), rtol=2e-3)  # both sample the folds discretely
    np.testing.assert_allclose(turns(ours), [402.15, 24.32], rtol=2e-3)
    for lam in (100.0, 1000.0):
        expected = gambit_profile(game, gbt.qre.logit_solve_lambda(game, [lam])[0])
        at_lam = path(payoffs, max_lambda=lam, max_regret=0.0)
        assert max_diff(last(at_lam), expected) < 1e-6, lam
        if lam == 100.0:  # the first crossing
            assert int(at_lam.num_points) == int(np.argmax(ours >= lam)) + 1
    nash = gambit_profile(game, gbt.nash.logit_solve(game).equilibria[0])
    assert max_diff(full.nash, nash) < 1e-6


def test_logit_qre_path_method_matches_gambit():
    """``logit_qre(game, 1 / lambda, method="path")`` is ``logit_solve_lambda``'s QRE (past a fold)."""
    gbt = pytest.importorskip("pygambit")
    payoffs = np.asarray(FOLD)
    game = gambit_game(payoffs)
    for lam in (3.0, 1000.0):
        ours = logit_qre(MatrixGame(jnp.asarray(payoffs)), 1.0 / lam, method="path").policy
        assert max_diff(ours, gambit_profile(game, gbt.qre.logit_solve_lambda(game, [lam])[0])) < 1e-6, lam


# ------------------------------------------------------------------------------- without Gambit


def test_known_equilibria_and_points_are_qres():
    """Prisoner's dilemma: both defect; matching pennies: uniform from the first point; battle of
    the sexes (non-generic: its symmetric branch bifurcates at lambda ~0.808, where det A changes
    sign however short the step): the path crosses the bifurcation straight on to the mixed
    equilibrium (Gambit perturbs its equations there and takes the branch to (B, B)). Every point
    solves ``pi_i = softmax(lambda q_i(pi))`` to rounding; lambda increases on these branches; one
    compiled program serves the games of one shape (the later calls do not recompile)."""
    out = qre_path(zoo.prisoners_dilemma(), max_points=400)
    assert int(out.status) == CONVERGED
    np.testing.assert_allclose(np.stack(out.nash), [[0.0, 1.0], [0.0, 1.0]], atol=1e-9)
    compiled = path_module._path_jit._cache_size()
    bos = qre_path(zoo.battle_of_the_sexes(), max_points=400)
    mp = qre_path(zoo.matching_pennies(), max_points=400)
    assert path_module._path_jit._cache_size() == compiled
    np.testing.assert_allclose(np.stack(bos.nash), [[0.6, 0.4], [0.4, 0.6]], atol=1e-7)
    assert int(mp.num_points) == 2 and float(mp.nash_conv) < 1e-12
    np.testing.assert_allclose(np.stack(mp.nash), 0.5, atol=1e-12)

    A = np.asarray(zoo.battle_of_the_sexes().payoffs)
    k = int(bos.num_points)
    lams = np.asarray(bos.inverse_temperatures)
    assert lams[0] == 0 and np.all(np.diff(lams[:k]) > 0) and np.all(np.isnan(lams[k:]))
    x, y = (np.asarray(p[:k]) for p in bos.policies)
    for q, own in ((np.einsum("ab,kb->ka", A[0], y), x), (np.einsum("ab,ka->kb", A[1], x), y)):
        # log pi_1 - log pi_0 = lambda (q_1 - q_0), to rounding in lambda q
        residual = np.log(own[:, 1] / own[:, 0]) - lams[:k] * (q[:, 1] - q[:, 0])
        assert np.all(np.abs(residual) <= 1e-13 * (1 + lams[:k] * np.abs(q).max(1))), residual
    assert all(bool(jnp.all(jnp.isnan(p[k:]))) for p in bos.policies)


@jax.jit
@jax.vmap
def batched_paths(payoffs, first_step, min_step):
    return qre_path(MatrixGame(payoffs), first_step=first_step, min_step=min_step, max_points=400)


@pytest.mark.slow
def test_vmapped_paths_equal_single_paths_and_failures_are_marked():
    """Under ``vmap`` (a queue of games over lanes) each path is the single call's; a path that
    fails (steps kept too long for the FOLD's turns: ``first_step=1, min_step=0.1``) has status
    FAILED, its points nan past ``num_points`` and ``nash`` nan, and outside ``jit`` raises a
    ValueError naming the lambda where it stopped."""
    payoffs = jnp.asarray(np.stack([FOLD, random_payoffs((3, 3), 0), random_payoffs((3, 3), 1), FOLD]))
    batch = batched_paths(payoffs, jnp.array([0.03, 0.03, 0.03, 1.0]), jnp.array([1e-10, 1e-10, 1e-10, 0.1]))
    for b in range(3):
        single = path(payoffs[b])
        assert int(batch.status[b]) == int(single.status) == CONVERGED
        assert max_diff([p[b] for p in batch.nash], single.nash) < 1e-9
        k = int(single.num_points)
        lams = np.asarray(batch.inverse_temperatures[b])
        assert np.all(np.isnan(lams[int(batch.num_points[b]) :]))
        if b == 0:  # at the folds, rounding (batched vs single) can tip a step's acceptance
            continue
        assert int(batch.num_points[b]) == k
        np.testing.assert_allclose(lams[:k], single.inverse_temperatures[:k], rtol=1e-9)
        for ours, theirs in zip(batch.policies, single.policies):
            np.testing.assert_allclose(np.asarray(ours[b, :k]), theirs[:k], atol=1e-12)

    assert int(batch.status[3]) == FAILED
    k = int(batch.num_points[3])
    failed_at = float(batch.inverse_temperatures[3, k - 1])
    assert 2 < k < 400 and min(abs(failed_at - 402.15), abs(failed_at - 24.32)) < 2  # at a turning point
    policy = np.asarray(batch.policies[0][3])
    assert np.all(np.isfinite(policy[:k])) and np.all(np.isnan(policy[k:]))
    assert all(bool(jnp.all(jnp.isnan(p[3]))) for p in batch.nash)
    with pytest.raises(ValueError, match=f"failed at lambda = {failed_at:.6g} "):
        path(FOLD, first_step=1.0, min_step=0.1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_lambda": -1.0}, "max_lambda: expected a value > 0"),
        ({"max_lambda": float("inf")}, "max_lambda: expected finite"),
        ({"max_points": 2}, "max_points"),
        ({"max_points": 10.5}, "max_points"),
        ({"first_step": 0.0}, "first_step: expected a value > 0"),
        ({"min_step": -1e-3}, "min_step: expected a value > 0"),
        ({"first_step": 1e-4, "min_step": 1e-3}, "first_step: expected a value >= min_step"),
        ({"max_step": 0.0}, "max_step: expected a value > 0"),
        ({"max_regret": -1e-8}, "max_regret: expected a value >= 0"),
        ({"max_accel": 1.0}, "max_accel: expected a value > 1"),
        ({"reference": (jnp.ones(2) / 2,)}, "reference: expected a policy"),
        ({"reference": (jnp.ones(3) / 3, jnp.ones(2) / 2)}, r"reference\[0\]: expected shape \(2,\)"),
        ({"reference": (jnp.array([0.7, 0.7]), jnp.ones(2) / 2)}, r"reference\[0\]"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        qre_path(zoo.prisoners_dilemma(), **kwargs)


def test_unsupported_game():
    from jaxgames.capabilities import CapabilityError

    with pytest.raises(CapabilityError, match="logit_qre needs"):
        qre_path(object())
