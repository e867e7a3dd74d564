"""Conditional GANs: toys that carry labels (a mode is a class), G(z, y) and D(x, y) in the engine with the
recipe's MLPs (one-hot concatenation) and with the user's modules, and per-class coverage that catches a G
that ignores its label or its latent."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pytest_ganstab as gs
from pytest_ganstab import rng
from pytest_ganstab.conditional import LabelledMLP, build_conditional_mlps
from pytest_ganstab.metrics import class_coverage

SMALL = gs.recipe("nonsaturating", width=16, batch_size=32)
RING = gs.toy("ring", std=0.05)


def test_a_toys_labels_are_the_modes_its_samples_were_drawn_from() -> None:
    x, y = RING.sample_labelled(2000, generator=torch.Generator().manual_seed(0))
    assert RING.classes == 8 and y.dtype == torch.int64
    assert torch.equal(torch.cdist(x, RING.centers).argmin(1), y)  # type: ignore[arg-type]
    stacked, labels = RING.sample_labelled_stacked(rng.seed_keys(0, [0, 1], "cpu"), 3, 64)
    assert torch.equal(stacked, RING.sample_stacked(rng.seed_keys(0, [0, 1], "cpu"), 3, 64))  # same samples
    assert labels.shape == (2, 64)


def test_the_recipes_conditional_mlp_reads_the_one_hot_label_beside_its_input() -> None:
    keys = rng.seed_keys(0, [0, 1], "cpu")
    nets = build_conditional_mlps(SMALL, RING, keys, classes=8)
    g = nets.generator
    assert isinstance(g, LabelledMLP) and g.mlp.sizes[0] == SMALL.latent_dim + 8
    z, y = torch.randn(2, 5, 2), torch.tensor([[0, 1, 2, 3, 7]] * 2)
    expected = g.mlp(torch.cat((z, F.one_hot(y, 8).float()), -1))
    torch.testing.assert_close(g(z, y), expected)
    with pytest.raises(ValueError, match=r"call it with \(x, y\)"):
        g(z)


def test_a_conditional_run_asks_for_every_class_in_turn() -> None:
    run = gs.train(SMALL, RING, seeds=2, steps=3, conditional=True)
    assert run.classes == 8
    assert run.sample_labels(10).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]
    assert run.samples(10).shape == (2, 10, 2)


class EmbeddingGenerator(nn.Module):
    """PyTorch-GAN's cgan.py pattern: an embedding of the label concatenated to the latent."""

    def __init__(self, uses_label: bool = True, uses_latent: bool = True) -> None:
        super().__init__()
        self.uses_label, self.uses_latent = uses_label, uses_latent
        self.embedding = nn.Embedding(8, 8)
        self.net = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        label = self.embedding(y) * float(self.uses_label)
        return self.net(torch.cat((z * float(self.uses_latent), label), 1))  # type: ignore[no-any-return]


class EmbeddingDiscriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(8, 8)
        self.net = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat((x, self.embedding(y)), 1))  # type: ignore[no-any-return]


def test_users_conditional_modules_are_batched_and_train_exactly_like_one_seed_at_a_time() -> None:
    from pytest_ganstab import user

    def run(batch: bool | None) -> gs.Run:
        build = user.build_user_stacks
        try:
            user.build_user_stacks = lambda *a, **k: build(*a, **k, batch=batch)  # type: ignore[assignment]
            return gs.train(
                SMALL,
                RING,
                seeds=2,
                steps=5,
                conditional=True,
                generator=EmbeddingGenerator,
                discriminator=EmbeddingDiscriminator,
            )
        finally:
            user.build_user_stacks = build  # type: ignore[assignment]

    batched, looped = run(None), run(False)
    assert isinstance(batched.nets.generator, user.BatchedModules)
    assert isinstance(looped.nets.generator, user.ModuleLoop)
    columns = [c for c in batched.trace.columns if c not in ("seed", "step", "nonfinite", "d_auc")]
    np.testing.assert_allclose(batched.trace[columns], looped.trace[columns], rtol=1e-4, atol=1e-6)


def test_class_coverage_tells_a_g_that_ignores_its_label_from_one_that_ignores_its_latent() -> None:
    """Samples made by hand: the true conditional distribution, the unconditional one (label ignored)
    and each class's centre only (latent ignored)."""
    n = 800
    labels = torch.arange(n) % 8
    centers = RING.centers.float()  # type: ignore[union-attr]
    noise = 0.05 * torch.randn(n, 2, generator=torch.Generator().manual_seed(1))
    true = centers[labels] + noise
    shuffled = centers[torch.randperm(n, generator=torch.Generator().manual_seed(2)) % 8] + noise
    point = centers[labels]
    frame = class_coverage(torch.stack((true, shuffled, point)), labels, RING)
    on_class, recall = frame["on_class"].tolist(), frame["class_recall"].tolist()
    assert on_class[0] == 1.0 and recall[0] > 0.8
    assert on_class[1] < 0.25  # about 1/8
    assert on_class[2] == 1.0 and recall[2] < 0.05


def test_assert_class_coverage_fails_a_g_that_ignores_its_label() -> None:
    run = gs.train(
        gs.recipe("nonsaturating", batch_size=64, g_lr=1e-3, d_lr=1e-3),
        RING,
        seeds=2,
        steps=60,
        conditional=True,
        generator=lambda: EmbeddingGenerator(uses_label=False),
        discriminator=EmbeddingDiscriminator,
    )
    with pytest.raises(gs.ModeCoverageError, match="G ignores its label") as raised:
        gs.assert_class_coverage(run)
    assert "make G and D read the label" in str(raised.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"data": "swissroll"},
            ValueError,
            "conditional=True needs data with classes, and 'swissroll' has 0",
        ),
        ({"data": torch.zeros(10, 2)}, ValueError, "needs data with classes, and 'data' has 0"),
        ({"conditional": "yes"}, TypeError, "conditional='yes': give True"),
        ({"generator": EmbeddingGenerator}, ValueError, "give both generator= and discriminator="),
    ],
)
def test_a_conditional_run_that_cannot_work_says_why(
    kwargs: dict[str, object], error: type, message: str
) -> None:
    arguments: dict[str, object] = {"data": RING, "conditional": True, **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        gs.train(SMALL, arguments.pop("data"), seeds=1, steps=1, **arguments)  # type: ignore[arg-type]


def test_a_conditional_g_trained_without_labels_is_told_to_pass_conditional() -> None:
    with pytest.raises(ValueError, match=re.escape("train a conditional GAN: train(..., conditional=True)")):
        gs.train(SMALL, RING, seeds=1, steps=1, generator=EmbeddingGenerator)


def test_class_coverage_is_refused_for_an_unconditional_run() -> None:
    run = gs.train(SMALL, RING, seeds=1, steps=2)
    with pytest.raises(ValueError, match="is not a conditional GAN"):
        gs.assert_class_coverage(run)
