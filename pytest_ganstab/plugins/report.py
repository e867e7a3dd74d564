"""pytest plugin: ``--ganstab-report DIR`` writes the session's report, PNGs and one offline index.html.

DIR is created and probe-written in ``pytest_configure``, and matplotlib is looked for there too, so a
typo or a missing extra stops pytest in a second, not after the training. The report shows every Run
made through the ``ganstab`` fixture (``state.session_runs``).

Under pytest-xdist the Runs stay on the workers. Each worker renders its own Runs (PNGs under DIR, the
HTML of its sections as JSON under ``DIR/.ganstab-parts``) and the controller, which finishes last,
joins the parts into the one index.html and removes them.

Nothing heavy is imported at module level: ``pytest --help`` stays fast.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from . import state as session_state
from . import xdist
from .pytest_options import lookup, register, writable_directory

PARTS = ".ganstab-parts"


@dataclass
class ReportState:
    """Where the report goes, the tests' outcomes (to put failing tests first), and what was written."""

    directory: Path
    outcomes: dict[str, str] = field(default_factory=dict)
    index: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)


_STATE = pytest.StashKey[ReportState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    register(parser, "report")


def pytest_configure(config: pytest.Config) -> None:
    chosen = lookup(config, "report")
    if chosen.value is None:
        return
    given = f"{chosen.source} {chosen.raw}"
    from ..report import require_matplotlib

    try:
        require_matplotlib()
    except ImportError as error:
        raise pytest.UsageError(f"{given}: {error}") from None
    directory = writable_directory(chosen, "the report")
    if not xdist.is_worker(config):  # the controller (or a plain run) starts with no stale parts
        shutil.rmtree(directory / PARTS, ignore_errors=True)
    config.stash[_STATE] = ReportState(directory.resolve())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each test's outcome; a failure in any phase makes its sections failing ones."""
    report = yield
    state = item.config.stash.get(_STATE, None)
    if state is not None:
        if report.failed:
            state.outcomes[item.nodeid] = "failed"
        elif report.when == "call":
            state.outcomes.setdefault(item.nodeid, report.outcome)
    return report


@pytest.hookimpl(trylast=True)  # after the core plugin has kept the last test's Runs
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    from ..report import STATUS_ORDER, Section, render_sections, write_index

    sections = render_sections(session_state.session_runs(config), state.directory, outcomes=state.outcomes)
    parts = state.directory / PARTS
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker is not None:
        parts.mkdir(exist_ok=True)
        (parts / f"{worker}.json").write_text(json.dumps([s.to_dict() for s in sections]), encoding="utf-8")
        return
    for path in sorted(parts.glob("*.json")):
        sections += [Section.from_dict(data) for data in json.loads(path.read_text(encoding="utf-8"))]
    shutil.rmtree(parts, ignore_errors=True)
    sections.sort(key=lambda section: section.test or "")
    state.index = write_index(sections, state.directory)
    for status in STATUS_ORDER:
        state.counts[status] = sum(section.status == status for section in sections)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or state.index is None:
        return
    counts = ", ".join(f"{n} {status}" for status, n in state.counts.items() if n) or "no GAN runs"
    terminalreporter.write_line(f"ganstab report: {state.index} ({counts})")
