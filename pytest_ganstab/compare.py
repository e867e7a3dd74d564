"""Compare two sessions' run records metric by metric, and decide which changes are regressions.

Records match by (test id, run label). For every metric both sides have, the table shows old and new
(mean ± sd over seeds), the change, ``p`` (a one-sided permutation test of that metric alone, the way its
mean moved) and a verdict. A change is a REGRESSION only when BOTH hold:

1. the change of the mean over seeds reaches the metric's rule (``rules``), and
2. its family-adjusted p (``p adj``) is at most alpha: the gate's permutation test (``gate``) corrects
   for every metric with a rule in every matched run of the session (``family="session"``, the default)
   or in the run alone (``family="run"``), so the whole gate false-alarms with probability at most alpha
   when nothing changed.

When no outcome of a run could reach alpha after the correction (too few seeds for the size of the
family: 2 old and 2 new seeds give at best 1/6 even alone), its rows say "too few seeds" instead of
flagging anything. ``time`` (seconds per seed-step) has one value per run, so its rule alone decides; it
is outside the gate's error rate and left out of the default rules. Seeds whose metric is missing (None,
e.g. after a divergence) are left out of that metric; ``nonfinite`` counts them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import tables
from .catalog import BY_NAME
from .rules import (
    DEFAULT_ALPHA,
    DEFAULT_FAMILY,
    DEFAULT_RULES,
    DIRECTIONS,
    FAMILIES,
    Rule,
    RuleError,
    parse_rules,
)

if TYPE_CHECKING:
    from .gate import RunTest
    from .records import RunRecord

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_FAMILY",
    "DEFAULT_RULES",
    "DIRECTIONS",
    "FAMILIES",
    "Comparison",
    "Row",
    "Rule",
    "RuleError",
    "compare_records",
    "keyed_records",
    "parse_rules",
    "record_values",
    "run_name",
]


@dataclass(frozen=True)
class Row:
    """One metric of one matched run: old and new values, the change, its p-values and the verdict."""

    test: str
    label: str
    metric: str
    old: tuple[float, ...]
    new: tuple[float, ...]
    p: float  # the metric alone, one-sided the way its mean moved; NaN when no test was made
    rule: Rule | None
    # "REGRESSION", "worse", "better", "same", "within noise", "too few seeds[ for a session of R runs]",
    # or "" (no direction)
    verdict: str
    p_adj: float = math.nan  # adjusted for the family; NaN unless the change reaches the rule

    @property
    def old_mean(self) -> float:
        return statistics.fmean(self.old) if self.old else math.nan

    @property
    def new_mean(self) -> float:
        return statistics.fmean(self.new) if self.new else math.nan

    @property
    def change(self) -> float:
        return self.new_mean - self.old_mean

    @property
    def regression(self) -> bool:
        return self.verdict == "REGRESSION"


@dataclass(frozen=True)
class Comparison:
    """Every row of an old-vs-new comparison, with the runs present on one side only."""

    old_name: str
    new_name: str
    rules: tuple[Rule, ...]
    alpha: float
    rows: tuple[Row, ...]
    only_old: tuple[str, ...]
    only_new: tuple[str, ...]
    family: str = DEFAULT_FAMILY
    runs: int = 0  # matched runs: the size of a "session" family

    @property
    def regressions(self) -> list[Row]:
        return [row for row in self.rows if row.regression]

    def table(self) -> str:
        """The comparison as text: the same table for ``--ganstab-compare`` and ``ganstab compare``."""
        return format_table(self)


def compare_records(
    old_records: Sequence[RunRecord],
    new_records: Sequence[RunRecord],
    rules: Sequence[Rule] = (),
    *,
    alpha: float = DEFAULT_ALPHA,
    family: str = DEFAULT_FAMILY,
    old_name: str = "old",
    new_name: str = "new",
) -> Comparison:
    """Match records by test id and run label, and judge every metric both sides have."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} must lie strictly between 0 and 1 (e.g. 0.05)")
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is unknown; choose {' or '.join(FAMILIES)}")
    from . import gate  # numpy: imported when comparing, so the plugins load without it

    by_metric = {rule.metric: rule for rule in rules}
    old = keyed_records(old_records)
    new = keyed_records(new_records)
    matched = [(key, old[key], record) for key, record in new.items() if key in old]
    tests = []
    for _, old_record, new_record in matched:
        before, after = _seed_values(old_record), _seed_values(new_record)
        tested = sorted(before.keys() & after.keys(), key=_order)
        tests.append(gate.run_test(before, after, tested, by_metric))
    adjusted = gate.family_pvalues(tests, family)
    too_few = "too few seeds" + (
        f" for a session of {len(tests)} runs" if family == "session" and len(tests) > 1 else ""
    )
    rows: list[Row] = []
    for (key, old_record, new_record), test, p_adj in zip(matched, tests, adjusted, strict=True):
        smallest = gate.smallest_family_pvalue(test, tests, family)
        judge = _Judge(test, p_adj, smallest, alpha, too_few)
        rows.extend(_rows(key, old_record, new_record, by_metric, judge))
    return Comparison(
        old_name=old_name,
        new_name=new_name,
        rules=tuple(rules),
        alpha=alpha,
        rows=tuple(rows),
        only_old=tuple(run_name(key) for key in old if key not in new),
        only_new=tuple(run_name(key) for key in new if key not in old),
        family=family,
        runs=len(tests),
    )


