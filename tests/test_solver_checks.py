"""Solver construction checks, run-length limits, scale-free defaults and the divergence flag."""

import inspect
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
import solvers
from jaxgames import matrix
from jaxgames.efg.game import EFGGame
from solvers.core import MAX_STEPS
from solvers.scale import payoff_scale

# ----------------------------------------------------------------------------- parameter checks

#: Hyperparameters whose default is ``None`` but that take numbers (their meaning for ``None`` is
#: documented: a scale-free default, "off", exact feedback, ...).
NONE_DEFAULT_NUMERIC = {
    "learning_rate",
    "temperature",
    "magnet_floor",
    "step_size",
    "num_samples",
    "reset_probability",
    "value_learning_rate",
    "num_explorers",
    "rho_vtrace",
    "output_threshold",
    "output_discretization",
    "magnet_update_every",
    "inner_steps",
    "magnet_every",
    "clip_epsilon",
    "target_rate",
    "proximity",
}

#: ``(solver, parameter)`` pairs whose docstrings allow ``None`` although the default is a number.
DOCUMENTED_NONE = {("mmd_rl", "magnet_every"), ("mmd_rl", "proximity")}


def numeric_parameters(factory):
    """``[(name, is_integer, none_allowed)]`` of a factory's numeric hyperparameters, by signature."""
    out = []
    for p in inspect.signature(factory).parameters.values():
        d, annotation = p.default, str(p.annotation)
        if isinstance(d, (int, float)) and not isinstance(d, bool):  # "int | None": None documented
            out.append((p.name, isinstance(d, int) or "int" in annotation, "None" in annotation))
        elif d is None and (p.name in NONE_DEFAULT_NUMERIC or "int" in annotation or "float" in annotation):
            out.append((p.name, "int" in annotation, True))
    return out


CASES = [
    (name, param, is_int, none_ok)
    for name, factory in solvers.SOLVERS.items()
    for param, is_int, none_ok in numeric_parameters(factory)
]


def test_every_solver_with_numeric_hyperparameters_is_covered():
    covered = {name for name, *_ in CASES}
    assert {
        "mirror_descent",
        "mmd",
        "discounted_cfr",
        "smooth_value_iteration",
        "nfsp",
        "rnad",
        "psro",
        "ppo",
        "minimax_q",
        "nash_md",
        "deep_mirror_descent",
    } <= covered
    assert len(CASES) > 100


@pytest.mark.parametrize("name, param, is_int, none_ok", CASES, ids=[f"{c[0]}.{c[1]}" for c in CASES])
def test_bad_numeric_hyperparameters_name_the_field(name, param, is_int, none_ok):
    """A string, NaN and a bool are refused with ``<param>: ...``; ``None`` too unless documented;
    a float where an integer is expected is refused, not truncated."""
    factory = solvers.SOLVERS[name]
    bad = ["abc", float("nan"), True, np.bool_(False)]
    if not (none_ok or (name, param) in DOCUMENTED_NONE):
        bad.append(None)
    if is_int:
        bad.append(2.5)
    for value in bad:
        with pytest.raises(ValueError, match=rf"^{param}: "):
            factory(**{param: value})
    if none_ok or (name, param) in DOCUMENTED_NONE:
        factory(**{param: None})  # documented: a default, or the term is off


