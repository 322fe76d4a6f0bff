"""Configs, the jaxgames CLI, sweeps (= a Python loop), resume after a kill, sharding."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml

import solvers
from jaxgames.cli import main
from jaxgames.experiments import config as cfg
from jaxgames.experiments import registry
from jaxgames.experiments.bench import DEFAULT_BENCH
from jaxgames.experiments.results import read_csv

from helpers import quick_compile_flags

REPO = Path(__file__).resolve().parents[1]
TINY_SWEEP = {
    "kind": "sweep",
    "game": {"name": "random_zero_sum", "params": {"num_actions": 4}},
    "solver": {"name": "mmd", "params": {"magnet_update_every": 10}},
    "num_steps": 200,
    "eval_every": 100,
    "chunk_size": 5,
    "grid": {
        "solver.learning_rate": [0.1, 0.3],
        "solver.temperature": [0.2, 0.5],
        "solver.output": ["last", "average"],
        "seed": [0, 1, 2],
    },
}


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def cli(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "jaxgames", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


# ----------------------------------------------------------------------------- configs
@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"game": {"name": "rps"}, "solver": {"name": "mmd"}},
            r"bad\.yaml: game\.name: unknown game 'rps'; expected one of \[.*'rock_paper_scissors'",
        ),
        (
            {"game": {"name": "rock_paper_scissors"}, "solver": {"name": "newton"}},
            r"bad\.yaml: solver\.name: unknown solver 'newton'; expected one of \[.*'mirror_prox'",
        ),
        (
            {"game": {"name": "rock_paper_scissors"}, "solver": {"name": "mmd"}, "num_stepz": 5},
            r"bad\.yaml: num_stepz: unknown field",
        ),
        (
            {"game": {"name": "rock_paper_scissors"}, "solver": {"name": "mmd"}, "num_steps": "many"},
            r"bad\.yaml: num_steps: expected an integer, got 'many' \(str\)",
        ),
        (
            {"game": {"name": "rock_paper_scissors"}, "solver": {"name": "mmd"}, "num_steps": 0},
            r"bad\.yaml: num_steps: expected an integer in \[1, 2147483647\], got 0",
        ),
        (
            {"game": {"name": "rock_paper_scissors"}, "solver": {"name": "mmd", "params": {"learning_rate": -1}}},
            r"bad\.yaml: solver\.params\.learning_rate: expected a (finite )?value > 0, got -1",
        ),
        (
            {"game": {"name": "rock_paper_scissors"}, "solver": {"name": "mmd", "params": {"lr": 1}}},
            r"bad\.yaml: solver\.params: unknown parameter\(s\) \['lr'\] for solver 'mmd'; "
            r"expected some of \[.*'learning_rate'",
        ),
        (
            {"game": {"name": "random_zero_sum", "params": {"distribution": "cauchy"}}, "solver": {"name": "mmd"}},
            r"bad\.yaml: game\.params\.distribution: expected one of \('uniform', 'gaussian'.*\), got 'cauchy'",
        ),
        (
            {"game": {"name": "rock_paper_scissors"}, "solver": {"name": "mmd", "params": {"output": "best"}}},
            r"bad\.yaml: solver\.params\.output: expected one of \('last', 'average'\)",
        ),
    ],
)
def test_bad_run_configs_name_file_field_and_allowed_values(tmp_path, data, message):
    path = write(tmp_path, "bad.yaml", data)
    with pytest.raises(cfg.ConfigError, match=message):
        cfg.load_config(path, "run")


def test_bad_sweep_configs_fail_before_anything_runs(tmp_path, capsys):
    bad = dict(TINY_SWEEP, grid={"solver.learning_rate": [0.1, -0.5]})
    path = write(tmp_path, "sweep.yaml", bad)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(
        r"sweep\.yaml: grid \(point solver\.learning_rate=-0\.5\): learning_rate: expected a "
        r"(finite )?value > 0",
        err,
    ), err
    assert not out.exists(), "nothing is half-run"
    for grid, message in [
        ({"solver.lr": [0.1]}, "unknown parameter"),
        ({"steps": [1]}, "expected 'seed'"),
        ({"seed": [-1]}, r"grid\.seed\.0: expected an integer in \[0, 4294967295\], got -1"),
    ]:
        with pytest.raises(cfg.ConfigError, match=message):
            cfg.parse_config(dict(TINY_SWEEP, grid=grid), "sweep", "s.yaml")


@pytest.mark.slow
def test_every_shipped_config_validates():
    """Validation builds every game and traces every solver of the config (~30 s for all of them)."""
    for path in sorted((REPO / "configs").glob("*.yaml")):
        kind = yaml.safe_load(path.read_text())["kind"]
        cfg.load_config(path, kind)


def test_check_fits_remembers_a_passed_pair_until_the_registry_changes():
    """A pair that passed is not traced again; registering the name anew traces the new factory."""
    calls = []

    def counting(**params):
        calls.append(params)
        return solvers.mirror_descent(**params)

    registry.register_solver("_test_counting", counting)
    try:
        for _ in range(2):
            registry.check_fits("matching_pennies", {}, "_test_counting", {"learning_rate": 0.5})
        assert len(calls) == 1
        registry.check_fits("matching_pennies", {}, "_test_counting", {"learning_rate": 0.2})  # other params
        assert len(calls) == 2

        def broken(**params):
            raise ValueError("learning_rate: expected a broken factory")

        registry.register_solver("_test_counting", broken)
        with pytest.raises(ValueError, match="broken factory"):
            registry.check_fits("matching_pennies", {}, "_test_counting", {"learning_rate": 0.5})
    finally:
        registry.SOLVERS.pop("_test_counting", None)


def test_overrides_and_shipped_configs():
    c = cfg.load_config(
        REPO / "configs" / "matrix_run.yaml",
        "run",
        ["solver.params.learning_rate=0.05", "num_steps=10", "game.params.num_actions=[3, 4]"],
    )
    assert c.solver.params["learning_rate"] == 0.05 and c.num_steps == 10
    assert c.game.params["num_actions"] == [3, 4]
    with pytest.raises(cfg.ConfigError, match="override 'num_steps': expected FIELD.PATH=VALUE"):
        cfg.load_config(REPO / "configs" / "matrix_run.yaml", "run", ["num_steps"])
    with pytest.raises(cfg.ConfigError, match="this is a 'run' config; run it with `jaxgames run`"):
        cfg.load_config(REPO / "configs" / "matrix_run.yaml", "sweep")
    # The shipped default suite is the built-in one.
    assert yaml.safe_load((REPO / "configs" / "bench_default.yaml").read_text()) == DEFAULT_BENCH


def test_registry_lists_every_game_and_solver_with_defaults(capsys, tmp_path):
    assert main(["list", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert (tmp_path / "registry.txt").read_text().strip() == text.strip()
    for name in list(registry.GAMES) + list(registry.SOLVERS):
        assert f"  {name}" in text
    assert "learning_rate=0.3" in text and "num_actions=3" in text


# ------------------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_cli_run_sweep_and_bench_on_tiny_configs(tmp_path, capsys):
    """``run`` and a bad ``sweep`` in-process (``main``); ``bench`` in a real process (``python -m jaxgames``)."""
    run_cfg = write(
        tmp_path,
        "run.yaml",
        {
            "kind": "run",
            "game": {"name": "random_zero_sum"},
            "solver": {"name": "regret_matching_plus"},
            "num_games": 3,
            "num_steps": 100,
            "eval_every": 50,
        },
    )
    assert main(["run", str(run_cfg), "solver.averaging=uniform", "--out", str(tmp_path / "run")]) == 0
    assert "regret_matching_plus on 3 x random_zero_sum" in capsys.readouterr().out
    trace = read_csv(tmp_path / "run" / "trace.csv")
    assert len(trace) == 6 and {r["step"] for r in trace} == {"50", "100"}
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["config"]["solver"]["params"] == {"averaging": "uniform"}
    assert meta["environment"]["jax"] == jax.__version__

    bench_cfg = write(
        tmp_path,
        "bench.yaml",
        {
            "kind": "bench",
            "games": [{"name": "matching_pennies"}],
            "solvers": [{"name": "mmd"}, {"name": "fictitious_play"}],
            "steps": [10, 40],
            "budgets_s": [1e-4, 1.0],
            "repeats": 1,
        },
    )
    # a compile-bound process: the test processes' quick XLA flags (conftest.py)
    flags = (os.environ.get("XLA_FLAGS", "") + " " + quick_compile_flags()).strip()
    res = cli("bench", bench_cfg, "num_games=2", "--out", tmp_path / "bench", env={"XLA_FLAGS": flags})
    assert res.returncode == 0, res.stderr
    rows = read_csv(tmp_path / "bench" / "results.csv")
    assert [r["solver"] for r in rows] == ["mmd", "fictitious_play"]
    assert float(rows[0]["exploitability@1.0s"]) == float(rows[0]["exploitability@40_steps"])
    assert float(rows[0]["iterations_per_s"]) > 0 and float(rows[0]["compile_s"]) >= 0
    assert (tmp_path / "bench" / "exploitability_matching_pennies.png").stat().st_size > 10_000
    assert "exploitability@10_steps" in (tmp_path / "bench" / "results.csv").read_text()
    assert "results written to" in res.stdout and "@40" in res.stdout

    assert main(["sweep", str(write(tmp_path, "bad.yaml", {"kind": "sweep", "game": {"name": "nope"}}))]) == 2
    assert "game.name: unknown game 'nope'" in capsys.readouterr().err


# ---------------------------------------------------------------------------- sweeps
def loop_reference(config):
    """The same grid as a plain Python loop, one solvers.run per point."""
    out = []
    for point in config.points():
        game_params, solver_params = cfg.point_params(config, point)
        k_game, k_init = jax.random.split(jax.random.key(point.get("seed", config.seed)))
        game = registry.build_game(config.game.name, game_params, k_game)
        solver = registry.build_solver(config.solver.name, solver_params)
        _, trace = solvers.run(solver, game, config.num_steps, eval_every=config.eval_every, key=k_init)
        out.append(np.asarray(trace.exploitability))
    return np.stack(out)


def sweep_matrix(rows, steps):
    return np.array([[float(r[f"exploitability@{s}"]) for s in steps] for r in rows])


@pytest.mark.slow
def test_sweep_equals_a_python_loop(tmp_path):
    from jaxgames.experiments.execute import plan_chunks, run_sweep

    config = cfg.parse_config(TINY_SWEEP, "sweep")
    assert len(config.points()) == 24
    chunks = plan_chunks(config)
    assert len(chunks) == 6  # two static groups (output), 12 points each, chunks of 5, 5, 2
    rows = run_sweep(config, tmp_path / "sweep", log=lambda m: None)
    assert [int(r["point"]) for r in rows] == list(range(24))
    got = sweep_matrix(rows, [100, 200])
    np.testing.assert_allclose(got, loop_reference(config), rtol=1e-4, atol=1e-6)
    assert len(list((tmp_path / "sweep" / "chunks").glob("chunk_*.csv"))) == 6


@pytest.mark.slow
def test_sweep_over_game_parameters_equals_a_python_loop(tmp_path):
    """A float game parameter is batched; an int one (the number of responses) splits compiles."""
    from jaxgames.experiments.execute import plan_chunks, run_sweep

    config = cfg.parse_config(
        {
            "kind": "sweep",
            "game": {"name": "preference_cyclic"},
            "solver": {"name": "optimistic_mirror_descent", "params": {"output": "last", "learning_rate": 0.3}},
            "num_steps": 300,
            "eval_every": 150,
            "grid": {"game.margin": [0.1, 0.3, 0.45], "game.num_responses": [3, 5], "seed": [0, 1]},
        },
        "sweep",
    )
    assert len(plan_chunks(config)) == 2
    rows = run_sweep(config, tmp_path / "sweep", log=lambda m: None)
    np.testing.assert_allclose(sweep_matrix(rows, [150, 300]), loop_reference(config), rtol=1e-4, atol=1e-6)
    finals = {(float(r["game.margin"]), int(r["game.num_responses"])) for r in rows}
    assert len(finals) == 6


# 8 chunks of 4 runs, 0.1-0.15 s each after ~8 s of start-up (imports, validation, compilation): the kill,
# polled every 20 ms, lands well inside the sweep (20,000 steps cost 0.4 s a chunk and 3 s more in all).
SLOW_SWEEP = {
    "kind": "sweep",
    "game": {"name": "random_zero_sum", "params": {"num_actions": 30}},
    "solver": {"name": "extragradient"},
    "num_steps": 5000,
    "eval_every": 5000,
    "chunk_size": 4,
    "grid": {"solver.learning_rate": [0.05, 0.1, 0.2, 0.3], "seed": list(range(8))},
}


@pytest.mark.slow
def test_killed_sweep_resumes_and_loses_at_most_one_chunk(tmp_path, capsys):
    path = write(tmp_path, "slow.yaml", SLOW_SWEEP)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "jaxgames", "sweep", str(path), "--out", str(out)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    chunk_dir = out / "chunks"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(chunk_dir.glob("chunk_*.csv"))) < 2:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in chunk_dir.glob("chunk_*.csv")}
    assert 2 <= len(before) < 8, f"kill landed outside the sweep: {len(before)} chunks on disk"
    assert not (out / "results.csv").exists()
    res = cli("sweep", path, "--out", out)
    assert res.returncode == 0, res.stderr
    assert f"resumed: {4 * len(before)} of 32 grid points were already on disk" in res.stderr
    for name, mtime in before.items():  # finished chunks were not recomputed
        assert (chunk_dir / name).stat().st_mtime_ns == mtime
    rows = read_csv(out / "results.csv")
    assert [int(r["point"]) for r in rows] == list(range(32))
    # Resumed results equal an uninterrupted run of a few of the same points.
    config = cfg.parse_config(dict(SLOW_SWEEP, grid={"solver.learning_rate": [0.05], "seed": [0, 7]}), "sweep")
    ref = loop_reference(config)[:, -1]
    by_point = {(int(r["seed"]), float(r["solver.learning_rate"])): float(r["final_exploitability"]) for r in rows}
    np.testing.assert_allclose([by_point[(0, 0.05)], by_point[(7, 0.05)]], ref, rtol=1e-4, atol=1e-6)
    # Another config into the same directory is refused rather than mixed in.
    other = write(tmp_path, "other.yaml", dict(SLOW_SWEEP, num_steps=10))
    assert main(["sweep", str(other), "--out", str(out)]) == 2
    assert "holds a sweep of a different config" in capsys.readouterr().err


@pytest.mark.slow
def test_four_device_sharded_sweep_equals_one_device(tmp_path):
    path = write(tmp_path, "tiny.yaml", TINY_SWEEP)
    script = (
        "import jax, sys\n"
        "from jaxgames.experiments import config as cfg\n"
        "from jaxgames.experiments.execute import run_sweep\n"
        "assert jax.device_count() == 4, jax.devices()\n"
        f"c = cfg.load_config({str(path)!r}, 'sweep')\n"
        f"run_sweep(c, {str(tmp_path / 'sharded')!r}, log=print)\n"
        "print('devices', jax.device_count())\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={
            **os.environ,
            "XLA_FLAGS": "--xla_force_host_platform_device_count=4 " + quick_compile_flags(),  # compile-bound
            "JAX_PLATFORMS": "cpu",
        },
    )
    assert res.returncode == 0, res.stderr
    assert "devices 4" in res.stdout
    sharded = read_csv(tmp_path / "sharded" / "results.csv")
    meta = json.loads((tmp_path / "sharded" / "config.json").read_text())
    assert meta["environment"]["device_count"] == 4
    from jaxgames.experiments.execute import run_sweep

    single = run_sweep(cfg.load_config(path, "sweep"), tmp_path / "single", log=lambda m: None)
    np.testing.assert_allclose(
        sweep_matrix(sharded, [100, 200]), sweep_matrix(single, [100, 200]), rtol=1e-5, atol=1e-7
    )
