"""Grading throughput: seconds per submission, with and without the sandbox, sequential and parallel.

    python bench/grading.py                 # 12 submissions of 01_attention
    python bench/grading.py --n 50 --workers 2

Generates N synthetic submissions (the release with the solution typed in: every fifth one
correct, the others one of the mutants of tests/mutants/<id>.py) and grades them with
``course_utils.instructor.grade`` exactly as the command does (repair, guard, nbgrader
autograde): with one worker without the sandbox, with one worker in the sandbox, then with
``--workers`` in the sandbox. It checks that all runs give identical scores and prints a table:
the sandbox's cost is the ratio of the two sequential runs; the ideal parallel time is
(sequential time) / workers.
"""
import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from submissions import load_mutants, student  # noqa: E402

from course_utils.instructor import grade, sandbox  # noqa: E402


def submissions(aid, n):
    mutants = load_mutants(aid)
    names = list(mutants)
    out = {}
    for i in range(n):
        if i % 5 == 0:
            out[f"s{i:03d}-correct"] = student(aid)
        else:
            name = names[i % len(names)]
            out[f"s{i:03d}-{name}"] = student(aid, mutants[name]["patch"])
    return out


def _cpu():
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def timed(aid, ready, workers, limits):
    """Wall-clock and CPU seconds (this process, nbgrader and the kernels) of one grading run."""
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu = time.perf_counter(), _cpu()
        results = grade.grade_notebooks(aid, ready, tmp, workers=workers, limits=limits)
        return time.perf_counter() - start, _cpu() - cpu, {s: r.scores for s, r in results.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="01_attention")
    parser.add_argument("--n", type=int, default=12, help="number of submissions (default 12)")
    parser.add_argument("--workers", type=int, default=grade.cores())
    args = parser.parse_args()

    ready, _ = grade.load_and_repair(args.assignment, submissions(args.assignment, args.n))
    boxed = sandbox.Limits()
    load = os.getloadavg()[0]
    one, one_cpu, _ = timed(args.assignment, dict(list(ready.items())[:1]), 1, boxed)
    plain, plain_cpu, plain_scores = timed(args.assignment, ready, 1, None)
    seq, seq_cpu, seq_scores = timed(args.assignment, ready, 1, boxed)
    par, par_cpu, par_scores = timed(args.assignment, ready, args.workers, boxed)
    assert seq_scores == par_scores == plain_scores, "scores differ between the runs"

    n, w = args.n, args.workers
    print(f"{args.assignment}: {n} submissions, {grade.cores()} cores, load average {load:.1f} before and "
          f"{os.getloadavg()[0]:.1f} after. Each run includes one nbgrader generate_assignment.\n")
    print("| run | sandbox | workers | wall (s) | wall s / submission | CPU s / submission | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    print(f"| one submission alone | yes | 1 | {one:.1f} | {one:.1f} | {one_cpu:.1f} | |")
    print(f"| {n} sequentially | no | 1 | {plain:.1f} | {plain / n:.2f} | {plain_cpu / n:.2f} | 1 |")
    print(f"| {n} sequentially | yes | 1 | {seq:.1f} | {seq / n:.2f} | {seq_cpu / n:.2f} | "
          f"{seq / plain:.3f} (sandbox / none) |")
    print(f"| {n} in parallel | yes | {w} | {par:.1f} | {par / n:.2f} | {par_cpu / n:.2f} | "
          f"{par / (seq / w):.2f} (parallel / ideal) |")
    print("\nIdeal parallel time = sequential time / workers. Scores: identical in all three runs.")


if __name__ == "__main__":
    main()
