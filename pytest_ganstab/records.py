"""Run records: a Run reduced to plain, JSON-safe data.

The summary table, xdist's ``workeroutput``, the history store and the report all consume this one
shape, so a record made on a worker, saved on main and loaded on a laptop reads the same everywhere.
"""

from __future__ import annotations

import math
from typing import Any

from .findings import Finding
from .run import Run

SCHEMA_VERSION = 1


def run_record(run: Run, *, test: str | None = None, findings: list[Finding] | None = None) -> dict[str, Any]:
    """The record of ``run``: its facts, per-seed key metrics, and the findings judged on it (if any)."""
    from .metrics import key_metrics

    per_seed = key_metrics(run)
    judged = run.findings if findings is None else findings
    return {
        "schema": SCHEMA_VERSION,
        "test": test,
        "label": run.label,
        **run.describe(),
        "recipe_config": run.recipe.to_dict(),
        "seed_ids": list(run.seeds),
        "base_seed": run.base_seed,
        "metrics": {
            column: [_plain(value) for value in per_seed[column]]
            for column in per_seed.columns
            if column != "seed"
        },
        "findings": [finding.to_dict() for finding in judged],
        "passed": None if not judged else all(finding.passed for finding in judged),
        "notes": list(run.notes),
    }


def _plain(value: Any) -> float | None:
    """JSON has no NaN or Infinity: a value that could not be measured, or blew up, is stored as null."""
    number = float(value)
    return number if math.isfinite(number) else None
