"""Shared test configuration."""

from __future__ import annotations

import os

import pytest

# In-process pytester runs put sys.modules back as they found it, and torch cannot load twice in one
# process: load it (with what torch.manual_seed loads) before any of them, whatever the test order.
import torch._dynamo  # noqa: F401


@pytest.fixture(autouse=True)
def _no_ganstab_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The project's tests must not depend on a developer's or CI job's GANSTAB_* settings."""
    for name in list(os.environ):
        if name == "GANSTAB" or name.startswith("GANSTAB_"):
            monkeypatch.delenv(name)
