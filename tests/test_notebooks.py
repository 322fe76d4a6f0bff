"""The tutorial notebooks in ``notebooks/`` execute without errors and are committed without outputs.

Each notebook asserts the behaviour it illustrates, so a regression in the library fails here.
Needs ``nbformat``, ``nbclient``, ``ipykernel`` and ``matplotlib`` (the ``test`` extras).
"""

import copy
import os
from pathlib import Path

import nbclient
import nbformat
import pytest

from helpers import older_emitter_flags, quick_compile_flags

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# The kernels compile with the test processes' quick flags (conftest.py): most notebooks' programs run for
# milliseconds and take seconds to compile (01: 26 -> 14 s of CPU, 06: 27 -> 13 s). Those listed here run
# long enough to pay for LLVM's optimizations and keep them, with the quick flags' older CPU emitters
# (helpers.older_emitter_flags: 04: 35 -> 30 s of CPU against XLA's defaults).
OPTIMIZED = {
    "02_hyperparameter_sweep",  # 2 x 512 runs of 5,000 steps in two compiled calls: 2 s more with quick flags
    "04_markov_games_policy_solvers",  # 8 solvers x 8 games x 6,000 steps: 11 s more with quick flags
}


def _ids(path: Path) -> str:
    return path.stem


def test_notebooks_exist():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"
    assert OPTIMIZED <= {path.stem for path in NOTEBOOKS}, "OPTIMIZED names a notebook that is not there"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: code cell {index} has outputs; clear them"
            assert cell.execution_count is None, f"{path.name}: code cell {index} has an execution count"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_executes(path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # inherited by the kernel process: no display needed
    flags = older_emitter_flags() if path.stem in OPTIMIZED else quick_compile_flags()
    monkeypatch.setenv("XLA_FLAGS", (os.environ.get("XLA_FLAGS", "") + " " + flags).strip())
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        copy.deepcopy(nb), timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    executed = client.nb
    for cell in executed.cells:
        if cell.cell_type == "code":
            errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
            assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
