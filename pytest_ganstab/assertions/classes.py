"""Per-class coverage of a conditional GAN: a G(z, y) must put each class on its own mode, all of it.

Mode coverage over all samples cannot see two failures of a conditional G: one that ignores y (a good
unconditional G still covers every mode, each class scattered over all of them) and one that ignores z
(each class one point, on its mode). ``class_coverage`` (metrics) reads both off samples asked for every
class in turn; the check (``checks.CLASS_COVERAGE``, in the checks table, so ``assert_stable`` and
``Run.diagnose()`` judge every conditional Run on data with modes) judges them per seed like the others.
"""

from __future__ import annotations

from typing import Any

from ..findings import ClassCoverageError, Finding
from ..run import Run
from .checks import CLASS_COVERAGE, Quorum

__all__ = ["CLASS_COVERAGE", "ClassCoverageError", "assert_class_coverage"]


def assert_class_coverage(run: Run, *, quorum: Quorum = None, **limits: Any) -> Finding:
    """Fail when too many seeds of a conditional GAN put fewer than ``min_on_class`` of their samples on
    the mode of the class they were asked for (G ignores y), or reach a mean per-class recall below
    ``min_class_recall`` (G collapses within a class), on ``samples`` samples from fixed latents."""
    return CLASS_COVERAGE.enforce(run, quorum, limits)
