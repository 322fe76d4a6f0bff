"""Evolutionary dynamics (``jaxgames.general_sum.evolution``), alpha-rank (``jaxgames.general_sum.alpha_rank``)
and their solvers (``solvers.evolutionary``), in float64 (``jax.enable_x64`` scoped to each test).

* vector fields against OpenSpiel's ``egt.dynamics`` (single and multi-population, 1e-12) and PRD
  against OpenSpiel's ``projected_replicator_dynamics`` (exact and approximate projection, full and
  windowed averages, 1e-10);
* invariants: RK4 replicator dynamics on rock-paper-scissors conserve ``sum_a log x_a`` (single
  population) and ``sum log x_1 + sum log x_2`` (two populations); Nash equilibria are rest points;
  the time average approaches the equilibrium; the gamma-projection is the Euclidean projection;
* alpha-rank against OpenSpiel's ``alpharank.compute`` on its test games (Han et al. 2013, as a matrix
  and as a heuristic payoff table; RPS), on random multi-population games, single-population
  general-sum games and in the infinite-alpha limit (1e-8), against the published stationary
  distribution of Han et al.'s game without OpenSpiel; ``vmap`` over games equals a loop;
* the solvers under ``solvers.run``; bad input.

About 15 s of CPU (plus imports): every test compiles a few small programs.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames import efg, matrix
from jaxgames.general_sum import alpha_rank as ar
from jaxgames.general_sum import evolution as ev
from solvers.evolutionary import projected_replicator_dynamics, replicator_dynamics


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _han_game():
    """The payoffs of Han et al. (2013), OpenSpiel's ``alpharank_test.test_stationary_distribution``."""
    r, t, p, s, delta, eps = 1.0, 2.0, 0.0, -1.0, 4.0, 0.25
    return np.asarray(
        [
            [r - eps / 2.0, r - eps, 0, s + delta - eps, r - eps],
            [r, r, s, s, s],
            [0, t, p, p, p],
            [t - delta, t, p, p, p],
            [r, t, p, p, p],
        ]
    )


HAN_PI = np.asarray([0.40966787, 0.07959841, 0.20506998, 0.08505983, 0.2206039])  # OpenSpiel's expected_pi
RPS = np.asarray([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])


# --------------------------------------------------------------------------------- vector fields
@pytest.mark.requires_pyspiel
def test_vector_fields_equal_openspiel(x64):
    from open_spiel.python.egt import dynamics

    rng = np.random.default_rng(0)
    for _ in range(3):
        M = rng.standard_normal((4, 4))
        x = rng.dirichlet(np.ones(4))
        ref = dynamics.SinglePopulationDynamics(np.stack([M, M.T]), dynamics.replicator)(x)
        np.testing.assert_allclose(ev.vector_field(jnp.asarray(M), jnp.asarray(x)), ref, rtol=0, atol=1e-12)
    for shape in [(2, 3, 4), (3, 2, 3, 2)]:
        P = rng.standard_normal(shape)
        xs = [rng.dirichlet(np.ones(a)) for a in shape[1:]]
        ref = dynamics.MultiPopulationDynamics(P, dynamics.replicator)(np.concatenate(xs))
        ours = ev.vector_field(matrix.MatrixGame(P), tuple(jnp.asarray(x) for x in xs))
        np.testing.assert_allclose(np.concatenate(ours), ref, rtol=0, atol=1e-12)


