"""The report people look at: PNGs of a failing and a passing Run, one offline page, ``--ganstab-report``.

Two tiny real trainings on a ring of 4 wide modes: minimax with a strong D collapses and fails
``assert_stable``; nonsaturating seed 1 covers all four modes and passes. The page is opened in a real
headless browser (Debian's chromium) when one is installed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# In-process pytester runs put sys.modules back as they found it, and torch cannot load twice in one
# process: import what the inner runs use once, here, so that it stays.
import pytest_ganstab.metrics
import pytest_ganstab.records  # noqa: F401
from pytest_ganstab.assertions import assert_stable
from pytest_ganstab.engine import train
from pytest_ganstab.findings import StabilityError
from pytest_ganstab.recipes import recipe
from pytest_ganstab.report import Section, render_sections, write_index, write_report
from pytest_ganstab.report.curves import CHECK_COLOURS
from pytest_ganstab.report.samples import CAPTURED, MISSED
from pytest_ganstab.run import Run
from pytest_ganstab.toys import toy

FAILING = "tests/test_gan.py::test_collapses"
PASSING = "tests/test_gan.py::test_covers"
RING4 = {"n": 4, "std": 0.1}  # wide modes: a short CPU training can capture them all


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    ring4 = toy("ring", **RING4)
    strong_d = recipe("minimax", width=32, depth=2, d_width=64, d_lr=1e-3, batch_size=128)
    balanced = recipe("nonsaturating", width=32, depth=2, g_lr=2e-3, d_lr=2e-3, batch_size=128)
    failing = train(strong_d, ring4, seeds=[0], steps=200, name="minimax, strong D")
    passing = train(balanced, ring4, seeds=[1], steps=300, name="nonsaturating")
    with pytest.raises(StabilityError):
        assert_stable(failing)
    assert_stable(passing)
    return {"failing": failing, "passing": passing}


@pytest.fixture(scope="module")
def report(runs: dict[str, Run], tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The passing test comes first here: the page must still put the failing one first.
    return write_report(
        [(PASSING, runs["passing"]), (FAILING, runs["failing"])],
        tmp_path_factory.mktemp("report"),
        outcomes={PASSING: "passed", FAILING: "failed"},
    )


def section_folder(report: Path, test: str) -> Path:
    (folder,) = [
        path for path in report.parent.iterdir() if path.is_dir() and path.name.startswith(_slug(test))
    ]
    return folder


def _slug(test: str) -> str:
    return test.replace("/", "-").replace("::", "-")


def pixels_of_colour(png: Path, colour: str) -> int:
    """How many pixels are within a small distance of ``colour`` (antialiasing blurs the edges)."""
    from matplotlib.colors import to_rgb
    from matplotlib.image import imread

    pixels = imread(png)[..., :3]
    return int((np.abs(pixels - np.array(to_rgb(colour))).max(-1) < 0.06).sum())


def test_report_writes_both_pngs_per_run_and_one_page_with_failing_tests_first(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    for test in (FAILING, PASSING):
        for name in ("samples", "curves"):
            png = section_folder(report, test) / f"{name}.png"
            assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
            assert f'href="{png.parent.name}/{name}.png"' in page
    assert page.index(f"FAILED</span> {FAILING}") < page.index(f"PASSED</span> {PASSING}")
    assert "1 failed, 1 passed" in page


def test_pngs_of_the_failing_and_the_passing_run_differ_where_they_should(report: Path) -> None:
    failing, passing = section_folder(report, FAILING), section_folder(report, PASSING)
    # The collapsed seed captured 1 mode of 4 and the covering seed all 4: markers are red crosses for
    # missed modes and green dots for captured ones. Both PNGs have the same legend (one of each).
    missed = [pixels_of_colour(folder / "samples.png", MISSED) for folder in (failing, passing)]
    captured = [pixels_of_colour(folder / "samples.png", CAPTURED) for folder in (failing, passing)]
    assert missed[0] > 3 * missed[1]
    assert captured[1] > 2 * captured[0]
    # D dominates from an early step: the failing curves mark that step, the passing ones mark nothing.
    dominance = CHECK_COLOURS["discriminator_dominance"]
    assert pixels_of_colour(failing / "curves.png", dominance) > 200
    assert pixels_of_colour(passing / "curves.png", dominance) == 0


def test_page_shows_verdicts_diagnosis_and_per_seed_metrics(report: Path, runs: dict[str, Run]) -> None:
    page = report.read_text(encoding="utf-8")
    failed = [finding for finding in runs["failing"].findings if not finding.passed]
    assert failed
    for finding in failed:
        assert f"<td>{finding.check}</td><td>FAIL</td>" in page
        assert f"<pre>{escape(finding.message)}</pre>" in page
    assert "<h4>Diagnosis</h4>" in page
    assert "<th>seed</th><th>modes</th><th>HQ</th>" in page
    assert "<td>1</td><td>4/4</td>" in page  # the passing seed's row: all four modes


def test_page_is_self_contained(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert "<script" not in page and "<link" not in page
    assert "http://" not in page and "https://" not in page
    sources = page.split('src="')[1:]
    assert len(sources) == 4 and all(source.startswith("data:image/png;base64,") for source in sources)


def test_report_opens_in_a_headless_browser_with_every_image_loaded_and_a_clean_console(report: Path) -> None:
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    seen = open_in_browser(browser, report)
    assert seen["errors"] == []
    assert len(seen["images"]) == 4 and all(image["loaded"] for image in seen["images"])
    assert seen["sections"] == ["failed", "passed"]
    headings = seen["headings"]
    assert headings[0] == "GAN stability report"
    assert headings[1] == f"FAILED {FAILING} — minimax, strong D"
    for expected in ("Verdicts", "Final samples and training curves", "Per-seed metrics"):
        assert headings.count(expected) == 2


def test_the_browser_check_sees_broken_images_and_console_errors(report: Path, tmp_path: Path) -> None:
    """The check above would catch a page that loads from outside, or a missing image."""
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    broken = tmp_path / "broken.html"
    extra = '<img src="missing.png" alt="gone"><img src="https://example.invalid/x.png" alt="remote">'
    broken.write_text(report.read_text(encoding="utf-8").replace("<h1>", extra + "<h1>", 1), encoding="utf-8")
    seen = open_in_browser(browser, broken)
    assert [image["loaded"] for image in seen["images"][:2]] == [False, False]
    assert len(seen["errors"]) == 2 and all("Content Security Policy" in error for error in seen["errors"])


def test_run_report_without_assertions_shows_the_diagnosis(runs: dict[str, Run], tmp_path: Path) -> None:
    unjudged = dataclasses.replace(runs["failing"], findings=[])
    page = unjudged.report(tmp_path).read_text(encoding="utf-8")
    assert "NOT ASSERTED" in page
    assert "diagnosis computed for this report; nothing was asserted" in page
    assert "<td>discriminator_dominance</td><td>FAIL</td>" in page
    assert unjudged.findings == []  # the report judged for itself and left the Run as it was


@pytest.mark.parametrize("data", ["swissroll", "ring8-embedded", "mixture1d", "blobs9", "grid25"])
def test_every_kind_of_toy_gets_its_own_picture(data: str, tmp_path: Path) -> None:
    run = train(recipe("nonsaturating", width=16, depth=1, batch_size=64), data, seeds=2, steps=10)
    (section,) = render_sections([run], tmp_path)
    samples = tmp_path / section.slug / "samples.png"
    assert samples.stat().st_size > 5000
    modes = toy(data).n_modes
    assert (f"/{modes}</td>" in section.html) == (modes > 0)  # "modes captured/total" cells


def test_a_seed_that_went_non_finite_is_shown_with_its_step(tmp_path: Path) -> None:
    unstable = recipe("lsgan", width=16, depth=1, batch_size=64, g_lr=1.0, d_lr=1.0, optimizer="sgd")
    run = train(unstable, "ring8", seeds=[0, 1], steps=30)
    assert run.first_nonfinite_step[0] >= 0 and run.first_nonfinite_step[1] < 0
    (section,) = render_sections([run], tmp_path)
    assert f"<td>step {run.first_nonfinite_step[0]}</td>" in section.html
    assert "<td>—</td></tr>" in section.html  # seed 1 stayed finite


def test_a_run_without_probes_gets_its_samples_and_says_why_nothing_was_judged(tmp_path: Path) -> None:
    run = train(
        recipe("nonsaturating", width=16, depth=1, batch_size=64), "ring8", seeds=2, steps=5, probes=False
    )
    (section,) = render_sections([run], tmp_path)
    assert [path.name for path in (tmp_path / section.slug).iterdir()] == ["samples.png"]
    assert "recorded no probes (it was trained with probes=False)" in section.html


def test_sections_survive_a_trip_through_json_for_xdist(report: Path, tmp_path: Path) -> None:
    section = Section(slug="s", test="t.py::x", label="run", status="failed", html="<section>x</section>")
    assert Section.from_dict(json.loads(json.dumps(section.to_dict()))) == section
    page = write_index([], tmp_path).read_text(encoding="utf-8")
    assert "no GAN runs in this session" in page


def test_bad_input_is_named(runs: dict[str, Run], tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"runs must be Runs or \(test nodeid, Run\) pairs"):
        write_report(["ring8"], tmp_path)  # type: ignore[list-item]
    occupied = tmp_path / "a-file"
    occupied.write_text("")
    with pytest.raises(OSError, match="cannot be written"):
        write_report([runs["passing"]], occupied / "report")


def test_without_matplotlib_a_report_says_how_to_install_it(
    runs: dict[str, Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'pytest-ganstab\[report\]'"):
        runs["passing"].report(tmp_path)


# ---- the pytest option -------------------------------------------------------------------------

TESTS = """
import pytest
from pytest_ganstab import assert_no_divergence, recipe

