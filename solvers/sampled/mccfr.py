"""Monte Carlo CFR: outcome sampling and external sampling, learned from the simulator only.

Lanctot, Waugh, Zinkevich & Bowling (2009), "Monte Carlo Sampling for Regret Minimization in
Extensive Games" (NeurIPS; Lanctot's 2013 thesis, ch. 4). Per information set ``I`` the solvers keep
cumulative regrets ``R[I, a]`` and strategy sums ``S[I, a]``; the current policy is regret matching,
``sigma(I) ∝ max(R[I], 0)`` (uniform when no regret is positive), and ``output`` is the average
strategy ``S[I] / sum(S[I])``. A traversal for the update player ``i`` samples part of the tree
through the simulator (``jaxgames.efg.env.EFGEnv``): outcome sampling plays one episode, ``i``
drawing from ``q = eps * uniform + (1 - eps) * sigma`` and the others from ``sigma``; external
sampling tries every action at ``i``'s nodes and samples one elsewhere. The sampled counterfactual
regrets it adds are unbiased for CFR's::

    outcome:   R[I_j, a] += u * prod_{l > j} (s_l / q_l) / prod_{l <= j} q_l * (1[a = a_j] - s_j)
               S[I_j, a] += prod_{l < j} (s_l / q_l) / prod_{opponent nodes before t_j} sigma(a) * sigma_j(a)
    external:  R[I, a]  += v(ha) - v(h)          at i's histories h of the sampled tree
               S[I', a] += sigma(I')(a)          at player (i + 1) mod N's histories ("simple" averaging)

(``u``: ``i``'s terminal payoff; ``q_j = q(a_j)``, ``s_j = sigma(a_j)`` at ``i``'s ``j``-th node;
``v``: sampled values backed up from the terminals.) One step runs ``batch_size`` traversals per
player, in turn (``alternating=True``) or all against the same ``sigma``; at ``batch_size=1`` it is
one OpenSpiel iteration. The estimators, the level-by-level traversal and the comparison with
OpenSpiel are explained in the guide ("Sample-based learners", Monte Carlo CFR).

With ``discount=(alpha, beta, gamma)`` (default ``None``), after step ``t`` both tables are
discounted as in discounted CFR (Brown & Sandholm 2019, "Solving Imperfect-Information Games via
Discounted Regret Minimization", AAAI; Pluribus ran MCCFR with linear CFR's discounting, Brown &
Sandholm 2019, "Superhuman AI for multiplayer poker", Science)::

    R[I, a] *= t^alpha / (t^alpha + 1) where R[I, a] > 0, t^beta / (t^beta + 1) elsewhere
    S[I, a] *= (t / (t + 1))^gamma

so early, noisy steps weigh less. ``"dcfr"`` is the paper's ``(1.5, 0, 2)``, ``"linear"`` linear
CFR's ``(1, 1, 1)``. On Leduc at batch 1,024, ``"dcfr"`` reaches the NashConv of OpenSpiel's C++
solver after 100k iterations in about 60% of the steps (60 against 96-108, medians of 3-5 seeds;
``benchmarks/bench_mccfr.py``); the default keeps OpenSpiel's semantics.

Shapes: regrets and strategy sums per player ``[num_infosets_p, max_actions]``, like the policies;
``extra`` is an ``MCCFRState``. ``batch_size`` is static, ``exploration`` may be traced.

Example::

    import jax, jaxgames, solvers
    solver = solvers.outcome_sampling_mccfr(batch_size=64)
    state, trace = solvers.run(solver, jaxgames.kuhn_poker(), 300, key=jax.random.key(0))
    trace.nash_conv[-1]        # exact NashConv of the average strategy, ~0.02
"""

from __future__ import annotations

import functools
import itertools
import math
import weakref
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import rng, simplex
from jaxgames.core import Policy, as_float_array
from jaxgames.efg.env import EFGEnv
from jaxgames.efg.game import EFGGame
from jaxgames.efg.tree import CHANCE, TERMINAL
from solvers.core import (
    Solver,
    SolverState,
    cached_factory,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_solver_key,
    initial_state,
)


class MCCFRState(NamedTuple):
    """``SolverState.extra`` of both MCCFR solvers."""

    regrets: Policy  # per player [num_infosets_p, max_actions]: cumulative sampled regrets
    strategy_sums: Policy  # per player [num_infosets_p, max_actions]: cumulative average-strategy weights
    key: jax.Array  # PRNG key of the next step


# ----------------------------------------------------------------------------- the simulator
# The simulator is ``jaxgames.efg.env.EFGEnv``: its lookup tables, packed once per tree into the few
# that a batched traversal gathers from (``_Packed``), and its chance-run draw (``_Packed.step``),
# the same inverse-CDF draw on the same uniform as ``EFGEnv.step_with_noise`` (so the same
# trajectories: ``tests/test_mccfr.py`` checks them against the simulator's own ``step``).

_ENVS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _env(game: EFGGame) -> EFGEnv:
    """The simulator of ``game``'s tree, built once per tree (its tables are NumPy work)."""
    env = _ENVS.get(game.tree)
    if env is None:
        # no auto-reset: a traversal stops at the terminal (later steps are no-ops under jit);
        # the one-hot observation needs no OpenSpiel tensor tables (we never read observations)
        env = _ENVS[game.tree] = EFGEnv(game, observation="infoset_one_hot", autoreset=False)
    return env


