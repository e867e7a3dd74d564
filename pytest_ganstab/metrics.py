"""Metrics: the per-seed numbers verdicts are made of, each a DataFrame with one row per seed.

Sample-level metrics take tensors ``[S, n, dim]`` (or ``[n, dim]`` for one seed), so users can score
their own samples: mode coverage for toys with known modes (DESIGN.md §4), k-NN precision/recall and
density/coverage and a sliced Wasserstein distance for data without modes. Trace-level metrics read a
Run's probes (or a trace DataFrame) over a window of the last recorded steps: discriminator dominance,
gradient health, divergence.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from .run import Run
from .toys import Toy

Window = float | int
ArrayLike = torch.Tensor | np.ndarray

# k-NN searches use a KD-tree up to this many dimensions and exact brute force above it (trees lose).
KD_TREE_MAX_DIM = 4
# How many nearest centres a k-NN "inside some ball" query checks before falling back to an exact search.
HIT_CANDIDATES = 8
KEY_WINDOW = 0.2
KEY_SAMPLES = 2500


# ---------------------------------------------------------------- sample-level metrics


def mode_coverage(samples: ArrayLike, toy: Toy, *, seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Modes captured, HQ fraction, reverse KL and per-mode counts, per seed (DESIGN.md §4).

    A sample is high quality (HQ) when its distance to the nearest mode centre is below
    ``toy.hq_threshold`` standard deviations of that mode. A mode is captured when at least one HQ
    sample is nearest to it. ``reverse_kl`` is KL(histogram of HQ samples over modes ‖ true weights);
    it is NaN for a seed with no HQ sample (there is no histogram to compare). Non-finite samples are
    never HQ. Columns: ``seed, modes, hq, reverse_kl, count.0 … count.{M-1}``.
    """
    if toy.centers is None or toy.std is None or toy.weights is None or toy.hq_threshold is None:
        raise ValueError(
            f"mode_coverage: toy {toy.name!r} has no modes; judge it with precision_recall(), "
            "density_coverage() or sliced_wasserstein() against real samples"
        )
    x = _samples(samples, toy, "mode_coverage")
    n_seeds = x.shape[0]
    centers = toy.centers.to(x.device, torch.float32)
    std = toy.std.to(x.device, torch.float32)
    # Nearest centre from cdist's fast path; the distance itself is recomputed exactly, since the
    # matrix-product path loses the small distances that decide HQ.
    nearest = torch.cdist(x, centers.expand(n_seeds, -1, -1)).argmin(-1)
    distance = (x - centers[nearest]).norm(dim=-1) / std[nearest]
    hq = distance < toy.hq_threshold  # NaN compares False: a non-finite sample is never HQ
    counts = torch.zeros(n_seeds, centers.shape[0], device=x.device)
    counts.scatter_add_(1, nearest, hq.float())
    total = counts.sum(1, keepdim=True)
    share = counts / total
    weights = (toy.weights / toy.weights.sum()).to(x.device, torch.float32)
    terms = torch.where(counts > 0, share * torch.log(share / weights), torch.zeros_like(share))
    reverse_kl = torch.where(total.squeeze(1) > 0, terms.sum(1), torch.full_like(terms[:, 0], math.nan))
    frame = pd.DataFrame(
        {
            "seed": _seed_labels(seeds, n_seeds),
            "modes": (counts > 0).sum(1).cpu().numpy(),
            "hq": hq.float().mean(1).cpu().numpy().astype(np.float64),
            "reverse_kl": reverse_kl.cpu().numpy().astype(np.float64),
        }
    )
    per_mode = counts.cpu().numpy().astype(np.int64)
    return frame.join(pd.DataFrame(per_mode, columns=[f"count.{m}" for m in range(per_mode.shape[1])]))


