"""What a student and an instructor see, in JupyterLab in a real browser (headless Chromium).

Each notebook runs as a student gets it: the course is published (``python -m course_utils.release
--publish``), installed as the publication's README says, and opened in JupyterLab on its
``notebooks/`` folder; its solutions are typed in, and it is run through the UI (Run → Run All
Cells) in fast mode. Then the test looks at the page as a person would: no
cell shows an error or a red stderr box, each interactive explorer appears exactly once as a live
widget, moving its slider changes its figure, progress bars render as bars. Formgrader and the
Nbgrader menu's panels show no error, in JupyterLab on this repository (the instructor's). Screenshots
go to the test's temporary folder.

It is also the suite's run of every published notebook, solutions typed in, in JupyterLab
(tests/test_colab.py runs them on Colab's Python and packages).

Run it alone with ``python -m pytest -m browser``. It needs Debian's ``chromium`` (``.ci/run``
installs it) and Playwright for Python, driven with ``executable_path``: ``playwright install``
downloads a browser, which is neither needed nor possible here.
"""
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from conftest import ASSIGNMENTS, ROOT
from submissions import student
from test_colab import with_solutions
from test_publish import install_as_a_student

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
RUN_TIMEOUT_MS = 600_000
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"  # the notebook on screen


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder):
    """JupyterLab settings for a test: render every cell (not only those in view), no news pop-up."""
    for plugin, values in {"notebook-extension/tracker": {"windowingMode": "none"},
                           "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}.items():
        path = folder / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


class Lab:
    """A JupyterLab server on a folder (``root``) and a Chromium page on it."""

    def __init__(self, work, playwright, root=ROOT, env=None, python=sys.executable, args=()):
        self.work, self.root, self.port, self.token = work, root, _free_port(), secrets.token_hex(8)
        _settings(work / "settings")
        env = dict(os.environ, COURSE_FAST="1", COURSE_OFFLINE="1", **(env or {}))
        env.pop("MPLBACKEND", None)  # the notebooks' figures are inline, as for a student
        self.log = open(work / "server.log", "w")
        self.server = subprocess.Popen(
            [str(python), "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}", "--allow-root",
             f"--LabApp.user_settings_dir={work / 'settings'}", f"--LabApp.workspaces_dir={work / 'workspaces'}",
             *args],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.server.poll() is not None:
                    raise RuntimeError(f"JupyterLab did not start: {(work / 'server.log').read_text()[-2000:]}")
                time.sleep(0.3)
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])

    def url(self, path, fresh=False):
        """``fresh``: in a workspace of its own, so that no tab of an earlier page comes back."""
        if fresh:
            path = f"lab/workspaces/w{secrets.token_hex(4)}/{path.removeprefix('lab').lstrip('/')}".rstrip("/")
        return f"http://127.0.0.1:{self.port}/{path}?{'reset&' if fresh else ''}token={self.token}"

    def page(self):
        page = self.browser.new_page(viewport={"width": 1400, "height": 1000})
        page.console_errors, page.shots = [], getattr(self, "shots", self.work)

        def console(message):
            # Offline, JupyterLab's look-ups of outside hosts fail; a person sees nothing of that.
            if message.type == "error" and "ERR_NAME_NOT_RESOLVED" not in message.text:
                page.console_errors.append(message.text)

        page.on("console", console)
        return page

    def close(self):
        self.browser.close()
        self.server.terminate()
        self.server.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nbrowser test screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def playwright():
    """One Playwright for both servers (its sync API runs one at a time in a thread)."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def lab(playwright, shots):
    """JupyterLab on this repository, in its environment: the instructor's."""
    # The notebooks live under the server's root; build/ is ignored by git.
    work = ROOT / "build" / f"browser-test-{secrets.token_hex(4)}"
    work.mkdir(parents=True)
    lab = Lab(work, playwright)
    lab.shots = shots
    yield lab
    lab.close()
    shutil.rmtree(work, ignore_errors=True)


