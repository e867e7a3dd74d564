"""Device names: ``auto`` picks CUDA when present; asking for CUDA where none exists is an error."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` to a usable ``torch.device``, or a ValueError saying why."""
    if isinstance(device, torch.device):
        name = str(device)
    elif isinstance(device, str):
        name = device.strip().lower()
    else:
        raise TypeError(f"device={device!r}: give a name such as 'auto', 'cpu', 'cuda' or 'cuda:0'")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device={device!r} is unknown; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise ValueError(f"device={device!r}: only 'auto', 'cpu', 'cuda' and 'cuda:N' are supported")
    if not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r}: CUDA is not available on this machine; use device='cpu' or 'auto'"
        )
    count = torch.cuda.device_count()
    if resolved.index is not None and resolved.index >= count:
        raise ValueError(
            f"device={device!r}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}"
        )
    return resolved


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so a wall time covers the work and not only its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
