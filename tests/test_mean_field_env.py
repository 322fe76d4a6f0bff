"""N-agent simulator of mean-field games: agreement with the exact model, convergence as N grows."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames.mean_field import NAgentEnv, crowd_modelling, episode_returns
from jaxgames.mean_field.env import empirical_distribution

from helpers import LONG_RUN


@functools.cache
def _returns_fn(num_agents):
    def many(game, policy, key):
        env = NAgentEnv(game, num_agents)
        return jax.vmap(lambda k: episode_returns(k, env, policy))(jax.random.split(key, 1000))

    return jax.jit(many)


def _mean_return(game, policy, num_agents, seed=0):
    rets = np.asarray(_returns_fn(num_agents)(game, policy, jax.random.PRNGKey(seed)), np.float64)
    per_episode = rets.mean(axis=1)  # agents are exchangeable: average them within an episode
    return per_episode.mean(), per_episode.std() / np.sqrt(len(per_episode))


@pytest.fixture(scope="module")
def equilibrium():
    """A mean-field equilibrium of small crowd modelling, by fictitious play (exploitability ~ 2e-3)."""
    game = crowd_modelling(5, 4, move_cost_model="action")
    state, _ = jax.jit(lambda g: solvers.run(solvers.fictitious_play(), g, 300))(game)
    policy = solvers.fictitious_play().output(state)
    assert float(game.exploitability(policy)) < 5e-3
    return game, policy


@pytest.mark.slow
def test_reset_and_step_shapes():
    game = crowd_modelling(5, 3)
    env = NAgentEnv(game, 7)
    state, ts = env.reset(jax.random.PRNGKey(0))
    assert state.positions.shape == (7,) and ts.observation.shape == (7, 2) and ts.legal_action_mask.shape == (7, 3)
    emp = empirical_distribution(state.positions, 5)
    np.testing.assert_allclose(emp.sum(), 1.0, atol=1e-6)
    new, ts = env.step(jax.random.PRNGKey(1), state, jnp.ones(7, jnp.int32))
    assert int(new.t) == 1 and ts.rewards.shape == (7,) and not bool(ts.done)
    # the reward each agent gets is the model's reward at the empirical distribution
    np.testing.assert_allclose(ts.rewards, game.reward(0, emp)[state.positions, 1], rtol=1e-6)
    # the reward an agent gets is the model's reward at the empirical distribution
    emp = empirical_distribution(jnp.array([0, 0, 1, 4]), 5)
    np.testing.assert_allclose(emp, [0.5, 0.25, 0, 0, 0.25])


@pytest.mark.slow
def test_simulator_matches_model_without_mean_field_coupling():
    """crowd_aversion = 0: rewards ignore the population, so every N gives the exact value (within 4 SE)."""
    game = crowd_modelling(5, 4, crowd_aversion=0.0, move_cost_model="action")
    policy = (jnp.asarray(np.random.default_rng(0).dirichlet(np.ones(3), size=(4, 5)), jnp.float32),)
    exact = float(game.evaluate(policy).values[0])
    mean, se = _mean_return(game, policy, 8)
    assert abs(mean - exact) < 4 * se + 1e-4


@pytest.mark.slow
def test_n_agent_value_converges_to_mean_field_value(equilibrium):
    """The N-agent mean return approaches the mean-field value; the gap (Jensen bias of -log emp) is O(1/N)."""
    game, policy = equilibrium
    exact = float(game.evaluate(policy).values[0])
    sizes = [8, 32, 128]
    errors, ses = [], []
    for n in sizes:
        mean, se = _mean_return(game, policy, n)
        errors.append(abs(mean - exact))
        ses.append(se)
    assert errors[0] > 10 * ses[0]  # a small population really differs from the mean field
    assert errors[-1] < 0.1  # ... and a large one is close to it
    assert all(a > b for a, b in zip(errors, errors[1:]))
    slope = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert -1.4 < slope < -0.6, slope


# -- exact N-agent exploitability (jaxgames.mean_field.finite_population) -------------------------

from jaxgames.mean_field import n_agent_values, sis_epidemic  # noqa: E402

SIZES = (10, 40, 160, 640)


@pytest.fixture(scope="module")
def sis_equilibrium():
    """SIS mean-field equilibrium by damped fixed-point iteration (fictitious play stalls at ~0.16 here)."""
    game = sis_epidemic()
    solver = solvers.fixed_point(damping=0.01)
    state, trace = jax.jit(lambda g: solvers.run(solver, g, 2000, eval_every=2000))(game)
    policy = solver.output(state)
    assert abs(float(trace.exploitability[-1])) < 1e-3
    return game, policy


@pytest.fixture(scope="module")
def n_agent_table(sis_equilibrium):
    """Exact N-agent values of the MFE and of the uniform policy for N in SIZES: one compiled call, vmapped
    over both policies and N, for N <= 160 and one for N = 640 (tables padded to 640 agents for every N
    would cost 4x the computation), with LLVM's basic optimizations (``helpers.LONG_RUN``: 4.4 s of CPU for
    both calls, not 5.7 s)."""
    game, policy = sis_equilibrium
    policies = jax.tree_util.tree_map(lambda *p: jnp.stack(p), policy, game.uniform_policy())

    def table(sizes):
        per_size = jax.vmap(lambda p, n: n_agent_values(game, p, n, max(sizes))[:3], in_axes=(None, 0))
        batched = jax.jit(jax.vmap(per_size, in_axes=(0, None)), compiler_options=LONG_RUN)
        return batched(policies, jnp.array(sizes))  # each [2, len(sizes)]

    values = [np.concatenate(v, axis=1, dtype=np.float64) for v in zip(table(SIZES[:-1]), table(SIZES[-1:]))]
    return {name: [v[i] for v in values] for i, name in enumerate(("mfe", "uniform"))}


@pytest.mark.slow
def test_n_agent_exploitability_shrinks_like_a_power_of_n(sis_equilibrium, n_agent_table):
    """N-agent exploitability of the MFE -> 0 (its mean-field value) with a log-log slope in [-1.2, -0.3].

    Measured: gains 1.56, 0.446, 0.123, 0.034 for N = 10, 40, 160, 640; slope -0.92. The MFE
    of this SIS model is pure (bang-bang in t), so the deviator's gain comes mostly from O(1/N)
    effects (its own weight 1/N in emp, and the Jensen gap of the values in emp) rather than
    from exploiting O(1/sqrt(N)) fluctuations at indifferent states: the rate is ~1/N, not 1/sqrt(N).
    """
    game, policy = sis_equilibrium
    best, follow, gain = n_agent_table["mfe"]
    assert np.all(gain > 0) and np.all(np.diff(gain) < 0), gain
    slope = np.polyfit(np.log(SIZES), np.log(gain), 1)[0]
    assert -1.2 < slope < -0.3, slope
    # the symmetric N-agent value of pi* tends to its mean-field value
    mf_value = float(game.evaluate(policy).values[0])
    assert np.all(np.diff(np.abs(follow - mf_value)) < 0) and abs(follow[-1] - mf_value) < 0.05
    # a non-equilibrium policy: the N-agent gain tends to its (positive) mean-field exploitability
    _, _, gain_u = n_agent_table["uniform"]
    mf_expl = float(game.exploitability(game.uniform_policy()))
    err = np.abs(gain_u - mf_expl)  # 0.067, 0.22, 0.075, 0.019 (not monotone at small N)
    assert err.argmin() == len(SIZES) - 1 and err[-1] < 0.02 * mf_expl, (gain_u, mf_expl)


def _count_deviator_returns(game, policy, best_response, num_agents, key, episodes):
    """Monte Carlo with NAgentEnv: agent 0 plays best_response[t, x0, k] (k = others in state 1), or follows."""
    env = NAgentEnv(game, num_agents, autoreset=False)

    def episode(k):
        reset_key, k = jax.random.split(k)
        state, _ = env.reset(reset_key)

        def body(carry, step_key):
            state_f, state_d = carry
            k_act, k_step = jax.random.split(step_key)
            out = []
            for st, deviate in ((state_f, False), (state_d, True)):
                actions = env.sample_action(k_act, st, policy)
                if deviate:
                    others = jnp.sum(st.positions[1:] == 1)
                    actions = actions.at[0].set(jnp.argmax(best_response[st.t, st.positions[0], others]))
                out.append(env.step(k_step, st, actions.astype(jnp.int32))[0])
            return tuple(out), None

        (state_f, state_d), _ = jax.lax.scan(body, (state, state), jax.random.split(k, game.horizon))
        return state_f.returns[0], state_d.returns[0]

    return jax.jit(jax.vmap(episode))(jax.random.split(key, episodes))


@pytest.mark.slow
def test_n_agent_values_match_monte_carlo(sis_equilibrium):
    """Exact J^BR and J^pi for N = 6 equal NAgentEnv Monte Carlo (8,000 episodes) within 4 standard errors."""
    game, policy = sis_equilibrium
    exact = n_agent_values(game, policy, 6)
    follow, deviate = (
        np.asarray(r, np.float64)
        for r in _count_deviator_returns(game, policy, exact.best_response, 6, jax.random.PRNGKey(0), 8_000)
    )
    for mc, value in ((follow, exact.policy_value), (deviate, exact.best_value)):
        se = mc.std() / np.sqrt(mc.size)
        assert abs(mc.mean() - float(value)) < 4 * se, (mc.mean(), float(value), se)
    # the gain is resolved by the Monte Carlo (paired episodes) and is not a Monte Carlo artefact
    diff = deviate - follow
    assert float(exact.gain) > 0.5 and abs(diff.mean() - float(exact.gain)) < 4 * diff.std() / np.sqrt(diff.size)


@pytest.mark.slow
def test_n_agent_bad_input():
    with pytest.raises(ValueError, match="game: expected a 2-state model"):
        n_agent_values(crowd_modelling(5, 2), crowd_modelling(5, 2).uniform_policy(), 4)
    game = sis_epidemic(horizon=2)
    with pytest.raises(ValueError, match="num_agents: expected an integer in"):
        n_agent_values(game, game.uniform_policy(), 50, max_agents=20)
