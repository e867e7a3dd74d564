"""The HTML page: one offline ``index.html`` with a summary table and a section per Run, failing first.

The page opens anywhere — from a file, a CI artifact or an e-mail — with no network, no JavaScript and
inline CSS only; a Content-Security-Policy makes a browser refuse anything that would load from outside.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..catalog import KEY_METRICS
from ..thresholds import DEFAULTS

if TYPE_CHECKING:
    import pandas as pd

    from ..findings import Finding
    from ..run import Run
    from . import Section

_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STATUS_ORDER = {"failed": 0, "not asserted": 1, "passed": 2}


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


# ---- HTML --------------------------------------------------------------------------------------


def status(outcome: str | None, asserted: Sequence[Finding]) -> str:
    if outcome in ("failed", "error") or any(not f.passed for f in asserted):
        return "failed"
    if outcome == "passed" or asserted:
        return "passed"
    return "not asserted"


def section_html(
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
    shown = [metric for metric in KEY_METRICS if metric.name != "nonfinite"]
    position = {seed: k for k, seed in enumerate(run.seeds)}
    rows = []
    for k, seed in enumerate(int(value) for value in metrics["seed"]):
        diverged = int(run.first_nonfinite_step[position[seed]])
        cells = [
            str(seed),
            *(m.format(float(metrics[m.name].iloc[k]), modes_of=run.toy.n_modes) for m in shown),
            f"step {diverged}" if diverged >= 0 else "—",
        ]
        css = ' class="failed"' if seed in failed_seeds else ""
        rows.append(f"<tr{css}>" + "".join(f"<td>{_e(cell)}</td>" for cell in cells) + "</tr>")
    window = f" (last {DEFAULTS.window:.0%})" if isinstance(DEFAULTS.window, float) else ""
    header = ["seed", *(m.label + (window if m.name in ("d_auc", "g_signal") else "") for m in shown)]
    return (
        "<table class=metrics><thead><tr>"
        + "".join(f"<th>{_e(h)}</th>" for h in [*header, "non-finite"])
        + f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def slug(test: str | None, label: str, index: int) -> str:
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
