"""GAN objectives and regularisers, written per seed: scores ``[S, B]`` in, one loss per seed ``[S]`` out.

Keeping losses per seed is what lets the engine sum them and take one backward pass for all seeds:
the seeds' graphs never touch, so each seed's gradient is exactly its own (docs/design.md §5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.func import vmap

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


def _unused(*_: Any) -> torch.Tensor:
    raise NotImplementedError("a FunctionLoss computes whole losses, not per-sample terms")


@dataclass(frozen=True)
class FunctionLoss(GANLoss):
    """A loss written as plain functions of one seed's scores, the way training scripts write it:
    ``d(fake_scores, real_scores)`` and ``g(fake_scores)``, each returning a scalar (or one value per
    sample, averaged). Seeds are batched with ``torch.func.vmap`` where the functions allow it, else
    called one seed after another: each seed's loss is still its own (docs/design.md §5)."""

    d_function: Callable[[Scores, Scores], torch.Tensor] = _unused
    g_function: Callable[[Scores], torch.Tensor] = _unused
    _batched: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def d_loss(self, real: Scores, fake: Scores, real_label: float = 1.0) -> torch.Tensor:
        return self._per_seed("d", self.d_function, fake, real)

    def g_loss(self, fake: Scores) -> torch.Tensor:
        return self._per_seed("g", self.g_function, fake)

    def _per_seed(self, role: str, function: Callable[..., torch.Tensor], *scores: Scores) -> torch.Tensor:
        if self._batched.get(role, True):
            try:
                out: torch.Tensor = vmap(lambda *s: _reduce(function(*s), role))(*scores)
                self._batched[role] = True
                return out
            except Exception:  # whatever vmap refuses (.item(), data-dependent branches) runs per seed
                if role in self._batched:
                    raise
                self._batched[role] = False
        return torch.stack(
            [_reduce(function(*(s[k] for s in scores)), role) for k in range(scores[0].shape[0])]
        )


def _reduce(value: Any, role: str) -> torch.Tensor:
    """A loss function's result as one value per call: a scalar, or the mean of per-sample values."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"your {role} loss function returned a {type(value).__name__}; return a tensor")
    return value if value.dim() == 0 else value.mean()


def custom_loss(
    d: Callable[[Scores, Scores], torch.Tensor],
    g: Callable[[Scores], torch.Tensor],
    *,
    name: str = "custom",
    probability: bool = False,
) -> FunctionLoss:
    """Your loss as plain functions: ``d(fake_scores, real_scores)`` for D, ``g(fake_scores)`` for G.
    ``probability=True`` reports D's confidence through a sigmoid (for losses on logits, like BCE)."""
    if not callable(d) or not callable(g):
        raise TypeError("custom_loss: give two functions, d(fake_scores, real_scores) and g(fake_scores)")
    return FunctionLoss(name, _unused, _unused, _unused, probability, d_function=d, g_function=g)


def get_loss(loss: str | GANLoss | tuple[Any, Any]) -> GANLoss:
    """A loss by name, a ``GANLoss``, or a pair of plain functions ``(d(fake, real), g(fake))``."""
    if isinstance(loss, GANLoss):
        return loss
    if isinstance(loss, tuple):
        if len(loss) != 2:
            raise TypeError(f"loss=: a pair of functions (d(fake, real), g(fake)), not {len(loss)} items")
        return custom_loss(*loss)
    try:
        return LOSSES[loss]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown loss {loss!r}; known losses: {', '.join(sorted(LOSSES))}, a GANLoss, "
            "or a pair of functions (d(fake_scores, real_scores), g(fake_scores))"
        ) from None


def saturates(loss: GANLoss) -> bool:
    """Whether G's loss goes flat where D is sure a sample is fake (cause 1 of docs/design.md §1): its
    slope at a logit of −8 is below 1 % of its slope at 0. Read off the function itself, so a loss
    written by hand is judged like the named ones."""
    scores = torch.tensor([[-8.0, 0.0]], requires_grad=True)
    try:
        (slope,) = torch.autograd.grad(
            loss.g_loss(scores[:, :1]).sum() + loss.g_loss(scores[:, 1:]).sum(), scores
        )
    except Exception:  # a loss on probabilities is undefined at a logit; it says nothing here
        return False
    confident, undecided = slope.abs()[0].tolist()
    return bool(undecided > 0 and confident < 0.01 * undecided)


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
