"""Extensive-form engine: exact metrics against OpenSpiel, conversions, the shared solvers (CFR, XFP).

The OpenSpiel cross-checks are marked ``requires_pyspiel``; the rest runs on the native games without it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
import solvers
from jaxgames.efg.openspiel import from_openspiel, from_openspiel_policy, to_openspiel_policy
from jaxgames.efg.tree import build_tree

from helpers import KUHN_UNIFORM_NASH_CONV, KUHN_VALUE

requires_pyspiel = pytest.mark.requires_pyspiel


@pytest.fixture(scope="module")
def games():
    """The native games (no OpenSpiel needed; ``test_native_poker_equals_openspiel`` ties them to OpenSpiel's)."""
    return {"kuhn_poker": jaxgames.kuhn_poker(), "leduc_poker": jaxgames.leduc_poker()}


@pytest.fixture(scope="module")
def converted():
    """OpenSpiel's Kuhn and Leduc poker, converted by ``from_openspiel``."""
    return {name: from_openspiel(name) for name in ("kuhn_poker", "leduc_poker")}


def random_policy(game, rng):
    out = []
    for mask in game.tree.legal:
        w = np.where(mask, rng.exponential(size=mask.shape), 0.0)
        out.append(jnp.asarray(w / w.sum(axis=1, keepdims=True), jnp.float32))
    return tuple(out)


def test_tree_sizes_match_the_games(games):
    assert games["kuhn_poker"].tree.num_histories == 58
    assert games["kuhn_poker"].tree.num_infosets == (6, 6)
    assert games["leduc_poker"].tree.num_infosets == (468, 468)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["native", pytest.param("converted", marks=requires_pyspiel)])
def test_uniform_policy_known_values(games, kind, request):
    kuhn = games["kuhn_poker"] if kind == "native" else request.getfixturevalue("converted")["kuhn_poker"]
    u = kuhn.uniform_policy()
    assert float(jaxgames.nash_conv(kuhn, u)) == pytest.approx(KUHN_UNIFORM_NASH_CONV, abs=1e-5)
    assert float(jaxgames.exploitability(kuhn, u)) == pytest.approx(KUHN_UNIFORM_NASH_CONV / 2, abs=1e-5)
    # player 0's value under uniform play: 1/8 (by hand, over the 6 deals and 5 betting lines)
    np.testing.assert_allclose(jaxgames.evaluate(kuhn, u).values, [1 / 8, -1 / 8], atol=1e-6)


@pytest.mark.slow
@requires_pyspiel
@pytest.mark.parametrize("name", ["kuhn_poker", "leduc_poker"])
def test_exploitability_equals_openspiel_on_random_policies(converted, games, name):
    import pyspiel
    from open_spiel.python.algorithms import exploitability as os_expl

    game, spiel = converted[name], pyspiel.load_game(name)
    assert game.tree.num_histories == games[name].tree.num_histories
    assert game.tree.num_infosets == games[name].tree.num_infosets
    rng = np.random.default_rng(0)
    for policy in [game.uniform_policy()] + [random_policy(game, rng) for _ in range(3)]:
        tab = to_openspiel_policy(game, policy)
        assert float(jaxgames.exploitability(game, policy)) == pytest.approx(
            os_expl.exploitability(spiel, tab), abs=1e-5
        )
        # Round trip through OpenSpiel's TabularPolicy is exact.
        for ours, back in zip(policy, from_openspiel_policy(game, tab)):
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(back))
        # Best-response values agree with OpenSpiel's best response.
        from open_spiel.python.algorithms import best_response as os_br

        br_values = np.asarray(game.best_response_values(policy))
        for player in range(2):
            assert br_values[player] == pytest.approx(
                os_br.BestResponsePolicy(spiel, player, tab).value(spiel.new_initial_state()), abs=1e-5
            )


@pytest.mark.slow
def test_cfr_plus_solves_kuhn_and_finds_the_game_value(games):
    kuhn = games["kuhn_poker"]
    solver = solvers.regret_matching_plus()
    _, trace = solvers.run(solver, kuhn, 200, eval_every=200)
    assert float(trace.exploitability[-1]) < 1e-3
    state, trace = solvers.run(solver, kuhn, 3000, eval_every=3000)
    value = float(jaxgames.evaluate(kuhn, solver.output(state)).values[0])
    assert value == pytest.approx(KUHN_VALUE, abs=1e-4)


@pytest.mark.slow
def test_cfr_plus_solves_leduc(games):
    _, trace = solvers.run(solvers.regret_matching_plus(), games["leduc_poker"], 1000, eval_every=500)
    assert float(trace.exploitability[-1]) < 1e-3


