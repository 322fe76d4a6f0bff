"""Game constructors of the matrix, Markov and extensive-form families: sizes are integers and are
checked (with the bytes of every dense table) before anything is built, booleans are booleans, keys
are keys, hyperparameters are numbers, and every constructor runs under ``jit``, ``vmap`` and
``grad`` for its array and float arguments (issue 13)."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgames import efg, markov, matrix
from jaxgames.efg import rules
from jaxgames.efg.tree import build_tree

KEY = jax.random.key(0)
P2 = np.full((2, 2, 2, 2), 0.5)
R2 = np.zeros((2, 2, 2, 2))
I2 = np.array([1.0, 0.0])


def _value(game):
    return game.evaluate(game.uniform_policy()).values[0]


# -- sizes: integers only, checked before XLA sees them ------------------------------------------------
# (id, constructor of the size value, the field its errors must name)
SIZE_FIELDS = [
    ("matrix.random_zero_sum", lambda v: matrix.random_zero_sum(KEY, v), "num_actions"),
    ("matrix.random_general_sum", lambda v: matrix.random_general_sum(KEY, v), "num_actions"),
    ("matrix.random_game", lambda v: matrix.random_game(KEY, (2, v)), "num_actions"),
    ("matrix.cyclic_preferences", lambda v: matrix.cyclic_preferences(v), "num_responses"),
    ("matrix.bradley_terry_preferences", lambda v: matrix.bradley_terry_preferences(KEY, v), "num_responses"),
    (
        "matrix.random_intransitive_preferences",
        lambda v: matrix.random_intransitive_preferences(KEY, v),
        "num_responses",
    ),
    ("matrix.random_contextual_preference:C", lambda v: matrix.random_contextual_preference(KEY, v, 3), "num_contexts"),
    (
        "matrix.random_contextual_preference:A",
        lambda v: matrix.random_contextual_preference(KEY, 2, v),
        "num_responses",
    ),
    ("markov.random_zero_sum:S", lambda v: markov.random_zero_sum(KEY, v), "num_states"),
    ("markov.random_zero_sum:A", lambda v: markov.random_zero_sum(KEY, 4, v), "num_actions"),
    ("markov.random_zero_sum:branching", lambda v: markov.random_zero_sum(KEY, 4, 2, v), "branching"),
    ("markov.random_general_sum", lambda v: markov.random_general_sum(KEY, v), "num_states"),
    ("markov.random_mdp", lambda v: markov.random_mdp(KEY, 4, v), "num_actions"),
    ("markov.garnet_transitions", lambda v: markov.garnet_transitions(KEY, v, (2,), 1), "num_states"),
    ("markov.grid_soccer:rows", lambda v: markov.grid_soccer(v, 4), "rows"),
    ("markov.grid_soccer:cols", lambda v: markov.grid_soccer(2, v), "cols"),
    ("markov.pursuit_evasion:rows", lambda v: markov.pursuit_evasion(v, 2), "rows"),
    ("markov.pursuit_evasion:cols", lambda v: markov.pursuit_evasion(2, v), "cols"),
    ("markov.MarkovGame:horizon", lambda v: markov.MarkovGame(P2, R2, 0.9, I2, horizon=v), "horizon"),
    ("markov.memory_one_policy:player", lambda v: markov.memory_one_policy(markov.TIT_FOR_TAT, v), "player"),
    ("efg.kuhn_poker", lambda v: efg.kuhn_poker(v), "num_players"),
    ("efg.kuhn_poker:max_histories", lambda v: efg.kuhn_poker(max_histories=v), "max_histories"),
    ("efg.leduc_poker", lambda v: efg.leduc_poker(max_raises=v), "max_raises"),
    ("efg.from_openspiel", lambda v: efg.from_openspiel("kuhn_poker", max_histories=v), "max_histories"),
    ("efg.build_tree", lambda v: build_tree(rules.kuhn_poker_rules(), max_histories=v), "max_histories"),
    ("efg.kuhn_poker_rules", lambda v: rules.kuhn_poker_rules(v), "num_players"),
    ("efg.leduc_poker_rules", lambda v: rules.leduc_poker_rules(2, max_raises=v), "max_raises"),
]
SIZE_IDS = [case[0] for case in SIZE_FIELDS]


@pytest.mark.parametrize("bad", [2.9, 2.0, True, "3", None, -1, [2]], ids=repr)
@pytest.mark.parametrize("make, field", [case[1:] for case in SIZE_FIELDS], ids=SIZE_IDS)
def test_sizes_must_be_integers_in_range(make, field, bad):
    if (field == "num_actions" and bad == [2]) or (field == "horizon" and bad is None):
        pytest.skip("valid there (a sequence of action counts; no horizon)")
    with pytest.raises(ValueError, match=field) as info:
        make(bad)
    assert str(info.value).startswith(field.split(":")[0]), info.value


def test_numpy_integers_are_sizes():
    assert matrix.random_zero_sum(KEY, np.int64(3)).num_actions == (3, 3)
    assert markov.random_zero_sum(KEY, np.int32(4), np.array(2)).num_states == 4
    assert efg.kuhn_poker(np.int64(2)).num_players == 2


# -- huge sizes: a fast ValueError naming the field, the bytes and how to allow more ---------------------
HUGE = [
    ("matrix.random_zero_sum", lambda: matrix.random_zero_sum(KEY, 10**6), "num_actions"),
    ("matrix.random_general_sum", lambda: matrix.random_general_sum(KEY, (10**5, 10**5)), "num_actions"),
    ("matrix.random_game", lambda: matrix.random_game(KEY, (1000,) * 4), "num_actions"),
    ("matrix.cyclic_preferences", lambda: matrix.cyclic_preferences(10**6), "num_responses"),
    ("matrix.bradley_terry_preferences", lambda: matrix.bradley_terry_preferences(KEY, 10**6), "num_responses"),
    (
        "matrix.random_intransitive_preferences",
        lambda: matrix.random_intransitive_preferences(KEY, 10**6),
        "num_responses",
    ),
    (
        "matrix.random_contextual_preference",
        lambda: matrix.random_contextual_preference(KEY, 10**4, 10**3),
        "num_contexts, num_responses",
    ),
    # dense asked for (the default stores games this large sparsely: tests/test_markov_sparse.py)
    ("markov.random_zero_sum", lambda: markov.random_zero_sum(KEY, 10**5, sparse=False), "num_states, num_actions"),
    (
        "markov.random_general_sum",  # too large even sparse
        lambda: markov.random_general_sum(KEY, 100, (10,) * 6),
        "num_states, num_actions, branching",
    ),
    ("markov.random_mdp", lambda: markov.random_mdp(KEY, 10**5, 2, sparse=False), "num_states, num_actions"),
    ("markov.garnet_transitions", lambda: markov.garnet_transitions(KEY, 10**5, (2,), 1), "num_states, num_actions"),
    ("markov.pursuit_evasion(30, 30)", lambda: markov.pursuit_evasion(30, 30), "rows, cols"),
    ("markov.grid_soccer(30, 30)", lambda: markov.grid_soccer(30, 30), "rows, cols"),
    ("markov.soccer_tables", lambda: markov.classic.soccer_tables(30, 30), "rows, cols"),
    ("markov.pursuit_tables", lambda: markov.classic.pursuit_tables(30, 30, 0.0), "rows, cols"),
    ("efg.kuhn_poker(num_players=10)", lambda: efg.kuhn_poker(num_players=10), "num_players"),
    ("efg.leduc_poker(max_raises=1000)", lambda: efg.leduc_poker(max_raises=1000), "max_raises"),
]


@pytest.mark.parametrize("make, field", [case[1:] for case in HUGE], ids=[case[0] for case in HUGE])
def test_huge_sizes_fail_fast_before_allocating(make, field):
    start = time.process_time()  # CPU time: a loaded machine stretches wall time, not this
    with pytest.raises(ValueError) as info:
        make()
    elapsed = time.process_time() - start
    message = str(info.value)
    assert message.startswith(f"{field}: "), message
    assert "max_bytes" in message and "above" in message, message
    assert any(unit in message for unit in ("GiB", "TiB", "PiB", "MiB")), message  # the bytes needed
    assert "pass max_bytes=" in message or "pass max_histories= and max_bytes=" in message, message
    assert elapsed < 5.0, f"took {elapsed:.1f} s: the check must come before the work"


def test_kuhn_poker_ten_players_names_the_size_and_takes_the_advised_keywords():
    with pytest.raises(ValueError, match=r"num_players: the game tree has 408,816,620,312 histories") as info:
        efg.kuhn_poker(num_players=10)
    assert "TiB" in str(info.value) and "max_histories" in str(info.value)
    # the advice can be followed: kuhn_poker takes max_histories (and max_bytes)
    with pytest.raises(ValueError, match="num_players: the game tree has 617 histories.*max_histories = 100"):
        efg.kuhn_poker(3, max_histories=100)
    assert efg.kuhn_poker(3, max_histories=617).tree.num_histories == 617
    with pytest.raises(ValueError, match="num_players: .*above max_bytes = 1.95 KiB"):
        efg.kuhn_poker(3, max_bytes=2000)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rules.kuhn_poker_rules(2),
        lambda: rules.kuhn_poker_rules(3),
        lambda: rules.kuhn_poker_rules(4),
        lambda: rules.leduc_poker_rules(),
        lambda: rules.leduc_poker_rules(max_raises=1),
    ],
)
def test_counted_histories_equal_the_built_tree(make):
    count, exact = rules.count_histories(make())
    assert exact and count == build_tree(make(), tensors=False).num_histories


def test_max_bytes_allows_more_and_the_environment_variable_sets_the_default(monkeypatch):
    with pytest.raises(ValueError, match=r"num_actions: the payoff table \[2, 100, 100\] needs 78.1 KiB"):
        matrix.random_zero_sum(KEY, 100, max_bytes=1000)
    assert matrix.random_zero_sum(KEY, 100, max_bytes=10**6).num_actions == (100, 100)
    with pytest.raises(ValueError, match="max_bytes: expected an integer"):
        matrix.random_zero_sum(KEY, 3, max_bytes=1.5)
    monkeypatch.setenv("JAXGAMES_MAX_BYTES", "1000")
    with pytest.raises(ValueError, match="rows, cols: the transition tensor"):
        markov.grid_soccer(2, 3)
    assert markov.grid_soccer(2, 3, max_bytes=10**7).num_states == 60


def test_grid_soccer_6x7_is_sized_before_it_is_built():
    # float32 transitions [3444, 5, 5, 3444]: 1.1 GiB, under the default (built in one compiled scatter,
    # ~1.7 GB peak instead of 8.2 GB); below it, the check fires before any table exists
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"rows, cols: the transition tensor \[3444, 5, 5, 3444\] needs "):
        markov.grid_soccer(6, 7, max_bytes=2**30, sparse=False)
    assert time.perf_counter() - start < 2.0


@pytest.mark.requires_pyspiel
def test_openspiel_chess_stops_as_the_walk_goes():
    start = time.perf_counter()
    with pytest.raises(ValueError, match="game: the game tree has more than .* histories.*above max_bytes = 512 MiB"):
        efg.from_openspiel("chess", max_bytes=2**29)  # 4674 actions wide: ~19 KB of children table per history
    with pytest.raises(ValueError, match="game: .*more than 5,0.. histories.*above max_histories = 5,000"):
        efg.from_openspiel("chess", max_histories=5000)
    assert time.perf_counter() - start < 10.0
    with pytest.raises(ValueError, match="game: OpenSpiel cannot load 'no_such_game'"):
        efg.from_openspiel("no_such_game")


class _WideGame:
    """One player picks one of ``width`` actions, then the game ends; counts the states it creates."""

    def __init__(self, width, tensor_size=None):
        self.width, self.created, self.tensor_size = width, 0, tensor_size

    def num_players(self):
        return 1

    def num_distinct_actions(self):
        return self.width

    def max_chance_outcomes(self):
        return 0

    def new_initial_state(self):
        return _WideState(self, ())

    def information_state_tensor_shape(self):
        return [self.tensor_size]


class _WideState:
    def __init__(self, game, history):
        self.game, self.h = game, history
        game.created += 1

    def is_terminal(self):
        return len(self.h) == 2

    def is_chance_node(self):
        return False

    def current_player(self):
        return -4 if self.is_terminal() else 0

    def legal_actions(self):
        return list(range(self.game.width)) if not self.h else [0]

    def child(self, a):
        return _WideState(self.game, self.h + (a,))

    def returns(self):
        return [float(self.h[0])]

    def information_state_string(self, player):
        return str(self.h)

    def information_state_tensor(self, player):
        return [0.0] * self.game.tensor_size


def test_build_tree_counts_queued_histories_and_creates_children_lazily():
    game = _WideGame(10_000)
    with pytest.raises(ValueError, match="game: the game tree has more than 10,00. histories.*max_histories = 500"):
        build_tree(game, max_histories=500)
    assert game.created <= 2  # the root only: its 10,000 children were counted, not created
    # the [H, width] children table is part of the bytes: 10,000 actions wide is 40 KB per history
    with pytest.raises(ValueError, match="game: .*10000 actions wide.*above max_bytes = 97.7 KiB"):
        build_tree(_WideGame(10_000), max_bytes=100_000)
    tree = build_tree(_WideGame(3))
    assert tree.num_histories == 7 and tree.children.shape == (7, 3)


def test_tensor_tables_are_sized_before_they_are_recorded():
    tree = build_tree(_WideGame(2, tensor_size=10**8), max_bytes=10**6)
    with pytest.raises(ValueError, match=r"game: the information_state tensor table \[5, 1, 100000000\]"):
        _ = tree.information_state_tensors


# -- booleans, keys, string hyperparameters ------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, field",
    [
        (lambda v: matrix.random_game(KEY, (2, 2), zero_sum=v), "zero_sum"),
        (lambda v: matrix.biased_rock_paper_scissors(normalized=v), "normalized"),
        (
            lambda v: matrix.ContextualPreferenceEnv(matrix.random_contextual_preference(KEY, 2, 2), autoreset=v),
            "autoreset",
        ),
        (lambda v: build_tree(rules.kuhn_poker_rules(), tensors=v), "tensors"),
    ],
    ids=["random_game", "biased_rps", "contextual_env", "build_tree"],
)
@pytest.mark.parametrize("bad", ["yes", "False", None, 1, 0.0])
def test_booleans_must_be_booleans(call, field, bad):
    with pytest.raises(ValueError, match=f"{field}: expected True or False"):
        call(bad)


@pytest.mark.parametrize(
    "call",
    [
        lambda k: matrix.random_zero_sum(k, 3),
        lambda k: matrix.random_general_sum(k, 3),
        lambda k: matrix.random_game(k, (2, 2)),
        lambda k: matrix.bradley_terry_preferences(k, 3),
        lambda k: matrix.random_intransitive_preferences(k, 3),
        lambda k: matrix.random_contextual_preference(k, 2, 3),
        lambda k: markov.random_zero_sum(k, 3),
        lambda k: markov.random_general_sum(k, 3),
        lambda k: markov.random_mdp(k, 3),
        lambda k: markov.garnet_transitions(k, 3, (2,), 1),
    ],
    ids=["m.rzs", "m.rgs", "m.rg", "bt", "intransitive", "contextual", "mk.rzs", "mk.rgs", "mdp", "garnet"],
)
@pytest.mark.parametrize(
    "bad",
    [3, None, "key", 1.5, np.zeros(3, np.float32), jnp.zeros((2, 2), jnp.uint32)],
    ids=["int", "None", "str", "float", "float_array", "uint32_2x2"],
)
def test_keys_are_checked_with_the_field_name(call, bad):
    with pytest.raises(ValueError, match="^key: expected"):
        call(bad)


def test_raw_uint32_keys_still_work():
    assert matrix.random_zero_sum(jax.random.PRNGKey(0), 3).num_actions == (3, 3)


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda: markov.MarkovGame(P2, R2, "0.9", I2), "discount"),
        (lambda: markov.grid_soccer(2, 3, discount="0.9"), "discount"),
        (lambda: markov.grid_soccer(2, 3, draw_probability="0.1"), "draw_probability"),
        (lambda: markov.pursuit_evasion(2, 2, slip="0.1"), "slip"),
        (lambda: markov.random_zero_sum(KEY, 3, discount="0.9"), "discount"),
        (lambda: markov.iterated_prisoners_dilemma(temptation="5"), "temptation"),
        (lambda: markov.iterated_prisoners_dilemma(sucker=None), "sucker"),
        (lambda: matrix.cyclic_preferences(3, margin="0.1"), "margin"),
        (lambda: matrix.bradley_terry_preferences(KEY, 3, scale="1"), "scale"),
        (lambda: matrix.random_intransitive_preferences(KEY, 3, cyclic_scale="1"), "cyclic_scale"),
        (lambda: matrix.random_contextual_preference(KEY, 2, 3, scale="1"), "scale"),
        (lambda: efg.kuhn_poker(bet="1"), "bet"),
        (lambda: efg.leduc_poker(ante="1"), "ante"),
        (lambda: efg.leduc_poker(raise_amounts=("2", 4.0)), r"raise_amounts\[0\]"),
        (lambda: rules.kuhn_poker_rules(ante="1"), "ante"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_string_hyperparameters_name_the_field(call, field):
    with pytest.raises(ValueError, match=f"^{field}: expected a number"):
        call()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: markov.memory_one_policy((1.0, np.nan, 0.0, 1.0, 0.0)), "cooperate: expected 5 probabilities in"),
        (lambda: markov.memory_one_policy((1, 1, 0)), r"cooperate: expected 5 probabilities \(start"),
        (lambda: markov.memory_one_policy(markov.TIT_FOR_TAT, player=True), "player: expected an integer"),
        (lambda: markov.grid_soccer(2, 3, draw_probability=1.5), r"draw_probability: expected a value in \[0"),
        (lambda: markov.pursuit_evasion(2, 2, slip=np.nan), "slip: expected finite"),
        (lambda: markov.iterated_matrix_game([[0, np.inf], [1, 1]], np.ones((2, 2))), "A: expected finite"),
        (lambda: matrix.cyclic_preferences(3, margin=0.7), r"margin: expected a value in \[0.0, 0.5\]"),
        (lambda: matrix.random_zero_sum(KEY, (2, 3, 4)), "num_actions: expected 2 action counts"),
        (lambda: matrix.random_zero_sum(KEY, 3, "cauchy"), "distribution: expected one of"),
        (lambda: markov.random_zero_sum(KEY, 3, distribution=None), "distribution: expected one of"),
        (lambda: efg.leduc_poker(raise_amounts=2.0), "raise_amounts: expected two amounts"),
        (lambda: efg.leduc_poker(max_raises=-1), "max_raises: expected an integer >= 0"),
        (lambda: matrix.random_contextual_preference(KEY, 2, 2, context_probs="uniform"), "context_probs"),
        (lambda: efg.kuhn_poker(ante=None), "ante: expected a number, got None"),
        (lambda: efg.kuhn_poker(bet=[1.0, 2.0]), "bet: expected a scalar"),
        (lambda: efg.kuhn_poker(ante=2e38, bet=2e38), "ante, bet: the payoffs overflow"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_other_bad_values_name_the_field(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- jit, vmap and grad over the array and float arguments ------------------------------------------------
@pytest.mark.slow
def test_matrix_game_under_jit_vmap_grad():
    A = jnp.array([[1.0, -1.0], [-1.0, 1.0]])
    jitted = jax.jit(lambda p: _value(matrix.MatrixGame(p)))(jnp.stack([A, -A]))
    assert float(jitted) == pytest.approx(0.0)
    batch = jax.vmap(lambda a: matrix.zero_sum(a).payoffs)(jnp.stack([A, 2 * A]))
    assert batch.shape == (2, 2, 2, 2)
    grad = jax.jit(jax.grad(lambda a: _value(matrix.bimatrix(a, -a))))(A)
    np.testing.assert_allclose(grad, np.full((2, 2), 0.25))
    keys = jax.random.split(KEY, 3)
    assert jax.jit(jax.vmap(lambda k: matrix.random_game(k, (2, 3, 2)).payoffs))(keys).shape == (3, 3, 2, 3, 2)
    P = jax.jit(lambda m: matrix.cyclic_preferences(3, m))(0.3)
    assert float(P[0, 1]) == pytest.approx(0.8)
    game = jax.jit(lambda s: matrix.random_contextual_preference(KEY, 2, 3, scale=s))(0.5)
    assert game.preferences.shape == (2, 3, 3)


def test_markov_game_under_jit_vmap_grad():
    # the reported case: a traced discount inside jit
    values = jax.jit(lambda g: _value(markov.MarkovGame(P2, R2 + 1.0, g, I2)))(0.5)
    assert float(values) == pytest.approx(2.0, rel=1e-5)
    discounts = jnp.array([0.0, 0.5])
    assert jax.jit(jax.vmap(lambda g: _value(markov.MarkovGame(P2, R2 + 1.0, g, I2))))(
        discounts
    ).tolist() == pytest.approx([1.0, 2.0], rel=1e-5)
    grad = jax.jit(jax.grad(lambda g: _value(markov.MarkovGame(P2, R2 + 1.0, g, I2))))(0.5)
    assert float(grad) == pytest.approx(4.0, rel=1e-4)  # d/dg 1 / (1 - g)
    assert jax.jit(lambda t: _value(markov.MarkovGame(P2, t, 0.9, I2, horizon=3)))(R2 + 1.0) == pytest.approx(
        1 + 0.9 + 0.81, rel=1e-5
    )


@pytest.mark.slow
def test_grid_games_under_jit_vmap_grad():
    soccer = jax.vmap(lambda p: markov.grid_soccer(2, 3, draw_probability=p).transitions)(jnp.array([0.0, 0.3]))
    np.testing.assert_allclose(soccer[0], markov.grid_soccer(2, 3).transitions, atol=1e-6)
    np.testing.assert_allclose(soccer[1], markov.grid_soccer(2, 3, draw_probability=0.3).transitions, atol=1e-6)
    chased = jax.jit(jax.vmap(lambda s: markov.pursuit_evasion(2, 2, slip=s).transitions))(jnp.array([0.0, 0.25]))
    np.testing.assert_allclose(chased[1], markov.pursuit_evasion(2, 2, slip=0.25).transitions, atol=1e-6)
    # the corridor: capture is certain at every step when the pursuer steps onto the evader's cell
    corridor = jax.jit(jax.grad(lambda g: markov.pursuit_evasion(1, 2, discount=g).effective_horizon))(0.5)
    assert float(corridor) == pytest.approx(4.0, rel=1e-5)  # d/dg 1 / (1 - g)
    ipd = jax.jit(lambda t: markov.iterated_prisoners_dilemma(temptation=t).rewards)(5.0)
    np.testing.assert_allclose(ipd, markov.iterated_prisoners_dilemma().rewards)
    tft = jax.jit(lambda c: markov.memory_one_policy(c, 1))(jnp.asarray(markov.TIT_FOR_TAT))
    np.testing.assert_allclose(tft, markov.memory_one_policy(markov.TIT_FOR_TAT, 1))


@pytest.mark.slow
def test_poker_under_jit_vmap_grad():
    value = jax.jit(lambda b: _value(efg.kuhn_poker(bet=b)))(1.0)
    assert float(value) == pytest.approx(0.125, abs=1e-6)  # player 0's value of the uniform policy
    antes = jax.vmap(lambda a: efg.kuhn_poker(ante=a).payoffs)(jnp.array([1.0, 2.0]))
    np.testing.assert_allclose(antes[1], efg.kuhn_poker(ante=2.0).payoffs, atol=1e-6)
    grad = jax.grad(lambda b: jnp.sum(efg.leduc_poker(raise_amounts=(b, 4.0)).payoffs ** 2))(2.0)
    assert np.isfinite(float(grad)) and float(grad) != 0.0


def test_garnet_rows_have_branching_next_states():
    P = markov.garnet_transitions(KEY, 6, (2, 3), 3)
    assert P.shape == (6, 2, 3, 6)
    np.testing.assert_array_equal(np.sum(np.asarray(P) > 0, axis=-1), 3)
    np.testing.assert_allclose(np.asarray(P).sum(-1), 1.0, atol=1e-6)