@pytest.mark.parametrize(
    "factory, kwargs, match",
    [
        (solvers.extragradient, dict(magnet_update_every=2.5), "magnet_update_every: expected an integer"),
        (solvers.mmd, dict(magnet_update_every="10"), "magnet_update_every: expected an integer"),
        (solvers.smooth_value_iteration, dict(magnet_floor=2.0), r"magnet_floor: expected a value in \[0, 1\]"),
        (solvers.mmd, dict(magnet_floor=-0.1), "magnet_floor"),
        (solvers.mirror_prox, dict(learning_rate="0.5"), "learning_rate: expected a number"),
        (solvers.mirror_descent, dict(learning_rate=True), "learning_rate: expected a number, got True"),
        (solvers.discounted_cfr, dict(beta=float("nan")), "beta: expected finite"),
        (solvers.discounted_cfr, dict(alpha=-float("inf")), "alpha: expected a value in"),
        (solvers.discounted_cfr, dict(gamma=float("inf")), "gamma: expected a finite value >= 0"),
        (solvers.regret_matching, dict(alternating="yes"), "alternating: expected True or False"),
        (solvers.fictitious_play, dict(alternating=None), "alternating: expected True or False"),
        (solvers.outcome_sampling_mccfr, dict(alternating=1), "alternating: expected True or False"),
        (solvers.ppo, dict(normalize_advantages="no"), "normalize_advantages: expected True or False"),
        (solvers.ppo, dict(clip_epsilon=None), "clip_epsilon: expected a number"),
        (solvers.rnad, dict(target_rate=1.5), r"target_rate: expected a value in \(0, 1\]"),
        (solvers.psro, dict(oracle_steps=2.5), "oracle_steps: expected an integer"),
    ],
)
def test_bad_hyperparameters_match_the_docs(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


@pytest.mark.slow
def test_discounted_cfr_accepts_the_cfr_plus_setting_of_its_docstring():
    """``alpha = inf, beta = -inf`` is CFR+'s clipping: with ``gamma = 1`` (linear averaging) the
    iterates are CFR+'s exactly; large finite exponents do not overflow into NaN."""
    game = jaxgames.kuhn_poker()
    dcfr, _ = solvers.run(solvers.discounted_cfr(float("inf"), -float("inf"), 1.0), game, 100, eval_every=100)
    plus, _ = solvers.run(solvers.cfr_plus(), game, 100, eval_every=100)
    for a, b in zip(dcfr.average, plus.average):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    assert all(float(r.min()) >= 0 for r in dcfr.extra.regrets)
    _, trace = solvers.run(solvers.discounted_cfr(40.0, -40.0), game, 200, eval_every=200)
    assert np.isfinite(float(trace.exploitability[-1])) and float(trace.exploitability[-1]) < 0.02


def test_learning_rate_none_is_the_scale_free_default_not_a_run_time_error():
    state, trace = solvers.run(solvers.mirror_descent(learning_rate=None), matrix.rock_paper_scissors(), 10)
    assert float(state.extra.payoff_scale) == 1.0 and np.isfinite(float(trace.exploitability[-1]))


def test_a_bad_key_for_a_random_start_names_the_key():
    for key in _bad_keys():
        with pytest.raises(ValueError, match="^key: expected"):
            solvers.run(solvers.mirror_prox(), matrix.matching_pennies(), 10, key=key)


@pytest.mark.slow
def test_hyperparameter_checks_skip_traced_values():
    P = np.array([[[1.0, -1.0], [-1.0, 1.0]], [[-1.0, 1.0], [1.0, -1.0]]])
    trace = jax.jit(lambda lr: solvers.run(solvers.mirror_prox(lr), matrix.MatrixGame(P), 100)[1])(0.5)
    assert trace.exploitability.shape == (100,) and trace.diverged.shape == (100,)
    game = matrix.biased_rock_paper_scissors()
    run = jax.jit(lambda lr, tau: solvers.run(solvers.mmd(lr, tau), game, 20, eval_every=20)[1].exploitability)
    assert run(0.5, 0.3).shape == (1,)
    sweep = jax.vmap(lambda a: solvers.run(solvers.discounted_cfr(alpha=a), game, 20, eval_every=20)[1].exploitability)
    assert sweep(jnp.array([1.0, 1.5])).shape == (2, 1)


# ----------------------------------------------------------------------------- keys


def _bad_keys():
    return ["abc", 0, jnp.zeros(3, jnp.uint32), jnp.zeros(2, jnp.float32), jax.random.split(jax.random.key(0), 2)]


@pytest.mark.parametrize(
    "make, game",
    [
        (lambda: solvers.outcome_sampling_mccfr(), lambda: jaxgames.kuhn_poker()),
        (lambda: solvers.external_sampling_mccfr(), lambda: jaxgames.kuhn_poker()),
        (lambda: solvers.nash_md(), lambda: matrix.preference_game(matrix.cyclic_preferences(3))),
        (lambda: solvers.minimax_q(), lambda: jaxgames.markov.random_zero_sum(jax.random.key(0), 3, 2)),
        (
            lambda: solvers.sampled_mirror_descent(num_agents=10),
            lambda: jaxgames.mean_field.crowd_modelling(size=3, horizon=2),
        ),
        (lambda: solvers.psro(oracle="sampled"), lambda: jaxgames.kuhn_poker()),
        (lambda: solvers.nfsp(), lambda: jaxgames.kuhn_poker()),
    ],
    ids=["os_mccfr", "es_mccfr", "nash_md", "minimax_q", "sampled_md", "psro", "nfsp"],
)
def test_bad_keys_name_the_key(make, game):
    solver, g = make(), game()
    for key in _bad_keys():
        with pytest.raises(ValueError, match="^key: expected"):
            solver.init(g, key)
    with pytest.raises(ValueError, match="^key: "):
        solver.init(g, None)


# ----------------------------------------------------------------------------- run lengths


def test_run_rejects_step_counts_the_int32_counter_cannot_hold():
    game, solver = matrix.matching_pennies(), solvers.regret_matching_plus()
    with pytest.raises(ValueError, match=rf"num_steps: expected an integer <= {MAX_STEPS} .*int32"):
        solvers.run(solver, game, 10**12)
    state, _ = solvers.run(solver, game, 10, eval_every=10)
    state = state.replace(step=jnp.asarray(MAX_STEPS - 5, jnp.int32))
    with pytest.raises(ValueError, match=rf"num_steps: expected an integer <= 5 after the {MAX_STEPS - 5} steps"):
        solvers.run(solver, game, 10, state=state)


def test_run_rejects_a_trace_too_large_before_running():
    with pytest.raises(
        ValueError,
        match=r"eval_every: the trace of num_steps / eval_every = 1000000000 evaluations "
        r"needs .* GiB, above max_bytes",
    ):
        solvers.run(solvers.regret_matching_plus(), matrix.matching_pennies(), 10**9, eval_every=1)
    with pytest.raises(ValueError, match="eval_every: the trace"):
        solvers.run(solvers.regret_matching_plus(), matrix.matching_pennies(), 1000, eval_every=1, max_bytes=1000)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_steps=2.5), "num_steps: expected an integer, got 2.5"),
        (dict(num_steps=100.0), "num_steps: expected an integer"),
        (dict(num_steps=True), "num_steps: expected an integer"),
        (dict(num_steps="100"), "num_steps: expected an integer"),
        (dict(num_steps=0), "num_steps: expected an integer >= 1"),
        (dict(num_steps=100, eval_every=2.5), "eval_every: expected an integer"),
        (dict(num_steps=100, eval_every=0), "eval_every: expected an integer >= 1"),
        (dict(num_steps=100, eval_every="10"), "eval_every: expected an integer"),
        (dict(num_steps=100, state="state"), "state: expected a solvers.SolverState"),
    ],
)
def test_run_arguments_are_integers(kwargs, match):
    with pytest.raises(ValueError, match=match):
        solvers.run(solvers.mirror_prox(), matrix.matching_pennies(), **kwargs)


