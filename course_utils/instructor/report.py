"""What the instructor reads after grading: the scores CSV and the class report.

The report gives the pass rate of every test cell (a markdown table and a bar chart) and the
mistakes that the student-facing checks recognised most often (their ``Likely mistake:``
lines, see ``course_utils.checks``), so that the instructor knows what to re-teach.
"""

import collections
import csv
import re
import statistics
import time

from ..checks import MISTAKE_PREFIX
from . import nbmeta

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def likely_mistakes(nb):
    """``[(grade_id or "cell N", mistake)]``: the recognised mistakes in a graded notebook's errors."""
    found = []
    for index, cell in enumerate(nb.cells):
        where = nbmeta.grade_id(cell) or f"cell {index}"
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            text = _ANSI.sub("", "\n".join([out.get("evalue", "")] + list(out.get("traceback", []))))
            for line in text.splitlines():
                if MISTAKE_PREFIX in line:
                    mistake = line.split(MISTAKE_PREFIX, 1)[1].strip()
                    if (where, mistake) not in found:
                        found.append((where, mistake))
    return found


def status(result):
    if result.graded:
        return "graded"
    return ("FAILED: " if result.scores else "NOT GRADED: ") + result.error


def write_csv(path, results, tests):
    """One row per student: status, total, one column per test cell, repairs and notes."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "status", "score", "max_score", *tests, "repaired", "notes"])
        for r in results.values():
            got = [r.scores[g][0] if g in r.scores else "" for g in tests]
            score = sum(s for s, _ in r.scores.values()) if r.scores else ""
            writer.writerow([r.student, status(r), score, sum(tests.values()), *got,
                             "; ".join(r.repairs), "; ".join(r.notes)])


def pass_rates(results, tests):
    """``{grade_id: (passed, graded)}`` over the students who have scores."""
    scored = [r for r in results.values() if r.scores]
    return {g: (sum(r.scores[g][0] >= p for r in scored), len(scored)) for g, p in tests.items()}


def plot_pass_rates(rates, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rates)[::-1]
    values = [100 * rates[n][0] / rates[n][1] if rates[n][1] else 0 for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1.2))
    ax.barh(names, values, color=["tab:red" if v < 50 else "tab:blue" for v in values])
    for y, v in enumerate(values):
        ax.text(v + 1, y, f"{v:.0f}%", va="center", fontsize=8)
    ax.set_xlim(0, 110)
    ax.set_xlabel("students who pass (%)")
    ax.set_title("Pass rate per test cell (red: fewer than half pass)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(out, assignment, results, tests, elapsed, workers, limits=None):
    """``out/report.md`` and ``out/pass_rates.png``. ``limits``: the sandbox's, None if there was none."""
    rates = pass_rates(results, tests)
    plot_pass_rates(rates, out / "pass_rates.png")
    graded = [r for r in results.values() if r.graded]
    totals = [sum(s for s, _ in r.scores.values()) for r in results.values() if r.scores]
    lines = [f"# Grading report: {assignment}", "",
             f"{len(graded)} of {len(results)} submission(s) graded on {time.strftime('%Y-%m-%d %H:%M')}, "
             f"in {elapsed:.0f} s with {workers} worker(s).", ""]
    if limits is None:
        lines += ["**WARNING: graded without the sandbox (`--no-sandbox`).** The submissions could read and "
                  "change the grader's files (the solutions among them) and use the network: do not trust "
                  "these scores unless you trust every submission.", ""]
    else:
        lines += [f"Each kernel ran in its own sandbox: no network, none of the grader's files, "
                  f"{limits.describe()}.", ""]
    if totals:
        lines += [f"Autograded score: mean {statistics.mean(totals):.1f}, median {statistics.median(totals):.1f} "
                  f"of {sum(tests.values()):g} points. Written answers are graded by hand.", ""]

    def notes(r):  # the warning above is not repeated for every student
        return [n for n in r.notes if not n.startswith("graded WITHOUT the sandbox")]

    attention = [r for r in results.values() if not r.graded or r.repairs or notes(r)]
    if attention:
        lines += ["## Needs attention", ""]
        for r in attention:
            text = "; ".join(([status(r)] if not r.graded else []) + notes(r)
                             + ([f"repaired ({'; '.join(r.repairs)})"] if r.repairs else []))
            lines.append(f"- **{r.student}**: {text}")
        lines.append("")

    lines += ["## Pass rate per test", "", "| test cell | points | passed | pass rate |", "|---|---:|---:|---:|"]
    for g, (passed, n) in rates.items():
        lines.append(f"| `{g}` | {tests[g]:g} | {passed} / {n} | {100 * passed / n if n else 0:.0f}% |")
    lines += ["", "![Pass rate per test cell](pass_rates.png)", ""]

    counts = collections.Counter(m for r in results.values() for m in set(r.mistakes))
    lines += ["## Most common mistakes", ""]
    if counts:
        lines += ["Recognised by the checks (`Likely mistake:` in a failed test).", "",
                  "| mistake | test | students |", "|---|---|---:|"]
        lines += [f"| {m} | `{g}` | {n} |" for (g, m), n in counts.most_common(10)]
    else:
        lines.append("No failed test matched a known mistake.")
    (out / "report.md").write_text("\n".join(lines) + "\n")
