"""Every threshold the checks judge by, declared once with its default and its valid range.

``DEFAULTS`` is what ``assert_*``, ``diagnose``, the metrics and the summary use unless told otherwise;
``DEFAULTS.replace(signal_floor=0.01)`` gives a checked copy. A value out of range is refused here, with
one message, whichever function it was passed to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

Window = float | int  # a share of the recorded steps (0.2: the last fifth) or a number of last steps


@dataclass(frozen=True)
class Thresholds:
    """The limits of docs/design.md §4's checks. Each field's comment says what it bounds."""

    window: Window = 0.2  # the late part of training that is judged: a share of the records, or steps
    early: float = 0.1  # the first share of the records: G's learning signal is compared with it
    smooth: int = 5  # records in the running median that decides when the signal vanished
    auc_threshold: float = 0.95  # D dominates a step when its AUC (real vs fake) is above this
    max_dominant_fraction: float = 0.5  # ... and fails a seed when it dominates more of the window
    signal_floor: float = 0.05  # G's signal has vanished below this share of its early value
    grad_ceiling: float = 1e4  # a gradient norm above this has exploded
    max_loss: float = 1e3  # a |loss| above this has blown up
    max_amplitude: float | None = None  # oscillation: a loss's SD around its trend (None: not judged)
    min_modes: int | float | None = None  # modes to capture: None all, an int a count, a float a share
    # Share of high-quality samples (docs/design.md §4) needed. Its default is also where a mode count starts
    # to mean capture: below it most samples lie off every mode, and the modes counted measure spread.
    min_hq: float = 0.5
    max_reverse_kl: float | None = 0.5  # nats; None: not judged
    samples: int = 2500  # samples from fixed latents that coverage is measured on (the papers' 2,500)
    # G learns: of the way from its first samples' distance to the data down to the data's own, the share its
    # last samples must have covered (a G that never updates covers none of it).
    min_progress: float = 0.1
    # … and the cause of a G that does not learn: D never learned either when its mean AUC over the window is
    # at most this (0.5 is chance; below it, D rates G's samples above the data).
    chance_auc: float = 0.55
    # Conditional GANs: the share of samples on the mode of the class asked for (1/C when G ignores y) …
    min_on_class: float = 0.5
    # … and the mean per-class k-NN recall of that class's real samples (≈ 0 when G collapses in a class).
    min_class_recall: float = 0.25

    def __post_init__(self) -> None:
        problems = [problem for problem in _problems(self) if problem]
        if problems:
            wrong_type = any(isinstance(problem, _TypeProblem) for problem in problems)
            raise (TypeError if wrong_type else ValueError)("; ".join(problems))

    def replace(self, **overrides: Any) -> Thresholds:
        """A copy with ``overrides``; an unknown name is a TypeError listing the known ones."""
        unknown = sorted(set(overrides) - set(NAMES))
        if unknown:
            raise TypeError(f"unknown threshold(s) {', '.join(unknown)}; known: {', '.join(NAMES)}")
        return replace(self, **overrides) if overrides else self


class _TypeProblem(str):
    """A problem with a value's type (a TypeError), not its range (a ValueError)."""


def _problems(t: Thresholds) -> list[str | None]:
    return [
        _window(t.window),
        _share("early", t.early, closed=False),
        _integer("smooth", t.smooth),
        _share("auc_threshold", t.auc_threshold, closed=False),
        None
        if _is_number(t.max_dominant_fraction) and 0 <= t.max_dominant_fraction < 1
        else f"max_dominant_fraction={t.max_dominant_fraction!r} must be in [0, 1): the share of the "
        "window's steps on which D may separate real from fake above auc_threshold",
        _share("signal_floor", t.signal_floor, closed=False),
        _positive("grad_ceiling", t.grad_ceiling),
        _positive("max_loss", t.max_loss),
        None if t.max_amplitude is None else _positive("max_amplitude", t.max_amplitude),
        _min_modes(t.min_modes),
        None
        if _is_number(t.min_hq) and 0 <= t.min_hq <= 1
        else f"min_hq={t.min_hq!r} must be a share of high-quality samples in [0, 1]",
        None
        if t.max_reverse_kl is None or (_is_number(t.max_reverse_kl) and t.max_reverse_kl >= 0)
        else f"max_reverse_kl={t.max_reverse_kl!r} must be 0 or more nats, or None not to judge it",
        _integer("samples", t.samples, hint=" (the papers use 2500)"),
        None
        if _is_number(t.min_progress) and 0 < t.min_progress <= 1
        else f"min_progress={t.min_progress!r} must be in (0, 1]: the share of the way to the data to cover",
        _share("chance_auc", t.chance_auc, closed=False),
        _share("min_on_class", t.min_on_class, closed=True),
        _share("min_class_recall", t.min_class_recall, closed=True),
    ]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _window(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _TypeProblem(f"window={value!r}: give a share of the recorded steps (0.2) or a step count")
    if isinstance(value, float) and not 0 < value <= 1:
        return f"window={value!r}: a share must be in (0, 1]; give an int for a step count"
    if isinstance(value, int) and value < 1:
        return f"window={value!r}: a number of steps must be at least 1"
    return None


def _share(name: str, value: Any, *, closed: bool) -> str | None:
    ok = _is_number(value) and (0 <= value <= 1 if closed else 0 < value < 1)
    return None if ok else f"{name}={value!r} must be in {'[0, 1]' if closed else '(0, 1)'}"


def _positive(name: str, value: Any) -> str | None:
    return None if _is_number(value) and value > 0 else f"{name}={value!r} must be a positive number"


def _integer(name: str, value: Any, hint: str = "") -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return None if ok else f"{name}={value!r} must be an integer of at least 1{hint}"


def _min_modes(value: Any) -> str | None:
    if value is None:
        return None
    if not _is_number(value):
        return _TypeProblem(f"min_modes={value!r}: give None (all modes), a count (6) or a share (0.75)")
    if isinstance(value, int):
        return None if value >= 1 else f"min_modes={value}: a count must be at least 1"
    return (
        None if 0 < value <= 1 else f"min_modes={value!r}: a share must be in (0, 1]; give an int for a count"
    )


NAMES: tuple[str, ...] = tuple(f.name for f in fields(Thresholds))
DEFAULTS = Thresholds()
