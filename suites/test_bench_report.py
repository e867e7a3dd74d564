"""How long a report takes: one of 20 Runs × 8 seeds must take seconds, not minutes (issue 7).

Five real Runs, one per kind of picture (2-D modes, a grid, the swiss roll, the 128-D ring, a 1-D
mixture), each shown four times under a different test name: rendering does not depend on the
trained weights, only on the toy and the sizes. Run with ``pytest suites/test_bench_report.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_ganstab.bench import measure
from pytest_ganstab.engine import train
from pytest_ganstab.recipes import recipe
from pytest_ganstab.report import write_report
from pytest_ganstab.run import Run

TOYS = ("ring8", "grid25", "swissroll", "ring8-embedded", "mixture1d")
RUNS, SEEDS = 20, 8


@pytest.fixture(scope="module")
def twenty_runs() -> list[tuple[str, Run]]:
    small = recipe("nonsaturating", width=32, depth=2, batch_size=64)
    runs = [train(small, data, seeds=SEEDS, steps=100) for data in TOYS]
    for run in runs:
        run.findings.extend(run.diagnose())  # judged once, as a test's assertions would have
    return [(f"suites/test_gan.py::test_{k}", runs[k % len(runs)]) for k in range(RUNS)]


def test_report_of_20_runs_of_8_seeds(
    benchmark: Any, twenty_runs: list[tuple[str, Run]], tmp_path: Path
) -> None:
    # The warm-up round pays matplotlib's import, which a pytest session pays once. bench.measure keeps
    # its own times, so this also works where pytest-benchmark is disabled (--benchmark-disable, xdist).
    timed = measure(benchmark, lambda: write_report(twenty_runs, tmp_path), rounds=2)
    assert timed.result.read_text(encoding="utf-8").count("<section") == RUNS
    seconds = timed.median_s
    benchmark.extra_info.update(runs=RUNS, seeds=SEEDS, seconds_per_run=seconds / RUNS)
    print(f"\nreport of {RUNS} Runs × {SEEDS} seeds: {seconds:.1f} s ({seconds / RUNS:.2f} s per Run)")
