"""The fixtures: the per-test trainer ``ganstab``, its device, and toys and recipes by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .state import SESSION, SETTINGS
from .trainer import GanStab, resolve_device

if TYPE_CHECKING:
    import torch

    from ..recipes import Recipe
    from ..toys import Toy


@pytest.fixture
def ganstab(request: pytest.FixtureRequest) -> Iterator[GanStab]:
    """The per-test trainer: ``ganstab.train("wgan-gp", "ring8", steps=300)`` with the resolved settings."""
    state = request.config.stash[SESSION]
    helper = GanStab(request.node, request.node.stash.get(SETTINGS, state.settings))
    yield helper
    helper.finish()


@pytest.fixture
def ganstab_device(request: pytest.FixtureRequest) -> torch.device:
    """The test's resolved device: ``auto`` becomes cuda when present, else cpu."""
    state = request.config.stash[SESSION]
    return resolve_device(request.node.stash.get(SETTINGS, state.settings))


@pytest.fixture
def toy(request: pytest.FixtureRequest) -> Toy:
    """A toy by name: ring8 unless parametrized (``parametrize("toy", ["grid25"], indirect=True)``)."""
    return _toy(getattr(request, "param", "ring8"))


@pytest.fixture
def gan_recipe(request: pytest.FixtureRequest) -> Recipe:
    """A recipe by name: nonsaturating unless parametrized (``indirect=True``)."""
    from ..recipes import recipe

    try:
        return recipe(getattr(request, "param", "nonsaturating"))
    except (ValueError, TypeError) as error:
        pytest.fail(f"gan_recipe fixture: {error}", pytrace=False)


@pytest.fixture
def ring8() -> Toy:
    """PacGAN's ring of 8 Gaussian modes (radius 1, sd 0.01)."""
    return _toy("ring8")


@pytest.fixture
def grid25() -> Toy:
    """PacGAN's 5×5 grid of Gaussian modes (spacing 2, sd 0.05)."""
    return _toy("grid25")


@pytest.fixture
def swissroll() -> Toy:
    """The swiss roll: no discrete modes, judged by distribution-free metrics."""
    return _toy("swissroll")


def _toy(name: str | Toy) -> Toy:
    from ..toys import toy

    try:
        return toy(name)
    except (ValueError, TypeError) as error:
        pytest.fail(f"toy fixture: {error}", pytrace=False)
