"""``python -m course_utils.check NOTEBOOK``: is a notebook ready to hand in? (``course_utils.handin``)

Prints a short checklist; the exit status is 0 when the notebook is ready, 1 otherwise.
"""
import argparse
import sys

from . import handin


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_utils.check", description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="the .ipynb file to check (it is never modified)")
    parser.add_argument("--no-run", action="store_true", help="do not run the notebook (skips the visible tests)")
    args = parser.parse_args(argv)
    try:
        report = handin.check(args.notebook, run=not args.no_run)
    except handin.HandinError as e:
        print(f"Hand-in check: {e}")
        return 1
    print(report.text())
    return 0 if report.ready else 1


if __name__ == "__main__":
    sys.exit(main())
