"""The tutorial notebooks in ``notebooks/`` execute without errors and are committed without outputs.

Each notebook asserts the behaviour it illustrates, so a regression in the library fails here.

The code cells run in order, in a fresh namespace, in the test process (``run_notebook``), as a kernel would
run them, with the test processes' quick compile flags (conftest.py) as the kernels had: no kernel process, so
no second start of Python, JAX and the library per notebook, and the small programs that several notebooks
compile alike are compiled once per test process. The cells must be plain Python (no IPython magics), and
the process-wide state a notebook may set (``jax_enable_x64`` in 07, the working directory, matplotlib's
figures and settings) is restored after it.
Needs ``nbformat`` and ``matplotlib`` (the ``test`` extras).
"""

import ast
from pathlib import Path

import jax
import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def _ids(path: Path) -> str:
    return path.stem


def code_cells(path: Path) -> list[tuple[int, str]]:
    """``(index, source)`` of each code cell, in order."""
    nb = nbformat.read(path, as_version=4)
    return [(index, cell.source) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def run_notebook(path: Path) -> dict:
    """Run the code cells of ``path`` in order in one fresh namespace (a kernel's ``__main__``); return it.
    A failing cell raises its own exception, with the notebook and the cell's index in a note."""
    namespace = {"__name__": "__main__"}
    for index, source in code_cells(path):
        try:
            code = compile(source, f"{path.name}, code cell {index}", "exec")
        except SyntaxError as err:
            err.add_note(f"{path.name}: code cell {index} is not plain Python (no IPython magics here)")
            raise
        try:
            exec(code, namespace)
        except Exception as err:
            err.add_note(f"{path.name}: code cell {index} failed")
            raise
    return namespace


def test_notebooks_exist():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: code cell {index} has outputs; clear them"
            assert cell.execution_count is None, f"{path.name}: code cell {index} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_cells_are_plain_python(path):
    for index, source in code_cells(path):
        try:
            ast.parse(source)
        except SyntaxError as err:
            raise AssertionError(f"{path.name}: code cell {index} is not plain Python (an IPython magic?)") from err


def test_the_runner_shares_names_across_cells_and_names_a_failing_cell(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("x = 1")]
    nb.cells.append(nbformat.v4.new_code_cell("y = x + 2"))
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    assert run_notebook(path)["y"] == 3
    nb.cells.append(nbformat.v4.new_code_cell("assert y == 4"))
    nbformat.write(nb, path)
    with pytest.raises(AssertionError) as info:
        run_notebook(path)
    assert info.value.__notes__ == ["t.ipynb: code cell 3 failed"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_executes(path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no display needed
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(NOTEBOOK_DIR)  # a kernel's working directory
    x64 = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)  # a fresh kernel's default
    try:
        with matplotlib.rc_context():
            run_notebook(path)
    finally:
        jax.config.update("jax_enable_x64", x64)
        plt.close("all")
