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

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
# The kernels compile without XLA's LLVM optimization passes, as the test processes do (conftest.py): the
# notebooks' programs run for milliseconds and take seconds to compile (01, 03, 05, 06: 7-10 s of CPU less
# each). Those listed here run long enough to pay for the optimization and keep XLA's default.
OPTIMIZED = {"04_markov_games_policy_solvers"}  # 8 solvers x 8 games x 6,000 steps: 3x slower unoptimized


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
    if path.stem not in OPTIMIZED:
        flags = os.environ.get("XLA_FLAGS", "")
        monkeypatch.setenv("XLA_FLAGS", (flags + " --xla_backend_optimization_level=0").strip())
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
