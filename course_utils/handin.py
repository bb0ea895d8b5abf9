"""Hand-in check: is a notebook ready to submit?

One call answers, in plain words, the four questions a student should ask before handing in:

1. Is every TODO done? (no answer cell still raises the "Not done yet" stub)
2. Is every written answer filled in? (no answer cell still says YOUR ANSWER HERE)
3. Does every visible test pass when the notebook runs top to bottom? (a copy runs in fast mode)
4. Are the grading cells and their nbgrader metadata intact? (the autograder finds answers by it)

It needs no nbgrader (Colab has none) and never writes to the notebook: it reads the file, or on
Colab asks Colab for the notebook, and runs a copy in a temporary folder.

    python -m course_utils.check 01_attention.ipynb      # from a terminal: exit status 0 when ready
    checks.ready_to_submit()                             # the last cell of a notebook
"""

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import runtime

# The stubs the release puts in answer cells (nbgrader_config.py: ClearSolutions.code_stub, text_stub).
CODE_STUB = 'raise NotImplementedError("Not done yet'
TEXT_STUB = "YOUR ANSWER HERE"
# Set in the kernel that runs the copy, so that the check inside the copy does not start another copy.
CHILD_ENV = "COURSE_HANDIN_CHECK"
# A clone or a published course has the release notebooks here; an installed package does not.
ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 600  # seconds per cell; fast mode keeps every cell far below this
NBGRADER_KEYS = ("grade_id", "grade", "solution", "locked", "checksum")

DOWNLOAD_HELP = [
    "Without it the autograder may not find your answers and tests. To hand in an intact notebook:",
    "  - on Colab, use File -> Download -> Download .ipynb: it keeps the metadata;",
    "  - do not copy cells into a new notebook, and do not use \"Save a copy in Drive\" and then",
    "    copy-paste cells: both lose it. If that happened, open a fresh copy of the notebook and",
    "    paste your code and answers into its cells (inside the cells, not the cells themselves).",
]


class HandinError(Exception):
    """The check could not run; the message says what to do."""


@dataclass
class Item:
    ok: bool | None  # None: not checked
    text: str
    details: list = field(default_factory=list)


@dataclass
class Report:
    name: str
    items: list
    notes: list = field(default_factory=list)

    @property
    def ready(self):
        return all(item.ok is True for item in self.items)

    def text(self):
        lines = [f"Hand-in check of {self.name}", ""]
        for item in self.items:
            mark = {True: "[ok]", False: "[!!]", None: "[--]"}[item.ok]
            lines.append(f"  {mark} {item.text}")
            lines += [f"         {d}" for d in item.details]
        lines += [""] + [f"  ({note})" for note in self.notes]
        if self.ready:
            lines.append("READY to submit: save the notebook and hand in the .ipynb file.")
        else:
            lines.append("NOT READY yet: fix the items marked [!!] (or run the ones marked [--]), "
                         "save, and run this check again.")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- the check

def check(notebook, run=True, progress=True):
    """Check a notebook: a path, or its JSON as a dict (what Colab hands over). Returns a Report."""
    if os.environ.get(CHILD_ENV):
        raise HandinError("skipped: this notebook is being run by a hand-in check already.")
    data, path = _read(notebook)
    cells = data.get("cells", [])
    release, where = find_release(data, path)
    items = [todos(cells), written_answers(cells)]
    items.append(visible_tests(data, progress) if run else
                 Item(None, "The visible tests were not run (run=False, or --no-run)."))
    items.append(metadata(data, release))
    notes = [f"compared with the release {where}" if release else
             "no copy of the release found beside course_utils: the metadata was checked for consistency only"]
    name = path.name if path else data.get("metadata", {}).get("colab", {}).get("name", "this notebook")
    return Report(name, items, notes)


def todos(cells):
    left = [label(cells, i) for i in answer_cells(cells, "code") if CODE_STUB in _src(cells[i])]
    if not left:
        return Item(True, "Every TODO is done.")
    return Item(False, "Not every TODO is done: these cells still raise NotImplementedError(\"Not done yet...\"); "
                       "replace that line with your code:", left)


