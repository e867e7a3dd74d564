"""Where the monitor writes: what each step leaves (D's scores, gradient norms, G's signal) is packed
into device memory, and turned into trace rows many steps at a time, with the engine's own arithmetic.

At a step the monitor only computes what is about to vanish: the gradients' norms (the next backward pass
overwrites them) and the per-sample norm of G's input gradient. Every ``FLUSH`` steps (or when the batch
size changes) the packed steps become rows in one vectorised call of ``probes.probe_row``, steps standing
where the engine has seeds, since every probe reduces over the last dimension only. No step waits on the
host; ``Rows.read()`` is the one transfer.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..losses import GANLoss
from ..probes import SIGMOID_STEPS, probe_row
from ..run import PROBES
from .modules import layers_of

CHUNK = 512  # rows per device buffer chunk
FLUSH = 512  # kept steps turned into rows at once: enough to amortise the calls, little memory held


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


class Recorder:
    """Kept steps → trace rows (``run.PROBES`` then the layers), and the same D probes read as
    probabilities for a D whose graph ends in a sigmoid (``alt``), chosen at the end.

    A step is packed into one row of a preallocated block (one ``cat``, one copy): D's scores on real and
    on fake, its scores in G's step, the per-sample signal, the penalty, the loop's own losses where it
    gave them, and the parameters' gradient norms. Steps of one shape share a block; a new shape (a last,
    smaller batch) or a full block turns the block into rows.
    """

    def __init__(self, objective: GANLoss, real_label: float, g: LayerNorms, d: LayerNorms) -> None:
        self.objective, self.real_label, self.g, self.d = objective, real_label, g, d
        self.device = g.device
        self.rows = Rows(width=len(PROBES) + len(g.names) + len(d.names), device=g.device)
        self.alt = Rows(width=4, device=g.device)
        self.steps = 0
        self.probabilities = False  # set once D's graph is known to end in a sigmoid
        self.inside = torch.ones((), dtype=torch.bool, device=g.device)  # first steps' outputs in (0, 1)
        self._block = torch.zeros(0, 0, device=g.device)
        self._shape: tuple[int, ...] = ()  # sizes of the packed parts: real, fake, g, signal, d_loss, g_loss
        self._count = 0

    def add(
        self,
        real: torch.Tensor,
        fake: torch.Tensor,
        g_scores: torch.Tensor,
        signal: torch.Tensor,
        penalty: torch.Tensor,
        d_loss: torch.Tensor | None,
        g_loss: torch.Tensor | None,
        g_norms: torch.Tensor,
        d_norms: torch.Tensor,
    ) -> None:
        """One G step: ``[B]`` scores, ``[B]`` per-sample signal (``[1]`` NaN when none), ``[1]`` penalty
        and losses (None: the declared loss applies), ``[P]`` parameter gradient norms."""
        parts = [real, fake, g_scores, signal, penalty, *(t for t in (d_loss, g_loss) if t is not None)]
        shape = (*(t.numel() for t in parts[:4]), int(d_loss is not None), int(g_loss is not None))
        if shape != self._shape or self._count == FLUSH:
            self.flush()
            self._shape = shape
            width = sum(shape[:4]) + 1 + sum(shape[4:]) + g_norms.numel() + d_norms.numel()
            self._block = torch.empty(FLUSH, width, device=self.device)
        self._block[self._count] = torch.cat((*parts, g_norms, d_norms))
        self._count += 1
        self.steps += 1

    def flush(self) -> None:
        if not self._count:
            return
        block, first = self._block[: self._count], self.steps - self._count
        self._count = 0
        sizes = [*self._shape[:4], 1, *self._shape[4:], len(self.g.params), len(self.d.params)]
        parts = torch.split(block, sizes, dim=1)
        real, fake, g_scores, signal, penalty, d_given, g_given, g_norms, d_norms = parts
        # ∂(mean loss)/∂x_i is ∂ℓ_i/∂x_i / B: scaled back to a per-sample signal, as the engine does.
        signal = signal.mean(1) * signal.shape[1]
        penalty = penalty[:, 0]
        d_loss, g_loss = self._losses(real, fake, g_scores, d_given, g_given)
        g_sq, d_sq = self.g.squares(g_norms), self.d.squares(d_norms)
        rows, nonfinite = probe_row(self.objective, d_loss, penalty, g_loss, real, fake, signal, g_sq, d_sq)
        rows[:, PROBES.index("nonfinite")] = (nonfinite | ~torch.isfinite(penalty)).to(rows.dtype)
        self.rows.extend(rows)
        if self.probabilities:
            if first < SIGMOID_STEPS:
                early = slice(0, SIGMOID_STEPS - first)
                self.inside = self.inside & all_inside(real[early]) & all_inside(fake[early])
            d_alt, g_alt = self._losses(
                as_logits(real), as_logits(fake), as_logits(g_scores), d_given, g_given
            )
            self.alt.extend(torch.stack((d_alt, g_alt, real.mean(1), fake.mean(1)), dim=1))

    def _losses(
        self,
        real: torch.Tensor,
        fake: torch.Tensor,
        g_scores: torch.Tensor,
        d_given: torch.Tensor,
        g_given: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The declared loss on the scores ``[K, B]``, or the loop's own values where it gave them."""
        d_loss = d_given[:, 0] if d_given.shape[1] else self.objective.d_loss(real, fake, self.real_label)
        g_loss = g_given[:, 0] if g_given.shape[1] else self.objective.g_loss(g_scores)
        return d_loss, g_loss


def all_inside(scores: torch.Tensor) -> torch.Tensor:
    """Whether every score lies strictly inside (0, 1), as a Sigmoid's outputs do (a device bool)."""
    return ((scores > 0) & (scores < 1)).all()


def as_logits(scores: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Probabilities read back as logits, so a loss on logits gives what it gives on a Sigmoid D's input."""
    p = scores.clamp(eps, 1 - eps)
    return torch.log(p) - torch.log1p(-p)