@pytest.mark.slow
def test_xfp_and_vanilla_cfr_averages_converge_on_kuhn(games):
    kuhn = games["kuhn_poker"]
    for solver in (solvers.fictitious_play(), solvers.regret_matching()):
        _, trace = solvers.run(solver, kuhn, 2000, eval_every=200)
        e = np.asarray(trace.exploitability)
        assert e[-1] < 5e-3 and e[-1] < e[0] / 2, e


@pytest.mark.slow
@requires_pyspiel
def test_cfr_plus_is_openspiels_cfr_plus():
    """Alternating RM+ with linear averaging on counterfactual values = OpenSpiel's CFRPlusSolver."""
    import pyspiel

    spiel = pyspiel.load_game("kuhn_poker")
    reference = pyspiel.CFRPlusSolver(spiel)
    for _ in range(50):
        reference.evaluate_and_update_policy()
    expected = pyspiel.exploitability(spiel, reference.average_policy())
    _, trace = solvers.run(solvers.regret_matching_plus(), from_openspiel(spiel), 50, eval_every=50)
    assert float(trace.exploitability[-1]) == pytest.approx(expected, rel=1e-3)


@pytest.mark.slow
@requires_pyspiel
def test_float64_cfr_plus_matches_openspiel_to_1e_9_and_gets_below_1e_6():
    """In this process with float64 switched on for the test (``jax.enable_x64``; jit caches key on it):
    a subprocess would cost ~3 s of start-up more."""
    import pyspiel

    with jax.enable_x64(True):
        g = from_openspiel("kuhn_poker")
        st, tr = solvers.run(solvers.regret_matching_plus(), g, 2000, eval_every=2000)
        dtype, ours = st.average[0].dtype, float(tr.exploitability[-1])
        # CFR+'s average converges at about O(1/T) on Kuhn (not monotonically): 1.4e-6 at
        # 150k iterations, 9.6e-7 at 300k, 8.8e-7 at 350k, 9.4e-7 at 400k.
        st, tr = solvers.run(solvers.regret_matching_plus(), g, 348000, eval_every=348000, state=st)
        steps, final = int(st.step), float(tr.exploitability[-1])
    assert jnp.zeros(1).dtype == np.float32  # switched off again
    ref = pyspiel.CFRPlusSolver(pyspiel.load_game("kuhn_poker"))
    for _ in range(2000):
        ref.evaluate_and_update_policy()
    theirs = pyspiel.exploitability(pyspiel.load_game("kuhn_poker"), ref.average_policy())
    assert dtype == np.float64
    assert ours == pytest.approx(theirs, abs=1e-9) and ours < 1e-4
    assert steps == 350000 and final < 1e-6


@pytest.mark.slow
def test_bad_policies_and_bad_games(games):
    kuhn = games["kuhn_poker"]
    u = kuhn.uniform_policy()
    with pytest.raises(ValueError, match=r"policy\[0\]: expected shape \(6, 2\)"):
        jaxgames.exploitability(kuhn, (u[0][:3], u[1]))
    with pytest.raises(ValueError, match=r"policy\[1\]: expected non-negative"):
        jaxgames.exploitability(kuhn, (u[0], u[1].at[0].set(jnp.array([1.5, -0.5]))))
    with pytest.raises(ValueError, match=r"policy\[0\]: expected probabilities summing to 1"):
        jaxgames.exploitability(kuhn, (u[0] * 0.9, u[1]))
    leduc = games["leduc_poker"]
    lu = leduc.uniform_policy()
    illegal = np.argwhere(~leduc.tree.legal[0])[0]
    bad = lu[0].at[illegal[0]].set(jnp.zeros(3).at[illegal[1]].set(1.0))
    with pytest.raises(ValueError, match=r"policy\[0\]: puts probability on illegal actions"):
        jaxgames.exploitability(leduc, (bad, lu[1]))


@requires_pyspiel
def test_bad_openspiel_games():
    with pytest.raises(ValueError, match="not an extensive-form .*convert_to_turn_based"):
        from_openspiel("matrix_rps")
    with pytest.raises(ValueError, match="too large for a tabular model"):
        from_openspiel("leduc_poker", max_histories=1000)


class _ForgetfulGame:
    """A one-player game in which the player forgets its first move (imperfect recall)."""

    def num_players(self):
        return 1

    def num_distinct_actions(self):
        return 2

    def max_chance_outcomes(self):
        return 0

    def new_initial_state(self):
        return _ForgetfulState(())


