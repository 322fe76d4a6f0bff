"""R-NaD: regularized Nash dynamics with a neural network, from simulated self-play, on extensive-form games.

Perolat et al. (2022), "Mastering the game of Stratego with model-free multiagent reinforcement
learning" (Science 378): DeepNash's algorithm, as in OpenSpiel's JAX reference (``rnad``). One
network (``common.PolicyValueNet``) gives logits and a value at a decision point and plays every
seat; ``target`` is its Polyak average, ``reg_cur`` / ``reg_prev`` the last two fixed points. One
step, on ``B = batch_size`` self-play episodes:

1. ``jaxgames.rollout`` plays the episodes with the network's policy ``mu`` on every decision point;
2. rewards are transformed toward ``log pi_reg = alpha log pi_cur + (1 - alpha) log pi_prev``::

       r_i + eta * sign_ij * KL(pi(.|x) || pi_reg(.|x))       sign_ii = -1, sign_ij = +1 (j != i)

3. v-trace per player on the target values, ``rho_k`` the product of the ratios ``pi / mu`` from
   ``i``'s decision ``k`` to its next, and importance-weighted NeuRD action values ``Q``::

       v_k = V(x_k) + min(rho_bar, rho_k) (R_k + V(x_{k+1}) - V(x_k)) + min(c_bar, rho_k) (v_{k+1} - V(x_{k+1}))

4. one Adam step on ``sum_i E[(V_theta - v)^2] - sum_i E[sum_a z_theta(a) F(a)]`` (NeuRD, Hennes et
   al. 2020: centred logits ``z``, force ``F`` the clipped advantage, thresholded at ``|z| = beta``);
5. ``target <- target + target_rate (params - target)``; every ``period`` steps
   ``reg_prev, reg_cur <- reg_cur, target`` (fixed-point iterations, Perolat et al. 2021).

``output`` is the target network's policy (last iterate). Details: the guide ("Neural learners").

Shapes: ``points.features [M, D]``; a rollout ``[B, T]`` (``T = tree.max_depth``); the v-trace
outputs ``[N, B, T]`` and ``[N, B, T, A]``.

Example::

    import jax, jaxgames, solvers
    solver = solvers.rnad(hidden_sizes=(64,), batch_size=256)
    state, trace = solvers.run(solver, jaxgames.kuhn_poker(), 600, eval_every=200, key=jax.random.key(0))
    trace.nash_conv          # exact NashConv of the target network's policy every 200 steps
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgames.core import Game
from jaxgames.env import rollout
from solvers.core import Solver, SolverState, check_int, check_number
from solvers.neural.common import (
    PolicyValueNet,
    check_hidden,
    check_key,
    check_rates,
    check_simulator,
    decision_points,
    masked_policy,
    policy_table,
    tabular_policy,
    trajectory_rows,
)
from solvers.neural.parallel import shard_batch

NAME = "rnad"


class RNaDState(NamedTuple):
    """``SolverState.extra`` of R-NaD."""

    params: Any  # flax parameters of the trained policy-value network
    target: Any  # Polyak average of ``params`` (its policy is the output)
    reg_cur: Any  # the latest fixed point (regularization network)
    reg_prev: Any  # the one before
    opt_state: Any  # optax state of ``params``
    key: jax.Array  # PRNG key of the next step
    table: jax.Array  # float [M, A]: the policy of ``params`` at every decision point (behaviour)


# ----------------------------------------------------------------------------- schedule


def fixed_point_schedule(period, period_repeats=1) -> tuple[np.ndarray, int]:
    """``(starts, last)``: the first steps of the explicit periods (``starts[0] = 0``, then the
    cumulative sizes) and the size ``last`` repeated after ``starts[-1]`` (host values)."""
    sizes = _int_tuple(period, "period")
    repeats = _int_tuple(period_repeats, "period_repeats")
    if len(repeats) == 1 and len(sizes) > 1:
        repeats = repeats * len(sizes)
    if len(repeats) != len(sizes):
        raise ValueError(f"period_repeats: expected one count per period size ({len(sizes)}), got {len(repeats)}")
    lengths = np.repeat(np.asarray(sizes, np.int64), repeats)
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32), int(sizes[-1])


def _int_tuple(value, field: str) -> tuple[int, ...]:
    values = (value,) if isinstance(value, (int, np.integer)) else value
    try:
        values = tuple(values)
    except TypeError:
        raise ValueError(f"{field}: expected an integer >= 1 or a sequence of them, got {value!r}") from None
    if not values:
        raise ValueError(f"{field}: expected an integer >= 1 or a non-empty sequence of them, got {value!r}")
    return tuple(check_int(v, field, low=1) for v in values)


def schedule_position(step: jax.Array, starts: np.ndarray, last: int) -> tuple[jax.Array, jax.Array]:
    """``(alpha, new_period)`` at learner step ``step`` (traced int): the interpolation weight
    ``min(1, 2 (step - start) / size)`` of the current period and whether ``step > 0`` starts one."""
    starts_j = jnp.asarray(starts)
    end = starts_j[-1]
    beyond = step >= end
    k = jnp.clip(jnp.searchsorted(starts_j, step, side="right") - 1, 0, len(starts) - 2)
    start = jnp.where(beyond, end + (step - end) // last * last, starts_j[k])
    size = jnp.where(beyond, last, starts_j[k + 1] - starts_j[k])
    dtype = jnp.result_type(float)
    alpha = jnp.minimum(2.0 * (step - start).astype(dtype) / size.astype(dtype), 1.0)
    return alpha, (step > 0) & (step == start)


# ----------------------------------------------------------------------------- the pieces


def log_policy(logits: jax.Array, legal: jax.Array) -> jax.Array:
    """``log pi`` of the masked policy (``masked_policy``, distrax), 0 on illegal actions."""
    return jnp.where(legal, masked_policy(logits, legal).logits, 0.0)


def regularization_log_ratio(
    log_pi: jax.Array, log_cur: jax.Array, log_prev: jax.Array, alpha, legal: jax.Array
) -> jax.Array:
    """``log(pi / pi_reg)`` per action, ``log pi_reg = alpha log_cur + (1 - alpha) log_prev``;
    0 on illegal actions. Shapes ``[..., A]``."""
    chex.assert_equal_shape([log_pi, log_cur, log_prev, legal])
    return jnp.where(legal, log_pi - (alpha * log_cur + (1.0 - alpha) * log_prev), 0.0)


class VTraceInputs(NamedTuple):
    """One trajectory ``[T]`` (``A`` actions), as ``player_vtrace`` reads it."""

    value: jax.Array  # [T]: V(x_t) of the acting player (the target network's value)
    reward: jax.Array  # [T]: the player's reward of the transition taken at t
    acting: jax.Array  # int [T]: who acts at t (any value where ``valid`` is false)
    valid: jax.Array  # bool [T]: a decision was taken at t (false after the episode's end)
    ratio: jax.Array  # [T]: pi(a_t|x_t) / mu(a_t|x_t)
    inv_mu: jax.Array  # [T]: 1 / mu(a_t|x_t)
    log_ratio: jax.Array  # [T, A]: log(pi / pi_reg)(a|x_t), 0 on illegal actions
    policy: jax.Array  # [T, A]: pi(.|x_t)
    action: jax.Array  # int [T]: a_t


def player_vtrace(inputs: VTraceInputs, player, eta, c_bar=1.0, rho_bar=None) -> tuple[jax.Array, jax.Array]:
    """Player ``player``'s v-trace targets ``v [T]`` and NeuRD action values ``Q [T, A]`` on one
    interleaved trajectory (module docstring, step 3); both 0 where ``player`` does not act.

    A reverse scan whose carry summarizes the steps after ``t`` up to ``player``'s next decision:
    the transformed reward ``R`` (uncorrected), its per-decision importance-weighted form ``Y``,
    the product ``W`` of the opponents' ratios, and ``V`` and ``v`` at that next decision. An
    invalid step (after the end) resets the carry. ``rho_bar=None``: no clipping of ``rho``.
    """
    chex.assert_rank([inputs.value, inputs.log_ratio], [1, 2])
    kl = jnp.sum(inputs.policy * inputs.log_ratio, axis=-1)
    num_actions = inputs.log_ratio.shape[-1]
    dtype = inputs.value.dtype
    zero = jnp.zeros((), dtype)
    reset = (zero, zero, jnp.ones((), dtype), zero, zero)

    def body(carry, x):
        unc, weighted, w, next_v, next_target = carry
        value, reward, acting, valid, ratio, inv_mu, log_ratio, kl_t, action = x
        own = acting == player
        reg = jnp.where(own, -eta, eta) * kl_t
        # own decision: close the transition started here
        rho = ratio * w
        clipped_rho = rho if rho_bar is None else jnp.minimum(rho_bar, rho)
        target = (
            value
            + clipped_rho * (reward + reg + unc + next_v - value)
            + jnp.minimum(c_bar, rho) * (next_target - next_v)
        )
        sample = reward + weighted + w * next_target - value
        q = value - eta * log_ratio + jax.nn.one_hot(action, num_actions, dtype=dtype) * inv_mu * sample
        own_carry = (zero, zero, jnp.ones((), dtype), value, target)
        # opponent's decision: part of the player's transition
        opp_carry = (reward + reg + unc, reg + ratio * (reward + weighted), ratio * w, next_v, next_target)
        new = jax.tree_util.tree_map(
            lambda a, b, c: jnp.where(valid, jnp.where(own, a, b), c), own_carry, opp_carry, reset
        )
        mine = valid & own
        return new, (jnp.where(mine, target, 0.0), jnp.where(mine, q, 0.0))

    xs = (
        inputs.value,
        inputs.reward,
        inputs.acting,
        inputs.valid,
        inputs.ratio,
        inputs.inv_mu,
        inputs.log_ratio,
        kl,
        inputs.action,
    )
    _, (targets, q) = jax.lax.scan(body, reset, xs, reverse=True)
    return targets, q


def neurd_loss(logits: jax.Array, legal: jax.Array, advantage: jax.Array, beta, clip) -> jax.Array:
    """Per-decision NeuRD loss ``-sum_a legal z(a) F(a)`` (module docstring, step 4): ``[...]``.

    ``advantage [..., A]`` is clipped to ``[-clip, clip]`` and gets no gradient; ``beta`` bounds the
    centred logits ``z`` beyond which the force stops pushing them further out.
    """
    chex.assert_equal_shape([logits, legal, advantage])
    legal_f = legal.astype(logits.dtype)
    z = logits - jnp.sum(logits * legal_f, -1, keepdims=True) / jnp.maximum(legal_f.sum(-1, keepdims=True), 1.0)
    force = jax.lax.stop_gradient(jnp.clip(advantage, -clip, clip))
    force = jnp.where(z < beta, jnp.maximum(force, 0.0), 0.0) + jnp.where(z > -beta, jnp.minimum(force, 0.0), 0.0)
    return -jnp.sum(legal_f * z * jax.lax.stop_gradient(force), axis=-1)


# ----------------------------------------------------------------------------- the learner


def post_process(table: jax.Array, threshold=None, discretization: int | None = None) -> jax.Array:
    """``[M, A]`` rows with probabilities below ``threshold`` zeroed and renormalized, then rounded
    to multiples of ``1 / discretization`` by largest remainders (each row still sums to 1)."""
    if threshold is not None:
        kept = jnp.where(table >= jnp.minimum(threshold, table.max(axis=-1, keepdims=True)), table, 0.0)
        table = kept / kept.sum(axis=-1, keepdims=True)
    if discretization is not None:
        scaled = table * discretization
        floor = jnp.floor(scaled)
        missing = jnp.round(discretization - floor.sum(axis=-1, keepdims=True))
        rank = jnp.argsort(jnp.argsort(-(scaled - floor), axis=-1), axis=-1)
        table = (floor + (rank < missing)) / discretization
    return table


def _check_game(game) -> None:
    from jaxgames.efg.game import EFGGame

    if not isinstance(game, EFGGame):
        raise ValueError(
            f"game: {NAME} needs an extensive-form game (jaxgames.efg.EFGGame, e.g. "
            f"jaxgames.kuhn_poker()), got {type(game).__name__}"
        )
    check_simulator(game, NAME)


def _network(points, hidden) -> PolicyValueNet:
    return PolicyValueNet(hidden=hidden, num_actions=points.legal.shape[1])


def _heads(net, params, features, legal):
    """``(logits [..., A], value [...])``; logits unmasked (NeuRD centres them on legal actions)."""
    return net.apply(params, features)


def _per_player_mean(x: jax.Array, own: jax.Array) -> jax.Array:
    """``sum_i mean_{own_i}(x)`` for ``x [B, T]``, ``own [N, B, T]``."""
    own = own.astype(x.dtype)
    return jnp.sum(jnp.sum(own * x, axis=(1, 2)) / jnp.maximum(own.sum(axis=(1, 2)), 1.0))


def rnad(
    hidden_sizes=(64,),
    batch_size: int = 256,
    learning_rate=3e-3,
    eta_reward_transform=0.2,
    period=200,
    period_repeats=1,
    beta=2.0,
    neurd_clip=10_000.0,
    target_rate=0.01,
    c_vtrace=1.0,
    rho_vtrace=None,
    max_grad_norm=10.0,
    output_threshold=None,
    output_discretization: int | None = None,
) -> Solver:
    """R-NaD (Perolat et al. 2022) on extensive-form games, from the simulator only.

    Args (the module docstring has the update):
      hidden_sizes: widths of the hidden layers of the policy torso and of the value torso.
      batch_size: whole episodes per learner step.
      learning_rate: Adam's step size (``b1 = 0``).
      eta_reward_transform: ``eta``, the weight of ``log(pi / pi_reg)`` in the rewards.
      period, period_repeats: learner steps per fixed-point iteration (an integer, or sizes with
        their repetition counts, the last size repeated forever).
      beta: NeuRD's threshold on the centred logits.
      neurd_clip: the advantages are clipped to ``[-neurd_clip, neurd_clip]``.
      target_rate: Polyak rate of the target network (the output; the next fixed point).
      c_vtrace, rho_vtrace: v-trace's clipping thresholds ``c_bar`` and ``rho_bar`` (``None``: none).
      max_grad_norm: global-norm gradient clipping.
      output_threshold, output_discretization: the reference's post-processing of the reported
        policy (not of the behaviour): probabilities below the threshold become 0, and the rest are
        rounded to multiples of ``1 / output_discretization`` (largest remainders first), e.g.
        ``0.03`` and ``32`` as in OpenSpiel's R-NaD; ``None``: the network's policy as it is.

    Rates may be traced (``jax.vmap`` over them); sizes and the schedule are static.
    Example: ``solvers.run(solvers.rnad(), jaxgames.kuhn_poker(), 2000, key=jax.random.key(0))``.
    """
    hidden = check_hidden(hidden_sizes)
    batch_size = check_int(batch_size, "batch_size", low=1)
    starts, last = fixed_point_schedule(period, period_repeats)
    check_rates(
        optional=("rho_vtrace", "output_threshold"),
        schedules=("learning_rate",),  # None: off
        learning_rate=learning_rate,
        eta_reward_transform=eta_reward_transform,
        beta=beta,
        neurd_clip=neurd_clip,
        target_rate=target_rate,
        c_vtrace=c_vtrace,
        max_grad_norm=max_grad_norm,
        rho_vtrace=rho_vtrace,
        output_threshold=output_threshold,
    )
    if output_discretization is not None:
        output_discretization = check_int(output_discretization, "output_discretization", low=1)
    check_number(target_rate, "target_rate", 0, 1, low_open=True)
    optimizer = optax.chain(
        optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate, b1=0.0, b2=0.999, eps=1e-8)
    )

    def init(game: Game, key=None) -> SolverState:
        _check_game(game)
        key = check_key(key, NAME)
        points = decision_points(game)
        k_net, key = jax.random.split(key)
        net = _network(points, hidden)
        params = net.init(k_net, points.features[:1])
        table = policy_table(net, params, points)
        extra = RNaDState(
            params=params,
            target=params,
            reg_cur=params,
            reg_prev=params,
            opt_state=optimizer.init(params),
            key=key,
            table=table,
        )
        policy = tabular_policy(game, table)
        return SolverState(policy=policy, average=policy, step=jnp.zeros((), jnp.int32), extra=extra)

    def loss_fn(params, net, ex: RNaDState, batch, alpha):
        features, legal, acting, valid, action, rewards, mu = batch
        num_players = rewards.shape[-1]
        logits, value = _heads(net, params, features, legal)  # [B, T, A], [B, T]
        log_pi = jax.lax.stop_gradient(log_policy(logits, legal))
        pi = jnp.exp(log_pi) * legal
        _, v_target_net = _heads(net, ex.target, features, legal)
        log_cur = log_policy(_heads(net, ex.reg_cur, features, legal)[0], legal)
        log_prev = log_policy(_heads(net, ex.reg_prev, features, legal)[0], legal)
        log_ratio = jax.lax.stop_gradient(regularization_log_ratio(log_pi, log_cur, log_prev, alpha, legal))
        pi_a = jnp.take_along_axis(pi, action[..., None], -1)[..., 0]
        mu_a = jnp.take_along_axis(mu, action[..., None], -1)[..., 0]
        mu_a = jnp.where(valid, mu_a, 1.0)
        inputs = VTraceInputs(
            value=jax.lax.stop_gradient(v_target_net),
            reward=rewards,
            acting=acting,
            valid=valid,
            ratio=jnp.where(valid, pi_a / mu_a, 1.0),
            inv_mu=1.0 / mu_a,
            log_ratio=log_ratio,
            policy=pi,
            action=action,
        )

        def per_player(i):
            one = inputs._replace(reward=inputs.reward[..., i])
            return jax.vmap(lambda x: player_vtrace(x, i, eta_reward_transform, c_vtrace, rho_vtrace))(one)

        targets, q = jax.vmap(per_player)(jnp.arange(num_players))  # [N, B, T], [N, B, T, A]
        own = valid[None] & (acting[None] == jnp.arange(num_players)[:, None, None])
        chex.assert_shape(own, targets.shape)
        target = jax.lax.stop_gradient(targets.sum(0))  # the acting player's
        q = jax.lax.stop_gradient(q.sum(0))
        advantage = jnp.where(legal, q - jnp.sum(pi * q, -1, keepdims=True), 0.0)
        value_loss = _per_player_mean((value - target) ** 2, own)
        policy_loss = _per_player_mean(neurd_loss(logits, legal, advantage, beta, neurd_clip), own)
        return value_loss + policy_loss

    def step(game: Game, state: SolverState) -> SolverState:
        _check_game(game)
        ex = state.extra
        env = check_simulator(game, NAME)
        points = decision_points(game)
        net = _network(points, hidden)
        key, k_roll = jax.random.split(ex.key)
        alpha, new_period = schedule_position(state.step, starts, last)
        pick = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(new_period, a, b), new, old)
        ex = ex._replace(reg_prev=pick(ex.reg_cur, ex.reg_prev), reg_cur=pick(ex.target, ex.reg_cur))

        _, traj = rollout(k_roll, env, tabular_policy(game, ex.table), game.tree.max_depth, batch_size)
        traj = shard_batch(traj, "batch_size")  # data-parallel runs: the episodes split over the devices
        rows, valid = trajectory_rows(env, game, traj.state)
        rows, valid = rows[..., 0], valid[..., 0]  # [B, T]
        dtype = ex.table.dtype
        batch = (
            points.features[rows],
            points.legal[rows],
            points.player[rows],
            valid,
            traj.action,
            traj.rewards.astype(dtype),
            ex.table[rows],
        )
        chex.assert_equal_shape([rows, valid, traj.action])

        grads = jax.grad(loss_fn)(ex.params, net, ex, batch, alpha)
        updates, opt_state = optimizer.update(grads, ex.opt_state, ex.params)
        params = optax.apply_updates(ex.params, updates)
        target = jax.tree_util.tree_map(lambda t, p: t + target_rate * (p - t), ex.target, params)
        table = policy_table(net, params, points)
        reported = post_process(policy_table(net, target, points), output_threshold, output_discretization)
        policy = tabular_policy(game, reported)
        extra = ex._replace(params=params, target=target, opt_state=opt_state, key=key, table=table)
        return SolverState(policy=policy, average=policy, step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda state: state.policy)
