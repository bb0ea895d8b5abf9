"""Grading guard: the tests see genuine helpers, whatever the student's code patched.

Used only by ``course_utils.grade``; students never meet it. While a class is graded:

1. ``harden`` rewrites the grader's copy of the source notebook. Every locked code cell (the
   tests and the read-only set-up) starts with ``<guard>.restore(globals())``; read-only cells
   end with ``<guard>.remember(...)``, the names they import or define; every test cell ends
   with ``<guard>.passed(grade_id, globals())``.
2. ``arm_cell`` is inserted as the first cell of each submission. Before any student code runs
   it snapshots what the tests rely on: the public functions of torch, numpy, math, builtins
   and ``course_utils`` (``torch.allclose``, ``numpy.testing.assert_allclose``,
   ``checks.check_close``, ...), the ``torch.Tensor`` and ``torch.nn`` classes
   (``Tensor.__eq__``, ``nn.MultiheadAttention.forward``, ...), ``sys.modules``, the trace and
   profile hooks and IPython's error display. The guard object lives in ``builtins`` under a
   random name chosen per grading run.
3. ``restore`` puts every snapshot entry back and re-binds the remembered names
   (``check_close``, ``torch``, ...) in the notebook. ``passed`` fails the test cell if anything
   in the snapshot changed *while the tests ran*, and otherwise emits a pass token: an HMAC of
   the grade id under a key made inside the kernel and announced by the first cell.
4. ``verify`` (outside the kernel) gives a test cell its points only if nbgrader passed it
   *and* its token is in its outputs, so a swallowed exception, a cell that never finished or a
   dead kernel can never count as a pass.

This is a guard, not a sandbox: code that deliberately reverse-engineers it (reads the guard
object or its key, patches and un-patches within one test cell, patches C internals with
ctypes) is out of its reach. The README lists exactly what is covered.
"""

import builtins
import hashlib
import hmac
import importlib
import secrets
import sys
import types

from . import nbmeta

MIME = "application/vnd.course-grader+json"  # invisible in Jupyter and in HTML exports

WATCHED_MODULES = (
    "builtins", "math", "numpy", "numpy.linalg", "numpy.testing",
    "torch", "torch.nn", "torch.nn.functional", "torch.nn.init", "torch.linalg", "torch.special",
    "torch.testing", "course_utils.checks", "course_utils.runtime",
)
# Builtins that IPython and ipykernel re-bind around every cell: not tampering.
_VOLATILE_BUILTINS = {"get_ipython", "exit", "quit", "display", "input", "raw_input"}
_DUNDER_CALLABLES = {"__import__", "__build_class__"}


def _same(a, b):
    if a is b:
        return True
    # Bound methods are created anew on each access: compare what they bind.
    return (type(a) is types.MethodType and type(b) is types.MethodType
            and a.__func__ is b.__func__ and a.__self__ is b.__self__)


def _tracked(module_name, key, value):
    """Which module attributes to snapshot: functions, classes and modules (not data, which
    libraries may change legitimately); in ``course_utils`` the private ones too."""
    if not (callable(value) or isinstance(value, types.ModuleType)):
        return False
    if module_name.startswith("course_utils."):
        return True
    if module_name == "builtins" and key in _VOLATILE_BUILTINS:
        return False
    return not key.startswith("_") or key in _DUNDER_CALLABLES


def _is_method(value):
    return callable(value) or isinstance(value, (classmethod, staticmethod, property))


def _watched_classes(modules):
    torch, checks = modules.get("torch"), modules.get("course_utils.checks")
    classes = []
    if torch is not None:
        nn = torch.nn
        classes += [torch.Tensor, nn.Module, nn.Parameter]
        classes += [v for k, v in vars(nn).items()
                    if isinstance(v, type) and issubclass(v, nn.Module) and not k.startswith("_")]
    if checks is not None:
        classes += [v for v in vars(checks).values()
                    if isinstance(v, type) and v.__module__ == checks.__name__]
    return list(dict.fromkeys(classes))


def _mac(key, grade_id):
    return hmac.new(key, grade_id.encode(), hashlib.sha256).hexdigest()


