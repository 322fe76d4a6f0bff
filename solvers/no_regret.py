"""No-regret dynamics whose empirical joint play converges to coarse correlated or correlated equilibria.

Every player of an N-player ``MatrixGame`` runs its own no-regret algorithm with full-information
expected feedback: at round ``t`` the players play the mixed strategies ``x_t = (x_t^1, ..., x_t^N)``
(``state.policy``) and each player ``i`` observes its action values ``q_t^i = game.action_values(x_t)[i]``
(expected payoffs against the others' current strategies). Nothing is sampled: the run is
deterministic, and the *empirical joint play* after ``T`` rounds is the time average of the product
distributions, ``joint_T = (1 / T) sum_t x_t^1 (x) ... (x) x_t^N`` (``[A_1, ..., A_N]``, in
``state.extra.joint``). Its gaps *are* the players' average regrets (Hart & Mas-Colell 2000; the
identities hold exactly, round by round):

* ``cce_gap(game, joint_T) = max(0, max_i max_k R_i[k] / T)``, with the external regrets
  ``R_i[k] = sum_t (q_t^i[k] - <x_t^i, q_t^i>)``;
* ``ce_gap(game, joint_T) = max_i sum_j max_k C_i[j, k] / T``, with the conditional (swap) regrets
  ``C_i[j, k] = sum_t x_t^i[j] (q_t^i[k] - q_t^i[j])``.

So external-regret dynamics drive the joint to the CCE set and internal-regret dynamics to the CE
set, at the rate of the regret bounds below (``Delta``: the payoff spread ``2 *
solvers.scale.payoff_scale(game)``, the largest range of one player's payoffs; ``A``: its actions):

* ``cce_regret_matching`` (Hart & Mas-Colell 2000): ``x^i ∝ max(R_i, 0)`` (uniform when none is
  positive); ``max_k R_i[k] <= Delta sqrt(A T)``.
* ``cce_hedge`` (multiplicative weights; Freund & Schapire 1997): ``x^i ∝ exp(eta_t R_i)`` with
  ``eta_t = sqrt(8 ln A / t) / Delta`` by default (Cesa-Bianchi & Lugosi 2006, Thm 2.3):
  ``max_k R_i[k] <= Delta (sqrt(2 T ln A) + sqrt(ln A / 8))``; a constant ``learning_rate`` eta
  gives ``<= ln A / eta + eta T Delta^2 / 8``.
* ``cce_optimistic_hedge`` (Rakhlin & Sridharan 2013; Syrgkanis et al. 2015): ``x^i ∝ exp(eta_t
  (R_i + r_last))``, the last round's instantaneous regret ``r_last = q_{t-1} - <x_{t-1}, q_{t-1}>``
  counted twice (the prediction of the next one); ``max_k R_i[k] <= ln A / eta + eta sum_t ||q_t -
  q_{t-1}||_inf^2``, which is ``O(T^(1/4))`` per player in self-play with a constant eta and
  polylogarithmic with eta small enough (Daskalakis, Fishelson & Golowich 2021).
* ``ce_regret_matching`` (Hart & Mas-Colell 2000, the invariant-distribution form of their
  conditional regret matching; Foster & Vohra 1997; Cesa-Bianchi & Lugosi 2006, Sec. 4.4): ``x^i``
  is a stationary distribution of the Markov chain that moves from ``j`` to ``k != j`` with
  probability ``max(C_i[j, k], 0) / mu`` (any ``mu`` large enough; ``x`` does not depend on it), so
  that ``sum_{j,k} max(C_i[j, k], 0) x^i[j] (q[k] - q[j]) = 0`` for every ``q`` (Blackwell's
  condition); swap regret ``sum_j max_k C_i[j, k] <= Delta sqrt(A (A - 1) T)``.
* ``blum_mansour`` (Blum & Mansour 2007): ``A`` copies of Hedge per player, copy ``j`` fed
  ``x_t^i[j] q_t^i``; they output the rows of a stochastic matrix ``Q[j] ∝ exp(eta_t C_i[j])``
  and ``x^i`` is its stationary distribution, ``x^i Q = x^i``; swap regret ``<= A Delta (sqrt(2
  T ln A) + sqrt(ln A / 8))`` with the default ``eta_t``.

Stationary distributions come from ``jaxgames.markov_chain.stationary_distribution`` (GTH state
reduction: entrywise accurate, a proper distribution also where the chain has several closed classes,
where any stationary distribution satisfies Blackwell's condition); ``stationary_distribution`` here
is that function.

``solvers.run`` records ``solver.metric``: the CCE gap (external-regret dynamics) or the CE gap
(internal-regret dynamics) of ``state.extra.joint``, in ``Trace.exploitability`` (``Trace.nash_conv``
is that times ``N``, as for every solver). ``output(state)`` is ``state.average``, the per-player
time average of ``x_t``: the marginals of the joint, a ``Policy`` as every solver returns (the
product of the marginals is in general *not* an equilibrium; the joint is the answer). The updates
are simultaneous, so that round ``t``'s play is one product distribution. Matrix games only
(the full-information feedback is ``game.action_values``). ``state.step`` counts the rounds ``T``
folded into the joint; at ``T = 0`` the joint is the product of the initial strategies.

Example::

    game = jaxgames.matrix.chicken()
    state, trace = solvers.run(solvers.ce_regret_matching(), game, 500)
    trace.exploitability[-1]            # the CE gap of the empirical joint play, -> 0
    state.extra.joint                   # [2, 2]: close to a correlated equilibrium
    jaxgames.general_sum.ce_gap(game, state.extra.joint) == trace.exploitability[-1]
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgames import simplex
from jaxgames.core import Game, Policy
from jaxgames.general_sum.gaps import cce_gap, ce_gap, product_joint
from jaxgames.markov_chain import stationary_distribution  # also public here, as before
from jaxgames.matrix.game import MatrixGame
from solvers.core import Solver, SolverState, cached_factory, check_number, initial_state, update_average
from solvers.scale import payoff_scale


class ExternalRegretState(NamedTuple):
    """``SolverState.extra`` of ``cce_regret_matching``, ``cce_hedge`` and ``cce_optimistic_hedge``.

    Attributes:
      regrets: per player ``[A_i]``, the cumulative external regrets ``R_i[k] = sum_t (q_t[k] -
        <x_t, q_t>)``.
      last: per player ``[A_i]``, the last round's instantaneous regrets (optimistic Hedge's
        prediction; zeros before the first round).
      joint: ``[A_1, ..., A_N]``, the empirical joint play ``(1 / T) sum_t prod_i x_t^i``.
      spread: scalar, the payoff spread ``Delta = 2 payoff_scale(game)`` (the default step sizes'
        unit), computed at ``init``.
    """

    regrets: Policy
    last: Policy
    joint: jax.Array
    spread: jax.Array


class SwapRegretState(NamedTuple):
    """``SolverState.extra`` of ``ce_regret_matching`` and ``blum_mansour``.

    Attributes:
      regrets: per player ``[A_i, A_i]``, the cumulative conditional (swap) regrets ``C_i[j, k] =
        sum_t x_t[j] (q_t[k] - q_t[j])`` (zero diagonal).
      joint: ``[A_1, ..., A_N]``, the empirical joint play.
      spread: scalar, the payoff spread ``Delta`` (as ``ExternalRegretState.spread``).
    """

    regrets: Policy
    joint: jax.Array
    spread: jax.Array


def _check_game(game, who: str) -> None:
    if not isinstance(game, MatrixGame):
        raise ValueError(
            f"game: {who} needs a jaxgames.matrix.MatrixGame (full-information action values), "
            f"got {type(game).__name__}"
        )


def _spread(game: Game) -> jax.Array:
    return 2.0 * payoff_scale(game)


def _anytime_rate(t, num_actions: int, spread, learning_rate):
    """``eta_t``: ``learning_rate`` if given, else ``sqrt(8 ln A / t) / spread``."""
    if learning_rate is not None:
        return jnp.asarray(learning_rate, spread.dtype)
    return jnp.sqrt(8.0 * jnp.log(float(num_actions)) / t) / spread


def _generator_chain(weights: jax.Array) -> jax.Array:
    """``Q = I + (W - diag(rowsum W)) / mu`` for non-negative ``W [A, A]`` (diagonal ignored),
    ``mu`` above every row sum: the chain of Hart & Mas-Colell's conditional regret matching."""
    w = weights * (1.0 - jnp.eye(weights.shape[-1], dtype=weights.dtype))
    rows = jnp.sum(w, axis=-1)
    mu = 2.0 * jnp.maximum(jnp.max(rows), jnp.finfo(w.dtype).tiny)
    return jnp.eye(w.shape[-1], dtype=w.dtype) + (w - jnp.diag(rows)) / mu


