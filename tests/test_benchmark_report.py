"""benchmarks/report.py: the committed README is what the committed result files give, and bad files fail clearly."""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "report.py"


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("benchmark_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture
def reported(tmp_path, report):
    """A copy of the committed result files, to damage."""
    folder = tmp_path / "reported"
    shutil.copytree(report.REPORTED_DIR, folder)
    return folder


def test_readme_is_generated_from_the_committed_results(report):
    assert sorted(report.REPORTED_DIR.glob("*.json")), "no committed result files"
    assert report.build() == report.README.read_text(), (
        "benchmarks/README.md differs from the committed results: run python benchmarks/report.py"
    )


@pytest.mark.slow
def test_check_mode_from_the_command_line(tmp_path, reported):
    ok = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    stale = tmp_path / "README.md"
    stale.write_text("# hand-edited\n")
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--reported", str(reported), "--output", str(stale)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "out of date" in out.stderr


def test_invalid_json_is_named(reported):
    (reported / "bench_nfsp.json").write_text('{"machine": {')
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--reported", str(reported), "--output", str(reported / "README.md")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "bench_nfsp.json: not a readable JSON file" in out.stderr
    assert not (reported / "README.md").exists()


@pytest.mark.parametrize(
    "name, path, field",
    [
        ("bench_nfsp.json", ("ours_to_target",), "ours_to_target"),
        ("bench_mccfr.json", ("summary", "batched", "os", "leduc_poker", "cpp"), "summary.batched.os.leduc_poker.cpp"),
        ("bench_psro.json", ("reference",), "reference"),
    ],
)
def test_missing_field_is_named(report, reported, name, path, field):
    data = json.loads((reported / name).read_text())
    node = data
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    (reported / name).write_text(json.dumps(data))
    with pytest.raises(report.ReportError, match=f"{name}: missing field '{field}'"):
        report.build(reported)


def test_non_numeric_field_and_non_object(report, reported):
    data = json.loads((reported / "bench_nfsp.json").read_text())
    data["target_exploitability"] = "small"
    (reported / "bench_nfsp.json").write_text(json.dumps(data))
    with pytest.raises(report.ReportError, match="'target_exploitability' must be a number"):
        report.build(reported)
    (reported / "bench_nfsp.json").write_text("[1, 2]")
    with pytest.raises(report.ReportError, match="top level must be a JSON object"):
        report.build(reported)


def test_unknown_file_and_duplicate_runs_are_refused(report, reported):
    (reported / "bench_unknown.json").write_text("{}")
    with pytest.raises(report.ReportError, match="bench_unknown.json: no benchmark writes"):
        report.build(reported)
    (reported / "bench_unknown.json").unlink()
    shutil.copyfile(reported / "bench_mccfr.json", reported / "bench_mccfr_quick.json")
    with pytest.raises(report.ReportError, match="bench_mccfr_quick.json: a full run .* remove the quick one"):
        report.build(reported)


def test_targets_follow_the_data(report, reported):
    text = report.build(reported)
    row = next(line for line in text.splitlines() if line.startswith("| `bench_nfsp.py` |"))
    assert row.endswith("| **yes** |")
    data = json.loads((reported / "bench_nfsp.json").read_text())
    data["ours_to_target"]["wall_s"] = 75.0
    (reported / "bench_nfsp.json").write_text(json.dumps(data))
    row = next(line for line in report.build(reported).splitlines() if line.startswith("| `bench_nfsp.py` |"))
    assert "75.0 s" in row and row.endswith("| **no** |")


def test_missing_benchmark_is_listed_not_invented(report, reported):
    (reported / "bench_mccfr.json").unlink()
    text = report.build(reported)
    assert "No committed result: run `python benchmarks/bench_mccfr.py`." in text
    assert "bench_mccfr.py` |" not in text  # its targets are not claimed without data


def test_add_replaces_a_quick_run_and_refuses_bad_files(report, reported, tmp_path):
    quick = json.loads((reported / "bench_deep_mean_field.json").read_text())
    (reported / "bench_deep_mean_field.json").rename(reported / "bench_deep_mean_field_quick.json")
    assert "`bench_deep_mean_field_quick.json`, quick run" in report.build(reported)

    bad = tmp_path / "bench_deep_mean_field.json"
    bad.write_text(json.dumps({k: v for k, v in quick.items() if k != "learners"}))
    with pytest.raises(report.ReportError, match="missing field 'learners'"):
        report.add([bad], reported)
    assert (reported / "bench_deep_mean_field_quick.json").exists()
    assert not (reported / "bench_deep_mean_field.json").exists()

    bad.write_text(json.dumps(quick))
    removed = report.add([bad], reported)
    assert [p.name for p in removed] == ["bench_deep_mean_field_quick.json"]
    assert "`bench_deep_mean_field.json`, full run" in report.build(reported)


def test_number_formatting(report):
    assert [report.num(x) for x in (None, 0, 2.5e-5, 0.0431, 12.34, 5542.2, 48331.5, 3.99e6)] == [
        "—",
        "0",
        "2.50e-05",
        "0.0431",
        "12.3",
        "5,542",
        "48.3k",
        "3.99M",
    ]
    assert [report.ratio(x) for x in (0.16, 5.08, 72.16, 3067.0)] == ["0.16x", "5.08x", "72.2x", "3,067x"]
    assert [report.secs(x) for x in (2.04e-5, 0.3322, 9.1)] == ["20.4 us", "332 ms", "9.1 s"]


def _machine(**extra):
    return {
        "cpu_model": "Test CPU",
        "cpu_count": 2,
        "python": "3.11.7",
        "jax": "0.10.2",
        "git_commit": "0" * 40,
        "git_dirty_paths": [],
        "other_processes_cores": 0.0,
        "wall_s": 12.0,
        **extra,
    }


def test_markov_result_in_the_schema_bench_markov_writes(report, reported):
    # keys as bench_markov.py writes them (summary["single"] / ["batch"] / ["vmap"], time_jitted timings)
    timing = {"median_s": 2.0, "compile_s": 3.0, "aot_compile_s": 2.5, "times_s": [2.0]}
    data = {
        "config": {
            "states": 64,
            "actions": 4,
            "iterations": 100,
            "games": 1000,
            "vmap_games": 100,
            "chunk": 256,
            "branching": 4,
            "discount": 0.9,
            "seed": 0,
        },
        "single": {
            "iterations": 100,
            "ours": dict(timing, median_s=0.02, loop_median_s=0.01),
            "nash_conv": 1e-7,
            "scipy": {"median_s": 1.5},
            "max_value_diff": 1e-8,
            "ratio": 75.0,
            "ratio_loop": 150.0,
            "target": 100.0,
        },
        "batch": {
            "games": 1000,
            "iterations": 100,
            "chunk": 256,
            "timing": timing,
            "games_per_s": 500.0,
            "generation_timing": dict(timing, median_s=0.5),
            "solve_games_per_s": 666.7,
            "stage_games_per_s": 4.3e6,
        },
        "vmap": {"games": 100, "iterations": 100, "timing": timing, "games_per_s": 50.0},
        "machine": _machine(scipy="1.14.1"),
    }
    (reported / "bench_markov.json").write_text(json.dumps(data))
    text = report.build(reported)
    row = next(line for line in text.splitlines() if line.startswith("| `bench_markov.py` |"))
    assert "| 75.0x |" in row and row.endswith("| **no** |")
    assert "| speed-up | 75.0x | loop alone 150x |" in text
    assert "scipy 1.14.1" in text and "(idle)" in text
    del data["batch"]["generation_timing"]
    (reported / "bench_markov.json").write_text(json.dumps(data))
    with pytest.raises(report.ReportError, match="missing field 'batch.generation_timing'"):
        report.build(reported)


def test_start_run_records_the_command_that_reproduces_the_run(monkeypatch):
    """``args.command_line``: the script and every option that differs from its default, in order."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    import _common

    monkeypatch.setattr(
        _common,
        "machine_info",
        lambda packages=(): {
            "cpu_model": "x",
            "cpu_count": 2,
            "jax": "0",
            "jax_devices": [],
            "numpy": "0",
            "git_commit": "0" * 9,
            "git_dirty_paths": [],
        },
    )
    monkeypatch.setattr(_common, "warn_if_loaded", lambda info: None)
    monkeypatch.setattr(_common, "wait_for_idle", lambda seconds: None)
    parser = _common.standard_parser("doc")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--games", default="kuhn_poker")
    args, _, _ = _common.start_run(parser, ["--repeats", "3", "--quick", "--games", "leduc_poker", "--wait-idle", "0"])
    assert args.command_line == "python benchmarks/test_benchmark_report.py --quick --repeats 3 --games leduc_poker"
    args, _, _ = _common.start_run(parser, ["--wait-idle", "2.5", "--seed", "7"])
    assert args.command_line == "python benchmarks/test_benchmark_report.py --wait-idle 2.5 --seed 7"
