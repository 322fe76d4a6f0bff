"""The CLI on bad input: ``FILE: FIELD: message``, exit 2, no traceback, nothing left behind.

Config values (bools are not integers, duplicate YAML keys, empty grids, seeds out of range), a
solver that does not fit its game (found at validation from the solver's own checks), unreadable or
undecodable config files, unusable ``--out`` directories, bad overrides; and sweeps that share an
``--out`` (each chunk computed once), resume in another precision, run out of disk, or write files
with the user's umask. The CLI runs in-process (``main([...])``) except where a real process matters.
"""

import errno
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import jax
import pytest
import yaml

import solvers
from jaxgames.cli import main
from jaxgames.experiments import config as cfg
from jaxgames.experiments import execute, results

REPO = Path(__file__).resolve().parents[1]
RUN = {
    "kind": "run",
    "game": {"name": "rock_paper_scissors"},
    "solver": {"name": "regret_matching"},
    "num_steps": 4,
    "eval_every": 2,
}
SWEEP = {
    "kind": "sweep",
    "game": {"name": "rock_paper_scissors"},
    "solver": {"name": "mirror_descent"},
    "num_steps": 4,
    "eval_every": 2,
    "chunk_size": 1,
    "grid": {"solver.learning_rate": [0.1, 0.2, 0.3, 0.4]},
}


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if isinstance(data, dict) else data)
    return path


def cli_error(capsys, *args) -> str:
    """Run the CLI in-process, expect exit 2 and one clean error; return stderr."""
    capsys.readouterr()
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------------ config values
@pytest.mark.parametrize(
    "kind, changes, message",
    [
        ("run", {"num_steps": True}, "num_steps: expected an integer, got True (bool)"),
        ("run", {"num_steps": 2.0}, "num_steps: expected an integer, got 2.0 (float)"),
        ("run", {"eval_every": False}, "eval_every: expected an integer, got False (bool)"),
        ("run", {"num_games": "3"}, "num_games: expected an integer, got '3' (str)"),
        ("run", {"seed": 2**64}, "seed: expected an integer in [0, 4294967295], got 18446744073709551616"),
        ("run", {"seed": 2**32}, "seed: expected an integer in [0, 4294967295], got 4294967296"),
        ("run", {"seed": True}, "seed: expected an integer, got True (bool)"),
        ("sweep", {"grid": {}}, "grid: expected at least one axis"),
        ("sweep", {"grid": {"seed": [True, False]}}, "grid.seed.0: expected an integer, got True (bool)"),
        (
            "sweep",
            {"grid": {"seed": [0, 2**33]}},
            "grid.seed.1: expected an integer in [0, 4294967295], got 8589934592",
        ),
        ("sweep", {"grid": {"seed": []}}, "grid.seed: expected a non-empty list"),
        ("sweep", {"chunk_size": True}, "chunk_size: expected an integer, got True (bool)"),
    ],
)
def test_bad_values_exit_2_and_write_nothing(tmp_path, capsys, kind, changes, message):
    path = write(tmp_path, "bad.yaml", {**(RUN if kind == "run" else SWEEP), **changes})
    out = tmp_path / "out"
    err = cli_error(capsys, kind, path, "--out", out)
    assert f"{path}: {message}" in err
    assert not out.exists(), "nothing (no config.json) is left behind"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"repeats": True}, "repeats: expected an integer, got True (bool)"),
        ({"steps": [10, True]}, "steps.1: expected an integer, got True (bool)"),
        ({"budgets_s": [True]}, "budgets_s.0: expected a number, got True (bool)"),
        ({"budgets_s": [float("inf")]}, "budgets_s.0: expected finite values, got inf"),
        ({"seed": -1}, "seed: expected an integer in [0, 4294967295], got -1"),
    ],
)
def test_bad_bench_values(tmp_path, changes, message):
    data = {"kind": "bench", "games": [{"name": "matching_pennies"}], "solvers": [{"name": "mmd"}], **changes}
    with pytest.raises(cfg.ConfigError) as info:
        cfg.parse_config(data, "bench", "b.yaml")
    assert f"b.yaml: {message}" in str(info.value)


