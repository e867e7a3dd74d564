"""The regression gate's seed-noise test: could a reshuffle of the seeds have raised this alarm?

The gate alarms when some metric of some matched run both reaches its rule (``rules``) and is unlikely to
be seed noise. Testing each metric of each run at alpha on its own would let the chances add up (six
metrics of one run false-alarmed about 11 % of the time on real A/A pairs). This module holds the whole
gate's false-alarm rate at alpha, in two steps.

**Within a run: a rule-gated, step-down maxT permutation test** (Westfall & Young 1993, *Resampling-Based
Multiple Testing*, algorithm 2.8). The seeds of both sides are pooled and split again into groups of
the old and new sizes, every way up to ``EXACT_LIMIT`` splits, else ``RESAMPLES`` splits drawn from a
fixed seed plus the observed one (so a p-value is never 0: Phipson & Smyth 2010). A split moves whole
seeds, so the metrics' correlation and each seed's missing values travel with it. In every split, per
metric: the change of the mean in the bad direction, W; whether W reaches the rule (the rule is part of
the alarm, so it is re-evaluated in every split); and z = W / (sd · √(1/n_new + 1/n_old)), with sd the
metric's standard deviation over all the pooled seeds. The sd is the same in every split, so per metric
z orders the splits exactly as W does, while across metrics it puts the changes on one scale. The run's
statistic in a split is the largest z among the metrics whose rule that split reaches; a metric's
adjusted p is the share of splits whose statistic is at least its z (step-down: once the most extreme
metric is out, the next is compared with the maximum over the rest). If the change made no difference,
the observed split is one of the splits at random, so a run alarms with probability at most alpha
whatever the metrics' correlation, ties, discreteness or missing values.

**Across the runs of a session: a discrete Šidák correction.** Runs train independently, so under the
null their splits are independent, and the chance that any run of the family alarms at level c is
1 − ∏ₜ (1 − Fₜ(c)), where Fₜ(c) is the share of run t's splits whose smallest adjusted p is at most c:
its own permutation distribution, read off its own data. A metric's family-adjusted p is that
expression at its within-run adjusted p. A run whose seeds never reach a rule in any split has Fₜ = 0
and costs the others nothing; a family of many runs needs more seeds per run, and when no outcome could
reach alpha the verdict says "too few seeds".

Only numpy; everything is deterministic: equal inputs give equal verdicts.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .rules import DIRECTIONS, TOL, Rule

EXACT_LIMIT = 20_000
RESAMPLES = 9_999
_BLOCK = 1 << 20  # how many split-by-seed cells are turned into floats at once (bounds memory)

Values = Mapping[str, Sequence[float | None]]  # metric -> one value per seed; None = not measured


@functools.lru_cache(maxsize=16)
def splits(n_new: int, n_old: int) -> tuple[np.ndarray, bool]:
    """Which pooled seed goes to "new" in each split (uint8, one row per split), and whether the rows are
    every split. Pooled order is new seeds first, then old, and row 0 is the observed split.

    The rows depend only on the group sizes, so every run of those sizes shares them (hence the cache).
    """
    n = n_new + n_old
    count = math.comb(n, n_new)
    if count <= EXACT_LIMIT:  # lexicographic: the first combination is (0, ..., n_new - 1), the observed one
        chosen = np.array(list(itertools.combinations(range(n), n_new)), dtype=np.intp).reshape(count, n_new)
        member = np.zeros((count, n), dtype=np.uint8)
        np.put_along_axis(member, chosen, 1, axis=1)
        return member, True
    generator = np.random.default_rng(0)
    member = np.zeros((RESAMPLES + 1, n), dtype=np.uint8)
    member[0, :n_new] = 1
    rows = max(1, _BLOCK // n)
    for start in range(1, RESAMPLES + 1, rows):
        block = member[start : start + rows]
        picks = np.argsort(generator.random((block.shape[0], n)), axis=1)[:, :n_new]
        np.put_along_axis(block, picks, 1, axis=1)
    return member, False


@dataclass(frozen=True)
class RunTest:
    """The gate's test of one matched run: per metric, the observed change and its p-values."""

    metrics: tuple[str, ...]
    change: np.ndarray  # new mean - old mean (NaN where a side has no value)
    p: np.ndarray  # one-sided p of the metric alone, the way its mean moved (NaN: no move, or untestable)
    reached: np.ndarray  # bool: the observed change reaches the metric's rule
    p_run: np.ndarray  # adjusted for the run's metrics (NaN where the rule is not reached)
    null: np.ndarray  # ascending, one per split: the run's smallest adjusted p had that split been observed

    @property
    def splits(self) -> int:
        return int(self.null.size)

    def cdf(self, c: np.ndarray) -> np.ndarray:
        """F(c): the chance that this run's smallest adjusted p is at most c if nothing changed."""
        c = np.nan_to_num(np.asarray(c, dtype=float), nan=1.0)
        return np.searchsorted(self.null, c * (1 + TOL), side="right") / self.null.size


