"""S seeds of a user's ``nn.Module`` as one ``Stack``: batched with ``torch.func``, or one after another.

``BatchedModules`` turns every parameter into one leaf tensor ``[S, ...]`` (``stack_module_state``) and
runs all seeds with one ``vmap`` over ``functional_call``, so the engine's single optimiser, weight
clipping and gradient penalties work unchanged and stay exact per seed (docs/design.md §5); buffers are
stacked too, so BatchNorm's running statistics update per seed inside ``vmap``. ``ModuleLoop`` runs S
real copies one after another: the fallback where vmap cannot go, and the reference it is checked against.

Both take conditional modules (``G(z, y)``, ``D(x, y)`` with integer labels ``[S, B]``) and a D whose
output is a tuple or a dict, whose score ``score`` picks (an index or a callable).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .. import rng
from ..nets import per_seed_grad_sq

ScoreSelector = int | Callable[[Any], torch.Tensor] | None


def pick_score(out: Any, score: ScoreSelector) -> Any:
    """D's score out of what D returned: the output itself, ``out[score]``, or ``score(out)``."""
    if score is None:
        return out
    return score(out) if callable(score) else out[score]


# Autograd nodes that only move values around: a D's final squeeze or view does not hide its last op.
_VIEWS = re.compile(
    r"(View|ReshapeAlias|UnsafeView|Squeeze|Unsqueeze|Permute|T|Transpose|Expand|Clone|Select|Slice|Alias|"
    r"AsStrided|Index)Backward\d*"
)


def ends_in_sigmoid(out: torch.Tensor) -> bool:
    """Whether a module's output was last computed by a sigmoid (``nn.Sigmoid``, ``torch.sigmoid``),
    read off its autograd graph past any reshaping: the structure of a D that returns probabilities."""
    node = out.grad_fn
    while node is not None and _VIEWS.fullmatch(type(node).__name__):
        node = next((n for n, _ in node.next_functions if n is not None), None)
    return node is not None and type(node).__name__.startswith("SigmoidBackward")


class BatchedModules:
    """S seeds of one module architecture as stacked parameters and buffers, run with one vmap."""

    def __init__(
        self, modules: Sequence[nn.Module], in_shape: tuple[int, ...], score: ScoreSelector = None
    ) -> None:
        self.seeds = len(modules)
        self.name = type(modules[0]).__name__
        self.in_shape = tuple(in_shape)
        self.score = score
        self.ends_in_sigmoid = False  # set by whoever checked one seed's module
        params, buffers = stack_module_state(list(modules))
        self.params: dict[str, torch.Tensor] = dict(params)
        self.buffers: dict[str, torch.Tensor] = dict(buffers)
        # A weightless twin whose structure functional_call runs with the stacked tensors.
        self.base = copy.deepcopy(modules[0]).to("meta")
        self.layers = layers_of(modules[0])
        self.layer_names = list(self.layers)

    def parameters(self) -> list[torch.Tensor]:
        return [p for p in self.params.values() if p.requires_grad]

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        batch = x.shape[1]

        def one_seed(params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], *args: Any) -> Any:
            inputs = (args[0].reshape(batch, *self.in_shape), *args[1:])
            out = pick_score(functional_call(self.base, (params, buffers), inputs), self.score)
            return out.reshape(batch, -1)

        args = (x,) if y is None else (x, y)
        if self.seeds > 1:
            out: torch.Tensor = vmap(one_seed)(self.params, self.buffers, *args)
            return out
        # vmap over one seed runs other kernels than over several, which round differently (as
        # nets._bmm explains): compute on two copies so that seeds=[k] reruns seed k bit for bit. The
        # copy's output is dropped, so its gradient is zero and adds nothing; its buffers are dropped too.
        buffers = {name: torch.cat([b, b]) for name, b in self.buffers.items()}
        out = vmap(one_seed)(
            {name: torch.cat([p, p]) for name, p in self.params.items()},
            buffers,
            *(torch.cat([a, a]) for a in args),
        )
        with torch.no_grad():
            for name, updated in buffers.items():
                self.buffers[name].copy_(updated[:1])
        return out[:1]

    @contextmanager
    def sampling(self, eval_mode: bool) -> Iterator[None]:
        """Draw samples without changing the run: buffers (BatchNorm's running statistics) are restored
        after; ``eval_mode`` runs the modules as after ``.eval()``."""
        saved = {name: buffer.clone() for name, buffer in self.buffers.items()}
        training = self.base.training
        self.base.train(not eval_mode)
        try:
            yield
        finally:
            self.base.train(training)
            for name, buffer in saved.items():
                self.buffers[name].copy_(buffer)

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
        self,
        modules: Sequence[nn.Module],
        in_shape: tuple[int, ...],
        call_seeds: Sequence[int],
        score: ScoreSelector = None,
    ) -> None:
        self.seeds = len(modules)
        self.name = type(modules[0]).__name__
        self.ends_in_sigmoid = False  # set by whoever checked one seed's module
        self.modules = list(modules)
        self.in_shape = tuple(in_shape)
        self.call_seeds = list(call_seeds)
        self.score = score
        self.calls = 0
        self.layers = layers_of(self.modules[0])
        self.layer_names = list(self.layers)

    def parameters(self) -> list[torch.Tensor]:
        return [p for module in self.modules for p in module.parameters() if p.requires_grad]

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        batch = x.shape[1]
        outputs = []
        for k, module in enumerate(self.modules):
            with forked_rng(x.device):
                torch.manual_seed(rng.stream_id(self.call_seeds[k], self.calls) & 0x7FFF_FFFF_FFFF_FFFF)
                inputs = (x[k].reshape(batch, *self.in_shape), *(() if y is None else (y[k],)))
                outputs.append(pick_score(module(*inputs), self.score).reshape(batch, -1))
        self.calls += 1
        return torch.stack(outputs)

    @contextmanager
    def sampling(self, eval_mode: bool) -> Iterator[None]:
        """Draw samples without changing the run: buffers and the call count that seeds each call's random
        numbers are restored after; ``eval_mode`` runs the modules as after ``.eval()``."""
        saved = [{name: b.clone() for name, b in module.named_buffers()} for module in self.modules]
        modes = [module.training for module in self.modules]
        calls = self.calls
        for module in self.modules:
            module.train(not eval_mode)
        try:
            yield
        finally:
            self.calls = calls
            for module, training, buffers in zip(self.modules, modes, saved, strict=True):
                module.train(training)
                for name, buffer in module.named_buffers():
                    buffer.copy_(buffers[name])

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


def layers_of(module: nn.Module) -> dict[str, list[str]]:
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


@contextmanager
def forked_rng(device: torch.device) -> Iterator[None]:
    """Seed torch's RNG inside without changing it for the caller."""
    devices = []
    if device.type == "cuda":
        devices.append(torch.cuda.current_device() if device.index is None else device.index)
    with torch.random.fork_rng(devices=devices):
        yield


def _total(values: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack(values).sum(0)


def _one_seed_grad_sq(param: torch.Tensor) -> torch.Tensor:
    return _grad_or_zeros(param).pow(2).sum()


def _grad_or_zeros(param: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(param) if param.grad is None else param.grad
