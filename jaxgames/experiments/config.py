"""Experiment configs: YAML files validated with pydantic before anything runs.

A config names a game and a solver from the registry with their parameters,
plus run settings; a sweep config adds a ``grid``; a bench config lists games
and solvers. ``load_config`` parses YAML (PyYAML), applies command-line
overrides such as ``solver.params.learning_rate=0.05``, validates field names
and types (pydantic), then builds every game and solver of the experiment once
so that out-of-range values fail with the field path before any work starts.
Every problem is reported as ``ConfigError("<file>: <field.path>: <what was expected>")``.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import jax
import pydantic
import yaml
from pydantic import (BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationInfo,
                      field_validator, model_validator)

from jaxgames.experiments import registry


class ConfigError(ValueError):
    """A config that cannot run: names the file, the field path and what was expected."""


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
        raise ValueError(f"unknown parameter(s) {unknown} for {kind} {name!r}; "
                         f"expected some of {sorted(allowed)}")


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
    num_steps: PositiveInt = 1000
    eval_every: PositiveInt | None = None
    seed: int = Field(0, ge=0)


class RunConfig(_Experiment):
    """One experiment: a game (or a batch of ``num_games`` generated games) and a solver."""

    kind: Literal["run"] = "run"
    num_games: PositiveInt = 1


class SweepConfig(_Experiment):
    """A grid over solver hyperparameters, game parameters and seeds, run as one vmapped computation.

    ``grid`` maps ``solver.<param>``, ``game.<param>`` or ``seed`` to a list of
    values; every combination is one grid point. Float-valued parameters are
    batched with ``vmap``; other values (ints, strings, booleans) change shapes
    or code paths, so each combination of them is compiled separately.
    """

    kind: Literal["sweep"] = "sweep"
    grid: dict[str, list[Any]]
    chunk_size: PositiveInt = 256

    @model_validator(mode="after")
    def _grid_keys(self):
        for key, values in self.grid.items():
            head, _, param = key.partition(".")
            if key == "seed":
                if not all(isinstance(v, int) and v >= 0 for v in values):
                    raise ValueError(f"grid.seed: expected a list of integers >= 0, got {values}")
            elif head == "solver" and param:
                _check_params("solver", registry.SOLVERS, self.solver.name, {param: None})
            elif head == "game" and param:
                _check_params("game", registry.GAMES, self.game.name, {param: None})
            else:
                raise ValueError(f"grid key {key!r}: expected 'seed', 'solver.<param>' or 'game.<param>'")
            if not values:
                raise ValueError(f"grid.{key}: expected a non-empty list")
        return self

    def points(self) -> list[dict]:
        """Every grid point, as ``{grid key: value}``, in a fixed order."""
        keys = list(self.grid)
        return [dict(zip(keys, combo)) for combo in itertools.product(*(self.grid[k] for k in keys))]


class BenchConfig(_Strict):
    """A solver x game benchmark: exploitability at step counts and wall-clock budgets, speed."""

    kind: Literal["bench"] = "bench"
    games: list[GameConfig] = Field(min_length=1)
    solvers: list[SolverConfig] = Field(min_length=1)
    steps: list[PositiveInt] = Field(default_factory=lambda: [10, 100, 1000], min_length=1)
    budgets_s: list[PositiveFloat] = Field(default_factory=lambda: [0.001, 0.01, 0.1], min_length=1)
    num_games: PositiveInt = 1
    repeats: PositiveInt = 3
    seed: int = Field(0, ge=0)


Config = RunConfig | SweepConfig | BenchConfig
_MODELS = {"run": RunConfig, "sweep": SweepConfig, "bench": BenchConfig}


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Set ``a.b.c=value`` overrides (values parsed as YAML); ``grid.<key>=[...]`` sets a grid axis."""
    data = dict(data)
    for item in overrides:
        path, eq, raw = item.partition("=")
        if not eq or not path:
            raise ConfigError(f"override {item!r}: expected FIELD.PATH=VALUE, e.g. solver.params.learning_rate=0.05")
        value = yaml.safe_load(raw)
        parts = path.split(".")
        if parts[0] == "grid" and len(parts) > 1:
            parts = ["grid", ".".join(parts[1:])]
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        node[parts[-1]] = value
    return data


def _format_pydantic(err: pydantic.ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-after"))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "required field is missing"
        elif "input" in e and e["type"] != "value_error":
            msg += f" (got {e['input']!r})"
        lines.append(f"{source}: {loc or '<top>'}: {msg}")
    return "\n".join(lines)


def parse_config(data: Any, kind: str, source: str = "<config>") -> Config:
    """Validate a mapping as a ``run`` / ``sweep`` / ``bench`` config (field names and types)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    declared = data.get("kind", kind)
    if declared != kind:
        raise ConfigError(f"{source}: kind: this is a {declared!r} config; run it with `jaxgames {declared}`")
    try:
        config = _MODELS[kind].model_validate(data)
    except pydantic.ValidationError as err:
        raise ConfigError(_format_pydantic(err, source)) from None
    check_semantics(config, source)
    return config


def load_config(path: str | Path | None, kind: str, overrides: list[str] = (), default: dict | None = None) -> Config:
    """Read a YAML config (or ``default`` when ``path`` is None), apply overrides, validate."""
    if path is None:
        source, data = "<built-in default>", dict(default or {})
    else:
        source = str(path)
        try:
            data = yaml.safe_load(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"{source}: no such file") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{source}: not valid YAML: {err}") from None
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of fields at the top level")
    return parse_config(apply_overrides(data, list(overrides)), kind, source)


def _build_or_fail(source: str, field: str, build):
    try:
        return build()
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        text = str(err)
        head, sep, rest = text.partition(": ")
        if sep and field.endswith(".params") and head.isidentifier():
            raise ConfigError(f"{source}: {field}.{head}: {rest}") from None  # e.g. solver.params.learning_rate
        raise ConfigError(f"{source}: {field}: {text}") from None


def check_semantics(config: Config, source: str) -> None:
    """Build every game and solver the config describes, so bad values fail before any run."""
    key = jax.random.key(0)
    if isinstance(config, BenchConfig):
        for i, g in enumerate(config.games):
            _build_or_fail(source, f"games.{i}.params", lambda g=g: registry.build_game(g.name, g.params, key))
        for i, s in enumerate(config.solvers):
            _build_or_fail(source, f"solvers.{i}.params", lambda s=s: registry.build_solver(s.name, s.params))
        return
    _build_or_fail(source, "game.params", lambda: registry.build_game(config.game.name, config.game.params, key))
    _build_or_fail(source, "solver.params", lambda: registry.build_solver(config.solver.name, config.solver.params))
    if isinstance(config, SweepConfig):
        for point in config.points():
            game_params, solver_params = point_params(config, point)
            where = "grid (point " + ", ".join(f"{k}={v!r}" for k, v in point.items()) + ")"
            _build_or_fail(source, where, lambda: registry.build_game(config.game.name, game_params, key))
            _build_or_fail(source, where, lambda: registry.build_solver(config.solver.name, solver_params))


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