def _fold_joint(state: SolverState, played: Policy, joint: jax.Array) -> jax.Array:
    t = state.step.astype(joint.dtype)
    return joint + (product_joint(played) - joint) / (t + 1.0)


def _metric(gap):
    def metric(game, state):
        return gap(game, state.extra.joint)

    return metric


def _external(rule: str, learning_rate) -> Solver:
    who = {"rm": "cce_regret_matching", "hedge": "cce_hedge", "optimistic": "cce_optimistic_hedge"}[rule]

    def init(game: Game, key=None) -> SolverState:
        _check_game(game, f"solvers.{who}")
        state = initial_state(game, key)
        zeros = tuple(jnp.zeros_like(p) for p in state.policy)
        extra = ExternalRegretState(zeros, zeros, product_joint(state.policy), _spread(game))
        return state.replace(extra=extra)

    def step(game: Game, state: SolverState) -> SolverState:
        x, extra = state.policy, state.extra
        q = game.action_values(x)
        inst = tuple(qi - jnp.dot(xi, qi) for xi, qi in zip(x, q))
        regrets = tuple(r + d for r, d in zip(extra.regrets, inst))
        t = state.step.astype(extra.spread.dtype) + 2.0  # the next round's index (1-based)
        policy = []
        for r, d in zip(regrets, inst):
            if rule == "rm":
                policy.append(simplex.normalize(jnp.maximum(r, 0.0), jnp.ones_like(r, bool)))
                continue
            eta = _anytime_rate(t, r.shape[-1], extra.spread, learning_rate)
            logits = eta * (r + d) if rule == "optimistic" else eta * r
            policy.append(jax.nn.softmax(logits))
        joint = _fold_joint(state, x, extra.joint)
        return SolverState(
            policy=tuple(policy),
            average=update_average(game, state, x),
            step=state.step + 1,
            extra=ExternalRegretState(regrets, inst, joint, extra.spread),
        )

    return Solver(init=init, step=step, output=lambda state: state.average, metric=_metric(cce_gap))


