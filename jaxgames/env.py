"""One simulator contract for every game family: pure ``reset`` / ``step`` over explicit state.

The gymnax / pgx idiom. ``jaxgames.make_env(game, **options)`` returns the simulator of any game
model, and every simulator speaks the same five calls::

    env = jaxgames.make_env(game)                          # matrix, EFG, Markov or mean-field
    state, ts = env.reset(key, params=None)               # params: the game pytree (default: ``game``)
    state, ts = env.step(key, state, action, params=None)
    action = env.sample_action(key, state, policy)         # the one sampler
    final, traj = jaxgames.rollout(key, env, policy, num_steps, batch_size=None, params=None)

``params`` is a game of the same sizes whose array leaves may be traced, so ``jax.vmap(env.step)``
over states *and* games simulates a batch of variants with no special code.

**One ``TimeStep``** for all families: ``observation``, ``rewards [N]``, ``terminated``,
``truncated``, ``current_player`` (the acting player; ``SIMULTANEOUS = -2`` when every player acts
at once; ``TERMINAL = -4`` once the episode is over) and ``legal_action_mask`` (``[A]`` for the
acting player in turn-based games, ``[N, A]`` for simultaneous moves, ``A`` the largest action
count). The action a step takes has the shape of ``legal_action_mask`` without its last axis: an
int scalar in turn-based games, one int per player (or per agent) in simultaneous-move games.

**Auto-reset** is written once, here. With ``autoreset=True`` (the default) a step that ends an
episode returns the *next* episode's first state, while ``ts.rewards``, ``ts.terminated`` and
``ts.truncated`` report the transition that ended the old one (the gymnax convention);
``ts.observation``, ``ts.current_player`` and ``ts.legal_action_mask`` describe the returned state,
so an agent can act on it at once. With ``autoreset=False`` (pgx's convention, and what tree
traversals want) the final state is kept, and stepping it is an error when the state is concrete
and a no-op under ``jit`` (the state comes back unchanged with zero rewards).

**Bad input.** The checks live here, once, for every family (``check_action``, ``check_state``):

- ``key`` must be one PRNG key (``jax.random.key(seed)`` or ``jax.random.PRNGKey(seed)``); anything
  else raises ``ValueError`` naming ``key``, traced keys included (their shape and dtype are static).
- ``params`` must be a game of the environment's family and sizes (``ValueError`` naming ``params``).
- ``state`` must be one environment's state as ``reset`` / ``step`` return it (same pytree, shapes
  and kinds of dtype): a batch of states outside ``vmap``, a ``TimeStep`` or another family's state
  raise ``ValueError`` naming ``state``, under ``jit`` too (shapes are static).
- ``action`` must hold *integers* (bool, float, complex, strings and ``None`` raise ``ValueError``
  naming ``action``, under ``jit`` too) of shape ``action_shape``. A concrete action is range-checked
  on its own values before any cast (``2**32`` is out of range, never wrapped to ``0``), also when
  the step is traced around a constant action; with a concrete state too, it must be legal there,
  and stepping a state whose episode is over without auto-reset raises ``ValueError`` naming
  ``state``.

**Under tracing** (``jit`` / ``vmap`` / ``grad`` with a traced action or state) values cannot raise.
The documented, tested behaviour (``tests/test_env_contract.py``, ``tests/test_env_validation.py``):
an out-of-range action (compared in its own integer dtype, so a ``uint32`` ``2**32 - 1`` or an
``int64`` ``2**32`` never wraps into range) or an illegal one is replaced by the lowest legal action
of that player, deterministically; a step of a state whose episode is over is a no-op without
auto-reset (the state comes back unchanged, zero rewards, ``terminated`` set) and starts the next
episode with auto-reset (the action is ignored, zero rewards).

A family implements a few pure hooks (``_initial``, ``_transition``, ``_over``, ``_observe``,
``_acting``, ``_policy_rows``) over uniform random numbers drawn by the base, so a rollout draws
all of its randomness in two calls up front.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import rng, simplex
from jaxgames.core import Game, Policy
from jaxgames.validation import (
    check_int,
    check_key,
    check_table_bytes,
    is_concrete,
    table_bytes,
)

#: ``current_player`` when every player acts at once (OpenSpiel's kSimultaneousPlayerId)
SIMULTANEOUS = -2
#: ``current_player`` once the episode is over (OpenSpiel's kTerminalPlayerId)
TERMINAL = -4
#: the largest episode length / counter a simulator's int32 state holds
INT32_MAX = 2**31 - 1


class TimeStep(NamedTuple):
    """What an agent sees after ``reset`` / ``step`` (every family; see the module docstring)."""

    observation: Any  # the returned state's observation (family-specific array)
    rewards: jax.Array  # float [N]: rewards of this transition (zeros after reset)
    terminated: jax.Array  # bool []: this transition ended the episode (the game is over)
    truncated: jax.Array  # bool []: this transition hit a time limit
    current_player: jax.Array  # int32 []: acting player, SIMULTANEOUS (-2) or TERMINAL (-4)
    legal_action_mask: jax.Array  # bool [A] (turn-based) or [N, A] (simultaneous)

    @property
    def done(self) -> jax.Array:
        """``terminated | truncated``: the transition ended an episode."""
        return self.terminated | self.truncated


class Trajectory(NamedTuple):
    """Per-step records of ``rollout`` (``[num_steps, ...]``; ``[batch, num_steps, ...]`` when batched)."""

    state: Any  # the family's state pytree the action was taken in
    action: jax.Array  # int32 [T] or [T, N]: the action taken
    rewards: jax.Array  # float [T, N]
    terminated: jax.Array  # bool [T]: this step ended an episode (the next starts a new one)
    truncated: jax.Array  # bool [T]: this step hit a time limit

    @property
    def done(self) -> jax.Array:
        return self.terminated | self.truncated


def tree_where(condition, x, y):
    """``x`` where ``condition`` else ``y``, leaf by leaf (``condition`` a scalar)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(condition, a, b), x, y)


