"""The engine: trains S seeds of one recipe at once on one device, recording probes every step.

All seeds' losses are summed and back-propagated once; since no operation mixes seeds and the
optimisers are elementwise, this is exactly S independent trainings (docs/design.md §5). Probes are written
into a preallocated device buffer, so a step never waits on the host.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import rng
from .devices import resolve_device, synchronize
from .losses import LOSSES, GANLoss, get_loss, gradient_penalty, zero_centred_penalty
from .nets import Stacks, build_mlps
from .optimizers import make_optimizer
from .recipes import Recipe, list_recipes
from .recipes import recipe as get_recipe
from .run import PROBES, Run
from .toys import Toy
from .toys import toy as get_toy

Progress = Callable[[int, int], None]


def seed_indices(seeds: int | Sequence[int]) -> list[int]:
    """``seeds=8`` means seeds 0..7; a list picks seeds by index (``seeds=[5]`` reruns seed 5 alone)."""
    if isinstance(seeds, bool | str) or not isinstance(seeds, int | Sequence):
        raise TypeError(f"seeds={seeds!r}: give a count (seeds=8) or seed indices (seeds=[3, 5])")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds={seeds}: train at least 1 seed (seeds=8 is a good default)")
        return list(range(seeds))
    indices = [int(k) for k in seeds]
    if not indices or min(indices) < 0 or len(set(indices)) != len(indices):
        raise ValueError(
            f"seeds={list(seeds)!r}: seed indices must be distinct, non-negative, and at least one"
        )
    return indices


def train(
    recipe: str | Recipe = "nonsaturating",
    data: str | Toy = "ring8",
    *,
    seeds: int | Sequence[int] = 8,
    steps: int = 1000,
    device: str | torch.device = "cpu",
    seed: int = 0,
    record_every: int = 1,
    probes: bool = True,
    progress: Progress | None = None,
    generator: Any = None,
    discriminator: Any = None,
    loss: str | GANLoss | None = None,
    name: str | None = None,
) -> Run:
    """Train ``seeds`` independent seeds of ``recipe`` on ``data`` for ``steps`` steps and return the Run.

    Seed k's initialisation, noise and data depend only on (``seed``, k). ``record_every`` thins the
    trace of long runs; ``probes=False`` records nothing (for measuring what probes cost).
    A NaN or Inf in one seed is recorded in ``Run.first_nonfinite_step`` and the trace; it never stops
    the other seeds.

    ``generator`` and ``discriminator`` replace the recipe's MLPs with your own ``torch.nn.Module``
    classes or factories (one seed's modules; see ``pytest_ganstab.usermodules``); ``loss`` replaces
    the recipe's loss by name or with a ``GANLoss``.
    """
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe={recipe!r}: give a recipe name ({', '.join(list_recipes())}) or a Recipe")
    toy = get_toy(data) if isinstance(data, str) else data
    if not isinstance(toy, Toy):
        raise TypeError(f"data={data!r}: give a toy name or a Toy (see pytest_ganstab.list_toys())")
    indices = seed_indices(seeds)
    for key, value in (("steps", steps), ("record_every", record_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}={value!r}: must be an integer of at least 1")
    dev = resolve_device(device)
    keys = rng.seed_keys(seed, indices, dev)
    objective = get_loss(loss if loss is not None else recipe.loss)
    if objective.name in LOSSES and objective is LOSSES[objective.name]:
        # The Run's recipe says which objective was trained (history, diagnoses); it re-validates too.
        recipe = replace(recipe, loss=objective.name)
    if generator is None and discriminator is None:
        nets = build_mlps(recipe, toy, keys)
    else:
        from .usermodules import build_user_stacks

        nets = build_user_stacks(generator, discriminator, recipe, toy, seed, indices, dev)
        nets.from_recipe = False
    if objective.name not in LOSSES or objective is not LOSSES[objective.name]:
        nets.notes.append(f"loss: your GANLoss {objective.name!r} replaced the recipe's {recipe.loss!r}")
    loop = _Loop(recipe, objective, toy, nets, keys, steps, record_every if probes else None)
    synchronize(dev)
    started = time.perf_counter()
    loop.run(progress)
    synchronize(dev)
    wall = time.perf_counter() - started
    return Run(
        recipe=recipe,
        toy=toy,
        seeds=indices,
        base_seed=seed,
        steps=steps,
        device=str(dev),
        wall_time_s=wall,
        trace=loop.trace(indices),
        first_nonfinite_step=loop.first_nonfinite.cpu().numpy(),
        nets=nets,
        name=name,
    )


class _Loop:
    """One training loop over stacked seeds; holds the optimisers and the probe buffer."""

    def __init__(
        self,
        recipe: Recipe,
        loss: GANLoss,
        toy: Toy,
        nets: Stacks,
        keys: torch.Tensor,
        steps: int,
        record_every: int | None,
    ) -> None:
        self.recipe, self.loss, self.toy, self.keys, self.steps = recipe, loss, toy, keys, steps
        self.g, self.d = nets.generator, nets.discriminator
        self.opt_g = make_optimizer(self.g.parameters(), recipe, recipe.g_lr)
        self.opt_d = make_optimizer(self.d.parameters(), recipe, recipe.d_lr)
        self.record_steps = [] if record_every is None else _record_steps(steps, record_every)
        self.g_layers = len(self.g.layer_names)
        self.d_layers = len(self.d.layer_names)
        width = len(PROBES) + self.g_layers + self.d_layers
        device = keys.device
        self.buffer = torch.full((len(self.record_steps), keys.shape[0], width), float("nan"), device=device)
        self.first_nonfinite = torch.full((keys.shape[0],), -1, dtype=torch.int64, device=device)

    def run(self, progress: Progress | None) -> None:
        record_at = dict(zip(self.record_steps, range(len(self.record_steps)), strict=True))
        report_every = max(1, self.steps // 100)
        for step in range(self.steps):
            self.step(step, record_at.get(step))
            if progress is not None and ((step + 1) % report_every == 0 or step + 1 == self.steps):
                progress(step + 1, self.steps)

    def step(self, step: int, record: int | None) -> None:
        recipe, loss, keys = self.recipe, self.loss, self.keys
        batch = recipe.batch_size
        for critic in range(recipe.n_critic):
            real = self.toy.sample_stacked(keys, rng.stream_id(rng.REAL, step, critic), batch)
            latents = rng.normal(keys, rng.stream_id(rng.LATENT_D, step, critic), (batch, recipe.latent_dim))
            with torch.no_grad():
                fake = self.g(latents)
            real_scores = self.d(real).squeeze(-1)
            fake_scores = self.d(fake).squeeze(-1)
            d_loss = loss.d_loss(real_scores, fake_scores, recipe.real_label)
            penalty = self._penalty(real, fake, step, critic)
            self.opt_d.zero_grad(set_to_none=True)
            (d_loss + penalty).sum().backward()  # type: ignore[no-untyped-call]
            self.opt_d.step()
            if recipe.clip is not None:
                with torch.no_grad():
                    for param in self.d.parameters():
                        param.clamp_(-recipe.clip, recipe.clip)

        latents = rng.normal(keys, rng.stream_id(rng.LATENT_G, step), (batch, recipe.latent_dim))
        fake = self.g(latents)
        g_scores = self.d(fake).squeeze(-1)
        g_loss = loss.g_loss(g_scores)
        g_params = self.g.parameters()
        # autograd.grad, not backward: D's parameter gradients are not needed for G's step.
        fake_grad, *param_grads = torch.autograd.grad(g_loss.sum(), [fake, *g_params])
        for param, grad in zip(g_params, param_grads, strict=True):
            param.grad = grad
        self.opt_g.step()

        bad = ~torch.isfinite(d_loss + penalty + g_loss)
        if record is not None:
            bad |= self._record(record, d_loss, penalty, g_loss, real_scores, fake_scores, fake_grad, batch)
        self.first_nonfinite = torch.where(bad & (self.first_nonfinite < 0), step, self.first_nonfinite)

    def _penalty(self, real: torch.Tensor, fake: torch.Tensor, step: int, critic: int) -> torch.Tensor:
        recipe = self.recipe
        penalty = torch.zeros(self.keys.shape[0], device=self.keys.device)
        if recipe.gp_weight:
            mix = rng.uniform(self.keys, rng.stream_id(rng.MIX, step, critic), (recipe.batch_size,))
            penalty = penalty + recipe.gp_weight * gradient_penalty(self.d, real, fake, mix)
        if recipe.r1_weight:
            penalty = penalty + recipe.r1_weight * zero_centred_penalty(self.d, real)
        if recipe.r2_weight:
            penalty = penalty + recipe.r2_weight * zero_centred_penalty(self.d, fake)
        return penalty

    @torch.no_grad()
    def _record(
        self,
        row: int,
        d_loss: torch.Tensor,
        penalty: torch.Tensor,
        g_loss: torch.Tensor,
        real_scores: torch.Tensor,
        fake_scores: torch.Tensor,
        fake_grad: torch.Tensor,
        batch: int,
    ) -> torch.Tensor:
        """Write one trace row; return which seeds saw a non-finite value (gradients included)."""
        g_layers = self.g.layer_grad_sq_norms()
        d_layers = self.d.layer_grad_sq_norms()
        g_norm = g_layers.sum(1).sqrt()
        d_norm = d_layers.sum(1).sqrt()
        # ∂(mean loss)/∂x_i is ∂ℓ_i/∂x_i / B: scale back to a per-sample signal, independent of B.
        signal = fake_grad.flatten(2).norm(dim=-1).mean(-1) * batch
        nonfinite = ~torch.isfinite(d_loss + g_loss + g_norm + d_norm + signal)
        values = [
            d_loss,
            penalty,
            g_loss,
            self.loss.confidence(real_scores).mean(-1),
            self.loss.confidence(fake_scores).mean(-1),
            batch_auc(real_scores, fake_scores),
            g_norm,
            d_norm,
            signal,
            nonfinite.float(),
        ]
        self.buffer[row, :, : len(PROBES)] = torch.stack(values, dim=1)
        self.buffer[row, :, len(PROBES) :] = torch.cat((g_layers, d_layers), dim=1).sqrt()
        return nonfinite

    def trace(self, seeds: list[int]) -> pd.DataFrame:
        data = self.buffer.cpu().numpy()  # the one host transfer of the run
        records, n_seeds, _ = data.shape
        columns = [
            *PROBES,
            *(f"g_grad_norm.{name}" for name in self.g.layer_names),
            *(f"d_grad_norm.{name}" for name in self.d.layer_names),
        ]
        frame = pd.DataFrame(data.reshape(records * n_seeds, len(columns)), columns=columns)
        frame.insert(0, "step", np.repeat(np.asarray(self.record_steps, dtype=np.int64), n_seeds))
        frame.insert(0, "seed", np.tile(np.asarray(seeds, dtype=np.int64), records))
        frame["nonfinite"] = frame["nonfinite"].fillna(1).astype(bool)
        return frame.sort_values(["seed", "step"], kind="stable").reset_index(drop=True)


def batch_auc(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """P(score_real > score_fake) + ½ P(tie) per seed, exactly, from ``[S, B]`` scores, in O(B log B)."""
    fake_sorted = fake.sort(dim=-1).values.contiguous()
    real = real.contiguous()
    below = torch.searchsorted(fake_sorted, real, side="left")
    at_or_below = torch.searchsorted(fake_sorted, real, side="right")
    return (below + at_or_below).to(real.dtype).mean(-1) / (2 * fake.shape[-1])


def _record_steps(steps: int, every: int) -> list[int]:
    recorded = list(range(0, steps, every))
    if recorded[-1] != steps - 1:
        recorded.append(steps - 1)  # always keep the final state
    return recorded
