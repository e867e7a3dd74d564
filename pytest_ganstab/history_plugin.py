"""pytest plugin: save a session's run records to the history store, and compare with a saved one.

At session end (on the xdist controller, which holds every worker's records) the session is first
compared with the saved one chosen by ``--ganstab-compare``, then saved, so it is never compared with
itself. A regression beyond ``--ganstab-compare-fail`` fails the session. Options and saved IDs are
checked in ``pytest_configure``: a bad rule stops pytest before any training.

Imports of numpy, pandas and torch stay inside the hooks, so ``pytest --help`` stays fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .compare import DEFAULT_ALPHA, DEFAULT_RULES, Comparison, Rule, RuleError, compare_records, parse_rules

if TYPE_CHECKING:
    from .history import Session, Store


@dataclass
class HistoryState:
    """What this session was asked to do with the store, and what it did."""

    store: Store
    save: bool
    name: str | None
    baseline: Session | None
    rules: list[Rule]
    alpha: float
    notes: list[str] = field(default_factory=list)
    comparison: Comparison | None = None
    saved: Session | None = None


_STATE = pytest.StashKey[HistoryState]()
_DEFAULT_RULES_TEXT = DEFAULT_RULES.replace(",", ", ").replace("%", "%%")  # argparse expands % in help


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ganstab")
    group.addoption(
        "--ganstab-save",
        metavar="NAME",
        help="Save the current run into 'STORAGE-PATH/<time>_NAME_<id>.json'. "
        "Env GANSTAB_SAVE, ini ganstab_save.",
    )
    group.addoption(
        "--ganstab-autosave",
        action="store_true",
        default=None,
        help="Autosave the current run into 'STORAGE-PATH/<time>_auto_<id>.json'. "
        "Env GANSTAB_AUTOSAVE=1, ini ganstab_autosave.",
    )
    group.addoption(
        "--ganstab-storage",
        metavar="PATH",
        help="Folder of saved runs (one JSON file per run; copy files in to merge stores). "
        "Default: '.ganstab' under the rootdir. Env GANSTAB_STORAGE, ini ganstab_storage.",
    )
    group.addoption(
        "--ganstab-compare",
        metavar="ID",
        nargs="?",
        const="latest",
        help="Compare the current run against saved run ID (a name, an id prefix or a file) or the latest "
        "saved run if unspecified. Env GANSTAB_COMPARE, ini ganstab_compare.",
    )
    group.addoption(
        "--ganstab-compare-fail",
        metavar="RULES",
        nargs="?",
        const="default",
        action="append",
        help="Fail the run on a stability regression according to RULES, comma-separated METRIC:[+|-]X[%%] "
        "(eg: modes:-1,hq:-5%%,d_auc:+0.05,time:+10%%); a regression must also be unlikely to be seed "
        f"noise. Without RULES: {_DEFAULT_RULES_TEXT}. Can be used multiple times; implies "
        "--ganstab-compare. Env GANSTAB_COMPARE_FAIL, ini ganstab_compare_fail.",
    )
    group.addoption(
        "--ganstab-compare-alpha",
        metavar="P",
        help="Significance level of the seed-noise test (one-sided permutation test over seeds): a change "
        f"is a regression only if p <= P. Default: {DEFAULT_ALPHA}. "
        "Env GANSTAB_COMPARE_ALPHA, ini ganstab_compare_alpha.",
    )
    parser.addini("ganstab_save", "Save every run under this name (as --ganstab-save).", default=None)
    parser.addini("ganstab_autosave", "Autosave every run (as --ganstab-autosave).", type="bool")
    parser.addini("ganstab_storage", "Folder of saved runs, relative to the rootdir.", default=None)
    parser.addini("ganstab_compare", "Saved run to compare against (as --ganstab-compare).", default=None)
    parser.addini("ganstab_compare_fail", "Regression rules (as --ganstab-compare-fail).", type="linelist")
    parser.addini("ganstab_compare_alpha", "Significance level of the seed-noise test.", default=None)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # xdist workers hand their records to the controller
        return
    save_name = _setting(config, "save")
    autosave = _flag(config, "autosave")
    ident = _setting(config, "compare")
    fail = config.getoption("ganstab_compare_fail") or _env_list("GANSTAB_COMPARE_FAIL")
    fail = fail or config.getini("ganstab_compare_fail")
    alpha = _alpha(_setting(config, "compare_alpha"))
    if not (save_name or autosave or ident or fail):
        return

    from .history import Store, StoreError, check_name

    try:
        rules = parse_rules(fail)
    except RuleError as error:
        # A bare option followed by a test path takes the path as its RULES.
        swallowed = [text for text in fail if Path(config.invocation_params.dir, text).exists()]
        hint = "; before a test path write --ganstab-compare-fail=default" if swallowed else ""
        raise pytest.UsageError(f"ganstab: --ganstab-compare-fail: {error}{hint}") from None
    if save_name:
        try:
            check_name(save_name)
        except ValueError as error:
            raise pytest.UsageError(f"ganstab: --ganstab-save: {error}") from None
    state = HistoryState(
        store=Store(_storage(config)),
        save=bool(save_name or autosave),
        name=save_name or None,
        baseline=None,
        rules=rules,
        alpha=alpha,
    )
    ident = ident or ("latest" if fail else None)
    if ident:
        try:
            state.baseline = state.store.resolve(ident)
        except (StoreError, ValueError) as error:  # ValueError: a file given as ID that is no session
            if ident != "latest":
                raise pytest.UsageError(f"ganstab: --ganstab-compare {ident}: {error}") from None
            state.notes.append(f"nothing to compare with: {error}")
        state.notes.extend(state.store.problems)
    config.stash[_STATE] = state


@pytest.hookimpl(trylast=True)  # after the core plugin has gathered the workers' records
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    from . import plugin

    records: list[dict[str, Any]] = plugin.session_records(session.config)
    if state.baseline is not None:
        state.comparison = compare_records(
            state.baseline.records,
            records,
            state.rules,
            alpha=state.alpha,
            old_name=state.baseline.title,
            new_name="this run",
        )
        gate_saw_nothing = bool(state.rules) and not state.comparison.rows
        if gate_saw_nothing:
            # A gate that compared nothing must not pass green: a job that forgot --ganstab, or deselected
            # or renamed every GAN test, would otherwise never be checked again.
            state.notes.append(
                "the regression gate compared nothing: no run of this session matches the saved one "
                "(did you pass --ganstab? were the tests renamed?)"
            )
        if state.comparison.only_old:
            state.notes.append(f"not run this time, so not compared: {', '.join(state.comparison.only_old)}")
        failed = state.comparison.regressions or gate_saw_nothing
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if state.save:
        if records:
            from .history import git_commit

            state.saved = state.store.save(records, state.name, commit=git_commit(session.config.rootpath))
        else:
            state.notes.append("nothing saved: no ganstab run in this session (did you pass --ganstab?)")


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
    if state.comparison is not None and state.comparison.regressions:
        count = len(state.comparison.regressions)
        terminalreporter.write_line(
            f"ganstab: FAILED: {count} stability regression(s) beyond the rules "
            f"{', '.join(str(rule) for rule in state.comparison.rules)} and unlikely to be seed noise",
            red=True,
            bold=True,
        )


def _alpha(text: str | None) -> float:
    if text is None:
        return DEFAULT_ALPHA
    try:
        alpha = float(text)
    except ValueError:
        alpha = float("nan")
    if not 0 < alpha < 1:
        raise pytest.UsageError(
            f"ganstab: --ganstab-compare-alpha={text} must be a number strictly between 0 and 1, e.g. 0.05"
        )
    return alpha


def _setting(config: pytest.Config, key: str) -> str | None:
    # Command line, then environment, then ini (DESIGN.md §6); an empty value counts as unset.
    for value in (
        config.getoption(f"ganstab_{key}"),
        os.environ.get(f"GANSTAB_{key.upper()}"),
        config.getini(f"ganstab_{key}"),
    ):
        if value:
            return str(value)
    return None


def _flag(config: pytest.Config, key: str) -> bool:
    if config.getoption(f"ganstab_{key}"):
        return True
    env = os.environ.get(f"GANSTAB_{key.upper()}")
    if env is not None:
        text = env.strip().lower()
        if text not in {"1", "true", "yes", "on", "0", "false", "no", "off", ""}:
            raise pytest.UsageError(f"ganstab: GANSTAB_{key.upper()}={env!r}: use 1 or 0")
        return text in {"1", "true", "yes", "on"}
    return bool(config.getini(f"ganstab_{key}"))


def _env_list(name: str) -> list[str]:
    value = os.environ.get(name)
    return [value] if value else []


def _storage(config: pytest.Config) -> Path:
    # A path typed on the command line or in the environment is relative to where pytest was started;
    # the ini value is relative to the rootdir, like the ini file itself.
    for value, base in (
        (config.getoption("ganstab_storage"), config.invocation_params.dir),
        (os.environ.get("GANSTAB_STORAGE"), config.invocation_params.dir),
        (config.getini("ganstab_storage"), config.rootpath),
    ):
        if value:
            return Path(base, str(value))
    return config.rootpath / ".ganstab"
