"""The diagnosis: which cause of generator failure (docs/design.md §1) a failed check points to, and what
to try, naming recipes and knobs.

Causes are chosen from what the Run's settings show (a saturating loss, a D trained faster, a D larger
than G, a D ending in Sigmoid), and never cite a setting that does not hold; remedies never suggest the
recipe already in use. For the user's own modules or loop, remedies name techniques and knobs that reach
them, not recipe widths or recipes their loop cannot switch to.
"""

from __future__ import annotations

import numpy as np

from ..losses import saturates
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


# Cause 2 where the settings do not train D faster: D wins all the same, and nothing faster is cited.
BALANCE_AT_EQUAL_SETTINGS = "(2) broken balance: D wins the game although it is not trained faster than G"
SIGMOID_D = (
    "D ends in Sigmoid: its outputs lay inside (0, 1) for every sample of every seed at the first steps, "
    "while the loss takes raw scores (logits) and applies its own sigmoid, which squashes D's signal"
)
SIGMOID_FIX = "remove D's final nn.Sigmoid (or torch.sigmoid) so that it returns raw scores (logits)"
# A G that does not learn, where the evidence is about the training's plumbing rather than one of the causes.
G_STILL = (
    "G's samples did not move: G was never updated (a learning rate of 0, an optimiser that does not hold "
    "G's parameters, parameters with requires_grad=False) or never received a gradient"
)
D_STILL = (
    "D never learned to tell real from fake (its AUC stayed at or below chance), so its gradient never "
    "pointed G to the data: D was not updated (a learning rate of 0, an optimiser that does not hold D's "
    "parameters) or it cannot separate anything (a constant output)"
)
# A recipe remedy as a technique, for a user's own loop, which cannot switch recipes.
TECHNIQUES = {
    "nonsaturating": "the non-saturating G loss, -log D(G(z))",
    "nonsaturating-r1": "an R1 penalty on real samples, γ/2·E‖∇D(x)‖²",
    "label-smoothing": "one-sided label smoothing",
    "wgan-gp": "a WGAN critic with a gradient penalty",
    "hinge-sn": "spectral normalisation on D's layers (torch.nn.utils.parametrizations.spectral_norm)",
    "ttur": "two time-scale updates (D's learning rate above G's)",
}

MAX_REMEDIES = 6


def dominance_causes(run: Run, signal_vanished: np.ndarray, *, otherwise: int = 2) -> list[int]:
    """The causes the recipe offers for a dominant D or a vanished signal, most specific first; when the
    recipe shows none of them, ``otherwise`` (balance for dominance, geometry for a vanished signal)."""
    recipe = run.recipe
    causes = []
    saturating = recipe.loss == "minimax" or (run.objective is not None and saturates(run.objective))
    if saturating and bool(np.any(signal_vanished)):
        causes.append(1)
    if recipe.d_lr > recipe.g_lr or recipe.n_critic > 1:
        causes.append(2)
    if run.nets.from_recipe and recipe.capacity_ratio < 1:  # a user's own modules have no recipe widths
        causes.append(4)
    return causes or [otherwise]


def learning_leads(run: Run, still: bool, d_still: bool) -> list[str]:
    """What a G that does not learn shows before any numbered cause: its samples did not move at all, or D
    never learned (both may hold: a D with a constant output gives G no gradient)."""
    return [text for text, shown in ((G_STILL, still), (D_STILL, d_still)) if shown]


def cause_text(causes: list[int], run: Run, leads: list[str] | None = None) -> str:
    """The causes as a diagnosis names them, with the recipe's settings that point to them; a D that ends in
    Sigmoid (when the Run found one) and then ``leads`` (evidence that names no numbered cause) first."""
    recipe = run.recipe
    ahead = _d_ahead(recipe)
    texts = {c: CAUSES[c] for c in causes}
    if 2 in texts:
        settings = f"d_lr {recipe.d_lr:g} vs g_lr {recipe.g_lr:g}, n_critic {recipe.n_critic}"
        texts[2] = f"{CAUSES[2]} ({settings})" if ahead else f"{BALANCE_AT_EQUAL_SETTINGS} ({settings})"
    if 4 in texts:
        texts[4] += f" (G:D capacity ratio {recipe.capacity_ratio:.2f})"
    named = [*(leads or []), *(texts[c] for c in dict.fromkeys(causes))]
    return "; also ".join([SIGMOID_D, *named] if run.sigmoid_d else named)


