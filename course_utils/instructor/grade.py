"""Grade a class with one command: submissions in, scores, a report and feedback out.

    python -m course_utils.grade 01_attention downloads/ [--out DIR] [--workers N] [--feedback]

``downloads/`` holds one notebook per student, named by student id (``alice.ipynb``), or zips
of them; ``<id>/01_attention.ipynb`` and ``<id>.zip`` holding ``01_attention.ipynb`` work too.
Everything happens on copies, in a new output folder (an existing one is never overwritten):

    DIR/received/<id>.ipynb     the notebooks as handed in
    DIR/repaired/<id>.ipynb     with their nbgrader metadata repaired: what was graded
    DIR/autograded/<id>.ipynb   as nbgrader ran them, with outputs
    DIR/scores.csv              one row per student, one column per test cell
    DIR/report.md, pass_rates.png   the class report
    DIR/feedback/<id>.html      with --feedback: each student's results, without hidden tests
    DIR/work/                   nbgrader's course folders and logs

Each notebook is repaired first (``course_utils.repair``), then graded by ``nbgrader
autograde`` in throw-away course folders, one per worker, with the grading guard
(``course_utils.guard``). In Python, ``autograde(assignment, {student: notebook}, workdir)``
returns ``{student: {grade_id: (score, max_score)}}``.
"""

import argparse
import concurrent.futures
import copy
import dataclasses
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path, PurePosixPath

import nbformat

from . import autograde_config, feedback, guard, nbmeta, report, sandbox, settings
from .release import NOTEBOOKS, ROOT, SOLUTIONS, assignments, nbgrader_env, prepare
from .repair import RepairError, repair

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")

@dataclasses.dataclass
class Result:
    """What grading one student's notebook gave."""

    student: str
    scores: dict = dataclasses.field(default_factory=dict)    # grade_id -> (score, max_score)
    error: str = None        # set when the notebook could not be graded (then every test scores 0)
    repairs: list = dataclasses.field(default_factory=list)   # what repair() had to do
    notes: list = dataclasses.field(default_factory=list)     # timeouts, untrusted passes, ...
    mistakes: list = dataclasses.field(default_factory=list)  # (grade_id, "Likely mistake: ...")
    notebook: Path = None    # the autograded notebook

    @property
    def graded(self):
        return self.error is None


def tests_of(nb):
    """``{grade_id: points}`` of the autograded test cells of a notebook, in order."""
    return {nbmeta.grade_id(c): float(nbmeta.meta(c)["points"]) for c in nb.cells if nbmeta.is_test(c)}


def total(scores):
    """Sum of (score, max_score) over the autograded cells of one student."""
    got = sum(s or 0.0 for s, _ in scores.values())
    return got, sum(m for _, m in scores.values())


# -- intake ------------------------------------------------------------------------------------

def _skipped(parts):
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _student_of(parts, assignment):
    """``alice.ipynb`` -> alice; ``alice/01_attention.ipynb`` or ``alice.zip:01_attention.ipynb`` -> alice."""
    stem = parts[-1][: -len(".ipynb")]
    if stem != assignment:
        return stem
    return next((p for p in reversed(parts[:-1]) if p not in (assignment, "submitted")), None)


def collect(folder, assignment, dest):
    """Copy each submitted notebook to ``dest/<student>.ipynb``.

    Returns ``({student: path}, {student or file: problem})``. Originals are only read.
    """
    folder, dest = Path(folder), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    found, problems = {}, {}

    def add(parts, label, data):
        student = _student_of(parts, assignment)
        if student is None or not STUDENT_ID.fullmatch(student):
            problems[label] = (f"cannot tell the student id from {label!r}: name each notebook "
                               "<student_id>.ipynb (letters, digits, . _ @ + -)")
        else:
            found.setdefault(student, []).append((label, data))

    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).parts
        if not path.is_file() or _skipped(rel):
            continue
        if path.suffix == ".ipynb":
            add(rel, "/".join(rel), path.read_bytes())
        elif path.suffix == ".zip":
            try:
                with zipfile.ZipFile(path) as zf:
                    for info in zf.infolist():
                        inner = PurePosixPath(info.filename).parts
                        if info.filename.endswith(".ipynb") and not info.is_dir() and not _skipped(inner):
                            add(rel[:-1] + (path.stem,) + inner, f"{'/'.join(rel)}:{info.filename}", zf.read(info))
            except zipfile.BadZipFile:
                problems["/".join(rel)] = "not a readable zip file"

    received = {}
    for student, copies in sorted(found.items()):
        if len(copies) > 1:
            problems[student] = (f"{len(copies)} notebooks for one student ({', '.join(l for l, _ in copies)}); "
                                 "keep only the one to grade")
            for i, (_, data) in enumerate(copies, 1):
                (dest / f"{student}.{i}.ipynb").write_bytes(data)
            continue
        received[student] = dest / f"{student}.ipynb"
        received[student].write_bytes(copies[0][1])
    return received, problems


