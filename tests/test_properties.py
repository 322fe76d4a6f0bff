"""Property-based input checks (hypothesis): every bad input to a public entry point ends in a
``ValueError`` or ``TypeError`` that names the field; every good input ends in a result.

Each entry point is listed once with a good value per argument and the argument's kind
(integer range, float range, bool, key, choice, array). For each argument hypothesis draws
values of that kind, in range and out of it, of the wrong type (floats for integers, truthy
strings for bools, ``None``, NaN, complex, huge numbers), and random arrays of random shapes and
dtypes for array arguments.
"""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxgames
import solvers
from jaxgames import efg, markov, matrix, mean_field

SETTINGS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
KEY = jax.random.key(0)


# -- argument kinds: each gives a strategy of good values and one of bad values -----------------
class Int:
    def __init__(self, low, high, optional=False):
        self.low, self.high, self.optional = low, high, optional

    def good(self):
        return st.integers(self.low, self.high)

    def bad(self):
        return st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),  # 2.9 and 2.0 alike
            st.booleans(),
            st.text(max_size=3),
            st.just(1j),
            st.integers(max_value=self.low - 1),
            *([] if self.optional else [st.none()]),
            st.just([self.low]),
        )


class Float:
    def __init__(self, low=None, high=None, low_open=False, high_open=False, optional=False):
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open
        self.optional = optional  # None is a documented value (a default computed from the game)

    def good(self):
        low = -1e3 if self.low is None else self.low  # good values stay of moderate size
        high = 1e3 if self.high is None else self.high
        return st.floats(
            low,
            high,
            exclude_min=self.low_open and self.low is not None,
            exclude_max=self.high_open and self.high is not None,
            allow_nan=False,
            allow_infinity=False,
            width=32,
        )

    def bad(self):
        out = [
            st.just(math.nan),
            st.just(math.inf),
            st.just(-math.inf),
            st.text(max_size=3),
            st.just(1j),
            st.just([[1.0, 2.0]]),
            st.booleans(),
            *([] if self.optional else [st.none()]),
        ]
        if self.low is not None:
            out.append(
                st.floats(max_value=self.low, exclude_max=not self.low_open, allow_nan=False, allow_infinity=False)
            )
        if self.high is not None:
            out.append(
                st.floats(min_value=self.high, exclude_min=not self.high_open, allow_nan=False, allow_infinity=False)
            )
        return st.one_of(*out)


class Bool:
    def good(self):
        return st.booleans()

    def bad(self):
        return st.one_of(
            st.sampled_from(["yes", "no", "False", "", "true"]), st.none(), st.integers(0, 2), st.floats(0, 1)
        )


class Key:
    def good(self):
        return st.integers(0, 2**31).map(lambda s: jax.random.key(s))

    def bad(self):
        return st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=3),
            st.floats(),
            hnp.arrays(
                st.sampled_from([np.float32, np.int32, np.uint32]), hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)
            ).filter(lambda a: not (a.dtype == np.uint32 and a.shape == (2,))),
        )


class Choice:
    def __init__(self, *choices):
        self.choices = choices

    def good(self):
        return st.sampled_from(self.choices)

    def bad(self):
        return st.one_of(
            st.text(max_size=4).filter(lambda s: s not in self.choices),
            st.none(),
            st.integers(),
            st.just(list(self.choices[:1])),
        )


def _run_solver(factory, **kwargs):
    return solvers.run(factory(**kwargs), matrix.matching_pennies(), 4)


