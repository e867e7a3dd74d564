"""The engine: trains S seeds of one recipe at once on one device, recording probes every step.

All seeds' losses are summed and back-propagated once; since no operation mixes seeds and the
optimisers are elementwise, this is exactly S independent trainings (docs/design.md §5). Probes are written
into a preallocated device buffer, so a step never waits on the host.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import torch

from . import rng
from .assemble import build_networks, choose_loss, optimizer_notes, sigmoid_note
from .data import as_toy
from .devices import resolve_device, synchronize
from .losses import GANLoss, gradient_penalty, zero_centred_penalty
from .nets import Stacks
from .optimizers import OptimizerFactory, SchedulerFactory, make_optimizer, make_scheduler
from .probes import SIGMOID_STEPS, probe_row, trace_frame
from .recipes import Recipe, list_recipes
from .recipes import recipe as get_recipe
from .run import PROBES, Run, Sampling, generate
from .thresholds import DEFAULTS
from .toys import Toy

Progress = Callable[[int, int], None]


def seed_indices(seeds: int | Sequence[int]) -> list[int]:
    """``seeds=8`` means seeds 0..7; a list picks seeds by index (``seeds=[5]`` reruns seed 5 alone)."""
    return rng.seed_indices(seeds)


def train(
    recipe: str | Recipe = "nonsaturating",
    data: Any = "ring8",
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
    loss: Any = None,
    name: str | None = None,
    conditional: bool = False,
    optimizer: OptimizerFactory | None = None,
    scheduler: SchedulerFactory | None = None,
    score: Any = None,
) -> Run:
    """Train ``seeds`` independent seeds of ``recipe`` on ``data`` for ``steps`` steps and return the Run.

    Seed k's initialisation, noise and data depend only on (``seed``, k). ``record_every`` thins the
    trace of long runs; ``probes=False`` records nothing (for measuring what probes cost).
    A NaN or Inf in one seed is recorded in ``Run.first_nonfinite_step`` and the trace; it never stops
    the other seeds.

    ``data``: a toy name or ``Toy``, or your own data: a tensor ``[N, ...]``, ``(x, labels)``, a
    ``Dataset``/``DataLoader`` or a function ``f(n)`` (see ``pytest_ganstab.data.as_toy``).
    ``generator`` and ``discriminator`` replace the recipe's MLPs with your own ``torch.nn.Module``
    classes or factories (one seed's modules; see ``pytest_ganstab.user``); ``score`` picks D's score
    from a tuple it returns (an index, a key or a callable). ``conditional=True`` trains ``G(z, y)`` and
    ``D(x, y)`` on labelled data (a toy's mode is its class). ``loss`` is a loss name, a ``GANLoss`` or
    a pair of plain functions ``(d(fake_scores, real_scores), g(fake_scores))``. ``optimizer`` is a
    factory ``f(params, lr)`` (lr: the recipe's g_lr or d_lr) building any elementwise ``torch.optim``
    optimiser; ``scheduler`` a factory ``f(optimizer)`` of an lr scheduler, stepped once per step (the
    recipe's ``lr_decay`` is one: both rates fall linearly to that share of themselves over ``steps``).
    """
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe={recipe!r}: give a recipe name ({', '.join(list_recipes())}) or a Recipe")
    toy = as_toy(data)
    indices = rng.seed_indices(seeds)
    seed = rng.check_base_seed(seed)
    for key, value in (("steps", steps), ("record_every", record_every)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}={value!r}: must be an integer of at least 1")
    dev = resolve_device(device)
    keys = rng.seed_keys(seed, indices, dev)
    recipe, objective, loss_note = choose_loss(recipe, loss)
    nets, recipe, classes = build_networks(
        recipe, toy, keys, seed, indices, generator, discriminator, conditional, score
    )
    nets.notes += [note for note in (getattr(toy, "note", ""), loss_note) if note]
    opt_g = make_optimizer(nets.generator.parameters(), recipe, recipe.g_lr, optimizer, seeds=len(indices))
    opt_d = make_optimizer(
        nets.discriminator.parameters(), recipe, recipe.d_lr, optimizer, seeds=len(indices)
    )
    recipe, notes = optimizer_notes(recipe, opt_g, opt_d, optimizer, scheduler)
    nets.notes += notes
    if recipe.lr_decay != 1.0:
        scheduler = _linear_decay(recipe.lr_decay, steps, scheduler)
    schedulers = [make_scheduler(scheduler, opt, "scheduler") for opt in (opt_g, opt_d)]
    loop = _Loop(
        recipe,
        objective,
        toy,
        nets,
        keys,
        steps,
        record_every if probes else None,
        classes=classes,
        optimizers=(opt_g, opt_d),
        schedulers=[s for s in schedulers if s is not None],
    )
    initial = None
    if (
        generator is not None
    ):  # the recipe's own G can be rebuilt from its keys (Run.first_samples); a user's not
        at = Sampling(seed, indices, dev, recipe.latent_dim, classes, DEFAULTS.samples)
        initial = generate(nets.generator, at)
    synchronize(dev)
    started = time.perf_counter()
    loop.run(progress)
    synchronize(dev)
    wall = time.perf_counter() - started
    trace = loop.trace(indices)
    user = tuple(role for role, spec in (("generator", generator), ("discriminator", discriminator)) if spec)
    # A D whose graph ends in a sigmoid and whose every output lay in (0, 1): the evidence needs both, as
    # a small logit D's outputs can all be positive and small at first (a bias-dominated start).
    sigmoid = bool(getattr(nets.discriminator, "ends_in_sigmoid", False)) and bool(loop.unit_outputs.cpu())
    if sigmoid:
        nets.notes.append(sigmoid_note(nets.discriminator, objective, min(steps, SIGMOID_STEPS)))
    return Run(
        recipe=recipe,
        toy=toy,
        seeds=indices,
        base_seed=seed,
        steps=steps,
        device=str(dev),
        wall_time_s=wall,
        trace=trace,
        first_nonfinite_step=loop.first_nonfinite.cpu().numpy(),
        nets=nets,
        name=name,
        classes=classes,
        objective=objective,
        sigmoid_d=sigmoid and not _by_function(objective),
        user_modules=user,
        initial_samples=initial,
    )


def _linear_decay(share: float, steps: int, scheduler: SchedulerFactory | None) -> SchedulerFactory:
    """The recipe's ``lr_decay``: both rates fall linearly from g_lr and d_lr to ``share`` of them over
    ``steps`` (torch's ``LinearLR``); a user's own ``scheduler`` as well would be a second schedule."""
    if scheduler is not None:
        raise ValueError(
            f"lr_decay={share!r} and scheduler= are two lr schedules; give one (lr_decay={share!r} "
            f"is scheduler=lambda opt: torch.optim.lr_scheduler.LinearLR(opt, 1.0, {share!r}, "
            f"total_iters={steps}))"
        )

    def decay(optimizer: torch.optim.Optimizer) -> Any:
        return torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, share, total_iters=steps)

    return decay


def _by_function(loss: GANLoss) -> bool:
    """A loss of plain functions may be written for probabilities, where a final Sigmoid is intended."""
    return hasattr(loss, "d_function")


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
        *,
        classes: int = 0,
        optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer] | None = None,
        schedulers: Sequence[Any] = (),
    ) -> None:
        self.recipe, self.loss, self.toy, self.keys, self.steps = recipe, loss, toy, keys, steps
        self.g, self.d = nets.generator, nets.discriminator
        self.classes = classes
        if optimizers is None:
            optimizers = (
                make_optimizer(self.g.parameters(), recipe, recipe.g_lr),
                make_optimizer(self.d.parameters(), recipe, recipe.d_lr),
            )
        self.opt_g, self.opt_d = optimizers
        self.schedulers = list(schedulers)
        self.record_steps = [] if record_every is None else _record_steps(steps, record_every)
        self.g_layers = len(self.g.layer_names)
        self.d_layers = len(self.d.layer_names)
        width = len(PROBES) + self.g_layers + self.d_layers
        device = keys.device
        self.buffer = torch.full((len(self.record_steps), keys.shape[0], width), float("nan"), device=device)
        self.first_nonfinite = torch.full((keys.shape[0],), -1, dtype=torch.int64, device=device)
        # Whether every score D gave in the first steps lay inside (0, 1): a D that ends in Sigmoid.
        self.unit_outputs = torch.ones((), dtype=torch.bool, device=device)

    def run(self, progress: Progress | None) -> None:
        record_at = dict(zip(self.record_steps, range(len(self.record_steps)), strict=True))
        report_every = max(1, self.steps // 100)
        for step in range(self.steps):
            self.step(step, record_at.get(step))
            for scheduler in self.schedulers:
                scheduler.step()
            if progress is not None and ((step + 1) % report_every == 0 or step + 1 == self.steps):
                progress(step + 1, self.steps)

    def step(self, step: int, record: int | None) -> None:
        recipe, loss, keys = self.recipe, self.loss, self.keys
        batch = recipe.batch_size
        for critic in range(recipe.n_critic):
            real, labels = self._real(step, critic, batch)
            latents = rng.normal(keys, rng.stream_id(rng.LATENT_D, step, critic), (batch, recipe.latent_dim))
            with torch.no_grad():
                fake = self.g(latents, *labels)  # a conditional D sees fakes of the real batch's classes
            real_scores = self.d(real, *labels).squeeze(-1)
            fake_scores = self.d(fake, *labels).squeeze(-1)
            if step < SIGMOID_STEPS:
                inside = ((real_scores > 0) & (real_scores < 1)).all() & (
                    (fake_scores > 0) & (fake_scores < 1)
                ).all()
                self.unit_outputs = self.unit_outputs & inside
            d_loss = loss.d_loss(real_scores, fake_scores, recipe.real_label)
            penalty = self._penalty(real, fake, labels, step, critic)
            self.opt_d.zero_grad(set_to_none=True)
            (d_loss + penalty).sum().backward()  # type: ignore[no-untyped-call]
            self.opt_d.step()
            if recipe.clip is not None:
                with torch.no_grad():
                    for param in self.d.parameters():
                        param.clamp_(-recipe.clip, recipe.clip)

        latents = rng.normal(keys, rng.stream_id(rng.LATENT_G, step), (batch, recipe.latent_dim))
        labels = self._fake_labels(step, batch)
        fake = self.g(latents, *labels)
        g_scores = self.d(fake, *labels).squeeze(-1)
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

    def _real(self, step: int, critic: int, batch: int) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The real batch, with its classes for a conditional GAN."""
        stream = rng.stream_id(rng.REAL, step, critic)
        if not self.classes:
            return self.toy.sample_stacked(self.keys, stream, batch), ()
        real, labels = self.toy.sample_labelled_stacked(self.keys, stream, batch)
        return real, (labels,)

    def _fake_labels(self, step: int, batch: int) -> tuple[torch.Tensor, ...]:
        """The classes G is asked for in its step, drawn as the data's classes are (its class prior)."""
        if not self.classes:
            return ()
        return (self.toy.sample_labelled_stacked(self.keys, rng.stream_id(rng.LABEL_G, step), batch)[1],)

    def _penalty(
        self, real: torch.Tensor, fake: torch.Tensor, labels: tuple[torch.Tensor, ...], step: int, critic: int
    ) -> torch.Tensor:
        recipe = self.recipe
        penalty = torch.zeros(self.keys.shape[0], device=self.keys.device)

        def d(x: torch.Tensor) -> torch.Tensor:
            return self.d(x, *labels)

        if recipe.gp_weight:
            mix = rng.uniform(self.keys, rng.stream_id(rng.MIX, step, critic), (recipe.batch_size,))
            penalty = penalty + recipe.gp_weight * gradient_penalty(d, real, fake, mix)
        if recipe.r1_weight:
            penalty = penalty + recipe.r1_weight * zero_centred_penalty(d, real)
        if recipe.r2_weight:
            penalty = penalty + recipe.r2_weight * zero_centred_penalty(d, fake)
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
        # ∂(mean loss)/∂x_i is ∂ℓ_i/∂x_i / B: scale back to a per-sample signal, independent of B.
        signal = fake_grad.flatten(2).norm(dim=-1).mean(-1) * batch
        values, nonfinite = probe_row(
            self.loss, d_loss, penalty, g_loss, real_scores, fake_scores, signal, g_layers, d_layers
        )
        self.buffer[row] = values
        return nonfinite

    def trace(self, seeds: list[int]) -> pd.DataFrame:
        data = self.buffer.cpu().numpy()  # the one host transfer of the run
        return trace_frame(data, self.record_steps, seeds, self.g.layer_names, self.d.layer_names)


def _record_steps(steps: int, every: int) -> list[int]:
    recorded = list(range(0, steps, every))
    if recorded[-1] != steps - 1:
        recorded.append(steps - 1)  # always keep the final state
    return recorded
