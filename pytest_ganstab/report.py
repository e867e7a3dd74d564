"""Reports people look at: per-Run PNGs (final samples, training curves) and one offline ``index.html``.

Each figure is written as a PNG next to ``index.html`` (to paste into an issue or a README) and also
embedded in the page as a data URI, so the page alone opens anywhere — from a file, a CI artifact or
an e-mail — with no network, no JavaScript and inline CSS only. A Run's part of the page is rendered
into a ``Section`` (plain data), so that pytest-xdist workers, which keep their Runs, can hand their
sections to the controller that writes the one index.

Figures use matplotlib's object API on the Agg canvas (never pyplot), so a report neither needs a
display nor changes the backend of the user's own plots.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import re
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .findings import Finding
    from .run import Run
    from .toys import Toy

INSTALL_HINT = "pip install 'pytest-ganstab[report]'"
N_SAMPLES = 2500  # DESIGN.md §4: coverage is judged on 2,500 samples from fixed latents
DPI = 80
MAX_CURVE_POINTS = 600  # per seed; longer traces are thinned for drawing only
PANEL_COLUMNS = 4
MIN_WIDTH_IN = 6.0
# Curve panels: (trace column, title, log scale).
CURVES = (
    ("d_loss", "D loss", False),
    ("g_loss", "G loss", False),
    ("d_auc", "D's AUC (real vs fake)", False),
    ("g_signal", "G's learning signal ‖∂L_G/∂x‖", True),
    ("g_grad_norm", "G gradient norm", True),
    ("d_grad_norm", "D gradient norm", True),
)
CHECK_COLOURS = {
    "discriminator_dominance": "#d62728",
    "gradients": "#9467bd",
    "mode_coverage": "#17becf",
    "divergence": "#8c564b",
}
G_COLOUR, D_COLOUR = "#1f77b4", "#ff7f0e"
CAPTURED, MISSED, HQ_RADIUS = "#2ca02c", "#d62728", "#98df8a"
_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STATUS_ORDER = {"failed": 0, "not asserted": 1, "passed": 2}


def require_matplotlib() -> None:
    """Fail with one line saying how to install the report's dependencies."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(f"the ganstab report needs matplotlib: {INSTALL_HINT}") from None


@dataclass
class Section:
    """One Run's rendered part of the page, as plain data (JSON-safe, for xdist workers)."""

    slug: str
    test: str | None
    label: str
    status: str  # "failed" | "passed" | "not asserted"
    html: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Section:
        return cls(**{key: data[key] for key in ("slug", "test", "label", "status", "html")})


def write_report(
    runs: Iterable[Run | tuple[str, Run]],
    directory: str | Path,
    *,
    outcomes: Mapping[str, str] | None = None,
    title: str = "GAN stability report",
) -> Path:
    """Write PNGs and ``index.html`` for ``runs`` (Runs, or ``(test nodeid, Run)`` pairs) under
    ``directory``; ``outcomes`` maps a test to pytest's outcome. Returns the index page."""
    folder = Path(directory)
    sections = render_sections(runs, folder, outcomes=outcomes)
    return write_index(sections, folder, title=title)


def render_sections(
    runs: Iterable[Run | tuple[str, Run]],
    directory: Path,
    *,
    outcomes: Mapping[str, str] | None = None,
) -> list[Section]:
    """Render each Run's figures into ``directory`` and return its sections, in the given order."""
    from .run import Run

    require_matplotlib()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or str(error)
        raise OSError(
            f"report: directory {directory} cannot be written ({reason}); give a writable folder"
        ) from None
    sections = []
    seen: dict[str | None, int] = {}
    curves = _CurvePanels()
    for item in runs:
        test, run = item if isinstance(item, tuple) else (None, item)
        if not isinstance(run, Run) or not (test is None or isinstance(test, str)):
            raise TypeError(f"report: runs must be Runs or (test nodeid, Run) pairs, not {item!r:.80}")
        index = seen[test] = seen.get(test, -1) + 1
        outcome = None if test is None or outcomes is None else outcomes.get(test)
        sections.append(
            render_section(run, directory, test=test, outcome=outcome, index=index, curves=curves)
        )
    return sections


