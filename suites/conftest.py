"""The suites' wiring: after a run, write the evidence table (recipe × toy × metric) and the remedies'
side-by-side table, to ``$GANSTAB_EVIDENCE`` or ``ganstab-evidence/`` under the directory pytest ran in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_ganstab.plugins.state import session_records


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Without pytest-benchmark (``-p no:benchmark``) the benchmark files are left out, not the suites."""
    if collection_path.name.startswith("test_bench_") and not config.pluginmanager.hasplugin("benchmark"):
        return True
    return None


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # the xdist controller holds every worker's records and writes the tables once
    records = session_records(config)
    if not records:
        return
    from pytest_ganstab.evidence import write_evidence

    directory = Path(
        os.environ.get("GANSTAB_EVIDENCE") or Path(config.invocation_params.dir, "ganstab-evidence")
    )
    markdown, csv = write_evidence(records, directory)
    terminalreporter.write_line(f"ganstab: evidence table of {len(records)} runs in {markdown} and {csv}")
    trials = [
        value
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "when", None) == "call"
        for name, value in report.user_properties
        if name == "remedy"
    ]
    if trials:
        remedies = directory / "remedies.md"
        remedies.write_text(remedies_markdown(trials), encoding="utf-8")
        terminalreporter.write_line(f"ganstab: {len(trials)} remedies side by side in {remedies}")


def remedies_markdown(trials: list[dict[str, Any]]) -> str:
    """One row per remedy trial: the metric it should move, both means over seeds, and the verdict."""
    lines = [
        "| trial | remedy | against | toy | metric | baseline | remedy | seeds better | helps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in trials:
        cells = [t["trial"], t["remedy"], t["baseline"], t["toy"], t["metric"]]
        cells += [f"{t['baseline_mean']:.3g}", f"{t['remedy_mean']:.3g}", t["seeds_better"]]
        lines.append("| " + " | ".join([*cells, "yes" if t["helps"] else "no"]) + " |")
    return "\n".join(lines) + "\n"
