"""Joint policy-space response oracles (JPSRO; Marris et al. 2021) on extensive-form and Markov games.

Marris, Muller, Lanctot, Tuyls & Graepel (2021), "Multi-agent training beyond zero-sum with
correlated equilibrium meta-solvers" (ICML). PSRO (``solvers.psro``) with a *joint* meta-strategy:
each player ``i`` keeps a population ``pi_i^1..pi_i^n`` of pure tabular policies, the meta-game is
``M[i, k_1, ..., k_N] = u_i(pi_1^{k_1}, ..., pi_N^{k_N})``, and the meta-solver returns a
distribution ``sigma`` over population *profiles*: a correlated (CE) or coarse correlated (CCE)
equilibrium of the meta-game. One ``step``:

1. every player ``i`` adds one best response:

   - ``kind="cce"``: to the others' correlated marginal ``sigma(k_-i) = sum_{k_i} sigma(k)``;
   - ``kind="ce"``: to the conditional ``sigma(k_-i | k_i)`` of the recommendation ``k_i`` whose
     deviation gain is largest (Marris et al. add one response per recommendation; one per step
     keeps the population's growth fixed, and the step adds nothing new only at a CE);

2. the new meta-game entries are filled in with ``game.evaluate``;
3. the meta-solver (``jaxgames.general_sum.correlated_equilibrium``, batched LP/QP in JAX) solves the
   restricted meta-game, profiles in ``[0, size)^N``, for the new ``sigma``.

The best response against a *correlated* distribution over the other players' policies is exact and
cheap in the sequence form: player ``i``'s payoff vector is linear in the product of the others'
realization plans, so against ``w(k_-i)`` it is ``u_i[s] = sum_z chance(z) payoff_i(z)
sum_{k_-i} w(k_-i) prod_{j != i} x_j^{k_j}[last_j(z)]`` (one contraction over the profiles), and
the usual bottom-up maximum over ``i``'s own information sets gives the response and its value.

The state records the full-game gaps of ``sigma`` (``JPSROExtra.gaps``, ``[2]``: CCE, CE):

- CCE gap: ``max_i [max_pi u_i(pi, sigma_-i) - sum_k sigma(k) M[i, k]]``;
- CE gap: ``max_i sum_{k_i} [max_pi sum_{k_-i} sigma(k) u_i(pi, pi^{k_-i}) - sum_{k_-i} sigma(k) M[i, k]]``:
  a player told to play ``pi_i^{k_i}`` may switch to any policy of the full game.

Both are 0 exactly at a CCE (CE) of the full game whose support is the population; ``solvers.run``
records the gap of ``kind`` (``Solver.metric``). ``output`` is the marginal mixture of every player
as one behaviour policy (as PSRO's); in a two-player zero-sum game the marginals of a CCE are a Nash
equilibrium.

**Markov games** (``jaxgames.markov.MarkovGame``): the populations hold *deterministic stationary*
policies ``[S, A_i]`` (one-hot), a profile is drawn from ``sigma`` once per episode, and
``M[i, k] = initial @ V_i`` is exact (policy evaluation). The full game JPSRO solves is then the
normal-form game ``G_stat`` whose pure strategies are all ``A_i^S`` deterministic stationary policies
of each player, with payoffs ``initial @ V_i``: the fixed point is a CCE (CE) of ``G_stat``, that is no
player gains by committing, before the draw (CCE) or after seeing its own drawn policy (CE), to any
deterministic stationary policy (or any once-per-episode mixture of them). That is the concept the
gaps measure, and they are exact. It is weaker than a CCE against *every* deviation: against a hidden
``k_-i`` drawn once per episode, the best reply may learn ``k_-i`` from the others' actions along
the episode (a partially observable problem over the posterior of ``k_-i``), and even the best
stationary reply may randomize (a state revisited under one policy couples the models; Steimle,
Kaufman & Denton 2021, multi-model MDPs), so neither is covered (measured in the docs' general-sum
guide: a ``G_stat`` CCE that a randomized stationary policy improves on by 0.16). The best stationary reply to a
mixture of MDPs is NP-hard in general (Buchholz & Scheftelowitsch 2019), so the oracle is exact by
enumeration: every player's ``A_i^S`` deterministic stationary policies are evaluated against every
population profile of the others (``A_i^S K^(N-1)`` policy evaluations per step), which the
``max_deviations`` argument caps (4096 by default: e.g. 12 states with 2 actions, 7 with 3).
The first member of each population is the best response to the uniform profile; ``output`` is each
player's ``sigma``-marginal mixture averaged state by state (a summary; the equilibrium is ``joint``
over whole-episode policies).

Shapes: ``JPSROExtra.population[i]`` ``[K, n_I, A]`` (Markov: ``[K, S, A_i]``), ``meta_payoffs`` ``[N, K, ..., K]``,
``joint`` ``[K, ..., K]`` (zero outside ``[0, size)^N``).

Example::

    import jaxgames, solvers
    solver = solvers.jpsro(kind="cce", max_policies=8)
    state, trace = solvers.run(solver, jaxgames.kuhn_poker(num_players=3), 7, eval_every=1)
    state.extra.gaps[0]          # the full-game CCE gap of the joint meta-strategy
    game = jaxgames.markov.random_general_sum(jax.random.key(0), num_states=2, num_actions=(2, 2, 2))
    state, trace = solvers.run(solver, game, 7, eval_every=1)   # the CCE gap of G_stat -> 0
"""