class _ForgetfulState:
    def __init__(self, history):
        self.h = history

    def is_terminal(self):
        return len(self.h) == 2

    def is_chance_node(self):
        return False

    def current_player(self):
        return -4 if self.is_terminal() else 0

    def legal_actions(self):
        return [0, 1]

    def child(self, a):
        return _ForgetfulState(self.h + (a,))

    def returns(self):
        return [float(self.h[0] == self.h[1])]

    def information_state_string(self, player):
        return str(len(self.h))


def test_imperfect_recall_is_refused():
    with pytest.raises(ValueError, match="not perfect recall"):
        build_tree(_ForgetfulGame())


# ------------------------------------------------------------------ native Kuhn / Leduc
@pytest.mark.slow
@pytest.mark.parametrize(
    "make, spiel_name",
    [
        (lambda: jaxgames.kuhn_poker(), "kuhn_poker"),
        (lambda: jaxgames.kuhn_poker(3), "kuhn_poker(players=3)"),
        (lambda: jaxgames.leduc_poker(), "leduc_poker"),
    ],
)
@requires_pyspiel
def test_native_poker_equals_openspiel(make, spiel_name):
    import pyspiel
    from open_spiel.python.algorithms import exploitability as os_expl

    game, spiel = make(), pyspiel.load_game(spiel_name)
    rng = np.random.default_rng(2)
    for policy in (game.uniform_policy(), random_policy(game, rng)):
        tab = to_openspiel_policy(game, policy, spiel)
        assert float(jaxgames.nash_conv(game, policy)) == pytest.approx(os_expl.nash_conv(spiel, tab), abs=1e-5)
        for ours, back in zip(policy, from_openspiel_policy(game, tab, spiel)):
            np.testing.assert_array_equal(np.asarray(ours), np.asarray(back))


@pytest.mark.slow
def test_batch_of_kuhn_variants_in_one_call():
    bets = jnp.array([0.5, 1.0, 2.0, 3.0])
    solver = solvers.regret_matching_plus()
    solve = jax.jit(jax.vmap(lambda b: solvers.run(solver, jaxgames.kuhn_poker(bet=b), 500, eval_every=500)))
    states, traces = solve(bets)
    assert traces.exploitability.shape == (4, 1)
    # (RM+ trajectories are not compared one to one: with integer payoffs regrets tie at exactly
    # zero, and the order of floating-point sums in a batch decides the ties, as in any CFR+.)
    for i, b in enumerate([0.5, 1.0, 2.0, 3.0]):
        assert float(traces.exploitability[i, 0]) < 1e-3
        policy = tuple(p[i] for p in states.average)
        assert float(jaxgames.exploitability(jaxgames.kuhn_poker(bet=b), policy)) == pytest.approx(
            float(traces.exploitability[i, 0]), abs=1e-6
        )
    # The bet size changes the game: the equilibrium value of the default game is -1/18.
    values = jax.vmap(lambda b, avg: jaxgames.kuhn_poker(bet=b).evaluate(avg).values[0])(bets, states.average)
    assert float(values[1]) == pytest.approx(KUHN_VALUE, abs=2e-3)
    assert abs(float(values[3]) - float(values[1])) > 1e-2


def test_bad_poker_parameters():
    with pytest.raises(ValueError, match="bet: expected a finite value > 0"):
        jaxgames.kuhn_poker(bet=0.0)
    with pytest.raises(ValueError, match=r"raise_amounts\[1\]: expected a finite value > 0"):
        jaxgames.leduc_poker(raise_amounts=(2.0, -4.0))
    with pytest.raises(ValueError, match=r"num_players: expected an integer in \[2, 10\]"):
        jaxgames.kuhn_poker(1)


# ------------------------------------------------------------------- the CFR family, MMD
@pytest.mark.slow
@requires_pyspiel
def test_discounted_cfr_matches_openspiel_and_solves_leduc():
    import pyspiel
    from open_spiel.python.algorithms import discounted_cfr as os_dcfr
    from open_spiel.python.algorithms import exploitability as os_expl

    spiel = pyspiel.load_game("kuhn_poker")
    for params, reference in [
        ((1.5, 0.0, 2.0), os_dcfr.DCFRSolver(spiel, alpha=1.5, beta=0.0, gamma=2.0)),
        ((1.0, 1.0, 1.0), os_dcfr.LCFRSolver(spiel)),
    ]:
        expected = []
        for _ in range(5):
            reference.evaluate_and_update_policy()
            expected.append(os_expl.exploitability(spiel, reference.average_policy()))
        _, trace = solvers.run(solvers.discounted_cfr(*params), jaxgames.kuhn_poker(), 5, eval_every=1)
        np.testing.assert_allclose(trace.exploitability, expected, rtol=1e-4, atol=1e-6)
    _, trace = solvers.run(solvers.discounted_cfr(), jaxgames.leduc_poker(), 1000, eval_every=1000)
    assert float(trace.exploitability[-1]) < 1e-3


