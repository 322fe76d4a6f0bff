"""The fast paths of the extensive-form queries against independent ones (issue 16's speed work).

* ``sequence._take_or_zero`` (a gather from the values with a zero appended) against JAX's
  fill-mode gather;
* ``EFGGame.counterfactual_values`` (CFR's regret signal without the opponent reach) against
  ``evaluate``'s ``opponent_reach * action_values``;
* ``solvers.regret_matching`` with that signal against the same solver on a game that hides it
  (the ``evaluate`` path), for CFR+ and vanilla CFR, simultaneous and alternating;
* the best-response values of the level-wise pass against the masked segment-sum pass
  ``sequence.bottom_up``.

On Kuhn, Leduc, 3-player Kuhn and Leduc's tree with random payoffs, with random policies that
leave some actions at probability 0 (information sets that the others never reach).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
import solvers
from jaxgames.efg import sequence as seq
from jaxgames.efg.game import EFGGame


class _EvaluateOnly(EFGGame):
    """The same game without ``counterfactual_values``: regret matching takes the ``evaluate`` path."""

    counterfactual_values = None


@pytest.fixture(scope="module")
def games():
    leduc = jaxgames.leduc_poker()
    rng = np.random.default_rng(0)
    payoffs = np.where(leduc.tree.is_terminal[:, None], rng.normal(size=leduc.tree.payoffs.shape), 0.0)
    return {
        "kuhn_poker": jaxgames.kuhn_poker(),
        "kuhn_poker_3p": jaxgames.kuhn_poker(num_players=3),
        "leduc_poker": leduc,
        "leduc_random_payoffs": EFGGame(leduc.tree, payoffs=payoffs.astype(np.float32), name="random"),
    }


def _sparse_policy(game, rng):
    """Random rows with about a third of the legal actions at 0 (one legal action always kept)."""
    out = []
    for mask in game.tree.legal:
        w = np.where(mask & (rng.random(mask.shape) > 0.35), rng.exponential(size=mask.shape), 0.0)
        first = np.argmax(mask, axis=1)
        w[np.arange(len(w)), first] += np.where(w.sum(axis=1) == 0, 1.0, 0.0)
        out.append(jnp.asarray(w / w.sum(axis=1, keepdims=True), jnp.float32))
    return tuple(out)


def test_take_or_zero_is_a_fill_mode_gather():
    rng = np.random.default_rng(1)
    for shape in ((7,), (7, 3)):
        x = jnp.asarray(rng.normal(size=shape), jnp.float32)
        idx = rng.integers(0, 8, size=(4, 5))  # 7 = len(x): the padding entry, reads 0
        idx[0, 0] = 7
        want = x.at[jnp.asarray(idx)].get(mode="fill", fill_value=0)
        got = jax.jit(lambda x: seq._take_or_zero(x, idx))(x)
        np.testing.assert_array_equal(got, want)
        assert not np.any(np.asarray(got)[0, 0])


@pytest.mark.parametrize("name", ["kuhn_poker", "kuhn_poker_3p", "leduc_poker", "leduc_random_payoffs"])
def test_counterfactual_values_are_opponent_reach_times_action_values(games, name):
    game = games[name]
    rng = np.random.default_rng(2)
    policy = _sparse_policy(game, rng)
    ev = jax.jit(lambda p: game.evaluate(p))(policy)
    cfv = jax.jit(lambda p: [game.counterfactual_values(p, i) for i in range(game.num_players)])(policy)
    unreached = 0
    for i in range(game.num_players):
        want = np.asarray(ev.opponent_reach[i])[:, None] * np.asarray(ev.action_values[i])
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(cfv[i], want, atol=2e-6 * scale)
        zero = np.asarray(ev.opponent_reach[i]) == 0
        unreached += int(zero.sum())
        assert not np.any(np.asarray(cfv[i])[zero])  # exactly 0 where the others never reach
    if name != "kuhn_poker":  # Kuhn's first player has no information set the other can avoid
        assert unreached > 0  # the policies do leave information sets unreached


@pytest.mark.parametrize("name", ["kuhn_poker_3p", "leduc_random_payoffs"])
def test_regret_matching_with_counterfactual_values_equals_the_evaluate_path(games, name):
    """In float64 (``jax.enable_x64`` for this test; jit caches key on it): the two paths are equal up
    to rounding, 1e-17 here; float32 rounding is amplified where regret matching divides by a tiny
    positive regret sum."""
    with jax.enable_x64(True):
        tree = games[name].tree
        payoffs = np.asarray(games[name].payoffs, np.float64)
        fast_game, plain = EFGGame(tree, payoffs=payoffs), _EvaluateOnly(tree, payoffs=payoffs)
        assert plain.counterfactual_values is None
        for solver in (solvers.cfr_plus(), solvers.cfr(), solvers.regret_matching(plus=True, alternating=False)):
            runs = []
            for g in (fast_game, plain):  # each game closed over: _EvaluateOnly is not a registered pytree
                state = solver.init(g, jax.random.PRNGKey(3))
                runs.append(jax.jit(lambda s, g=g: jax.lax.fori_loop(0, 6, lambda _, s: solver.step(g, s), s))(state))
            fast, slow = runs
            assert fast.extra.regrets[0].dtype == np.float64
            for a, b in zip(fast.extra.regrets + fast.average, slow.extra.regrets + slow.average):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
            assert float(jnp.abs(fast.extra.regrets[0]).max()) > 0  # the runs did move
    assert jnp.zeros(1).dtype == np.float32  # switched off again


@pytest.mark.parametrize("name", ["kuhn_poker_3p", "leduc_poker", "leduc_random_payoffs"])
def test_best_response_values_equal_the_masked_segment_sum_pass(games, name):
    game = games[name]
    sf = seq.sequence_form(game.tree)
    policy = _sparse_policy(game, np.random.default_rng(4))

    def reference(p):
        plans = [seq.realization_plan(sf, j, pj) for j, pj in enumerate(p)]
        out = []
        for i, mask in enumerate(game.legal_mask()):
            u = seq.sequence_values(sf, i, plans, game.terminal_weights[i])  # flat weights: regridded here
            _, root = seq.bottom_up(sf, i, u, lambda q, m=mask: jnp.max(jnp.where(m, q, -jnp.inf), axis=-1))
            out.append(root)
        return jnp.stack(out)

    want = jax.jit(reference)(policy)
    got = jax.jit(lambda p: game.best_response_values(p))(policy)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    nash_conv = float(jax.jit(lambda p: game.nash_conv(p))(policy))
    values = np.asarray(jax.jit(lambda p: game.evaluate(p).values)(policy))
    assert nash_conv == pytest.approx(float(np.sum(np.asarray(want) - values)), rel=1e-5, abs=1e-6)


def test_counterfactual_values_names_a_bad_player(games):
    game = games["kuhn_poker"]
    for bad in (2, -1, 0.5):
        with pytest.raises(ValueError, match=r"player: expected a player index 0\.\.1"):
            game.counterfactual_values(game.uniform_policy(), bad)


# -- jaxgames.efg.joint: all players' passes as one forest -----------------------------------------


def _per_player_nash_conv(game, policy):
    return sum(best - value for _, best, value in game._best_response(policy))


def _one_hot_policy(game, rng):
    """A pure policy: one random legal action per information set (ties everywhere in the max)."""
    out = []
    for mask in game.tree.legal:
        pick = np.argmax(np.where(mask, rng.random(mask.shape), -1.0), axis=1)
        out.append(jnp.asarray(np.eye(mask.shape[1])[pick], jnp.float32))
    return tuple(out)


@pytest.fixture(scope="module")
def joint_games(games):
    return {
        **games,
        "goofspiel_3": jaxgames.goofspiel(num_cards=3),
        "goofspiel_3_3p": jaxgames.goofspiel(num_cards=3, num_players=3),
        "liars_dice_1x3": jaxgames.liars_dice(dice_sides=3),
    }


@pytest.mark.parametrize(
    "name",
    [
        "kuhn_poker",
        "kuhn_poker_3p",
        "leduc_poker",
        "leduc_random_payoffs",
        "goofspiel_3",
        "goofspiel_3_3p",
        "liars_dice_1x3",
    ],
)
def test_joint_nash_conv_equals_the_per_player_passes(joint_games, name):
    """General-sum payoffs (``leduc_random_payoffs``), three players, pure and sparse policies."""
    game = joint_games[name]
    assert game._joint_grids is not None  # small games take the joint path
    rng = np.random.default_rng(5)
    joint = jax.jit(lambda p: game.nash_conv(p))
    apart = jax.jit(lambda p: _per_player_nash_conv(game, p))
    for policy in (game.uniform_policy(), _sparse_policy(game, rng), _one_hot_policy(game, rng)):
        want = float(apart(policy))
        assert float(joint(policy)) == pytest.approx(want, rel=1e-5, abs=1e-6)
    if name == "kuhn_poker":
        assert float(joint(game.uniform_policy())) == pytest.approx(11 / 12, abs=1e-6)


def test_joint_forest_keeps_each_player_tree(games):
    """Forest levels are own depths; each forest information set carries its player's legal row and
    its parent is the forest sequence of its player's parent sequence."""
    from jaxgames.efg import joint

    game = games["kuhn_poker_3p"]
    sf, jf = seq.sequence_form(game.tree), joint.joint_form(game.tree)
    rows = np.asarray(jf.rows)
    sizes = game.tree.num_infosets
    start = np.concatenate([[0], np.cumsum(sizes)])
    player = np.searchsorted(start, rows, side="right") - 1
    local = rows - start[player]
    legal = np.concatenate([np.asarray(m) for m in game.tree.legal])
    np.testing.assert_array_equal(np.asarray(jf.legal), legal[rows])
    depth = np.concatenate([np.asarray(sf.depth_masks[i]).argmax(axis=0) for i in range(len(sizes))])[rows]
    bounds = jf.forest.level_bounds[0]
    for k in range(len(bounds) - 1):
        assert np.all(depth[bounds[k] : bounds[k + 1]] == k)
    pos = np.empty_like(rows)
    pos[rows] = np.arange(len(rows))
    A = game.tree.max_actions
    for r in range(len(rows)):
        s = int(np.asarray(sf.parent_sequence[player[r]])[local[r]])
        want = 0 if s == 0 else 1 + pos[start[player[r]] + (s - 1) // A] * A + (s - 1) % A
        assert int(np.asarray(jf.forest.parent_sequence[0])[r]) == want


def test_joint_tables_are_skipped_for_big_games_and_many_actions(games, monkeypatch):
    from jaxgames.efg import joint

    leduc = games["leduc_random_payoffs"]
    monkeypatch.setattr(joint, "JOINT_MAX_ENTRIES", 1000)
    big = EFGGame(leduc.tree, payoffs=leduc.payoffs)
    assert big._joint_grids is None and leduc._joint_grids is not None
    policy = _sparse_policy(leduc, np.random.default_rng(6))
    nash_conv = jax.jit(lambda g, p: g.nash_conv(p))
    assert float(nash_conv(big, policy)) == pytest.approx(float(nash_conv(leduc, policy)), rel=1e-5, abs=1e-6)
    monkeypatch.undo()
    # more actions than rows reduced by slices: one pass per player (faster there, see joint's docstring)
    monkeypatch.setattr(joint, "UNROLL_ACTIONS", leduc.tree.max_actions - 1)
    assert EFGGame(leduc.tree, payoffs=leduc.payoffs)._joint_grids is None


def test_joint_tables_built_under_vmap_equal_the_host_ones(games):
    """Payoffs traced by ``vmap``: the joint weights come from jax.numpy (``joint_grids(xp=jnp)``)."""
    leduc = games["leduc_random_payoffs"]
    policy = _sparse_policy(leduc, np.random.default_rng(7))
    scales = jnp.asarray([0.5, -2.0], jnp.float32)
    got = jax.vmap(lambda s: EFGGame(leduc.tree, payoffs=s * leduc.payoffs).nash_conv(policy))(scales)
    nash_conv = jax.jit(lambda g: g.nash_conv(policy))
    for s, g in zip(np.asarray(scales), np.asarray(got)):
        want = float(nash_conv(EFGGame(leduc.tree, payoffs=np.float32(s) * np.asarray(leduc.payoffs))))
        assert float(g) == pytest.approx(want, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", ["kuhn_poker_3p", "leduc_poker"])
def test_bottom_up_levels_with_channels_equals_one_pass_per_channel(games, name):
    game = games[name]
    sf = seq.sequence_form(game.tree)
    policy = _sparse_policy(game, np.random.default_rng(8))
    plans = [seq.realization_plan(sf, j, p) for j, p in enumerate(policy)]
    u = seq.sequence_values(sf, 0, plans, game._terminal_grids[0])
    v = seq.realization_plan(sf, 0, policy[0]) * u
    mask = game.legal_mask()[0]
    best = lambda q, m: seq.row_reduce(jnp.where(m, q, -jnp.inf), jnp.maximum)
    total = lambda q, m: seq.row_reduce(q)
    q0, r0 = seq.bottom_up_levels(sf, 0, u, best, (mask,))
    q1, r1 = seq.bottom_up_levels(sf, 0, v, total, (mask,))
    both = lambda q, m: jnp.stack([best(q[..., 0], m), total(q[..., 1], m)], -1)
    q, r = seq.bottom_up_levels(sf, 0, jnp.stack([u, v], -1), both, (mask,))
    np.testing.assert_array_equal(q[..., 0], q0)
    np.testing.assert_array_equal(q[..., 1], q1)
    np.testing.assert_array_equal(r, jnp.stack([r0, r1]))
