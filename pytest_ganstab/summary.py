"""The end-of-session table: one row per Run, from run records only.

Working from records (``records.run_record``) and not from Run objects is what lets the xdist
controller show the Runs its workers made: only records cross the process boundary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from . import tables
from .catalog import BY_NAME
from .records import RunRecord, seed_mean

# The key metrics shown, in order (reverse KL is in the evidence table and the report).
SHOWN = ("modes", "hq", "d_auc", "g_signal")
COLUMNS = (
    "test",
    "recipe",
    "toy",
    "seeds",
    "steps",
    "device",
    *(BY_NAME[name].label for name in SHOWN),
    "non-finite",
    "verdict",
    "seed-steps/s",
)
NUMBERS = ("seeds", "steps", *(BY_NAME[name].label for name in SHOWN), "non-finite", "seed-steps/s")
TEST_WIDTH = 56  # the tail of a node id (file::test[params]) is the part that tells tests apart


def render(
    records: Sequence[RunRecord], *, per_seed: bool = False, style: tables.Style = "text"
) -> list[str]:
    """The table's lines; ``per_seed`` adds one row per seed under each Run (``pytest -v``); ``style``
    markdown for a CI step summary."""
    rows: list[list[str]] = []
    for record in records:
        rows.append(_run_row(record))
        if per_seed:
            rows.extend(_seed_rows(record))
    lines = tables.render(COLUMNS, rows, right=NUMBERS, style=style)
    notes = _notes(records)
    if notes:
        lines += ["", "notes:", *notes]
    return lines


def verdict(record: RunRecord) -> str:
    """The test's outcome, then the checks that failed on this Run ("failed: mode_coverage")."""
    outcome = record.get("outcome") or ("failed" if record.get("passed") is False else "passed")
    failed = [finding["check"] for finding in record.get("findings", []) if not finding["passed"]]
    return f"{outcome}: {', '.join(failed)}" if failed else str(outcome)


def _run_row(record: RunRecord) -> list[str]:
    metrics = record.get("metrics", {})
    seeds = int(record.get("seeds", len(record.get("seed_ids", []))))
    modes_of = record.get("toy_modes", 0) or None
    return [
        _shorten(str(record.get("test") or record.get("label", "")), TEST_WIDTH),
        str(record.get("recipe", "")),
        str(record.get("toy", "")),
        str(seeds),
        str(record.get("steps", "")),
        str(record.get("device", "")),
        *(BY_NAME[name].format(seed_mean(metrics.get(name)), modes_of=modes_of) for name in SHOWN),
        f"{record.get('nonfinite_seeds', 0)}/{seeds}",
        verdict(record),
        _rate(record.get("seed_steps_per_s")),
    ]


def _seed_rows(record: RunRecord) -> list[list[str]]:
    metrics = record.get("metrics", {})
    modes_of = record.get("toy_modes", 0) or None
    failed_by_seed: dict[int, list[str]] = {}
    for finding in record.get("findings", []):
        for seed in finding.get("failed_seeds", []):
            failed_by_seed.setdefault(seed, []).append(finding["check"])
    rows = []
    for position, seed in enumerate(record.get("seed_ids", [])):

        def value(name: str, position: int = position) -> float | None:
            column = metrics.get(name)
            return None if column is None else column[position]

        nonfinite = value("nonfinite")
        rows.append(
            [
                f"  seed {seed}",
                *[""] * 5,
                *(BY_NAME[name].format(value(name), modes_of=modes_of) for name in SHOWN),
                "–" if nonfinite is None else ("yes" if nonfinite else "no"),
                ", ".join(failed_by_seed.get(seed, [])),
                "",
            ]
        )
    return rows


def _notes(records: Sequence[RunRecord]) -> list[str]:
    """Each distinct note once (a fallback reason repeats on every Run it touched)."""
    tests: dict[str, list[str]] = {}
    for record in records:
        for note in record.get("notes", []):
            tests.setdefault(note, []).append(str(record.get("test") or record.get("label")))
    lines = []
    for note, where in tests.items():
        origin = where[0] if len(where) == 1 else f"{len(where)} runs"
        lines.append(f"  - {note} ({origin})")
    return lines


def _rate(value: Any) -> str:
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{float(value):,.0f}"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]