class _Packed:
    """``EFGEnv``'s tables for batched traversals: one gather per decision reads the acting player,
    the stacked table row, and each action's child and chance run (``nodes``); a chance run's ends
    and their CDF are one more gather (``runs``). Built once per tree (NumPy); the chance
    probabilities are leaves of the game (possibly traced) and enter in ``chance``.

    ``nodes``: int32 ``[H, 2 + 2A]``: actor (``TERMINAL`` at terminals), row in the stacked tables
    (``num_rows`` where no player acts), the child of each action (-1: illegal), the chance run the
    child starts (-1: none). ``run_paths``: int32 ``[R, W, hops]``, the paths of each run's ends
    (``EFGEnv``'s chance-run table, ``W`` its widest run after an action).
    """

    def __init__(self, env: EFGEnv, offsets):
        tree = env.tree
        a, width = tree.max_actions, env._width
        num_rows = int(offsets[-1])
        table = env._nodes  # [H, width + 4]: children, actor, infoset, run offset, run count
        actor, infoset = table[:, width], table[:, width + 1]
        decision = actor >= 0
        row = np.where(decision, offsets[np.clip(actor, 0, None)] + np.maximum(infoset, 0), num_rows)
        children = np.where(decision[:, None] & env._legal, table[:, :a], -1)
        starts = np.nonzero(table[:, width + 3] > 0)[0]  # histories that start a chance run
        run_of = np.full(len(table) + 1, -1, np.int64)
        run_of[starts] = np.arange(len(starts))
        runs = run_of[children]  # children == -1 reads the sentinel
        self.nodes = np.concatenate([actor[:, None], row[:, None], children, runs], axis=1).astype(np.int32)
        self.num_actions, self.num_rows = a, num_rows
        self.run_width = env._run_width
        slot = np.arange(max(self.run_width, 1))
        offset, count = table[starts, width + 2], table[starts, width + 3]
        self.run_paths = env._path[offset[:, None] + slot]  # [R, W, hops]
        self.run_valid = slot < count[:, None]
        self.legal = np.concatenate([np.asarray(m) for m in tree.legal], axis=0)  # [num_rows, A]
        self.env = env

    def chance(self, game: EFGGame, dtype):
        """The root's ``(ends, cdf)`` and, per run, ``[R, 2W]``: the CDF of its ends, then the ends (as
        ``dtype``, exact for trees of fewer than ``2**(mantissa bits + 1)`` histories; larger trees
        get the ends apart, ``(cdf, ends)``), so a run's draw is one gather."""
        root = self.env._root(game)
        if self.run_width == 0:
            return root, None
        probs = jnp.where(self.run_valid, self.env._path_probs(game.chance_prob, jnp.asarray(self.run_paths)), 0.0)
        cdf = jnp.cumsum(probs, axis=-1).astype(dtype)
        if len(self.nodes) >= 2 ** (jnp.finfo(dtype).nmant + 1):
            return root, (cdf, jnp.asarray(self.run_paths[..., 0]))
        return root, jnp.concatenate([cdf, jnp.asarray(self.run_paths[..., 0], dtype)], axis=-1)

    def reset(self, u, root):
        """The first histories of episodes with uniforms ``u [B]`` (``EFGEnv.reset_with_noise``)."""
        return self.env._pick_root(u, root)

    def step(self, u, child, run, runs):
        """The history after a decision: ``child`` (-1 when the episode was over), or the end of the
        chance run ``run`` it starts, drawn with ``u`` (``EFGEnv.step_with_noise``)."""
        if runs is None:
            return child
        w, at = self.run_width, jnp.maximum(run, 0)
        row = _columns(runs[at]) if isinstance(runs, jax.Array) else _columns(runs[0][at]) + _columns(runs[1][at])
        # row: the CDF of the run's ends, then the ends
        cdf = row[:w]
        target = (1.0 - u) * cdf[-1]
        index = jnp.minimum(functools.reduce(jnp.add, [(c < target).astype(jnp.int32) for c in cdf]), w - 1)
        end = _select([index == j for j in range(w)], row[w:])
        return jnp.where(run >= 0, end.astype(jnp.int32), child)


def _columns(x: jax.Array) -> list:
    return [x[..., j] for j in range(x.shape[-1])]


def _select(chosen: list, columns: list) -> jax.Array:
    """The column where ``chosen`` (one-hot list of masks) is true: a chain of selects."""
    out = columns[-1]
    for c, x in zip(chosen[-2::-1], columns[-2::-1]):
        out = jnp.where(c, x, out)
    return out


def _draw(u: jax.Array, weights: list) -> jax.Array:
    """``simplex.draw`` on weights given column by column (the same running sums and comparisons)."""
    cdf = list(itertools.accumulate(weights))
    target = (1.0 - u) * cdf[-1]
    count = functools.reduce(jnp.add, [(c < target).astype(jnp.int32) for c in cdf])
    return jnp.minimum(count, len(cdf) - 1)


_PACKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _packed(game: EFGGame) -> _Packed:
    packed = _PACKED.get(game.tree)
    if packed is None:
        packed = _PACKED[game.tree] = _Packed(_env(game), _layout(game)[1])
    return packed


# ----------------------------------------------------------------------------- shared pieces


def _check_game(game) -> EFGGame:
    if not isinstance(game, EFGGame):
        raise ValueError(
            f"game: MCCFR needs an extensive-form game (jaxgames.efg.EFGGame, e.g. "
            f"jaxgames.kuhn_poker()), got {type(game).__name__}"
        )
    return game


def _layout(game: EFGGame):
    """Static row offsets of each player's table in the stacked ``[sum_p num_infosets_p, A]`` view."""
    sizes = game.tree.num_infosets
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    return sizes, offsets


def _stack(tables: Policy) -> jax.Array:
    return jnp.concatenate(tables, axis=0)


def _unstack(flat: jax.Array, offsets) -> Policy:
    return tuple(flat[offsets[p] : offsets[p + 1]] for p in range(len(offsets) - 1))


def _regret_matching(regrets: jax.Array, legal: jax.Array) -> jax.Array:
    """``max(R, 0)`` normalized over the legal actions; uniform where no regret is positive."""
    return simplex.normalize(jnp.maximum(regrets, 0.0), legal)


def _init(game, key=None) -> SolverState:
    game = _check_game(game)
    key = check_solver_key(key, "MCCFR")
    dtype = jnp.result_type(float)
    zeros = tuple(jnp.zeros(m.shape, dtype) for m in game.legal_mask())
    return initial_state(game, None, extra=MCCFRState(regrets=zeros, strategy_sums=zeros, key=key))


def _finish(game: EFGGame, state: SolverState, regrets, sums, key, offsets) -> SolverState:
    masks = game.legal_mask()
    regrets, sums = _unstack(regrets, offsets), _unstack(sums, offsets)
    policy = tuple(_regret_matching(r, m) for r, m in zip(regrets, masks))
    average = tuple(simplex.normalize(s, m) for s, m in zip(sums, masks))
    return SolverState(
        policy=policy,
        average=average,
        step=state.step + 1,
        extra=MCCFRState(regrets=regrets, strategy_sums=sums, key=key),
    )


def _scatter(table: jax.Array, rows: jax.Array, values: jax.Array) -> jax.Array:
    """``table[rows] += values`` for every row (rows ``>= len(table)`` are dropped)."""
    a = table.shape[-1]
    return table.at[rows.reshape(-1)].add(values.reshape(-1, a).astype(table.dtype), mode="drop")


def _noise(key, num_players: int, batch: int, num_keys: int, num_uniforms: int, dtype, noise_size: int):
    """The randomness of ``num_players x batch`` traversals, from one draw: ``(next_key, simulator
    uniforms [num_players, num_keys, noise_size, batch], uniforms [num_players, num_uniforms, batch])``,
    the batch axis last (the traversals read one row per decision, contiguous). The simulator is
    driven by uniforms (``step_with_noise``), so no key is hashed per simulator call; the draw is
    ``_uniform_words`` (both words of each Threefry hash: half the hashing of ``jax.random.uniform``)."""
    key, k_draw = jax.random.split(key)
    width = num_keys * noise_size
    u = _uniform_words(k_draw, (num_players, width + num_uniforms, batch), dtype)
    return key, u[:, :width].reshape(num_players, num_keys, noise_size, batch), u[:, width:]


_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _fast_threefry(key, dtype, n: int) -> bool:
    """Whether ``_uniform`` / ``_uniform_words`` can hash ``n`` counters themselves (else ``rng.uniform``)."""
    return (
        jax.config.jax_threefry_partitionable
        and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        and str(jax.random.key_impl(key)) == "threefry2x32"
        and jnp.dtype(dtype) in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64))
        and n < 2**32
    )


def _threefry(key, n: int) -> list:
    """Threefry-2x32 (20 rounds, as ``jax.random``) of the counters ``0..n-1`` under ``key``, unrolled
    (one fused kernel): the two 32-bit output words ``[x0, x1]``, each ``uint32 [n]``."""
    data = jax.random.key_data(key)
    k = [data[0], data[1], data[0] ^ data[1] ^ np.uint32(0x1BD11BDA)]
    # the counters: the row-major index as (high, low) 32-bit words, high = 0 below 2**32
    x = [jnp.zeros((n,), jnp.uint32) + k[0], jnp.arange(n, dtype=jnp.uint32) + k[1]]
    for i in range(5):
        for r in _THREEFRY_ROTATIONS[i % 2]:
            x[0] = x[0] + x[1]
            x[1] = ((x[1] << np.uint32(r)) | (x[1] >> np.uint32(32 - r))) ^ x[0]
        x = [x[0] + k[(i + 1) % 3], x[1] + k[(i + 2) % 3] + np.uint32(i + 1)]
    return x


def _float32(bits) -> jax.Array:
    """``[0, 1)`` floats from the 23 high bits of ``uint32`` words (``jax.random.uniform``'s mapping)."""
    mantissa = bits >> np.uint32(32 - 23) | np.uint32(0x3F800000)
    return jax.lax.bitcast_convert_type(mantissa, jnp.float32) - jnp.float32(1.0)