def _internal(rule: str, learning_rate) -> Solver:
    who = {"rm": "ce_regret_matching", "bm": "blum_mansour"}[rule]

    def init(game: Game, key=None) -> SolverState:
        _check_game(game, f"solvers.{who}")
        state = initial_state(game, key)
        zeros = tuple(jnp.zeros((p.shape[-1], p.shape[-1]), p.dtype) for p in state.policy)
        return state.replace(extra=SwapRegretState(zeros, product_joint(state.policy), _spread(game)))

    def step(game: Game, state: SolverState) -> SolverState:
        x, extra = state.policy, state.extra
        q = game.action_values(x)
        # C[j, k] += x[j] (q[k] - q[j])
        regrets = tuple(c + xi[:, None] * (qi[None, :] - qi[:, None]) for c, xi, qi in zip(extra.regrets, x, q))
        t = state.step.astype(extra.spread.dtype) + 2.0
        policy = []
        for c in regrets:
            if rule == "rm":
                chain = _generator_chain(jnp.maximum(c, 0.0))
            else:
                chain = jax.nn.softmax(_anytime_rate(t, c.shape[-1], extra.spread, learning_rate) * c, axis=-1)
            policy.append(stationary_distribution(chain))
        joint = _fold_joint(state, x, extra.joint)
        return SolverState(
            policy=tuple(policy),
            average=update_average(game, state, x),
            step=state.step + 1,
            extra=SwapRegretState(regrets, joint, extra.spread),
        )

    return Solver(init=init, step=step, output=lambda state: state.average, metric=_metric(ce_gap))


@cached_factory
def cce_regret_matching() -> Solver:
    """Regret matching on external regrets (Hart & Mas-Colell 2000), all players simultaneously:
    ``R_i += q_i - <x_i, q_i>``, ``x_i ∝ max(R_i, 0)``. The empirical joint play converges to the
    CCE set, ``cce_gap <= Delta sqrt(A / T)`` (module docstring); ``run`` records that gap.

    Example::

        state, trace = solvers.run(solvers.cce_regret_matching(), jaxgames.matrix.chicken(), 300)
        trace.exploitability[-1], state.extra.joint   # CCE gap of the joint play; the joint [2, 2]
    """
    return _external("rm", None)


