"""The suites' wiring: after a run, write the evidence table (recipe × toy × metric) beside the report.

The table goes to ``$GANSTAB_EVIDENCE`` or ``ganstab-evidence/`` under the directory pytest ran in.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pytest_ganstab.plugin import session_records


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    records = session_records(config)
    if not records:
        return
    from pytest_ganstab.evidence import write_evidence

    directory = Path(
        os.environ.get("GANSTAB_EVIDENCE") or Path(config.invocation_params.dir, "ganstab-evidence")
    )
    markdown, csv = write_evidence(records, directory)
    terminalreporter.write_line(f"ganstab: evidence table of {len(records)} runs in {markdown} and {csv}")
