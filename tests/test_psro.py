"""PSRO (solvers/sampled/psro.py): the padded meta-game is the restricted one, the exact meta-game is
solved to LP accuracy, the reported mixture plays exactly like the meta-strategy (Kuhn's theorem),
NashConv on Kuhn poker falls below a stated bound, the sampled meta-game is within sampling error of
the exact one, the sampled oracle learns from the simulator only (``forbid_exact_model``) and finds a
best response, seeds, Markov games, bad input. Small games and few steps: long runs live in
``benchmarks/bench_psro.py``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
import solvers
from jaxgames import markov
from solvers.sampled.psro import fold, meta_nash_conv, padded_meta_game, psro

from helpers import KUHN_UNIFORM_NASH_CONV, KUHN_VALUE, forbid_exact_model, lp_value


def meta_value(extra):
    """Player 0's payoff of the meta-strategy profile in the meta-game."""
    return float(jnp.einsum("i,ij,j->", extra.meta_strategy[0], extra.meta_payoffs[0], extra.meta_strategy[1]))


@pytest.fixture(scope="module")
def kuhn():
    return jaxgames.efg.kuhn_poker()


@pytest.fixture(scope="module")
def kuhn_exact_run(kuhn):
    solver = psro(meta_solver="regret_matching_plus", oracle="exact", max_policies=12, meta_steps=2000)
    return solvers.run(solver, kuhn, num_steps=10, eval_every=1)


def test_padded_meta_game_is_the_restricted_one():
    """Unused slots are the uniform mixture of the used ones: for any strategies of the padded game,
    payoffs and NashConv equal those of the folded strategies in the restricted game."""
    size, capacity = 3, 7
    rng = np.random.default_rng(0)
    meta = rng.normal(size=(2, capacity, capacity)).astype(np.float32)
    padded = np.asarray(padded_meta_game(jnp.asarray(meta), jnp.int32(size)).payoffs)
    small = meta[:, :size, :size]

    def values_and_nash_conv(M, x, y):
        values = np.array([x @ M[0] @ y, x @ M[1] @ y])
        return values, np.max(M[0] @ y) + np.max(x @ M[1]) - values.sum()

    for _ in range(3):
        s = (rng.dirichlet(np.ones(capacity)), rng.dirichlet(np.ones(capacity)))
        folded = np.asarray(fold(tuple(jnp.asarray(x, jnp.float32) for x in s), jnp.int32(size)))
        assert np.allclose(folded[:, size:], 0.0) and np.allclose(folded.sum(-1), 1.0, atol=1e-6)
        v_padded, nc_padded = values_and_nash_conv(padded, *s)
        v_small, nc_small = values_and_nash_conv(small, folded[0, :size], folded[1, :size])
        np.testing.assert_allclose(v_padded, v_small, atol=1e-5)
        np.testing.assert_allclose(nc_padded, nc_small, atol=1e-5)


@pytest.mark.slow
def test_kuhn_exact_nash_conv_falls_below_bound(kuhn_exact_run):
    """Double oracle on Kuhn: from the uniform policy (NashConv 0.9167) below 0.005 within 10 steps
    (OpenSpiel's PSRO reproductions report ~0.008 with 157 policies)."""
    state, trace = kuhn_exact_run
    nash_conv = np.asarray(trace.nash_conv)
    assert nash_conv[0] < KUHN_UNIFORM_NASH_CONV
    assert nash_conv[-1] < 5e-3, nash_conv
    assert np.all(nash_conv[6:] < nash_conv[0] / 100)
    assert int(state.extra.size) == 11 and int(state.step) == 10


