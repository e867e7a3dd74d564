"""CI surfaces, checked with the real tools: JUnit XML parsed with ElementTree, pytest-html's own report,
and a GitHub step summary written to a temporary file."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from inner_runs import warm_up
from records_factory import record

from pytest_ganstab.plugins.ci import junit_properties

warm_up()

GAN_TESTS = """
import pytest
from pytest_ganstab import Finding, recipe

TINY = recipe("nonsaturating", width=8, depth=1, batch_size=32)

def test_passes(ganstab):
    ganstab.train(TINY, "ring8", steps=3, seeds=2)

def test_fails_a_check(ganstab):
    run = ganstab.train(TINY, "grid25", steps=3, seeds=2, name="collapsed")
    run.findings.append(
        Finding(check="mode_coverage", passed=False, run=run.label, seeds=[0, 1], failed_seeds=[1],
                required=2, values={}, thresholds={}, message="seed 1 covers too few modes")
    )
    raise AssertionError(run.findings[0].message)

def test_plain():
    pass
"""


def properties(junit: Path) -> dict[str, dict[str, str]]:
    """``{test name: {property: value}}`` from a JUnit XML file."""
    cases = ET.parse(junit).getroot().iter("testcase")
    return {
        case.attrib["name"]: {prop.attrib["name"]: prop.attrib["value"] for prop in case.iter("property")}
        for case in cases
    }


def test_junit_properties_name_each_run_and_give_means_over_seeds() -> None:
    first, second = record([8, 6]), record([2, None])
    pairs = dict(junit_properties([first, second]))
    assert pairs["ganstab[nonsaturating on ring8].modes"] == "7"
    assert (
        pairs["ganstab[nonsaturating on ring8#2].modes"] == "2"
    )  # the seed that was not measured is left out
    assert pairs["ganstab[nonsaturating on ring8].verdict"] == "passed"
    assert pairs["ganstab[nonsaturating on ring8].seeds"] == "2"
    assert "ganstab[nonsaturating on ring8].g_signal" not in pairs  # not measured: no property


def test_junit_xml_carries_key_metrics_and_verdicts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gan=GAN_TESTS)
    pytester.runpytest("--ganstab", "--junitxml=junit.xml").assert_outcomes(passed=2, failed=1)
    found = properties(pytester.path / "junit.xml")
    passed, failed = found["test_passes"], found["test_fails_a_check"]
    assert passed["ganstab[nonsaturating on ring8].verdict"] == "passed"
    assert failed["ganstab[collapsed].verdict"] == "failed: mode_coverage"
    for metric in ("modes", "hq", "d_auc", "g_signal", "nonfinite"):
        float(passed[f"ganstab[nonsaturating on ring8].{metric}"])  # a number
    assert (
        passed["ganstab[nonsaturating on ring8].seeds"],
        passed["ganstab[nonsaturating on ring8].steps"],
    ) == (
        "2",
        "3",
    )
    assert found["test_plain"] == {}  # not a GAN test: no properties


def test_pytest_html_rows_carry_the_sample_and_curve_pictures(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_html")
    pytester.makepyfile(test_gan=GAN_TESTS)
    result = pytester.runpytest("--ganstab", "--html=report.html", "--self-contained-html")
    result.assert_outcomes(passed=2, failed=1)
    page = (pytester.path / "report.html").read_text(encoding="utf-8")
    # pytest-html keeps each row's data as JSON in the page; images are embedded base64 PNGs.
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page.replace("\\/", "/"))
    assert len(pngs) == 4  # two GAN tests × (samples, curves); the plain test has none
    assert all(base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n") for png in pngs)
    for name in ("nonsaturating on ring8: samples", "nonsaturating on ring8: curves", "collapsed: samples"):
        assert name in page


def test_a_github_step_summary_gets_the_stability_table_in_markdown(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = pytester.path / "step-summary.md"
    summary.write_text("## earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.makepyfile(test_gan=GAN_TESTS)
    pytester.runpytest("--ganstab").assert_outcomes(passed=2, failed=1)
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## earlier step\n### ganstab stability summary\n")  # appended, not overwritten
    lines = text.splitlines()
    assert "profile smoke, 4 seeds, steps x1, base seed 0, device auto" in lines
    table = [line for line in lines if line.startswith("|")]
    assert table[0].startswith("| test | recipe | toy | seeds |") and table[1].startswith("|---|")
    assert table[2].startswith("| test_gan.py::test_fails_a_check | nonsaturating | grid25 | 2 | 3 |")
    assert "| failed: mode_coverage |" in table[2]
    assert "2 GAN run(s): 1 passed, 1 failed." in lines


def test_no_step_summary_without_the_variable_or_without_gan_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_gan=GAN_TESTS)
    pytester.runpytest("--ganstab")  # GITHUB_STEP_SUMMARY unset: nothing to write, nothing fails
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.runpytest("-k", "plain").assert_outcomes(passed=1)
    assert not summary.exists()
