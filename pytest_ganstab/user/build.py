"""The user's own G and D: one seed's ``torch.nn.Module`` turned into a ``Stack`` of S seeds.

Where vmap cannot run a module (spectral-norm parametrizations, modules that draw random numbers,
anything else it rejects) or gives a different answer than the module itself, the seeds run one after
another through S real copies, and the Run's notes say so once, with the reason. The choice is made by
trying: the first seeds' modules are run both ways on a small batch (forward, backward, and the double
backward of a gradient penalty when the recipe has one) and must agree, at the scale of the whole
module's gradients: a parameter whose gradient is rounding noise (a conv bias cancelled by the
BatchNorm after it) cannot veto batching.

D returns one raw score per sample (a logit for the classifier losses), or a tuple/dict from which
``score`` picks it. A conditional G takes ``(z, y)`` and a conditional D ``(x, y)``, y integer labels.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from .. import rng
from ..nets import Stack, Stacks, build_mlps
from ..recipes import Recipe
from ..toys import Toy
from .modules import BatchedModules, ModuleLoop, ScoreSelector, ends_in_sigmoid, forked_rng, pick_score

PROBE_BATCH = 4  # small, but more than 1 so BatchNorm has a batch to normalise over
# Batched and looped runs of a module agree when they differ by less than this share of the largest value
# of the same kind (outputs; all the module's gradients together; each buffer): loose enough for
# rounding (TF32 convolutions on CUDA), far tighter than a different semantics.
AGREEMENT = 1e-2
# Measured (suites/test_bench_monitor.py): on the CPU a convolution's arithmetic is its cost, so S seeds
# batched take about as long as S one after another; batching saves kernel launches on a GPU.
CPU_CONVOLUTIONS = (
    "{modules}: seeds batched with vmap, but on the CPU convolutions cost as much batched as one seed after "
    "another (the arithmetic dominates), so batching gains little speed there; on a GPU it saves launches"
)


def build_user_stacks(
    generator: Any,
    discriminator: Any,
    recipe: Recipe,
    toy: Toy,
    base_seed: int,
    indices: Sequence[int],
    device: torch.device,
    *,
    batch: bool | None = None,
    classes: int = 0,
    score: ScoreSelector = None,
) -> Stacks:
    """G and D stacks for the seeds ``indices``, from the user's modules (either may be None: the
    recipe's MLP then takes its place).

    ``generator``/``discriminator`` is a ``nn.Module`` subclass, a zero-argument factory returning a
    module (both preferred: seed k's module is built under a torch seed that depends only on
    (``base_seed``, k)), or a module instance (copied: every seed starts from its weights).
    ``batch=None`` batches with vmap where it works; ``False`` always runs seeds one after another
    (the reference the batched path is tested against); ``True`` raises where vmap cannot be used.
    ``classes`` > 0: conditional modules, called with integer labels; ``score`` picks D's score.
    """
    if generator is None and discriminator is None:
        raise ValueError("build_user_stacks: give a generator, a discriminator, or both")
    keys = rng.seed_keys(base_seed, indices, device)
    recipe_nets = build_mlps(recipe, toy, keys) if generator is None or discriminator is None else None
    notes: list[str] = []
    stacks: list[Stack] = []
    setup = _Setup(recipe, toy, base_seed, list(indices), device, batch, classes, score, notes)
    with forked_rng(device):  # building, checking and probing user modules may draw from torch's RNG
        for role, spec in (("generator", generator), ("discriminator", discriminator)):
            if spec is None:
                assert recipe_nets is not None
                stacks.append(recipe_nets.generator if role == "generator" else recipe_nets.discriminator)
            else:
                stacks.append(setup.stack(role, spec))
    if setup.batched_convolutions:
        notes.append(CPU_CONVOLUTIONS.format(modules=" and ".join(setup.batched_convolutions)))
    return Stacks(generator=stacks[0], discriminator=stacks[1], notes=notes)


class _Setup:
    """What every user stack of one run is built with."""

    def __init__(
        self,
        recipe: Recipe,
        toy: Toy,
        base_seed: int,
        indices: list[int],
        device: torch.device,
        batch: bool | None,
        classes: int,
        score: ScoreSelector,
        notes: list[str],
    ) -> None:
        self.recipe, self.toy, self.base_seed, self.indices = recipe, toy, base_seed, indices
        self.device, self.batch, self.classes, self.score, self.notes = device, batch, classes, score, notes
        self.batched_convolutions: list[str] = []  # "generator DCGAN": batched, on a CPU, with convolutions

    def stack(self, role: str, spec: Any) -> Stack:
        """One network's stack; appends to the notes what the summary should say about it."""
        is_g = role == "generator"
        purpose = rng.USER_G_INIT if is_g else rng.USER_D_INIT
        modules, shared = _build(spec, role, self.base_seed, self.indices, purpose, self.device)
        name = type(modules[0]).__name__
        score = None if is_g else self.score
        sigmoid = False
        if is_g:
            in_shape = _check_generator(modules[0], name, self.recipe, self.toy, self.classes)
        else:
            in_shape = self.toy.shape
            sigmoid = _check_discriminator(modules[0], name, self.toy, self.classes, score)
        if shared and len(modules) > 1:
            self.notes.append(
                f"{role} {name} was given as an instance: every seed starts from its weights "
                f"(pass its class or a factory for one initialisation per seed)"
            )
        if self.batch is False:
            reason: str | None = "batch=False"
        else:
            # Only D is differentiated with respect to its input, and only for a penalty.
            recipe = self.recipe
            penalty = not is_g and bool(recipe.gp_weight or recipe.r1_weight or recipe.r2_weight)
            count = min(len(modules), 2)
            probe = _probe_input(is_g, self.toy, recipe, count, self.device, self.classes)
            reason = why_not_batched(modules[:count], in_shape, probe, penalty, score)
        stack: BatchedModules | ModuleLoop
        if reason is None:
            stack = BatchedModules(modules, in_shape, score)
            if self.device.type == "cpu" and _convolves(modules[0]):
                self.batched_convolutions.append(f"{role} {name}")
        else:
            if self.batch is True:
                raise ValueError(f"{role} {name}: its seeds cannot be batched with torch.func.vmap: {reason}")
            self.notes.append(f"{role} {name}: seeds ran one after another ({reason})")
            calls = rng.USER_G_CALLS if is_g else rng.USER_D_CALLS
            call_seeds = [rng.torch_seed(self.base_seed, k, calls) for k in self.indices]
            stack = ModuleLoop(modules, in_shape, call_seeds, score)
        stack.ends_in_sigmoid = sigmoid
        return stack