# What a student's install of JupyterLab brings (this environment adds nbgrader's and Notebook 7's).
STUDENT_LABEXTENSIONS = ["@jupyter-widgets", "jupyterlab_pygments"]
STUDENT_SERVER_EXTENSIONS = ["jupyterlab.json", "jupyter-lsp-jupyter-server.json", "jupyter_server_terminals.json"]


@pytest.fixture(scope="module")
def student_lab(playwright, shots, published_course, tmp_path_factory):
    """JupyterLab on the ``notebooks/`` folder of a student's install of the published course, as its
    README says (``jupyter lab notebooks/``). That install sees this environment's packages (see
    install_as_a_student), so JupyterLab is told where its files are: the application, and only the
    extensions a student's JupyterLab has."""
    home = tmp_path_factory.mktemp("student")
    course, python = install_as_a_student(published_course, home)  # a copy: the publication is shared
    share = Path(sys.prefix) / "share" / "jupyter"
    data, config = home / "jupyter-data" / "labextensions", home / "jupyter-etc" / "jupyter_server_config.d"
    for folder, names, source in [(data, STUDENT_LABEXTENSIONS, share / "labextensions"), (config,
                                  STUDENT_SERVER_EXTENSIONS, Path(sys.prefix) / "etc" / "jupyter" / config.name)]:
        folder.mkdir(parents=True)
        for name in names:
            (folder / name).symlink_to(source / name)
    env = {"JUPYTER_PATH": str(data.parent), "JUPYTER_CONFIG_PATH": str(config.parent),
           "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
           "JUPYTER_DATA_DIR": str(home / "jupyter-user-data")}   # nothing of this machine's user
    (home / "lab").mkdir()
    # JupyterLab's default settings are read beside the application (app_dir), but the student's
    # requirements.txt installs the course's into its own environment: point JupyterLab there.
    lab = Lab(home / "lab", playwright, root=course / "notebooks", env=env, python=python,
              args=[f"--LabApp.app_dir={share / 'lab'}",
                    f"--LabApp.app_settings_dir={home / 'venv' / 'share' / 'jupyter' / 'lab' / 'settings'}"])
    lab.shots, lab.course = shots, course
    yield lab
    lab.close()


def _shoot(locator, path):
    """A screenshot for a person to look at later; never a reason to fail."""
    try:
        locator.scroll_into_view_if_needed(timeout=5000)
        locator.screenshot(path=str(path), timeout=5000)
    except Exception:  # noqa: BLE001 (an image that is not on screen)
        pass


STARTED = """() => [...document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')].some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent))"""


