"""The probes' arithmetic, shared by the engine and the monitor, so that both record the same numbers.

One trace row per seed holds ``run.PROBES`` then each layer's gradient norm: G's, then D's. A row is
computed with tensor operations only (no host synchronisation), and the trace DataFrame is built from
the rows once, at the end.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from .losses import GANLoss
from .run import PROBES

SIGMOID_STEPS = 5  # D's outputs are checked for a final Sigmoid over this many first steps


def probe_row(
    loss: GANLoss,
    d_loss: torch.Tensor,
    penalty: torch.Tensor,
    g_loss: torch.Tensor,
    real_scores: torch.Tensor,
    fake_scores: torch.Tensor,
    signal: torch.Tensor,
    g_layers: torch.Tensor,
    d_layers: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One trace row per seed ``[S, probes + layers]`` (``run.PROBES``, then the layers' gradient norms)
    from ``[S]`` losses, ``[S, B]`` scores, G's learning signal ``[S]`` and ``[S, L]`` squared layer
    norms; and which seeds saw a non-finite value. The engine and the monitor both write rows with it."""
    g_norm = g_layers.sum(1).sqrt()
    d_norm = d_layers.sum(1).sqrt()
    nonfinite = ~torch.isfinite(d_loss + g_loss + g_norm + d_norm + signal)
    values = [
        d_loss,
        penalty,
        g_loss,
        loss.confidence(real_scores).mean(-1),
        loss.confidence(fake_scores).mean(-1),
        batch_auc(real_scores, fake_scores),
        g_norm,
        d_norm,
        signal,
        nonfinite.to(d_loss.dtype),
    ]
    return torch.cat((torch.stack(values, dim=1), g_layers.sqrt(), d_layers.sqrt()), dim=1), nonfinite


def trace_frame(
    data: np.ndarray, steps: Sequence[int], seeds: Sequence[int], g_layers: list[str], d_layers: list[str]
) -> pd.DataFrame:
    """The trace DataFrame from a ``[records, S, probes + layers]`` array: one row per (seed, step)."""
    records, n_seeds, _ = data.shape
    columns = [*PROBES, *(f"g_grad_norm.{n}" for n in g_layers), *(f"d_grad_norm.{n}" for n in d_layers)]
    frame = pd.DataFrame(data.reshape(records * n_seeds, len(columns)), columns=columns)
    frame.insert(0, "step", np.repeat(np.asarray(steps, dtype=np.int64), n_seeds))
    frame.insert(0, "seed", np.tile(np.asarray(seeds, dtype=np.int64), records))
    frame["nonfinite"] = frame["nonfinite"].fillna(1).astype(bool)
    return frame.sort_values(["seed", "step"], kind="stable").reset_index(drop=True)


def batch_auc(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """P(score_real > score_fake) + ½ P(tie) per seed, exactly, from ``[S, B]`` scores, in O(B log B)."""
    fake_sorted = fake.sort(dim=-1).values.contiguous()
    real = real.contiguous()
    below = torch.searchsorted(fake_sorted, real, side="left")
    at_or_below = torch.searchsorted(fake_sorted, real, side="right")
    return (below + at_or_below).to(real.dtype).mean(-1) / (2 * fake.shape[-1])