@cached_factory
def cce_hedge(learning_rate: float | None = None) -> Solver:
    """Hedge / multiplicative weights (Freund & Schapire 1997) for every player: ``x_i ∝ exp(eta_t
    R_i)`` (``R_i`` the cumulative external regrets; shift-invariant, so the cumulative payoffs alike).

    Args:
      learning_rate: ``None`` (default) for the anytime ``eta_t = sqrt(8 ln A_i / t) / Delta``
        (``Delta`` the payoff spread; ``cce_gap <= Delta (sqrt(2 ln A / T) + sqrt(ln A / 8) / T)``), or
        a constant ``eta > 0`` in inverse payoff units.

    Example::

        state, trace = solvers.run(solvers.cce_hedge(), game, 500)   # trace.exploitability: CCE gap
    """
    check_number(learning_rate, "learning_rate", 0, low_open=True, optional=True)
    return _external("hedge", learning_rate)


@cached_factory
def cce_optimistic_hedge(learning_rate: float | None = None) -> Solver:
    """Optimistic Hedge (Rakhlin & Sridharan 2013; Syrgkanis et al. 2015; Daskalakis, Fishelson &
    Golowich 2021): ``x_i ∝ exp(eta_t (R_i + r_i))``, the last round's regret ``r_i`` counted twice.

    Args:
      learning_rate: ``None`` (default) for ``eta_t = sqrt(8 ln A_i / t) / Delta`` as ``cce_hedge``,
        or a constant ``eta > 0`` (inverse payoff units), the setting of the fast self-play rates.

    Example::

        state, trace = solvers.run(solvers.cce_optimistic_hedge(0.5), game, 500)
    """
    check_number(learning_rate, "learning_rate", 0, low_open=True, optional=True)
    return _external("optimistic", learning_rate)


@cached_factory
def ce_regret_matching() -> Solver:
    """Conditional (internal) regret matching (Hart & Mas-Colell 2000), in its invariant-distribution
    form: ``C_i[j, k] += x_i[j] (q_i[k] - q_i[j])``; ``x_i`` is a stationary distribution of the
    chain moving ``j -> k`` with probability ``max(C_i[j, k], 0) / mu``. The empirical joint play
    converges to the CE set, ``ce_gap <= Delta sqrt(A (A - 1) / T)``; ``run`` records that gap.

    Example::

        state, trace = solvers.run(solvers.ce_regret_matching(), jaxgames.matrix.chicken(), 500)
        trace.exploitability[-1]   # the CE gap of state.extra.joint
    """
    return _internal("rm", None)


@cached_factory
def blum_mansour(learning_rate: float | None = None) -> Solver:
    """Blum & Mansour's (2007) swap-regret reduction with Hedge: per player ``A`` Hedge copies,
    copy ``j`` weighted by ``x_i[j]``, output ``Q[j] ∝ exp(eta_t C_i[j])``; play ``x_i = x_i Q``.

    Args:
      learning_rate: ``None`` (default) for ``eta_t = sqrt(8 ln A_i / t) / Delta``
        (``ce_gap <= A Delta (sqrt(2 ln A / T) + sqrt(ln A / 8) / T)``), or a constant ``eta > 0``.

    Example::

        state, trace = solvers.run(solvers.blum_mansour(), game, 500)   # trace.exploitability: CE gap
    """
    check_number(learning_rate, "learning_rate", 0, low_open=True, optional=True)
    return _internal("bm", learning_rate)


def average_external_regrets(state: SolverState) -> jax.Array:
    """``[N]``: each player's largest average external regret ``max_k R_i[k] / T`` (an
    ``ExternalRegretState``; ``T = state.step >= 1``); its clipped max is the joint's CCE gap."""
    t = jnp.maximum(state.step, 1).astype(state.extra.spread.dtype)
    return jnp.stack([jnp.max(r) for r in state.extra.regrets]) / t


def average_swap_regrets(state: SolverState) -> jax.Array:
    """``[N]``: each player's average swap regret ``sum_j max_k C_i[j, k] / T`` (a
    ``SwapRegretState``); its max is the joint's CE gap."""
    t = jnp.maximum(state.step, 1).astype(state.extra.spread.dtype)
    return jnp.stack([jnp.sum(jnp.max(c, axis=-1)) for c in state.extra.regrets]) / t