def render_section(
    run: Run,
    directory: Path,
    *,
    test: str | None = None,
    outcome: str | None = None,
    index: int = 0,
    curves: _CurvePanels | None = None,
) -> Section:
    """One Run: samples and curves PNGs under ``directory/<slug>/``, and the HTML that shows them."""
    from .metrics import key_metrics

    slug = _slug(test, run.label, index)
    folder = directory / slug
    folder.mkdir(parents=True, exist_ok=True)
    asserted = list(run.findings)
    probed = not run.trace.empty  # a Run trained with probes=False has no curves and no diagnosis
    findings = asserted or (run.diagnose() if probed else [])
    samples = run.samples(N_SAMPLES).cpu().numpy()
    figures = {"samples": _encode(_samples_figure(run, samples))}
    if probed:
        figures["curves"] = (curves or _CurvePanels()).render(run, findings)
    for name, png in figures.items():
        (folder / f"{name}.png").write_bytes(png)
    status = _status(outcome, asserted)
    body = _section_html(
        run, slug, test, status, outcome, findings, bool(asserted), key_metrics(run), figures
    )
    return Section(slug=slug, test=test, label=run.label, status=status, html=body)


def write_index(sections: Sequence[Section], directory: Path, *, title: str = "GAN stability report") -> Path:
    """Write ``index.html``: a summary, then one section per Run, failing ones first."""
    directory.mkdir(parents=True, exist_ok=True)
    ordered = sorted(sections, key=lambda section: STATUS_ORDER.get(section.status, 1))
    counts = {status: sum(s.status == status for s in ordered) for status in STATUS_ORDER}
    rows = "".join(
        f'<tr class="{_css(s.status)}"><td>{_badge(s.status)}</td>'
        f'<td><a href="#{s.slug}">{_e(s.test or "—")}</a></td><td>{_e(s.label)}</td></tr>'
        for s in ordered
    )
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "no GAN runs in this session"
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Nothing may load from outside the page: a browser reports any attempt as an error.
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1><p class=meta>{len(ordered)} runs: {_e(summary)}. "
        f"Written {time.strftime('%Y-%m-%d %H:%M:%S')}.</p>"
        + (
            f"<table class=toc><thead><tr><th>verdict</th><th>test</th><th>run</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            if ordered
            else ""
        )
        + "".join(s.html for s in ordered)
        + "</body></html>\n"
    )
    path = directory / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


