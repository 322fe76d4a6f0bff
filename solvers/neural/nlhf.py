"""Neural Nash learning from human feedback on contextual preference games (sampled queries only).

The game is ``jaxgames.matrix.ContextualPreferenceGame`` (contexts ``c ~ rho``, preferences
``P_c[y, y'] = Pr(y ≻ y' | c)``; a ``preference_game(P)`` is the one-context game). A flax ``MLP``
maps the one-hot of the context to logits, ``pi_theta(. | c)``, played by both players. Each step
evaluates the network on every context (the table ``pi [C, A]``: ``output`` and behaviour policy),
asks ``num_samples`` preference queries of the simulator (``c ~ rho``, ``y ~ s_c``,
``y' ~ opponent_c``, ``o ~ Bernoulli(P_c[y, y'])``) and takes ``num_updates`` optax steps on a loss.
Mirror methods (``eta = step_size``, ``mu = reference``) estimate ``g^[c, a]`` by importance weighting
per context, as in ``solvers.sampled.nlhf``, build a target log-policy and regress onto it::

    sppo      log pi* = E(log pi, g^(pi)),          E(l, g) = (1 - eta beta) l + eta beta log mu + eta g
    nash_md   log pi* = log pi_mu + eta g^(pi_mu),   log pi_mu = (1 - eta beta) log pi + eta beta log mu
    egpo      h = E(log pi, g^(pi)),  log pi* = E(log pi, g^(h))
    nash_mp   the same with the prox M(l, g) = (l + eta beta log mu + eta g) / (1 + eta beta)

    L(theta) = (1 / N) sum_k KL(pi*(. | c_k) || pi_theta(. | c_k))          (grad_logits = pi_theta - pi*)

Online IPO is a loss on the policy itself (``y, y' ~ sg(pi_theta)``, ``d = log pi_theta - log mu``)::

    L(theta) = (1 / N) sum_k [ sum_{a,b} sg(pi(a) pi(b)) (d(a) - d(b))^2 - (2 / beta) (o_k - 1/2) (d(y_k) - d(y'_k)) ]

Munos et al. 2023 (Nash-MD), Wu et al. 2024 (SPPO), Zhou, Fazel & Du 2025 (EGPO), Tiapkin et al.
2025 (Nash-MP), Calandriello et al. 2024 (online IPO). More in the guide ("Neural learners").
Shapes: features ``[2C, C]`` (one-hot contexts, one block per player); the policy table ``[C, A]``.

Example::

    import jax, solvers
    from jaxgames.matrix import random_contextual_preference
    game = random_contextual_preference(jax.random.key(0), 4, 4)
    solver = solvers.neural_nlhf("nash_md", hidden_sizes=(32,), beta=0.02, num_samples=64)
    state, trace = solvers.run(solver, game, 300, eval_every=50, key=jax.random.key(1))
    trace.nash_conv            # exact expected duality gap of the network's policy
    state.extra.queries        # preference queries asked
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import distrax
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxgames
from jaxgames import simplex
from jaxgames.core import as_float_array, is_concrete
from jaxgames.matrix.contextual import ContextualPreferenceGame
from jaxgames.matrix.game import MatrixGame
from jaxgames.matrix.preference import check_preference_game
from solvers.core import Solver, SolverState, cached_factory, check_choice, check_int, check_number
from solvers.neural.common import (
    MLP,
    check_hidden,
    check_key,
    check_rates,
    check_simulator,
    decision_points,
    masked_policy,
    tabular_policy,
    trajectory_rows,
)
from solvers.neural.parallel import shard_batch
from solvers.sampled.nlhf import (
    EVALUATIONS_PER_STEP,
    METHODS,
    explicit_step,
    geometric_mixture,
    proximal_step,
    sampling_policy,
)

WHO = "neural_nlhf"


class NeuralNLHFState(NamedTuple):
    """``SolverState.extra`` of ``neural_nlhf``."""

    key: jax.Array
    params: Any  # flax parameters of the MLP
    opt_state: Any  # optax state
    reference: jax.Array  # [C, A] the reference policy mu
    queries: jax.Array  # int32 [], preference queries asked so far


class Queries(NamedTuple):
    """One batch of sampled preference queries (``[N]`` each)."""

    row: jax.Array  # int32: the decision point (player 0's row = the context)
    y: jax.Array  # int32: player 0's response
    y_prime: jax.Array  # int32: player 1's response
    outcome: jax.Array  # float in {0, 1}: 1 when y ≻ y'


def estimate_context_win_rates(queries: Queries, sampling: jax.Array) -> jax.Array:
    """``[C, A]``: ``g^[c, a] = (1 / n_c) sum_{k: c_k = c} 1{y_k = a} (o_k - 1/2) / s_c(a)`` (0 where
    ``n_c = 0``); ``sampling [C, A]`` is the policy ``y`` was drawn from."""
    chex.assert_rank(sampling, 2)
    chex.assert_equal_shape((queries.row, queries.y, queries.outcome))
    weights = (queries.outcome - 0.5) / sampling[queries.row, queries.y]
    sums = jnp.zeros_like(sampling).at[queries.row, queries.y].add(weights)
    counts = jnp.zeros(sampling.shape[:1], sampling.dtype).at[queries.row].add(1.0)
    return sums / jnp.maximum(counts, 1.0)[:, None]


def as_contextual(game) -> ContextualPreferenceGame:
    """``game`` as a contextual preference game: itself, or a preference game ``preference_game(P)``
    as the one-context game ``P[None]`` (same array leaves; its simulator asks the same queries)."""
    if isinstance(game, MatrixGame):
        check_preference_game(game)
        return ContextualPreferenceGame((game.payoffs[0] + 0.5)[None])
    if not isinstance(game, ContextualPreferenceGame) or game.preferences.ndim != 3:
        raise ValueError(
            f"game: {WHO} expected a preference game (jaxgames.matrix.ContextualPreferenceGame, "
            f"unbatched, or preference_game(P)), got {game!r:.80}"
        )
    return game


def _reference_table(reference, field: str = "reference"):
    if reference is None:
        return None
    ref = as_float_array(reference, field)
    if ref.ndim not in (1, 2):
        raise ValueError(f"{field}: expected a [A] or [C, A] policy, got shape {tuple(ref.shape)}")
    if is_concrete(ref):
        arr = np.asarray(ref, np.float64)
        if not np.all(np.isfinite(arr)) or arr.min() < 0 or np.abs(arr.sum(-1) - 1.0).max() > 1e-4:
            raise ValueError(f"{field}: expected non-negative probabilities summing to 1 per context")
    return ref


@cached_factory
def neural_nlhf(
    method: str = "nash_md",
    hidden_sizes=(64,),
    learning_rate=1e-2,
    beta=0.02,
    step_size=0.5,
    num_samples: int = 64,
    num_updates: int = 1,
    reference=None,
    exploration=0.1,
) -> Solver:
    """A neural NLHF learner (see the module docstring).

    Args:
      method: one of ``METHODS`` (``"online_ipo"``, ``"nash_md"``, ``"sppo"``, ``"egpo"``, ``"nash_mp"``).
      hidden_sizes: the MLP's hidden widths (``()``: a linear, i.e. tabular, policy).
      learning_rate: Adam's step on the network's parameters (> 0; may be traced).
      beta: KL regularization toward ``reference`` (>= 0; > 0 for online IPO; may be traced).
      step_size: ``eta`` of the tabular mirror step whose target the network regresses onto
        (> 0; ``eta beta <= 1`` for the explicit steps; unused by online IPO; may be traced).
      num_samples: preference queries per batch (two batches per step for egpo / nash_mp).
      num_updates: optax steps per NLHF step on the same batch.
      reference: ``mu``, ``[A]`` (every context) or ``[C, A]``; default uniform.
      exploration: in [0, 1], the uniform share of the policy ``y`` is drawn from (mirror methods).
    """
    check_choice(method, "method", METHODS)
    hidden = check_hidden(hidden_sizes)
    num_samples = check_int(num_samples, "num_samples", low=1)
    num_updates = check_int(num_updates, "num_updates", low=1)
    check_rates(schedules=("learning_rate",), learning_rate=learning_rate, step_size=step_size)
    check_number(beta, "beta", low=0.0, low_open=method == "online_ipo", range_wording=True)
    check_number(exploration, "exploration", low=0.0, high=1.0)
    if (
        method in ("nash_md", "sppo", "egpo")
        and is_concrete(beta)
        and is_concrete(step_size)
        and float(step_size) * float(beta) > 1.0
    ):
        raise ValueError(
            f"step_size: {method} takes the explicit step, which needs step_size * beta <= 1, "
            f"got {float(step_size)} * {float(beta)}"
        )
    reference_ = _reference_table(reference)
    optimizer = optax.adam(learning_rate)
    batches = EVALUATIONS_PER_STEP[method]
    eta = step_size

    def setup(game):
        """``(contextual game, simulator, decision points, network)``."""
        game = as_contextual(game)
        env = check_simulator(game, WHO)
        return game, env, decision_points(game), MLP(hidden, game.num_responses)

    def table(net, params, points):
        """The network on every decision point: log-policy ``[C, A]`` (player 0's rows) and ``output``."""
        dist = masked_policy(net.apply(params, points.features), points.legal)
        C = points.features.shape[0] // 2
        return dist.logits[:C], dist.probs

    def query(key, env, game, policy, opponent) -> Queries:
        """``num_samples`` queries of the simulator: ``c ~ rho``, ``y ~ policy_c``, ``y' ~ opponent_c``."""
        _, traj = jaxgames.rollout(key, env, (policy, opponent), 1, batch_size=num_samples)
        traj = shard_batch(traj, "num_samples")  # data-parallel runs: the queries split over the devices
        rows, _ = trajectory_rows(env, game, traj.state)  # [N, 1, 2]
        return Queries(rows[:, 0, 0], traj.action[:, 0, 0], traj.action[:, 0, 1], traj.rewards[:, 0, 0] + 0.5)

    def mirror_target(key, env, game, logits, log_mu):
        """The method's tabular target log-policy ``[C, A]`` and the batch it is fitted on."""
        pi = jnp.exp(logits)
        keys = jax.random.split(key, batches)

        def win_rates(k, policy, opponent):
            s = sampling_policy(policy, exploration)
            q = query(k, env, game, s, opponent)
            return estimate_context_win_rates(q, s), q

        if method == "sppo":
            g, q = win_rates(keys[0], pi, pi)
            return explicit_step(logits, g, eta, beta, log_mu), q
        if method == "nash_md":
            mixture = geometric_mixture(logits, eta, beta, log_mu)
            g, q = win_rates(keys[0], pi, jnp.exp(mixture))
            return jax.nn.log_softmax(mixture + eta * g), q
        update = explicit_step if method == "egpo" else proximal_step
        g, _ = win_rates(keys[0], pi, pi)
        pi_half = jnp.exp(update(logits, g, eta, beta, log_mu))
        g, q = win_rates(keys[1], pi_half, pi_half)
        return update(logits, g, eta, beta, log_mu), q

    def loss_fn(params, net, points, q: Queries, target, log_mu):
        """Mean over the batch's queries of the method's loss at their contexts (module docstring)."""
        feats = points.features[q.row]
        dist = masked_policy(net.apply(params, feats), points.legal[q.row])
        if method != "online_ipo":
            return jnp.mean(distrax.Categorical(logits=target[q.row]).kl_divergence(dist))
        d = dist.logits - log_mu[q.row]  # [N, A]
        w = jax.lax.stop_gradient(dist.probs)
        own = 2.0 * (jnp.sum(w * d**2, -1) - jnp.sum(w * d, -1) ** 2)  # sum_ab w_a w_b (d_a - d_b)^2
        take = lambda v, a: jnp.take_along_axis(v, a[:, None], -1)[:, 0]
        preference = (q.outcome - 0.5) * (take(d, q.y) - take(d, q.y_prime))
        return jnp.mean(own - (2.0 / beta) * preference)

    def init(game, key=None) -> SolverState:
        check_key(key, WHO)
        played = game
        game, _, points, net = setup(game)
        C, A = game.num_contexts, game.num_responses
        dtype = jnp.result_type(float)
        if reference_ is None:
            mu = jnp.full((C, A), 1.0 / A, dtype)
        else:
            if reference_.shape not in ((A,), (C, A)):
                raise ValueError(
                    f"reference: expected shape ({A},) or ({C}, {A}) for this game, got {tuple(reference_.shape)}"
                )
            mu = jnp.broadcast_to(reference_, (C, A)).astype(dtype)
        key, k_net = jax.random.split(key)
        params = net.init(k_net, points.features[:1])
        _, probs = table(net, params, points)
        policy = tabular_policy(played, probs)
        extra = NeuralNLHFState(key, params, optimizer.init(params), mu, jnp.zeros((), jnp.int32))
        return SolverState(policy=policy, average=policy, step=jnp.zeros((), jnp.int32), extra=extra)

    def step(game, state: SolverState) -> SolverState:
        played = game
        game, env, points, net = setup(game)
        extra = state.extra
        key, k_step = jax.random.split(extra.key)
        log_mu = simplex.safe_log(extra.reference)
        logits, _ = table(net, extra.params, points)
        if method == "online_ipo":
            pi = jnp.exp(logits)
            q, target = query(k_step, env, game, pi, pi), None
        else:
            target, q = mirror_target(k_step, env, game, logits, log_mu)
            target = jax.lax.stop_gradient(target)
        chex.assert_shape(q.row, (num_samples,))

        def update(_, carry):
            params, opt_state = carry
            grads = jax.grad(loss_fn)(params, net, points, q, target, log_mu)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        params, opt_state = jax.lax.fori_loop(0, num_updates, update, (extra.params, extra.opt_state))
        _, probs = table(net, params, points)
        policy = tabular_policy(played, probs)
        extra = extra._replace(
            key=key, params=params, opt_state=opt_state, queries=extra.queries + batches * num_samples
        )
        return SolverState(policy=policy, average=policy, step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda s: s.policy)
