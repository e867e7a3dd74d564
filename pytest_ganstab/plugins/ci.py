"""pytest plugin (``ganstab-ci``): the GAN results where CI already shows test results.

- **JUnit XML** (``--junitxml``): each ganstab test's key metrics (mean over seeds) and verdict become
  ``<property>`` entries of its ``<testcase>``, through ``item.user_properties`` (what the
  ``record_property`` fixture fills), so Jenkins, GitLab and the like show them beside the test.
- **pytest-html** (``--html``): each ganstab test's row carries its Runs' sample and curve PNGs.
- **Step summaries**: with ``GITHUB_STEP_SUMMARY`` set (GitHub Actions sets it), the stability summary is
  appended to that file as a Markdown table, once, by the xdist controller or the plain run.

JUnit properties (in the test's teardown) and pytest-html extras (in its call report) are made on the
process that trained (an xdist worker), and travel to the controller inside the test report, as
pytest-xdist sends every report.
Nothing here imports torch; matplotlib only when pytest-html asks for pictures.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import state as session_state
from . import xdist

if TYPE_CHECKING:
    from ..records import RunRecord

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
PROPERTY_PREFIX = "ganstab"


def junit_properties(records: list[RunRecord]) -> list[tuple[str, str]]:
    """``(name, value)`` pairs for one test's Runs: ``ganstab[<run label>].<field>`` for the verdict,
    seeds, steps, device, speed and each key metric (mean over the seeds measured; absent when none was).
    A label that repeats in the test gets ``#2``, ``#3``: names stay unique."""
    from ..catalog import KEY_METRICS
    from ..records import seed_mean
    from ..summary import verdict

    pairs: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for record in records:
        label = str(record.get("label"))
        seen[label] = seen.get(label, 0) + 1
        name = f"{PROPERTY_PREFIX}[{label}{'' if seen[label] == 1 else f'#{seen[label]}'}]"
        pairs.append((f"{name}.verdict", verdict(record)))
        for field in ("recipe", "toy", "seeds", "steps", "device"):
            pairs.append((f"{name}.{field}", str(record.get(field))))
        speed = record.get("seed_steps_per_s")
        if speed is not None:
            pairs.append((f"{name}.seed_steps_per_s", f"{float(speed):.6g}"))
        for metric in KEY_METRICS:
            mean = seed_mean(record.get("metrics", {}).get(metric.name))
            if mean is not None:
                pairs.append((f"{name}.{metric.name}", f"{mean:.6g}"))
    return pairs


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    """After the test's fixtures are torn down, its records exist: add them as JUnit properties (pytest
    copies ``item.user_properties`` into the teardown report, the one junitxml reads them from)."""
    result = yield
    item.user_properties.extend(junit_properties(session_state.records_of_test(item.config, item.nodeid)))
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """With pytest-html writing a report: the call report carries the test's PNGs as extras. The Runs are
    still in the test's ``ganstab`` fixture then (they reach the session at its teardown), and every
    pytest-html 4 shows the call report's extras in the test's row (only 4.2+ gathers the other phases')."""
    report = yield
    if report.when == "call" and _html_report_wanted(item.config):
        trainer = getattr(item, "funcargs", {}).get("ganstab")
        runs = list(getattr(trainer, "runs", []))
        if runs:
            report.extras = [*getattr(report, "extras", []), *html_extras(runs)]  # type: ignore[attr-defined]
    return report


def _html_report_wanted(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("html") and bool(config.getoption("htmlpath", None))


def html_extras(runs: list[Any]) -> list[dict[str, Any]]:
    """pytest-html image extras: each Run's samples and curves, named by the Run."""
    from pytest_html import extras  # type: ignore[import-not-found,unused-ignore]

    from ..report import require_matplotlib, run_figures

    try:
        require_matplotlib()
    except ImportError:
        return [extras.text(f"no pictures: {INSTALL_REPORT}", name="ganstab")]
    found: list[dict[str, Any]] = []
    for run in runs:
        for figure, png in run_figures(run).items():
            found.append(extras.png(base64.b64encode(png).decode("ascii"), name=f"{run.label}: {figure}"))
    return found


INSTALL_REPORT = "the pictures need matplotlib: pip install 'pytest-ganstab[report]'"


@pytest.hookimpl(trylast=True)  # after the core plugin has gathered the workers' records
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Append the stability summary to ``$GITHUB_STEP_SUMMARY`` (once: never on an xdist worker)."""
    target = os.environ.get(STEP_SUMMARY_ENV)
    config = session.config
    if not target or xdist.is_worker(config):
        return
    records = session_state.session_records(config)
    if records:
        with Path(target).open("a", encoding="utf-8") as stream:
            stream.write(step_summary(config, records))


def step_summary(config: pytest.Config, records: list[RunRecord]) -> str:
    """The Markdown a CI step summary shows: a heading, the settings, the table and a count of verdicts."""
    from ..summary import render, verdict

    core = config.pluginmanager.get_plugin("ganstab")
    state = config.stash.get(session_state.SESSION, None)
    settings = core.settings_line(state) if core is not None and state is not None else ""
    failed = sum(verdict(record).startswith("failed") for record in records)
    lines = [
        "### ganstab stability summary",
        "",
        *([settings, ""] if settings else []),
        *render(records, style="markdown"),
        "",
        f"{len(records)} GAN run(s): {len(records) - failed} passed, {failed} failed.",
        "",
    ]
    return "\n".join(lines) + "\n"
