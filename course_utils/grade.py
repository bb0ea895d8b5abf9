"""``python -m course_utils.grade``: the command line of ``course_utils.instructor.grade``."""
import sys

from .instructor.grade import main

if __name__ == "__main__":
    sys.exit(main())
