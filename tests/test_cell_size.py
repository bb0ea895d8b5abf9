"""Every test cell of every source notebook fits on one screen: at most 40 lines of at most 100 columns,
its hidden part included. Long expected values live in course_utils/expected_<id>.py (written by
course_utils.instructor.expected), shared helpers in course_utils.checks."""
import nbformat
import pytest

from conftest import ASSIGNMENTS, ROOT

MAX_LINES, MAX_COLUMNS = 40, 100


def cells_of(aid):
    nb = nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            yield meta["grade_id"], cell.source.split("\n")


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_every_test_cell_fits_on_one_screen(aid):
    too_big = []
    for grade_id, lines in cells_of(aid):
        wide = [f"line {n} has {len(line)} columns" for n, line in enumerate(lines, 1) if len(line) > MAX_COLUMNS]
        long = [f"{len(lines)} lines"] if len(lines) > MAX_LINES else []
        if long or wide:
            too_big.append(f"  {grade_id}: " + "; ".join(long + wide))
    assert not too_big, (f"solutions/{aid}/{aid}.ipynb: test cells larger than {MAX_LINES} lines of "
                         f"{MAX_COLUMNS} columns:\n" + "\n".join(too_big))
