"""The samples figure: one panel per seed, drawn in the toy's own picture (a plane with the modes'
high-quality radii and captured/missed marks, a histogram over the true density, or image montages)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..thresholds import DEFAULTS
from .canvas import new_figure

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..run import Run
    from ..toys import Toy

N_SAMPLES = DEFAULTS.samples  # docs/design.md §4: coverage is judged on samples from fixed latents
PANEL_COLUMNS = 4
MIN_WIDTH_IN = 6.0
CAPTURED, MISSED, HQ_RADIUS = "#2ca02c", "#d62728", "#98df8a"

# Speed: an Axes with ticks costs about 0.1 s to lay out and draw, so the seeds' panels share ONE Axes
# without ticks (one artist per kind of mark for all seeds) and titles are plain texts, not Axes
# titles (whose automatic placement measures every tick label).


@dataclass(frozen=True)
class _Cells:
    """Where each seed's panel lies in the shared Axes, in data units."""

    ax: Axes
    origins: np.ndarray  # [S, 2] lower-left corners
    width: float
    height: float

    def title(self, k: int, text: str, colour: str = "black") -> None:
        x, y = self.origins[k]
        self.ax.text(
            x + self.width / 2,
            y + self.height * 1.03,
            text,
            ha="center",
            va="bottom",
            fontsize=8,
            color=colour,
        )

    def off_plot(self, k: int, fraction: float) -> None:
        """Say how many samples lie outside seed k's panel, so a panel never looks better than it is."""
        if fraction > 0:
            x, y = self.origins[k]
            text = f"{fraction:.0%} off-plot" if fraction >= 0.01 else "<1% off-plot"
            self.ax.text(x + 0.02 * self.width, y + 0.02 * self.height, text, fontsize=6, color="#b00020")

    def shift(self, points: Sequence[np.ndarray]) -> np.ndarray:
        """Seed k's ``[n, 2]`` panel coordinates moved into its cell, all seeds stacked."""
        return (
            np.concatenate([p + self.origins[k] for k, p in enumerate(points)])
            if points
            else np.zeros((0, 2))
        )


