"""The user's own training loop, judged through the monitor: the phenomena of docs/design.md §1 as a repo
meets them in a loop it wrote, not in ours.

A loop with the saturating G loss whose D takes 5 steps at 10× G's learning rate must fail the dominance
and gradient checks, with the saturating loss named as the cause; the same loop written the usual way
(non-saturating loss, one D step at one learning rate) must pass both. The loop is plain PyTorch, run once
per seed by ``ganstab.monitor`` under the test's seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pytest_ganstab as gs

RING = gs.toy("ring8")


def mlp(inputs: int, width: int, outputs: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(inputs, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, outputs),
    )


def training_loop(
    *, saturating: bool, d_steps: int, d_lr: float, g_width: int, d_width: int, batch: int = 128
) -> Callable[[gs.Monitor], None]:
    """A GAN training step as repos write it: separate optimisers, D's loss on real and detached fakes,
    G's on fresh fakes, ``backward`` and ``step``; one added line, ``monitor.watch``."""

    def loop(monitor: gs.Monitor) -> None:
        g, d = mlp(2, g_width, 2), mlp(2, d_width, 1)
        opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.5, 0.9))
        opt_d = torch.optim.Adam(d.parameters(), lr=d_lr, betas=(0.5, 0.9))
        monitor.watch(g, d, opt_g, opt_d)
        for _ in range(monitor.steps or 1):
            for _ in range(d_steps):
                real, fake = RING.sample(batch), g(torch.randn(batch, 2)).detach()
                d_loss = F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
            scores = d(g(torch.randn(batch, 2)))
            g_loss = -F.softplus(scores).mean() if saturating else F.softplus(-scores).mean()
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()

    return loop


@pytest.mark.ganstab
def test_an_unstable_loop_of_your_own_fails_dominance_and_gradients_and_a_stable_one_passes(
    ganstab: Any,
) -> None:
    unstable = ganstab.monitor(
        training_loop(saturating=True, d_steps=5, d_lr=1e-3, g_width=32, d_width=128),
        steps=100,
        loss="minimax",
        data=RING,
        name="own loop: saturating, D 5 steps at 10× lr",
    )
    with pytest.raises(gs.DiscriminatorDominanceError, match=r"likely cause: \(1\) asymmetric objectives"):
        gs.assert_no_discriminator_dominance(unstable)
    with pytest.raises(gs.GradientHealthError, match="G's learning signal"):
        gs.assert_gradients_healthy(unstable)

    stable = ganstab.monitor(
        training_loop(saturating=False, d_steps=1, d_lr=1e-4, g_width=64, d_width=64),
        steps=400,
        data=RING,
        name="own loop: non-saturating, balanced",
    )
    gs.assert_no_discriminator_dominance(stable)
    gs.assert_gradients_healthy(stable)