from __future__ import annotations

import itertools
import string
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.core import Game, Policy
from jaxgames.efg.game import EFGGame
from jaxgames.efg.sequence import bottom_up, realization_plan, sequence_form
from jaxgames.general_sum.selection import correlated_equilibrium
from jaxgames.markov.game import MarkovGame
from solvers.core import Solver, SolverState, cached_factory, check_choice, check_int
from solvers.sampled.psro import _gather_profile, _profiles, mixture

KINDS = ("cce", "ce")
OBJECTIVES = ("gini", "welfare", "entropy")


class JPSROExtra(NamedTuple):
    """JPSRO's solver-specific state (``SolverState.extra``)."""

    population: Policy  # per player [K, n_I, A]; unused slots hold the uniform policy
    size: jax.Array  # int32 []: policies in use per player (1 + steps, capped at K)
    meta_payoffs: jax.Array  # [N, K, ..., K]: u_i of the population profiles; valid on [0, size)^N
    joint: jax.Array  # [K, ..., K]: the joint meta-strategy, zero outside [0, size)^N
    gaps: jax.Array  # [2]: the full-game CCE and CE gaps of `joint` (see the module docstring)
    responses: Policy  # per player [n_I, A]: the best response the next step adds (computed with `gaps`)


# ----------------------------------------------------------------------------- correlated responses


def member_plans(game: EFGGame, population: Policy) -> tuple:
    """Per player ``[K, S_i]``: the realization plan of every population member."""
    sf = sequence_form(game.tree)
    return tuple(jax.vmap(lambda pi, i=i: realization_plan(sf, i, pi))(pop) for i, pop in enumerate(population))


def correlated_sequence_values(game: EFGGame, i: int, plans: tuple, weights: jax.Array) -> jax.Array:
    """``u_i`` ``[S_i]`` against a (possibly unnormalized) distribution ``weights`` ``[K, ..., K]`` over
    the other players' population profiles (``N - 1`` axes, player order, ``i`` left out)."""
    sf = sequence_form(game.tree)
    last = sf.terminal_last[i]
    others = [j for j in range(game.num_players) if j != i]
    letters = string.ascii_letters[: len(others)]
    operands = [plans[j][:, jnp.asarray(last[j])] for j in others]  # [K, Z] each
    spec = f"{letters}," + ",".join(f"{c}z" for c in letters) + "->z"
    mixed = jnp.einsum(spec, weights, *operands, optimize="greedy")
    return jax.ops.segment_sum(
        game.terminal_weights[i] * mixed,
        jnp.asarray(last[i]),
        num_segments=sf.num_sequences[i],
        indices_are_sorted=True,
    )


