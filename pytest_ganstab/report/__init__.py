"""Reports people look at: per-Run PNGs (final samples, training curves) and one offline ``index.html``.

Each figure is written as a PNG next to ``index.html`` (to paste into an issue or a README) and also
embedded in the page as a data URI. A Run's part of the page is rendered into a ``Section`` (plain
data), so that pytest-xdist workers, which keep their Runs, can hand their sections to the controller
that writes the one index. The figures are drawn by ``samples`` and ``curves``, the page by ``page``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import page
from .canvas import encode
from .curves import CurvePanels
from .page import STATUS_ORDER, write_index
from .samples import N_SAMPLES, samples_figure

if TYPE_CHECKING:
    from ..findings import Finding
    from ..run import Run

__all__ = [
    "STATUS_ORDER",
    "Section",
    "render_section",
    "render_sections",
    "run_figures",
    "write_index",
    "write_report",
]

INSTALL_HINT = "pip install 'pytest-ganstab[report]'"


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
    from ..run import Run

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
    curves = CurvePanels()
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


def run_figures(
    run: Run, findings: list[Finding] | None = None, curves: CurvePanels | None = None
) -> dict[str, bytes]:
    """One Run's PNGs: ``samples`` (its final samples) and, when it was probed, ``curves`` (its training
    curves with the failing steps of ``findings`` marked; by default its asserted findings, else a
    diagnosis). The report's page and pytest-html's rows show the same pictures."""
    if findings is None:
        from ..assertions import diagnose

        findings = list(run.findings) or (diagnose(run) if not run.trace.empty else [])
    samples = run.samples(N_SAMPLES).cpu().numpy()
    figures = {"samples": encode(samples_figure(run, samples))}
    if not run.trace.empty:
        figures["curves"] = (curves or CurvePanels()).render(run, findings)
    return figures


def render_section(
    run: Run,
    directory: Path,
    *,
    test: str | None = None,
    outcome: str | None = None,
    index: int = 0,
    curves: CurvePanels | None = None,
) -> Section:
    """One Run: samples and curves PNGs under ``directory/<slug>/``, and the HTML that shows them."""
    from ..assertions import diagnose
    from ..metrics import key_metrics

    slug = page.slug(test, run.label, index)
    folder = directory / slug
    folder.mkdir(parents=True, exist_ok=True)
    asserted = list(run.findings)
    probed = not run.trace.empty  # a Run trained with probes=False has no curves and no diagnosis
    findings = asserted or (diagnose(run) if probed else [])
    figures = run_figures(run, findings, curves)
    for name, png in figures.items():
        (folder / f"{name}.png").write_bytes(png)
    status = page.status(outcome, asserted)
    body = page.section_html(
        run, slug, test, status, outcome, findings, bool(asserted), key_metrics(run), figures
    )
    return Section(slug=slug, test=test, label=run.label, status=status, html=body)
