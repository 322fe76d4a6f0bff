"""Alpha-rank (Omidshafiei et al. 2019, "alpha-Rank: Multi-Agent Evaluation by Evolution"), in JAX.

Alpha-rank ranks pure strategy profiles by the stationary distribution ``pi`` of a Markov chain over
monomorphic populations. From profile ``s``, one population ``k`` mutates to a strategy ``r_k``
(each of the ``sum_k (A_k - 1)`` mutations with probability ``eta = 1 / sum_k (A_k - 1)``) and the
mutant fixates with the Fermi-process probability

    rho(u) = (1 - exp(-u)) / (1 - exp(-m u)),   u = alpha (f_k(r) - f_k(s))

(``1 / m`` at ``u = 0``), for a population of ``m`` agents and selection intensity ``alpha``. The
transition matrix is ``C[s, r] = eta rho``, ``C[s, s] = 1 - sum_r C[s, r]``, and ``pi C = pi``.

* **Multi-population** (``N >= 2`` tables ``[A_1, ..., A_N]``, or a ``MatrixGame``): one population
  per player; profiles are joint actions, numbered in C order (the last player's action fastest),
  as OpenSpiel's ``utils.get_id_from_strat_profile``.
* **Single population** (one ``[K, K]`` table ``M``, ``M[r, s]`` the payoff of ``r`` against ``s``:
  a symmetric two-player game): profiles are strategies, ``eta = 1 / (K - 1)``. With the local
  selection model (the default, as in OpenSpiel), ``u = alpha (M[r, s] - M[s, r])``. Without it the
  fitness is the mutant's average against the population: in a constant-sum game
  ``u = alpha m / (m - 1) (M[r, s] - (M + M^T)[0, 0] / 2)``, else the general Moran sum
  ``rho = 1 / (1 + sum_{l=1}^{m-1} prod_{p=1}^{l} exp(-alpha (f_r(p) - f_s(m - p))))``.
* **Infinite alpha** (``use_inf_alpha=True``): ``rho`` becomes ``1 - eps`` toward a better
  payoff, ``eps`` toward a worse one and ``1/2`` between equal ones (``eps = inf_alpha_eps``).

The fixation probabilities are evaluated in a stable closed form (``expm1``; a log-sum-exp for the
Moran sum), so large ``alpha`` underflows to 0 rather than overflowing to NaN. ``pi C = pi`` is
solved by GTH state reduction (``jaxgames.markov_chain.stationary_distribution``): no subtraction, so
every entry, also one of 1e-200 at large ``alpha``, keeps a small relative error, where a linear
solve of ``pi (I - C + 1 1^T) = 1^T`` could return wrong rankings. It equals OpenSpiel's
``open_spiel.python.egt.alpharank.compute(payoff_tables, m=..., alpha=...)`` (``tests/test_evolution.py``,
1e-8). Jittable and vmappable over games and ``alpha``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.markov_chain import stationary_solve
from jaxgames.matrix.game import MatrixGame
from jaxgames.validation import (
    as_float_array,
    check_bool,
    check_finite,
    check_int,
    check_scalar,
    check_table,
    is_concrete,
)

#: OpenSpiel's tolerance for "the same payoff" (``np.isclose(a, b, atol=1e-14)``; its default ``rtol=1e-5``)
#: and for ``u == 0`` in the fixation probability.
_ATOL = 1e-14
_RTOL = 1e-5


class AlphaRankResult(NamedTuple):
    """What ``alpharank`` returns.

    Attributes:
      pi: ``[P]`` the stationary distribution over profiles (the alpha-rank scores): ``P = K``
        strategies (single population) or ``prod_k A_k`` joint profiles in C order.
      marginals: per population, ``[A_k]`` the mass of each of its strategies under ``pi`` (the
        alpha-rank of each player's strategies); ``(pi,)`` for a single population.
      transition: ``[P, P]`` the Markov transition matrix ``C``.
      fixation: ``[P, P]`` the fixation probabilities ``rho[s, r]`` of the mutations (0 elsewhere),
        as OpenSpiel's ``rhos``; with ``use_inf_alpha`` their limits ``1 - eps``, ``eps`` or ``1/2``.
    """

    pi: jax.Array
    marginals: tuple
    transition: jax.Array
    fixation: jax.Array


def fixation_probability(u, m) -> jax.Array:
    """``rho(u) = (1 - exp(-u)) / (1 - exp(-m u))``, ``1 / m`` where ``|u| <= 1e-14`` (OpenSpiel's cut).

    Evaluated stably as ``expm1(-|u|) / expm1(-m |u|) * exp(-(m - 1) max(-u, 0))`` (no overflow for
    large ``-u``, no cancellation for small ``|u|``).
    """
    small = jnp.abs(u) <= _ATOL
    a = jnp.where(small, 1.0, jnp.abs(u))
    ratio = jnp.expm1(-a) / jnp.expm1(-m * a)
    rho = ratio * jnp.exp(-(m - 1) * jnp.maximum(-u, 0.0))
    return jnp.where(small, 1.0 / m, rho)


def _isclose(a, b):
    return jnp.abs(a - b) <= _ATOL + _RTOL * jnp.abs(b)


def _inf_alpha(better_payoff, current_payoff, eps):
    """The infinite-alpha fixation limits (OpenSpiel's comparison, with ``isclose`` relative to ``current``)."""
    return jnp.where(
        _isclose(better_payoff, current_payoff),
        0.5,
        jnp.where(better_payoff > current_payoff, 1.0 - eps, eps),
    )


def _moran_fixation(M, alpha, m):
    """``[K, K]`` the general (non-local, not constant-sum) single-population fixation ``rho[s, r]``."""
    p = jnp.arange(1, m, dtype=M.dtype)  # p_r = 1 .. m-1
    d = jnp.diagonal(M)
    Mrs = M.T[:, :, None]  # [s, r] -> M[r, s]
    Msr = M[:, :, None]  # [s, r] -> M[s, r]
    Mrr = d[None, :, None]
    Mss = d[:, None, None]
    f_r = (p - 1) / (m - 1) * Mrr + (m - p) / (m - 1) * Mrs
    f_s = (m - p - 1) / (m - 1) * Mss + p / (m - 1) * Msr
    logs = -alpha * jnp.cumsum(f_r - f_s, axis=-1)  # log prod_{p <= l}, l = 1 .. m-1
    logs = jnp.concatenate([jnp.zeros_like(logs[..., :1]), logs], axis=-1)
    return jnp.exp(-jax.nn.logsumexp(logs, axis=-1))


def _single_population(M, alpha, m, local, inf_alpha, eps):
    K = M.shape[0]
    eta = 1.0 / (K - 1)
    Mrs, Msr = M.T, M  # [s, r]
    if inf_alpha:
        rho = _inf_alpha(Mrs, Msr, eps)
    elif local:
        rho = fixation_probability(alpha * (Mrs - Msr), m)
    else:
        sums = M + M.T
        constant_sum = jnp.all(_isclose(sums, sums[0, 0]))
        closed = fixation_probability(alpha * m / (m - 1) * (Mrs - sums[0, 0] / 2), m)
        rho = jnp.where(constant_sum, closed, _moran_fixation(M, alpha, m))
    off = ~jnp.eye(K, dtype=bool)
    rho = jnp.where(off, rho, 0.0)
    return rho, eta * rho


def _multi_population(tables, alpha, m, inf_alpha, eps):
    sizes = tables.shape[1:]
    n = len(sizes)
    P = math.prod(sizes)
    eta = 1.0 / sum(a - 1 for a in sizes)
    ids = jnp.arange(P).reshape(sizes)
    strides = [math.prod(sizes[k + 1 :]) for k in range(n)]
    rho = jnp.zeros((P, P), tables.dtype)
    for k in range(n):
        T = tables[k]
        f_s = T[..., None]  # [A_1..A_N, 1]: the current profile's payoff
        f_r = jnp.expand_dims(jnp.moveaxis(T, k, -1), k)  # [.., 1 at k, .., A_k]: after k mutates to r
        if inf_alpha:
            rk = _inf_alpha(f_r, f_s, eps)
        else:
            rk = fixation_probability(alpha * (f_r - f_s), m)
        rk = jnp.broadcast_to(rk, (*sizes, sizes[k]))
        own = jnp.arange(sizes[k])
        current = jnp.expand_dims(jnp.arange(sizes[k]), [j for j in range(n) if j != k])  # s_k, broadcast
        mutant = own.reshape((1,) * n + (sizes[k],))
        rk = jnp.where(current[..., None] == mutant, 0.0, rk)  # no self-mutation
        cols = ids[..., None] + (mutant - current[..., None]) * strides[k]
        rows = jnp.broadcast_to(ids[..., None], cols.shape)
        rho = rho.at[rows.reshape(-1), cols.reshape(-1)].add(rk.reshape(-1))
    return rho, eta * rho


def _compute(tables, alpha, eps, m, single, local, inf_alpha, moran_m):
    """``m`` is an array, except in the single-population Moran sum (its length), where ``moran_m`` holds it."""
    if moran_m is not None:
        m = moran_m
    if single:
        rho, c = _single_population(tables, alpha, m, local, inf_alpha, eps)
        sizes = (tables.shape[0],)
    else:
        rho, c = _multi_population(tables, alpha, m, inf_alpha, eps)
        sizes = tables.shape[1:]
    C = c + jnp.diag(1.0 - jnp.sum(c, axis=1))
    pi, closed_classes = stationary_solve(C)
    if single:
        marginals = (pi,)
    else:
        joint = pi.reshape(sizes)
        n = len(sizes)
        marginals = tuple(jnp.sum(joint, axis=tuple(j for j in range(n) if j != k)) for k in range(n))
    return AlphaRankResult(pi=pi, marginals=marginals, transition=C, fixation=rho), closed_classes


_compute_jit = jax.jit(_compute, static_argnames=("single", "local", "inf_alpha", "moran_m"))


def _from_hpts(hpts):
    """OpenSpiel heuristic payoff tables (``egt.heuristic_payoff_table``) as payoff matrices, read as
    OpenSpiel's ``alpharank._get_payoff`` reads them: the payoff of population ``k`` at profile ``s``
    is ``hpt_k[distribution(s)][s_k]`` (one HPT of two players for a single population)."""
    if not all(getattr(t, "is_hpt", False) for t in hpts):
        raise ValueError("payoff_tables: expected every table to be a heuristic payoff table, or none")
    if len(hpts) == 1:
        (hpt,) = hpts
        if hpt.num_players != 2:
            raise ValueError(
                "payoff_tables: a single-population heuristic payoff table must have 2 players (alpha-rank's "
                f"pairwise interactions, as in OpenSpiel), got {hpt.num_players}"
            )
        sizes = (hpt.num_strategies, hpt.num_strategies)
    else:
        sizes = tuple(int(t.num_strategies) for t in hpts)
    table = np.zeros((len(hpts), *sizes))
    for profile in np.ndindex(*sizes):
        for k, hpt in enumerate(hpts):
            distribution = tuple(hpt.get_distribution_from_profile(list(profile)))
            table[(k, *profile)] = np.asarray(hpt[distribution])[profile[k]]
    if len(hpts) == 1:
        return jnp.asarray(table[0]), True
    return jnp.asarray(table), False


def _tables(payoff_tables):
    """``(tables, single)``: a ``[K, K]`` table (single population) or ``[N, A_1..A_N]`` tables."""
    if isinstance(payoff_tables, MatrixGame):
        return payoff_tables.payoffs, False
    if isinstance(payoff_tables, (list, tuple)) and payoff_tables and getattr(payoff_tables[0], "is_hpt", False):
        return _from_hpts(payoff_tables)
    if isinstance(payoff_tables, (list, tuple)):
        if not payoff_tables:
            raise ValueError("payoff_tables: expected at least one payoff table, got an empty sequence")
        shapes = {np.shape(t) for t in payoff_tables}
        if len(shapes) != 1:
            raise ValueError(f"payoff_tables: expected tables of one shape, got shapes {sorted(shapes)}")
        tables = jnp.stack([as_float_array(t, "payoff_tables") for t in payoff_tables])
    else:
        tables = as_float_array(payoff_tables, "payoff_tables")
        if tables.ndim == 2:
            tables = tables[None]
    n = tables.shape[0]
    if n == 1 and tables.ndim == 3:
        if tables.shape[1] != tables.shape[2]:
            raise ValueError(
                f"payoff_tables: a single population needs a square [K, K] table, got shape {tuple(tables.shape[1:])}"
            )
        return tables[0], True
    if n < 2 or tables.ndim != n + 1:
        raise ValueError(
            "payoff_tables: expected one [K, K] table (single population) or N >= 2 tables of shape "
            f"[A_1, ..., A_N] (N populations), got {n} table(s) of shape {tuple(tables.shape[1:])}"
        )
    return tables, False


def alpharank(
    payoff_tables,
    alpha=100.0,
    population_size: int = 50,
    *,
    use_local_selection_model: bool = True,
    use_inf_alpha: bool = False,
    inf_alpha_eps=0.01,
    max_bytes=None,
) -> AlphaRankResult:
    """Alpha-rank: the stationary distribution of the evolutionary Markov chain over profiles.

    Builds the transition matrix ``C`` of the module docstring (single or multi-population) and
    solves ``pi C = pi``. Defaults and semantics are OpenSpiel's ``alpharank.compute(payoff_tables,
    m=50, alpha=100, use_local_selection_model=True, use_inf_alpha=False, inf_alpha_eps=0.01)``.

    Args:
      payoff_tables: a ``MatrixGame`` or ``N >= 2`` tables ``[A_1, ..., A_N]`` (a list or an
        ``[N, A_1, ..., A_N]`` array; multi-population), or one ``[K, K]`` table (a list of one, or
        the matrix: single population, ``M[r, s]`` the payoff of ``r`` against ``s``). For a
        symmetric two-player ``MatrixGame`` pass ``game.payoffs[0]`` for the single-population ranking.
        A list of OpenSpiel heuristic payoff tables (``egt.heuristic_payoff_table``) is read as
        OpenSpiel reads it (not under ``jit``: they are Python objects).
      alpha: selection intensity ``> 0`` (may be traced: ``vmap`` over alphas). Unused with ``use_inf_alpha``.
      population_size: ``m >= 2`` agents per population (static).
      use_local_selection_model: single population only: fitness against the current opponent
        (OpenSpiel's default) rather than the population average.
      use_inf_alpha: the infinite-alpha limit, perturbed by ``inf_alpha_eps`` in ``(0, 1)``.
      max_bytes: the largest ``[P, P]`` transition matrix allowed (default 4 GiB).

    Returns:
      ``AlphaRankResult(pi, marginals, transition, fixation)``. Outside ``jit`` a chain with more
      than one stationary distribution (``alpha`` so large that fixation probabilities underflow to
      0, as OpenSpiel also refuses) raises ``ValueError``; under ``jit`` / ``vmap`` ``pi`` is then
      the long-run average from the uniform start, and
      ``jaxgames.markov_chain.stationary_solve(result.transition).closed_classes`` tells (1: unique).

    Example:
      >>> rps = jnp.array([[0., -1, 1], [1, 0, -1], [-1, 1, 0]])
      >>> alpharank(rps, alpha=1.0, population_size=20).pi          # [1/3, 1/3, 1/3]
      >>> from jaxgames import matrix
      >>> games = jax.vmap(lambda k: matrix.random_game(k, (3, 3, 3)).payoffs)(jax.random.split(jax.random.key(0), 100))
      >>> jax.vmap(lambda P: alpharank(P, alpha=10.0).pi)(games).shape    # (100, 27)
    """
    tables, single = _tables(payoff_tables)
    check_finite(tables, "payoff_tables")
    m = check_int(population_size, "population_size", low=2)
    use_local_selection_model = check_bool(use_local_selection_model, "use_local_selection_model")
    use_inf_alpha = check_bool(use_inf_alpha, "use_inf_alpha")
    if use_inf_alpha:
        check_scalar(inf_alpha_eps, "inf_alpha_eps", 0, 1, low_open=True, high_open=True)
    else:
        check_scalar(alpha, "alpha", 0, None, low_open=True)
    sizes = (tables.shape[0],) if single else tuple(tables.shape[1:])
    P = math.prod(sizes)
    check_table((P, P), "payoff_tables", "the alpha-rank transition matrix", max_bytes, tables.dtype)
    if P == 1:  # one profile: OpenSpiel's trivial chain
        one = jnp.ones((1,), tables.dtype)
        return AlphaRankResult(pi=one, marginals=tuple(one for _ in sizes), transition=one[None], fixation=one[None])
    dtype = tables.dtype
    alpha = jnp.asarray(alpha if not use_inf_alpha else 1.0, dtype)
    eps = jnp.asarray(inf_alpha_eps, dtype)
    moran_m = m if single and not use_local_selection_model and not use_inf_alpha else None
    m_array = jnp.asarray(m, dtype)
    result, closed_classes = _compute_jit(
        tables, alpha, eps, m_array, single, use_local_selection_model, use_inf_alpha, moran_m
    )
    if is_concrete(closed_classes):
        _check_unique(int(closed_classes), result.pi)
    return result


def _check_unique(closed: int, pi) -> None:
    """Raise when the chain has more than one closed class (several stationary distributions), or when
    ``pi`` overflowed (ratios of stationary masses beyond the dtype's range)."""
    if closed != 1:
        raise ValueError(
            f"alpha: the alpha-rank Markov chain has {closed} closed classes, so more than one stationary "
            "distribution (fixation probabilities underflowed to 0); lower alpha or population_size, "
            "use use_inf_alpha=True, or enable jax_enable_x64"
        )
    if not np.all(np.isfinite(np.asarray(pi))):
        raise ValueError(
            f"alpha: the stationary distribution overflowed in {np.asarray(pi).dtype} (masses more than the "
            "dtype's range apart); lower alpha or enable jax_enable_x64"
        )
