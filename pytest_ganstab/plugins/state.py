"""What one pytest session holds for every ganstab plugin: whether GAN tests run, the session's settings,
and the Runs and run records made so far (on the xdist controller, its workers' records too).

The core plugin fills it; the fixtures add to it; the history, report, traces, ci and bench plugins and
the suites' conftest read it through ``session_records``, ``session_runs`` and ``records_of_test``.

Records are read in test order (node id, then the order the test made its Runs), not in the order the
tests happened to run: a summary, a saved session or an export reads the same under xdist, under
pytest-randomly and in file order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from ..settings import Layer, Settings

if TYPE_CHECKING:
    from ..records import RunRecord
    from ..run import Run


@dataclass
class SessionState:
    enabled: bool
    layers: list[Layer]  # cli, env, ini: the layers below every test's marker
    settings: Settings
    records: list[RunRecord] = field(default_factory=list)
    runs: list[tuple[str, Run]] = field(default_factory=list)


SESSION = pytest.StashKey[SessionState]()
SETTINGS = pytest.StashKey[Settings]()  # on an item: its resolved settings
OUTCOME = pytest.StashKey[str]()  # on an item: the call phase's outcome, for the verdict column


def sorted_records(records: Iterable[RunRecord]) -> list[RunRecord]:
    """``records`` by test node id; a test's own Runs keep their order (the sort is stable)."""
    return sorted(records, key=lambda record: str(record.get("test")))


def session_records(config: pytest.Config) -> list[RunRecord]:
    """Every run record of the session, in test order; on the xdist controller, all workers' too."""
    state = config.stash.get(SESSION, None)
    return [] if state is None else sorted_records(state.records)


def session_runs(config: pytest.Config) -> list[tuple[str, Run]]:
    """``(nodeid, Run)`` for every Run trained in this process, in test order. Under xdist the Runs stay
    on the workers (only records travel): use ``session_records`` on the controller."""
    state = config.stash.get(SESSION, None)
    return [] if state is None else sorted(state.runs, key=lambda pair: pair[0])


def records_of_test(config: pytest.Config, nodeid: str) -> list[RunRecord]:
    """The records that test ``nodeid`` made (in this process), once its ``ganstab`` fixture has finished."""
    state = config.stash.get(SESSION, None)
    return [] if state is None else [record for record in state.records if record.get("test") == nodeid]


def runs_of_test(config: pytest.Config, nodeid: str) -> list[Run]:
    """The Runs that test ``nodeid`` trained in this process, once its ``ganstab`` fixture has finished."""
    state = config.stash.get(SESSION, None)
    return [] if state is None else [run for test, run in state.runs if test == nodeid]
