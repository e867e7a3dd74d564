"""Per-class coverage of a conditional GAN: a G(z, y) must put each class on its own mode, all of it.

Mode coverage over all samples cannot see two failures of a conditional G: one that ignores y (a good
unconditional G still covers every mode, each class scattered over all of them) and one that ignores z
(each class one point, on its mode). ``class_coverage`` (metrics) reads both off samples asked for every
class in turn; this check judges them per seed like the other checks (quorum, interval, diagnosis).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import metrics
from ..findings import Finding, ModeCoverageError
from ..run import Run
from ..thresholds import Thresholds
from .checks import Check, Quorum, _check_run, _finding


class ClassCoverageError(ModeCoverageError):
    """A conditional G ignores its label or collapses within a class, in too many seeds."""


def _judge_classes(run: Run, quorum: Quorum, limits: Thresholds) -> Finding:
    _check_run(run, "assert_class_coverage", trace=False)
    if not run.classes or not run.toy.has_modes:
        raise ValueError(
            f"assert_class_coverage: run {run.label!r} is not a conditional GAN on data with modes; "
            "train it with conditional=True on a toy with modes (each mode is a class)"
        )
    n = limits.samples
    frame = metrics.class_coverage(run.samples(n), run.sample_labels(n), run.toy, seeds=run.seeds)
    on_class, recall = (frame[key].to_numpy(dtype=np.float64) for key in ("on_class", "class_recall"))
    ignores_label = ~(on_class >= limits.min_on_class)
    collapses = ~(recall >= limits.min_class_recall)
    lines = {}
    for i, seed in enumerate(run.seeds):
        row = frame.iloc[i]
        parts = [
            f"{row.on_class:.0%} of samples on the mode of their class (needed ≥ {limits.min_on_class:.0%})",
            f"per-class recall {row.class_recall:.2f} (needed ≥ {limits.min_class_recall:g}; worst class "
            f"{row.worst_class:.0f}: {row.worst_recall:.2f})",
        ]
        if ignores_label[i]:
            parts.append("G ignores its label")
        if collapses[i]:
            parts.append("G collapses within a class")
        lines[seed] = f"seed {seed}: " + "; ".join(parts)
    return _finding(
        CLASS_COVERAGE,
        run,
        quorum,
        ignores_label | collapses,
        frame,
        values=("on_class", "class_recall", "worst_on_class", "worst_recall"),
        summary={"on_class": "share on their class's mode", "class_recall": "per-class recall"},
        thresholds={"min_on_class": limits.min_on_class, "min_class_recall": limits.min_class_recall},
        lines=lines,
        step=None,
        causes=[5],
        titles=("poor class coverage", "class coverage"),
    )


CLASS_COVERAGE = Check(
    "class_coverage",
    "assert_class_coverage",
    ("min_on_class", "min_class_recall", "samples"),
    ClassCoverageError,
    _judge_classes,
)


def assert_class_coverage(run: Run, *, quorum: Quorum = None, **limits: Any) -> Finding:
    """Fail when too many seeds of a conditional GAN put fewer than ``min_on_class`` of their samples on
    the mode of the class they were asked for (G ignores y), or reach a mean per-class recall below
    ``min_class_recall`` (G collapses within a class), on ``samples`` samples from fixed latents."""
    return CLASS_COVERAGE.enforce(run, quorum, limits)
