"""Sparse Markov games (``SparseMarkovGame``): every method equal to the dense ``MarkovGame`` of the same model.

The dense peer is ``game.to_dense()`` (the ``transitions`` property scatters the sparse entries) or the
dense builder (grid games: ``sparse=False``); the sparse methods compute with gathers and never read it.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgames import markov
from jaxgames.markov.game import MarkovGame, SparseMarkovGame
from solvers import minimax_value_iteration
from solvers.core import iterate


def _policy(seed, game):
    rng = np.random.default_rng(seed)
    out = []
    for a in game.num_actions:
        w = rng.exponential(size=(game.num_states, a)) ** 2
        out.append(jnp.asarray(w / w.sum(1, keepdims=True), jnp.float32))
    return tuple(out)


def np_sparse(seed, S, actions, B, restart=0.2, zero_sum=False, **kwargs):
    """A random ``SparseMarkovGame`` from NumPy (no generator compile): ``B`` next states (repeats allowed)
    sharing ``1 - restart``, the rest restarting from a random ``initial``."""
    rng = np.random.default_rng(seed)
    nxt = rng.integers(0, S, size=(S, *actions, B))
    w = rng.exponential(size=(S, *actions, B))
    r = restart * rng.random((S, *actions))
    init = rng.exponential(size=S)
    rewards = rng.normal(size=(len(actions), S, *actions))
    if zero_sum:
        rewards[1] = -rewards[0]
    return SparseMarkovGame(
        nxt.astype(np.int32),
        (w / w.sum(-1, keepdims=True) * (1 - r)[..., None]).astype(np.float32),
        rewards.astype(np.float32),
        0.9,
        (init / init.sum()).astype(np.float32),
        r.astype(np.float32),
        **kwargs,
    )


@jax.jit
def metrics(game, policy, V):
    """Every exact quantity of the model at once (one compile per game type and shape)."""
    ev = game.evaluate(policy)
    return dict(
        values=ev.values,
        action_values=ev.action_values,
        reach=ev.reach[0],
        joint=game.joint_action_values(V),
        br_values=game.best_response_state_values(policy),  # Howard's policy iteration, per player
    )


@jax.jit
def values_and_br(game, policy):
    return game.evaluate(policy).values, game.best_response_values(policy)


values_of = jax.jit(lambda game, policy: game.evaluate(policy).values)


def _assert_close(a, b, rtol=2e-4, atol=2e-4):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol), a, b)


GAMES = {
    "three_players": lambda: np_sparse(1, 5, (2, 3, 2), 3),
    "pursuit_evasion": lambda: markov.pursuit_evasion(2, 2, discount=0.8, slip=0.25, sparse=True),
}


@pytest.mark.parametrize("name", sorted(GAMES))
def test_methods_equal_dense(name):
    sparse = GAMES[name]()
    assert isinstance(sparse, SparseMarkovGame)
    dense = sparse.to_dense()
    assert type(dense) is MarkovGame
    policy = _policy(2, sparse)
    V = jnp.asarray(np.random.default_rng(3).normal(size=(sparse.num_players, sparse.num_states)), jnp.float32)
    got, want = metrics(sparse, policy, V), metrics(dense, policy, V)
    _assert_close(got, want)
    # nash_conv (the base formula on these): a non-trivial check, the random policy is far from equilibrium
    nash_conv = jnp.sum(got["br_values"] @ sparse.initial - got["values"])
    assert float(nash_conv) > 1e-2


def test_grid_builders_agree():
    """The sparse grid games' transitions (entries + restart) equal the dense builders' tensors."""
    for sparse, dense in [
        (markov.grid_soccer(2, 3, draw_probability=0.1, sparse=True), markov.grid_soccer(2, 3, draw_probability=0.1)),
        (markov.pursuit_evasion(2, 3, slip=0.2, sparse=True), markov.pursuit_evasion(2, 3, slip=0.2, sparse=False)),
    ]:
        assert isinstance(sparse, SparseMarkovGame) and not isinstance(dense, SparseMarkovGame)
        assert sparse.branching <= 4
        np.testing.assert_allclose(sparse.transitions, dense.transitions, atol=1e-7)
        np.testing.assert_allclose(sparse.rewards, dense.rewards)
        np.testing.assert_allclose(sparse.initial, dense.initial)


def test_iterative_solve_matches_exact():
    """``dense_solve_states=0`` forces BiCGSTAB (the path of games above ``DENSE_SOLVE_MAX_STATES``)."""
    exact, iterative = np_sparse(4, 6, (3, 2), 2), np_sparse(4, 6, (3, 2), 2, dense_solve_states=0)
    policy = _policy(2, exact)
    _assert_close(values_and_br(iterative, policy), values_and_br(exact, policy), rtol=1e-4, atol=1e-4)


def test_from_dense_round_trip():
    dense = np_sparse(5, 6, (2, 3, 2), 2, restart=0.0).to_dense()
    sparse = SparseMarkovGame.from_dense(dense)
    assert sparse.branching <= 2
    np.testing.assert_array_equal(sparse.transitions, dense.transitions)


def test_minimax_value_iteration_equal():
    """A few steps of Shapley's value iteration: the same values and stage policies."""
    sparse = np_sparse(6, 5, (2, 2), 2, zero_sum=True)
    solver = minimax_value_iteration()
    run = jax.jit(lambda g: iterate(solver, g, solver.init(g), 4))
    a, b = run(sparse), run(sparse.to_dense())
    _assert_close((a.extra.values, a.policy), (b.extra.values, b.policy), atol=1e-5)
    assert float(jnp.max(jnp.abs(a.extra.values))) > 0.1


