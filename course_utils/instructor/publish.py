"""The student course, ready to be pushed as its own public repository.

    python -m course_utils.release --publish DIR

DIR receives what a student needs and nothing else:

    README.md                       set up, open on Colab, check and hand in (from course.toml)
    notebooks/<id>/<id>.ipynb       the releases, generated afresh from solutions/
    course_utils/*.py               the helpers the notebooks import (not instructor/, not the shims)
    data/                           the bundled data, with its provenance and licences (data/README.md)
    pyproject.toml, requirements.txt    the student package and what it needs (no nbgrader)
    jupyterlab-settings/            the course's JupyterLab settings, installed by requirements.txt
    .gitignore, .course-publication.json    the marker: the course, and every file this publication wrote

Publishing twice from the same commit writes the same bytes (no dates, sorted, fixed JSON), so that
re-publishing shows clean diffs. A DIR that holds other files is refused, unless it is an earlier
publication of this course: then only the files that publication wrote are replaced, and its ``.git/``
and any file added since are kept.
"""

import json
import string
import sys
import tempfile
from pathlib import Path

import nbformat

from . import release, settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover (Python 3.10)
    import tomli as tomllib

ROOT = release.ROOT
MARKER = ".course-publication.json"
SHIMS = {"grade.py", "release.py"}  # `python -m` entry points of the instructor tools
SKIP = {"__pycache__", ".ipynb_checkpoints", ".DS_Store"}
STUDENT_README = Path(__file__).with_name("student_README.md")
LOCAL_EXTRAS = ["jupyterlab>=4.0"]  # to work on one's own machine; Colab has its own Jupyter
SETTINGS = "jupyterlab-settings"   # the course's JupyterLab settings, a package of their own (see its pyproject)


class PublishError(Exception):
    """DIR cannot receive the publication (a message for the instructor)."""


def _files_under(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file() and not SKIP & set(p.relative_to(folder).parts))


def _toml_list(items):
    return "[\n" + "".join(f"    {json.dumps(item)},\n" for item in items) + "]"


def _pyproject(project):
    """The student package: the instructor's, without the instructor and dev extras."""
    return f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = {json.dumps(project["name"])}
version = {json.dumps(project["version"])}
description = "Helpers of the course notebooks: runtime, checks, plots, widgets, data, blocks, training, embeddings."
readme = "README.md"
requires-python = {json.dumps(project["requires-python"])}
# Ranges, so that Colab keeps its own torch, torchvision and ipywidgets.
dependencies = {_toml_list(project["dependencies"])}

[tool.setuptools]
packages = ["course_utils"]
"""


def _requirements(project):
    return ("# What the notebooks need, as ranges so that Colab keeps its own torch, torchvision and ipywidgets.\n"
            "# The same as pyproject.toml, plus JupyterLab to work on your own machine.\n"
            + "".join(f"{dep}\n" for dep in [*project["dependencies"], *LOCAL_EXTRAS])
            + f"./{SETTINGS}   # the course's JupyterLab settings: widgets saved with the notebook\n")


def _title(nb):
    """``01 — Attention theory`` from the notebook's first heading ``# Notebook 01 — Attention theory``."""
    heading = next(c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("# "))
    return heading.source.splitlines()[0][2:].removeprefix("Notebook ").strip()


def _readme(course, notebooks, ids, has_licence):
    folder = Path(course.colab_dir).name
    rows = "".join(
        f"| {_title(nbformat.read(notebooks / aid / f'{aid}.ipynb', as_version=4))} "
        f"| [`notebooks/{aid}/{aid}.ipynb`](notebooks/{aid}/{aid}.ipynb) "
        f"| {release.BADGE.format(url=course.colab_url(f'notebooks/{aid}/{aid}.ipynb'))} |\n" for aid in ids)
    licence = ("The course's code and notebooks: see [LICENSE](LICENSE)." if has_licence else
               "The course's code and notebooks carry no licence yet: ask the course's instructors before "
               "reusing them outside the course.")
    return string.Template(STUDENT_README.read_text()).substitute(
        title=course.title, count=len(ids), notebooks=rows, git_url=f"https://github.com/{course.repo}.git",
        ref=course.ref, folder=folder, hand_in=course.hand_in, licence=licence, first=f"notebooks/{ids[0]}/{ids[0]}.ipynb")


