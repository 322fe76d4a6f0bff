"""Markov games: exact metrics against brute-force NumPy, classic games' known values, the simulator."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
from jaxgames import markov
from jaxgames.matrix import MatrixGame

# Exact metrics, jitted: compiled once per game shape (eager calls would compile every operation apart).
values_of = jax.jit(lambda game, policy: game.evaluate(policy).values)
best_response_values_of = jax.jit(lambda game, policy: game.best_response_values(policy))


def random_tables(rng, S, actions, N=None, dense=True):
    N = len(actions) if N is None else N
    P = rng.exponential(size=(S, *actions, S))
    if not dense:
        P *= rng.random(P.shape) < 0.5
        P[..., 0] += 1e-3
    P /= P.sum(-1, keepdims=True)
    R = rng.normal(size=(N, S, *actions))
    init = rng.exponential(size=S)
    return P, R, init / init.sum()


def random_policy(rng, S, actions):
    out = []
    for a in actions:
        w = rng.exponential(size=(S, a))
        out.append(w / w.sum(1, keepdims=True))
    return tuple(out)


def np_chain(P, R, policy):
    """Joint-policy chain and rewards by explicit sums over joint actions (NumPy)."""
    S, actions = P.shape[0], P.shape[1:-1]
    Ppi, rpi = np.zeros((S, S)), np.zeros((R.shape[0], S))
    for s in range(S):
        for a in itertools.product(*[range(k) for k in actions]):
            w = np.prod([policy[i][s, a[i]] for i in range(len(actions))])
            Ppi[s] += w * P[(s, *a)]
            rpi[:, s] += w * R[(slice(None), s, *a)]
    return Ppi, rpi


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    P, R, init = random_tables(rng, 4, (2, 3, 2))
    game = markov.MarkovGame(P, R, 0.8, init)
    return game, (P, R, init), random_policy(rng, 4, (2, 3, 2))


@pytest.mark.slow
def test_exact_values_action_values_occupancy_match_power_series(tiny):
    game, (P, R, init), policy = tiny
    g = 0.8
    Ppi, rpi = np_chain(P, R, policy)
    V, mu, d = np.zeros_like(rpi), init.copy(), np.zeros(4)
    for t in range(400):  # sum_t g^t P^t r and sum_t g^t Pr(s_t) explicitly
        V += g**t * rpi @ np.linalg.matrix_power(Ppi, t).T
        d += (1 - g) * g**t * mu
        mu = mu @ Ppi
    ev = game.evaluate(tuple(jnp.asarray(p, jnp.float32) for p in policy))
    np.testing.assert_allclose(game.state_values(tuple(jnp.asarray(p, jnp.float32) for p in policy)), V, atol=1e-4)
    np.testing.assert_allclose(ev.values, V @ init, atol=1e-4)
    np.testing.assert_allclose(ev.reach[1], d, atol=1e-5)
    # Q of player 1's own action: explicit average over the others' actions
    q1 = np.zeros((4, 3))
    for s in range(4):
        for a in itertools.product(range(2), range(3), range(2)):
            w = policy[0][s, a[0]] * policy[2][s, a[2]]
            q1[s, a[1]] += w * (R[(1, s, *a)] + g * P[(s, *a)] @ V[1])
    np.testing.assert_allclose(ev.action_values[1], q1, atol=1e-4)
    assert np.allclose(ev.opponent_reach[0], 1.0)


@pytest.mark.slow
def test_best_response_matches_enumeration_of_deterministic_policies(tiny):
    game, (P, R, init), policy = tiny
    pol = tuple(jnp.asarray(p, jnp.float32) for p in policy)
    br_values = np.asarray(jax.jit(game.best_response_values)(pol))
    br = game.best_response(pol)
    for i, a_i in enumerate((2, 3, 2)):
        best = -np.inf
        for acts in itertools.product(range(a_i), repeat=4):
            dev = list(policy)
            dev[i] = np.eye(a_i)[list(acts)]
            Ppi, rpi = np_chain(P, R, dev)
            best = max(best, init @ np.linalg.solve(np.eye(4) - 0.8 * Ppi, rpi[i]))
        assert br_values[i] == pytest.approx(best, abs=1e-4)
        dev = pol[:i] + (br[i],) + pol[i + 1 :]
        assert float(values_of(game, dev)[i]) == pytest.approx(best, abs=1e-4)
    assert float(jax.jit(game.nash_conv)(pol)) == pytest.approx(
        float(np.sum(br_values - np.asarray(values_of(game, pol)))), abs=1e-5
    )


@pytest.mark.slow
def test_mdp_best_response_equals_value_iteration():
    rng = np.random.default_rng(1)
    P, R, init = random_tables(rng, 7, (3,), dense=False)
    game = markov.mdp(P, R[0], 0.95, init)
    v = np.zeros(7)
    for _ in range(3000):
        v = np.max(R[0] + 0.95 * P @ v, axis=1)
    br_state = np.asarray(game.best_response_state_values(game.uniform_policy()))[0]
    np.testing.assert_allclose(br_state, v, rtol=1e-4, atol=1e-4)
    assert float(game.best_response_values(game.uniform_policy())[0]) == pytest.approx(init @ v, abs=1e-3)


@pytest.mark.slow
def test_one_state_discount_zero_is_the_matrix_game():
    rng = np.random.default_rng(2)
    payoffs = rng.normal(size=(2, 3, 4))
    game = markov.MarkovGame(np.ones((1, 3, 4, 1)), payoffs[:, None], 0.0, [1.0])
    mg = MatrixGame(payoffs)
    x, y = random_policy(rng, 1, (3, 4))
    ev, mev = game.evaluate((x, y)), mg.evaluate((x[0], y[0]))
    np.testing.assert_allclose(ev.values, mev.values, atol=1e-5)
    np.testing.assert_allclose(ev.action_values[1][0], mev.action_values[1], atol=1e-5)
    assert float(game.nash_conv((x, y))) == pytest.approx(float(mg.nash_conv((x[0], y[0]))), abs=1e-5)


@pytest.mark.slow
def test_vmap_over_random_games_equals_a_loop():
    keys = jax.random.split(jax.random.key(3), 4)
    make = lambda k: markov.random_zero_sum(k, 5, (2, 3), branching=2, discount=0.7)  # noqa: E731
    games = jaxgames.stack_policies([make(k) for k in keys])  # a batched game (vmap of the constructor: below)
    nash_conv = jax.jit(lambda g: g.nash_conv(g.uniform_policy()))
    batched = jax.vmap(nash_conv)(games)
    looped = [float(nash_conv(make(k))) for k in keys]
    np.testing.assert_allclose(batched, looped, rtol=1e-5, atol=1e-5)
    assert len(set(np.round(looped, 4))) == 4


def test_garnet_rows_have_branching_next_states():
    game = markov.random_general_sum(jax.random.key(4), 9, (2, 2, 3), branching=3)
    P = np.asarray(game.transitions)
    assert game.num_players == 3 and game.num_actions == (2, 2, 3)
    assert np.all((P > 0).sum(-1) == 3)
    np.testing.assert_allclose(P.sum(-1), 1.0, atol=1e-5)
    mdp = markov.random_mdp(jax.random.key(4), 6, 4, branching=1)
    assert np.all((np.asarray(mdp.transitions) > 0).sum(-1) == 1) and mdp.num_players == 1


@pytest.mark.slow
def test_policy_gradient_theorem_links_action_values_and_reach():
    """``dV_i/dpi_i[s, a] = Z d(s) Q_i[s, a]``: autodiff of the exact value, infinite and finite horizon."""
    rng = np.random.default_rng(5)
    P, R, init = random_tables(rng, 4, (2, 3))
    pol = tuple(jnp.asarray(p, jnp.float32) for p in random_policy(rng, 4, (2, 3)))

    def check(game, pol):
        ev = game.evaluate(pol)
        gaps = []
        for i in range(2):
            grad = jax.grad(lambda p: game.evaluate(pol[:i] + (p,) + pol[i + 1 :]).values[i])(pol[i])
            gaps.append(jnp.max(jnp.abs(grad - game.effective_horizon * ev.reach[i][:, None] * ev.action_values[i])))
        return jnp.stack(gaps)

    for game in (markov.MarkovGame(P, R, 0.7, init), markov.MarkovGame(P, R, 0.9, init, horizon=4)):
        assert float(jnp.max(jax.jit(check)(game, pol))) < 1e-4


@pytest.mark.slow
def test_finite_horizon_matches_brute_force():
    rng = np.random.default_rng(6)
    P, R, init = random_tables(rng, 2, (2, 2))
    T, g = 3, 1.0
    game = markov.MarkovGame(P, R, g, init, horizon=T)
    pol = random_policy(rng, 2, (2, 2))
    Ppi, rpi = np_chain(P, R, pol)
    values = sum(g**t * init @ np.linalg.matrix_power(Ppi, t) @ rpi.T for t in range(T))
    np.testing.assert_allclose(game.evaluate(pol).values, values, atol=1e-5)
    # best deviation of player 0 among all time-dependent deterministic policies: enumerate them
    best = -np.inf
    for rule in itertools.product(itertools.product(range(2), repeat=2), repeat=T):
        mu, total = init, 0.0
        for t in range(T):
            dev = (np.eye(2)[list(rule[t])], pol[1])
            Pt, rt = np_chain(P, R, dev)
            total += g**t * mu @ rt[0]
            mu = mu @ Pt
        best = max(best, total)
    assert float(game.best_response_values(pol)[0]) == pytest.approx(best, abs=1e-5)
    with pytest.raises(ValueError, match="discount"):
        markov.MarkovGame(P, R, 1.0, init)


@pytest.mark.slow
def test_mix_policies_mixes_occupancy_measures():
    """For an MDP the occupancy-weighted average has the mixed state-action occupancy and mixed value."""
    rng = np.random.default_rng(7)
    P, R, init = random_tables(rng, 5, (3,))
    game = markov.mdp(P, R[0], 0.9, init)
    p, q = (tuple(jnp.asarray(x, jnp.float32) for x in random_policy(rng, 5, (3,))) for _ in range(2))
    alpha = 0.3
    mixed = game.mix_policies(p, q, alpha)
    measure = lambda pol: game.occupancy(pol)[:, None] * pol[0]  # noqa: E731
    np.testing.assert_allclose(measure(mixed), (1 - alpha) * measure(p) + alpha * measure(q), atol=1e-5)
    v = lambda pol: float(game.evaluate(pol).values[0])  # noqa: E731
    assert v(mixed) == pytest.approx((1 - alpha) * v(p) + alpha * v(q), abs=1e-4)
    naive = tuple((1 - alpha) * a + alpha * b for a, b in zip(p, q))
    assert abs(v(naive) - ((1 - alpha) * v(p) + alpha * v(q))) > 1e-3  # the per-state average is not


# -- classic games ------------------------------------------------------------------------------
@pytest.mark.slow
def test_iterated_prisoners_dilemma_known_values():
    g = 0.9
    game = markov.iterated_prisoners_dilemma(discount=g)
    tft = (markov.memory_one_policy(markov.TIT_FOR_TAT, 0), markov.memory_one_policy(markov.TIT_FOR_TAT, 1))
    alld = (markov.memory_one_policy(markov.ALWAYS_DEFECT, 0), markov.memory_one_policy(markov.ALWAYS_DEFECT, 1))
    np.testing.assert_allclose(game.evaluate(alld).values, [1 / (1 - g)] * 2, rtol=1e-5)
    np.testing.assert_allclose(game.evaluate(tft).values, [3 / (1 - g)] * 2, rtol=1e-5)
    # TFT (player 0) against always-defect: S, then P forever
    np.testing.assert_allclose(
        game.evaluate((tft[0], alld[1])).values, [0 + g * 1 / (1 - g), 5 + g * 1 / (1 - g)], rtol=1e-5
    )
    assert float(game.nash_conv(alld)) == pytest.approx(0.0, abs=1e-4)  # mutual defection: an equilibrium
    assert float(game.nash_conv(tft)) == pytest.approx(0.0, abs=1e-4)  # discount 0.9 >= 2/3
    # discount 0.6 < 2/3: alternating D, C against TFT earns (T + g S) / (1 - g^2) > R / (1 - g)
    low = markov.iterated_prisoners_dilemma(discount=0.6)
    gain = 5 / (1 - 0.36) - 3 / 0.4
    assert float(low.nash_conv(tft)) == pytest.approx(2 * gain, abs=1e-4)


@pytest.fixture(scope="module")
def small_soccer():
    return markov.grid_soccer(rows=2, cols=4)


@pytest.mark.slow
def test_soccer_rules_and_symmetry(small_soccer):
    game = small_soccer
    t = markov.classic.soccer_tables(2, 4)
    index = {tuple(int(v) for v in s): k for k, s in enumerate(t["states"])}
    # A (player 0) holds the ball at (0, 0) and moves W: a goal for A whatever B does
    k = index[(0, 5, 0)]
    np.testing.assert_allclose(np.asarray(game.rewards[0, k, 3]), 1.0)
    np.testing.assert_allclose(np.asarray(game.transitions[k, 3, 4]), t["initial"], atol=1e-6)
    # A with the ball at (0, 1) moves W onto B standing at (0, 0): B gets the ball, nobody moves
    k = index[(1, 0, 0)]
    np.testing.assert_allclose(np.asarray(game.transitions[k, 3, 4, index[(1, 0, 1)]]), 1.0)
    # both step into the free cell (0, 2): the first mover gets there, the second bumps into it and the
    # ball goes to the stationary first mover
    k = index[(1, 3, 0)]
    row = np.asarray(game.transitions[k, 2, 3])
    assert row[index[(2, 3, 0)]] == pytest.approx(0.5) and row[index[(1, 2, 1)]] == pytest.approx(0.5)
    # symmetry: swapping roles under the 180-degree rotation negates player 0's value
    sigma = markov.soccer_symmetry(2, 4)
    rot = markov.classic.ROTATED_ACTION
    rng = np.random.default_rng(8)
    x, y = (jnp.asarray(p, jnp.float32) for p in random_policy(rng, game.num_states, (5, 5)))
    mirrored = (y[sigma][:, rot], x[sigma][:, rot])
    assert float(game.evaluate((x, y)).values[0]) == pytest.approx(-float(game.evaluate(mirrored).values[0]), abs=1e-5)
    assert float(game.evaluate(game.uniform_policy()).values[0]) == pytest.approx(0.0, abs=1e-5)


def test_default_soccer_is_littmans_pitch():
    game = markov.grid_soccer()
    assert game.num_states == 20 * 19 * 2 and game.num_actions == (5, 5)
    assert np.allclose(np.asarray(game.transitions).sum(-1), 1.0, atol=1e-5)
    assert float(jnp.sum(game.initial)) == pytest.approx(1.0)


@pytest.mark.slow
def test_pursuit_evasion_known_values():
    g = 0.9
    corridor = markov.pursuit_evasion(rows=1, cols=2, discount=g)  # capture is certain every step
    chase = jnp.asarray([[0, 0, 1, 0, 0], [0, 0, 0, 1, 0]], jnp.float32)  # states (0, 1): E; (1, 0): W
    assert float(values_of(corridor, (chase, corridor.uniform_policy()[1]))[0]) == pytest.approx(1 / (1 - g), rel=1e-5)
    assert float(best_response_values_of(corridor, (chase, chase))[1]) == pytest.approx(-1 / (1 - g), rel=1e-5)
    game = markov.pursuit_evasion(rows=2, cols=3, discount=g, slip=0.1)
    v = float(values_of(game, game.uniform_policy())[0])
    assert 0 < v < 1 / (1 - g)
    np.testing.assert_allclose(np.asarray(game.transitions).sum(-1), 1.0, atol=1e-5)


# -- validation -----------------------------------------------------------------------------------
def _good():
    P = np.full((2, 2, 2, 2), 0.5)
    return P, np.zeros((2, 2, 2, 2)), 0.9, np.array([1.0, 0.0])


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda P, R, g, i: (-P, R, g, i), "transitions: expected non-negative"),
        (lambda P, R, g, i: (P * 0.9, R, g, i), "transitions: expected rows over next states summing to 1"),
        (lambda P, R, g, i: (P, R, 1.0, i), r"discount: expected a value in \[0, 1\)"),
        (lambda P, R, g, i: (P, R, -0.1, i), "discount"),
        (
            lambda P, R, g, i: (P[:, :, :1], R, g, i),
            r"transitions: expected shape .* \(2, 2, 2, 2\) .* got \(2, 2, 1, 2\)",
        ),
        (lambda P, R, g, i: (P, R[:, :1], g, i), r"transitions: expected shape .*rewards of shape \(2, 1, 2, 2\)"),
        (lambda P, R, g, i: (P, np.where(R == 0, np.nan, R), g, i), "rewards: expected finite"),
        (lambda P, R, g, i: (P, R, g, np.array([0.5, 0.6])), "initial: expected a distribution"),
        (lambda P, R, g, i: (P, R, g, np.array([1.0, 0.0, 0.0])), r"initial: expected shape \(2,\)"),
    ],
)
def test_bad_input_raises_naming_the_field(change, match):
    with pytest.raises(ValueError, match=match):
        markov.MarkovGame(*change(*_good()))


def test_bad_input_other_constructors():
    P, R, g, i = _good()
    with pytest.raises(ValueError, match="horizon"):
        markov.MarkovGame(P, R, g, i, horizon=0)
    with pytest.raises(ValueError, match="reward: expected shape"):
        markov.zero_sum(P, R, g, i)
    with pytest.raises(ValueError, match="branching"):
        markov.random_zero_sum(jax.random.key(0), 4, 2, branching=5)
    with pytest.raises(ValueError, match="cooperate"):
        markov.memory_one_policy((1, 1, 0))
    env = markov.MarkovEnv(markov.MarkovGame(P, R, g, i))
    state, _ = env.reset(jax.random.key(0))
    with pytest.raises(ValueError, match="action: player 1's action 2 is not legal: out of range"):
        env.step(jax.random.key(0), state, jnp.array([0, 2]))
    with pytest.raises(ValueError, match="action: expected shape"):
        env.step(jax.random.key(0), state, jnp.array([0]))


@pytest.mark.slow
def test_construction_under_jit_and_vmap_skips_value_checks():
    P, R, g, i = _good()
    f = jax.jit(
        lambda P, g: markov.MarkovGame(P, R, g, i).evaluate(markov.MarkovGame(P, R, g, i).uniform_policy()).values
    )
    np.testing.assert_allclose(f(jnp.asarray(P), 0.5), [0.0, 0.0])
    discounts = jnp.array([0.0, 0.5, 0.9])
    game = markov.iterated_prisoners_dilemma()
    vals = jax.vmap(
        lambda d: (
            markov.MarkovGame(game.transitions, game.rewards, d, game.initial)
            .evaluate(
                (markov.memory_one_policy(markov.ALWAYS_DEFECT, 0), markov.memory_one_policy(markov.ALWAYS_DEFECT, 1))
            )
            .values[0]
        )
    )(discounts)
    np.testing.assert_allclose(vals, 1 / (1 - discounts), rtol=1e-5)


# -- simulator ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_simulated_discounted_return_matches_evaluate():
    rng = np.random.default_rng(9)
    P, R, init = random_tables(rng, 5, (2, 3), dense=False)
    game = markov.MarkovGame(P, R, 0.8, init)
    pol = tuple(jnp.asarray(p, jnp.float32) for p in random_policy(rng, 5, (2, 3)))
    H, B = 80, 4096  # truncation bias <= 0.8^80 max|r| / 0.2 < 1e-6
    env = markov.MarkovEnv(game, max_episode_steps=H)
    _, traj = jax.jit(lambda k: markov.rollout(k, env, pol, H, batch_size=B))(jax.random.key(0))
    assert np.all(np.asarray(traj.done).sum(1) == 1)
    returns = np.asarray(markov.discounted_returns(traj, game.discount))
    se = returns.std(0) / np.sqrt(B)
    bias = 0.8**H * np.abs(R).max() / 0.2
    assert np.all(np.abs(returns.mean(0) - np.asarray(game.evaluate(pol).values)) < 4 * se + bias)


@pytest.mark.slow
def test_simulator_finite_horizon_and_batched_games():
    game = markov.iterated_prisoners_dilemma()
    game = markov.MarkovGame(game.transitions, game.rewards, 1.0, game.initial, horizon=6)
    env = markov.MarkovEnv(game)
    pol = (markov.memory_one_policy((0.7, 0.9, 0.2, 0.5, 0.4), 0), markov.memory_one_policy((0.5,) * 5, 1))
    _, traj = jax.jit(lambda k: markov.rollout(k, env, pol, 6, batch_size=4096))(jax.random.key(1))
    returns = np.asarray(traj.rewards.sum(1))
    se = returns.std(0) / np.sqrt(4096)
    assert np.all(np.abs(returns.mean(0) - np.asarray(values_of(game, pol))) < 4 * se)
    # without auto-reset the final state is kept: a step past it raises, and is a no-op under jit;
    # the horizon terminates the episode (it does not truncate it)
    kept = markov.MarkovEnv(game, autoreset=False)
    state, _ = kept.reset(jax.random.key(0))
    step = jax.jit(kept.step)  # the six steps under one compile; the concrete check of the seventh is below
    for _ in range(6):
        state, ts = step(jax.random.key(0), state, jnp.array([1, 1]))
    assert bool(ts.terminated) and not bool(ts.truncated) and bool(state.done)
    with pytest.raises(ValueError, match="state: the episode is over"):
        kept.step(jax.random.key(0), state, jnp.array([0, 0]))
    same, ts = step(jax.random.key(0), state, jnp.array([0, 0]))
    assert int(same.state) == int(state.state) and np.all(np.asarray(ts.rewards) == 0)
    fresh, _ = env.step(jax.random.key(0), state, jnp.array([0, 0]))  # auto-reset restarts
    assert int(fresh.state) == 0 and int(fresh.step_count) == 0
    # vmapped over games: each simulation uses its own game's rewards
    games = jax.vmap(lambda k: markov.random_zero_sum(k, 4, 2))(jax.random.split(jax.random.key(2), 3))
    env2 = markov.MarkovEnv(markov.random_zero_sum(jax.random.key(0), 4, 2))
    _, trajs = jax.jit(jax.vmap(lambda k, g: markov.rollout(k, env2, None, 5, params=g)))(
        jax.random.split(jax.random.key(3), 3), games
    )
    for b in range(3):
        tr = jax.tree_util.tree_map(lambda x: x[b], trajs)
        expect = games.rewards[b][0][tr.state.state, tr.action[:, 0], tr.action[:, 1]]
        np.testing.assert_allclose(tr.rewards[:, 0], expect, atol=1e-6)


@pytest.mark.slow
def test_float64_best_response_is_exact():
    """In this process with float64 switched on for the test (``jax.enable_x64``; jit caches key on it)."""
    rng = np.random.default_rng(0)
    P = rng.exponential(size=(5, 2, 2, 5))
    P /= P.sum(-1, keepdims=True)
    R, init = rng.normal(size=(2, 5, 2, 2)), np.full(5, 0.2)
    P0, r0 = P.mean(2), R[0].mean(2)
    best = max(
        init @ np.linalg.solve(np.eye(5) - 0.99 * P0[np.arange(5), a], r0[np.arange(5), a])
        for a in itertools.product(range(2), repeat=5)
    )
    with jax.enable_x64(True):
        game = markov.MarkovGame(P, R, 0.99, init)
        assert game.rewards.dtype == jnp.float64
        error = abs(float(best_response_values_of(game, game.uniform_policy())[0]) - best)
    assert jnp.zeros(1).dtype == jnp.float32  # switched off again
    assert error < 1e-9


def test_garnet_draw_is_the_branching_smallest_noises_and_vmaps_game_by_game():
    """The dense draw against a sort of its own noise (NumPy), and vmapped (drawn game by game) = one by one."""
    from jaxgames import rng

    keys = jax.random.split(jax.random.key(7), 3)
    make = jax.jit(lambda k: markov.random_zero_sum(k, 12, 3, 4).transitions)
    batched = jax.jit(jax.vmap(lambda k: markov.random_zero_sum(k, 12, 3, 4).transitions))(keys)
    nested = jax.jit(jax.vmap(jax.vmap(lambda k: markov.random_zero_sum(k, 12, 3, 4).transitions)))(keys[None])
    for i, key in enumerate(keys):
        P = np.asarray(make(key))
        np.testing.assert_array_equal(np.asarray(batched[i]), P)
        np.testing.assert_array_equal(np.asarray(nested[0, i]), P)
        k_support, k_prob = jax.random.split(jax.random.split(key)[0])  # _tables' key for the transitions
        noise = np.asarray(rng.uniform(k_support, P.shape))
        support = noise <= np.sort(noise, axis=-1)[..., 3:4]  # the 4 smallest (ties would add more)
        np.testing.assert_array_equal(P > 0, support)
        weights = np.where(support, np.asarray(rng.exponential(k_prob, P.shape)), 0.0)
        np.testing.assert_allclose(P, weights / weights.sum(-1, keepdims=True), rtol=1e-6)
