"""``Monitor``: the engine's probes, recorded from a GAN training loop the user wrote (one seed).

A regression in a repo's own training step (its loss terms, regularisers, schedules) is what a repo most
needs to catch, and it is invisible when we train its modules with our loop. The monitor reads the loop
through hooks, so a tutorial loop needs two added lines (``Monitor(G, D, opt_g, opt_d)``, ``run()``):

- G's forward hook keeps G's recent outputs; a D call on one of them (or ``fake.detach()``, any view)
  scores fakes, any other D call real data. The first real and the first fake call before D's optimiser
  steps are that step's scores; the last call on a fake before G's step gives G's loss. Loops that
  transform fakes before D (augmentation, instance noise, one call on ``cat(real, fake)``) say which
  scores are which with ``scores(real=..., fake=...)``; a step whose scores cannot be told apart is an
  error, never a guess.
- A pre-hook on the autograd node of G's output reads ‖∂ℓ_G/∂x‖ in the user's own backward pass (no extra
  backward).
- Optimiser step pre-hooks read each layer's gradient just before the step, as the engine does.
- Losses are the declared ``loss`` applied to those scores (the engine's ``d_loss`` probe is likewise
  the adversarial term without regularisers), unless ``losses(d=..., g=...)`` gives the loop's own.

Everything is written to device buffers with no host synchronisation; ``run()`` reads them once.
"""

from __future__ import annotations

import copy
import math
import time
from collections import deque
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import rng
from ..data import as_toy
from ..devices import synchronize
from ..losses import LOSSES, GANLoss, get_loss
from ..nets import Stacks
from ..optimizers import describe, initial_lr, recipe_optimizer
from ..probes import SIGMOID_STEPS, trace_frame
from ..recipes import Recipe
from ..run import PROBES, Run
from ..toys import Toy
from .modules import ModuleLoop, ScoreSelector, ends_in_sigmoid, pick_score
from .recording import LayerNorms, Recorder

TRACKED_FAKES = 4  # G's most recent outputs a D call is matched against (held, so no address is reused)
RESERVOIR = 2500  # real samples kept from the loop's batches when no data= is given, for the metrics
# The probes that read differently when D's outputs are probabilities (a final Sigmoid): kept both ways.
READ_AS_PROBABILITIES = ("d_loss", "g_loss", "d_real", "d_fake")


class MonitorError(ValueError):
    """The loop could not be read as it is written; the message says what to tell the monitor."""