def written_answers(cells):
    def empty(c):  # an answer cell that still holds the stub; once the metadata is gone, only the bare stub
        return (TEXT_STUB in _src(c) or not _src(c).strip()) if _meta(c) else _src(c).strip() == TEXT_STUB
    left = [label(cells, i) for i in answer_cells(cells, "markdown") if empty(cells[i])]
    if not left:
        return Item(True, "Every written answer is filled in.")
    return Item(False, f"Not every written answer is filled in: these still say {TEXT_STUB} (or are empty); "
                       "write your answer in its place:", left)


def answer_cells(cells, cell_type):
    """Indices of the answer cells; once the metadata is stripped, of every cell of that type."""
    stripped = not any(_meta(c) for c in cells)
    return [i for i, c in enumerate(cells)
            if c.get("cell_type") == cell_type and (stripped or _meta(c).get("solution"))]


def visible_tests(data, progress=True):
    """Run a copy of the notebook top to bottom; every test cell must pass, and no other cell fail."""
    cells, died = run_copy(data, progress)
    failed = []
    for i, c in enumerate(cells):
        for out in c.get("outputs", []):
            if out.get("output_type") == "error":
                first = (str(out.get("evalue", "")).strip().splitlines() or [""])[0]
                failed.append(f"{label(cells, i)}: {out.get('ename')}: {first}")
    if died is not None:
        failed.append(f"the notebook stopped at {label(cells, died)}: its kernel died (out of memory?)")
    n_tests = sum(_is_test(c) for c in cells)
    if not failed:
        return Item(True, f"Every visible test passes ({n_tests} test cells) when the notebook runs "
                          "top to bottom in fast mode.")
    return Item(False, "Not every visible test passes when the notebook runs top to bottom (fast mode); "
                       "these cells fail (read the error under each, fix the code above it):", failed)


def metadata(data, release):
    """The grading cells and their nbgrader metadata, against the release if there is one."""
    cells = data.get("cells", [])
    problems, notes = [], []
    ids = [_grade_id(c) for c in cells if _grade_id(c)]
    twice = sorted({g for g in ids if ids.count(g) > 1})
    if twice:
        problems.append(f"graded cells that appear more than once (delete the copies): {_few(twice)}")
    incomplete = [label(cells, i) for i, c in enumerate(cells)
                  if _meta(c) and any(k not in _meta(c) for k in NBGRADER_KEYS)]
    if incomplete:
        problems.append(f"cells with incomplete nbgrader metadata: {_few(incomplete)}")
    if not ids:
        problems.append("no cell has nbgrader metadata any more: it was stripped")
    elif release:
        problems += _against_release(cells, release.get("cells", []))
    # Cell ids (nbformat 4.5) do not matter to nbgrader, which goes by grade_id: say so, do not fail.
    if (data.get("nbformat", 0), data.get("nbformat_minor", 0)) < (4, 5) or any("id" not in c for c in cells):
        notes.append(f"The notebook has no cell ids (nbformat {data.get('nbformat')}.{data.get('nbformat_minor')}, "
                     "as Colab saves it): that is fine for grading.")
    if problems:
        return Item(False, "The grading metadata is broken:", [f"- {p}" for p in problems] + DOWNLOAD_HELP + notes)
    return Item(True, "The grading cells and their metadata are intact.", notes)


