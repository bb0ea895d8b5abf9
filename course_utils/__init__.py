"""Helpers for the Transformers course notebooks.

One concern per module:

- ``runtime``: device, seeding, fast mode and grading mode;
- ``checks``: comparisons that explain a failure in words a student understands;
- ``plots``: attention heatmaps, the bipartite attention plot, curves;
- ``widgets``: interactive explorers that fall back to static plots;
- ``data``, ``blocks``, ``training``, ``embeddings``: data sets, a reference Transformer block,
  training loops and pretrained vectors for notebooks 03-05;
- ``text``: NLTK's word tokenizer, with the same words on every NLTK version (notebooks 04-05).
- ``handin``: the hand-in check, ``checks.ready_to_submit()`` in a notebook or
  ``python -m course_utils.check NOTEBOOK`` in a terminal.

The instructor tools (releases, grading) live in ``course_utils.instructor``; ``release.py`` and
``grade.py`` here only keep ``python -m course_utils.release`` and ``python -m course_utils.grade``.
None of the three is in the published student course.

Nothing here implements a graded exercise.
"""

__version__ = "0.1.0"
