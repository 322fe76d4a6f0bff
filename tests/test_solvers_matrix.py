"""Every solver on matrix games: convergence with defaults, known rates, LP values, batching."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
import solvers
from jaxgames import matrix

from helpers import lp_value

STEPS = 5000
# Known slow rates: classic fictitious play and plain mirror descent's average.
SLOW = {"fictitious_play", "mirror_descent"}


def final_exploitability(solver, games, keys):
    run = jax.jit(jax.vmap(lambda g, k: solvers.run(solver, g, STEPS, eval_every=STEPS, key=k)[1].exploitability[-1]))
    return np.asarray(run(games, keys))


@pytest.fixture(scope="module")
def test_games():
    rps_brps = jax.tree_util.tree_map(
        lambda a, b: jnp.stack([a, b]), matrix.rock_paper_scissors(), matrix.biased_rock_paper_scissors()
    )
    random5 = jax.vmap(lambda k: matrix.random_zero_sum(k, 5))(jax.random.split(jax.random.key(0), 4))
    return {"rps_brps": rps_brps, "random5": random5}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(solvers.GENERAL_SOLVERS))
def test_every_solver_converges_with_defaults(name, test_games):
    solver = solvers.make(name)
    tol = 1e-2 if name in SLOW else 1e-3
    # Random initial policies: RPS's uniform start would already be the equilibrium.
    keys = jax.random.split(jax.random.key(1), 2)
    e = final_exploitability(solver, test_games["rps_brps"], keys)
    assert np.all(e < tol), f"{name}: RPS / biased RPS exploitability {e}"
    keys = jax.random.split(jax.random.key(2), 4)
    e = final_exploitability(solver, test_games["random5"], keys)
    assert np.all(e < tol), f"{name}: random 5x5 exploitability {e}"


@pytest.mark.slow
def test_mmd_last_iterate_on_many_random_games():
    """Default MMD (with its decaying magnet floor) brings every game below 1e-3, up to the floor's
    small bias; the plain R-NaD schedule is faster on most games but stalls on some."""
    games = jax.vmap(lambda k: matrix.random_zero_sum(k, 5))(jax.random.split(jax.random.key(10), 40))
    keys = jax.random.split(jax.random.key(11), 40)
    e = final_exploitability(solvers.mmd(), games, keys)
    assert np.all(e < 1e-3) and np.median(e) < 3e-4
    plain = final_exploitability(solvers.mmd(magnet_floor=0.0), games, keys)
    assert np.median(plain) < 1e-5 and np.mean(plain < 1e-3) >= 0.6


@pytest.mark.parametrize("variant", [dict(alternating=False), dict(temperature=1e-3)])
def test_fictitious_play_variants_converge(variant, test_games):
    e = final_exploitability(
        solvers.fictitious_play(**variant), test_games["rps_brps"], jax.random.split(jax.random.key(1), 2)
    )
    assert np.all(e < 2e-2), e


@pytest.mark.parametrize("alternating", [True, False])
def test_fictitious_play_rate_is_at_least_inverse_sqrt(alternating):
    game = matrix.rock_paper_scissors()
    solver = solvers.fictitious_play(alternating=alternating)
    _, trace = solvers.run(solver, game, 20000, eval_every=50, key=jax.random.key(3))
    t, e = np.asarray(trace.step, float), np.asarray(trace.exploitability, float)
    # Fit log e = c + s log t on the upper envelope (FP's error oscillates).
    window = 20
    tt = t[window - 1 :: window]
    env = np.array([e[i : i + window].max() for i in range(0, len(e), window)])
    slope = np.polyfit(np.log(tt), np.log(env), 1)[0]
    assert slope < -0.45, f"fictitious play error decays like t^{slope:.2f}, slower than t^-1/2"


def test_multiplicative_weights_last_iterate_cycles_but_average_converges():
    game = matrix.rock_paper_scissors()
    key = jax.random.key(4)
    last = solvers.mirror_descent(output="last")
    _, trace = solvers.run(last, game, STEPS, eval_every=500, key=key)
    e_last = np.asarray(trace.exploitability)
    assert e_last.min() > 0.05, "MWU's last iterate should not approach the equilibrium on RPS"
    assert e_last[-1] >= e_last[0] - 1e-6, "MWU spirals outward: the gap does not shrink"
    _, trace = solvers.run(solvers.mirror_descent(), game, STEPS, key=key)
    assert float(trace.exploitability[-1]) < 1e-2


@pytest.mark.parametrize(
    "solver",
    [
        # OMWU's last iterate needs a smaller step than its average (Daskalakis & Panageas 2019).
        solvers.optimistic_mirror_descent(learning_rate=0.3, output="last"),
        solvers.optimistic_mirror_descent(geometry="euclidean", learning_rate=0.1, output="last"),
        solvers.extragradient(),
        solvers.extragradient(geometry="entropic", learning_rate=0.5),
        solvers.mirror_prox(output="last"),
        solvers.mmd(),
    ],
    ids=["omwu", "ogda", "eg-euclid", "eg-entropic", "mirror-prox", "mmd-rnad"],
)
def test_last_iterates_converge_on_rps(solver):
    keys = jax.random.split(jax.random.key(5), 3)
    games = jax.tree_util.tree_map(lambda x: jnp.stack([x] * 3), matrix.rock_paper_scissors())
    e = final_exploitability(solver, games, keys)
    assert np.all(e < 1e-3), e
    if solver.output is not None:
        state, _ = solvers.run(solver, matrix.rock_paper_scissors(), 50, key=keys[0])
        assert solver.output(state) is state.policy  # these report the last iterate


@pytest.mark.slow
@pytest.mark.parametrize("name", ["extragradient", "regret_matching_plus", "mirror_prox"])
def test_value_matches_linear_programming(name):
    solver = solvers.make(name)
    keys = jax.random.split(jax.random.key(6), 5)
    games = jax.vmap(lambda k: matrix.random_zero_sum(k, 5))(keys)
    state, _ = jax.jit(jax.vmap(lambda g: solvers.run(solver, g, STEPS, eval_every=STEPS)))(games)
    for i in range(5):
        game = jax.tree_util.tree_map(lambda x: x[i], games)
        policy = tuple(p[i] for p in solver.output(state))
        value = lp_value(game.payoffs[0])
        assert float(game.evaluate(policy).values[0]) == pytest.approx(value, abs=1e-4)


def test_fictitious_play_finds_battle_of_the_sexes_equilibrium():
    game = matrix.battle_of_the_sexes()
    for key in jax.random.split(jax.random.key(7), 3):
        state, trace = solvers.run(solvers.fictitious_play(), game, STEPS, key=key)
        assert float(trace.nash_conv[-1]) < 1e-2
        assert float(jaxgames.nash_conv(game, state.average)) == pytest.approx(float(trace.nash_conv[-1]), abs=1e-6)


@pytest.mark.slow
def test_one_jitted_call_solves_a_thousand_games():
    solver = solvers.regret_matching_plus()
    keys = jax.random.split(jax.random.key(8), 1000)
    solve = jax.jit(
        jax.vmap(lambda k: solvers.run(solver, matrix.random_zero_sum(k, 10), 1000, eval_every=500)[1].exploitability)
    )
    e = np.asarray(solve(keys))
    assert e.shape == (1000, 2)
    assert np.all(e[:, -1] < 1e-2) and np.median(e[:, -1]) < 2e-3
    # Batched results equal one-at-a-time runs.
    for i in (0, 999):
        _, tr = solvers.run(solver, matrix.random_zero_sum(keys[i], 10), 1000, eval_every=500)
        np.testing.assert_allclose(e[i], tr.exploitability, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_vmap_over_learning_rates_is_one_call():
    game = matrix.biased_rock_paper_scissors()
    lrs = jnp.geomspace(0.01, 1.0, 16)
    sweep = jax.jit(
        jax.vmap(lambda lr: solvers.run(solvers.mirror_prox(lr), game, 500, eval_every=500)[1].exploitability[-1])
    )
    e = np.asarray(sweep(lrs))
    assert e.shape == (16,)
    for i in (0, 7, 15):
        _, tr = solvers.run(solvers.mirror_prox(float(lrs[i])), game, 500, eval_every=500)
        assert float(tr.exploitability[-1]) == pytest.approx(e[i], rel=1e-3, abs=1e-6)
    assert e[-1] < e[0]  # larger steps converge faster here: the sweep is not constant


def test_three_player_game_fictitious_play_trace_is_exact():
    game = matrix.three_player_matching_pennies()
    # fictitious play need not converge with three players: here it ends worse than uniform and its start
    with pytest.warns(RuntimeWarning, match="the run diverged"):
        state, trace = solvers.run(solvers.fictitious_play(), game, 200, eval_every=100, key=jax.random.key(9))
    assert bool(trace.diverged[-1])
    assert trace.exploitability.shape == (2,)
    assert float(trace.exploitability[-1]) == pytest.approx(
        float(jaxgames.exploitability(game, state.average)), abs=1e-6
    )


def test_run_continues_from_a_state_and_handles_remainders():
    game = matrix.matching_pennies()
    solver = solvers.regret_matching_plus()
    state, trace = solvers.run(solver, game, 250, eval_every=100)
    np.testing.assert_array_equal(trace.step, [100, 200, 250])
    state2, _ = solvers.run(solver, game, 150, eval_every=150, state=state)
    assert int(state2.step) == 400
    full, _ = solvers.run(solver, game, 400, eval_every=400)
    for a, b in zip(full.average, state2.average):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.slow
def test_float64_solves_reach_machine_precision():
    """In this process with float64 switched on for the test (``jax.enable_x64``; jit caches key on it):
    a subprocess would cost ~5 s of start-up and compilation more. float32 stops at ~4e-8 here."""
    with jax.enable_x64(True):
        g = matrix.random_zero_sum(jax.random.key(0), 5)
        st, tr = solvers.run(solvers.extragradient(), g, 20000, eval_every=20000)
        dtype, final = st.policy[0].dtype, float(tr.exploitability[-1])
    assert jnp.zeros(1).dtype == np.float32  # switched off again
    assert dtype == np.float64 and final < 1e-12, (dtype, final)


def test_equal_hyperparameters_share_one_solver_and_one_compilation():
    from solvers.core import _run

    assert solvers.mirror_prox(0.5) is solvers.mirror_prox(learning_rate=0.5)
    assert solvers.mmd() is solvers.mmd() and solvers.mmd() is not solvers.mmd(temperature=0.2)
    assert solvers.regret_matching_plus() is solvers.regret_matching(plus=True, averaging="linear")
    game = matrix.rock_paper_scissors()
    solvers.run(solvers.extragradient(0.123), game, 10)
    size = _run._cache_size()
    solvers.run(solvers.extragradient(learning_rate=0.123), game, 10)
    assert _run._cache_size() == size
    # Unhashable (array) hyperparameters still work, with a fresh solver each time.
    a, b = solvers.mirror_prox(jnp.asarray(0.5)), solvers.mirror_prox(jnp.asarray(0.5))
    assert a is not b


@pytest.mark.slow
def test_vmap_over_raw_payoff_matrices_as_in_the_issue():
    batch = jax.random.uniform(jax.random.key(14), (64, 4, 4), minval=-1, maxval=1)
    solver = solvers.extragradient()
    state, trace = jax.vmap(lambda A: solvers.run(solver, matrix.zero_sum(A), STEPS))(batch)
    assert trace.exploitability.shape == (64, 100)
    assert np.all(np.asarray(trace.exploitability[:, -1]) < 1e-3)
    value = lp_value(batch[0])
    x, y = (p[0] for p in state.policy)
    assert float(x @ batch[0] @ y) == pytest.approx(value, abs=1e-4)
