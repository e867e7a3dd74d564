"""pytest-ganstab: catch GAN training-stability regressions in pytest.

The public names load lazily, so ``import pytest_ganstab.plugin`` (which pytest does at start-up)
does not import torch: ``pytest --help`` stays fast and CUDA is untouched at collection.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "toy": "toys",
    "list_toys": "toys",
    "Toy": "toys",
    "recipe": "recipes",
    "list_recipes": "recipes",
    "Recipe": "recipes",
    "GANLoss": "losses",
    "train": "engine",
    "Run": "run",
    "metrics": None,
    "Finding": "findings",
    "StabilityError": "findings",
    "assert_no_discriminator_dominance": "assertions",
    "assert_gradients_healthy": "assertions",
    "assert_mode_coverage": "assertions",
    "assert_no_divergence": "assertions",
    "assert_stable": "assertions",
    "load_store": "history",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from . import metrics
    from .assertions import (
        assert_gradients_healthy,
        assert_mode_coverage,
        assert_no_discriminator_dominance,
        assert_no_divergence,
        assert_stable,
    )
    from .engine import train
    from .history import load_store
    from .findings import Finding, StabilityError
    from .losses import GANLoss
    from .recipes import Recipe, list_recipes, recipe
    from .run import Run
    from .toys import Toy, list_toys, toy


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pytest_ganstab' has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name] or name}", __name__)
    return module if _EXPORTS[name] is None else getattr(module, name)
