"""Figures while a notebook is graded.

The sandbox gives the grading kernel matplotlib's Agg backend: no figure is shown or saved, so laying
one out is wasted work. ``tight_layout`` measures every text of a figure (about 0.17 s a figure on a
2-core machine, a sixth of the time to grade notebook 02), so the grader's first cell turns it off.
Without the sandbox (inline figures in the feedback) nothing changes.
"""

import os


def skip_layout():
    """Make ``tight_layout`` do nothing when the kernel's backend is Agg (figures never drawn)."""
    if os.environ.get("MPLBACKEND", "").lower() != "agg":
        return
    from matplotlib.figure import Figure

    Figure.tight_layout = _no_layout


def _no_layout(self, *args, **kwargs):
    """Figure.tight_layout while grading: nothing is drawn, so nothing to lay out."""