@pytest.mark.requires_pyspiel
@pytest.mark.parametrize("projection", ["exact", "approx"])
def test_prd_equals_openspiel(x64, projection):
    from open_spiel.python.algorithms import projected_replicator_dynamics as prd

    P = np.random.default_rng(1).standard_normal((3, 2, 3, 4))
    game = matrix.MatrixGame(P)
    initial = [np.array([0.7, 0.3]), np.array([0.2, 0.5, 0.3]), np.array([0.1, 0.2, 0.3, 0.4])]
    for window in (None, 40):
        ref = prd.projected_replicator_dynamics(
            list(P),
            prd_initial_strategies=[x.copy() for x in initial],
            prd_iterations=300,
            prd_dt=0.05,
            prd_gamma=0.02,
            average_over_last_n_strategies=window,
            use_approx=projection == "approx",
        )
        ours = ev.projected_replicator_dynamics(
            game,
            tuple(jnp.asarray(x) for x in initial),
            dt=0.05,
            gamma=0.02,
            num_steps=300,
            average_over_last=window,
            projection=projection,
        )
        for a, b in zip(ours.average, ref):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_gamma_projection_is_euclidean(x64):
    """The exact projection against a brute-force bisection on ``lam`` in ``max(v - lam, gamma)``."""
    rng = np.random.default_rng(2)
    for gamma, k in ((0.0, 5), (0.05, 5), (0.01, 20)):  # 20 > 16 strategies: the sorting branch
        v = rng.standard_normal((20, k))
        ours = np.asarray(jax.vmap(lambda x: ev.project_gamma_simplex(x, gamma))(jnp.asarray(v)))
        lo, hi = v.min(1) - 2.0, v.max(1) + 2.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            too_much = np.maximum(v - mid[:, None], gamma).sum(1) > 1.0
            lo, hi = np.where(too_much, mid, lo), np.where(too_much, hi, mid)
        np.testing.assert_allclose(ours, np.maximum(v - lo[:, None], gamma), atol=1e-12)
        assert np.all(ours >= gamma - 1e-15)


# ------------------------------------------------------------------------------------ invariants
def test_rps_conserves_sum_of_logs_and_nash_is_rest_point(x64):
    x0 = jnp.array([0.5, 0.3, 0.2])
    single = ev.replicator_dynamics(jnp.asarray(RPS), x0, dt=0.01, num_steps=2000, method="rk4", save_every=50)
    logs = np.sum(np.log(np.asarray(single.trajectory)), axis=-1)
    assert np.ptp(logs) < 1e-9  # RK4's local error is O(dt^5)
    assert np.ptp(np.asarray(single.trajectory)[:, 0]) > 0.1  # it does move: an orbit, not a rest point
    game = matrix.rock_paper_scissors()
    multi = ev.replicator_dynamics(game, (x0, jnp.array([0.2, 0.2, 0.6])), dt=0.01, num_steps=2000, method="rk4")
    logs = sum(np.sum(np.log(np.asarray(t)), axis=-1) for t in multi.trajectory)
    assert np.ptp(logs) < 1e-9
    # the time average of the orbit approaches the equilibrium (1/3, 1/3, 1/3); Euler spirals outward
    assert np.max(np.abs(np.asarray(multi.average[0]) - 1 / 3)) < 0.05
    euler = ev.replicator_dynamics(jnp.asarray(RPS), x0, dt=0.01, num_steps=2000, save_every=2000)
    assert np.sum(np.log(euler.trajectory[-1])) < np.sum(np.log(euler.trajectory[0])) - 1e-3
    # Nash equilibria are rest points: RPS's uniform, and stag hunt's mixed equilibrium
    uniform = (jnp.ones(3) / 3,) * 2
    for f in ev.vector_field(game, uniform):
        np.testing.assert_allclose(f, 0.0, atol=1e-15)
    np.testing.assert_allclose(ev.vector_field(jnp.asarray(RPS), uniform[0]), 0.0, atol=1e-15)
    hunt = matrix.stag_hunt()
    A = np.asarray(hunt.payoffs[0])  # symmetric: the column player's payoffs are A^T
    p = (A[1, 1] - A[0, 1]) / (A[0, 0] - A[1, 0] - A[0, 1] + A[1, 1])  # indifference: P(stag)
    mixed = (jnp.array([p, 1 - p]),) * 2
    for f in ev.vector_field(hunt, mixed):
        np.testing.assert_allclose(f, 0.0, atol=1e-14)
    rest = ev.replicator_dynamics(hunt, mixed, dt=0.1, num_steps=50, save_every=None)
    np.testing.assert_allclose(rest.final[0], mixed[0], atol=1e-13)