class Monitor:
    """Records the engine's probes from your own training loop; ``run()`` turns them into a ``Run``.

    ``loss`` names the loss your loop trains (or a ``GANLoss``, or ``(d(fake, real), g(fake))``
    functions): it is applied to the recorded scores, and the diagnosis reads it. ``real_label`` is
    your real target (0.9 for one-sided label smoothing). ``data`` (a toy, a tensor, a ``Dataset``…, as
    ``train(data=)``) is what coverage and the metrics compare G's samples with; without it, the first
    real batches your loop feeds D. ``score`` picks D's score from a tuple it returns. ``seed`` and
    ``base_seed`` name this seed (``pytest_ganstab.monitor`` sets them); ``steps`` is how many G steps
    the test asks for, for your loop to read.
    """

    def __init__(
        self,
        generator: nn.Module | None = None,
        discriminator: nn.Module | None = None,
        g_optimizer: torch.optim.Optimizer | None = None,
        d_optimizer: torch.optim.Optimizer | None = None,
        *,
        loss: Any = "nonsaturating",
        real_label: float = 1.0,
        data: Any = None,
        score: ScoreSelector = None,
        classes: int | None = None,
        name: str | None = None,
        seed: int = 0,
        base_seed: int = 0,
        steps: int | None = None,
        progress: Any = None,
    ) -> None:
        self.objective: GANLoss = get_loss(loss)
        self.real_label = float(real_label)
        self.toy = None if data is None else as_toy(data)
        self.score = score
        self.classes = classes
        self.name = name
        self.seed, self.base_seed = seed, rng.check_base_seed(base_seed, "base_seed")
        self.steps = steps
        self.progress = progress
        self.watched = False
        if any(x is not None for x in (generator, discriminator, g_optimizer, d_optimizer)):
            if generator is None or discriminator is None or g_optimizer is None or d_optimizer is None:
                raise TypeError(
                    "Monitor: give all four of generator, discriminator, g_optimizer, d_optimizer"
                )
            self.watch(generator, discriminator, g_optimizer, d_optimizer)

    # ---------------------------------------------------------------- attaching

    def watch(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        g_optimizer: torch.optim.Optimizer,
        d_optimizer: torch.optim.Optimizer,
    ) -> Monitor:
        """Attach to your G, D and their optimisers (before training); returns the monitor."""
        for what, value, kind in (
            ("generator", generator, nn.Module),
            ("discriminator", discriminator, nn.Module),
            ("g_optimizer", g_optimizer, torch.optim.Optimizer),
            ("d_optimizer", d_optimizer, torch.optim.Optimizer),
        ):
            if not isinstance(value, kind):
                raise TypeError(f"Monitor.watch: {what} is a {type(value).__name__}, not a {kind.__name__}")
        if self.watched:
            raise MonitorError("Monitor.watch: this monitor already watches a G and D; make one per seed")
        if g_optimizer is d_optimizer:
            raise MonitorError(
                "Monitor.watch: G and D need optimisers of their own to tell their steps apart"
            )
        self.watched = True
        self.g, self.d, self.opt_g, self.opt_d = generator, discriminator, g_optimizer, d_optimizer
        self.device = next(iter(generator.parameters())).device
        self._layers = {"g": LayerNorms(generator, self.device), "d": LayerNorms(discriminator, self.device)}
        self._hooks = [
            generator.register_forward_hook(self._on_g, with_kwargs=True),
            discriminator.register_forward_hook(self._on_d, with_kwargs=True),
            g_optimizer.register_step_pre_hook(self._on_g_step),
            d_optimizer.register_step_pre_hook(self._on_d_step),
        ]
        self.lrs = (initial_lr(g_optimizer), initial_lr(d_optimizer))
        self._recorder = Recorder(self.objective, self.real_label, self._layers["g"], self._layers["d"])
        self._fakes: deque[torch.Tensor] = deque(maxlen=TRACKED_FAKES)
        self._fake_storages: deque[int] = deque(maxlen=TRACKED_FAKES)
        self._calls: list[tuple[bool, Any, torch.Tensor]] = []  # (on a fake?, D's output, D's input)
        self._given: dict[str, torch.Tensor] = {}
        self._nan = torch.full((1,), math.nan, device=self.device)
        self._zero = torch.zeros(1, device=self.device)
        self._signal = self._nan
        self._d_state: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None
        self._d_norms = torch.zeros(0, device=self.device)
        self._d_steps = 0
        self._sigmoid: bool | None = None  # whether D's score comes out of a sigmoid, read at its first call
        self._latent: tuple[int, ...] | None = None
        self._max_label = torch.full((), -1, dtype=torch.int64, device=self.device)
        self._conditional = False
        self._reservoir: list[torch.Tensor] = []
        self._kept = 0
        self._batch = 0
        self._started = time.perf_counter()
        return self

    def scores(self, real: Any = None, fake: Any = None, g: Any = None) -> None:
        """D's scores on real and on fake samples for D's next step, and on fakes for G's next step, where
        the monitor cannot tell them apart itself (fakes transformed before D, one call on both)."""
        self._need_watch("scores")
        for key, value in (("real", real), ("fake", fake), ("g", g)):
            if value is not None:
                self._given[key] = self._flat_scores(value, f"scores({key}=...)")

    def losses(self, d: Any = None, g: Any = None, penalty: Any = None) -> None:
        """Your loop's own loss values for the next steps (D's without regularisers, G's, D's penalty),
        in place of the declared loss applied to the scores."""
        self._need_watch("losses")
        for key, value in (("d_loss", d), ("g_loss", g), ("penalty", penalty)):
            if value is not None:
                if not isinstance(value, torch.Tensor) or value.numel() != 1:
                    raise MonitorError(f"Monitor.losses: {key.split('_')[0]}= must be a one-value tensor")
                self._given[key] = value.detach().reshape(1).to(self.device, torch.float32)

    # ---------------------------------------------------------------- hooks

    # The hooks run in every step of the user's loop: they do as little Python as they can, and their
    # arithmetic waits for the Recorder, which does it for many steps at once.

    def _on_g(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        fake = out if isinstance(out, torch.Tensor) else next(v for v in out if isinstance(v, torch.Tensor))
        self._fakes.append(fake.detach())  # held (a deque of TRACKED_FAKES), so no storage is reused
        self._fake_storages.append(fake.untyped_storage().data_ptr())
        if self._latent is None:
            self._first_g_call([*args, *kwargs.values()])
        elif self._conditional and len(args) > 1 and isinstance(args[1], torch.Tensor):
            self._max_label = torch.maximum(self._max_label, args[1].detach().max().to(self.device))
        if fake.grad_fn is not None:  # the gradient reaching G's output, read by its node's pre-hook
            fake.grad_fn.register_prehook(self._on_fake_grad)

    def _on_fake_grad(self, grads: tuple[torch.Tensor | None, ...]) -> None:
        grad = grads[0]
        if grad is None:
            return
        flat = grad if grad.dim() == 2 else grad.reshape(grad.shape[0], -1)
        self._signal = torch.linalg.vector_norm(flat, dim=1)  # per sample; the Recorder averages, scales by B

    def _first_g_call(self, inputs: list[Any]) -> None:
        """G's first call says what its latent looks like, and whether it takes labels."""
        if inputs and isinstance(inputs[0], torch.Tensor):
            self._latent = tuple(int(s) for s in inputs[0].shape[1:])
            self._conditional = len(inputs) > 1
            if self._conditional and isinstance(inputs[1], torch.Tensor):
                self._max_label = torch.maximum(self._max_label, inputs[1].detach().max().to(self.device))

    def _on_d(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        x = args[0] if args else next(iter(kwargs.values()), None)
        if not isinstance(x, torch.Tensor):
            return
        score = out if self.score is None else pick_score(out, self.score)
        if self._sigmoid is None and isinstance(score, torch.Tensor) and score.grad_fn is not None:
            self._sigmoid = self._recorder.probabilities = ends_in_sigmoid(score)
        is_fake = x.untyped_storage().data_ptr() in self._fake_storages
        self._calls.append((is_fake, score, x))  # read at the optimiser's step, only the calls it needs

    def _on_d_step(self, optimizer: torch.optim.Optimizer, *_: Any) -> None:
        real = self._given.pop("real", None)
        fake = self._given.pop("fake", None)
        first_real = next(((s, x) for is_fake, s, x in self._calls if not is_fake), None)
        if real is None and first_real is not None:
            real = self._flat_scores(first_real[0], "D's output")
            if self.toy is None and self._kept < RESERVOIR:  # the data the metrics compare G with
                rows = first_real[1].detach().reshape(first_real[1].shape[0], -1)[: RESERVOIR - self._kept]
                self._reservoir.append(rows.clone())
                self._kept += rows.shape[0]
        if fake is None:
            first_fake = next((s for is_fake, s, _ in self._calls if is_fake), None)
            fake = None if first_fake is None else self._flat_scores(first_fake, "D's output")
        if real is None or fake is None:
            missing = "real data" if real is None else "G's output"
            raise MonitorError(
                f"D's optimiser stepped (D step {self._d_steps}) with no call of D on {missing} since its "
                "last step. Call D on G's output itself (fake or fake.detach()), or tell the monitor which "
                "scores are which before the step: monitor.scores(real=d_real_scores, fake=d_fake_scores)"
            )
        self._calls.clear()
        penalty = self._given.pop("penalty", self._zero)
        self._d_state = (real, fake, penalty, self._given.pop("d_loss", None))
        self._d_norms = self._layers["d"].norms()
        self._d_steps += 1

    def _on_g_step(self, optimizer: torch.optim.Optimizer, *_: Any) -> None:
        g_scores = self._given.pop("g", None)
        if g_scores is None:
            last_fake = next((s for is_fake, s, _ in reversed(self._calls) if is_fake), None)
            g_scores = None if last_fake is None else self._flat_scores(last_fake, "D's output")
        self._calls.clear()
        if g_scores is None or self._d_state is None:
            what = (
                "D's optimiser has not stepped yet" if self._d_state is None else "no call of D on G's output"
            )
            raise MonitorError(
                f"G's optimiser stepped (step {self._recorder.steps}) but {what}; the monitor records a step "
                "when G's optimiser steps after D's. For G's scores it needs D called on G's output before "
                "G's step, or monitor.scores(g=d_scores_on_fakes)"
            )
        real, fake, penalty, d_loss = self._d_state
        self._batch = self._batch or real.shape[0]
        g_norms = self._layers["g"].norms()
        g_loss = self._given.pop("g_loss", None)
        self._recorder.add(
            real, fake, g_scores, self._signal, penalty, d_loss, g_loss, g_norms, self._d_norms
        )
        self._signal = self._nan  # a step whose G output got no gradient records NaN, not the last one
        if self.progress is not None and self.steps:
            self.progress(min(self._recorder.steps, self.steps), self.steps)

    # ---------------------------------------------------------------- the Run

    def close(self) -> None:
        """Detach the hooks (``run()`` does it too); the monitored modules are left as they were."""
        for hook in getattr(self, "_hooks", []):
            hook.remove()
        self._hooks = []

    def run(self) -> Run:
        """The Run of what was recorded: the trace, G at its final weights (copied), notes on how the loop
        was read. Detaches the monitor."""
        self._need_watch("run")
        self.close()
        recorder = self._recorder
        if recorder.steps == 0:
            raise MonitorError(
                "the monitor saw no training step: G's optimiser never stepped after D's while it watched"
            )
        recorder.flush()
        synchronize(self.device)
        wall = time.perf_counter() - self._started
        data = recorder.rows.read()  # the one host transfer, with the next
        unit = recorder.probabilities and bool(recorder.inside.cpu())  # a sigmoid's outputs, inside (0, 1)
        steps = recorder.steps
        notes = [
            f"monitor: your training loop, {steps} G steps and {self._d_steps} D steps, "
            f"{describe(self.opt_g)} for G and {describe(self.opt_d)} for D"
        ]
        if unit:
            data[:, [PROBES.index(k) for k in READ_AS_PROBABILITIES]] = recorder.alt.read()
            notes.append(
                f"discriminator {type(self.d).__name__}: its outputs lay inside (0, 1) for every sample in "
                f"the first {min(steps, SIGMOID_STEPS)} steps, so they were read as probabilities (if your "
                "loss applies a sigmoid to them too, as BCEWithLogitsLoss does, remove D's final Sigmoid)"
            )
        flagged = np.flatnonzero(data[:, PROBES.index("nonfinite")] > 0)
        first_nonfinite = np.asarray([flagged[0] if flagged.size else -1], dtype=np.int64)
        g_names, d_names = self._layers["g"].names, self._layers["d"].names
        trace = trace_frame(data[:, None, :], range(steps), [self.seed], g_names, d_names)
        classes = self._classes()
        toy = self._data_toy(notes)
        generator = self._frozen(self.g, rng.USER_G_CALLS, self._latent or (1,), None)
        discriminator = self._frozen(self.d, rng.USER_D_CALLS, toy.shape, self.score)
        return Run(
            recipe=self._recipe(),
            toy=toy,
            seeds=[self.seed],
            base_seed=self.base_seed,
            steps=steps,
            device=str(self.device),
            wall_time_s=wall,
            trace=trace,
            first_nonfinite_step=first_nonfinite,
            nets=Stacks(generator, discriminator, notes, from_recipe=False),
            name=self.name,
            classes=classes,
            objective=self.objective,
            user_modules=("generator", "discriminator"),
            own_loop=True,
        )

    def _recipe(self) -> Recipe:
        """The loop's settings as a recipe: what the history records and the diagnosis cites."""
        family, betas = recipe_optimizer(self.opt_g)
        named = self.objective.name if self.objective is LOSSES.get(self.objective.name) else "nonsaturating"
        return Recipe(
            name=self.name or "your loop",
            loss=named,
            latent_dim=math.prod(self._latent or (1,)),
            batch_size=max(self._batch, 1),
            n_critic=max(1, round(self._d_steps / self._recorder.steps)),
            g_lr=self.lrs[0],
            d_lr=self.lrs[1],
            optimizer=family,  # type: ignore[arg-type]
            betas=tuple(float(b) for b in betas) if betas else Recipe.betas,  # type: ignore[arg-type]
            real_label=self.real_label if named in ("minimax", "nonsaturating", "lsgan") else 1.0,
        )

    def _frozen(
        self, module: nn.Module, purpose: int, in_shape: tuple[int, ...], score: ScoreSelector
    ) -> ModuleLoop:
        """A copy of the user's module at its final weights, as a one-seed stack (G's gives the samples)."""
        call_seed = rng.torch_seed(self.base_seed, self.seed, purpose)
        return ModuleLoop([copy.deepcopy(module)], in_shape, [call_seed], score)

    def _data_toy(self, notes: list[str]) -> Toy:
        if self.toy is not None:
            return self.toy
        rows = torch.cat(self._reservoir).cpu() if self._reservoir else None
        if rows is None or rows.shape[0] < 2:
            raise MonitorError("the monitor saw no real batch to describe the data; give Monitor(data=...)")
        shape = tuple(self._fakes[-1].shape[1:]) if self._fakes else (rows.shape[1],)
        notes.append(
            f"data: the first {rows.shape[0]} real samples your loop fed D (give data= for held-out ones)"
        )
        return as_toy(rows.reshape(-1, *shape), name="your data", holdout=0.0)

    def _classes(self) -> int:
        if not self._conditional:
            return 0
        if self.classes is not None:
            return int(self.classes)
        if self.toy is not None and self.toy.classes:
            return self.toy.classes
        return int(self._max_label.cpu()) + 1

    def _flat_scores(self, value: Any, what: str) -> torch.Tensor:
        if not isinstance(value, torch.Tensor):
            raise MonitorError(
                f"Monitor: {what} is a {type(value).__name__}; if D returns a tuple, say which item is the "
                "score: Monitor(..., score=0) (or score=lambda out: ...)"
            )
        # Read at an optimiser's step, under the loop's own grad mode: detached, so no graph is built.
        flat = value.detach().view(-1) if value.is_contiguous() else value.detach().reshape(-1)
        if flat.device != self.device:
            flat = flat.to(self.device)
        return flat if flat.dtype == torch.float32 else flat.float()

    def _need_watch(self, what: str) -> None:
        if not self.watched:
            raise MonitorError(f"Monitor.{what}: call monitor.watch(G, D, g_optimizer, d_optimizer) first")
