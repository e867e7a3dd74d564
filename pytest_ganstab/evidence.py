"""The evidence table: every Run of a session as recipe × toy × metric, mean and confidence interval.

It is built from run records alone, so it works the same on an xdist controller, from a saved history
session, or from records a user assembled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .stats import bootstrap_ci

# The columns a person compares first; any other metric in the records follows them.
METRICS = ("modes", "hq", "reverse_kl", "d_auc", "g_signal", "nonfinite")


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
    cells = frame.assign(
        cell=[
            _cell(m, lo, hi)
            for m, lo, hi in zip(frame["mean"], frame["ci_low"], frame["ci_high"], strict=True)
        ]
    )
    # Every field that tells two runs apart is in the index, so no run is merged into another or dropped.
    keys = ["test", "run", "recipe", "toy", "device", "seeds", "steps"]
    table = cells.pivot_table(
        index=keys, columns="metric", values="cell", aggfunc="first", sort=False, dropna=False
    )
    metrics = [name for name in METRICS if name in table.columns] + [
        c for c in table.columns if c not in METRICS
    ]
    table = table[metrics].reset_index()
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    lines = [header, rule]
    lines += [
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |"
        for row in table.itertuples(index=False)
    ]
    note = "\nMean over seeds with a 95 % bootstrap confidence interval of the mean (expanded percentile).\n"
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
