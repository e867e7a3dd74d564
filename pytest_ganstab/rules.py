"""The regression gate's vocabulary: rules, alpha and the family its error rate is held over.

Each metric has a direction (``catalog``): more modes is never a regression, a higher D AUC is.
A rule such as ``modes:-1`` or ``hq:-5%`` says how large a change in the bad direction must be
(absolute, or relative to the old mean with ``%``); the sign, if written, must point the bad way.

The statistics that decide whether a change that reaches its rule is more than seed noise live in
``gate``; the comparison table in ``compare``. This module imports neither numpy nor pandas, so the
option table can parse rules without them, and ``Rule.reached`` works on floats and numpy arrays alike
(the gate evaluates every rule on every split of the seeds at once).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .catalog import BY_NAME

# +1: higher is better; -1: lower is better (d_auc: a D that separates real from fake is winning).
DIRECTIONS: dict[str, int] = {name: metric.direction for name, metric in BY_NAME.items()}
# What a bare --ganstab-compare-fail (or ganstab compare --fail) checks. Time is left out: wall-clock
# differs between CI machines far more than between commits; ask for it with e.g. time:+10%.
DEFAULT_RULES = "modes:-1,hq:-5%,reverse_kl:+0.1,d_auc:+0.05,g_signal:-50%,nonfinite:+0.25"
DEFAULT_ALPHA = 0.05
# Over what the gate holds its false-alarm rate at alpha: every metric of every run of the session
# ("session"), or every metric of each run on its own ("run": a session of R runs may then false-alarm
# up to about R times alpha).
FAMILIES = ("session", "run")
DEFAULT_FAMILY = "session"
# Relative rounding tolerance: a mean of six integers that drops by exactly 1 may be computed as
# -0.9999999999999996, and must still reach ``modes:-1``; ties between splits are ties likewise.
TOL = 1e-9

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

    def reached(self, old_mean: Any, change: Any, scale: Any = 1.0) -> Any:
        """Whether ``change`` (new mean - old mean) goes at least the threshold in the bad direction.

        Floats give a bool, numpy arrays an array. ``scale`` is the size of the metric's values (at least
        1): within ``TOL * scale`` a change counts as reaching the threshold, and only a worsening beyond
        it counts as one at all. A relative rule against an old mean of 0 is reached by any worsening.
        """
        worse = -DIRECTIONS[self.metric] * change
        slack = TOL * scale
        needed = self.threshold * abs(old_mean) if self.relative else self.threshold
        return (worse >= needed - slack) & (worse > slack)


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