class Environment:
    """Base of every simulator: the public calls, auto-reset, action checks and the sampler.

    Subclasses set ``game``, ``num_players``, ``num_actions`` (the largest action count),
    ``simultaneous``, ``action_shape``, ``noise_size`` (uniforms one step draws, the next
    episode's reset included) and implement the hooks below.
    """

    game: Game
    num_players: int
    num_actions: int
    simultaneous: bool
    action_shape: tuple
    noise_size: int
    autoreset: bool = True
    #: uniforms a step draws when it auto-resets, where that differs from ``noise_size``
    autoreset_noise_size: int | None = None

    # -- hooks (pure; ``ctx`` is what ``_prepare`` precomputed from the game) -------------------
    def _check_params(self, params) -> None:
        """Raise ``ValueError`` unless ``params`` is a game this environment can simulate."""
        raise NotImplementedError

    def _prepare(self, params) -> Any:
        """Loop-invariant tables of a game (cumulative sums ...), computed once per rollout."""
        return None

    def _step_context(self, params) -> Any:
        """What one ``reset`` / ``step`` call needs of ``_prepare`` (default: all of it); a family whose
        tables pay off only over many steps returns less."""
        return self._prepare(params)

    def _initial(self, u, params, ctx):
        """A new episode's first state from uniforms ``u [noise_size]``."""
        raise NotImplementedError

    def _transition(self, u, state, action, params, ctx):
        """``(state', rewards [N], terminated, truncated)`` for a state that is not over."""
        raise NotImplementedError

    def _over(self, state) -> jax.Array:
        """The episode of ``state`` is over (bool [])."""
        raise NotImplementedError

    def _acting(self, state) -> tuple[jax.Array, jax.Array]:
        """``(current_player, legal_action_mask)`` of ``state``."""
        raise NotImplementedError

    def _observe(self, state, params) -> Any:
        raise NotImplementedError

    def _policy_rows(self, tables: Policy, state) -> jax.Array:
        """Rows of per-player ``tables`` (shaped like the policy) for the decision(s) at ``state``:
        ``[*action_shape, A]``."""
        raise NotImplementedError

    def _check_concrete_action(self, state, action: np.ndarray) -> None:
        """Legality of an in-range concrete action at a concrete state (default: the legal mask)."""
        _, legal = self._acting(state)
        legal = np.asarray(legal).reshape(*self.action_shape, -1)
        a = np.asarray(action).reshape(self.action_shape)
        ok = np.take_along_axis(legal, a[..., None], -1)[..., 0]
        if not ok.all():
            i = np.unravel_index(int(np.argmin(ok)), ok.shape)
            legal_ids = np.nonzero(legal[i])[0].tolist()
            raise ValueError(f"action: {self._who(i)}{int(a[i])} is not legal here; legal actions: {legal_ids}")

    # -- the contract ----------------------------------------------------------------------------
    def reset(self, key: jax.Array, params=None):
        """A new episode: ``(state, timestep)`` with zero rewards."""
        key = check_key(key, "key", f"{type(self).__name__}.reset")
        params = self._params(params)
        return self.reset_with_noise(jax.random.uniform(key, (self.noise_size,), self._dtype(params)), params)

    def step(self, key: jax.Array, state, action, params=None):
        """Play ``action`` at ``state``; auto-resets as the module docstring says."""
        key = check_key(key, "key", f"{type(self).__name__}.step")
        params = self._params(params)
        u = jax.random.uniform(key, (self.noise_size,), self._dtype(params))
        return self.step_with_noise(u, state, action, params)

    def reset_with_noise(self, u: jax.Array, params=None):
        """``reset`` driven by uniforms ``u [noise_size]`` in [0, 1) instead of a key: a caller that
        draws the randomness of many steps in one ``jax.random`` call (as ``rollout`` does) saves a
        key hash per step."""
        params = self._params(params)
        u = self._check_noise(u, self.noise_size)
        state = self._initial(u, params, self._step_context(params))
        zero = jnp.zeros((self.num_players,), self._dtype(params))
        return state, self._timestep(state, zero, self._over(state), jnp.zeros((), bool), params)

    def step_with_noise(self, u: jax.Array, state, action, params=None):
        """``step`` driven by uniforms ``u [noise_size]`` in [0, 1) instead of a key."""
        params = self._params(params)
        u = self._check_noise(u, self.noise_size)
        action = self.check_action(state, action)
        state, rewards, terminated, truncated = self._step(u, state, action, params, self._step_context(params))
        return state, self._timestep(state, rewards, terminated, truncated, params)

    def step_autoreset(self, key: jax.Array, state, action, params=None):
        """Old name: ``step`` that auto-resets whatever ``autoreset`` says."""
        key = check_key(key, "key", f"{type(self).__name__}.step_autoreset")
        params = self._params(params)
        action = self.check_action(state, action, autoreset=True)
        u = jax.random.uniform(key, (self.autoreset_noise_size or self.noise_size,), self._dtype(params))
        state, rewards, terminated, truncated = self._step(u, state, action, params, self._step_context(params), True)
        return state, self._timestep(state, rewards, terminated, truncated, params)

    def sample_action(self, key: jax.Array, state, policy: Policy | None = None) -> jax.Array:
        """An action drawn from ``policy`` at ``state`` (uniform over legal actions when ``None``).

        ``policy`` is shaped like ``game.uniform_policy()``; a decision point with no mass on a
        legal action falls back to uniform over the legal ones.
        """
        key = check_key(key, "key", f"{type(self).__name__}.sample_action")
        self.check_state(state)
        tables = self.policy_tables(policy)
        return self._sample(rng.uniform(key, self.action_shape, self._dtype(None)), state, tables)

    def legal_action_mask(self, state) -> jax.Array:
        return self._acting(state)[1]

    def current_player(self, state) -> jax.Array:
        return self._acting(state)[0]

    def as_pgx(self):
        """A pgx-compatible view of this simulator (``init``, ``step(state, action, key)``)."""
        from jaxgames.pgx_view import PgxView

        return PgxView(self)

    # -- the one set of checks -------------------------------------------------------------------
    def _params(self, params):
        if params is None:
            return self.game
        self._check_params(params)
        return params

    @staticmethod
    def _params_error(expected: str, params, hint: str = "") -> ValueError:
        """The one message for a ``params`` game this environment cannot simulate."""
        text = repr(params)
        if len(text) > 80:
            text = text[:77] + "..."
        return ValueError(
            f"params: expected {expected} like the environment's, got {type(params).__name__}: {text}{hint}"
        )

    def _who(self, index: tuple) -> str:
        """Whose entry ``index`` of an action of ``action_shape`` is, for messages (with a trailing
        space; empty for a turn-based game's scalar action)."""
        if not self.action_shape:
            return ""
        return f"{'agent' if self._agents else 'player'} {index[0]}'s action "

    #: the entries of an action are agents, not players (``NAgentEnv``): what messages call them
    _agents = False

    def _check_noise(self, u, size: int) -> jax.Array:
        """Uniforms ``u [size]`` of a floating dtype (shape and dtype are static: checked under jit too)."""
        if (
            not isinstance(u, (jax.Array, np.ndarray))
            or u.shape != (size,)
            or not jnp.issubdtype(u.dtype, jnp.floating)
        ):
            shape = getattr(u, "shape", None)
            raise ValueError(
                f"u: expected {size} uniform numbers in [0, 1) (a float array of shape ({size},)), "
                f"got {type(u).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")
            )
        return jnp.asarray(u)

    def _state_spec(self):
        """``(treedef, name, [(shape, dtype kind)], bytes)`` of one environment's state (cached)."""
        spec = self.__dict__.get("_cached_state_spec")
        if spec is None:
            shaped = jax.eval_shape(
                lambda u: self._initial(u, self.game, self._step_context(self.game)),
                jax.ShapeDtypeStruct((self.noise_size,), self._dtype(None)),
            )
            leaves, treedef = jax.tree_util.tree_flatten(shaped)
            spec = (
                treedef,
                type(shaped).__name__,
                [(tuple(x.shape), _kind(x.dtype)) for x in leaves],
                sum(table_bytes(x.shape, x.dtype) for x in leaves),
            )
            self.__dict__["_cached_state_spec"] = spec
        return spec

    def check_state(self, state, batch_shape: tuple = (), field: str = "state"):
        """Raise ``ValueError`` naming ``field`` unless ``state`` is this environment's state (with
        leading ``batch_shape`` axes): the same pytree, leaf shapes and kinds of dtype. Shapes and
        dtypes are static, so this holds under ``jit`` / ``vmap`` too."""
        treedef, name, spec, _ = self._state_spec()
        leaves, got = jax.tree_util.tree_flatten(state)
        if got != treedef:
            raise ValueError(
                f"{field}: expected the {name} of {type(self).__name__} (what reset / step return), "
                f"got {type(state).__name__}"
            )
        batch_shape = tuple(batch_shape)
        for leaf, (shape, kind) in zip(leaves, spec):
            have = tuple(np.shape(leaf))
            if have != batch_shape + shape:
                cut = len(have) - len(shape)
                lead = have[:cut] if cut >= 0 and have[cut:] == shape else None
                if lead is not None and not batch_shape:
                    raise ValueError(
                        f"{field}: expected one environment's state (jax.vmap the step for a "
                        f"batch), got a batch of shape {lead}"
                    )
                if lead is not None:
                    raise ValueError(f"{field}: expected states batched as {batch_shape}, got batch shape {lead}")
                raise ValueError(
                    f"{field}: expected the {name} that reset / step return, with leaf shapes "
                    f"{[batch_shape + s for s, _ in spec]}; got a leaf of shape {have}"
                )
            if _kind(_dtype_of(leaf)) != kind:
                raise ValueError(
                    f"{field}: expected the {name} that reset / step return, got a leaf of dtype "
                    f"{_dtype_of(leaf)} where {kind} values belong"
                )
        return state

    def coerce_action(self, action) -> jax.Array:
        """``action`` as int32 of ``action_shape``: dtype and shape always (they are static), range
        when the action is concrete, checked on its own values before the cast. A traced action out
        of range (in its own dtype) becomes ``-1``, which ``_legalize`` replaces."""
        if isinstance(action, jax.Array) or any(
            isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(action)
        ):
            if not isinstance(action, jax.Array):
                try:
                    action = jnp.asarray(action)
                except (TypeError, ValueError) as err:
                    raise ValueError(f"action: expected integer action ids, got {type(action).__name__}") from err
            self._check_action_dtype(action.dtype)
            self._check_action_shape(action.shape)
            if not is_concrete(action):
                return self._clip_range(action)
        host = self._host_action(action)
        self._check_action_range(host)
        return jnp.asarray(host.astype(np.int32))

    def _host_action(self, action) -> np.ndarray:
        """A concrete action as a NumPy integer array, its values checked exactly before any cast
        (Python ints and lists go through an object array: NumPy would make ``[2**63, 0]`` float and
        ``[True, 0]`` int)."""
        if action is None or isinstance(action, (str, bytes)):
            raise ValueError(f"action: expected integer action ids, got {type(action).__name__}")
        if isinstance(action, (list, tuple)) and _holds_bool(action):
            raise ValueError("action: expected integer action ids, got dtype bool among them")
        exact = isinstance(action, (int, list, tuple)) and not isinstance(action, bool)
        try:
            host = np.array(action, dtype=object) if exact else np.asarray(action)
        except (TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"action: expected integer action ids, got {type(action).__name__}") from err
        if host.dtype != object:
            self._check_action_dtype(host.dtype)
            self._check_action_shape(host.shape)
            return host
        values = host.ravel().tolist()
        wrong = sorted(
            {
                type(x).__name__
                for x in values
                if not isinstance(x, (int, np.integer)) or isinstance(x, (bool, np.bool_))
            }
        )
        if wrong:
            raise ValueError(f"action: expected integer action ids, got {', '.join(wrong)} among them")
        self._check_action_shape(host.shape)
        for i, x in enumerate(values):
            if not 0 <= x < self.num_actions:
                self._range_error(np.unravel_index(i, host.shape) if host.shape else (), int(x))
        return host.astype(np.int64)

    def _range_error(self, index: tuple, value: int):
        raise ValueError(
            f"action: {self._who(index)}{value} is not legal: out of range, expected an "
            f"action id in 0..{self.num_actions - 1}"
        )

    def _check_action_dtype(self, dtype) -> None:
        if not (jnp.issubdtype(dtype, jnp.integer) and dtype != jnp.bool_):
            raise ValueError(f"action: expected integer action ids, got dtype {dtype}")

    def _check_action_shape(self, shape) -> None:
        if tuple(shape) != self.action_shape:
            what = (
                "a scalar action id"
                if not self.action_shape
                else (f"shape {self.action_shape} (one action per {'agent' if self._agents else 'player'})")
            )
            raise ValueError(f"action: expected {what}; jax.vmap the step for a batch; got shape {tuple(shape)}")

    def _check_action_range(self, host: np.ndarray) -> None:
        bad = (host < 0) | (host >= self.num_actions)
        if bad.any():
            i = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.shape else ()
            self._range_error(i, int(host[i]))

    def _clip_range(self, action: jax.Array) -> jax.Array:
        """A traced action as int32, with entries outside ``[0, num_actions)`` (compared in the
        action's own dtype, so nothing wraps) set to ``-1``."""
        info = jnp.iinfo(action.dtype)
        ok = jnp.ones(action.shape, bool)
        if info.min < 0:
            ok = ok & (action >= 0)
        if info.max >= self.num_actions:
            ok = ok & (action < jnp.asarray(self.num_actions, action.dtype))
        return jnp.where(ok, action, jnp.zeros((), action.dtype)).astype(jnp.int32) - (~ok).astype(jnp.int32)

    def check_action(self, state, action, autoreset=None) -> jax.Array:
        """``action`` as int32 of ``action_shape``, checked as the module docstring says: dtype,
        shape and ``state`` always; range when the action is concrete; legality and a step past the
        end when both are concrete. Under tracing, out-of-range or illegal entries become the
        player's lowest legal action."""
        action = self.coerce_action(action)
        self.check_state(state)
        leaves = jax.tree_util.tree_leaves(state)
        if is_concrete(action) and all(is_concrete(x) for x in leaves):
            if bool(self._over(state)):
                if not (self.autoreset if autoreset is None else autoreset):
                    raise ValueError(
                        "state: the episode is over (terminated or truncated); call reset, "
                        "or make the environment with autoreset=True"
                    )
                return action  # auto-reset ignores the action
            self._check_concrete_action(state, np.asarray(action))
        return self._legalize(state, action)

    def _legalize(self, state, action):
        """Under tracing: an illegal or out-of-range action becomes the lowest legal action."""
        _, legal = self._acting(state)
        legal = legal.reshape(*self.action_shape, legal.shape[-1])
        a = jnp.clip(action, 0, legal.shape[-1] - 1)
        ok = (action >= 0) & (action < legal.shape[-1]) & jnp.take_along_axis(legal, a[..., None], -1)[..., 0]
        return jnp.where(ok, action, jnp.argmax(legal, axis=-1)).astype(jnp.int32)

    def _dtype(self, params):
        return jnp.result_type(float)

    def _step(self, u, state, action, params, ctx, autoreset=None):
        """The one auto-reset: ``(state', rewards, terminated, truncated)``."""
        over = self._over(state)
        new, rewards, terminated, truncated = self._transition(u, state, action, params, ctx)
        rewards = jnp.where(over, 0.0, rewards)
        if self.autoreset if autoreset is None else autoreset:
            # a state already over (e.g. chance ended the episode at reset) starts a new one too
            restart = over | terminated | truncated
            new = tree_where(restart, self._initial(u, params, ctx), new)
            return new, rewards, terminated & ~over, truncated & ~over
        new = tree_where(over, state, new)
        return new, rewards, terminated | over, truncated & ~over

    def _timestep(self, state, rewards, terminated, truncated, params) -> TimeStep:
        player, legal = self._acting(state)
        return TimeStep(self._observe(state, params), rewards, terminated, truncated, player, legal)

    def policy_tables(self, policy: Policy | None, params=None) -> Policy:
        """Per-player cumulative sums of ``policy`` restricted to legal actions (uniform where a
        row has no legal mass): what the sampler draws from, once per rollout."""
        game = self._params(params)
        masks = game.legal_mask()
        if policy is None:
            policy = game.uniform_policy()
        else:
            policy = game.validate_policy(policy)
        return tuple(
            jnp.cumsum(simplex.normalize(jnp.where(m, jnp.maximum(p, 0.0), 0.0), m), axis=-1)
            for p, m in zip(policy, masks)
        )

    def _sample(self, u, state, tables) -> jax.Array:
        """The one sampler: inverse CDF of the policy's rows at ``state`` (``u [*action_shape]``)."""
        return simplex.inverse_cdf(u, self._policy_rows(tables, state))


