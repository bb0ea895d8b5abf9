import os
import tempfile

# Tests run offline, on the CPU, in fast mode, with a non-interactive matplotlib backend,
# and never touch the user's data cache.
os.environ["COURSE_FAST"] = "1"
os.environ["COURSE_OFFLINE"] = "1"
os.environ["COURSE_CACHE"] = tempfile.mkdtemp(prefix="course-cache-")
os.environ["MPLBACKEND"] = "Agg"
os.environ.pop("NBGRADER_EXECUTION", None)

import pytest  # noqa: E402

from course_utils.instructor.release import ROOT, assignments  # noqa: E402

ASSIGNMENTS = assignments()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


@pytest.fixture
def root():
    return ROOT


@pytest.fixture(scope="session")
def published_course(tmp_path_factory):
    """The student course, published once with the settings of course.toml. Read it, or copy it
    before changing anything: tests of other modules share it."""
    from course_utils.instructor import publish, settings

    dest = tmp_path_factory.mktemp("published") / "course"
    publish.publish(dest, settings.load())
    return dest


def pytest_collection_finish(session):
    # The Colab simulation's install downloads for minutes: start it now, beside the other tests.
    if any(item.path.name == "test_colab.py" for item in session.items):
        from test_colab import RUNTIME
        RUNTIME.start()


def pytest_sessionfinish(session):
    import sys
    if "test_colab" in sys.modules:
        sys.modules["test_colab"].RUNTIME.close()
