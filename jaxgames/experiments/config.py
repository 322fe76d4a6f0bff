"""Experiment configs: YAML files validated with pydantic before anything runs.

A config names a game and a solver from the registry with their parameters,
plus run settings; a sweep config adds a ``grid``; a bench config lists suites of games
and solvers (or one list of games and one of solvers); a ``qre_path`` config (run by
``jaxgames run``) names a game and the options of ``jaxgames.equilibria.qre_path``.
``load_config`` parses YAML (PyYAML), applies command-line
overrides such as ``solver.params.learning_rate=0.05``, validates field names
and types (pydantic, with the checks of ``jaxgames.validation``: a bool or a float is not an
integer), then builds every game and solver of the experiment once, and traces one step of each
solver on its game (``registry.check_fits``), so that out-of-range values and a solver that does not
fit its game fail with the field path before any work starts. A duplicate key in the YAML is an
error, not a silent override. Every problem is reported as
``ConfigError("<file>: <field.path>: <what was expected>")``.
"""

from __future__ import annotations

import itertools
import math
import os
import stat
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pydantic
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from jaxgames.experiments import registry
from jaxgames.validation import check_int, check_probabilities, check_scalar, check_table_bytes

#: Seeds are drawn into ``jax.random.key(seed)``: 32 bits, the same key with or without x64.
SEED_MAX = 2**32 - 1
#: The step counter of every solver is int32.
MAX_STEPS = 2**31 - 1
#: A config is a small text file; anything larger is refused before it is read.
MAX_CONFIG_BYTES = 16 * 2**20
#: A sweep grid is enumerated (and each point built once) before it runs: at most this many points.
MAX_GRID_POINTS = 10**6


class ConfigError(ValueError):
    """A config that cannot run: names the file, the field path and what was expected."""


def _unprefixed(check, *args):
    """A pydantic ``before`` validator running ``check(value, field, *args)`` from ``jaxgames.validation``.

    Its message loses the leading ``"<field>: "``: pydantic reports the field path itself.
    """

    def validate(value, info: ValidationInfo):
        field = info.field_name or "value"
        try:
            return check(value, field, *args)
        except ValueError as err:
            raise ValueError(str(err).removeprefix(f"{field}: ")) from None

    return BeforeValidator(validate)


def _optional(check):
    def optional(value, field, *args):
        return None if value is None else check(value, field, *args)

    return optional


