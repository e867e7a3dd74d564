"""Under pytest-xdist everything still reaches the controller: records, the GPU facts of every worker (the
controller never loads torch), the benchmark lines, JUnit properties, pytest-html pictures, the step
summary (once) and the traces (written by the workers).

No GPU is needed: the inner project's conftest gives each worker a fake GPU name, so the test sees which
worker's facts arrived where.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from records_factory import record

from pytest_ganstab import machine
from pytest_ganstab.history import Store
from pytest_ganstab.plugins import xdist
from pytest_ganstab.plugins.bench import pytest_benchmark_update_machine_info
from pytest_ganstab.plugins.state import SESSION, SessionState
from pytest_ganstab.settings import resolve

FAKE_GPU = """
import os

import pytest_ganstab.machine as machine

def pytest_configure(config):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # each worker "has" a GPU of its own name
        name = f"Fake GPU {worker}"
        facts = {"torch": "2.x", "cuda": "12.8", "gpu_count": 1, "gpu": name, "gpus": [name]}
        machine.gpu_facts = lambda: facts
"""

GAN_TEST = """
from pytest_ganstab import bench, recipe

TINY = recipe("nonsaturating", width=8, depth=1, batch_size=32)

def test_gan(ganstab, request):
    ganstab.train(TINY, "ring8", steps=3, seeds=1)
    bench.report(request.config, "line from " + __name__)
"""


@pytest.fixture
def forget_workers() -> Any:
    machine.forget_workers()
    yield
    machine.forget_workers()


def test_a_workers_payload_names_its_gpu_in_the_saved_session(
    tmp_path: Path, forget_workers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(machine, "gpu_facts", dict)  # as on a controller, which never loads torch
    config = SimpleNamespace(stash={SESSION: SessionState(True, [], resolve([]))})
    facts = {"node": "gpu-host-2", "torch": "2.13.0", "cuda": "12.8", "gpu_count": 1, "gpus": ["NVIDIA H200"]}
    node = SimpleNamespace(
        config=config,
        workerinput={"workerid": "gw1"},
        workeroutput={
            xdist.RECORDS_KEY: json.dumps([record([8, 8], test="b.py::t"), record([7], test="a.py::t")]),
            xdist.MACHINE_KEY: json.dumps(facts),
        },
    )
    xdist.receive_records(node)
    assert [r["test"] for r in config.stash[SESSION].records] == ["a.py::t", "b.py::t"]
    saved = Store(tmp_path).save(config.stash[SESSION].records, "main")
    on_disk = json.loads(saved.path.read_text())["machine"]  # type: ignore[union-attr]
    assert (
        on_disk["gpus"] == ["NVIDIA H200"] and on_disk["gpu"] == "NVIDIA H200" and on_disk["cuda"] == "12.8"
    )
    assert on_disk["workers"] == {"gw1": facts}
    benchmark_info: dict[str, Any] = {}
    pytest_benchmark_update_machine_info(config=None, machine_info=benchmark_info)  # type: ignore[arg-type]
    assert benchmark_info["gpus"] == ["NVIDIA H200"]
    machine.forget_workers()
    assert "workers" not in machine.machine_info()  # the next session starts without them


def test_under_xdist_every_surface_reaches_the_controller(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    pytester.makeconftest(FAKE_GPU)
    pytester.makepyfile(test_a=GAN_TEST, test_b=GAN_TEST)
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    args = ["--ganstab", "-n", "2", "--dist", "loadfile", "--ganstab-save=main", "--ganstab-traces=traces"]
    args += ["--junitxml=junit.xml", "-p", "no:randomly"]
    pytest.importorskip("pytest_html", reason="pytest-html is in the dev extra")
    result = pytester.runpytest_subprocess(*args, "--html=page.html", "--self-contained-html")
    result.assert_outcomes(passed=2)
    # The saved session names both workers' GPUs.
    (saved,) = (pytester.path / ".ganstab").glob("*.json")
    facts = json.loads(saved.read_text())["machine"]
    assert facts["gpus"] == ["Fake GPU gw0", "Fake GPU gw1"]
    assert sorted(facts["workers"]) == ["gw0", "gw1"]
    # The benchmark lines of both workers, in the controller's summary, with why there is no JSON.
    result.stdout.fnmatch_lines(["*ganstab benchmarks*"])
    assert sorted(line for line in result.outlines if line.startswith("line from")) == [
        "line from test_a",
        "line from test_b",
    ]
    result.stdout.fnmatch_lines(["(pytest-benchmark is off under xdist, so no benchmark JSON*"])
    # JUnit properties and pytest-html pictures travel inside the reports.
    cases = {
        case.attrib["classname"]: case for case in ET.parse(pytester.path / "junit.xml").iter("testcase")
    }
    for case in cases.values():
        names = {prop.attrib["name"] for prop in case.iter("property")}
        assert "ganstab[nonsaturating on ring8].verdict" in names
    assert (pytester.path / "page.html").read_text().count("data:image/png;base64,") == 4
    # One step summary, written by the controller; traces written by the workers.
    assert summary.read_text().count("### ganstab stability summary") == 1
    assert len(list((pytester.path / "traces").rglob("run.json"))) == 2
