"""The pytest face: one ``pytest11`` entry point, ``ganstab`` (``core``), which registers one plugin per
role under its own name, so ``-p no:ganstab`` turns the product off and ``-p no:NAME`` one role:

- ``core`` (``ganstab``): the ``--ganstab`` options, the marker, collection, the header line and the
  stability summary; it loads ``fixtures`` (the ``ganstab`` trainer of ``trainer`` and the toy/recipe
  fixtures);
- ``history`` (``ganstab-history``): save sessions to the store, compare with a saved one, the gate;
- ``report`` (``ganstab-report``): the HTML/PNG report;
- ``bench`` (``ganstab-bench``): GPU facts in pytest-benchmark's machine info, the benchmark lines;
- ``traces`` (``ganstab-traces``): every Run's trace, samples and TensorBoard event files;
- ``ci`` (``ganstab-ci``): JUnit properties, pytest-html pictures, the GitHub step summary.

They share the session's state (``state``), read their options through ``pytest_options`` from the one
table in ``pytest_ganstab.options``, and move records, machine facts and benchmark lines between xdist
workers and the controller through ``xdist``. None imports torch at import time: ``pytest --help`` stays
fast and CUDA untouched at collection.
"""
