"""``jaxgames run`` of a ``kind: qre_path`` config: the logit QRE path as CSV, a plot and a summary.

The CLI runs in-process (``main([...])``). The CSV must hold exactly the points of
``jaxgames.equilibria.qre_path`` called directly, each point must be a logit QRE of the game (checked
with NumPy from the payoff tables: ``pi_i = softmax(lambda Q_i(pi))``) and the selected equilibrium of
the prisoner's dilemma is (defect, defect). Bad configs fail with ``FILE: FIELD: message`` (exit 2) before
any work; a path that fails is reported with the lambda where it stopped (exit 1, no traceback, no
Nash equilibrium in the summary).
"""

import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import jaxgames.equilibria
from jaxgames.cli import main
from jaxgames.equilibria import FAILED, QREPath
from jaxgames.experiments import config as cfg
from jaxgames.experiments import registry
from jaxgames.experiments.results import read_csv

REPO = Path(__file__).resolve().parents[1]
QRE = {"kind": "qre_path", "game": {"name": "prisoners_dilemma"}, "max_lambda": 1e6, "max_points": 200}


def write(tmp_path, data, name="qre.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def cli_error(capsys, *args, status=2) -> str:
    """Run the CLI in-process, expect ``status`` and one clean error; return stderr."""
    capsys.readouterr()
    assert main([str(a) for a in args]) == status
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


def logit_residual(payoffs: np.ndarray, lam: float, policy: list[np.ndarray]) -> float:
    """``max |pi_i - softmax(lambda Q_i(pi))|`` of a two-player matrix game, in NumPy."""
    q = [payoffs[0] @ policy[1], payoffs[1].T @ policy[0]]
    worst = 0.0
    for qi, pi in zip(q, policy):
        z = np.exp(lam * (qi - qi.max()))
        worst = max(worst, float(np.max(np.abs(pi - z / z.sum()))))
    return worst


@pytest.mark.slow
def test_run_writes_the_path_the_plot_and_the_summary(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(write(tmp_path, QRE)), "max_regret=1e-8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "qre_path on prisoners_dilemma: converged" in printed and "selected Nash" in printed

    rows = read_csv(out / "path.csv")
    assert list(rows[0]) == ["point", "lambda", "temperature", "p0_a0", "p0_a1", "p1_a0", "p1_a1"]
    with jax.enable_x64(True):
        game = registry.build_game("prisoners_dilemma", {})
        path = jaxgames.equilibria.qre_path(game, max_lambda=1e6, max_regret=1e-8, max_points=200)
    count = int(path.num_points)
    assert [int(r["point"]) for r in rows] == list(range(count))
    lams = np.array([float(r["lambda"]) for r in rows])
    np.testing.assert_allclose(lams, np.asarray(path.inverse_temperatures)[:count], rtol=1e-12, atol=0)
    assert lams[0] == 0.0 and rows[0]["temperature"] == "inf" and np.all(np.diff(lams) > 0)
    np.testing.assert_allclose([1 / float(r["temperature"]) for r in rows[1:]], lams[1:], rtol=1e-12)
    for i in range(2):
        table = np.array([[float(r[f"p{i}_a{a}"]) for a in range(2)] for r in rows])
        np.testing.assert_allclose(table, np.asarray(path.policies[i])[:count], rtol=0, atol=1e-12)
    # every point is a logit QRE of the payoff tables (an independent check of the path)
    payoffs = np.asarray(game.payoffs, dtype=float)
    for r in rows:
        policy = [np.array([float(r[f"p{i}_a{a}"]) for a in range(2)]) for i in range(2)]
        assert logit_residual(payoffs, float(r["lambda"]), policy) < 1e-8, r

    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "converged" and summary["num_points"] == count
    assert summary["options"]["max_lambda"] == 1e6 and summary["precision"] == "float64"
    np.testing.assert_allclose(summary["nash"], [[0.0, 1.0], [0.0, 1.0]], atol=1e-8)  # (defect, defect)
    assert summary["nash"] == summary["final_policy"]
    assert 0 <= summary["nash_conv"] <= 1e-8 * 20  # max_regret x the payoff spread
    assert summary["final_lambda"] == pytest.approx(lams[-1], rel=1e-12)
    assert (out / "path.png").stat().st_size > 10_000
    assert json.loads((out / "config.json").read_text())["config"]["kind"] == "qre_path"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"max_lamda": 10}, "max_lamda: unknown field"),
        ({"max_lambda": 0}, "max_lambda: expected a value > 0, got 0.0"),
        ({"max_lambda": -1.0}, "max_lambda: expected a value > 0, got -1.0"),
        ({"max_lambda": True}, "max_lambda: expected a number, got True (bool)"),
        ({"max_regret": -1}, "max_regret: expected a value >= 0, got -1.0"),
        ({"max_points": 2}, "max_points: expected an integer in [3, 1000000], got 2"),
        ({"min_step": 0.5}, "min_step: expected a value below the first arclength step"),
        (
            {"game": {"name": "mfg_stationary_rps_population"}},
            "game.name: 'mfg_stationary_rps_population' has no regularized (logit QRE) form: logit_qre needs",
        ),
        (
            {"game": {"name": "random_general_sum", "params": {"num_actions": 2100}}},
            "game: the QRE path factors a dense linear system of 4201 rows (policy entries)",
        ),
        ({"reference": [[0.5, 0.5]]}, "reference: expected 2 players' policies shaped [(2,), (2,)], got 1"),
        ({"reference": [[0.5, 0.5], [1.0]]}, "reference.1: expected shape (2,) (the game's policy), got (1,)"),
        ({"reference": [[0.5, 0.6], [0.5, 0.5]]}, "reference.0: expected probabilities summing to 1"),
        ({"reference": "centroid"}, "reference: expected 'uniform' or per player nested lists"),
    ],
)
def test_bad_qre_path_configs_name_the_field(tmp_path, capsys, changes, message):
    path = write(tmp_path, {**QRE, **changes})
    assert f"{path}: {message}" in cli_error(capsys, "run", path, "--out", tmp_path / "out")
    assert not (tmp_path / "out" / "path.csv").exists()


