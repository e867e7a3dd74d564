"""pytest plugin (``ganstab-traces``): ``--ganstab-traces DIR`` writes every Run's trace, samples and
TensorBoard event files (``pytest_ganstab.traces``) as each test finishes.

Layout: ``DIR/<test>/<n>-<run label>/`` holds ``trace``, ``samples`` (Parquet or CSV), ``run.json`` and one
TensorBoard run per seed (``seed-<k>/``), so ``tensorboard --logdir DIR`` shows one run per test and seed.

Under pytest-xdist each worker writes the Runs it trained, into the same DIR (the Runs, with their
networks, never leave the worker; the folders are named by test, so workers never write the same one).
Runs on other hosts (``--tx ssh=...``) write on those hosts.

DIR is created and probe-written in ``pytest_configure``: a typo stops pytest before any training.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import state as session_state
from . import xdist
from .pytest_options import lookup, register, writable_directory


@dataclass
class TracesState:
    directory: Path
    tensorboard: bool
    written: int = 0  # Runs written by this process


_STATE = pytest.StashKey[TracesState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    register(parser, "traces")


def pytest_configure(config: pytest.Config) -> None:
    chosen = lookup(config, "traces")
    if chosen.value is None:
        return
    directory = writable_directory(chosen, "traces")
    from ..traces import has_tensorboard

    config.stash[_STATE] = TracesState(directory.resolve(), has_tensorboard())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """After the test's fixtures are torn down (its Runs and records are then in the session): write them."""
    result = yield
    state = item.config.stash.get(_STATE, None)
    runs = session_state.runs_of_test(item.config, item.nodeid) if state is not None else []
    if state is not None and runs:
        from ..traces import slug, write_run

        records = session_state.records_of_test(item.config, item.nodeid)
        test_folder = state.directory / slug(item.nodeid)
        for index, run in enumerate(runs):
            record = records[index] if index < len(records) else None
            folder = test_folder / f"{index}-{slug(run.label)}"
            write_run(run, folder, record=record, tensorboard=state.tensorboard)
            state.written += 1
    return result


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or xdist.is_worker(config):
        return
    runs = len(session_state.session_records(config))  # one record per Run, from every worker
    if not runs:
        terminalreporter.write_line(f"ganstab traces: no GAN run to write to {state.directory}")
        return
    from ..traces import TENSORBOARD_HINT, table_format

    line = f"ganstab traces: {runs} run(s) in {state.directory} ({table_format()}"
    if state.tensorboard:
        line += f"; TensorBoard: tensorboard --logdir {state.directory})"
    else:
        line += f"; no TensorBoard event files: {TENSORBOARD_HINT})"
    terminalreporter.write_line(line)
