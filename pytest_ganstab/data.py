"""The user's own data as a ``Toy``: a tensor, a ``Dataset``/``DataLoader`` or a sampling callable.

Everything downstream (the engine, the monitor, the metrics, the report) reads data through ``Toy``, so
a data set becomes one: rows drawn with replacement, each seed's rows from its own counter-based stream
(docs/design.md §5), so seed k sees the same batches alone or beside others. A share of the rows is held
out of training (``holdout``) for the distribution-free metrics. Given mode centres and a scale, coverage
is measured as on the toys; given labels, a conditional GAN can be trained on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from . import rng
from .toys import HQ_THRESHOLD_2D, Toy
from .toys import toy as get_toy

_POSITIVE = 0x7FFF_FFFF_FFFF_FFFF
MAX_ITEMS = 50_000  # a Dataset is loaded into memory once; larger ones are subsampled (a note says so)
HOLDOUT_SHARE, HOLDOUT_MAX, HOLDOUT_MIN_ROWS = 0.2, 2500, 50
Sampler = Callable[[int], Any]


def as_toy(
    data: Any,
    *,
    name: str | None = None,
    labels: Any = None,
    centers: Any = None,
    scale: float | Sequence[float] | None = None,
    weights: Sequence[float] | None = None,
    hq_threshold: float | None = None,
    holdout: float = HOLDOUT_SHARE,
) -> Toy:
    """``data`` as a Toy: a toy name or ``Toy`` (unchanged), a tensor or array ``[N, ...]``, a pair
    ``(x, labels)``, a ``Dataset``/``DataLoader`` (items ``x`` or ``(x, label)``), or a callable
    ``f(n)`` returning ``n`` samples (or ``(x, labels)``).

    ``centers`` ``[M, ...]`` and ``scale`` (the sd of a sample around its centre, one value or one per
    mode) make mode coverage measurable (HQ within ``hq_threshold`` sd: 3 in 2-D, 1.25 √dim above, as
    for the toys). ``holdout`` is the share of rows kept out of training for the metrics (at most 2,500).
    """
    if isinstance(data, str | Toy):
        if any(v is not None for v in (name, labels, centers, scale, weights, hq_threshold)):
            raise TypeError("data: name/labels/centers/scale apply to your own data, not to a toy")
        return get_toy(data)
    if callable(data) and not isinstance(data, torch.utils.data.Dataset | torch.utils.data.DataLoader):
        if labels is not None:
            raise TypeError("data: a sampling function returns its labels itself: f(n) -> (x, labels)")
        toy: Toy = SampledData(data, name=name or str(getattr(data, "__name__", "data")))
    else:
        x, y, note = _load(data, labels)
        toy = TensorData(x, y, name=name or "data", holdout=holdout, note=note)
    if centers is not None or scale is not None:
        _attach_modes(toy, centers, scale, weights, hq_threshold)
    return toy


class TensorData(Toy):
    """Rows of a tensor, drawn uniformly with replacement; ``holdout`` of them kept for the metrics."""

    def __init__(
        self, x: torch.Tensor, labels: torch.Tensor | None, *, name: str, holdout: float, note: str = ""
    ) -> None:
        if not (isinstance(holdout, int | float) and not isinstance(holdout, bool) and 0 <= holdout < 1):
            raise ValueError(f"data: holdout={holdout!r} must be a share in [0, 1), e.g. 0.2")
        self.name = name
        self.shape = tuple(int(s) for s in x.shape[1:])
        self.dim = math.prod(self.shape)
        self.note = note
        rows = x.shape[0]
        order = torch.argsort(rng.uniform(rng.seed_keys(0, [0], "cpu"), rng.HOLDOUT, (rows,))[0])
        kept = min(HOLDOUT_MAX, int(rows * holdout)) if rows >= HOLDOUT_MIN_ROWS else 0
        flat = x.reshape(rows, self.dim).float()
        self.rows, self.held_out = flat[order[kept:]], flat[order[:kept]]
        self.labels = None if labels is None else labels[order[kept:]]
        self._classes = 0 if labels is None else int(labels.max()) + 1
        self._on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor | None]] = {}

    @property
    def classes(self) -> int:
        return self._classes

    @property
    def noise_dim(self) -> int:
        return 0  # a row is picked by its uniform alone

    def transform(self, u: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        rows, _ = self._device_copy(u.device)
        return rows[self._index(u, rows)]

    def labelled_transform(self, u: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows, labels = self._device_copy(u.device)
        if labels is None:
            raise ValueError(
                f"data {self.name!r} has no labels for a conditional GAN: give (x, labels) or labels="
            )
        index = self._index(u, rows)
        return rows[index], labels[index]

    def _device_copy(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        if device not in self._on_device:  # one copy per device: a copy per draw would wait on the host
            labels = None if self.labels is None else self.labels.to(device)
            self._on_device[device] = (self.rows.to(device), labels)
        return self._on_device[device]

    @staticmethod
    def _index(u: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return (u * rows.shape[0]).long().clamp_(max=rows.shape[0] - 1)

    def holdout(self, n: int) -> torch.Tensor:
        return self.held_out[:n] if len(self.held_out) else super().holdout(n)


class SampledData(Toy):
    """Samples from the user's function ``f(n)``, called under a torch seed from (seed key, stream), so
    each seed's batches are its own and repeatable."""

    def __init__(self, sampler: Sampler, *, name: str) -> None:
        self.sampler = sampler
        self.name = name
        self.note = ""
        x, labels = self._call(4, 0, flat=False)
        self.shape = tuple(int(s) for s in x.shape[1:])
        self.dim = math.prod(self.shape)
        self._classes = 0 if labels is None else -1  # unknown until asked: read off a large draw
        self._host_keys: dict[tuple[int, int], list[int]] = {}

    @property
    def classes(self) -> int:
        if self._classes < 0:
            _, labels = self._call(4096, 1)
            assert labels is not None
            self._classes = int(labels.max()) + 1
        return self._classes

    @property
    def noise_dim(self) -> int:
        return 0

    def transform(self, u: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("SampledData draws through its function, not from uniforms")

    def sample(
        self, n: int, *, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        return self._call(n, int(torch.randint(1 << 62, (1,), generator=generator)))[0].to(device)

    def sample_labelled(
        self, n: int, *, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x, labels = self._call(n, int(torch.randint(1 << 62, (1,), generator=generator)))
        return x.to(device), self._need(labels).to(device)

    def sample_stacked(self, keys: torch.Tensor, stream: int, n: int) -> torch.Tensor:
        return torch.stack([x for x, _ in self._per_seed(keys, stream, n)]).to(keys.device)

    def sample_labelled_stacked(
        self, keys: torch.Tensor, stream: int, n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        drawn = self._per_seed(keys, stream, n)
        labels = torch.stack([self._need(y) for _, y in drawn])
        return torch.stack([x for x, _ in drawn]).to(keys.device), labels.to(keys.device)

    def _per_seed(
        self, keys: torch.Tensor, stream: int, n: int
    ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        # The keys are few and fixed for a run: read them to the host once, not on every draw.
        host = self._host_keys.setdefault((keys.data_ptr(), keys.numel()), keys.tolist())
        return [self._call(n, rng.stream_id(key, rng.USER_DATA_CALLS, stream) & _POSITIVE) for key in host]

    def _need(self, labels: torch.Tensor | None) -> torch.Tensor:
        if labels is None:
            raise ValueError(
                f"data {self.name!r}: the sampling function returns no labels; return (x, labels)"
            )
        return labels

    def _call(self, n: int, seed: int, *, flat: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            out = self.sampler(n)
        what = f"data: your sampling function {self.name}({n})"
        x, labels = _split(out, what)
        x = _as_float_tensor(x, what)
        if x.dim() == 0 or x.shape[0] != n:
            raise ValueError(f"{what} returned shape {list(x.shape)}; it must return {n} samples [{n}, ...]")
        if labels is not None and tuple(labels.shape) != (n,):  # labels are checked by _split already
            raise ValueError(f"{what} returned labels shaped {list(labels.shape)}; expected [{n}]")
        if not torch.isfinite(x).all():
            raise ValueError(f"{what} returned NaN or Inf values")
        return (x.reshape(n, -1) if flat else x).float().cpu(), labels


def _load(data: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """A tensor, array, pair, Dataset or DataLoader as ``(x [N, ...], labels [N] or None, note)``."""
    note = ""
    if isinstance(data, torch.utils.data.DataLoader):
        data = data.dataset
    if isinstance(data, torch.utils.data.IterableDataset):
        raise TypeError(
            "data: an IterableDataset cannot be sampled by index; pass a function f(n) returning n samples"
        )
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.utils.data.TensorDataset):
        count = len(data)  # type: ignore[arg-type]
        picked: Sequence[int] = range(count)
        if count > MAX_ITEMS:
            picked = sorted(np.random.default_rng(0).choice(count, MAX_ITEMS, replace=False).tolist())
            note = f"data: {MAX_ITEMS:,} of the data set's {count:,} items were loaded (a fixed subset)"
        items = [_split(data[i], f"data: item {i} of the data set") for i in picked]
        if not items:
            raise ValueError("data: the data set is empty")
        x = torch.stack([_as_float_tensor(item, "data: a data set item") for item, _ in items])
        found = [label for _, label in items if label is not None]
        y = torch.stack(found) if len(found) == len(items) else None
    else:
        if isinstance(data, torch.utils.data.TensorDataset):
            data = tuple(data.tensors)
        x_raw, y = _split(data, "data")
        x = _as_float_tensor(x_raw, "data")
    if labels is not None:
        if y is not None:
            raise TypeError("data: labels given twice (in the data and as labels=)")
        y = _labels(labels, "data: labels")
    if x.dim() == 1:
        x = x.unsqueeze(1)  # one number per sample
    if x.shape[0] < 2:
        raise ValueError(
            f"data: {x.shape[0]} sample(s) of shape {list(x.shape[1:])}; give at least 2, [N, ...]"
        )
    if not torch.isfinite(x).all():
        raise ValueError("data: it holds NaN or Inf values; clean or drop those samples first")
    if y is not None and tuple(y.shape) != (x.shape[0],):
        raise ValueError(f"data: {x.shape[0]} samples but labels shaped {list(y.shape)}; give one label each")
    return x.detach().cpu(), (None if y is None else y.cpu()), note


def _split(item: Any, what: str) -> tuple[Any, torch.Tensor | None]:
    """An item, batch or data set as (samples, labels or None)."""
    if isinstance(item, tuple | list):
        if len(item) == 1:
            return item[0], None
        if len(item) == 2:
            return item[0], _labels(item[1], f"{what}: its labels")
        raise ValueError(f"{what} is a {type(item).__name__} of {len(item)}; give x or (x, labels)")
    if isinstance(item, dict):
        raise TypeError(f"{what} is a dict; give x or (x, labels), e.g. a function mapping it to a tensor")
    return item, None


def _labels(value: Any, what: str) -> torch.Tensor:
    tensor = torch.as_tensor(value) if not isinstance(value, torch.Tensor) else value
    if tensor.is_floating_point() or tensor.dtype == torch.bool or tensor.is_complex():
        if tensor.is_floating_point() and torch.equal(tensor, tensor.round()):
            tensor = tensor.long()
        else:
            raise TypeError(f"{what} must be whole class indices 0..C-1, not {tensor.dtype}")
    tensor = tensor.long()  # a data set item's label stays a scalar; stacked, they are [N]
    if tensor.numel() and int(tensor.min()) < 0:
        raise ValueError(f"{what} must be class indices 0..C-1; found {int(tensor.min())}")
    return tensor


def _as_float_tensor(value: Any, what: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        kind = type(value).__name__
        raise TypeError(
            f"{what} is {'an' if kind[0] in 'aeiou' else 'a'} {kind}; give a tensor or numpy array [N, ...] "
            "(images as floats, e.g. scaled to [-1, 1] for a Tanh generator)"
        )
    if value.dtype == torch.uint8:
        raise TypeError(f"{what} is uint8: scale it to floats first, e.g. x.float() / 127.5 - 1 for [-1, 1]")
    if not value.is_floating_point():
        raise TypeError(f"{what} has dtype {value.dtype}; give floating-point samples")
    return value.detach()


def _attach_modes(
    toy: Toy, centers: Any, scale: Any, weights: Sequence[float] | None, hq_threshold: float | None
) -> None:
    """Known modes on the user's data: coverage then reads exactly as on the toys (docs/design.md §4)."""
    if centers is None or scale is None:
        raise TypeError(
            "data: give both centers= (the modes, [M, ...]) and scale= (a sample's sd around one)"
        )
    c = _as_float_tensor(centers, "data: centers").reshape(-1, toy.dim) if toy.dim else None
    if c is None or c.shape[0] < 1 or c.numel() != torch.as_tensor(centers).numel():
        raise ValueError(
            f"data: centers of shape {list(torch.as_tensor(centers).shape)} do not fit samples "
            f"shaped {list(toy.shape)}; give [M, {', '.join(map(str, toy.shape))}]"
        )
    modes = c.shape[0]
    std = torch.as_tensor(scale, dtype=torch.float32).flatten().expand(modes).clone()
    if not (torch.isfinite(std).all() and (std > 0).all()):
        raise ValueError(f"data: scale={scale!r} must be positive: one sd, or one per mode")
    w = (
        torch.full((modes,), 1.0 / modes)
        if weights is None
        else torch.as_tensor(weights, dtype=torch.float32)
    )
    if w.shape != (modes,) or not (w >= 0).all() or not w.sum() > 0:
        raise ValueError(f"data: weights must be {modes} non-negative numbers, one per centre")
    toy.centers, toy.std, toy.weights = c.float(), std, w / w.sum()
    toy.hq_threshold = (
        float(hq_threshold) if hq_threshold is not None else max(HQ_THRESHOLD_2D, 1.25 * math.sqrt(toy.dim))
    )
