"""The pytest face, one plugin per role, each registered by its own ``pytest11`` entry point:

- ``core`` (``-p no:ganstab``): the ``--ganstab`` options, the marker, collection and the stability summary;
  it loads ``fixtures`` (the ``ganstab`` trainer of ``trainer`` and the toy/recipe fixtures);
- ``history`` (``ganstab-history``): save sessions to the store, compare with a saved one, the gate;
- ``report`` (``ganstab-report``): the HTML/PNG report;
- ``bench`` (``ganstab-bench``): GPU facts in pytest-benchmark's machine info, the benchmark lines.

They share the session's state (``state``), read their options through ``pytest_options`` from the one
table in ``pytest_ganstab.options``, and move records between xdist workers through ``xdist``.
None imports torch at import time: ``pytest --help`` stays fast and CUDA untouched at collection.
"""
