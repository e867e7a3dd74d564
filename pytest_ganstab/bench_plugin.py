"""Benchmarks' pytest plugin: GPU facts in pytest-benchmark's machine info, speed-ups in the summary.

Imports neither torch nor pytest-benchmark: the hooks import what they need when called, and the
pytest-benchmark hook is optional, so this plugin is inert where pytest-benchmark is absent or disabled.
"""

from __future__ import annotations

from typing import Any

import pytest

# Lines that the benchmark suites report (``bench.report``), shown again at the end of the session.
REPORTED = pytest.StashKey[list[str]]()

DEFAULT_THREADS = 2  # the 2-core CPU that the DESIGN's CPU figures were measured on


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ganstab", "GAN training stability (pytest-ganstab)")
    group.addoption(
        "--ganstab-bench-threads",
        dest="ganstab_bench_threads",
        metavar="N",
        help=f"CPU threads for the engine benchmarks (default {DEFAULT_THREADS}; 1 on a machine shared with "
        "other jobs, where a second thread mostly waits). Ini ganstab_bench_threads.",
    )
    parser.addini("ganstab_bench_threads", "CPU threads for the engine benchmarks", default="")


def pytest_configure(config: pytest.Config) -> None:
    bench_threads(config)  # a bad value stops the session at once, not at the first benchmark


def bench_threads(config: pytest.Config) -> int:
    """``--ganstab-bench-threads``, else its ini twin, else 2; not a positive integer is an error."""
    value = config.getoption("ganstab_bench_threads", None) or config.getini("ganstab_bench_threads")
    if not value:
        return DEFAULT_THREADS
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise pytest.UsageError(f"--ganstab-bench-threads: {value!r} is not a positive integer; try 1 or 2")
    return threads


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    """Saved benchmark files say which torch, CUDA and GPU produced them, so ``compare`` can tell."""
    from .bench import machine_info as gpu_facts

    machine_info.update(gpu_facts())


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(REPORTED, [])
    if lines:
        terminalreporter.section("ganstab benchmarks")
        for line in lines:
            terminalreporter.write_line(line)
