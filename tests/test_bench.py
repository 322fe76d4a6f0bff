"""``jaxgames bench``: every family in the built-in suites, the files and the summary figure, the checks."""

import csv
import json
from dataclasses import replace
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml

from jaxgames.cli import main
from jaxgames.experiments import bench, registry
from jaxgames.experiments import config as cfg
from jaxgames.experiments.timing import Timing

REPO = Path(__file__).resolve().parents[1]

#: The built-in bench, cut down by command-line overrides to one small game and one solver per
#: suite, two step counts and two games per batch: the README's first command, in a few seconds.
REDUCED_DEFAULT = [
    "steps=[2,4]",
    "suites.0.steps=[2,4]",
    "num_games=2",
    "repeats=1",
    "suites.0.games=[{name: random_zero_sum, params: {num_actions: 3}}]",
    "suites.0.solvers=[{name: regret_matching_plus}]",
    "suites.1.games=[{name: kuhn_poker}]",
    "suites.1.solvers=[{name: cfr}]",
    "suites.2.games=[{name: markov_random_zero_sum, params: {num_states: 3, num_actions: 2}}]",
    "suites.2.solvers=[{name: markov_fictitious_play}]",
    "suites.3.games.0.params={size: 5, horizon: 4}",
    "suites.3.solvers=[{name: mmd}]",
]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def curves_of(path):
    return [
        {**r, "step": int(r["step"]), "seconds": float(r["seconds"]), "exploitability": float(r["exploitability"])}
        for r in read_csv(path)
    ]


def test_the_default_bench_has_one_suite_per_family():
    """The built-in suites (as shipped) cover the four game families, one family per suite."""
    assert yaml.safe_load((REPO / "configs" / "bench_default.yaml").read_text()) == bench.DEFAULT_BENCH
    config = cfg.BenchConfig.model_validate(bench.DEFAULT_BENCH)

    def family(g):  # the game's model class, traced (nothing computed)
        return bench.game_family(jax.eval_shape(lambda: registry.build_game(g.name, g.params, jax.random.key(0))))

    families = [{family(g) for g in s.games} for s in config.suites]
    assert families == [{"matrix"}, {"efg"}, {"markov"}, {"mean_field"}]
    assert {g.name for s in config.suites for g in s.games} >= {"kuhn_poker", "leduc_poker", "mfg_crowd_modelling"}


