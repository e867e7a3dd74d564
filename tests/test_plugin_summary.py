"""The summary table, rendered from plain run records (as the xdist controller receives them)."""

from __future__ import annotations

from typing import Any

from pytest_ganstab.summary import render, verdict


def record(test: str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "test": test,
        "label": "wgan-gp on ring8",
        "recipe": "wgan-gp",
        "toy": "ring8",
        "toy_modes": 8,
        "seeds": 2,
        "steps": 300,
        "device": "cpu",
        "seed_steps_per_s": 1234.4,
        "nonfinite_seeds": 1,
        "seed_ids": [0, 1],
        "metrics": {
            "modes": [8.0, None],
            "hq": [0.9, None],
            "d_auc": [0.6, 0.8],
            "g_signal": [0.0123, None],
            "nonfinite": [0.0, 1.0],
        },
        "findings": [],
        "notes": [],
        "outcome": "passed",
    }
    return {**base, **changes}


def mode_coverage_failure(failed_seeds: list[int]) -> dict[str, Any]:
    return {"check": "mode_coverage", "passed": False, "failed_seeds": failed_seeds}


def test_one_row_per_run_with_the_key_metrics_over_seeds_that_stayed_finite() -> None:
    header, rule, row = render([record("tests/test_gan.py::test_wgan_gp")])
    assert header.split("  ")[0] == "test"
    assert set(rule) == {"-", " "}
    cells = row.split()
    assert cells == [
        "tests/test_gan.py::test_wgan_gp",
        "wgan-gp",
        "ring8",
        "2",
        "300",
        "cpu",
        "8/8",  # the diverged seed has no modes: the mean is over the finite one
        "90.0%",
        "0.700",
        "0.0123",
        "1/2",
        "passed",
        "1,234",
    ]


def test_the_verdict_is_the_outcome_plus_the_checks_that_failed() -> None:
    assert verdict(record("t", outcome="failed", findings=[mode_coverage_failure([1])])) == (
        "failed: mode_coverage"
    )
    passed_check = {"check": "gradients", "passed": True, "failed_seeds": []}
    assert verdict(record("t", findings=[passed_check])) == "passed"
    assert verdict(record("t", outcome="xfailed")) == "xfailed"


def test_per_seed_rows_show_each_seeds_metrics_and_failed_checks() -> None:
    lines = render([record("t", findings=[mode_coverage_failure([1])])], per_seed=True)
    seed0, seed1 = lines[3].split(), lines[4].split()
    assert seed0 == ["seed", "0", "8/8", "90.0%", "0.600", "0.0123", "no"]
    assert seed1 == ["seed", "1", "–", "–", "0.800", "–", "yes", "mode_coverage"]


def test_a_note_shared_by_several_runs_is_shown_once() -> None:
    fallback = "generator: BatchNorm cannot be batched with torch.func; seeds ran one after another"
    lines = render([record("a", notes=[fallback]), record("b", notes=[fallback]), record("c")])
    assert lines[-2:] == ["notes:", f"  - {fallback} (2 runs)"]


def test_long_test_ids_keep_their_end() -> None:
    test = "suites/" + "deep/" * 20 + "test_file.py::test_case[wgan-gp-ring8]"
    cell = render([record(test)])[2].split()[0]
    assert cell.startswith("…")
    assert cell.endswith("test_file.py::test_case[wgan-gp-ring8]")