TINY = recipe("nonsaturating", width=8, depth=1, batch_size=32)

def test_diverges(ganstab):
    run = ganstab.train(recipe("lsgan", width=8, depth=1, batch_size=32, g_lr=1.0, d_lr=1.0, optimizer="sgd"),
                        "ring8", steps=20)
    assert_no_divergence(run)

def test_trains(ganstab):
    ganstab.train(TINY, "ring8", steps=5)
"""


def test_option_writes_the_sessions_report_with_the_failing_test_first(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gan=TESTS)
    result = pytester.runpytest("--ganstab", "--ganstab-seeds", "2", "--ganstab-report", "out")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["ganstab report: *out*index.html (1 failed, 1 passed)"])
    page = (pytester.path / "out" / "index.html").read_text(encoding="utf-8")
    assert page.index("test_gan.py::test_diverges") < page.index("test_gan.py::test_trains")
    assert len(list((pytester.path / "out").glob("*/samples.png"))) == 2


def test_ini_option_is_relative_to_the_ini_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_gan="def test_trains(ganstab):\n    ganstab.train('nonsaturating', steps=2, seeds=1)\n"
    )
    pytester.makeini("[pytest]\nganstab_report = reports/gan\n")
    monkeypatch.chdir(pytester.mkdir("elsewhere"))
    pytester.runpytest("--ganstab", str(pytester.path)).assert_outcomes(passed=1)
    assert (pytester.path / "reports" / "gan" / "index.html").is_file()


def test_unwritable_report_folder_stops_pytest_before_any_training(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gan="def test_trains(ganstab):\n    open('trained', 'w').close()\n")
    pytester.path.joinpath("a-file").write_text("")
    result = pytester.runpytest("--ganstab", "--ganstab-report", "a-file/report")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --ganstab-report a-file/report: cannot write the report to *"])
    assert not (pytester.path / "trained").exists()


def test_missing_matplotlib_stops_pytest_with_the_install_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_gan="def test_nothing():\n    pass\n")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = pytester.runpytest("--ganstab-report", "out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == (
        "ERROR: --ganstab-report out: the ganstab report needs matplotlib: "
        "pip install 'pytest-ganstab[report]'"
    )


def test_under_xdist_the_controller_joins_every_workers_sections(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(test_gan=TESTS)
    result = pytester.runpytest_subprocess(
        "--ganstab", "--ganstab-seeds", "2", "--ganstab-report", "out", "-n", "2"
    )
    result.assert_outcomes(passed=1, failed=1)
    out = pytester.path / "out"
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.index("test_gan.py::test_diverges") < page.index("test_gan.py::test_trains")
    assert page.count('<img src="data:image/png;base64,') == 4
    assert not (out / ".ganstab-parts").exists()


# ---- a real browser, through the DevTools protocol on a pipe (stdlib only) ---------------------


def open_in_browser(browser: str, page: Path, timeout: float = 60.0) -> dict[str, Any]:
    """Load ``page`` in headless chromium and return its images' load state, its headings and section
    classes, and every console error, exception and failed or blocked load the browser logged."""
    profile = tempfile.mkdtemp(prefix="ganstab-chromium-")
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--remote-debugging-pipe",
    ]  # fmt: skip
    # chromium reads DevTools commands on fd 3 and answers on fd 4: hand it our pipes there.
    command = ["/bin/sh", "-c", 'exec "$@" 3<&0 4>&1 0</dev/null 1>/dev/null', "sh", browser, *flags]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    devtools = _DevTools(process, time.monotonic() + timeout)
    try:
        target = devtools.call("Target.createTarget", url="about:blank")["targetId"]
        session = devtools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            devtools.call(f"{domain}.enable", session=session)
        devtools.call("Page.navigate", session=session, url=page.resolve().as_uri())
        devtools.wait_for("Page.loadEventFired")
        script = """JSON.stringify({
            images: [...document.images].map(i => ({alt: i.alt, loaded: i.complete && i.naturalWidth > 0})),
            headings: [...document.querySelectorAll('h1, h2, h3')].map(h => h.textContent.trim()),
            sections: [...document.querySelectorAll('section')].map(s => s.className)})"""
        answer = devtools.call("Runtime.evaluate", session=session, expression=script, returnByValue=True)
        seen: dict[str, Any] = json.loads(answer["result"]["value"])
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(profile, ignore_errors=True)
    seen["errors"] = devtools.errors()
    return seen


class _DevTools:
    """Chrome DevTools protocol over ``--remote-debugging-pipe``: JSON messages ended by a NUL byte."""

    def __init__(self, process: subprocess.Popen[bytes], deadline: float) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._writer, self._reader = process.stdin, process.stdout
        self._deadline = deadline
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._reader, selectors.EVENT_READ)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, *, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        self._writer.write(json.dumps(message).encode() + b"\0")
        self._writer.flush()
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"chromium: {method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result
            self.events.append(reply)

    def wait_for(self, method: str) -> None:
        while not any(event.get("method") == method for event in self.events):
            self.events.append(self._receive())

    def errors(self) -> list[str]:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(str(params["exceptionDetails"].get("text")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(str(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(str(params["entry"]["text"]))
        return found

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = self._deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._reader.fileno(), 1 << 16)
            if not chunk:
                raise EOFError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message
