"""The published student course: complete, leak-free, deterministic, and opens on Colab in one click."""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ASSIGNMENTS, ROOT
from course_utils.instructor import publish, release, settings
from test_releases import BLOCK, MARKERS, _lines, nbgrader_meta, secret_lines

COURSE = settings.load()
# Instructor material: no file of these may reach students, not even under another name.
INSTRUCTOR = ["solutions", "tests", "bench", "docs", "course_utils/instructor", ".ci"]
INSTRUCTOR_FILES = ["nbgrader_config.py", "course_utils/grade.py", "course_utils/release.py", "course.toml"]


def tree(folder):
    """``{relative path: sha256}`` of every file under ``folder``."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _secrets():
    """``{line: assignment}``: lines of solutions, hidden tests and model answers that students do not see
    anyway. They see the public part of every source (a line of 05's solution may be shown in 04) and the
    helper modules, published as they are: such generic lines as ``B, T, _ = x.shape`` occur in both."""
    public = {ln for aid in ASSIGNMENTS for c in release_source(aid).cells
              if not (c.cell_type == "markdown" and nbgrader_meta(c).get("solution"))
              for ln in _lines(BLOCK.sub("", c.source))}
    helpers = "\n".join(p.read_text() for p in (ROOT / "course_utils").glob("*.py"))
    return {line: aid for aid in ASSIGNMENTS for line in secret_lines(release_source(aid)) - public
            if line not in helpers}


def leaks(folder):
    """Everything in ``folder`` that students must not see, as readable findings."""
    secrets = _secrets()
    instructor = {hashlib.sha256(p.read_bytes()).hexdigest(): p.relative_to(ROOT).as_posix()
                  for top in INSTRUCTOR for p in (ROOT / top).rglob("*") if p.is_file() and p.stat().st_size > 0}
    instructor |= {hashlib.sha256((ROOT / f).read_bytes()).hexdigest(): f for f in INSTRUCTOR_FILES}
    found = []
    for name, digest in tree(folder).items():
        text = (Path(folder) / name).read_text(errors="ignore")
        if any(name == top or name.startswith(top + "/") for top in INSTRUCTOR) or name in INSTRUCTOR_FILES:
            found.append(f"{name}: instructor-only path")
        if digest in instructor:
            found.append(f"{name}: a copy of {instructor[digest]}")
        if MARKERS.search(text):
            found.append(f"{name}: an nbgrader solution or hidden-test marker")
        found += [f"{name}: a line of a solution, hidden test or model answer of {aid}: {line!r}"
                  for line, aid in secrets.items() if line in text]
    return found


def release_source(aid):
    return nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", as_version=4)


def setup_block(nb):
    """The part of the setup cell that runs on Colab (it ends at the cell's first blank line)."""
    setup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    block = setup.source.split("\n\n")[0]
    assert 'if "google.colab" in sys.modules:' in block, "the setup cell has no Colab install"
    return block


@pytest.fixture(scope="module")
def publication(published_course, tmp_path_factory):
    """A copy of the session's publication: the tests of this module publish into it again."""
    return Path(shutil.copytree(published_course, tmp_path_factory.mktemp("published") / "course", symlinks=True))


# -- what a publication holds --------------------------------------------------------------------

@pytest.mark.slow
def test_publication_holds_the_student_course_only(publication):
    files = set(tree(publication))
    assert {f"notebooks/{aid}/{aid}.ipynb" for aid in ASSIGNMENTS} <= files
    assert {"README.md", "pyproject.toml", "requirements.txt", "data/README.md", publish.MARKER} <= files
    helpers = {p.name for p in (ROOT / "course_utils").glob("*.py")} - publish.SHIMS
    assert {f"course_utils/{name}" for name in helpers} <= files
    assert {name.split("/")[0] for name in files} == {
        "notebooks", "course_utils", "data", "README.md", "pyproject.toml", "requirements.txt", ".gitignore", publish.SETTINGS,
        publish.MARKER, *(["LICENSE"] if (ROOT / "LICENSE").is_file() else [])}
    requirements = (publication / "requirements.txt").read_text()
    assert "nbgrader" not in requirements and "nbgrader" not in (publication / "pyproject.toml").read_text()
    assert json.loads((publication / publish.MARKER).read_text())["files"] == sorted(files)


@pytest.mark.slow
def test_no_file_of_a_publication_leaks_instructor_material(publication):
    found = leaks(publication)
    assert not found, "the publication leaks:\n" + "\n".join(found)


def test_the_leak_scan_finds_planted_leaks(tmp_path):
    """The scan above must be able to fail: one leak of each kind, each found."""
    source = release_source(ASSIGNMENTS[0])
    (tmp_path / "a.py").write_text("x = 1\n" + sorted(secret_lines(source))[0] + "\n")
    (tmp_path / "b.md").write_text("### BEGIN HIDDEN TESTS\n")
    (tmp_path / "copy.bin").write_bytes((ROOT / "course_utils/instructor/guard.py").read_bytes())
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "x.txt").write_text("harmless\n")
    (tmp_path / "clean.txt").write_text("nothing to see\n")
    found = "\n".join(leaks(tmp_path))
    for planted in ["a.py: a line", "b.md: an nbgrader", "copy.bin: a copy of course_utils/instructor/guard.py",
                    "solutions/x.txt: instructor-only"]:
        assert planted in found, f"the leak scan missed {planted!r}:\n{found}"
    assert "clean.txt" not in found


@pytest.mark.slow
def test_published_helpers_import_from_the_publication_alone(publication, tmp_path):
    """No published module needs nbgrader or the instructor tools, which are not there."""
    modules = sorted(p.stem for p in (publication / "course_utils").glob("*.py") if p.stem != "__init__")
    code = ("import importlib, sys; sys.modules['nbgrader'] = None\n"
            f"for m in {modules!r}: importlib.import_module('course_utils.' + m)\n"
            "import course_utils; print(course_utils.__file__)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=publication, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(publication), "imported the repository's course_utils instead"


# -- publishing again, and where it refuses ----------------------------------------------------------

@pytest.mark.slow
def test_publishing_again_gives_the_same_bytes_and_keeps_what_is_not_ours(publication):
    before = tree(publication)
    (publication / ".git").mkdir()
    (publication / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (publication / "CONTRIBUTING.md").write_text("added by the instructor after publishing\n")
    # An earlier publication had a notebook that this one no longer has: it goes.
    marker = json.loads((publication / publish.MARKER).read_text())
    (publication / "notebooks" / "00_old").mkdir()
    (publication / "notebooks" / "00_old" / "00_old.ipynb").write_text("{}")
    marker["files"].append("notebooks/00_old/00_old.ipynb")
    (publication / publish.MARKER).write_text(json.dumps(marker))

    publish.publish(publication, COURSE)
    after = tree(publication)
    assert after.pop(".git/HEAD") and after.pop("CONTRIBUTING.md"), "files that are not the publication's are kept"
    assert after == before, "publishing twice must write the same files, byte for byte"
    assert not (publication / "notebooks" / "00_old").exists()


def test_publishing_refuses_a_folder_that_is_not_a_publication(tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    with pytest.raises(publish.PublishError, match="not a publication"):
        publish.publish(foreign, COURSE)
    assert release.main(["--publish", str(foreign)]) == 1
    assert "Not published" in capsys.readouterr().err
    assert tree(foreign) == {"thesis.tex": hashlib.sha256(b"mine").hexdigest()}, "a refused folder is untouched"


def test_publishing_refuses_another_course_and_a_forged_marker(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / publish.MARKER).write_text(json.dumps({"course": "Another course", "files": []}))
    with pytest.raises(publish.PublishError, match="another course"):
        publish.earlier_publication(other, COURSE)
    (other / publish.MARKER).write_text(json.dumps({"course": COURSE.title, "files": ["../../home/notes.txt"]}))
    with pytest.raises(publish.PublishError, match="not a file of a publication"):
        publish.earlier_publication(other, COURSE)
    with pytest.raises(publish.PublishError, match="inside the instructor's repository"):
        publish.publish(ROOT / "public", COURSE)


def test_an_empty_folder_or_a_fresh_clone_is_accepted(tmp_path):
    assert publish.earlier_publication(tmp_path / "new", COURSE) == []
    (tmp_path / "clone" / ".git").mkdir(parents=True)
    assert publish.earlier_publication(tmp_path / "clone", COURSE) == []


# -- Colab ---------------------------------------------------------------------------------------------

def _badge_url(nb):
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.get("id") == release.BADGE_ID, "the first cell is not the badge"
    return first.source


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_every_release_opens_on_colab_at_the_configured_repository(aid):
    nb = nbformat.read(ROOT / "notebooks" / aid / f"{aid}.ipynb", as_version=4)
    url = f"https://colab.research.google.com/github/{COURSE.repo}/blob/{COURSE.ref}/notebooks/{aid}/{aid}.ipynb"
    assert _badge_url(nb) == release.BADGE.format(url=url)


@pytest.mark.slow
def test_every_published_notebook_has_the_badge(publication):
    for aid in ASSIGNMENTS:
        nb = nbformat.read(publication / "notebooks" / aid / f"{aid}.ipynb", as_version=4)
        assert f"github/{COURSE.repo}/blob/{COURSE.ref}/notebooks/{aid}/{aid}.ipynb)" in _badge_url(nb)
        assert f"]({COURSE.colab_url(f'notebooks/{aid}/{aid}.ipynb')})" in (publication / "README.md").read_text()


class FakeRun:
    """Stands in for subprocess.run in the setup cell: records each command, fails the ones asked to."""

    def __init__(self, fail=()):
        self.commands, self.fail = [], fail

    def __call__(self, cmd, **kwargs):
        self.commands.append(cmd)
        failed = any(word in cmd for word in self.fail)
        return subprocess.CompletedProcess(cmd, 1 if failed else 0, "", "fatal: could not read from remote\n")


def _run_setup_block(nb, monkeypatch, colab, fake):
    monkeypatch.setattr(subprocess, "run", fake)
    monkeypatch.setattr(sys, "path", list(sys.path))
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    exec(setup_block(nb), {})


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_the_setup_cell_does_nothing_locally(aid, monkeypatch):
    nb = nbformat.read(ROOT / "notebooks" / aid / f"{aid}.ipynb", as_version=4)
    before, fake = list(sys.path), FakeRun()
    _run_setup_block(nb, monkeypatch, colab=False, fake=fake)
    assert fake.commands == [] and sys.path == before


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_on_colab_the_setup_cell_installs_the_published_course(aid, monkeypatch):
    nb = nbformat.read(ROOT / "notebooks" / aid / f"{aid}.ipynb", as_version=4)
    fake = FakeRun()
    _run_setup_block(nb, monkeypatch, colab=True, fake=fake)
    clone, install = fake.commands
    assert clone[:2] == ["git", "clone"] and clone[-2:] == [COURSE.git_url, COURSE.colab_dir]
    assert clone[clone.index("--branch") + 1] == COURSE.ref, "the install is not pinned to the published ref"
    assert install[1:] == ["-m", "pip", "install", "-q", "-e", COURSE.colab_dir], "helpers and data: an editable install"
    assert sys.path[0] == COURSE.colab_dir, "the running kernel must see the helpers"


def test_on_colab_a_failed_install_stops_and_says_what_to_do(monkeypatch):
    nb = nbformat.read(ROOT / "notebooks" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb", as_version=4)
    fake = FakeRun(fail=["clone"])
    with pytest.raises(RuntimeError) as err:
        _run_setup_block(nb, monkeypatch, colab=True, fake=fake)
    message = str(err.value)
    assert "git clone failed" in message and "could not read from remote" in message
    assert "run this cell again" in message and f"github.com/{COURSE.repo}" in message
    assert fake.commands[-1] == ["rm", "-rf", COURSE.colab_dir], "a failed install leaves nothing half done"


def test_course_settings_are_checked():
    with pytest.raises(ValueError, match="github.com"):
        settings.Course("t", "https://gitlab.com/a/b", "main", "/content/x", "h")
    with pytest.raises(ValueError, match="ref"):
        settings.Course("t", "https://github.com/a/b", 'main"; import os', "/content/x", "h")
    assert settings.Course("t", "https://github.com/a/b.git", "v1", "/content/x", "h").repo == "a/b"


# -- the publication on its own --------------------------------------------------------------------

def install_as_a_student(publication, home):
    """The publication copied alone into ``home / "course"`` (a git repository, as a clone is) and
    installed, as its README says, with
    ``pip install -e`` into a new virtual environment: ``(course folder, that environment's python)``.

    The install is ``--no-deps``, and the environment sees this one's packages (torch and the rest)
    through a .pth file: a full install downloads torch and takes about 4 minutes, and CI is offline.
    This one's own course_utils is not seen (a .pth file in a folder added by a .pth file is not read)."""
    course = shutil.copytree(publication, home / "course")
    git = ["git", "-C", str(course), "-c", "user.name=student", "-c", "user.email=student@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the published course"]):
        subprocess.run([*git, *args], check=True)  # a clone, as the README's command makes it
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", home / "venv"], check=True)
    python = home / "venv" / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_relative_to(sys.prefix)]
    Path(site, "zz_packages_of_the_tests.pth").write_text("\n".join(ours) + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", course],
                   check=True, capture_output=True, cwd=home)
    # requirements.txt's own line for the course's JupyterLab settings (a plain install, so that pip
    # copies them into the environment)
    line = next(r.split()[0] for r in (course / "requirements.txt").read_text().splitlines() if r.startswith("./"))
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", line],
                   check=True, capture_output=True, cwd=course)
    overrides = home / "venv" / "share" / "jupyter" / "lab" / "settings" / "overrides.d"
    assert json.loads((overrides / "transformers-course.json").read_text())[
        "@jupyter-widgets/jupyterlab-manager:plugin"]["saveState"] is True, "widget state is not saved"
    where = subprocess.run([python, "-c", "import course_utils; print(course_utils.__file__)"],
                           capture_output=True, text=True, check=True, cwd=home).stdout.strip()
    assert Path(where).is_relative_to(course), f"the student environment imports {where}"
    return course, python


@pytest.fixture(scope="module")
def student(publication, tmp_path_factory):
    """A student's install of the publication (see install_as_a_student). The notebooks with the
    solutions typed in run from a publication in tests/test_colab.py (after a full install, Colab's)
    and tests/test_browser.py (in JupyterLab), so they are not run a second time here."""
    return install_as_a_student(publication, tmp_path_factory.mktemp("student"))


def _kernel(python, tmp_path):
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    spec = tmp_path / "kernels" / "student"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "student", "language": "python"}))
    return KernelManager(kernel_name="student", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))