def pad_last(x: jax.Array, size: int, value) -> jax.Array:
    """``x`` padded on its last axis to ``size`` with ``value``."""
    extra = size - x.shape[-1]
    return x if extra == 0 else jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, extra)], constant_values=value)


def rollout(
    key: jax.Array,
    env: Environment,
    policy: Policy | None,
    num_steps: int,
    batch_size: int | None = None,
    params=None,
    state=None,
    max_bytes=None,
):
    """Play ``num_steps`` steps of ``env`` under ``policy``; return ``(final_state, Trajectory)``.

    Every player draws its actions from ``policy`` (shaped like ``game.uniform_policy()``;
    uniform over legal actions when ``None``); the environment auto-resets if it was made with
    ``autoreset=True`` (the default), so ``trajectory.rewards`` sums the returns of the episodes
    completed. With ``batch_size`` ``B``, ``B`` independent environments run at once (``vmap``
    over keys) and every array gains a leading ``[B]`` axis. Starts from ``state`` if given (to
    continue a rollout; batched like the output), else from ``env.reset``. All random numbers are
    drawn up front in two calls, and the policy's cumulative sums once.

    Checked up front: ``key`` (one PRNG key), ``num_steps`` and ``batch_size`` (integers >= 1;
    ``2.5`` is rejected, not truncated), ``params``, ``policy``, ``state`` (batched as the output),
    and the bytes of the random numbers and the trajectory, against ``max_bytes`` (default 4 GiB or
    ``JAXGAMES_MAX_BYTES``; see ``jaxgames.validation``). Each raises ``ValueError`` naming its field.

    Example::

        env = jaxgames.make_env(jaxgames.kuhn_poker())
        _, traj = jaxgames.rollout(jax.random.key(0), env, None, 100, batch_size=1024)
        traj.rewards.sum(axis=(0, 1)) / traj.done.sum()   # mean return per episode
    """
    if not isinstance(env, Environment):
        raise ValueError(f"env: expected a jaxgames simulator (jaxgames.make_env(game)), got {type(env).__name__}")
    key = check_key(key, "key", "jaxgames.rollout")
    num_steps = check_int(num_steps, "num_steps", low=1)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", low=1)
    params = env._params(params)
    dtype = env._dtype(params)
    n_act = int(np.prod(env.action_shape, dtype=int))
    _check_rollout_bytes(env, num_steps, batch_size, n_act, dtype, max_bytes)
    if state is not None:
        env.check_state(state, () if batch_size is None else (batch_size,))
    tables = env.policy_tables(policy, params)
    ctx = env._prepare(params)

    def one(key, start):
        k_reset, k_run = jax.random.split(key)
        if start is None:
            start, _ = env.reset(k_reset, params)
        u = rng.uniform(k_run, (num_steps, n_act + env.noise_size), dtype)

        def body(state, u):
            action = env._sample(u[:n_act].reshape(env.action_shape), state, tables)
            new, rewards, terminated, truncated = env._step(u[n_act:], state, action, params, ctx)
            return new, Trajectory(state, action, rewards, terminated, truncated)

        return jax.lax.scan(body, start, u)

    if batch_size is None:
        return one(key, state)
    keys = jax.random.split(key, batch_size)
    if state is None:
        return jax.vmap(lambda k: one(k, None))(keys)
    return jax.vmap(one)(keys, state)


