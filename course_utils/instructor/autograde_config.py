"""The nbgrader settings of one worker of a grading run.

``grade`` writes a three-line ``nbgrader_config.py`` into each worker's course folder, which
loads the repository's configuration and then calls ``apply(c, settings)`` with the settings
of the run (``Settings`` as a dict).
"""

import atexit
import dataclasses
import math
import os
import shutil
import tempfile
import time


@dataclasses.dataclass
class Settings:
    workdir: str                     # the worker's course folder
    source: str                      # the grader's copy of the sources (with the guard calls)
    guard_name: str                  # the guard object's name in the kernel
    cell_timeout: int = None         # seconds per cell (None: nbgrader_config.py's)
    notebook_timeout: int = 600      # seconds per notebook, all cells together
    sandbox: bool = True
    memory: int = None               # sandbox limits, in bytes and processes (None: the defaults)
    processes: int = None
    disk: int = None


def write(path, root, settings):
    """Write the ``nbgrader_config.py`` of a worker at ``path``."""
    path.write_text("c = get_config()  # noqa: F821 (nbgrader's)\n"
                    f"load_subconfig({str(root / 'nbgrader_config.py')!r})  # noqa: F821\n"
                    "from course_utils.instructor import autograde_config\n"
                    f"autograde_config.apply(c, {dataclasses.asdict(settings)!r})\n")


def timeout_func(cell_limit, notebook_limit, arm_prefix):
    """Each cell gets ``cell_limit`` seconds, and each notebook ``notebook_limit`` in all: after
    that every remaining cell is interrupted after 1 s. The clock restarts at the grader's first
    cell of each notebook (the one that starts with ``arm_prefix``)."""
    clock = {}

    def timeout(cell):
        if cell.source.startswith(arm_prefix) or "start" not in clock:
            clock["start"] = time.monotonic()
        return max(1, math.ceil(min(cell_limit, notebook_limit - (time.monotonic() - clock["start"]))))

    timeout.clock = clock
    return timeout


def _ipc_folder():
    """A short private folder for the kernels' sockets (a socket's path may not exceed 107 bytes)."""
    folder = tempfile.mkdtemp(prefix="cg-ipc-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def apply(c, settings):
    from nbgrader.converters import Autograde

    from . import guard, sandbox

    s = Settings(**settings)
    c.CourseDirectory.root = s.workdir
    c.CourseDirectory.source_directory = s.source
    c.CourseDirectory.release_directory = "release"
    c.Execute.shutdown_kernel = "immediate"
    cell_limit = s.cell_timeout or c.Execute.timeout
    # nbclient waits only 4 s for a cell's last output after its reply, and fails the whole
    # notebook when that is late on a busy machine.
    c.Execute.iopub_timeout = min(20, cell_limit)
    c.Execute.timeout_func = timeout_func(cell_limit, s.notebook_timeout, guard.arm_source(s.guard_name).splitlines()[0])

    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    # The grading guard's pass tokens are checked before nbgrader saves the scores.
    steps.insert([p.__name__ for p in steps].index("SaveAutoGrades"), guard.enforcer(s.guard_name))
    c.Autograde.autograde_preprocessors = steps  # plain Execute: no sandbox unless asked for below
    if s.sandbox:
        defaults = sandbox.Limits()
        sandbox.use_sandbox(c, sandbox.Limits(s.memory or defaults.memory, s.processes or defaults.processes,
                                              s.disk or defaults.disk))
    else:  # Unix sockets, as in the sandbox: TCP ports picked by two workers at once can collide
        c.KernelManager.transport = "ipc"
        c.KernelManager.ip = os.path.join(_ipc_folder(), "kernel")