def test_boundary_values_are_accepted():
    config = cfg.parse_config({**RUN, "seed": 2**32 - 1, "num_steps": 2**31 - 1}, "run", "ok.yaml")
    assert config.seed == 2**32 - 1
    config = cfg.parse_config({**SWEEP, "grid": {"seed": [0, 2**32 - 1]}}, "sweep", "ok.yaml")
    assert [p["seed"] for p in config.points()] == [0, 2**32 - 1]


def test_sizes_are_checked_before_anything_runs(monkeypatch):
    huge = {**SWEEP, "grid": {"seed": list(range(1000)), "solver.learning_rate": [0.1] * 1001}}
    with pytest.raises(cfg.ConfigError, match=r"s\.yaml: grid: 1001000 points .* is more than 1000000"):
        cfg.parse_config(huge, "sweep", "s.yaml")
    monkeypatch.setenv("JAXGAMES_MAX_BYTES", "1000")
    with pytest.raises(cfg.ConfigError, match=r"r\.yaml: num_games: the batch of 100 games needs .* above max_bytes"):
        cfg.parse_config({**RUN, "num_games": 100}, "run", "r.yaml")
    with pytest.raises(cfg.ConfigError, match=r"s\.yaml: chunk_size: the batch of 20 games needs"):
        cfg.parse_config({**SWEEP, "chunk_size": 100, "grid": {"seed": list(range(20))}}, "sweep", "s.yaml")
    cfg.parse_config({**RUN, "num_games": 2}, "run", "r.yaml")


def test_bench_labels_are_safe_file_names(tmp_path):
    from jaxgames.experiments.bench import plot_curves

    curves = [{"game": "a/b c", "solver": "mmd", "step": s, "seconds": s / 10, "exploitability": 1 / s} for s in (1, 2)]
    assert [p.name for p in plot_curves(curves, tmp_path)] == ["exploitability_a_b_c.png"]


def test_duplicate_yaml_keys_are_errors_naming_key_and_lines(tmp_path, capsys):
    path = write(
        tmp_path,
        "dup.yaml",
        "kind: run\nnum_steps: 4\ngame: {name: rock_paper_scissors}\nsolver: {name: mmd}\nnum_steps: 40\n",
    )
    err = cli_error(capsys, "run", path, "--out", tmp_path / "out")
    assert f"{path}: not valid YAML: num_steps: duplicate key (first given on line 2); again on line 5" in err
    nested = write(
        tmp_path,
        "nested.yaml",
        "kind: run\ngame:\n  name: rock_paper_scissors\n  name: matching_pennies\nsolver: {name: mmd}\n",
    )
    with pytest.raises(cfg.ConfigError, match="name: duplicate key"):
        cfg.load_config(nested, "run")
    with pytest.raises(cfg.ConfigError, match="override 'grid={seed: \\[1\\], seed: \\[2\\]}'.*duplicate key"):
        cfg.load_config(write(tmp_path, "s.yaml", SWEEP), "sweep", ["grid={seed: [1], seed: [2]}"])
    # a YAML merge key followed by an explicit override is not a duplicate
    merged = write(tmp_path, "merge.yaml", "base: &b {name: mmd}\n")
    assert cfg.parse_yaml(merged.read_text() + "x:\n  <<: *b\n  name: cfr\n")["x"]["name"] == "cfr"


def test_bad_overrides(tmp_path, capsys):
    path = write(tmp_path, "run.yaml", RUN)
    err = cli_error(capsys, "run", path, "num_steps=[1,", "--out", tmp_path / "out")
    assert "override 'num_steps=[1,': num_steps: the value is not valid YAML" in err
    err = cli_error(capsys, "run", path, "num_steps=true", "--out", tmp_path / "out")
    assert f"{path}: num_steps: expected an integer, got True (bool)" in err
    err = cli_error(capsys, "run", path, "solver..x=1", "--out", tmp_path / "out")
    assert "expected FIELD.PATH=VALUE" in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ config compatibility