def _check_rollout_bytes(
    env: Environment, num_steps: int, batch_size: int | None, n_act: int, dtype, max_bytes
) -> None:
    """The bytes a rollout holds at once (its uniforms and its trajectory) against ``max_bytes``."""
    item = np.dtype(dtype).itemsize
    per_step = (n_act + env.noise_size) * item + env._state_spec()[3] + 4 * n_act + env.num_players * item + 2
    envs = 1 if batch_size is None else batch_size
    check_table_bytes(
        per_step * num_steps * envs,
        "num_steps",
        f"the rollout's random numbers and trajectory ({num_steps} steps x {envs} environments)",
        max_bytes,
    )


def _holds_bool(values) -> bool:
    """A (nested) list or tuple with a bool entry (Python, NumPy or a 0-d bool array)."""
    return any(_holds_bool(v) if isinstance(v, (list, tuple)) else _dtype_of(v) == np.bool_ for v in values)


def _kind(dtype) -> str:
    """``"bool"``, ``"integer"``, ``"floating"`` or ``"complex"``: what ``check_state`` compares."""
    for kind, base in (
        ("bool", jnp.bool_),
        ("integer", jnp.integer),
        ("floating", jnp.floating),
        ("complex", jnp.complexfloating),
    ):
        if jnp.issubdtype(dtype, base):
            return kind
    return str(dtype)


