"""The usual eager GAN loop, one seed at a time: the engine's correctness anchor and its speed baseline.

Written the way people write it (``nn.Sequential`` of ``nn.Linear``, one ``torch.optim`` per network,
``loss.backward()``, torch's own loss functions and ``spectral_norm``), and sharing nothing with the
engine's arithmetic. Fed the engine's initial parameters and its counter-based draws for one seed
(``StreamDraws``), it must reproduce that seed of a stacked run to float tolerance (docs/design.md §5);
fed a ``torch.Generator`` (``TorchDraws``) it is the plain loop that the engine's speed is measured against.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from . import rng
from .devices import resolve_device, synchronize
from .nets import StackedMLP
from .optimizers import make_optimizer
from .recipes import Recipe
from .recipes import recipe as get_recipe
from .run import PROBES
from .toys import Toy
from .toys import toy as get_toy

Loss = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


class Draws(Protocol):
    """Where one seed's randomness comes from, draw by draw, in the engine's order."""

    def real(self, step: int, critic: int, n: int) -> torch.Tensor:
        """The real batch ``[n, dim]`` of critic step ``critic`` of ``step``."""
        ...

    def latents(self, step: int, critic: int | None, n: int, dim: int) -> torch.Tensor:
        """Latents ``[n, dim]`` for a critic step, or for the G step when ``critic`` is None."""
        ...

    def mix(self, step: int, critic: int, n: int) -> torch.Tensor:
        """WGAN-GP's interpolation weights ``[n]``."""
        ...


class StreamDraws:
    """Seed ``index`` of a run from ``base_seed``: the very numbers the engine draws for that seed."""

    def __init__(self, toy: Toy, base_seed: int, index: int, device: str | torch.device = "cpu") -> None:
        self.toy = toy
        self.keys = rng.seed_keys(base_seed, [index], resolve_device(device))

    def real(self, step: int, critic: int, n: int) -> torch.Tensor:
        return self.toy.sample_stacked(self.keys, rng.stream_id(rng.REAL, step, critic), n)[0]

    def latents(self, step: int, critic: int | None, n: int, dim: int) -> torch.Tensor:
        stream = (
            rng.stream_id(rng.LATENT_G, step) if critic is None else rng.stream_id(rng.LATENT_D, step, critic)
        )
        return rng.normal(self.keys, stream, (n, dim))[0]

    def mix(self, step: int, critic: int, n: int) -> torch.Tensor:
        return rng.uniform(self.keys, rng.stream_id(rng.MIX, step, critic), (n,))[0]


class TorchDraws:
    """The usual way: everything from one ``torch.Generator`` (``toy.sample``, ``torch.randn``)."""

    def __init__(self, toy: Toy, generator: torch.Generator) -> None:
        self.toy = toy
        self.generator = generator

    def real(self, step: int, critic: int, n: int) -> torch.Tensor:
        return self.toy.sample(n, generator=self.generator)

    def latents(self, step: int, critic: int | None, n: int, dim: int) -> torch.Tensor:
        return torch.randn(n, dim, generator=self.generator, device=self.generator.device)

    def mix(self, step: int, critic: int, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.generator, device=self.generator.device)


class Residual(nn.Module):
    """``x + act(W x + b)``: the residual hidden block of the recipes' ``g_residual``/``d_residual``."""

    def __init__(self, width: int, activation: nn.Module) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.activation(self.linear(x))
        return out


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    return nn.Tanh()


def mlp(sizes: Sequence[int], activation: str, *, residual: bool = False, sn: bool = False) -> nn.Sequential:
    """An MLP as people write it; hidden→hidden layers of equal width become ``Residual`` blocks."""
    layers: list[nn.Module] = []
    last = len(sizes) - 2
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        if residual and 0 < i < last and fan_in == fan_out:
            layers.append(Residual(fan_in, _activation(activation)))
        else:
            layers.append(nn.Linear(fan_in, fan_out))
            if i < last:
                layers.append(_activation(activation))
    net = nn.Sequential(*layers)
    if sn:
        for linear in linears(net):
            spectral_norm(linear)
    return net


def linears(net: nn.Module) -> list[nn.Linear]:
    """The network's ``nn.Linear`` layers in order: layer ``i`` is the engine's ``l{i}``."""
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