def record_values(record: RunRecord) -> dict[str, list[float]]:
    """Per-seed values by metric (missing seeds dropped), plus ``time``: seconds per seed-step."""
    values = {
        metric: [float(value) for value in seeds if value is not None]
        for metric, seeds in (record.get("metrics") or {}).items()
    }
    speed = record.get("seed_steps_per_s")
    values["time"] = [1 / speed] if isinstance(speed, int | float) and speed > 0 else []
    return values


def _seed_values(record: RunRecord) -> dict[str, list[float | None]]:
    """The per-seed metrics the gate tests, aligned by seed (None where not measured)."""
    return {
        metric: list(seeds)
        for metric, seeds in (record.get("metrics") or {}).items()
        if metric in DIRECTIONS and BY_NAME[metric].per_seed and any(value is not None for value in seeds)
    }


def keyed_records(records: Sequence[RunRecord]) -> dict[tuple[str, str], RunRecord]:
    """Records by (test id, run label), the key that matches runs between sessions.

    A test may make several Runs with the same label: the second becomes "label #2", and so on.
    """
    keyed: dict[tuple[str, str], RunRecord] = {}
    for record in records:
        test, label = str(record.get("test") or ""), str(record.get("label") or "")
        key, count = (test, label), 1
        while key in keyed:
            count += 1
            key = (test, f"{label} #{count}")
        keyed[key] = record
    return keyed


def run_name(key: tuple[str, str]) -> str:
    """How tables name a matched run: ``test [label]``."""
    test, label = key
    return f"{test} [{label}]" if test else label


def _order(metric: str) -> tuple[int, str]:
    return (list(DIRECTIONS).index(metric) if metric in DIRECTIONS else len(DIRECTIONS), metric)


@dataclass
class _Judge:
    """One matched run's test results, and the verdict they give each metric."""

    test: RunTest
    p_adj: Any  # numpy array: one per metric of ``test``
    smallest: float  # the smallest family-adjusted p any outcome of this run could get
    alpha: float
    too_few: str  # what a rule-reaching change that could never be flagged reads

    def verdict(self, metric: str, rule: Rule | None) -> tuple[float, float, str]:
        """(p, p adj, verdict) of a per-seed metric with a direction."""
        j = self.test.metrics.index(metric)
        p, p_adj = float(self.test.p[j]), float(self.p_adj[j])
        if math.isnan(p):
            return p, p_adj, "same" if not math.isnan(float(self.test.change[j])) else ""
        worse = DIRECTIONS[metric] * float(self.test.change[j]) < 0
        if worse and rule is not None and bool(self.test.reached[j]):
            if p_adj <= self.alpha:
                return p, p_adj, "REGRESSION"
            return p, p_adj, self.too_few if self.smallest > self.alpha else "within noise"
        if p <= self.alpha:
            return p, p_adj, "worse" if worse else "better"
        return p, p_adj, "too few seeds" if 1 / self.test.splits > self.alpha else "within noise"


