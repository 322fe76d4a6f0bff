"""The README's first command: ``python -m jaxgames`` prints the solver x game table."""

import subprocess
import sys

from jaxgames.experiments.classic_table import format_table, solve_classic_games


def test_default_table_runs_small():
    results, timings = solve_classic_games(["regret_matching_plus", "extragradient"],
                                           ["rock_paper_scissors", "prisoners_dilemma", "stag_hunt"],
                                           num_steps=300, seed=0, repeats=1)
    assert results[("rock_paper_scissors", "extragradient")] < 1e-3
    assert results[("prisoners_dilemma", "regret_matching_plus")] < 1e-2
    table = format_table(results, timings, ["regret_matching_plus", "extragradient"],
                         ["rock_paper_scissors", "prisoners_dilemma", "stag_hunt"], 300)
    assert "rock_paper_scissors" in table and "RM+" in table and "compile (s)" in table


def test_cli_entry_point_and_bad_arguments():
    out = subprocess.run([sys.executable, "-m", "jaxgames", "table", "--steps", "20"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "matching_pennies" in out.stdout and "MMD" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "jaxgames", "solve"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "invalid choice: 'solve'" in bad.stderr
