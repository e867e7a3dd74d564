"""The history store and its pytest options: save, reload, compare, survive bad files and races."""

from __future__ import annotations

import importlib
import json
import math
import multiprocessing
import os
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from records_factory import record

# Imported at collection: pytester's in-process runs unload what they import, and a Run must meet the
# same classes in every module that reads it.
from pytest_ganstab import diagnose, recipe, train
from pytest_ganstab.compare import compare_records, parse_rules
from pytest_ganstab.history import (
    KIND,
    SCHEMA,
    Store,
    StoreError,
    StoreWarning,
    check_name,
    git_commit,
    load_store,
)
from pytest_ganstab.plugins import state as plugin_state
from pytest_ganstab.records import run_record


def test_a_saved_session_reloads_and_compares_with_itself_without_regression(tmp_path: Path) -> None:
    store = Store(tmp_path / ".ganstab")
    records = [record([8, 7, 8, 6]), record([3, 4, 2, 3], test="tests/test_gan.py::test_grid")]
    saved = store.save(records, "main", commit={"id": "abc", "branch": "main", "dirty": False})

    assert saved.path is not None
    assert re.fullmatch(r"\d{8}T\d{12}Z_main_[0-9a-f]{8}\.json", saved.path.name)
    data = json.loads(saved.path.read_text())
    assert (data["schema"], data["kind"], data["name"], data["commit"]["id"]) == (SCHEMA, KIND, "main", "abc")
    assert {"python", "platform", "cpu"} <= data["machine"].keys()

    (loaded,) = store.sessions()
    assert loaded.records == records
    comparison = compare_records(loaded.records, records, parse_rules(["default", "time:+10%"]))
    assert comparison.regressions == []


def test_nan_is_saved_as_null_because_json_has_no_nan(tmp_path: Path) -> None:
    diverged = record([8, 8])
    diverged["metrics"]["hq"] = [0.9, math.nan]
    diverged["seed_steps_per_s"] = math.inf
    saved = Store(tmp_path).save([diverged])
    assert saved.path is not None
    text = saved.path.read_text()
    assert "NaN" not in text
    assert "Infinity" not in text
    assert json.loads(text)["records"][0]["metrics"]["hq"] == [0.9, None]


