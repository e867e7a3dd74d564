"""Sample-level metrics: score generated samples ``[S, n, dim]`` (or ``[n, dim]`` for one seed) per seed.

Mode coverage for toys with known modes (docs/design.md §4); k-NN precision/recall, density/coverage and
a sliced Wasserstein distance against real samples for data without modes. Each returns a DataFrame with
one row per seed, so users can score their own samples the same way the assertions do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..toys import Toy
from .knn import Balls, nearest_distances

ArrayLike = torch.Tensor | np.ndarray


def mode_coverage(samples: ArrayLike, toy: Toy, *, seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Modes captured, HQ fraction, reverse KL and per-mode counts, per seed (docs/design.md §4).

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
        fake_balls = Balls(fake_x, k)
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


def data_distance(real: ArrayLike, fake: ArrayLike, *, seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """How far G's samples lie from the data, both ways, per seed: ``to_data``, the median over fake samples
    of the (exact) distance to the nearest real sample, and ``from_data``, the median over real samples of
    the distance to the nearest fake one. A non-finite fake sample is infinitely far from everything.

    ``to_data`` falls as G's samples reach the data's support, however they are spread there; ``from_data``
    falls as they come near more of the data. A median moves with the bulk of the samples, not a few strays.
    ``real`` may be one set shared by every seed.
    """
    real_x, fake_x = _stacked_pair(real, fake, "data_distance", expand=False)
    reals = real_x.double().numpy()
    if not np.isfinite(reals).all():
        raise ValueError("data_distance: the real samples hold NaN or Inf")
    rows = []
    for s, fake_s in enumerate(fake_x.double().numpy()):
        real_s = reals[min(s, len(reals) - 1)]
        finite = fake_s[np.isfinite(fake_s).all(axis=1)]
        from_data = nearest_distances(finite, real_s) if len(finite) else np.full(len(real_s), np.inf)
        rows.append((_median(nearest_distances(real_s, fake_s)), _median(from_data)))
    values = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
    return pd.DataFrame(
        {"seed": _seed_labels(seeds, fake_x.shape[0]), "to_data": values[:, 0], "from_data": values[:, 1]}
    )


def class_coverage(
    samples: ArrayLike,
    labels: ArrayLike,
    toy: Toy,
    *,
    k: int = 5,
    real_per_class: int = 500,
    seeds: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Per-class coverage of a conditional G, per seed: does it give each class its own mode, all of it?

    ``samples`` ``[S, n, dim]`` were asked for the classes ``labels`` ``[n]`` (a toy's class is its mode).
    ``on_class``: the share of samples whose nearest mode is the class they were asked for (a G that
    ignores its label scores about 1/C). ``class_recall``: over classes, the mean k-NN recall of that
    class's real samples by the samples asked for it (Kynkäänniemi et al. 2019, per class): a G that
    collapses within a class, whatever its latent, scores near 0. ``worst_on_class``/``worst_recall``:
    the worst class's values, ``worst_class`` which class that is (by recall). Real samples come from a
    fixed generator, ``real_per_class`` per class.
    """
    if toy.centers is None or not toy.classes:
        raise ValueError(
            f"class_coverage: toy {toy.name!r} has no classes (modes) to judge a conditional G by"
        )
    x = _samples(samples, toy, "class_coverage").cpu()
    y = _tensor(labels, "class_coverage: labels").long().cpu().reshape(-1)
    if y.shape[0] != x.shape[1]:
        raise ValueError(f"class_coverage: {y.shape[0]} labels for {x.shape[1]} samples per seed")
    classes = toy.classes
    real, real_y = toy.sample_labelled(
        real_per_class * classes * 2, generator=torch.Generator().manual_seed(7)
    )
    nearest = torch.cdist(x, toy.centers.float().expand(x.shape[0], -1, -1)).argmin(-1)
    on_class = (nearest == y[None, :]).float()
    rows = []
    for s in range(x.shape[0]):
        per_class = []
        for c in range(classes):
            fake_c = x[s, y == c].double().numpy()
            real_c = real[real_y == c][:real_per_class].double().numpy()
            finite = fake_c[np.isfinite(fake_c).all(1)]
            if len(finite) <= k or len(real_c) <= k:
                per_class.append((float(on_class[s, y == c].mean()) if (y == c).any() else 0.0, 0.0))
                continue
            recall = Balls(finite, k).hit(real_c).mean()
            per_class.append((float(on_class[s, y == c].mean()), float(recall)))
        values = np.asarray(per_class)
        worst = int(values[:, 1].argmin())
        rows.append(
            (on_class[s].mean().item(), values[:, 1].mean(), values[:, 0].min(), values[:, 1].min(), worst)
        )
    frame = pd.DataFrame(
        rows, columns=["on_class", "class_recall", "worst_on_class", "worst_recall", "worst_class"]
    )
    frame.insert(0, "seed", _seed_labels(seeds, x.shape[0]))
    return frame


def against_data(
    samples: ArrayLike, real: ArrayLike, *, k: int = 5, seeds: Sequence[int] | None = None
) -> pd.DataFrame:
    """The distribution-free metrics in one frame, per seed: precision, recall, density, coverage and the
    sliced Wasserstein distance of ``samples`` ``[S, n, ...]`` against held-out ``real`` samples
    (``Toy.holdout``): what judges data without known modes."""
    fake = _tensor(samples, "against_data: samples")
    fake = fake.reshape(*fake.shape[:2], -1) if fake.ndim > 3 else fake
    held = _tensor(real, "against_data: real")
    held = held.reshape(held.shape[0], -1)
    frame = precision_recall(held, fake, k=k, seeds=seeds)
    dc = density_coverage(held, fake, k=k, seeds=seeds)
    frame["density"], frame["coverage"] = dc["density"].to_numpy(), dc["coverage"].to_numpy()
    frame["swd"] = sliced_wasserstein(held, fake, seeds=seeds)["swd"].to_numpy()
    return frame


# ---------------------------------------------------------------- helpers


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


def _ball_sets(reals: np.ndarray, seeds: int, k: int) -> list[Balls]:
    """One ball set per seed; a real set shared by every seed is built once."""
    built = [Balls(real, k) for real in reals]
    return built * seeds if len(built) == 1 else built


def _quantiles(sorted_values: torch.Tensor, size: int) -> torch.Tensor:
    """The empirical quantile function of ``sorted_values`` (along the last dim) at ``size`` mid-points."""
    n = sorted_values.shape[-1]
    if n == size:
        return sorted_values
    index = ((torch.arange(size, dtype=torch.float64) + 0.5) * n / size).long().clamp_(max=n - 1)
    return sorted_values[..., index]


def _median(values: np.ndarray) -> float:
    """The median, ∞ when the middle values are (numpy's interpolation would make ∞ − ∞ a NaN)."""
    ordered = np.sort(values)
    middle = (len(ordered) - 1) / 2
    return float(0.5 * (ordered[math.floor(middle)] + ordered[math.ceil(middle)]))


def _seed_labels(seeds: Sequence[int] | None, count: int) -> np.ndarray:
    if seeds is None:
        return np.arange(count, dtype=np.int64)
    if len(seeds) != count:
        raise ValueError(f"seeds: {len(seeds)} labels given for {count} seeds of samples")
    return np.asarray(seeds, dtype=np.int64)