def _positive_float(value, field):
    """A finite float > 0 (an int is fine; a bool, a string or inf is not)."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{field}: expected a number, got {value!r} (bool)")  # noqa: TRY004 - pydantic wants ValueError
    check_scalar(value, field, low=0, low_open=True)
    return float(value)  # as written (0.001), not through float32 (0.0010000000474974513)


def _float_text(value):
    """YAML 1.1 (PyYAML) reads ``1e6`` (no dot, no exponent sign) as a string: take it as the number."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _nonnegative_float(value, field):
    """A finite float >= 0 (an int is fine; a bool or inf is not)."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{field}: expected a number, got {value!r} (bool)")  # noqa: TRY004 - pydantic wants ValueError
    check_scalar(value, field, low=0)
    return float(value)


Int1 = Annotated[int, _unprefixed(check_int, 1)]  # a count >= 1
OptionalInt1 = Annotated[int | None, _unprefixed(_optional(check_int), 1)]
Steps = Annotated[int, _unprefixed(check_int, 1, MAX_STEPS)]  # a number of solver steps
OptionalSteps = Annotated[int | None, _unprefixed(_optional(check_int), 1, MAX_STEPS)]
Seed = Annotated[int, _unprefixed(check_int, 0, SEED_MAX)]
PositiveSeconds = Annotated[float, _unprefixed(_positive_float)]
OptionalPositiveFloat = Annotated[float | None, _unprefixed(_optional(lambda v, f: _positive_float(_float_text(v), f)))]
OptionalNonNegativeFloat = Annotated[
    float | None, _unprefixed(_optional(lambda v, f: _nonnegative_float(_float_text(v), f)))
]
#: Most points of a QRE path buffer (each point stores the whole policy).
MAX_PATH_POINTS = 10**6
OptionalPathPoints = Annotated[int | None, _unprefixed(_optional(check_int), 3, MAX_PATH_POINTS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_name(kind: str, entries: dict, name: str) -> str:
    if name not in entries:
        raise ValueError(f"unknown {kind} {name!r}; expected one of {sorted(entries)}")
    return name


def _check_params(kind: str, entries: dict, name: str | None, params: dict) -> None:
    if name not in entries:
        return  # the name itself is reported
    allowed = entries[name].defaults
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {kind} {name!r}; expected some of {sorted(allowed)}")


class _EntryConfig(_Strict):
    """``{name: <registered entry>, params: {...}, label: <optional display name>}``."""

    _kind: ClassVar[str]
    _entries: ClassVar[dict]

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None

    @field_validator("name")
    @classmethod
    def _known_name(cls, name):
        return _check_name(cls._kind, cls._entries, name)

    @field_validator("params")
    @classmethod
    def _known_params(cls, params, info: ValidationInfo):
        _check_params(cls._kind, cls._entries, info.data.get("name"), params)
        return params

    @property
    def title(self) -> str:
        return self.label or self.name


class GameConfig(_EntryConfig):
    """``{name: <registered game>, params: {...}}``."""

    _kind: ClassVar[str] = "game"
    _entries: ClassVar[dict] = registry.GAMES


class SolverConfig(_EntryConfig):
    """``{name: <registered solver>, params: {...hyperparameters}}``."""

    _kind: ClassVar[str] = "solver"
    _entries: ClassVar[dict] = registry.SOLVERS


class _Experiment(_Strict):
    """A game and a solver run for ``num_steps``, exploitability every ``eval_every`` steps."""

    game: GameConfig
    solver: SolverConfig
    num_steps: Steps = 1000
    eval_every: OptionalSteps = None
    seed: Seed = 0


class RunConfig(_Experiment):
    """One experiment: a game (or a batch of ``num_games`` generated games) and a solver."""

    kind: Literal["run"] = "run"
    num_games: Int1 = 1


class SweepConfig(_Experiment):
    """A grid over solver hyperparameters, game parameters and seeds, run as one vmapped computation.

    ``grid`` maps ``solver.<param>``, ``game.<param>`` or ``seed`` to a list of
    values; every combination is one grid point. Float-valued parameters are
    batched with ``vmap``; other values (ints, strings, booleans) change shapes
    or code paths, so each combination of them is compiled separately.
    """

    kind: Literal["sweep"] = "sweep"
    grid: dict[str, list[Any]]
    chunk_size: Int1 = 256

    @model_validator(mode="after")
    def _grid_axes(self):
        if not self.grid:
            raise ValueError(
                "grid: expected at least one axis ('seed', 'solver.<param>' or 'game.<param>') "
                "with a list of values, got an empty grid"
            )
        for key, values in self.grid.items():
            head, _, param = key.partition(".")
            try:
                if head == "solver" and param:
                    _check_params("solver", registry.SOLVERS, self.solver.name, {param: None})
                elif head == "game" and param:
                    _check_params("game", registry.GAMES, self.game.name, {param: None})
                elif key != "seed":
                    raise ValueError(f"expected 'seed', 'solver.<param>' or 'game.<param>', got {key!r}")
            except ValueError as err:
                raise ValueError(f"grid.{key}: {err}") from None
            if not values:
                raise ValueError(f"grid.{key}: expected a non-empty list of values")
        size = math.prod(len(v) for v in self.grid.values())
        if size > MAX_GRID_POINTS:
            raise ValueError(
                f"grid: {size} points (the product of the list lengths) is more than {MAX_GRID_POINTS}; split the sweep"
            )
        for i, value in enumerate(self.grid.get("seed", ())):
            check_int(value, f"grid.seed.{i}", 0, SEED_MAX)
        return self

    def points(self) -> list[dict]:
        """Every grid point, as ``{grid key: value}``, in a fixed order."""
        keys = list(self.grid)
        return [dict(zip(keys, combo)) for combo in itertools.product(*(self.grid[k] for k in keys))]


class SuiteConfig(_Strict):
    """One group of a bench: its games, the solvers run on each of them, and (optionally) its own
    ``steps``, ``budgets_s`` and ``num_games``; what it leaves out comes from the bench's top level."""

    name: str = Field(min_length=1)
    games: list[GameConfig] = Field(min_length=1)
    solvers: list[SolverConfig] = Field(min_length=1)
    steps: list[Steps] | None = Field(default=None, min_length=1)
    budgets_s: list[PositiveSeconds] | None = Field(default=None, min_length=1)
    num_games: OptionalInt1 = None
    #: Where the suite's fields are in the config, for messages: ``"suites.2."``, or ``""`` for a bench
    #: that lists ``games`` and ``solvers`` at the top level.
    _path: str = PrivateAttr(default="")


