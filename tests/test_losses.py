"""Each loss and regulariser, tested on the property that defines it."""

from __future__ import annotations

import math

import pytest
import torch

from pytest_ganstab import recipe, rng, train
from pytest_ganstab.losses import (
    HINGE,
    LEAST_SQUARES,
    MINIMAX,
    NONSATURATING,
    WASSERSTEIN,
    get_loss,
    gradient_penalty,
    input_gradient,
    zero_centred_penalty,
)
from pytest_ganstab.nets import StackedMLP


def score_gradient(loss_of_scores: object, scores: torch.Tensor) -> torch.Tensor:
    scores = scores.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_of_scores(scores).sum(), scores)  # type: ignore[operator]
    return grad


def test_saturating_and_nonsaturating_g_losses_agree_in_sign_but_not_size_when_d_is_confident() -> None:
    confident = torch.full((1, 4), -6.0)  # D gives fakes σ(-6) ≈ 0.25 %
    saturating = score_gradient(MINIMAX.g_loss, confident)
    nonsaturating = score_gradient(NONSATURATING.g_loss, confident)
    assert (saturating.sign() == nonsaturating.sign()).all()
    assert (nonsaturating.abs() / saturating.abs()).min() > 100


def test_both_g_losses_share_the_fixed_point_of_an_undecided_d() -> None:
    undecided = torch.zeros(1, 4)
    ratio = score_gradient(NONSATURATING.g_loss, undecided) / score_gradient(MINIMAX.g_loss, undecided)
    assert torch.allclose(ratio, torch.ones(1, 4))


def test_one_sided_label_smoothing_makes_d_aim_for_0_9_on_real() -> None:
    at_target = torch.full((1, 4), math.log(9.0))  # σ(log 9) = 0.9
    grad = score_gradient(lambda s: NONSATURATING.d_loss(s, torch.zeros(1, 4), real_label=0.9), at_target)
    assert grad.abs().max() < 1e-6


def test_least_squares_targets_are_one_for_real_and_zero_for_fake() -> None:
    grad = score_gradient(
        lambda s: LEAST_SQUARES.d_loss(s[:, :2], s[:, 2:]), torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    )
    assert grad.abs().max() == 0
    assert score_gradient(LEAST_SQUARES.g_loss, torch.ones(1, 3)).abs().max() == 0


def test_hinge_ignores_samples_beyond_the_margin() -> None:
    beyond = torch.tensor([[1.5, 2.0, -1.5, -3.0]])
    grad = score_gradient(lambda s: HINGE.d_loss(s[:, :2], s[:, 2:]), beyond)
    assert grad.abs().max() == 0
    inside = torch.tensor([[0.5, 0.0, -0.5, 0.0]])
    assert (score_gradient(lambda s: HINGE.d_loss(s[:, :2], s[:, 2:]), inside).abs() > 0).all()


def test_wasserstein_critic_gradient_is_constant() -> None:
    grad = score_gradient(lambda s: WASSERSTEIN.d_loss(s[:, :2], s[:, 2:]), torch.randn(1, 4))
    assert torch.allclose(grad, torch.tensor([[-0.5, -0.5, 0.5, 0.5]]))


def linear_critic(weights: torch.Tensor) -> object:
    return lambda x: (x * weights[:, None, :]).sum(-1, keepdim=True)


def test_zero_centred_penalty_of_a_linear_critic_is_half_its_squared_slope() -> None:
    weights = torch.tensor([[3.0, 4.0], [0.0, 0.0]])  # seed 0 has slope 5, seed 1 is flat
    penalty = zero_centred_penalty(linear_critic(weights), torch.randn(2, 16, 2))  # type: ignore[arg-type]
    assert torch.allclose(penalty, torch.tensor([12.5, 0.0]))


def test_gradient_penalty_drives_the_critics_input_gradient_norm_to_one() -> None:
    keys = rng.seed_keys(0, [0, 1], "cpu")
    critic = StackedMLP([2, 64, 64, 1], keys, stream=0)
    with torch.no_grad():
        for weight in critic.weights:
            weight.mul_(4.0)  # start far from 1-Lipschitz
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-3)
    real = torch.randn(2, 256, 2, generator=torch.Generator().manual_seed(0))
    fake = torch.randn(2, 256, 2, generator=torch.Generator().manual_seed(1)) + 2
    mix = torch.rand(2, 256, generator=torch.Generator().manual_seed(2))

    def median_norm() -> torch.Tensor:
        x = mix.unsqueeze(-1) * real + (1 - mix.unsqueeze(-1)) * fake
        return input_gradient(critic, x).norm(dim=-1).detach().median(dim=1).values

    assert (median_norm() > 2).all()  # far from 1 at the start
    before = gradient_penalty(critic, real, fake, mix).detach()
    for _ in range(300):
        optimizer.zero_grad()
        gradient_penalty(critic, real, fake, mix).sum().backward()
        optimizer.step()
    after = gradient_penalty(critic, real, fake, mix).detach()
    assert torch.allclose(median_norm(), torch.ones(2), atol=0.05)
    assert (after < before / 50).all()


def test_weight_clipping_keeps_every_critic_weight_in_range() -> None:
    run = train(recipe("wgan", width=16, batch_size=32, d_lr=0.05), "ring8", seeds=2, steps=5)
    largest = max(p.abs().max().item() for p in run.nets.discriminator.parameters())
    assert largest <= 0.01 + 1e-7


def test_spectral_norm_keeps_each_layers_top_singular_value_near_one() -> None:
    net = StackedMLP([2, 32, 32, 1], rng.seed_keys(3, [0, 1, 2], "cpu"), stream=1, spectral_norm=True)
    with torch.no_grad():
        for weight in net.weights:
            weight.mul_(10.0)
        for _ in range(20):  # each forward pass runs one power iteration, as in training
            net(torch.zeros(3, 1, 2))
        for layer in range(len(net.weights)):
            sigma = torch.linalg.matrix_norm(net.effective_weight(layer), ord=2)
            assert torch.allclose(sigma, torch.ones(3), atol=1e-3), (layer, sigma)


def test_unknown_loss_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown loss 'bce'; known losses: hinge, lsgan, minimax"):
        get_loss("bce")
