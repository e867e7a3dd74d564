"""A Run whose G "generates" fixed samples, so the real assertions can judge a null case built by hand.

``run_of(last, data, first=...)`` is a Run that trained nothing: ``run.samples(n)`` returns the first n of
``last`` ``[S, N, dim]`` and ``run.first_samples(n)`` those of ``first`` (kept as ``Run.initial_samples``,
as a trainer that keeps them would). It has no trace, so only the checks that read samples judge it:
``assert_mode_coverage``, ``assert_generator_learns``, ``assert_class_coverage``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from pytest_ganstab import Run, Toy, recipe, toy
from pytest_ganstab.nets import Stacks
from pytest_ganstab.run import PROBES


class FixedSamples:
    """A Stack that answers any latents ``[S, n, latent]`` with the first n of its samples ``[S, N, dim]``."""

    def __init__(self, samples: torch.Tensor) -> None:
        self.layer_names: list[str] = []
        self.values = samples.float()
        self.seeds = int(samples.shape[0])

    def parameters(self) -> list[torch.Tensor]:
        return []

    def __call__(self, latents: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        n = latents.shape[1]
        assert n <= self.values.shape[1], f"asked for {n} samples of {self.values.shape[1]}"
        return self.values[:, :n]

    def layer_grad_sq_norms(self) -> torch.Tensor:
        return torch.zeros(self.seeds, 0)


def run_of(
    last: torch.Tensor,
    data: str | Toy,
    *,
    first: torch.Tensor | None = None,
    classes: int = 0,
    name: str = "fixed samples",
) -> Run:
    """A Run of ``last.shape[0]`` seeds whose final samples are ``last`` and, if given, whose samples before
    training were ``first`` (else the Run cannot say: its G is not the recipe's)."""
    seeds = int(last.shape[0])
    stack = FixedSamples(last)
    return Run(
        recipe=recipe("nonsaturating"),
        toy=toy(data),
        seeds=list(range(seeds)),
        base_seed=0,
        steps=1,
        device="cpu",
        wall_time_s=0.0,
        trace=pd.DataFrame(columns=["seed", "step", *PROBES]),
        first_nonfinite_step=np.full(seeds, -1),
        nets=Stacks(stack, stack, from_recipe=False),  # type: ignore[arg-type]
        name=name,
        classes=classes,
        user_modules=("generator",),
        initial_samples=first,
    )
