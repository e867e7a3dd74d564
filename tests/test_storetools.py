"""Stores across machines: ``file://`` URIs, ``ganstab merge`` of CI shards (sharded for real with
pytest-split) into one session that compare reads as one run, ``ganstab export`` to CSV and Parquet, and
session files written by pytest-ganstab 0.1 still read, merged and exported."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from inner_runs import warm_up
from records_factory import record

from pytest_ganstab.cli import main
from pytest_ganstab.history import KIND, SCHEMA, Store
from pytest_ganstab.records import SCHEMA_VERSION, RunRecord
from pytest_ganstab.storetools import MergeError, merge_sessions, storage_location

warm_up()


@pytest.mark.parametrize(
    ("given", "folder"),
    [
        ("file:///srv/ganstab", "/srv/ganstab"),
        ("file://localhost/srv/ganstab", "/srv/ganstab"),
        ("file:///srv/my%20runs", "/srv/my runs"),
        ("runs/main", "runs/main"),
        ("/abs/runs", "/abs/runs"),
        ("C:\\runs", "C:\\runs"),
    ],
)
def test_a_store_is_a_path_or_a_file_uri(given: str, folder: str) -> None:
    assert storage_location(given) == folder


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("s3://bucket/runs", "not s3://"),
        ("file://otherhost/runs", "drop the host 'otherhost'"),
        ("file://", "names no folder"),
    ],
)
def test_other_uris_are_refused_saying_why(given: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        storage_location(given)


def test_a_file_uri_saves_into_that_folder_not_one_named_file(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(
        """
        from pytest_ganstab import recipe

        def test_ring(ganstab):
            ganstab.train(recipe("nonsaturating", width=8, depth=1, batch_size=32), "ring8", steps=2, seeds=1)
        """
    )
    target = tmp_path / "shared store"
    uri = "file://" + str(target).replace(" ", "%20")
    pytester.runpytest("--ganstab", "--ganstab-save=main", f"--ganstab-storage={uri}").assert_outcomes(
        passed=1
    )
    assert len(list(target.glob("*_main_*.json"))) == 1
    assert not (pytester.path / "file:").exists()
    assert main(["--storage", uri, "list"]) == 0
    bad = pytester.runpytest("--ganstab", "--ganstab-autosave", "--ganstab-storage=s3://bucket/x")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["ERROR: --ganstab-storage: 's3://bucket/x': the store is a local folder*"])


# ---------------------------------------------------------------- merge


def shard(
    folder: Path, tests: dict[str, list[float | None]], *, commit: str = "c" * 40, node: str = "host"
) -> Any:
    records = [record(modes, test=test) for test, modes in tests.items()]
    machine = {"node": node, "python": "3.11.7", "gpus": [f"GPU of {node}"]}
    return Store(folder).save(records, "main", machine=machine, commit={"id": commit, "dirty": False})


def test_merge_makes_one_session_that_compare_reads_as_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shard(tmp_path / "shard-1", {"t.py::a": [8, 8, 8, 8], "t.py::c": [5, 5, 5, 5]}, node="gpu-1")
    shard(tmp_path / "shard-2", {"t.py::b": [7, 7, 7, 7]}, node="gpu-2")
    store = tmp_path / "merged"
    sources = [str(tmp_path / "shard-1"), str(tmp_path / "shard-2")]
    assert main(["--storage", str(store), "merge", "main", *sources]) == 0
    assert "merged 2 sessions into " in capsys.readouterr().out
    (merged,) = Store(store).sessions()
    assert [r["test"] for r in merged.records] == ["t.py::a", "t.py::b", "t.py::c"]  # as one run saves them
    assert merged.machine["node"] == "gpu-1, gpu-2"
    assert merged.machine["gpus"] == ["GPU of gpu-1", "GPU of gpu-2"]
    assert [s["node"] for s in merged.machine["shards"]] == ["gpu-1", "gpu-2"]
    assert merged.commit == {"id": "c" * 40, "dirty": False}
    # A later unsharded run compares with the merged one test by test.
    Store(store).save([record([8, 8, 8, 8], test=t) for t in ("t.py::a", "t.py::b", "t.py::c")], "pr")
    assert main(["--storage", str(store), "compare", "main", "pr", "--fail", "modes:-1"]) == 0
    out = capsys.readouterr().out
    assert out.count("t.py::") == 3 and "0 regression(s)" in out


def test_merge_refuses_overlapping_shards_other_commits_and_a_single_session(tmp_path: Path) -> None:
    one = shard(tmp_path / "1", {"t.py::a": [8]})
    two = shard(tmp_path / "2", {"t.py::a": [7]})
    other = shard(tmp_path / "3", {"t.py::b": [7]}, commit="d" * 40)
    with pytest.raises(MergeError, match=r"test t\.py::a is in sessions .* the shards overlap"):
        merge_sessions([one, two])
    with pytest.raises(MergeError, match="different commits"):
        merge_sessions([one, other])
    with pytest.raises(MergeError, match="two or more sessions"):
        merge_sessions([one])
    assert (
        main(["--storage", str(tmp_path / "m"), "merge", "main", str(tmp_path / "1"), str(tmp_path / "2")])
        == 2
    )


def test_shards_split_by_pytest_split_merge_into_the_unsharded_run(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_split")
    body = """
        import pytest
        from pytest_ganstab import recipe

        TINY = recipe("nonsaturating", width=8, depth=1, batch_size=32)

        @pytest.mark.parametrize("data", ["ring8", "grid25", "swissroll", "mixture1d"])
        def test_train(ganstab, data):
            ganstab.train(TINY, data, steps=3, seeds=2)
        """
    pytester.makepyfile(test_gan=textwrap.dedent(body))
    common = ["--ganstab", "--ganstab-save=main", "-p", "no:randomly"]
    for group in (1, 2):
        result = pytester.runpytest(
            *common, "--splits=2", f"--group={group}", f"--ganstab-storage=shard-{group}"
        )
        result.assert_outcomes(passed=2)
    pytester.runpytest(*common, "--ganstab-storage=whole").assert_outcomes(passed=4)
    shards = [str(pytester.path / f"shard-{group}") for group in (1, 2)]
    assert main(["--storage", str(pytester.path / "whole"), "merge", "sharded", *shards]) == 0
    whole = Store(pytester.path / "whole")
    merged, unsharded = whole.resolve("sharded"), whole.resolve("main")
    assert [r["test"] for r in merged.records] == [r["test"] for r in unsharded.records]
    assert [r["metrics"] for r in merged.records] == [r["metrics"] for r in unsharded.records]  # same seeds
    assert main(["--storage", str(pytester.path / "whole"), "compare", "main", "sharded", "--fail"]) == 0


# ---------------------------------------------------------------- export


def test_export_writes_one_row_per_session_run_and_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    first = Store(store).save([record([8, 7, 6])], "main")
    Store(store).save([record([8, 8]), record([1, 2], test="t.py::other")], "pr")
    assert main(["--storage", str(store), "export", str(tmp_path / "all.csv")]) == 0
    assert "wrote 7 row(s)" in capsys.readouterr().out
    frame = pd.read_csv(tmp_path / "all.csv")
    assert len(frame) == 7 and {"session", "test", "seed", "modes", "hq"} <= set(frame.columns)
    assert main(["--storage", str(store), "export", str(tmp_path / "main.csv"), "main"]) == 0
    assert pd.read_csv(tmp_path / "main.csv")["modes"].tolist() == [8, 7, 6]
    assert set(pd.read_csv(tmp_path / "main.csv")["session"]) == {first.id}
    assert main(["--storage", str(store), "export", str(tmp_path / "x.xlsx")]) == 2
    assert ".csv or .parquet" in capsys.readouterr().err


def test_export_to_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    Store(tmp_path / "store").save([record([8, 7])], "main")
    assert main(["--storage", str(tmp_path / "store"), "export", str(tmp_path / "runs.parquet")]) == 0
    frame = pd.read_parquet(tmp_path / "runs.parquet")
    assert frame["modes"].tolist() == [8, 7]
    assert isinstance(frame["created"].dtype, pd.DatetimeTZDtype)


# ---------------------------------------------------------------- the 0.1 files

# A session file exactly as pytest-ganstab 0.1 wrote it (history.Store.save on the 0.1 main): schema 1
# at the top and in every record, and every key of its run_record.
SESSION_01: dict[str, Any] = {
    "schema": 1,
    "kind": "pytest-ganstab-session",
    "id": "0a1b2c3d",
    "name": "main",
    "created": "2025-01-02T03:04:05.678901+00:00",
    "machine": {"node": "ci-1", "python": "3.11.7", "platform": "Linux", "machine": "x86_64", "cpu": "x",
                "cpu_count": 2, "torch": "2.13.0"},
    "commit": {"id": "e" * 40, "branch": "main", "dirty": False},
    "records": [
        {
            "schema": 1, "test": "tests/test_gan.py::test_ring", "label": "nonsaturating on ring8",
            "recipe": "nonsaturating", "toy": "ring8", "dim": 2, "toy_modes": 8, "seeds": 2, "steps": 300,
            "device": "cpu", "wall_time_s": 1.5, "seed_steps_per_s": 400.0, "nonfinite_seeds": 0,
            "recipe_config": {"loss": "nonsaturating", "g_width": 64}, "seed_ids": [0, 1], "base_seed": 0,
            "metrics": {"modes": [8.0, 7.0], "hq": [0.9, None], "reverse_kl": [0.01, 0.02],
                        "d_auc": [0.7, 0.72], "g_signal": [0.3, 0.2], "nonfinite": [0.0, 0.0]},
            "findings": [], "passed": None, "notes": [], "outcome": "passed",
        }
    ],
}  # fmt: skip


def test_one_schema_version_for_records_and_sessions() -> None:
    assert SCHEMA == SCHEMA_VERSION


def test_a_01_session_file_reads_merges_exports_and_compares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_store = tmp_path / "old"
    old_store.mkdir()
    (old_store / "20250102T030405678901Z_main_0a1b2c3d.json").write_text(json.dumps(SESSION_01, indent=1))
    store = Store(old_store)
    (session,) = store.sessions()
    assert store.problems == [] and session.id == "0a1b2c3d" and session.machine["node"] == "ci-1"
    (loaded,) = session.records
    # Loaded in today's shape: a change to RunRecord that 0.1 files lack needs an upgrade in read_session.
    assert set(RunRecord.__required_keys__) <= set(loaded)
    assert loaded["metrics"]["hq"] == [0.9, None]
    # It merges with a session of today's version, and compare and export read the result.
    shard(tmp_path / "new", {"tests/test_gan.py::test_grid": [20.0, 21.0]}, commit="e" * 40)
    merged_store = str(tmp_path / "merged")
    assert main(["--storage", merged_store, "merge", "all", str(old_store), str(tmp_path / "new")]) == 0
    assert main(["--storage", merged_store, "export", str(tmp_path / "all.csv")]) == 0
    frame = pd.read_csv(tmp_path / "all.csv")
    assert sorted(frame["test"].unique()) == ["tests/test_gan.py::test_grid", "tests/test_gan.py::test_ring"]
    assert (
        main(["--storage", str(old_store), "compare", "main", str(next(Path(merged_store).glob("*.json")))])
        == 0
    )
    assert "0 regression(s)" in capsys.readouterr().out
    assert json.loads(next(Path(merged_store).glob("*.json")).read_text())["schema"] == SCHEMA
    assert SESSION_01["kind"] == KIND