def _dtype_of(leaf):
    dtype = getattr(leaf, "dtype", None)
    return np.asarray(leaf).dtype if dtype is None else dtype


def make_env(game: Game, **options) -> Environment:
    """The simulator of ``game``, for every family.

    - ``MatrixGame``: the repeated matrix game (``RepeatedMatrixEnv``; options ``num_rounds=1``,
      ``feedback="expected" | "bernoulli"``: Bernoulli outcomes for preference games);
    - ``ContextualPreferenceGame``: ``ContextualPreferenceEnv``, one query per episode (option
      ``feedback="bernoulli" | "expected"``);
    - ``EFGGame``: ``EFGEnv`` (option ``observation=...``);
    - ``MarkovGame``: ``MarkovEnv`` (option ``max_episode_steps=None``);
    - ``MeanFieldGame``: ``NAgentEnv``, N agents coupled through their empirical distribution
      (option ``num_agents=100``).

    Every family takes ``autoreset=True``. Unknown options raise ``ValueError`` naming them.
    """
    from jaxgames.efg.game import EFGGame
    from jaxgames.markov.game import MarkovGame
    from jaxgames.matrix.contextual import ContextualPreferenceGame
    from jaxgames.matrix.game import MatrixGame
    from jaxgames.mean_field.game import MeanFieldGame

    if isinstance(game, EFGGame):
        from jaxgames.efg.env import EFGEnv as cls
    elif isinstance(game, MarkovGame):
        from jaxgames.markov.env import MarkovEnv as cls
    elif isinstance(game, MatrixGame):
        from jaxgames.matrix.env import RepeatedMatrixEnv as cls
    elif isinstance(game, MeanFieldGame):
        from jaxgames.mean_field.env import NAgentEnv as cls
    elif isinstance(game, ContextualPreferenceGame):
        from jaxgames.matrix.contextual import ContextualPreferenceEnv as cls
    else:
        raise ValueError(
            f"game: no simulator for {type(game).__name__}; expected a MatrixGame, EFGGame, "
            "MarkovGame, MeanFieldGame or ContextualPreferenceGame"
        )
    import inspect

    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "game"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(
            f"make_env: unknown option(s) {unknown} for {cls.__name__}; expected some of {sorted(allowed)}"
        )
    return cls(game, **options)