def _errors(nb):
    return [(c.metadata.get("nbgrader", {}).get("grade_id", f"cell {i}"), o.ename, o.evalue)
            for i, c in enumerate(nb.cells) if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


@pytest.mark.slow
@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_untouched_published_notebook_stops_at_its_first_todo(aid, student, tmp_path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    course, python = student
    nb = nbformat.read(course / "notebooks" / aid / f"{aid}.ipynb", as_version=4)
    # The first TODO raises where it runs: in its own cell, or in its test cell if it is a function's body.
    todos = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and nbgrader_meta(c).get("solution")]
    km = _kernel(python, tmp_path)
    try:
        with pytest.raises(CellExecutionError):
            NotebookClient(nb, km=km, timeout=300,
                           resources={"metadata": {"path": str(course / "notebooks" / aid)}}).execute()
    finally:  # nbclient leaves a kernel it was given running
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    failed = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert len(failed) == 1 and todos[0] <= failed[0] < todos[1], \
        f"{aid}: expected to stop at the first TODO (cell {todos[0]}), got {_errors(nb)} in cells {failed}"
    (error,) = [o for o in nb.cells[failed[0]].outputs if o.output_type == "error"]
    assert error.ename == "NotImplementedError" and error.evalue.startswith("Not done yet"), _errors(nb)
