"""The hand-in check (course_utils.handin): right and wrong verdicts, and it never touches the notebook.

The slow tests run a copy of notebook 01 (the fast one) top to bottom; the others read it only.
"""
import copy
import hashlib
import json
import os
import subprocess
import sys
import types
from contextlib import contextmanager

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient
from submissions import cell, colab, load, mutant, student

from course_utils import checks, handin
from course_utils.check import main

AID = "01_attention"


def complete(patch=()):
    """The student's notebook with every code answer typed in and every written answer filled."""
    nb = student(AID, patch=patch)
    for c in nb.cells:
        if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution"):
            c.source = "Because the variance of the scores grows with d_k."
    return nb


def write(tmp_path, nb, name=f"{AID}.ipynb"):
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


@contextmanager
def untouched(path):
    """The check may read the notebook, never write it: same bytes, same modification time."""
    before = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
    yield
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before


def item(report, word):
    """The checklist item about ``word`` (TODO, written, visible, metadata)."""
    return next(i for i in report.items if word in i.text)


def test_stubs_are_the_ones_the_release_writes():
    from traitlets.config.loader import PyFileConfigLoader

    c = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert handin.CODE_STUB in c.ClearSolutions.code_stub["python"]
    assert handin.TEXT_STUB == c.ClearSolutions.text_stub


def test_complete_notebook_passes_the_reading_checks(tmp_path):
    path = write(tmp_path, complete())
    with untouched(path):
        report = handin.check(path, run=False)
    assert item(report, "TODO").ok and item(report, "written").ok and item(report, "metadata").ok
    assert not report.ready  # the visible tests were not run: never "ready" unchecked
    assert "[--]" in report.text() and f"compared with the release notebooks/{AID}/{AID}.ipynb" in report.text()


def test_todo_left_names_the_cell(tmp_path):
    nb = complete()
    cell(nb, "attention").source = cell(load("notebooks", AID), "attention").source  # back to the stub
    path = write(tmp_path, nb)
    with untouched(path):
        report = handin.check(path, run=False)
    todo = item(report, "TODO")
    assert not todo.ok and not report.ready
    assert todo.details == ["cell 11 (attention)"]
    assert "NotImplementedError" in todo.text


def test_written_answer_left_empty_names_the_question(tmp_path):
    nb = complete()
    cell(nb, "answer_spread").source = "YOUR ANSWER HERE"
    cell(nb, "answer_cost").source = "  \n"
    path = write(tmp_path, nb)
    with untouched(path):
        report = handin.check(path, run=False)
    answers = item(report, "written")
    assert not answers.ok
    release = load("notebooks", AID)
    number = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(release.cells, 1)}
    assert answers.details == [f"cell {number['answer_spread']}, the answer to Question (b4)",
                               f"cell {number['answer_cost']}, the answer to Question (e2)"]
    assert item(report, "TODO").ok


def test_stripped_metadata_says_how_to_download(tmp_path):
    path = write(tmp_path, colab(complete()))
    with untouched(path):
        report = handin.check(path, run=False)
    meta = item(report, "metadata")
    assert not meta.ok
    text = report.text()
    assert "stripped" in text and "File -> Download -> Download .ipynb" in text and "Save a copy in Drive" in text
    assert item(report, "TODO").ok and item(report, "written").ok  # all done: no false alarm without metadata


