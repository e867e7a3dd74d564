"""pytest-xdist plumbing: each worker takes its own GPU and its share of the CPU cores before torch loads,
and sends the controller what it learnt through ``workeroutput`` (as syrupy does): its run records, its
machine facts (torch, CUDA, the GPU it ran on: the controller has not loaded torch), and what other
plugins hand it (``send``/``received``: the benchmark lines).

Runs themselves stay on the workers: they hold networks and tensors, and the report and the traces are
written by the worker that trained them, into the same folder the controller names.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from .. import machine
from .state import SESSION, sorted_records

if TYPE_CHECKING:
    from ..settings import Settings

RECORDS_KEY = "ganstab_records"  # in xdist's workeroutput
MACHINE_KEY = "ganstab_machine"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def prepare_worker(config: pytest.Config, settings: Settings) -> None:
    """On a worker that will train: share the cores, and pin a GPU when the tests may use CUDA."""
    if not is_worker(config):
        return
    threads = worker_threads(
        os.environ.get("PYTEST_XDIST_WORKER_COUNT"), os.cpu_count(), os.environ.get("OMP_NUM_THREADS")
    )
    if threads is not None:  # torch reads the variable when it loads
        os.environ["OMP_NUM_THREADS"] = threads
    if settings.device in ("auto", "cuda"):
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        pinned = pinned_gpu(
            os.environ.get("PYTEST_XDIST_WORKER"), visible, 0 if visible is not None else count_gpus()
        )
        if pinned is not None:  # torch reads the variable once, when CUDA starts
            os.environ["CUDA_VISIBLE_DEVICES"] = pinned


def send(config: pytest.Config, key: str, value: Any) -> None:
    """On a worker: hand ``value`` (JSON-safe) to the controller under ``key``; elsewhere nothing."""
    if is_worker(config):
        config.workeroutput[key] = json.dumps(value)  # type: ignore[attr-defined]


def received(node: Any, key: str) -> Any:
    """On the controller: what the finished worker ``node`` sent under ``key``; None if nothing."""
    payload = getattr(node, "workeroutput", {}).get(key)
    return None if payload is None else json.loads(payload)


def send_records(config: pytest.Config) -> None:
    """On a worker, at session end: hand this worker's records and machine facts to the controller."""
    if is_worker(config) and SESSION in config.stash:
        send(config, RECORDS_KEY, config.stash[SESSION].records)
        send(config, MACHINE_KEY, machine.worker_facts())


def receive_records(node: Any) -> None:
    """On the controller, when a worker finishes: take in the records it made and where it ran."""
    facts = received(node, MACHINE_KEY)
    if facts is not None:
        machine.add_worker(_worker_name(node), facts)
    records = received(node, RECORDS_KEY)
    if records is None:
        return
    state = node.config.stash[SESSION]
    state.records[:] = sorted_records([*state.records, *records])  # workers finish in any order


def forget_workers(config: pytest.Config) -> None:
    """On the controller (or a plain run): start and end a session with no worker's machine facts."""
    if not is_worker(config):
        machine.forget_workers()


def _worker_name(node: Any) -> str:
    workerinput = getattr(node, "workerinput", None) or {}
    gateway = getattr(node, "gateway", None)
    return str(workerinput.get("workerid") or getattr(gateway, "id", "worker"))


def pinned_gpu(worker: str | None, visible: str | None, gpu_count: int) -> str | None:
    """The ``CUDA_VISIBLE_DEVICES`` value that gives xdist worker ``worker`` ("gw3") a GPU of its own.

    ``visible`` is the variable as already set (its entries are the GPUs this job may use) and
    ``gpu_count`` the machine's GPUs when it is unset. Workers take GPUs round-robin. None means leave
    the variable alone: not a worker, or fewer than two GPUs to share.
    """
    if worker is None:
        return None
    match = re.fullmatch(r"gw(\d+)", worker)
    if match is None:
        return None
    if visible is not None:
        gpus = [entry.strip() for entry in visible.split(",") if entry.strip()]
    else:
        gpus = [str(index) for index in range(gpu_count)]
    if len(gpus) < 2:
        return None
    return gpus[int(match.group(1)) % len(gpus)]


def worker_threads(worker_count: str | None, cpu_count: int | None, preset: str | None) -> str | None:
    """The ``OMP_NUM_THREADS`` value that shares the CPU cores between xdist workers.

    Every torch process otherwise starts one thread per core, and N workers on N cores then spin against
    each other (measured here: a run of 18 s alone took 428 s beside a second 2-thread process). None
    means leave the variable alone: not under xdist, or the user already chose (``preset``).
    """
    if preset or not worker_count or not worker_count.isdigit() or int(worker_count) < 1:
        return None
    return str(max(1, (cpu_count or 1) // int(worker_count)))


def count_gpus() -> int:
    """GPUs on this machine per ``nvidia-smi -L``, without importing torch; 0 when it is absent or fails."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return 0
    try:
        listing = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())
