"""Self-play PPO and magnetic mirror descent as reinforcement learning (MMD-RL), on extensive-form
and Markov games.

One network (flax) maps the features of a decision point (``decision_points``) to action logits and
a value for the player who decides there, so one network plays every seat. One step: the network's
table ``pi_old [M, A]`` on every decision point is the behaviour policy and the ``output``;
``jaxgames.rollout`` plays ``B = batch_size`` episodes of it (extensive-form: whole episodes;
Markov: ``unroll_length`` steps, bootstrapped); advantages are Monte Carlo returns minus the value
(extensive-form) or GAE per player (Markov, ``gae_lambda``); then ``num_epochs`` passes of
``num_minibatches`` optax steps on (``r_t = pi_theta(a_t | x_t) / pi_old(a_t | x_t)``)::

    L(theta) = - E_t[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)]        (PPO surrogate, rlax)
               + c_v E_t[(V_theta(x_t) - G_t)^2] - c_H E_t[H(pi_theta(. | x_t))]
               + alpha E_t[KL(pi_theta(. | x_t) || rho(. | x_t))]             (MMD-RL only)
               + (1 / eta) E_t[KL(pi_theta(. | x_t) || pi_old(. | x_t))]      (MMD-RL only)

**PPO**: Schulman, Wolski, Dhariwal, Radford & Klimov (2017), "Proximal policy optimization
algorithms". **MMD-RL**: Sokota, D'Orazio, Kolter, Loizou, Lanctot, Mitliagkas, Brown & Kroer (2023),
"A unified approach to reinforcement learning, quantal response equilibria, and two-player zero-sum
games" (ICLR): the sample-based magnetic mirror descent step
``pi_{t+1} = argmax_pi <q_t, pi> - alpha KL(pi, rho) - (1/eta) KL(pi, pi_t)``, with the plain
importance-weighted surrogate (``clip_epsilon=None``) and a magnet ``rho [M, A]`` (uniform at the
start) that becomes the current policy every ``magnet_every`` steps, or after the listed learner
steps only (a tuple, e.g. ``(500,)``), or moves part of the way (``magnet_mix``), each new magnet
keeping a uniform share ``magnet_floor``; ``alpha``, ``eta`` and the Polyak rate may follow optax
schedules of the learner step. Both report the last iterate.

**Exploration** (``exploration = epsilon > 0``, extensive-form games): the episodes are played by
``mu = (1 - epsilon) pi_old + epsilon uniform`` instead of ``pi_old``, so information sets that
``pi_old`` reaches rarely keep getting samples, and the returns are importance-corrected back to
``pi_old`` (``_efg_samples``: ``G_t`` times the ratios ``pi_old / mu`` of the later decisions, each at
most ``1 / (1 - epsilon)``; the surrogate's ratio becomes ``pi_theta / mu``): the continuation after
each decision is ``pi_old``'s. The earlier decisions are not reweighted (that would give the starved
information sets their on-policy weight, near 0, back), so the belief over the histories of an
information set is the explored play's: an ``O(epsilon)`` change where ``pi_old`` goes, a
trembling-hand belief where it does not.
The guide ("Neural learners") explains the choices.

Shapes: ``points.features [M, D]``; a rollout ``[B, T]`` decisions (extensive-form) or
``[B, T, N]`` (Markov); losses are means over the valid sampled decisions.

Example::

    import jax, jaxgames, solvers
    solver = solvers.mmd_rl(hidden_sizes=(64,), batch_size=512)
    state, trace = solvers.run(solver, jaxgames.kuhn_poker(), 500, eval_every=50, key=jax.random.key(0))
    trace.nash_conv          # exact NashConv of the network's policy every 50 steps
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import distrax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import rlax

from jaxgames.core import Game
from jaxgames.env import make_env, rollout
from solvers.core import Solver, SolverState, check_bool, check_int, check_number
from solvers.neural.common import (
    PolicyValueNet,
    check_divides,
    check_hidden,
    check_key,
    check_rates,
    check_simulator,
    decision_points,
    policy_table,
    policy_value_heads,
    tabular_policy,
    trajectory_rows,
)
from solvers.neural.parallel import shard_batch


class PolicyGradientState(NamedTuple):
    """``SolverState.extra`` of PPO and MMD-RL."""

    params: Any  # flax parameters of the policy-value network
    opt_state: Any  # optax state
    key: jax.Array  # PRNG key of the next step
    magnet: jax.Array  # float [M, A]: the magnet policy rho (MMD-RL; uniform for PPO, unused)
    table: jax.Array  # float [M, A]: the network's policy at every decision point (behaviour)
    target: Any  # Polyak average of ``params`` (``target_rate``), else ``params``


class _Batch(NamedTuple):
    features: jax.Array  # [n, D]
    legal: jax.Array  # [n, A]
    action: jax.Array  # [n]
    old_prob: jax.Array  # [n, A] behaviour policy rows
    magnet: jax.Array  # [n, A]
    advantage: jax.Array  # [n]
    target: jax.Array  # [n] value targets
    weight: jax.Array  # [n] 1 for a real decision, 0 for padding


def _family(game: Game, who: str) -> str:
    from jaxgames.efg.game import EFGGame
    from jaxgames.markov.game import MarkovGame

    check_simulator(game, who)
    if isinstance(game, EFGGame):
        return "efg"
    if isinstance(game, MarkovGame):
        return "markov"
    raise ValueError(
        f"game: {who} expects an extensive-form (EFGGame) or Markov game (MarkovGame), got {type(game).__name__}"
    )


def _check_exploration(exploration, family: str) -> None:
    if exploration and family != "efg":
        raise ValueError(
            "exploration: the off-policy correction of explored play is implemented for extensive-form "
            f"games (whole-episode returns) only; got {exploration} on a Markov game (use 0)"
        )


def _network(points, hidden) -> PolicyValueNet:
    return PolicyValueNet(hidden=hidden, num_actions=points.legal.shape[1])


_heads, _table = policy_value_heads, policy_table


def _efg_samples(game, env, traj, rows, valid, values, table=None, behaviour=None):
    """Monte Carlo returns of the deciding player (whole episodes, terminal payoffs only).

    With a ``behaviour`` table ``mu [M, A]`` other than the policy ``table`` ``pi`` (``exploration``),
    the return after decision ``t`` is reweighted by ``w_t = prod_{k > t} pi(a_k | x_k) / mu(a_k | x_k)``
    over the later decisions of the episode (both players'): an unbiased estimate of the value of
    ``(h_t, a_t)`` when ``pi`` plays on; advantage and value target are then multiplied by
    ``pi(a_t | x_t) / mu(a_t | x_t)``, so the surrogate's ratio ``pi_theta / pi`` times it is
    ``pi_theta / mu``. The histories ``h_t`` of an information set still come in the proportions of
    ``mu`` (the earlier decisions are not reweighted; module docstring). Every ratio is at most
    ``1 / (1 - epsilon)``, so the weights stay bounded."""
    points_player = jnp.asarray(decision_points(game).player)
    rows, valid = rows[..., 0], valid[..., 0]  # [B, T]
    returns = traj.rewards.sum(axis=1)  # [B, N]
    actor = points_player[rows]
    target = jnp.take_along_axis(returns, actor, axis=1)  # [B, T]
    if behaviour is None:
        return rows, traj.action, valid, target - values[rows], target
    action = traj.action.reshape(rows.shape)
    pi = jnp.take_along_axis(table[rows], action[..., None], axis=-1)[..., 0]
    mu = jnp.take_along_axis(behaviour[rows], action[..., None], axis=-1)[..., 0]
    log_ratio = jnp.where(valid, jnp.log(jnp.maximum(pi, 1e-30)) - jnp.log(jnp.maximum(mu, 1e-30)), 0.0)
    later = jnp.flip(jnp.cumsum(jnp.flip(log_ratio, axis=1), axis=1), axis=1) - log_ratio  # sum over k > t
    q = jnp.exp(later) * target  # [B, T]
    ratio = jnp.exp(log_ratio)
    return rows, traj.action, valid, ratio * (q - values[rows]), ratio * q


def _markov_samples(game, env, traj, rows, valid, values, final_rows, gae_lambda):
    """GAE per player, bootstrapped with the value of the last state."""
    v = values[rows]  # [B, T, N]
    v_last = values[final_rows]  # [B, N]
    discount = game.discount * (1.0 - traj.terminated.astype(v.dtype))  # [B, T]

    def gae(r, d, vals):  # one env, one player
        return rlax.truncated_generalized_advantage_estimation(r, d, gae_lambda, vals)

    seq = jnp.concatenate([v, v_last[:, None]], axis=1)  # [B, T + 1, N]
    adv = jax.vmap(jax.vmap(gae, in_axes=(1, None, 1), out_axes=1))(traj.rewards, discount, seq)
    return rows, traj.action, valid, adv, adv + v


def schedule_value(rate, step):
    """``rate`` at the learner ``step`` (0-based): an optax schedule (a callable of the step) is
    called, a number (or ``None``) returned as it is."""
    return rate(step) if callable(rate) else rate


def check_schedule_start(rate, field: str, low, high=None, *, low_open: bool = False) -> None:
    """A schedule's value at step 0 is a number in range (``check_number``'s wording, naming the
    field); later values are traced under ``jit`` and not checked."""
    if callable(rate):
        try:
            first = rate(0)
        except Exception as err:  # noqa: BLE001 - any failure of the user's callable
            raise ValueError(
                f"{field}: expected a number or an optax schedule of the step; calling it at step 0 failed: {err}"
            ) from None
        check_number(first, f"{field} (the schedule's value at step 0)", low, high, low_open=low_open)


def check_magnet_every(magnet_every):
    """``None``, an int ``>= 1`` (a move every that many learner steps), or a non-empty sequence of
    strictly increasing ints ``>= 1`` (moves after those learner steps only), returned as a tuple."""
    if magnet_every is None or isinstance(magnet_every, (int, np.integer)) and not isinstance(magnet_every, bool):
        return None if magnet_every is None else check_int(magnet_every, "magnet_every", low=1)
    try:
        if isinstance(magnet_every, (str, bytes)):
            raise TypeError
        steps = tuple(magnet_every)
    except TypeError:
        raise ValueError(
            f"magnet_every: expected None, an int >= 1 or a sequence of learner steps, got {magnet_every!r}"
        ) from None
    steps = tuple(check_int(t, "magnet_every", low=1) for t in steps)
    if not steps or any(b <= a for a, b in zip(steps, steps[1:])):
        raise ValueError(f"magnet_every: expected a non-empty, strictly increasing sequence of steps, got {steps}")
    return steps


def _uniform(legal, dtype) -> jax.Array:
    """``[M, A]``: the uniform policy over the legal actions (bool ``legal [M, A]``)."""
    legal = jnp.asarray(legal)
    return (jnp.where(legal, 1.0, 0.0) / legal.sum(axis=1, keepdims=True)).astype(dtype)


def _toward_uniform(policy: jax.Array, weight, legal) -> jax.Array:
    """``(1 - weight) policy + weight uniform``, row by row (exploration, the magnet's floor)."""
    return (1.0 - weight) * policy + weight * _uniform(legal, policy.dtype)


def geometric_mix(magnet: jax.Array, policy: jax.Array, mix, legal: jax.Array) -> jax.Array:
    """``rho' ∝ rho^(1 - m) pi^m`` row by row (``[M, A]``; ``m = mix`` in (0, 1]; zero on the
    illegal actions, ``legal`` bool ``[M, A]``): a mirror-descent step of the magnet toward ``pi`` in
    the KL geometry (the minimizer of ``(1 - m) KL(q, rho) + m KL(q, pi)``); ``m = 1`` gives ``pi``."""
    log_mix = (1.0 - mix) * jnp.log(jnp.where(legal, magnet, 1.0)) + mix * jnp.log(
        jnp.maximum(jnp.where(legal, policy, 1.0), 1e-30)
    )
    return jax.nn.softmax(jnp.where(legal, log_mix, -jnp.inf), axis=-1)


def build_learner(
    name: str,
    hidden_sizes=(64,),
    batch_size: int = 256,
    learning_rate=1e-3,
    num_epochs: int = 2,
    num_minibatches: int = 4,
    clip_epsilon=0.2,
    value_coef=0.5,
    entropy_coef=0.0,
    magnet_coef=None,
    proximity=None,
    magnet_every: int | tuple[int, ...] | None = None,
    gae_lambda=0.95,
    unroll_length: int = 32,
    max_grad_norm=1.0,
    normalize_advantages: bool = False,
    target_rate=None,
    magnet_mix=1.0,
    magnet_floor=0.0,
    exploration=0.0,
):
    """``(solver, update)``: the learner, and its update ``update(game, params, opt_state, key, table,
    magnet, learner=None, step=0) -> (params, opt_state, table)`` (one rollout of the behaviour
    ``table`` and the optimizer passes, with the ``magnet_coef`` / ``proximity`` schedules read at
    learner step ``step``; PSRO's neural oracle calls it with fixed opponents)."""
    hidden = check_hidden(hidden_sizes)
    batch_size = check_int(batch_size, "batch_size", low=1)
    num_epochs = check_int(num_epochs, "num_epochs", low=1)
    num_minibatches = check_int(num_minibatches, "num_minibatches", low=1)
    unroll_length = check_int(unroll_length, "unroll_length", low=1)
    check_rates(
        optional=("clip_epsilon", "proximity", "target_rate"),
        schedules=("learning_rate", "proximity", "target_rate"),  # None: off
        learning_rate=learning_rate,
        max_grad_norm=max_grad_norm,
        clip_epsilon=clip_epsilon,
        proximity=proximity,
        target_rate=target_rate,
    )
    check_number(target_rate, "target_rate", 0, 1, low_open=True, optional=True, schedule=True)
    for field, value in (("value_coef", value_coef), ("entropy_coef", entropy_coef)):
        check_number(value, field, 0)
    check_number(magnet_coef, "magnet_coef", 0, optional=True, schedule=True)
    # a schedule's first value is checked here (later values are traced: they must stay in range)
    check_schedule_start(magnet_coef, "magnet_coef", 0)
    check_schedule_start(proximity, "proximity", 0, low_open=True)
    check_schedule_start(target_rate, "target_rate", 0, 1, low_open=True)
    check_number(magnet_mix, "magnet_mix", 0, 1, low_open=True)
    check_number(magnet_floor, "magnet_floor", 0, 1, high_open=True)
    check_number(exploration, "exploration", 0, 1, high_open=True)
    check_number(gae_lambda, "gae_lambda", 0, 1)
    check_bool(normalize_advantages, "normalize_advantages")
    magnet_every = check_magnet_every(magnet_every)
    optimizer = optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate))

    def init(game: Game, key=None) -> SolverState:
        family = _family(game, name)
        _check_exploration(exploration, family)
        key = check_key(key, name)
        env = check_simulator(game, name)
        points = decision_points(game)
        decisions = batch_size * (game.tree.max_depth if family == "efg" else unroll_length * env.num_players)
        check_divides(
            decisions,
            num_minibatches,
            "num_minibatches",
            "the decisions per step (batch_size x steps per episode x seats)",
        )
        k_net, key = jax.random.split(key)
        net = _network(points, hidden)
        params = net.init(k_net, points.features[:1])
        table = _table(net, params, points)
        extra = PolicyGradientState(
            params=params,
            opt_state=optimizer.init(params),
            key=key,
            magnet=_uniform(points.legal, table.dtype),
            table=table,
            target=params,
        )
        policy = tabular_policy(game, table)
        return SolverState(policy=policy, average=policy, step=jnp.zeros((), jnp.int32), extra=extra)

    def loss_fn(params, net, batch: _Batch, alpha, eta):
        logits, value = _heads(net, params, batch.features, batch.legal)
        pi = distrax.Categorical(logits=logits)
        n = batch.weight.shape[0]
        scale = n / jnp.maximum(batch.weight.sum(), 1.0)  # rlax averages over every entry
        old = jnp.take_along_axis(batch.old_prob, batch.action[:, None], axis=1)[:, 0]
        ratio = jnp.exp(pi.log_prob(batch.action)) / jnp.maximum(old, 1e-30)
        adv = batch.advantage * batch.weight
        if clip_epsilon is None:
            surrogate = -jnp.mean(ratio * jax.lax.stop_gradient(adv))
        else:
            surrogate = rlax.clipped_surrogate_pg_loss(ratio, adv, clip_epsilon)
        loss = scale * surrogate

        def mean(x):
            return jnp.sum(x * batch.weight) / jnp.maximum(batch.weight.sum(), 1.0)

        loss += value_coef * mean((value - batch.target) ** 2)
        loss -= entropy_coef * mean(pi.entropy())
        if magnet_coef is not None:
            # on the sampled decisions, like the other terms (Sokota et al.'s sampled loss): alpha is
            # then one temperature at every information set (the fixed point is the agent QRE).
            # Averaged over *all* M decision points instead, the term weighs 1 / M against a point's
            # sampling frequency d(x): a temperature of about alpha / (M d(x)), near 0 where play goes
            loss += alpha * mean(pi.kl_divergence(distrax.Categorical(probs=batch.magnet)))
        if proximity is not None:
            loss += mean(pi.kl_divergence(distrax.Categorical(probs=batch.old_prob))) / eta
        return loss

    def update(game: Game, params, opt_state, key, table, magnet, learner=None, step=0):
        """One rollout of ``table`` and the optimizer passes on its decisions: ``(params, opt_state)``.
        ``learner`` (bool ``[M]``, optional) keeps only the decisions at those rows (a best response
        against fixed opponents: PSRO's neural oracle); ``step``: the learner step at which the
        ``magnet_coef`` and ``proximity`` schedules are read."""
        alpha, eta = schedule_value(magnet_coef, step), schedule_value(proximity, step)
        family = _family(game, name)
        _check_exploration(exploration, family)
        env = check_simulator(game, name) if family == "efg" else make_env(game)
        points = decision_points(game)
        net = _network(points, hidden)
        k_roll, k_perm = jax.random.split(key)
        _, values = _heads(net, params, points.features, points.legal)
        if family == "efg":
            behaviour = None
            if exploration:  # mu = (1 - epsilon) pi + epsilon uniform, corrected in _efg_samples
                behaviour = _toward_uniform(table, exploration, points.legal)
            played = table if behaviour is None else behaviour
            final, traj = rollout(k_roll, env, tabular_policy(game, played), game.tree.max_depth, batch_size)
            traj = shard_batch(traj, "batch_size")  # data-parallel runs: the episodes split over the devices
            rows, valid = trajectory_rows(env, game, traj.state)
            rows, action, valid, adv, target = _efg_samples(game, env, traj, rows, valid, values, table, behaviour)
        else:
            final, traj = rollout(k_roll, env, tabular_policy(game, table), unroll_length, batch_size)
            final, traj = shard_batch((final, traj), "batch_size")
            rows, valid = trajectory_rows(env, game, traj.state)
            final_rows, _ = trajectory_rows(env, game, final)
            rows, action, valid, adv, target = _markov_samples(
                game, env, traj, rows, valid, values, final_rows, gae_lambda
            )
        rows, action, valid = rows.reshape(-1), action.reshape(-1), valid.reshape(-1)
        if learner is not None:
            valid = valid & learner[rows]
        adv, target = jax.lax.stop_gradient(adv.reshape(-1)), jax.lax.stop_gradient(target.reshape(-1))
        if normalize_advantages:  # zero mean, unit variance over the step's decisions (PPO's practice)
            w = valid.astype(adv.dtype)
            mean = jnp.sum(adv * w) / jnp.maximum(w.sum(), 1.0)
            std = jnp.sqrt(jnp.sum((adv - mean) ** 2 * w) / jnp.maximum(w.sum(), 1.0))
            adv = (adv - mean) / (std + 1e-8)
        batch = _Batch(
            features=points.features[rows],
            legal=points.legal[rows],
            action=action,
            old_prob=table[rows],
            magnet=magnet[rows],
            advantage=adv.astype(table.dtype),
            target=target.astype(table.dtype),
            weight=valid.astype(table.dtype),
        )
        chex.assert_equal_shape([batch.action, batch.advantage, batch.target, batch.weight])

        def epoch(carry, k):
            perm = jax.random.permutation(k, batch.action.shape[0])
            minibatches = jax.tree_util.tree_map(lambda x: x[perm].reshape((num_minibatches, -1) + x.shape[1:]), batch)
            size = batch.action.shape[0]
            minibatches = shard_batch(
                minibatches, "num_minibatches", axis=1, what=f"each minibatch ({size} / {num_minibatches} decisions)"
            )

            def one(carry, mb):
                params, opt_state = carry
                grads = jax.grad(loss_fn)(params, net, mb, alpha, eta)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), None

            return jax.lax.scan(one, carry, minibatches)[0], None

        (params, opt_state), _ = jax.lax.scan(epoch, (params, opt_state), jax.random.split(k_perm, num_epochs))
        return params, opt_state, _table(net, params, points)

    def step(game: Game, state: SolverState) -> SolverState:
        ex = state.extra
        key, k_update = jax.random.split(ex.key)
        params, opt_state, table = update(game, ex.params, ex.opt_state, k_update, ex.table, ex.magnet, step=state.step)
        target, reported = params, table
        if target_rate is not None:
            target = optax.incremental_update(params, ex.target, schedule_value(target_rate, state.step))
            reported = _table(_network(decision_points(game), hidden), target, decision_points(game))
        magnet = ex.magnet
        if magnet_every is not None:
            legal = jnp.asarray(decision_points(game).legal)
            replace = isinstance(magnet_mix, (int, float)) and magnet_mix == 1
            moved = reported if replace else geometric_mix(magnet, reported, magnet_mix, legal)
            if magnet_floor:  # rho <- (1 - f) rho + f uniform: no action of the new magnet near 0
                moved = _toward_uniform(moved, magnet_floor, legal)
            if isinstance(magnet_every, tuple):  # after the listed learner steps only
                due = jnp.any(state.step + 1 == jnp.asarray(magnet_every, jnp.int32))
            else:
                due = (state.step + 1) % magnet_every == 0
            magnet = jnp.where(due, moved, magnet)
        policy = tabular_policy(game, reported)
        extra = PolicyGradientState(
            params=params, opt_state=opt_state, key=key, magnet=magnet, table=table, target=target
        )
        return SolverState(policy=policy, average=policy, step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda state: state.policy), update