def read_notebook(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbformat.read(path, as_version=4)


# -- the nbgrader run ------------------------------------------------------------------------------

def _hidden_marker():
    from nbgrader.preprocessors import ClearHiddenTests
    return ClearHiddenTests().begin_test_delimeter


def _prepare_source(assignment, dest, name):
    """The grader's copy of ``solutions/<assignment>/``: as the release was made from it (badge, setup
    cell from course.toml), so that its locked cells match the students', with the guard calls added."""
    shutil.copytree(SOLUTIONS / assignment, dest / assignment)
    path = dest / assignment / f"{assignment}.ipynb"
    nb = prepare(read_notebook(path), assignment, settings.load())
    nbformat.write(guard.harden(nb, name, _hidden_marker()), path)
    return dest


def _write_config(workdir, run):
    workdir.mkdir(parents=True, exist_ok=True)
    settings = autograde_config.Settings(
        workdir=str(workdir), source=str(run.source), guard_name=run.name, cell_timeout=run.cell_timeout,
        notebook_timeout=run.notebook_timeout, sandbox=run.limits is not None,
        **(dataclasses.asdict(run.limits) if run.limits else {}))
    autograde_config.write(workdir / "nbgrader_config.py", ROOT, settings)


def _nbgrader(args, cwd, log, limit=None, threads=None):
    """Run nbgrader, logging to ``log``; return its exit code (None if stopped at ``limit`` s).
    ``threads``: OMP_NUM_THREADS for its kernels, unless the grader's environment sets it."""
    env = nbgrader_env()
    if threads:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    with open(log, "a") as out:
        proc = subprocess.Popen([sys.executable, "-m", "course_utils.instructor.nbgrader_cli", *args], cwd=cwd,
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            return proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # kernels notice their parent is gone and exit
            proc.wait()
            return None


_STUCK = ("a cell could not be interrupted at the timeout (a loop that ignores interrupts, or a "
          "machine too busy to answer: grade it again to tell)")
_FAILURES = [  # (text in nbgrader's log, what it means)
    ("DeadKernelError", "the kernel died (os._exit, a crash, or killed for using too much memory)"),
    ("Kernel died", "the kernel died (os._exit, a crash, or killed for using too much memory)"),
    ("Timeout waiting for IOPub", _STUCK),
    ("became unresponsive", _STUCK),
    ("CellTimeoutError", _STUCK),
]


def _failure(log_text, student, stopped):
    """Why nbgrader gave up on a student's notebook, read from its log.

    The log is nbgrader's own: the sandbox keeps what a kernel prints out of it."""
    unknown = "nbgrader could not grade it (see work/worker*/autograde.log)"
    begins = [m.start() for m in re.finditer(r"\] Sanitizing ", log_text)]
    found = re.search(rf"(error processing assignment|While processing assignment):? \S*/submitted/"
                      rf"{re.escape(student)}/", log_text)
    if found is None:
        return "grading was stopped at the time limit" if stopped else unknown
    start = max([b for b in begins if b < found.start()], default=0)
    block = log_text[start:found.end()] + log_text[found.end():].split("] Sanitizing ", 1)[0]
    stopped_by_sandbox = re.search(re.escape(sandbox.STOPPED) + r" (.*)", block)
    if stopped_by_sandbox:
        return f"the sandbox stopped its kernel: {stopped_by_sandbox.group(1).strip()}"
    return next((meaning for needle, meaning in _FAILURES if needle in block), unknown)


def _limit_reached(nb, limits):
    """Why a notebook that ran to its end hit a limit of the sandbox (from its errors), or None."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            text = f"{out.get('ename')}: {out.get('evalue')}"
            if out.get("ename") == "MemoryError" or "can't allocate memory" in text or \
                    "Cannot allocate memory" in text:
                return f"it ran out of memory (the sandbox allows {sandbox.human(limits.memory)} per process)"
            if "No space left on device" in text or "File too large" in text:
                return f"it filled its scratch space (the sandbox allows {sandbox.human(limits.disk)})"
            if "Resource temporarily unavailable" in text or "can't start new thread" in text:
                return f"it started more than the {limits.processes} processes and threads the sandbox allows"
    return None


@dataclasses.dataclass
class GradingRun:
    """What every worker of one grading run shares."""

    assignment: str
    base: Path           # the course folder where the assignment was generated (its gradebook)
    source: Path         # the grader's copy of the sources, with the guard calls
    name: str            # the guard object's name
    tests: dict          # {grade_id: points}
    cell_timeout: int = None
    notebook_timeout: int = 600
    limit: float = None  # seconds for each worker's nbgrader run
    limits: sandbox.Limits = None  # the sandbox's limits; None: no sandbox
    threads: int = None  # torch's threads per kernel (OMP_NUM_THREADS); None: torch's default


def _grade_chunk(run, notebooks, workdir):
    _write_config(workdir, run)
    shutil.copyfile(run.base / "gradebook.db", workdir / "gradebook.db")
    assignment = run.assignment
    for student, nb in notebooks.items():
        nb = copy.deepcopy(nb)
        nb.cells.insert(0, nbformat.v4.new_code_cell(guard.arm_source(run.name), id="grader-arm"))
        dest = workdir / "submitted" / student / assignment / f"{assignment}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)
    log = workdir / "autograde.log"
    stopped = _nbgrader(["autograde", assignment, "--force", "--log-level=INFO"], workdir, log, run.limit,
                        run.threads) is None
    log_text = log.read_text(errors="replace")
    results = {}
    for student in notebooks:
        path = workdir / "autograded" / student / assignment / f"{assignment}.ipynb"
        if not path.is_file():
            results[student] = Result(student, scores={g: (0.0, p) for g, p in run.tests.items()},
                                      error=_failure(log_text, student, stopped),
                                      notes=[] if run.limits else [NO_SANDBOX])
            continue
        nb = read_notebook(path)
        results[student] = _score(student, nb, run.name, run.tests)
        results[student].mistakes = report.likely_mistakes(nb)
        results[student].notebook = path
        reason = _limit_reached(nb, run.limits) if run.limits else None
        if reason:
            results[student].error = reason
            results[student].scores = {g: (0.0, p) for g, p in run.tests.items()}
        if run.limits is None:
            results[student].notes.append(NO_SANDBOX)
    return results


NO_SANDBOX = "graded WITHOUT the sandbox (--no-sandbox): the submission could read and change the grader's files"


def _score(student, nb, name, tests):
    """Scores by nbgrader's own rule, and 0 wherever the guard's pass token is missing."""
    from nbgrader.utils import determine_grade

    trusted = guard.verify(nb, name)  # nbgrader applied it already (enforcer); never trust a pass without it
    result = Result(student)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        gid = nbmeta.grade_id(cell)
        enames = {o.get("ename") for o in cell.get("outputs", [])}
        if "CellTimeoutError" in enames:
            where = gid if gid in tests else f"cell {index} ({cell.source.strip().splitlines()[0][:40]!r})"
            result.notes.append(f"{where}: timed out")
        if gid in tests:
            score, points = determine_grade(cell)
            if "GraderError" in enames or (score and not trusted[gid]):
                result.notes.append(f"{gid}: did not run to its end untouched, so it scores 0")
                score = 0.0
            result.scores[gid] = (float(score or 0.0), points)
    for gid, points in tests.items():  # cannot happen after repair, but never let a test go missing
        result.scores.setdefault(gid, (0.0, points))
    return result


def grade_notebooks(assignment, notebooks, workdir, workers=1, cell_timeout=None, notebook_timeout=600,
                    limit=None, limits=sandbox.Limits()):
    """Autograde repaired notebooks (``{student: NotebookNode}``); return ``{student: Result}``.

    ``workers`` course folders are graded at the same time. ``limit`` bounds each worker's
    nbgrader run, in seconds (students it did not reach are reported as not graded).
    ``limits``: the sandbox's (``sandbox.Limits``); None grades without the sandbox.
    """
    workdir, workers = Path(workdir).resolve(), max(1, workers)
    workdir.mkdir(parents=True, exist_ok=True)
    name = guard.new_name()
    source = _prepare_source(assignment, workdir / "source", name)
    tests = tests_of(read_notebook(NOTEBOOKS / assignment / f"{assignment}.ipynb"))
    # Kernels share the cores: torch's default of one thread per core in every kernel oversubscribes
    # them (grading 8 notebooks of 02 with 2 workers on 2 cores: 1.2x faster with one thread each).
    threads = max(1, cores() // workers)
    run = GradingRun(assignment, workdir / "base", source, name, tests, cell_timeout, notebook_timeout, limit, limits,
                     threads)
    _write_config(run.base, run)
    if _nbgrader(["generate_assignment", assignment, "--force", "--log-level=WARN"], run.base,
                 run.base / "generate.log"):
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{(run.base / 'generate.log').read_text()}")

    students = sorted(notebooks)
    chunks = [students[i::workers] for i in range(workers) if students[i::workers]]
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max(1, len(chunks))) as pool:
        jobs = [pool.submit(_grade_chunk, run, {s: notebooks[s] for s in chunk}, workdir / f"worker{i}")
                for i, chunk in enumerate(chunks)]
        for job in jobs:
            results.update(job.result())
    return results


def load_and_repair(assignment, submissions):
    """``{student: path or NotebookNode}`` -> (``{student: repaired nb}``, ``{student: Result}``)."""
    release = read_notebook(NOTEBOOKS / assignment / f"{assignment}.ipynb")
    ready, results = {}, {}
    for student, nb in sorted(submissions.items()):
        try:
            nb = nb if isinstance(nb, nbformat.NotebookNode) else read_notebook(nb)
        except Exception as err:  # noqa: BLE001 (any unreadable file is reported, never fatal)
            results[student] = Result(student, error=f"not a readable notebook ({type(err).__name__}: {err})")
            continue
        try:
            ready[student], notes = repair(nb, release)
            results[student] = Result(student, repairs=notes)
        except Exception as err:  # noqa: BLE001
            reason = str(err) if isinstance(err, RepairError) else f"could not repair it ({type(err).__name__}: {err})"
            results[student] = Result(student, error=reason)
    return ready, results


def autograde(assignment, submissions, workdir, workers=1, timeout=None, cell_timeout=None,
              limits=sandbox.Limits()):
    """Repair and autograde ``{student: notebook path or NotebookNode}``, in the sandbox.

    Returns ``{student: {grade_id: (score, max_score)}}``; raises if a notebook cannot be repaired.
    """
    ready, results = load_and_repair(assignment, submissions)
    broken = {s: r.error for s, r in results.items() if not r.graded}
    if broken:
        raise RepairError("cannot grade: " + "; ".join(f"{s}: {e}" for s, e in broken.items()))
    graded = grade_notebooks(assignment, ready, workdir, workers, cell_timeout, limit=timeout, limits=limits)
    return {s: r.scores for s, r in graded.items()}


# -- the command ---------------------------------------------------------------------------------

def cores():
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _output_dir(out, assignment):
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("grading") / f"{assignment}-{stamp}"
        n = 2
        while out.exists():
            out, n = Path("grading") / f"{assignment}-{stamp}-{n}", n + 1
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"error: {out} already exists and is not empty; an earlier grading run is never "
                         "overwritten. Choose another --out, or delete it first.")
    out.mkdir(parents=True, exist_ok=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_utils.grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", help="assignment id, e.g. 01_attention")
    parser.add_argument("submissions", type=Path, help="folder of <student_id>.ipynb files and/or zips")
    parser.add_argument("--out", type=Path, help="new output folder (default: grading/<assignment>-<time>)")
    parser.add_argument("--workers", type=int, default=cores(),
                        help="submissions graded at the same time (default: the number of cores)")
    parser.add_argument("--feedback", action="store_true", help="write feedback/<id>.html (no hidden tests)")
    parser.add_argument("--cell-timeout", type=int, help="seconds per cell (default: nbgrader_config.py)")
    parser.add_argument("--notebook-timeout", type=int, default=600, help="seconds per notebook (default: 600)")
    box = parser.add_argument_group("the sandbox (every kernel in its own bubblewrap sandbox, on Linux)")
    box.add_argument("--memory", type=sandbox.parse_size, default=sandbox.Limits.memory,
                     help="memory of each kernel (default: 4G)")
    box.add_argument("--processes", type=int, default=sandbox.Limits.processes,
                     help=f"processes and threads of each kernel (default: {sandbox.Limits.processes})")
    box.add_argument("--disk", type=sandbox.parse_size, default=sandbox.Limits.disk,
                     help="size of each kernel's scratch folder, and of its /tmp (default: 1G)")
    box.add_argument("--no-sandbox", action="store_true",
                     help="grade without the sandbox: submissions can then read and change your files")
    args = parser.parse_args(argv)
    if args.assignment not in assignments():
        parser.error(f"unknown assignment {args.assignment!r}; known: {assignments()}")
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    if not any(p.suffix in (".ipynb", ".zip") for p in args.submissions.rglob("*")):
        parser.error(f"no .ipynb or .zip files in {args.submissions}")

    limits = None if args.no_sandbox else sandbox.Limits(args.memory, args.processes, args.disk)
    if limits:
        try:
            sandbox.check(limits)
        except sandbox.SandboxError as err:
            raise SystemExit(f"error: {err}")
    start = time.monotonic()
    out = _output_dir(args.out, args.assignment)
    received, problems = collect(args.submissions, args.assignment, out / "received")
    ready, results = load_and_repair(args.assignment, received)
    (out / "repaired").mkdir()
    for student, nb in ready.items():  # what was graded; nbgrader's own tools accept these too
        nbformat.write(nb, out / "repaired" / f"{student}.ipynb")
    tests = tests_of(read_notebook(NOTEBOOKS / args.assignment / f"{args.assignment}.ipynb"))
    for label, problem in problems.items():
        results[label] = Result(label, error=problem)
    print(f"Grading {len(ready)} submission(s) of {args.assignment} with {args.workers} worker(s) into {out}/")
    if limits:
        print(f"  each kernel in its own sandbox: no network, none of your files, {limits.describe()}")
    else:
        print(f"  WARNING: {NO_SANDBOX}", file=sys.stderr)
    graded = grade_notebooks(args.assignment, ready, out / "work", args.workers, args.cell_timeout,
                             args.notebook_timeout, limits=limits) if ready else {}
    for student, result in graded.items():
        result.repairs = results[student].repairs
        results[student] = result
        if result.notebook:
            (out / "autograded").mkdir(exist_ok=True)
            shutil.copyfile(result.notebook, out / "autograded" / f"{student}.ipynb")
    elapsed = time.monotonic() - start

    results = dict(sorted(results.items()))
    report.write_csv(out / "scores.csv", results, tests)
    report.write_report(out, args.assignment, results, tests, elapsed, args.workers, limits)
    if args.feedback:
        feedback.write_all(out / "feedback", args.assignment, results, tests)

    for r in results.values():
        if r.repairs:
            print(f"  repaired {r.student}: " + "; ".join(r.repairs))
        if not r.graded:
            print(f"  {'FAILED' if r.scores else 'NOT GRADED'} {r.student}: {r.error}", file=sys.stderr)
    n_ok = sum(r.graded for r in results.values())
    print(f"Graded {n_ok} of {len(results)} in {elapsed:.0f} s. Scores: {out / 'scores.csv'}; "
          f"report: {out / 'report.md'}" + (f"; feedback: {out / 'feedback'}/" if args.feedback else ""))
    return 0 if n_ok == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
