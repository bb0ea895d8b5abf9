"""The one-command grading run, from a downloads folder to the CSV, the report and feedback."""
import contextlib
import csv
import hashlib
import html
import io
import re
import tempfile
import zipfile

import nbformat
import pytest

from course_utils.instructor import autograde_config, grade, guard
from submissions import colab, hidden_lines, mutant, student

A = "01_attention"


def _write(path, nb):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _downloads(folder):
    """What an instructor downloads: loose notebooks, zips, junk, and two broken files."""
    _write(folder / "alice.ipynb", student(A))
    with zipfile.ZipFile(folder / "batch.zip", "w") as zf:
        zf.writestr("bob.ipynb", nbformat.writes(student(A, mutant(A, "no_sqrt_scale"))))
        zf.writestr("__MACOSX/._bob.ipynb", "junk")
    with zipfile.ZipFile(folder / "erin.zip", "w") as zf:  # a zip per student, Colab-stripped
        zf.writestr("01_attention.ipynb", nbformat.writes(colab(student(A, mutant(A, "unstable_softmax")))))
    (folder / "mallory.ipynb").write_text("{ this is not json")
    _write(folder / "zed.ipynb", nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hello')")]))
    (folder / "notes.txt").write_text("not a notebook")


def _fingerprint(folder):
    return {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    downloads, out = tmp_path_factory.mktemp("downloads"), tmp_path_factory.mktemp("run") / "grades"
    _downloads(downloads)
    before = _fingerprint(downloads)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = grade.main([A, str(downloads), "--out", str(out), "--workers", "2", "--feedback"])
    return downloads, before, out, (code, stderr.getvalue())


def _rows(out):
    with open(out / "scores.csv") as f:
        return {row["student"]: row for row in csv.DictReader(f)}


def test_intake_names_students_and_flags_problems(tmp_path):
    nb = nbformat.writes(student(A))
    (tmp_path / "in" / "dave" / A).mkdir(parents=True)
    (tmp_path / "in" / "dave" / A / f"{A}.ipynb").write_text(nb)       # nbgrader's own layout
    (tmp_path / "in" / "carl.ipynb").write_text(nb)
    with zipfile.ZipFile(tmp_path / "in" / "lms.zip", "w") as zf:
        zf.writestr("carl.ipynb", nb)                                  # carl twice: ambiguous
        zf.writestr("sub/ann.ipynb", nb)
        zf.writestr(".ipynb_checkpoints/ann-checkpoint.ipynb", nb)
        zf.writestr("bad name!.ipynb", nb)
    received, problems = grade.collect(tmp_path / "in", A, tmp_path / "received")
    assert sorted(received) == ["ann", "dave"]
    assert "carl" in problems and "2 notebooks" in problems["carl"]
    assert any("bad name!" in label for label in problems)
    assert (tmp_path / "received" / "ann.ipynb").read_text() == nb


@pytest.mark.slow
def test_cli_grades_the_class_and_fails_loudly_on_what_it_cannot_grade(run):
    _, _, out, (code, stderr) = run
    assert code == 1  # two files could not be graded
    assert "NOT GRADED mallory: not a readable notebook" in stderr and "NOT GRADED zed:" in stderr
    rows = _rows(out)
    assert set(rows) == {"alice", "bob", "erin", "mallory", "zed"}
    assert rows["mallory"]["status"].startswith("NOT GRADED: not a readable notebook")
    assert rows["zed"]["status"].startswith("NOT GRADED:") and "right notebook" in rows["zed"]["status"]
    assert rows["mallory"]["score"] == ""  # never a silent 0


@pytest.mark.slow
def test_csv_has_per_student_and_per_question_scores(run):
    _, _, out, _ = run
    rows = _rows(out)
    assert float(rows["alice"]["score"]) == float(rows["alice"]["max_score"]) == 19
    assert float(rows["bob"]["test_attention"]) == 0 and float(rows["bob"]["test_attention_mask"]) == 0
    assert float(rows["bob"]["test_softargmax"]) == 2
    assert float(rows["erin"]["test_softargmax_stable"]) == 0 and float(rows["erin"]["test_attention"]) == 3
    assert "restored nbgrader metadata" in rows["erin"]["repaired"] and rows["alice"]["repaired"] == ""


@pytest.mark.slow
def test_originals_are_untouched_and_copies_kept(run):
    downloads, before, out, _ = run
    assert _fingerprint(downloads) == before
    assert (out / "received" / "erin.ipynb").is_file() and (out / "autograded" / "bob.ipynb").is_file()


@pytest.mark.slow
def test_an_earlier_run_is_never_overwritten(run):
    downloads, _, out, _ = run
    report = (out / "report.md").read_text()
    with pytest.raises(SystemExit, match="already exists"):
        grade.main([A, str(downloads), "--out", str(out)])
    assert (out / "report.md").read_text() == report


@pytest.mark.slow
def test_report_has_pass_rates_chart_and_common_mistakes(run):
    _, _, out, _ = run
    report = (out / "report.md").read_text()
    assert "| `test_attention` | 3 | 2 / 3 | 67% |" in report
    assert "| `test_softargmax_stable` | 1 | 2 / 3 | 67% |" in report
    assert "attention *without* the 1/sqrt(d_k) scale" in report
    assert "**erin**" in report and "**mallory**" in report  # repaired / not graded: needs attention
    assert (out / "pass_rates.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_feedback_shows_results_but_no_hidden_test(run):
    _, _, out, _ = run
    secrets = hidden_lines(A)
    assert secrets
    for name in ("alice", "bob", "erin"):
        page = (out / "feedback" / f"{name}.html").read_text()
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        leaked = [s for s in secrets if s in page or html.escape(s) in page or s in text]
        assert not leaked, f"feedback for {name} shows hidden tests: {leaked[:3]}"
        assert guard.MIME not in page and "__grader_" not in page
    bob = html.unescape((out / "feedback" / "bob.html").read_text())
    assert "Autograded score: 14 / 19" in bob and "1/sqrt(d_k)" in bob


@pytest.mark.slow
def test_graded_again_sequentially_the_scores_are_identical(run, tmp_path):
    """The same submissions graded twice, in parallel and then sequentially: identical scores."""
    _, _, out, _ = run
    received = {s: out / "received" / f"{s}.ipynb" for s in ("bob", "erin")}
    ready, _ = grade.load_and_repair(A, received)
    sequential = grade.grade_notebooks(A, ready, tmp_path, workers=1)
    rows = _rows(out)
    for s, r in sequential.items():
        assert {g: str(v) for g, (v, _) in r.scores.items()} == {g: rows[s][g] for g in r.scores}, s


def test_per_notebook_time_budget():
    timeout = autograde_config.timeout_func(cell_limit=10, notebook_limit=25, arm_prefix="# Added by the grader")
    arm = nbformat.v4.new_code_cell(guard.arm_source("__grader_x__"))
    assert timeout(arm) == 10
    timeout.clock["start"] -= 20  # 20 s of this notebook spent
    assert timeout(nbformat.v4.new_code_cell("x = 1")) == 5
    timeout.clock["start"] -= 60
    assert timeout(nbformat.v4.new_code_cell("x = 1")) == 1
    assert timeout(arm) == 10  # the next notebook starts afresh


def test_workers_share_the_cores_instead_of_oversubscribing_them(monkeypatch, tmp_path):
    """Each worker's kernels get cores // workers torch threads, unless the grader set OMP_NUM_THREADS."""
    seen = []

    class Done:
        pid = 0

        def __init__(self, cmd, env, **kwargs):
            seen.append(env.get("OMP_NUM_THREADS"))

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(grade.subprocess, "Popen", Done)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    grade._nbgrader(["autograde"], tmp_path, tmp_path / "log", threads=3)
    grade._nbgrader(["autograde"], tmp_path, tmp_path / "log")
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    grade._nbgrader(["autograde"], tmp_path, tmp_path / "log", threads=3)
    assert seen == ["3", None, "7"]


def test_without_the_sandbox_kernels_still_use_private_unix_sockets(tmp_path):
    """TCP ports picked by two workers at once can collide ("Address already in use")."""
    from traitlets.config import Config

    c = Config()
    c.Execute.timeout = 60  # set by the repository's nbgrader_config.py, which a worker loads first
    autograde_config.apply(c, {"workdir": str(tmp_path), "source": str(tmp_path), "guard_name": "g",
                               "sandbox": False})
    assert c.KernelManager.transport == "ipc"
    folder = c.KernelManager.ip.rsplit("/", 1)[0]
    assert folder.startswith(tempfile.gettempdir()) and len(c.KernelManager.ip) < 90


def test_the_fast_nbgrader_start_reads_the_same_schema_version_as_nbgrader(monkeypatch):
    """nbgrader_cli answers nbgrader's ``alembic heads`` subprocess in-process: the same answer."""
    from nbgrader import api

    from course_utils.instructor import nbgrader_cli
    from course_utils.instructor.release import nbgrader_env

    monkeypatch.setenv("PATH", nbgrader_env()["PATH"])  # nbgrader finds `alembic` on PATH
    assert nbgrader_cli.alembic_head() == api.get_alembic_version()


def test_the_fast_nbgrader_start_validates_metadata_as_jsonschema_does():
    import jsonschema
    from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

    from course_utils.instructor import nbgrader_cli

    schema = MetadataValidatorV3().schema
    good = {"grade": True, "grade_id": "t", "locked": True, "points": 1, "schema_version": 3, "solution": False}
    for bad in ({**good, "grade": "yes"}, {**good, "schema_version": 9}):
        with pytest.raises(jsonschema.ValidationError) as theirs:
            jsonschema.validate(bad, schema)
        with pytest.raises(jsonschema.ValidationError) as ours:
            nbgrader_cli.validate(bad, schema)
        assert ours.value.message == theirs.value.message
    nbgrader_cli.validate(good, schema)
