"""GPU-aware timing for pytest-benchmark.

pytest-benchmark reads a host clock, and CUDA kernels run asynchronously: without a synchronisation a
GPU benchmark times the launches, not the work. A synchronising ``--benchmark-timer`` is no fix: the
calibration of ``benchmark(fn)`` calls the timer to estimate its resolution (up to a second of calls)
and then multiplies the loop count by 10 until a round is long enough, so each of those calls would
wait for the GPU (docs/design.md §6). ``measure`` therefore runs ``benchmark.pedantic`` with explicit rounds
(no calibration: the clock is read twice a round), drains the device before each round, waits for the
round's work inside it, and, on CUDA, also records each round with CUDA events (the GPU's own time).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pytest
import torch

from .devices import resolve_device, synchronize
from .plugins.bench import REPORTED

if TYPE_CHECKING:
    from .run import Run

T = TypeVar("T")


class DeviceTimer:
    """A clock whose every reading first waits for the device's queued work."""

    def __init__(self, device: torch.device, clock: Callable[[], float] = time.perf_counter) -> None:
        self.device = device
        self.clock = clock

    def __call__(self) -> float:
        synchronize(self.device)
        return self.clock()


@dataclass
class Measurement(Generic[T]):
    """What ``measure`` timed: the last round's result and each timed round's seconds."""

    result: T
    wall_s: list[float]  # host clock, the device's work included
    device_s: list[float] | None = None  # CUDA events: the GPU's own time; None off CUDA

    @property
    def best_s(self) -> float:
        """The fastest round: on a shared machine, the round least disturbed by others."""
        return min(self.wall_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.wall_s)


@dataclass
class _Rounds(Generic[T]):
    fn: Callable[[], T]
    device: torch.device
    timer: DeviceTimer
    wall_s: list[float] = field(default_factory=list)
    device_s: list[float] = field(default_factory=list)

    def drain(self) -> None:
        synchronize(self.device)  # pedantic's setup: runs before its clock starts

    def __call__(self) -> T:
        start = self.timer()
        if self.device.type != "cuda":
            result = self.fn()
            self.wall_s.append(self.timer() - start)
            return result
        begin = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        end = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
        begin.record()
        result = self.fn()
        end.record()
        self.wall_s.append(self.timer() - start)  # the timer synchronises, so both events have happened
        self.device_s.append(begin.elapsed_time(end) / 1000)
        return result


def measure(
    benchmark: Any,
    fn: Callable[[], T],
    *,
    device: str | torch.device = "cpu",
    rounds: int = 3,
    warmup_rounds: int = 1,
) -> Measurement[T]:
    """Time ``fn`` with the pytest-benchmark fixture ``benchmark``, ``rounds`` times after ``warmup_rounds``.

    pytest-benchmark records the same rounds (its table, ``--benchmark-json``, ``compare``); the returned
    ``Measurement`` keeps our own per-round times, also when pytest-benchmark is disabled (``--benchmark-
    disable``, or under xdist), where ``fn`` runs once.
    """
    for key, value, least in (("rounds", rounds, 1), ("warmup_rounds", warmup_rounds, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"measure: {key}={value!r} must be an integer of at least {least}")
    dev = resolve_device(device)
    timed = _Rounds(fn, dev, DeviceTimer(dev))
    result = benchmark.pedantic(
        timed, setup=timed.drain, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1
    )
    kept = min(rounds, len(timed.wall_s))  # pedantic times the warm-up rounds too: keep the last ``rounds``
    return Measurement(result, timed.wall_s[-kept:], timed.device_s[-kept:] if timed.device_s else None)


def seed_steps_per_s(seeds: int, steps: int, seconds: float) -> float:
    return seeds * steps / seconds if seconds > 0 else float("nan")


def stability_info(run: Run) -> dict[str, float | None]:
    """The run's key stability metrics, averaged over its seeds, for a benchmark's ``extra_info``.

    A speed-up that breaks training is no speed-up: saved beside the timing, these let a reader of
    ``pytest-benchmark compare`` see that the benchmarked run still trained.
    """
    from .records import run_record

    info: dict[str, float | None] = {}
    for name, values in run_record(run)["metrics"].items():
        finite = [v for v in values if v is not None]
        info[name] = statistics.fmean(finite) if finite else None
    return info


def report(config: pytest.Config, line: str) -> None:
    """Print ``line`` now (seen with ``-s``) and again in the summary's "ganstab benchmarks" section."""
    print(line)
    config.stash.setdefault(REPORTED, []).append(line)
