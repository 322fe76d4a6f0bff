"""Deep online mirror descent (D-OMD) for mean-field games, learned on the N-agent simulator.

Laurière, Perrin, Girgin, Muller, Jain, Cabannes, Piliouras, Pérolat, Élie, Pietquin & Geist
(2022), "Scalable deep reinforcement learning algorithms for mean field games", ICML, Alg. 2.
Online mirror descent (Perolat et al. 2022) plays the softmax of the *sum* of past Q-functions,
``pi_{k+1}(a | t, x) ∝ exp(eta * sum_{j <= k} Q^{pi_j}_t(x, a))`` from ``pi_0`` uniform; D-OMD
replaces the Q-functions and their sum by flax MLPs on the one-hot of (time, state). Iteration ``k``:

1. the population plays ``pi_k`` in ``num_episodes`` episodes of ``NAgentEnv(game, num_agents)``
   (``solvers.sampled.mean_field.simulate``), and ``td_action_values`` (or
   ``monte_carlo_action_values``) gives per-cell targets ``q^(t, x, a)`` with counts ``n(t, x, a)``;
2. a fresh **Q-network** ``A_theta`` takes ``regression_steps`` Adam steps on the count-weighted
   squared error to the sampled advantages, scaled by their count-weighted RMS ``s``::

       L(theta) = sum_{t,x,a} n (A_theta(t,x)[a] - (q^(t,x,a) - sum_b pi_k(b|t,x) q^(t,x,b)) / s)^2 / sum n

3. the warm-started **cumulative network** ``C_phi`` takes ``regression_steps`` Adam steps toward
   ``C_phi_prev(t, x)[a] + s (A_theta(t, x)[a] - sum_b pi_k(b|t,x) A_theta(t, x)[b])`` on every legal
   ``(t, x, a)``, and ``pi_{k+1}(. | t, x) = softmax(eta * C_phi(t, x))`` over the legal actions.

``output`` is ``pi_{k+1}`` at every ``(t, x)``, whose exact exploitability ``solvers.run`` records;
the exact model is never read. Why the Q-network is fresh, the finite-N bias and the choice of
``eta`` are discussed in the guide ("Neural learners", deep online mirror descent).

Shapes: features ``[M, D]`` with ``M = T*S``, ``D = T + S``; tables ``[M, A]``; the output
``([T, S, A],)``; ``SolverState.extra``: ``DeepMirrorDescentState``.

Example::

    import jax, solvers
    from jaxgames.mean_field import crowd_modelling
    solver = solvers.deep_mirror_descent(hidden_sizes=(64,), learning_rate=0.3)
    state, trace = solvers.run(solver, crowd_modelling(), 100, eval_every=10, key=jax.random.key(0))
    trace.exploitability     # exact exploitability of softmax(eta * C_phi) every 10 iterations
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax
import rlax

from jaxgames.core import Game
from solvers.core import Solver, SolverState, cached_factory, check_choice, check_int
from solvers.neural.common import (
    MLP,
    DecisionPoints,
    check_divides,
    check_hidden,
    check_key,
    check_rates,
    decision_points,
    masked_policy,
    tabular_policy,
)
from solvers.neural.parallel import shard_batch
from solvers.sampled.mean_field import (
    ESTIMATORS,
    _check_game,
    _check_sampling,
    cell_means,
    exploration_rates,
    monte_carlo_action_values,
    simulate,
    td_action_values,
)

NAME = "deep_mirror_descent"


class DeepMirrorDescentState(NamedTuple):
    """``SolverState.extra`` of ``deep_mirror_descent``."""

    key: jax.Array  # PRNG key of the next step
    q_params: Any  # flax parameters of the last Q-(advantage-)network A_theta (fitted afresh each step)
    cum_params: Any  # flax parameters of the cumulative network C_phi (the policy's logits / eta)
    cum_opt: Any  # its optax state
    q_loss: jax.Array  # scalar: the Q-network's loss (scaled targets) at its last regression step
    cum_loss: jax.Array  # scalar: the cumulative network's loss at its last regression step


def _zero_output_layer(params, hidden: tuple[int, ...]):
    """``params`` with the last ``Dense`` layer at zero: the network outputs 0 everywhere."""
    last = f"Dense_{len(hidden)}"
    inner = dict(params["params"])
    inner[last] = jax.tree_util.tree_map(jnp.zeros_like, inner[last])
    return {**params, "params": inner}


def _policy_table(net: MLP, params, points: DecisionPoints, eta) -> jax.Array:
    """``softmax(eta * C_phi)`` over the legal actions at every decision point, ``[M, A]``."""
    return masked_policy(eta * net.apply(params, points.features), points.legal).probs


def _centre(values: jax.Array, policy: jax.Array, legal: jax.Array) -> jax.Array:
    """``values - sum_a policy(a) values(a)`` on the legal actions, 0 elsewhere (``[..., A]``)."""
    safe = jnp.where(legal, values, 0.0)
    return jnp.where(legal, safe - jnp.sum(policy * safe, axis=-1, keepdims=True), 0.0)


def _regress(net: MLP, optimizer, params, opt_state, features, targets, weights, steps: int, num_minibatches: int, key):
    """``steps`` optax steps on ``sum w (net(x) - y)^2 / sum w`` (``rlax.l2_loss``), rows in minibatches.

    ``features [M, D]``, ``targets`` and ``weights`` ``[M, A]``; returns ``(params, opt_state, last loss)``.
    """
    chex.assert_equal_shape((targets, weights))
    rows = features.shape[0]
    batches = jax.random.permutation(key, rows).reshape(num_minibatches, rows // num_minibatches)

    def loss_fn(p, idx):
        w = weights[idx]
        err = rlax.l2_loss(net.apply(p, features[idx]), targets[idx])
        return jnp.sum(w * err) / jnp.maximum(jnp.sum(w), 1e-12)

    def update(carry, i):
        p, s = carry
        loss, grads = jax.value_and_grad(loss_fn)(p, batches[i % num_minibatches])
        updates, s = optimizer.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), loss

    (params, opt_state), losses = jax.lax.scan(update, (params, opt_state), jnp.arange(steps))
    return params, opt_state, losses[-1]


def _counts(samples, num_states: int, num_actions: int) -> jax.Array:
    """``[T, S, A]``: samples per cell (time, state, action)."""
    zeros = jnp.zeros_like(samples.rewards)
    return jax.vmap(lambda x, a, z: cell_means(x, a, z, num_states, num_actions)[1])(
        samples.positions, samples.actions, zeros
    )


@cached_factory
def deep_mirror_descent(
    hidden_sizes=(64,),
    learning_rate=0.3,
    num_agents: int = 1000,
    num_episodes: int = 8,
    regression_steps: int = 50,
    regression_learning_rate=1e-2,
    num_minibatches: int = 1,
    exploration=1.0,
    num_explorers: int | None = None,
    estimator: str = "td",
) -> Solver:
    """Deep online mirror descent (Laurière et al. 2022) on a mean-field game's N-agent simulator.

    ``pi_{k+1} = softmax(eta * C_phi)``, ``C_phi`` regressed on ``C_phi_prev + A_theta`` and
    ``A_theta`` on the advantages sampled under ``pi_k`` (module docstring). Output: the last
    iterate ``([T, S, A],)`` (``state.average`` holds it too). ``extra``: ``DeepMirrorDescentState``.

    Args:
      hidden_sizes: widths of both networks' hidden layers (integers >= 1; ``()`` is linear).
      learning_rate: the mirror-descent step ``eta > 0`` (may be traced: ``vmap`` over it works).
      num_agents: ``N >= 1`` agents per simulated episode (static; finite-N bias ``O(1/N)``).
      num_episodes: independent ``N``-agent episodes per iteration (static).
      regression_steps: optax (Adam) steps per iteration for each network (static, >= 1): the
        Q-network starts afresh every iteration, the cumulative network from its last parameters.
      regression_learning_rate: Adam's step size (> 0, may be traced).
      num_minibatches: minibatches of the ``T*S`` decision points (static; must divide ``T*S``).
      exploration, num_explorers, estimator: as in ``solvers.sampled_mirror_descent`` (agents
        ``0 .. num_explorers - 1`` of each episode play ``(1 - exploration) pi + exploration *
        uniform``; ``"td"`` or ``"monte_carlo"`` targets).
    """
    hidden = check_hidden(hidden_sizes)
    check_rates(
        schedules=("regression_learning_rate",),
        learning_rate=learning_rate,
        regression_learning_rate=regression_learning_rate,
    )
    num_agents, num_episodes, num_explorers = _check_sampling(num_agents, num_episodes, exploration, num_explorers)
    regression_steps = check_int(regression_steps, "regression_steps", low=1)
    num_minibatches = check_int(num_minibatches, "num_minibatches", low=1)
    check_choice(estimator, "estimator", ESTIMATORS)
    optimizer = optax.adam(regression_learning_rate)

    def setup(game: Game):
        game = _check_game(game, NAME)
        points = decision_points(game)
        check_divides(points.features.shape[0], num_minibatches, "num_minibatches", "the decision points T x S")
        return points, MLP(hidden=hidden, outputs=points.legal.shape[1])

    def init(game: Game, key=None) -> SolverState:
        points, net = setup(game)
        key = check_key(key, NAME)
        key, k_q, k_cum = jax.random.split(key, 3)
        q_params = net.init(k_q, points.features[:1])
        cum_params = _zero_output_layer(net.init(k_cum, points.features[:1]), hidden)
        table = _policy_table(net, cum_params, points, learning_rate)
        policy = tabular_policy(game, table)
        zero = jnp.zeros((), table.dtype)
        extra = DeepMirrorDescentState(
            key=key,
            q_params=q_params,
            cum_params=cum_params,
            cum_opt=optimizer.init(cum_params),
            q_loss=zero,
            cum_loss=zero,
        )
        return SolverState(policy=policy, average=policy, step=jnp.zeros((), jnp.int32), extra=extra)

    def step(game: Game, state: SolverState) -> SolverState:
        points, net = setup(game)
        ex = state.extra
        pi = state.policy[0]  # [T, S, A]
        horizon, num_states, num_actions = pi.shape
        legal = points.legal
        key, k_sim, k_q, k_cum = jax.random.split(ex.key, 4)

        # 1. play pi_k on the simulator; per-cell targets and counts
        rates = exploration_rates(num_agents, num_explorers, exploration)
        samples = simulate(game, num_agents, num_episodes, k_sim, pi, rates)
        # data-parallel runs: the simulated agents (episode after episode) split over the devices
        samples = shard_batch(
            samples, "num_episodes", axis=1, what=f"num_episodes x num_agents = {num_episodes * num_agents} agents"
        )
        if estimator == "td":
            q_hat, counts = td_action_values(samples, pi)
        else:
            q_hat = monte_carlo_action_values(samples, num_states, num_actions)
            counts = _counts(samples, num_states, num_actions)
        pi_rows = pi.reshape(-1, num_actions)
        adv_hat = _centre(q_hat.reshape(-1, num_actions), pi_rows, legal)
        weights = jnp.where(legal, counts.reshape(-1, num_actions), 0.0).astype(pi.dtype)
        chex.assert_shape((adv_hat, weights), legal.shape)

        # 2. a fresh Q-(advantage-)network regresses on the sampled advantages, scaled to unit size
        scale = jnp.sqrt(jnp.sum(weights * adv_hat**2) / jnp.maximum(jnp.sum(weights), 1.0)) + 1e-6
        k_init, k_q = jax.random.split(k_q)
        q_params = net.init(k_init, points.features[:1])
        q_params, _, q_loss = _regress(
            net,
            optimizer,
            q_params,
            optimizer.init(q_params),
            points.features,
            jax.lax.stop_gradient(adv_hat / scale),
            weights,
            regression_steps,
            num_minibatches,
            k_q,
        )

        # 3. the cumulative network regresses on C_prev + A_theta (frozen targets)
        a_new = scale * _centre(net.apply(q_params, points.features), pi_rows, legal)
        target = jax.lax.stop_gradient(net.apply(ex.cum_params, points.features) + a_new)
        cum_params, cum_opt, cum_loss = _regress(
            net,
            optimizer,
            ex.cum_params,
            ex.cum_opt,
            points.features,
            target,
            legal.astype(pi.dtype),
            regression_steps,
            num_minibatches,
            k_cum,
        )

        table = _policy_table(net, cum_params, points, learning_rate)
        policy = tabular_policy(game, table)
        extra = DeepMirrorDescentState(
            key=key,
            q_params=q_params,
            cum_params=cum_params,
            cum_opt=cum_opt,
            q_loss=q_loss.astype(pi.dtype),
            cum_loss=cum_loss.astype(pi.dtype),
        )
        return SolverState(policy=policy, average=policy, step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda state: state.policy)