class BenchConfig(_Strict):
    """A solver x game benchmark: exploitability at step counts and wall-clock budgets, speed.

    Either ``suites`` (a list of ``{name, games, solvers}``, each with optional ``steps``,
    ``budgets_s`` and ``num_games``: e.g. one suite per game family, each with the solvers that fit
    it), or ``games`` and ``solvers`` at the top level (one suite, every solver on every game).
    ``start`` is where every solver starts: a random policy drawn from the seed (as ``jaxgames run``
    does), or the uniform policy (the textbook start; faster to compile).
    """

    kind: Literal["bench"] = "bench"
    suites: list[SuiteConfig] | None = Field(default=None, min_length=1)
    games: list[GameConfig] | None = Field(default=None, min_length=1)
    solvers: list[SolverConfig] | None = Field(default=None, min_length=1)
    steps: list[Steps] = Field(default_factory=lambda: [10, 100, 1000], min_length=1)
    budgets_s: list[PositiveSeconds] = Field(default_factory=lambda: [0.001, 0.01, 0.1], min_length=1)
    num_games: Int1 = 1
    repeats: Int1 = 3
    seed: Seed = 0
    start: Literal["random", "uniform"] = "random"

    @model_validator(mode="after")
    def _one_suite_list(self):
        if self.suites is None:
            if self.games is None or self.solvers is None:
                missing = "games" if self.games is None else "solvers"
                raise ValueError(
                    f"{missing}: required field is missing (a bench lists `suites`, or `games` and `solvers`)"
                )
            self.suites = [SuiteConfig(name="bench", games=self.games, solvers=self.solvers)]
            self.games = self.solvers = None
        elif self.games is not None or self.solvers is not None:
            raise ValueError(
                f"{'games' if self.games is not None else 'solvers'}: give `suites`, or `games` and "
                "`solvers` at the top level, not both"
            )
        else:
            for i, suite in enumerate(self.suites):
                suite._path = f"suites.{i}."
        seen_suites: dict[str, str] = {}
        seen_games: dict[str, str] = {}
        for i, suite in enumerate(self.suites):
            if suite.name in seen_suites:
                raise ValueError(f"suites.{i}.name: {suite.name!r} is also the name of {seen_suites[suite.name]}")
            seen_suites[suite.name] = f"suites.{i}"
            for j, game in enumerate(suite.games):  # one table row group and one plot file per title
                where = f"{suite._path}games.{j}"
                if game.title in seen_games:
                    raise ValueError(
                        f"{where}: {game.title!r} is also the title of {seen_games[game.title]}; "
                        "give one of them a `label`"
                    )
                seen_games[game.title] = where
            suite.steps = suite.steps or list(self.steps)
            suite.budgets_s = suite.budgets_s or list(self.budgets_s)
            suite.num_games = suite.num_games or self.num_games
        return self

    def pairs(self) -> list[tuple[SuiteConfig, GameConfig, SolverConfig]]:
        """Every ``(suite, game, solver)`` the bench measures, in order."""
        return [(suite, game, solver) for suite in self.suites for game in suite.games for solver in suite.solvers]


