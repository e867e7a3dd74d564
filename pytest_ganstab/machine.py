"""What machine a result came from: one set of facts for saved sessions and benchmark files alike.

torch is never imported here: a process that has not loaded torch (the xdist controller, ``pytest
--help``) reports torch's installed version from its metadata and no GPU, rather than waking CUDA.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from importlib import metadata
from typing import Any


def machine_info() -> dict[str, Any]:
    """node, python, platform, machine, cpu, cpu_count, torch; and cuda, gpu_count, gpu (the first GPU's
    name) once this process has loaded torch and sees CUDA."""
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
    return info


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