def test_vmap_over_sparse_games():
    keys = jax.random.split(jax.random.key(7), 3)
    games = jax.vmap(lambda k: markov.random_zero_sum(k, 4, 2, branching=2, sparse=True))(keys)
    assert games.next_states.shape == (3, 4, 2, 2, 2)
    policy = tuple(jnp.full((4, 2), 0.5) for _ in range(2))
    got = jax.jit(jax.vmap(values_of, (0, None)))(games, policy)
    for k in range(3):
        one = jax.tree.map(lambda x: x[k], games)
        want = values_of(one.to_dense(), policy)
        np.testing.assert_allclose(got[k], want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(got[0], got[1])


def test_simulator_step_distribution():
    """A step's next-state frequencies over a grid of uniforms equal the dense row (entries and restart)."""
    game = markov.pursuit_evasion(2, 3, slip=0.3, sparse=True)
    env = markov.MarkovEnv(game)
    state, _ = env.reset(jax.random.key(0))
    n = 6000
    us = (jnp.arange(n) + 0.5) / n

    @jax.jit
    def next_states(s, acts):
        start = state._replace(state=s)
        return jax.vmap(lambda u: env.step_with_noise(jnp.stack([u, 0.5]), start, acts)[0].state)(us)

    for s, acts in [(3, (0, 4)), (7, (2, 3))]:
        nxt = next_states(jnp.int32(s), jnp.array(acts))
        freq = np.bincount(np.asarray(nxt), minlength=game.num_states) / n
        np.testing.assert_allclose(freq, game.transitions[(s, *acts)], atol=2 / n)


def test_auto_sparse_and_size_errors(monkeypatch):
    # 3,000 states x 3 x 3: the dense tensor (324 MB in float32) passes SPARSE_ABOVE_BYTES, so sparse by default
    game = markov.random_zero_sum(jax.random.key(0), 3000, 3, branching=2, sparse=None)
    assert isinstance(game, SparseMarkovGame) and game.next_states.shape == (3000, 3, 3, 2)
    assert type(markov.random_zero_sum(jax.random.key(0), 8, 3, sparse=None)) is MarkovGame
    # sparse=None: the grid games pick sparse storage above 256 MiB of dense transitions (soccer from 5 x 6)
    assert isinstance(markov.grid_soccer(5, 6, sparse=None), SparseMarkovGame)
    with pytest.raises(ValueError, match=r"rows, cols: the sparse transitions \[1618200, 5, 5, 2\]"):
        markov.grid_soccer(30, 30, sparse=True)
    monkeypatch.setenv("JAXGAMES_MAX_BYTES", str(2**20))
    with pytest.raises(ValueError, match=r"transitions: the dense transition tensor \[3000, 3, 3, 3000\]"):
        _ = game.transitions


def _valid(**change):
    args = dict(
        next_states=np.array([[[0, 1]], [[1, 1]]]),
        next_probs=np.array([[[0.5, 0.5]], [[1.0, 0.0]]]),
        rewards=np.zeros((1, 2, 1)),
        discount=0.9,
        initial=np.array([1.0, 0.0]),
    )
    args.update(change)
    return SparseMarkovGame(**args)


def test_bad_input_names_the_field():
    assert _valid().num_states == 2
    with pytest.raises(ValueError, match=r"next_states: expected state indices in \[0, 2\), found 2"):
        _valid(next_states=np.array([[[0, 2]], [[1, 1]]]))
    with pytest.raises(ValueError, match=r"next_states: expected state indices in \[0, 2\), found -1"):
        _valid(next_states=np.array([[[0, -1]], [[1, 1]]]))
    with pytest.raises(ValueError, match="next_states: expected integer"):
        _valid(next_states=np.zeros((2, 1, 2)))
    with pytest.raises(ValueError, match="next_probs"):
        _valid(next_probs=np.array([[[0.5, 0.4]], [[1.0, 0.0]]]))
    with pytest.raises(ValueError, match="next_probs: expected the shape of next_states"):
        _valid(next_probs=np.array([[[1.0]], [[1.0]]]))
    with pytest.raises(ValueError, match=r"next_states: expected shape \[S, A_1, ..., A_N, B\]"):
        _valid(next_states=np.zeros((3, 1, 2), int))
    with pytest.raises(ValueError, match="restart: expected shape"):
        _valid(restart=np.zeros(2))
    with pytest.raises(ValueError, match="next_probs"):  # rows with restart must sum to 1
        _valid(restart=np.array([[0.5], [0.0]]))
    with pytest.raises(ValueError, match="horizon"):
        _valid(horizon=3)
    with pytest.raises(ValueError, match="sparse: expected True or False"):
        markov.random_zero_sum(jax.random.key(0), 4, 2, sparse="yes")
