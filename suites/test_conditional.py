"""Conditional GANs: a G(z, y) must give each class its own mode, all of it (docs/design.md §1, cause 5 per
class). Mode coverage over all samples cannot tell; per-class coverage can.

The recipe's conditional MLP (the label one-hot beside G's latent and D's input) passes; a G that ignores
its label (an unconditional G under a conditional D) and one that ignores its latent (each class one
point) fail, under the same settings, each for its own reason.

All three train 300 steps under every profile (nightly adds seeds, not steps): at 900 steps the recipe's
own cGAN starts to collapse within a class too (per-class recall 0.18 and 0.15 in seeds 0 and 5 of 8,
measured 2026-12-03), so a longer run would no longer separate the healthy pair from the broken ones.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import pytest_ganstab as gs

RING = gs.toy("ring", std=0.05)  # wider modes than PacGAN's: a short CPU run can fill them
SETTINGS = gs.recipe("nonsaturating", width=64, batch_size=128, g_lr=1e-3, d_lr=1e-3)


class LabelledGenerator(nn.Module):
    """PyTorch-GAN's cgan.py pattern at toy size; ``uses`` switches off reading the label or the latent."""

    def __init__(self, uses: str = "both") -> None:
        super().__init__()
        self.uses = uses
        self.embedding = nn.Embedding(8, 8)
        self.net = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        label = self.embedding(y) * float(self.uses != "latent only")
        return self.net(torch.cat((z * float(self.uses != "label only"), label), 1))  # type: ignore[no-any-return]


class LabelledDiscriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(8, 8)
        self.net = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat((x, self.embedding(y)), 1))  # type: ignore[no-any-return]


@pytest.mark.ganstab
def test_a_conditional_g_that_ignores_its_label_or_its_latent_is_caught_per_class(ganstab: Any) -> None:
    conditional = ganstab.train(
        SETTINGS, RING, steps=300, scale_steps=False, conditional=True, name="cGAN, one-hot MLPs"
    )
    gs.assert_class_coverage(conditional)

    def user_pair(uses: str) -> Any:
        return ganstab.train(
            gs.recipe("nonsaturating", batch_size=128, g_lr=1e-3, d_lr=1e-3),
            RING,
            steps=300,
            scale_steps=False,
            conditional=True,
            generator=lambda: LabelledGenerator(uses),
            discriminator=LabelledDiscriminator,
            name=f"cGAN, G reads its {uses}",
        )

    with pytest.raises(gs.ModeCoverageError, match="G ignores its label"):
        gs.assert_class_coverage(user_pair("latent only"))
    with pytest.raises(gs.ModeCoverageError, match="G collapses within a class"):
        gs.assert_class_coverage(user_pair("label only"))
