"""Compare two sessions' run records metric by metric, and decide which changes are regressions.

Each metric has a direction (``catalog``): more modes is never a regression, a higher D AUC is.
A rule such as ``modes:-1`` or ``hq:-5%`` says how large a change in the bad direction must be
(absolute, or relative to the old mean with ``%``); the sign, if written, must point the bad way.

A change counts as a regression only when BOTH hold:

1. the change of the mean over seeds reaches the rule, and
2. it is unlikely to be seed noise: a one-sided permutation test on the difference of the per-seed
   means, old seeds against new seeds, gives p <= alpha (default 0.05). The test is exact (every
   split of the pooled seeds) up to ``EXACT_LIMIT`` splits, otherwise a Monte Carlo estimate from
   ``RESAMPLES`` fixed-seed random splits, so the verdict is deterministic.

With few seeds no split is rare enough: 3 old and 3 new seeds give at best p = 1/20 = 0.05, 2 and 2
give 1/6, so below that the table says "too few seeds" instead of flagging anything.

``time`` (seconds per seed-step, from the run's seed-steps/s) has one value per run, not one per
seed, so there is nothing to permute: its rule alone decides. Seeds whose metric is missing (a NaN,
stored as None, e.g. after a divergence) are left out of that metric; ``nonfinite`` counts them.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import tables
from .catalog import BY_NAME

if TYPE_CHECKING:
    from .records import RunRecord

# +1: higher is better; -1: lower is better (d_auc: a D that separates real from fake is winning).
DIRECTIONS: dict[str, int] = {name: metric.direction for name, metric in BY_NAME.items()}
# What a bare --ganstab-compare-fail (or ganstab compare --fail) checks. Time is left out: wall-clock
# differs between CI machines far more than between commits; ask for it with e.g. time:+10%.
DEFAULT_RULES = "modes:-1,hq:-5%,reverse_kl:+0.1,d_auc:+0.05,g_signal:-50%,nonfinite:+0.25"
DEFAULT_ALPHA = 0.05
EXACT_LIMIT = 20_000
RESAMPLES = 9_999

_RULE = re.compile(r"^(?P<metric>[a-z_]+):(?P<sign>[+-]?)(?P<value>\d+(?:\.\d*)?|\.\d+)(?P<pct>%?)$")
_RULE_HELP = "a rule is METRIC:[+|-]X[%], e.g. modes:-1, hq:-5%, d_auc:+0.05, time:+10%"


class RuleError(ValueError):
    """A comparison rule that cannot be parsed or points the wrong way."""


@dataclass(frozen=True)
class Rule:
    """A regression threshold for one metric: ``threshold`` in the metric's units, or a fraction."""

    metric: str
    threshold: float
    relative: bool

    def __str__(self) -> str:
        sign = "+" if DIRECTIONS[self.metric] < 0 else "-"
        value = f"{self.threshold * 100:g}%" if self.relative else f"{self.threshold:g}"
        return f"{self.metric}:{sign}{value}"

    def reached(self, old_mean: float, change: float) -> bool:
        """Whether ``change`` (new - old) goes at least the threshold in the metric's bad direction."""
        worse = -DIRECTIONS[self.metric] * change
        if self.relative:
            if old_mean == 0:
                return worse > 0
            worse /= abs(old_mean)
        return worse >= self.threshold and worse > 0


def parse_rules(texts: Iterable[str]) -> list[Rule]:
    """Rules from comma-separated texts; ``"default"`` stands for ``DEFAULT_RULES``."""
    rules: dict[str, Rule] = {}
    for text in texts:
        for part in (piece.strip() for piece in text.split(",")):
            if not part:
                continue
            for rule in parse_rules([DEFAULT_RULES]) if part == "default" else [_parse_rule(part)]:
                rules[rule.metric] = rule  # a later rule for the same metric wins, as with repeated options
    return list(rules.values())