@pytest.mark.parametrize(
    "game, solver, message",
    [
        ("rock_paper_scissors", "value_iteration", "value_iteration needs a Markov game"),
        ("kuhn_poker", "minimax_value_iteration", "minimax_value_iteration needs a Markov game"),
        ("markov_random_zero_sum", "value_iteration", "expects an MDP (one player)"),
        ("rock_paper_scissors", "outcome_sampling_mccfr", "MCCFR needs an extensive-form game"),
        ("kuhn_poker", "sampled_mirror_descent", "mean-field"),
    ],
)
def test_solver_that_does_not_fit_its_game_is_a_config_error(tmp_path, capsys, game, solver, message):
    path = write(tmp_path, "bad.yaml", {**RUN, "game": {"name": game}, "solver": {"name": solver}})
    err = cli_error(capsys, "run", path, "--out", tmp_path / "out")
    assert f"{path}: solver.name: solver {solver!r} cannot run on game {game!r}: " in err and message in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "family, game", [("matrix", "rock_paper_scissors"), ("efg", "kuhn_poker"), ("markov", "markov_random_zero_sum")]
)
def test_compatibility_follows_the_solver_families(family, game):
    """What validation accepts is what the solver tables of ``solvers`` say (one game per family)."""

    def fits(name):
        return (
            name in solvers.GENERAL_SOLVERS
            or (name in solvers.SAMPLED_SOLVERS["efg"] + solvers.NEURAL_SOLVERS["efg"] and family == "efg")
            or (
                name in solvers.MARKOV_SOLVERS
                and family == "markov"
                and name not in ("value_iteration", "policy_iteration")
            )
        )  # these two: MDPs only

    names = solvers.MARKOV_SOLVERS + solvers.SAMPLED_SOLVERS["efg"] + solvers.NEURAL_SOLVERS["efg"] + ("mmd",)
    for name in [n for n in names if not fits(n)]:
        with pytest.raises(cfg.ConfigError, match=f"solver.name: solver '{name}' cannot run on game '{game}'"):
            cfg.parse_config({**RUN, "game": {"name": game}, "solver": {"name": name}}, "run", "c.yaml")
    accepted = [n for n in names if fits(n)]
    assert accepted
    cfg.parse_config({**RUN, "game": {"name": game}, "solver": {"name": accepted[0]}}, "run", "c.yaml")


def test_sweep_and_bench_check_every_compiled_group():
    # smoothed fictitious play needs smooth best responses, which an EFG does not have; a swept
    # (traced) temperature takes the smoothed path for every point, 0.0 included
    bad = {
        **SWEEP,
        "game": {"name": "kuhn_poker"},
        "solver": {"name": "fictitious_play"},
        "grid": {"solver.temperature": [0.0, 0.1]},
    }
    with pytest.raises(
        cfg.ConfigError,
        match=r"s\.yaml: grid \(point solver\.temperature=0\.0\): solver "
        r"'fictitious_play' cannot run on game 'kuhn_poker': fictitious_play"
        r"\(temperature > 0\) needs a game with a smooth \(logit\) best "
        r"response; EFGGame does not provide SmoothBestResponse",
    ):
        cfg.parse_config(bad, "sweep", "s.yaml")
    cfg.parse_config({**bad, "grid": {"seed": [0, 1]}}, "sweep", "s.yaml")  # temperature 0: plain FP fits
    bench = {
        "kind": "bench",
        "games": [{"name": "matching_pennies"}, {"name": "kuhn_poker"}],
        "solvers": [{"name": "mmd"}, {"name": "minimax_value_iteration"}],
    }
    with pytest.raises(
        cfg.ConfigError,
        match=r"b\.yaml: solvers\.1\.name \(on games\.0\): solver "
        r"'minimax_value_iteration' cannot run on game 'matching_pennies'",
    ):
        cfg.parse_config(bench, "bench", "b.yaml")