# ---- figures -----------------------------------------------------------------------------------
# Speed: an Axes with ticks costs about 0.1 s to lay out and draw, so the seeds' panels share ONE Axes
# without ticks (one artist per kind of mark for all seeds) and titles are plain texts, not Axes
# titles (whose automatic placement measures every tick label).


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _encode(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


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


def _samples_figure(run: Run, samples: np.ndarray) -> Figure:
    """Small multiples, one panel per seed, drawn in the toy's own picture (plane, histogram or images)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    toy = run.toy
    figure = _new_figure(1, 1)
    captured = _captured(samples, toy) if toy.has_modes else None
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
        truth = toy.sample(N_SAMPLES, generator=_truth_generator()).double().numpy() @ basis
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
        cells.off_plot(k, _fraction_outside(points, low, high))
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
        cells.off_plot(k, _fraction_outside(seed_values[:, None], np.array([low]), np.array([high])))
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


class _CurvePanels:
    """The six curve panels, built once and redrawn for every Run of a report: making Axes and their
    ticks is most of what a curves PNG costs."""

    def __init__(self) -> None:
        from matplotlib.ticker import MaxNLocator

        self.figure = _new_figure(11, 5.4)
        grid = self.figure.add_gridspec(
            2, 3, left=0.06, right=0.98, bottom=0.16, top=0.9, hspace=0.35, wspace=0.25
        )
        self.axes = [self.figure.add_subplot(grid[k // 3, k % 3]) for k in range(len(CURVES))]
        for ax, (_, name, _) in zip(self.axes, CURVES, strict=True):
            ax.text(0.5, 1.02, name, transform=ax.transAxes, ha="center", va="bottom", fontsize=8)
            ax.tick_params(labelsize=6)
            ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
        for ax in self.axes[3:]:
            ax.set_xlabel("step", fontsize=7)
        self.title = self.figure.text(0.5, 0.985, "", ha="center", va="top", fontsize=9)

    def render(self, run: Run, findings: Sequence[Finding]) -> bytes:
        """Thin line per seed, bold median, log scale for signal and norms; failed findings' steps marked."""
        from matplotlib.collections import LineCollection
        from matplotlib.lines import Line2D
        from matplotlib.ticker import LogLocator, MaxNLocator

        table = run.trace.pivot(index="step", columns="seed")
        steps = table.index.to_numpy()
        stride = max(1, -(-len(steps) // MAX_CURVE_POINTS))
        x = steps[::stride]
        marks = sorted({(f.step, f.check) for f in findings if not f.passed and f.step is not None})
        for ax, (column, _, log) in zip(self.axes, CURVES, strict=True):
            for artist in [*ax.lines, *ax.collections]:
                artist.remove()
            values = table[column].to_numpy(dtype=float)[::stride].T  # [S, T]
            values = np.where(np.isfinite(values), values, np.nan)
            colour = D_COLOUR if column.startswith("d_") else G_COLOUR
            segments = [np.column_stack((x, v)) for v in values]
            ax.add_collection(LineCollection(segments, colors=colour, linewidths=0.6, alpha=0.35))
            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore", RuntimeWarning
                )  # a step where every seed is NaN has no median
                ax.plot(x, np.nanmedian(values, axis=0), color=colour, lw=2)
            for step, check in marks:
                ax.axvline(step, color=CHECK_COLOURS.get(check, "black"), ls="--", lw=1.2)
            finite = values[np.isfinite(values)]
            positive = finite[finite > 0]
            if log and positive.size:
                low, high = positive.min() / 1.5, positive.max() * 1.5
                ax.set_yscale("log")
                ax.minorticks_off()
                ax.set_ylim(low, high)
                if high / low < 100:  # within two decades, label 1-2-5 steps, not just the powers of ten
                    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                    ax.yaxis.set_major_formatter("{x:.3g}")
            else:
                ax.set_yscale("linear")
                low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
                pad = 0.05 * (high - low) or 0.5
                ax.set_ylim(low - pad, high + pad)
                ax.yaxis.set_major_locator(MaxNLocator(5))
            ax.set_xlim(steps[0], max(steps[-1], steps[0] + 1))
        handles = [
            Line2D([], [], color="#555555", lw=0.6, alpha=0.6, label="one seed"),
            Line2D([], [], color="#555555", lw=2, label="median of seeds"),
            *(
                Line2D(
                    [], [], color=CHECK_COLOURS.get(c, "black"), ls="--", label=f"{c} fails from step {step}"
                )
                for step, c in marks
            ),
        ]
        for legend in list(self.figure.legends):
            legend.remove()
        self.figure.legend(
            handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize=7, frameon=False
        )
        self.title.set_text(f"{run.label}: training curves over steps ({run.n_seeds} seeds)")
        return _encode(self.figure)


def _captured(samples: np.ndarray, toy: Toy) -> np.ndarray:
    """``[S, M]`` booleans: which modes each seed captured (DESIGN.md §4), for the markers."""
    from .metrics import mode_coverage

    coverage = mode_coverage(samples, toy)
    return coverage[[f"count.{m}" for m in range(toy.n_modes)]].to_numpy() > 0


def _fraction_outside(points: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Of the finite points, the share the panel cannot show."""
    finite = points[np.isfinite(points).all(1)]
    if not len(finite):
        return 0.0
    return float(1 - ((finite >= low) & (finite <= high)).all(1).mean())


def _truth_generator() -> Any:
    import torch

    return torch.Generator().manual_seed(0)


# ---- HTML --------------------------------------------------------------------------------------


def _status(outcome: str | None, asserted: Sequence[Finding]) -> str:
    if outcome in ("failed", "error") or any(not f.passed for f in asserted):
        return "failed"
    if outcome == "passed" or asserted:
        return "passed"
    return "not asserted"


def _section_html(
    run: Run,
    slug: str,
    test: str | None,
    status: str,
    outcome: str | None,
    findings: Sequence[Finding],
    asserted: bool,
    metrics: pd.DataFrame,
    figures: Mapping[str, bytes],
) -> str:
    facts = (
        f"recipe <b>{_e(run.recipe.name)}</b> (loss {_e(run.recipe.loss)}) on <b>{_e(run.toy.name)}</b>; "
        f"{run.n_seeds} seeds × {run.steps} steps on {_e(run.device)}, base seed {run.base_seed}; "
        f"{run.wall_time_s:.1f} s ({run.seed_steps_per_s:,.0f} seed-steps/s)"
        + (f"; test outcome: {_e(outcome)}" if outcome else "")
    )
    heading = f"{_e(test)} — {_e(run.label)}" if test else _e(run.label)
    verdict_title = (
        "Verdicts" if asserted else "Verdicts (diagnosis computed for this report; nothing was asserted)"
    )
    failed_seeds = {seed for f in findings if not f.passed for seed in f.failed_seeds}
    images = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" '
        f'alt="{_e(run.label)}: {name}"><figcaption><a href="{slug}/{name}.png">{name}.png</a>'
        "</figcaption></figure>"
        for name, png in figures.items()
    )
    notes = "".join(f"<li>{_e(note)}</li>" for note in run.notes)
    knobs = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(str(v))}</td></tr>" for k, v in run.recipe.to_dict().items()
    )
    return (
        f'<section id="{slug}" class="{_css(status)}"><h2>{_badge(status)} {heading}</h2>'
        f"<p class=meta>{facts}</p>"
        + (f"<ul class=notes>{notes}</ul>" if notes else "")
        + f"<h3>{verdict_title}</h3>{_findings_html(findings)}"
        + f"<h3>Final samples and training curves</h3>{images}"
        + f"<h3>Per-seed metrics</h3>{_metrics_html(run, metrics, failed_seeds)}"
        + f"<details><summary>Recipe</summary><table class=knobs>{knobs}</table></details></section>"
    )


def _findings_html(findings: Sequence[Finding]) -> str:
    if not findings:
        return "<p>Nothing was judged: the Run recorded no probes (it was trained with probes=False).</p>"
    rows = "".join(
        f'<tr class="{"failed" if not f.passed else "passed"}"><td>{_e(f.check)}</td>'
        f"<td>{'pass' if f.passed else 'FAIL'}</td>"
        f"<td>{len(f.seeds) - len(f.failed_seeds)}/{len(f.seeds)} (needs {f.required})</td>"
        f"<td>{_e(', '.join(map(str, f.failed_seeds)) or '—')}</td>"
        f"<td>{'—' if f.step is None else f.step}</td><td>{_e(f.cause or '—')}</td></tr>"
        for f in findings
    )
    messages = "".join(f"<pre>{_e(f.message)}</pre>" for f in findings if not f.passed and f.message)
    return (
        "<table><thead><tr><th>check</th><th>verdict</th><th>seeds passing</th><th>failed seeds</th>"
        f"<th>from step</th><th>cause</th></tr></thead><tbody>{rows}</tbody></table>"
        + (f"<h4>Diagnosis</h4>{messages}" if messages else "")
    )


def _metrics_html(run: Run, metrics: pd.DataFrame, failed_seeds: set[int]) -> str:
    formats: dict[str, Callable[[float], str]] = {
        "modes": lambda v: f"{v:.0f}/{run.toy.n_modes}",
        "hq": "{:.1%}".format,
        "reverse_kl": "{:.3f}".format,
        "d_auc": "{:.3f}".format,
        "g_signal": "{:.3g}".format,
    }
    position = {seed: k for k, seed in enumerate(run.seeds)}
    rows = []
    for k, seed in enumerate(int(value) for value in metrics["seed"]):
        diverged = int(run.first_nonfinite_step[position[seed]])
        cells = [
            str(seed),
            *(_number(float(metrics[column].iloc[k]), form) for column, form in formats.items()),
            f"step {diverged}" if diverged >= 0 else "—",
        ]
        css = ' class="failed"' if seed in failed_seeds else ""
        rows.append(f"<tr{css}>" + "".join(f"<td>{_e(cell)}</td>" for cell in cells) + "</tr>")
    header = ("seed", "modes", "HQ", "reverse KL", "D AUC (last 20%)", "G signal (last 20%)", "non-finite")
    return (
        "<table class=metrics><thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _number(value: float, form: Callable[[float], str]) -> str:
    return "—" if np.isnan(value) else form(value)


def _slug(test: str | None, label: str, index: int) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{test or 'run'}-{label}").strip("-.")[:60]
    digest = hashlib.sha1(f"{test}|{label}|{index}".encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


def _badge(status: str) -> str:
    return f'<span class="badge {_css(status)}">{_e(status.upper())}</span>'


def _css(status: str) -> str:
    return status.replace(" ", "-")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em auto;max-width:1200px;
padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin:0 0 .3em;word-break:break-all}
h3{font-size:1em;margin:1em 0 .3em}
h4{font-size:.95em;margin:.6em 0 .2em}
section{border:1px solid #ccc;border-left:6px solid #999;border-radius:4px;padding:.8em 1em;margin:1.2em 0}
section.failed{border-left-color:#c62828}section.passed{border-left-color:#2e7d32}
.badge{display:inline-block;font-size:.75em;font-weight:700;padding:.1em .45em;border-radius:3px;color:#fff;
background:#777;vertical-align:middle}
.badge.failed{background:#c62828}.badge.passed{background:#2e7d32}
.meta{color:#555;margin:.2em 0}
table{border-collapse:collapse;margin:.3em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.2em .5em;text-align:left}th{background:#f4f4f4}
tr.failed td{background:#fdecea}
pre{white-space:pre-wrap;background:#f7f7f7;border:1px solid #e2e2e2;padding:.6em;font-size:.85em}
figure{margin:.5em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.8em;color:#666}
"""