def _rows(
    key: tuple[str, str], old_record: RunRecord, new_record: RunRecord, rules: dict[str, Rule], judge: _Judge
) -> list[Row]:
    old_values, new_values = record_values(old_record), record_values(new_record)
    rows = []
    for metric in sorted(old_values.keys() & new_values.keys(), key=_order):
        old, new = tuple(old_values[metric]), tuple(new_values[metric])
        if not old and not new:
            continue
        rule = rules.get(metric)
        p, p_adj, verdict = math.nan, math.nan, ""
        if metric in judge.test.metrics:
            p, p_adj, verdict = judge.verdict(metric, rule)
        elif metric == "time" and old and new:  # one value per run: the rule alone decides
            old_mean = statistics.fmean(old)
            change = statistics.fmean(new) - old_mean
            reached = rule is not None and bool(rule.reached(old_mean, change))
            verdict = "REGRESSION" if reached else _direction_word(DIRECTIONS[metric] * change)
        rows.append(Row(key[0], key[1], metric, old, new, p, rule, verdict, p_adj))
    return rows


def _direction_word(signed_gain: float) -> str:
    return "better" if signed_gain > 0 else "worse" if signed_gain < 0 else "same"


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4g}"


def _spread(values: tuple[float, ...]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return _number(values[0])
    return f"{_number(statistics.fmean(values))} ± {_number(statistics.stdev(values))}"


def _change(row: Row) -> str:
    if math.isnan(row.change):
        return "-"
    text = f"{row.change:+.4g}"
    if row.old_mean != 0 and not math.isnan(row.old_mean):
        text += f" ({row.change / abs(row.old_mean):+.1%})"
    return text


def _p(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2g}"


def format_table(comparison: Comparison) -> str:
    """Per matched run, one line per metric: old and new (mean ± sd over seeds), change, p, p adj, verdict."""
    rules = ", ".join(str(rule) for rule in comparison.rules) or "none (only listing changes)"
    family = (
        f"the session's {comparison.runs} matched run(s)"
        if comparison.family == "session"
        else "each run alone"
    )
    lines = [
        f"ganstab compare: {comparison.old_name} (old) -> {comparison.new_name} (new)",
        f"rules: {rules}; seed-noise test: permutation over whole seeds, "
        f"family-wise alpha={comparison.alpha:g} over {family}",
    ]
    header = ("metric", "old", "new", "change", "p", "p adj", "verdict")
    current: tuple[str, str] | None = None
    body: list[tables.Row] = []
    for row in comparison.rows:
        if (row.test, row.label) != current:
            current = (row.test, row.label)
            body.append(run_name(current))
        verdict = f"{row.verdict} ({row.rule})" if row.regression else row.verdict
        body.append(
            (row.metric, _spread(row.old), _spread(row.new), _change(row), _p(row.p), _p(row.p_adj), verdict)
        )
    if body:
        lines += tables.render(header, body, indent="  ")
    if not comparison.rows:
        lines.append("no run in common")
    else:
        lines.append(
            "p: the metric alone; p adj: corrected for the family, where the change reaches its rule"
        )
        if any(row.metric == "time" for row in comparison.rows):
            lines.append("time: seconds per seed-step, one value per run, so judged by its rule alone")
    if comparison.only_new:
        lines.append(f"new runs, nothing to compare with: {', '.join(comparison.only_new)}")
    if comparison.only_old:
        lines.append(f"saved runs not in the new session: {', '.join(comparison.only_old)}")
    regressions = comparison.regressions
    where = "; ".join(f"{run_name((row.test, row.label))} {row.metric}" for row in regressions)
    lines.append(f"{len(regressions)} regression(s)" + (f": {where}" if where else ""))
    return "\n".join(lines)
