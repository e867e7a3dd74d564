"""What a training run is assembled from besides its loop: the networks (the recipe's MLPs, conditional or
not, or the user's modules), the loss, and a note for every setting that does not hold as the recipe says.

A Run's recipe is what its history, summary and diagnosis read, so it must describe what was trained:
a recipe knob that cannot reach a user's module (widths, spectral norm) is named in the notes and, where
the recipe would otherwise claim it, removed; an optimiser from the user's factory replaces the recipe's
optimiser, learning rates and betas with its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

import torch

from .conditional import build_conditional_mlps
from .losses import LOSSES, FunctionLoss, GANLoss, get_loss
from .nets import Stack, Stacks, build_mlps
from .optimizers import describe, initial_lr, recipe_optimizer
from .recipes import Recipe
from .toys import Toy

_DEFAULTS = {f.name: f.default for f in fields(Recipe)}
# The recipe knobs that shape each network; they mean nothing for a user's own module.
_SHAPES = {
    "generator": ("g_width", "g_depth", "g_residual"),
    "discriminator": ("d_width", "d_depth", "d_residual", "spectral_norm"),
}


def choose_loss(recipe: Recipe, loss: Any) -> tuple[Recipe, GANLoss, str]:
    """The objective (``loss`` or the recipe's), the recipe naming it, and a note when it is the user's."""
    objective = get_loss(loss if loss is not None else recipe.loss)
    if objective.name in LOSSES and objective is LOSSES[objective.name]:
        # The Run's recipe says which objective was trained (history, diagnoses); it re-validates too.
        return replace(recipe, loss=objective.name), objective, ""
    if isinstance(objective, FunctionLoss):
        return recipe, objective, f"loss: your loss functions replaced the recipe's {recipe.loss!r}"
    return recipe, objective, f"loss: your GANLoss {objective.name!r} replaced the recipe's {recipe.loss!r}"


def build_networks(
    recipe: Recipe,
    toy: Toy,
    keys: torch.Tensor,
    base_seed: int,
    indices: Sequence[int],
    generator: Any,
    discriminator: Any,
    conditional: bool,
    score: Any,
) -> tuple[Stacks, Recipe, int]:
    """G and D for the seeds, the recipe as it holds for them, and the number of classes (0 unconditional)."""
    if not isinstance(conditional, bool):
        raise TypeError(f"conditional={conditional!r}: give True for G(z, y) and D(x, y), or False")
    classes = toy.classes if conditional else 0
    if conditional and classes < 2:
        raise ValueError(
            f"conditional=True needs data with classes, and {toy.name!r} has {classes}: use a toy with "
            "modes (each mode is a class) or your data with labels, as (x, labels)"
        )
    if score is not None and discriminator is None:
        raise TypeError("score= picks the score out of your own discriminator's output; give discriminator=")
    if generator is None and discriminator is None:
        nets = (
            build_conditional_mlps(recipe, toy, keys, classes) if classes else build_mlps(recipe, toy, keys)
        )
        return nets, recipe, classes
    if classes and (generator is None or discriminator is None):
        raise ValueError("conditional=True with your own modules: give both generator= and discriminator=")
    from .user import build_user_stacks

    nets = build_user_stacks(
        generator, discriminator, recipe, toy, base_seed, indices, keys.device, classes=classes, score=score
    )
    nets.from_recipe = False
    for role, spec in (("generator", generator), ("discriminator", discriminator)):
        if spec is not None:
            recipe = _drop_shapes(
                recipe, role, nets.generator if role == "generator" else nets.discriminator, nets
            )
    return nets, recipe, classes


def _drop_shapes(recipe: Recipe, role: str, stack: Stack, nets: Stacks) -> Recipe:
    """Name the recipe knobs that cannot shape the user's ``role``; spectral norm leaves the recipe."""
    set_knobs = [k for k in _SHAPES[role] if getattr(recipe, k) != _DEFAULTS[k]]
    if "spectral_norm" in set_knobs and _has_spectral_norm(stack):
        set_knobs.remove("spectral_norm")  # the user's D normalises itself: the recipe's setting holds
    if not set_knobs:
        return recipe
    name = getattr(stack, "name", role)
    shown = ", ".join(f"{k}={getattr(recipe, k)!r}" for k in set_knobs)
    verb = "does" if len(set_knobs) == 1 else "do"
    advice = (
        " (wrap its layers in torch.nn.utils.parametrizations.spectral_norm to have it)"
        if "spectral_norm" in set_knobs
        else ""
    )
    nets.notes.append(f"recipe {recipe.name}: {shown} {verb} not apply to your {role} {name}{advice}")
    return replace(recipe, spectral_norm=False) if "spectral_norm" in set_knobs else recipe


def _has_spectral_norm(stack: Stack) -> bool:
    """Whether a user's module carries spectral normalisation itself (either of torch's two forms)."""
    module = getattr(stack, "base", None) or next(iter(getattr(stack, "modules", [])), None)
    if module is None:
        return False
    for sub in module.modules():
        kinds = [type(p).__name__ for plist in getattr(sub, "parametrizations", {}).values() for p in plist]
        if any("SpectralNorm" in kind for kind in kinds) or hasattr(sub, "weight_orig"):
            return True
    return False


def optimizer_notes(
    recipe: Recipe,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    factory: Any,
    scheduler: Any,
) -> tuple[Recipe, list[str]]:
    """The recipe with the optimiser the user's factory built (its family, learning rates and betas), and
    notes saying so; unchanged without a factory."""
    notes = []
    if factory is not None:
        family, betas = recipe_optimizer(opt_g)
        actual: dict[str, Any] = {"optimizer": family}
        for key, rate in (("g_lr", initial_lr(opt_g)), ("d_lr", initial_lr(opt_d))):
            if (
                math.isfinite(rate) and rate > 0
            ):  # a net frozen at lr 0 keeps the recipe's rate; the note says 0
                actual[key] = rate
        if betas is not None:
            actual["betas"] = tuple(float(b) for b in betas)
        g_text, d_text = describe(opt_g), describe(opt_d)
        nets = "G and D" if g_text == d_text else f"G, {d_text} for D"
        notes.append(
            f"optimizer: your factory's {g_text} for {nets} replaced the recipe's {recipe.optimizer}"
        )
        recipe = replace(recipe, **actual)
    if scheduler is not None:
        notes.append(
            "lr scheduler: your factory's, stepped once per step; g_lr and d_lr are the starting rates"
        )
    return recipe, notes


def sigmoid_note(discriminator: Stack, objective: GANLoss, steps: int) -> str:
    """What a D whose every output lay in (0, 1) at the first steps is, and what to do about it."""
    name = getattr(discriminator, "name", "")
    seen = (
        f"discriminator {name}: its outputs lay inside (0, 1) for every sample of every seed in the first "
        f"{steps} steps"
    )
    if isinstance(objective, FunctionLoss):
        return (
            f"{seen}, read as probabilities by your loss functions (if they take logits, remove its Sigmoid)"
        )
    return (
        f"{seen}: it ends in Sigmoid, but the {objective.name} loss takes raw scores (logits) and applies "
        "its own sigmoid, which squashes D's signal; remove the final nn.Sigmoid so D returns logits"
    )
