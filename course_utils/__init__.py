"""Helpers for the Transformers course notebooks.

One concern per module:

- ``runtime``: device, seeding, fast mode and grading mode;
- ``checks``: comparisons that explain a failure in words a student understands;
- ``plots``: attention heatmaps, the bipartite attention plot, curves;
- ``widgets``: interactive explorers that fall back to static plots;
- ``release`` and ``grade``: instructor tools around nbgrader; ``grade`` uses ``repair``
  (nbgrader metadata), ``guard`` (the grading guard), ``report`` and ``feedback``.

Nothing here implements a graded exercise.
"""

__version__ = "0.1.0"
