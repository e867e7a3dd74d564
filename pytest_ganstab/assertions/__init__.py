"""Assertions: verdicts over a Run's seeds, failing with a diagnosis a person can act on.

Each ``assert_*`` judges every seed (``checks``), passes when a quorum of seeds passes (default: all),
appends its ``Finding`` to ``run.findings`` and, on failure, raises a ``StabilityError`` subclass whose
message says which seeds failed, the measured values against the thresholds, from which step, which
cause of docs/design.md §1 the evidence points to and what to try (``diagnosis``). ``diagnose`` returns
the same findings without raising.

Thresholds are keyword arguments named as in ``pytest_ganstab.thresholds.Thresholds``, where their
defaults and valid ranges are declared once; each assertion takes the ones its check reads.
"""

from __future__ import annotations

from typing import Any

from ..findings import (
    ClassCoverageError,
    DiscriminatorDominanceError,
    DivergenceError,
    Finding,
    GeneratorStuckError,
    GradientHealthError,
    ModeCoverageError,
    StabilityError,
)
from ..run import Run
from .checks import (
    CHECKS,
    DIVERGENCE,
    DOMINANCE,
    GENERATOR_LEARNS,
    GRADIENTS,
    MODE_COVERAGE,
    Check,
    Quorum,
)
from .classes import assert_class_coverage
from .diagnosis import CAUSES

__all__ = [
    "CAUSES",
    "CHECKS",
    "Check",
    "ClassCoverageError",
    "DiscriminatorDominanceError",
    "DivergenceError",
    "GeneratorStuckError",
    "GradientHealthError",
    "ModeCoverageError",
    "StabilityError",
    "assert_class_coverage",
    "assert_generator_learns",
    "assert_gradients_healthy",
    "assert_mode_coverage",
    "assert_no_discriminator_dominance",
    "assert_no_divergence",
    "assert_stable",
    "diagnose",
]


def assert_no_discriminator_dominance(run: Run, *, quorum: Quorum = None, **limits: Any) -> Finding:
    """Fail when D's AUC exceeds ``auc_threshold`` on more than ``max_dominant_fraction`` of the last
    ``window`` (a share of the recorded steps, or a number of steps) in more seeds than the quorum allows.
    ``signal_floor`` decides whether G's learning signal vanished, which points to cause (1)."""
    return DOMINANCE.enforce(run, quorum, limits)


def assert_gradients_healthy(run: Run, *, quorum: Quorum = None, **limits: Any) -> Finding:
    """Fail when G's learning signal over the ``window`` falls below ``signal_floor`` × its early value, a
    gradient norm exceeds ``grad_ceiling``, or gradients go non-finite, in too many seeds."""
    return GRADIENTS.enforce(run, quorum, limits)


def assert_generator_learns(run: Run, *, quorum: Quorum = None, **limits: Any) -> Finding:
    """Fail when too many seeds' G did not learn: from its samples before training to its final ones (the
    same fixed latents, ``samples`` of them), their median distance to the data must cover at least
    ``min_progress`` of the way down to the data's own (a seed already at twice the data's own distance
    passes). A G with no early samples to compare (a user's G whose trainer kept none) is refused. The
    diagnosis reads the trace: G's samples did not move at all, D stayed at ``chance_auc`` or below, or
    D dominated (``auc_threshold``, ``max_dominant_fraction``, ``signal_floor`` over the ``window``)."""
    return GENERATOR_LEARNS.enforce(run, quorum, limits)


def assert_mode_coverage(run: Run, *, quorum: Quorum = None, **limits: Any) -> Finding:
    """Fail when too many seeds capture fewer than ``min_modes`` (None: all; an int: a count; a float: a
    share of the toy's modes), have an HQ share below ``min_hq`` or a reverse KL above ``max_reverse_kl``
    (None: not judged), measured on ``samples`` samples from fixed latents. Toys without modes are refused.
    A seed whose HQ is below the default ``min_hq`` has most samples off every mode: the message says its
    mode count measures spread, not capture, even where a lower ``min_hq`` lets it pass."""
    return MODE_COVERAGE.enforce(run, quorum, limits)


def assert_no_divergence(run: Run, *, quorum: Quorum = None, **limits: Any) -> Finding:
    """Fail when too many seeds went non-finite, saw a loss above ``max_loss``, or (when
    ``max_amplitude`` is set) keep oscillating with a larger loss amplitude over the ``window``."""
    return DIVERGENCE.enforce(run, quorum, limits)


def diagnose(run: Run, *, quorum: Quorum = None, **thresholds: Any) -> list[Finding]:
    """Every check's finding on ``run``, passed or not, without raising for failed ones.

    ``thresholds`` are any ``Thresholds`` fields; each reaches every check that reads it. A check judges
    the Runs it applies to (``Check.applies``): mode coverage toys with modes, class coverage conditional
    Runs on them, generator learning Runs whose G can be seen before training (the recipe's G, or kept
    ``Run.initial_samples``). Bad arguments still raise ``ValueError``/``TypeError``.
    """
    accepted = {name for check in CHECKS for name in check.limits}
    unknown = sorted(set(thresholds) - accepted)
    if unknown:
        raise TypeError(
            f"diagnose: unknown threshold(s) {', '.join(unknown)}; known: {', '.join(sorted(accepted))}"
        )
    return [
        check.run(run, quorum, {key: value for key, value in thresholds.items() if key in check.limits})
        for check in CHECKS
        if check.applies(run)
    ]


def assert_stable(run: Run, *, quorum: Quorum = None, **thresholds: Any) -> list[Finding]:
    """Run every check (as ``diagnose``), append the findings to ``run.findings``, and raise when any
    failed: the error's type is that of the first failed check in the order divergence, discriminator
    dominance, gradients, generator learning, mode coverage, class coverage, and it carries every failed
    finding."""
    findings = diagnose(run, quorum=quorum, **thresholds)
    run.findings.extend(findings)
    failed = [finding for finding in findings if not finding.passed]
    if failed:
        error = next(check.error for check in CHECKS if check.name == failed[0].check)
        raise error(failed)
    return findings
