"""The grading guard and the metadata repair, in-process (fast). Real nbgrader runs of both
are in test_grade_hardening.py."""
import builtins
import sys

import nbformat
import numpy.testing
import pytest
import torch

from course_utils import checks
from course_utils.instructor import guard, repair
from submissions import colab, load, student

A = "01_attention"


@pytest.fixture
def armed():
    name = guard.new_name()
    g = guard.Guard()
    setattr(builtins, name, g)
    yield g
    g.restore({})  # leave torch, numpy and checks as they were, whatever a test did
    delattr(builtins, name)


def test_restore_undoes_patches_of_libraries_and_helpers(armed):
    ns = {"check_close": checks.check_close, "torch": torch}
    armed.remember(ns, ["check_close", "torch"])
    genuine = (torch.allclose, numpy.testing.assert_allclose, checks.check_close, torch.Tensor.__eq__)
    torch.allclose = lambda *a, **k: True
    numpy.testing.assert_allclose = lambda *a, **k: None
    checks.check_close = lambda *a, **k: None
    torch.Tensor.__eq__ = lambda a, b: True
    torch.Tensor.sum = lambda *a, **k: 0  # shadows the inherited method
    sys.modules["torch"] = object()
    ns["check_close"] = lambda *a, **k: None
    del ns["torch"]
    armed.restore(ns)
    assert (torch.allclose, numpy.testing.assert_allclose, checks.check_close, torch.Tensor.__eq__) == genuine
    assert "sum" not in vars(torch.Tensor) and torch.ones(3).sum() == 3
    assert sys.modules["torch"] is torch
    assert ns["check_close"] is checks.check_close and ns["torch"] is torch
    with pytest.raises(checks.CheckError):
        ns["check_close"](torch.zeros(2), torch.ones(2))


def test_course_utils_modules_imported_by_read_only_cells_are_watched_too(armed):
    from course_utils import plots

    armed.remember({"plots": plots}, ["plots"])
    genuine = plots.attention_heatmap
    plots.attention_heatmap = lambda *a, **k: None
    assert "course_utils.plots.attention_heatmap" in armed._check(fix=True)
    assert plots.attention_heatmap is genuine


def test_passed_fails_a_cell_that_patched_while_it_ran(armed, monkeypatch):
    shown = []
    monkeypatch.setattr(armed, "_display", lambda data, raw: shown.append(data))
    ns = {}
    armed.passed("test_x", ns)
    token = shown[-1][guard.MIME]
    assert token["grade_id"] == "test_x" and len(token["token"]) == 64
    torch.softmax = lambda *a, **k: None
    with pytest.raises(checks.CheckError, match="torch.softmax"):
        armed.passed("test_y", ns)
    assert torch.softmax is torch._C._VariableFunctions.softmax  # and it was put back
    assert len(shown) == 1  # no token for the failed cell


def test_forbid_leaves_no_trace_the_guard_would_see(armed):
    with checks.forbid("torch.softmax", "torch.Tensor.softmax", "torch.nn.functional.softmax"):
        pass
    assert armed._check(fix=False) == []


def test_verify_accepts_only_the_keyed_token():
    name, key = "__grader_t__", bytes(16)
    data = lambda d: nbformat.v4.new_output("display_data", data={guard.MIME: d})  # noqa: E731
    arm = nbformat.v4.new_code_cell(guard.arm_source(name), outputs=[data({"key": key.hex()})])
    good, forged, silent = (nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade": True, "grade_id": g}})
                            for g in ("good", "forged", "silent"))
    good.outputs = [data({"grade_id": "good", "token": guard._mac(key, "good")})]
    forged.outputs = [data({"grade_id": "forged", "token": guard._mac(bytes(16 * [1]), "forged")})]
    nb = nbformat.v4.new_notebook(cells=[arm, good, forged, silent])
    assert guard.verify(nb, name) == {"good": True, "forged": False, "silent": False}
    assert guard.verify(nb, "__grader_other__") == {"good": False, "forged": False, "silent": False}


def test_harden_wraps_locked_cells_only():
    nb = guard.harden(load("solutions", A), "__g__", "BEGIN HIDDEN TESTS")
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        wrapped = c.source.startswith("__g__.restore(globals())")
        assert wrapped == (c.cell_type == "code" and bool(meta.get("locked") or meta.get("grade"))
                           and not meta.get("solution")), c.source[:80]
        if meta.get("grade") and c.cell_type == "code" and not meta.get("solution"):
            assert c.source.splitlines()[-1].startswith(f"__g__.passed({meta['grade_id']!r}, globals())")
            if "BEGIN HIDDEN TESTS" in c.source:
                assert "BEGIN HIDDEN TESTS\n__g__.hidden()\n" in c.source
    setup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    assert "'check_close'" in setup.source.splitlines()[-1] and "'torch'" in setup.source.splitlines()[-1]