# --------------------------------------------------------------------------- CLI files
def test_config_files_that_cannot_be_read(tmp_path, capsys):
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("kind: run\nlabel: caf\u00e9\n".encode("latin-1"))
    err = cli_error(capsys, "run", latin1)
    assert f"{latin1}: not UTF-8 text (byte 0xe9 at offset 20); save the config as UTF-8" in err
    utf16 = tmp_path / "utf16.yaml"
    utf16.write_text("kind: run\n", encoding="utf-16")
    assert f"{utf16}: the file is UTF-16 encoded; save the config as UTF-8" in cli_error(capsys, "run", utf16)
    utf16le = tmp_path / "utf16le.yaml"
    utf16le.write_bytes("kind: run\n".encode("utf-16-le"))
    assert (
        f"{utf16le}: not valid YAML: character 1: unacceptable character #x0000 (is the file binary, or UTF-16?"
        in cli_error(capsys, "run", utf16le)
    )
    assert f"{tmp_path}: is a directory; expected a YAML config file" in cli_error(capsys, "run", tmp_path)
    assert f"{tmp_path / 'none.yaml'}: no such file" in cli_error(capsys, "sweep", tmp_path / "none.yaml")
    bom = write(tmp_path, "bom.yaml", "\ufeff" + yaml.safe_dump(RUN))  # a UTF-8 BOM is fine
    assert cfg.load_config(bom, "run").num_steps == 4
    listing = write(tmp_path, "list.yaml", "- 1\n- 2\n")
    assert f"{listing}: expected a mapping of fields at the top level, got list" in cli_error(capsys, "run", listing)
    kind = write(tmp_path, "kind.yaml", {**RUN, "kind": ["run"]})
    expected = f"{kind}: kind: expected one of ('run', 'sweep', 'bench', 'qre_path'), got ['run']"
    assert expected in cli_error(capsys, "run", kind)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_config(tmp_path, capsys):
    path = write(tmp_path, "secret.yaml", RUN)
    path.chmod(0)
    try:
        assert f"{path}: cannot read the file: permission denied" in cli_error(capsys, "run", path)
    finally:
        path.chmod(0o600)


def test_unreadable_config_mocked(tmp_path, capsys, monkeypatch):
    """The same without depending on the user (root reads everything)."""
    path = write(tmp_path, "secret.yaml", RUN)

    def deny(self):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    assert f"{path}: cannot read the file: permission denied" in cli_error(capsys, "run", path)


