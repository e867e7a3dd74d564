"""The user's own G and D: one seed's ``torch.nn.Module`` turned into a ``Stack`` of S seeds.

Seeds are batched with ``torch.func`` (``stack_module_state`` + ``functional_call`` + ``vmap``): every
parameter becomes one leaf tensor ``[S, ...]``, so the engine's single optimiser, weight clipping and
gradient penalties work unchanged and stay exact per seed (docs/design.md §5). Buffers are stacked too, so
BatchNorm's running statistics update per seed inside ``vmap``.

Where vmap cannot run a module (spectral-norm parametrizations, modules that draw random numbers,
anything else it rejects) or gives a different answer than the module itself, the seeds run one after
another through S real copies, and the Run's notes say so once, with the reason. The choice is made
by trying: the first seeds' modules are run both ways on a small batch (forward, backward, and the
double backward of a gradient penalty when the recipe has one) and must agree.

D must return one raw score per sample (a logit for the classifier losses): the losses apply their
own sigmoid, so a D ending in ``nn.Sigmoid`` needs a ``GANLoss`` written for probabilities.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.utils import parametrize

from . import rng
from .nets import Stack, Stacks, build_mlps, per_seed_grad_sq
from .recipes import Recipe
from .toys import Toy

_PROBE_BATCH = 4  # small, but more than 1 so BatchNorm has a batch to normalise over
_POSITIVE = 0x7FFF_FFFF_FFFF_FFFF


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
) -> Stacks:
    """G and D stacks for the seeds ``indices``, from the user's modules (either may be None: the
    recipe's MLP then takes its place).

    ``generator``/``discriminator`` is a ``nn.Module`` subclass, a zero-argument factory returning a
    module (both preferred: seed k's module is built under a torch seed that depends only on
    (``base_seed``, k)), or a module instance (copied: every seed starts from its weights).
    ``batch=None`` batches with vmap where it works; ``False`` always runs seeds one after another
    (the reference the batched path is tested against); ``True`` raises where vmap cannot be used.
    """
    if generator is None and discriminator is None:
        raise ValueError("build_user_stacks: give a generator, a discriminator, or both")
    keys = rng.seed_keys(base_seed, indices, device)
    recipe_nets = build_mlps(recipe, toy, keys) if generator is None or discriminator is None else None
    notes: list[str] = []
    stacks: list[Stack] = []
    with _forked_rng(device):  # building, checking and probing user modules may draw from torch's RNG
        for role, spec in (("generator", generator), ("discriminator", discriminator)):
            stacks.append(
                _user_stack(role, spec, recipe_nets, recipe, toy, base_seed, indices, device, batch, notes)
            )
    return Stacks(generator=stacks[0], discriminator=stacks[1], notes=notes)


def _user_stack(
    role: str,
    spec: Any,
    recipe_nets: Stacks | None,
    recipe: Recipe,
    toy: Toy,
    base_seed: int,
    indices: Sequence[int],
    device: torch.device,
    batch: bool | None,
    notes: list[str],
) -> Stack:
    """One network's stack; appends to ``notes`` what the summary should say about it."""
    is_g = role == "generator"
    if spec is None:
        assert recipe_nets is not None
        return recipe_nets.generator if is_g else recipe_nets.discriminator
    modules, shared = _build(
        spec, role, base_seed, indices, rng.USER_G_INIT if is_g else rng.USER_D_INIT, device
    )
    name = type(modules[0]).__name__
    if is_g:
        in_shape = _check_generator(modules[0], name, recipe, toy)
    else:
        in_shape = toy.shape
        _check_discriminator(modules[0], name, toy)
    if shared and len(modules) > 1:
        notes.append(
            f"{role} {name} was given as an instance: every seed starts from its weights "
            f"(pass its class or a factory for one initialisation per seed)"
        )
    if batch is False:
        reason: str | None = "batch=False"
    else:
        # Only D is differentiated with respect to its input, and only for a penalty.
        penalty = not is_g and bool(recipe.gp_weight or recipe.r1_weight or recipe.r2_weight)
        probe = _probe_input(is_g, toy, recipe, min(len(modules), 2), device)
        reason = _why_not_batched(modules, in_shape, probe, penalty)
    if reason is None:
        return BatchedModules(modules, in_shape)
    if batch is True:
        raise ValueError(f"{role} {name}: its seeds cannot be batched with torch.func.vmap: {reason}")
    notes.append(f"{role} {name}: seeds ran one after another ({reason})")
    return ModuleLoop(modules, in_shape, _call_seeds(base_seed, indices, is_g))