# (name, callable, {argument: (kind, good default)}); good defaults keep every call small.
ENTRIES = [
    (
        "matrix.random_zero_sum",
        matrix.random_zero_sum,
        dict(key=(Key(), KEY), num_actions=(Int(1, 5), 3), distribution=(Choice("uniform", "normal"), "uniform")),
    ),
    ("matrix.random_game", matrix.random_game, dict(key=(Key(), KEY), zero_sum=(Bool(), False))),
    (
        "matrix.cyclic_preferences",
        matrix.cyclic_preferences,
        dict(num_responses=(Int(2, 6), 3), margin=(Float(0.0, 0.5), 0.4)),
    ),
    (
        "matrix.bradley_terry_preferences",
        matrix.bradley_terry_preferences,
        dict(key=(Key(), KEY), num_responses=(Int(2, 6), 3)),
    ),
    ("matrix.biased_rock_paper_scissors", matrix.biased_rock_paper_scissors, dict(normalized=(Bool(), True))),
    (
        "markov.random_zero_sum",
        markov.random_zero_sum,
        dict(
            key=(Key(), KEY),
            num_states=(Int(1, 5), 3),
            num_actions=(Int(1, 3), 2),
            branching=(Int(1, 3), 1),
            discount=(Float(0.0, 1.0, high_open=True), 0.9),
        ),
    ),
    (
        "markov.grid_soccer",
        markov.grid_soccer,
        dict(
            rows=(Int(2, 3), 2),
            cols=(Int(3, 4), 3),
            discount=(Float(0.0, 1.0, high_open=True), 0.9),
            draw_probability=(Float(0.0, 1.0), 0.0),
        ),
    ),
    (
        "markov.pursuit_evasion",
        markov.pursuit_evasion,
        dict(rows=(Int(1, 3), 2), cols=(Int(2, 3), 2), slip=(Float(0.0, 1.0), 0.0)),
    ),
    (
        "markov.iterated_prisoners_dilemma",
        markov.iterated_prisoners_dilemma,
        dict(discount=(Float(0.0, 1.0, high_open=True), 0.9), temptation=(Float(), 5.0)),
    ),
    (
        "efg.kuhn_poker",
        efg.kuhn_poker,
        dict(num_players=(Int(2, 3), 2), ante=(Float(0.0, low_open=True), 1.0), bet=(Float(0.0, low_open=True), 1.0)),
    ),
    (
        "mean_field.crowd_modelling",
        mean_field.crowd_modelling,
        dict(size=(Int(2, 8), 5), horizon=(Int(1, 4), 3), crowd_aversion=(Float(0.0), 1.0)),
    ),
    (
        "mean_field.crowd_modelling_2d",
        mean_field.crowd_modelling_2d,
        dict(size=(Int(2, 4), 3), horizon=(Int(1, 3), 2), only_distribution_reward=(Bool(), False)),
    ),
    (
        "mean_field.beach_bar",
        mean_field.beach_bar,
        dict(size=(Int(3, 9), 5), horizon=(Int(1, 4), 3), noise=(Float(0.0, 1.0), 0.1)),
    ),
    (
        "mean_field.sis_epidemic",
        mean_field.sis_epidemic,
        dict(
            horizon=(Int(1, 5), 3),
            infection_rate=(Float(0.0, 1.0), 0.8),
            recovery_rate=(Float(0.0, 1.0), 0.2),
            initial_infected=(Float(0.0, 1.0), 0.4),
        ),
    ),
    (
        "mean_field.minority_game",
        mean_field.minority_game,
        dict(horizon=(Int(1, 4), 2), num_locations=(Int(2, 4), 2), crowd_aversion=(Float(0.0), 1.0)),
    ),
    (
        "mean_field.linear_quadratic",
        mean_field.linear_quadratic,
        dict(size=(Int(2, 6), 4), horizon=(Int(1, 3), 2), n_actions_per_side=(Int(1, 2), 1)),
    ),
    (
        "mean_field.stationary_game",
        mean_field.stationary_game,
        dict(
            model=(None, mean_field.rps_population(horizon=1)),
            discount=(Float(0.0, 1.0, high_open=True), 0.9),
            mean_field_dependent=(Bool(), True),
            max_mean_field_iterations=(Int(1, 50), 10),
        ),
    ),
    (
        "matrix.RepeatedMatrixEnv",
        matrix.RepeatedMatrixEnv,
        dict(game=(None, matrix.matching_pennies()), num_rounds=(Int(1, 5), 2), autoreset=(Bool(), True)),
    ),
    (
        "markov.MarkovEnv",
        markov.MarkovEnv,
        dict(game=(None, markov.iterated_prisoners_dilemma()), autoreset=(Bool(), True)),
    ),
    (
        "mean_field.NAgentEnv",
        mean_field.NAgentEnv,
        dict(
            game=(None, mean_field.crowd_modelling(size=4, horizon=2)),
            num_agents=(Int(1, 8), 4),
            autoreset=(Bool(), True),
        ),
    ),
    ("efg.EFGEnv", efg.EFGEnv, dict(game=(None, efg.kuhn_poker()), autoreset=(Bool(), True))),
    (
        "jaxgames.rollout",
        lambda **kw: jaxgames.rollout(**kw),
        dict(
            key=(Key(), KEY),
            env=(None, matrix.RepeatedMatrixEnv(matrix.matching_pennies())),
            policy=(None, None),
            num_steps=(Int(1, 4), 2),
            batch_size=(Int(1, 4, optional=True), 2),
        ),
    ),
    (
        "solvers.run",
        lambda num_steps, eval_every: solvers.run(
            solvers.mirror_descent(), matrix.matching_pennies(), num_steps, eval_every
        ),
        dict(num_steps=(Int(1, 6), 4), eval_every=(Int(1, 6, optional=True), 2)),
    ),
    (
        "solvers.mirror_descent",
        lambda **kw: _run_solver(solvers.mirror_descent, **kw),
        dict(
            learning_rate=(Float(0.0, 10.0, low_open=True, optional=True), 0.1),
            output=(Choice("last", "average"), "average"),
        ),
    ),
    (
        "solvers.mmd",
        lambda **kw: _run_solver(solvers.mmd, **kw),
        dict(temperature=(Float(0.0, 5.0, optional=True), 0.1), magnet_update_every=(Int(1, 5), 1)),
    ),
    (
        "solvers.regret_matching",
        lambda **kw: _run_solver(solvers.regret_matching, **kw),
        dict(averaging=(Choice("uniform", "linear", "quadratic"), "linear")),
    ),
    (
        "solvers.fictitious_play",
        lambda **kw: _run_solver(solvers.fictitious_play, **kw),
        dict(step_size=(Float(0.0, 1.0, low_open=True, optional=True), 0.5)),
    ),
]

