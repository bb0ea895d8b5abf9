"""The student notebooks are generated from the sources, in sync, and leak nothing."""
import re
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor import release
from conftest import ASSIGNMENTS

ROOT = release.ROOT
BLOCK = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)
MARKERS = re.compile(r"BEGIN (SOLUTION|HIDDEN TESTS)|END (SOLUTION|HIDDEN TESTS)")


def load(kind, aid):
    return nbformat.read(ROOT / kind / aid / f"{aid}.ipynb", as_version=4)


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def _lines(text):
    """Non-trivial lines, without trailing comments."""
    lines = (ln.split("  #")[0].strip() for ln in text.splitlines())
    return {ln for ln in lines if len(ln) >= 16}


def secret_lines(source_nb):
    """Lines of solutions, hidden tests and model answers that appear nowhere else in the source:
    none of them may reach students."""
    secret, public = set(), set()
    for cell in source_nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "markdown" and meta.get("solution"):
            secret |= _lines(cell.source)
        else:
            secret |= {ln for _, body in BLOCK.findall(cell.source) for ln in _lines(body)}
            public |= _lines(BLOCK.sub("", cell.source))
    return secret - public


def test_every_assignment_has_a_release():
    assert ASSIGNMENTS, "no solutions/<id>/<id>.ipynb found"
    for aid in ASSIGNMENTS:
        assert (ROOT / "notebooks" / aid / f"{aid}.ipynb").is_file(), f"run: python -m course_utils.release {aid}"


@pytest.mark.slow
def test_releases_are_in_sync_with_sources():
    diffs = release.differences()
    assert not diffs, "notebooks/ is out of date; run `python -m course_utils.release`:\n" + "\n".join(diffs)


def test_no_markers_in_anything_students_receive():
    for path in list((ROOT / "notebooks").rglob("*")) + list((ROOT / "course_utils").rglob("*.py")):
        if path.is_file():
            assert not MARKERS.search(path.read_text(errors="ignore")), f"solution or hidden-test marker in {path}"


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_release_contains_no_solution_or_hidden_test(aid):
    secrets = secret_lines(load("solutions", aid))
    assert secrets, "the source has no solutions: the check below would be vacuous"
    released = "\n".join(cell.source for cell in load("notebooks", aid).cells)
    leaked = sorted(line for line in secrets if line in released)
    assert not leaked, f"{aid}: lines of solutions or hidden tests appear in the release:\n" + "\n".join(leaked)


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_release_structure(aid):
    source, student = load("solutions", aid), load("notebooks", aid)
    assert student.cells[0].get("id") == release.BADGE_ID, "a release starts with its Colab badge"
    assert [nbgrader_meta(c).get("grade_id") for c in source.cells] == \
           [nbgrader_meta(c).get("grade_id") for c in student.cells[1:]]
    grade_ids = [nbgrader_meta(c)["grade_id"] for c in source.cells if nbgrader_meta(c)]
    assert len(grade_ids) == len(set(grade_ids)), "grade ids must be unique"
    stub = 'raise NotImplementedError("Not done yet'
    for cell in student.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            assert "execution" not in cell.metadata and "ExecuteTime" not in cell.metadata
        if meta.get("solution") and cell.cell_type == "code":
            assert stub in cell.source, f"{meta['grade_id']}: solution cell without the stub"
        if meta.get("solution") and cell.cell_type == "markdown":
            assert cell.source.strip() == "YOUR ANSWER HERE"
        if meta.get("grade"):
            assert meta.get("points", 0) > 0, f"{meta['grade_id']}: a grade cell needs points"
        if meta.get("grade") and not meta.get("solution"):
            assert meta.get("locked"), f"{meta['grade_id']}: test cells must be locked"


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_every_autograded_solution_is_tested(aid):
    """Each solution cell is followed (before the next solution) by at least one test cell."""
    cells = [nbgrader_meta(c) for c in load("solutions", aid).cells]
    pending = None
    for meta in cells:
        if meta.get("solution") and not meta.get("grade"):
            assert pending is None, f"{pending} has no test cell before the next solution"
            pending = meta["grade_id"]
        elif meta.get("grade") and not meta.get("solution"):
            pending = None
    assert pending is None, f"{pending} has no test cell"