def _run_all(page, name, tries=4):
    """Run -> Run All Cells, as a person would: click into the notebook first, since JupyterLab
    runs nothing while another part of the page has the focus (the menu item is then disabled),
    and click again if no cell is queued ([*]) 30 s later. JupyterLab marks the cells at once,
    before the kernel answers, so 30 s without a mark means the click did not take."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(tries):
        page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt").first.click()  # not a cell's links
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
        # exactly "Run All Cells", not "Restart Kernel and Run All Cells…", which asks first
        item = page.locator(".lm-Menu-item", has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))).first
        enabled = "lm-mod-disabled" not in (item.get_attribute("class") or "")
        item.click()
        try:
            page.wait_for_function(STARTED, timeout=30_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
            page.screenshot(path=str(page.shots / f"{name}-run-all-not-started-{attempt}.png"))
            print(f"{name}: Run All Cells (menu item {'enabled' if enabled else 'disabled'}) started nothing; again")
    raise AssertionError(f"{name}: Run -> Run All Cells started no cell in {tries} tries (screenshots in {page.shots})")


# For each cell on screen: its stderr boxes, "Error displaying widget" outputs, live widget boxes,
# widgets shown as text ("VBox(...)"), progress bars and images.
SHOWN = """(notebook) => [...document.querySelectorAll(notebook + ' .jp-Cell')].map(cell => {
    const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')];
    return {
        stderr: outputs.filter(o => o.getAttribute('data-mime-type') === 'application/vnd.jupyter.stderr')
                       .map(o => o.innerText.trim()),
        widget_errors: outputs.filter(o => o.innerText.includes('Error displaying widget')).length,
        live: cell.querySelectorAll('.jp-Cell-outputArea .widget-vbox').length,
        as_text: outputs.filter(o => o.innerText.includes('VBox(')).length,
        progress: cell.querySelectorAll('.jp-OutputArea .widget-hprogress, .jp-OutputArea .widget-progress').length,
        images: cell.querySelectorAll('.jp-OutputArea img').length,
    };
})"""


def run_in_browser(lab, nb, path):
    """Write ``nb`` to ``path`` (under the server's root), open it in JupyterLab, run all its cells
    through the menu, and say what a person sees."""
    nbformat.write(nb, path)
    name = path.stem
    page = lab.page()
    page.goto(lab.url(f"lab/tree/{path.relative_to(lab.root)}", fresh=True))
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    _run_all(page, name)
    # Done when no cell waits or runs ([*]) and the kernel is idle, twice in a row; a cell that
    # fails stops Run All, so some prompts may stay empty (the errors say why).
    page.wait_for_function("""() => {
        const NOTEBOOK = '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook';
        const prompts = [...document.querySelectorAll(NOTEBOOK + ' .jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);
        const idle = document.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']") !== null;
        const done = idle && prompts.some(p => /\\[\\d+\\]/.test(p)) && !prompts.some(p => p.includes('*'));
        window.__doneTwice = done && window.__doneOnce;
        window.__doneOnce = done;
        return window.__doneTwice;
    }""", timeout=RUN_TIMEOUT_MS, polling=1000)
    page.wait_for_timeout(1000)  # the last outputs and widget views
    cells = page.locator(f"{NOTEBOOK} .jp-Cell")
    assert cells.count() == len(nb.cells), f"{cells.count()} cells on the page, {len(nb.cells)} in the notebook"
    prompts = page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt").all_inner_texts()
    seen = {"errors": [], "explorers": [], "progress": 0, "console": page.console_errors, "page": page,
            "not_run": sum(not any(ch.isdigit() for ch in p) for p in prompts)}
    shown = page.evaluate(SHOWN, NOTEBOOK)  # what each cell shows, read in one call (not 5 per cell)
    for i, (cell, out) in enumerate(zip(nb.cells, shown)):
        if cell.cell_type != "code":
            continue
        for text in out["stderr"]:
            seen["errors"].append(f"cell {i}: {text if len(text) < 400 else text[:100] + ' ... ' + text[-300:]}")
        seen["errors"] += [f"cell {i}: Error displaying widget"] * out["widget_errors"]
        if "_explorer(" in cell.source:
            seen["explorers"].append({"cell": i, "live": out["live"], "as_text": out["as_text"]})
            _shoot(cells.nth(i).locator(".jp-Cell-outputArea"), lab.shots / f"{name}-cell{i}-explorer.png")
        seen["progress"] += out["progress"]
        if out["images"]:  # one picture of the cell's outputs holds all its figures (a picture each costs seconds)
            _shoot(cells.nth(i).locator(".jp-Cell-outputArea"), lab.shots / f"{name}-cell{i}.png")
    return seen


def problems(seen):
    """What a person would call broken on the page, in words."""
    found = list(seen["errors"])
    if seen["not_run"]:
        found.append(f"{seen['not_run']} code cell(s) never ran: Run All stopped at an error")
    for e in seen["explorers"]:
        if e["live"] != 1 or e["as_text"]:
            found.append(f"cell {e['cell']}: the explorer appears {e['live']} time(s) as a widget"
                         + (f" and {e['as_text']} time(s) as text" if e["as_text"] else ""))
    return found


def interacting_changes_output(page, explorer_cell):
    """Use the explorer as a person would: move its first slider with the keyboard (and, when it
    draws no figure, press its button). True if what it shows changes."""
    area = page.locator(f"{NOTEBOOK} .jp-Cell").nth(explorer_cell).locator(".jp-Cell-outputArea")
    figure = area.locator("img").count() > 0

    def shown():
        if figure:
            return area.locator("img").first.get_attribute("src") if area.locator("img").count() else None
        return area.locator(".widget-output").first.inner_text()

    before = shown()
    area.locator(".noUi-handle").first.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    if not figure:
        area.locator("button").first.click()
    for _ in range(120):
        page.wait_for_timeout(250)
        after = shown()
        if after and after != before:
            _shoot(area, page.shots / f"explorer-cell{explorer_cell}-used.png")
            return True
    return False


# Saving the widgets is a setting of JupyterLab, not of a notebook: it is checked in the first notebook with an explorer.
REOPENED = next(aid for aid in ASSIGNMENTS if "_explorer(" in (ROOT / "solutions" / aid / f"{aid}.ipynb").read_text())
USES_TQDM = {aid for aid in ASSIGNMENTS if "training." in (ROOT / "solutions" / aid / f"{aid}.ipynb").read_text()}


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_each_published_notebook_looks_right_in_jupyterlab(student_lab, aid):
    lab = student_lab
    path = lab.course / "notebooks" / aid / f"{aid}.ipynb"
    nb = with_solutions(nbformat.read(path, as_version=4), aid)
    answers = nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", as_version=4)
    written = {c.metadata["nbgrader"]["grade_id"]: c.source for c in answers.cells
               if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")}
    for c in nb.cells:  # the written answers too, so that the hand-in check can say READY
        if c.metadata.get("nbgrader", {}).get("grade_id") in written:
            c.source = written[c.metadata["nbgrader"]["grade_id"]]
    if aid != ASSIGNMENTS[0]:  # the hand-in check runs a whole copy: once (in the quickest notebook) is enough
        check = next(c for c in nb.cells if c.source.rstrip().endswith("checks.ready_to_submit()"))
        check.source = check.source.replace("ready_to_submit()", "ready_to_submit(run=False)")
    seen = run_in_browser(lab, nb, path)
    if aid == ASSIGNMENTS[0]:
        verdict = seen["page"].locator(f"{NOTEBOOK} .jp-Cell").nth(len(nb.cells) - 1).inner_text()
        assert "READY to submit" in verdict and "NOT READY" not in verdict, f"the hand-in check says:\n{verdict[-1500:]}"
        # the student works in the clone's own file: the check compares it with the committed release
        assert f"notebooks/{aid}/{aid}.ipynb as last committed (git)" in verdict, verdict[-1500:]
    assert not problems(seen), f"{aid}: " + "\n".join(problems(seen))
    if aid in USES_TQDM:
        assert seen["progress"] > 0, f"{aid}: no progress bar rendered as a widget"
    for explorer in seen["explorers"]:
        assert interacting_changes_output(seen["page"], explorer["cell"]), \
            f"{aid}: using the explorer in cell {explorer['cell']} changes nothing on the page"
    assert not seen["console"], f"{aid}: browser console errors: {seen['console'][:5]}"
    if aid == REOPENED:  # even if no explorer showed up: then the reopened page must show none either
        reopened = save_and_reopen(lab, seen["page"], path)
        assert not reopened["widget_errors"], f"{aid}: opened again, the page says {reopened['widget_errors']}"
        assert reopened["live"] == [1] * len(seen["explorers"]), f"{aid}: opened again, explorers {reopened['live']}"
    seen["page"].close()


def save_and_reopen(lab, page, path):
    """Save the notebook, stop its kernel and open the notebook again, as a student does the next day:
    what its explorer cells show then. Their widgets come back only from the state saved in the file."""
    import urllib.request

    page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt").first.click()
    page.keyboard.press("Control+s")
    for _ in range(80):  # the save writes the widgets' state into the notebook's metadata
        if "application/vnd.jupyter.widget-state+json" in nbformat.read(path, as_version=4).metadata.get("widgets", {}):
            break
        page.wait_for_timeout(250)
    else:
        raise AssertionError(f"{path.name}: saved without its widgets' state (JupyterLab's saveState is off)")
    page.close()
    api = f"http://127.0.0.1:{lab.port}/api/kernels"
    for kernel in json.loads(urllib.request.urlopen(f"{api}?token={lab.token}").read()):
        urllib.request.urlopen(urllib.request.Request(f"{api}/{kernel['id']}?token={lab.token}", method="DELETE"))
    page = lab.page()
    page.goto(lab.url(f"lab/tree/{path.relative_to(lab.root)}", fresh=True))
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.wait_for_timeout(2000)  # the widgets of the saved state
    shown = page.evaluate(SHOWN, NOTEBOOK)
    nb = nbformat.read(path, as_version=4)
    explorers = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "_explorer(" in c.source]
    _shoot(page.locator(f"{NOTEBOOK} .jp-Cell").nth(explorers[0]), lab.shots / f"{path.stem}-reopened.png")
    page.close()
    return {"widget_errors": sum(out["widget_errors"] for out in shown), "live": [shown[i]["live"] for i in explorers]}


def test_a_widget_drawn_twice_and_a_failing_cell_are_caught(lab):
    """A scratch copy of notebook 01 whose explorer cell is as the source had it (the call displays
    the widget and returns it, so Jupyter shows it twice), and whose last code cell before the hand-in check fails."""
    nb = student("01_attention")
    explorer = next(c for c in nb.cells if "temperature_explorer(" in c.source)
    explorer.source = explorer.source.replace("explorer = widgets.temperature_explorer", "widgets.temperature_explorer")
    *_, last, check = [c for c in nb.cells if c.cell_type == "code"]
    last.source += "\nraise ValueError('a student mistake')"
    check.source = check.source.replace("ready_to_submit()", "ready_to_submit(run=False)")  # Run All stops before it
    seen = run_in_browser(lab, nb, lab.work / "scratch-broken.ipynb")
    found = problems(seen)
    assert any("appears 2 time(s)" in p for p in found), found
    assert any("ValueError: a student mistake" in p for p in found), found
    seen["page"].close()


def _panel_text(page, ready=None, timeout_s=120):
    """The text of the panel on screen and its frames, once it has loaded: nothing says
    "Loading" any more (and ``ready`` shows, if given) or ``timeout_s`` has passed."""
    page.wait_for_timeout(2000)
    deadline = time.monotonic() + timeout_s
    while True:
        texts = [page.locator(".jp-MainAreaWidget:visible").first.inner_text()]
        texts += [frame.locator("body").inner_text() for frame in page.frames[1:]]
        shown = "\n".join(texts)
        loaded = "Loading" not in shown and (ready is None or ready in shown)
        if loaded or time.monotonic() > deadline:
            return shown
        page.wait_for_timeout(1000)


def test_nbgrader_panels_show_no_error(lab):
    page = lab.page()
    page.goto(lab.url("lab", fresh=True))
    page.wait_for_selector(".lm-MenuBar-itemLabel", timeout=120_000)
    for item in ("Formgrader", "Assignment List", "Course List"):
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").first.click()
        page.locator(".lm-Menu-itemLabel").filter(has_text=item).first.click()
        shown = _panel_text(page, ready="01_attention" if item == "Formgrader" else None)
        page.screenshot(path=str(lab.shots / f"nbgrader-{item.replace(' ', '_')}.png"))
        for bad in ("does not exist", "could not be created", "Error fetching", "rror loading", "Traceback"):
            assert bad not in shown, f"{item} shows {bad!r}:\n{shown[:1500]}"
        if item == "Formgrader":
            assert "01_attention" in shown, "Formgrader does not list the course's assignments"
    assert not page.console_errors, page.console_errors
    page.close()