def correlated_best_response(game: EFGGame, i: int, plans: tuple, weights: jax.Array):
    """Player ``i``'s pure best response ``[n_I, A]`` to ``weights`` over the others' profiles, and its
    value (times the total weight, when ``weights`` is unnormalized)."""
    sf = sequence_form(game.tree)
    mask = game.legal_mask()[i]
    u = correlated_sequence_values(game, i, plans, weights)
    cfv, root = bottom_up(sf, i, u, lambda q: jnp.max(jnp.where(mask, q, -jnp.inf), axis=-1))
    return simplex.one_hot_argmax(cfv, mask), root


def _others_axes(n: int, i: int) -> tuple:
    return tuple(j for j in range(n) if j != i)


def population_gaps(game, population: Policy, meta_payoffs: jax.Array, joint: jax.Array, max_deviations=None):
    """The full-game gaps of ``joint`` over population profiles.

    Returns ``(gaps [2], cce_responses, ce_responses)``: the CCE and CE gaps (module docstring), each
    player's best response to its marginal ``sigma(k_-i)``, and to the conditional of its
    recommendation with the largest gain. On a ``MarkovGame`` the gaps and responses are those of
    ``G_stat`` (deterministic stationary deviations, by enumeration: ``markov_population_gaps``)."""
    if isinstance(game, MarkovGame):
        return markov_population_gaps(game, population, meta_payoffs, joint, max_deviations)
    n = game.num_players
    plans = member_plans(game, population)
    cce_gap, ce_gap = jnp.zeros((), joint.dtype), jnp.zeros((), joint.dtype)
    cce_br, ce_br = [], []
    for i in range(n):
        value = jnp.sum(joint * meta_payoffs[i])
        br, best = correlated_best_response(game, i, plans, jnp.sum(joint, axis=i))
        cce_gap = jnp.maximum(cce_gap, best - value)
        cce_br.append(br)
        rows = jnp.moveaxis(joint, i, 0)  # [K_i, K_-i...]: unnormalized conditionals
        own = jnp.sum((rows * jnp.moveaxis(meta_payoffs[i], i, 0)).reshape(rows.shape[0], -1), axis=1)
        brs, bests = jax.vmap(lambda w: correlated_best_response(game, i, plans, w))(rows)
        gains = bests - own
        ce_gap = jnp.maximum(ce_gap, jnp.sum(gains))
        ce_br.append(brs[jnp.argmax(gains)])
    return jnp.stack([cce_gap, ce_gap]), tuple(cce_br), tuple(ce_br)


# ----------------------------------------------------------------------------- Markov games


def stationary_policies(num_states: int, num_actions: int, dtype=jnp.float32) -> jax.Array:
    """``[A^S, S, A]``: every deterministic stationary policy (one-hot), in C order of the action tuples
    (state 0's action slowest)."""
    choices = np.array(list(itertools.product(range(num_actions), repeat=num_states)), np.int32)
    return jax.nn.one_hot(jnp.asarray(choices.reshape(-1, num_states)), num_actions, dtype=dtype)


def check_markov_size(game: MarkovGame, max_deviations: int) -> None:
    """Refuse a Markov game whose players have more than ``max_deviations`` deterministic stationary policies."""
    counts = [a**game.num_states for a in game.num_actions]
    if max(counts) > max_deviations:
        raise ValueError(
            f"max_deviations: JPSRO on a Markov game enumerates each player's A_i^S deterministic stationary "
            f"policies (the exact best response to a once-per-episode mixture of stationary policies; "
            f"solvers.jpsro docstring); this game has {max(counts)} (S = {game.num_states}, actions "
            f"{tuple(game.num_actions)}) > max_deviations = {max_deviations}: raise it or use a smaller game"
        )


def deviation_values(game: MarkovGame, i: int, deviations: jax.Array, population: Policy) -> jax.Array:
    """``U [D, K, ..., K]`` (``N - 1`` profile axes, player order, ``i`` left out): ``initial @ V_i`` of
    deviation ``d`` (``deviations [D, S, A_i]``) against every population profile of the others."""
    n = game.num_players
    others = [j for j in range(n) if j != i]
    capacity = population[0].shape[0]
    grid = np.indices((capacity,) * len(others)).reshape(len(others), -1).T  # [K^(N-1), N-1]
    initial = game.initial.astype(deviations.dtype)

    def value(dev, members):
        profile = [None] * n
        profile[i] = dev
        for col, j in enumerate(others):
            profile[j] = population[j][members[col]]
        return game.state_values(tuple(profile))[i] @ initial

    # one population profile of the others at a time (bounded memory), every deviation at once
    out = jax.lax.map(lambda m: jax.vmap(lambda d: value(d, m))(deviations), jnp.asarray(grid, jnp.int32))
    return out.T.reshape((deviations.shape[0],) + (capacity,) * len(others))