def _against_release(cells, release_cells):
    mine = {_grade_id(c): c for c in cells if _grade_id(c)}
    sources = {_src(c).strip() for c in cells}
    cell_ids = {c.get("id") for c in cells}
    stripped, deleted, answers, changed, edited = [], [], [], [], []
    for r in release_cells:
        g = _grade_id(r)
        if not g:
            continue
        c = mine.get(g)
        if c is None:  # still there without its metadata (same cell id, or a locked cell's text), or gone?
            if r.get("id") in cell_ids or (not _meta(r).get("solution") and _src(r).strip() in sources):
                stripped.append(g)
            else:  # an answer cell has the student's text: it cannot be told apart from a deleted one
                (answers if _meta(r).get("solution") else deleted).append(g)
        elif _meta(c) != _meta(r):
            changed.append(g)
        elif not _meta(r).get("solution") and _src(c).strip() != _src(r).strip():
            edited.append(g)
    extra = sorted(set(mine) - {_grade_id(r) for r in release_cells})
    problems = []
    if stripped:
        problems.append(f"graded cells that lost their nbgrader metadata ({len(stripped)}): {_few(stripped)}")
    if deleted:
        problems.append(f"test or read-only cells that were deleted ({len(deleted)}): {_few(deleted)}")
    if answers:
        problems.append(f"answer cells without their nbgrader metadata, or deleted ({len(answers)}): {_few(answers)}")
    if changed:
        problems.append(f"cells whose nbgrader metadata was changed: {_few(changed)} "
                        "(or your copy is older than the release)")
    if edited:
        problems.append(f"read-only or test cells that were edited: {_few(edited)} "
                        "(grading puts the originals back: undo your changes there, "
                        "or your copy is older than the release)")
    if extra:
        problems.append(f"graded cells that are not in the release: {_few(extra)}")
    return problems


# ----------------------------------------------------------------------------- running the copy

def run_copy(data, progress=True):
    """Execute a copy of the notebook in a temporary folder, in fast mode. Returns (cells, died_at)."""
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import DeadKernelError
    except ImportError as e:
        raise HandinError(f"running the notebook needs nbclient and nbformat ({e}): "
                          "pip install nbclient nbformat") from None
    from tqdm.auto import tqdm

    nb = nbformat.reads(json.dumps(data), as_version=4)
    env = {**os.environ, "COURSE_FAST": "1", CHILD_ENV: "1"}
    env.pop("NBGRADER_EXECUTION", None)
    if (ROOT / "pyproject.toml").is_file():  # a clone that may not be pip-installed: the kernel imports it from here
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    bar = tqdm(total=sum(c.cell_type == "code" for c in nb.cells), desc="Running a copy of the notebook",
               disable=not progress, leave=False)
    current = {"index": None}
    with tempfile.TemporaryDirectory(prefix="handin-") as tmp:
        client = NotebookClient(nb, timeout=CELL_TIMEOUT, interrupt_on_timeout=True, allow_errors=True,
                                kernel_name="python3", resources={"metadata": {"path": tmp}})
        client.on_cell_start = lambda cell_index, **_: current.update(index=cell_index)
        client.on_cell_executed = lambda **_: bar.update()
        try:
            client.execute(cwd=tmp, env=env)
            died = None
        except DeadKernelError:
            died = current["index"]
        except Exception as e:  # noqa: BLE001 (no kernel, a kernel that does not start: say so, plainly)
            raise HandinError(f"could not run a copy of the notebook ({type(e).__name__}: {e}).") from None
        finally:
            bar.close()
    return [dict(c) for c in nb.cells], died


# ----------------------------------------------------------------------------- finding the notebooks

def _read(notebook):
    """(notebook JSON, path or None). Reading only: the file is never written."""
    if isinstance(notebook, dict):
        return json.loads(json.dumps(notebook)), None
    path = Path(notebook)
    try:
        return json.loads(path.read_text(encoding="utf-8")), path
    except (OSError, ValueError) as e:
        raise HandinError(f"{path} is not a readable notebook ({type(e).__name__}: {e}).") from None


def find_release(data, path=None):
    """The release notebook this one was made from: (its JSON, where it is), or (None, None).

    Looks in notebooks/*/ beside course_utils (a clone or a published course). When the student
    works in that very file, the release is its last committed version (git), if there is one.
    """
    best, where, best_score = None, None, 0.5  # at least half of the release's graded cells must be recognised
    for candidate in sorted(ROOT.glob("notebooks/*/*.ipynb")):
        same = path is not None and path.resolve() == candidate.resolve()
        release = _committed(candidate) if same else _read(candidate)[0]
        if release is None:
            continue
        score = _overlap(data, release)
        if score >= best_score:
            best, best_score = release, score
            where = candidate.relative_to(ROOT).as_posix() + (" as last committed (git)" if same else "")
    return best, where


