"""The optimisers a recipe names, built the same way for the engine's stacked seeds and the plain loop.

Adam, RMSProp and SGD are elementwise, so one optimiser over stacked ``[S, ...]`` parameters steps every
seed exactly as its own optimiser would (docs/design.md §5).
"""

from __future__ import annotations

import torch

from .recipes import Recipe


def make_optimizer(params: list[torch.Tensor], recipe: Recipe, lr: float) -> torch.optim.Optimizer:
    """The recipe's optimiser over ``params`` at learning rate ``lr``."""
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=recipe.betas)
    if recipe.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.SGD(params, lr=lr)
