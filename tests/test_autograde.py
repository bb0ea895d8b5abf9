"""A real `nbgrader autograde` of the release, the solution and every mutant.

- the untouched release scores 0 autograded points;
- the solution scores full marks;
- each mutant (tests/mutants/<id>.py) loses the points of the tests that should catch it.
"""
import nbformat
import pytest

from course_utils.instructor import grade
from course_utils.instructor.expected import patched as apply_patch
from conftest import ASSIGNMENTS, ROOT
from submissions import load_mutants

WITH_MUTANTS = [aid for aid in ASSIGNMENTS if (ROOT / "tests" / "mutants" / f"{aid}.py").is_file()]


def test_every_assignment_has_mutants():
    assert WITH_MUTANTS == ASSIGNMENTS, "add tests/mutants/<id>.py for every assignment"


@pytest.fixture(scope="module", params=WITH_MUTANTS)
def graded(request, tmp_path_factory):
    aid = request.param
    solution = nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", as_version=4)
    mutants = load_mutants(aid)
    submissions = {"release": ROOT / "notebooks" / aid / f"{aid}.ipynb", "solution": solution}
    submissions.update({f"mutant-{name}": apply_patch(solution, m["patch"]) for name, m in mutants.items()})
    ready, repaired = grade.load_and_repair(aid, submissions)
    assert all(r.graded for r in repaired.values()), {s: r.error for s, r in repaired.items() if not r.graded}
    results = grade.grade_notebooks(aid, ready, tmp_path_factory.mktemp(aid), workers=2)
    scores = {student: result.scores for student, result in results.items()}
    return aid, mutants, scores, nbformat.read(results["solution"].notebook, as_version=4)


def test_release_scores_zero(graded):
    aid, _, scores, _ = graded
    got, possible = grade.total(scores["release"])
    assert possible > 0
    passed = [name for name, (score, _) in scores["release"].items() if score]
    assert got == 0, f"{aid}: the untouched release earns points in {passed}: those tests do not test the student's work"


def test_solution_scores_full_marks(graded):
    aid, _, scores, solution = graded
    lost = {name: s for name, s in scores["solution"].items() if s[0] != s[1]}
    assert not lost, f"{aid}: the solution loses points in {lost}"
    # and no cell fails while grading: students get the graded notebook back as feedback
    failed = [(i, o.ename, o.evalue) for i, c in enumerate(solution.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.output_type == "error"]
    assert not failed, f"{aid}: cells of the solution fail while grading: {failed}"


def test_every_mutant_is_caught(graded):
    aid, mutants, scores, _ = graded
    full = grade.total(scores["solution"])[0]
    problems = []
    for name, mutant in mutants.items():
        result = scores[f"mutant-{name}"]
        missed = [t for t in mutant["caught_by"] if result[t][0] != 0]
        if missed:
            problems.append(f"{name}: still earns points in {missed}")
        if grade.total(result)[0] >= full:
            problems.append(f"{name}: scores full marks")
    assert not problems, f"{aid}: mutants not caught:\n" + "\n".join(problems)