def precision_recall(
    real: ArrayLike, fake: ArrayLike, *, k: int = 5, seeds: Sequence[int] | None = None
) -> pd.DataFrame:
    """k-NN precision and recall (Kynkäänniemi et al. 2019), per seed.

    Precision: the share of fake samples inside the k-NN ball of some real sample (quality).
    Recall: the share of real samples inside the k-NN ball of some fake sample (coverage of the data).
    ``real`` may be one set ``[n, dim]`` shared by every seed of ``fake`` ``[S, m, dim]``.
    """
    reals, fakes = _knn_inputs(real, fake, k, "precision_recall")
    rows = []
    for real_balls, fake_x in zip(_ball_sets(reals, len(fakes), k), fakes, strict=True):
        fake_balls = _Balls(fake_x, k)
        rows.append((real_balls.hit(fake_x).mean(), fake_balls.hit(real_balls.centers).mean()))
    values = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
    return pd.DataFrame(
        {"seed": _seed_labels(seeds, len(fakes)), "precision": values[:, 0], "recall": values[:, 1]}
    )


def density_coverage(
    real: ArrayLike, fake: ArrayLike, *, k: int = 5, seeds: Sequence[int] | None = None
) -> pd.DataFrame:
    """Density and coverage (Naeem et al. 2020), per seed.

    Density: how many real k-NN balls contain each fake sample, over k (≈ 1 for a true sample, above 1
    when fakes crowd dense regions). Coverage: the share of real samples whose k-NN ball holds a fake.
    """
    reals, fakes = _knn_inputs(real, fake, k, "density_coverage")
    rows = []
    for real_balls, fake_x in zip(_ball_sets(reals, len(fakes), k), fakes, strict=True):
        counts = real_balls.counts(fake_x)
        rows.append((counts.sum() / (k * len(fake_x)), (counts > 0).mean()))
    values = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
    return pd.DataFrame(
        {"seed": _seed_labels(seeds, len(fakes)), "density": values[:, 0], "coverage": values[:, 1]}
    )