def _build(
    spec: Any, role: str, base_seed: int, indices: Sequence[int], purpose: int, device: torch.device
) -> tuple[list[nn.Module], bool]:
    """One module per seed, seed k's built under a torch seed from (base seed, k), in the caller's
    forked RNG; and whether they are copies of one instance."""
    shared = isinstance(spec, nn.Module)
    if not shared and not callable(spec):
        raise TypeError(
            f"{role}={spec!r}: give a torch.nn.Module class, a zero-argument factory returning a module "
            f"(lambda: Net(width=64)), or a module instance"
        )
    modules = []
    for k in indices:
        torch.manual_seed(rng.torch_seed(base_seed, k, purpose))
        if shared:
            module = copy.deepcopy(spec)
        else:
            try:
                module = spec()
            except TypeError as error:
                raise TypeError(
                    f"{role}={_spec_name(spec)}: calling it with no arguments failed ({error}); "
                    f"pass a zero-argument factory such as lambda: Net(latent_dim=16)"
                ) from error
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"{role}={_spec_name(spec)} returned a {type(module).__name__}, not a torch.nn.Module; "
                f"give a module class, a factory returning a module, or a module instance"
            )
        modules.append(module.to(device))
    if not any(p.requires_grad for p in modules[0].parameters()):
        raise ValueError(f"{role} {type(modules[0]).__name__} has no trainable parameters")
    return modules, shared


def _check_generator(module: nn.Module, name: str, recipe: Recipe, toy: Toy, classes: int) -> tuple[int, ...]:
    """Run one seed's G on a few latents (and labels); return the latent shape it takes: ``[nz]`` or, as
    DCGAN's generator does, ``[nz, 1, 1]``."""
    batch, nz = PROBE_BATCH, recipe.latent_dim
    latents = torch.randn(batch, nz, generator=torch.Generator().manual_seed(0)).to(_device_of(module))
    labels = _labels(batch, classes, latents.device)
    probe = copy.deepcopy(module)
    first_error: Exception | None = None
    for shape in ((nz,), (nz, 1, 1)):
        try:
            with torch.no_grad():
                out = probe(latents.reshape(batch, *shape), *labels)
        except Exception as error:  # the user's module may raise anything on a wrong input shape
            first_error = first_error or error
            continue
        if not isinstance(out, torch.Tensor):
            raise TypeError(
                f"generator {name} returned a {type(out).__name__}; expected a tensor {_images(toy)}"
            )
        if out.dim() == 0 or out.shape[0] != batch or out[0].numel() != toy.dim:
            raise ValueError(
                f"generator {name} returned shape {list(out.shape)} per batch of {batch} latents; "
                f"expected {_images(toy)} for toy {toy.name}"
            )
        return shape
    given = "latents and labels" if classes else "latents"
    raise ValueError(
        f"generator {name} failed on a batch of {batch} {given} of size {nz} "
        f"(as [{batch}, {nz}] and as [{batch}, {nz}, 1, 1]): {first_line(first_error)}; "
        f"{_hint(module, nz, first_error, classes)}"
    ) from first_error