CASES = [
    pytest.param(fn, args, field, id=f"{name}:{field}")
    for name, fn, args in ENTRIES
    for field, (kind, _) in args.items()
    if kind is not None
]


def _call(fn, args, field, value):
    kwargs = {name: default for name, (_, default) in args.items()}
    kwargs[field] = value
    return fn(**kwargs)


@pytest.mark.parametrize("fn, args, field", CASES)
def test_bad_value_names_the_field(fn, args, field):
    @SETTINGS
    @given(args[field][0].bad())
    def check(value):
        with pytest.raises((ValueError, TypeError)) as info:
            _call(fn, args, field, value)
        assert field in str(info.value), f"{field}={value!r}: error does not name the field: {info.value}"

    check()


@pytest.mark.slow
@pytest.mark.parametrize("fn, args, field", CASES)
def test_good_value_gives_a_result(fn, args, field):
    @settings(SETTINGS, max_examples=4)  # good values share one code path: fewer examples suffice
    @given(args[field][0].good())
    def check(value):
        assert _call(fn, args, field, value) is not None

    check()


# -- arrays of random shapes, dtypes and values -----------------------------------------------------
ARRAYS = hnp.arrays(
    st.sampled_from([np.float32, np.float64, np.int8, np.int64, np.bool_, np.complex64, np.uint8]),
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
    elements=None,
)
VALUES = st.one_of(ARRAYS, st.none(), st.text(max_size=3), st.floats(), st.lists(st.floats(), max_size=3))


def _accepted_or_named(build, field):
    try:
        return build()
    except (ValueError, TypeError) as err:
        assert field in str(err), f"error does not name {field}: {err}"
        return None


@SETTINGS
@given(VALUES)
def test_matrix_game_payoffs_of_any_shape_and_dtype(payoffs):
    game = _accepted_or_named(lambda: matrix.MatrixGame(payoffs), "payoffs")
    if game is not None:  # a valid game answers questions with finite numbers
        assert bool(jnp.isfinite(jaxgames.exploitability(game, game.uniform_policy())))


@SETTINGS
@given(VALUES, VALUES)
def test_policies_of_any_shape_and_dtype(p0, p1):
    game = matrix.rock_paper_scissors()
    _accepted_or_named(lambda: jaxgames.exploitability(game, (p0, p1)), "policy")


@SETTINGS
@given(VALUES, VALUES, st.one_of(st.floats(), st.text(max_size=2), st.none()))
def test_markov_game_arrays_of_any_shape_and_dtype(transitions, rewards, discount):
    def build():
        return markov.MarkovGame(transitions, rewards, discount, np.ones(2) / 2)

    try:
        game = build()
    except (ValueError, TypeError) as err:
        assert any(f in str(err) for f in ("transitions", "rewards", "discount")), str(err)
        return
    assert bool(jnp.isfinite(jaxgames.exploitability(game, game.uniform_policy())))


@SETTINGS
@given(st.one_of(st.floats(), st.none(), st.text(max_size=2)), st.one_of(ARRAYS, st.none()))
def test_regularized_nash_conv_temperature_and_reference(temperature, reference):
    game = matrix.rock_paper_scissors()
    ref = None if reference is None else (reference, reference)
    try:
        value = jaxgames.regularized_nash_conv(game, game.uniform_policy(), temperature, ref)
    except (ValueError, TypeError) as err:
        assert "temperature" in str(err) or "reference" in str(err), str(err)
        return
    assert float(value) >= -1e-5  # +inf where the KL is infinite, never a finite understatement