def test_vmap_over_step_sizes_and_initial_states(x64):
    game = matrix.rock_paper_scissors()
    dts = jnp.array([1e-3, 1e-2, 5e-2])
    batched = jax.vmap(lambda dt: ev.projected_replicator_dynamics(game, dt=dt, gamma=1e-3, num_steps=100).average)(dts)
    for k, dt in enumerate(np.asarray(dts)):
        one = ev.projected_replicator_dynamics(game, dt=float(dt), gamma=1e-3, num_steps=100).average
        np.testing.assert_allclose(batched[0][k], one[0], atol=1e-14)
    starts = jnp.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    out = jax.vmap(lambda x: ev.replicator_dynamics(jnp.asarray(RPS), x, num_steps=10, save_every=5))(starts)
    assert out.trajectory.shape == (2, 3, 3) and out.final.shape == (2, 3)
    np.testing.assert_allclose(out.trajectory[:, 0], starts)


# ------------------------------------------------------------------------------------- alpha-rank
def test_alpharank_han_stationary_distribution(x64):
    """Han et al. (2013)'s game, non-local selection, m=20, alpha=0.1: the published distribution."""
    pi = ar.alpharank([_han_game()], alpha=0.1, population_size=20, use_local_selection_model=False).pi
    np.testing.assert_allclose(pi, HAN_PI, atol=1e-7)


@pytest.mark.slow
@pytest.mark.requires_pyspiel
def test_alpharank_equals_openspiel(x64):
    import pyspiel
    from open_spiel.python.egt import alpharank, heuristic_payoff_table, utils

    def check(tables, ours_tables=None, **kw):
        ref = alpharank.compute(tables, **kw)[2]
        kw = dict(kw)
        ours = ar.alpharank(
            tables if ours_tables is None else ours_tables,
            alpha=kw.pop("alpha", 100.0),
            population_size=kw.pop("m", 50),
            **kw,
        )
        np.testing.assert_allclose(ours.pi, ref, rtol=0, atol=1e-8)
        return ours

    han = [_han_game()]
    check(han, m=20, alpha=0.1, use_local_selection_model=False)  # the general Moran sum
    check(han, m=20, alpha=0.1)  # local selection
    check(han, use_inf_alpha=True, inf_alpha_eps=0.01)
    hpts = [heuristic_payoff_table.from_matrix_game(han[0])]  # OpenSpiel's heuristic-payoff-table format
    check(hpts, m=20, alpha=0.1, use_local_selection_model=False)
    rps = utils.game_payoffs_array(pyspiel.load_matrix_game("matrix_rps"))
    _, single = utils.is_symmetric_matrix_game(rps)
    check(single, m=20, alpha=0.1, use_local_selection_model=False)  # constant-sum closed form
    out = check(list(rps), matrix.MatrixGame(rps), m=20, alpha=0.1)  # two populations, from a MatrixGame
    np.testing.assert_allclose(out.marginals[0], np.asarray(out.pi).reshape(3, 3).sum(1))
    rng = np.random.default_rng(3)
    check([rng.standard_normal((6, 6))], m=15, alpha=0.5, use_local_selection_model=False)
    for shape in [(2, 3, 4), (3, 2, 3, 2)]:
        P = rng.standard_normal(shape)
        check(list(P), m=10, alpha=1.0)
        check(list(P), m=30, alpha=0.5)
        check(list(P), use_inf_alpha=True, inf_alpha_eps=0.05)


def test_alpharank_vmap_over_games_and_alpha(x64):
    games = jax.vmap(lambda k: matrix.random_game(k, (2, 3, 2)).payoffs)(jax.random.split(jax.random.key(0), 4))
    batched = jax.vmap(lambda P: ar.alpharank(P, alpha=2.0, population_size=10).pi)(games)
    for k in range(4):
        np.testing.assert_allclose(batched[k], ar.alpharank(games[k], alpha=2.0, population_size=10).pi, atol=1e-12)
    np.testing.assert_allclose(np.sum(batched, axis=1), 1.0, atol=1e-12)
    alphas = jnp.array([0.5, 2.0])
    swept = jax.vmap(lambda a: ar.alpharank(games[0], alpha=a, population_size=10).pi)(alphas)
    np.testing.assert_allclose(swept[1], batched[0], atol=1e-12)
    # symmetric RPS: every strategy ranks equally; the fixation probability's neutral value is 1/m
    np.testing.assert_allclose(ar.alpharank(RPS, alpha=1.0, population_size=20).pi, 1 / 3, atol=1e-12)
    np.testing.assert_allclose(ar.fixation_probability(jnp.zeros(()), 20), 1 / 20)


