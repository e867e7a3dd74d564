"""GAN objectives and regularisers, written per seed: scores ``[S, B]`` in, one loss per seed ``[S]`` out.

Keeping losses per seed is what lets the engine sum them and take one backward pass for all seeds:
the seeds' graphs never touch, so each seed's gradient is exactly its own (docs/design.md §5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Scores = torch.Tensor
Critic = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class GANLoss:
    """A GAN objective as per-sample terms on D's raw scores (logits for the classifier losses).

    ``probability`` says whether a score is read through a sigmoid, which is how D's confidence is
    reported; critics (WGAN, hinge) report raw scores.
    """

    name: str
    d_real: Callable[[Scores, float], Scores]
    d_fake: Callable[[Scores], Scores]
    g: Callable[[Scores], Scores]
    probability: bool = False

    def d_loss(self, real: Scores, fake: Scores, real_label: float = 1.0) -> torch.Tensor:
        return self.d_real(real, real_label).mean(-1) + self.d_fake(fake).mean(-1)

    def g_loss(self, fake: Scores) -> torch.Tensor:
        return self.g(fake).mean(-1)

    def confidence(self, scores: Scores) -> Scores:
        return torch.sigmoid(scores) if self.probability else scores


def _bce_real(scores: Scores, label: float) -> Scores:
    # Cross-entropy against a (possibly smoothed) real target: one-sided label smoothing at 0.9.
    return label * F.softplus(-scores) + (1 - label) * F.softplus(scores)


MINIMAX = GANLoss(
    "minimax",
    d_real=_bce_real,
    d_fake=F.softplus,
    # min E[log(1 - D(G(z)))]: saturates, its gradient vanishes exactly when D is confident.
    g=lambda fake: -F.softplus(fake),
    probability=True,
)
NONSATURATING = GANLoss(
    "nonsaturating",
    d_real=_bce_real,
    d_fake=F.softplus,
    # max E[log D(G(z))]: the same fixed point with strong gradients when D is confident.
    g=lambda fake: F.softplus(-fake),
    probability=True,
)
WASSERSTEIN = GANLoss(
    "wgan", d_real=lambda real, _label: -real, d_fake=lambda fake: fake, g=lambda fake: -fake
)
LEAST_SQUARES = GANLoss(
    "lsgan",
    d_real=lambda real, label: 0.5 * (real - label) ** 2,
    d_fake=lambda fake: 0.5 * fake**2,
    g=lambda fake: 0.5 * (fake - 1) ** 2,
)
HINGE = GANLoss(
    "hinge",
    d_real=lambda real, _label: F.relu(1 - real),
    d_fake=lambda fake: F.relu(1 + fake),
    g=lambda fake: -fake,
)

LOSSES: dict[str, GANLoss] = {
    loss.name: loss for loss in (MINIMAX, NONSATURATING, WASSERSTEIN, LEAST_SQUARES, HINGE)
}


def get_loss(loss: str | GANLoss) -> GANLoss:
    if isinstance(loss, GANLoss):
        return loss
    try:
        return LOSSES[loss]
    except KeyError:
        raise ValueError(
            f"unknown loss {loss!r}; known losses: {', '.join(sorted(LOSSES))}, or pass a GANLoss"
        ) from None


def input_gradient(critic: Critic, x: torch.Tensor) -> torch.Tensor:
    """∂D/∂x per sample, ``[S, B, dim]``, kept in the graph so a penalty on it can be trained through.

    Summing the scores is exact: each score depends only on its own sample.
    """
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return grad


def gradient_penalty(
    critic: Critic, real: torch.Tensor, fake: torch.Tensor, mix: torch.Tensor
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(‖∇D(x̂)‖ − 1)²] on interpolates x̂ = mix·real + (1 − mix)·fake."""
    interpolates = mix.unsqueeze(-1) * real + (1 - mix.unsqueeze(-1)) * fake.detach()
    norms = input_gradient(critic, interpolates).flatten(2).norm(dim=-1)
    penalty: torch.Tensor = ((norms - 1) ** 2).mean(-1)
    return penalty


def zero_centred_penalty(critic: Critic, x: torch.Tensor) -> torch.Tensor:
    """R1 on real samples, R2 on fake ones (Mescheder et al. 2018): ½ E[‖∇D(x)‖²], weighted by γ outside."""
    return 0.5 * input_gradient(critic, x).flatten(2).pow(2).sum(-1).mean(-1)