def test_a_corrupt_or_foreign_file_is_reported_skipped_and_kept(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save([record([8, 8])], "good")
    bad = {
        "truncated.json": '{"schema": 1, "kind": "pytest-ganst',
        "benchmark.json": json.dumps({"machine_info": {}, "benchmarks": []}),  # pytest-benchmark's, say
        "future.json": json.dumps({"schema": SCHEMA + 1, "kind": KIND, "records": []}),
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(text)

    assert [session.name for session in store.sessions()] == ["good"]
    reasons = sorted(store.problems)
    assert [Path(line.split(": ")[0].removeprefix("skipped ")).name for line in reasons] == sorted(bad)
    assert "not a pytest-ganstab session" in reasons[0]
    assert "newer than this pytest-ganstab reads" in reasons[1]
    assert "not readable JSON" in reasons[2]
    assert all((tmp_path / name).exists() for name in bad)
    with pytest.warns(StoreWarning) as warned:
        assert len(load_store(tmp_path)) == 2  # the good session's two seeds
    assert sorted(str(warning.message) for warning in warned) == reasons


def _save_many(storage: str, name: str, count: int, start: Any) -> None:
    start.wait()  # both writers begin together
    for index in range(count):
        Store(storage).save([record([8, index % 8])], name)


def test_two_sessions_saving_at_once_both_land(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    writers = [context.Process(target=_save_many, args=(str(tmp_path), "main", 15, start)) for _ in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert [writer.exitcode for writer in writers] == [0, 0]
    store = Store(tmp_path)
    assert len(store.sessions()) == 30
    assert store.problems == []
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_sessions_are_named_by_latest_name_id_prefix_or_file(tmp_path: Path) -> None:
    store = Store(tmp_path)
    first = store.save([record([8])], "main")
    second = store.save([record([7])], "main")
    pull = store.save([record([6])], "pr-12")

    assert store.resolve("latest") == pull
    assert store.resolve("main") == second  # a name means its latest session
    assert store.resolve(first.id[:6]) == first
    assert first.path is not None
    assert store.resolve(str(first.path)).records == first.records
    with pytest.raises(StoreError, match=r"no session 'nosuch'.*ganstab list"):
        store.resolve("nosuch")
    with pytest.raises(StoreError, match=r"no saved session in .*--ganstab-save"):
        Store(tmp_path / "empty").resolve("latest")


def test_an_ambiguous_prefix_asks_for_more_characters(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save([record([8])])
    store.save([record([8])])
    with pytest.raises(StoreError, match=r"ambiguous.*give more characters"):
        store.resolve("20")  # every file name starts with the year


@pytest.mark.parametrize("name", ["a/b", "../up", "", "latest", "x" * 65, "-lead"])
def test_a_session_name_must_be_a_plain_file_name(name: str) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        check_name(name)


def test_pandas_loads_the_store_one_row_per_session_run_and_seed(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save([record([8, 7, 6], speed=500.0)], "main")
    store.save([record([8, 8, 8], speed=1000.0), record([1, 2, 3], test="t.py::other")], "pr")

    frame = load_store(tmp_path)
    assert len(frame) == 9
    assert list(frame.columns[:14]) == [
        "session", "name", "created", "commit", "test", "label", "recipe", "toy", "device",
        "steps", "seeds", "seed", "seed_steps_per_s", "time_per_seed_step",
    ]  # fmt: skip
    assert {"modes", "hq", "d_auc"} <= set(frame.columns)
    assert isinstance(frame["created"].dtype, pd.DatetimeTZDtype)
    main = frame[frame["name"] == "main"]
    assert main["modes"].tolist() == [8, 7, 6]
    assert main["time_per_seed_step"].tolist() == [0.002] * 3
    assert load_store(tmp_path / "missing").empty


def test_git_commit_is_none_outside_a_work_tree(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None


# The pytest options, on a project whose session records are given by the test.


@pytest.fixture
def session_records(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The records the next in-process pytest run will report (replace the list's contents)."""
    records: list[dict[str, Any]] = []
    monkeypatch.setattr(plugin_state, "session_records", lambda config: list(records))
    return records


def test_a_bad_rule_stops_pytest_before_any_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_trains(tmp_path_factory):\n    raise AssertionError('ran')\n")
    result = pytester.runpytest("--ganstab-compare-fail=modes:+1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --ganstab-compare-fail: bad rule 'modes:+1'*write modes:-1"])
    assert "ran" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--ganstab-compare-fail", "test_usage.py"],
            "*rule 'test_usage.py'*write --ganstab-compare-fail=default",
        ),
        (
            ["--ganstab-compare-alpha=5%"],
            "*--ganstab-compare-alpha: '5%' is not a number",
        ),
        (["--ganstab-save=a/b"], "*--ganstab-save: session name 'a/b' is not allowed*"),
    ],
)
def test_bad_options_are_one_line_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile(test_usage="def test_nothing():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_the_options_are_in_pytest_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*--ganstab-storage=PATH*", "*--ganstab-compare-fail=*RULES*"])


def test_save_then_compare_catches_a_regression_and_not_an_improvement(
    pytester: pytest.Pytester, session_records: list[dict[str, Any]]
) -> None:
    pytester.makepyfile("def test_gan():\n    pass\n")
    session_records[:] = [record([8, 8, 8, 8, 8, 8])]
    saved = pytester.runpytest("--ganstab-save=main")
    assert saved.ret == pytest.ExitCode.OK
    saved.stdout.fnmatch_lines(["ganstab: saved run * to *.ganstab*main*.json"])

    session_records[:] = [record([6, 6, 6, 6, 6, 8])]
    worse = pytester.runpytest("--ganstab-compare=main", "--ganstab-compare-fail=modes:-1")
    assert worse.ret == pytest.ExitCode.TESTS_FAILED
    worse.stdout.fnmatch_lines(
        [
            "ganstab compare: * main (*) (old) -> this run (new)",
            "  modes * 8 ± 0 * 6.333 ± 0.8165 * REGRESSION (modes:-1)",
            "*ganstab: FAILED: 1 stability regression(s) beyond the rules modes:-1*",
        ]
    )

    session_records[:] = [record([8, 8, 8, 8, 8, 8], speed=2000.0)]
    same = pytester.runpytest("--ganstab-compare", "--ganstab-compare-fail")  # latest, default rules
    assert same.ret == pytest.ExitCode.OK
    same.stdout.fnmatch_lines(["0 regression(s)"])
    assert len(list((pytester.path / ".ganstab").glob("*.json"))) == 1  # comparing saves nothing


def test_a_regression_gate_that_compared_nothing_fails(
    pytester: pytest.Pytester, session_records: list[dict[str, Any]]
) -> None:
    pytester.makepyfile("def test_gan():\n    pass\n")
    session_records[:] = [record([8, 8, 8, 8])]
    assert pytester.runpytest("--ganstab-save=main").ret == pytest.ExitCode.OK
    session_records[:] = []  # e.g. the CI job forgot --ganstab: no GAN test trained
    result = pytester.runpytest("--ganstab-compare=main", "--ganstab-compare-fail")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*the regression gate compared nothing*", "*not run this time*"])


def test_comparing_with_an_empty_store_is_a_note_not_a_failure(
    pytester: pytest.Pytester, session_records: list[dict[str, Any]]
) -> None:
    pytester.makepyfile("def test_gan():\n    pass\n")
    session_records[:] = [record([8, 8])]
    result = pytester.runpytest("--ganstab-compare-fail", "--ganstab-storage=elsewhere")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["ganstab: nothing to compare with: no saved session in *elsewhere*"])


def test_comparing_with_an_unknown_run_is_a_usage_error(
    pytester: pytest.Pytester, session_records: list[dict[str, Any]]
) -> None:
    pytester.makepyfile("def test_gan():\n    pass\n")
    session_records[:] = [record([8, 8])]
    assert pytester.runpytest("--ganstab-save=main").ret == pytest.ExitCode.OK
    result = pytester.runpytest("--ganstab-compare=nosuch")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ganstab-compare nosuch: no session 'nosuch'*"])


def test_ini_and_environment_set_the_same_options(
    pytester: pytest.Pytester, session_records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_gan():\n    pass\n")
    pytester.makeini("[pytest]\nganstab_autosave = true\nganstab_storage = history\n")
    session_records[:] = [record([8, 8])]
    assert pytester.runpytest().ret == pytest.ExitCode.OK
    (saved,) = (pytester.path / "history").glob("*.json")
    assert "_auto_" in saved.name

    # Autosave goes on, so from now on each run is compared with the one before it.
    monkeypatch.setenv("GANSTAB_COMPARE_FAIL", "modes:-1")
    session_records[:] = [record([1, 1, 1, 1])]
    assert pytester.runpytest().ret == pytest.ExitCode.OK  # against 2 old seeds: too few to call it
    session_records[:] = [record([8, 8, 8, 8])]
    assert pytester.runpytest().ret == pytest.ExitCode.OK
    session_records[:] = [record([1, 1, 1, 1])]
    assert pytester.runpytest().ret == pytest.ExitCode.TESTS_FAILED


def test_a_real_training_saved_and_compared_with_itself_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_ganstab import recipe

        def test_ring(ganstab):
            ganstab.train(recipe("nonsaturating", width=16, depth=1), "ring8", steps=20, seeds=3)
        """
    )
    # pytester unloads the modules an inner run imported, and torch's lazily imported optimizer
    # machinery cannot be imported twice in a process: load it out here, once.
    importlib.import_module("torch._dynamo")
    assert pytester.runpytest("--ganstab", "--ganstab-device=cpu", "--ganstab-save=base").ret == 0
    again = pytester.runpytest(
        "--ganstab", "--ganstab-device=cpu", "--ganstab-compare=base", "--ganstab-compare-fail"
    )
    assert again.ret == pytest.ExitCode.OK
    again.stdout.fnmatch_lines(["*::test_ring ?nonsaturating on ring8?", "  modes *same", "0 regression(s)"])


# A store that validates what it reads: types, not only keys.


def saved_file(store: Store, tmp_path: Path, name: str, change: Any) -> Path:
    """A copy of a good session file, edited by ``change`` (a function of the parsed JSON), saved as name."""
    good = store.save([record([8, 7, 8, 6])], "good")
    assert good.path is not None
    data = json.loads(good.path.read_text())
    good.path.unlink()
    change(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda d: d["records"][0]["metrics"].update(modes=["a", 7, 8, 6]),
            "records[0].metrics.modes[0]: 'a' is not a finite number",
        ),
        (lambda d: d.update(machine=5), "machine: 5 is not an object"),
        (lambda d: d.update(commit="abc123"), "commit: 'abc123' is not an object or null"),
        (lambda d: d.update(created="yesterday"), "created: 'yesterday' is not an ISO 8601 time"),
        (lambda d: d.update(id=7), "id: 7 is not a string"),
        (lambda d: d["records"][0].update(seeds="4"), "records[0].seeds: '4' is not a whole number"),
        (lambda d: d["records"][0].update(test=["t"]), "records[0].test: ['t'] is not a string or null"),
        (lambda d: d["records"][0].pop("metrics"), 'records[0]: "metrics" is missing'),
        (
            lambda d: d["records"][0]["metrics"].update(hq=[0.9]),
            "records[0].metrics: one value per seed expected",
        ),
        (
            lambda d: d["records"][0]["metrics"].update(modes=[True, 7, 8, 6]),
            "records[0].metrics.modes[0]: True is not a finite number",
        ),
        (lambda d: d.update(records={}), "records: {} is not a list"),
    ],
)
def test_a_file_of_the_wrong_types_is_reported_with_what_is_wrong_and_skipped_by_every_reader(
    tmp_path: Path, change: Any, reason: str
) -> None:
    store = Store(tmp_path)
    bad = saved_file(store, tmp_path, "bad.json", change)
    kept = store.save([record([8, 8])], "kept")
    assert [session.name for session in store.sessions()] == ["kept"]
    (problem,) = store.problems  # once, naming the file and the first thing wrong in it
    assert problem.startswith(f"skipped {bad}: {reason}")
    with pytest.warns(StoreWarning, match=re.escape(reason)):
        assert load_store(tmp_path)["session"].unique().tolist() == [kept.id]
    with pytest.raises(ValueError, match=re.escape(reason)):  # named explicitly: the one error, no traceback
        store.resolve(str(bad))
    assert bad.exists()  # reported, never deleted


def test_nan_written_by_another_tool_is_not_json_and_is_skipped(tmp_path: Path) -> None:
    store = Store(tmp_path)
    saved_file(store, tmp_path, "nan.json", lambda d: None)
    text = (tmp_path / "nan.json").read_text().replace('"modes": [8, 7, 8, 6]', '"modes": [NaN, 7, 8, 6]')
    (tmp_path / "nan.json").write_text(text)
    assert store.sessions() == []
    assert "NaN is not JSON; a value that was not measured is stored as null" in store.problems[0]


def test_a_real_record_passes_the_type_check(tmp_path: Path) -> None:
    # Every key of records.RunRecord, with findings, as run_record makes it: the check reads those types.
    run = train(recipe("nonsaturating", width=8, depth=1), "ring8", seeds=2, steps=5)
    store = Store(tmp_path)
    store.save([run_record(run, test="t.py::x", findings=diagnose(run))], "real")
    (loaded,) = store.sessions()
    assert store.problems == []
    assert loaded.records[0]["findings"]


def test_a_store_path_that_is_a_file_is_an_error_not_an_empty_store(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="is a file, not a folder of saved runs; give a folder"):
        Store(tmp_path / "file").sessions()
    with pytest.raises(StoreError, match=r"cannot save into .*file.sub \(Not a directory\)"):
        Store(tmp_path / "file" / "sub").check_writable()


def test_leftovers_of_killed_saves_are_reported_and_only_cleaned_on_request(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save([record([8])], "main")
    old, fresh = tmp_path / ".abc.json.part", tmp_path / ".def.json.part"
    old.write_text('{"half": ')
    fresh.write_text('{"half": ')  # a save under way right now
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))

    assert len(store.sessions()) == 1
    (problem,) = store.problems
    assert problem.startswith(f"leftover {old}: a save that was stopped before it finished")
    assert problem.endswith("'ganstab clean' removes such files")
    assert old.exists() and fresh.exists()  # reading never removes anything
    assert store.clean() == [old]
    assert not old.exists() and fresh.exists()
    assert len(store.sessions()) == 1 and store.problems == []


# The plugin finds a store it cannot use before any training, and always prints the summary.

TRAINS = "def test_trains():\n    raise AssertionError('ran')\n"


def test_a_store_that_is_a_file_stops_pytest_before_any_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TRAINS)
    (pytester.path / "history").write_text("")
    result = pytester.runpytest("--ganstab-save=main", "--ganstab-storage=history")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.errlines if line.strip()] == [
        f"ERROR: --ganstab-storage history: {pytester.path / 'history'} is a file, not a folder of saved "
        "runs; give a folder"
    ]
    assert "ran" not in result.stdout.str()


def test_a_store_under_a_file_stops_pytest_before_any_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TRAINS)
    (pytester.path / "history").write_text("")
    result = pytester.runpytest("--ganstab-autosave", "--ganstab-storage=history/runs")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --ganstab-storage history/runs: cannot save into *runs (Not a directory); "
            "give a writable folder"
        ]
    )
    assert "ran" not in result.stdout.str()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_store_stops_pytest_before_any_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TRAINS)
    store = pytester.path / ".ganstab"
    store.mkdir()
    store.chmod(0o555)
    try:
        result = pytester.runpytest("--ganstab-save=main")
    finally:
        store.chmod(0o755)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --ganstab-save main: cannot save into *.ganstab (Permission denied)*"]
    )


def test_a_save_that_fails_at_the_end_is_one_red_line_and_the_summary_is_still_printed(
    pytester: pytest.Pytester, session_records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_gan():\n    pass\n")
    session_records[:] = [record([8, 8, 8, 8])]

    def disk_full(self: Store, *args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Store, "save", disk_full)
    result = pytester.runpytest("--ganstab-save=main")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*ganstab history*",
            "ganstab: FAILED: could not save this session into *.ganstab: No space left on device",
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_the_gate_skips_a_mistyped_file_and_says_so_once(
    pytester: pytest.Pytester, session_records: list[dict[str, Any]]
) -> None:
    pytester.makepyfile("def test_gan():\n    pass\n")
    session_records[:] = [record([8, 8, 8, 8, 8, 8])]
    assert pytester.runpytest("--ganstab-save=main").ret == pytest.ExitCode.OK
    (good,) = (pytester.path / ".ganstab").glob("*.json")
    data = json.loads(good.read_text())
    data.update(machine=5, id="other")
    (pytester.path / ".ganstab" / "zz_bad.json").write_text(json.dumps(data))

    result = pytester.runpytest("--ganstab-compare", "--ganstab-compare-fail")
    assert result.ret == pytest.ExitCode.OK
    assert result.stdout.str().count("zz_bad.json") == 1
    result.stdout.fnmatch_lines(
        ["0 regression(s)", "ganstab: skipped *zz_bad.json: machine: 5 is not an object"]
    )


def test_the_family_comes_from_the_flag_the_environment_or_the_ini(
    pytester: pytest.Pytester, session_records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_gan():\n    pass\n")
    session_records[:] = [record([8] * 6)]
    assert pytester.runpytest("--ganstab-save=main").ret == pytest.ExitCode.OK
    session_records[:] = [record([6, 6, 6, 6, 6, 8])]
    by_flag = pytester.runpytest("--ganstab-compare-fail=modes:-1", "--ganstab-compare-family=run")
    by_flag.stdout.fnmatch_lines(["rules: modes:-1; *family-wise alpha=0.05 over each run alone"])
    monkeypatch.setenv("GANSTAB_COMPARE_FAMILY", "run")
    pytester.runpytest("--ganstab-compare-fail=modes:-1").stdout.fnmatch_lines(["*over each run alone"])
    monkeypatch.delenv("GANSTAB_COMPARE_FAMILY")
    pytester.makeini("[pytest]\nganstab_compare_family = run\n")
    pytester.runpytest("--ganstab-compare-fail=modes:-1").stdout.fnmatch_lines(["*over each run alone"])
    default = pytester.runpytest(
        "-c", "/dev/null", "--rootdir", str(pytester.path), "--ganstab-compare-fail=modes:-1"
    )
    default.stdout.fnmatch_lines(["*over the session's 1 matched run(s)", "*FAILED: 1 stability regression*"])
