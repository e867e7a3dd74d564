"""The core pytest plugin: ``--ganstab`` options, the ``ganstab`` marker, fixtures, the summary table.

pytest imports this module at start-up, so it imports neither torch nor pandas: ``pytest --help`` stays
fast and CUDA is untouched until a test trains. Under pytest-xdist each worker pins one GPU before
torch loads and sends its run records to the controller through ``workeroutput`` (as syrupy does).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import settings as rules
from .settings import Layer, SettingError, Settings

if TYPE_CHECKING:
    import torch

    from .recipes import Recipe
    from .run import Run
    from .toys import Toy

SKIP_REASON = "GAN stability test: run it with pytest --ganstab (or GANSTAB=1)"
PROGRESS_AFTER_S = 5.0  # show training progress for Runs expected to take longer than this
_RECORDS_KEY = "ganstab_records"  # in xdist's workeroutput


@dataclass
class _Session:
    enabled: bool
    layers: list[Layer]  # cli, env, ini: the layers below every test's marker
    settings: Settings
    records: list[dict[str, Any]] = field(default_factory=list)
    runs: list[tuple[str, Run]] = field(default_factory=list)


_SESSION = pytest.StashKey[_Session]()
_SETTINGS = pytest.StashKey[Settings]()
_OUTCOME = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ganstab", "GAN training stability (pytest-ganstab)")
    group.addoption(
        "--ganstab",
        action="store_true",
        help="run the tests marked @pytest.mark.ganstab (skipped otherwise). Env GANSTAB=1, ini ganstab.",
    )
    parser.addini("ganstab", "run ganstab tests without --ganstab", type="bool", default=False)
    helps = {
        "profile": "sets the default seeds, steps scale and width: "
        + "; ".join(
            f"{p.name} for {p.purpose} ({p.seeds} seeds, steps x{p.steps_scale:g}, width {p.width})"
            for p in rules.PROFILES.values()
        ),
        "device": "auto (CUDA when present), cpu, cuda or cuda:N",
        "seeds": "independent seeds per Run",
        "steps_scale": "multiplies every test's steps (0.2 in a quick CI job, 5 at night)",
        "seed": "base seed: seed k of a Run depends only on (base seed, k)",
    }
    for key, text in helps.items():
        dashed = key.replace("_", "-")
        group.addoption(
            f"--ganstab-{dashed}",
            dest=f"ganstab_{key}",
            metavar=key.upper(),
            help=f"{text}. Env GANSTAB_{key.upper()}, ini ganstab_{key}.",
        )
        parser.addini(f"ganstab_{key}", text, default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ganstab(seeds=None, steps=None, device=None, profile=None): a GAN stability test; "
        "runs only with --ganstab",
    )
    layers = [
        Layer("cli", {key: config.getoption(f"ganstab_{key}") for key in rules.KEYS}),
        Layer("env", {key: os.environ.get(f"GANSTAB_{key.upper()}") or None for key in rules.KEYS}),
        Layer("ini", {key: _ini(config, f"ganstab_{key}") for key in rules.KEYS}),
    ]
    try:
        enabled = rules.enabled(
            bool(config.getoption("ganstab")), os.environ.get("GANSTAB"), bool(config.getini("ganstab"))
        )
        settings = rules.resolve(layers)
    except SettingError as error:
        raise pytest.UsageError(str(error)) from None
    if enabled and hasattr(config, "workerinput"):
        _share_worker_cores()
        if settings.device in ("auto", "cuda"):
            _pin_worker_gpu(config)
    config.stash[_SESSION] = _Session(enabled, layers, settings)


def _ini(config: pytest.Config, name: str) -> Any:
    value = config.getini(name)
    return None if value in ("", None) else value


def _share_worker_cores() -> None:
    """Split the CPU cores between xdist workers, before anything imports torch (which reads the variable)."""
    threads = rules.worker_threads(
        os.environ.get("PYTEST_XDIST_WORKER_COUNT"), os.cpu_count(), os.environ.get("OMP_NUM_THREADS")
    )
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = threads


def _pin_worker_gpu(config: pytest.Config) -> None:
    """Give this xdist worker one GPU, before anything imports torch (which reads the variable once)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None or not hasattr(config, "workerinput"):
        return
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    pinned = rules.pinned_gpu(worker, visible, 0 if visible is not None else _count_gpus())
    if pinned is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = pinned


