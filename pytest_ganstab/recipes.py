"""Recipes: everything that defines a GAN besides the data, and the registry of standard ones.

A recipe is a frozen value, so two runs with equal recipes are comparable and a recipe can be saved
in a history file as plain data. Knobs apply to every recipe: ``recipe("wgan-gp", d_width=512)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

Optimizer = Literal["adam", "rmsprop", "sgd"]
Activation = Literal["relu", "leaky_relu", "tanh"]

_LOSS_NAMES = ("minimax", "nonsaturating", "wgan", "lsgan", "hinge")
_LABELLED = ("minimax", "nonsaturating", "lsgan")  # the losses with a real label to smooth


# The real-valued knobs: what each must be (completing "must be ..."), and the check of a finite value.
_NUMBER_KNOBS: tuple[tuple[str, str, Callable[[float], bool]], ...] = (
    ("g_lr", "a finite positive number, e.g. 1e-4", lambda x: x > 0),
    ("d_lr", "a finite positive number, e.g. 1e-4", lambda x: x > 0),
    (
        "lr_decay",
        "a number in (0, 1]: the share of g_lr and d_lr left at the end (1: constant)",
        lambda x: 0 < x <= 1,
    ),
    ("gp_weight", "0 (off) or a finite positive number, e.g. 10", lambda x: x >= 0),
    ("r1_weight", "0 (off) or a finite positive number, e.g. 1", lambda x: x >= 0),
    ("r2_weight", "0 (off) or a finite positive number, e.g. 1", lambda x: x >= 0),
    ("real_label", "a number in (0, 1]; 0.9 is one-sided label smoothing", lambda x: 0 < x <= 1),
)


def _number(value: Any) -> bool:
    """A finite real number: not a bool, not a string, not NaN or an infinity."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Recipe:
    """A GAN recipe. Defaults are the classic toy script's (docs/design.md §5) at a CPU-friendly width:
    G latent-128-128-128-dim and D dim-128-128-128-1, ReLU, Adam 1e-4 (0.5, 0.9), batch 256."""

    name: str = "nonsaturating"
    loss: str = "nonsaturating"
    latent_dim: int = 2
    g_width: int = 128
    g_depth: int = 3
    d_width: int = 128
    d_depth: int = 3
    g_residual: bool = False
    d_residual: bool = False
    activation: Activation = "relu"
    batch_size: int = 256
    n_critic: int = 1
    g_lr: float = 1e-4
    d_lr: float = 1e-4
    lr_decay: float = 1.0  # both rates fall linearly to this share of themselves over the run; 1: constant
    optimizer: Optimizer = "adam"
    betas: tuple[float, float] = (0.5, 0.9)
    real_label: float = 1.0
    clip: float | None = None
    gp_weight: float = 0.0
    r1_weight: float = 0.0
    r2_weight: float = 0.0
    spectral_norm: bool = False

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ValueError(f"recipe {self.name!r}: " + "; ".join(problems))

    def _problems(self) -> Any:
        """One line per bad knob, each saying what to write; every value is type-checked first, so a
        string, a NaN or an infinity is named here and never reaches the engine (where ``g_lr=inf``
        would make every seed non-finite at its first step)."""
        if not isinstance(self.name, str):
            yield f"name={self.name!r} must be a string"
        if self.loss not in _LOSS_NAMES:
            yield f"loss={self.loss!r} is unknown; use one of {', '.join(_LOSS_NAMES)}"
        for key in ("latent_dim", "g_width", "d_width", "batch_size", "n_critic", "g_depth", "d_depth"):
            value, least = getattr(self, key), 0 if key.endswith("depth") else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                yield f"{key}={value!r} must be an integer of at least {least}"
        for key in ("g_residual", "d_residual", "spectral_norm"):
            if not isinstance(getattr(self, key), bool):
                yield f"{key}={getattr(self, key)!r} must be True or False"
        betas = self.betas
        if not (
            isinstance(betas, tuple | list) and len(betas) == 2 and all(_number(beta) for beta in betas)
        ) or not all(0 <= beta < 1 for beta in betas):
            yield f"betas={betas!r} must be two numbers in [0, 1), e.g. (0.5, 0.9)"
        for key, requirement, ok in _NUMBER_KNOBS:
            value = getattr(self, key)
            if not (_number(value) and ok(value)):
                yield f"{key}={value!r} must be {requirement}"
        if self.clip is not None and not (_number(self.clip) and self.clip > 0):
            yield f"clip={self.clip!r} must be a finite positive number (or None for no weight clipping)"
        if self.optimizer not in ("adam", "rmsprop", "sgd"):
            yield f"optimizer={self.optimizer!r} is unknown; use adam, rmsprop or sgd"
        if self.activation not in ("relu", "leaky_relu", "tanh"):
            yield f"activation={self.activation!r} is unknown; use relu, leaky_relu or tanh"
        if _number(self.real_label) and self.real_label != 1.0 and self.loss not in _LABELLED:
            yield f"real_label applies to the minimax, nonsaturating and lsgan losses, not {self.loss!r}"

    def mlp_sizes(self, data_dim: int) -> tuple[list[int], list[int]]:
        """Layer sizes of the recipe's G (latent → … → data) and D (data → … → one score)."""
        return (
            [self.latent_dim, *[self.g_width] * self.g_depth, data_dim],
            [data_dim, *[self.d_width] * self.d_depth, 1],
        )

    @property
    def capacity_ratio(self) -> float:
        """G's hidden units over D's: below 1 means a D larger than G (cause 4 of docs/design.md §1)."""
        return (self.g_width * max(self.g_depth, 1)) / (self.d_width * max(self.d_depth, 1))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        values = dict(data)
        if isinstance(values.get("betas"), list):
            values["betas"] = tuple(values["betas"])
        return cls(**values)


