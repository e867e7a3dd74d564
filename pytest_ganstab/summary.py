"""The end-of-session table: one row per Run, from run records only.

Working from records (``records.run_record``) and not from Run objects is what lets the xdist
controller show the Runs its workers made: only records cross the process boundary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

COLUMNS = (
    "test",
    "recipe",
    "toy",
    "seeds",
    "steps",
    "device",
    "modes",
    "HQ",
    "D AUC",
    "G signal",
    "non-finite",
    "verdict",
    "seed-steps/s",
)
_LEFT = {"test", "recipe", "toy", "device", "verdict"}
TEST_WIDTH = 56  # the tail of a node id (file::test[params]) is the part that tells tests apart


def render(records: Sequence[dict[str, Any]], *, per_seed: bool = False) -> list[str]:
    """The table's lines; ``per_seed`` adds one row per seed under each Run (``pytest -v``)."""
    rows: list[list[str]] = []
    for record in records:
        rows.append(_run_row(record))
        if per_seed:
            rows.extend(_seed_rows(record))
    lines = _layout([list(COLUMNS), *rows])
    notes = _notes(records)
    if notes:
        lines += ["", "notes:", *notes]
    return lines


def verdict(record: dict[str, Any]) -> str:
    """The test's outcome, then the checks that failed on this Run ("failed: mode_coverage")."""
    outcome = record.get("outcome") or ("failed" if record.get("passed") is False else "passed")
    failed = [finding["check"] for finding in record.get("findings", []) if not finding["passed"]]
    return f"{outcome}: {', '.join(failed)}" if failed else str(outcome)


def _run_row(record: dict[str, Any]) -> list[str]:
    metrics = record.get("metrics", {})
    seeds = int(record.get("seeds", len(record.get("seed_ids", []))))
    return [
        _shorten(str(record.get("test") or record.get("label", "")), TEST_WIDTH),
        str(record.get("recipe", "")),
        str(record.get("toy", "")),
        str(seeds),
        str(record.get("steps", "")),
        str(record.get("device", "")),
        _modes(_mean(metrics.get("modes")), record.get("toy_modes", 0)),
        _percent(_mean(metrics.get("hq"))),
        _fixed(_mean(metrics.get("d_auc"))),
        _general(_mean(metrics.get("g_signal"))),
        f"{record.get('nonfinite_seeds', 0)}/{seeds}",
        verdict(record),
        _rate(record.get("seed_steps_per_s")),
    ]


def _seed_rows(record: dict[str, Any]) -> list[list[str]]:
    metrics = record.get("metrics", {})
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
                _modes(value("modes"), record.get("toy_modes", 0)),
                _percent(value("hq")),
                _fixed(value("d_auc")),
                _general(value("g_signal")),
                "–" if nonfinite is None else ("yes" if nonfinite else "no"),
                ", ".join(failed_by_seed.get(seed, [])),
                "",
            ]
        )
    return rows


def _notes(records: Sequence[dict[str, Any]]) -> list[str]:
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


def _layout(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(COLUMNS))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(width) if name in _LEFT else cell.rjust(width)
            for cell, width, name in zip(row, widths, COLUMNS, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def _mean(values: Sequence[float | None] | None) -> float | None:
    finite = [value for value in values or [] if value is not None and math.isfinite(value)]
    return sum(finite) / len(finite) if finite else None


def _modes(value: float | None, total: int) -> str:
    if value is None or not total:
        return "–"
    shown = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    return f"{shown}/{total}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def _fixed(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _general(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def _rate(value: Any) -> str:
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{float(value):,.0f}"


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]