def contents(course, notebooks, ids):
    """``{relative path: bytes}`` of a publication whose releases are in ``notebooks``."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    files = {f"notebooks/{aid}/{p.relative_to(notebooks / aid).as_posix()}": p.read_bytes()
             for aid in ids for p in _files_under(notebooks / aid)}
    files |= {f"course_utils/{p.name}": p.read_bytes()
              for p in sorted((ROOT / "course_utils").glob("*.py")) if p.name not in SHIMS}
    files |= {f"data/{p.relative_to(ROOT / 'data').as_posix()}": p.read_bytes() for p in _files_under(ROOT / "data")}
    has_licence = (ROOT / "LICENSE").is_file()
    if has_licence:
        files["LICENSE"] = (ROOT / "LICENSE").read_bytes()
    files["README.md"] = _readme(course, notebooks, ids, has_licence).encode()
    files |= {f"{SETTINGS}/{p.name}": p.read_bytes() for p in sorted((ROOT / SETTINGS).iterdir()) if p.is_file()}
    files["pyproject.toml"] = _pyproject(project).encode()
    files["requirements.txt"] = _requirements(project).encode()
    files[".gitignore"] = f".venv/\n__pycache__/\n*.egg-info/\n.ipynb_checkpoints/\n/{SETTINGS}/build/\n".encode()
    return files


def earlier_publication(dest, course):
    """The files an earlier publication of ``course`` wrote into ``dest`` ([] if ``dest`` is empty or new).

    Raises PublishError if ``dest`` holds anything else."""
    dest = Path(dest)
    if not dest.exists():
        return []
    if not dest.is_dir():
        raise PublishError(f"{dest} is not a folder.")
    if not [p for p in dest.iterdir() if p.name != ".git"]:  # empty, or a fresh clone of an empty repository
        return []
    try:
        marker = json.loads((dest / MARKER).read_text())
    except (OSError, ValueError):
        raise PublishError(f"{dest} holds other files and is not a publication of a course ({MARKER} is missing "
                           "or unreadable): publish into a new or empty folder, or into an earlier publication.")
    if marker.get("course") != course.title:
        raise PublishError(f"{dest} is a publication of another course ({marker.get('course')!r}, not "
                           f"{course.title!r}): publish into a new or empty folder, or into an earlier publication.")
    files = marker.get("files", [])
    for name in files:  # a marker edited by hand must not make us delete anything outside dest
        if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts or ".git" in Path(name).parts:
            raise PublishError(f"{dest / MARKER} lists {name!r}, which is not a file of a publication.")
    return files


def _remove(dest, names):
    """Delete the files ``names`` of ``dest``, then the folders they leave empty."""
    for name in names:
        (dest / name).unlink(missing_ok=True)
    for folder in sorted({p for name in names for p in (dest / name).parents if dest in p.parents}, reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def publish(dest, course=None, ids=None):
    """Write the student course into ``dest``; return the relative paths written (the marker's list)."""
    course, ids = course or settings.load(), ids or release.assignments()
    dest = Path(dest).resolve()
    if dest == ROOT or ROOT in dest.parents:
        raise PublishError(f"{dest} is inside the instructor's repository: publish outside it (a publication "
                           "is a repository of its own).")
    old = earlier_publication(dest, course)
    with tempfile.TemporaryDirectory() as tmp:
        files = contents(course, release.generate(ids, Path(tmp), course), ids)
    names = sorted([*files, MARKER])
    files[MARKER] = (json.dumps({"course": course.title, "repository": course.url, "ref": course.ref,
                                 "files": names}, indent=1, sort_keys=True) + "\n").encode()
    _remove(dest, old)
    for name in sorted(files):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(files[name])
    return names
