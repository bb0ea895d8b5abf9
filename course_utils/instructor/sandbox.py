"""Every graded kernel in its own bubblewrap sandbox.

nbgrader runs each submission in a Jupyter kernel. ``SandboxedKernelManager`` starts that kernel
inside ``bwrap`` (bubblewrap, Linux), so that a submission sees nothing of the instructor's:

- namespaces of its own: no network at all, its own process tree (every process it starts dies
  with it), its own IPC and host name;
- read-only: the system (``/usr`` and a few files of ``/etc``), the Python environment (the
  virtual environment and the interpreter it was made from), ``course_utils`` and the course data;
- writable: a fresh home that is also its working directory, and a private ``/tmp``, each a
  tmpfs of ``disk`` bytes;
- invisible: everything else: ``solutions/``, the grader's copy of the source, every gradebook,
  the other submissions, earlier grading runs, the instructor's home;
- limits: ``processes`` (processes and threads), ``memory`` (each process's data segment, and the
  resident memory of the whole sandbox, watched), file size; no new privileges, no capabilities;
  when the grader runs as root, the kernel runs as a user id of its own.

The kernel talks to nbgrader over Unix sockets (jupyter's ``ipc`` transport) in a folder that
only it and the grader see; its own stdout and stderr go to a file outside the sandbox, never
into nbgrader's log. When the watchdog stops a kernel, the reason goes into nbgrader's log as a
line starting with ``STOPPED``, which ``grade`` reports.

For plain nbgrader, ``nbgrader_config.py`` calls ``use_sandbox(c)``; ``grade`` does the same
through ``autograde_config``.
"""

import asyncio
import dataclasses
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

STOPPED = "course sandbox stopped the kernel:"
HOME = "/home/student"
# Variables the kernel may see from the grader's environment; everything else is cleared.
PASSED_ENV = ("NBGRADER_EXECUTION", "COURSE_FAST", "PYTHONWARNINGS", "PYTHONHASHSEED", "TZ", "LC_ALL",
              "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
              "OPENBLAS_L2_SIZE")
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "alternatives", "mime.types",
       "nsswitch.conf", "hosts", "os-release")


class SandboxError(RuntimeError):
    """The sandbox cannot be used here; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Limits:
    memory: int = 4 << 30      # bytes
    processes: int = 512       # processes and threads
    disk: int = 1 << 30        # bytes, for the home and for /tmp each

    def describe(self):
        return (f"{human(self.memory)} of memory, {self.processes} processes and threads, "
                f"{human(self.disk)} of scratch space")


def parse_size(text):
    """``"4G"``, ``"512M"``, ``"1.5GiB"`` or a number of bytes -> bytes."""
    found = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)(i?B)?\s*", str(text), re.I)
    if not found:
        raise ValueError(f"not a size: {text!r} (write e.g. 4G or 512M)")
    return int(float(found.group(1)) * 1024 ** " KMGT".index(found.group(2).upper() or " "))


def human(n):
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = 1024 ** ("KMGT".index(unit[0]) + 1)
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


# -- the bwrap command ---------------------------------------------------------------------------

def _visible():
    """Host folders the kernel reads: the Python environment, course_utils and the data."""
    import course_utils

    package = Path(course_utils.__file__).resolve().parent
    # course_utils.data.BUNDLED, without importing torch into the grader (2.5 s for every notebook)
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             str(Path(os.path.realpath(sys.executable)).parents[1]), str(package), str(package.parent / "data")}
    paths = sorted(Path(os.path.realpath(p)) for p in paths if os.path.isdir(p))
    system = [Path("/usr")]
    kept = []
    for path in paths:  # drop folders inside another visible one
        if not any(path == p or p in path.parents for p in system + kept):
            kept.append(path)
    return kept


def _dirs(dest, made, mode="0755"):
    """``--dir`` for the parents of ``dest`` that the sandbox's empty root does not have yet."""
    args = []
    for parent in reversed(Path(dest).parents):
        if str(parent) != "/" and parent not in made:
            made.add(parent)
            args += ["--perms", mode, "--dir", str(parent)]
    return args