def _uniform(key, shape, dtype) -> jax.Array:
    """``jax.random.uniform(key, shape, dtype)``, bit for bit, as one fused kernel where possible.

    On CPU, JAX lowers its Threefry-2x32 hash as a ``fori_loop`` of 5 rounds (tens of small
    kernels per draw, with copies of the loop state): a step at small batch size spends much
    of its time there. For a Threefry key with ``jax_threefry_partitionable`` (JAX's default)
    and a 32- or 64-bit float, this is the same hash of the same counters, unrolled, so XLA
    fuses the draw into one loop; ``tests/test_mccfr.py`` checks it against ``jax.random``.
    Anything else goes to ``rng.uniform``.
    """
    dtype = jnp.dtype(dtype)
    n = math.prod(shape)
    if not _fast_threefry(key, dtype, n):
        return rng.uniform(key, shape, dtype)
    x = _threefry(key, n)
    if dtype == jnp.float32:
        floats = _float32(x[0] ^ x[1])
    else:
        wide = (x[0].astype(jnp.uint64) << np.uint64(32)) | x[1].astype(jnp.uint64)
        bits = wide >> np.uint64(64 - 52) | np.uint64(0x3FF0000000000000)
        floats = jax.lax.bitcast_convert_type(bits, jnp.float64) - jnp.float64(1.0)
    return jnp.maximum(jnp.zeros((), dtype), floats).reshape(shape)


def _uniform_words(key, shape, dtype) -> jax.Array:
    """Uniforms on ``[0, 1)`` like ``jax.random.uniform``, but a float32 from each of the two 32-bit
    words of a Threefry hash (counters ``0..ceil(n / 2) - 1``; the first half of the flat draw from
    the first words, the second half from the second), so half the hashing. Both words of
    Threefry-2x32 are uniform and independent (Salmon et al. 2011, "Parallel random numbers: as
    easy as 1, 2, 3"); it is not ``jax.random.uniform``'s stream. float64 (one hash per number, as
    ``jax.random``) and other keys go to ``_uniform``."""
    dtype = jnp.dtype(dtype)
    n = math.prod(shape)
    half = (n + 1) // 2
    if dtype != jnp.float32 or not _fast_threefry(key, dtype, half):
        return _uniform(key, shape, dtype)
    x = _threefry(key, half)
    floats = jnp.concatenate([_float32(x[0]), _float32(x[1])])[:n]
    return jnp.maximum(jnp.zeros((), dtype), floats).reshape(shape)


#: named ``discount`` settings: ``(alpha, beta, gamma)`` of Brown & Sandholm's discounted CFR
DISCOUNTS = {"dcfr": (1.5, 0.0, 2.0), "linear": (1.0, 1.0, 1.0)}


def _check_discount(discount):
    """``None``, a name in ``DISCOUNTS`` or three numbers ``(alpha, beta, gamma)``: ``None`` or the tuple."""
    if discount is None:
        return None
    if isinstance(discount, str):
        return DISCOUNTS[check_choice(discount, "discount", tuple(DISCOUNTS))]
    if not isinstance(discount, tuple | list) or len(discount) != 3:
        raise ValueError(
            f"discount: expected None, one of {tuple(DISCOUNTS)} or three numbers (alpha, beta, gamma), "
            f"got {discount!r}"
        )
    return tuple(float(check_number(x, f"discount[{i}]", 0)) for i, x in enumerate(discount))


def _discounted(regrets, sums, t, discount):
    """Discounted CFR's weights after step ``t`` (1-based): positive regrets times ``t^a / (t^a + 1)``,
    negative ones times ``t^b / (t^b + 1)``, strategy sums times ``(t / (t + 1))^g``."""
    alpha, beta, gamma = discount
    t = t.astype(regrets.dtype)
    pos, neg = t**alpha / (t**alpha + 1.0), t**beta / (t**beta + 1.0)
    return regrets * jnp.where(regrets > 0, pos, neg), sums * (t / (t + 1.0)) ** gamma