def _count_gpus() -> int:
    """GPUs on this machine per ``nvidia-smi -L``, without importing torch; 0 when it is absent or fails."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return 0
    try:
        listing = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())


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
                    rules.marker_layer(marker.args, marker.kwargs)
                except SettingError as error:
                    problems.append(f"{name}: {error}")
    if problems:
        raise collector.CollectError("\n".join(dict.fromkeys(problems)))
    return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Resolve each ganstab test's settings, and skip them all without --ganstab.

    A test that uses the ``ganstab`` fixture counts as marked, so a plain ``pytest`` never trains.
    """
    session = config.stash[_SESSION]
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
        item.stash[_SETTINGS] = rules.resolve([Layer("marker", merged), *session.layers])
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
        item.stash[_OUTCOME] = outcome
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workeroutput") and _SESSION in config.stash:
        config.workeroutput[_RECORDS_KEY] = json.dumps(config.stash[_SESSION].records)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: take in the records a finished worker made."""
    payload = getattr(node, "workeroutput", {}).get(_RECORDS_KEY)
    if payload is None:
        return
    state = node.config.stash[_SESSION]
    state.records.extend(json.loads(payload))
    state.records.sort(key=lambda record: str(record.get("test")))  # workers finish in any order


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    from .summary import render

    if hasattr(config, "workerinput") or _SESSION not in config.stash:
        return
    state = config.stash[_SESSION]
    if not state.records:
        return
    s = state.settings
    terminalreporter.section("ganstab stability summary")
    terminalreporter.line(
        f"profile {s.profile.name}, {s.seeds} seeds, steps x{s.steps_scale:g}, base seed {s.seed}, "
        f"device {s.device} (a marker may change these for its test)"
    )
    for line in render(state.records, per_seed=config.get_verbosity() > 0):
        terminalreporter.line(line)


def session_records(config: pytest.Config) -> list[dict[str, Any]]:
    """Every run record of the session; on the xdist controller, those of all workers too."""
    state = config.stash.get(_SESSION, None)
    return [] if state is None else list(state.records)


def session_runs(config: pytest.Config) -> list[tuple[str, Run]]:
    """``(nodeid, Run)`` for every Run trained in this process. Under xdist the Runs stay on the
    workers (only records travel): use ``session_records`` on the controller."""
    state = config.stash.get(_SESSION, None)
    return [] if state is None else list(state.runs)


class GanStab:
    """What a ganstab test trains with: the engine at the test's resolved device, seeds, steps and seed.

    Every Run it makes is kept, and becomes a record for the summary and history at teardown.
    """

    def __init__(self, item: pytest.Item, settings: Settings) -> None:
        self._item = item
        self._settings = settings
        self._device: torch.device | None = None
        self.runs: list[Run] = []

    @property
    def seeds(self) -> int:
        return self._settings.seeds

    @property
    def steps_scale(self) -> float:
        return self._settings.steps_scale

    @property
    def seed(self) -> int:
        return self._settings.seed

    @property
    def profile(self) -> str:
        """The profile's name: smoke or full."""
        return self._settings.profile.name

    @property
    def width(self) -> int:
        """The network width the profile suggests (64 for smoke, the reference 512 for full)."""
        return self._settings.profile.width

    @property
    def device(self) -> torch.device:
        """The resolved device ("auto" becomes cuda or cpu); a test that needs CUDA is skipped without it."""
        if self._device is None:
            self._device = _resolve_device(self._settings)
        return self._device

    def steps(self, steps: int | None = None) -> int:
        """The steps a Run will train: the marker's, else ``steps``, else the default, times the scale."""
        chosen = next(
            value for value in (self._settings.steps, steps, rules.DEFAULT_STEPS) if value is not None
        )
        if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen < 1:
            pytest.fail(f"ganstab: steps={steps!r} must be an integer of at least 1", pytrace=False)
        return self._settings.scaled(chosen)

    def train(
        self,
        recipe: str | Recipe = "nonsaturating",
        data: str | Toy = "ring8",
        *,
        steps: int | None = None,
        seeds: int | list[int] | None = None,
        **options: Any,
    ) -> Run:
        """``pytest_ganstab.train`` with this test's settings.

        The marker's ``seeds``, ``steps`` and ``device`` beat the ones given here, which beat the
        options and profile; ``steps`` are then multiplied by the steps scale. ``options`` go to the
        engine as they are (``generator=``, ``discriminator=``, ``loss=``, ``seed=``, ...). Bad
        arguments fail the test with the engine's one-line message.
        """
        from .engine import train

        chosen_steps = self.steps(steps)
        if seeds is None or self._from_marker("seeds"):
            seeds = self._settings.seeds
        if "device" not in options or self._from_marker("device"):
            options["device"] = self.device
        options.setdefault("seed", self.seed)
        options.setdefault("progress", _Progress(self._item.config, f"{_name(recipe)} on {_name(data)}"))
        try:
            run = train(recipe, data, seeds=seeds, steps=chosen_steps, **options)
        except (ValueError, TypeError) as error:
            if self._item.config.get_verbosity() > 1 or not _raised_by_ganstab(error):
                raise  # a bug in the user's own code keeps its whole traceback
            problem = str(error)
        else:
            self.runs.append(run)
            return run
        # Outside the except block, so pytest shows the one line and not the chained traceback.
        pytest.fail(f"ganstab.train: {problem} (-vv shows the traceback)", pytrace=False)

    def _from_marker(self, key: str) -> bool:
        return self._settings.sources.get(key) == rules.where("marker", key)

    def _finish(self) -> None:
        from .records import run_record

        item, state = self._item, self._item.config.stash[_SESSION]
        outcome = item.stash.get(_OUTCOME, "passed")
        for run in self.runs:
            state.runs.append((item.nodeid, run))
            state.records.append({**run_record(run, test=item.nodeid), "outcome": outcome})


