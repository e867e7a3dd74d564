"""Where the monitor writes: device buffers that grow without a host synchronisation, and the fused
per-layer gradient norms it reads in the optimisers' step pre-hooks.

A row is written with tensor operations only (``chunk[i] = row``); a full chunk is followed by a newly
allocated one, which on CUDA is asynchronous too. ``read()`` is the one transfer to the host.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .modules import layers_of

CHUNK = 512  # rows per device buffer chunk


class Rows:
    """A growing ``[rows, width]`` float buffer on one device, appended to row by row."""

    def __init__(self, width: int, device: torch.device) -> None:
        self.width, self.device = width, device
        self.chunks: list[torch.Tensor] = []
        self.count = 0

    def append(self, row: torch.Tensor) -> None:
        index = self.count % CHUNK
        if index == 0:
            self.chunks.append(torch.full((CHUNK, self.width), math.nan, device=self.device))
        self.chunks[-1][index] = row
        self.count += 1

    def read(self) -> np.ndarray:
        """Every row written, on the host: ``[rows, width]``."""
        if not self.chunks:
            return np.zeros((0, self.width))
        return torch.cat(self.chunks)[: self.count].cpu().numpy()


class LayerNorms:
    """Squared gradient norms of a module's layers (``layers_of``), from one fused norm over its
    parameters: cheap enough to read at every optimiser step."""

    def __init__(self, module: nn.Module, device: torch.device) -> None:
        layers = layers_of(module)
        params = dict(module.named_parameters())
        self.names = list(layers)
        self.params = [params[n] for names in layers.values() for n in names]
        owner = [i for i, names in enumerate(layers.values()) for _ in names]
        self.index = torch.tensor(owner, dtype=torch.int64, device=device)
        self.device = device

    def squares(self) -> torch.Tensor:
        """``[L]``: each layer's squared gradient norm (a missing gradient counts as zero)."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        out = torch.zeros(len(self.names), device=self.device)
        if not grads:
            return out
        norms = torch.stack(torch._foreach_norm(grads)).float()
        return out.index_add_(0, self.index, norms.pow(2))


def all_inside(scores: torch.Tensor) -> torch.Tensor:
    """Whether every score lies strictly inside (0, 1), as a Sigmoid's outputs do (a device bool)."""
    return ((scores > 0) & (scores < 1)).all()


def as_logits(scores: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Probabilities read back as logits, so a loss on logits gives what it gives on a Sigmoid D's input."""
    p = scores.clamp(eps, 1 - eps)
    return torch.log(p) - torch.log1p(-p)