def markov_population_gaps(
    game: MarkovGame, population: Policy, meta_payoffs: jax.Array, joint: jax.Array, max_deviations=None
):
    """``population_gaps`` on a Markov game: the exact CCE and CE gaps of ``joint`` in ``G_stat``, the
    normal-form game over deterministic stationary policies (module docstring), and the responses."""
    if max_deviations is not None:
        check_markov_size(game, max_deviations)
    n = game.num_players
    dtype = joint.dtype
    cce_gap, ce_gap = jnp.zeros((), dtype), jnp.zeros((), dtype)
    cce_br, ce_br = [], []
    for i in range(n):
        deviations = stationary_policies(game.num_states, game.num_actions[i], dtype)
        U = deviation_values(game, i, deviations, population).reshape(deviations.shape[0], -1)  # [D, K^(N-1)]
        value = jnp.sum(joint * meta_payoffs[i])
        dev = U @ jnp.sum(joint, axis=i).reshape(-1)  # [D]
        cce_gap = jnp.maximum(cce_gap, jnp.max(dev) - value)
        cce_br.append(deviations[jnp.argmax(dev)])
        rows = jnp.moveaxis(joint, i, 0).reshape(joint.shape[i], -1)  # [K_i, K^(N-1)]: unnormalized conditionals
        own = jnp.sum(rows * jnp.moveaxis(meta_payoffs[i], i, 0).reshape(rows.shape), axis=1)
        devs = rows @ U.T  # [K_i, D]
        gains = jnp.max(devs, axis=1) - own
        ce_gap = jnp.maximum(ce_gap, jnp.sum(gains))
        ce_br.append(deviations[jnp.argmax(devs[jnp.argmax(gains)])])
    return jnp.stack([cce_gap, ce_gap]), tuple(cce_br), tuple(ce_br)


# ----------------------------------------------------------------------------- the meta-solver


def _meta_solve(meta_payoffs: jax.Array, size: jax.Array, kind: str, objective: str, tol) -> jax.Array:
    """The selected CE / CCE of the restricted meta-game (the first ``size`` policies of every player)."""
    n, capacity = meta_payoffs.shape[0], meta_payoffs.shape[1]
    used = jnp.arange(capacity) < size
    actions = (used,) * n
    return correlated_equilibrium(meta_payoffs, kind=kind, objective=objective, tol=tol, actions=actions).joint


def _check_game(game) -> None:
    if not isinstance(game, (EFGGame, MarkovGame)):
        raise ValueError(
            f"game: JPSRO runs on extensive-form games (EFGGame) and Markov games (MarkovGame), got "
            f"{type(game).__name__}; a matrix game is its own meta-game (jaxgames.general_sum solves it directly)"
        )