def ppo(
    hidden_sizes=(64,),
    batch_size: int = 256,
    learning_rate=1e-3,
    num_epochs: int = 2,
    num_minibatches: int = 4,
    clip_epsilon=0.2,
    value_coef=0.5,
    entropy_coef=0.01,
    gae_lambda=0.95,
    unroll_length: int = 32,
    max_grad_norm=1.0,
    normalize_advantages: bool = False,
    exploration=0.0,
) -> Solver:
    """Self-play PPO (Schulman et al. 2017) on extensive-form and Markov games.

    Loss: the clipped surrogate (``rlax.clipped_surrogate_pg_loss``), a value loss and an entropy
    bonus (module docstring). Reports the last iterate. ``batch_size`` episodes (extensive-form)
    or ``batch_size`` environments of ``unroll_length`` steps (Markov) per step; ``num_epochs``
    passes of ``num_minibatches`` Adam steps (``learning_rate``, gradients clipped at
    ``max_grad_norm``); ``normalize_advantages`` standardizes them over each step's decisions (in
    Kuhn self-play the last iterate then cycles more; see the guide, "Neural learners");
    ``exploration`` as in ``mmd_rl``.
    Example: ``solvers.run(solvers.ppo(), jaxgames.kuhn_poker(), 300, key=key)``.
    """
    check_number(clip_epsilon, "clip_epsilon", 0, low_open=True)  # PPO clips (mmd_rl may not)
    return build_learner(
        "ppo",
        hidden_sizes,
        batch_size,
        learning_rate,
        num_epochs,
        num_minibatches,
        clip_epsilon=clip_epsilon,
        value_coef=value_coef,
        entropy_coef=entropy_coef,
        gae_lambda=gae_lambda,
        unroll_length=unroll_length,
        max_grad_norm=max_grad_norm,
        normalize_advantages=normalize_advantages,
        exploration=exploration,
    )[0]


