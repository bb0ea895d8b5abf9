"""Write the expected values of a notebook's visible tests, from the solution and the mutants.

    python -m course_utils.instructor.expected 02_multihead          # writes course_utils/expected_02_multihead.py
    python -m course_utils.instructor.expected 02_multihead --check  # exits 1 if it is out of date

A visible test reads its numbers from that module, so that the test cell fits on one screen:

    from course_utils.expected_02_multihead import test_mha as expected
    check_close(A, expected["A"], "A", mistakes=[
        ("attention without the 1/sqrt(d_k) scale", expected["A", "mha_no_sqrt_scale"])])

A key says what produced its value. ``expected["A"]`` is the expression ``A`` evaluated at the end of
the cell's visible part, with the solution. ``expected["A", "mha_no_sqrt_scale"]`` is the same
expression with that mutant of tests/mutants/02_multihead.py patched into the solution: the result
of a known mistake. The script finds the keys in the test cells: to add a value, write its key in a
test cell and run the script.

To evaluate a test cell it runs, in a fresh namespace, the notebook's read-only cells (setup, helpers)
and solution cells above it, then the cell's visible part with the checks turned off (a mutant would
fail them). It executes no training and no other cell, but it does execute notebook code: the test
that runs ``--check`` for every notebook is marked slow. ``--check`` accepts a module whose text
differs only by rounding in the last digit (float32 sums can differ between machines).
"""
import argparse
import ast
import collections
import contextlib
import importlib.util
import io
import itertools
import json
import sys
import types

import nbformat
import torch

from .release import ROOT, assignments

HIDDEN = "### BEGIN " + "HIDDEN TESTS"  # split: no file students receive may hold the marker
WIDTH = 100


def module_path(aid):
    return ROOT / "course_utils" / f"expected_{aid}.py"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="notebook ids (default: every notebook with an expected module)")
    parser.add_argument("--check", action="store_true", help="only say whether the modules are up to date")
    args = parser.parse_args(argv)
    stale = []
    for aid in args.ids or [aid for aid in assignments() if module_path(aid).is_file()]:
        text, path = module_text(aid), module_path(aid)
        if args.check:
            if not up_to_date(path, text):
                stale.append(aid)
                print(f"{path.relative_to(ROOT)} is out of date: "
                      f"run python -m course_utils.instructor.expected {aid}")
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    return 1 if stale else 0


def up_to_date(path, text):
    """Whether the module at ``path`` holds ``text``, or the same keys with values equal up to rounding."""
    if not path.is_file():
        return False
    if path.read_text() == text:
        return True
    old, new = values_of(path.read_text()), values_of(text)
    return old.keys() == new.keys() and all(
        old[test].keys() == new[test].keys() and all(
            torch.allclose(torch.as_tensor(old[test][key]), torch.as_tensor(new[test][key]),
                           rtol=1e-6, atol=1e-7) for key in new[test]) for test in new)


def values_of(text):
    namespace = {}
    exec(text, namespace)
    return {name: value for name, value in namespace.items()
            if isinstance(value, dict) and name != "__builtins__"}


def module_text(aid, nb=None):
    """The source of course_utils/expected_<aid>.py: one dict per test cell that reads expected values.
    ``nb``: the solution notebook (default: read from solutions/)."""
    nb = nb or nbformat.read(ROOT / "solutions" / aid / f"{aid}.ipynb", as_version=4)
    mutants = load_mutants(aid)
    out = [f'"""Expected values of the visible tests of notebook {aid}, one row per line, computed from\n'
           f"the reference solution by\n\n    python -m course_utils.instructor.expected {aid}\n\n"
           'Do not edit. A key ("A", "name") is the value of A when the known mistake "name" is made."""\n'
           "from torch import float64, tensor\n"]
    for index, cell in enumerate(nb.cells):
        keys = keys_in(cell) if is_test(cell) else []
        if not keys:
            continue
        values = {}
        for mutant in dict.fromkeys(mutant_of(key) for key in keys):  # None (the solution) first
            wanted = [key for key in keys if mutant_of(key) == mutant]
            patch = mutants[mutant]["patch"] if mutant else []
            results = evaluate(aid, patched(nb, patch), index, [expression_of(key) for key in wanted])
            values |= {key: results[expression_of(key)] for key in wanted}
        out.append(f"\n{meta(cell)['grade_id']} = {{\n")
        out += [f"    {key_source(key)}: {literal(values[key], f'    {key_source(key)}: ', ',')}\n"
                for key in keys]
        out.append("}\n")
    return "".join(out)


def expression_of(key):
    return key[0] if isinstance(key, tuple) else key


def mutant_of(key):
    return key[1] if isinstance(key, tuple) else None


def meta(cell):
    return cell.metadata.get("nbgrader", {})


def is_test(cell):
    return cell.cell_type == "code" and meta(cell).get("grade") and not meta(cell).get("solution")


def visible(source):
    return source.split(HIDDEN)[0]


