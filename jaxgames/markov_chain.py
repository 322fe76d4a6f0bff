"""The stationary distribution of a finite Markov chain, by GTH state reduction.

One implementation shared by alpha-rank (``jaxgames.general_sum.alpha_rank``), the internal-regret
learners (``solvers.no_regret``: the fixed point ``x Q = x`` of Blum & Mansour's and Hart &
Mas-Colell's swap chains) and whatever else needs ``pi P = pi``.

**Algorithm** (Grassmann, Taksar & Heyman 1985, "Regenerative analysis and steady state distributions
for Markov chains", Operations Research 33(5); Stewart 1994, *Introduction to the Numerical Solution
of Markov Chains*, Sec. 2.7). Only the off-diagonal entries ``a_ij`` of ``P`` are used (the diagonal
is implied by the row sums). Eliminate the states one at a time; removing state ``k`` from the set
``R`` of states left gives the chain watched only on ``R \\ {k}`` (the censored chain):

    s_k   = sum_{j in R, j != k} a_kj                      (k's exit rate within R)
    a_ij += a_ik a_kj / s_k     for i != j in R \\ {k}

then back-substitute the balance equations, ``pi_k s_k = sum_{j in R_k, j != k} pi_j a_jk``, from the
state(s) left at the end. Every operation adds, multiplies or divides non-negative numbers: there is
no subtraction, so each entry of ``pi`` (also one of 1e-200) comes out with a small *relative* error
however nearly reducible the chain is (O'Cinneide 1993). A linear solve of
``pi (I - P + 1 1^T) = 1^T`` (or a least-squares solve of ``[P^T - I; 1^T] pi = e``) subtracts
``1 - p_kk`` and loses every entry below ``eps * cond``; with alpha-rank's large ``alpha`` that
returned negative, NaN or simply wrong rankings (``tests/test_markov_chain.py``).

**Pivoting and several closed classes.** Each step eliminates the remaining state with the largest
exit rate ``s_k`` (so the stickiest state, usually the heaviest, is left as the root), and only a
state with ``s_k > 0``. A state with ``s_k = 0`` is absorbing in the censored chain; when every state
left is, each is the root of one closed (recurrent) class, and the rest were transient or belong to a
class. The result is then the long-run average of the chain started at ``start`` (the Cesàro limit
``lim_T 1/T sum_{t<T} start P^t``): the mass of ``start`` is carried along with each elimination
(``v_j += v_k a_kj / s_k``, the first entry of ``R \\ {k}`` from ``k``) onto the roots, giving the
probability of ending in each closed class, and each class's own distribution is normalized to that
mass. With one closed class (the usual case: an irreducible chain, or one with transient states) the
result is the unique stationary distribution whatever ``start``. Periodic chains need no special care.

Entries below the smallest normal number are treated as 0 (XLA on CPU flushes them to 0 anyway),
so "closed class" means closed in the floating-point chain. Cost: ``O(n^3)`` operations in ``n - 1``
sequential rank-one updates (``lax.fori_loop``), ``O(n^2)`` memory; jittable, vmappable, and
differentiable almost everywhere (the pivot order is piecewise constant). On small chains it is as
fast as an LU solve; on chains of hundreds of states the sequential loop is about 10x slower, the
price of the accuracy (``benchmarks/bench_stationary.py``).

Example::

    P = jnp.array([[0.9, 0.1], [0.3, 0.7]])
    stationary_distribution(P)                                  # [0.75, 0.25]
    traps = jnp.array([[1.0, 0, 0], [0, 1.0, 0], [0.5, 0.5, 0]])
    stationary_distribution(traps, jnp.array([0.2, 0, 0.8]))    # [0.6, 0.4, 0]: where the start ends up
    stationary_solve(traps).closed_classes                      # 2
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class StationarySolve(NamedTuple):
    """What ``stationary_solve`` returns.

    Attributes:
      distribution: ``[n]`` the stationary distribution (with several closed classes: the Cesàro
        limit of ``start P^t``).
      closed_classes: ``int32 []`` the number of closed (recurrent) classes of the floating-point chain:
        1 exactly when the stationary distribution is unique.
    """

    distribution: jax.Array
    closed_classes: jax.Array


def _check(chain, start):
    if chain.ndim != 2 or chain.shape[0] != chain.shape[1] or chain.shape[0] < 1:
        raise ValueError(f"chain: expected a square [n, n] row-stochastic matrix, got shape {tuple(chain.shape)}")
    if start is not None and start.shape != chain.shape[:1]:
        raise ValueError(
            f"start: expected shape {tuple(chain.shape[:1])} (a distribution over the states), got {tuple(start.shape)}"
        )


def stationary_solve(chain: jax.Array, start: jax.Array | None = None) -> StationarySolve:
    """The stationary distribution of the row-stochastic ``chain [n, n]`` and its number of closed classes.

    GTH state reduction with pivoting (see the module docstring). ``start [n]`` (default uniform) only
    matters when there are several closed classes: the result is then the long-run average of the
    chain started from ``start``. The diagonal of ``chain`` is ignored (implied by the row sums);
    rows are not validated here (a traced solver step calls this), so pass a stochastic matrix.

    Example::

        stationary_solve(jnp.array([[0.9, 0.1], [0.3, 0.7]]))   # StationarySolve([0.75, 0.25], 1)
    """
    chain = jnp.asarray(chain)
    if not jnp.issubdtype(chain.dtype, jnp.floating):
        chain = chain.astype(jnp.result_type(float))
    _check(chain, None if start is None else jnp.asarray(start))
    if chain.shape[0] == 1:
        return StationarySolve(jnp.ones((1,), chain.dtype), jnp.ones((), jnp.int32))
    return _solve(chain, start)


@jax.jit
def _solve(chain, start):
    n = chain.shape[0]
    dtype = chain.dtype
    idx = jnp.arange(n)
    off = idx[:, None] != idx[None, :]
    tiny = jnp.finfo(dtype).tiny
    a0 = jnp.where(off & (chain >= tiny), chain, 0.0)
    v0 = jnp.full((n,), 1.0 / n, dtype) if start is None else jnp.maximum(jnp.asarray(start, dtype), 0.0)
    never = jnp.int32(n)  # the elimination step of a root

    def eliminate(t, carry):
        a, v, alive, when, exit_rate = carry
        s = jnp.where(alive, jnp.sum(jnp.where(alive[None, :], a, 0.0), axis=1), -1.0)
        k = jnp.argmax(s)
        sk = s[k]
        go = sk >= tiny
        rest = alive & (idx != k)
        leave = jnp.where(rest, a[k], 0.0) / jnp.where(go, sk, 1.0)  # where k's chain enters R \ {k}
        into_k = jnp.where(rest, a[:, k], 0.0)
        a_new = a + jnp.where(off, into_k[:, None] * leave[None, :], 0.0)
        v_new = (v + v[k] * leave).at[k].set(0.0)
        return (
            jnp.where(go, a_new, a),
            jnp.where(go, v_new, v),
            jnp.where(go, rest, alive),
            jnp.where(go, when.at[k].set(t), when),
            jnp.where(go, exit_rate.at[k].set(sk), exit_rate),
        )

    init = (a0, v0, jnp.ones((n,), bool), jnp.full((n,), never, jnp.int32), jnp.ones((n,), dtype))
    a, v, roots, when, exit_rate = jax.lax.fori_loop(0, n - 1, eliminate, init)

    # back-substitution, last eliminated first; each state inherits the class label of its largest inflow
    order = jnp.argsort(when)  # state eliminated at step t is order[t] (roots last)
    pi0 = roots.astype(dtype)
    label0 = jnp.where(roots, idx, n)

    def substitute(i, carry):
        pi, label = carry
        t = n - 2 - i
        k = order[t]
        live = when[k] == t
        inflow = jnp.where(when > t, pi * a[:, k], 0.0)
        pi_k = jnp.sum(inflow) / exit_rate[k]
        lab_k = label[jnp.argmax(inflow)]
        return jnp.where(live, pi.at[k].set(pi_k), pi), jnp.where(live, label.at[k].set(lab_k), label)

    pi, label = jax.lax.fori_loop(0, n - 1, substitute, (pi0, label0))
    pi = jnp.where(pi > 0, pi, 0.0)
    safe_label = jnp.minimum(label, n - 1)
    class_mass = jax.ops.segment_sum(pi, safe_label, num_segments=n)  # [root] unnormalized class mass
    weight = jnp.where(roots, v, 0.0) / jnp.where(class_mass > 0, class_mass, 1.0)
    total_v = jnp.sum(jnp.where(roots, v, 0.0))
    dist = jnp.where(label < n, pi * weight[safe_label], 0.0) / jnp.where(total_v > 0, total_v, 1.0)
    return StationarySolve(dist, jnp.sum(roots).astype(jnp.int32))


def stationary_distribution(chain: jax.Array, start: jax.Array | None = None) -> jax.Array:
    """``[n]``: ``pi`` with ``pi P = pi``, ``sum pi = 1``, for the row-stochastic ``chain [n, n]``.

    The distribution of ``stationary_solve`` (GTH state reduction, entrywise accurate also on nearly
    reducible chains). Unique when the chain has one closed class; otherwise the long-run average of
    the chain started from ``start`` (default: uniform).

    Example::

        stationary_distribution(jnp.array([[0.9, 0.1], [0.3, 0.7]]))   # [0.75, 0.25]
    """
    return stationary_solve(chain, start).distribution
