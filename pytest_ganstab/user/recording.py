"""Where the monitor writes: what each step leaves (D's scores, gradient norms, G's signal) is kept as
device tensors, and turned into trace rows many steps at a time, with the engine's own arithmetic.

At a step the monitor only reads what is about to vanish: the gradients' norms (the next backward pass
overwrites them) and the per-sample norm of G's input gradient. D's scores are kept by reference. Every
``FLUSH`` steps (or when the batch size changes) the kept steps become rows in one vectorised call of
``probes.probe_row``, steps standing where the engine has seeds, since every probe reduces over the last
dimension only. No step waits on the host; ``Rows.read()`` is the one transfer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..losses import GANLoss
from ..probes import SIGMOID_STEPS, probe_row
from ..run import PROBES
from .modules import layers_of

CHUNK = 512  # rows per device buffer chunk
FLUSH = 128  # kept steps turned into rows at once: enough to amortise the calls, little memory held


class Rows:
    """A growing ``[rows, width]`` float buffer on one device, appended to a block of rows at a time."""

    def __init__(self, width: int, device: torch.device) -> None:
        self.width, self.device = width, device
        self.chunks: list[torch.Tensor] = []
        self.count = 0

    def extend(self, rows: torch.Tensor) -> None:
        done = 0
        while done < rows.shape[0]:
            index = self.count % CHUNK
            if index == 0:
                self.chunks.append(torch.full((CHUNK, self.width), math.nan, device=self.device))
            take = min(CHUNK - index, rows.shape[0] - done)
            self.chunks[-1][index : index + take] = rows[done : done + take]
            done, self.count = done + take, self.count + take

    def read(self) -> np.ndarray:
        """Every row written, on the host: ``[rows, width]``."""
        if not self.chunks:
            return np.zeros((0, self.width))
        return torch.cat(self.chunks)[: self.count].cpu().numpy()


class LayerNorms:
    """Gradient norms of a module's parameters (one fused call at a step) and their sums per layer
    (``layers_of``), computed later for many steps at once."""

    def __init__(self, module: nn.Module, device: torch.device) -> None:
        layers = layers_of(module)
        params = dict(module.named_parameters())
        self.names = list(layers)
        self.params = [params[n] for names in layers.values() for n in names]
        owner = [i for i, names in enumerate(layers.values()) for _ in names]
        self.index = torch.tensor(owner, dtype=torch.int64, device=device)
        self.device = device

    def norms(self) -> torch.Tensor:
        """``[P]``: each parameter's gradient norm now (a missing gradient counts as zero)."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        return torch.stack(torch._foreach_norm(grads)).float()

    def squares(self, norms: torch.Tensor) -> torch.Tensor:
        """``[K, L]``: each layer's squared gradient norm from ``[K, P]`` parameter norms."""
        out = torch.zeros(norms.shape[0], len(self.names), device=norms.device)
        return out.index_add_(1, self.index, norms.pow(2))


@dataclass
class Step:
    """What one G step leaves for its row: D's last step and G's."""

    real: torch.Tensor  # [B] D's scores on real data in its last step
    fake: torch.Tensor  # [B] … on G's output
    g_scores: torch.Tensor  # [B] D's scores on G's output in G's step
    signal: torch.Tensor  # [B] ‖∂ℓ_G/∂x_i‖, or [1] NaN when no gradient reached G's output
    penalty: torch.Tensor  # [1] D's penalty as the loop gave it, else 0
    d_loss: torch.Tensor | None  # [1] the loop's own loss values, when it gave them
    g_loss: torch.Tensor | None
    g_norms: torch.Tensor  # [P_G] parameter gradient norms before G's step
    d_norms: torch.Tensor  # [P_D] … before D's last step

    def shape(self) -> tuple[int, ...]:
        """Steps of one shape are turned into rows together."""
        given = (self.d_loss is not None, self.g_loss is not None)
        return (*(t.numel() for t in (self.real, self.fake, self.g_scores, self.signal)), *given)