def _check_discriminator(module: nn.Module, name: str, toy: Toy, classes: int, score: ScoreSelector) -> bool:
    """Run one seed's D on a few real samples: it must give one raw score per sample. Returns whether
    that score is computed by a final sigmoid."""
    batch = PROBE_BATCH
    shape = [batch, *toy.shape]
    real = toy.sample(batch, generator=torch.Generator().manual_seed(0)).to(_device_of(module)).reshape(shape)
    labels = _labels(batch, classes, real.device)
    try:
        with torch.enable_grad():  # the graph tells whether the score comes out of a sigmoid
            out = copy.deepcopy(module)(real, *labels)
    except Exception as error:  # the user's module may raise anything on a wrong input shape
        hint = _label_hint(error, classes, "discriminator")
        raise ValueError(
            f"discriminator {name} failed on a batch of {batch} samples shaped {shape} (toy {toy.name}): "
            f"{first_line(error)}{'; ' + hint if hint else ''}"
        ) from error
    if isinstance(out, tuple | list | dict) and score is None:
        raise ValueError(
            f"discriminator {name} returned a {type(out).__name__} of {len(out)}; say which is the score: "
            f"train(..., score=0) for its index (or key), or score=lambda out: ... to compute it"
        )
    try:
        out = pick_score(out, score)
    except Exception as error:  # a wrong index or a failing selector
        raise ValueError(
            f"discriminator {name}: score={score!r} could not pick the score: {first_line(error)}"
        ) from error
    if not isinstance(out, torch.Tensor) or tuple(out.shape) not in ((batch,), (batch, 1)):
        got = list(out.shape) if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
        raise ValueError(
            f"discriminator {name} returned {got} for a batch of {batch} samples shaped {shape}; "
            f"expected [{batch}] or [{batch}, 1]: one raw score (logit) per sample"
        )
    return ends_in_sigmoid(out)


def why_not_batched(
    modules: Sequence[nn.Module],
    in_shape: tuple[int, ...],
    x: tuple[torch.Tensor, ...],
    penalty: bool,
    score: ScoreSelector = None,
) -> str | None:
    """None where vmap runs these modules as they run themselves, else why not, in a few words.

    Agreement is judged per kind of value at the scale of the whole kind (every gradient of the module
    together), and NaN where both ways give NaN agrees: a seed that starts non-finite is recorded by
    the run, not refused here.
    """
    for qualified, sub in modules[0].named_modules():
        where = qualified or "root"
        if parametrize.is_parametrized(sub):
            kinds = {type(p).__name__ for plist in sub.parametrizations.values() for p in plist}
            what = "spectral_norm" if any("SpectralNorm" in kind for kind in kinds) else "a parametrization"
            return f"{what} on {where}: torch.func.vmap cannot run parametrized modules"
        if isinstance(sub, _DROPOUTS) and sub.p > 0 and sub.training:
            kind = type(sub).__name__
            return f"{kind} at {where} draws random numbers, which vmap cannot draw reproducibly per seed"
    batched = BatchedModules([copy.deepcopy(m) for m in modules], in_shape, score)
    try:
        got = _exercise(batched, x, penalty)
    except Exception as error:  # whatever vmap rejects sends the seeds down the loop
        return _vmap_refusal(first_line(error))
    loop = ModuleLoop([copy.deepcopy(m) for m in modules], in_shape, [0] * len(modules), score)
    expected = _exercise(loop, x, penalty)
    gradient_scale = _scale([v for k, v in expected.items() if k.startswith("gradient")])
    for key, want in expected.items():
        scale = gradient_scale if key.startswith("gradient") else _scale([want])
        have = got[key].to(want.dtype)
        if not torch.allclose(have, want, rtol=AGREEMENT, atol=AGREEMENT * scale + 1e-6, equal_nan=True):
            return f"under vmap its {key} differed from the module's own"
    return None


