"""nbgrader configuration for the course.

solutions/<id>/<id>.ipynb (instructor source)  --nbgrader generate_assignment-->  notebooks/<id>/<id>.ipynb
Regenerate every release with:  python -m course_utils.release
"""
import os

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
