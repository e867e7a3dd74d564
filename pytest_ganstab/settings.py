"""How a ganstab test's device, seeds, steps and base seed are decided, as plain Python.

Values come in layers: the test's ``@pytest.mark.ganstab(...)``, the command line, the environment,
the ini file, the chosen profile, then the built-in defaults; the first layer that sets a value wins.
The profile is itself chosen through the same layers, and it only fills what no layer set: so
``--ganstab-seeds 8`` beats the seeds of a marker's ``profile="full"``. Values are parsed by the
option table (``options``), so a bad one is one line naming where it came from and what to write.

No pytest and no torch here: the plugin feeds raw values in, and the rules are tested on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .options import Kind, option
from .parsers import OptionError, parse_int
from .profiles import DEFAULT_PROFILE, PROFILES, Profile

DEFAULT_DEVICE = "auto"
DEFAULT_SEED = 0
DEFAULT_STEPS = 1000  # the engine's default, for a test that names no steps anywhere

# The settings a layer may carry, and what the marker accepts (it sets no base seed: that is per session).
KEYS = ("device", "seeds", "steps_scale", "profile", "seed")
MARKER_KEYS = ("seeds", "steps", "device", "profile")

SettingError = OptionError  # the name the plugin and tests catch


@dataclass(frozen=True)
class Layer:
    """One source of raw values: ``kind`` is "marker", "cli", "env" or "ini"; unset keys are absent."""

    kind: Kind
    values: Mapping[str, Any]


def where(kind: Kind, key: str) -> str:
    """How the user wrote ``key`` in that source: ``--ganstab-seeds``, ``@pytest.mark.ganstab(steps=...)``."""
    if key == "steps":
        return f"@pytest.mark.ganstab({key}=...)"
    return option(key).origin(kind)


@dataclass(frozen=True)
class Settings:
    """The resolved values of one test (or of the session, without a marker), and where each came from."""

    device: str
    seeds: int
    steps_scale: float
    seed: int
    profile: Profile
    steps: int | None = None  # only a marker sets steps; they replace the steps the test passes
    sources: dict[str, str] = field(default_factory=dict)

    def scaled(self, steps: int) -> int:
        """Steps as the test wrote them (for the smoke profile) times the steps scale, at least 1."""
        return max(1, round(steps * self.steps_scale))


def resolve(layers: list[Layer]) -> Settings:
    """Settings from ``layers``, most specific first (marker, cli, env, ini); raises SettingError."""
    chosen: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer in layers:
        for key, raw in layer.values.items():
            if raw is None or key in chosen:
                continue
            chosen[key] = _parse(key, raw, layer.kind)
            sources[key] = where(layer.kind, key)
    profile = PROFILES[chosen.get("profile", DEFAULT_PROFILE)]
    sources.setdefault("profile", "default")
    for key in ("seeds", "steps_scale"):
        if key not in chosen:
            chosen[key] = getattr(profile, key)
            sources[key] = f"profile {profile.name}"
    for key, default in (("device", DEFAULT_DEVICE), ("seed", DEFAULT_SEED)):
        if key not in chosen:
            chosen[key] = default
            sources[key] = "default"
    return Settings(
        device=chosen["device"],
        seeds=chosen["seeds"],
        steps_scale=chosen["steps_scale"],
        seed=chosen["seed"],
        profile=profile,
        steps=chosen.get("steps"),
        sources=sources,
    )


def marker_layer(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Layer:
    """The layer of a ``@pytest.mark.ganstab(...)``, checked: keywords only, known keys, valid values."""
    if args:
        raise SettingError(
            f"@pytest.mark.ganstab takes keyword arguments only, got {args!r}; e.g. "
            "@pytest.mark.ganstab(seeds=4, steps=200)"
        )
    unknown = sorted(set(kwargs) - set(MARKER_KEYS))
    if unknown:
        raise SettingError(
            f"@pytest.mark.ganstab got unknown argument(s) {', '.join(unknown)}; "
            f"it takes {', '.join(MARKER_KEYS)}"
        )
    for key, value in kwargs.items():
        if value is not None:
            _parse(key, value, "marker")
    return Layer("marker", dict(kwargs))


_STEPS = parse_int(1, "at least 1 (e.g. steps=4)")


def _parse(key: str, raw: Any, kind: Kind) -> Any:
    origin = where(kind, key)
    if key == "steps":
        return _STEPS(raw, origin)
    if key not in KEYS:
        raise SettingError(f"{origin}: unknown setting {key!r}")
    return option(key).parse(raw, origin)