# ----------------------------------------------------------------------------- scale-free defaults

FIRST_ORDER = ["mirror_descent", "optimistic_mirror_descent", "extragradient", "mirror_prox", "mmd"]


def _scaled(game, c):
    return matrix.MatrixGame(game.payoffs * c)


@pytest.mark.slow
@pytest.mark.parametrize("name", FIRST_ORDER)
def test_default_iterates_on_scaled_payoffs_are_the_same(name):
    game = matrix.random_zero_sum(jax.random.key(3), (4, 6), "gaussian")
    solver = solvers.make(name)
    key = jax.random.key(4)
    base, _ = solvers.run(solver, game, 300, eval_every=300, key=key)
    for c in (1e-3, 100.0):
        state, trace = solvers.run(solver, _scaled(game, c), 300, eval_every=300, key=key)
        for a, b in zip(state.policy + state.average, base.policy + base.average):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-5)
        assert not bool(trace.diverged[-1])


def test_explicit_learning_rates_are_in_payoff_units():
    game = matrix.random_zero_sum(jax.random.key(3), 4)
    solver = solvers.mirror_prox(0.5)
    state, _ = solvers.run(solver, game, 50, eval_every=50, key=jax.random.key(0))
    assert state.extra.payoff_scale is None  # an explicit rate is not relative to the payoff scale
    scaled, _ = solvers.run(solver, _scaled(game, 10.0), 50, eval_every=50, key=jax.random.key(0))
    assert np.abs(np.asarray(scaled.policy[0]) - np.asarray(state.policy[0])).max() > 1e-3


