"""Run records: a Run reduced to plain, JSON-safe data, with its shape declared as a TypedDict.

The summary table, xdist's ``workeroutput``, the history store, the comparison, the evidence table and
the report all consume this one shape, so a record made on a worker, saved on main and loaded on a
laptop reads the same everywhere, and a misspelt key is a type error.

This module imports neither torch nor pandas at import time: the pytest plugins and the ``ganstab``
command read records without them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from .findings import Finding
    from .run import Run

# The one version of the stored shape: run records and the session files that hold them (history.SCHEMA
# is this number). A change a reader of the previous version would misread bumps it, and
# history.read_session then upgrades older files; tests/test_storetools.py reads a 0.1 file.
SCHEMA_VERSION = 1


class FindingRecord(TypedDict):
    """``Finding.to_dict()``: one check's verdict on one Run."""

    check: str
    passed: bool
    run: str
    seeds: list[int]
    failed_seeds: list[int]
    required: int
    values: dict[str, list[float]]
    thresholds: dict[str, float]
    ci: dict[str, list[float]]
    step: int | None
    cause: str | None
    remedies: list[str]
    message: str


class RunRecord(TypedDict):
    """One Run: what was trained, per-seed key metrics (``catalog``), and what was judged on it."""

    schema: int
    test: str | None  # the pytest node id; None outside pytest
    label: str
    recipe: str
    toy: str
    dim: int
    toy_modes: int
    seeds: int
    steps: int
    device: str
    wall_time_s: float
    seed_steps_per_s: float
    nonfinite_seeds: int
    recipe_config: dict[str, Any]
    seed_ids: list[int]
    base_seed: int
    metrics: dict[str, list[float | None]]  # key metric -> one value per seed, None where not measured
    findings: list[FindingRecord]
    passed: bool | None  # None when nothing was judged
    notes: list[str]
    outcome: str | None  # the test's outcome; None outside pytest


def run_record(
    run: Run, *, test: str | None = None, findings: list[Finding] | None = None, outcome: str | None = None
) -> RunRecord:
    """The record of ``run``: its facts, per-seed key metrics, and the findings judged on it (if any)."""
    from .metrics import key_metrics

    per_seed = key_metrics(run)
    judged = run.findings if findings is None else findings
    facts = run.describe()
    return RunRecord(
        schema=SCHEMA_VERSION,
        test=test,
        label=run.label,
        recipe=facts["recipe"],
        toy=facts["toy"],
        dim=facts["dim"],
        toy_modes=facts["toy_modes"],
        seeds=facts["seeds"],
        steps=facts["steps"],
        device=facts["device"],
        wall_time_s=facts["wall_time_s"],
        seed_steps_per_s=facts["seed_steps_per_s"],
        nonfinite_seeds=facts["nonfinite_seeds"],
        recipe_config=run.recipe.to_dict(),
        seed_ids=list(run.seeds),
        base_seed=run.base_seed,
        metrics={
            column: [finite_or_none(value) for value in per_seed[column]]
            for column in per_seed.columns
            if column != "seed"
        },
        findings=[finding.to_dict() for finding in judged],
        passed=None if not judged else all(finding.passed for finding in judged),
        notes=list(run.notes),
        outcome=outcome,
    )


def finite_or_none(value: Any) -> float | None:
    """JSON has no NaN or Infinity: a value that could not be measured, or blew up, is stored as null."""
    number = float(value)
    return number if math.isfinite(number) else None


def seed_mean(values: Sequence[float | None] | None) -> float | None:
    """The mean over the seeds that were measured; None when none was."""
    finite = [value for value in values or [] if value is not None and math.isfinite(value)]
    return statistics.fmean(finite) if finite else None