def _cells(figure: Figure, count: int, width: float, height: float) -> _Cells:
    """Lay out ``count`` panels of ``width`` × ``height`` data units, 2.3 in wide each; size the figure."""
    columns = min(count, PANEL_COLUMNS)
    rows = -(-count // columns)
    gap_x, gap_y = 0.08 * width, 0.22 * height
    total_x = columns * width + (columns - 1) * gap_x
    total_y = rows * (height + gap_y)
    scale = 2.3 * columns / total_x  # inches per data unit, the same along both axes
    top, bottom = 0.3, 0.35
    fig_w = max(total_x * scale + 0.2, MIN_WIDTH_IN)  # one seed's panel still leaves room for the title
    fig_h = total_y * scale + top + bottom
    figure.set_size_inches(fig_w, fig_h)
    left = (fig_w - total_x * scale) / 2
    ax = figure.add_axes((left / fig_w, bottom / fig_h, total_x * scale / fig_w, total_y * scale / fig_h))
    ax.set_axis_off()
    ax.set_xlim(0, total_x)
    ax.set_ylim(0, total_y)
    k = np.arange(count)
    origins = np.column_stack(((k % columns) * (width + gap_x), (rows - 1 - k // columns) * (height + gap_y)))
    return _Cells(ax, origins.astype(float), width, height)


def _frames(cells: _Cells) -> None:
    from matplotlib.collections import LineCollection

    w, h = cells.width, cells.height
    box = np.array([(0, 0), (w, 0), (w, h), (0, h), (0, 0)])
    frames = LineCollection([box + o for o in cells.origins], colors="#bbbbbb", linewidths=0.6)
    frames.set_clip_on(False)  # the outer panels' edges lie on the Axes' edges
    cells.ax.add_collection(frames)


def samples_figure(run: Run, samples: np.ndarray) -> Figure:
    """Small multiples, one panel per seed, drawn in the toy's own picture (plane, histogram or images)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    toy = run.toy
    figure = new_figure(1, 1)
    captured = captured_modes(samples, toy) if toy.has_modes else None
    handles: list[Artist] = []
    if len(toy.shape) == 3:
        cells, picture = _image_cells(figure, samples, toy), "first 16 images"
    elif toy.dim == 1:
        cells, picture = _histogram_cells(figure, samples[..., 0], toy, captured), "histogram"
        handles += [
            Line2D([], [], color="#555555", lw=0.8, label="true density"),
            Patch(color=HQ_RADIUS, alpha=0.4, label="high-quality band"),
        ]
    else:
        cells, picture = _plane_cells(figure, samples, toy, captured)
    if captured is not None and len(toy.shape) != 3:
        handles += [
            Line2D([], [], ls="", marker="o", ms=4, color=CAPTURED, label="captured mode"),
            Line2D([], [], ls="", marker="x", ms=5, mew=1.5, color=MISSED, label="missed mode"),
        ]
        if toy.dim > 1:
            handles.append(
                Line2D(
                    [], [], ls="", marker="o", ms=7, mfc="none", color=HQ_RADIUS, label="high-quality radius"
                )
            )
    elif toy.centers is None:
        handles.append(Line2D([], [], ls="", marker=".", color="#bbbbbb", label="true samples"))
    for k, seed in enumerate(run.seeds):
        diverged = int(run.first_nonfinite_step[k])
        if diverged >= 0:
            cells.title(k, f"seed {seed}: non-finite from step {diverged}", "#b00020")
        elif captured is not None:
            cells.title(k, f"seed {seed}: {int(captured[k].sum())}/{toy.n_modes} modes")
        else:
            cells.title(k, f"seed {seed}")
    if handles:
        figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    height = figure.get_figheight()
    figure.text(
        0.5,
        1 - 0.08 / height,
        f"{run.label}: final samples, {picture} ({N_SAMPLES} from fixed latents)",
        ha="center",
        va="top",
        fontsize=9,
    )
    return figure


def _projection(toy: Toy) -> tuple[np.ndarray, str]:
    """A ``[dim, 2]`` map onto the plane the toy's modes live in, and how to name it."""
    embedding = getattr(toy, "embedding", None)
    if embedding is not None:
        return embedding.detach().cpu().double().numpy().T, "projected onto the ring's plane"
    basis = np.zeros((toy.dim, 2))
    basis[0, 0] = basis[1, 1] = 1.0
    return basis, "scatter" if toy.dim == 2 else "first two coordinates"


def _plane_cells(
    figure: Figure, samples: np.ndarray, toy: Toy, captured: np.ndarray | None
) -> tuple[_Cells, str]:
    from matplotlib.collections import EllipseCollection

    basis, picture = _projection(toy)
    xy = samples @ basis
    if toy.centers is None or toy.std is None:
        truth = toy.sample(N_SAMPLES, generator=truth_generator()).double().numpy() @ basis
        low, high = truth.min(0), truth.max(0)
        pad = 0.08 * float((high - low).max())
    else:
        centers = toy.centers.detach().cpu().double().numpy() @ basis
        radius = float(toy.hq_threshold or 0.0) * toy.std.detach().cpu().double().numpy()
        low, high = centers.min(0), centers.max(0)
        pad = max(0.15 * float((high - low).max()), 2 * float(radius.max()))
    low, high = low - pad, high + pad
    cells = _cells(figure, len(xy), *(high - low))
    _frames(cells)
    ax = cells.ax
    if toy.centers is None:
        grey = cells.shift([truth - low] * len(xy))
        ax.plot(grey[:, 0], grey[:, 1], ".", ms=1, color="#bbbbbb", rasterized=True)
    else:
        offsets = cells.shift([centers - low] * len(xy))
        diameters = np.tile(2 * radius, len(xy))
        ax.add_collection(
            EllipseCollection(
                diameters,
                diameters,
                np.zeros_like(diameters),
                units="xy",
                offsets=offsets,
                offset_transform=ax.transData,
                facecolors="none",
                edgecolors=HQ_RADIUS,
                linewidths=0.8,
            )
        )
    shown = cells.shift([p[np.isfinite(p).all(1) & (p >= low).all(1) & (p <= high).all(1)] - low for p in xy])
    ax.plot(shown[:, 0], shown[:, 1], ".", ms=1.5, alpha=0.35, color="#1f77b4", rasterized=True)
    if captured is not None and toy.centers is not None:
        hit = cells.shift([centers[m] - low for m in captured])
        miss = cells.shift([centers[~m] - low for m in captured])
        ax.plot(hit[:, 0], hit[:, 1], "o", ms=4, color=CAPTURED)
        ax.plot(miss[:, 0], miss[:, 1], "x", ms=5, mew=1.5, color=MISSED)
    for k, points in enumerate(xy):
        cells.off_plot(k, fraction_outside(points, low, high))
    return cells, picture


def _histogram_cells(figure: Figure, values: np.ndarray, toy: Toy, captured: np.ndarray | None) -> _Cells:
    """1-D toys: each seed's histogram over the true density, with the high-quality band of each mode."""
    from matplotlib.collections import PolyCollection

    assert toy.centers is not None and toy.std is not None and toy.weights is not None
    centers = toy.centers.detach().cpu().double().numpy()[:, 0]
    std = toy.std.detach().cpu().double().numpy()
    radius = float(toy.hq_threshold or 0.0) * std
    low, high = float((centers - 2 * radius).min()), float((centers + 2 * radius).max())
    width = high - low
    cells = _cells(figure, len(values), width, 0.5 * width)
    _frames(cells)
    ax = cells.ax
    grid = np.linspace(low, high, 400)
    weights = toy.weights.detach().cpu().double().numpy()
    density = (
        weights / (std * np.sqrt(2 * np.pi)) * np.exp(-0.5 * ((grid[:, None] - centers) / std) ** 2)
    ).sum(1)
    top = 2.5 * float(density.max())  # taller bars (a collapsed seed) are cut at the panel's top
    scale = cells.height / top
    edges = np.linspace(low, high, 81)
    bars, bands = [], []
    for k, seed_values in enumerate(values):
        counts, _ = np.histogram(seed_values[np.isfinite(seed_values)], bins=edges)
        heights = np.minimum(counts / max(len(seed_values), 1) / np.diff(edges), top) * scale
        shift = cells.origins[k] - (low, 0)
        outline = np.column_stack((np.repeat(edges, 2)[1:-1], np.repeat(heights, 2)))
        bars.append(np.vstack(((edges[0], 0), outline, (edges[-1], 0))) + shift)
        bands += [
            np.array([(c - r, 0), (c + r, 0), (c + r, cells.height), (c - r, cells.height)]) + shift
            for c, r in zip(centers, radius, strict=True)
        ]
        cells.off_plot(k, fraction_outside(seed_values[:, None], np.array([low]), np.array([high])))
    ax.add_collection(PolyCollection(bands, facecolors=HQ_RADIUS, alpha=0.25, linewidths=0))
    ax.add_collection(PolyCollection(bars, facecolors="#1f77b4", alpha=0.6, linewidths=0))
    curve = cells.shift([np.column_stack((grid - low, density * scale))] * len(values))
    breaks = np.arange(1, len(values)) * len(grid)
    curve = np.insert(curve, breaks, np.nan, axis=0)  # one line, broken between panels
    ax.plot(curve[:, 0], curve[:, 1], color="#555555", lw=0.8)
    if captured is not None:
        hit = cells.shift([np.column_stack((centers[m] - low, np.zeros(int(m.sum())))) for m in captured])
        miss = cells.shift(
            [np.column_stack((centers[~m] - low, np.zeros(int((~m).sum())))) for m in captured]
        )
        ax.plot(hit[:, 0], hit[:, 1], "o", ms=4, color=CAPTURED, clip_on=False)
        ax.plot(miss[:, 0], miss[:, 1], "x", ms=5, mew=1.5, color=MISSED, clip_on=False)
    return cells


def _image_cells(figure: Figure, samples: np.ndarray, toy: Toy) -> _Cells:
    """Image toys: each seed's first 16 samples as a 4×4 montage (channels averaged)."""
    side = 4
    channels, height, width = toy.shape
    tile_h, tile_w = height + 2, width + 2
    cells = _cells(figure, len(samples), side * tile_w, side * tile_h)
    for k, images in enumerate(samples):
        tiles = images[: side * side].reshape(-1, channels, height, width).mean(1)
        tiles = np.pad(tiles, ((0, side * side - len(tiles)), (1, 1), (1, 1)), constant_values=np.nan)
        montage = tiles.reshape(side, side, tile_h, tile_w).transpose(0, 2, 1, 3).reshape(side * tile_h, -1)
        x0, y0 = cells.origins[k]
        cells.ax.imshow(
            montage,
            cmap="gray",
            vmin=-1,
            vmax=1,
            aspect="auto",
            interpolation="nearest",
            extent=(x0, x0 + cells.width, y0, y0 + cells.height),
        )
    cells.ax.set_xlim(0, cells.ax.get_xlim()[1])
    return cells


def captured_modes(samples: np.ndarray, toy: Toy) -> np.ndarray:
    """``[S, M]`` booleans: which modes each seed captured (docs/design.md §4), for the markers."""
    from ..metrics import mode_coverage

    coverage = mode_coverage(samples, toy)
    return coverage[[f"count.{m}" for m in range(toy.n_modes)]].to_numpy() > 0


def fraction_outside(points: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Of the finite points, the share the panel cannot show."""
    finite = points[np.isfinite(points).all(1)]
    if not len(finite):
        return 0.0
    return float(1 - ((finite >= low) & (finite <= high)).all(1).mean())


def truth_generator() -> Any:
    import torch

    return torch.Generator().manual_seed(0)