def sliced_wasserstein(
    real: ArrayLike,
    fake: ArrayLike,
    *,
    projections: int = 128,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Sliced 2-Wasserstein distance per seed: √(mean over random directions of W₂² of the projections).

    Directions come from ``seed``, so two runs scored with the same ``seed`` are compared on the same
    slices. Sets of different sizes are compared through their quantile functions.
    """
    if isinstance(projections, bool) or not isinstance(projections, int) or projections < 1:
        raise ValueError(f"sliced_wasserstein: projections={projections!r} must be an integer of at least 1")
    real_x, fake_x = _stacked_pair(real, fake, "sliced_wasserstein", expand=False)
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(real_x.shape[-1], projections, generator=generator, dtype=torch.float64)
    directions = directions / directions.norm(dim=0, keepdim=True)
    size = max(real_x.shape[1], fake_x.shape[1])
    # Sorting dominates the cost: a real set shared by all seeds is projected and sorted once, and each
    # projection is sorted along the contiguous last dimension.
    real_q = _quantiles((directions.T @ real_x.double().transpose(1, 2)).sort(dim=-1).values, size)
    fake_q = _quantiles((directions.T @ fake_x.double().transpose(1, 2)).sort(dim=-1).values, size)
    swd = ((real_q - fake_q) ** 2).mean(dim=(1, 2)).sqrt()
    return pd.DataFrame({"seed": _seed_labels(seeds, fake_x.shape[0]), "swd": swd.numpy()})


# ---------------------------------------------------------------- trace-level metrics


def dominance(
    run_or_trace: Run | pd.DataFrame, *, window: Window = 0.2, threshold: float = 0.95
) -> pd.DataFrame:
    """How completely D separates real from fake, per seed, from the ``d_auc`` probe (any loss).

    Columns: ``d_auc`` (mean AUC over the window), ``auc_above`` (share of the window's recorded steps
    with AUC above ``threshold``), ``dominant_from`` (the step from which the AUC stays above it to the
    end; NaN if it does not), ``d_real``/``d_fake`` (D's mean confidence in the window), ``window_from``.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"dominance: threshold={threshold!r} must be an AUC in (0, 1), e.g. 0.95")
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
    window: Window = 0.2,
    early: float = 0.1,
    signal_floor: float = 0.05,
    grad_ceiling: float = 1e4,
    smooth: int = 5,
) -> pd.DataFrame:
    """G's and D's gradient norms and G's learning signal over the window, per seed.

    ``g_signal`` is the median learning signal in the window, ``g_signal_early`` its median over the first
    ``early`` share of the recorded steps, ``signal_ratio`` the two's ratio (0 when the late signal is 0).
    ``vanished_from`` is the first step after those where the signal (a running median over ``smooth``
    records, to ignore single noisy batches) falls below ``signal_floor`` × its early value (or to 0);
    ``exploded_at`` the first step where G's or D's gradient norm or the signal exceeds ``grad_ceiling``.
    Both NaN when it never happens.
    """
    if not 0 < early < 1:
        raise ValueError(f"gradient_health: early={early!r} must be a share of the recorded steps in (0, 1)")
    if not 0 < signal_floor < 1:
        raise ValueError(f"gradient_health: signal_floor={signal_floor!r} must be in (0, 1), e.g. 0.05")
    if not grad_ceiling > 0:
        raise ValueError(f"gradient_health: grad_ceiling={grad_ceiling!r} must be positive, e.g. 1e4")
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
        raise ValueError(f"gradient_health: smooth={smooth!r} must be an integer of at least 1")
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
    run_or_trace: Run | pd.DataFrame, *, window: Window = 0.2, max_loss: float = 1e3
) -> pd.DataFrame:
    """Whether each seed went non-finite, blew up, or settles, per seed.

    ``first_nonfinite``: the first step with a NaN/Inf loss or gradient (NaN if none; exact for a Run,
    which checks every step, at recorded steps for a bare trace). ``loss_peak``: the largest finite
    |loss| of D or G; ``blowup_from``: the first step where it exceeds ``max_loss``. Over the window,
    ``*_trend`` is the change of a least-squares line through the loss and ``*_amplitude`` the standard
    deviation around that line: a settled trace has both small, an oscillating one a large amplitude.
    """
    if not max_loss > 0:
        raise ValueError(f"divergence: max_loss={max_loss!r} must be positive, e.g. 1e3")
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


def key_metrics(run: Run) -> pd.DataFrame:
    """The few numbers every summary shows, one row per seed: ``seed, modes, hq, reverse_kl, d_auc,
    g_signal, nonfinite``. Mode columns are NaN for toys without modes; ``d_auc`` is the mean AUC and
    ``g_signal`` the median learning signal over the last 20 % of the recorded steps."""
    frame = pd.DataFrame({"seed": pd.Series(run.seeds, dtype=np.int64)})
    if run.toy.has_modes and run.n_seeds:
        coverage = mode_coverage(run.samples(KEY_SAMPLES), run.toy, seeds=run.seeds)
        for column in ("modes", "hq", "reverse_kl"):
            frame[column] = coverage[column].to_numpy(dtype=np.float64)
    else:
        for column in ("modes", "hq", "reverse_kl"):
            frame[column] = np.nan
    frame["d_auc"] = dominance(run, window=KEY_WINDOW)["d_auc"].to_numpy()
    frame["g_signal"] = gradient_health(run, window=KEY_WINDOW)["g_signal"].to_numpy()
    frame["nonfinite"] = np.isfinite(first_nonfinite(run)).astype(np.float64)
    return frame


# ---------------------------------------------------------------- helpers: samples


def _tensor(values: Any, what: str) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach()
    if isinstance(values, np.ndarray):
        return torch.from_numpy(values)
    raise TypeError(f"{what}: give a torch.Tensor or numpy array, not {type(values).__name__}")