class QREPathConfig(_Strict):
    """The logit QRE path of one game, run by ``jaxgames run``: ``jaxgames.equilibria.qre_path``.

    The principal branch of logit QREs from the ``reference`` policy (``lambda = 0``; default uniform
    over the legal actions) toward the Nash equilibrium it selects, traced in float64 by
    pseudo-arclength continuation (Turocy 2005). It stops when ``nash_conv`` is at most
    ``max_regret`` times the payoff spread (``converged``), at ``lambda = max_lambda`` (``reached
    max_lambda``) or after ``max_points`` points (``out of points``); it fails when the arclength step
    falls below ``min_step`` (a bifurcation of a non-generic game, say). The options left out (null)
    take ``qre_path``'s defaults. A random game is drawn from ``seed``.

    Example::

        kind: qre_path
        game: {name: prisoners_dilemma}
        max_lambda: 1.0e+6
    """

    kind: Literal["qre_path"] = "qre_path"
    game: GameConfig
    #: ``uniform`` (or null), or per player nested lists shaped as the game's policy.
    reference: Literal["uniform"] | list[Any] | None = "uniform"
    max_lambda: OptionalPositiveFloat = None
    max_regret: OptionalNonNegativeFloat = None
    max_points: OptionalPathPoints = None
    min_step: OptionalPositiveFloat = None
    seed: Seed = 0

    @field_validator("reference", mode="before")
    @classmethod
    def _reference_form(cls, value):
        if value is None or value == "uniform" or isinstance(value, list):
            return value
        raise ValueError(f"expected 'uniform' or per player nested lists of probabilities, got {_short(value)}")

    def path_options(self) -> dict:
        """The keyword arguments of ``qre_path`` the config sets."""
        names = ("max_lambda", "max_regret", "max_points", "min_step")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


Config = RunConfig | SweepConfig | BenchConfig | QREPathConfig
_MODELS = {"run": RunConfig, "sweep": SweepConfig, "bench": BenchConfig, "qre_path": QREPathConfig}
#: The config kinds each command runs: ``jaxgames run`` runs a ``qre_path`` config too.
_COMMAND_KINDS = {"run": ("run", "qre_path"), "sweep": ("sweep",), "bench": ("bench",), "qre_path": ("qre_path",)}


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (naming the
    key and both lines) instead of the last one silently winning."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # ``<<: *anchor`` merges are overridden by explicit keys, by design
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    continue  # unhashable: the base class reports it
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"{key}: duplicate key (first given on line {first.line + 1})", key_node.start_mark
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


def _yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error as ``line L, column C: problem`` (or ``key: duplicate key ... (line L)``)."""
    if isinstance(err, yaml.reader.ReaderError):  # a control character: binary, or UTF-16 without a BOM
        char = err.character if isinstance(err.character, int) else ord(err.character)
        return (
            f"character {err.position}: unacceptable character #x{char:04x} (is the file binary, or "
            "UTF-16? save the config as UTF-8 text)"
        )
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    if mark is None:
        return problem
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    if "duplicate key" in problem:
        return f"{problem}; again on {where}"
    return f"{where}: {problem}"


def parse_yaml(text: str) -> Any:
    """YAML text as Python data (safe types only; duplicate keys rejected). Raises ``yaml.YAMLError``
    (or ``RecursionError`` for absurdly nested input)."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass: safe types only


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Set ``a.b.c=value`` overrides (values parsed as YAML); ``grid.<key>=[...]`` sets a grid axis."""
    data = dict(data)
    for item in overrides:
        path, eq, raw = item.partition("=")
        parts = path.split(".")
        if not eq or not all(parts):
            raise ConfigError(f"override {item!r}: expected FIELD.PATH=VALUE, e.g. solver.params.learning_rate=0.05")
        try:
            value = parse_yaml(raw)
        except (yaml.YAMLError, RecursionError) as err:
            problem = _yaml_problem(err) if isinstance(err, yaml.YAMLError) else "nested too deeply"
            raise ConfigError(f"override {item!r}: {path}: the value is not valid YAML ({problem})") from None
        if parts[0] == "grid" and len(parts) > 1:
            parts = ["grid", ".".join(parts[1:])]
        node = data
        for depth, part in enumerate(parts[:-1]):
            key = _list_index(node, part, item, parts[: depth + 1])
            child = node[key] if isinstance(node, list) else node.get(key)
            child = dict(child) if isinstance(child, dict) else list(child) if isinstance(child, list) else {}
            node[key] = child  # copies: the caller's data (a built-in default) is never changed
            node = child
        node[_list_index(node, parts[-1], item, parts)] = value
    return data


def _list_index(node, part: str, item: str, path: list[str]):
    """``part`` as the key into ``node``: an index into a list (``suites.1.num_games=4``), else the name."""
    if not isinstance(node, list):
        return part
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"override {item!r}: {'.'.join(path)}: expected an index of the list, 0 to {len(node) - 1}")
    return int(part)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _format_pydantic(err: pydantic.ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith(("function-", "json-or-python")))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif "input" in e and e["type"] != "value_error":
            msg += f" (got {_short(e['input'])})"
        lines.append(f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}")  # model checks name their field
    return "\n".join(lines)


def parse_config(data: Any, kind: str, source: str = "<config>") -> Config:
    """Validate a mapping as a ``run`` / ``sweep`` / ``bench`` / ``qre_path`` config (field names and
    types), then build and trace what it describes (``check_semantics``). ``kind`` is the command
    (``"run"`` also accepts a config declaring ``kind: qre_path``) or a config kind."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    declared = data.get("kind", kind)
    if not isinstance(declared, str) or declared not in _MODELS:
        raise ConfigError(f"{source}: kind: expected one of {tuple(_MODELS)}, got {_short(declared)}")
    if declared not in _COMMAND_KINDS.get(kind, (kind,)):
        command = next(c for c, kinds in _COMMAND_KINDS.items() if declared in kinds)
        raise ConfigError(f"{source}: kind: this is a {declared!r} config; run it with `jaxgames {command}`")
    try:
        config = _MODELS[declared].model_validate(data)
    except pydantic.ValidationError as err:
        raise ConfigError(_format_pydantic(err, source)) from None
    check_semantics(config, source)
    return config