# -- forbid ---------------------------------------------------------------------------------------

def test_forbid_catches_references_taken_before():
    from torch.nn.functional import softmax as imported  # a student's `from ... import softmax`
    saved, saved_method = torch.softmax, torch.Tensor.softmax
    x = torch.randn(4)
    for call in (lambda: saved(x, 0), lambda: saved_method(x, 0), lambda: imported(x, 0),
                 lambda: torch._C._VariableFunctions.softmax(x, 0), lambda: torch.nn.Softmax(0)(x)):
        with pytest.raises(checks.CheckError, match="may not be used"):
            with checks.forbid("torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax"):
                call()
    with checks.forbid("torch.softmax", "torch.nn.functional.softmax", "torch.Tensor.softmax"):
        torch.exp(x) / torch.exp(x).sum()  # what the exercise asks for is fine
    assert "softmax" not in vars(torch.Tensor) and sys.getprofile() is None


def test_checks_see_through_tensor_subclasses():
    class Liar(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return torch.zeros(())  # every operation "matches"

    with pytest.raises(checks.CheckError, match="wrong in 3 of 3"):
        checks.check_close(torch.ones(3).as_subclass(Liar), torch.zeros(3))


# -- repair ---------------------------------------------------------------------------------------

def _metadata(nb):
    return [(c.cell_type, c.metadata.get("nbgrader")) for c in nb.cells if c.metadata.get("nbgrader")]


def test_repair_leaves_an_intact_submission_alone():
    nb = student(A)
    fixed, notes = repair.repair(nb, load("notebooks", A))
    assert notes == [] and _metadata(fixed) == _metadata(nb)


def test_repair_restores_stripped_metadata_cell_for_cell():
    release, nb = load("notebooks", A), student(A)
    fixed, notes = repair.repair(colab(nb), release)
    assert _metadata(fixed) == _metadata(release)
    assert [c.source for c in fixed.cells] == [c.source for c in nb.cells]
    assert fixed.nbformat_minor >= 5 and len({c.id for c in fixed.cells}) == len(fixed.cells)
    graded = sum("nbgrader" in c.metadata for c in release.cells)
    assert f"restored nbgrader metadata on {graded} cell(s)" in " ".join(notes)


def test_repair_reinserts_deleted_cells_in_place_and_drops_forged_metadata():
    release, nb = load("notebooks", A), colab(student(A))
    test_idx = next(i for i, c in enumerate(nb.cells) if c.source.startswith("# Visible test on fixed inputs"))
    del nb.cells[test_idx]
    nb.cells.insert(3, nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"grade": True, "grade_id": "mine",
                                                                               "points": 100}}))
    fixed, notes = repair.repair(nb, release)
    assert _metadata(fixed) == _metadata(release)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in fixed.cells]
    assert ids.index("test_attention") == ids.index("attention") + 1
    assert any("re-inserted deleted cell(s): test_attention" in n for n in notes)
    assert any("not in the release" in n for n in notes)


def test_repair_refuses_a_different_notebook():
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Homework 7")])
    release = load("notebooks", A)
    with pytest.raises(repair.RepairError, match=f"only 0 of the {len(release.cells)} cells"):
        repair.repair(other, release)


@pytest.mark.parametrize("backend, skipped", [("Agg", True), ("svg", False)])
def test_the_graders_first_cell_skips_figure_layout_only_when_nothing_is_drawn(backend, skipped):
    import os
    import subprocess

    # the grader's first cell, then a figure laid out as the notebooks do (in a fresh process:
    # the patch is the grading kernel's)
    figures = [line for line in guard.arm_source(guard.new_name()).splitlines() if "figures" in line]
    assert figures, "the grader's first cell no longer turns figure layout off"
    code = (figures[0] + "\n"
            "import matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots(figsize=(2, 2)); ax.set_title('a title wider than the figure ' * 3)\n"
            "before = ax.get_position().bounds; plt.tight_layout()\n"
            "print(ax.get_position().bounds == before)\n")
    env = dict(os.environ, MPLBACKEND=backend)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == str(skipped), out
