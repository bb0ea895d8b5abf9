"""Instructor tools around nbgrader. Student notebooks never import these.

- ``release``: generate the student notebooks from the sources;
- ``grade``: the grading command; it uses ``repair`` (nbgrader metadata), ``guard`` (the grading
  guard), ``sandbox`` (every kernel in its own bubblewrap sandbox), ``report`` (CSV and class
  report) and ``feedback`` (HTML without hidden tests);
- ``autograde_config``: the nbgrader settings of one grading run;
- ``nbmeta``: what nbgrader's metadata says about a cell;
- ``nbgrader_cli``: nbgrader's command line, started faster (what ``grade`` and ``release`` run).

Importing this package imports nothing else: the guard is loaded inside the graded kernel.
"""
