"""Statistics across seeds: a verdict on 8 seeds must read differently from one on 2.

Every finding carries, per metric, the mean over seeds and a bootstrap confidence interval of that mean.
The bootstrap is seeded, so the same values always give the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000


class Interval(NamedTuple):
    """The mean over seeds and a confidence interval of it; a plain tuple, as ``Finding.ci`` stores it."""

    mean: float
    low: float
    high: float


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Interval:
    """Expanded-percentile bootstrap interval of the mean of ``values`` (one value per seed).

    A plain percentile bootstrap is far too narrow for a handful of seeds; the expanded version
    (Hesterberg 2015) reads the bootstrap distribution at the tail probability Φ(−√(n/(n−1))·t₍ₙ₋₁₎),
    so 2 seeds give the whole range of their resampled means and 8 seeds a proper interval.
    NaN values (seeds that could not be measured) are left out. With one value the interval is that value
    (degenerate: nothing is known about the spread); with none it is all NaN.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must be in (0, 1), e.g. 0.95")
    if resamples < 1:
        raise ValueError(f"resamples={resamples!r} must be at least 1")
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[~np.isnan(data)]
    if data.size == 0:
        return Interval(math.nan, math.nan, math.nan)
    mean = float(data.mean())
    if data.size == 1 or bool(np.all(data == data[0])):
        return Interval(mean, mean, mean)
    generator = np.random.default_rng(seed)
    means = data[generator.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    from scipy.stats import norm, t

    n = data.size
    tail = float(norm.cdf(-math.sqrt(n / (n - 1)) * t.ppf(1 - (1 - confidence) / 2, n - 1)))
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(mean, float(low), float(high))


def format_interval(interval: tuple[float, float, float], n: int, *, confidence: float = CONFIDENCE) -> str:
    """``0.973 [95% CI 0.951, 0.990] over 4 seeds``; says so when one seed leaves the interval degenerate."""
    mean, low, high = interval
    if n <= 1:
        return f"{mean:.3g} (1 seed: no confidence interval; run more seeds to judge the spread)"
    return f"{mean:.3g} [{confidence:.0%} CI {low:.3g}, {high:.3g}] over {n} seeds"


def required_passes(quorum: int | float | None, n_seeds: int) -> int:
    """How many of ``n_seeds`` seeds must pass: None is all, an int a count, a float a fraction in (0, 1]."""
    return required_count(quorum, n_seeds, name="quorum", whole=f"the run's {n_seeds} seeds")


def required_count(
    wanted: int | float | None, total: int, *, name: str = "min_modes", whole: str = ""
) -> int:
    """How many of ``total`` are needed: None is all, an int a count, a float a share in (0, 1].

    One rule for a quorum of seeds and for a number of modes, so both read a share the same way.
    """
    whole = whole or f"the toy's {total} modes"
    if wanted is None:
        return total
    if isinstance(wanted, bool) or not isinstance(wanted, int | float):
        raise TypeError(f"{name}={wanted!r}: give None (all), a count (3) or a share (0.75)")
    if isinstance(wanted, int):
        if not 1 <= wanted <= total:
            raise ValueError(f"{name}={wanted}: a count must be from 1 to {whole}")
        return wanted
    if not 0 < wanted <= 1:
        raise ValueError(f"{name}={wanted!r}: a share must be in (0, 1]; give an int for a count")
    # A tiny tolerance so that 0.75 of 4 is 3, not 4 after rounding error.
    return max(1, math.ceil(wanted * total - 1e-9))