def test_qre_path_configs_run_with_run_only(tmp_path, capsys):
    path = write(tmp_path, QRE)
    assert "kind: this is a 'qre_path' config; run it with `jaxgames run`" in cli_error(capsys, "sweep", path)
    err = cli_error(capsys, "run", path, "--checkpoint-every", 5, "--out", tmp_path / "out")
    assert "--checkpoint-every: a qre_path run has no solver steps to checkpoint" in err
    # 1e6 (no dot: a string to PyYAML) is read as the number; a reference may be given per player
    c = cfg.load_config(path, "run", ["max_lambda=1e6", "reference=[[0.9, 0.1], [0.5, 0.5]]"])
    assert isinstance(c, cfg.QREPathConfig) and c.max_lambda == 1e6 and c.reference[0] == [0.9, 0.1]


def test_a_failed_path_names_its_lambda_and_reports_no_nash(tmp_path, capsys, monkeypatch):
    """The path module's failure (status FAILED under jit) as the CLI reports it: a path of three
    points whose step fell below min_step after lambda = 0.25."""

    @functools.wraps(jaxgames.equilibria.qre_path)  # its signature: the defaults of the options
    def failing(game, reference=None, **options):
        lams = jnp.array([0.0, 0.125, 0.25, jnp.nan])
        policy = jnp.array([[0.5, 0.5], [0.45, 0.55], [0.4, 0.6], [jnp.nan, jnp.nan]])
        nan = jnp.full(2, jnp.nan)
        return QREPath(lams, (policy, policy), jnp.asarray(3), (nan, nan), jnp.asarray(jnp.nan), jnp.asarray(FAILED))

    monkeypatch.setattr(jaxgames.equilibria, "qre_path", failing)
    out = tmp_path / "out"
    err = cli_error(capsys, "run", write(tmp_path, QRE), "--out", out, status=1)
    assert "the QRE path of 'prisoners_dilemma' failed after lambda = 0.25 (temperature 4)" in err
    assert "no Nash equilibrium is reported" in err and str(out / "path.csv") in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"].startswith("failed") and summary["nash"] is None and summary["num_points"] == 3
    np.testing.assert_allclose(summary["final_policy"], [[0.4, 0.6], [0.4, 0.6]])
    assert np.isfinite(summary["nash_conv"])  # of the last point reached, not of a nan policy
    assert [r["lambda"] for r in read_csv(out / "path.csv")] == ["0.0", "0.125", "0.25"]


def test_the_shipped_qre_path_config_validates():
    config = cfg.load_config(REPO / "configs" / "qre_path.yaml", "run")
    assert isinstance(config, cfg.QREPathConfig) and config.game.name == "prisoners_dilemma"
    assert cfg.load_config(REPO / "configs" / "qre_path.yaml", "qre_path") == config  # as test_experiments loads it