class BatchedModules:
    """S seeds of one module architecture as stacked parameters and buffers, run with one vmap."""

    def __init__(self, modules: Sequence[nn.Module], in_shape: tuple[int, ...]) -> None:
        self.seeds = len(modules)
        self.in_shape = tuple(in_shape)
        params, buffers = stack_module_state(list(modules))
        self.params: dict[str, torch.Tensor] = dict(params)
        self.buffers: dict[str, torch.Tensor] = dict(buffers)
        # A weightless twin whose structure functional_call runs with the stacked tensors.
        self.base = copy.deepcopy(modules[0]).to("meta")
        self.layers = _layers(modules[0])
        self.layer_names = list(self.layers)

    def parameters(self) -> list[torch.Tensor]:
        return [p for p in self.params.values() if p.requires_grad]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[1]

        def one_seed(
            params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], xs: torch.Tensor
        ) -> Any:
            out = functional_call(self.base, (params, buffers), (xs.reshape(batch, *self.in_shape),))
            return out.reshape(batch, -1)

        out: torch.Tensor = vmap(one_seed)(self.params, self.buffers, x)
        return out

    def layer_grad_sq_norms(self) -> torch.Tensor:
        layers = self.layers.values()
        return torch.stack([_total([per_seed_grad_sq(self.params[n]) for n in names]) for names in layers], 1)

    def seed_state(self) -> dict[str, torch.Tensor]:
        """Gradients and buffers, each ``[S, ...]``, named as in one seed's module."""
        grads = {f"gradient of {n}": _grad_or_zeros(p) for n, p in self.params.items()}
        return {**grads, **{f"buffer {n}": b for n, b in self.buffers.items()}}


class ModuleLoop:
    """S real copies of one module, run one seed after another: the fallback where vmap cannot go.

    Each call of seed k's module runs under a torch seed drawn from (seed k's key, call count), so a
    module that draws random numbers (Dropout) gives seed k the same numbers whatever seeds run beside
    it, and the caller's own torch RNG is left as it was.
    """

    def __init__(
        self, modules: Sequence[nn.Module], in_shape: tuple[int, ...], call_seeds: Sequence[int]
    ) -> None:
        self.seeds = len(modules)
        self.modules = list(modules)
        self.in_shape = tuple(in_shape)
        self.call_seeds = list(call_seeds)
        self.calls = 0
        self.layers = _layers(self.modules[0])
        self.layer_names = list(self.layers)

    def parameters(self) -> list[torch.Tensor]:
        return [p for module in self.modules for p in module.parameters() if p.requires_grad]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[1]
        outputs = []
        for k, module in enumerate(self.modules):
            with _forked_rng(x.device):
                torch.manual_seed(rng.stream_id(self.call_seeds[k], self.calls) & _POSITIVE)
                outputs.append(module(x[k].reshape(batch, *self.in_shape)).reshape(batch, -1))
        self.calls += 1
        return torch.stack(outputs)

    def layer_grad_sq_norms(self) -> torch.Tensor:
        rows = []
        for module in self.modules:
            params = dict(module.named_parameters())
            rows.append(
                torch.stack(
                    [_total([_one_seed_grad_sq(params[n]) for n in names]) for names in self.layers.values()]
                )
            )
        return torch.stack(rows)

    def seed_state(self) -> dict[str, torch.Tensor]:
        """Gradients and buffers, each ``[S, ...]``, named as in one seed's module."""
        named = [(dict(m.named_parameters()), dict(m.named_buffers())) for m in self.modules]
        grads = {
            f"gradient of {n}": torch.stack([_grad_or_zeros(p[n]) for p, _ in named]) for n in named[0][0]
        }
        return {**grads, **{f"buffer {n}": torch.stack([b[n] for _, b in named]) for n in named[0][1]}}


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
        torch.manual_seed(_derived_seed(base_seed, k, purpose))
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


