"""The evidence table: one row per run, never two runs merged into one."""

from __future__ import annotations

from pathlib import Path

from records_factory import record

from pytest_ganstab.evidence import evidence_frame, evidence_markdown, write_evidence


def test_two_tests_of_the_same_recipe_and_toy_stay_two_rows(tmp_path: Path) -> None:
    collapsed = record([1.0, 1.0], test="tests/test_a.py::test_collapse")
    healthy = record([8.0, 8.0], test="tests/test_b.py::test_healthy")
    table = evidence_markdown(evidence_frame([collapsed, healthy]))
    rows = [line for line in table.splitlines() if line.startswith("| tests/")]
    assert len(rows) == 2
    assert any("| 1 |" in row for row in rows) and any("| 8 |" in row for row in rows)
    markdown, csv = write_evidence([collapsed, healthy], tmp_path)
    assert markdown.read_text() == table and "modes" in csv.read_text()


def test_means_carry_a_confidence_interval_across_seeds() -> None:
    frame = evidence_frame([record([6.0, 7.0, 8.0, 8.0])])
    modes = frame[frame["metric"] == "modes"].iloc[0]
    assert modes["mean"] == 7.25 and modes["ci_low"] < 7.25 < modes["ci_high"]