def _make_step(traverse, noise, batch_size: int, alternating: bool, discount=None):
    """A ``step`` that runs ``traverse(game, regrets, keys, uniforms, player)`` on ``batch_size``
    traversals per player (in turn, or all at once) and adds the summed increments.

    ``noise(game)`` gives the static numbers of simulator keys and of uniforms one traversal
    uses; they are drawn here for all traversals at once (each ``jax.random`` call compiles to a
    loop of its own, and XLA's compile time on CPU grows with the number of kernels).
    ``traverse`` takes them for the batch (``[..., B]``, the batch axis last) and returns ``(regret_rows,
    regret_increments, sum_rows, sum_increments)`` (any leading axes, increments ``[..., A]``),
    or a list of such tuples, added in turn; rows index the stacked tables, rows past the end are
    ignored; the same ``rows`` object for both tables makes one scatter of both. The player is a
    traced index (a ``lax.scan`` over players, or a ``vmap``), so one traversal is compiled for all
    players. ``discount``: ``(alpha, beta, gamma)`` applied to both tables after each step
    (``_discounted``), or ``None``.
    """

    def step(game: EFGGame, state: SolverState) -> SolverState:
        game = _check_game(game)
        env = _env(game)
        _, offsets = _layout(game)
        num_players = game.num_players
        ex = state.extra
        regrets, sums = _stack(ex.regrets), _stack(ex.strategy_sums)
        num_keys, num_uniforms = noise(game)
        key, keys, uniforms = _noise(
            ex.key, num_players, batch_size, num_keys, num_uniforms, regrets.dtype, env.noise_size
        )
        players = jnp.arange(num_players)

        def update(tables, outs):
            if isinstance(outs[0], jax.Array):
                outs = [outs]
            for r_rows, r_inc, s_rows, s_inc in outs:
                if r_rows is s_rows:  # one scatter into both tables
                    a = tables[0].shape[-1]
                    both = jnp.concatenate(tables, axis=-1)
                    both = _scatter(both, r_rows, jnp.concatenate([r_inc, s_inc], axis=-1))
                    tables = both[:, :a], both[:, a:]
                else:
                    tables = _scatter(tables[0], r_rows, r_inc), _scatter(tables[1], s_rows, s_inc)
            return tables

        if alternating:

            def turn(tables, xs):
                return update(tables, traverse(game, tables[0], *xs)), None

            (regrets, sums), _ = jax.lax.scan(turn, (regrets, sums), (keys, uniforms, players))
        else:
            out = jax.vmap(lambda k, u, p: traverse(game, regrets, k, u, p))(keys, uniforms, players)
            regrets, sums = update((regrets, sums), out)
        if discount is not None:
            regrets, sums = _discounted(regrets, sums, state.step + 1, discount)
        return _finish(game, state, regrets, sums, key, offsets)

    return step


def _output(state: SolverState) -> Policy:
    return state.average


# ----------------------------------------------------------------------------- outcome sampling


def _outcome_traversals(game: EFGGame, regrets, keys, uniforms, player, exploration):
    """``B`` outcome-sampling episodes for update player ``player``, batched; see the module docstring.

    ``keys``: ``[L + 1, 1, B]`` simulator uniforms (reset, then one per decision); ``uniforms``:
    ``[L, B]`` (``L = env.max_episode_length``). Returns rows ``[B, L]`` (the visited information
    sets of ``player``; other rows point past the tables) and the regret and strategy-sum
    increments ``[B, L, A]`` there. The simulator's tables are packed (``_Packed``): per decision
    one gather of the history's row, one of the current policy's row and, where a chance run
    follows, one of the run's CDF; the policy is regret matching of the whole table, once.
    """
    packed = _packed(game)
    num_rows, num_actions = regrets.shape
    dtype = regrets.dtype
    one = jnp.ones((), dtype)
    nodes = jnp.asarray(packed.nodes)
    sigma_table = _policy_table(packed, regrets)
    root, runs = packed.chance(game, dtype)

    def decide(carry, xs):
        # carry: the histories and, over the decisions so far, the products of the player's sampling
        # probabilities, of its own policy's, and of the opponents' policies' probabilities. The
        # actions are few: the work is column by column (elementwise; XLA fuses it into few kernels)
        h, own_q, own_s, opp_s = carry
        k, u = xs
        node = nodes[h]  # [B, 2 + 2A]
        actor, row = node[:, 0], node[:, 1]
        children = [node[:, 2 + a] for a in range(num_actions)]
        legal = [c >= 0 for c in children]
        live = actor >= 0
        sigma = _columns(sigma_table[row])
        mine = live & (actor == player)
        count = jnp.maximum(functools.reduce(jnp.add, [x.astype(jnp.int32) for x in legal]), 1)
        q = [jnp.where(mine, exploration * (x / count) + (1.0 - exploration) * s, s) for x, s in zip(legal, sigma)]
        action = _draw(u, q)
        chosen = [action == a for a in range(num_actions)]
        q_a, s_a = _select(chosen, q), _select(chosen, sigma)
        child = _select(chosen, children)
        run = _select(chosen, [node[:, 2 + num_actions + a] for a in range(num_actions)])
        nxt = jnp.where(live, packed.step(k, child, run, runs), h)
        # regret direction, still to be scaled by u * prod_{later own nodes} s / q
        scale = own_q * q_a
        direction = [jnp.where(mine & x, (c - s_a) / scale, 0.0) for x, c in zip(legal, chosen)]
        weight = own_s / (own_q * opp_s)
        sums = [jnp.where(mine, weight * s, 0.0) for s in sigma]
        carry = (
            nxt,
            jnp.where(mine, own_q * q_a, own_q),
            jnp.where(mine, own_s * s_a, own_s),
            jnp.where(live & ~mine, opp_s * s_a, opp_s),
        )
        ratio = jnp.where(mine, s_a / q_a, one)
        return carry, (jnp.where(mine, row, num_rows), jnp.stack([*direction, *sums, ratio], axis=-1))

    h = packed.reset(keys[0, 0], root)
    ones = jnp.ones(h.shape, dtype)
    xs = (keys[1:, 0], uniforms)
    (h, _, _, _), (rows, out) = jax.lax.scan(decide, (h, ones, ones, ones), xs)
    direction, sums, ratio = out[..., :num_actions], out[..., num_actions:-1], out[..., -1]
    # every episode is over after L decisions: the player's payoff; sampled value after each
    # decision: u times the later own nodes' ratios s / q
    reward = game.payoffs[h, player].astype(dtype)
    later = jnp.cumprod(jnp.concatenate([ratio[1:], jnp.ones_like(ratio[:1])])[::-1], axis=0)[::-1]
    tail = reward * later  # [L, B]
    rows = rows.T
    return rows, jnp.swapaxes(tail[..., None] * direction, 0, 1), rows, jnp.swapaxes(sums, 0, 1)


