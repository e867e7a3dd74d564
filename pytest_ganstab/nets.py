"""Networks for S seeds at once, and the small protocol the engine trains through.

``StackedMLP`` keeps every weight as ``[S, in, out]`` and runs a layer as one ``baddbmm`` for all
seeds (docs/design.md §5). Its arithmetic matches ``nn.Linear`` (and torch's ``spectral_norm``) seed by
seed, which is what the exactness tests hold it to.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F

from . import rng
from .recipes import Recipe
from .toys import Toy

_SN_EPS = 1e-12  # torch.nn.utils.parametrizations.spectral_norm's eps
_SN_INIT_ITERATIONS = 15  # as torch's spectral_norm does at registration


class Stack(Protocol):
    """S seeds' copies of one network, as the engine sees them."""

    seeds: int
    layer_names: list[str]

    def parameters(self) -> list[torch.Tensor]:
        """Leaf tensors the optimiser steps; each seed's gradient is its own."""
        ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``[S, B, in]`` flat inputs to ``[S, B, out]`` flat outputs."""
        ...

    def layer_grad_sq_norms(self) -> torch.Tensor:
        """Squared L2 norm of each layer's gradient, per seed: ``[S, L]``."""
        ...


@dataclass
class Stacks:
    """G and D for all seeds, and notes for the summary (such as why seeds ran one after another)."""

    generator: Stack
    discriminator: Stack
    notes: list[str] = field(default_factory=list)
    # False when a user's modules replaced the recipe's MLPs, whose widths then describe nothing.
    from_recipe: bool = True


_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "tanh": torch.tanh,
}


class StackedMLP:
    """An MLP ``sizes[0] → … → sizes[-1]`` for every seed key, initialised like ``nn.Linear``.

    ``residual`` turns each hidden→hidden layer into ``h + act(W h + b)``; ``spectral_norm`` divides
    each weight by its top singular value, estimated by one power iteration per forward pass.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        keys: torch.Tensor,
        *,
        stream: int,
        activation: str = "relu",
        residual: bool = False,
        spectral_norm: bool = False,
    ) -> None:
        self.seeds = int(keys.shape[0])
        self.sizes = list(sizes)
        self.activation = _ACTIVATIONS[activation]
        self.spectral_norm = spectral_norm
        self.layer_names = [f"l{i}" for i in range(len(sizes) - 1)]
        self.residual = [
            residual and 0 < i < len(sizes) - 2 and sizes[i] == sizes[i + 1] for i in range(len(sizes) - 1)
        ]
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        self.u: list[torch.Tensor] = []
        self.v: list[torch.Tensor] = []
        for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            bound = fan_in**-0.5  # nn.Linear's default: U(-1/√fan_in, 1/√fan_in) for weight and bias
            weight = (2 * rng.uniform(keys, rng.stream_id(stream, layer, 0), (fan_in, fan_out)) - 1) * bound
            bias = (2 * rng.uniform(keys, rng.stream_id(stream, layer, 1), (1, fan_out)) - 1) * bound
            self.weights.append(weight.requires_grad_(True))
            self.biases.append(bias.requires_grad_(True))
            if spectral_norm:
                self.u.append(
                    F.normalize(rng.normal(keys, rng.stream_id(stream, layer, 2), (fan_out,)), dim=1)
                )
                self.v.append(
                    F.normalize(rng.normal(keys, rng.stream_id(stream, layer, 3), (fan_in,)), dim=1)
                )
                self._power_iteration(layer, _SN_INIT_ITERATIONS)

    def parameters(self) -> list[torch.Tensor]:
        return [p for pair in zip(self.weights, self.biases, strict=True) for p in pair]

    @torch.no_grad()
    def _power_iteration(self, layer: int, iterations: int = 1) -> None:
        # With M = Wᵀ ([out, in], torch's layout): u ← M v / ‖·‖, then v ← Mᵀ u / ‖·‖, as torch does.
        weight = self.weights[layer]
        for _ in range(iterations):
            self.u[layer] = F.normalize(
                _bmm(torch.bmm, self.v[layer].unsqueeze(1), weight).squeeze(1), dim=1, eps=_SN_EPS
            )
            self.v[layer] = F.normalize(
                _bmm(torch.bmm, weight, self.u[layer].unsqueeze(2)).squeeze(2), dim=1, eps=_SN_EPS
            )

    def effective_weight(self, layer: int) -> torch.Tensor:
        weight = self.weights[layer]
        if not self.spectral_norm:
            return weight
        self._power_iteration(layer)
        v_w = _bmm(torch.bmm, self.v[layer].unsqueeze(1), weight)  # vᵀ W = (M v)ᵀ
        sigma = (v_w.squeeze(1) * self.u[layer]).sum(-1)
        return weight / sigma[:, None, None]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for layer in range(last + 1):
            out = _bmm(torch.baddbmm, self.biases[layer], x, self.effective_weight(layer))
            if layer == last:
                return out
            out = self.activation(out)
            x = x + out if self.residual[layer] else out
        raise AssertionError("an MLP has at least one layer")

    def layer_grad_sq_norms(self) -> torch.Tensor:
        return torch.stack(
            [
                per_seed_grad_sq(w) + per_seed_grad_sq(b)
                for w, b in zip(self.weights, self.biases, strict=True)
            ],
            dim=1,
        )

    @torch.no_grad()
    def seed_state(self, index: int) -> dict[str, torch.Tensor]:
        """One seed's weights in ``nn.Linear`` layout (``[out, in]``), to rebuild it as a plain module."""
        state: dict[str, torch.Tensor] = {}
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            state[f"l{layer}.weight"] = w[index].T.clone()
            state[f"l{layer}.bias"] = b[index, 0].clone()
            if self.spectral_norm:
                state[f"l{layer}._u"] = self.u[layer][index].clone()
                state[f"l{layer}._v"] = self.v[layer][index].clone()
        return state


def _bmm(product: Callable[..., torch.Tensor], *stacks: torch.Tensor) -> torch.Tensor:
    """``product(*stacks)`` over the leading seed dim, rounded as it is for two or more seeds.

    A batched product over one matrix takes another kernel (a matrix-vector one for D's one-score
    layer) than over several, and rounds differently; training then amplifies the last bit. So a seed
    trained alone computes on two copies of itself, and ``seeds=[k]`` reruns seed k bit for bit.
    """
    if stacks[0].shape[0] != 1:
        return product(*stacks)
    return product(*(stack.expand(2, *stack.shape[1:]) for stack in stacks))[:1]


def per_seed_grad_sq(param: torch.Tensor) -> torch.Tensor:
    """Squared L2 norm of a stacked parameter's gradient, one per seed (its leading dim): ``[S]``."""
    if param.grad is None:
        return torch.zeros(param.shape[0], device=param.device, dtype=param.dtype)
    return param.grad.flatten(1).pow(2).sum(1)


def build_mlps(recipe: Recipe, toy: Toy, keys: torch.Tensor) -> Stacks:
    """The recipe's own MLP pair for the seed ``keys``, initialised from their streams."""
    g_sizes, d_sizes = recipe.mlp_sizes(toy.dim)
    generator = StackedMLP(
        g_sizes, keys, stream=rng.G_INIT, activation=recipe.activation, residual=recipe.g_residual
    )
    discriminator = StackedMLP(
        d_sizes,
        keys,
        stream=rng.D_INIT,
        activation=recipe.activation,
        residual=recipe.d_residual,
        spectral_norm=recipe.spectral_norm,
    )
    return Stacks(generator, discriminator)