def read_config_text(path: str | Path) -> str:
    """The text of a config file, or a ``ConfigError`` naming the file and what is wrong with it
    (missing, a directory, unreadable, too large, not UTF-8)."""
    source = str(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{source}: is a directory; expected a YAML config file")
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{source}: not a regular file; expected a YAML config file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{source}: {info.st_size} bytes is too large for a config "
                f"(at most {MAX_CONFIG_BYTES}); expected a YAML config file"
            )
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file") from None
    except PermissionError:
        raise ConfigError(f"{source}: cannot read the file: permission denied") from None
    except OSError as err:
        raise ConfigError(f"{source}: cannot read the file: {err.strerror or err}") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{source}: the file is UTF-16 encoded; save the config as UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{source}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); save the config as UTF-8"
        ) from None


def load_config(path: str | Path | None, kind: str, overrides: list[str] = (), default: dict | None = None) -> Config:
    """Read a YAML config (or ``default`` when ``path`` is None), apply overrides, validate."""
    if path is None:
        source, data = "<built-in default>", dict(default or {})
    else:
        source = str(path)
        text = read_config_text(path)
        try:
            data = parse_yaml(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{source}: not valid YAML: {_yaml_problem(err)}") from None
        except RecursionError:
            raise ConfigError(f"{source}: not valid YAML: nested too deeply") from None
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of fields at the top level, got {type(data).__name__}")
    return parse_config(apply_overrides(data, list(overrides)), kind, source)


#: What building a game or a solver from user values may raise: reported as a config error.
_BUILD_ERRORS = (ValueError, TypeError, OverflowError, MemoryError, jax.errors.JaxRuntimeError)


def _build_or_fail(source: str, field: str, build):
    try:
        return build()
    except ConfigError:
        raise
    except _BUILD_ERRORS as err:
        text = str(err) or type(err).__name__
        head, sep, rest = text.partition(": ")
        if sep and field.endswith(".params") and head.isidentifier():
            raise ConfigError(f"{source}: {field}.{head}: {rest}") from None  # e.g. solver.params.learning_rate
        raise ConfigError(f"{source}: {field}: {text}") from None


def _game_shapes(name: str, params: dict, key):
    """The game's arrays as shapes (``jax.eval_shape``): its parameters are checked as they are built,
    but nothing is computed or compiled, so a config of big games validates in seconds."""
    return jax.eval_shape(lambda: registry.build_game(name, params, key))


def _check_batch_bytes(source: str, field: str, game, count: int) -> None:
    """Refuse a batch of ``count`` games (one vmapped call) whose arrays alone exceed ``max_bytes``
    (``game``: built, or its shapes)."""
    leaves = jax.tree_util.tree_leaves(game)
    per_game = sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in leaves if hasattr(x, "dtype"))
    try:
        check_table_bytes(per_game * count, field, f"the batch of {count} games", None)
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None