def _check_generator(module: nn.Module, name: str, recipe: Recipe, toy: Toy) -> tuple[int, ...]:
    """Run one seed's G on a few latents; return the latent shape it takes: ``[nz]`` or, as DCGAN's
    generator does, ``[nz, 1, 1]``."""
    batch, nz = _PROBE_BATCH, recipe.latent_dim
    latents = torch.randn(batch, nz, generator=torch.Generator().manual_seed(0)).to(_device_of(module))
    probe = copy.deepcopy(module)
    first_error: Exception | None = None
    for shape in ((nz,), (nz, 1, 1)):
        try:
            with torch.no_grad():
                out = probe(latents.reshape(batch, *shape))
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
    raise ValueError(
        f"generator {name} failed on a batch of {batch} latents of size {nz} "
        f"(as [{batch}, {nz}] and as [{batch}, {nz}, 1, 1]): {_first_line(first_error)}; "
        f"{_latent_hint(module, nz)}"
    ) from first_error


def _check_discriminator(module: nn.Module, name: str, toy: Toy) -> None:
    """Run one seed's D on a few real samples: it must give one raw score per sample."""
    batch = _PROBE_BATCH
    shape = [batch, *toy.shape]
    real = toy.sample(batch, generator=torch.Generator().manual_seed(0)).to(_device_of(module)).reshape(shape)
    try:
        with torch.no_grad():
            out = copy.deepcopy(module)(real)
    except Exception as error:  # the user's module may raise anything on a wrong input shape
        raise ValueError(
            f"discriminator {name} failed on a batch of {batch} samples shaped {shape} (toy {toy.name}): "
            f"{_first_line(error)}"
        ) from error
    if not isinstance(out, torch.Tensor) or tuple(out.shape) not in ((batch,), (batch, 1)):
        got = list(out.shape) if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
        raise ValueError(
            f"discriminator {name} returned {got} for a batch of {batch} samples shaped {shape}; "
            f"expected [{batch}] or [{batch}, 1]: one raw score (logit) per sample"
        )


def _why_not_batched(
    modules: Sequence[nn.Module], in_shape: tuple[int, ...], x: torch.Tensor, penalty: bool
) -> str | None:
    """None where vmap runs these modules exactly as they run themselves, else why not, in a few words."""
    for qualified, sub in modules[0].named_modules():
        where = qualified or "root"
        if parametrize.is_parametrized(sub):
            kinds = {type(p).__name__ for plist in sub.parametrizations.values() for p in plist}
            what = "spectral_norm" if any("SpectralNorm" in kind for kind in kinds) else "a parametrization"
            return f"{what} on {where}: torch.func.vmap cannot run parametrized modules"
        if isinstance(sub, _DROPOUTS) and sub.p > 0 and sub.training:
            kind = type(sub).__name__
            return f"{kind} at {where} draws random numbers, which vmap cannot draw reproducibly per seed"
    count = min(len(modules), 2)
    batched = BatchedModules([copy.deepcopy(m) for m in modules[:count]], in_shape)
    try:
        got = _exercise(batched, x[:count], penalty)
    except Exception as error:  # whatever vmap rejects sends the seeds down the loop
        return _vmap_refusal(_first_line(error))
    loop = ModuleLoop([copy.deepcopy(m) for m in modules[:count]], in_shape, [0] * count)
    expected = _exercise(loop, x[:count], penalty)
    for key, want in expected.items():
        # Loose enough for rounding (TF32 convolutions on CUDA), far tighter than a wrong semantics.
        scale = float(want.abs().max()) if want.numel() and want.is_floating_point() else 0.0
        if not torch.allclose(got[key].to(want.dtype), want, rtol=1e-2, atol=1e-2 * scale + 1e-6):
            return f"under vmap its {key} differed from the module's own"
    return None


