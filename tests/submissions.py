"""Synthetic student submissions for the grading tests and the grading benchmark.

A "student" notebook starts from the release, as a real one does, and has the solution's code
typed into its answer cells; mutants and extra lines are then patched in.
"""
import json
from pathlib import Path

import nbformat

from course_utils.instructor.expected import load_mutants  # noqa: F401 (the tests' one reader of tests/mutants/)

ROOT = Path(__file__).resolve().parents[1]


def load(kind, aid):
    return nbformat.read(ROOT / kind / aid / f"{aid}.ipynb", as_version=4)


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def student(aid, patch=(), prepend=None, append=None):
    """The release with the solution typed in, then ``patch`` = [(grade_id, old, new)] applied.

    ``prepend`` / ``append``: {grade_id: code} added before / after an answer cell's code.
    """
    nb, solution = load("notebooks", aid), load("solutions", aid)
    for c in solution.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("solution") and c.cell_type == "code":
            cell(nb, meta["grade_id"]).source = c.source
    for grade_id, old, new in patch:
        target = cell(nb, grade_id)
        assert target.source.count(old) == 1, f"{old!r} not found once in {grade_id}"
        target.source = target.source.replace(old, new)
    for grade_id, code in (prepend or {}).items():
        cell(nb, grade_id).source = code + "\n" + cell(nb, grade_id).source
    for grade_id, code in (append or {}).items():
        cell(nb, grade_id).source += "\n" + code
    return nb


def mutant(aid, *names):
    mutants = load_mutants(aid)
    return [p for name in names for p in mutants[name]["patch"]]


def colab(nb):
    """What Colab or an LMS hands back: no nbgrader metadata, no cell ids, nbformat 4.0."""
    data = json.loads(nbformat.writes(nb))
    data["nbformat_minor"] = 0
    data["metadata"] = {"colab": {"provenance": []}, "kernelspec": {"name": "python3", "display_name": "Python 3"}}
    for i, c in enumerate(data["cells"]):
        c.pop("id", None)
        c["metadata"] = {"id": f"colab{i:04d}"}  # Colab keeps its own ids in the metadata
    return nbformat.reads(json.dumps(data), as_version=4)


def hidden_lines(aid, min_len=12):
    """Every line of every hidden test of a source notebook (what feedback must not show)."""
    lines = set()
    for c in load("solutions", aid).cells:
        inside = False
        for line in c.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= min_len:
                lines.add(line.strip())
    return lines
