"""The benchmarks' pytest plugin: GPU facts in pytest-benchmark's machine info, and the benchmark lines
that the suites report (``pytest_ganstab.bench.report``) shown again at the end of the session.

Under pytest-xdist each worker sends its lines to the controller, which shows them all. pytest-benchmark
switches itself off under xdist (timings of processes that share the machine are not comparable; no
``--benchmark-enable`` overrides it), so no benchmark JSON is written there, and the section says so:
run the benchmark files in a job of their own, without ``-n``, for the JSON.

Imports neither torch nor pytest-benchmark: the pytest-benchmark hook is optional, so this plugin is
inert where pytest-benchmark is absent or disabled.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..machine import machine_info
from . import xdist
from .pytest_options import lookup, register

REPORTED = pytest.StashKey[list[str]]()
DEFAULT_THREADS = 2  # the 2-core CPU that the CPU figures in BENCHMARKS.md were measured on
LINES_KEY = "ganstab_bench_lines"  # in xdist's workeroutput
NO_JSON_UNDER_XDIST = (
    "(pytest-benchmark is off under xdist, so no benchmark JSON: run the benchmark files without -n for it)"
)


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


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand its benchmark lines to the controller."""
    lines = session.config.stash.get(REPORTED, [])
    if lines:
        xdist.send(session.config, LINES_KEY, lines)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the xdist controller: take in a finished worker's benchmark lines."""
    lines = xdist.received(node, LINES_KEY)
    if lines:
        node.config.stash.setdefault(REPORTED, []).extend(lines)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if xdist.is_worker(config):
        return
    lines = config.stash.get(REPORTED, [])
    if lines:
        terminalreporter.section("ganstab benchmarks")
        for line in lines:
            terminalreporter.write_line(line)
        if config.getoption("dist", "no") != "no":
            terminalreporter.write_line(NO_JSON_UNDER_XDIST)