def test_bad_out_is_found_before_computing(tmp_path, capsys, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("computed although --out is unusable")

    monkeypatch.setattr(execute, "run_experiment", never)
    monkeypatch.setattr(execute, "run_sweep", never)
    run, sweep = write(tmp_path, "run.yaml", RUN), write(tmp_path, "sweep.yaml", SWEEP)
    a_file = write(tmp_path, "a_file", "x")
    err = cli_error(capsys, "run", run, "--out", a_file)
    assert f"error: --out {a_file}: is a file; expected a directory for the results" in err
    err = cli_error(capsys, "sweep", sweep, "--out", a_file / "sub")
    assert f"--out {a_file / 'sub'}: a part of the path is a file" in err
    assert "--out" in cli_error(capsys, "list", "--out", a_file)

    real = results.tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):  # mkstemp's own argument name
        if Path(dir) == tmp_path / "ro":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(results.tempfile, "mkstemp", read_only)
    err = cli_error(capsys, "run", run, "--out", tmp_path / "ro")
    assert f"--out {tmp_path / 'ro'}: cannot write results there: Permission denied" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_out(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        err = cli_error(capsys, "run", write(tmp_path, "run.yaml", RUN), "--out", ro)
        assert f"--out {ro}: cannot write results there: Permission denied" in err
    finally:
        ro.chmod(0o755)


def test_errors_while_running_are_messages_unless_traceback_is_asked(tmp_path, capsys, monkeypatch):
    def boom(*args, **kwargs):
        raise ValueError("learning_rate: expected a finite value > 0, got nan")

    monkeypatch.setattr(execute, "run_experiment", boom)
    path = write(tmp_path, "run.yaml", RUN)
    err = cli_error(capsys, "run", path, "--out", tmp_path / "out")
    assert "error: learning_rate: expected a finite value > 0, got nan" in err and "--traceback" in err
    with pytest.raises(ValueError, match="learning_rate"):
        main(["--traceback", "run", str(path), "--out", str(tmp_path / "out")])


@pytest.mark.slow
def test_no_traceback_from_a_real_process(tmp_path):
    """``python -m jaxgames`` itself: a UTF-16 config, exit 2, one line, no traceback."""
    utf16 = tmp_path / "c.yaml"
    utf16.write_text("kind: run\n", encoding="utf-16")
    res = subprocess.run(
        [sys.executable, "-m", "jaxgames", "run", str(utf16)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == f"error: {utf16}: the file is UTF-16 encoded; save the config as UTF-8"


# ------------------------------------------------------------------------------ sweeps
def counting_chunks(monkeypatch, delay=0.0):
    """Record every chunk ``_run_chunk`` computes (optionally slowed down so that sweeps overlap)."""
    import time

    computed, real = [], execute._run_chunk

    def run_chunk(config, points, static, idx, every, path):
        computed.append(Path(path).name)
        time.sleep(delay)
        return real(config, points, static, idx, every, path)

    monkeypatch.setattr(execute, "_run_chunk", run_chunk)
    return computed


def test_concurrent_sweeps_compute_each_chunk_once(tmp_path, monkeypatch):
    config = cfg.parse_config(SWEEP, "sweep")
    out, logs = tmp_path / "out", []
    computed = counting_chunks(monkeypatch, delay=0.2)
    rows, start = {}, threading.Barrier(2)

    def sweep(name):
        start.wait()
        rows[name] = execute.run_sweep(config, out, log=logs.append)

    threads = [threading.Thread(target=sweep, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(computed) == [f"chunk_{c:05d}.csv" for c in range(4)], computed  # each chunk once
    assert rows["a"] == rows["b"] and len(rows["a"]) == 4
    assert any("computed by another sweep" in m or "waiting for them" in m for m in logs), logs
    assert not list(out.rglob("*.tmp"))


def test_resume_in_another_precision_is_refused(tmp_path, monkeypatch):
    config = cfg.parse_config(SWEEP, "sweep")
    out = tmp_path / "out"
    execute.run_sweep(config, out, log=lambda m: None)
    meta = json.loads((out / "config.json").read_text())
    assert meta["environment"]["precision"] == results.precision() == "float32"
    computed = counting_chunks(monkeypatch)
    with (
        jax.enable_x64(True),
        pytest.raises(
            cfg.ConfigError,
            match=r"--out .*: precision: holds a sweep computed "
            r"in float32, but this run computes in float64; resume it with "
            r"JAX_ENABLE_X64 unset",
        ),
    ):
        execute.run_sweep(config, out, log=lambda m: None)
    assert computed == []
    # an older record without "precision" is read from its x64 flag
    meta["environment"] = {"x64": True}
    (out / "config.json").write_text(json.dumps(meta))
    with pytest.raises(cfg.ConfigError, match="holds a sweep computed in float64.*JAX_ENABLE_X64=1"):
        execute.run_sweep(config, out, log=lambda m: None)


def test_disk_full_is_reported_leaves_no_tmp_and_resumes(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, "sweep.yaml", SWEEP)
    out = tmp_path / "out"
    real, calls = results.os.fdopen, []

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    def fdopen(fd, *args, **kwargs):  # config.json, chunk 0, then the disk is full
        calls.append(fd)
        f = real(fd, *args, **kwargs)
        return Full(f) if len(calls) >= 3 else f

    monkeypatch.setattr(results.os, "fdopen", fdopen)
    err = cli_error(capsys, "sweep", path, "--out", out)
    assert f"error: {out / 'chunks' / 'chunk_00001.csv'}: could not write the file: No space left on device" in err
    assert not list(out.rglob("*.tmp")), "the failed write cleaned up after itself"
    assert (out / "chunks" / "chunk_00000.csv").exists() and not (out / "results.csv").exists()
    monkeypatch.setattr(results.os, "fdopen", real)
    stale = out / "chunks" / ".chunk_00002.csv.killed.tmp"  # as if killed mid-write
    stale.write_text("half a")
    (out / ".results.csv.killed.tmp").write_text("half a")
    capsys.readouterr()
    assert main(["sweep", str(path), "--out", str(out)]) == 0
    assert "resumed: 1 of 4 grid points were already on disk" in capsys.readouterr().err
    assert not list(out.rglob("*.tmp")), "stale temporary files are removed on resume"
    assert len(results.read_csv(out / "results.csv")) == 4


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_result_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        out = tmp_path / "out"
        execute.run_sweep(
            cfg.parse_config({**SWEEP, "grid": {"solver.learning_rate": [0.1]}}, "sweep"), out, log=lambda m: None
        )
        results.write_json(tmp_path / "x.json", {})
    finally:
        os.umask(old)
    for path in [out / "config.json", out / "results.csv", out / "chunks" / "chunk_00000.csv", tmp_path / "x.json"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
