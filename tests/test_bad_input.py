"""Bad input raises ValueError naming the field and what was expected."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxgames
import solvers
from jaxgames import matrix


@pytest.mark.parametrize(
    "payoffs, match",
    [
        (np.array([[[1.0, np.nan], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]), "payoffs: expected finite values"),
        (np.array([[[1.0, np.inf], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]), "payoffs: expected finite values"),
        (np.ones((2, 2)), r"payoffs: expected shape \[N, A_1, ..., A_N\]"),
        (np.ones((3, 2, 2)), "leading axis says N = 3 players"),
        (np.ones((2, 0, 2)), "payoffs: every player needs >= 1 action"),
        ("abc", "payoffs: expected a number or numeric array"),
    ],
)
def test_bad_payoffs(payoffs, match):
    with pytest.raises(ValueError, match=match):
        matrix.MatrixGame(payoffs)


def test_bad_constructor_shapes():
    with pytest.raises(ValueError, match=r"B: expected shape \(2, 3\) to match A \(mismatched action counts\)"):
        matrix.bimatrix(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"A: expected a \[rows, columns\] matrix"):
        matrix.zero_sum(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="A: expected finite values|payoffs: expected finite values"):
        matrix.zero_sum([[0.0, np.nan], [1.0, 0.0]])
    with pytest.raises(ValueError, match="P: expected a square"):
        matrix.preference_game(np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="num_actions"):
        matrix.random_game(None, (3,))
    with pytest.raises(ValueError, match="distribution: expected one of"):
        import jax

        matrix.random_zero_sum(jax.random.key(0), 3, "cauchy")


@pytest.mark.parametrize(
    "policy, match",
    [
        ((jnp.array([0.5, 0.5]), jnp.ones(3) / 3), r"policy\[0\]: expected shape \(3,\), got \(2,\)"),
        ((jnp.ones(3) / 3,), "expected 2 arrays"),
        (jnp.ones(3) / 3, "expected a tuple of 2 arrays"),
        ((jnp.array([1.2, -0.2, 0.0]), jnp.ones(3) / 3), r"policy\[0\]: expected non-negative"),
        ((jnp.ones(3) / 3, jnp.array([0.5, 0.4, 0.0])), r"policy\[1\]: expected probabilities summing to 1"),
        ((jnp.ones(3) / 3, jnp.array([np.nan, 0.5, 0.5])), r"policy\[1\]: expected finite"),
    ],
)
def test_bad_policies(policy, match):
    game = matrix.rock_paper_scissors()
    for fn in (jaxgames.exploitability, jaxgames.nash_conv, jaxgames.evaluate, jaxgames.best_response):
        with pytest.raises(ValueError, match=match):
            fn(game, policy)


@pytest.mark.parametrize(
    "factory, kwargs, match",
    [
        (solvers.mirror_descent, dict(learning_rate=0.0), "learning_rate: expected a finite value > 0"),
        (solvers.mirror_prox, dict(learning_rate=-1.0), "learning_rate: expected a finite value > 0"),
        (solvers.extragradient, dict(learning_rate=float("nan")), "learning_rate"),
        (solvers.optimistic_mirror_descent, dict(learning_rate=0), "learning_rate"),
        (solvers.mmd, dict(temperature=-0.1), "temperature: expected a finite value >= 0"),
        (solvers.extragradient, dict(temperature=0.1), "temperature: KL regularization needs geometry='entropic'"),
        (solvers.extragradient, dict(geometry="hyperbolic"), "geometry: expected one of"),
        (solvers.mirror_descent, dict(output="best"), "output: expected one of"),
        (solvers.fictitious_play, dict(step_size=1.5), r"step_size: expected a value in \(0, 1\]"),
        (solvers.fictitious_play, dict(temperature=-1.0), "temperature"),
        (solvers.regret_matching, dict(averaging="cubic"), "averaging: expected one of"),
        (solvers.mmd, dict(magnet_update_every=-3), "magnet_update_every"),
    ],
)
def test_bad_hyperparameters(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


def test_bad_run_arguments():
    game = matrix.matching_pennies()
    with pytest.raises(ValueError, match="num_steps: expected an integer >= 1"):
        solvers.run(solvers.mirror_prox(), game, 0)
    with pytest.raises(ValueError, match="solver: expected a solvers.Solver"):
        solvers.run(lambda g: g, game, 10)
    with pytest.raises(ValueError, match="game: expected a jaxgames game model"):
        solvers.run(solvers.mirror_prox(), np.ones((2, 2, 2)), 10)
    with pytest.raises(ValueError, match="solver: unknown name 'newton'"):
        solvers.make("newton")
    with pytest.raises(ValueError, match=r"magnet\[1\]: expected shape \(2,\)"):
        solvers.mmd(magnet=(jnp.ones(2) / 2, jnp.ones(3) / 3)).init(game)