def _raised_by_ganstab(error: BaseException) -> bool:
    """Whether the innermost frame is ours: our input checks (one line is the whole story), not a user's
    ``forward`` or torch failing inside it."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE)


_PACKAGE = Path(__file__).resolve().parent


def _name(value: Any) -> str:
    return value if isinstance(value, str) else str(getattr(value, "name", type(value).__name__))


def _resolve_device(settings: Settings) -> torch.device:
    from .devices import resolve_device

    try:
        return resolve_device(settings.device)
    except ValueError as error:
        origin = settings.sources.get("device", "device")
        if origin == rules.where("marker", "device") and "not available" in str(error):
            pytest.skip(f"{origin}: needs {settings.device}, which this machine does not have")
        pytest.fail(f"{origin}: {error}", pytrace=False)


class _Progress:
    """Shows that a long Run moves (``[wgan-gp on ring8 3% 10% 20% ... done in 62s]`` on pytest's line),
    a figure per tenth of the steps or per half minute; silent for short Runs."""

    def __init__(self, config: pytest.Config, label: str) -> None:
        self._reporter = config.pluginmanager.getplugin("terminalreporter")
        self._capture = config.pluginmanager.getplugin("capturemanager")
        # xdist workers have no terminal of their own: the controller's line moves with their results.
        self._quiet = self._reporter is None or hasattr(config, "workerinput")
        self._label = label
        self._started = time.perf_counter()
        self._shown_at: float | None = None
        self._tenth = -1

    def __call__(self, done: int, total: int) -> None:
        if self._quiet:
            return
        now = time.perf_counter()
        elapsed = now - self._started
        if self._shown_at is None:
            if done == total or elapsed / done * total < PROGRESS_AFTER_S:
                return
            self._write(f" [{self._label}")
        if done == total:
            self._write(f" done in {elapsed:.0f}s] ")
            return
        tenth = 10 * done // total
        if self._shown_at is None or tenth > self._tenth or now - self._shown_at >= 30:
            self._write(f" {100 * done // total}%")
            self._shown_at, self._tenth = now, tenth

    def _write(self, text: str) -> None:
        if self._capture is None:
            self._reporter.write(text, flush=True)
            return
        with self._capture.global_and_fixture_disabled():
            self._reporter.write(text, flush=True)


@pytest.fixture
def ganstab(request: pytest.FixtureRequest) -> Iterator[GanStab]:
    """The per-test trainer: ``ganstab.train("wgan-gp", "ring8", steps=300)`` with the resolved settings."""
    state = request.config.stash[_SESSION]
    helper = GanStab(request.node, request.node.stash.get(_SETTINGS, state.settings))
    yield helper
    helper._finish()


@pytest.fixture
def ganstab_device(request: pytest.FixtureRequest) -> torch.device:
    """The test's resolved device: ``auto`` becomes cuda when present, else cpu."""
    state = request.config.stash[_SESSION]
    return _resolve_device(request.node.stash.get(_SETTINGS, state.settings))


@pytest.fixture
def toy(request: pytest.FixtureRequest) -> Toy:
    """A toy by name: ring8 unless parametrized (``parametrize("toy", ["grid25"], indirect=True)``)."""
    return _toy(getattr(request, "param", "ring8"))


@pytest.fixture
def gan_recipe(request: pytest.FixtureRequest) -> Recipe:
    """A recipe by name: nonsaturating unless parametrized (``indirect=True``)."""
    from .recipes import recipe

    try:
        return recipe(getattr(request, "param", "nonsaturating"))
    except (ValueError, TypeError) as error:
        pytest.fail(f"gan_recipe fixture: {error}", pytrace=False)


@pytest.fixture
def ring8() -> Toy:
    return _toy("ring8")


@pytest.fixture
def grid25() -> Toy:
    return _toy("grid25")


@pytest.fixture
def swissroll() -> Toy:
    return _toy("swissroll")


def _toy(name: str | Toy) -> Toy:
    from .toys import toy

    try:
        return toy(name)
    except (ValueError, TypeError) as error:
        pytest.fail(f"toy fixture: {error}", pytrace=False)