def _d_ahead(recipe: Recipe) -> bool:
    return recipe.d_lr > recipe.g_lr or recipe.n_critic > 1


def remedies(causes: list[int], run: Run, leads: list[str] | None = None) -> tuple[str, ...]:
    """Remedies for the causes (and for ``leads``, first), naming recipes and knobs; never the recipe
    already in use."""
    recipe = run.recipe
    user_g, user_d = "generator" in run.user_modules, "discriminator" in run.user_modules
    found: list[str] = [SIGMOID_FIX] if run.sigmoid_d else []
    if G_STILL in (leads or []):
        found.append(
            f"check G's optimiser: it must hold G's parameters at a positive learning rate (the Run says "
            f"g_lr={recipe.g_lr:g}; a scheduler may have set it to 0), and they must require grad"
        )
    if D_STILL in (leads or []):
        found.append(
            f"check D's optimiser: it must hold D's parameters at a positive learning rate (the Run says "
            f"d_lr={recipe.d_lr:g}), and D's output must depend on its input"
        )
    for cause in dict.fromkeys(causes):
        if cause == 1:
            found += [
                'recipe("nonsaturating"): the non-saturating G loss keeps its gradient when D is confident',
                'recipe("nonsaturating-r1"): an R1 penalty keeps D smooth near the data',
            ]
        elif cause == 2:
            if recipe.d_lr > recipe.g_lr:
                found.append(f"slow D down: d_lr ≤ g_lr (now d_lr={recipe.d_lr:g}, g_lr={recipe.g_lr:g})")
            elif not _d_ahead(recipe):
                found.append(f"slow D down: d_lr below g_lr (now both {recipe.d_lr:g})")
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
            capacity = (
                f"more G capacity or latent dimensions (now latent_dim={recipe.latent_dim})"
                if user_g
                else f"more G capacity or latent dimensions (now g_width={recipe.g_width}, "
                f"latent_dim={recipe.latent_dim})"
            )
            if run.classes:
                found += [
                    "make G and D read the label: concatenate y (one-hot or an embedding) to G's latent and "
                    "to D's input (Mirza & Osindero 2014), or a projection D (Miyato & Koyama 2018)",
                    "make G read its latent within a class: z must reach G's layers beside y; a "
                    "mode-seeking term (Mao et al. 2019) spreads each class's samples",
                ]
            found += [
                'recipe("wgan-gp"): a critic with a gradient penalty spreads G over the modes',
                'recipe("ttur"): a D that keeps up with G stops it from jumping between modes',
                capacity,
                "more steps: mode coverage on these toys needs thousands",
            ]
    # One line per recipe, the most specific first; never the recipe already in use.
    by_recipe: dict[str, str] = {}
    for remedy in found:
        by_recipe.setdefault(remedy.split(":")[0] if remedy.startswith("recipe(") else remedy, remedy)
    kept = [
        _for_user(key, remedy, run, user_d)
        for key, remedy in by_recipe.items()
        if not _is_current(key, recipe)
    ]
    return tuple(kept)[:MAX_REMEDIES]


def _for_user(key: str, remedy: str, run: Run, user_d: bool) -> str:
    """A recipe remedy, reworded where it cannot reach the user's own loop or discriminator as written: an
    own loop cannot switch recipes (it gets the technique), and recipe("hinge-sn") adds no spectral norm to
    a user's D (it gets the layer wrapper)."""
    if not key.startswith('recipe("'):
        return remedy
    name = key[len('recipe("') : -2]
    reason = remedy.split(": ", 1)[1] if ": " in remedy else ""
    if run.own_loop and name in TECHNIQUES:
        return f"{TECHNIQUES[name]}: {reason}" if reason else TECHNIQUES[name]
    if user_d and name == "hinge-sn":
        return (
            f"the hinge loss with {TECHNIQUES['hinge-sn']} on your D: the recipe cannot add it to your module"
        )
    return remedy


def _is_current(remedy_key: str, recipe: Recipe) -> bool:
    """Whether a ``recipe("name")`` remedy is already in use: judged by its defining settings, not by the
    name (``recipe("nonsaturating", loss="minimax")`` still needs the non-saturating loss)."""
    if not remedy_key.startswith('recipe("'):
        return False
    defining = defining_settings(remedy_key[len('recipe("') : -2])
    return bool(defining) and all(getattr(recipe, knob) == value for knob, value in defining.items())