@cached_factory
def outcome_sampling_mccfr(
    batch_size: int = 1, exploration: float = 0.6, alternating: bool = True, discount=None
) -> Solver:
    """Outcome-sampling MCCFR (Lanctot et al. 2009), epsilon-on-policy exploration.

    Args:
      batch_size: sampled episodes per player per step, one ``vmap`` (static).
        At 1 a step is one OpenSpiel iteration (C++ ``OutcomeSamplingMCCFRSolver.RunIteration``,
        Python ``OutcomeSamplingSolver.iteration``: one episode per player).
      exploration: ``eps`` in ``(0, 1]``, the weight of the uniform policy in the
        update player's sampling policy (OpenSpiel's default 0.6). May be traced.
      alternating: players' batches in turn (default, as OpenSpiel), or all
        players against the same current policy in one ``vmap``.
      discount: ``None`` (default: OpenSpiel's plain sums), or discounted CFR's weights after
        each step (module docstring): ``"dcfr"`` = ``(1.5, 0, 2)``, ``"linear"`` = ``(1, 1, 1)``
        (linear CFR), or ``(alpha, beta, gamma)``.

    The update rule, the meaning of a step and the shapes are in the module
    docstring. ``output`` is the average strategy.
    """
    batch_size = check_int(batch_size, "batch_size", low=1)
    discount = _check_discount(discount)
    exploration = as_float_array(check_number(exploration, "exploration", 0, 1, low_open=True), "exploration")
    check_bool(alternating, "alternating")

    def traverse(game, regrets, keys, uniforms, player):
        return _outcome_traversals(game, regrets, keys, uniforms, player, exploration.astype(regrets.dtype))

    def noise(game):  # random numbers of one traversal: simulator keys, uniforms
        length = _env(game).max_episode_length
        return length + 1, length

    return Solver(init=_init, step=_make_step(traverse, noise, batch_size, alternating, discount), output=_output)


# ----------------------------------------------------------------------------- external sampling


def frontier_widths(tree) -> np.ndarray:
    """``int [num_players, L + 1]``: per update player, the most simulator states an external-sampling
    traversal can hold after ``d = 0..L`` decisions (``L`` the most decisions in an episode).

    Bottom-up over the tree, ``F(h)[k]`` bounds the states ``k`` decisions below history ``h``:
    ``e_0`` at a terminal, ``e_0 + shift(sum_a F(ha))`` at the update player's histories,
    ``e_0 + shift(max_a F(ha))`` at the others' and ``max_o F(ho)`` at chance (which the simulator
    resolves within a step); the widths are ``F(root)``. Structure only (no probabilities, no
    payoffs), computed once per tree.
    """
    cached = _WIDTHS.get(tree)
    if cached is not None:
        return cached
    h_count = tree.num_histories
    actor = np.full(h_count, CHANCE, np.int64)
    actor[tree.is_terminal] = TERMINAL
    for p in range(tree.num_players):
        actor[tree.decision_nodes[p]] = p
    # decisions along the longest path: the frontier has L + 1 levels
    decisions = np.zeros(h_count, np.int64)
    for d in range(1, tree.max_depth + 1):
        idx = np.nonzero(tree.depth == d)[0]
        decisions[idx] = decisions[tree.parent[idx]] + (tree.edge_actor[idx] >= 0)
    levels = int(decisions.max(initial=0)) + 1
    out = np.zeros((tree.num_players, levels), np.int64)
    for p in range(tree.num_players):
        f = np.zeros((h_count, levels), np.int64)
        for d in range(tree.max_depth, -1, -1):
            idx = np.nonzero(tree.depth == d)[0]
            kids = tree.children[idx]  # [n, width], -1: none
            below = np.where((kids >= 0)[..., None], f[np.maximum(kids, 0)], 0)  # [n, width, levels]
            kind = actor[idx]
            here = np.where((kind == p)[:, None], below.sum(1), below.max(1))
            shifted = np.concatenate([np.ones((len(idx), 1), np.int64), here[:, :-1]], axis=1)
            f[idx] = np.where((kind == CHANCE)[:, None], here, shifted)
            f[idx[kind == TERMINAL]] = np.eye(1, levels, dtype=np.int64)
        out[p] = f[0]
    _WIDTHS[tree] = out
    return out


_WIDTHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def level_groups(widths, max_groups: int = 3) -> tuple:
    """Split the ``L`` expansions of a traversal into at most ``max_groups`` runs of consecutive levels,
    each scanned at one width: ``((start, stop, width), ...)`` minimizing the padded work
    ``sum (stop - start) * width`` (``width = max(widths[start:stop + 1])``, the states before and
    after each expansion of the run). Unrolling every level would compile one set of kernels per
    level (XLA CPU compile time grows with the kernel count: Leduc took ~30 CPU-s); one run per
    group compiles ``max_groups`` sets.
    """
    widths = [int(w) for w in widths]
    steps = len(widths) - 1
    cost = lambda a, b: (b - a) * max(widths[a : b + 1])
    table = {(0, 0): (0, ())}  # (k, end): (work, groups) of k groups covering expansions [0, end)
    for k in range(1, max_groups + 1):
        for end in range(1, steps + 1):
            options = [
                (table[(k - 1, a)][0] + cost(a, end), table[(k - 1, a)][1] + ((a, end),))
                for a in range(end)
                if (k - 1, a) in table
            ]
            if options:
                table[(k, end)] = min(options)
    # the least work; at equal work, the fewest groups
    best = min(
        ((table[(k, steps)][0], k, table[(k, steps)][1]) for k in range(1, max_groups + 1) if (k, steps) in table),
        default=(0, 0, ()),
    )
    return tuple((a, b, max(widths[a : b + 1])) for a, b in best[2])


#: level runs of an external-sampling traversal (``level_groups``): fewer runs compile faster but
#: take more simulator steps per traversal; unrolling every level compiles slowest.
_MAX_GROUPS = 3


class _Level(NamedTuple):
    """What the backup needs of one frontier level of width ``w`` (few fields: each is a scan output)."""

    actor: jax.Array  # int [w]: the acting player (TERMINAL when over)
    row: jax.Array  # int [w]: the information set's row in the stacked tables
    sigma: jax.Array  # [w, A]: the current policy there
    slot: jax.Array  # int [w, A]: each expanded child's position in the next level, w if not expanded
    arrived: jax.Array  # [w]: the update player's reward on the step into each state (its value if terminal)


def _resize(x, width: int):
    """Pad (repeating the last entry) or cut the leading axis to ``width``; the frontier's valid
    states are packed at the front, and a level never holds more than its width."""
    n = x.shape[0]
    if n >= width:
        return x[:width]
    return jnp.concatenate([x, jnp.repeat(x[-1:], width - n, axis=0)], axis=0)


def _scan(f, carry, xs, reverse=False):
    """``lax.scan``, called directly when there is one iteration (a scan adds kernels of its own)."""
    if jax.tree_util.tree_leaves(xs)[0].shape[0] == 1:
        carry, y = f(carry, jax.tree_util.tree_map(lambda x: x[0], xs))
        return carry, jax.tree_util.tree_map(lambda x: x[None], y)
    return jax.lax.scan(f, carry, xs, reverse=reverse)


def _policy_table(packed: _Packed, regrets) -> jax.Array:
    """Regret matching of every row of the stacked table, and a zero row for "no player acts"."""
    sigma = _regret_matching(regrets, jnp.asarray(packed.legal))
    return jnp.concatenate([sigma, jnp.zeros((1, sigma.shape[-1]), sigma.dtype)])


