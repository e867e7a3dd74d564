"""pytest plugin: save a session's run records to the history store, and compare with a saved one.

At session end (on the xdist controller, which holds every worker's records) the session is first
compared with the saved one chosen by ``--ganstab-compare``, then saved, so it is never compared with
itself. A regression beyond ``--ganstab-compare-fail`` fails the session. Options, saved IDs and the
store are checked in ``pytest_configure``: a bad rule, a store path that is a file or a store that
cannot be written stops pytest before any training. A save that still fails at the end (the disk
filled up meanwhile) is a red line and a failed session, never a traceback that hides the summary.

Imports of numpy, pandas and torch stay inside the hooks, so ``pytest --help`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..compare import Comparison, Rule, compare_records
from ..options import Value
from ..rules import DEFAULT_ALPHA, DEFAULT_FAMILY
from . import state, xdist
from .pytest_options import lookup, register

if TYPE_CHECKING:
    from ..history import Session, Store


@dataclass
class HistoryState:
    """What this session was asked to do with the store, and what it did."""

    store: Store
    save: bool
    name: str | None
    baseline: Session | None
    rules: list[Rule]
    alpha: float
    family: str = DEFAULT_FAMILY
    notes: list[str] = field(default_factory=list)
    save_error: str | None = None
    comparison: Comparison | None = None
    saved: Session | None = None


_STATE = pytest.StashKey[HistoryState]()


def pytest_addoption(parser: pytest.Parser) -> None:
    register(parser, "history")


def pytest_configure(config: pytest.Config) -> None:
    if xdist.is_worker(config):  # workers hand their records to the controller
        return
    save_name = lookup(config, "save")
    autosave = lookup(config, "autosave", False)
    ident = lookup(config, "compare").value
    fail = lookup(config, "compare_fail")
    rules: list[Rule] = fail.value or []
    alpha = lookup(config, "compare_alpha", DEFAULT_ALPHA).value
    family = lookup(config, "compare_family", DEFAULT_FAMILY).value
    if not (save_name.value or autosave.value or ident or fail.value is not None):
        return
    from ..history import Store, StoreError

    storage = lookup(config, "storage")
    state = HistoryState(
        store=Store(storage_path(config)),
        save=bool(save_name.value or autosave.value),
        name=save_name.value,
        baseline=None,
        rules=rules,
        alpha=alpha,
        family=family,
    )
    try:  # before any training: a store that is a file, or that cannot be written
        if state.save:
            state.store.check_writable()
        else:
            state.store.check_folder()
    except StoreError as error:
        asked = storage if storage.value else save_name if save_name.value else autosave
        raise pytest.UsageError(f"{_given(asked)}: {error}") from None
    ident = ident or ("latest" if fail.value is not None else None)
    if ident:
        try:
            state.baseline = state.store.resolve(ident)
        except (StoreError, ValueError) as error:  # ValueError: a file given as ID that is no session
            if ident != "latest":
                named = "" if isinstance(error, ValueError) else f" {ident}"  # a ValueError names the file
                raise pytest.UsageError(f"ganstab: --ganstab-compare{named}: {error}") from None
            state.notes.append(f"nothing to compare with: {error}")
        state.notes.extend(state.store.problems)
    config.stash[_STATE] = state


def _given(value: Value) -> str:
    """How the user asked for it: ``--ganstab-storage out``, ``GANSTAB_SAVE main``, ``--ganstab-autosave``."""
    return value.source if value.raw in (None, True) else f"{value.source} {value.raw}"


@pytest.hookimpl(trylast=True)  # after the core plugin has gathered the workers' records
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    history = session.config.stash.get(_STATE, None)
    if history is None:
        return
    records = state.session_records(session.config)
    if history.baseline is not None:
        history.comparison = compare_records(
            history.baseline.records,
            records,
            history.rules,
            alpha=history.alpha,
            family=history.family,
            old_name=history.baseline.title,
            new_name="this run",
        )
        gate_saw_nothing = bool(history.rules) and not history.comparison.rows
        if gate_saw_nothing:
            # A gate that compared nothing must not pass green: a job that forgot --ganstab, or deselected
            # or renamed every GAN test, would otherwise never be checked again.
            history.notes.append(
                "the regression gate compared nothing: no run of this session matches the saved one "
                "(did you pass --ganstab? were the tests renamed?)"
            )
        if history.comparison.only_old:
            history.notes.append(
                f"not run this time, so not compared: {', '.join(history.comparison.only_old)}"
            )
        failed = history.comparison.regressions or gate_saw_nothing
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if history.save:
        if records:
            from ..history import StoreError, git_commit

            try:
                history.saved = history.store.save(
                    records, history.name, commit=git_commit(session.config.rootpath)
                )
            except (OSError, StoreError) as error:  # checked at configure; the disk may have filled since
                reason = getattr(error, "strerror", None) or str(error)
                history.save_error = f"could not save this session into {history.store.path}: {reason}"
                if session.exitstatus == pytest.ExitCode.OK:
                    session.exitstatus = pytest.ExitCode.TESTS_FAILED
        else:
            history.notes.append("nothing saved: no ganstab run in this session (did you pass --ganstab?)")


@pytest.hookimpl(trylast=True)  # below the stability summary it compares
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    terminalreporter.write_sep("-", "ganstab history")
    if state.comparison is not None:
        terminalreporter.write_line(state.comparison.table())
    for note in state.notes:
        terminalreporter.write_line(f"ganstab: {note}", yellow=True)
    if state.saved is not None:
        terminalreporter.write_line(f"ganstab: saved run {state.saved.id} to {state.saved.path}")
    if state.save_error is not None:
        terminalreporter.write_line(f"ganstab: FAILED: {state.save_error}", red=True, bold=True)
    if state.comparison is not None and state.comparison.regressions:
        count = len(state.comparison.regressions)
        terminalreporter.write_line(
            f"ganstab: FAILED: {count} stability regression(s) beyond the rules "
            f"{', '.join(str(rule) for rule in state.comparison.rules)} and unlikely to be seed noise "
            f"(family-wise alpha {state.comparison.alpha:g} over the {state.comparison.family})",
            red=True,
            bold=True,
        )


def storage_path(config: pytest.Config) -> Path:
    """The store this session uses: ``--ganstab-storage`` and its twins, else ``.ganstab`` in the rootdir."""
    value: Path | None = lookup(config, "storage").value
    return value or config.rootpath / ".ganstab"
