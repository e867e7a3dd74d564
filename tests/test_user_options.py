"""The user's own choices beside their modules: a loss as plain functions, any elementwise torch.optim
optimiser and an lr schedule from factories, a D that returns a tuple, a D that ends in Sigmoid (caught and
named), recipe knobs that cannot reach their modules (named, never claimed), and batching judged at the
scale of the whole module's gradients."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import pytest_ganstab as gs
from pytest_ganstab import user

SMALL = gs.recipe("nonsaturating", width=16, batch_size=32)
USER = gs.recipe("nonsaturating", batch_size=32)  # default widths: the user's modules have their own


def mlp_d() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 1))


def bce(scores: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(scores, torch.full_like(scores, target))


def test_a_loss_written_as_plain_functions_trains_exactly_as_the_named_one() -> None:
    named = gs.train(SMALL, "ring8", seeds=3, steps=10)
    functions = gs.train(
        SMALL,
        "ring8",
        seeds=3,
        steps=10,
        loss=(lambda fake, real: bce(real, 1) + bce(fake, 0), lambda f: bce(f, 1)),
    )
    columns = [c for c in named.trace.columns if c not in ("d_real", "d_fake")]  # confidence: raw scores
    np.testing.assert_allclose(
        functions.trace[columns].to_numpy(float), named.trace[columns].to_numpy(float), rtol=1e-5, atol=1e-6
    )
    assert functions.notes == ["loss: your loss functions replaced the recipe's 'nonsaturating'"]


def test_a_hand_written_saturating_loss_is_diagnosed_as_the_minimax_one() -> None:
    strong_d = gs.recipe("nonsaturating", batch_size=128, g_width=32, d_width=128, n_critic=5, d_lr=1e-3)
    run = gs.train(
        strong_d,
        "ring8",
        seeds=2,
        steps=150,
        loss=gs.custom_loss(lambda f, r: bce(r, 1) + bce(f, 0), lambda f: -bce(f, 0)),
    )
    with pytest.raises(gs.GradientHealthError) as raised:
        gs.assert_gradients_healthy(run)
    assert raised.value.findings[0].cause is not None
    assert raised.value.findings[0].cause.startswith("(1) asymmetric objectives")


def test_adamw_with_weight_decay_and_a_schedule_come_from_factories_and_stay_exact_per_seed() -> None:
    def adamw(params: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=lr, betas=(0.5, 0.999), weight_decay=0.05)

    def halve(optimizer: torch.optim.Optimizer) -> Any:
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)

    three = gs.train(SMALL, "ring8", seeds=3, steps=8, optimizer=adamw, scheduler=halve)
    alone = gs.train(SMALL, "ring8", seeds=[2], steps=8, optimizer=adamw, scheduler=halve)
    np.testing.assert_allclose(
        alone.seed_trace(2).drop(columns="seed").to_numpy(float),
        three.seed_trace(2).drop(columns="seed").to_numpy(float),
        rtol=1e-5,
        atol=1e-6,
    )
    assert three.recipe.betas == (0.5, 0.999) and three.recipe.g_lr == SMALL.g_lr
    assert three.notes == [
        "optimizer: your factory's AdamW (lr 0.0001, weight_decay 0.05, betas (0.5, 0.999)) for G and D "
        "replaced the recipe's adam",
        "lr scheduler: your factory's, stepped once per step; g_lr and d_lr are the starting rates",
    ]
    default = gs.train(SMALL, "ring8", seeds=1, steps=8)
    assert not np.allclose(three.seed_trace(0)["g_loss"], default.seed_trace(0)["g_loss"])


def test_an_optimiser_that_reads_whole_tensors_is_refused_for_stacked_seeds() -> None:
    with pytest.raises(ValueError, match=re.escape("LBFGS is not known to update each element on its own")):
        gs.train(SMALL, "ring8", seeds=2, steps=1, optimizer=lambda p, lr: torch.optim.LBFGS(p, lr=lr))


class InfoD(nn.Module):
    """InfoGAN's D: (score, categorical code logits, continuous code)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 32), nn.ReLU())
        self.score, self.q_cat, self.q_cont = nn.Linear(32, 1), nn.Linear(32, 4), nn.Linear(32, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.score(h), self.q_cat(h), self.q_cont(h)


def test_a_d_returning_a_tuple_is_trained_on_the_score_it_is_told() -> None:
    by_index = gs.train(USER, "ring8", seeds=2, steps=4, discriminator=InfoD, score=0)
    by_function = gs.train(USER, "ring8", seeds=2, steps=4, discriminator=InfoD, score=lambda out: out[0])
    np.testing.assert_array_equal(by_index.trace.to_numpy(float), by_function.trace.to_numpy(float))
    assert by_index.notes == []  # batched
    with pytest.raises(
        ValueError, match=re.escape("returned a tuple of 3; say which is the score: train(..., score=0)")
    ):
        gs.train(USER, "ring8", seeds=1, steps=1, discriminator=InfoD)


def sigmoid_d() -> nn.Module:
    """PyTorch-GAN's gan.py discriminator at toy size: its last layer is nn.Sigmoid."""
    return nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1), nn.Sigmoid())


