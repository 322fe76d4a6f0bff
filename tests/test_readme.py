"""The README's and the docs pages' Python examples run as written, and the README's links resolve."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def python_blocks(path: pathlib.Path) -> list[str]:
    """The ```python fenced blocks of a Markdown file, in order."""
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M)


def run_blocks(path: pathlib.Path) -> None:
    namespace = {"__name__": "__main__"}  # a page's blocks are one tutorial: later ones use earlier names
    for block in python_blocks(path):
        exec(compile(block, str(path.relative_to(ROOT)), "exec"), namespace)


@pytest.mark.slow
def test_readme_python_blocks_run(capsys):
    assert python_blocks(README), "README has no python example"
    run_blocks(README)
    assert capsys.readouterr().out.strip(), "the examples print their results"


def test_readme_is_short_and_starts_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    first = re.search(r"```bash\n(.*?)```", text, re.S).group(1).splitlines()
    assert first[0].startswith("pip install . && jaxgames bench")
    assert first[1].startswith('pip install ".[test]" && python -m pytest -q -n 2 tests')


def test_readme_links_resolve():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text(encoding="utf-8"))
    local = [link for link in links if "://" not in link]
    assert local, "README links to the docs pages"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README links to missing files: {missing}"


# A page whose examples are the README's, word for word (docs/index.md), is run by the README's test.
DOC_PAGES = sorted(p for p in DOCS.rglob("*.md") if python_blocks(p) and python_blocks(p) != python_blocks(README))


@pytest.mark.slow
@pytest.mark.parametrize("page", DOC_PAGES, ids=[str(p.relative_to(DOCS)) for p in DOC_PAGES])
def test_docs_python_blocks_run(page):
    run_blocks(page)
