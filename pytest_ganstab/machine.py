"""What machine a result came from: one set of facts for saved sessions and benchmark files alike.

torch is never imported here: a process that has not loaded torch (the xdist controller, ``pytest
--help``) reports torch's installed version from its metadata and no GPU, rather than waking CUDA.

Under pytest-xdist the GPUs are on the workers, which have loaded torch; each sends its
``worker_facts()`` to the controller, which keeps them here (``add_worker``) until the session ends, so
the session it saves and the benchmark facts it reports name every GPU that ran (``machine_info``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from importlib import metadata
from typing import Any

# worker name -> its facts, on the xdist controller of the current session (``add_worker``).
_WORKERS: dict[str, dict[str, Any]] = {}


def machine_info() -> dict[str, Any]:
    """node, python, platform, machine, cpu, cpu_count, torch; and cuda, gpu_count, gpu (the first GPU's
    name) once this process has loaded torch and sees CUDA. On an xdist controller also ``workers`` (each
    worker's ``worker_facts``) and ``gpus``, every GPU name any of them used."""
    info: dict[str, Any] = {
        "node": platform.node(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
    }
    with contextlib.suppress(metadata.PackageNotFoundError):
        info["torch"] = metadata.version("torch")
    info.update(gpu_facts())
    if _WORKERS:
        info.update(merge_worker_facts(info, _WORKERS))
    return info


def worker_facts() -> dict[str, Any]:
    """What an xdist worker tells the controller about where it ran: its node, the GPU it was pinned to
    (``CUDA_VISIBLE_DEVICES``) and, once it has loaded torch, ``gpu_facts()``."""
    facts: dict[str, Any] = {"node": platform.node(), **gpu_facts()}
    pinned = os.environ.get("CUDA_VISIBLE_DEVICES")
    if pinned is not None:
        facts["cuda_visible_devices"] = pinned
    return facts


def add_worker(name: str, facts: dict[str, Any]) -> None:
    """On the controller: keep worker ``name``'s facts for this session's ``machine_info``."""
    _WORKERS[name] = dict(facts)


def forget_workers() -> None:
    """Drop the workers' facts: a new session (or the end of one) must not report an older one's GPUs."""
    _WORKERS.clear()


def merge_worker_facts(local: dict[str, Any], workers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The facts the workers add to the controller's ``local`` ones: every GPU name (``gpus``, ``gpu``
    the first when the controller saw none), CUDA's version, and each worker's facts."""
    names = set(local.get("gpus", [])) | {
        name for facts in workers.values() for name in facts.get("gpus", [])
    }
    merged: dict[str, Any] = {"workers": {name: workers[name] for name in sorted(workers)}}
    if names:
        merged["gpus"] = sorted(names)
        merged["gpu"] = local.get("gpu") or merged["gpus"][0]
    cuda = local.get("cuda") or next((f["cuda"] for f in workers.values() if f.get("cuda")), None)
    if cuda:
        merged["cuda"] = cuda
    return merged


def gpu_facts() -> dict[str, Any]:
    """torch's and CUDA's versions and the GPUs, from a process that has loaded torch; else {}."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    facts: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu_count": 0}
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        facts["gpu_count"] = count
        facts["gpu"] = torch.cuda.get_device_name(0)
        facts["gpus"] = sorted({torch.cuda.get_device_name(index) for index in range(count)})
    return facts


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
