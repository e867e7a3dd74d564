"""Conditional GANs with the recipe's MLPs: ``G(z, y)`` and ``D(x, y)``, y a class label.

After Mirza & Osindero 2014 (*Conditional Generative Adversarial Nets*): the label, one-hot, is
concatenated to G's latent and to D's input. The concatenation is done here, around an unchanged
``StackedMLP`` whose first layer is simply wider, so the stacked arithmetic and its exactness argument
(docs/design.md §5) stay as they are: a one-hot vector is one more input per seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import rng
from .nets import StackedMLP, Stacks
from .recipes import Recipe
from .toys import Toy


class LabelledMLP:
    """A stacked MLP that reads ``[x, one_hot(y)]``: the ``Stack`` protocol, with labels ``[S, B]``."""

    def __init__(self, mlp: StackedMLP, classes: int) -> None:
        self.mlp = mlp
        self.classes = classes
        self.seeds = mlp.seeds
        self.layer_names = mlp.layer_names

    def parameters(self) -> list[torch.Tensor]:
        return self.mlp.parameters()

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("a conditional network needs its labels: call it with (x, y)")
        return self.mlp(torch.cat((x, F.one_hot(y, self.classes).to(x.dtype)), dim=-1))

    def layer_grad_sq_norms(self) -> torch.Tensor:
        return self.mlp.layer_grad_sq_norms()


def build_conditional_mlps(recipe: Recipe, toy: Toy, keys: torch.Tensor, classes: int) -> Stacks:
    """The recipe's MLP pair for ``classes`` labels: G latent+C → … → data, D data+C → … → 1, initialised
    from the same streams as the unconditional pair."""
    g_sizes, d_sizes = recipe.mlp_sizes(toy.dim)
    generator = StackedMLP(
        [g_sizes[0] + classes, *g_sizes[1:]],
        keys,
        stream=rng.G_INIT,
        activation=recipe.activation,
        residual=recipe.g_residual,
    )
    discriminator = StackedMLP(
        [d_sizes[0] + classes, *d_sizes[1:]],
        keys,
        stream=rng.D_INIT,
        activation=recipe.activation,
        residual=recipe.d_residual,
        spectral_norm=recipe.spectral_norm,
    )
    return Stacks(LabelledMLP(generator, classes), LabelledMLP(discriminator, classes))


def eval_labels(n: int, classes: int, device: torch.device | str) -> torch.Tensor:
    """The labels of a conditional Run's ``n`` samples: every class in turn, so each gets ⌊n/C⌋ or one
    more; fixed, like the latents, so two runs are scored on the same requests."""
    return torch.arange(n, device=device) % classes
