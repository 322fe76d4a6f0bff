"""Finite-state, finite-horizon mean-field games: the shared model and its exact metrics.

A mean-field game (MFG) is played by a continuum of identical agents; the
*representative player* sees only its own state ``x`` and the population's
state distribution, the *mean field* ``mu_t``. A model gives, as pure functions
of the time index ``t`` (a traced int) and the current mean field ``mu`` ``[S]``:

* ``transition(t, mu) -> [S, A, S']``: ``P_t(x' | x, a, mu)``;
* ``reward(t, mu)     -> [S, A]``:    ``r_t(x, a, mu)``;

plus ``initial`` ``[S]`` (``mu_0``), ``horizon`` ``T`` and an optional action
mask. A policy is ``(pi,)`` with ``pi`` of shape ``[T, S, A]``, ``pi[t, x, a]``
the probability of action ``a`` in state ``x`` at time ``t``.

Exact metrics, each one ``lax.scan`` over time (no Python loops over states):

* mean field (forward equation)::

      mu_0 = initial,  mu_{t+1}(x') = sum_{x,a} mu_t(x) pi_t(a|x) P_t(x'|x,a,mu_t)

* value of a policy ``pi'`` against the mean field ``mu = mu(pi)`` (backward induction)::

      V_T = 0,  Q_t(x,a) = r_t(x,a,mu_t) + sum_x' P_t(x'|x,a,mu_t) V_{t+1}(x'),
      V_t(x) = sum_a pi'_t(a|x) Q_t(x,a),       J(pi', mu) = sum_x mu_0(x) V_0(x)

  (``max_a`` for the best response; ``tau log sum_a ref(a|x) exp(Q/tau)`` for
  the entropy/KL-regularised "soft" best response).
* exploitability (OpenSpiel's MFG ``NashConv``)::

      exploitability(pi) = max_pi' J(pi', mu(pi)) - J(pi, mu(pi))  >= 0,

  zero exactly at a mean-field Nash equilibrium (Lasry & Lions 2007; Huang,
  Malhame & Caines 2006; discrete time: Perrin et al. 2020, Laurière et al. 2022).
* ``mix_policies`` (inherited from ``Game`` with ``reach = mu``) is the
  distribution-weighted policy average of fictitious play for MFGs (Perrin et
  al. 2020, Eq. 5): ``pbar = (1-a) mu_p p + a mu_q q / ((1-a) mu_p + a mu_q)``.

Subclasses are pytrees (``flax.struct.dataclass``) whose coefficients are array
leaves, so ``jax.vmap`` over a constructor sweeps them; sizes are static fields.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.core import Evaluation, Game, Policy, is_concrete
from jaxgames.validation import (  # noqa: F401 - re-exported
    MAX_TABLE_ELEMENTS,
    as_float_array,
    check_int,
    check_probabilities,
    check_table,
)


class MeanFieldGame(Game):
    """Base class of finite-horizon mean-field games (one representative player).

    Subclasses define the static ints ``num_states``, ``num_actions``,
    ``horizon``, the array leaf ``initial`` ``[S]``, and ``transition(t, mu)``,
    ``reward(t, mu)``; they may override ``action_mask()`` (``[S, A]`` bool,
    default all legal) when some actions are illegal in some states.
    """

    num_players = 1
    num_states: int
    num_actions: int
    horizon: int
    initial: jax.Array

    # -- the model ------------------------------------------------------------
    def transition(self, t, mu) -> jax.Array:
        """``[S, A, S']``: ``P_t(x' | x, a, mu)``."""
        raise NotImplementedError

    def reward(self, t, mu) -> jax.Array:
        """``[S, A]``: ``r_t(x, a, mu)``."""
        raise NotImplementedError

    def action_mask(self) -> np.ndarray:
        """``[S, A]`` bool: legal actions (static, the same at every time)."""
        return np.ones((self.num_states, self.num_actions), bool)

    # -- the two products every metric takes with P_t ---------------------------
    def push_forward(self, t, mu, flow) -> jax.Array:
        """``[S']``: ``sum_{x,a} flow(x, a) P_t(x' | x, a, mu)``, the mass ``flow`` ``[S, A]`` one step on.

        The forward equation's product (``flow = mu_t * pi_t``). The default builds the dense
        ``transition(t, mu)``; a model with structured dynamics (a ring, a grid: a few next states
        per (state, action)) overrides it, and ``expected_next``, with an ``O(S A)`` kernel that
        never forms ``[S, A, S']``. Example: ``game.push_forward(0, mu0, mu0[:, None] * pi[0])``.
        """
        return jnp.einsum("xa,xay->y", flow, self.transition(t, mu).astype(flow.dtype))

    def expected_next(self, t, mu, values) -> jax.Array:
        """``[S, A, ...]``: ``sum_x' P_t(x' | x, a, mu) values(x', ...)`` for ``values`` ``[S', ...]``.

        The backward-induction product (``Q_t = r_t + expected_next(t, mu_t, V_{t+1})``); trailing
        axes of ``values`` are kept (several recursions share one call). See ``push_forward``.
        """
        return jnp.einsum("xay,y...->xa...", self.transition(t, mu).astype(values.dtype), values)

    # -- the Game contract ----------------------------------------------------
    def legal_mask(self) -> Policy:
        mask = jnp.asarray(self.action_mask())
        return (jnp.broadcast_to(mask, (self.horizon, *mask.shape)),)

    def legal_mask_host(self) -> tuple:
        mask = np.asarray(self.action_mask())
        return (np.broadcast_to(mask, (self.horizon, *mask.shape)),)

    def mean_field(self, policy: Policy) -> jax.Array:
        """``[T, S]``: the mean field ``mu_t`` the policy induces from ``initial``."""
        pi = policy[0]
        mu0 = self.initial.astype(pi.dtype)

        def forward(mu, inputs):
            t, pi_t = inputs
            nxt = self.push_forward(t, mu, mu[:, None] * pi_t)
            return nxt, nxt

        if self.horizon == 1:
            return mu0[None]
        _, rest = jax.lax.scan(forward, mu0, (jnp.arange(self.horizon - 1), pi[:-1]))
        return jnp.concatenate([mu0[None], rest], axis=0)

    def reach(self, policy: Policy) -> Policy:
        """``(mu,)``: the state distribution at each time, the weights of ``mix_policies``."""
        return (self.mean_field(policy),)

    def _backward(self, mu, heads, xs=(), reward=None):
        """Backward induction against the fixed mean field ``mu`` ``[T, S]``, several recursions at once.

        Each ``head(q, *x_t) -> (V_t [S], out_t)`` turns the action values
        ``q = r_t + P_t V_{t+1}`` ``[S, A]`` of its own recursion into its value
        and a per-time output; all heads share one ``expected_next`` call per time
        step (their values stacked) and ``r_t``: ``reward[t]`` when given, else
        ``reward(t, mu_t)``, all ``T`` built at once (vmapped) before the scan.
        ``xs``: per-time inputs ``[T, ...]`` passed to every head.
        Returns, per head, ``(outs [T, ...], V_0 [S])``.
        """
        dtype = mu.dtype

        def backward(values, inputs):
            t, mu_t, r_t, x_t = inputs
            r = r_t.astype(dtype)
            nxt = self.expected_next(t, mu_t, jnp.stack(values, axis=-1))  # [S, A, heads]
            stepped = [head(r + nxt[..., i], *x_t) for i, head in enumerate(heads)]
            return tuple(v for v, _ in stepped), tuple(out for _, out in stepped)

        zeros = tuple(jnp.zeros(self.num_states, dtype) for _ in heads)
        # all T rewards at once, before the (sequential) scan: one vectorized kernel instead of one per step
        r_in = jax.vmap(self.reward)(jnp.arange(self.horizon), mu).astype(dtype) if reward is None else reward
        v0, outs = jax.lax.scan(backward, zeros, (jnp.arange(self.horizon), mu, r_in, tuple(xs)), reverse=True)
        return tuple(zip(outs, v0))

    # the heads of ``_backward``: (value, output) from the action values q [S, A]
    def _policy_head(self):
        mask = jnp.asarray(self.action_mask())
        return lambda q, pi_t, *_: (jnp.sum(pi_t * jnp.where(mask, q, 0.0), axis=-1), q)

    def _max_head(self):
        mask = jnp.asarray(self.action_mask())
        return lambda q, *_: (jnp.max(jnp.where(mask, q, -jnp.inf), axis=-1), q)

    def _soft_head(self, temperature):
        """``V = tau log sum_a ref exp(Q / tau)`` (the max when ``tau = 0``); the reference is ``x_t[1]``."""
        mask = jnp.asarray(self.action_mask())

        def head(q, _pi_t, ref_t, *_):
            soft = simplex.soft_max_value(jnp.where(mask, q, 0.0), jnp.where(mask, ref_t, 0.0), temperature)
            return jnp.where(temperature > 0, soft, jnp.max(jnp.where(mask, q, -jnp.inf), axis=-1)), q

        return head

    def evaluate(self, policy: Policy) -> Evaluation:
        """The representative player's value and Q-values against ``mu(policy)``.

        ``values`` ``[1]``, ``action_values`` ``([T, S, A],)``, ``reach`` ``([T, S],)``
        (the mean field), ``opponent_reach`` ones ``([T, S],)``.
        """
        mu = self.mean_field(policy)
        ((q, v0),) = self._backward(mu, (self._policy_head(),), (policy[0],))
        value = jnp.dot(mu[0], v0)
        return Evaluation(values=value[None], action_values=(q,), reach=(mu,), opponent_reach=(jnp.ones_like(mu),))

    def best_response(self, policy: Policy) -> Policy:
        """``([T, S, A],)`` one-hot: backward induction against ``mu(policy)`` (ties: lowest action)."""
        ((q, _),) = self._backward(self.mean_field(policy), (self._max_head(),))
        return (simplex.one_hot_argmax(q, self.legal_mask()[0]),)

    def best_response_values(self, policy: Policy) -> jax.Array:
        """``[1]``: ``max_pi' J(pi', mu(policy))``."""
        mu = self.mean_field(policy)
        ((_, v0),) = self._backward(mu, (self._max_head(),))
        return jnp.dot(mu[0], v0)[None]

    def nash_conv(self, policy: Policy) -> jax.Array:
        """``max_pi' J(pi', mu(pi)) - J(pi, mu(pi))`` (one forward and one backward pass for both values)."""
        mu = self.mean_field(policy)
        (_, v_pi), (_, v_br) = self._backward(mu, (self._policy_head(), self._max_head()), (policy[0],))
        return jnp.dot(mu[0], v_br - v_pi)

    def smooth_best_response(self, policy: Policy, temperature, reference: Policy | None = None) -> Policy:
        """Soft (KL-regularised) best response to ``mu(policy)``, by soft backward induction.

        ``pi_t(a|x) ∝ ref_t(a|x) exp(Q^soft_t(x, a) / tau)`` with
        ``Q^soft_t = r_t + P_t V^soft_{t+1}`` and ``V^soft_t = tau log sum_a ref exp(Q^soft_t / tau)``:
        the optimal policy of ``E[sum_t r_t - tau KL(pi_t(.|x_t) || ref_t(.|x_t))]``
        (Boltzmann iteration, Cui & Koeppl 2021). ``reference`` defaults to uniform;
        ``tau = 0`` gives the (one-hot) best response.
        """
        ref = self.uniform_policy()[0] if reference is None else reference[0]
        tau = jnp.asarray(temperature, policy[0].dtype)
        (q,) = self.soft_action_values(policy, tau, reference)
        return (simplex.logit_response(q, self.legal_mask()[0], tau, ref),)

    def soft_action_values(self, policy: Policy, temperature, reference: Policy | None = None) -> Policy:
        """``(Q^soft [T, S, A],)``: ``Q^soft_t = r_t + P_t V^soft_{t+1}`` against ``mu(policy)``, with
        ``V^soft_t = tau log sum_a ref exp(Q^soft_t / tau)`` (the max at ``tau = 0``): the values whose
        softmax is ``smooth_best_response``."""
        ref = self.uniform_policy()[0] if reference is None else reference[0]
        tau = jnp.asarray(temperature, policy[0].dtype)
        ((q, _),) = self._backward(self.mean_field(policy), (self._soft_head(tau),), (policy[0], ref))
        return (q,)

    def regularized_nash_conv(self, policy: Policy, temperature, reference: Policy | None = None):
        """Gap to the KL-regularised mean-field equilibrium, against ``mu(policy)``.

        ``max_pi' J_tau(pi', mu) - J_tau(pi, mu)`` with
        ``J_tau(pi, mu) = E[sum_t r_t(x_t, a_t, mu_t) - tau KL(pi_t(.|x_t) || ref_t(.|x_t))]``;
        zero exactly at the regularised equilibrium (entropy-regularised MFNE for
        a uniform reference). Policy and reference ``([T, S, A],)``; ``nash_conv`` at
        ``tau = 0``; ``+inf`` for ``tau > 0`` where ``pi`` puts mass on a legal action that the
        reference excludes at a reached ``(t, x)`` (``mu_t(x) > 0``: an infinite KL).
        """
        ref = self.uniform_policy()[0] if reference is None else reference[0]
        pi = policy[0]
        tau = jnp.asarray(temperature, pi.dtype)
        mu = self.mean_field(policy)
        (_, v_soft), (_, v_pi) = self._backward(mu, (self._soft_head(tau), self._policy_head()), (pi, ref))
        # The player following pi against mu(pi) is distributed as mu(pi), so the
        # expected KL penalty of pi is its mu-weighted sum over (t, x).
        kl_value = tau * jnp.sum(mu * simplex.kl(pi, ref))
        gap = jnp.dot(mu[0], v_soft) - (jnp.dot(mu[0], v_pi) - kl_value)
        mask = jnp.asarray(self.action_mask())
        infinite = jnp.any((mu[..., None] > 0) & mask & (pi > 0) & (ref <= 0))
        return jnp.where((tau > 0) & infinite, jnp.inf, gap)

    # -- the dilated (trajectory-KL) geometry of the first-order solvers ---------
    def sequence_gradient(self, policy: Policy) -> tuple:
        """``(MeanFieldGradient(reward [T, S, A], mean_field [T, S]),)``: the gradient in occupancy coordinates.

        Against a fixed mean field ``mu`` the return ``J(pi, mu) = <r_mu, d^pi>``
        is linear in the occupancy measure ``d^pi_t(x, a) = mu^pi_t(x) pi_t(a|x)``
        of the deviating player, with gradient ``r_t(x, a, mu_t)``: the immediate
        rewards, *not* weighted by the state distribution (the occupancy carries
        it). The mean field ``mu = mu(policy)`` travels with the gradient so that
        ``dilated_mirror_step`` uses the dynamics ``P_t(. | x, a, mu_t)`` of the
        policy at which the gradient was taken (extragradient steps from another
        policy; optimistic steps extrapolate ``2 g_k - g_{k-1}`` in both fields).
        """
        mu = self.mean_field(policy)
        reward = jax.vmap(self.reward)(jnp.arange(self.horizon), mu).astype(mu.dtype)
        return (MeanFieldGradient(reward=reward, mean_field=mu),)

    def dilated_mirror_step(
        self, policy: Policy, grads: tuple, learning_rate, temperature=0.0, magnet: Policy | None = None
    ) -> Policy:
        """The exact proximal step of the trajectory KL: soft backward induction against a fixed mean field.

        With ``eta`` = ``learning_rate``, ``tau`` = ``temperature``, ``rho`` =
        ``magnet`` (default: uniform over legal actions, the reference of
        ``smooth_best_response`` and ``regularized_nash_conv``), ``r, mu`` from
        ``grads`` (``sequence_gradient`` at some policy) and ``pi_k`` = ``policy``::

            pi' = argmax_pi  eta J(pi, mu) - eta tau KL_traj(pi || rho) - KL_traj(pi || pi_k),
            KL_traj(pi || nu) = sum_{t, x} mu^pi_t(x) KL(pi_t(.|x) || nu_t(.|x)),

        ``mu^pi`` the new player's own state distribution under ``P(mu)``.
        ``KL_traj`` is the KL divergence between the trajectory laws of ``pi`` and
        ``nu`` (the transitions cancel), i.e. the Bregman divergence of the
        conditional entropy of the occupancy measure (Neu, Jonsson & Gomez 2017):
        the dilated entropy with time as depth, the occupancy playing the role
        of the sequence form. Dividing by ``eta``, the objective is an
        entropy-regularized MDP with temperature ``(1 + eta tau) / eta``, solved
        exactly by one backward pass (``V_T = 0``)::

            Q_t(x, a) = r_t(x, a, mu_t) + sum_x' P_t(x' | x, a, mu_t) V_{t+1}(x')
            L_t(x, a) = (eta Q_t(x, a) + log pi_k,t(a|x) + eta tau log rho_t(a|x)) / (1 + eta tau)
            pi'_t(a|x) = softmax_a L_t(x, a)
            V_t(x)    = (1 + eta tau) / eta * logsumexp_a L_t(x, a)

        the closed form of ``EFGGame.dilated_mirror_step`` with states at time
        ``t`` as the decision points at depth ``t``. Because the occupancy
        already weights each state by its probability, ``r`` is not weighted by
        ``mu``, and every reachable or unreachable state takes the same step
        (as in policy mirror descent, Lan 2022; Zhan et al. 2023, but with the
        new policy's regularized continuation values instead of ``Q^{pi_k}``).
        (The EFG convention, a gradient weighted by chance reach ``mu_t(x)``,
        relies on every decision point having one parent; here a state at
        ``t + 1`` has many, and that variant's rest point is far from the
        regularized equilibrium: residual ~1 on crowd modelling, measured.)
        Limits: ``eta -> inf`` gives ``smooth_best_response(., tau, rho)``
        against ``mu`` (and the best response if ``tau = 0``); ``eta -> 0``
        leaves ``pi_k`` unchanged. Its fixed points ``pi = step(pi, g(pi))`` are
        exactly the regularized equilibria ``pi = softBR_tau(mu(pi))``
        (``regularized_nash_conv(pi, tau) = 0``), whereas the behavioural
        ``"entropic"`` step's rest point ``pi ∝ rho exp(Q^pi / tau)`` omits the
        future KL terms. ``policy``/``magnet``: ``([T, S, A],)``.
        """
        pi, grad = policy[0], grads[0]
        dtype = pi.dtype
        mask = self.legal_mask()[0]
        rho = self.uniform_policy()[0].astype(dtype) if magnet is None else magnet[0]
        eta = jnp.asarray(learning_rate, dtype)
        tau = jnp.asarray(temperature, dtype)
        scale = (1.0 + eta * tau) / eta

        def head(q, pi_t, rho_t, mask_t):
            logits = jnp.where(mask_t, simplex.entropic_logits(pi_t, q, eta, tau, rho_t), -jnp.inf)
            return scale * jax.nn.logsumexp(logits, axis=-1), logits

        ((logits, _),) = self._backward(grad.mean_field.astype(dtype), (head,), (pi, rho, mask), reward=grad.reward)
        return (simplex.masked_softmax(logits, mask),)

    # -- helpers --------------------------------------------------------------
    def state_values(self, policy: Policy) -> jax.Array:
        """``[T, S]``: ``V_t(x)`` of ``policy`` against ``mu(policy)``."""
        q = self.evaluate(policy).action_values[0]
        return jnp.sum(policy[0] * q, axis=-1)


class MeanFieldGradient(NamedTuple):
    """``MeanFieldGame.sequence_gradient`` of one player: what the dilated step needs.

    Attributes:
      reward: ``[T, S, A]``: ``r_t(x, a, mu_t)``, the gradient of ``J(., mu)`` in
        occupancy coordinates.
      mean_field: ``[T, S]``: ``mu``, the mean field the rewards (and the
        dynamics of the step) are evaluated at.
    """

    reward: jax.Array
    mean_field: jax.Array


def check_distribution(p, field: str, size: int | None = None) -> jax.Array:
    """Validate a probability vector ``[S]`` (shape always, values when concrete)."""
    p = as_float_array(p, field)
    if p.ndim != 1 or (size is not None and p.shape[0] != size):
        expected = f"[{size}]" if size is not None else "[S]"
        raise ValueError(f"{field}: expected a probability vector of shape {expected}, got shape {tuple(p.shape)}")
    check_probabilities(p, field)
    return p


def check_tables(tables, max_bytes=None) -> None:
    """Refuse, before building anything, a model whose dense tables are too big.

    ``tables``: ``(field, what, shape)`` triples: the size argument responsible, the table's name
    (``"the transition tensor [S, A, S']"``) and its shape (Python ints, possibly huge). Each
    table must fit ``max_bytes`` (``validation.check_table_bytes``: default 4 GiB or
    ``JAXGAMES_MAX_BYTES``) in the default float dtype and hold at most ``MAX_TABLE_ELEMENTS``
    entries whatever ``max_bytes`` allows: past that XLA's int32 indexing breaks, and an
    allocation that fails inside a computation aborts the process (an XLA check failure,
    exit 134) instead of raising.
    """
    for field, what, shape in tables:
        check_table(shape, field, what, max_bytes)


def policy_table(horizon: int, num_states: int, num_actions: int) -> tuple:
    """The ``check_tables`` entry of the ``[T, S, A]`` policy / Q-value tables every metric builds."""
    return (
        "horizon",
        f"a policy table [T, S, A] = [{horizon}, {num_states}, {num_actions}]",
        (horizon, num_states, num_actions),
    )


def _materialise(x, what: str) -> np.ndarray:
    """``x`` on the host; a failed allocation becomes a ``ValueError`` (reading it directly aborts XLA)."""
    try:
        return np.asarray(jax.block_until_ready(x))
    except jax.errors.JaxRuntimeError as err:
        raise ValueError(
            f"{what}: building it failed ({str(err).splitlines()[0]}); choose a smaller game "
            f"(or lower max_bytes / JAXGAMES_MAX_BYTES below the memory this machine has)"
        ) from None


def check_model(game: MeanFieldGame, coefficients: tuple = ()) -> MeanFieldGame:
    """Validate a model's dynamics and rewards at ``t = 0, mu = initial`` (when concrete).

    Shapes are always checked; values (rows of ``P`` summing to 1 over next
    states, non-negative, finite rewards) only outside tracing. ``coefficients``: the
    constructor's reward coefficients, named when the rewards overflow (finite but huge values).
    """
    s, a = game.num_states, game.num_actions
    mu0 = game.initial
    p = game.transition(jnp.asarray(0), mu0)
    r = game.reward(jnp.asarray(0), mu0)
    if tuple(p.shape) != (s, a, s):
        raise ValueError(f"transitions: expected shape [S, A, S'] = {(s, a, s)}, got {tuple(p.shape)}")
    if tuple(r.shape) != (s, a):
        raise ValueError(f"rewards: expected shape [S, A] = {(s, a)}, got {tuple(r.shape)}")
    if is_concrete(p) and is_concrete(r):
        p, r = _materialise(p, "transitions"), _materialise(r, "rewards")
        check_probabilities(p, "transitions", "rows over next states")
        if not np.all(np.isfinite(r)):
            if coefficients:
                raise ValueError(
                    f"{', '.join(coefficients)}: the rewards overflow to NaN/inf in {r.dtype}; use smaller coefficients"
                )
            raise ValueError("rewards: expected finite values, found NaN/inf")
    return game