def _parse_rule(text: str) -> Rule:
    match = _RULE.match(text)
    if match is None:
        raise RuleError(f"bad rule {text!r}: {_RULE_HELP}")
    metric = match["metric"]
    if metric not in DIRECTIONS:
        raise RuleError(f"bad rule {text!r}: unknown metric {metric!r}; known: {', '.join(DIRECTIONS)}")
    bad_sign = "+" if DIRECTIONS[metric] < 0 else "-"
    if match["sign"] and match["sign"] != bad_sign:
        better = "higher" if DIRECTIONS[metric] > 0 else "lower"
        fixed = f"{metric}:{bad_sign}{match['value']}{match['pct']}"
        raise RuleError(
            f"bad rule {text!r}: {metric} is better when {better}, so only a change of sign {bad_sign} "
            f"can be a regression; write {fixed}"
        )
    value = float(match["value"])
    return Rule(metric, value / 100 if match["pct"] else value, relative=bool(match["pct"]))


def permutation_pvalue(old: Sequence[float], new: Sequence[float], direction: int) -> float:
    """One-sided p-value for "``new`` is worse than ``old``" (``direction`` +1: higher is better).

    The null hypothesis is that the seeds' values do not depend on which session made them, so every
    split of the pooled values into groups of the old and new sizes is equally likely.
    """
    import numpy as np  # here, so that the pytest plugin can import this module cheaply

    a = np.asarray(old, dtype=float)
    b = np.asarray(new, dtype=float)
    if a.size == 0 or b.size == 0:
        return math.nan
    pooled = np.concatenate([a, b])
    picks, exact = _splits(pooled.size, b.size)
    new_sums = pooled[picks].sum(axis=1)
    worsening = -direction * (new_sums / b.size - (pooled.sum() - new_sums) / a.size)
    observed = -direction * (b.mean() - a.mean())
    # Ties count as at least as extreme; the tolerance keeps float rounding from breaking them.
    tolerance = 1e-9 * max(1.0, float(np.abs(pooled).max()))
    extreme = int((worsening >= observed - tolerance).sum())
    # Monte Carlo: the observed split counts as one of the samples, so p is never 0 (Phipson & Smyth 2010).
    return extreme / len(worsening) if exact else (extreme + 1) / (len(worsening) + 1)


@functools.lru_cache(maxsize=8)
def _splits(total: int, n_new: int) -> tuple[Any, bool]:
    """The indices of the pooled values that go to "new", one row per split: every split when there
    are at most ``EXACT_LIMIT``, else ``RESAMPLES`` random ones from a fixed seed.

    The splits depend only on the group sizes, so every metric and run of those sizes shares them.
    """
    import numpy as np

    if math.comb(total, n_new) <= EXACT_LIMIT:
        return np.array(list(itertools.combinations(range(total), n_new)), dtype=np.int32), True
    generator = np.random.default_rng(0)
    order = generator.permuted(np.tile(np.arange(total, dtype=np.int32), (RESAMPLES, 1)), axis=1)
    return order[:, :n_new].copy(), False


def smallest_pvalue(n_old: int, n_new: int) -> float:
    """The smallest p-value the exact test can give for these group sizes (all values distinct)."""
    return 1 / math.comb(n_old + n_new, n_new) if n_old and n_new else math.nan


