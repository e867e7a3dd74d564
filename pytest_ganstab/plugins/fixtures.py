"""The fixtures: the per-test trainer ``ganstab``, its device, and toys and recipes by name.

Every fixture is prefixed ``ganstab_`` (or is ``ganstab`` itself): a plugin's fixtures are global to the
whole test suite, and short names such as ``toy`` or ``ring8`` collide with a project's own fixtures.
The 0.1 names (``toy``, ``gan_recipe``, ``ring8``, ``grid25``, ``swissroll``) still work for one
release, each with a ``DeprecationWarning`` that names its replacement.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .state import SESSION, SETTINGS
from .trainer import GanStab, resolve_device

if TYPE_CHECKING:
    import torch

    from ..recipes import Recipe
    from ..toys import Toy

REMOVED_IN = "0.3"  # the release that drops the deprecated fixture names
DEFAULT_TOY = "ring8"
DEFAULT_RECIPE = "nonsaturating"


@pytest.fixture
def ganstab(request: pytest.FixtureRequest) -> Iterator[GanStab]:
    """The per-test trainer: ``ganstab.train("wgan-gp", "ring8", steps=300)`` with the resolved settings
    (marker > command line > environment > ini > profile). Using it marks the test as a GAN test."""
    state = request.config.stash[SESSION]
    helper = GanStab(request.node, request.node.stash.get(SETTINGS, state.settings))
    yield helper
    helper.finish()


@pytest.fixture
def ganstab_device(request: pytest.FixtureRequest) -> torch.device:
    """The test's resolved device as a ``torch.device``: ``auto`` becomes cuda when present, else cpu."""
    state = request.config.stash[SESSION]
    return resolve_device(request.node.stash.get(SETTINGS, state.settings))


@pytest.fixture
def ganstab_toy(request: pytest.FixtureRequest) -> Toy:
    """A toy by name: ring8 unless parametrized,
    ``@pytest.mark.parametrize("ganstab_toy", ["grid25"], indirect=True)``."""
    return _toy(getattr(request, "param", DEFAULT_TOY), "ganstab_toy")


@pytest.fixture
def ganstab_recipe(request: pytest.FixtureRequest) -> Recipe:
    """A recipe by name: nonsaturating unless parametrized,
    ``@pytest.mark.parametrize("ganstab_recipe", ["wgan-gp"], indirect=True)``."""
    return _recipe(getattr(request, "param", DEFAULT_RECIPE), "ganstab_recipe")


@pytest.fixture
def ganstab_ring8() -> Toy:
    """PacGAN's ring of 8 Gaussian modes (radius 1, sd 0.01)."""
    return _toy("ring8", "ganstab_ring8")


@pytest.fixture
def ganstab_grid25() -> Toy:
    """PacGAN's 5×5 grid of Gaussian modes (spacing 2, sd 0.05)."""
    return _toy("grid25", "ganstab_grid25")


@pytest.fixture
def ganstab_swissroll() -> Toy:
    """The swiss roll: no discrete modes, judged by distribution-free metrics."""
    return _toy("swissroll", "ganstab_swissroll")


# ---------------------------------------------------------------- the 0.1 names, deprecated


@pytest.fixture
def toy(request: pytest.FixtureRequest) -> Toy:
    """Deprecated: use ``ganstab_toy`` (same behaviour, parametrizable the same way)."""
    _deprecated("toy", "ganstab_toy")
    return _toy(getattr(request, "param", DEFAULT_TOY), "toy")


@pytest.fixture
def gan_recipe(request: pytest.FixtureRequest) -> Recipe:
    """Deprecated: use ``ganstab_recipe`` (same behaviour, parametrizable the same way)."""
    _deprecated("gan_recipe", "ganstab_recipe")
    return _recipe(getattr(request, "param", DEFAULT_RECIPE), "gan_recipe")


@pytest.fixture
def ring8() -> Toy:
    """Deprecated: use ``ganstab_ring8``."""
    _deprecated("ring8", "ganstab_ring8")
    return _toy("ring8", "ring8")


@pytest.fixture
def grid25() -> Toy:
    """Deprecated: use ``ganstab_grid25``."""
    _deprecated("grid25", "ganstab_grid25")
    return _toy("grid25", "grid25")


@pytest.fixture
def swissroll() -> Toy:
    """Deprecated: use ``ganstab_swissroll``."""
    _deprecated("swissroll", "ganstab_swissroll")
    return _toy("swissroll", "swissroll")


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"pytest-ganstab: the fixture {old!r} is deprecated and will be removed in {REMOVED_IN}; "
        f"use {new!r} (a plugin's short fixture names collide with a project's own)",
        DeprecationWarning,
        stacklevel=2,
    )


def _toy(name: str | Toy, fixture: str) -> Toy:
    from ..toys import toy as make_toy

    try:
        return make_toy(name)
    except (ValueError, TypeError) as error:
        pytest.fail(f"{fixture} fixture: {error}", pytrace=False)


def _recipe(name: str | Recipe, fixture: str) -> Recipe:
    from ..recipes import recipe as make_recipe

    try:
        return make_recipe(name)
    except (ValueError, TypeError) as error:
        pytest.fail(f"{fixture} fixture: {error}", pytrace=False)