def _samples(samples: ArrayLike, toy: Toy, what: str) -> torch.Tensor:
    """Samples as float ``[S, n, dim]``; images shaped like ``toy.shape`` are flattened."""
    x = _tensor(samples, what)
    lead = x.ndim - len(toy.shape)
    if len(toy.shape) > 1 and lead in (1, 2) and tuple(x.shape[lead:]) == toy.shape:
        x = x.reshape(*x.shape[:lead], toy.dim)
    if x.ndim not in (2, 3) or x.shape[-1] != toy.dim:
        raise ValueError(
            f"{what}: samples of shape {tuple(x.shape)} do not fit toy {toy.name!r} (dim {toy.dim}); "
            f"give [S, n, {toy.dim}] or [n, {toy.dim}] for one seed"
        )
    if x.shape[-2] == 0:
        raise ValueError(f"{what}: no samples (shape {tuple(x.shape)}); give at least one per seed")
    return (x if x.ndim == 3 else x.unsqueeze(0)).float()


def _stacked_pair(
    real: ArrayLike, fake: ArrayLike, what: str, *, expand: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """``real`` and ``fake`` as ``[S, n, d]`` and ``[S, m, d]``; one real set is shared by all seeds
    (kept as ``[1, n, d]`` unless ``expand``)."""
    real_x, fake_x = _tensor(real, f"{what}: real"), _tensor(fake, f"{what}: fake")
    for name, x in (("real", real_x), ("fake", fake_x)):
        if x.ndim not in (2, 3) or x.shape[-2] == 0:
            raise ValueError(
                f"{what}: {name} has shape {tuple(x.shape)}; give [n, features] or [S, n, features] "
                "(flatten images to features)"
            )
    if real_x.shape[-1] != fake_x.shape[-1]:
        raise ValueError(
            f"{what}: real samples have {real_x.shape[-1]} dimensions but fake ones {fake_x.shape[-1]}"
        )
    real_x = real_x if real_x.ndim == 3 else real_x.unsqueeze(0)
    fake_x = fake_x if fake_x.ndim == 3 else fake_x.unsqueeze(0)
    if real_x.shape[0] == 1 and expand:
        real_x = real_x.expand(fake_x.shape[0], -1, -1)
    if real_x.shape[0] not in (1, fake_x.shape[0]):
        raise ValueError(
            f"{what}: real has {real_x.shape[0]} seeds but fake {fake_x.shape[0]}; "
            "give one real set or one per seed"
        )
    return real_x.cpu(), fake_x.cpu()


def _knn_inputs(real: ArrayLike, fake: ArrayLike, k: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Real ``[1 or S, n, d]`` and fake ``[S, m, d]`` as float64 arrays, checked for k-NN metrics."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{what}: k={k!r} must be an integer of at least 1 (5 is the papers' choice)")
    real_x, fake_x = _stacked_pair(real, fake, what, expand=False)
    smaller = min(real_x.shape[1], fake_x.shape[1])
    if k >= smaller:
        raise ValueError(f"{what}: k={k} needs more than k samples per set; the smaller set has {smaller}")
    return real_x.double().numpy(), fake_x.double().numpy()


def _ball_sets(reals: np.ndarray, seeds: int, k: int) -> list[_Balls]:
    """One ball set per seed; a real set shared by every seed is built once."""
    built = [_Balls(real, k) for real in reals]
    return built * seeds if len(built) == 1 else built


def _quantiles(sorted_values: torch.Tensor, size: int) -> torch.Tensor:
    """The empirical quantile function of ``sorted_values`` (along the last dim) at ``size`` mid-points."""
    n = sorted_values.shape[-1]
    if n == size:
        return sorted_values
    index = ((torch.arange(size, dtype=torch.float64) + 0.5) * n / size).long().clamp_(max=n - 1)
    return sorted_values[..., index]


def _seed_labels(seeds: Sequence[int] | None, count: int) -> np.ndarray:
    if seeds is None:
        return np.arange(count, dtype=np.int64)
    if len(seeds) != count:
        raise ValueError(f"seeds: {len(seeds)} labels given for {count} seeds of samples")
    return np.asarray(seeds, dtype=np.int64)


# ---------------------------------------------------------------- helpers: k-NN balls


class _Balls:
    """The k-NN balls of a sample set: around each point, out to its k-th nearest other point.

    Every answer is exact; low dimensions use scipy's KD-tree (n log n), higher ones brute force.
    """

    def __init__(self, centers: np.ndarray, k: int) -> None:
        self.centers = centers
        self.tree: Any = None
        if centers.shape[1] <= KD_TREE_MAX_DIM:
            from scipy.spatial import cKDTree

            self.tree = cKDTree(centers)
            distances, _ = self.tree.query(centers, k + 1, workers=-1)
            self.radii = np.asarray(distances[:, k])
        else:
            self.radii = _distances(centers, centers).kthvalue(k + 1, dim=1).values.numpy()
        self.reach = float(self.radii.max())
        self._lifted: Any = None

    def hit(self, queries: np.ndarray) -> np.ndarray:
        """For each query, whether it lies in at least one ball."""
        if self.tree is None:
            return (_distances(queries, self.centers) <= torch.from_numpy(self.radii)[None, :]).any(1).numpy()
        # Most queries are settled by the balls of their few nearest centres: inside one of them, or
        # farther than the largest radius from all of them. Only the rest need the exact search.
        nearest = min(HIT_CANDIDATES, len(self.centers))
        distances, index = self.tree.query(queries, nearest, distance_upper_bound=self.reach, workers=-1)
        distances, index = distances.reshape(len(queries), -1), index.reshape(len(queries), -1)
        radii = np.append(self.radii, -1.0)  # a missing neighbour (index n) contains nothing
        inside = (distances <= radii[index]).any(1)
        unsettled = np.flatnonzero(~inside & np.isfinite(distances[:, -1]))
        if unsettled.size:
            inside[unsettled] = self._lifted_hit(queries[unsettled])
        return np.asarray(inside, dtype=bool)

    def _lifted_hit(self, queries: np.ndarray) -> np.ndarray:
        from scipy.spatial import cKDTree

        # Lift each centre by √(R² − r²) in one extra coordinate: ‖q − c‖ ≤ r becomes ‖q' − c'‖ ≤ R,
        # so "inside some ball" is one nearest-neighbour query.
        if self._lifted is None:
            lift = np.sqrt(np.maximum(self.reach**2 - self.radii**2, 0.0))
            self._lifted = cKDTree(np.column_stack((self.centers, lift)))
        flat = np.column_stack((queries, np.zeros(len(queries))))
        bound = self.reach * (1 + 1e-9) + 1e-300  # rounding in the lift must not drop a boundary point
        distances, _ = self._lifted.query(
            flat, 1, distance_upper_bound=np.nextafter(bound, np.inf), workers=-1
        )
        return np.asarray(distances <= bound)

    def counts(self, points: np.ndarray) -> np.ndarray:
        """For each ball, how many ``points`` it holds."""
        if self.tree is None:
            return (_distances(self.centers, points) <= torch.from_numpy(self.radii)[:, None]).sum(1).numpy()
        from scipy.spatial import cKDTree

        return np.asarray(
            cKDTree(points).query_ball_point(self.centers, self.radii, return_length=True, workers=-1)
        )


def _distances(a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    # float64: in float32 the matrix-product form loses distances much smaller than the data's norm.
    return torch.cdist(torch.from_numpy(a), torch.from_numpy(b))


# ---------------------------------------------------------------- helpers: traces


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
        if isinstance(window, bool) or not isinstance(window, int | float):
            raise TypeError(f"window={window!r}: give a share of the recorded steps (0.2) or a step count")
        if isinstance(window, float) and not 0 < window <= 1:
            raise ValueError(f"window={window!r}: a share must be in (0, 1]; give an int for a step count")
        if isinstance(window, int) and window < 1:
            raise ValueError(f"window={window!r}: a number of steps must be at least 1")
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