# The standard recipes. Each changes only what defines it; every other knob is the default.
_STANDARD: dict[str, dict[str, Any]] = {
    "minimax": {"loss": "minimax"},
    "nonsaturating": {"loss": "nonsaturating"},
    # Arjovsky et al. 2017: weight clipping at 0.01, RMSProp 5e-5, 5 critic steps.
    "wgan": {"loss": "wgan", "optimizer": "rmsprop", "g_lr": 5e-5, "d_lr": 5e-5, "clip": 0.01, "n_critic": 5},
    # Gulrajani et al. 2017: λ = 10, 5 critic steps, Adam 1e-4 (0.5, 0.9).
    "wgan-gp": {"loss": "wgan", "gp_weight": 10.0, "n_critic": 5},
    "lsgan": {"loss": "lsgan"},
    "hinge-sn": {"loss": "hinge", "spectral_norm": True},
    "nonsaturating-r1": {"loss": "nonsaturating", "r1_weight": 1.0},
    "label-smoothing": {"loss": "nonsaturating", "real_label": 0.9},
    # Heusel et al. 2017: a faster D; 4× is the common ratio.
    "ttur": {"loss": "nonsaturating", "g_lr": 1e-4, "d_lr": 4e-4},
}

_KNOBS = tuple(f.name for f in fields(Recipe) if f.name != "name")


def recipe(name: str | Recipe = "nonsaturating", **overrides: Any) -> Recipe:
    """A standard recipe by name, with any knob overridden.

    ``width`` and ``depth`` set both networks at once; ``capacity_ratio`` is read off the result.
    """
    if isinstance(name, Recipe):
        base = name
    else:
        try:
            base = Recipe(name=name, **_STANDARD[name])
        except KeyError:
            raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(list_recipes())}") from None
    for both in ("width", "depth"):
        if both in overrides:
            value = overrides.pop(both)
            overrides.setdefault(f"g_{both}", value)
            overrides.setdefault(f"d_{both}", value)
    unknown = sorted(set(overrides) - set(_KNOBS))
    if unknown:
        raise TypeError(
            f"recipe {base.name!r}: unknown knob(s) {', '.join(unknown)}; "
            f"known knobs: width, depth, {', '.join(_KNOBS)}"
        )
    if isinstance(overrides.get("betas"), list):
        overrides["betas"] = tuple(overrides["betas"])
    return replace(base, **overrides) if overrides else base


def defining_settings(name: str) -> dict[str, Any]:
    """The knobs that make a standard recipe what it is (``ttur``: its learning rates); {} for others."""
    return dict(_STANDARD.get(name, {}))


def list_recipes() -> list[str]:
    """The names ``recipe()`` accepts."""
    return sorted(_STANDARD)