@torch.no_grad()
def load_seed_state(net: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy one seed's weights (``StackedMLP.seed_state``) into ``net``, spectral-norm vectors included."""
    for i, linear in enumerate(linears(net)):
        linear.bias.copy_(state[f"l{i}.bias"])
        if hasattr(linear, "parametrizations"):
            parametrized = cast(Any, linear).parametrizations.weight
            parametrized.original.copy_(state[f"l{i}.weight"])
            power = parametrized[0]
            power._u.copy_(state[f"l{i}._u"])
            power._v.copy_(state[f"l{i}._v"])
        else:
            linear.weight.copy_(state[f"l{i}.weight"])


def networks(
    recipe: Recipe,
    toy: Toy,
    *,
    base_seed: int | None = None,
    index: int = 0,
    device: str | torch.device = "cpu",
) -> tuple[nn.Sequential, nn.Sequential]:
    """G and D of ``recipe`` as plain modules.

    With ``base_seed``, seed ``index`` starts from the engine's initialisation of that seed; without,
    from torch's default initialisation (the usual way, drawn from torch's global RNG).
    """
    dev = resolve_device(device)
    g_sizes, d_sizes = recipe.mlp_sizes(toy.dim)
    generator = mlp(g_sizes, recipe.activation, residual=recipe.g_residual)
    discriminator = mlp(d_sizes, recipe.activation, residual=recipe.d_residual, sn=recipe.spectral_norm)
    if base_seed is not None:
        keys = rng.seed_keys(base_seed, [index], "cpu")
        load_seed_state(generator, StackedMLP(g_sizes, keys, stream=rng.G_INIT).seed_state(0))
        stacked_d = StackedMLP(d_sizes, keys, stream=rng.D_INIT, spectral_norm=recipe.spectral_norm)
        load_seed_state(discriminator, stacked_d.seed_state(0))
    return generator.to(dev), discriminator.to(dev)


# Each loss as the tutorials write it: (D's loss on real and fake scores, G's loss on fake scores).
def _bce(scores: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(scores, torch.full_like(scores, target))


_LOSSES: dict[str, tuple[Loss, Callable[[torch.Tensor], torch.Tensor]]] = {
    "minimax": (lambda r, f, label: _bce(r, label) + _bce(f, 0.0), lambda f: -_bce(f, 0.0)),
    "nonsaturating": (lambda r, f, label: _bce(r, label) + _bce(f, 0.0), lambda f: _bce(f, 1.0)),
    "wgan": (lambda r, f, _label: f.mean() - r.mean(), lambda f: -f.mean()),
    "lsgan": (
        lambda r, f, label: (
            0.5 * F.mse_loss(r, torch.full_like(r, label)) + 0.5 * F.mse_loss(f, torch.zeros_like(f))
        ),
        lambda f: 0.5 * F.mse_loss(f, torch.ones_like(f)),
    ),
    "hinge": (lambda r, f, _label: F.relu(1 - r).mean() + F.relu(1 + f).mean(), lambda f: -f.mean()),
}
_PROBABILITY_LOSSES = ("minimax", "nonsaturating")  # D's confidence is a sigmoid; critics report raw scores


def _input_gradient(discriminator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    out = discriminator(x)
    (grad,) = torch.autograd.grad(out, x, grad_outputs=torch.ones_like(out), create_graph=True)
    return grad


def _grad_norms(net: nn.Module) -> torch.Tensor:
    """Per-layer L2 norms of the gradient (weight and bias together), ``[L]``."""
    norms = []
    for linear in linears(net):
        squares = [p.grad.pow(2).sum() for p in linear.parameters() if p.grad is not None]
        norms.append(torch.stack(squares).sum().sqrt() if squares else torch.zeros(()))
    return torch.stack(norms)


def _auc(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """P(real score > fake score) + ½ P(tie), by comparing every pair."""
    above = (real[:, None] > fake[None, :]).float().mean()
    ties = (real[:, None] == fake[None, :]).float().mean()
    return above + 0.5 * ties


@dataclass
class ReferenceRun:
    """One seed trained by the reference loop: its trained networks, trace (engine's columns) and timing."""

    generator: nn.Module
    discriminator: nn.Module
    steps: int
    wall_time_s: float
    trace: pd.DataFrame | None

    @property
    def seed_steps_per_s(self) -> float:
        return self.steps / self.wall_time_s if self.wall_time_s > 0 else float("nan")


def train_reference(
    recipe: str | Recipe = "nonsaturating",
    data: str | Toy = "ring8",
    *,
    steps: int = 1000,
    base_seed: int | None = 0,
    index: int = 0,
    draws: Draws | None = None,
    device: str | torch.device = "cpu",
    probes: bool = True,
    watch: Callable[[nn.Module, nn.Module, torch.optim.Optimizer, torch.optim.Optimizer], Any] | None = None,
) -> ReferenceRun:
    """Train one seed the usual way, step for step as the engine does (n_critic D steps, then one G step).

    By default seed ``index`` of ``base_seed`` (the engine's initialisation and draws); pass
    ``base_seed=None`` and ``draws=TorchDraws(...)`` for the plain loop with torch's own RNG.
    ``probes`` records the engine's probes every step, as a trace with the engine's columns.
    ``watch(g, d, opt_g, opt_d)`` is called once both exist, before training (``Monitor.watch``).
    """
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    toy = get_toy(data) if isinstance(data, str) else data
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps={steps!r}: must be an integer of at least 1")
    if recipe.lr_decay != 1.0:  # the plain loop has no schedule: it would train another run silently
        raise ValueError(
            f"train_reference: lr_decay={recipe.lr_decay} is not supported by the plain loop; "
            "use lr_decay=1.0 (constant rates)"
        )
    dev = resolve_device(device)
    if draws is None:
        if base_seed is None:
            raise ValueError("train_reference: give draws= (e.g. TorchDraws) when base_seed=None")
        draws = StreamDraws(toy, base_seed, index, dev)
    g, d = networks(recipe, toy, base_seed=base_seed, index=index, device=dev)
    opt_g = make_optimizer(list(g.parameters()), recipe, recipe.g_lr)
    opt_d = make_optimizer(list(d.parameters()), recipe, recipe.d_lr)
    if watch is not None:
        watch(g, d, opt_g, opt_d)
    d_objective, g_objective = _LOSSES[recipe.loss]
    confidence = torch.sigmoid if recipe.loss in _PROBABILITY_LOSSES else (lambda s: s)
    batch, latent_dim = recipe.batch_size, recipe.latent_dim
    rows: list[torch.Tensor] = []

    synchronize(dev)
    started = time.perf_counter()
    for step in range(steps):
        for critic in range(recipe.n_critic):
            real = draws.real(step, critic, batch)
            with torch.no_grad():
                fake = g(draws.latents(step, critic, batch, latent_dim))
            real_scores = d(real).squeeze(-1)
            fake_scores = d(fake).squeeze(-1)
            d_loss = d_objective(real_scores, fake_scores, recipe.real_label)
            penalty = torch.zeros((), device=dev)
            if recipe.gp_weight:
                alpha = draws.mix(step, critic, batch).unsqueeze(-1)
                interpolates = alpha * real + (1 - alpha) * fake
                norms = _input_gradient(d, interpolates).norm(2, dim=1)
                penalty = penalty + recipe.gp_weight * ((norms - 1) ** 2).mean()
            if recipe.r1_weight:
                penalty = penalty + recipe.r1_weight * 0.5 * _input_gradient(d, real).pow(2).sum(1).mean()
            if recipe.r2_weight:
                penalty = penalty + recipe.r2_weight * 0.5 * _input_gradient(d, fake).pow(2).sum(1).mean()
            opt_d.zero_grad(set_to_none=True)
            (d_loss + penalty).backward()  # type: ignore[no-untyped-call]
            opt_d.step()
            if recipe.clip is not None:
                with torch.no_grad():
                    for param in d.parameters():
                        param.clamp_(-recipe.clip, recipe.clip)
        d_layers = _grad_norms(d) if probes else None  # before G's backward adds to D's gradients

        fake = g(draws.latents(step, None, batch, latent_dim))
        fake.retain_grad()
        g_loss = g_objective(d(fake).squeeze(-1))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()  # type: ignore[no-untyped-call]
        opt_g.step()

        if d_layers is not None:
            with torch.no_grad():
                g_layers = _grad_norms(g)
                assert fake.grad is not None
                signal = fake.grad.flatten(1).norm(dim=-1).mean() * batch
                g_norm, d_norm = g_layers.norm(), d_layers.norm()
                values = [
                    d_loss,
                    penalty,
                    g_loss,
                    confidence(real_scores).mean(),
                    confidence(fake_scores).mean(),
                    _auc(real_scores, fake_scores),
                    g_norm,
                    d_norm,
                    signal,
                    (~torch.isfinite(d_loss + g_loss + g_norm + d_norm + signal)).float(),
                ]
                rows.append(torch.cat((torch.stack(values), g_layers, d_layers)))
    synchronize(dev)
    wall = time.perf_counter() - started
    return ReferenceRun(g, d, steps, wall, _trace(rows, g, d) if probes else None)


def _trace(rows: list[torch.Tensor], g: nn.Module, d: nn.Module) -> pd.DataFrame:
    columns = [
        *PROBES,
        *(f"g_grad_norm.l{i}" for i in range(len(linears(g)))),
        *(f"d_grad_norm.l{i}" for i in range(len(linears(d)))),
    ]
    frame = pd.DataFrame(torch.stack(rows).detach().cpu().double().numpy(), columns=columns)
    frame.insert(0, "step", range(len(rows)))
    frame["nonfinite"] = frame["nonfinite"].astype(bool)
    return frame