def run_test(old: Values, new: Values, metrics: Sequence[str], rules: Mapping[str, Rule]) -> RunTest:
    """Test ``metrics`` (each in both sides, with a direction) of one matched run; see the module docstring.

    Within a side every metric lists the same seeds, as run records do (a shorter list is padded with
    missing values); None, NaN and inf are missing. Metrics without a rule get p but never ``p_run``.
    """
    metrics = tuple(metrics)
    n_new = max((len(new[m]) for m in metrics), default=0)
    n_old = max((len(old[m]) for m in metrics), default=0)
    values = np.vstack([_matrix(new, metrics, n_new), _matrix(old, metrics, n_old)])
    values[~np.isfinite(values)] = np.nan
    present = ~np.isnan(values)
    filled = np.where(present, values, 0.0)
    member, _ = splits(n_new, n_old)
    count, total = present.sum(axis=0), filled.sum(axis=0)
    n1, s1 = _new_group_sums(member, present.astype(float), filled)
    n0, s0 = count - n1, total - s1
    scale = np.maximum(1.0, np.abs(filled).max(axis=0, initial=0.0))
    direction = np.array([DIRECTIONS[m] for m in metrics], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean1, mean0 = s1 / n1, s0 / n0
        worsening = -direction * (mean1 - mean0)  # NaN in a split that leaves a side without values
        # The sd over every pooled seed: the same in all splits. The floor keeps a constant metric finite.
        deviation = np.where(present, values - total / count, 0.0)
        sd = np.sqrt((deviation * deviation).sum(axis=0) / (count - 1))
        sd = np.maximum(np.nan_to_num(sd), TOL * scale)
        z = worsening / (sd * np.sqrt(1 / n1 + 1 / n0))
        defined = np.isfinite(worsening)
        z = np.where(defined, z, -np.inf)
        reached = np.zeros(worsening.shape, dtype=bool)
        for j, metric in enumerate(metrics):
            if metric in rules:
                change = mean1[:, j] - mean0[:, j]
                reached[:, j] = rules[metric].reached(mean0[:, j], change, scale[j]) & defined[:, j]
        n_splits = member.shape[0]
        tolerance = TOL * scale
        observed = worsening[0]
        as_bad = (worsening >= observed - tolerance).sum(axis=0) / n_splits
        as_good = (worsening <= observed + tolerance).sum(axis=0) / n_splits
    moved = defined[0] & (np.abs(np.nan_to_num(observed)) > tolerance)
    p = np.where(moved, np.where(observed > 0, as_bad, as_good), np.nan)
    gated = np.where(reached, z, -np.inf)  # what an alarm can come from, split by split
    return RunTest(
        metrics=metrics,
        change=np.where(defined[0], mean1[0] - mean0[0], np.nan),
        p=p,
        reached=reached[0],
        p_run=_step_down(gated, z[0], reached[0]),
        null=_null_distribution(gated),
    )


def _matrix(side: Values, metrics: tuple[str, ...], n: int) -> np.ndarray:
    """Seeds × metrics as floats, missing values NaN."""
    out = np.full((n, len(metrics)), np.nan)
    for j, metric in enumerate(metrics):
        column = [math.nan if value is None else float(value) for value in side[metric]]
        out[: len(column), j] = column
    return out


def _new_group_sums(
    member: np.ndarray, present: np.ndarray, filled: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per split and metric: how many values the new group has, and their sum (matrix products)."""
    stacked = np.hstack([present, filled])
    rows = max(1, _BLOCK // max(1, member.shape[1]))
    sums = np.vstack(
        [member[start : start + rows].astype(float) @ stacked for start in range(0, member.shape[0], rows)]
    )
    return sums[:, : present.shape[1]], sums[:, present.shape[1] :]


def _at_least(statistic: np.ndarray, threshold: float) -> int:
    """How many splits' statistic is at least ``threshold``, ties within rounding included."""
    return int(np.count_nonzero(statistic >= threshold - TOL * max(1.0, abs(threshold))))


def _step_down(gated: np.ndarray, observed: np.ndarray, hypotheses: np.ndarray) -> np.ndarray:
    """Westfall-Young step-down adjusted p of the metrics whose rule the observed split reaches."""
    n_splits, n_metrics = gated.shape
    p_run = np.full(n_metrics, np.nan)
    order = [int(j) for j in np.argsort(-np.where(hypotheses, observed, -np.inf), kind="stable")]
    running = 0.0
    for step, j in enumerate(order):
        if not hypotheses[j]:
            break  # the rest reach no rule: they can never be regressions
        # Compared with the maximum over the metrics not yet rejected; adjusted p never decreases.
        running = max(running, _at_least(gated[:, order[step:]].max(axis=1), float(observed[j])) / n_splits)
        p_run[j] = running
    return p_run


def _null_distribution(gated: np.ndarray) -> np.ndarray:
    """For every split taken as the observed one, the run's smallest adjusted p, sorted ascending."""
    n_splits = gated.shape[0]
    if gated.shape[1] == 0:
        return np.ones(n_splits)
    statistic = gated.max(axis=1)
    finite = np.isfinite(statistic)
    tolerance = TOL * np.maximum(1.0, np.abs(np.where(finite, statistic, 0.0)))
    at_least = n_splits - np.searchsorted(np.sort(statistic), statistic - tolerance, side="left")
    return np.sort(np.where(finite, at_least / n_splits, 1.0))


def family_pvalues(runs: Sequence[RunTest], family: str) -> list[np.ndarray]:
    """Each run's ``p_run`` adjusted for the family: every run of the session, or the run alone."""
    return [_sidak(run.p_run, runs if family == "session" else [run]) for run in runs]


def smallest_family_pvalue(run: RunTest, runs: Sequence[RunTest], family: str) -> float:
    """The smallest family-adjusted p that a run of ``run``'s size could get (1 / its splits, as with
    all-distinct values), the family's other runs being as they are. Above alpha, nothing in it could be
    flagged: too few seeds for the family."""
    best = np.array([1 / run.splits])
    others = [other for other in runs if other is not run] if family == "session" else []
    return float(1 - (1 - best[0]) * (1 - _sidak(best, others)[0]))


def _sidak(p: np.ndarray, family: Sequence[RunTest]) -> np.ndarray:
    """1 − ∏ₜ (1 − Fₜ(p)) over the family's runs; NaN stays NaN (nothing to adjust)."""
    kept = np.zeros(p.shape)
    with np.errstate(divide="ignore"):
        for run in family:
            kept += np.log1p(-np.minimum(run.cdf(p), 1.0))
    return np.where(np.isnan(p), np.nan, -np.expm1(kept))
