"""Stationary discounted mean-field games: a time-homogeneous model played forever.

The infinite-horizon, discounted, stationary mean-field game of Guo, Hu, Xu & Zhang (2019), "Learning
mean-field games" (NeurIPS), and Subramanian & Mahajan (2019), "Reinforcement learning in stationary
mean-field games" (AAMAS). ``StationaryMeanFieldGame`` wraps any time-homogeneous ``MeanFieldGame``
(its ``transition(0, mu)`` / ``reward(0, mu)``) with a discount ``gamma`` in ``[0, 1)``; a policy is
``(pi,)`` with ``pi [S, A]``.

* Stationary mean field ``mu(pi) [S]``: ``mu(x') = sum_{x,a} mu(x) pi(a|x) P(x'|x, a, mu)``. Dynamics
  independent of ``mu``: ``jaxgames.markov_chain.stationary_distribution`` (GTH state reduction; with
  several recurrent classes, the long-run average from ``initial``). ``mu``-dependent dynamics: a
  damped fixed-point iteration ``mu <- (1 - d) mu + d stat(P_pi(mu))`` from ``initial`` in a
  ``lax.while_loop``, with safeguarded Newton steps; ``mean_field_info`` / ``mean_field_residual``
  report convergence.
* Value against ``mu``: ``V = r_pi' + gamma P_pi' V`` (linear solve), ``J(pi', mu) = mu @ V``
  (Subramanian & Mahajan 2019, Def. 1; Guo et al. 2019, Eq. 2); the best response is Howard's policy
  iteration on the frozen-``mu`` MDP (``jaxgames.markov.MarkovGame``); ``exploitability(pi) = max_pi'
  J(pi', mu(pi)) - J(pi, mu(pi))``.
* ``smooth_best_response``: soft policy iteration, ``pi ∝ ref exp(Q^soft / tau)`` (Cui & Koeppl 2021).
* ``reach = (mu,)``: ``mix_policies`` is the distribution-weighted average (Perrin et al. 2020, Eq. 5).

Models with illegal actions are refused (the policy-iteration best response knows no masks). The
derivations and convergence notes are in the docs' mean-field guide.

Example::

    game = jaxgames.mean_field.stationary_sis_epidemic(discount=0.9)
    pi = game.uniform_policy()                     # ([2, A],)
    game.exploitability(pi), game.mean_field(pi)
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.core import Evaluation, Game, Policy, check_scalar
from jaxgames.markov.game import MarkovGame
from jaxgames.markov_chain import stationary_distribution
from jaxgames.mean_field.game import MeanFieldGame
from jaxgames.mean_field.rps_population import rps_population
from jaxgames.mean_field.sis import sis_epidemic
from jaxgames.validation import check_bool, check_int

#: Safety cap on soft policy iteration rounds (it stops after a handful).
MAX_SOFT_POLICY_ITERATIONS = 1000
#: Newton steps of the mean-field iteration differentiate the transitions ``[S, A, S']`` in all ``S``
#: directions (tangents ``[S, A, S', S]``); above this many entries only damped steps are taken.
NEWTON_MAX_ENTRIES = 2**22


class MeanFieldSolve(NamedTuple):
    """``StationaryMeanFieldGame.mean_field_info``: the stationary mean field and how well it was solved.

    ``mean_field [S]``; ``residual``: ``|stat(P_pi(mu)) - mu|_1`` (mu-dependent dynamics) or
    ``|mu P_pi - mu|_1``; ``iterations``: fixed-point iterations run (0 for the direct solve);
    ``converged``: the iteration stopped below its tolerance (always true for the direct solve).
    """

    mean_field: jax.Array
    residual: jax.Array
    iterations: jax.Array
    converged: jax.Array


def _l1_contraction(jac: jax.Array) -> jax.Array:
    """``max |J d|_1 / |d|_1`` over zero-sum ``d``: half the largest L1 distance between two columns of ``J``."""
    cols = jac.T
    return 0.5 * jnp.max(jnp.sum(jnp.abs(cols[:, None, :] - cols[None, :, :]), axis=-1))


def _warn_stall(converged, gap, cap: int) -> None:
    """A ``RuntimeWarning`` from inside a computation when the mean-field iteration stalled (also under jit/vmap)."""

    def host(converged, gap):
        bad = ~np.asarray(converged, bool)
        if bad.any():
            warnings.warn(
                f"mean_field: the stationary mean-field iteration stopped at max_mean_field_iterations="
                f"{cap} with a fixed-point gap |stat(P_pi(mu)) - mu|_1 = "
                f"{float(np.max(np.asarray(gap)[bad])):.3g} at its last step, above its tolerance: the "
                f"mean field (and every metric built on it) may be off; raise max_mean_field_iterations "
                f"or lower damping, and check mean_field_info(policy)",
                RuntimeWarning,
                stacklevel=2,
            )

    jax.lax.cond(jnp.all(converged), lambda c, g: None, lambda c, g: jax.debug.callback(host, c, g), converged, gap)


def _ulps(dtype, scale) -> jax.Array:
    return 16 * jnp.finfo(dtype).eps * scale


@flax.struct.dataclass
class StationaryMeanFieldGame(Game):
    """A time-homogeneous mean-field model played forever with discount ``gamma`` (see the module docstring).

    Build it with ``stationary_game(model, discount)`` or a model's stationary
    constructor (``stationary_rps_population``, ``stationary_sis_epidemic``).
    Leaves: ``model`` (its coefficients), ``discount``, ``damping``; static:
    ``mean_field_dependent``, ``max_mean_field_iterations``. Policies ``(pi [S, A],)``.
    """

    model: MeanFieldGame
    discount: jax.Array
    damping: jax.Array
    mean_field_dependent: bool = flax.struct.field(pytree_node=False, default=True)
    max_mean_field_iterations: int = flax.struct.field(pytree_node=False, default=1000)

    num_players = 1

    @property
    def num_states(self) -> int:
        return self.model.num_states

    @property
    def num_actions(self) -> int:
        return self.model.num_actions

    @property
    def initial(self) -> jax.Array:
        """``[S]``: where the population starts (selects among stationary mean fields, see above)."""
        return self.model.initial

    # -- the model at a frozen mean field ----------------------------------------
    def transition(self, mu) -> jax.Array:
        """``[S, A, S']``: ``P(x' | x, a, mu)``."""
        return self.model.transition(jnp.zeros((), jnp.int32), mu)

    def reward(self, mu) -> jax.Array:
        """``[S, A]``: ``r(x, a, mu)``."""
        return self.model.reward(jnp.zeros((), jnp.int32), mu)

    def legal_mask(self) -> Policy:
        return (jnp.asarray(self.model.action_mask()),)

    def legal_mask_host(self) -> tuple:
        return (np.asarray(self.model.action_mask()),)

    def _chain(self, pi, mu) -> jax.Array:
        return jnp.einsum("xa,xay->xy", pi, self.transition(mu).astype(pi.dtype))

    def induced_mdp(self, mu, dtype=None) -> MarkovGame:
        """The single-player ``MarkovGame`` the representative player faces against the frozen ``mu``.

        Transitions ``P(.|x, a, mu)``, rewards ``[1, S, A]`` ``r(x, a, mu)``,
        ``discount``, initial distribution ``mu``. Built with ``MarkovGame.from_validated``
        (the model was validated at construction), so no values are read back to the host.
        """
        dtype = mu.dtype if dtype is None else dtype
        mu = mu.astype(dtype)
        return MarkovGame.from_validated(
            self.transition(mu).astype(dtype),
            self.reward(mu).astype(dtype)[None],
            jnp.asarray(self.discount, dtype),
            mu,
        )

    # -- the stationary mean field -------------------------------------------------
    def _fixed_point_map(self, pi, mu) -> jax.Array:
        """``F(mu) = stat(P_pi(mu))`` ``[S]``: the stationary distribution of the chain frozen at ``mu``."""
        return stationary_distribution(self._chain(pi, mu), mu)

    def _newton_enabled(self) -> bool:
        s, a = self.num_states, self.num_actions
        return s * a * s * s <= NEWTON_MAX_ENTRIES

    def _iterate(self, pi):
        """``(mu, gap, iterations)``: the (Newton-accelerated) damped fixed-point iteration (module docstring).

        ``gap``: ``|F(mu_k) - mu_k|_1`` at the last iterate examined, ``mu`` one step past it.
        """
        dtype = pi.dtype
        s = self.num_states
        damping = jnp.asarray(self.damping, dtype)
        tol = _ulps(dtype, s)
        eye = jnp.eye(s, dtype=dtype)

        def direct(chain, start):
            """The stationary distribution by the direct solve alone (garbage, caught by the callers,
            when the chain has several recurrent classes)."""
            mu = jnp.linalg.solve((eye - chain + start[None, :]).T, start)
            return mu / jnp.sum(mu)

        def newton(mu, target, residual, gap):
            """``(candidate, accept)``: the Newton step from ``mu`` and whether it is safe to take (see above).

            ``J = dF/dmu`` by implicit differentiation of ``F^T (I - P) = 0``: with ``M = I - P + 1 F^T``,
            ``dF^T = F^T dP M^{-1}``, so ``J = M^{-T} (sum_x F_x dP[x, :, :])``; no derivative of the solve.
            """
            chain = self._chain(pi, mu)
            d_chain = jax.jacfwd(lambda m: self._chain(pi, m))(mu)  # [S, S', S_in]
            jac = jnp.linalg.solve((eye - chain + target[None, :]).T, jnp.einsum("x,xyk->yk", target, d_chain))
            # (I - J) delta = F(mu) - mu with sum(delta) = 0 (the all-1/S block pins the sum)
            cand = mu + jnp.linalg.solve(eye - jac + 1.0 / s, residual)
            valid = jnp.all(jnp.isfinite(cand)) & (jnp.min(cand) >= -tol)
            cand = jnp.maximum(jnp.where(valid, cand, mu), 0.0)
            cand = cand / jnp.sum(cand)
            local = _l1_contraction((1.0 - damping) * eye + damping * jac) < 1.0
            better = jnp.sum(jnp.abs(direct(self._chain(pi, cand), cand) - cand)) < gap
            return cand, valid & local & better

        def step(mu):
            # the gap is the undamped |F(mu) - mu|_1, so that small damping does not stop early
            target = self._fixed_point_map(pi, mu)
            residual = target - mu
            gap = jnp.sum(jnp.abs(residual))
            damped = mu + damping * residual
            if not self._newton_enabled():
                return damped, gap
            cand, accept = newton(mu, target, residual, gap)
            return jnp.where(accept, cand, damped), gap

        def cond(carry):
            k, _, gap = carry
            return (k < self.max_mean_field_iterations) & (gap > tol)

        def body(carry):
            k, mu, _ = carry
            new, gap = step(mu)
            return k + 1, new, gap

        init = (jnp.zeros((), jnp.int32), self.model.initial.astype(dtype), jnp.asarray(jnp.inf, dtype))
        k, mu, gap = jax.lax.while_loop(cond, body, init)
        return mu, gap, k

    def mean_field(self, policy: Policy) -> jax.Array:
        """``[S]``: the stationary mean field ``mu(pi)`` (exact solve, or the fixed-point iteration; see above).

        Warns (``RuntimeWarning``) when the iteration hits ``max_mean_field_iterations`` above tolerance.
        """
        pi = policy[0]
        if not self.mean_field_dependent:
            start = self.model.initial.astype(pi.dtype)
            return stationary_distribution(self._chain(pi, start), start)
        mu, gap, _ = self._iterate(pi)
        _warn_stall(gap <= _ulps(pi.dtype, self.num_states), gap, self.max_mean_field_iterations)
        return mu

    def _residual(self, pi, mu) -> jax.Array:
        if not self.mean_field_dependent:
            return jnp.sum(jnp.abs(mu @ self._chain(pi, mu) - mu))
        return jnp.sum(jnp.abs(self._fixed_point_map(pi, mu) - mu))

    def mean_field_info(self, policy: Policy) -> MeanFieldSolve:
        """The stationary mean field with its residual, iteration count and convergence flag (no warning)."""
        pi = policy[0]
        if not self.mean_field_dependent:
            start = self.model.initial.astype(pi.dtype)
            mu = stationary_distribution(self._chain(pi, start), start)
            return MeanFieldSolve(mu, self._residual(pi, mu), jnp.zeros((), jnp.int32), jnp.asarray(True))
        mu, gap, k = self._iterate(pi)
        return MeanFieldSolve(mu, self._residual(pi, mu), k, gap <= _ulps(pi.dtype, self.num_states))

    def mean_field_residual(self, policy: Policy) -> jax.Array:
        """The true residual at ``mu = mean_field(policy)``: ``|stat(P_pi(mu)) - mu|_1``, the L1 distance to the
        stationary distribution of the chain ``mu`` induces (``|mu P_pi - mu|_1`` for mu-independent dynamics).

        ~0 when the iteration converged; see ``mean_field_info`` for the convergence flag.
        """
        return self.mean_field_info(policy).residual

    def reach(self, policy: Policy) -> Policy:
        """``(mu,)``: the stationary mean field, the weights of ``mix_policies``."""
        return (self.mean_field(policy),)

    # -- the Game contract ---------------------------------------------------------
    def evaluate(self, policy: Policy) -> Evaluation:
        """Value ``[1]`` (``mu . V``), Q-values ``([S, A],)``, ``reach = (mu,)``, against ``mu(policy)``."""
        mu = self.mean_field(policy)
        mdp = self.induced_mdp(mu)
        v = mdp.state_values(policy)
        q = mdp.joint_action_values(v)[0]
        return Evaluation(
            values=jnp.dot(mu, v[0])[None], action_values=(q,), reach=(mu,), opponent_reach=(jnp.ones_like(mu),)
        )

    def state_values(self, policy: Policy) -> jax.Array:
        """``[S]``: ``V(x)`` of ``policy`` against ``mu(policy)``."""
        return self.induced_mdp(self.mean_field(policy)).state_values(policy)[0]

    def best_response(self, policy: Policy) -> Policy:
        """``([S, A],)`` one-hot: policy iteration in the MDP induced by ``mu(policy)``."""
        return self.induced_mdp(self.mean_field(policy)).best_response(policy)

    def best_response_values(self, policy: Policy) -> jax.Array:
        """``[1]``: ``max_pi' J(pi', mu(policy))``."""
        mu = self.mean_field(policy)
        return jnp.dot(mu, self.induced_mdp(mu).best_response_state_values(policy)[0])[None]

    def nash_conv(self, policy: Policy) -> jax.Array:
        """``max_pi' J(pi', mu(pi)) - J(pi, mu(pi))`` (one mean field shared by both values)."""
        mu = self.mean_field(policy)
        mdp = self.induced_mdp(mu)
        gap = mdp.best_response_state_values(policy)[0] - mdp.state_values(policy)[0]
        return jnp.dot(mu, gap)

    # -- entropy / KL regularisation -----------------------------------------------
    def _soft_q(self, mu, reference, tau) -> jax.Array:
        """``[S, A]``: ``Q^soft`` against ``mu`` by soft policy iteration (exact evaluations).

        ``V_k = (I - gamma P_k)^{-1} (r_k - tau KL(pi_k || ref))`` (a linear solve),
        ``Q_k = r + gamma P V_k``, ``pi_{k+1} ∝ ref exp(Q_k / tau)``, from
        ``pi_0 = ref``, until ``V`` moves by no more than a few ulps. Each
        round improves the soft value monotonically and the iteration is
        Newton's method on the soft Bellman equation, so it stops after a
        handful of rounds, exact to float precision (soft value iteration
        would stop ``gamma / (1 - gamma)`` times its last step away from the
        fixed point).
        """
        mdp = self.induced_mdp(mu)
        p, r, g = mdp.transitions, mdp.rewards[0], mdp.discount
        mask = self.legal_mask()[0] & (reference > 0)
        eye = jnp.eye(self.num_states, dtype=r.dtype)
        t = jnp.maximum(tau, 1e-30)

        def improve(v):
            q = r + g * p @ v
            return q, simplex.masked_softmax(q / t + simplex.safe_log(reference), mask)

        def cond(carry):
            k, _, v, delta = carry
            return (k < MAX_SOFT_POLICY_ITERATIONS) & (delta > _ulps(v.dtype, 1.0 + jnp.max(jnp.abs(v))))

        def body(carry):
            k, pi, v, _ = carry
            p_pi = jnp.einsum("xa,xay->xy", pi, p)
            r_pi = jnp.sum(pi * r, axis=-1) - tau * simplex.kl(pi, reference)
            new = jnp.linalg.solve(eye - g * p_pi, r_pi)
            return k + 1, improve(new)[1], new, jnp.max(jnp.abs(new - v))

        init = (jnp.zeros((), jnp.int32), reference, jnp.zeros_like(mu), jnp.asarray(jnp.inf, mu.dtype))
        _, _, v, _ = jax.lax.while_loop(cond, body, init)
        # tau = 0: the optimal Q of the unregularised MDP (policy iteration), not an overflowing softmax
        v_star = mdp.best_response_state_values((reference,))[0]
        return jnp.where(tau > 0, improve(v)[0], r + g * p @ v_star)

    def smooth_best_response(self, policy: Policy, temperature, reference: Policy | None = None) -> Policy:
        """``([S, A],)``: ``pi ∝ ref exp(Q^soft / tau)`` against ``mu(policy)`` (one-hot BR at ``tau = 0``)."""
        pi = policy[0]
        mask = self.legal_mask()[0]
        ref = self.uniform_policy()[0].astype(pi.dtype) if reference is None else reference[0]
        tau = jnp.asarray(temperature, pi.dtype)
        q = self._soft_q(self.mean_field(policy), ref, tau)
        return (simplex.logit_response(q, mask, tau, ref),)

    def regularized_nash_conv(self, policy: Policy, temperature, reference: Policy | None = None):
        """``max_pi' J_tau(pi', mu) - J_tau(pi, mu)`` at ``mu = mu(pi)``, from ``mu``.

        ``J_tau(pi, mu) = E[sum_t gamma^t (r(x_t, a_t, mu) - tau KL(pi(.|x_t) || ref(.|x_t)))]``
        with ``x_0 ~ mu``; zero exactly at the regularised stationary equilibrium. Policy and
        reference ``([S, A],)``; ``nash_conv`` at ``tau = 0``; ``+inf`` for ``tau > 0`` where ``pi``
        puts mass on an action that the reference excludes at a state with ``mu(x) > 0``.
        """
        pi = policy[0]
        ref = self.uniform_policy()[0].astype(pi.dtype) if reference is None else reference[0]
        tau = jnp.asarray(temperature, pi.dtype)
        mu = self.mean_field(policy)
        q_soft = self._soft_q(mu, ref, tau)
        v_soft = jnp.where(tau > 0, simplex.soft_max_value(q_soft, ref, tau), jnp.max(q_soft, axis=-1))
        mdp = self.induced_mdp(mu)
        # the KL penalty depends on the state only: fold it into the rewards and solve for V^pi_tau
        rewards = mdp.rewards - tau * simplex.kl(pi, ref)[None, :, None]
        penalized = MarkovGame.from_validated(mdp.transitions, rewards, mdp.discount, mu)
        v_pi = penalized.state_values(policy)[0]
        infinite = jnp.any((mu[:, None] > 0) & (pi > 0) & (ref <= 0))
        return jnp.where((tau > 0) & infinite, jnp.inf, jnp.dot(mu, v_soft - v_pi))


# -- constructors ------------------------------------------------------------------------------


def stationary_game(
    model: MeanFieldGame,
    discount=0.9,
    *,
    mean_field_dependent: bool = True,
    damping=1.0,
    max_mean_field_iterations: int = 1000,
) -> StationaryMeanFieldGame:
    """The stationary discounted version of a time-homogeneous ``MeanFieldGame`` (see the module docstring).

    Args:
      model: a ``MeanFieldGame`` whose ``transition`` and ``reward`` do not
        depend on time (evaluated at ``t = 0``) and whose actions are all legal.
      discount: ``gamma`` in ``[0, 1)`` (may be traced).
      mean_field_dependent: whether ``P`` depends on ``mu`` (static). ``False``
        solves the stationary distribution exactly in one solve; ``True`` runs
        the damped fixed-point iteration (also correct, just slower, when ``P``
        does not depend on ``mu``).
      damping: ``d`` in (0, 1] of the fixed-point iteration (may be traced).
      max_mean_field_iterations: cap on that iteration (static int >= 1).
    """
    if not isinstance(model, MeanFieldGame):
        raise ValueError(f"model: expected a MeanFieldGame (e.g. sis_epidemic()), got {type(model).__name__}")
    if not np.all(np.asarray(model.action_mask())):
        raise ValueError(
            "model: expected every action legal in every state (the stationary best response "
            "is policy iteration on an unmasked MDP)"
        )
    max_mean_field_iterations = check_int(max_mean_field_iterations, "max_mean_field_iterations", low=1)
    mean_field_dependent = check_bool(mean_field_dependent, "mean_field_dependent")
    discount = check_scalar(discount, "discount", 0.0, 1.0, high_open=True)
    damping = check_scalar(damping, "damping", 0, 1, low_open=True)
    return StationaryMeanFieldGame(
        model=model,
        discount=discount,
        damping=damping,
        mean_field_dependent=mean_field_dependent,
        max_mean_field_iterations=max_mean_field_iterations,
    )


def stationary_rps_population(discount=0.9, a=1.0, b=1.0, c=1.0, initial=None) -> StationaryMeanFieldGame:
    """Stationary discounted rock-paper-scissors population game; policies ``[3, 3]``.

    The model of ``rps_population`` (state = current choice, action = the
    choice to switch to, reward ``(payoff @ mu)[x]``), dynamics independent of
    ``mu``, so ``mu(pi)`` is the exact stationary distribution of ``pi`` seen as
    a chain. ``pi(.|x) = m`` with ``m ∝ (c, b, a)`` (``game.model.equilibrium_distribution()``)
    makes ``mu = m`` and every reward 0: an exact stationary MFE (uniform for ``a = b = c``).
    """
    return stationary_game(
        rps_population(horizon=1, a=a, b=b, c=c, initial=initial), discount, mean_field_dependent=False
    )


def stationary_sis_epidemic(
    discount=0.9,
    infection_rate=0.8,
    recovery_rate=0.2,
    infection_cost=1.0,
    exposure=(1.0, 0.0),
    distancing_cost=(0.0, 0.5),
    initial_infected=0.4,
    damping=1.0,
    max_mean_field_iterations: int = 1000,
) -> StationaryMeanFieldGame:
    """Stationary discounted SIS epidemic (the model of ``sis_epidemic``); policies ``[2, A]``.

    Known answers: with policy ``pi`` the frozen chain's infected fraction is
    ``p / (p + gamma_r)``, ``p = beta e_pi mu(I)`` (``e_pi`` the susceptibles'
    mean exposure), so the stationary mean field is the endemic
    ``mu(I) = 1 - gamma_r / (beta e_pi)`` when ``beta e_pi > gamma_r`` and
    ``initial_infected > 0``, else disease-free ``mu(I) = 0`` (then distancing
    is pure cost).
    """
    model = sis_epidemic(
        horizon=1,
        infection_rate=infection_rate,
        recovery_rate=recovery_rate,
        infection_cost=infection_cost,
        exposure=exposure,
        distancing_cost=distancing_cost,
        initial_infected=initial_infected,
    )
    return stationary_game(
        model, discount, mean_field_dependent=True, damping=damping, max_mean_field_iterations=max_mean_field_iterations
    )
