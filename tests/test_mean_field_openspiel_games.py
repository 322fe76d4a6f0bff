"""OpenSpiel's mean-field games ``mfg_garnet``, ``python_mfg_periodic_aversion`` and
``python_mfg_dynamic_routing`` as native models.

Cross-checks (``requires_pyspiel``), all in float64 (``jax.enable_x64`` inside the test):

* exploitability equals OpenSpiel's ``nash_conv.NashConv`` on the uniform and a random policy
  (to 1e-9; both conventions ``"openspiel"``, i.e. OpenSpiel's memoised values);
* ``solvers.fictitious_play(alternating=False)`` reproduces OpenSpiel's ``FictitiousPlay``
  exploitability trace, iteration by iteration (to 1e-9);
* dynamic routing: stock ``FictitiousPlay`` fails on it (``to_tabular``); without ``to_tabular`` its
  trace equals ours once two of its conventions are replayed (``_openspiel_fp``);
* the ``"action"`` convention's value is the expected return of OpenSpiel's rules, summed over
  every history of the game tree (no memoisation), against our mean field.

Without OpenSpiel: the native Garnet generator's laws, vmap over keys, validation.
"""

import ast

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from jaxgames.mean_field import dynamic_routing, garnet, garnet_from_openspiel, periodic_aversion

requires_pyspiel = pytest.mark.requires_pyspiel

# jitted once for the file (eager metrics dispatch op by op: 2.3 s vs 0.6 s on the routing game)
_exploitability = jax.jit(lambda game, policy: game.exploitability(policy))
_mean_field = jax.jit(lambda game, policy: game.mean_field(policy))
_value = jax.jit(lambda game, policy: game.evaluate(policy).values[0])

GARNET_PARAMS = [
    dict(size=5, horizon=4, seed=3, num_action=3, num_chance_action=2),
    dict(size=6, horizon=4, seed=1, num_action=2, num_chance_action=3, sparsity_factor=0.5, eta=0.5),
]
PERIODIC_PARAMS = [
    dict(size=7, horizon=3, n_actions_per_side=2),
    dict(size=5, horizon=3, n_actions_per_side=1, dt=0.05, volatility=0.7, coef_aversion=0.5, xmin=-1.0, xmax=2.0),
]


def _spiel_game(name, params):
    import pyspiel

    if name.startswith("python_"):
        import open_spiel.python.mfg.games  # noqa: F401 - registers the python_mfg_* games
    return pyspiel.load_game(name, params)


def _table_policy(table, spiel_game):
    """OpenSpiel policy playing ``table[t, x, a]`` at the decision node observed as ``"(x, t)"``."""
    from open_spiel.python import policy as policy_std

    table = np.asarray(table, np.float64)

    class _Table(policy_std.Policy):
        def action_probabilities(self, state, player_id=None):
            x, t = ast.literal_eval(state.observation_string(0))
            return {a: float(table[t, x, a]) for a in state.legal_actions()}

    return _Table(spiel_game, [0])


def _random_policy(game, rng):
    return (jnp.asarray(rng.dirichlet(np.ones(game.num_actions), size=(game.horizon, game.num_states))),)


def _build(name, params):
    if name == "mfg_garnet":
        return garnet_from_openspiel(**params)
    return periodic_aversion(**params)


CASES = [("mfg_garnet", p) for p in GARNET_PARAMS] + [("python_mfg_periodic_aversion", p) for p in PERIODIC_PARAMS]
IDS = ["garnet-a", "garnet-b", "periodic-a", "periodic-b"]


@requires_pyspiel
@pytest.mark.parametrize("name,params", CASES, ids=IDS)
def test_exploitability_equals_openspiel_nash_conv(name, params):
    from open_spiel.python.mfg.algorithms import nash_conv

    spiel_game = _spiel_game(name, params)
    with jax.enable_x64(True):
        game = _build(name, params)
        policies = [game.uniform_policy(), _random_policy(game, np.random.default_rng(0))]
        ours = [float(_exploitability(game, p)) for p in policies]
        tables = [np.asarray(p[0]) for p in policies]
    theirs = [nash_conv.NashConv(spiel_game, _table_policy(t, spiel_game)).nash_conv() for t in tables]
    np.testing.assert_allclose(ours, theirs, atol=1e-9, rtol=0)
    assert min(theirs) > 0.1  # not a trivial agreement


