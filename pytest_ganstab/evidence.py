"""The evidence table: every Run of a session as recipe × toy × metric, mean and confidence interval.

It is built from run records alone, so it works the same on an xdist controller, from a saved history
session, or from records a user assembled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import tables
from .catalog import NAMES as METRICS
from .stats import bootstrap_ci
from .thresholds import DEFAULTS

SPREAD_MARK = " †"


def spread_note() -> str:
    """The footnote of every table that marks a mode count with ``SPREAD_MARK``."""
    return (
        f"HQ below {DEFAULTS.min_hq:.0%}: most samples lie off every mode, so this mode count measures "
        "spread, not capture."
    )


# The fields that tell two runs apart; each run is one row of the Markdown table.
KEYS = ("test", "run", "recipe", "toy", "device", "seeds", "steps")


def evidence_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (run, metric): test, run label, recipe, toy, seeds, steps, metric, mean, CI low/high."""
    rows = []
    for record in records:
        metrics: Mapping[str, list[float | None]] = record.get("metrics", {})
        ordered = [name for name in METRICS if name in metrics] + sorted(set(metrics) - set(METRICS))
        for metric in ordered:
            values = [float("nan") if value is None else float(value) for value in metrics[metric]]
            mean, low, high = bootstrap_ci(values)
            rows.append(
                {
                    "test": record.get("test"),
                    "run": record.get("label"),
                    "recipe": record.get("recipe"),
                    "toy": record.get("toy"),
                    "seeds": record.get("seeds"),
                    "steps": record.get("steps"),
                    "device": record.get("device"),
                    "metric": metric,
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    columns = [
        "test",
        "run",
        "recipe",
        "toy",
        "seeds",
        "steps",
        "device",
        "metric",
        "mean",
        "ci_low",
        "ci_high",
    ]
    return pd.DataFrame(rows, columns=columns)


def evidence_markdown(frame: pd.DataFrame) -> str:
    """A Markdown table with a row per run and a column per metric: ``mean [low, high]``."""
    if frame.empty:
        return "_No runs were recorded._\n"
    runs: list[dict[str, Any]] = []
    keys = zip(*(frame[name] for name in KEYS), strict=True)
    values = zip(frame["metric"], frame["mean"], frame["ci_low"], frame["ci_high"], strict=True)
    for key_values, (metric, mean, low, high) in zip(keys, values, strict=True):
        key = tuple(_text(value) for value in key_values)
        # A run's metrics are consecutive rows; a repeated metric starts the next run with the same key.
        if not runs or runs[-1]["key"] != key or metric in runs[-1]["cells"]:
            runs.append({"key": key, "cells": {}, "means": {}})
        runs[-1]["cells"][metric] = _cell(float(mean), float(low), float(high))
        runs[-1]["means"][metric] = float(mean)
    spread = False
    for run in runs:
        hq = run["means"].get("hq")
        if "modes" in run["cells"] and hq is not None and hq < DEFAULTS.min_hq:
            run["cells"]["modes"] += SPREAD_MARK  # too few samples near a mode for a count to mean capture
            spread = True
    names = list(dict.fromkeys(metric for run in runs for metric in run["cells"]))
    metrics = [name for name in METRICS if name in names] + [name for name in names if name not in METRICS]
    body = [[*run["key"]] + [run["cells"].get(metric, "") for metric in metrics] for run in runs]
    lines = tables.render([*KEYS, *metrics], body, style="markdown")
    note = "\nMean over seeds with a 95 % bootstrap confidence interval of the mean (expanded percentile).\n"
    if spread:
        note += f"\n{SPREAD_MARK.strip()} {spread_note()}\n"
    return "\n".join(lines) + "\n" + note


def write_evidence(records: Iterable[Mapping[str, Any]], directory: str | Path) -> tuple[Path, Path]:
    """Write ``evidence.md`` and ``evidence.csv`` under ``directory``; return their paths."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    frame = evidence_frame(records)
    markdown, csv = target / "evidence.md", target / "evidence.csv"
    markdown.write_text(evidence_markdown(frame), encoding="utf-8")
    frame.to_csv(csv, index=False)
    return markdown, csv


def _cell(mean: float, low: float, high: float) -> str:
    if pd.isna(mean):
        return "n/a"
    if low == high:
        return f"{mean:.3g}"
    return f"{mean:.3g} [{low:.3g}, {high:.3g}]"


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