def _scale(values: list[torch.Tensor]) -> float:
    """The largest finite magnitude among ``values`` (0 for none): what "rounding-level" is measured by."""
    largest = 0.0
    for value in values:
        if value.numel() and value.is_floating_point():
            finite = value[torch.isfinite(value)]
            if finite.numel():
                largest = max(largest, float(finite.abs().max()))
    return largest


def _vmap_refusal(message: str) -> str:
    """vmap's error in a few words: its two common refusals by name, anything else cut short."""
    if "random operation" in message:
        return "it draws random numbers, which vmap cannot draw reproducibly per seed"
    if "data-dependent control flow" in message:
        return "its forward branches on tensor values, which vmap cannot batch"
    return f"torch.func.vmap failed: {message if len(message) <= 120 else message[:119] + '…'}"


def _exercise(
    stack: BatchedModules | ModuleLoop, inputs: tuple[torch.Tensor, ...], penalty: bool
) -> dict[str, torch.Tensor]:
    """A forward and backward as the engine does them (with a gradient penalty's double backward)."""
    x = inputs[0].clone().requires_grad_(penalty)
    out = stack(x, *inputs[1:])
    objective = (out * torch.linspace(-1, 1, out.numel(), device=out.device).view_as(out)).sum()
    if penalty:
        (input_grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        objective = objective + input_grad.pow(2).sum()
    objective.backward()  # type: ignore[no-untyped-call]
    return {"output": out.detach(), **stack.seed_state()}


def _probe_input(
    is_g: bool, toy: Toy, recipe: Recipe, seeds: int, device: torch.device, classes: int
) -> tuple[torch.Tensor, ...]:
    """A small flat batch ``[seeds, B, in]`` (and labels ``[seeds, B]``) to run the modules both ways on."""
    generator = torch.Generator().manual_seed(0)
    if is_g:
        flat = torch.randn(seeds, PROBE_BATCH, recipe.latent_dim, generator=generator)
    else:
        flat = toy.sample(seeds * PROBE_BATCH, generator=generator).reshape(seeds, PROBE_BATCH, toy.dim)
    labels = _labels(PROBE_BATCH, classes, device)
    return (flat.to(device), *(label.expand(seeds, -1) for label in labels))


def _convolves(module: nn.Module) -> bool:
    return any(isinstance(sub, _CONVOLUTIONS) for sub in module.modules())


_CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def _labels(batch: int, classes: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """A probe's labels: every class in turn; none for an unconditional module."""
    return (torch.arange(batch, device=device) % classes,) if classes else ()


def _hint(module: nn.Module, latent_dim: int, error: BaseException | None, classes: int) -> str:
    """What to change: labels for a conditional G, else the latent size its first layer takes."""
    labels = _label_hint(error, classes, "generator")
    if labels:
        return labels
    for qualified, sub in module.named_modules():
        if not any(True for _ in sub.parameters(recurse=False)):
            continue
        if isinstance(sub, nn.Embedding):
            continue  # a conditional G's label table comes first; the latent size is read further on
        size = sub.in_features if isinstance(sub, nn.Linear) else getattr(sub, "in_channels", None)
        if isinstance(size, int) and size != latent_dim:
            return f"its first layer {qualified or 'root'} takes {size}: use recipe(..., latent_dim={size})"
        break
    return "if it takes another latent size N, use recipe(..., latent_dim=N)"


def _label_hint(error: BaseException | None, classes: int, role: str) -> str:
    """A forward that wanted one more argument is a conditional module trained without labels."""
    text = str(error)
    if not classes and "missing 1 required positional argument" in text:
        return f"if your {role} takes class labels too, train a conditional GAN: train(..., conditional=True)"
    if classes and "positional argument" in text and "were given" in text:
        return f"conditional=True calls your {role} with labels; it takes none: drop conditional=True"
    return ""


def _images(toy: Toy) -> str:
    flat = [PROBE_BATCH, toy.dim]
    shaped = [PROBE_BATCH, *toy.shape]
    return str(flat) if shaped == flat else f"{shaped} (or {flat})"


def first_line(error: BaseException | None) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _spec_name(spec: Any) -> str:
    return getattr(spec, "__qualname__", None) or repr(spec)


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device
