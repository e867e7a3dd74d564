"""The benchmarks' pytest plugin: GPU facts in pytest-benchmark's machine info, and the benchmark lines
that the suites report (``pytest_ganstab.bench.report``) shown again at the end of the session.

Imports neither torch nor pytest-benchmark: the pytest-benchmark hook is optional, so this plugin is
inert where pytest-benchmark is absent or disabled.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..machine import machine_info
from .pytest_options import lookup, register

REPORTED = pytest.StashKey[list[str]]()
DEFAULT_THREADS = 2  # the 2-core CPU that the CPU figures in BENCHMARKS.md were measured on


def pytest_addoption(parser: pytest.Parser) -> None:
    register(parser, "bench")


def pytest_configure(config: pytest.Config) -> None:
    bench_threads(config)  # a bad value stops the session at once, not at the first benchmark


def bench_threads(config: pytest.Config) -> int:
    """``--ganstab-bench-threads``, else its ini twin, else 2."""
    threads: int = lookup(config, "bench_threads", DEFAULT_THREADS).value
    return threads


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    """Saved benchmark files say which torch, CUDA and GPU produced them, so ``compare`` can tell."""
    machine_info.update(_facts())


def _facts() -> dict[str, Any]:
    return {key: value for key, value in machine_info().items() if key in _BENCH_KEYS}


_BENCH_KEYS = ("torch", "cuda", "gpu_count", "gpu", "gpus")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(REPORTED, [])
    if lines:
        terminalreporter.section("ganstab benchmarks")
        for line in lines:
            terminalreporter.write_line(line)