def test_a_d_ending_in_sigmoid_is_named_in_the_notes_and_the_finding_with_the_fix() -> None:
    run = gs.train(USER, "ring8", seeds=2, steps=40, discriminator=sigmoid_d)
    assert run.sigmoid_d
    assert any("it ends in Sigmoid" in note and "remove the final nn.Sigmoid" in note for note in run.notes)
    finding = next(f for f in run.diagnose() if not f.passed)
    assert finding.cause is not None and finding.cause.startswith("D ends in Sigmoid")
    assert finding.remedies[0].startswith("remove D's final nn.Sigmoid")


def test_a_small_logit_d_whose_first_outputs_are_all_positive_is_not_taken_for_a_sigmoid() -> None:
    """Weight clipping keeps a critic's outputs near its biases: all in (0, 1) at first, yet logits."""
    run = gs.train(gs.recipe("wgan", batch_size=32), "ring8", seeds=2, steps=6, discriminator=mlp_d)
    assert not run.sigmoid_d and run.notes == []


def test_recipe_knobs_that_cannot_reach_the_users_modules_are_named_and_never_claimed() -> None:
    run = gs.train(
        gs.recipe("hinge-sn", d_width=256, batch_size=32), "ring8", seeds=1, steps=2, discriminator=mlp_d
    )
    assert run.notes == [
        "recipe hinge-sn: d_width=256, spectral_norm=True do not apply to your discriminator Sequential "
        "(wrap its layers in torch.nn.utils.parametrizations.spectral_norm to have it)"
    ]
    assert run.recipe.spectral_norm is False  # the record says what was trained
    from pytest_ganstab.assertions.diagnosis import remedies

    (cure,) = [r for r in remedies([3], run) if "spectral" in r]
    assert cure.startswith("the hinge loss with spectral normalisation") and "your D" in cure


class BiasBeforeBatchNorm(nn.Module):
    """PyTorch-GAN's dcgan.py generator pattern: a convolution with a bias right before a BatchNorm, which
    cancels it, so that bias's gradient is rounding noise (~1e-7) beside the others' (~1)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 16 * 4 * 4)
        self.blocks = nn.Sequential(
            nn.BatchNorm2d(16),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(16, 16, 3, padding=1),  # bias=True, right before a BatchNorm
            nn.BatchNorm2d(16, 0.8),
            nn.LeakyReLU(0.2),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(16, 1, 3, padding=1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.fc(z).view(-1, 16, 4, 4))  # type: ignore[no-any-return]


def test_a_parameter_whose_gradient_is_rounding_noise_does_not_veto_batching() -> None:
    rc = gs.recipe("nonsaturating", latent_dim=8, batch_size=16)
    stacks = user.build_user_stacks(
        BiasBeforeBatchNorm, None, rc, gs.toy("blobs9"), 0, [0, 1], torch.device("cpu")
    )
    assert isinstance(stacks.generator, user.BatchedModules)
    assert not any("one after another" in note for note in stacks.notes)


def test_a_module_whose_batched_gradients_really_differ_still_falls_back() -> None:
    """The whole-module scale is a tolerance for rounding, not a blindfold: a real difference in one
    parameter's gradient is still caught."""
    modules = [mlp_d(), mlp_d()]
    probe = (torch.randn(2, 4, 2),)
    assert user.why_not_batched(modules, (2,), probe, penalty=False) is None

    class UnregisteredOffset(nn.Module):  # a tensor kept as a plain attribute: vmap sees seed 0's only
        def __init__(self, offset: float) -> None:
            super().__init__()
            self.net, self.offset = mlp_d(), torch.tensor(offset)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x) + self.offset  # type: ignore[no-any-return]

    reason = user.why_not_batched(
        [UnregisteredOffset(0.0), UnregisteredOffset(1.0)], (2,), probe, penalty=False
    )
    assert reason is not None and "differed from the module's own" in reason