class Guard:
    """The in-kernel half: snapshot at arm time, then ``restore``, ``remember``, ``passed``."""

    def __init__(self):
        from IPython import get_ipython
        from IPython.display import display

        self._display = display
        self._key = secrets.token_bytes(16)
        self._modules, self._module_state = {}, {}
        for name in WATCHED_MODULES:
            try:
                self._watch(importlib.import_module(name))
            except ImportError:
                pass
        classes = _watched_classes(self._modules)
        self._shell = get_ipython()
        if self._shell is not None:  # a method set on the shell's classes could hide errors
            for obj in (self._shell, getattr(self._shell, "kernel", None)):
                classes += [c for c in type(obj).__mro__ if c.__module__.split(".")[0] in ("IPython", "ipykernel")]
            self._shell_keys = set(vars(self._shell))
        self._class_state = {c: (dict(vars(c)), True) for c in classes}  # True: no attribute may be added
        self._hooks = (sys.gettrace(), sys.getprofile())
        self._stdio = (sys.stdout, sys.stderr)
        self._names = {}

    # -- called from the notebook -------------------------------------------------------------
    def restore(self, ns):
        """Undo every change to the snapshot; re-bind the remembered names in ``ns``."""
        self._check(fix=True)
        sys.stdout, sys.stderr = self._stdio
        for name, value in self._names.items():
            if not _same(ns.get(name), value):
                ns[name] = value

    def remember(self, ns, names):
        """Record the values that a read-only cell bound, to re-bind them before each test.

        A ``course_utils`` module they come from (``from course_utils import blocks``) is
        watched from now on, with its classes, like ``checks``.
        """
        for name in [n for n in names if n in ns]:
            value = self._names[name] = ns[name]
            module = value if isinstance(value, types.ModuleType) else sys.modules.get(
                getattr(value, "__module__", None) or "")
            ours = module is not None and module.__name__.startswith("course_utils.")
            if ours and module.__name__ not in self._modules:
                self._watch(module)
                for cls in vars(module).values():  # their methods only: data may change legitimately
                    if isinstance(cls, type) and cls.__module__ == module.__name__:
                        self._class_state[cls] = ({k: v for k, v in vars(cls).items() if _is_method(v)}, False)

    def hidden(self):
        """Mark where the hidden tests start in the cell's outputs (the feedback stops there)."""
        self._display({MIME: {"hidden": True}}, raw=True)

    def passed(self, grade_id, ns):
        """Fail if anything was patched while the tests ran; else emit the pass token."""
        changed = self._check(fix=True)
        changed += [name for name, value in self._names.items() if not _same(ns.get(name), value)]
        if changed:
            from ..checks import CheckError
            raise CheckError(
                f"The code under test changed {', '.join(changed[:5])} while the tests ran, "
                "so this cell's results cannot be trusted and it counts as failed. "
                "Do not modify library functions or the test helpers.")
        self._display({MIME: {"grade_id": grade_id, "token": _mac(self._key, grade_id)}}, raw=True)

    # -- internals -----------------------------------------------------------------------------
    def _watch(self, module):
        self._modules[module.__name__] = module
        self._module_state[module.__name__] = {k: v for k, v in vars(module).items()
                                               if _tracked(module.__name__, k, v)}

    def _check(self, fix):
        """Names of snapshot entries that changed; put them back if ``fix``."""
        changed = []
        for name, state in self._module_state.items():
            module = self._modules[name]
            if sys.modules.get(name) is not module:
                changed.append(f"sys.modules[{name!r}]")
                if fix:
                    sys.modules[name] = module
            current = vars(module)
            for key, value in state.items():
                if key not in current or not _same(current[key], value):
                    changed.append(f"{name}.{key}")
                    if fix:
                        setattr(module, key, value)
        for cls, (state, closed) in self._class_state.items():
            current = vars(cls)
            for key in [k for k in current if closed and k not in state]:
                changed.append(f"{cls.__qualname__}.{key}")
                if fix:
                    delattr(cls, key)
            for key, value in state.items():
                if key not in current or not _same(current[key], value):
                    changed.append(f"{cls.__qualname__}.{key}")
                    if fix:
                        setattr(cls, key, value)
        if self._shell is not None:
            if self._shell.custom_exceptions:
                changed.append("IPython's custom exception handler")
                if fix:
                    self._shell.custom_exceptions = ()
            for key in [k for k in vars(self._shell) if k not in self._shell_keys
                        and callable(getattr(type(self._shell), k, None))]:
                changed.append(f"IPython shell.{key}")
                if fix:
                    delattr(self._shell, key)
        if (sys.gettrace(), sys.getprofile()) != self._hooks:
            changed.append("sys.settrace/sys.setprofile")
            if fix:
                sys.settrace(self._hooks[0])
                sys.setprofile(self._hooks[1])
        return changed


