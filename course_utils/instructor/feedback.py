"""Per-student feedback as HTML, without the hidden tests.

nbgrader's own ``generate_feedback`` shows the hidden tests: they are in the restored test
cells, and in the tracebacks of failed ones. Here each test cell shows the *release's* source
(visible tests only) and only the outputs produced before the hidden tests began (the grading
guard marks that point). A failure is shown as its error message only, never a traceback; a
failure inside the hidden tests is shown as "A hidden test failed", plus the check's
``Likely mistake:`` sentence when it recognised one. The student's own cells keep their code
but not their outputs (which could print what the hidden tests left in memory); a cell that
failed while graded says so in one line.
"""

import copy
from pathlib import Path

import nbformat

from . import nbmeta, guard
from ..checks import MISTAKE_PREFIX
from .release import NOTEBOOKS
from .report import likely_mistakes

_ARM_FIRST_LINE = guard.arm_source("x").splitlines()[0]


def _error(ename, message):
    return nbformat.v4.new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


def _test_outputs(outputs, passed):
    """The outputs of a test cell up to the hidden tests, and a verdict without their code."""
    kept, hidden, errors = [], False, []
    for out in outputs:
        if guard.is_guard_output(out):
            hidden = hidden or bool(out.data[guard.MIME].get("hidden"))
        elif out.output_type == "error":
            errors.append((out, hidden))
        elif not hidden:
            kept.append(out)
    visible_errors = [o for o, in_hidden in errors if not in_hidden]
    if visible_errors:
        first = visible_errors[0]
        kept.append(_error(first.ename, first.evalue or "the cell was stopped"))
    elif errors:
        mistakes = [f"{MISTAKE_PREFIX} {m}" for _, m in likely_mistakes(nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(outputs=[o for o, _ in errors])]))]
        kept.append(_error("HiddenTestFailed", "\n".join(["A hidden test failed."] + mistakes)))
    elif passed:
        kept.append(nbformat.v4.new_output("stream", name="stdout", text="All tests of this cell passed.\n"))
    return kept


def feedback_notebook(nb, release, result, tests):
    """The student's graded notebook with the hidden tests left out, and a score table on top."""
    meta = [nbmeta.meta(c) for c in release.cells]
    locked = {m["grade_id"]: c for m, c in zip(meta, release.cells) if m.get("locked") or m.get("grade_id") in tests}
    got = sum(s for s, _ in result.scores.values())
    rows = [f"| `{g}` | {result.scores[g][0]:g} / {p:g} |" for g, p in tests.items()]
    header = [f"# Feedback: {result.student}", "",
              f"**Autograded score: {got:g} / {sum(tests.values()):g}.** Written answers are graded by hand.", "",
              "| test | points |", "|---|---:|", *rows]
    if result.notes:
        header += ["", "Notes:", *[f"- {n}" for n in result.notes]]
    header += ["", "Outputs of your own cells are left out here: run your notebook to see them."]
    cells = [nbformat.v4.new_markdown_cell("\n".join(header))]
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(_ARM_FIRST_LINE):
            continue  # the grader's own cell
        cell = copy.deepcopy(cell)
        gid = nbmeta.grade_id(cell)
        if cell.cell_type == "code":
            if gid in tests:
                cell.outputs = _test_outputs(cell.outputs, result.scores[gid][0] >= tests[gid])
            else:
                cell.outputs = [_error(o.ename, (o.evalue or "").splitlines()[0][:200] if o.evalue else "")
                                for o in cell.outputs if o.output_type == "error"][:1]
        if gid in locked:
            cell.source = locked[gid].source
        cell.metadata = {}
        cells.append(cell)
    out = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(release.metadata))
    return out


def write_all(dest, assignment, results, tests):
    """``dest/<student>.html`` for every graded student."""
    from nbconvert import HTMLExporter

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    release = nbformat.read(NOTEBOOKS / assignment / f"{assignment}.ipynb", as_version=4)
    exporter = HTMLExporter()
    for r in results.values():
        if r.notebook is not None:
            nb = feedback_notebook(nbformat.read(r.notebook, as_version=4), release, r, tests)
        elif r.scores:  # graded but failed: say why
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
                f"# Feedback: {r.student}\n\nYour notebook could not be graded: {r.error}. "
                f"Autograded score: 0 / {sum(tests.values()):g}. Please talk to your instructor.")])
        else:
            continue  # not graded at all (unreadable file): the instructor sorts that out first
        html, _ = exporter.from_notebook_node(nb)
        (dest / f"{r.student}.html").write_text(html)