def _external_traversal(game: EFGGame, sigma_table, chance, keys, uniforms, player, groups):
    """One external-sampling traversal for update player ``player``, level by level.

    ``groups``: ``level_groups`` of the frontier widths; each run of levels is a ``lax.scan`` at
    its width. A frontier is the histories of its states (``_Packed`` tables) and a validity mask.
    ``sigma_table``: ``_policy_table`` of the regrets; ``chance``: ``_Packed.chance``. Returns the
    rows ``[levels, w]`` and increments ``[levels, w, A]`` of the regrets (the player's nodes) and
    of the strategy sums (player ``(player + 1) % N``'s nodes), one tuple per run of levels.
    """
    packed = _packed(game)
    num_rows, num_actions = packed.num_rows, packed.num_actions
    dtype = sigma_table.dtype
    nodes = jnp.asarray(packed.nodes)
    root, runs = chance
    payoff = game.payoffs[:, player].astype(dtype)
    averaged = (player + 1) % game.num_players
    sizes = [(b - a) * w for a, b, w in groups]
    env_keys = jnp.split(keys[1:, 0], np.cumsum(sizes)[:-1])
    uniforms = jnp.split(uniforms, np.cumsum(sizes)[:-1])

    def expand(carry, xs):
        h, valid = carry
        keys, u = xs
        width = valid.shape[0]
        node = nodes[h]  # [w, 2 + 2A]
        actor, row = node[:, 0], node[:, 1]
        children, child_runs = node[:, 2 : 2 + num_actions], node[:, 2 + num_actions :]
        live = valid & (actor >= 0)
        legal = children >= 0
        sigma = sigma_table[row]
        sampled = simplex.draw(u, sigma)
        branch = live[:, None] & jnp.where(
            (actor == player)[:, None], legal, jnp.arange(num_actions) == sampled[:, None]
        )
        flat = branch.reshape(-1)
        # packed position of each child: the children before its parent, then its siblings before it
        # (two short running sums: XLA's CPU cumsum is quadratic in the length)
        count = jnp.sum(branch, -1, dtype=jnp.int32)
        before = jnp.cumsum(count) - count
        slot = jnp.where(branch, before[:, None] + jnp.cumsum(branch, -1, dtype=jnp.int32) - 1, width).reshape(-1)
        # the children in their packed positions
        source = jnp.zeros((width,), jnp.int32).at[slot].set(jnp.arange(flat.size, dtype=jnp.int32), mode="drop")
        both = jnp.stack([children.reshape(-1), child_runs.reshape(-1)], axis=-1)[source]  # [width, 2]
        nxt = packed.step(keys, both[:, 0], both[:, 1], runs)
        arrived = jnp.where(valid & (actor == TERMINAL), payoff[h], 0.0)
        level = _Level(actor, row, sigma, slot.reshape(branch.shape), arrived)
        count = jnp.sum(count)
        return (jnp.where(jnp.arange(width) < count, nxt, 0), jnp.arange(width) < count), level

    h = packed.reset(keys[0, 0], root)[None]
    valid = jnp.ones((1,), bool)
    levels = []
    for (a, b, width), keys, u in zip(groups, env_keys, uniforms):
        carry = (_resize(h, width), _resize(valid, width) & (jnp.arange(width) < valid.shape[0]))
        (h, valid), level = _scan(expand, carry, (keys.reshape(b - a, width), u.reshape(b - a, width)))
        levels.append(level)

    def combine(level, child):
        """The value of each state from its children's (``i``'s nodes: the policy's mean)."""
        return jnp.where(level.actor[..., None] == player, level.sigma * child, child).sum(-1)

    def backup(value, level):
        # the children's values [w, A]; a state's value is its terminal reward, or theirs combined
        branch = level.slot < value.shape[0]
        child = jnp.where(branch, value[jnp.minimum(level.slot, value.shape[0] - 1)], 0.0)
        return jnp.where(branch.any(-1), combine(level, child), level.arrived), child

    value = jnp.where(valid & (nodes[h, 0] == TERMINAL), payoff[h], 0.0)
    out = []
    for (_, _, width), level in zip(groups[::-1], levels[::-1]):
        value, child = _scan(backup, _resize(value, width), level, reverse=True)
        # the increments, for all levels of the run at once (outside the scan: fewer kernels)
        branch = level.slot < width
        live = branch.any(-1)
        mine = live & (level.actor == player)
        regret = jnp.where(mine[..., None] & branch, child - combine(level, child)[..., None], 0.0)
        sums = jnp.where((live & (level.actor == averaged))[..., None], level.sigma, 0.0)
        rows = jnp.where(mine, level.row, num_rows), jnp.where(live & (level.actor == averaged), level.row, num_rows)
        out.append((rows[0], regret, rows[1], sums))
    return out


@cached_factory
def external_sampling_mccfr(batch_size: int = 1, alternating: bool = True, discount=None) -> Solver:
    """External-sampling MCCFR (Lanctot et al. 2009) with OpenSpiel's "simple" averaging.

    Args:
      batch_size: sampled traversals per player per step, one ``vmap`` (static).
        At 1 a step is one OpenSpiel iteration (Python ``ExternalSamplingSolver.iteration``
        and C++ ``ExternalSamplingMCCFRSolver.RunIteration``: one traversal per player).
      alternating: players' batches in turn (default, as OpenSpiel), or all
        players against the same current policy in one ``vmap``.
      discount: as ``outcome_sampling_mccfr``'s (default ``None``: OpenSpiel's plain sums).

    The update rule, the meaning of a step and the shapes are in the module docstring;
    the level-by-level traversal is explained in the guide ("Sample-based learners").
    ``output`` is the average strategy.
    """
    batch_size = check_int(batch_size, "batch_size", low=1)
    discount = _check_discount(discount)
    check_bool(alternating, "alternating")

    def groups(game):
        # the player is traced (one compiled traversal for all): the widest frontier of any player
        return level_groups(frontier_widths(game.tree).max(axis=0), _MAX_GROUPS)

    def traverse(game, regrets, keys, uniforms, player):
        packed = _packed(game)
        sigma, chance = _policy_table(packed, regrets), packed.chance(game, regrets.dtype)
        # the batch axis after the levels': the scan's layout, so the scatter reads the increments
        # in place (its order of additions is then level by level, not traversal by traversal)
        one = lambda k, u: _external_traversal(game, sigma, chance, k, u, player, groups(game))
        return jax.vmap(one, in_axes=(2, 1), out_axes=1)(keys, uniforms)

    def noise(game):  # random numbers of one traversal: simulator keys, uniforms
        size = sum((b - a) * w for a, b, w in groups(game))
        return size + 1, size

    return Solver(init=_init, step=_make_step(traverse, noise, batch_size, alternating, discount), output=_output)


#: the sampling schemes of ``mccfr(sampling=...)``
SAMPLING = ("outcome", "external")


def mccfr(sampling: str = "outcome", batch_size: int = 1, **hyperparameters) -> Solver:
    """Monte Carlo CFR by sampling scheme: ``outcome_sampling_mccfr`` (``"outcome"``; takes
    ``exploration``) or ``external_sampling_mccfr`` (``"external"``), with the same hyperparameters."""
    check_choice(sampling, "sampling", SAMPLING)
    factory = outcome_sampling_mccfr if sampling == "outcome" else external_sampling_mccfr
    return factory(batch_size=batch_size, **hyperparameters)