def arm(name):
    """Snapshot now, before any student code runs, and install the guard as ``builtins.<name>``."""
    guard = Guard()
    setattr(builtins, name, guard)
    guard._display({MIME: {"key": guard._key.hex()}}, raw=True)


# -- the grader's side (outside the kernel) ------------------------------------------------------

def new_name():
    """A fresh, unguessable name for the guard object of one grading run."""
    return f"__grader_{secrets.token_hex(6)}__"


def arm_source(name):
    return ("# Added by the grader (course_utils.instructor.guard): snapshot the test helpers.\n"
            f"__import__('course_utils.instructor.guard').instructor.guard.arm({name!r})\n"
            "__import__('course_utils.instructor.figures').instructor.figures.skip_layout()  # no figure is drawn")


def _bound_names(source):
    """Names bound at top level by imports, ``def`` and ``class`` in a cell (for ``remember``)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: nothing to remember
        return []
    names = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
    return list(dict.fromkeys(names))


def harden(nb, name, hidden_marker):
    """Add the guard calls to every locked code cell of a *source* notebook, in place.

    ``hidden_marker`` is nbgrader's hidden-tests delimiter; a ``hidden()`` call goes after it.
    """
    for cell in nb.cells:
        if not nbmeta.is_locked_code(cell):
            continue
        meta = nbmeta.meta(cell)
        lines = [f"{name}.restore(globals())  # added by the grader"]
        for line in cell.source.splitlines():
            lines.append(line)
            if hidden_marker in line:
                indent = line[: len(line) - len(line.lstrip())]
                lines.append(f"{indent}{name}.hidden()")
        if meta.get("grade"):
            lines.append(f"{name}.passed({meta['grade_id']!r}, globals())  # added by the grader")
        elif _bound_names(cell.source):
            lines.append(f"{name}.remember(globals(), {_bound_names(cell.source)!r})  # added by the grader")
        cell.source = "\n".join(lines)
    return nb


def _guard_outputs(cell):
    return [o.data[MIME] for o in cell.get("outputs", [])
            if o.get("output_type") == "display_data" and MIME in o.get("data", {})]


def verify(nb, name):
    """``{grade_id: True}`` for each test cell whose pass token is valid, else False."""
    key = None
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source == arm_source(name):
            key = next((bytes.fromhex(o["key"]) for o in _guard_outputs(cell) if "key" in o), None)
            break
    result = {}
    for cell in nb.cells:
        if nbmeta.is_test(cell):
            gid = nbmeta.grade_id(cell)
            result[gid] = key is not None and any(
                o.get("grade_id") == gid and hmac.compare_digest(str(o.get("token")), _mac(key, gid))
                for o in _guard_outputs(cell))
    return result


UNTRUSTED = ("this test cell did not run to its end untouched (an error was hidden, its output was "
             "changed, or it never finished), so it scores 0.")


def enforcer(name):
    """An nbgrader preprocessor class that applies ``verify`` before nbgrader saves the scores.

    A test cell without a valid pass token gets an error output, so that nbgrader (and its
    gradebook) score it 0. Values displayed in a test cell are dropped: nbgrader would read
    them as partial credit, and only the code under test could display one.
    """
    from nbformat.v4 import new_output
    from nbgrader.preprocessors import NbGraderPreprocessor

    class EnforcePassTokens(NbGraderPreprocessor):
        def preprocess(self, nb, resources):
            trusted = verify(nb, name)
            for cell in nb.cells:
                gid = nbmeta.grade_id(cell)
                if gid not in trusted:
                    continue
                cell.outputs = [o for o in cell.outputs if o.output_type != "execute_result"]
                if not trusted[gid] and not any(o.output_type == "error" for o in cell.outputs):
                    cell.outputs.append(new_output("error", ename="GraderError", evalue=UNTRUSTED,
                                                   traceback=[f"GraderError: {UNTRUSTED}"]))
            return nb, resources

    return EnforcePassTokens


def is_guard_output(output):
    return output.get("output_type") == "display_data" and MIME in output.get("data", {})
