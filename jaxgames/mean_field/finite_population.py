"""Exact N-agent exploitability of a mean-field policy, for 2-state models (no Monte Carlo).

The N-agent game is the one ``NAgentEnv`` simulates: N agents start i.i.d. from
``mu_0``, each collects ``r_t(x_i, a_i, emp_t)`` and moves by
``P_t(. | x_i, a_i, emp_t)``, ``emp_t`` the empirical distribution of all N
agents (the deviator included). Agents 1..N-1 play the policy ``pi`` ``[T, 2, A]``;
agent 0 (the *deviator*) best-responds.

Deviations considered (Saldi, Basar & Raginsky 2018, "Markov-Nash equilibria in
mean-field games with discounted cost", the standard epsilon-Nash notion): the
deviator may use any Markov policy of the full N-agent state. Because the others
are exchangeable and play the same policy, the deviator's problem is an MDP on
``(t, own state x, k)`` with ``k`` the number of OTHER agents in state 1, so
``emp_t = ((N - 1 - k + [x = 0]), (k + [x = 1])) / N``. Given ``(x, k)`` the others
move independently: each other agent in state ``y`` is in state 1 next with
probability ``q_y = sum_a pi_t(a|y) P_t(1 | y, a, emp_t)``, so::

    k' = Binomial(N - 1 - k, q_0) + Binomial(k, q_1)            (independent of x')
    Q_t(x, k, a) = r_t(x, a, emp) + sum_{x'} P_t(x' | x, a, emp) E[V_{t+1}(x', k') | k]
    V^BR_t = max_a Q_t,   V^pi_t = sum_a pi_t(a|x) Q_t,  V_T = 0

and ``k_0 ~ Binomial(N - 1, mu_0(1))``. The kernel ``M[k, k']`` (the
convolution of the two binomials) is built for all k at once with an FFT,
``O(N^2 log N)`` per time step; everything is one ``lax.scan`` over time.
``gain = J^BR - J^pi`` is the N-agent exploitability of ``pi`` (>= 0: the best
response can always copy ``pi``).

At a mean-field equilibrium ``pi*`` the gain tends to the mean-field
exploitability (0) as N grows: the deviator exploits the O(1/sqrt(N)) fluctuations
of ``emp`` around ``mu`` where ``pi*`` mixes (indifferent actions), which gives
``O(1/sqrt(N))``; where ``pi*`` is strict the fluctuations rarely flip the best
action and those states contribute much less. ``tests/test_mean_field_env.py``
cross-checks ``J^BR`` and ``J^pi`` against ``NAgentEnv`` Monte Carlo and fits the rate.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

from jaxgames.core import Policy, is_concrete
from jaxgames.mean_field.game import MeanFieldGame, check_tables
from jaxgames.validation import check_int


class FinitePopulationValues(NamedTuple):
    """Exact N-agent values of one deviator (agent 0) against N - 1 agents playing ``pi``.

    ``best_value``: ``J^BR`` (deviator best-responds, seeing ``(t, x, k)``);
    ``policy_value``: ``J^pi`` (deviator plays ``pi`` too: the symmetric N-agent value);
    ``gain``: ``J^BR - J^pi``, the N-agent exploitability;
    ``best_response``: ``[T, 2, N, A]`` one-hot, the deviator's action at ``(t, x, k)``.
    """

    best_value: jax.Array
    policy_value: jax.Array
    gain: jax.Array
    best_response: jax.Array


def binomial_pmf(n, p, size: int) -> jax.Array:
    """``[..., size]``: ``P(Binomial(n, p) = j)`` for ``j = 0 .. size-1`` (0 for ``j > n`` or ``n < 0``).

    ``n`` integer-valued (``<= size``, may be traced), broadcasting against ``p``.
    Log-factorials come from one table, so ``[size, size]`` pmfs cost gathers, not ``gammaln`` calls.
    """
    p = jnp.asarray(p)
    dtype = jnp.result_type(p.dtype, float)
    p = jnp.clip(p.astype(dtype), 0.0, 1.0)[..., None]
    n = jnp.asarray(n).astype(jnp.int32)[..., None]
    j = jnp.arange(size, dtype=jnp.int32)
    log_fact = gammaln(jnp.arange(size + 1, dtype=dtype) + 1.0)
    inside = (j <= n) & (n >= 0)
    m = jnp.where(inside, n - j, 0)
    jf, mf = j.astype(dtype), m.astype(dtype)
    logpmf = (
        log_fact[jnp.clip(n, 0, size)]
        - log_fact[j]
        - log_fact[m]
        + jnp.where(j > 0, jf * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)
        + jnp.where(m > 0, mf * jnp.log1p(-jnp.where(p < 1, p, 0.0)), 0.0)
    )
    # p = 0 (or 1) puts all mass on j = 0 (or j = n)
    possible = jnp.where(p > 0, True, j == 0) & jnp.where(p < 1, True, m == 0)
    return jnp.where(inside & possible, jnp.exp(logpmf), 0.0)


def _count_kernel(num_agents, size: int, q0, q1) -> jax.Array:
    """``[size, size]``: ``M[k, k'] = P(Bin(N-1-k, q0[k]) + Bin(k, q1[k]) = k')`` for ``k <= N - 1``.

    ``N = num_agents`` may be traced (rows ``k > N - 1`` are padding: all zero).
    """
    k = jnp.arange(size)
    a = binomial_pmf(num_agents - 1 - k, q0, size)
    b = binomial_pmf(k, q1, size)
    length = 2 * size
    conv = jnp.fft.irfft(jnp.fft.rfft(a, length) * jnp.fft.rfft(b, length), length)[:, :size]
    conv = jnp.maximum(conv.astype(a.dtype), 0.0)  # FFT round-off can leave tiny negatives
    conv = jnp.where(k[None, :] <= num_agents - 1, conv, 0.0)
    total = jnp.sum(conv, axis=-1, keepdims=True)
    return jnp.where(total > 0, conv / jnp.where(total > 0, total, 1.0), 0.0)


def _check_traced_count(n, size: int) -> jax.Array:
    """``num_agents`` with ``max_agents`` given: a concrete int in ``[2, size]``, or a traced integer scalar."""
    if is_concrete(n):
        return jnp.asarray(check_int(n, "num_agents", 2, size))
    if jnp.ndim(n) != 0 or not jnp.issubdtype(jnp.result_type(n), jnp.integer):
        raise ValueError(
            f"num_agents: expected an integer scalar, got a traced {jnp.result_type(n)} value "
            f"of shape {tuple(jnp.shape(n))}"
        )
    return n


def n_agent_values(
    game: MeanFieldGame, policy: Policy, num_agents, max_agents: int | None = None, *, max_bytes: int | None = None
) -> FinitePopulationValues:
    """Exact N-agent values and exploitability of ``policy`` (see the module docstring); jittable.

    ``game`` must have 2 states. ``num_agents`` >= 2 is a static int, or, when
    ``max_agents`` (static) is given, any int <= ``max_agents`` that may be traced:
    counts are then padded to ``max_agents`` so one compilation (or one
    ``jax.vmap``) serves every N. ``best_response`` has ``max_agents`` count entries then.
    ``max_bytes`` caps the count kernels (about four ``[2, N, 2N]`` arrays per time step);
    ``None`` is the default (4 GiB or ``JAXGAMES_MAX_BYTES``).
    """
    if not isinstance(game, MeanFieldGame):
        raise ValueError(f"game: expected a MeanFieldGame, got {type(game).__name__}")
    if game.num_states != 2:
        raise ValueError(
            f"game: expected a 2-state model (the exact N-agent recursion tracks the count "
            f"of others in state 1), got {game.num_states} states"
        )
    if max_agents is None:
        size = n = check_int(num_agents, "num_agents", low=2)
        field = "num_agents"
    else:
        size = check_int(max_agents, "max_agents", low=2)
        n = _check_traced_count(num_agents, size)
        field = "max_agents"
    check_tables(
        [
            (
                field,
                f"the count kernels of the N-agent recursion, about 4 x [2, N, 2N] with N = {size}",
                (4, 2, size, 2 * size),
            )
        ],
        max_bytes,
    )
    pi = game.validate_policy(policy)[0]
    dtype = pi.dtype
    k = jnp.arange(size)
    mask = jnp.asarray(game.action_mask())
    # emp[x, k] = ((N-1-k + [x=0]), (k + [x=1])) / N  (padding rows clipped to a valid count)
    k_eff = jnp.minimum(k, n - 1)
    own = jnp.eye(2, dtype=dtype)
    others = jnp.stack([n - 1 - k_eff, k_eff], axis=-1).astype(dtype)  # [K, 2]
    emp = (others[None, :, :] + own[:, None, :]) / jnp.asarray(n, dtype)  # [2(x), K, 2]

    def backward(carry, inputs):
        v_br, v_pi = carry  # [2(x'), N(k')] each
        t, pi_t = inputs
        trans = jax.vmap(jax.vmap(lambda m: game.transition(t, m)))(emp).astype(dtype)  # [x, N, S, A, S']
        rew = jax.vmap(jax.vmap(lambda m: game.reward(t, m)))(emp).astype(dtype)  # [x, N, S, A]
        xs = jnp.arange(2)
        own_p = trans[xs, :, xs]  # [x, N, A, x']
        own_r = rew[xs, :, xs]  # [x, N, A]
        q_next = jnp.einsum("ya,xkya->xky", pi_t, trans[..., 1])  # [x, N, y]
        kernel = jax.vmap(lambda q: _count_kernel(n, size, q[:, 0], q[:, 1]))(q_next)  # [x, N, N]
        cont_br = jnp.einsum("xkl,yl->xky", kernel, v_br)  # E[V(x', k') | x, k]
        cont_pi = jnp.einsum("xkl,yl->xky", kernel, v_pi)
        q_br = own_r + jnp.einsum("xkay,xky->xka", own_p, cont_br)
        q_pi = own_r + jnp.einsum("xkay,xky->xka", own_p, cont_pi)
        masked = jnp.where(mask[:, None, :], q_br, -jnp.inf)
        new_br = jnp.max(masked, axis=-1)
        new_pi = jnp.sum(pi_t[:, None, :] * jnp.where(mask[:, None, :], q_pi, 0.0), axis=-1)
        best = jax.nn.one_hot(jnp.argmax(masked, axis=-1), game.num_actions, dtype=dtype)
        return (new_br, new_pi), best

    zeros = jnp.zeros((2, size), dtype)
    (v_br, v_pi), best = jax.lax.scan(backward, (zeros, zeros), (jnp.arange(game.horizon), pi), reverse=True)
    mu0 = game.initial.astype(dtype)
    start = mu0[:, None] * binomial_pmf(n - 1, mu0[1], size)[None, :]  # [x, k] at t = 0
    best_value = jnp.sum(start * v_br)
    policy_value = jnp.sum(start * v_pi)
    return FinitePopulationValues(best_value, policy_value, best_value - policy_value, best)


def n_agent_exploitability(
    game: MeanFieldGame, policy: Policy, num_agents, max_agents: int | None = None, *, max_bytes: int | None = None
) -> jax.Array:
    """``J^BR - J^pi`` in the N-agent game (exact; see ``n_agent_values``)."""
    return n_agent_values(game, policy, num_agents, max_agents, max_bytes=max_bytes).gain
