"""The published course on a simulated Colab: Python 3.13, Colab's own package pins, no nbgrader,
``google.colab`` faked, and each notebook's own setup cell installing the course.

The course is published into a folder and committed as a git repository; the settings point the
setup cells at it through a ``file://`` URL, as course.toml's ``clone_url`` allows. The first setup
cell clones and pip-installs it, exactly as on Colab (the others find it installed, as in one Colab
runtime). The install must keep Colab's torch, torchvision and ipywidgets, and each notebook, with
the solutions typed in, runs top to bottom in fast mode with the data that install brought.

It downloads Colab's packages from PyPI (about 4 GB: PyPI's torch is a CUDA build; about two
minutes) into a new virtual environment, in the background from the start of the test session
(conftest.py); it never downloads data. Without a Python 3.13 it is
skipped, and fails in CI (``CI=true``).
"""
import copy
import glob
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest

from conftest import ASSIGNMENTS, ROOT
from course_utils.instructor import publish, settings
from test_publish import release_source
from test_releases import nbgrader_meta

pytestmark = pytest.mark.slow
PINS = ROOT / "tests" / "colab_pins.txt"
KEPT = ("torch", "torchvision", "ipywidgets")  # what the install must not replace

# google.colab as a Colab kernel has it imported; _message hands over the notebook, as Colab does
# for the hand-in check (here: the file the test names in FAKE_COLAB_IPYNB).
FAKE_MESSAGE = '''import json, os

def blocking_request(kind, request="", timeout_sec=5):
    assert kind == "get_ipynb", kind
    with open(os.environ["FAKE_COLAB_IPYNB"]) as f:
        return {"ipynb": json.load(f)}
'''


def python313():
    """A Python 3.13, or None."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    candidates += [shutil.which("python3.13")]  # may be a pyenv shim that is not active: try it
    return next((p for p in filter(None, candidates) if subprocess.run(
        [p, "-c", "import sys, venv; assert sys.version_info[:2] == (3, 13)"], capture_output=True).returncode == 0),
        None)


class Runtime:
    """A new virtual environment with Colab's packages. conftest.py starts the install in the background
    as soon as this module's tests are selected, so that the download overlaps the other tests."""

    def __init__(self):
        self.home, self.proc = None, None

    def start(self):
        if self.proc is not None or python313() is None:
            return
        self.home = Path(tempfile.mkdtemp(prefix="colab-runtime-"))
        venv = self.home / "venv"
        script = (f'"{python313()}" -m venv "{venv}" && "{venv}/bin/python" -m pip install -q '
                  f'--disable-pip-version-check -r "{PINS}"')
        self.log = open(self.home / "install.log", "w")
        self.proc = subprocess.Popen(["bash", "-c", script], stdout=self.log, stderr=subprocess.STDOUT)

    def python(self):
        """The environment's python, once the install has ended."""
        if python313() is None:
            reason = "no Python 3.13 (Colab's Python) found: install one, for example with pyenv"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        self.start()
        if self.proc.wait():
            pytest.fail(f"could not install Colab's packages:\n{(self.home / 'install.log').read_text()[-3000:]}")
        return str(self.home / "venv" / "bin" / "python")

    def close(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
            shutil.rmtree(self.home, ignore_errors=True)


RUNTIME = Runtime()


def _freeze(python):
    out = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                         check=True).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """``(course settings, runtime python, /content, Colab's packages before the install)``."""
    home = tmp_path_factory.mktemp("colab")
    python = RUNTIME.python()
    fake = home / "fake"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "_message.py").write_text(FAKE_MESSAGE)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "fake_colab.pth").write_text(f"{fake}\nimport google.colab\n")

    repo = home / "published"
    course = settings.Course(title=settings.load().title, url=settings.load().url, ref="main",
                             colab_dir=str(home / "content" / "transformers-course"),
                             hand_in="-", clone_url=f"file://{repo}")
    publish.publish(repo, course)
    git = ["git", "-C", repo, "-c", "user.name=course", "-c", "user.email=course@example.org"]
    subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "the published course"], check=True)
    (home / "content").mkdir()
    return course, python, home / "content", _freeze(python)


def _kernel(python, folder):
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    spec = folder / "colab"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "colab", "language": "python"}))
    return KernelManager(kernel_name="colab", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder)]))


def run_on_colab(colab, nb, tmp_path, saved=None):
    """Run ``nb`` in a kernel of the simulated runtime, in /content; return it with its outputs.
    ``saved``: the notebook as Colab hands it over when asked (default: ``nb``)."""
    from nbclient import NotebookClient

    _, python, content, _ = colab
    ipynb = tmp_path / "notebook.ipynb"
    nbformat.write(saved or nb, ipynb)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(FAKE_COLAB_IPYNB=str(ipynb), COURSE_FAST="1", COURSE_OFFLINE="1")
    km = _kernel(python, tmp_path / "kernels")
    try:
        NotebookClient(nb, km=km, timeout=600, allow_errors=True,
                       resources={"metadata": {"path": str(content)}}).execute(cwd=str(content), env=env)
    finally:  # nbclient leaves a kernel it was given running
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return nb


def with_solutions(nb, aid):
    cells = {nbgrader_meta(c).get("grade_id"): c for c in nb.cells}
    for c in release_source(aid).cells:
        if nbgrader_meta(c).get("solution"):
            cells[nbgrader_meta(c)["grade_id"]].source = c.source
    return nb


def _errors(nb):
    return [(nbgrader_meta(c).get("grade_id", f"cell {i}"), o.ename, o.evalue)
            for i, c in enumerate(nb.cells) if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def _text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_the_simulated_runtime_is_colabs(colab):
    _, python, _, before = colab
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                             text=True, check=True).stdout.strip()
    assert version == "(3, 13)"
    assert before["torch"] == "2.11.0" and before["ipywidgets"] == "7.7.1" and "nbgrader" not in before


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_each_notebook_runs_on_colab_with_what_its_setup_cell_installs(aid, colab, tmp_path):
    course, python, _, before = colab
    published = Path(course.clone_url.removeprefix("file://"))
    nb = with_solutions(nbformat.read(published / "notebooks" / aid / f"{aid}.ipynb", as_version=4), aid)
    saved = copy.deepcopy(nb)
    check = nb.cells[-1]
    assert check.source.rstrip().endswith("checks.ready_to_submit()")
    check.source = check.source.replace("ready_to_submit()", "ready_to_submit(run=False)")  # a whole run is enough
    nb.cells.append(nbformat.v4.new_code_cell("import course_utils; print('HELPERS', course_utils.__file__)"))
    nb = run_on_colab(colab, nb, tmp_path, saved)
    assert not _errors(nb), f"{aid}: cells failed on Colab:\n" + "\n".join(map(str, _errors(nb)))

    after = _freeze(python)
    assert {p: after.get(p) for p in KEPT} == {p: before[p] for p in KEPT}, "the install replaced Colab's packages"
    assert "course-utils" in after and "nbgrader" not in after
    where = _text(nb.cells[-1]).split("HELPERS", 1)[-1].strip()
    assert Path(where).is_relative_to(course.colab_dir), f"{aid} imported the helpers from {where}"
    verdict = _text(nb.cells[-2])
    # Colab handed the notebook over, and the check found the release in the installed course
    assert "Hand-in check of" in verdict and f"release notebooks/{aid}/{aid}.ipynb" in verdict, verdict
    assert "metadata is broken" not in verdict, verdict
