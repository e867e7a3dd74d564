"""The suites' wiring: after a run, write the evidence table (recipe × toy × metric), the remedies'
side-by-side table and the PacGAN table (suites/test_pacgan.py: the paper's row beside ours), to
``$GANSTAB_EVIDENCE`` or ``ganstab-evidence/`` under the directory pytest ran in.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_ganstab.evidence import SPREAD_MARK, spread_note
from pytest_ganstab.plugins.state import session_records
from pytest_ganstab.thresholds import DEFAULTS

if TYPE_CHECKING:
    from pytest_ganstab import Recipe, Run


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Without pytest-benchmark (``-p no:benchmark``) the benchmark files are left out, not the suites."""
    if collection_path.name.startswith("test_bench_") and not config.pluginmanager.hasplugin("benchmark"):
        return True
    return None


@pytest.fixture
def threads(request: pytest.FixtureRequest) -> Iterator[int]:
    """The benchmarks' torch thread count (``--ganstab-bench-threads``), restored afterwards."""
    import torch

    from pytest_ganstab.plugins.bench import bench_threads

    count = bench_threads(request.config)
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    yield count
    torch.set_num_threads(before)


class SharedRuns:
    """Runs that several tests judge, trained once per session: a remedy trial's baseline is the failing
    case of suites/test_phenomena.py (the saturating loss, the oversized D, the fast-G collapse), and one
    baseline serves several trials. A Run depends only on its recipe, toy, steps, seeds, base seed and
    device, which make the key; training it again would give the same Run bit for bit. Each test keeps its
    own copy under its own name, with its own findings, so its records and verdicts are its own."""

    def __init__(self) -> None:
        self._runs: dict[tuple[Any, ...], Run] = {}

    def train(
        self, ganstab: Any, recipe: Recipe, toy: str, *, steps: int, name: str, scale_steps: bool = True
    ) -> Run:
        trained_steps = ganstab.steps(steps, scale_steps=scale_steps)
        key = (recipe, toy, trained_steps, ganstab.seeds, ganstab.seed, ganstab.device)
        trained = self._runs.get(key)
        if trained is None:
            trained = ganstab.train(recipe, toy, steps=steps, name=name, scale_steps=scale_steps)
            self._runs[key] = trained
            return trained
        run = dataclasses.replace(trained, name=name, findings=[])
        ganstab.runs.append(run)
        return run


@pytest.fixture(scope="session")
def shared_runs() -> SharedRuns:
    return SharedRuns()


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # the xdist controller holds every worker's records and writes the tables once
    records = session_records(config)
    if not records:
        return
    from pytest_ganstab.evidence import write_evidence

    directory = Path(
        os.environ.get("GANSTAB_EVIDENCE") or Path(config.invocation_params.dir, "ganstab-evidence")
    )
    markdown, csv = write_evidence(records, directory)
    terminalreporter.write_line(f"ganstab: evidence table of {len(records)} runs in {markdown} and {csv}")
    trials = recorded(terminalreporter, "remedy")
    if trials:
        remedies = directory / "remedies.md"
        remedies.write_text(remedies_markdown(trials), encoding="utf-8")
        terminalreporter.write_line(f"ganstab: {len(trials)} remedies side by side in {remedies}")
    tables = recorded(terminalreporter, "pacgan")
    if tables:
        text = pacgan_markdown(tables)
        pacgan = directory / "pacgan.md"
        pacgan.write_text(text, encoding="utf-8")
        terminalreporter.write_sep("=", "PacGAN Table 1 (Lin et al. 2018), GAN row: the paper beside ours")
        for line in text.splitlines():
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"ganstab: PacGAN table of {len(tables)} toys in {pacgan}")


def recorded(terminalreporter: Any, key: str) -> list[Any]:
    """The values the tests recorded under ``key`` (``record_property``), passed and failed alike."""
    return [
        value
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "when", None) == "call"
        for name, value in report.user_properties
        if name == key
    ]


def remedies_markdown(trials: list[dict[str, Any]]) -> str:
    """One row per remedy trial: the metric it should move, both means over seeds, and the verdict."""
    lines = [
        "| trial | remedy | against | toy | metric | baseline | remedy | seeds better | helps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for t in trials:
        cells = [t["trial"], t["remedy"], t["baseline"], t["toy"], t["metric"]]
        cells += [mean_cell(t, "baseline"), mean_cell(t, "remedy"), t["seeds_better"]]
        lines.append("| " + " | ".join([*cells, "yes" if t["helps"] else "no"]) + " |")
    if any(SPREAD_MARK in line for line in lines):
        lines += ["", f"{SPREAD_MARK.strip()} {spread_note()}"]
    return "\n".join(lines) + "\n"


def mean_cell(trial: dict[str, Any], side: str) -> str:
    """A side's mean over seeds; a mode count carries its HQ, and is marked where it is not capture."""
    cell = f"{trial[f'{side}_mean']:.3g}"
    hq = trial.get(f"{side}_hq")
    if hq is None:
        return cell
    return f"{cell} (HQ {hq:.0%}){SPREAD_MARK if hq < DEFAULTS.min_hq else ''}"


def pacgan_markdown(tables: list[dict[str, Any]]) -> str:
    """The PacGAN table: one block per toy (its profile, seeds, steps, times), then the paper's
    settings with their sources and how this run differs from the paper's, each once."""
    order = {"ring8": 0, "grid25": 1}
    tables = sorted(tables, key=lambda t: (order.get(t["toy"], 2), t["toy"]))
    lines = ["# PacGAN Table 1 (Lin et al. 2018), GAN row: the paper beside ours", ""]
    for table in tables:
        lines.append(
            f"**{table['toy']}**: profile {table['profile']}, {table['seeds']} seeds × {table['steps']:,} "
            f"steps; training took {table['wall_s']} s wall, and train() {table['cpu_s']} s CPU on "
            f"{table['threads']} thread{'s' if table['threads'] != 1 else ''}"
        )
        lines.append("")
        lines.append("| " + " | ".join(table["header"]) + " |")
        lines.append("|" + "---|" * len(table["header"]))
        lines += ["| " + " | ".join(row) + " |" for row in table["rows"]]
        lines.append("")
    if any(SPREAD_MARK in cell for table in tables for row in table["rows"] for cell in row):
        lines += [f"{SPREAD_MARK.strip()} ours: {spread_note()} The paper's counts are at HQ ≈ 95 %.", ""]
    lines += ["Settings (the paper's code, github.com/fjxmlzn/PacGAN, synthetic_data_experiments):", ""]
    lines += [f"- {what}: {value} ({source})" for what, value, source in tables[0]["settings"]]
    lines += ["", "How these runs differ from the paper's:", ""]
    lines += [f"- {line}" for line in tables[0]["differences"]]
    return "\n".join(lines) + "\n"