def keys_in(cell):
    """The keys of ``expected[...]`` in the visible part of a test cell, in the order they appear."""
    found = sorted((node.lineno, node.col_offset, ast.literal_eval(node.slice))
                   for node in ast.walk(ast.parse(visible(cell.source)))
                   if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
                   and node.value.id == "expected")
    return list(dict.fromkeys(key for _, _, key in found))


def load_mutants(aid):
    path = ROOT / "tests" / "mutants" / f"{aid}.py"
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location(f"mutants_{aid}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MUTANTS


def patched(nb, patch):
    """A copy of the notebook with a mutant's patch [(grade_id, old, new)] applied to its solution cells."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    cells = {meta(c).get("grade_id"): c for c in nb.cells}
    for grade_id, old, new in patch:
        assert meta(cells[grade_id]).get("solution"), f"a mutant may only change solution cells: {grade_id}"
        assert cells[grade_id].source.count(old) == 1, f"mutant text not found once in {grade_id}: {old!r}"
        cells[grade_id].source = cells[grade_id].source.replace(old, new)
    return nb


def evaluate(aid, nb, index, expressions):
    """The expressions' values at the end of the visible part of test cell ``index``."""
    def off(*args, **kwargs):
        pass

    namespace = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()), placeholder_module(f"course_utils.expected_{aid}"):
        for cell in nb.cells[:index]:
            if cell.cell_type == "code" and meta(cell) and not is_test(cell):
                exec(compile(cell.source, f"<{aid} {meta(cell)['grade_id']}>", "exec"), namespace)
        namespace.update(check_close=off, check_shape=off, check_true=off, check_parameters=off)
        test = nb.cells[index]
        exec(compile(visible(test.source), f"<{aid} {meta(test)['grade_id']}>", "exec"), namespace)
        return {e: eval(e, namespace) for e in expressions}


@contextlib.contextmanager
def placeholder_module(name):
    """While the values are computed, the test cells import a stand-in for the module being written."""
    class Placeholder(types.ModuleType):
        def __getattr__(self, attr):
            return collections.defaultdict(lambda: None)

    saved = sys.modules.get(name)
    sys.modules[name] = Placeholder(name)
    try:
        yield
    finally:
        if saved is None:
            del sys.modules[name]
        else:
            sys.modules[name] = saved


def key_source(key):
    parts = key if isinstance(key, tuple) else (key,)
    text = ", ".join(json.dumps(part, ensure_ascii=False) for part in parts)
    return f"({text})" if isinstance(key, tuple) else text


def literal(value, head, tail=""):
    """Python source for a number or a float tensor, to follow ``head`` on its line and to end with
    ``tail``: ``tensor([`` and then one row per line, indented by 4 more than ``head``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
    if not isinstance(value, torch.Tensor) or value.dim() == 0:
        return number(float(value)) + tail
    if value.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"expected values are float tensors, not {value.dtype}")
    end = ("])" if value.dtype == torch.float32 else "], dtype=float64)") + tail
    indent = len(head) - len(head.lstrip()) + 4
    if value.dim() == 1:
        items = [number(v) for v in value.tolist()]
        if len(head) + len("tensor([" + ", ".join(items) + end) <= WIDTH:
            return "tensor([" + ", ".join(items) + end
        return "\n".join(["tensor(["] + wrapped(" " * indent, items, end))
    lines = ["tensor(["]
    outer = value.shape[1:-1]                     # the dimensions whose brackets open and close inside
    rows = value.reshape(-1, value.shape[-1]).tolist()
    for n, (index, row) in enumerate(zip(itertools.product(*map(range, value.shape[:-1])), rows)):
        opens = trailing(index[1:], [0] * len(outer))
        closes = trailing(index[1:], [size - 1 for size in outer])
        prefix = " " * (indent + len(outer) - opens) + "[" * (opens + 1)
        last = n == len(rows) - 1
        lines += wrapped(prefix, [number(v) for v in row], "]" * (closes + 1) + (end if last else ","))
    return "\n".join(lines)


def trailing(index, target):
    """How many of the last entries of ``index`` equal those of ``target``: brackets to open or close."""
    count = 0
    for i, t in zip(reversed(index), reversed(target)):
        if i != t:
            break
        count += 1
    return count


def wrapped(prefix, items, end):
    """``prefix``, the items joined by ", " and ``end``, on as many lines of at most WIDTH as needed."""
    lines, line, count = [], prefix, 0
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else end)
        if count and len(line) + 1 + len(piece) > WIDTH:
            lines.append(line)
            line, count = " " * len(prefix), 0
        line += (" " if count else "") + piece
        count += 1
    return lines + [line]


def number(v):
    """``v`` with 8 significant digits, written as a float (so that a tensor of them is a float tensor)."""
    if v != v or v in (float("inf"), float("-inf")):
        return f'float("{v}")'
    text = f"{v:.8g}"
    return text if any(c in text for c in ".e") else text + ".0"


if __name__ == "__main__":
    sys.exit(main())
