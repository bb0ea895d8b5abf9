import os

# Tests run offline, on the CPU, in fast mode, with a non-interactive matplotlib backend.
os.environ["COURSE_FAST"] = "1"
os.environ["MPLBACKEND"] = "Agg"
os.environ.pop("NBGRADER_EXECUTION", None)

import pytest  # noqa: E402

from course_utils.release import ROOT, assignments  # noqa: E402

ASSIGNMENTS = assignments()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


@pytest.fixture
def root():
    return ROOT