def _committed(path):
    try:
        out = subprocess.run(["git", "show", f"HEAD:./{path.name}"], cwd=path.parent, check=False,
                             capture_output=True, text=True, timeout=30)
        return json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _overlap(data, release):
    """The fraction of the release's graded cells found in ``data`` (by grade_id or by source)."""
    graded = [c for c in release.get("cells", []) if _grade_id(c)]
    ids = {_grade_id(c) for c in data.get("cells", [])}
    sources = {_src(c).strip() for c in data.get("cells", [])}
    found = sum(_grade_id(c) in ids or _src(c).strip() in sources for c in graded)
    return found / len(graded) if graded else 0.0


def this_notebook():
    """The running notebook: on Colab its JSON, elsewhere its file (JupyterLab, Notebook 7 and VS Code
    tell the kernel its path through JPY_SESSION_NAME, ``__session__`` or ``__vsc_ipynb_file__``)."""
    if runtime.on_colab():
        try:
            from google.colab import _message
            return _message.blocking_request("get_ipynb", request="", timeout_sec=30)["ipynb"]
        except Exception as e:  # noqa: BLE001 (an internal Colab API: any failure gets the same advice)
            raise HandinError(f"Colab did not hand over this notebook ({type(e).__name__}: {e}). Download it "
                              "(File -> Download -> Download .ipynb), upload it to the Files panel, and run "
                              "checks.ready_to_submit(path=\"<its name>.ipynb\").") from None
    names = [os.environ.get("JPY_SESSION_NAME")] + [_user_variable(v) for v in ("__session__", "__vsc_ipynb_file__")]
    for name in filter(None, names):
        for p in (Path(name), Path.cwd() / name, Path.cwd() / Path(name).name):  # the kernel runs beside it
            if p.suffix == ".ipynb" and p.is_file():
                return p
    raise HandinError("could not tell which notebook this is. Give its path, for example "
                      "checks.ready_to_submit(path=\"01_attention.ipynb\").")


def _user_variable(name):
    try:
        from IPython import get_ipython
        shell = get_ipython()
        return shell.user_ns.get(name) if shell is not None else None
    except ImportError:
        return None


def ready_to_submit(path=None, run=True):
    """Print the hand-in checklist of the running notebook (or of ``path``)."""
    if os.environ.get(CHILD_ENV) or runtime.is_grading():
        print("(The hand-in check does not run while the notebook is being checked or graded.)")
        return
    try:
        notebook = path or this_notebook()
        if isinstance(notebook, Path):
            print(f"Checking {notebook.name} as last saved: save it first (Ctrl+S) if you changed anything.")
        report = check(notebook, run=run)
    except HandinError as e:
        print(f"Hand-in check: {e}")
        return
    print(report.text())


# ----------------------------------------------------------------------------- reading cells

def _src(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def _grade_id(cell):
    return _meta(cell).get("grade_id")


def _is_test(cell):
    m = _meta(cell)
    return cell.get("cell_type") == "code" and bool(m.get("grade")) and not m.get("solution")


def label(cells, i):
    """How a student finds cell i: its position, and its grade id or question or first line."""
    c = cells[i]
    where = f"cell {i + 1}"
    if c.get("cell_type") == "markdown" and i > 0:  # a written answer: name the question above it
        above = _src(cells[i - 1]).strip()
        if above.startswith("**Question"):
            return f"{where}, the answer to {above[2:].split('**')[0].rstrip('.')}"
    if _grade_id(c):
        return f"{where} ({_grade_id(c)})"
    first = next((ln.strip() for ln in _src(c).splitlines() if ln.strip()), "")
    return f"{where} ({first[:50]})"


def _few(names, at_most=6):
    more = f" and {len(names) - at_most} more" if len(names) > at_most else ""
    return ", ".join(names[:at_most]) + more
