"""A pgx-compatible view of any jaxgames simulator, so pgx-based training code runs on our games.

pgx's API (``pgx/core.py``): ``state = env.init(key)``; ``state = env.step(state, action, key)``;
the state carries ``current_player``, ``observation``, ``rewards [N]``, ``terminated``,
``truncated``, ``legal_action_mask`` and ``_step_count``; stepping a finished state returns it with
zero rewards; ``legal_action_mask`` is all true at a terminal state; auto-reset is the separate
``pgx.experimental.auto_reset(env.step, env.init)``. ``env.as_pgx()`` (or ``PgxView(env)``) gives
exactly that over a jaxgames ``Environment``::

    env = jaxgames.make_env(jaxgames.leduc_poker()).as_pgx()
    step = jax.vmap(pgx.experimental.auto_reset(env.step, env.init))
    state = jax.vmap(env.init)(keys)
    state = step(state, actions, keys)

Two differences from pgx, both the jaxgames contract's: a bad action (not integer, wrong shape,
out of range, illegal) raises ``ValueError`` naming ``action`` when concrete, and under ``jit`` an
out-of-range or illegal one becomes the lowest legal action (pgx ends the game with a penalty);
and simultaneous-move games take one action per player (``current_player`` is
``SIMULTANEOUS = -2``). ``key`` may be omitted in ``step``: chance then draws from a key the state
carries, as pgx's deterministic games allow.
"""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from jaxgames.env import Environment
from jaxgames.validation import check_key


@flax.struct.dataclass
class PgxState:
    """pgx's six common fields, ``_step_count``, and the jaxgames state underneath (``inner``)."""

    current_player: jax.Array
    observation: Any
    rewards: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    legal_action_mask: jax.Array
    _step_count: jax.Array
    inner: Any
    _key: jax.Array

    @property
    def env_id(self) -> str:
        return "jaxgames"


class PgxView:
    """``init(key)`` / ``step(state, action, key=None)`` over a jaxgames ``Environment``."""

    version = "v2"

    def __init__(self, env: Environment):
        if not isinstance(env, Environment):
            raise ValueError(f"env: expected a jaxgames simulator (jaxgames.make_env(game)), got {type(env).__name__}")
        self.env = env
        self.id = f"jaxgames/{getattr(env.game, 'name', type(env.game).__name__)}"
        self.num_players = env.num_players
        self.num_actions = env.num_actions
        _, ts = jax.eval_shape(env.reset, jax.random.key(0))
        self.observation_shape = tuple(ts.observation.shape)

    def __repr__(self):
        return f"PgxView({self.env!r})"

    def init(self, key: jax.Array) -> PgxState:
        key = check_key(key, "key", "PgxView.init")
        key, sub = jax.random.split(key)
        inner, ts = self.env.reset(sub)
        return self._wrap(inner, ts, jnp.zeros((), jnp.int32), key)

    def step(self, state: PgxState, action, key: jax.Array | None = None) -> PgxState:
        """pgx semantics: a finished state comes back with zero rewards; no auto-reset.

        ``action`` is checked as every simulator checks it (``jaxgames/env.py``): dtype, shape and
        range always (a finished state included), legality at a live concrete state."""
        env = self.env
        if not isinstance(state, PgxState):
            raise ValueError(f"state: expected a PgxState (from init / step), got {type(state).__name__}")
        if key is not None:
            key = check_key(key, "key", "PgxView.step")
        carried, sub = jax.random.split(state._key)
        key = sub if key is None else key
        finished = state.terminated | state.truncated | env._over(state.inner)
        # auto-reset semantics in the check: a finished state takes any in-range action (ignored)
        action = env.check_action(state.inner, action, autoreset=True)
        params = env.game
        u = jax.random.uniform(key, (env.noise_size,), env._dtype(params))
        inner, rewards, _, truncated = env._step(
            u, state.inner, action, params, env._step_context(params), autoreset=False
        )
        inner = jax.tree_util.tree_map(lambda a, b: jnp.where(finished, a, b), state.inner, inner)
        ts = env._timestep(inner, jnp.where(finished, 0.0, rewards), env._over(inner) & ~truncated, truncated, params)
        count = state._step_count + (~finished).astype(jnp.int32)
        new = self._wrap(inner, ts, count, carried)
        return new.replace(
            terminated=jnp.where(finished, state.terminated, new.terminated),
            truncated=jnp.where(finished, state.truncated, new.truncated),
        )

    def observe(self, state: PgxState, player_id=None):
        return state.observation

    def _wrap(self, inner, ts, count, key) -> PgxState:
        over = self.env._over(inner)
        legal = jnp.where(over, True, ts.legal_action_mask)  # pgx: all legal at a terminal state
        return PgxState(
            current_player=ts.current_player,
            observation=ts.observation,
            rewards=ts.rewards,
            terminated=ts.terminated,
            truncated=ts.truncated,
            legal_action_mask=legal,
            _step_count=count,
            inner=inner,
            _key=key,
        )
