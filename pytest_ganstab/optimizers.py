"""The optimisers a recipe names, built the same way for the engine's stacked seeds and the plain loop,
and the user's own optimiser and lr schedule, given as factories.

Adam, RMSProp and SGD are elementwise, so one optimiser over stacked ``[S, ...]`` parameters steps every
seed exactly as its own optimiser would (docs/design.md §5). A user's factory may build any ``torch.optim``
optimiser that is elementwise too (AdamW's weight decay is); one that reads whole tensors (LBFGS's line
search, LAMB's per-tensor trust ratio) would mix the seeds, and is refused for more than one seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .recipes import Recipe

OptimizerFactory = Callable[[list[torch.Tensor], float], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]

# Each updates every element from its own gradient and state (and scalar hyper-parameters), so stacked
# seeds stay independent. Subclasses are judged by these.
ELEMENTWISE: tuple[type[torch.optim.Optimizer], ...] = (
    torch.optim.SGD,
    torch.optim.Adam,
    torch.optim.AdamW,
    torch.optim.RMSprop,
    torch.optim.Adagrad,
    torch.optim.Adadelta,
    torch.optim.Adamax,
    torch.optim.NAdam,
    torch.optim.RAdam,
    torch.optim.Rprop,
    torch.optim.ASGD,
)


def make_optimizer(
    params: list[torch.Tensor],
    recipe: Recipe,
    lr: float,
    factory: OptimizerFactory | None = None,
    *,
    seeds: int = 1,
    role: str = "optimizer",
) -> torch.optim.Optimizer:
    """The recipe's optimiser over ``params`` at learning rate ``lr``, or the one ``factory(params, lr)``
    builds; with several seeds stacked in ``params`` the factory's optimiser must be elementwise."""
    if factory is None:
        if recipe.optimizer == "adam":
            return torch.optim.Adam(params, lr=lr, betas=recipe.betas)
        if recipe.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr)
        return torch.optim.SGD(params, lr=lr)
    if not callable(factory):
        raise TypeError(
            f"{role}={factory!r}: give a factory, e.g. lambda params, lr: torch.optim.AdamW(params, lr=lr)"
        )
    built = factory(params, lr)
    if not isinstance(built, torch.optim.Optimizer):
        raise TypeError(f"{role}: the factory returned a {type(built).__name__}, not a torch.optim.Optimizer")
    held = {id(p) for group in built.param_groups for p in group["params"]}
    if held != {id(p) for p in params}:
        raise ValueError(f"{role}: the factory's optimiser must hold exactly the parameters it is given")
    if seeds > 1 and not isinstance(built, ELEMENTWISE):
        raise ValueError(
            f"{role}: {type(built).__name__} is not known to update each element on its own, so one "
            f"optimiser over {seeds} stacked seeds could mix them; use an elementwise one "
            f"({', '.join(kind.__name__ for kind in ELEMENTWISE)}) or train one seed per run (seeds=[k])"
        )
    return built


def make_scheduler(factory: SchedulerFactory | None, optimizer: torch.optim.Optimizer, role: str) -> Any:
    """``factory(optimizer)``: an lr scheduler the engine steps once per training step; None without one."""
    if factory is None:
        return None
    if not callable(factory):
        raise TypeError(
            f"{role}={factory!r}: give a factory, e.g. lambda opt: torch.optim.lr_scheduler.StepLR(opt, 100)"
        )
    scheduler = factory(optimizer)
    if not callable(getattr(scheduler, "step", None)):
        raise TypeError(f"{role}: the factory returned a {type(scheduler).__name__}, which has no step()")
    return scheduler


def describe(optimizer: torch.optim.Optimizer) -> str:
    """``AdamW (lr 0.0002, weight_decay 0.01, betas (0.5, 0.999))``: what a note or a Run should say."""
    group = optimizer.param_groups[0]
    shown = [f"lr {_number(group['lr'])}"]
    for key in ("weight_decay", "betas", "momentum"):
        value = group.get(key)
        if value not in (None, 0, 0.0):
            shown.append(f"{key} {_number(value)}")
    return f"{type(optimizer).__name__} ({', '.join(shown)})"


def initial_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate the optimiser started with (a scheduler keeps it as ``initial_lr``)."""
    group = optimizer.param_groups[0]
    return float(group.get("initial_lr", group["lr"]))


def recipe_optimizer(optimizer: torch.optim.Optimizer) -> tuple[str, Sequence[float] | None]:
    """The recipe's name for an optimiser's family (adam, rmsprop, sgd) and its betas where it has them."""
    if isinstance(optimizer, torch.optim.Adam | torch.optim.AdamW | torch.optim.NAdam | torch.optim.RAdam):
        return "adam", tuple(optimizer.param_groups[0]["betas"])
    if isinstance(optimizer, torch.optim.RMSprop):
        return "rmsprop", None
    return "sgd", None


def _number(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_number(v) for v in value) + ")"
    return f"{float(value):g}" if isinstance(value, int | float) else str(value)