@requires_pyspiel
@pytest.mark.parametrize("name,params", [CASES[0], CASES[2]], ids=["garnet", "periodic"])
def test_fictitious_play_matches_openspiel(name, params):
    """Exploitability after each of the first 4 iterations equals OpenSpiel's ``FictitiousPlay``."""
    from open_spiel.python.mfg.algorithms import fictitious_play, nash_conv

    spiel_game = _spiel_game(name, params)
    fp = fictitious_play.FictitiousPlay(spiel_game)
    theirs = []
    for _ in range(4):
        fp.iteration()
        theirs.append(nash_conv.NashConv(spiel_game, fp.get_policy()).nash_conv())
    with jax.enable_x64(True):
        _, trace = solvers.run(solvers.fictitious_play(alternating=False), _build(name, params), 4, eval_every=1)
        ours = np.asarray(trace.exploitability)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, theirs, atol=1e-9, rtol=0)
    assert np.ptp(theirs) > 1e-3  # the trace moves


def _expected_return(spiel_game, mu, table):
    """``E[sum_t rewards]`` over every history of OpenSpiel's tree (no memoisation), at mean field ``mu``.

    Sums ``state.rewards()`` along each history, as OpenSpiel's value functions do
    (``python_mfg_periodic_aversion``'s ``returns()`` keeps only the last reward)."""
    import pyspiel

    def value(state):
        if state.is_terminal():
            return state.rewards()[0]
        if state.current_player() == pyspiel.PlayerId.MEAN_FIELD:
            state = state.clone()
            _, t = ast.literal_eval(state.distribution_support()[0].split("_")[0])  # "(x, t)_a"
            state.update_distribution([float(m) for m in mu[t]])
            return value(state)
        if state.is_chance_node():
            return state.rewards()[0] + sum(p * value(state.child(k)) for k, p in state.chance_outcomes())
        x, t = ast.literal_eval(state.observation_string(0))
        probs = table[t, x]
        return state.rewards()[0] + sum(probs[a] * value(state.child(a)) for a in state.legal_actions() if probs[a] > 0)

    return value(spiel_game.new_initial_state())


@requires_pyspiel
@pytest.mark.parametrize(
    "name,params",
    [
        ("mfg_garnet", dict(size=4, horizon=3, seed=2, num_action=2, num_chance_action=2)),
        ("python_mfg_periodic_aversion", dict(size=5, horizon=3, n_actions_per_side=1)),
    ],
    ids=["garnet", "periodic"],
)
def test_action_convention_is_the_expected_return_of_openspiels_rules(name, params):
    """``"action"``: ``J(pi, mu(pi))`` = OpenSpiel's returns summed over the whole tree; ``"openspiel"`` differs."""
    spiel_game = _spiel_game(name, params)
    with jax.enable_x64(True):
        game = _build(name, {**params, "reward_model" if name == "mfg_garnet" else "move_cost_model": "action"})
        memo = _build(name, params)
        policy = _random_policy(game, np.random.default_rng(1))
        mu = np.asarray(_mean_field(game, policy))
        value = float(_value(game, policy))
        memo_value = float(_value(memo, policy))
        np.testing.assert_allclose(mu, np.asarray(_mean_field(memo, policy)), atol=1e-14)
    exact = _expected_return(spiel_game, mu, np.asarray(policy[0]))
    assert value == pytest.approx(exact, abs=1e-10)
    assert abs(memo_value - exact) > 1e-3  # OpenSpiel's memoised values are not the expected return


# ------------------------------------------------------------------------------ dynamic routing
ROUTING = dict(max_num_time_step=20, time_step_length=0.2)  # Braess; at T = 10, 0.5 every route ties


def _routing_policy(game, table, spiel_game):
    """OpenSpiel policy of ``table [2T - 1, S, A]``: decision node ``t`` is our step ``2t``."""
    import re

    from open_spiel.python import policy as policy_std

    table, label = np.asarray(table, np.float64), {name: i for i, name in enumerate(game.labels)}

    def index(state):
        text = str(state)
        m = re.match(r"Location=(.*), waiting_time=(-?\d+), t=(\d+), destination='(.*)'", text)
        if m:
            return 2 * int(m[3]), label[f"dec({m[1]}, {m[2]}, {m[4]})"]
        return 2 * int(re.search(r"t=(\d+)", text)[1]), label["DONE"]  # "Arrived at ..."

    class _Table(policy_std.Policy):
        def action_probabilities(self, state, player_id=None):
            k, x = index(state)
            return {a: float(table[k, x, a]) for a in state.legal_actions()}

    return _Table(spiel_game, [0])


