"""The core pytest plugin, pytest-ganstab's one ``pytest11`` entry point (``ganstab``): the ``--ganstab``
options, the ``ganstab`` marker, collection, the report header line and the stability summary.

It registers the sibling plugins itself (``SIBLINGS``), under their own names, so that ``-p no:ganstab``
turns the whole product off while ``-p no:ganstab-history`` (or any sibling's name) turns off just that
role; no sibling reads another's state, so each one can be missing.

pytest imports this module at start-up, so it imports neither torch nor pandas: ``pytest --help`` stays
fast and CUDA is untouched until a test trains. Its fixtures live in ``fixtures``; what workers send the
xdist controller, in ``xdist``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from ..parsers import OptionError
from ..settings import KEYS, Layer, SettingError, marker_layer, resolve
from . import xdist
from .fixtures import (  # noqa: F401
    gan_recipe,
    ganstab,
    ganstab_device,
    ganstab_grid25,
    ganstab_recipe,
    ganstab_ring8,
    ganstab_swissroll,
    ganstab_toy,
    grid25,
    ring8,
    swissroll,
    toy,
)
from .pytest_options import layers, lookup, register
from .state import OUTCOME, SESSION, SETTINGS, SessionState, sorted_records

SKIP_REASON = "GAN stability test: run it with pytest --ganstab (or GANSTAB=1)"
# The sibling plugins by the name that ``-p no:NAME`` disables, in registration order.
SIBLINGS = ("ganstab-history", "ganstab-report", "ganstab-bench", "ganstab-traces", "ganstab-ci")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    register(parser, "core")
    register_siblings(pluginmanager)


def register_siblings(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register each sibling plugin under its name unless ``-p no:NAME`` blocked it (pytest's ``register``
    skips a blocked name) or it is already there (an older install's own entry point).

    Registering from ``pytest_addoption`` replays that historic hook for the sibling, so its options are
    added like ours, and it gets every later hook, ``pytest_configure`` included."""
    from . import bench, ci, history, report, traces

    modules = dict(zip(SIBLINGS, (history, report, bench, traces, ci), strict=True))
    for name, module in modules.items():
        if pluginmanager.has_plugin(name) or pluginmanager.is_registered(module):
            continue
        pluginmanager.register(module, name)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ganstab(seeds=None, steps=None, device=None, profile=None): a GAN stability test; "
        "runs only with --ganstab",
    )
    enabled = bool(lookup(config, "ganstab", False).value)
    session_layers = layers(config, KEYS)
    try:
        settings = resolve(session_layers)
    except OptionError as error:
        raise pytest.UsageError(str(error)) from None
    if enabled:
        xdist.prepare_worker(config, settings)
    xdist.forget_workers(config)
    config.stash[SESSION] = SessionState(enabled, session_layers, settings)


def pytest_unconfigure(config: pytest.Config) -> None:
    xdist.forget_workers(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """One line under pytest's own header: what the GAN tests will run with, and where results go."""
    state = config.stash.get(SESSION, None)
    if state is None or not state.enabled:
        return []
    lines = ["ganstab: " + settings_line(state) + "".join(f"; {part}" for part in _destinations(config))]
    profile = state.settings.profile
    if profile.for_gpu and state.settings.device in ("auto", "cpu") and not cuda_visible():
        lines.append(
            f"ganstab: profile {profile.name} is sized for a GPU and none is visible: on the CPU it takes "
            "hours (the nightly profile is the longest CPU one)"
        )
    return lines


def cuda_visible() -> bool:
    import torch  # only here: importing the plugin must not import torch

    return bool(torch.cuda.is_available())


def settings_line(state: SessionState) -> str:
    s = state.settings
    return (
        f"profile {s.profile.name}, {s.seeds} seeds, steps x{s.steps_scale:g}, base seed {s.seed}, "
        f"device {s.device}"
    )


def _destinations(config: pytest.Config) -> list[str]:
    """Where the siblings that are switched on will write (each is asked by name: any may be disabled)."""
    found = []
    try:
        history = config.pluginmanager.get_plugin("ganstab-history")
        if history is not None:
            found.append(f"store {history.storage_path(config)}")
        for name, key in (("ganstab-report", "report"), ("ganstab-traces", "traces")):
            if config.pluginmanager.get_plugin(name) is not None:
                chosen = lookup(config, key).value
                if chosen is not None:
                    found.append(f"{key} {chosen}")
    except pytest.UsageError:  # a bad value the owning plugin reports where it is used
        pass
    return found


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, Any]:
    """Reject a bad ``@pytest.mark.ganstab(...)`` as a collection error of its module: one clear line,
    shown the same way under xdist (a usage error raised on a worker would crash it)."""
    result = yield
    problems: list[str] = []
    for item in result if isinstance(result, list) else [result]:
        if isinstance(item, pytest.Function):
            for marker in item.iter_markers("ganstab"):
                try:
                    marker_layer(marker.args, marker.kwargs)
                except SettingError as error:
                    problems.append(f"{name}: {error}")
    if problems:
        raise collector.CollectError("\n".join(dict.fromkeys(problems)))
    return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Resolve each ganstab test's settings, and skip them all without --ganstab.

    A test that uses the ``ganstab`` fixture counts as marked, so a plain ``pytest`` never trains.
    """
    session = config.stash[SESSION]
    for item in items:
        markers = list(item.iter_markers("ganstab"))
        if not markers and "ganstab" not in getattr(item, "fixturenames", ()):
            continue
        if not markers:
            item.add_marker(pytest.mark.ganstab)
        merged: dict[str, Any] = {}
        for marker in markers:  # closest first: a function's marker beats its class's
            for key, value in marker.kwargs.items():
                merged.setdefault(key, value)
        item.stash[SETTINGS] = resolve([Layer("marker", merged), *session.layers])
        if not session.enabled:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep the test's outcome for the verdict column (records are made at teardown, after the call)."""
    report = yield
    if report.when == "call":
        outcome: str = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        item.stash[OUTCOME] = outcome
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    xdist.send_records(session.config)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: take in the records a finished worker made, and its machine facts."""
    xdist.receive_records(node)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    from ..summary import render

    if xdist.is_worker(config) or SESSION not in config.stash:
        return
    state = config.stash[SESSION]
    if not state.records:
        return
    terminalreporter.section("ganstab stability summary")
    terminalreporter.line(f"{settings_line(state)} (a marker may change these for its test)")
    for line in render(sorted_records(state.records), per_seed=config.get_verbosity() > 0):
        terminalreporter.line(line)