@cached_factory
def jpsro(
    kind: str = "cce",
    objective: str = "gini",
    max_policies: int = 16,
    tol: float | None = None,
    max_deviations: int = 4096,
) -> Solver:
    """Joint PSRO (Marris et al. 2021) with CE or CCE meta-solvers; see the module docstring.

    Args:
      kind: ``"cce"`` (best responses to the others' marginal; converges to a CCE) or ``"ce"``
        (best responses to the conditional of a recommendation; converges to a CE).
      objective: the meta-solver's selection among the meta-game's equilibria: ``"gini"`` (maximum
        Gini impurity, a QP: Marris et al.'s MG(C)CE), ``"welfare"`` (maximum welfare, an LP) or
        ``"entropy"`` (maximum entropy).
      max_policies: population capacity ``K >= 2`` per player (static); full after ``K - 1`` steps.
      tol: the meta-solver's tolerance (> 0; ``None``: ``correlated_equilibrium``'s default for the
        payoffs' dtype, 1e-8 in float64 and 1e-4 in float32).
      max_deviations: Markov games only: the most deterministic stationary policies ``A_i^S`` of one
        player that the exact oracle may enumerate (``>= 1``; a larger game is refused at ``init``).

    ``init(game, key=None)``; the state's ``extra.gaps`` holds the full-game CCE and CE gaps (on a
    Markov game, those of ``G_stat``: deterministic stationary deviations).
    """
    check_choice(kind, "kind", KINDS)
    check_choice(objective, "objective", OBJECTIVES)
    capacity = check_int(max_policies, "max_policies", low=2)
    max_deviations = check_int(max_deviations, "max_deviations", low=1)
    if tol is not None and (not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol > 0):
        raise ValueError(f"tol: expected None or a number > 0, got {tol!r}")

    def _gaps_and_responses(game, population, meta_payoffs, joint):
        gaps, cce_br, ce_br = population_gaps(game, population, meta_payoffs, joint, max_deviations)
        return gaps, cce_br if kind == "cce" else ce_br

    def init(game: Game, key=None) -> SolverState:
        _check_game(game)
        if isinstance(game, MarkovGame):
            check_markov_size(game, max_deviations)
        return _init_state(game)

    @jax.jit  # one program instead of op-by-op dispatch (``solvers.run`` calls ``init`` outside jit)
    def _init_state(game: Game) -> SolverState:
        n = game.num_players
        uniform = game.uniform_policy()
        dtype = uniform[0].dtype
        if isinstance(game, MarkovGame):  # a pure strategy of G_stat: the best response to uniform play
            uniform = game.best_response(uniform)
        population = tuple(jnp.broadcast_to(u, (capacity, *u.shape)) for u in uniform)
        value = game.evaluate(uniform).values
        meta_payoffs = jnp.zeros((n,) + (capacity,) * n, dtype).at[(slice(None),) + (0,) * n].set(value)
        joint = jnp.zeros((capacity,) * n, dtype).at[(0,) * n].set(1.0)
        gaps, responses = _gaps_and_responses(game, population, meta_payoffs, joint)
        extra = JPSROExtra(population, jnp.ones((), jnp.int32), meta_payoffs, joint, gaps, responses)
        return SolverState(policy=uniform, average=uniform, step=jnp.zeros((), jnp.int32), extra=extra)

    def grow(game: Game, state: SolverState) -> SolverState:
        extra, n = state.extra, game.num_players
        index = extra.size
        population = tuple(
            pop.at[index].set(br.astype(pop.dtype)) for pop, br in zip(extra.population, extra.responses)
        )
        profiles = jnp.concatenate([_profiles(n, capacity, i, index) for i in range(n)])
        values = jax.vmap(lambda m: game.evaluate(_gather_profile(population, m)).values)(profiles)
        meta_payoffs = extra.meta_payoffs.at[(slice(None), *profiles.T)].set(values.T)
        size = index + 1
        joint = _meta_solve(meta_payoffs, size, kind, objective, tol)
        joint = joint.astype(meta_payoffs.dtype)
        gaps, responses = _gaps_and_responses(game, population, meta_payoffs, joint)
        marginals = jnp.stack([jnp.sum(joint, axis=_others_axes(n, i)) for i in range(n)])
        if isinstance(game, MarkovGame):  # the sigma-marginal mixture state by state (module docstring)
            reach = tuple(jnp.ones(pop.shape[:-1], pop.dtype) for pop in population)
        else:
            reach = jax.vmap(game.reach)(population)
        policy = mixture(population, marginals, reach)
        extra = JPSROExtra(population, size, meta_payoffs, joint, gaps, responses)
        return SolverState(policy=policy, average=policy, step=state.step + 1, extra=extra)

    def step(game: Game, state: SolverState) -> SolverState:
        _check_game(game)
        full = state.extra.size >= capacity
        return jax.lax.cond(full, lambda s: s.replace(step=s.step + 1), lambda s: grow(game, s), state)

    which = KINDS.index(kind)
    return Solver(
        init=init, step=step, output=lambda state: state.average, metric=lambda game, state: state.extra.gaps[which]
    )


__all__ = [
    "jpsro",
    "JPSROExtra",
    "population_gaps",
    "correlated_best_response",
    "member_plans",
    "markov_population_gaps",
    "deviation_values",
    "stationary_policies",
]