def font_caches():
    """matplotlib's font list of this environment (found as matplotlib would, without importing it).

    Shown read-only to the kernel: otherwise each kernel's fresh home rebuilds it (about a second)."""
    if os.environ.get("MPLCONFIGDIR"):
        folder = Path(os.environ["MPLCONFIGDIR"])
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "matplotlib"
    return sorted(folder.glob("fontlist-v*.json")) if folder.is_dir() else []


def bwrap_command(argv, limits, ipc_dir, etc_dir, uid=None):
    """The command that runs ``argv`` in the sandbox.

    ``ipc_dir`` (read-write) holds the connection file and the kernel's sockets; ``etc_dir``
    holds the ``passwd`` and ``group`` files the kernel sees. ``uid``: run as this user id
    (the grader is root); otherwise bwrap maps the grader's own id in a user namespace.
    """
    cmd = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
           "--hostname", "grader", "--die-with-parent", "--proc", "/proc", "--dev", "/dev",
           "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            cmd += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            cmd += ["--ro-bind", str(path), str(path)]
    made = set()  # bwrap would make missing parents 0700, which the kernel's user could not enter
    cmd += _dirs("/etc/passwd", made) + _dirs("/sys/devices/system/cpu", made)
    for name in ETC:
        cmd += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    cmd += ["--ro-bind", f"{etc_dir}/passwd", "/etc/passwd", "--ro-bind", f"{etc_dir}/group", "/etc/group",
            "--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    for path in _visible():
        cmd += _dirs(path, made) + ["--ro-bind", str(path), str(path)]
    size = str(limits.disk)  # tmpfs first: the ipc folder may lie under /tmp
    cmd += _dirs(HOME, made) + ["--size", size, "--perms", "1777", "--tmpfs", HOME,
                                "--size", size, "--perms", "1777", "--tmpfs", "/tmp",
                                "--size", size, "--perms", "1777", "--tmpfs", "/dev/shm"]
    made |= {Path("/tmp"), Path(HOME)}
    for cache in font_caches():
        cmd += _dirs(f"{HOME}/.cache/matplotlib/{cache.name}", made, mode="1777") + [
            "--ro-bind", str(cache), f"{HOME}/.cache/matplotlib/{cache.name}"]
    cmd += _dirs(ipc_dir, made) + ["--bind", str(ipc_dir), str(ipc_dir)]
    cmd += ["--chdir", HOME, "--clearenv"]
    env = {"HOME": HOME, "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
           "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin", "MPLBACKEND": "Agg",
           "COURSE_OFFLINE": "1", "COURSE_CACHE": "/tmp/course-cache"}
    env.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    if uid is not None:  # root: drop to a user of its own, with no capabilities at all
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP", "--",
                "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                "--bounding-set=-all", "--inh-caps=-all"]
    else:
        cmd += ["--"]
    # RLIMIT_NPROC counts per user id (and per user namespace), so each kernel has its own count.
    cmd += ["prlimit", f"--nproc={limits.processes}", f"--data={limits.memory}", f"--fsize={limits.disk}",
            "--core=0", "--"]
    return cmd + list(argv)


_kernels_started = itertools.count()


def sandbox_uid():
    """A user id of its own for the next kernel when the grader runs as root; None otherwise.

    RLIMIT_NPROC counts per user id: one id per kernel, so that neither a parallel worker's
    kernel nor the dying processes of the previous one count against a kernel's limit."""
    if os.geteuid() != 0:
        return None  # bwrap gives each kernel a user namespace of its own, which counts apart
    return 1_000_000 + (os.getpid() << 8) + next(_kernels_started) % 256


def _private_dirs(uid):
    """A private folder with the kernel's ``ipc/`` (read-write inside) and ``etc/`` files."""
    root = Path(tempfile.mkdtemp(prefix="cg-"))  # short: Unix socket paths are limited to 107 bytes
    (root / "ipc").mkdir()
    (root / "etc").mkdir()
    shown = uid if uid is not None else os.getuid()
    (root / "etc" / "passwd").write_text(f"student:x:{shown}:{shown}:student:{HOME}:/bin/sh\n")
    (root / "etc" / "group").write_text(f"student:x:{shown}:\n")
    if uid is not None:
        os.chown(root / "ipc", uid, uid)
    os.chmod(root / "ipc", 0o700)
    return root


def check(limits=Limits()):
    """Raise ``SandboxError`` saying what to install unless a sandboxed Python starts here."""
    if not sys.platform.startswith("linux"):
        raise SandboxError("the grading sandbox needs Linux (bubblewrap); on this system grade on a Linux "
                           "machine, or pass --no-sandbox (submissions can then read and change your files)")
    missing = [tool for tool in ("bwrap", "prlimit") + (("setpriv",) if os.geteuid() == 0 else ())
               if shutil.which(tool) is None]
    if missing:
        raise SandboxError(f"the grading sandbox needs {', '.join(missing)}, which is not installed. Install "
                           "it (Debian/Ubuntu: sudo apt-get install bubblewrap util-linux; Fedora: sudo dnf "
                           "install bubblewrap), or pass --no-sandbox (submissions can then read and change "
                           "your files)")
    uid = sandbox_uid()
    private = _private_dirs(uid)
    try:
        cmd = bwrap_command([sys.executable, "-c", "import ipykernel, course_utils"], limits,
                            private / "ipc", private / "etc", uid)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    if proc.returncode != 0:
        raise SandboxError("the grading sandbox cannot start here (bubblewrap could not make its namespaces: "
                           "unprivileged user namespaces may be disabled, or this is a container that forbids "
                           f"them):\n  {proc.stderr.strip()[-500:]}\nEnable user namespaces (sysctl "
                           "kernel.unprivileged_userns_clone=1), grade on another Linux machine, or pass "
                           "--no-sandbox (submissions can then read and change your files)")


# -- the kernel manager ----------------------------------------------------------------------------

def _processes_under(pid):
    """``{pid: (threads, resident anonymous bytes, parent)}`` of ``pid`` and all its descendants."""
    children, info = {}, {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            statm = Path(f"/proc/{entry}/statm").read_text().split()
        except OSError:  # it just ended
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        info[int(entry)] = (int(fields[17]), (int(statm[1]) - int(statm[2])) * page, int(fields[1]))
    found, todo = {}, [pid]
    while todo:
        p = todo.pop()
        if p in info:
            found[p] = info[p]
        todo += children.get(p, [])
    return found


def _proportional_memory(procs):
    """Anonymous memory of ``procs``, each page shared by n processes counted 1/n times.

    Slower to read than the resident size, which counts pages that a fork shares once per process."""
    total = 0
    for pid in procs:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        found = re.search(r"^Pss_Anon:\s+(\d+) kB", rollup, re.M) or re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
        total += int(found.group(1)) * 1024 if found else 0
    return total


def _kernel_manager_class():
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Float, Int, Unicode

    class SandboxedKernelManager(AsyncKernelManager):
        """An ``AsyncKernelManager`` whose kernel runs in the sandbox (see the module docstring)."""

        memory_limit = Unicode("4G", help="memory of the sandbox (e.g. 4G)").tag(config=True)
        process_limit = Int(Limits.processes, help="processes and threads in the sandbox").tag(config=True)
        disk_limit = Unicode("1G", help="size of the kernel's home and of its /tmp, each").tag(config=True)
        poll_interval = Float(0.2, help="seconds between two looks of the watchdog").tag(config=True)

        def __init__(self, **kwargs):
            if shutil.which("bwrap") is None:
                raise SandboxError("the grading sandbox needs bubblewrap (bwrap), which is not installed: "
                                   "sudo apt-get install bubblewrap (see docs/GRADING.md)")
            kwargs["kernel_name"] = "python3"  # whatever kernel the submission asks for
            super().__init__(**kwargs)
            self.limits = Limits(parse_size(self.memory_limit), self.process_limit, parse_size(self.disk_limit))
            self._uid = sandbox_uid()
            self._private = _private_dirs(self._uid)
            self.transport = "ipc"
            self.ip = str(self._private / "ipc" / "kernel")
            self.connection_file = str(self._private / "ipc" / "kernel.json")
            self._watchdog = None
            self.stopped_because = None

        def write_connection_file(self, **kwargs):
            super().write_connection_file(**kwargs)
            if self._uid is not None:  # the kernel must read it
                os.chown(self.connection_file, self._uid, self._uid)

        def format_kernel_cmd(self, extra_arguments=None):
            argv = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file, *(extra_arguments or [])]
            return bwrap_command(argv, self.limits, self._private / "ipc", self._private / "etc", self._uid)

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            # What the kernel prints outside its cells stays out of nbgrader's log.
            self._output = open(self._private / "kernel-output.txt", "ab")
            kw.update(stdout=self._output, stderr=self._output, stdin=subprocess.DEVNULL)
            kw.get("env", {}).pop("JPY_PARENT_PID", None)
            await super()._async_launch_kernel(kernel_cmd, **kw)
            self._stop_watching = threading.Event()
            self._watchdog = threading.Thread(target=self._watch, args=(self.provisioner.process.pid,),
                                              daemon=True, name="sandbox-watchdog")
            self._watchdog.start()

        def _watch(self, pid):
            while not self._stop_watching.wait(self.poll_interval):
                procs = _processes_under(pid)
                if not procs:
                    return
                inside = {p: v for p, v in procs.items() if p != pid}  # the outer bwrap is not the kernel's
                self._last_seen = set(inside)
                tasks = sum(t for t, _, _ in inside.values())
                memory = sum(m for _, m, _ in inside.values())
                # A fork bomb's processes die and are replaced all the time: half the limit in
                # processes (no notebook of the course starts more than a few) is one already.
                if tasks >= self.limits.processes or len(inside) > self.limits.processes // 2:
                    self._stop(pid, f"it started {len(inside)} processes ({tasks} with their threads; "
                                    f"the sandbox allows {self.limits.processes} processes and threads: a fork bomb?)")
                elif memory > self.limits.memory and _proportional_memory(inside) > self.limits.memory:
                    self._stop(pid, f"it used more than {human(self.limits.memory)} of memory")

        async def _gone(self, pids, wait=10.0):
            """Wait (a bounded time) until the sandbox's last processes have died: a fork bomb's
            hundreds take a while, and the next kernel should not start beside them."""
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
                await asyncio.sleep(0.05)

        def _stop(self, pid, reason):
            self.stopped_because = reason
            self.log.error("%s %s", STOPPED, reason)
            for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except OSError:
                    pass
            self._stop_watching.set()

        async def _async_signal_kernel(self, signum):
            # Not to bwrap's own two processes: bwrap dies of SIGINT, and takes the kernel with it.
            outer = self.provisioner.process.pid if self.has_kernel else None
            procs = _processes_under(outer) if outer else {}
            init = [p for p, (_, _, parent) in procs.items() if parent == outer]
            for pid in procs:
                if pid != outer and pid not in init:
                    try:
                        os.kill(pid, signum)
                    except OSError:
                        pass

        signal_kernel = _async_signal_kernel

        async def _async_cleanup_resources(self, restart=False):
            if self._watchdog is not None:
                self._stop_watching.set()
                self._watchdog.join()
                await self._gone(getattr(self, "_last_seen", set()))
            await super()._async_cleanup_resources(restart=restart)
            if getattr(self, "_output", None):
                self._output.close()
            if not restart:
                shutil.rmtree(self._private, ignore_errors=True)

        cleanup_resources = _async_cleanup_resources

    return SandboxedKernelManager


def _execute_class():
    from nbgrader.preprocessors import Execute

    class SandboxedExecute(Execute):
        """nbgrader's ``Execute``, with every kernel in the sandbox."""

        def __init__(self, *args, **kwargs):
            kwargs["kernel_manager_class"] = sys.modules[__name__].SandboxedKernelManager
            super().__init__(*args, **kwargs)

    return SandboxedExecute


def __getattr__(name):  # the classes import jupyter_client and nbgrader only when asked for
    if name == "SandboxedKernelManager":
        value = _kernel_manager_class()
    elif name == "SandboxedExecute":
        value = _execute_class()
    else:
        raise AttributeError(name)
    globals()[name] = value
    return value


def use_sandbox(c, limits=None):
    """Make nbgrader's autograde run every kernel in the sandbox (a config ``c`` of nbgrader)."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    steps = list(c.Autograde.autograde_preprocessors) if "autograde_preprocessors" in c.Autograde else \
        list(Autograde.class_traits()["autograde_preprocessors"].default())
    c.Autograde.autograde_preprocessors = [sys.modules[__name__].SandboxedExecute if s is Execute else s
                                           for s in steps]
    if limits is not None:
        c.SandboxedKernelManager.memory_limit = str(limits.memory)
        c.SandboxedKernelManager.process_limit = limits.processes
        c.SandboxedKernelManager.disk_limit = str(limits.disk)
