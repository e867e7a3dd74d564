"""Trace-level metrics: read a Run's probes (or a trace DataFrame) over a window of the last recorded steps.

Discriminator dominance, gradient health and divergence, one row per seed. Their thresholds and windows
default to ``thresholds.DEFAULTS`` and are checked there.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..run import Run
from ..thresholds import DEFAULTS, Window


def dominance(
    run_or_trace: Run | pd.DataFrame,
    *,
    window: Window = DEFAULTS.window,
    threshold: float = DEFAULTS.auc_threshold,
) -> pd.DataFrame:
    """How completely D separates real from fake, per seed, from the ``d_auc`` probe (any loss).

    Columns: ``d_auc`` (mean AUC over the window), ``auc_above`` (share of the window's recorded steps
    with AUC above ``threshold``), ``dominant_from`` (the step from which the AUC stays above it to the
    end; NaN if it does not), ``d_real``/``d_fake`` (D's mean confidence in the window), ``window_from``.
    """
    DEFAULTS.replace(window=window, auc_threshold=threshold)  # checks them
    view = _TraceView.of(run_or_trace, ("d_auc", "d_real", "d_fake"))
    cols = view.window(window)
    auc = view.values["d_auc"]
    above = auc > threshold
    finite = np.isfinite(auc[:, cols])
    with _quiet():
        share = np.where(finite.any(1), (above[:, cols] & finite).sum(1) / finite.sum(1), np.nan)
        return pd.DataFrame(
            {
                "seed": view.seeds,
                "d_auc": _rows(np.nanmean, auc[:, cols]),
                "auc_above": share,
                "dominant_from": view.stays_from(above),
                "d_real": _rows(np.nanmean, view.values["d_real"][:, cols]),
                "d_fake": _rows(np.nanmean, view.values["d_fake"][:, cols]),
                "window_from": view.window_from(cols),
            }
        )


def gradient_health(
    run_or_trace: Run | pd.DataFrame,
    *,
    window: Window = DEFAULTS.window,
    early: float = DEFAULTS.early,
    signal_floor: float = DEFAULTS.signal_floor,
    grad_ceiling: float = DEFAULTS.grad_ceiling,
    smooth: int = DEFAULTS.smooth,
) -> pd.DataFrame:
    """G's and D's gradient norms and G's learning signal over the window, per seed.

    ``g_signal`` is the median learning signal in the window, ``g_signal_early`` its median over the first
    ``early`` share of the recorded steps, ``signal_ratio`` the two's ratio (0 when the late signal is 0).
    ``vanished_from`` is the first step after those where the signal (a running median over ``smooth``
    records, to ignore single noisy batches) falls below ``signal_floor`` × its early value (or to 0);
    ``exploded_at`` the first step where G's or D's gradient norm or the signal exceeds ``grad_ceiling``.
    Both NaN when it never happens.
    """
    DEFAULTS.replace(
        window=window, early=early, signal_floor=signal_floor, grad_ceiling=grad_ceiling, smooth=smooth
    )  # checks them
    view = _TraceView.of(run_or_trace, ("g_grad_norm", "d_grad_norm", "g_signal"))
    cols = view.window(window)
    first = slice(0, max(1, math.ceil(early * len(view.steps))))
    signal, g_norm, d_norm = (view.values[key] for key in ("g_signal", "g_grad_norm", "d_grad_norm"))
    with _quiet():
        early_signal = _rows(np.nanmedian, signal[:, first])
        late_signal = _rows(np.nanmedian, signal[:, cols])
        running = pd.DataFrame(signal.T).rolling(smooth, min_periods=1).median().to_numpy().T
        vanished = (running < signal_floor * early_signal[:, None]) | (running == 0)
        vanished[:, first] = False  # the early records are the reference, not evidence
        exploded = (g_norm > grad_ceiling) | (d_norm > grad_ceiling) | (signal > grad_ceiling)
        return pd.DataFrame(
            {
                "seed": view.seeds,
                "g_grad_median": _rows(np.nanmedian, g_norm[:, cols]),
                "g_grad_min": _rows(np.nanmin, g_norm[:, cols]),
                "g_grad_max": _rows(np.nanmax, g_norm[:, cols]),
                "d_grad_median": _rows(np.nanmedian, d_norm[:, cols]),
                "d_grad_min": _rows(np.nanmin, d_norm[:, cols]),
                "d_grad_max": _rows(np.nanmax, d_norm[:, cols]),
                "g_signal": late_signal,
                "g_signal_early": early_signal,
                # A signal of exactly 0 has vanished whatever it was early (0/0 included).
                "signal_ratio": np.where(late_signal == 0, 0.0, late_signal / early_signal),
                "vanished_from": view.first_step(vanished),
                "exploded_at": view.first_step(exploded),
                "window_from": view.window_from(cols),
            }
        )


def divergence(
    run_or_trace: Run | pd.DataFrame, *, window: Window = DEFAULTS.window, max_loss: float = DEFAULTS.max_loss
) -> pd.DataFrame:
    """Whether each seed went non-finite, blew up, or settles, per seed.

    ``first_nonfinite``: the first step with a NaN/Inf loss or gradient (NaN if none; exact for a Run,
    which checks every step, at recorded steps for a bare trace). ``loss_peak``: the largest finite
    |loss| of D or G; ``blowup_from``: the first step where it exceeds ``max_loss``. Over the window,
    ``*_trend`` is the change of a least-squares line through the loss and ``*_amplitude`` the standard
    deviation around that line: a settled trace has both small, an oscillating one a large amplitude.
    """
    DEFAULTS.replace(window=window, max_loss=max_loss)  # checks them
    view = _TraceView.of(run_or_trace, ("d_loss", "g_loss"))
    cols = view.window(window)
    d_loss, g_loss = view.values["d_loss"], view.values["g_loss"]
    magnitude = np.fmax(np.abs(d_loss), np.abs(g_loss))
    with _quiet():
        frame = pd.DataFrame(
            {
                "seed": view.seeds,
                "first_nonfinite": view.nonfinite_from,
                "nonfinite": np.isfinite(view.nonfinite_from).astype(np.float64),
                "loss_peak": _rows(np.nanmax, magnitude),
                "blowup_from": view.first_step(magnitude > max_loss),
            }
        )
    for name, loss in (("d_loss", d_loss), ("g_loss", g_loss)):
        trend, amplitude = _trend_and_amplitude(view.steps[cols], loss[:, cols])
        frame[f"{name}_trend"] = trend
        frame[f"{name}_amplitude"] = amplitude
    frame["window_from"] = view.window_from(cols)
    return frame


def first_nonfinite(run_or_trace: Run | pd.DataFrame) -> np.ndarray:
    """Per seed, the first step with a NaN/Inf loss (checked every step by a Run) or probe (at recorded
    steps); NaN for seeds that stayed finite."""
    return _TraceView.of(run_or_trace, ()).nonfinite_from


# ---------------------------------------------------------------- helpers


@dataclass
class _TraceView:
    """A trace as ``[seeds, records]`` arrays, with every record from a seed's first non-finite step on
    masked to NaN: after a NaN the probes describe nothing."""

    seeds: np.ndarray
    steps: np.ndarray
    values: dict[str, np.ndarray]
    nonfinite_from: np.ndarray  # per seed, NaN when finite throughout

    @classmethod
    def of(cls, source: Run | pd.DataFrame, columns: Sequence[str]) -> _TraceView:
        exact: np.ndarray | None = None
        if isinstance(source, Run):
            trace = source.trace
            exact = np.asarray(source.first_nonfinite_step, dtype=np.float64)
        elif isinstance(source, pd.DataFrame):
            trace = source
        else:
            raise TypeError(f"give a Run or its trace DataFrame, not {type(source).__name__}")
        missing = [c for c in ("seed", "step", "nonfinite", *columns) if c not in trace.columns]
        if missing:
            raise ValueError(f"trace lacks column(s) {', '.join(missing)}; a Run.trace has them all")
        # A Run names its seeds even when a seed left no record; a bare trace only has what it holds.
        seed_ids = source.seeds if isinstance(source, Run) else trace["seed"].unique()
        seeds = np.asarray(sorted(seed_ids) if exact is None else seed_ids, dtype=np.int64)
        steps = np.unique(trace["step"].to_numpy()).astype(np.int64)
        row = pd.Index(seeds).get_indexer(pd.Index(trace["seed"]))
        col = pd.Index(steps).get_indexer(pd.Index(trace["step"]))
        keep = row >= 0

        def grid(column: str) -> np.ndarray:
            out = np.full((len(seeds), len(steps)), np.nan)
            out[row[keep], col[keep]] = trace[column].to_numpy(dtype=np.float64)[keep]
            return out

        flagged = grid("nonfinite") > 0
        recorded = np.full(len(seeds), np.nan)
        if steps.size:
            recorded = np.where(flagged.any(1), steps[flagged.argmax(1)], np.nan)
        # A Run checks its losses every step; the trace's flag also covers gradients: take the earlier.
        nonfinite_from = recorded if exact is None else np.fmin(np.where(exact >= 0, exact, np.nan), recorded)
        masked = steps[None, :] >= nonfinite_from[:, None]  # False against NaN: finite seeds keep all
        values = {column: np.where(masked, np.nan, grid(column)) for column in columns}
        return cls(seeds, steps, values, nonfinite_from)

    def window(self, window: Window) -> np.ndarray:
        """Indices of the window's records: a share of the records (float) or the last steps (int)."""
        count = len(self.steps)
        if count == 0:
            return np.arange(0)
        if isinstance(window, float):
            return np.arange(count - max(1, math.ceil(window * count)), count)
        return np.flatnonzero(self.steps > self.steps[-1] - window)

    def window_from(self, cols: np.ndarray) -> np.ndarray:
        return np.full(len(self.seeds), self.steps[cols[0]] if len(cols) else np.nan, dtype=np.float64)

    def first_step(self, condition: np.ndarray) -> np.ndarray:
        """Per seed, the first recorded step where ``condition`` holds; NaN if never."""
        hit = condition.any(1)
        return np.where(hit, self.steps[condition.argmax(1)] if self.steps.size else np.nan, np.nan)

    def stays_from(self, condition: np.ndarray) -> np.ndarray:
        """Per seed, the step from which ``condition`` holds to the last record; NaN if it fails there."""
        if not self.steps.size:
            return np.full(len(self.seeds), np.nan)
        broken = ~condition
        last_break = np.where(broken.any(1), condition.shape[1] - 1 - broken[:, ::-1].argmax(1), -1)
        start = np.minimum(last_break + 1, condition.shape[1] - 1)
        return np.where(condition[:, -1], self.steps[start], np.nan)


def _trend_and_amplitude(steps: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, the change over the window of a least-squares line, and the residuals' SD around it."""
    trend = np.full(loss.shape[0], np.nan)
    amplitude = np.full(loss.shape[0], np.nan)
    for i, series in enumerate(loss):
        ok = np.isfinite(series)
        if ok.sum() >= 3:
            x, y = steps[ok].astype(np.float64), series[ok]
            slope, intercept = np.polyfit(x, y, 1)
            trend[i] = slope * (x[-1] - x[0])
            amplitude[i] = float(np.std(y - (slope * x + intercept)))
    return trend, amplitude


def _rows(reduce: Any, values: np.ndarray) -> np.ndarray:
    """``reduce`` along each row; NaN for rows of nothing (numpy's nanmin/nanmax refuse empty input)."""
    if values.shape[1] == 0:
        return np.full(values.shape[0], np.nan)
    return np.asarray(reduce(values, axis=1), dtype=np.float64)


class _quiet(warnings.catch_warnings):
    """Silences numpy's all-NaN-slice warnings: an all-NaN window is an answer (NaN), not a problem."""

    def __enter__(self) -> None:
        super().__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)
