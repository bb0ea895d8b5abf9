"""``python -m course_utils.release``: the command line of ``course_utils.instructor.release``."""
import sys

from .instructor.release import main

if __name__ == "__main__":
    sys.exit(main())