def test_named_cfr_solvers_are_the_regret_matching_family():
    assert solvers.cfr_plus() is solvers.regret_matching_plus()
    assert solvers.cfr() is solvers.regret_matching()
    for name in ("cfr", "cfr_plus", "discounted_cfr"):
        assert name in solvers.SOLVERS


@pytest.mark.slow
def test_mmd_last_iterate_solves_kuhn_with_its_magnet_schedule():
    solver = solvers.mmd()
    state, trace = solvers.run(solver, jaxgames.kuhn_poker(), 1000, eval_every=500)
    assert solver.output(state) is state.policy
    assert float(trace.exploitability[-1]) < 1e-3


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "liars_dice(dice_sides=3)",
        "turn_based_simultaneous_game(game=goofspiel(num_cards=3,imp_info=True))",
        "tiny_hanabi",  # two-player cooperative (general-sum) game
    ],
)
@requires_pyspiel
def test_other_openspiel_games_convert_exactly(name):
    import pyspiel
    from open_spiel.python.algorithms import exploitability as os_expl

    spiel = pyspiel.load_game(name)
    game = from_openspiel(spiel)
    rng = np.random.default_rng(3)
    for policy in (game.uniform_policy(), random_policy(game, rng)):
        expected = os_expl.nash_conv(spiel, to_openspiel_policy(game, policy, spiel))
        assert float(jaxgames.nash_conv(game, policy)) == pytest.approx(expected, abs=1e-5)
    if spiel.get_type().utility == pyspiel.GameType.Utility.ZERO_SUM:
        _, trace = solvers.run(solvers.cfr_plus(), game, 300, eval_every=150)
        assert float(trace.exploitability[-1]) < 0.2 * float(jaxgames.exploitability(game, game.uniform_policy()))


# -- dilated-entropy first-order methods -------------------------------------------------------


@requires_pyspiel
def test_dilated_mmd_is_openspiels_mmd_dilated_ent():
    """Same iterates as OpenSpiel's MMDDilatedEnt: its regularizer is the dilated entropy itself,
    i.e. our KL to an all-ones "magnet" (log rho = 0); it updates both players simultaneously."""
    import pyspiel
    from open_spiel.python.algorithms import mmd_dilated

    # Also equal on Leduc (checked by hand: exploitability 2.045609105318 after 10 steps, both);
    # OpenSpiel's Python set-up of Leduc's sequence form takes ~10 s, too long for CI.
    for name, steps in (("kuhn_poker", 10),):
        spiel = pyspiel.load_game(name)
        reference = mmd_dilated.MMDDilatedEnt(spiel, alpha=0.1)
        game = from_openspiel(spiel)
        solver = solvers.first_order_solver("mirror_descent", reference.stepsize, "dilated", 0.1)
        state = solver.init(game)
        state = state.replace(
            extra=state.extra._replace(magnet=tuple(jnp.asarray(m, jnp.float32) for m in game.tree.legal))
        )
        step = jax.jit(solver.step)
        for _ in range(steps):
            reference.update_sequences()
            state = step(game, state)
        expected = from_openspiel_policy(game, reference.get_policies())
        for ours, theirs in zip(state.policy, expected):
            np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), atol=2e-5)


@pytest.mark.slow
def test_dilated_geometry_is_the_entropic_one_on_matrix_games():
    game = jaxgames.matrix.random_zero_sum(jax.random.PRNGKey(0), (4, 5))
    for a, b in (
        (solvers.mmd(geometry="dilated"), solvers.mmd()),
        (solvers.mirror_prox(geometry="dilated"), solvers.mirror_prox()),
    ):
        sa, _ = solvers.run(a, game, 50, eval_every=50)
        sb, _ = solvers.run(b, game, 50, eval_every=50)
        for x, y in zip(sa.policy, sb.policy):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-6)


def test_dilated_mmd_last_iterate_solves_kuhn_with_its_magnet_schedule():
    solver = solvers.mmd(learning_rate=3.0, temperature=0.05, magnet_update_every=10, geometry="dilated")
    _, trace = solvers.run(solver, jaxgames.kuhn_poker(), 500, eval_every=250)
    assert float(trace.exploitability[-1]) < 1e-3


