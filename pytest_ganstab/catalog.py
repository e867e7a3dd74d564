"""The key metrics, declared once: each one's name, direction, column label, format and meaning.

A run record carries these per seed (``metrics.key_metrics``); the summary, the comparison and its
regression rules, the evidence table, the report and the ``ganstab`` command all read this list, so
a metric is added, renamed or re-formatted in one place. Definitions: docs/design.md §4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class KeyMetric:
    """One key metric. ``direction`` is +1 when higher is better, -1 when lower is better."""

    name: str
    direction: int
    label: str  # a column header
    description: str
    digits: str  # a format spec for one value, e.g. ".3g"
    per_seed: bool = True  # time has one value per run

    @property
    def better(self) -> str:
        return "higher" if self.direction > 0 else "lower"

    def format(self, value: float | None, *, modes_of: int | None = None) -> str:
        """One value as the tables show it; ``–`` when it could not be measured.

        ``modes_of`` shows a mode count as ``7/8`` (a mean over seeds keeps one decimal)."""
        if value is None or not math.isfinite(value):
            return "–"
        if self.name == "modes" and modes_of is not None:
            shown = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
            return f"{shown}/{modes_of}"
        return format(value, self.digits)


KEY_METRICS: tuple[KeyMetric, ...] = (
    KeyMetric("modes", +1, "modes", "modes captured (an HQ sample nearest to the mode)", ".3g"),
    KeyMetric("hq", +1, "HQ", "share of samples within the high-quality radius of a mode", ".1%"),
    KeyMetric("reverse_kl", -1, "reverse KL", "KL(HQ samples' mode histogram ‖ true weights), nats", ".3f"),
    KeyMetric("d_auc", -1, "D AUC", "D's AUC separating real from fake, mean over the window", ".3f"),
    KeyMetric("g_signal", +1, "G signal", "G's learning signal ‖∂ℓ_G/∂x‖, median over the window", ".3g"),
    KeyMetric("nonfinite", -1, "non-finite", "1 when the seed went NaN/Inf", ".3g"),
)
TIME = KeyMetric("time", -1, "s/seed-step", "seconds per seed-step (one value per run)", ".3g", False)

BY_NAME: dict[str, KeyMetric] = {metric.name: metric for metric in (*KEY_METRICS, TIME)}
NAMES: tuple[str, ...] = tuple(metric.name for metric in KEY_METRICS)
