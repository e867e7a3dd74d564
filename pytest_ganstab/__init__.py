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
    "custom_loss": "losses",
    "train": "engine",
    "Monitor": "user",
    "monitor": "user",
    "as_toy": "data",
    "Run": "run",
    "metrics": None,
    "Finding": "findings",
    "StabilityError": "findings",
    "assert_no_discriminator_dominance": "assertions",
    "assert_gradients_healthy": "assertions",
    "assert_mode_coverage": "assertions",
    "assert_no_divergence": "assertions",
    "assert_stable": "assertions",
    "assert_class_coverage": "assertions",
    "assert_generator_learns": "assertions",
    "diagnose": "assertions",
    "DiscriminatorDominanceError": "findings",
    "GradientHealthError": "findings",
    "ModeCoverageError": "findings",
    "DivergenceError": "findings",
    "GeneratorStuckError": "findings",
    "ClassCoverageError": "findings",
    "Thresholds": "thresholds",
    "DEFAULTS": "thresholds",
    "KEY_METRICS": "catalog",
    "RunRecord": "records",
    "GanStab": "plugins.trainer",
    "load_store": "history",
    "dirac": None,
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # explicit re-exports ("x as x") so strict type checkers see the public names
    from . import dirac as dirac
    from . import metrics as metrics
    from .assertions import assert_class_coverage as assert_class_coverage
    from .assertions import assert_generator_learns as assert_generator_learns
    from .assertions import assert_gradients_healthy as assert_gradients_healthy
    from .assertions import assert_mode_coverage as assert_mode_coverage
    from .assertions import assert_no_discriminator_dominance as assert_no_discriminator_dominance
    from .assertions import assert_no_divergence as assert_no_divergence
    from .assertions import assert_stable as assert_stable
    from .assertions import diagnose as diagnose
    from .catalog import KEY_METRICS as KEY_METRICS
    from .data import as_toy as as_toy
    from .engine import train as train
    from .findings import ClassCoverageError as ClassCoverageError
    from .findings import DiscriminatorDominanceError as DiscriminatorDominanceError
    from .findings import DivergenceError as DivergenceError
    from .findings import Finding as Finding
    from .findings import GeneratorStuckError as GeneratorStuckError
    from .findings import GradientHealthError as GradientHealthError
    from .findings import ModeCoverageError as ModeCoverageError
    from .findings import StabilityError as StabilityError
    from .history import load_store as load_store
    from .losses import GANLoss as GANLoss
    from .losses import custom_loss as custom_loss
    from .plugins.trainer import GanStab as GanStab
    from .recipes import Recipe as Recipe
    from .recipes import list_recipes as list_recipes
    from .recipes import recipe as recipe
    from .records import RunRecord as RunRecord
    from .run import Run as Run
    from .thresholds import DEFAULTS as DEFAULTS
    from .thresholds import Thresholds as Thresholds
    from .toys import Toy as Toy
    from .toys import list_toys as list_toys
    from .toys import toy as toy
    from .user import Monitor as Monitor
    from .user import monitor as monitor


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pytest_ganstab' has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name] or name}", __name__)
    return module if _EXPORTS[name] is None else getattr(module, name)