@pytest.mark.slow
def test_dilated_optimistic_last_iterate_solves_kuhn():
    solver = solvers.optimistic_mirror_descent(3.0, geometry="dilated", output="last")
    _, trace = solvers.run(solver, jaxgames.kuhn_poker(), 1000, eval_every=500)
    assert float(trace.exploitability[-1]) < 1e-3


@pytest.mark.slow
def test_dilated_mirror_prox_average_converges_at_rate_one_over_t_on_leduc():
    """Nemirovski's bound: the average's gap is O(1/t) with the dilated entropy (Kroer et al. 2020)."""
    _, trace = solvers.run(solvers.mirror_prox(10.0, geometry="dilated"), jaxgames.leduc_poker(), 1000, eval_every=250)
    e = np.asarray(trace.exploitability)  # measured: 0.0213, 0.0103, 0.0069, 0.0052 at 500..2000 steps
    t = np.asarray(trace.step)
    assert e[-1] < 0.015
    assert e[-1] * t[-1] < 1.2 * e[1] * t[1], (t, e)  # t * gap does not grow


def test_bad_geometry_names_the_field():
    with pytest.raises(ValueError, match="geometry"):
        solvers.mmd(geometry="euclidean")
    with pytest.raises(ValueError, match="geometry"):
        solvers.mirror_prox(geometry="dilatd")


@pytest.mark.slow
def test_scatter_free_passes_equal_segment_sums(games):
    """The gather-only layouts of ``jaxgames.efg.sequence`` (buckets of segment sums, level-by-level
    bottom-up pass, with and without putting the information sets in level order) against plain
    NumPy segment sums and the masked ``bottom_up``, on Kuhn and Leduc."""
    import dataclasses

    from jaxgames.efg import sequence as seq

    rng = np.random.default_rng(3)
    for budget in (0, 5, 10_000):  # one block per segment size, some merged, all merged
        keys = np.sort(rng.integers(0, 40, 300))
        keys = keys[keys % 7 != 3]  # some empty segments
        blocks, order = seq._buckets(keys, 45, budget)
        values = rng.normal(size=len(keys)).astype(np.float32)
        got = seq._bucket_sum([seq._take_or_zero(jnp.asarray(values), b) for b in blocks], order)
        np.testing.assert_allclose(got, np.bincount(keys, values, minlength=45), atol=1e-5)
    for name, game in games.items():  # Leduc: player 1 (levels with 1 to 12 infosets below a sequence)
        sf = seq.sequence_form(game.tree)
        shuffled = dataclasses.replace(sf, level_identity=(False,) * game.num_players)
        policy = random_policy(game, rng)
        plans = jax.jit(lambda pol: [seq.realization_plan(sf, i, p) for i, p in enumerate(pol)])(policy)
        for i, (pi, mask) in enumerate(zip(policy, game.legal_mask())):
            if name == "leduc_poker" and i == 0:
                continue
            z = np.asarray(sf.terminal_last[i][i])
            w = rng.normal(size=len(z)).astype(np.float32)
            others = np.prod([np.asarray(plans[j])[np.asarray(sf.terminal_last[i][j])] for j in range(2) if j != i], 0)
            u = jax.jit(lambda x, w: seq.sequence_values(sf, i, x, w))(plans, jnp.asarray(w))
            np.testing.assert_allclose(u, np.bincount(z, w * others, minlength=sf.num_sequences[i]), atol=1e-5)
            cases = (
                (lambda q, p: jnp.sum(p * q, -1), lambda q, p=pi: jnp.sum(p * q, -1), pi),
                (
                    lambda q, m: jnp.max(jnp.where(m, q, -9.0), -1),
                    lambda q, m=mask: jnp.max(jnp.where(m, q, -9.0), -1),
                    mask,
                ),
            )
            for reduce_rows, reduce_all, operand in cases[: 1 if name == "leduc_poker" else 2]:
                # jitted: one compilation instead of one per eager op and shape
                want_q, want_root = jax.jit(lambda u, f=reduce_all: seq.bottom_up(sf, i, u, f))(u)
                for form in (sf, shuffled):
                    run = jax.jit(lambda u, x, s=form, f=reduce_rows: seq.bottom_up_levels(s, i, u, f, (x,)))
                    q, root = run(u, operand)
                    np.testing.assert_allclose(q, want_q, atol=1e-5)
                    np.testing.assert_allclose(root, want_root, atol=1e-5)
            own = np.asarray(plans[i])[np.asarray(sf.parent_sequence[i])]
            np.testing.assert_allclose(seq.own_reach(sf, i, pi), own, rtol=1e-6)
