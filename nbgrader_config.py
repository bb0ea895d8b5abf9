"""nbgrader configuration for the course.

solutions/<id>/<id>.ipynb (instructor source)  --nbgrader generate_assignment-->  notebooks/<id>/<id>.ipynb
Regenerate every release with:  python -m course_utils.release

`nbgrader autograde` run from here starts every kernel in its own bubblewrap sandbox
(course_utils/instructor/sandbox.py; docs/GRADING.md): no network, none of your files.
"""
import os

from course_utils.instructor.sandbox import use_sandbox

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.assignment_id = ""

c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\n"
              'raise NotImplementedError("Not done yet: replace this line with your code, then run the test cell below.")'
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Strip execution metadata (timings, scroll state) from the release.
c.ClearOutput.remove_metadata_fields = ["collapsed", "scrolled", "execution", "ExecuteTime"]

# Each cell gets at most this long while grading; a hung cell is interrupted and the
# rest of the notebook still runs.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# A student who deletes a grade cell gets it back from the source, and it is graded.
c.OverwriteCells.add_missing_cells = True

# This course hands out a published student course and grades downloaded notebooks with
# `python -m course_utils.grade`, not through nbgrader's exchange (release/fetch/submit between the
# accounts of one server). The Assignment List and Formgrader panels still expect an exchange, and
# show errors without one: a local, empty one in the course folder keeps them working.
c.CourseDirectory.course_id = "transformers-course"
c.Exchange.root = os.path.join(c.CourseDirectory.root, ".exchange")
os.makedirs(c.Exchange.root, exist_ok=True)

# Every kernel of `nbgrader autograde` runs in its own sandbox (4 GiB, 512 processes, 1 GiB of
# scratch by default; c.SandboxedKernelManager.memory_limit and friends change them). To grade
# without it (you trust every submission), delete this line.
use_sandbox(c)
