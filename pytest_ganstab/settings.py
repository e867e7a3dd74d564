"""How a ganstab test's device, seeds, steps and base seed are decided, as plain Python.

Values come in layers: the test's ``@pytest.mark.ganstab(...)``, the command line, the environment,
the ini file, the chosen profile, then the built-in defaults; the first layer that sets a value wins.
The profile is itself chosen through the same layers, and it only fills what no layer set: so
``--ganstab-seeds 8`` beats the seeds of a marker's ``profile="full"``. Every bad value is reported
as one line naming where it came from and what to write instead.

No pytest and no torch here: the plugin feeds raw values in, and the rules are tested on their own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Profile:
    """Defaults for a kind of run. Test authors write their steps for ``smoke``; ``full`` scales them up."""

    name: str
    seeds: int
    steps_scale: float
    width: int  # network width a suite should use when it wants the profile to pick one
    purpose: str


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", seeds=4, steps_scale=1.0, width=64, purpose="a CPU CI run: few seeds, short"),
    # The reference width of DESIGN.md §5 and 5× the steps: what a GPU does in minutes.
    "full": Profile("full", seeds=16, steps_scale=5.0, width=512, purpose="a GPU run: many seeds, long"),
}
DEFAULT_PROFILE = "smoke"
DEFAULT_DEVICE = "auto"
DEFAULT_SEED = 0
DEFAULT_STEPS = 1000  # the engine's default, for a test that names no steps anywhere

# The settings a layer may carry, and what the marker accepts (it sets no base seed: that is per session).
KEYS = ("device", "seeds", "steps_scale", "profile", "seed")
MARKER_KEYS = ("seeds", "steps", "device", "profile")

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class SettingError(ValueError):
    """A bad option, environment variable, ini value or marker argument; ``str()`` is the one line to show."""


@dataclass(frozen=True)
class Layer:
    """One source of raw values: ``kind`` is "marker", "cli", "env" or "ini"; unset keys are absent."""

    kind: str
    values: Mapping[str, Any]


def where(kind: str, key: str) -> str:
    """How the user wrote ``key`` in that source, so an error points at the exact spelling to fix."""
    dashed = key.replace("_", "-")
    return {
        "marker": f"@pytest.mark.ganstab({key}=...)",
        "cli": f"--ganstab-{dashed}",
        "env": f"GANSTAB_{key.upper()}",
        "ini": f"ini option ganstab_{key}",
    }[kind]


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
            chosen[key] = _parse(key, raw, where(layer.kind, key))
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
            _parse(key, value, where("marker", key))
    return Layer("marker", dict(kwargs))


def enabled(cli: bool, env: str | None, ini: bool) -> bool:
    """Whether ganstab tests run: ``--ganstab``, else ``GANSTAB=1``, else ini ``ganstab = true``."""
    if cli:
        return True
    if env is not None:
        text = env.strip().lower()
        if text not in _TRUE | _FALSE:
            raise SettingError(f"GANSTAB={env!r}: use 1 to run ganstab tests or 0 to skip them")
        return text in _TRUE
    return ini


def pinned_gpu(worker: str | None, visible: str | None, gpu_count: int) -> str | None:
    """The ``CUDA_VISIBLE_DEVICES`` value that gives xdist worker ``worker`` ("gw3") a GPU of its own.

    ``visible`` is the variable as already set (its entries are the GPUs this job may use) and
    ``gpu_count`` the machine's GPUs when it is unset. Workers take GPUs round-robin. None means leave
    the variable alone: not a worker, or fewer than two GPUs to share.
    """
    if worker is None:
        return None
    match = re.fullmatch(r"gw(\d+)", worker)
    if match is None:
        return None
    if visible is not None:
        gpus = [entry.strip() for entry in visible.split(",") if entry.strip()]
    else:
        gpus = [str(index) for index in range(gpu_count)]
    if len(gpus) < 2:
        return None
    return gpus[int(match.group(1)) % len(gpus)]


def worker_threads(worker_count: str | None, cpu_count: int | None, preset: str | None) -> str | None:
    """The ``OMP_NUM_THREADS`` value that shares the CPU cores between xdist workers.

    Every torch process otherwise starts one thread per core, and N workers on N cores then spin against
    each other (measured here: a run of 18 s alone took 428 s beside a second 2-thread process). None
    means leave the variable alone: not under xdist, or the user already chose (``preset``).
    """
    if preset or not worker_count or not worker_count.isdigit() or int(worker_count) < 1:
        return None
    return str(max(1, (cpu_count or 1) // int(worker_count)))


def _parse(key: str, raw: Any, origin: str) -> Any:
    if key == "device":
        text = str(raw).strip().lower()
        if not isinstance(raw, str) or not _DEVICE.match(text):
            raise SettingError(f"{origin}: unknown device {raw!r}; use auto, cpu, cuda or cuda:N")
        return text
    if key == "profile":
        text = str(raw).strip().lower()
        if text not in PROFILES:
            raise SettingError(f"{origin}: unknown profile {raw!r}; choose {' or '.join(PROFILES)}")
        return text
    if key in ("seeds", "steps", "seed"):
        number = _integer(raw, origin)
        low = 0 if key == "seed" else 1
        if number < low:
            hint = "a base seed of 0 or more" if key == "seed" else f"at least 1 (e.g. {key}=4)"
            raise SettingError(f"{origin}: {number} is too small; give {hint}")
        return number
    if key == "steps_scale":
        scale = _number(raw, origin)
        if not (math.isfinite(scale) and scale > 0):
            raise SettingError(f"{origin}: {raw!r} must be a positive number (0.1 = a tenth of the steps)")
        return scale
    raise SettingError(f"{origin}: unknown setting {key!r}")


def _integer(raw: Any, origin: str) -> int:
    if isinstance(raw, bool | float):
        raise SettingError(f"{origin}: {raw!r} is not a whole number")
    try:
        return int(str(raw).strip())
    except ValueError:
        raise SettingError(f"{origin}: {raw!r} is not a whole number") from None


def _number(raw: Any, origin: str) -> float:
    if isinstance(raw, bool):
        raise SettingError(f"{origin}: {raw!r} is not a number")
    try:
        return float(str(raw).strip())
    except ValueError:
        raise SettingError(f"{origin}: {raw!r} is not a number") from None