# ---------------------------------------------------------------------------------------- solvers
def test_evolutionary_solvers_run(x64):
    game = matrix.biased_rock_paper_scissors()
    start = float(game.exploitability(game.uniform_policy()))
    for solver in (replicator_dynamics(method="rk4"), projected_replicator_dynamics(gamma=1e-3)):
        _, trace = solvers.run(solver, game, 2000, eval_every=1000)
        assert float(trace.exploitability[-1]) < 0.1 * start
    state, _ = solvers.run(projected_replicator_dynamics(gamma=0.1, output="last"), game, 10, eval_every=10)
    assert float(jnp.min(state.policy[0])) >= 0.1 - 1e-12
    with pytest.raises(ValueError, match="game: replicator_dynamics is defined on matrix games"):
        replicator_dynamics().init(efg.kuhn_poker())


# -------------------------------------------------------------------------------------- bad input
def test_bad_input():
    game = matrix.rock_paper_scissors()
    with pytest.raises(ValueError, match="dt: expected a value > 0"):
        ev.replicator_dynamics(game, dt=0.0, num_steps=1)
    with pytest.raises(ValueError, match="dt: expected a value > 0"):
        ev.projected_replicator_dynamics(game, dt=-1e-3, num_steps=1)
    with pytest.raises(ValueError, match=r"gamma: expected a value in \[0, 1\)"):
        ev.projected_replicator_dynamics(game, gamma=1.0, num_steps=1)
    with pytest.raises(ValueError, match="gamma: expected gamma"):
        ev.projected_replicator_dynamics(game, gamma=0.5, num_steps=1)
    with pytest.raises(ValueError, match=r"initial\[1\]: expected a distribution over strategies summing to 1"):
        ev.replicator_dynamics(game, (jnp.ones(3) / 3, jnp.ones(3)), num_steps=1)
    with pytest.raises(ValueError, match="initial: expected non-negative"):
        ev.replicator_dynamics(jnp.asarray(RPS), jnp.array([1.2, -0.2, 0.0]), num_steps=1)
    with pytest.raises(ValueError, match=r"initial\[0\]: expected shape \(3,\)"):
        ev.replicator_dynamics(game, (jnp.ones(2) / 2, jnp.ones(3) / 3), num_steps=1)
    with pytest.raises(ValueError, match="method: expected one of"):
        ev.replicator_dynamics(game, method="rk2", num_steps=1)
    with pytest.raises(ValueError, match="game: expected .* square"):
        ev.replicator_dynamics(jnp.ones((2, 3)), num_steps=1)
    with pytest.raises(ValueError, match="num_steps: expected an integer >= 1"):
        ev.replicator_dynamics(game, num_steps=0)
    with pytest.raises(ValueError, match="dt: expected a finite value > 0"):
        replicator_dynamics(dt=-0.1)
    with pytest.raises(ValueError, match=r"gamma: expected a value in \[0, 1\)"):
        projected_replicator_dynamics(gamma=-0.1)
    with pytest.raises(ValueError, match="alpha: expected a value > 0"):
        ar.alpharank(RPS, alpha=0.0)
    with pytest.raises(ValueError, match=r"inf_alpha_eps: expected a value in \(0, 1\)"):
        ar.alpharank(RPS, use_inf_alpha=True, inf_alpha_eps=1.0)
    with pytest.raises(ValueError, match="population_size: expected an integer >= 2"):
        ar.alpharank(RPS, population_size=1)
    with pytest.raises(ValueError, match="payoff_tables: a single population needs a square"):
        ar.alpharank([np.ones((2, 3))])
    with pytest.raises(ValueError, match="payoff_tables: expected one"):
        ar.alpharank(np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="alpha: the alpha-rank Markov chain has 2 closed classes"):
        ar.alpharank(
            np.array([[1.0, 0.0], [0.0, 1.0]]) * 1e3, alpha=100.0, population_size=50, use_local_selection_model=False
        )
