"""GPU-aware timing (``pytest_ganstab.bench``) and the benchmark plugin, checked on the CPU.

What matters on a GPU is checked here without one: the clock waits for the device (a mocked
``torch.cuda.synchronize``), pytest-benchmark's calibration never runs (it would read a synchronising
clock thousands of times), and saved benchmark files carry the torch/CUDA/GPU facts and our extra_info.
"""

from __future__ import annotations

import json
import re
import sys
import types
from typing import Any

import pandas as pd
import pytest
import torch

from pytest_ganstab import bench
from pytest_ganstab.engine import train
from pytest_ganstab.recipes import recipe


class FakeBenchmark:
    """Just enough of pytest-benchmark's fixture: ``pedantic`` runs warm-ups, then timed rounds."""

    def __init__(self, disabled: bool = False) -> None:
        self.disabled = disabled
        self.setups = 0

    def pedantic(self, target: Any, *, setup: Any, rounds: int, warmup_rounds: int, iterations: int) -> Any:
        assert iterations == 1
        if self.disabled:
            return target()
        for _ in range(warmup_rounds + rounds):
            setup()
            self.setups += 1
            result = target()
        return result


def test_the_device_timer_waits_for_cuda_before_reading_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append(f"sync {device}"))

    def clock() -> float:
        events.append("clock")
        return 42.0

    timer = bench.DeviceTimer(torch.device("cuda:1"), clock=clock)
    assert timer() == 42.0
    assert events == ["sync cuda:1", "clock"]


def test_the_device_timer_does_not_touch_cuda_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(device: Any = None) -> None:
        raise AssertionError("synchronize called for a CPU timer")

    monkeypatch.setattr(torch.cuda, "synchronize", refuse)
    assert bench.DeviceTimer(torch.device("cpu"), clock=lambda: 1.5)() == 1.5


def test_measure_keeps_the_timed_rounds_and_drains_the_device_before_each() -> None:
    calls: list[int] = []

    def work() -> int:
        calls.append(1)
        return len(calls)

    fake = FakeBenchmark()
    timed = bench.measure(fake, work, rounds=3, warmup_rounds=2)
    assert timed.result == 5 and len(calls) == 5 and fake.setups == 5
    assert len(timed.wall_s) == 3 and timed.device_s is None  # warm-up rounds are not kept; no CUDA events
    assert timed.best_s == min(timed.wall_s) <= timed.median_s


def test_measure_still_times_when_pytest_benchmark_is_disabled() -> None:
    timed = bench.measure(FakeBenchmark(disabled=True), lambda: "trained", rounds=5)
    assert timed.result == "trained" and len(timed.wall_s) == 1


@pytest.mark.parametrize(("key", "value"), [("rounds", 0), ("warmup_rounds", -1), ("rounds", 2.5)])
def test_measure_rejects_bad_round_counts(key: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"{key}={value}"):
        bench.measure(FakeBenchmark(), lambda: None, **{key: value})


def test_measure_rejects_a_missing_gpu() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        bench.measure(FakeBenchmark(), lambda: None, device="cuda")


COUNTING_TIMER = """
import time
calls = 0
def clock():
    global calls
    calls += 1
    return time.perf_counter()
"""

TIMED_TESTS = """
import {timer_module} as counting
from pytest_ganstab import bench

def work():
    return sum(range(1000))

def test_measure(benchmark):
    bench.measure(benchmark, work, rounds=3, warmup_rounds=1)
    print("TIMER_CALLS", counting.calls)

def test_plain_benchmark(benchmark):
    benchmark(work)
    print("TIMER_CALLS", counting.calls)
"""


def timer_calls(pytester: pytest.Pytester, test: str, module: str) -> int:
    """How often pytest-benchmark read the clock to benchmark ``test``, through a counting timer."""
    pytester.makepyfile(**{module: COUNTING_TIMER, "test_timed": TIMED_TESTS.format(timer_module=module)})
    pytester.syspathinsert()
    result = pytester.runpytest(
        "-s", "-k", test, f"--benchmark-timer={module}.clock", "--benchmark-max-time=0.05"
    )
    result.assert_outcomes(passed=1)
    (calls,) = [int(found) for found in re.findall(r"TIMER_CALLS (\d+)", result.stdout.str())]
    return calls


def test_measure_reads_the_clock_twice_a_round_and_never_calibrates(pytester: pytest.Pytester) -> None:
    assert timer_calls(pytester, "test_measure", "clock_for_measure") == 2 * (3 + 1)


def test_a_plain_benchmark_call_would_read_a_synchronising_clock_thousands_of_times(
    pytester: pytest.Pytester,
) -> None:
    """Why ``measure`` exists: calibration reads the timer to find its resolution and sizes loops with it."""
    assert timer_calls(pytester, "test_plain_benchmark", "clock_for_plain") > 1000


def test_machine_info_names_torch_cuda_and_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_ganstab.plugins.bench import pytest_benchmark_update_machine_info

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    info: dict[str, Any] = {"python_version": "3.11"}
    pytest_benchmark_update_machine_info(config=None, machine_info=info)  # type: ignore[arg-type]
    assert info == {
        "python_version": "3.11",
        "torch": torch.__version__,
        "cuda": "12.8",
        "gpu_count": 2,
        "gpu": "NVIDIA H200",
        "gpus": ["NVIDIA H200"],
    }


def test_stability_info_averages_each_metric_over_the_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = types.ModuleType("pytest_ganstab.metrics")
    table = {"seed": [0, 1, 2], "modes": [8.0, 6.0, float("nan")], "hq": [float("nan")] * 3}
    metrics.key_metrics = lambda run: pd.DataFrame(table)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pytest_ganstab.metrics", metrics)
    run = train(recipe("nonsaturating", width=8, batch_size=8), seeds=3, steps=1, probes=False)
    assert bench.stability_info(run) == {"modes": 7.0, "hq": None}  # NaN seeds left out; all-NaN is None


SAVED_BENCHMARK = """
from pytest_ganstab import bench

def test_timed(benchmark, request):
    timed = bench.measure(benchmark, lambda: 1, rounds=2, warmup_rounds=0)
    benchmark.extra_info["seed_steps_per_s"] = 123.0
    bench.report(request.config, "speed-up 2.5x")
"""


def test_a_saved_benchmark_carries_gpu_facts_extra_info_and_the_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_saved=SAVED_BENCHMARK)
    result = pytester.runpytest("--benchmark-json=out.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*ganstab benchmarks*", "speed-up 2.5x"])
    saved = json.loads((pytester.path / "out.json").read_text())
    assert {"torch", "cuda", "gpu_count"} <= set(saved["machine_info"])
    (timed,) = saved["benchmarks"]
    assert timed["extra_info"] == {"seed_steps_per_s": 123.0} and timed["stats"]["rounds"] == 2


def test_bench_threads_option_is_validated(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest("--ganstab-bench-threads=two")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ganstab-bench-threads: 'two' is not a whole number*"])