def _fits_or_fail(
    source: str, field: str, game, solver, game_params: dict, solver_params: dict, batched: tuple[str, ...] = ()
) -> None:
    """``registry.check_fits`` as a config error naming ``field``, the solver and the game."""
    try:
        registry.check_fits(game.name, game_params, solver.name, solver_params, batched)
    except _BUILD_ERRORS as err:
        text = str(err) or type(err).__name__
        if text.startswith("game: "):  # the solver's own check of the game family
            reason = ": " + text.removeprefix("game: ")
        else:  # a parameter the solver cannot use here (as traced when it runs)
            reason = f" with these parameters: {text}"
        raise ConfigError(
            f"{source}: {field}: solver {solver.name!r} cannot run on game {game.name!r}{reason}"
        ) from None


def check_semantics(config: Config, source: str) -> None:
    """Build every game and solver the config describes, so bad values fail before any run, and trace
    one step of each solver on its game (``registry.check_fits``), so a solver that does not fit its
    game fails here too."""
    if isinstance(config, QREPathConfig):
        _check_qre_path(config, source)
        return
    key = jax.random.key(0)
    if isinstance(config, BenchConfig):
        for suite in config.suites:
            at = suite._path
            for i, g in enumerate(suite.games):
                game = _build_or_fail(source, f"{at}games.{i}.params", lambda g=g: _game_shapes(g.name, g.params, key))
                _check_batch_bytes(source, f"{at}num_games" if suite._path else "num_games", game, suite.num_games)
            for i, s in enumerate(suite.solvers):
                _build_or_fail(source, f"{at}solvers.{i}.params", lambda s=s: registry.build_solver(s.name, s.params))
            for i, g in enumerate(suite.games):
                for j, s in enumerate(suite.solvers):
                    _fits_or_fail(source, f"{at}solvers.{j}.name (on {at}games.{i})", g, s, g.params, s.params)
        return
    game = _build_or_fail(source, "game.params", lambda: _game_shapes(config.game.name, config.game.params, key))
    _build_or_fail(source, "solver.params", lambda: registry.build_solver(config.solver.name, config.solver.params))
    if isinstance(config, SweepConfig):
        _check_batch_bytes(source, "chunk_size", game, min(config.chunk_size, len(config.points())))
    else:
        _check_batch_bytes(source, "num_games", game, config.num_games)
    if not isinstance(config, SweepConfig):
        _fits_or_fail(source, "solver.name", config.game, config.solver, config.game.params, config.solver.params)
        return
    groups: dict[tuple, dict] = {}
    built: set[str] = {repr(("game", config.game.params)), repr(("solver", config.solver.params))}
    for point in config.points():
        game_params, solver_params = point_params(config, point)
        where = "grid (point " + ", ".join(f"{k}={v!r}" for k, v in point.items()) + ")"
        # building is deterministic (same params, same key): each distinct set of parameters is built once
        if (seen := repr(("game", game_params))) not in built:
            _build_or_fail(source, where, lambda p=game_params: _game_shapes(config.game.name, p, key))
            built.add(seen)
        if (seen := repr(("solver", solver_params))) not in built:
            _build_or_fail(source, where, lambda p=solver_params: registry.build_solver(config.solver.name, p))
            built.add(seen)
        groups.setdefault(repr(static_signature(point)), point)
    for point in groups.values():  # one trace per compiled group, as the sweep will run it
        static = dict(static_signature(point))
        game_params, solver_params = point_params(config, static)
        batched = tuple(k for k in config.grid if k != "seed" and k not in static)
        where = "grid (point " + ", ".join(f"{k}={v!r}" for k, v in point.items()) + ")"
        _fits_or_fail(source, where, config.game, config.solver, game_params, solver_params, batched)


