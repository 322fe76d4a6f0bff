"""Optional game capabilities (``jaxgames.capabilities``) and the typed ``extra`` of every solver."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
import solvers
from jaxgames import markov, matrix, mean_field
from jaxgames.capabilities import (
    CapabilityError,
    JointActionValues,
    PayoffSpread,
    RegularizedNashConv,
    SmoothBestResponse,
    has,
    require,
)
from jaxgames.markov import StageGames


def _families():
    key = jax.random.key(0)
    crowd = mean_field.crowd_modelling(size=4, horizon=3)
    q = markov.random_zero_sum(key, 4, 2).joint_action_values(jnp.zeros((2, 4)))
    return {
        "matrix": matrix.rock_paper_scissors(),
        "contextual": matrix.random_contextual_preference(key, 2, 3),
        "efg": jaxgames.kuhn_poker(),
        "markov": markov.random_zero_sum(key, 4, 2),
        "mean_field": crowd,
        "stationary": mean_field.stationary_game(crowd),
        "stage_games": StageGames(q),
    }


#: The table of ``jaxgames.capabilities``' docstring: which family has which capability.
EXPECTED = {
    "matrix": {SmoothBestResponse, RegularizedNashConv},
    "contextual": {SmoothBestResponse, RegularizedNashConv},
    "efg": {RegularizedNashConv},
    "markov": {SmoothBestResponse, RegularizedNashConv, JointActionValues},
    "mean_field": {SmoothBestResponse, RegularizedNashConv},
    "stationary": {SmoothBestResponse, RegularizedNashConv},
    "stage_games": {SmoothBestResponse, PayoffSpread},
}


@pytest.mark.parametrize("family", list(EXPECTED))
def test_each_family_declares_the_capabilities_of_the_table(family):
    game = _families()[family]
    for capability in (SmoothBestResponse, RegularizedNashConv, JointActionValues, PayoffSpread):
        assert has(game, capability) == (capability in EXPECTED[family]), capability.__name__


def test_each_capability_has_one_signature_across_families():
    """Every implementation has the protocol's parameters, names and defaults (``self`` aside)."""
    for capability, method in (
        (SmoothBestResponse, "smooth_best_response"),
        (RegularizedNashConv, "regularized_nash_conv"),
    ):
        want = [(p.name, p.default) for p in inspect.signature(getattr(capability, method)).parameters.values()]
        for family, game in _families().items():
            if has(game, capability):
                got = [(p.name, p.default) for p in inspect.signature(getattr(type(game), method)).parameters.values()]
                assert got == want, (family, method, got)


def test_require_names_the_solver_the_game_and_the_capability():
    with pytest.raises(
        CapabilityError,
        match=r"^game: smoothed FP needs a game with a smooth \(logit\) best "
        r"response; EFGGame does not provide SmoothBestResponse "
        r"\(smooth_best_response\(policy, temperature, reference=None\)\)$",
    ):
        require(jaxgames.kuhn_poker(), SmoothBestResponse, "smoothed FP")
    require(matrix.rock_paper_scissors(), SmoothBestResponse, "smoothed FP")  # present: no error
    # a TypeError, and a ValueError as these checks were before (code catching either keeps working)
    assert issubclass(CapabilityError, TypeError) and issubclass(CapabilityError, ValueError)
    with pytest.raises(ValueError, match="^capability: expected one of"):
        has(matrix.rock_paper_scissors(), int)


def test_solvers_require_their_capabilities():
    kuhn = jaxgames.kuhn_poker()
    with pytest.raises(
        TypeError,
        match="^game: fictitious_play\\(temperature > 0\\) needs .* EFGGame does not provide SmoothBestResponse",
    ):
        solvers.run(solvers.fictitious_play(temperature=0.1), kuhn, 2)
    with pytest.raises(
        TypeError, match="^game: value_iteration needs a Markov game .* MatrixGame does not provide JointActionValues"
    ):
        solvers.value_iteration().init(matrix.rock_paper_scissors())


