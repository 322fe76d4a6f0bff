"""Games and solvers by name, with their parameters: what configs and the CLI refer to.

The built-in games and solvers of every family are registered below, in this
module; ``register_game`` and ``register_solver`` add more, after which the CLI,
configs, sweeps and benchmarks accept them by name with no other change. A game
factory takes keyword parameters (and a ``key`` first when ``random=True``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import jax

import solvers
from jaxgames import efg, markov, matrix, mean_field


@dataclasses.dataclass(frozen=True)
class Entry:
    """A registered game or solver factory and its configurable parameters."""

    name: str
    factory: Callable
    random: bool  # the factory takes a jax.random key as first argument
    defaults: dict
    description: str


def _parameters(factory: Callable, skip_first: bool) -> dict:
    params = list(inspect.signature(factory).parameters.values())[1 if skip_first else 0 :]
    out = {}
    for p in params:
        if "Policy" in str(p.annotation):  # array-valued (magnets): set in Python, not in configs
            continue
        out[p.name] = None if p.default is inspect.Parameter.empty else p.default
    return out


def _summary(factory: Callable) -> str:
    doc = inspect.getdoc(factory) or ""
    return doc.split("\n")[0]


GAMES: dict[str, Entry] = {}
SOLVERS: dict[str, Entry] = {}


def register_game(name: str, factory: Callable, random: bool = False) -> None:
    """Make ``factory`` available to configs as ``game: {name: <name>, params: {...}}``."""
    GAMES[name] = Entry(name, factory, random, _parameters(factory, random), _summary(factory))


def register_solver(name: str, factory: Callable) -> None:
    SOLVERS[name] = Entry(name, factory, False, _parameters(factory, False), _summary(factory))


def _preference(builder, random):
    if random:

        def factory(key, num_responses: int = 5, **kwargs):
            return matrix.preference_game(builder(key, num_responses, **kwargs))
    else:

        def factory(num_responses: int = 5, **kwargs):
            return matrix.preference_game(builder(num_responses, **kwargs))

    sig = inspect.signature(builder)
    factory.__signature__ = sig.replace(
        parameters=[p if p.name != "num_responses" else p.replace(default=5) for p in sig.parameters.values()]
    )
    factory.__doc__ = f"Preference game of ``{builder.__name__}``: " + _summary(builder)
    return factory


def _register_builtins() -> None:
    for name, factory in matrix.CLASSIC_GAMES.items():
        register_game(name, factory)
    register_game("random_zero_sum", matrix.random_zero_sum, random=True)
    register_game("random_general_sum", matrix.random_general_sum, random=True)
    register_game("random_game", matrix.random_game, random=True)
    register_game("preference_cyclic", _preference(matrix.cyclic_preferences, False))
    register_game("preference_bradley_terry", _preference(matrix.bradley_terry_preferences, True), random=True)
    register_game("preference_intransitive", _preference(matrix.random_intransitive_preferences, True), random=True)
    register_game("contextual_preference", matrix.random_contextual_preference, random=True)
    register_game("kuhn_poker", efg.kuhn_poker)
    register_game("leduc_poker", efg.leduc_poker)
    register_game("liars_dice", efg.liars_dice)
    register_game("goofspiel", efg.goofspiel)
    register_game("markov_random_zero_sum", markov.random_zero_sum, random=True)
    register_game("markov_random_general_sum", markov.random_general_sum, random=True)
    register_game("random_mdp", markov.random_mdp, random=True)
    register_game("grid_soccer", markov.grid_soccer)
    register_game("pursuit_evasion", markov.pursuit_evasion)
    register_game("iterated_prisoners_dilemma", markov.iterated_prisoners_dilemma)
    register_game("mfg_crowd_modelling", mean_field.crowd_modelling)
    register_game("mfg_crowd_modelling_2d", mean_field.crowd_modelling_2d)
    register_game("mfg_four_rooms", mean_field.four_rooms)
    register_game("mfg_sis_epidemic", mean_field.sis_epidemic)
    register_game("mfg_rps_population", mean_field.rps_population)
    register_game("mfg_stationary_rps_population", mean_field.stationary_rps_population)
    register_game("mfg_stationary_sis_epidemic", mean_field.stationary_sis_epidemic)
    register_game("mfg_beach_bar", mean_field.beach_bar)
    register_game("mfg_linear_quadratic", mean_field.linear_quadratic)
    register_game("mfg_minority", mean_field.minority_game)
    register_game("mfg_garnet", mean_field.garnet, random=True)
    register_game("mfg_periodic_aversion", mean_field.periodic_aversion)
    register_game("mfg_dynamic_routing", mean_field.dynamic_routing)
    register_game("mfg_predator_prey", mean_field.predator_prey)
    for name, factory in solvers.SOLVERS.items():
        register_solver(name, factory)


_register_builtins()


def describe() -> str:
    """Human-readable listing of every game and solver with parameters and defaults."""

    def fmt(entries):
        lines = []
        for e in entries.values():
            params = ", ".join(f"{k}={v!r}" for k, v in e.defaults.items()) or "-"
            tag = " [random: drawn from the seed]" if e.random else ""
            lines.append(f"  {e.name}{tag}\n      {e.description}\n      params: {params}")
        return lines

    return "\n".join(["Games:", *fmt(GAMES), "", "Solvers:", *fmt(SOLVERS)])


def build_game(name: str, params: dict, key: Any = None):
    """The registered game ``name`` built with ``params`` (and ``key`` first for random games)."""
    entry = GAMES[name]
    return entry.factory(key, **params) if entry.random else entry.factory(**params)


def build_solver(name: str, params: dict):
    """The registered solver ``name`` built with ``params`` (its hyperparameters)."""
    return SOLVERS[name].factory(**params)


def build_point(game_name: str, game_params: dict, solver_name: str, solver_params: dict, key: jax.Array):
    """One experiment point: ``(game, solver, init_key)``, the game drawn from ``key`` if random.

    The one recipe behind runs, sweeps, benchmarks and the compatibility check of configs, so a point
    validated by ``check_fits`` is built the same way when it runs.
    """
    k_game, k_init = jax.random.split(key)
    return build_game(game_name, game_params, k_game), build_solver(solver_name, solver_params), k_init


def build_games(game_name: str, game_params: dict, keys: jax.Array):
    """The batch of games ``build_point`` draws from ``keys`` ``[P]``: ``(games, init_keys)``.

    ``games`` is one game pytree with a leading axis ``P`` on every array (a random game built in one
    jitted ``vmap``; a fixed game built once and broadcast), ``init_keys`` the ``[P]`` keys
    ``build_point`` would pass to ``solver.init``. Building the games once, outside the solver's jitted
    call, spares every solver run on them compiling the generator again (``jaxgames bench``).
    """
    split = jax.vmap(jax.random.split)(keys)
    k_game, k_init = split[:, 0], split[:, 1]
    if GAMES[game_name].random:
        games = jax.jit(jax.vmap(lambda k: build_game(game_name, game_params, k)))(k_game)
    else:
        game = build_game(game_name, game_params)
        games = jax.tree_util.tree_map(lambda x: jax.numpy.broadcast_to(x, (keys.shape[0], *jax.numpy.shape(x))), game)
    return games, k_init


#: The ``check_fits`` arguments that passed, with the registry entries they were traced with: validating
#: the same pair again (a config loaded twice, the default benchmark in every ``jaxgames bench``) is free.
_FITS: dict[tuple, tuple[Entry, Entry]] = {}
_FITS_MAX = 4096


def check_fits(
    game_name: str, game_params: dict, solver_name: str, solver_params: dict, batched: tuple[str, ...] = ()
) -> None:
    """Raise the solver's own error (``ValueError``/``TypeError``) if it cannot run on the game.

    Traces, without computing (``jax.eval_shape``), what a run does with one point: build the game
    and solver (the ``batched`` float parameters, named ``"game.<p>"`` or ``"solver.<p>"``, traced as
    in a sweep; the key traced too), ``init``, one ``step`` and the exploitability of ``output``, all
    under ``vmap`` over a batch of one. The solvers' own game checks are the one source of truth
    for which family each solver fits (a Markov solver on a matrix game, MCCFR on a Markov game...).
    A check that passed is remembered (same names, parameters, batched names, float64 mode and
    registry entries) and not traced again.
    """
    names = tuple(sorted(batched))
    dtype = jax.numpy.result_type(float)  # float32, or float64 under jax.enable_x64
    memo = None
    if _plain(game_params) and _plain(solver_params):  # config values: their repr is the whole value
        memo = (game_name, repr(sorted(game_params.items())), solver_name, repr(sorted(solver_params.items())))
        memo += (names, str(dtype))
    entries = (GAMES.get(game_name), SOLVERS.get(solver_name))
    passed = _FITS.get(memo)
    if passed is not None and passed[0] is entries[0] and passed[1] is entries[1]:
        return

    def point(values, key):
        game_p, solver_p = dict(game_params), dict(solver_params)
        for name, value in zip(names, values):
            head, _, param = name.partition(".")
            (game_p if head == "game" else solver_p)[param] = value
        game, solver, k_init = build_point(game_name, game_p, solver_name, solver_p, key)
        state = solver.step(game, solver.init(game, k_init))
        return game.exploitability(solver.output(state))

    values = tuple(jax.ShapeDtypeStruct((1,), dtype) for _ in names)
    keys = jax.eval_shape(lambda: jax.random.split(jax.random.key(0), 1))
    jax.eval_shape(jax.vmap(point), values, keys)
    if memo is not None:
        if len(_FITS) >= _FITS_MAX:
            _FITS.clear()
        _FITS[memo] = entries


def _plain(value) -> bool:
    """Whether ``value`` is built of None, bools, numbers, strings, lists, tuples and string-keyed dicts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False
