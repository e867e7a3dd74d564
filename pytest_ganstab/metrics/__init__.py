"""Metrics: the per-seed numbers verdicts are made of, each a DataFrame with one row per seed.

``samples`` scores generated samples (mode coverage, precision/recall, density/coverage, sliced
Wasserstein, the distance to the data); ``trace`` reads a Run's probes (dominance, gradient health,
divergence); ``key_metrics`` is the row of numbers every summary, record and comparison shows (``catalog``
says what each means).
Definitions: docs/design.md §4.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..run import Run
from ..thresholds import DEFAULTS, Window
from .knn import HIT_CANDIDATES, KD_TREE_MAX_DIM
from .samples import (
    ArrayLike,
    against_data,
    class_coverage,
    data_distance,
    density_coverage,
    mode_coverage,
    precision_recall,
    sliced_wasserstein,
)
from .trace import divergence, dominance, first_nonfinite, gradient_health

__all__ = [
    "HIT_CANDIDATES",
    "KD_TREE_MAX_DIM",
    "ArrayLike",
    "Window",
    "against_data",
    "class_coverage",
    "data_distance",
    "density_coverage",
    "divergence",
    "dominance",
    "first_nonfinite",
    "gradient_health",
    "key_metrics",
    "mode_coverage",
    "precision_recall",
    "sliced_wasserstein",
]


def key_metrics(run: Run) -> pd.DataFrame:
    """The key metrics (``catalog.KEY_METRICS``), one row per seed: ``seed, modes, hq, reverse_kl, d_auc,
    g_signal, nonfinite``. Mode columns are NaN for toys without modes; ``d_auc`` is the mean AUC and
    ``g_signal`` the median learning signal over the default window (the last 20 % of the records), and
    coverage is measured on the default number of samples from fixed latents."""
    frame = pd.DataFrame({"seed": pd.Series(run.seeds, dtype=np.int64)})
    if run.toy.has_modes and run.n_seeds:
        coverage = mode_coverage(run.samples(DEFAULTS.samples), run.toy, seeds=run.seeds)
        for column in ("modes", "hq", "reverse_kl"):
            frame[column] = coverage[column].to_numpy(dtype=np.float64)
    else:
        for column in ("modes", "hq", "reverse_kl"):
            frame[column] = np.nan
    frame["d_auc"] = dominance(run, window=DEFAULTS.window)["d_auc"].to_numpy()
    frame["g_signal"] = gradient_health(run, window=DEFAULTS.window)["g_signal"].to_numpy()
    frame["nonfinite"] = np.isfinite(first_nonfinite(run)).astype(np.float64)
    return frame
