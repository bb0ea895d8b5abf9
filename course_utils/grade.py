"""Autograde submissions with nbgrader in a throw-away course directory (instructor tool).

    scores = autograde("01_attention", {"alice": "alice.ipynb", "bob": nb_object}, workdir)
    scores["alice"]["test_softargmax"]   # -> (score, max_score) of an autograded test cell

Submissions are copied, never modified. Each worker gets its own course directory and
gradebook, so workers can run in parallel.
"""

import concurrent.futures
import shutil
from pathlib import Path

import nbformat

from .release import ROOT, SOLUTIONS, nbgrader

_CONFIG = """\
c = get_config()
load_subconfig(r"{root}/nbgrader_config.py")
c.CourseDirectory.root = r"{workdir}"
c.CourseDirectory.source_directory = r"{solutions}"
c.CourseDirectory.release_directory = "release"
"""


def _course(workdir, assignment):
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "nbgrader_config.py").write_text(
        _CONFIG.format(root=ROOT, workdir=workdir, solutions=SOLUTIONS))
    # generate_assignment records the source cells (and hidden tests) in the gradebook.
    nbgrader("generate_assignment", assignment, "--force", "--log-level=WARN", cwd=workdir)
    return workdir


def _scores(workdir, assignment, students):
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{workdir / 'gradebook.db'}") as gb:
        for student in students:
            nb = gb.find_submission_notebook(assignment, assignment, student)
            # Only autograded test cells; written answers (markdown) are graded by hand.
            out[student] = {g.name: (g.score, g.max_score) for g in nb.grades
                            if g.cell.cell_type == "code"}
    return out


def _autograde_one_course(assignment, submissions, workdir, timeout):
    workdir = _course(workdir, assignment)
    for student, notebook in submissions.items():
        dest = workdir / "submitted" / student / assignment / f"{assignment}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(notebook, nbformat.NotebookNode):
            nbformat.write(notebook, dest)
        else:
            shutil.copyfile(notebook, dest)
    nbgrader("autograde", assignment, "--force", "--log-level=WARN", cwd=workdir, timeout=timeout)
    return _scores(workdir, assignment, submissions)


def autograde(assignment, submissions, workdir, workers=1, timeout=None):
    """Autograde ``submissions`` (student id -> notebook path or NotebookNode).

    Returns ``{student: {grade_id: (score, max_score)}}``. With ``workers > 1`` the students
    are split over that many independent course directories graded at the same time.
    """
    students = sorted(submissions)
    chunks = [students[i::workers] for i in range(workers) if students[i::workers]]
    scores = {}
    with concurrent.futures.ThreadPoolExecutor(len(chunks)) as pool:
        jobs = [pool.submit(_autograde_one_course, assignment, {s: submissions[s] for s in chunk},
                            Path(workdir) / f"worker{i}", timeout)
                for i, chunk in enumerate(chunks)]
        for job in jobs:
            scores.update(job.result())
    return scores


def total(scores):
    """Sum of (score, max_score) over the autograded cells of one student."""
    got = sum(s or 0.0 for s, _ in scores.values())
    return got, sum(m for _, m in scores.values())
