"""Each hardening case of the grading command, checked on a real nbgrader run.

All cases are independent, so they are graded in one batch (two workers, 10 s per cell).
Most are compared with `ref`: an honest submission with two known mistakes, so that a case
that gains points it does not deserve, or loses points it does, shows up. "The same
submission graded twice" is in test_grade_cli.py (a sequential run against the parallel one).
"""
import time

import nbformat
import pytest

from course_utils.instructor import grade
from submissions import cell, colab, load, mutant, student

pytestmark = pytest.mark.slow

A = "01_attention"
REF = mutant(A, "no_sqrt_scale", "softargmax_ignores_dim")
CELL_TIMEOUT = 10
FULL = grade.tests_of(load("notebooks", A))  # {test: points}
USES_SOFTARGMAX = ["test_softargmax", "test_softargmax_stable", "test_attention", "test_attention_mask",
                   "test_attention_columns", "test_design_query"]

PATCH_BEFORE = """
import numpy, numpy.testing, torch, course_utils.checks as C
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
C.check_close = C.check_shape = C.check_true = lambda *a, **k: None
check_close = check_shape = check_true = lambda *a, **k: None
torch.Tensor.__eq__ = lambda a, b: torch.ones((), dtype=torch.bool)
torch.softmax = lambda x, dim=-1, **k: softargmax(x, 1.0, dim)   # the hidden reference = my answer
torch.nn.functional.softmax = lambda x, dim=-1, **k: softargmax(x, 1.0, dim)
"""
PATCH_DURING = """
_honest_design_query = design_query
def design_query(mus, a, b, scale):   # patches the checks while the test cell runs
    import course_utils.checks as C
    C.check_close = C.check_shape = C.check_true = lambda *a, **k: None
    globals()["check_close"] = globals()["check_shape"] = lambda *a, **k: None
    return _honest_design_query(mus, a, b, scale) * 0
"""
HIDE_ERRORS = """
import sys
get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)   # swallow every error
_honest_attention = attention
def attention(Q, K, V, mask=None):
    get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)
    sys.displayhook(3.0)   # nbgrader reads a displayed number as partial credit
    return _honest_attention(Q, K, V, mask)
"""
HUGE_OUTPUT = """
print("x" * 20_000_000)
for i in range(100_000):
    print(i)
import ipywidgets
display(ipywidgets.IntSlider())
try:
    input("your name?")
except Exception as err:
    print(type(err).__name__)
"""


def _edited():
    nb = student(A, REF)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_softargmax"]
    cell(nb, "test_attention").source = "pass  # the test was too strict"
    return nb


def _huge():
    nb = student(A, append={"design_query": HUGE_OUTPUT})
    cell(nb, "design_query").outputs = [nbformat.v4.new_output("stream", name="stdout", text="y\n" * 2_000_000)]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                           "version_minor": 0}}
    return nb


