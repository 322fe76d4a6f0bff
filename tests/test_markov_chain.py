"""``jaxgames.markov_chain``: the one stationary-distribution routine (GTH state reduction).

Known values (two-state chains, a periodic chain, closed-form birth-death chains), the Cesàro limit of
a chain with several closed classes, entrywise relative accuracy on nearly reducible chains where a
linear solve of ``pi (I - P + 1 1^T) = 1^T`` loses the small entries, alpha-rank at large ``alpha``
against an mpmath reference, and jit/vmap.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgames.general_sum import alpha_rank as ar
from jaxgames.markov_chain import stationary_distribution, stationary_solve
from solvers import no_regret


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _linear_solve(P):
    """The routine this one replaced in alpha-rank: ``pi (I - P + 1 1^T) = 1^T``."""
    n = P.shape[0]
    return np.linalg.solve((np.eye(n) - P + 1.0).T, np.ones(n))


def test_known_values():
    np.testing.assert_allclose(stationary_distribution(jnp.array([[0.9, 0.1], [0.3, 0.7]])), [0.75, 0.25], rtol=1e-6)
    periodic = jnp.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(stationary_distribution(periodic), [1 / 3] * 3, rtol=1e-6)
    assert int(stationary_solve(periodic).closed_classes) == 1
    np.testing.assert_allclose(stationary_distribution(jnp.ones((1, 1))), [1.0])
    # the solvers' public name is this function, not a second implementation
    assert no_regret.stationary_distribution is stationary_distribution


def test_several_closed_classes_give_the_cesaro_limit_of_start():
    two_traps = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
    out = stationary_solve(two_traps, jnp.array([0.2, 0.0, 0.8]))
    np.testing.assert_allclose(out.distribution, [0.6, 0.4, 0.0], atol=1e-7)
    assert int(out.closed_classes) == 2
    # classes {0, 1} (stationary [1/3, 2/3]) and {2}; transient state 3 goes to each with 1/2
    Q = jnp.array([[0.5, 0.5, 0, 0], [0.25, 0.75, 0, 0], [0, 0, 1.0, 0], [0.25, 0.25, 0.5, 0]])
    from_3 = stationary_distribution(Q, jnp.array([0, 0, 0, 1.0]))
    np.testing.assert_allclose(from_3, [1 / 6, 1 / 3, 1 / 2, 0], atol=1e-6)
    np.testing.assert_allclose(stationary_distribution(Q, jnp.array([1.0, 0, 0, 0])), [1 / 3, 2 / 3, 0, 0], atol=1e-6)
    x = stationary_distribution(Q)  # uniform start: 1/2 + 1/8 to the first class, 1/4 + 1/8 to the trap
    np.testing.assert_allclose(x, [5 / 24, 10 / 24, 3 / 8, 0], atol=1e-6)
    # the same limit by brute force (the chain is aperiodic: start P^t converges)
    mu = np.full(4, 0.25)
    for _ in range(200):
        mu = mu @ np.asarray(Q, np.float64)
    np.testing.assert_allclose(x, mu, atol=1e-6)


def test_transient_states_get_zero_mass_exactly():
    # state 0 transient, {1, 2} closed: the fixed elimination order of textbook GTH would divide by 0 here
    P = jnp.array([[0.2, 0.8, 0.0], [0.0, 0.1, 0.9], [0.0, 0.6, 0.4]])
    out = stationary_solve(P)
    assert float(out.distribution[0]) == 0.0 and int(out.closed_classes) == 1
    np.testing.assert_allclose(out.distribution, [0, 0.4, 0.6], rtol=1e-6)


def test_nearly_reducible_birth_death_chain_is_entrywise_accurate(x64):
    """Birth-death chain, up-rates ``exp(-20 k)``: closed form ``pi_{k+1} / pi_k = p_k / q_{k+1}`` spans
    1e-180. GTH keeps every entry to 1e-13 relative; the linear solve loses all but the largest."""
    n = 8
    up = np.exp(-20.0 * np.arange(n - 1))
    down = np.full(n - 1, 0.5)
    P = np.zeros((n, n))
    P[np.arange(n - 1), np.arange(1, n)] = up
    P[np.arange(1, n), np.arange(n - 1)] = down
    P += np.diag(1.0 - P.sum(1))
    exact = np.concatenate([[0.0], np.cumsum(np.log(up) - np.log(down))])
    exact = np.exp(exact - np.logaddexp.reduce(exact))
    assert 1e-300 < exact.min() < 1e-150
    pi = np.asarray(stationary_distribution(jnp.asarray(P)))
    np.testing.assert_allclose(pi, exact, rtol=1e-13, atol=0)
    old = _linear_solve(P)
    assert np.max(np.abs(old - exact) / exact) > 1.0  # the failure this routine fixes


def _mp_reference(C, dps=60):
    """GTH in mpmath, fixed order, the root a state of the (single) closed class moved to index 0."""
    import mpmath as mp

    n = C.shape[0]
    pos = (C > 0) & ~np.eye(n, dtype=bool)
    reach = pos | np.eye(n, dtype=bool)
    for _ in range(n):
        reach = reach | ((reach.astype(int) @ reach.astype(int)) > 0)
    root = next(i for i in range(n) if all(reach[j, i] for j in range(n)))  # reached from every state
    order = [root]
    while len(order) < n:  # each next state reaches one already placed: every exit rate is positive
        order += [i for i in range(n) if i not in order and any(pos[i, j] for j in order)]
    perm = np.array(order)
    Cp = C[np.ix_(perm, perm)]
    with mp.workdps(dps):
        a = [[mp.mpf(float(Cp[i, j])) if i != j else mp.mpf(0) for j in range(n)] for i in range(n)]
        s = [mp.mpf(1)] * n
        for k in range(n - 1, 0, -1):
            s[k] = mp.fsum(a[k][:k])
            for i in range(k):
                f = a[i][k] / s[k]
                for j in range(k):
                    if i != j:
                        a[i][j] += f * a[k][j]
        pi = [mp.mpf(1)] + [mp.mpf(0)] * (n - 1)
        for k in range(1, n):
            pi[k] = mp.fsum(pi[j] * a[j][k] for j in range(k)) / s[k]
        total = mp.fsum(pi)
        out = np.array([float(p / total) for p in pi])
    result = np.zeros(n)
    result[perm] = out
    return result


@pytest.mark.parametrize("alpha", [10.0, 300.0])
def test_alpharank_large_alpha_matches_high_precision(x64, alpha):
    """alpha-rank's chain on a random 3x3x3 game: every entry to 1e-12 relative (tiny ones included)
    against GTH in 60-digit arithmetic. At alpha = 300 the old linear solve misranked the profiles."""
    from jaxgames import matrix

    game = matrix.random_game(jax.random.key(0), (3, 3, 3))
    result = ar.alpharank(game, alpha=alpha)
    C = np.asarray(result.transition)
    ref = _mp_reference(C)
    pi = np.asarray(result.pi)
    nz = ref > 0
    np.testing.assert_allclose(pi[nz], ref[nz], rtol=1e-12, atol=0)
    assert np.all(pi[~nz] == 0)
    if alpha == 300.0:
        assert np.max(np.abs(_linear_solve(C) - ref)) > 0.1


def test_jit_and_vmap_match_single_calls():
    keys = jax.random.split(jax.random.key(1), 5)
    chains = jax.vmap(lambda k: jax.random.dirichlet(k, jnp.full((6,), 0.3), (6,)))(keys)
    batched = jax.jit(jax.vmap(stationary_distribution))(chains)
    for k in range(5):
        x = stationary_distribution(chains[k])
        np.testing.assert_allclose(batched[k], x, atol=1e-6)
        np.testing.assert_allclose(x @ chains[k], x, atol=1e-6)
        np.testing.assert_allclose(jnp.sum(x), 1.0, atol=1e-6)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="chain: expected a square"):
        stationary_distribution(jnp.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="start: expected shape"):
        stationary_distribution(jnp.eye(2), jnp.ones(3) / 3)