def qre_path_game(config: QREPathConfig):
    """The game of a ``qre_path`` config, built by the registry; a random game is drawn from ``seed``
    by the recipe of ``jaxgames run`` with ``num_games: 1`` (in the precision of the caller)."""
    key = jax.random.split(jax.random.key(config.seed), 1)[0]
    return registry.build_game(config.game.name, config.game.params, jax.random.split(key)[0])


def qre_path_reference(config: QREPathConfig, game):
    """The ``reference`` of a ``qre_path`` config as a policy (``None``: uniform), checked against
    ``game``: one array per player, shaped as its policy, probabilities over the legal actions."""
    if config.reference is None or config.reference == "uniform":
        return None
    shapes = [tuple(p.shape) for p in game.uniform_policy()]
    if len(config.reference) != len(shapes):
        raise ValueError(
            f"reference: expected {len(shapes)} players' policies shaped {shapes}, got {len(config.reference)}"
        )
    policy = []
    for i, (p, shape, mask) in enumerate(zip(config.reference, shapes, game.legal_mask())):
        try:
            arr = np.asarray(p, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"reference.{i}: expected nested lists of numbers shaped {shape}") from None
        if arr.shape != shape:
            raise ValueError(f"reference.{i}: expected shape {shape} (the game's policy), got {arr.shape}")
        check_probabilities(arr, f"reference.{i}", mask=np.asarray(mask))
        policy.append(jnp.asarray(arr))
    return tuple(policy)


def qre_path_options(config: QREPathConfig) -> dict:
    """Every keyword option of ``qre_path`` as the run uses it: the config's, else the default."""
    import inspect

    from jaxgames.equilibria import qre_path

    defaults = {p.name: p.default for p in inspect.signature(qre_path).parameters.values() if p.kind == p.KEYWORD_ONLY}
    return {**defaults, **config.path_options()}


def _check_qre_path(config: QREPathConfig, source: str) -> None:
    """Build the game, check that it has a logit QRE (regularized) form, a size the dense path can
    handle, and a valid ``reference``."""
    from jaxgames.equilibria import path, response

    game = _build_or_fail(source, "game.params", lambda: qre_path_game(config))
    try:
        response.check_supported(game)
    except TypeError as err:  # a CapabilityError
        raise ConfigError(
            f"{source}: game.name: {config.game.name!r} has no regularized (logit QRE) form: "
            + str(err).removeprefix("game: ")
        ) from None
    rows, what = path.system_size(game)
    if rows > path.MAX_SYSTEM:
        raise ConfigError(
            f"{source}: game: the QRE path factors a dense linear system of {rows} rows ({what}) at every "
            f"step; at most {path.MAX_SYSTEM}: choose a smaller game"
        )
    size = sum(int(np.prod(p.shape)) for p in game.uniform_policy())
    options = qre_path_options(config)
    if options["min_step"] >= options["first_step"]:
        raise ConfigError(
            f"{source}: min_step: expected a value below the first arclength step ({options['first_step']}), "
            f"got {options['min_step']}"
        )
    try:
        points = options["max_points"] or path.default_max_points(game)
        check_table_bytes(16 * points * (size + 1), "max_points", f"the path ({points} points x {size} unknowns)", None)
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None
    try:
        qre_path_reference(config, game)
    except ValueError as err:
        raise ConfigError(f"{source}: {err}") from None


def static_signature(point: dict) -> tuple:
    """The values of a grid point that are compiled in (not ``vmap``-ped): ``((key, value), ...)``."""
    return tuple((k, v) for k, v in point.items() if k != "seed" and not is_batchable(v))


def point_params(config: SweepConfig, point: dict) -> tuple[dict, dict]:
    """The game and solver parameters of one grid point."""
    game = dict(config.game.params)
    solver = dict(config.solver.params)
    for key, value in point.items():
        head, _, param = key.partition(".")
        if head == "game":
            game[param] = value
        elif head == "solver":
            solver[param] = value
    return game, solver


def is_batchable(value: Any) -> bool:
    """Floats are traced and vmapped; anything else is static (compiled per value)."""
    return isinstance(value, float) and math.isfinite(value)
