"""The diagnosis: which cause of generator failure (docs/design.md §1) a failed check points to, and what
to try, naming recipes and knobs.

Causes are chosen from what the Run's settings show (a saturating loss, a D trained faster, a D larger
than G); remedies never suggest the recipe already in use.
"""

from __future__ import annotations

import numpy as np

from ..recipes import Recipe, defining_settings
from ..run import Run

# The causes of docs/design.md §1, as a diagnosis names them.
CAUSES = {
    1: "(1) asymmetric objectives: the saturating minimax G loss gives G no gradient once D is confident",
    2: "(2) broken balance: D is trained faster than G and wins the game",
    3: "(3) loss geometry: alternating gradient steps vanish, explode or oscillate instead of converging",
    4: "(4) capacity mismatch: D is much larger than G",
    5: "(5) complex data: mode collapse, G covers a few modes and D chases it from mode to mode",
}


MAX_REMEDIES = 6


def dominance_causes(run: Run, signal_vanished: np.ndarray, *, otherwise: int = 2) -> list[int]:
    """The causes the recipe offers for a dominant D or a vanished signal, most specific first; when the
    recipe shows none of them, ``otherwise`` (balance for dominance, geometry for a vanished signal)."""
    recipe = run.recipe
    causes = []
    if recipe.loss == "minimax" and bool(np.any(signal_vanished)):
        causes.append(1)
    if recipe.d_lr > recipe.g_lr or recipe.n_critic > 1:
        causes.append(2)
    if run.nets.from_recipe and recipe.capacity_ratio < 1:  # a user's own modules have no recipe widths
        causes.append(4)
    return causes or [otherwise]


def cause_text(causes: list[int], run: Run) -> str:
    """The causes as a diagnosis names them, with the recipe's settings that point to them."""
    recipe = run.recipe
    ahead = recipe.d_lr > recipe.g_lr or recipe.n_critic > 1
    details = {
        2: f" (d_lr {recipe.d_lr:g} vs g_lr {recipe.g_lr:g}, n_critic {recipe.n_critic})" if ahead else "",
        4: f" (G:D capacity ratio {recipe.capacity_ratio:.2f})",
    }
    return "; also ".join(CAUSES[c] + details.get(c, "") for c in dict.fromkeys(causes))


def remedies(causes: list[int], run: Run) -> tuple[str, ...]:
    """Remedies for the causes, naming recipes and knobs; never the recipe already in use."""
    recipe = run.recipe
    found: list[str] = []
    for cause in dict.fromkeys(causes):
        if cause == 1:
            found += [
                'recipe("nonsaturating"): the non-saturating G loss keeps its gradient when D is confident',
                'recipe("nonsaturating-r1"): an R1 penalty keeps D smooth near the data',
            ]
        elif cause == 2:
            if recipe.d_lr > recipe.g_lr:
                found.append(f"slow D down: d_lr ≤ g_lr (now d_lr={recipe.d_lr:g}, g_lr={recipe.g_lr:g})")
            if recipe.n_critic > 1:
                found.append(f"fewer D steps per G step: n_critic=1 (now {recipe.n_critic})")
            found += [
                'recipe("label-smoothing"): a real target of 0.9 keeps D from becoming certain',
                'recipe("nonsaturating-r1"): an R1 penalty keeps D smooth near the data',
                'recipe("wgan-gp"): a critic with a gradient penalty does not saturate',
            ]
        elif cause == 3:
            found.append(f"lower the learning rates (now g_lr={recipe.g_lr:g}, d_lr={recipe.d_lr:g})")
            if recipe.optimizer == "sgd":
                found.append('optimizer="adam" with betas=(0.5, 0.9) instead of plain SGD')
            found += [
                'recipe("nonsaturating-r1"): zero-centred penalties converge where plain GANs oscillate',
                'recipe("wgan-gp"): a gradient penalty bounds D\'s gradients',
                'recipe("hinge-sn"): spectral normalisation bounds D\'s Lipschitz constant',
                'recipe("ttur"): two time-scale updates converge under milder conditions',
            ]
        elif cause == 4:
            found += [
                f"raise the G:D capacity ratio (now {recipe.capacity_ratio:.2f}): a smaller D (d_width="
                f"{recipe.d_width}, d_depth={recipe.d_depth}) or a larger G (g_width={recipe.g_width}, "
                f"g_depth={recipe.g_depth})",
                'recipe("hinge-sn"): spectral normalisation limits what a large D can do',
            ]
        elif cause == 5:
            found += [
                'recipe("wgan-gp"): a critic with a gradient penalty spreads G over the modes',
                'recipe("ttur"): a D that keeps up with G stops it from jumping between modes',
                f"more G capacity or latent dimensions (now g_width={recipe.g_width}, "
                f"latent_dim={recipe.latent_dim})",
                "more steps: mode coverage on these toys needs thousands",
            ]
    # One line per recipe, the most specific first; never the recipe already in use.
    by_recipe: dict[str, str] = {}
    for remedy in found:
        by_recipe.setdefault(remedy.split(":")[0] if remedy.startswith("recipe(") else remedy, remedy)
    return tuple(remedy for key, remedy in by_recipe.items() if not _is_current(key, recipe))[:MAX_REMEDIES]


def _is_current(remedy_key: str, recipe: Recipe) -> bool:
    """Whether a ``recipe("name")`` remedy is already in use: judged by its defining settings, not by the
    name (``recipe("nonsaturating", loss="minimax")`` still needs the non-saturating loss)."""
    if not remedy_key.startswith('recipe("'):
        return False
    defining = defining_settings(remedy_key[len('recipe("') : -2])
    return bool(defining) and all(getattr(recipe, knob) == value for knob, value in defining.items())
