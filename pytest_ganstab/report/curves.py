"""The training-curves figure: D and G losses, D's AUC, G's learning signal and the gradient norms over
steps, one thin line per seed and the median in bold, with the step where a check fails marked."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .canvas import encode, new_figure

if TYPE_CHECKING:
    from ..findings import Finding
    from ..run import Run

MAX_CURVE_POINTS = 600  # per seed; longer traces are thinned for drawing only
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


class CurvePanels:
    """The six curve panels, built once and redrawn for every Run of a report: making Axes and their
    ticks is most of what a curves PNG costs."""

    def __init__(self) -> None:
        from matplotlib.ticker import MaxNLocator

        self.figure = new_figure(11, 5.4)
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
        return encode(self.figure)
