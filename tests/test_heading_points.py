"""Every part of every notebook says in its heading what it is worth, as nbgrader's example course does
("## Part A (2 points)"), and the number is what the nbgrader metadata of the part's cells gives."""
import re

import nbformat
import pytest

from conftest import ASSIGNMENTS, ROOT

POINTS = re.compile(r"\((\d+(?:\.\d+)?) points?\)\s*$")


def parts(nb):
    """[(heading, points of the grade cells under it until the next '## ' heading)] in notebook order."""
    found = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    found.append([line.strip(), 0])
        if meta.get("grade") and found:
            found[-1][1] += meta.get("points", 0)
    return found


@pytest.mark.parametrize("kind", ["solutions", "notebooks"])
@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_each_heading_states_the_points_of_its_part(aid, kind):
    nb = nbformat.read(ROOT / kind / aid / f"{aid}.ipynb", as_version=4)
    sections = parts(nb)
    assert sections, f"{aid}: no '## ' headings"
    first_grade = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade"))
    assert any(c.cell_type == "markdown" and c.source.startswith("## ") for c in nb.cells[:first_grade]), \
        f"{aid}: graded cells before the first '## ' heading belong to no part"
    problems = []
    for heading, points in sections:
        stated = POINTS.search(heading)
        want = f"{points:g} point{'s' if points != 1 else ''}"
        if points and not stated:
            problems.append(f"{heading!r}: missing its points, add ({want})")
        elif stated and float(stated.group(1)) != points:
            problems.append(f"{heading!r}: states {stated.group(1)}, its cells give ({want})")
        elif stated and not points:
            problems.append(f"{heading!r}: states points, but no cell of this part is graded")
    assert not problems, f"{kind}/{aid}:\n" + "\n".join(problems)
    total = sum(c.metadata.get("nbgrader", {}).get("points", 0) for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade"))
    assert sum(p for _, p in sections) == total, f"{aid}: the parts' points do not add up to the total {total}"
