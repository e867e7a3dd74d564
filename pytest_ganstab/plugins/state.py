"""What one pytest session holds for every ganstab plugin: whether GAN tests run, the session's settings,
and the Runs and run records made so far (on the xdist controller, its workers' records too).

The core plugin fills it; the fixtures add to it; the history, report and bench plugins and the suites'
conftest read it through ``session_records`` and ``session_runs``.
"""

from __future__ import annotations

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


def session_records(config: pytest.Config) -> list[RunRecord]:
    """Every run record of the session; on the xdist controller, those of all workers too."""
    state = config.stash.get(SESSION, None)
    return [] if state is None else list(state.records)


def session_runs(config: pytest.Config) -> list[tuple[str, Run]]:
    """``(nodeid, Run)`` for every Run trained in this process. Under xdist the Runs stay on the
    workers (only records travel): use ``session_records`` on the controller."""
    state = config.stash.get(SESSION, None)
    return [] if state is None else list(state.runs)