@pytest.mark.slow
def test_kuhn_exact_meta_game(kuhn, kuhn_exact_run):
    """Meta-payoffs are the exact profile values; the meta-game is solved to LP accuracy; and the
    reach-weighted mixture plays exactly like the meta-strategy (its value is sigma^T M sigma)."""
    state, _ = kuhn_exact_run
    extra = state.extra
    n = int(extra.size)
    M = np.asarray(extra.meta_payoffs[:, :n, :n])
    pairs = jnp.array([(0, 0), (n - 1, 0), (3, n - 2), (n - 1, n - 1)])

    @jax.jit
    def values(pairs, policy):  # the profiles' values, and the reported policy's
        profiles = jax.vmap(lambda a, b: kuhn.evaluate((extra.population[0][a], extra.population[1][b])).values)
        return profiles(pairs[:, 0], pairs[:, 1]), kuhn.evaluate(policy).values

    entries, reported = values(pairs, state.policy)
    np.testing.assert_allclose(M[:, pairs[:, 0], pairs[:, 1]].T, entries, atol=1e-6)
    np.testing.assert_allclose(M[0], -M[1], atol=1e-6)
    assert float(meta_nash_conv(extra.meta_payoffs, extra.meta_strategy, extra.size)) < 1e-3
    assert abs(meta_value(extra) - lp_value(M[0])) < 1e-3
    assert abs(lp_value(M[0]) - KUHN_VALUE) < 5e-3  # the meta-game's value approaches Kuhn's
    np.testing.assert_allclose(reported[0], meta_value(extra), atol=1e-5)
    for a, b in zip(state.policy, state.average):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_sampled_learns_from_the_simulator_only(kuhn):
    """init and three steps inside forbid_exact_model (one fresh jit of a new lambda); then the sampled
    meta-game is within sampling error of the exact values of the same profiles, the first sampled
    best responses are nearly exact, NashConv falls from the uniform policy's, the own sequence
    structure seen in the simulator is the tree's, and the same key reproduces the run while another
    key changes it."""
    solver = psro(oracle="sampled", max_policies=6, meta_steps=500, num_episodes=512, oracle_episodes=4096)
    play = jax.jit(lambda k: jax.lax.fori_loop(0, 3, lambda _, s: solver.step(kuhn, s), solver.init(kuhn, k)))
    with forbid_exact_model(kuhn):
        with pytest.raises(ValueError, match="key"):
            solver.init(kuhn)
        state = play(jax.random.PRNGKey(0))
    extra = state.extra
    n = int(extra.size)
    assert n == 4 and int(state.step) == 3
    grid = np.array([(a, b) for a in range(n) for b in range(n)])
    uniform = kuhn.uniform_policy()

    @jax.jit
    def exact_checks(extra, output):
        """The exact values of the population profiles, of the first (sampled) best responses
        against the uniform policy and of exact best responses, and the output's NashConv."""
        pop = extra.population
        profiles = jax.vmap(lambda a, b: kuhn.evaluate((pop[0][a], pop[1][b])).values)(grid[:, 0], grid[:, 1])
        first = jnp.stack(
            [kuhn.evaluate((pop[0][1], uniform[1])).values[0], kuhn.evaluate((uniform[0], pop[1][1])).values[1]]
        )
        return profiles, first, kuhn.best_response_values(uniform), kuhn.nash_conv(output)

    exact, first, best, nash_conv = (np.asarray(x) for x in exact_checks(extra, solver.output(state)))
    sampled = np.asarray(extra.meta_payoffs[:, grid[:, 0], grid[:, 1]]).T
    error = np.max(np.abs(sampled - exact))
    # Kuhn payoffs lie in [-2, 2]: a standard error <= 2 / sqrt(512); 5 standard errors
    assert 0.0 < error < 5 * 2 / np.sqrt(512), error
    # the first step's responses are sampled best responses to the uniform policy (the first
    # meta-strategy): their gains are within 0.05 of the exact best responses'
    assert np.all(first > best - 0.05), (first, best)
    assert nash_conv < 0.5 * KUHN_UNIFORM_NASH_CONV, nash_conv
    from jaxgames.efg.sequence import sequence_form

    for i in range(2):
        np.testing.assert_array_equal(extra.own_parent[i], sequence_form(kuhn.tree).parent_sequence[i])
    # seeds: the same key reproduces the run, another key changes it (the same compiled function)
    np.testing.assert_array_equal(play(jax.random.PRNGKey(0)).extra.meta_payoffs, extra.meta_payoffs)
    assert not np.array_equal(play(jax.random.PRNGKey(1)).extra.meta_payoffs, extra.meta_payoffs)


@pytest.fixture(scope="module")
def single_controller():
    """A zero-sum Markov game whose transitions depend on player 0's action only (built in NumPy),
    and its jitted NashConv. Occupancy measures do not depend on player 1 there, so the meta-game
    over stationary policies is exact (see the guide, "Sample-based learners") and PSRO converges."""
    rng = np.random.default_rng(0)
    states, actions = 4, 3
    P0 = rng.dirichlet(np.ones(states), (states, actions))
    P = np.broadcast_to(P0[:, :, None, :], (states, actions, actions, states))
    R = rng.uniform(-1.0, 1.0, (states, actions, actions))
    game = markov.zero_sum(P, R, 0.9, np.ones(states) / states)
    return game, jax.jit(lambda p: game.nash_conv(p))


