"""Traces out: a Run's full trace and samples as Parquet/CSV, its curves as TensorBoard event files read
back with TensorBoard's own reader, and ``--ganstab-traces DIR`` writing them for every test's Runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from inner_runs import warm_up

from pytest_ganstab import traces
from pytest_ganstab.engine import train
from pytest_ganstab.recipes import recipe
from pytest_ganstab.run import PROBES, Run

warm_up()
TINY = recipe("nonsaturating", width=8, depth=2, batch_size=32)


@pytest.fixture(scope="module")
def run() -> Run:
    return train(TINY, "ring8", seeds=[0, 3], steps=6, name="tiny")


def layer_columns(run: Run) -> list[str]:
    return [column for column in run.trace.columns if "grad_norm." in column]


def test_the_trace_table_holds_every_seed_probe_and_layer_norm(run: Run, tmp_path: Path) -> None:
    written = traces.write_tables(run, tmp_path, fmt="csv")
    assert [path.name for path in written] == ["trace.csv", "samples.csv", "run.json"]
    trace = pd.read_csv(tmp_path / "trace.csv")
    assert sorted(set(trace["seed"])) == [0, 3] and len(trace) == 2 * 6
    assert set(PROBES) <= set(trace.columns)
    assert {"g_grad_norm.l0", "g_grad_norm.l2", "d_grad_norm.l0"} <= set(layer_columns(run))
    assert list(trace.columns) == list(run.trace.columns)
    mine, theirs = (frame[list(PROBES)].to_numpy(dtype=float) for frame in (trace, run.trace))
    np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def test_the_samples_table_holds_the_final_samples_of_each_seed(run: Run, tmp_path: Path) -> None:
    traces.write_tables(run, tmp_path, fmt="csv", samples=50)
    samples = pd.read_csv(tmp_path / "samples.csv")
    assert list(samples.columns) == ["seed", "sample", "x0", "x1"]
    expected = run.samples(50).cpu().numpy()  # fixed latents: the same samples every call
    for position, seed in enumerate(run.seeds):
        mine = samples[samples["seed"] == seed].sort_values("sample")
        np.testing.assert_allclose(mine[["x0", "x1"]].to_numpy(), expected[position], rtol=1e-5, atol=1e-6)


def test_run_json_names_the_run_and_carries_its_record(run: Run, tmp_path: Path) -> None:
    traces.write_tables(run, tmp_path, fmt="csv", record={"label": "tiny", "metrics": {"hq": [math.nan]}})  # type: ignore[typeddict-item]
    facts = json.loads((tmp_path / "run.json").read_text())
    assert (facts["label"], facts["toy"], facts["seed_ids"], facts["steps"]) == ("tiny", "ring8", [0, 3], 6)
    assert facts["recipe_config"]["g_width"] == 8
    assert facts["record"]["metrics"]["hq"] == [None]  # JSON has no NaN


def test_parquet_when_pyarrow_is_installed(run: Run, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    assert traces.table_format() == "parquet"
    traces.write_tables(run, tmp_path)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "trace.parquet"), run.trace.reset_index(drop=True)
    )


def test_without_pyarrow_tables_are_csv(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(traces, "table_format", lambda: "csv")
    written = traces.write_tables(run, tmp_path)
    assert {path.suffix for path in written} == {".csv", ".json"}


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in a TensorBoard run folder, through TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def test_tensorboard_has_one_run_per_seed_and_a_scalar_per_probe(run: Run, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="TensorBoard's event reader comes with the tensorboard package")
    folders = run.to_tensorboard(tmp_path)
    assert folders == [tmp_path / "seed-0", tmp_path / "seed-3"]
    for seed, folder in zip(run.seeds, folders, strict=True):
        scalars = read_scalars(folder)
        expected_tags = {*PROBES, *(column.replace(".", "/") for column in layer_columns(run))}
        assert set(scalars) == expected_tags
        trace = run.seed_trace(seed)
        assert [step for step, _ in scalars["d_auc"]] == trace["step"].tolist()
        np.testing.assert_allclose([value for _, value in scalars["g_signal"]], trace["g_signal"], rtol=1e-6)
        np.testing.assert_allclose(
            [value for _, value in scalars["g_grad_norm/l0"]], trace["g_grad_norm.l0"], rtol=1e-6
        )


def test_without_tensorboard_it_says_what_to_install(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(traces, "has_tensorboard", lambda: False)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        run.to_tensorboard(tmp_path)
    written = traces.write_run(run, tmp_path, fmt="csv")  # tables still; no event files
    assert not list(tmp_path.rglob("events.out.tfevents.*")) and len(written) == 3


# ---------------------------------------------------------------- --ganstab-traces

GAN_TESTS = """
import pytest
from pytest_ganstab import recipe

TINY = recipe("nonsaturating", width=8, depth=1, batch_size=32)

def test_two_runs(ganstab):
    ganstab.train(TINY, "ring8", steps=3, seeds=2)
    ganstab.train(TINY, "grid25", steps=3, seeds=2, name="on the grid")

@pytest.mark.parametrize("ganstab_toy", ["ring8"], indirect=True)
def test_param(ganstab, ganstab_toy):
    ganstab.train(TINY, ganstab_toy, steps=3, seeds=1)
"""


def test_the_option_writes_every_runs_trace_per_test_run_and_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gan=GAN_TESTS)
    result = pytester.runpytest("--ganstab", "--ganstab-traces=out")
    result.assert_outcomes(passed=2)
    out = pytester.path / "out"
    runs = sorted(path.parent.relative_to(out) for path in out.rglob("run.json"))
    assert len(runs) == 3
    assert [str(path).split("/")[0].split("-")[0] for path in runs] == ["test_gan.py"] * 3
    assert sorted(path.name.split("-")[0] for path in runs) == ["0", "0", "1"]  # a test's Runs in order
    facts = [json.loads((out / path / "run.json").read_text()) for path in runs]
    assert sorted(f["record"]["test"] for f in facts) == [
        "test_gan.py::test_param[ring8]", "test_gan.py::test_two_runs", "test_gan.py::test_two_runs",
    ]  # fmt: skip
    if traces.has_tensorboard():
        seed_dirs = sorted(str(p.parent.relative_to(out)).rsplit("/", 1)[1] for p in out.rglob("events.*"))
        assert seed_dirs == ["seed-0", "seed-0", "seed-0", "seed-1", "seed-1"]
    result.stdout.fnmatch_lines([f"ganstab traces: 3 run(s) in {out} (*)"])


def test_an_unwritable_traces_folder_stops_pytest_at_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_never(ganstab):\n    raise AssertionError('trained')\n")
    (pytester.path / "file").write_text("not a folder")
    result = pytester.runpytest("--ganstab", "--ganstab-traces=file/sub")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --ganstab-traces file/sub: cannot write traces to *; give a writable*"]
    )


def test_the_option_has_ini_and_environment_twins(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_gan=GAN_TESTS)
    pytester.makeini("[pytest]\nganstab_traces = from-ini\n")
    pytester.runpytest("--ganstab", "-k", "param").assert_outcomes(passed=1)
    assert list((pytester.path / "from-ini").rglob("run.json"))
    monkeypatch.setenv("GANSTAB_TRACES", "from-env")
    pytester.runpytest("--ganstab", "-k", "param").assert_outcomes(passed=1)
    assert list((pytester.path / "from-env").rglob("run.json"))
