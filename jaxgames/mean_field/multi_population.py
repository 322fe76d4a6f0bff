"""Multi-population mean-field games: several populations, each with its own mean field and policy.

``P`` populations of identical agents share a grid of ``S`` states and ``A`` actions; the
representative player of population ``p`` sees its own state and every population's mean field
``mu_t = (mu^1_t, ..., mu^P_t)`` ``[P, S]``. A model gives, as pure functions of the time index ``t``
(a traced int) and the current mean fields ``mu`` ``[P, S]``:

* ``transition(t, mu) -> [P, S, A, S']``: ``P^p_t(x' | x, a, mu)``;
* ``reward(t, mu)     -> [P, S, A]``:    ``r^p_t(x, a, mu)``;

plus ``initial`` ``[P, S]`` (each population's ``mu^p_0``), ``horizon`` ``T`` and an optional
action mask ``[P, S, A]``. A policy is a tuple of ``P`` arrays ``[T, S, A]``, one per population
(the populations are the ``Game`` contract's players). Exact metrics, each one ``lax.scan`` over
time with the populations batched:

* mean fields (forward equation, all populations at once)::

      mu^p_{t+1}(x') = sum_{x,a} mu^p_t(x) pi^p_t(a|x) P^p_t(x'|x,a,mu_t)

* population ``p``'s value of ``pi'`` against the fixed mean fields ``mu = mu(pi)``: the backward
  induction of ``MeanFieldGame`` with ``r^p_t(., ., mu_t)`` and ``P^p_t(., ., mu_t)``;
  ``J_p(pi', mu) = sum_x mu^p_0(x) V^p_0(x)``;
* exploitability (OpenSpiel's multi-population MFG ``NashConv``, a *sum*, not a mean)::

      exploitability(pi) = sum_p [ max_pi' J_p(pi', mu(pi)) - J_p(pi^p, mu(pi)) ]  >= 0.

  (``Game.exploitability`` divides by the number of players; for mean-field games OpenSpiel's
  ``NashConv`` sums the populations' gains, and so does this class. A single population wrapped by
  ``as_multi_population`` gives the ``MeanFieldGame``'s exploitability.)
* ``mix_policies`` (inherited, with ``reach = mu^p``): population by population, the
  distribution-weighted average of fictitious play (Perrin et al. 2020, Eq. 5); so
  ``solvers.fictitious_play`` runs unchanged, every population best-responding to ``mu(avg)``.

Populations share ``S`` and ``A`` (pad smaller ones with unreachable states or illegal actions),
so the per-population tables stack into ``[P, ...]`` arrays and the metrics vectorise over ``P``.
Reference: Perolat, Perrin, Elie, Lauriere, Piliouras, Geist, Tuyls & Pietquin (2022), "Scaling
mean field games by online mirror descent" (AAMAS), Section 5.4 (multi-population predator-prey).

Example::

    >>> from jaxgames.mean_field import as_multi_population, crowd_modelling
    >>> game = as_multi_population(crowd_modelling(size=5, horizon=3))
    >>> game.num_populations, game.uniform_policy()[0].shape
    (1, (3, 5, 3))
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.capabilities import CapabilityError
from jaxgames.core import Evaluation, Game, Policy, is_concrete
from jaxgames.mean_field.game import MeanFieldGame, _materialise
from jaxgames.validation import check_probabilities


class MultiPopulationMeanFieldGame(Game):
    """Base class of finite-horizon mean-field games with ``num_populations`` populations.

    Subclasses define the static ints ``num_populations``, ``num_states``, ``num_actions``,
    ``horizon``, the array ``initial`` ``[P, S]``, and ``transition(t, mu)`` ``[P, S, A, S']``,
    ``reward(t, mu)`` ``[P, S, A]`` (``mu`` ``[P, S]``: every population's mean field at ``t``);
    they may override ``action_mask()`` (``[P, S, A]`` bool, default all legal).
    """

    num_populations: int
    num_states: int
    num_actions: int
    horizon: int
    initial: jax.Array

    @property
    def num_players(self) -> int:
        """The populations are the players of the ``Game`` contract."""
        return self.num_populations

    # -- the model ------------------------------------------------------------
    def transition(self, t, mu) -> jax.Array:
        """``[P, S, A, S']``: ``P^p_t(x' | x, a, mu)``, ``mu`` ``[P, S]``."""
        raise NotImplementedError

    def reward(self, t, mu) -> jax.Array:
        """``[P, S, A]``: ``r^p_t(x, a, mu)``, ``mu`` ``[P, S]``."""
        raise NotImplementedError

    def action_mask(self) -> np.ndarray:
        """``[P, S, A]`` bool: legal actions (static, the same at every time)."""
        return np.ones((self.num_populations, self.num_states, self.num_actions), bool)

    # -- the Game contract ----------------------------------------------------
    def legal_mask(self) -> Policy:
        mask = jnp.asarray(self.action_mask())
        return tuple(jnp.broadcast_to(m, (self.horizon, *m.shape)) for m in mask)

    def legal_mask_host(self) -> tuple:
        mask = np.asarray(self.action_mask())
        return tuple(np.broadcast_to(m, (self.horizon, *m.shape)) for m in mask)

    def mean_field(self, policy: Policy) -> jax.Array:
        """``[P, T, S]``: each population's mean field ``mu^p_t`` under ``policy``, from ``initial``."""
        pi = jnp.stack(policy, axis=1)  # [T, P, S, A]
        mu0 = self.initial.astype(pi.dtype)

        def forward(mu, inputs):
            t, pi_t = inputs
            nxt = jnp.einsum("px,pxa,pxay->py", mu, pi_t, self.transition(t, mu).astype(pi.dtype))
            return nxt, nxt

        if self.horizon == 1:
            return mu0[:, None]
        _, rest = jax.lax.scan(forward, mu0, (jnp.arange(self.horizon - 1), pi[:-1]))
        return jnp.moveaxis(jnp.concatenate([mu0[None], rest], axis=0), 0, 1)

    def reach(self, policy: Policy) -> Policy:
        """``(mu^1, ..., mu^P)``, each ``[T, S]``: the weights of ``mix_policies``."""
        return tuple(self.mean_field(policy))

    def _backward(self, mu, heads, xs=()):
        """Backward induction of every population against the fixed mean fields ``mu`` ``[P, T, S]``.

        Each ``head(q, *x_t) -> (V_t [P, S], out_t)`` turns the action values
        ``q = r_t + P_t V_{t+1}`` ``[P, S, A]`` into values and a per-time output; ``xs``: per-time
        inputs ``[T, P, ...]``. Returns, per head, ``(outs [T, ...], V_0 [P, S])``.
        """
        dtype = mu.dtype
        mu_t = jnp.moveaxis(mu, 1, 0)  # [T, P, S]

        def backward(values, inputs):
            t, m, x_t = inputs
            p = self.transition(t, m).astype(dtype)
            r = self.reward(t, m).astype(dtype)
            stepped = [head(r + jnp.einsum("pxay,py->pxa", p, v), *x_t) for head, v in zip(heads, values)]
            return tuple(v for v, _ in stepped), tuple(out for _, out in stepped)

        zeros = tuple(jnp.zeros((self.num_populations, self.num_states), dtype) for _ in heads)
        v0, outs = jax.lax.scan(backward, zeros, (jnp.arange(self.horizon), mu_t, tuple(xs)), reverse=True)
        return tuple(zip(outs, v0))

    # the heads of ``_backward`` (value, output) from the action values: the single-population game's
    _policy_head = MeanFieldGame._policy_head
    _max_head = MeanFieldGame._max_head

    def _soft_head(self, temperature):
        mask = jnp.asarray(self.action_mask())

        def head(q, ref_t, *_):
            soft = simplex.soft_max_value(jnp.where(mask, q, 0.0), jnp.where(mask, ref_t, 0.0), temperature)
            return jnp.where(temperature > 0, soft, jnp.max(jnp.where(mask, q, -jnp.inf), axis=-1)), q

        return head

    def _values(self, mu, v0):
        """``[P]``: ``J_p = sum_x mu^p_0(x) V^p_0(x)``."""
        return jnp.sum(mu[:, 0] * v0, axis=-1)

    def evaluate(self, policy: Policy) -> Evaluation:
        """Each population's value and Q-values against ``mu(policy)``.

        ``values`` ``[P]``, ``action_values`` ``P x [T, S, A]``, ``reach`` ``P x [T, S]`` (the mean
        fields), ``opponent_reach`` ones.
        """
        mu = self.mean_field(policy)
        ((q, v0),) = self._backward(mu, (self._policy_head(),), (jnp.stack(policy, axis=1),))
        reach = tuple(mu)
        return Evaluation(
            values=self._values(mu, v0),
            action_values=tuple(jnp.moveaxis(q, 1, 0)),
            reach=reach,
            opponent_reach=tuple(jnp.ones_like(m) for m in reach),
        )

    def best_response(self, policy: Policy) -> Policy:
        """``P x [T, S, A]`` one-hot: each population's backward induction against ``mu(policy)`` (ties: lowest)."""
        ((q, _),) = self._backward(self.mean_field(policy), (self._max_head(),))
        return tuple(simplex.one_hot_argmax(q_p, m) for q_p, m in zip(jnp.moveaxis(q, 1, 0), self.legal_mask()))

    def best_response_values(self, policy: Policy) -> jax.Array:
        """``[P]``: ``max_pi' J_p(pi', mu(policy))``."""
        mu = self.mean_field(policy)
        ((_, v0),) = self._backward(mu, (self._max_head(),))
        return self._values(mu, v0)

    def population_gains(self, policy: Policy) -> jax.Array:
        """``[P]``: ``max_pi' J_p(pi', mu(pi)) - J_p(pi^p, mu(pi))`` (one forward, one backward pass)."""
        mu = self.mean_field(policy)
        heads = (self._policy_head(), self._max_head())
        (_, v_pi), (_, v_br) = self._backward(mu, heads, (jnp.stack(policy, axis=1),))
        return self._values(mu, v_br - v_pi)

    def nash_conv(self, policy: Policy) -> jax.Array:
        """``sum_p`` of ``population_gains`` (OpenSpiel's ``NashConv``)."""
        return jnp.sum(self.population_gains(policy))

    def exploitability(self, policy: Policy) -> jax.Array:
        """``max(nash_conv, 0)``: the *sum* of the populations' gains, OpenSpiel's MFG ``NashConv``.

        (Not divided by the number of populations, unlike ``Game.exploitability``; with one
        population both agree.)
        """
        return jnp.maximum(self.nash_conv(policy), 0.0)

    def sequence_gradient(self, policy: Policy, *args, **kwargs) -> Policy:
        """Not yet for several populations: the dilated (time-structured) step is single-population."""
        raise CapabilityError(
            "geometry: 'dilated' (the time-structured mirror step) is implemented for single-population "
            "mean-field games only; use geometry='entropic' on a multi-population game"
        )

    dilated_mirror_step = sequence_gradient

    def smooth_best_response(self, policy: Policy, temperature, reference: Policy | None = None) -> Policy:
        """Each population's soft (KL-regularised) best response to ``mu(policy)``.

        ``pi^p_t(a|x) ∝ ref^p_t(a|x) exp(Q^p_t(x, a) / tau)`` with the soft backward induction of
        ``MeanFieldGame.smooth_best_response``; ``reference`` defaults to uniform, ``tau = 0`` gives
        the (one-hot) best response.
        """
        ref = self.uniform_policy() if reference is None else reference
        tau = jnp.asarray(temperature, policy[0].dtype)
        ((q, _),) = self._backward(self.mean_field(policy), (self._soft_head(tau),), (jnp.stack(ref, axis=1),))
        return tuple(
            simplex.logit_response(q_p, m, tau, r) for q_p, m, r in zip(jnp.moveaxis(q, 1, 0), self.legal_mask(), ref)
        )


@flax.struct.dataclass
class SinglePopulation(MultiPopulationMeanFieldGame):
    """A ``MeanFieldGame`` seen as a one-population ``MultiPopulationMeanFieldGame`` (``as_multi_population``)."""

    game: MeanFieldGame
    num_populations: int = flax.struct.field(pytree_node=False, default=1)

    @property
    def num_states(self) -> int:
        return self.game.num_states

    @property
    def num_actions(self) -> int:
        return self.game.num_actions

    @property
    def horizon(self) -> int:
        return self.game.horizon

    @property
    def initial(self) -> jax.Array:
        return self.game.initial[None]

    def transition(self, t, mu):
        return self.game.transition(t, mu[0])[None]

    def reward(self, t, mu):
        return self.game.reward(t, mu[0])[None]

    def action_mask(self) -> np.ndarray:
        return np.asarray(self.game.action_mask())[None]


def as_multi_population(game: MeanFieldGame) -> SinglePopulation:
    """Wrap a single-population ``MeanFieldGame`` as a one-population game (the same metrics).

    Example::

        >>> from jaxgames.mean_field import crowd_modelling
        >>> single = crowd_modelling(size=5, horizon=3)
        >>> float(as_multi_population(single).exploitability((single.uniform_policy()[0],))) > 0
        True
    """
    if not isinstance(game, MeanFieldGame):
        raise ValueError(f"game: expected a jaxgames.mean_field.MeanFieldGame, got {type(game).__name__}")
    return SinglePopulation(game=game)


def check_multi_population_model(game: MultiPopulationMeanFieldGame) -> MultiPopulationMeanFieldGame:
    """Validate shapes (always) and values (when concrete) of a model at ``t = 0, mu = initial``.

    ``initial`` ``[P, S]`` with each row a distribution, transitions ``[P, S, A, S']`` whose rows
    sum to 1 over next states, finite rewards ``[P, S, A]``.
    """
    n, s, a = game.num_populations, game.num_states, game.num_actions
    mu0 = game.initial
    if tuple(mu0.shape) != (n, s):
        raise ValueError(f"initial: expected shape [P, S] = {(n, s)}, got {tuple(mu0.shape)}")
    p = game.transition(jnp.asarray(0), mu0)
    r = game.reward(jnp.asarray(0), mu0)
    if tuple(p.shape) != (n, s, a, s):
        raise ValueError(f"transitions: expected shape [P, S, A, S'] = {(n, s, a, s)}, got {tuple(p.shape)}")
    if tuple(r.shape) != (n, s, a):
        raise ValueError(f"rewards: expected shape [P, S, A] = {(n, s, a)}, got {tuple(r.shape)}")
    if is_concrete(mu0):
        check_probabilities(_materialise(mu0, "initial"), "initial", "each population's distribution")
    if is_concrete(p) and is_concrete(r):
        p, r = _materialise(p, "transitions"), _materialise(r, "rewards")
        check_probabilities(p, "transitions", "rows over next states")
        if not np.all(np.isfinite(r)):
            raise ValueError("rewards: expected finite values, found NaN/inf")
    return game