@pytest.mark.slow
def test_markov_exact_exploitability_approaches_zero(single_controller):
    game, nash_conv_of = single_controller
    solver = psro(max_policies=9, meta_steps=2000)
    state = jax.jit(lambda: jax.lax.fori_loop(0, 10, lambda _, s: solver.step(game, s), solver.init(game)))()
    assert int(state.extra.size) == 9 and int(state.step) == 10  # full after 8 steps, then kept
    nash_conv = float(nash_conv_of(solver.output(state)))
    assert nash_conv < 2e-3, nash_conv
    assert nash_conv < float(nash_conv_of(game.uniform_policy())) / 100


@pytest.mark.slow
def test_markov_sampled_from_the_simulator_only(single_controller):
    """Sampled PSRO on a Markov game inside forbid_exact_model, vmapped over two keys (independent
    seeds in one call): both runs cut NashConv tenfold in six steps, and they differ."""
    game, nash_conv_of = single_controller
    solver = psro(
        oracle="sampled", max_policies=7, meta_steps=500, num_episodes=64, oracle_episodes=1024, rollout_steps=40
    )
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    with forbid_exact_model(game):
        state = jax.jit(
            jax.vmap(lambda k: jax.lax.fori_loop(0, 6, lambda _, s: solver.step(game, s), solver.init(game, k)))
        )(keys)
    uniform = float(nash_conv_of(game.uniform_policy()))
    outputs = solver.output(state)
    for b in range(2):
        nash_conv = float(nash_conv_of(tuple(p[b] for p in outputs)))
        assert nash_conv < uniform / 10, (b, nash_conv, uniform)
    assert not np.array_equal(state.extra.meta_payoffs[0], state.extra.meta_payoffs[1])


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"meta_solver": "no_such_solver"}, "meta_solver"),
        ({"meta_solver": "minimax_value_iteration"}, "meta_solver"),  # needs a Markov game
        ({"meta_solver": 3}, "meta_solver"),
        ({"oracle": "genetic"}, "oracle"),
        ({"meta_game": "approximate"}, "meta_game"),
        ({"max_policies": 0}, "max_policies"),
        ({"max_policies": 2.5}, "max_policies"),
        ({"meta_steps": 0}, "meta_steps"),
        ({"num_episodes": 0}, "num_episodes"),
        ({"oracle_episodes": -1}, "oracle_episodes"),
        ({"rollout_steps": 0}, "rollout_steps"),
    ],
)
def test_bad_hyperparameters(kwargs, field):
    with pytest.raises(ValueError, match=field):
        psro(**kwargs)


def test_meta_solver_as_a_solver_object():
    assert psro(meta_solver=solvers.mirror_prox(learning_rate=0.5)).init(jaxgames.efg.kuhn_poker()).step == 0


def test_bad_games():
    solver = psro()
    with pytest.raises(ValueError, match="game"):
        solver.init(jaxgames.matrix.rock_paper_scissors())
    from jaxgames.mean_field.crowd_modelling import crowd_modelling

    with pytest.raises(ValueError, match="game"):
        solver.init(crowd_modelling())
    with pytest.raises(ValueError, match="key"):
        psro(meta_game="sampled").init(jaxgames.efg.kuhn_poker())


@pytest.mark.slow
def test_neural_oracle_learns_best_responses(kuhn):
    """PSRO with a reinforcement-learning oracle (PPO best responses against the mixture): within
    four steps its exact NashConv falls below half the uniform policy's (measured 0.22-0.30 by step
    2-6 with key 0), and the population grows by one trained network policy per step."""
    solver = psro(
        oracle="neural",
        max_policies=5,
        oracle_steps=30,
        oracle_episodes=2048,
        num_episodes=256,
        oracle_hidden_sizes=(32,),
    )
    state, trace = solvers.run(solver, kuhn, 4, eval_every=1, key=jax.random.key(0))
    assert int(state.extra.size) == 5
    assert float(np.min(trace.nash_conv)) < KUHN_UNIFORM_NASH_CONV / 2, trace.nash_conv
    with pytest.raises(ValueError, match="oracle_steps"):
        psro(oracle="neural", oracle_steps=0)