def mmd_rl(
    hidden_sizes=(64,),
    batch_size: int = 256,
    learning_rate=1e-3,
    num_epochs: int = 2,
    num_minibatches: int = 4,
    magnet_coef=0.05,
    proximity=1.0,
    magnet_every: int | tuple[int, ...] | None = 100,
    value_coef=0.5,
    gae_lambda=0.95,
    unroll_length: int = 32,
    max_grad_norm=1.0,
    clip_epsilon=None,
    target_rate=None,
    magnet_mix=1.0,
    magnet_floor=0.0,
    exploration=0.0,
) -> Solver:
    """Magnetic mirror descent as reinforcement learning (Sokota et al. 2023).

    The loss is the importance-weighted advantage plus ``magnet_coef`` (alpha) times the KL to the
    magnet and ``1 / proximity`` (1 / eta) times the KL to the behaviour policy, both averaged over
    the sampled decisions like the advantage term (module docstring); the magnet becomes the
    reported policy every ``magnet_every`` steps (``None``: fixed uniform, converging to the agent
    logit QRE of temperature alpha; a strictly increasing sequence of learner steps, e.g. ``(500,)``:
    after those steps only, counted like ``t + 1`` so that ``(500,)`` moves it once the 500th step is
    done). The defaults suit short Kuhn runs (Leduc's settings below).
    ``clip_epsilon`` adds PPO's clipping to the surrogate (a second proximity; ``proximity=None``
    leaves clipping alone). Reports the last iterate. Advantages are not normalized: alpha is a
    temperature in payoff units (the fixed point with a fixed magnet is the logit QRE at that
    temperature). ``target_rate`` ``tau``: the
    reported policy (and the next magnet) is a Polyak average of the parameters,
    ``theta_bar <- (1 - tau) theta_bar + tau theta`` (R-NaD's target network), which averages out the
    sampling noise of the last iterate; ``None`` reports the network itself.

    **Schedules.** ``magnet_coef``, ``proximity`` and ``target_rate`` take a number or an optax
    schedule (a callable of the step), read at the learner step ``t`` (0-based: one rollout and its
    ``num_epochs x num_minibatches`` Adam steps), e.g. ``optax.linear_schedule(0.3, 0.1, 600,
    transition_begin=400)``; ``learning_rate`` is optax's own and counts Adam steps
    (``num_epochs x num_minibatches`` per learner step). A schedule's value at step 0 is checked like
    the number it stands for; later values must stay in range (they are traced). ``magnet_mix`` ``m``
    in (0, 1]: each magnet move is ``rho <- rho^(1 - m) pi^m`` (normalized; a mirror-descent step of
    the magnet toward the reported policy ``pi`` in the KL geometry), ``1`` replacing it.
    ``magnet_floor`` ``f`` in [0, 1): each new magnet is then ``(1 - f) rho + f uniform`` (the
    tabular ``solvers.mmd``'s floor): a magnet that copied a near-zero probability (noise, or an
    information set the sampled play rarely reaches) would pin that action near 0 through the KL
    term, and the next regularized problem is sharper than the learner can track.
    ``exploration`` ``epsilon`` in [0, 1) (extensive-form games only): episodes are played by
    ``(1 - epsilon) pi + epsilon uniform`` and importance-corrected back to ``pi`` (module
    docstring). Once the magnet has moved, the regularized equilibrium is sharp and on-policy play
    starves the information sets that follow rarely taken actions: their policies drift and a best
    response exploits them (NashConv rises again, on Leduc, a few hundred steps after the move).

    On Leduc, ``benchmarks/bench_neural.py`` ("mmd_rl") uses ``hidden_sizes=(64, 64)``,
    ``batch_size=2048``, alpha = 0.3, eta = 0.1, ``target_rate=0.005``, one magnet move after step
    500 (``magnet_every=(500,)``) with ``magnet_floor=0.1``, and ``exploration=0.05``.

    Example: ``solvers.run(solvers.mmd_rl(), jaxgames.kuhn_poker(), 300, key=key)``, or with an
    annealed magnet coefficient::

        solver = solvers.mmd_rl(magnet_coef=optax.linear_schedule(0.3, 0.1, 600, transition_begin=400))
    """
    check_number(magnet_coef, "magnet_coef", 0, schedule=True)  # the magnet term is MMD's (ppo has none)
    return build_learner(
        "mmd_rl",
        hidden_sizes,
        batch_size,
        learning_rate,
        num_epochs,
        num_minibatches,
        clip_epsilon=clip_epsilon,
        value_coef=value_coef,
        magnet_coef=magnet_coef,
        proximity=proximity,
        magnet_every=magnet_every,
        gae_lambda=gae_lambda,
        unroll_length=unroll_length,
        max_grad_norm=max_grad_norm,
        target_rate=target_rate,
        magnet_mix=magnet_mix,
        magnet_floor=magnet_floor,
        exploration=exploration,
    )[0]