def _logit(q, temperature, reference):
    z = q / temperature + np.log(reference)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("family", ["markov", "stage_games"])
def test_markov_smooth_best_response_takes_a_reference(family):
    """``pi_i[s] ∝ ref_i[s] exp(Q_i[s] / t)`` against the action values; uniform is the default."""
    game = _families()[family]
    key = jax.random.key(1)
    policy = solvers.core.random_policy(game, key)
    reference = solvers.core.random_policy(game, jax.random.key(2))
    q = game.evaluate(policy).action_values
    got = game.smooth_best_response(policy, 0.3, reference)
    for qi, ri, gi in zip(q, reference, got):
        np.testing.assert_allclose(np.asarray(gi), _logit(np.asarray(qi), 0.3, np.asarray(ri)), rtol=1e-4, atol=1e-6)
    for a, b in zip(
        game.smooth_best_response(policy, 0.3), game.smooth_best_response(policy, 0.3, game.uniform_policy())
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    for a, qi in zip(game.smooth_best_response(policy, 0.0, reference), q):  # argmax at 0, whatever the reference
        np.testing.assert_array_equal(np.asarray(a), np.eye(qi.shape[-1])[np.argmax(np.asarray(qi), axis=-1)])


# ----------------------------------------------------------------------------- typed extra
def _game_for(name):
    key = jax.random.key(0)
    if name in ("value_iteration", "policy_iteration"):
        return markov.random_mdp(key, 4, 2)
    if name in solvers.MARKOV_SOLVERS or name in solvers.SAMPLED_SOLVERS["markov"]:
        return markov.random_zero_sum(key, 4, 2)
    if name in solvers.SAMPLED_SOLVERS["preference"]:
        return matrix.preference_game(matrix.random_intransitive_preferences(key, 4))
    if name in solvers.NEURAL_SOLVERS["preference"]:
        return matrix.random_contextual_preference(key, 2, 3)
    if name in solvers.MATRIX_SOLVERS:
        return matrix.rock_paper_scissors()
    if name in solvers.SAMPLED_SOLVERS["mean_field"] + solvers.NEURAL_SOLVERS["mean_field"]:
        return mean_field.crowd_modelling(size=4, horizon=3)
    return jaxgames.kuhn_poker()


@pytest.mark.parametrize("name", sorted(solvers.SOLVERS))
def test_every_solver_extra_is_a_documented_named_tuple_or_none(name):
    """Traced only (``jax.eval_shape``): the type of ``init``'s ``extra``, not its values."""
    solver = solvers.SOLVERS[name]()
    extra = jax.eval_shape(lambda: solver.init(_game_for(name), jax.random.key(0))).extra
    if name in ("fictitious_play", "fixed_point", "boltzmann_iteration"):
        assert extra is None
        return
    assert isinstance(extra, tuple) and hasattr(type(extra), "_fields"), type(extra)
    doc = type(extra).__doc__ or ""
    assert doc and not doc.startswith(f"{type(extra).__name__}("), f"{type(extra).__name__} has no docstring"


def test_typed_extras_survive_vmap_and_an_orbax_round_trip(tmp_path):
    game = matrix.rock_paper_scissors()
    solver = solvers.optimistic_mirror_descent()
    keys = jax.random.split(jax.random.key(0), 3)
    states, _ = jax.vmap(lambda k: solvers.run(solver, game, 10, eval_every=10, key=k, warn=False))(keys)
    assert isinstance(states.extra, solvers.first_order.FirstOrderState)
    assert states.extra.magnet is None and states.extra.payoff_scale.shape == (3,)
    state, _ = solvers.run(solver, game, 10, eval_every=10)
    solvers.save_state(tmp_path / "s", state)
    back = solvers.restore_state(tmp_path / "s", lambda: solver.init(game))
    assert type(back.extra) is type(state.extra)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