CASES = {
    "ref": lambda: student(A, REF),
    "loop": lambda: student(A, prepend={"by_hand_cross": "n = 0\nwhile n < 10:\n    n * 2   # forgot n += 1"}),
    "unstoppable": lambda: student(A, prepend={"by_hand_cross": (
        "import time\nwhile True:\n    try:\n        time.sleep(0.5)\n    except BaseException:\n        pass")}),
    "early_error": lambda: student(A, prepend={"softargmax": "raise ValueError('I broke the first answer')"}),
    "edited": _edited,
    "colab": lambda: colab(student(A, REF)),
    "patch_before": lambda: student(A, REF, append={"softargmax": PATCH_BEFORE}),
    "patch_during": lambda: student(A, REF, append={"design_query": PATCH_DURING}),
    "hide_errors": lambda: student(A, REF, append={"attention": HIDE_ERRORS}),
    "forbidden": lambda: student(A, [("softargmax", "    z = beta * x\n", (
        "    from torch.nn.functional import softmax as sm\n    return sm(beta * x, dim)\n"))]),
    # after two test cells have passed; SIGKILL is what the out-of-memory killer sends
    "os_exit": lambda: student(A, append={"attention": "import os\nos._exit(1)"}),
    "oom_kill": lambda: student(A, append={"attention": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"}),
    "huge": _huge,
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    ready, before = grade.load_and_repair(A, {name: build() for name, build in CASES.items()})
    assert all(r.graded for r in before.values()), {s: r.error for s, r in before.items()}
    start = time.monotonic()
    results = grade.grade_notebooks(A, ready, tmp_path_factory.mktemp("hardening"), workers=2,
                                    cell_timeout=CELL_TIMEOUT, notebook_timeout=120)
    for student_id, r in results.items():
        r.repairs = before[student_id].repairs
    return results, time.monotonic() - start


def scores(results, name):
    return {g: s for g, (s, _) in results[name].scores.items()}


def test_reference_is_graded_as_expected(graded):
    results, _ = graded
    ref = scores(results, "ref")
    assert [g for g, s in ref.items() if s == 0] == ["test_softargmax", "test_attention", "test_attention_mask",
                                                     "test_attention_columns"]


def test_infinite_loop_times_out_that_cell_only(graded):
    results, elapsed = graded
    loop = results["loop"]
    assert loop.graded
    assert scores(results, "loop") == {**FULL, "test_by_hand_cross": 0.0}  # its answers were never set
    assert any(n.startswith("cell ") and n.endswith("timed out") for n in loop.notes), loop.notes
    assert elapsed < 420, f"the batch took {elapsed:.0f} s: something hangs"


def test_loop_that_ignores_interrupts_is_a_failure_in_bounded_time(graded):
    results, _ = graded
    r = results["unstoppable"]
    assert not r.graded and "could not be interrupted at the timeout" in r.error
    assert grade.total(r.scores)[0] == 0


def test_exception_in_an_early_cell_leaves_later_independent_tests_graded(graded):
    results, _ = graded
    got = scores(results, "early_error")
    assert all(got[g] == 0 for g in USES_SOFTARGMAX)
    assert {g: s for g, s in got.items() if g not in USES_SOFTARGMAX} == \
           {g: s for g, s in FULL.items() if g not in USES_SOFTARGMAX}


def test_edited_or_deleted_test_cells_are_restored(graded):
    results, _ = graded
    assert scores(results, "edited") == scores(results, "ref")
    repairs = " ".join(results["edited"].repairs)
    assert "re-inserted deleted cell(s): test_softargmax" in repairs
    assert "test_attention" in repairs


def test_colab_stripped_metadata_is_repaired_and_scores_like_the_intact_notebook(graded):
    results, _ = graded
    assert scores(results, "colab") == scores(results, "ref")
    assert any("restored nbgrader metadata" in n for n in results["colab"].repairs)
    assert any("nbformat 4.0" in n for n in results["colab"].repairs)


def test_patching_helpers_before_the_tests_changes_nothing(graded):
    results, _ = graded
    assert scores(results, "patch_before") == scores(results, "ref")


def test_patching_helpers_while_the_tests_run_gains_nothing(graded):
    results, _ = graded
    got, ref = scores(results, "patch_during"), scores(results, "ref")
    assert all(got[g] <= ref[g] for g in ref)
    assert got["test_design_query"] == 0  # its answer is wrong; the patched checks would have passed it
    nb = nbformat.read(results["patch_during"].notebook, as_version=4)
    errors = [o.evalue for o in cell(nb, "test_design_query").outputs if o.output_type == "error"]
    assert any("changed" in e for e in errors), errors


def test_hidden_errors_and_fake_partial_credit_score_nothing(graded):
    results, _ = graded
    got, ref = scores(results, "hide_errors"), scores(results, "ref")
    assert results["hide_errors"].graded
    assert all(got[g] <= ref[g] for g in ref)
    assert got["test_attention"] == 0 and got["test_attention_mask"] == 0


def test_calling_the_forbidden_builtin_is_caught(graded):
    results, _ = graded
    got = scores(results, "forbidden")
    assert got["test_softargmax"] == 0  # the visible tests pass; the hidden test forbids torch's softmax
    assert got["test_softargmax_stable"] > 0


@pytest.mark.parametrize("name", ["os_exit", "oom_kill"])
def test_kernel_death_is_a_failure_never_a_pass(graded, name):
    results, _ = graded
    r = results[name]
    assert not r.graded and "kernel died" in r.error
    assert r.scores and all(s == 0 for s, _ in r.scores.values())


def test_huge_output_and_widgets_do_not_hang(graded):
    results, _ = graded
    assert results["huge"].graded
    assert scores(results, "huge") == FULL