@dataclass(frozen=True)
class Row:
    """One metric of one matched run: old and new values, the change and the verdict."""

    test: str
    label: str
    metric: str
    old: tuple[float, ...]
    new: tuple[float, ...]
    p: float  # NaN when no test was made (time, a missing side)
    rule: Rule | None
    # "REGRESSION", "worse", "better", "same", "within noise", "too few seeds", or "" (no direction)
    verdict: str

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
    old_name: str = "old",
    new_name: str = "new",
) -> Comparison:
    """Match records by test id and run label, and judge every metric both sides have."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha} must lie strictly between 0 and 1 (e.g. 0.05)")
    by_metric = {rule.metric: rule for rule in rules}
    old = keyed_records(old_records)
    new = keyed_records(new_records)
    rows: list[Row] = []
    for key, new_record in new.items():
        if key in old:
            rows.extend(_rows(key, old[key], new_record, by_metric, alpha))
    return Comparison(
        old_name=old_name,
        new_name=new_name,
        rules=tuple(rules),
        alpha=alpha,
        rows=tuple(rows),
        only_old=tuple(run_name(key) for key in old if key not in new),
        only_new=tuple(run_name(key) for key in new if key not in old),
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


def _rows(
    key: tuple[str, str],
    old_record: RunRecord,
    new_record: RunRecord,
    rules: dict[str, Rule],
    alpha: float,
) -> list[Row]:
    old_values, new_values = record_values(old_record), record_values(new_record)
    rows = []
    for metric in sorted(old_values.keys() & new_values.keys(), key=_order):
        old, new = tuple(old_values[metric]), tuple(new_values[metric])
        if not old and not new:
            continue
        rule = rules.get(metric)
        p, verdict = _judge(metric, old, new, rule, alpha)
        rows.append(Row(key[0], key[1], metric, old, new, p, rule, verdict))
    return rows


def _judge(
    metric: str, old: tuple[float, ...], new: tuple[float, ...], rule: Rule | None, alpha: float
) -> tuple[float, str]:
    direction = DIRECTIONS.get(metric)
    if direction is None or not old or not new:
        return math.nan, ""
    old_mean = statistics.fmean(old)
    change = statistics.fmean(new) - old_mean
    if metric == "time":  # one value per run: the rule alone decides
        if rule is not None and rule.reached(old_mean, change):
            return math.nan, "REGRESSION"
        return math.nan, _direction_word(direction * change)
    if change == 0:
        return math.nan, "same"
    # The one-sided test in the direction the mean moved; only a significant bad move can regress.
    went_worse = direction * change < 0
    p = permutation_pvalue(old, new, direction if went_worse else -direction)
    if p > alpha:
        return p, "too few seeds" if smallest_pvalue(len(old), len(new)) > alpha else "within noise"
    if not went_worse:
        return p, "better"
    return p, "REGRESSION" if rule is not None and rule.reached(old_mean, change) else "worse"


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


def format_table(comparison: Comparison) -> str:
    """Per matched run, one line per metric: old and new (mean ± sd over seeds), change, p, verdict."""
    rules = ", ".join(str(rule) for rule in comparison.rules) or "none (only listing changes)"
    lines = [
        f"ganstab compare: {comparison.old_name} (old) -> {comparison.new_name} (new)",
        f"rules: {rules}; noise test: one-sided permutation test over seeds, alpha={comparison.alpha:g}",
    ]
    header = ("metric", "old", "new", "change", "p", "verdict")
    current: tuple[str, str] | None = None
    body: list[tables.Row] = []
    for row in comparison.rows:
        if (row.test, row.label) != current:
            current = (row.test, row.label)
            body.append(run_name(current))
        verdict = f"{row.verdict} ({row.rule})" if row.regression else row.verdict
        p = "-" if math.isnan(row.p) else f"{row.p:.2g}"
        body.append((row.metric, _spread(row.old), _spread(row.new), _change(row), p, verdict))
    if body:
        lines += tables.render(header, body, indent="  ")
    if not comparison.rows:
        lines.append("no run in common")
    elif any(row.metric == "time" for row in comparison.rows):
        lines.append("time: seconds per seed-step, one value per run, so judged by its rule alone")
    if comparison.only_new:
        lines.append(f"new runs, nothing to compare with: {', '.join(comparison.only_new)}")
    if comparison.only_old:
        lines.append(f"saved runs not in the new session: {', '.join(comparison.only_old)}")
    regressions = comparison.regressions
    where = "; ".join(f"{run_name((row.test, row.label))} {row.metric}" for row in regressions)
    lines.append(f"{len(regressions)} regression(s)" + (f": {where}" if where else ""))
    return "\n".join(lines)