@pytest.mark.slow
def test_default_bench_reduced_writes_rows_of_every_family_plots_and_summary(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", *REDUCED_DEFAULT, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    rows = read_csv(out / "results.csv")
    suites = [s["name"] for s in bench.DEFAULT_BENCH["suites"]]
    assert [r["suite"] for r in rows] == suites
    assert [r["family"] for r in rows] == ["matrix", "efg", "markov", "mean_field"]
    for r in rows:
        e2, e4 = float(r["exploitability@2_steps"]), float(r["exploitability@4_steps"])
        assert 0 <= e4 < e2 < np.inf, r
        assert float(r["compile_s"]) > 0 and float(r["run_s"]) > 0 and int(r["num_games"]) >= 1
    assert [int(r["num_games"]) for r in rows] == [2, 1, 2, 1]  # suites with num_games: 1 keep it
    for game in ["random_zero_sum", "kuhn_poker", "markov_random_zero_sum", "mfg_crowd_modelling"]:
        assert (out / f"exploitability_{game}.png").stat().st_size > 10_000
    assert (out / "summary.png").stat().st_size > 20_000
    figure = bench.summary_figure(curves_of(out / "curves.csv"))
    assert len(figure.axes) == 4, "one panel per family"
    assert [ax.get_title() for ax in figure.axes] == suites
    run = json.loads((out / "run.json").read_text())
    assert run["checks_failed"] == [] and run["compile_s"] > run["run_s"] > 0
    for suite in suites:
        assert f"{suite}: median exploitability over" in text


def fake_measurements(config, drop_suite=None):
    """Measurements of ``config`` with made-up curves (no solver runs), one suite left out if asked."""
    out = []
    for suite, game, solver in config.pairs():
        if suite.name == drop_suite:
            continue
        steps = np.arange(1, max(suite.steps) + 1)
        expl = np.tile(1.0 / steps, (suite.num_games, 1))
        out.append(
            bench.Measurement(
                suite.name,
                game.title,
                solver.title,
                "matrix",
                steps,
                expl,
                np.zeros_like(expl, bool),
                0.5,
                Timing((0.01, 0.02), 1.0),
            )
        )
    return out


def test_check_fails_when_a_family_is_missing_or_a_value_is_wrong():
    config = cfg.BenchConfig.model_validate(
        {
            **bench.DEFAULT_BENCH,
            "steps": [2, 4],
            "budgets_s": [1.0],
            "suites": [dict(s, steps=[2, 4]) for s in bench.DEFAULT_BENCH["suites"]],
        }
    )
    complete = fake_measurements(config)
    assert bench.check(complete, config) == []
    problems = bench.check(fake_measurements(config, drop_suite="random Markov games"), config)
    assert problems[0] == "suite 'random Markov games': nothing was measured"
    assert (
        "suite 'random Markov games': solver 'minimax_value_iteration' on game 'markov_random_zero_sum' was not "
        "measured" in problems
    )
    m = complete[0]
    nan = m.exploitability.copy()
    nan[1, -1] = np.nan
    assert [x.solver for x in complete[:4]] == [
        "fictitious_play",
        "regret_matching",
        "regret_matching_plus",
        "mirror_descent",
    ]
    broken = [
        replace(m, exploitability=nan),
        replace(m, solver="regret_matching", exploitability=-m.exploitability),
        replace(m, solver="regret_matching_plus", steps=m.steps * 3),
        replace(m, solver="mirror_descent", compile_s=0.0),
    ]
    problems = bench.check(broken + complete[4:], config)
    assert "fictitious_play on random_zero_sum_10x10: exploitability is not finite in 1 of 32 game(s)" in problems
    assert any(p.startswith("regret_matching on random_zero_sum_10x10: negative exploitability") for p in problems)
    assert "regret_matching_plus on random_zero_sum_10x10: no evaluation at step(s) [2, 4]" in problems
    assert any(p.startswith("mirror_descent on random_zero_sum_10x10: compile time 0.0") for p in problems)
    assert len(problems) == 4, problems
    assert len(bench.check(complete[:-1] + complete[:1], config)) == 2  # the last missing, the first twice


def test_a_failed_check_exits_1_after_writing_the_results(tmp_path, capsys, monkeypatch):
    data = {
        "kind": "bench",
        "games": [{"name": "matching_pennies"}],
        "solvers": [{"name": "mmd"}, {"name": "cfr"}],
        "steps": [2, 4],
        "budgets_s": [1.0],
    }
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setattr(bench, "measure", lambda config, progress=None: fake_measurements(config)[:1])
    assert main(["bench", str(path), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert "check failed: suite 'bench': solver 'cfr' on game 'matching_pennies' was not measured" in captured.out
    assert "1 check(s) failed" in captured.err
    assert len(read_csv(tmp_path / "out" / "results.csv")) == 1
    assert (tmp_path / "out" / "summary.png").exists()


def test_bench_config_suites_and_the_top_level_form():
    legacy = cfg.BenchConfig.model_validate(
        {"games": [{"name": "matching_pennies"}], "solvers": [{"name": "mmd"}], "num_games": 3}
    )
    assert [(s.name, s.num_games, s.steps) for s in legacy.suites] == [("bench", 3, [10, 100, 1000])]
    assert legacy.start == "random"
    two = {"name": "b", "games": [{"name": "kuhn_poker"}], "solvers": [{"name": "cfr"}], "steps": [5]}
    config = cfg.BenchConfig.model_validate(
        {
            "suites": [{"name": "a", "games": [{"name": "matching_pennies"}], "solvers": [{"name": "mmd"}]}, two],
            "steps": [1, 2],
        }
    )
    assert [s.steps for s in config.suites] == [[1, 2], [5]]
    assert [(s.name, g.name, v.name) for s, g, v in config.pairs()] == [
        ("a", "matching_pennies", "mmd"),
        ("b", "kuhn_poker", "cfr"),
    ]
    for data, message in [
        ({"games": [{"name": "matching_pennies"}]}, "b.yaml: solvers: required field is missing"),
        ({"suites": [two], "games": [{"name": "matching_pennies"}]}, "b.yaml: games: give `suites`, or `games`"),
        ({"suites": [two, two]}, "b.yaml: suites.1.name: 'b' is also the name of suites.0"),
        (
            {"suites": [dict(two, games=[{"name": "kuhn_poker"}, {"name": "kuhn_poker"}])]},
            "b.yaml: suites.0.games.1: 'kuhn_poker' is also the title of suites.0.games.0; give one of them a `label`",
        ),
        ({"suites": [dict(two, num_games=0)]}, "b.yaml: suites.0.num_games: expected an integer >= 1, got 0"),
        (
            {"suites": [dict(two, solvers=[{"name": "minimax_value_iteration"}])]},
            "b.yaml: suites.0.solvers.0.name (on suites.0.games.0): "
            "solver 'minimax_value_iteration' cannot run on game 'kuhn_poker'",
        ),
        ({"suites": [two], "start": "best"}, "b.yaml: start: Input should be 'random' or 'uniform'"),
    ]:
        with pytest.raises(cfg.ConfigError) as info:
            cfg.parse_config({"kind": "bench", **data}, "bench", "b.yaml")
        assert message in str(info.value)


def test_overrides_reach_into_lists_without_changing_the_default():
    before = json.dumps(bench.DEFAULT_BENCH, sort_keys=True)
    data = cfg.apply_overrides(bench.DEFAULT_BENCH, ["suites.1.num_games=4", "suites.0.games.1.params.num_responses=3"])
    assert data["suites"][1]["num_games"] == 4 and data["suites"][0]["games"][1]["params"] == {"num_responses": 3}
    assert json.dumps(bench.DEFAULT_BENCH, sort_keys=True) == before
    with pytest.raises(
        cfg.ConfigError,
        match=r"override 'suites\.9\.num_games=1': suites\.9: expected an index of "
        r"the list, 0 to 3",
    ):
        cfg.apply_overrides(bench.DEFAULT_BENCH, ["suites.9.num_games=1"])
