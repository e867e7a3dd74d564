"""``Run``: what the engine hands on: the per-seed trace, the trained generators, and the timing."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from . import rng
from .conditional import build_conditional_mlps, eval_labels
from .nets import Stack, Stacks, build_mlps
from .recipes import Recipe
from .toys import Toy

if TYPE_CHECKING:
    from pathlib import Path

    from .findings import Finding
    from .losses import GANLoss

# Trace columns besides seed and step, one row per seed and recorded step; the metrics read these names.
PROBES = (
    "d_loss",  # D's objective without its regulariser (last critic step of the step)
    "d_penalty",  # the weighted regulariser (gradient penalty, R1, R2), 0 when none
    "g_loss",
    "d_real",  # D's mean output on real: a probability for classifier losses, a raw score for critics
    "d_fake",  # the same on fake
    "d_auc",  # AUC of D's scores separating the real batch from the fake batch (1 = perfectly)
    "g_grad_norm",  # L2 norm of G's whole gradient
    "d_grad_norm",  # L2 norm of D's whole gradient (last critic step)
    "g_signal",  # G's learning signal: mean over the batch of ‖∂ℓ_G/∂x‖ at each generated sample
    "nonfinite",  # 1 when a loss or gradient of that seed was NaN/Inf at that step
)


@dataclass
class Run:
    """S seeds of one recipe trained on one toy. ``trace`` has one row per (seed, recorded step)."""

    recipe: Recipe
    toy: Toy
    seeds: list[int]
    base_seed: int
    steps: int
    device: str
    wall_time_s: float
    trace: pd.DataFrame
    first_nonfinite_step: np.ndarray  # per seed, -1 when the seed stayed finite (checked every step)
    nets: Stacks = field(repr=False)  # the trained G and D of every seed
    name: str | None = None
    # Every assert_* helper appends what it judged, so summaries and reports show verdicts.
    findings: list[Finding] = field(default_factory=list)
    classes: int = 0  # a conditional GAN's classes (G(z, y), D(x, y)); 0 for an unconditional one
    objective: GANLoss | None = field(default=None, repr=False)  # the loss trained, when known
    # D's outputs all lay in (0, 1) at the first steps while the loss takes logits: D ends in Sigmoid.
    sigmoid_d: bool = False
    user_modules: tuple[str, ...] = ()  # "generator", "discriminator": the networks that are the user's
    own_loop: bool = False  # recorded by a Monitor from the user's own training loop, not by the engine
    # G's samples before its first step from ``samples(n)``'s fixed latents, ``[S, n, dim]``, when the trainer
    # kept them (``first_samples`` rebuilds them for the recipe's own G otherwise).
    initial_samples: torch.Tensor | None = field(default=None, repr=False)

    @property
    def notes(self) -> list[str]:
        """What the engine wants a person to know (e.g. that seeds ran one after another, and why)."""
        return self.nets.notes

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    @property
    def seed_steps_per_s(self) -> float:
        return self.n_seeds * self.steps / self.wall_time_s if self.wall_time_s > 0 else float("nan")

    @property
    def label(self) -> str:
        return self.name or f"{self.recipe.name} on {self.toy.name}"

    def samples(self, n: int = 2500, *, eval_mode: bool = False) -> torch.Tensor:
        """Final samples ``[S, n, dim]`` from fixed latents: the same latents for every call and run.

        G runs as it trained (BatchNorm normalises by the n latents' own statistics) unless ``eval_mode``,
        which runs it as ``G.eval()`` would: BatchNorm on its running statistics, Dropout off. Either way
        drawing samples changes nothing in the Run (running statistics and random streams are restored).
        """
        return generate(self.nets.generator, self._sampling(n, "samples"), eval_mode=eval_mode)

    @property
    def has_first_samples(self) -> bool:
        """Whether ``first_samples`` can answer: kept samples, or a G the recipe built (so can rebuild)."""
        return self.initial_samples is not None or not ("generator" in self.user_modules or self.own_loop)

    def first_samples(self, n: int = 2500) -> torch.Tensor | None:
        """G's samples before its first step, ``[S, n, dim]``, from ``samples(n)``'s latents, so each row is
        the same latent before and after training. Kept ones (``initial_samples``) when they hold ``n``; else
        the recipe's own G rebuilt at its initial weights, which depend on the seeds' keys alone. None for a
        user's G or own loop whose trainer kept none."""
        if self.initial_samples is not None and self.initial_samples.shape[1] >= n:
            return self.initial_samples[:, :n].float()
        if "generator" in self.user_modules or self.own_loop:
            return None
        keys = rng.seed_keys(self.base_seed, self.seeds, self.device)
        nets = (
            build_conditional_mlps(self.recipe, self.toy, keys, self.classes)
            if self.classes
            else build_mlps(self.recipe, self.toy, keys)
        )
        return generate(nets.generator, self._sampling(n, "first_samples"))

    def _sampling(self, n: int, what: str) -> Sampling:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{what}: n={n!r} must be an integer of at least 1")
        return Sampling(self.base_seed, self.seeds, self.device, self.recipe.latent_dim, self.classes, n)

    def sample_labels(self, n: int = 2500) -> torch.Tensor:
        """The classes ``samples(n)`` asks a conditional G for, ``[n]``: every class in turn."""
        if not self.classes:
            raise ValueError(f"run {self.label!r} is not conditional: its samples have no labels")
        return eval_labels(n, self.classes, self.device)

    def seed_trace(self, seed: int) -> pd.DataFrame:
        """The trace of one seed (by its index, as in ``seeds``)."""
        if seed not in self.seeds:
            raise KeyError(f"seed {seed} is not in this run; its seeds are {self.seeds}")
        return self.trace[self.trace["seed"] == seed].reset_index(drop=True)

    def diagnose(self, **thresholds: Any) -> list[Finding]:
        """Every finding of ``assert_stable`` as data, without raising."""
        from .assertions import diagnose

        return diagnose(self, **thresholds)

    def report(self, directory: str | Path) -> Path:
        """Write this Run's report (samples, curves, findings) under ``directory``; return its index page."""
        from .report import write_report

        return write_report([self], directory)

    def to_tensorboard(self, directory: str | Path) -> list[Path]:
        """Write TensorBoard event files, one run per seed (``directory/seed-<k>``), every probe and layer
        norm a scalar named by the probe; returns the run folders. Needs ``pip install tensorboard``."""
        from .traces import write_tensorboard

        return write_tensorboard(self, directory)

    def describe(self) -> dict[str, Any]:
        """Plain facts for summaries and history files."""
        return {
            "recipe": self.recipe.name,
            **self.toy.describe(),
            "seeds": self.n_seeds,
            "steps": self.steps,
            "device": self.device,
            "wall_time_s": self.wall_time_s,
            "seed_steps_per_s": self.seed_steps_per_s,
            "nonfinite_seeds": int((self.first_nonfinite_step >= 0).sum()),
        }

    def __repr__(self) -> str:
        return (
            f"<Run {self.label}: {self.n_seeds} seeds × {self.steps} steps on {self.device}, "
            f"{self.seed_steps_per_s:,.0f} seed-steps/s>"
        )


@dataclass(frozen=True)
class Sampling:
    """What fixes a Run's evaluation samples: the seeds' keys, G's latent size, the classes, how many."""

    base_seed: int
    seeds: Sequence[int]
    device: str | torch.device
    latent_dim: int
    classes: int
    n: int


@torch.no_grad()
def generate(generator: Stack, at: Sampling, *, eval_mode: bool = False) -> torch.Tensor:
    """``generator``'s samples ``[S, n, dim]`` from the fixed evaluation latents of ``at``, leaving it as
    it was: a stack of user modules restores its buffers and random streams (``sampling``)."""
    keys = rng.seed_keys(at.base_seed, at.seeds, at.device)
    latents = rng.normal(keys, rng.EVAL, (at.n, at.latent_dim))
    sampling = getattr(generator, "sampling", None)
    with sampling(eval_mode) if sampling is not None else contextlib.nullcontext():
        if not at.classes:
            return generator(latents).float()
        labels = eval_labels(at.n, at.classes, latents.device).expand(len(at.seeds), -1)
        return generator(latents, labels).float()  # type: ignore[call-arg]
