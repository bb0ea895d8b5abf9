"""The expected values of the visible tests (course_utils/expected_<id>.py) are what
course_utils.instructor.expected computes from the solution and the mutants.

The fast tests read the files only. The slow one runs the script, which executes notebook code: the setup,
helper and solution cells and the visible part of the test cells (no training)."""
import importlib

import nbformat
import pytest

from conftest import ASSIGNMENTS, ROOT
from course_utils.instructor import expected

WITH_EXPECTED = [aid for aid in ASSIGNMENTS if expected.module_path(aid).is_file()]


def cells_and_keys(aid):
    nb = nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", as_version=4)
    return [(expected.meta(c)["grade_id"], expected.keys_in(c)) for c in nb.cells if expected.is_test(c)]


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_every_key_a_test_cell_reads_is_in_the_module(aid):
    wanted = {grade_id: keys for grade_id, keys in cells_and_keys(aid) if keys}
    if not wanted:
        return
    module = importlib.import_module(f"course_utils.expected_{aid}")
    missing = [f"{grade_id}: {key!r}" for grade_id, keys in wanted.items() for key in keys
               if key not in getattr(module, grade_id, {})]
    assert not missing, (f"run python -m course_utils.instructor.expected {aid}; missing:\n" + "\n".join(missing))


@pytest.mark.parametrize("aid", WITH_EXPECTED)
def test_one_row_per_line(aid):
    wide = [n for n, line in enumerate(expected.module_path(aid).read_text().splitlines(), 1)
            if len(line) > expected.WIDTH]
    assert not wide, f"course_utils/expected_{aid}.py: lines wider than {expected.WIDTH} columns: {wide}"


@pytest.mark.slow
@pytest.mark.parametrize("aid", WITH_EXPECTED)
def test_expected_values_are_up_to_date(aid):
    assert expected.up_to_date(expected.module_path(aid), expected.module_text(aid)), \
        f"course_utils/expected_{aid}.py is out of date: run python -m course_utils.instructor.expected {aid}"


def test_literal_writes_one_row_per_line():
    import torch
    value = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    head = '    ("A", "a_mistake"): '
    text = expected.literal(value, head)
    lines = text.splitlines()
    assert lines[0] == "tensor([" and len(lines) == 1 + 2 * 3 * 4
    assert all(len(line) <= expected.WIDTH for line in lines)
    got = eval(text, {"tensor": torch.tensor, "float64": torch.float64})
    assert got.dtype == torch.float64 and torch.allclose(got, value, rtol=1e-7, atol=0)
    assert expected.literal(torch.tensor([1.0, 2.0]), head, ",") == "tensor([1.0, 2.0]),"
    assert expected.literal(torch.tensor(0.25), head) == "0.25"


def test_check_ignores_rounding_in_the_last_digit_only(tmp_path):
    text = 'test_x = {\n    "A": tensor([0.12345678, 1.0]),\n}\n'
    header = "from torch import float64, tensor\n"
    path = tmp_path / "expected_x.py"
    path.write_text(header + text.replace("0.12345678", "0.12345679"))
    assert expected.up_to_date(path, header + text)
    path.write_text(header + text.replace("0.12345678", "0.12346"))
    assert not expected.up_to_date(path, header + text)
    path.write_text(header + text.replace('"A"', '"B"'))
    assert not expected.up_to_date(path, header + text)
