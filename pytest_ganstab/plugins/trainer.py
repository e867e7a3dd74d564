"""``GanStab``: what the ``ganstab`` fixture hands a test, and the progress it shows while a Run trains.

It trains with the test's resolved device, seeds, steps and base seed, keeps every Run it makes, and
turns them into run records for the summary, history and report at teardown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..settings import DEFAULT_STEPS, Settings, where
from .state import OUTCOME, SESSION

if TYPE_CHECKING:
    import torch

    from ..recipes import Recipe
    from ..run import Run
    from ..toys import Toy
    from ..user import Monitor

PROGRESS_AFTER_S = 5.0  # show training progress for Runs expected to take longer than this
_PACKAGE = Path(__file__).resolve().parent.parent


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
        """The profile's name: smoke, nightly or full."""
        return self._settings.profile.name

    @property
    def width(self) -> int:
        """The network width the profile suggests (64 for smoke, the reference 512 for full)."""
        return self._settings.profile.width

    @property
    def device(self) -> torch.device:
        """The resolved device ("auto" becomes cuda or cpu); a test that needs CUDA is skipped without it."""
        if self._device is None:
            self._device = resolve_device(self._settings)
        return self._device

    def steps(self, steps: int | None = None, *, scale_steps: bool = True) -> int:
        """The steps a Run will train: the marker's, else ``steps``, else the default, times the scale
        (unless ``scale_steps=False``)."""
        chosen = next(value for value in (self._settings.steps, steps, DEFAULT_STEPS) if value is not None)
        if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen < 1:
            pytest.fail(f"ganstab: steps={steps!r} must be an integer of at least 1", pytrace=False)
        return self._settings.scaled(chosen) if scale_steps else chosen

    def train(
        self,
        recipe: str | Recipe = "nonsaturating",
        data: str | Toy = "ring8",
        *,
        steps: int | None = None,
        seeds: int | list[int] | None = None,
        scale_steps: bool = True,
        **options: Any,
    ) -> Run:
        """``pytest_ganstab.train`` with this test's settings.

        The marker's ``seeds``, ``steps`` and ``device`` beat the ones given here, which beat the
        session's; steps are multiplied by the steps scale, unless ``scale_steps=False``: a case
        calibrated at one length (a converged run, a paper's schedule) trains exactly ``steps`` under
        every profile, while the profile's seeds still apply. Bad arguments fail the test with the
        engine's one-line message.
        """
        from ..engine import train

        chosen_steps = self.steps(steps, scale_steps=scale_steps)
        if seeds is None or self._from_marker("seeds"):
            seeds = self._settings.seeds
        if "device" not in options or self._from_marker("device"):
            options["device"] = self.device
        options.setdefault("seed", self.seed)
        options.setdefault("progress", Progress(self._item.config, f"{_name(recipe)} on {_name(data)}"))
        return self._keep(
            lambda: train(recipe, data, seeds=seeds, steps=chosen_steps, **options), "ganstab.train"
        )

    def monitor(
        self,
        loop: Callable[[Monitor], Any],
        *,
        steps: int | None = None,
        seeds: int | list[int] | None = None,
        name: str | None = None,
        **options: Any,
    ) -> Run:
        """Judge your own training loop: ``loop(monitor)`` runs once per seed of this test, under a torch
        seed from the test's base seed, and the seeds' monitors merge into one Run (kept for the summary).

        The loop builds G, D and their optimisers, calls ``monitor.watch(G, D, opt_g, opt_d)`` and trains
        ``monitor.steps`` steps (the marker's, else ``steps``, times the steps scale). ``options`` go to
        each ``pytest_ganstab.Monitor`` (``loss``, ``data``, ``score``, ...).
        """
        from ..user import monitor

        chosen_steps = self.steps(steps)
        if seeds is None or self._from_marker("seeds"):
            seeds = self._settings.seeds
        label = name or str(getattr(loop, "__name__", "your loop"))
        options.setdefault("progress", Progress(self._item.config, label))
        return self._keep(
            lambda: monitor(loop, seeds=seeds, seed=self.seed, steps=chosen_steps, name=name, **options),
            "ganstab.monitor",
        )

    def _keep(self, make: Callable[[], Run], what: str) -> Run:
        """``make()``'s Run, kept for the summary; our own input errors fail the test with one line."""
        try:
            run = make()
        except (ValueError, TypeError) as error:
            if self._item.config.get_verbosity() > 1 or not _raised_by_ganstab(error):
                raise  # a bug in the user's own code keeps its whole traceback
            problem = str(error)
        else:
            self.runs.append(run)
            return run
        # Outside the except block, so pytest shows the one line and not the chained traceback.
        pytest.fail(f"{what}: {problem} (-vv shows the traceback)", pytrace=False)

    def _from_marker(self, key: str) -> bool:
        return self._settings.sources.get(key) == where("marker", key)

    def finish(self) -> None:
        """At teardown: hand every Run and its record to the session."""
        from ..records import run_record

        item, state = self._item, self._item.config.stash[SESSION]
        outcome = item.stash.get(OUTCOME, "passed")
        for run in self.runs:
            state.runs.append((item.nodeid, run))
            state.records.append(run_record(run, test=item.nodeid, outcome=outcome))


def resolve_device(settings: Settings) -> torch.device:
    """The settings' device as a ``torch.device``; skips a marker's CUDA test on a machine without CUDA."""
    from ..devices import resolve_device as resolve

    try:
        return resolve(settings.device)
    except ValueError as error:
        origin = settings.sources.get("device", "device")
        if origin == where("marker", "device") and "not available" in str(error):
            pytest.skip(f"{origin}: needs {settings.device}, which this machine does not have")
        pytest.fail(f"{origin}: {error}", pytrace=False)


def _raised_by_ganstab(error: BaseException) -> bool:
    """Whether the innermost frame is ours: our input checks (one line is the whole story), not a user's
    ``forward`` or torch failing inside it."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(_PACKAGE)


def _name(value: Any) -> str:
    return value if isinstance(value, str) else str(getattr(value, "name", type(value).__name__))


class Progress:
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
