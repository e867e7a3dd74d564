"""Findings: one check's judgement of one Run, as data, and the error that carries failed ones.

A finding is what ``Run.diagnose()`` returns, what an ``assert_*`` helper raises inside a
``StabilityError``, and what the summary, history and report show: one shape for all of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .records import FindingRecord


@dataclass(frozen=True)
class Finding:
    """The verdict of one check over the seeds of one Run, with its evidence."""

    check: str  # the Check's name (``assertions.CHECKS``): "divergence", "generator_learns", …
    passed: bool
    run: str  # the Run's label
    seeds: list[int]  # every seed judged, in the order of ``values``
    failed_seeds: list[int]
    required: int  # how many seeds had to pass (the quorum)
    values: dict[str, list[float]]  # per-seed evidence by metric name, aligned with ``seeds``
    thresholds: dict[str, float]
    ci: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # metric → (mean, low, high)
    step: int | None = None  # earliest step at which the failure starts among failed seeds
    cause: str | None = None  # the cause of docs/design.md §1 the evidence points to
    remedies: tuple[str, ...] = ()
    message: str = ""  # the diagnosis, written for a person

    def to_dict(self) -> FindingRecord:
        data = asdict(self)
        data["remedies"] = list(self.remedies)
        data["ci"] = {key: list(value) for key, value in self.ci.items()}
        return data  # type: ignore[return-value]  # asdict's keys are the record's, by construction


class StabilityError(AssertionError):
    """A stability assertion failed; ``findings`` holds the failed findings, ``str()`` the diagnosis."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        super().__init__("\n\n".join(finding.message for finding in findings))


class DiscriminatorDominanceError(StabilityError):
    """D separates real from fake almost perfectly in too many seeds."""


class GradientHealthError(StabilityError):
    """G's learning signal vanished, or gradients exploded or went non-finite, in too many seeds."""


class ModeCoverageError(StabilityError):
    """Too many seeds miss modes, put too few samples near a mode, or weight the modes wrongly."""


class DivergenceError(StabilityError):
    """Too many seeds went non-finite, blew up their losses, or keep oscillating."""


class GeneratorStuckError(StabilityError):
    """G's samples did not move towards the data (or not far enough) in too many seeds."""


class ClassCoverageError(ModeCoverageError):
    """A conditional G ignores its label or collapses within a class, in too many seeds."""
