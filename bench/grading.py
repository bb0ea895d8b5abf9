"""Grading throughput: seconds per submission, sequential and parallel.

    python bench/grading.py                 # 12 submissions of 01_attention, 1 worker vs. one per core
    python bench/grading.py --n 50 --workers 2

Generates N synthetic submissions (the release with the solution typed in: every fifth one
correct, the others one of the mutants of tests/mutants/<id>.py), grades them with
``course_utils.grade`` exactly as the command does (repair, guard, nbgrader autograde), first
with one worker, then with ``--workers``, checks that both runs give identical scores, and
prints a table. The ideal parallel time is (sequential time) / workers.
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

from course_utils.instructor import grade  # noqa: E402


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


def timed(aid, ready, workers):
    """Wall-clock and CPU seconds (this process, nbgrader and the kernels) of one grading run."""
    with tempfile.TemporaryDirectory() as tmp:
        start, cpu = time.perf_counter(), _cpu()
        results = grade.grade_notebooks(aid, ready, tmp, workers=workers)
        return time.perf_counter() - start, _cpu() - cpu, {s: r.scores for s, r in results.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="01_attention")
    parser.add_argument("--n", type=int, default=12, help="number of submissions (default 12)")
    parser.add_argument("--workers", type=int, default=grade.cores())
    args = parser.parse_args()

    ready, _ = grade.load_and_repair(args.assignment, submissions(args.assignment, args.n))
    load = os.getloadavg()[0]
    one, one_cpu, _ = timed(args.assignment, dict(list(ready.items())[:1]), 1)
    seq, seq_cpu, seq_scores = timed(args.assignment, ready, 1)
    par, par_cpu, par_scores = timed(args.assignment, ready, args.workers)
    assert seq_scores == par_scores, "parallel scores differ from sequential ones"

    n, w = args.n, args.workers
    print(f"{args.assignment}: {n} submissions, {grade.cores()} cores, load average {load:.1f} before and "
          f"{os.getloadavg()[0]:.1f} after. Each run includes one nbgrader generate_assignment.\n")
    print("| run | workers | wall (s) | wall s / submission | CPU s / submission | parallel / ideal |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| one submission alone | 1 | {one:.1f} | {one:.1f} | {one_cpu:.1f} | |")
    print(f"| {n} sequentially | 1 | {seq:.1f} | {seq / n:.1f} | {seq_cpu / n:.1f} | |")
    print(f"| {n} in parallel | {w} | {par:.1f} | {par / n:.1f} | {par_cpu / n:.1f} | {par / (seq / w):.2f} |")
    print("\nIdeal parallel time = sequential time / workers. Scores: parallel == sequential for all.")


if __name__ == "__main__":
    main()