def _vmap_refusal(message: str) -> str:
    """vmap's error in a few words: its two common refusals by name, anything else cut short."""
    if "random operation" in message:
        return "it draws random numbers, which vmap cannot draw reproducibly per seed"
    if "data-dependent control flow" in message:
        return "its forward branches on tensor values, which vmap cannot batch"
    return f"torch.func.vmap failed: {message if len(message) <= 120 else message[:119] + '…'}"


def _exercise(stack: BatchedModules | ModuleLoop, x: torch.Tensor, penalty: bool) -> dict[str, torch.Tensor]:
    """A forward and backward as the engine does them (with a gradient penalty's double backward)."""
    x = x.clone().requires_grad_(penalty)
    out = stack(x)
    objective = (out * torch.linspace(-1, 1, out.numel(), device=out.device).view_as(out)).sum()
    if penalty:
        (input_grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        objective = objective + input_grad.pow(2).sum()
    objective.backward()  # type: ignore[no-untyped-call]
    return {"output": out.detach(), **stack.seed_state()}


def _probe_input(is_g: bool, toy: Toy, recipe: Recipe, seeds: int, device: torch.device) -> torch.Tensor:
    """A small flat batch ``[seeds, B, in]`` on which to run the modules both ways."""
    generator = torch.Generator().manual_seed(0)
    if is_g:
        flat = torch.randn(seeds, _PROBE_BATCH, recipe.latent_dim, generator=generator)
    else:
        flat = toy.sample(seeds * _PROBE_BATCH, generator=generator).reshape(seeds, _PROBE_BATCH, toy.dim)
    return flat.to(device)


_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def _layers(module: nn.Module) -> dict[str, list[str]]:
    """Trainable parameters grouped by the module that owns them, named by its qualified name
    (``main.0``). A parametrized weight (``fc1.parametrizations.weight.original``) belongs to ``fc1``;
    parameters of the top module itself form the layer ``root``."""
    layers: dict[str, list[str]] = {}
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        parts = name.split(".")[:-1]
        if "parametrizations" in parts:
            parts = parts[: parts.index("parametrizations")]
        layers.setdefault(".".join(parts) or "root", []).append(name)
    return layers


def _total(values: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(values).sum(0)


def _one_seed_grad_sq(param: torch.Tensor) -> torch.Tensor:
    return _grad_or_zeros(param).pow(2).sum()


def _grad_or_zeros(param: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(param) if param.grad is None else param.grad


def _latent_hint(module: nn.Module, latent_dim: int) -> str:
    """Suggest the latent size G's first layer takes, where that layer says it."""
    for qualified, sub in module.named_modules():
        if not any(True for _ in sub.parameters(recurse=False)):
            continue
        size = sub.in_features if isinstance(sub, nn.Linear) else getattr(sub, "in_channels", None)
        if isinstance(size, int) and size != latent_dim:
            return f"its first layer {qualified or 'root'} takes {size}: use recipe(..., latent_dim={size})"
        break
    return "if it takes another latent size N, use recipe(..., latent_dim=N)"


def _images(toy: Toy) -> str:
    flat = [_PROBE_BATCH, toy.dim]
    shaped = [_PROBE_BATCH, *toy.shape]
    return str(flat) if shaped == flat else f"{shaped} (or {flat})"


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _spec_name(spec: Any) -> str:
    return getattr(spec, "__qualname__", None) or repr(spec)


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _call_seeds(base_seed: int, indices: Sequence[int], is_g: bool) -> list[int]:
    return [_derived_seed(base_seed, k, rng.USER_G_CALLS if is_g else rng.USER_D_CALLS) for k in indices]


def _derived_seed(base_seed: int, index: int, purpose: int) -> int:
    """A non-negative torch seed that depends only on (base seed, seed index, purpose)."""
    return rng.stream_id(rng.seed_key(base_seed, index), purpose) & _POSITIVE


@contextmanager
def _forked_rng(device: torch.device) -> Iterator[None]:
    """Seed torch's RNG inside without changing it for the caller."""
    devices = []
    if device.type == "cuda":
        devices.append(torch.cuda.current_device() if device.index is None else device.index)
    with torch.random.fork_rng(devices=devices):
        yield