class Recorder:
    """Kept steps → trace rows (``run.PROBES`` then the layers), and the same D probes read as
    probabilities for a D whose graph ends in a sigmoid (``alt``), chosen at the end."""

    def __init__(self, objective: GANLoss, real_label: float, g: LayerNorms, d: LayerNorms) -> None:
        self.objective, self.real_label, self.g, self.d = objective, real_label, g, d
        self.rows = Rows(width=len(PROBES) + len(g.names) + len(d.names), device=g.device)
        self.alt = Rows(width=4, device=g.device)
        self.kept: list[Step] = []
        self.steps = 0
        self.probabilities = False  # set once D's graph is known to end in a sigmoid
        self.inside = torch.ones((), dtype=torch.bool, device=g.device)  # first steps' outputs in (0, 1)

    def add(self, step: Step) -> None:
        if self.kept and (step.shape() != self.kept[0].shape() or len(self.kept) >= FLUSH):
            self.flush()
        self.kept.append(step)
        self.steps += 1

    def flush(self) -> None:
        if not self.kept:
            return
        kept, first = self.kept, self.steps - len(self.kept)
        self.kept = []
        real, fake, g_scores = (
            torch.stack([getattr(s, k) for s in kept]) for k in ("real", "fake", "g_scores")
        )
        # ∂(mean loss)/∂x_i is ∂ℓ_i/∂x_i / B: scaled back to a per-sample signal, as the engine does.
        signal = torch.stack([s.signal for s in kept])
        signal = signal.mean(1) * signal.shape[1]
        penalty = torch.cat([s.penalty for s in kept])
        d_loss, g_loss = self._losses(kept, real, fake, g_scores)
        g_sq = self.g.squares(torch.stack([s.g_norms for s in kept]))
        d_sq = self.d.squares(torch.stack([s.d_norms for s in kept]))
        rows, nonfinite = probe_row(self.objective, d_loss, penalty, g_loss, real, fake, signal, g_sq, d_sq)
        rows[:, PROBES.index("nonfinite")] = (nonfinite | ~torch.isfinite(penalty)).to(rows.dtype)
        self.rows.extend(rows)
        if self.probabilities:
            self._read_as_probabilities(kept, real, fake, g_scores, first)

    def _losses(
        self, kept: list[Step], real: torch.Tensor, fake: torch.Tensor, g_scores: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The declared loss on the scores, or the loop's own values where it gave them."""
        d_given, g_given = kept[0].d_loss, kept[0].g_loss  # one shape: all steps gave them or none did
        d_loss = (
            torch.cat([s.d_loss for s in kept if s.d_loss is not None])
            if d_given is not None
            else self.objective.d_loss(real, fake, self.real_label)
        )
        g_loss = (
            torch.cat([s.g_loss for s in kept if s.g_loss is not None])
            if g_given is not None
            else self.objective.g_loss(g_scores)
        )
        return d_loss, g_loss

    def _read_as_probabilities(
        self, kept: list[Step], real: torch.Tensor, fake: torch.Tensor, g_scores: torch.Tensor, first: int
    ) -> None:
        if first < SIGMOID_STEPS:
            early = slice(0, SIGMOID_STEPS - first)
            self.inside = self.inside & all_inside(real[early]) & all_inside(fake[early])
        d_loss, g_loss = self._losses(kept, as_logits(real), as_logits(fake), as_logits(g_scores))
        self.alt.extend(torch.stack((d_loss, g_loss, real.mean(1), fake.mean(1)), dim=1))


def all_inside(scores: torch.Tensor) -> torch.Tensor:
    """Whether every score lies strictly inside (0, 1), as a Sigmoid's outputs do (a device bool)."""
    return ((scores > 0) & (scores < 1)).all()


def as_logits(scores: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Probabilities read back as logits, so a loss on logits gives what it gives on a Sigmoid D's input."""
    p = scores.clamp(eps, 1 - eps)
    return torch.log(p) - torch.log1p(-p)
