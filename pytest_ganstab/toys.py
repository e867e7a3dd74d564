"""Toy distributions with known modes, the ground truth that mode-coverage numbers are measured against.

Each toy turns uniform and standard-normal draws into samples with one transform, so the same toy can
be sampled from a ``torch.Generator`` (``Toy.sample``) or from the engine's counter-based streams
(``Toy.sample_stacked``), and both give the distribution the papers define (docs/design.md §4).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from . import rng

# docs/design.md §4: 3 sd for 2-D toys, 10 sd when the toy lives in many dimensions.
HQ_THRESHOLD_2D = 3.0
HQ_THRESHOLD_HIGH_DIM = 10.0
HOLDOUT_SEED = 0x401D  # the generator of a toy's held-out samples


class Toy(ABC):
    """A data distribution. ``dim`` is the flat sample size; ``shape`` is how a model sees one sample."""

    name: str
    dim: int
    shape: tuple[int, ...]
    # Per-mode ground truth; None for toys without discrete modes (the swiss roll).
    centers: torch.Tensor | None = None
    std: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    hq_threshold: float | None = None

    @property
    def has_modes(self) -> bool:
        return self.centers is not None

    @property
    def n_modes(self) -> int:
        return 0 if self.centers is None else int(self.centers.shape[0])

    @property
    def classes(self) -> int:
        """Classes a conditional GAN can ask for: the mode index is the class (0 for toys without modes)."""
        return self.n_modes

    @property
    @abstractmethod
    def noise_dim(self) -> int:
        """How many standard normals one sample consumes."""

    @abstractmethod
    def transform(self, u: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Map uniforms ``[..., n]`` and normals ``[..., n, noise_dim]`` to samples ``[..., n, dim]``."""

    def labelled_transform(self, u: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``transform`` and each sample's class (its mode); only toys with modes have classes."""
        raise ValueError(f"toy {self.name!r} has no modes, so no classes for a conditional GAN")

    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """``n`` samples ``[n, dim]`` drawn from ``generator`` (torch's global RNG if None)."""
        return self.transform(*self._noise(n, generator, device))

    def sample_labelled(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` samples ``[n, dim]`` and their classes ``[n]`` (int64), as ``sample`` draws them."""
        return self.labelled_transform(*self._noise(n, generator, device))

    def sample_stacked(self, keys: torch.Tensor, stream: int, n: int) -> torch.Tensor:
        """``n`` samples for each seed key, ``[S, n, dim]``, from the engine's counter-based streams."""
        return self.transform(*self._stacked_noise(keys, stream, n))

    def sample_labelled_stacked(
        self, keys: torch.Tensor, stream: int, n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``sample_stacked`` with each sample's class, ``[S, n]``: the same samples, labelled."""
        return self.labelled_transform(*self._stacked_noise(keys, stream, n))

    def _noise(
        self, n: int, generator: torch.Generator | None, device: torch.device | str | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if generator is not None and device is None:
            device = generator.device
        u = torch.rand(n, generator=generator, device=device)
        return u, torch.randn(n, self.noise_dim, generator=generator, device=device)

    def _stacked_noise(self, keys: torch.Tensor, stream: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        u = rng.uniform(keys, stream, (n,))
        return u, rng.normal(keys, rng.stream_id(stream, 1), (n, self.noise_dim))

    def holdout(self, n: int) -> torch.Tensor:
        """``n`` real samples ``[n, dim]`` that training never saw, for the distribution-free metrics: for a
        toy, fresh draws from a fixed generator (training draws from the seeds' own streams)."""
        return self.sample(n, generator=torch.Generator().manual_seed(HOLDOUT_SEED))

    def describe(self) -> dict[str, Any]:
        """Plain facts about the toy, for summaries and history files."""
        return {"toy": self.name, "dim": self.dim, "toy_modes": self.n_modes}

    def __repr__(self) -> str:
        return f"<Toy {self.name}: dim={self.dim}, modes={self.n_modes or 'none'}>"


@dataclass(repr=False, eq=False)
class GaussianMixture(Toy):
    """Isotropic Gaussian modes. With ``embedding`` the noise lives in a low-dimensional plane that a
    fixed linear map places in ``dim`` dimensions (the high-dimensional ring)."""

    name: str
    centers: torch.Tensor  # type: ignore[assignment]
    std: torch.Tensor  # type: ignore[assignment]
    weights: torch.Tensor  # type: ignore[assignment]
    hq_threshold: float  # type: ignore[assignment]
    embedding: torch.Tensor | None = None
    shape: tuple[int, ...] = field(default=())
    # Device copies made once: a copy from the host on every draw would make each step wait on it.
    _on_device: dict[torch.device, tuple[torch.Tensor, ...]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        flat = self.centers if self.embedding is None else self.centers @ self.embedding
        self._plane_centers = self.centers
        self.centers = flat
        self.dim = int(flat.shape[1])
        if not self.shape:
            self.shape = (self.dim,)
        self._cumulative = torch.cumsum(self.weights / self.weights.sum(), 0)

    @property
    def noise_dim(self) -> int:
        return int(self._plane_centers.shape[1])

    def transform(self, u: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return self.labelled_transform(u, eps)[0]

    def labelled_transform(self, u: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if u.device not in self._on_device:
            self._on_device[u.device] = tuple(
                tensor.to(u.device)
                for tensor in (self._cumulative, self._plane_centers, self.std, self.embedding)
                if tensor is not None
            )
        cumulative, plane_centers, std, *embedding = self._on_device[u.device]
        mode = torch.searchsorted(cumulative, u.contiguous()).clamp_(max=cumulative.numel() - 1)
        x = plane_centers[mode] + std[mode].unsqueeze(-1) * eps
        return (x @ embedding[0] if embedding else x), mode


class SwissRoll(Toy):
    """scikit-learn's ``make_swiss_roll`` seen from coordinates 0 and 2, scaled. It has no discrete
    modes: judge it with the distribution-free metrics (precision/recall, density/coverage, SWD)."""

    def __init__(self, noise: float = 0.25, scale: float = 1 / 7.5) -> None:
        self.name = "swissroll"
        self.dim = 2
        self.shape = (2,)
        self.noise = noise
        self.scale = scale

    @property
    def noise_dim(self) -> int:
        return 2

    def transform(self, u: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        t = 1.5 * math.pi * (1 + 2 * u)
        clean = torch.stack((t * torch.cos(t), t * torch.sin(t)), dim=-1)
        return (clean + self.noise * eps) * self.scale


def ring(n: int = 8, radius: float = 1.0, std: float = 0.01) -> GaussianMixture:
    """``n`` equal modes on a circle; the defaults are PacGAN's ring of 8."""
    _check_counts(n=n)
    _check_positive(radius=radius, std=std)
    angle = torch.arange(n, dtype=torch.float64) * (2 * math.pi / n)
    centers = radius * torch.stack((torch.cos(angle), torch.sin(angle)), dim=1)
    return _mixture(f"ring{n}", centers, std, HQ_THRESHOLD_2D)


def grid(n: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """``n``×``n`` equal modes on a square lattice centred at 0; the defaults are PacGAN's grid of 25."""
    _check_counts(n=n)
    _check_positive(spacing=spacing, std=std)
    axis = (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) * spacing
    centers = torch.cartesian_prod(axis, axis)
    return _mixture(f"grid{n * n}", centers, std, HQ_THRESHOLD_2D)


def embedded_ring(
    n: int = 8, dim: int = 128, radius: float = 1.0, std: float = 0.01, basis_seed: int = 0
) -> GaussianMixture:
    """The 2-D ring placed in ``dim`` dimensions by a fixed random orthonormal map; the noise stays in
    the ring's plane, so true samples are all high quality at 10 sd (docs/design.md §4)."""
    _check_counts(n=n, dim=dim)
    _check_positive(radius=radius, std=std)
    if dim < 3:
        raise ValueError(f"embedded_ring: dim={dim} must be at least 3; use ring() for 2-D")
    plane = ring(n, radius, std)
    generator = torch.Generator().manual_seed(basis_seed)
    basis, _ = torch.linalg.qr(torch.randn(dim, 2, generator=generator, dtype=torch.float64))
    return GaussianMixture(
        name=f"ring{n}-{dim}d",
        centers=plane.centers,
        std=plane.std,
        weights=plane.weights,
        hq_threshold=HQ_THRESHOLD_HIGH_DIM,
        embedding=basis.T.contiguous().float(),
    )


def mixture1d(means: Sequence[float] = (-2.0, 0.0, 2.0), std: float = 0.1) -> GaussianMixture:
    """Equal 1-D Gaussian modes: the smallest toy on which a generator can drop a mode."""
    _check_positive(std=std)
    if isinstance(means, str | bytes) or not isinstance(means, Sequence) or len(means) < 1:
        raise ValueError(f"mixture1d: means={means!r}: give a list of at least one number, e.g. [-2, 0, 2]")
    if not all(_is_number(m) for m in means):
        raise ValueError(f"mixture1d: means={list(means)!r} must all be finite numbers")
    centers = torch.tensor([float(m) for m in means], dtype=torch.float64).unsqueeze(1)
    return _mixture(f"mixture1d-{len(means)}", centers, std, HQ_THRESHOLD_2D)


def blobs(
    size: int = 16,
    per_side: int = 3,
    blob_sd: float | None = None,
    std: float = 0.05,
    channels: int = 1,
) -> GaussianMixture:
    """``channels``×``size``×``size`` images in [-1, 1] of a bright blob at one of ``per_side``² positions.

    A mode is a blob position: the centres are the noiseless images (the same blob in every channel),
    and an image belongs to the nearest. ``blob_sd`` defaults to 1.5 pixels at size 16, scaled with the
    size. The pixel noise fills all ``dim`` = channels·size² dimensions, so a true sample lies about √dim
    sd from its centre (P[χ²ₖ < t²] with k = dim); the HQ threshold is 1.25 √dim sd to match, still far
    below half the distance between two positions.
    """
    _check_counts(size=size, per_side=per_side, channels=channels)
    if size < 2 or per_side > size:
        raise ValueError(f"blobs: size={size} must be at least 2 and at least per_side={per_side}")
    blob_sd = 1.5 * size / 16 if blob_sd is None else blob_sd
    _check_positive(blob_sd=blob_sd, std=std)
    coords = torch.arange(size, dtype=torch.float64)
    spots = (torch.arange(per_side, dtype=torch.float64) + 0.5) * (size / per_side) - 0.5
    images = []
    for row in spots:
        for col in spots:
            bump = torch.exp(
                -((coords[:, None] - row) ** 2 + (coords[None, :] - col) ** 2) / (2 * blob_sd**2)
            )
            images.append((2 * bump - 1).flatten().repeat(channels))
    centers = torch.stack(images)
    suffix = "" if (size, channels) == (16, 1) else f"-{channels}x{size}x{size}"
    toy = _mixture(f"blobs{per_side * per_side}{suffix}", centers, std, 1.25 * math.sqrt(centers.shape[1]))
    toy.shape = (channels, size, size)
    return toy


def _mixture(name: str, centers: torch.Tensor, std: float, threshold: float) -> GaussianMixture:
    modes = centers.shape[0]
    return GaussianMixture(
        name=name,
        centers=centers.float(),
        std=torch.full((modes,), float(std)),
        weights=torch.full((modes,), 1.0 / modes),
        hq_threshold=threshold,
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_positive(**values: Any) -> None:
    for key, value in values.items():
        if not (_is_number(value) and value > 0):
            raise ValueError(f"{key}={value!r} must be a positive number")


def _check_counts(**values: Any) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}={value!r} must be a whole number of at least 1, e.g. {key}=8")


_REGISTRY: dict[str, Callable[..., Toy]] = {
    "ring8": ring,
    "ring": ring,
    "grid25": grid,
    "grid": grid,
    "swissroll": SwissRoll,
    "ring8-embedded": embedded_ring,
    "mixture1d": mixture1d,
    "blobs9": blobs,
}


def toy(name: str | Toy, **options: Any) -> Toy:
    """A toy by name, its defaults overridden by ``options``: ``toy("grid25", std=0.05)``."""
    if isinstance(name, Toy):
        if options:
            raise TypeError(f"toy(): options {sorted(options)} only apply when the toy is given by name")
        return name
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown toy {name!r}; known toys: {', '.join(list_toys())}") from None
    try:
        return factory(**options)
    except (TypeError, ValueError) as error:
        raise type(error)(f"toy {name!r}: {error}") from None


def list_toys() -> list[str]:
    """The names ``toy()`` accepts."""
    return sorted(_REGISTRY)
