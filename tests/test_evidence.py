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


def test_a_session_of_many_tests_recipes_toys_and_step_counts_has_one_row_per_run() -> None:
    """Every combination a real session makes, including one test training the same thing twice (the
    same key: test, label, recipe, toy, seeds, steps), gives exactly one Markdown row per run."""
    runs = [
        {**record([float(modes)] * 4), "test": test, "recipe": recipe, "toy": toy, "steps": steps}
        for test in ("tests/test_a.py::test_one", "tests/test_b.py::test_two[x]")
        for recipe in ("nonsaturating", "wgan-gp")
        for toy in ("ring8", "grid25")
        for steps, modes in ((300, 3), (1500, 7))
    ]
    runs.append(dict(runs[0]))  # a test that trains the very same run twice
    table = evidence_markdown(evidence_frame(runs))
    rows = [line for line in table.splitlines() if line.startswith("| tests/")]
    assert len(rows) == len(runs) == 17
    assert sum(row.count("| 3 |") for row in rows) == 9 and sum(row.count("| 7 |") for row in rows) == 8


def test_a_mode_count_at_low_hq_is_marked_as_spread_not_capture() -> None:
    captured = record([8.0, 8.0], hq=[0.9, 0.9], test="tests/test_a.py::test_captured")
    spread = record([7.0, 7.0], hq=[0.02, 0.02], test="tests/test_a.py::test_spread")
    table = evidence_markdown(evidence_frame([captured, spread]))
    row = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| tests/")}
    assert "| 7 † |" in row["tests/test_a.py::test_spread"]
    assert "| 8 |" in row["tests/test_a.py::test_captured"]
    assert "†" not in row["tests/test_a.py::test_captured"]
    assert "† HQ below 50%: most samples lie off every mode" in table
    assert "†" not in evidence_markdown(evidence_frame([captured]))