@requires_pyspiel
def test_dynamic_routing_exploitability_equals_openspiel_nash_conv():
    from open_spiel.python.mfg.algorithms import nash_conv

    spiel_game = _spiel_game("python_mfg_dynamic_routing", ROUTING)
    with jax.enable_x64(True):
        game = dynamic_routing(**ROUTING)
        mask = np.asarray(game.legal_mask()[0])
        w = np.random.default_rng(0).exponential(size=mask.shape) * mask
        policies = [game.uniform_policy(), (jnp.asarray(w / w.sum(-1, keepdims=True)),)]
        ours = [float(_exploitability(game, p)) for p in policies]
        mus = [np.asarray(_mean_field(game, p)) for p in policies]
    for policy, value, mu in zip(policies, ours, mus):
        nc = nash_conv.NashConv(spiel_game, _routing_policy(game, policy[0], spiel_game))
        assert value == pytest.approx(nc.nash_conv(), abs=1e-9)
        for k in range(0, game.horizon, 2):  # the mean field on OpenSpiel's decision nodes
            for x in np.flatnonzero(mu[k] > 0)[:-1]:  # all but DONE (OpenSpiel splits it by arrival time)
                loc, wait, dest = game.labels[x][4:-1].split(", ")
                key = f"Location={loc}, waiting_time={wait}, t={k // 2}, destination='{dest}'"
                assert nc.distribution.value_str(key, 0.0) == pytest.approx(mu[k, x], abs=1e-12)
    assert ours[0] == pytest.approx(0.55, abs=1e-9) and ours[1] > 0.5


def _reachable(game, mu):
    """``[K, S]``: states reachable by some legal actions under the dynamics at mean field ``mu``."""
    mask = jnp.asarray(game.action_mask(), mu.dtype)

    def forward(reach, inputs):
        k, mu_k = inputs
        nxt = (jnp.einsum("x,xa,xay->y", reach, mask, game.transition(k, mu_k)) > 0).astype(mu.dtype)
        return nxt, nxt

    r0 = (game.initial > 0).astype(mu.dtype)
    _, rest = jax.lax.scan(forward, r0, (jnp.arange(game.horizon - 1), mu[:-1]))
    return jnp.concatenate([r0[None], rest]) > 0


@jax.jit
def _openspiel_fp_step(game, average, alpha):
    """One iteration of OpenSpiel's ``FictitiousPlay`` (without ``to_tabular``) on our model.

    Two conventions of OpenSpiel's: its greedy best response is the first legal action at states
    its ``BestResponse`` traversal did not visit (their values default to 0), and its
    ``MergedPolicy`` is uniform where neither component reaches a state. (``solvers.fictitious_play``
    best-responds everywhere and mixes ``p + alpha (q - p)`` there.)"""
    mask = game.legal_mask()[0]
    mu = game.mean_field(average)
    first = jax.nn.one_hot(jnp.argmax(mask, axis=-1), game.num_actions, dtype=mu.dtype)
    br = jnp.where(_reachable(game, mu)[..., None], game.best_response(average)[0], first)
    rp, rq = mu, game.mean_field((br,))
    den = (1 - alpha) * rp + alpha * rq
    mixed = average[0] + (alpha * rq / jnp.where(den > 0, den, 1.0))[..., None] * (br - average[0])
    new = (jnp.where((den > 0)[..., None], mixed, game.uniform_policy()[0]),)
    return new, game.exploitability(new)