def test_stripped_metadata_still_finds_todos_and_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(handin, "ROOT", tmp_path)  # an installed package: no release beside it
    report = handin.check(write(tmp_path, colab(student(AID, patch=mutant(AID, "no_sqrt_scale")))), run=False)
    assert not item(report, "metadata").ok
    assert "no copy of the release" in report.text()
    assert item(report, "TODO").ok  # the student() notebook has every code answer
    written = [c for c in load("notebooks", AID).cells
               if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")]
    assert len(item(report, "written").details) == len(written) > 10


def test_deleted_duplicated_and_edited_grading_cells(tmp_path):
    nb = complete()
    nb.cells.remove(cell(nb, "test_attention_mask"))
    twin = copy.deepcopy(cell(nb, "test_softargmax"))
    twin.id = "my-copy"
    nb.cells.append(twin)
    cell(nb, "test_linear_rnn").source += "\nprint('extra')"
    path = write(tmp_path, nb)
    with untouched(path):
        report = handin.check(path, run=False)
    details = "\n".join(item(report, "metadata").details)
    assert not item(report, "metadata").ok
    assert "deleted (1): test_attention_mask" in details
    assert "more than once (delete the copies): test_softargmax" in details
    assert "edited: test_linear_rnn" in details


def test_without_a_release_the_metadata_is_checked_for_consistency(tmp_path, monkeypatch):
    monkeypatch.setattr(handin, "ROOT", tmp_path)
    report = handin.check(write(tmp_path, complete()), run=False)
    assert item(report, "metadata").ok and "no copy of the release" in report.text()
    nb = complete()
    del cell(nb, "test_attention").metadata.nbgrader["checksum"]
    twin = copy.deepcopy(cell(nb, "test_softargmax"))
    twin.id = "my-copy"
    nb.cells.append(twin)
    details = "\n".join(item(handin.check(write(tmp_path, nb), run=False), "metadata").details)
    assert "incomplete nbgrader metadata: cell 12 (test_attention)" in details
    assert "more than once (delete the copies): test_softargmax" in details


def test_the_release_itself_is_compared_with_its_committed_version():
    path = ROOT / "notebooks" / AID / f"{AID}.ipynb"
    with untouched(path):
        report = handin.check(path, run=False)
    assert item(report, "metadata").ok and len(item(report, "TODO").details) == 8


def test_command_line_says_not_ready_with_exit_status_1(tmp_path, capsys):
    path = write(tmp_path, student(AID))
    with untouched(path):
        assert main([str(path), "--no-run"]) == 1
    out = capsys.readouterr().out
    assert "Hand-in check of 01_attention.ipynb" in out and "NOT READY" in out
    assert main([str(tmp_path / "missing.ipynb")]) == 1
    assert "not a readable notebook" in capsys.readouterr().out


def test_finds_the_running_notebook(tmp_path, monkeypatch):
    path = write(tmp_path, student(AID))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    assert handin.this_notebook() == path
    monkeypatch.setenv("JPY_SESSION_NAME", f"notebooks/{AID}/{AID}.ipynb")  # relative to the server's root
    assert handin.this_notebook().resolve() == path.resolve()
    monkeypatch.delenv("JPY_SESSION_NAME")
    with pytest.raises(handin.HandinError, match="path="):
        handin.this_notebook()


def test_on_colab_the_notebook_comes_from_colab(tmp_path, monkeypatch, capsys):
    data = json.loads(nbformat.writes(load("notebooks", AID)))
    message = types.SimpleNamespace(blocking_request=lambda *a, **k: {"ipynb": data})
    google = types.ModuleType("google")
    google.colab = types.ModuleType("google.colab")
    google.colab._message = message
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google.colab)
    monkeypatch.setitem(sys.modules, "google.colab._message", message)
    checks.ready_to_submit(run=False)
    out = capsys.readouterr().out
    assert "cell 11 (attention)" in out and "NOT READY" in out

    def broken(*args, **kwargs):
        raise TimeoutError("no answer")
    message.blocking_request = broken
    checks.ready_to_submit(run=False)
    assert "Colab did not hand over this notebook" in capsys.readouterr().out


@pytest.mark.parametrize("env", [handin.CHILD_ENV, "NBGRADER_EXECUTION"])
def test_does_nothing_inside_a_check_or_while_grading(env, monkeypatch, capsys):
    monkeypatch.setenv(env, "autograde")
    checks.ready_to_submit(path="does-not-exist.ipynb")
    assert "does not run while" in capsys.readouterr().out


@pytest.mark.slow
def test_complete_notebook_is_ready(tmp_path):
    path = write(tmp_path, complete())
    with untouched(path):
        run = subprocess.run([sys.executable, "-m", "course_utils.check", str(path)],
                             check=False, capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "READY to submit" in run.stdout and "[!!]" not in run.stdout
    assert "Every visible test passes (11 test cells)" in run.stdout


@pytest.mark.slow
def test_failing_visible_test_is_named(tmp_path):
    path = write(tmp_path, complete(patch=mutant(AID, "no_sqrt_scale")))  # fails test_attention visibly
    with untouched(path):
        report = handin.check(path, progress=False)
    tests = item(report, "visible")
    assert not tests.ok and not report.ready
    assert tests.details == [("cell 12 (test_attention): CheckError: `A` is wrong in 15 of 15 entries. "
                              "The largest error is 0.211 at index (2, 0): got 0.646304, expected 0.435376.")]
    assert item(report, "TODO").ok and item(report, "written").ok and item(report, "metadata").ok


@pytest.mark.slow
def test_ready_to_submit_inside_a_running_notebook(tmp_path):
    """The last cell finds its own file (JPY_SESSION_NAME), and skips itself in the copy it runs."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from course_utils import checks"),
                                         nbformat.v4.new_code_cell("checks.ready_to_submit()")])
    path = write(tmp_path, nb, "tiny.ipynb")
    with untouched(path):
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute(
            env={**os.environ, "JPY_SESSION_NAME": str(path)})
    out = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert "Checking tiny.ipynb as last saved" in out and "Hand-in check of tiny.ipynb" in out
    assert "[ok] Every visible test passes (0 test cells)" in out  # the copy ran, its own check skipped


def test_imports_without_nbgrader():  # Colab has no nbgrader
    code = ("import sys; sys.modules['nbgrader'] = None\n"
            "import course_utils.handin, course_utils.check\n"
            "assert not any(m.startswith('course_utils.instructor') for m in sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
