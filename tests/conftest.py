"""Shared test configuration."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_ganstab_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The project's tests must not depend on a developer's or CI job's GANSTAB_* settings."""
    for name in list(os.environ):
        if name == "GANSTAB" or name.startswith("GANSTAB_"):
            monkeypatch.delenv(name)