@requires_pyspiel
def test_dynamic_routing_fictitious_play_matches_openspiel():
    """OpenSpiel's ``FictitiousPlay`` loop minus ``to_tabular`` (which fails on this game) = ``_openspiel_fp_step``."""
    from open_spiel.python.mfg import value
    from open_spiel.python.mfg.algorithms import (
        best_response_value,
        distribution,
        fictitious_play,
        greedy_policy,
        nash_conv,
    )

    spiel_game = _spiel_game("python_mfg_dynamic_routing", ROUTING)
    policy = fictitious_play.policy_std.UniformRandomPolicy(spiel_game)
    theirs = []
    for k in range(1, 5):
        dist = distribution.DistributionPolicy(spiel_game, policy)
        br_value = best_response_value.BestResponse(spiel_game, dist, value.TabularValueFunction(spiel_game))
        br = greedy_policy.GreedyPolicy(spiel_game, [0], br_value)
        weight = 1.0 / (k + 1)
        policy = fictitious_play.MergedPolicy(
            spiel_game, [0], [policy, br], [dist, distribution.DistributionPolicy(spiel_game, br)], [1 - weight, weight]
        )
        theirs.append(nash_conv.NashConv(spiel_game, policy).nash_conv())
    with jax.enable_x64(True):
        game = dynamic_routing(**ROUTING)
        average, ours = game.uniform_policy(), []
        for k in range(1, 5):
            average, expl = _openspiel_fp_step(game, average, 1.0 / (k + 1))
            ours.append(float(expl))
    np.testing.assert_allclose(ours, theirs, atol=1e-9, rtol=0)
    assert np.ptp(theirs) > 0.1


def test_dynamic_routing_braess_values():
    """Known values: at T = 10, step 0.5 every route arrives at t = 7 (value -3.5, exploitability 0)."""
    game = dynamic_routing()
    assert (game.num_states, game.num_actions, game.horizon, game.max_wait) == (64, 8, 19, 3)
    u = game.uniform_policy()
    assert float(_value(game, u)) == pytest.approx(-3.5, abs=1e-6)
    assert float(_exploitability(game, u)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="od_demand"):
        dynamic_routing(od_demand=[("O->A", "X->Y", 0.0, 1.0)])


# ------------------------------------------------------------------------------ without OpenSpiel
@pytest.mark.slow
def test_native_garnet_draw_and_vmap():
    sizes = dict(size=40, horizon=3, num_action=4, num_chance_action=3)
    game = garnet(jax.random.key(0), **sizes, sparsity_factor=0.5, reward_model="openspiel")
    p = np.asarray(game.transitions)
    assert p.shape == (40, 4, 40)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)
    assert np.all((p > 0).sum(-1) <= 3)
    r = np.asarray(game.garnet_reward)
    assert 0.3 < np.mean(r > 0) < 0.7 and r.min() >= 0 and r.max() <= 1  # sparsity 0.5, U(0, 1)
    assert game.base_reward.shape == (3, 40, 4)
    keys = jax.random.split(jax.random.key(1), 3)
    games = jax.vmap(lambda key: garnet(key, size=5, horizon=3))(keys)  # reward_model="action" traces
    values = np.asarray(jax.vmap(_exploitability)(games, jax.vmap(lambda g: g.uniform_policy())(games)))
    assert values.shape == (3,) and np.all(values > 0) and np.ptp(values) > 0
    one = garnet(keys[1], size=5, horizon=3)
    assert values[1] == pytest.approx(float(_exploitability(one, one.uniform_policy())), rel=1e-5)


def test_periodic_aversion_model():
    game = periodic_aversion(size=9, horizon=4, n_actions_per_side=2, move_cost_model="action")
    assert game.uniform_policy()[0].shape == (4, 9, 5)
    p = np.asarray(game.transitions)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)
    # staying put, the noise is a symmetric discrete normal around the cell
    np.testing.assert_allclose(p[4, 2, [3, 5]], p[4, 2, [3, 5]][::-1], rtol=1e-6)
    assert p[4, 2, 4] > p[4, 2, 5] > p[4, 2, 6] > 0
    cost = np.asarray(game.move_cost)
    assert cost[0, 0, 2] == 0 and cost[0, 0, 3] > 0 and np.all(cost[-1] == 0)


def test_validation():
    with pytest.raises(ValueError, match="reward_model"):
        garnet(0, reward_model="other")
    with pytest.raises(ValueError, match="sparsity_factor"):
        garnet(0, sparsity_factor=2.0)
    with pytest.raises(ValueError, match="reward_model: 'openspiel'"):
        keys = jax.random.split(jax.random.key(0), 2)
        jax.vmap(lambda k: garnet(k, size=3, horizon=2, reward_model="openspiel").garnet_reward)(keys)
    with pytest.raises(ValueError, match="xmax"):
        periodic_aversion(xmin=1.0, xmax=0.0)
    with pytest.raises(ValueError, match="volatility"):
        periodic_aversion(volatility=0.0)