@pytest.mark.parametrize("name", ["mirror_prox", "mmd", "optimistic_mirror_descent"])
def test_default_iterates_on_scaled_extensive_form_games_are_the_same(name):
    kuhn = jaxgames.kuhn_poker()
    solver = solvers.make(name)
    base, _ = solvers.run(solver, kuhn, 100, eval_every=100)
    scaled = EFGGame(kuhn.tree, kuhn.payoffs * 50.0, kuhn.chance_prob, kuhn.name)
    assert float(payoff_scale(scaled)) == pytest.approx(50.0 * float(payoff_scale(kuhn)))
    state, _ = solvers.run(solver, scaled, 100, eval_every=100)
    for a, b in zip(state.policy, base.policy):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["mirror_prox", "mmd", "natural_policy_gradient", "policy_extragradient", "smooth_value_iteration"]
)
def test_default_iterates_on_scaled_markov_games_are_the_same(name):
    game = jaxgames.markov.random_zero_sum(jax.random.key(5), 4, 2)
    scaled = jaxgames.markov.MarkovGame(game.transitions, 30.0 * game.rewards, game.discount, game.initial)
    solver = solvers.make(name)
    base, _ = solvers.run(solver, game, 100, eval_every=100)
    state, _ = solvers.run(solver, scaled, 100, eval_every=100)
    for a, b in zip(state.policy, base.policy):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-5)


def test_payoff_scale_by_family():
    assert float(payoff_scale(matrix.rock_paper_scissors())) == 1.0  # payoffs in [-1, 1]
    assert float(payoff_scale(matrix.MatrixGame(np.zeros((2, 2, 2))))) == 1.0  # constant game
    assert float(payoff_scale(jaxgames.kuhn_poker())) == 2.0  # terminal payoffs in [-2, 2]
    mg = jaxgames.markov.random_zero_sum(jax.random.key(0), 3, 2)
    r = np.asarray(mg.rewards[0])
    assert float(payoff_scale(mg)) == pytest.approx((r.max() - r.min()) / 2, rel=1e-6)
    assert float(payoff_scale(jaxgames.mean_field.crowd_modelling(size=3, horizon=2))) == 1.0  # no bound: as is


