"""Neural Fictitious Self-Play (NFSP; Heinrich & Silver 2016) on extensive-form games, from the simulator.

Heinrich & Silver (2016), "Deep reinforcement learning from self-play in imperfect-information games"
(arXiv:1603.01121). Two networks, each shared by all players (the features of ``decision_points``
say whose decision it is):

* a **best-response** Q-network trained by DQN (Mnih et al. 2015; ``rlax.q_learning``) with a target
  network ``theta^-`` (copied every ``target_update_every`` gradient steps) on a circular replay
  memory ``M_RL`` of all transitions (``gamma = 0`` at the end of the episode)::

      L(theta) = E_{M_RL} 1/2 (r + gamma max_{a' legal at s'} Q(s', a'; theta^-) - Q(s, a; theta))^2

* an **average-policy** network ``Pi`` trained by classification on a reservoir memory ``M_SL`` of
  the player's own best-response actions, so that ``Pi`` approximates their average (fictitious play)::

      L(phi) = E_{(s, a) ~ M_SL} -log Pi(s, a; phi)          (softmax over the legal actions)

In every episode each player plays, with probability ``anticipatory``, its epsilon-greedy best
response (``eps`` decays linearly from ``epsilon_start`` to ``epsilon_end``), else ``Pi``. One step:
``num_envs`` episodes, then ``updates_per_step`` Adam steps on each network, minibatches of
``batch_size``. ``output`` is ``Pi``'s table on every decision point, so ``solvers.run`` records the
exact exploitability of the network itself. Memories, transitions and measurements: the guide
("Neural learners", NFSP).

Shapes: ``B = num_envs``, ``T = env.max_episode_length`` (Kuhn 3, Leduc 8), ``M`` decision points,
``A`` the largest action count, ``D`` the feature size.

Example::

    import jax, jaxgames, solvers
    state, trace = solvers.run(solvers.nfsp(), jaxgames.kuhn_poker(), 600, eval_every=50, key=jax.random.key(0))
    trace.exploitability      # NashConv / 2: ~0.2 after 50 steps, ~0.1 after 600
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import flashbax as fbx
import jax
import jax.numpy as jnp
import optax
import rlax

from jaxgames import rng
from jaxgames.core import Game
from solvers.core import Solver, SolverState, cached_factory, check_int, check_number
from solvers.neural.common import (
    MLP,
    assert_table,
    check_hidden,
    check_key,
    check_rates,
    check_simulator,
    decision_points,
    masked_logits,
    tabular_policy,
    trajectory_rows,
)
from solvers.neural.parallel import shard_batch
from solvers.neural.reservoir import Reservoir, reservoir_add, reservoir_init, reservoir_sample


# -- the solver ------------------------------------------------------------------------------------------
class Transition(NamedTuple):
    """An RL transition of one player, as rows of the decision-point table (``M_RL`` items)."""

    row: jax.Array  # int32: decision point s
    action: jax.Array  # int32: a
    reward: jax.Array  # float: r (the player's terminal payoff on the last transition, else 0)
    next_row: jax.Array  # int32: the player's next decision point s' (= row at the end)
    discount: jax.Array  # float: gamma (0 at the end of the episode, else 1)
    valid: jax.Array  # bool: false for the slots of an episode already over


class Imitation(NamedTuple):
    """A best-response decision (``M_SL`` items)."""

    row: jax.Array  # int32
    action: jax.Array  # int32


class NFSPState(NamedTuple):
    """``SolverState.extra`` of ``nfsp``."""

    key: jax.Array
    q_params: Any  # best-response Q-network (flax params)
    target_params: Any  # its target network
    q_opt: Any  # optax state of the Q-network
    avg_params: Any  # average-policy network
    avg_opt: Any  # optax state of the average network
    replay: Any  # flashbax item-buffer state (M_RL) of ``Transition``
    reservoir: Reservoir  # M_SL of ``Imitation``
    updates: jax.Array  # int32: gradient steps taken (each network)
    episodes: jax.Array  # int32: episodes played
    rl_loss: jax.Array  # float: last Q loss (0 before learning starts)
    sl_loss: jax.Array  # float: last average-policy loss


def _check_efg(game: Game):
    from jaxgames.efg.game import EFGGame

    if not isinstance(game, EFGGame):
        raise ValueError(
            f"game: nfsp needs an extensive-form game (jaxgames.efg, an EFGGame), got {type(game).__name__}"
        )
    return check_simulator(game, "nfsp")


def _epsilon_greedy(q: jax.Array, legal: jax.Array, epsilon) -> jax.Array:
    """``[M, A]``: ``(1 - eps)`` on the best legal action, ``eps`` spread uniformly on the legal ones."""
    greedy = jax.nn.one_hot(jnp.argmax(masked_logits(q, legal), axis=-1), q.shape[-1], dtype=q.dtype)
    uniform = legal / jnp.sum(legal, axis=-1, keepdims=True)
    return (1.0 - epsilon) * greedy + epsilon * uniform


def _play(game, env, key, br_policy, avg_policy, anticipatory, num_envs: int):
    """``num_envs`` whole episodes: ``(states [B, T], actions [B, T], br [B, T], returns [B, N])``.

    Each environment draws a mode per player (best response with probability ``anticipatory``). At
    every decision the simulator's sampler (``env._sample``, what ``env.sample_action`` and
    ``jaxgames.rollout`` use) draws from both tables with one uniform number and the acting
    player's mode picks; ``br`` says which decisions were taken in best-response mode. As in
    ``jaxgames.rollout``, the uniforms of all steps are drawn in one call and the tables' cumulative
    sums once.
    """
    n, horizon = game.num_players, env.max_episode_length
    k_mode, k_noise = jax.random.split(key)
    modes = jax.random.bernoulli(k_mode, anticipatory, (num_envs, n))
    noise = rng.uniform(k_noise, (num_envs, horizon + 1, 1 + env.noise_size), env._dtype(None))
    br_tables, avg_tables = env.policy_tables(br_policy), env.policy_tables(avg_policy)

    def episode(u, mode):
        start, _ = env.reset_with_noise(u[0, 1:])

        def body(state, u):
            player = env.current_player(state)
            use_br = mode[jnp.clip(player, 0, n - 1)] & (player >= 0)
            action = jnp.where(use_br, env._sample(u[0], state, br_tables), env._sample(u[0], state, avg_tables))
            new, ts = env.step_with_noise(u[1:], state, action)
            return new, (state, action, use_br, ts.rewards)

        _, (states, actions, br, rewards) = jax.lax.scan(body, start, u[1:])
        return states, actions, br, jnp.sum(rewards, axis=0)

    return jax.vmap(episode)(noise, modes)


def _transitions(env, game, states, actions, returns):
    """Player-wise transitions of ``[B, T]`` decisions: ``Transition`` with leaves ``[B, T]``."""
    rows, valid = trajectory_rows(env, game, states)
    rows, valid = rows[..., 0], valid[..., 0]
    player = env.current_player(states)  # [B, T]
    horizon = rows.shape[-1]
    later = jnp.arange(horizon)[None, :] > jnp.arange(horizon)[:, None]  # [t, t']: t' > t
    same = (player[:, :, None] == player[:, None, :]) & valid[:, None, :] & later
    has_next = jnp.any(same, axis=-1)
    next_row = jnp.take_along_axis(rows, jnp.argmax(same, axis=-1), axis=-1)
    final = jnp.take_along_axis(returns, jnp.clip(player, 0, game.num_players - 1), axis=-1)
    dtype = returns.dtype
    return Transition(
        row=rows,
        action=actions.astype(jnp.int32),
        reward=jnp.where(has_next, 0.0, final).astype(dtype),
        next_row=jnp.where(has_next, next_row, rows),
        discount=has_next.astype(dtype),
        valid=valid,
    )


@cached_factory
def nfsp(
    hidden_sizes=(64,),
    num_envs: int = 128,
    batch_size: int = 128,
    updates_per_step: int = 4,
    anticipatory: float = 0.1,
    rl_learning_rate: float = 3e-3,
    sl_learning_rate: float = 1e-3,
    replay_capacity: int = 2**15,
    reservoir_capacity: int = 2**17,
    epsilon_start: float = 0.06,
    epsilon_end: float = 0.001,
    epsilon_decay_steps: int = 1000,
    target_update_every: int = 20,
) -> Solver:
    """Neural Fictitious Self-Play (module docstring) on an extensive-form game's simulator.

    Args:
      hidden_sizes: widths of both networks' hidden layers (integers >= 1; ``()``: linear).
      num_envs: episodes played per step, one per environment (static int >= 1).
      batch_size: minibatch size of every gradient step (static int >= 1).
      updates_per_step: gradient steps per solver step on each network (static int >= 1).
      anticipatory: ``eta`` in ``(0, 1]``, the probability that a player plays its best response in
        an episode (else its average policy).
      rl_learning_rate, sl_learning_rate: Adam step sizes of the Q-network and of the average
        network (> 0).
      replay_capacity: items of the circular replay ``M_RL`` (slots of ``num_envs *
        max_episode_length``, some of them empty; static int >= ``batch_size``).
      reservoir_capacity: items of the reservoir ``M_SL`` (static int >= ``batch_size``).
      epsilon_start, epsilon_end, epsilon_decay_steps: exploration of the best response, linear
        from ``epsilon_start`` to ``epsilon_end`` (both in ``[0, 1]``) over that many steps.
      target_update_every: gradient steps between copies of the Q-network to its target (int >= 1).

    ``init(game, key)`` needs an ``EFGGame`` and a key. ``output``: the average network's tabular
    policy (softmax over the legal actions at every decision point); ``extra``: ``NFSPState``.
    Hyperparameters that are not static may be traced (``jax.vmap`` over rates, ``anticipatory``).
    """
    hidden = check_hidden(hidden_sizes)
    num_envs = check_int(num_envs, "num_envs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    updates_per_step = check_int(updates_per_step, "updates_per_step", low=1)
    replay_capacity = check_int(replay_capacity, "replay_capacity", low=1)
    reservoir_capacity = check_int(reservoir_capacity, "reservoir_capacity", low=1)
    for field, capacity in (("replay_capacity", replay_capacity), ("reservoir_capacity", reservoir_capacity)):
        if capacity < batch_size:
            raise ValueError(f"{field}: expected an integer >= batch_size = {batch_size}, got {capacity}")
    epsilon_decay_steps = check_int(epsilon_decay_steps, "epsilon_decay_steps", low=1)
    target_update_every = check_int(target_update_every, "target_update_every", low=1)
    check_rates(
        schedules=("rl_learning_rate", "sl_learning_rate"),
        rl_learning_rate=rl_learning_rate,
        sl_learning_rate=sl_learning_rate,
    )
    check_number(anticipatory, "anticipatory", 0.0, 1.0, low_open=True)
    check_number(epsilon_start, "epsilon_start", 0.0, 1.0)
    check_number(epsilon_end, "epsilon_end", 0.0, 1.0)
    rl_opt = optax.adam(rl_learning_rate)
    sl_opt = optax.adam(sl_learning_rate)

    def average_policy(game, points, net, params):
        probs = jax.nn.softmax(masked_logits(net.apply(params, points.features), points.legal), axis=-1)
        assert_table(points, probs)
        return tabular_policy(game, probs)

    def replay_buffer(env):
        slots = num_envs * env.max_episode_length
        if slots > replay_capacity:
            raise ValueError(
                f"replay_capacity: expected an integer >= num_envs * max_episode_length = {slots} "
                f"(one step's transition slots), got {replay_capacity}"
            )
        return fbx.make_item_buffer(
            max_length=replay_capacity, min_length=batch_size, sample_batch_size=batch_size, add_batches=True
        )

    def init(game: Game, key=None) -> SolverState:
        env = _check_efg(game)
        check_key(key, "nfsp")
        points = decision_points(game)
        net = MLP(hidden, points.legal.shape[-1])
        k_q, k_avg, k_next = jax.random.split(key, 3)
        q_params = net.init(k_q, points.features[:1])
        avg_params = net.init(k_avg, points.features[:1])
        dtype = jnp.result_type(float)
        zero_i, zero_f = jnp.zeros((), jnp.int32), jnp.zeros((), dtype)
        replay = replay_buffer(env).init(Transition(zero_i, zero_i, zero_f, zero_i, zero_f, jnp.zeros((), bool)))
        extra = NFSPState(
            key=k_next,
            q_params=q_params,
            target_params=q_params,
            q_opt=rl_opt.init(q_params),
            avg_params=avg_params,
            avg_opt=sl_opt.init(avg_params),
            replay=replay,
            reservoir=reservoir_init(reservoir_capacity, Imitation(zero_i, zero_i)),
            updates=zero_i,
            episodes=zero_i,
            rl_loss=zero_f,
            sl_loss=zero_f,
        )
        policy = average_policy(game, points, net, avg_params)
        return SolverState(policy=policy, average=policy, step=zero_i, extra=extra)

    def step(game: Game, state: SolverState) -> SolverState:
        env = _check_efg(game)
        points = decision_points(game)
        net = MLP(hidden, points.legal.shape[-1])
        buffer = replay_buffer(env)
        ex = state.extra
        key, k_play, k_res, k_train = jax.random.split(ex.key, 4)

        # 1-2. act: epsilon-greedy best response or the average policy, per environment and player
        frac = jnp.minimum(state.step / epsilon_decay_steps, 1.0)
        epsilon = epsilon_start + frac * (epsilon_end - epsilon_start)
        q_table = net.apply(ex.q_params, points.features)
        br_policy = tabular_policy(game, _epsilon_greedy(q_table, points.legal, epsilon))
        states, actions, br, returns = _play(game, env, k_play, br_policy, state.policy, anticipatory, num_envs)
        states, actions, br, returns = shard_batch((states, actions, br, returns), "num_envs")  # data-parallel

        # 3. memories: every transition to M_RL, best-response decisions to M_SL
        trans = _transitions(env, game, states, actions, returns)
        chex.assert_shape(trans.row, (num_envs, env.max_episode_length))
        flat = jax.tree_util.tree_map(lambda x: x.reshape(-1), trans)
        replay = buffer.add(ex.replay, flat)
        reservoir = reservoir_add(k_res, ex.reservoir, Imitation(flat.row, flat.action), flat.valid & br.reshape(-1))

        # 4. learn
        def q_loss(params, target, batch):
            q_tm1 = net.apply(params, points.features[batch.row])
            q_t = masked_logits(net.apply(target, points.features[batch.next_row]), points.legal[batch.next_row])
            td = jax.vmap(rlax.q_learning)(q_tm1, batch.action, batch.reward, batch.discount, q_t)
            weight = batch.valid.astype(td.dtype)
            return jnp.sum(weight * rlax.l2_loss(td)) / jnp.maximum(jnp.sum(weight), 1.0)

        def sl_loss(params, batch):
            logits = masked_logits(net.apply(params, points.features[batch.row]), points.legal[batch.row])
            return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch.action))

        rl_ready = buffer.can_sample(replay)
        sl_ready = reservoir.count >= batch_size

        def update(carry, k):
            q_params, target, q_opt, avg_params, avg_opt, updates, _, _ = carry
            k_rl, k_sl = jax.random.split(k)
            batch = shard_batch(buffer.sample(replay, k_rl).experience, "batch_size")
            rl, grads = jax.value_and_grad(q_loss)(q_params, target, batch)
            upd, new_q_opt = rl_opt.update(grads, q_opt, q_params)
            new_q = optax.apply_updates(q_params, upd)
            q_params, q_opt = _select(rl_ready, (new_q, new_q_opt), (q_params, q_opt))
            imitation = shard_batch(reservoir_sample(k_sl, reservoir, batch_size), "batch_size")
            sl, grads = jax.value_and_grad(sl_loss)(avg_params, imitation)
            upd, new_avg_opt = sl_opt.update(grads, avg_opt, avg_params)
            new_avg = optax.apply_updates(avg_params, upd)
            avg_params, avg_opt = _select(sl_ready, (new_avg, new_avg_opt), (avg_params, avg_opt))
            updates = updates + rl_ready.astype(jnp.int32)
            target = optax.periodic_update(q_params, target, updates, target_update_every)
            return (q_params, target, q_opt, avg_params, avg_opt, updates, rl, sl), None

        carry = (ex.q_params, ex.target_params, ex.q_opt, ex.avg_params, ex.avg_opt, ex.updates, ex.rl_loss, ex.sl_loss)
        carry, _ = jax.lax.scan(update, carry, jax.random.split(k_train, updates_per_step))
        q_params, target, q_opt, avg_params, avg_opt, updates, rl, sl = carry

        # 5. the average network's table: output, and next step's average behaviour
        policy = average_policy(game, points, net, avg_params)
        extra = NFSPState(
            key=key,
            q_params=q_params,
            target_params=target,
            q_opt=q_opt,
            avg_params=avg_params,
            avg_opt=avg_opt,
            replay=replay,
            reservoir=reservoir,
            updates=updates,
            episodes=ex.episodes + num_envs,
            rl_loss=jnp.where(rl_ready, rl, ex.rl_loss),
            sl_loss=jnp.where(sl_ready, sl, ex.sl_loss),
        )
        return SolverState(policy=policy, average=policy, step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda state: state.average)


def _select(condition, new, old):
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), new, old)