@pytest.mark.slow
def test_default_first_order_solvers_do_not_diverge_on_large_payoffs():
    """The issue's case: Gaussian 10x10 games with payoffs x100; the old defaults (0.2 for
    extragradient, in payoff units now) end worse than the uniform policy and are flagged."""
    games = jax.vmap(lambda k: matrix.random_zero_sum(k, 10, "gaussian"))(jax.random.split(jax.random.key(42), 8))
    games = jax.tree_util.tree_map(lambda x: 100.0 * x, games)
    uniform = np.asarray(jax.vmap(lambda g: g.exploitability(g.uniform_policy()))(games))
    for solver in (solvers.extragradient(), solvers.mmd(), solvers.optimistic_mirror_descent(), solvers.mirror_prox()):
        trace = jax.jit(jax.vmap(lambda g: solvers.run(solver, g, 2000, eval_every=2000)[1]))(games)
        assert np.all(np.asarray(trace.exploitability[:, -1]) < 0.1 * uniform)
        assert not np.any(np.asarray(trace.diverged))
    old = jax.jit(jax.vmap(lambda g: solvers.run(solvers.extragradient(0.2), g, 2000, eval_every=2000)[1]))(games)
    assert np.all(np.asarray(old.exploitability[:, -1]) > uniform)
    assert np.all(np.asarray(old.diverged[:, -1]))


@pytest.mark.slow
def test_default_mmd_converges_on_random_preference_games():
    """The old default (eta = tau = 0.3, magnet every 20 steps, no floor) oscillates between
    NashConv 1e-2 and 1e-1 for 20,000 steps on some of these; the default converges."""
    keys = jax.random.split(jax.random.key(3), 16)
    games = jax.vmap(lambda k: matrix.preference_game(matrix.random_intransitive_preferences(k, 5, 0.5, 2.0)))(keys)

    def last_5000(solver):
        run = jax.jit(jax.vmap(lambda g: solvers.run(solver, g, 20000, eval_every=500)[1].nash_conv[-10:].max()))
        return np.asarray(run(games))

    assert np.all(last_5000(solvers.mmd()) < 1e-3)
    assert np.max(last_5000(solvers.mmd(0.3, 0.3, magnet_update_every=20, magnet_floor=0.0))) > 1e-2


# ----------------------------------------------------------------------------- the trace


@pytest.mark.slow
def test_trace_flags_and_warns_about_a_diverged_run():
    game = matrix.MatrixGame(100.0 * matrix.random_zero_sum(jax.random.key(1), 10, "gaussian").payoffs)
    with pytest.warns(RuntimeWarning, match="the run diverged"):
        _, trace = solvers.run(solvers.extragradient(0.2), game, 500)
    assert bool(trace.diverged[-1]) and trace.diverged.dtype == jnp.bool_
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, trace = solvers.run(solvers.extragradient(), game, 500)
        assert not np.any(np.asarray(trace.diverged))
        # under jit the flag is computed, but no warning is raised (the values are traced)
        flags = jax.jit(lambda g: solvers.run(solvers.extragradient(0.2), g, 500)[1].diverged)(game)
    assert bool(flags[-1])


def test_trace_flags_non_finite_exploitability():
    game = matrix.MatrixGame(100.0 * matrix.random_zero_sum(jax.random.key(1), 4).payoffs)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        _, trace = solvers.run(solvers.mirror_descent(learning_rate=1e38, output="last"), game, 20, eval_every=10)
    assert not np.isfinite(float(trace.exploitability[-1])) and bool(trace.diverged[-1])


@jax.tree_util.register_pytree_node_class
class _RoundingGame(matrix.MatrixGame):
    """A matrix game whose exploitability comes out slightly negative, as float rounding can."""

    def exploitability(self, policy):
        return super().exploitability(policy) - 1e-6


def test_trace_exploitability_is_never_negative():
    game = _RoundingGame(matrix.rock_paper_scissors().payoffs)
    _, trace = solvers.run(solvers.regret_matching_plus(), game, 10, eval_every=5)
    assert np.all(np.asarray(trace.exploitability) >= 0.0) and np.all(np.asarray(trace.nash_conv) >= 0.0)
    assert float(trace.exploitability[-1]) == 0.0
