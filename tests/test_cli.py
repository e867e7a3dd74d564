"""The ``ganstab`` command: list, show, compare (exit 1 on a regression) and trend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from records_factory import record

from pytest_ganstab.cli import main
from pytest_ganstab.history import Session, Store
from pytest_ganstab.plugins import state as plugin_state


@pytest.fixture
def saved(tmp_path: Path) -> dict[str, Session]:
    """A store with a healthy run on main and a pull request that lost modes on most seeds."""
    store = Store(tmp_path / ".ganstab")
    return {
        "main": store.save([record([8, 8, 8, 8, 8, 8])], "main", commit={"id": "a" * 40, "dirty": False}),
        "pr": store.save([record([6, 6, 6, 6, 6, 8], speed=900.0)], "pr-7"),
    }


def ganstab(tmp_path: Path, *args: str) -> int:
    return main(["--storage", str(tmp_path / ".ganstab"), *args])


def test_list_shows_every_saved_run_oldest_first(
    tmp_path: Path, saved: dict[str, Session], capsys: pytest.CaptureFixture[str]
) -> None:
    assert ganstab(tmp_path, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "CREATED", "(UTC)", "NAME", "COMMIT", "RUNS", "MACHINE"]
    assert [line.split()[0] for line in lines[2:]] == [saved["main"].id, saved["pr"].id]
    assert lines[2].split()[3:6] == ["main", "aaaaaaaaaa", "1"]
    assert main(["list", "--storage", str(tmp_path / ".ganstab")]) == 0  # the option also follows the command
    assert capsys.readouterr().out.splitlines() == lines


def test_show_prints_the_session_and_its_stability_table(
    tmp_path: Path, saved: dict[str, Session], capsys: pytest.CaptureFixture[str]
) -> None:
    assert ganstab(tmp_path, "show", "main") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run {saved['main'].id} main (")
    assert "tests/test_gan.py::test_ring" in out
    assert "nonsaturating" in out


def test_compare_exits_1_on_a_regression(
    tmp_path: Path, saved: dict[str, Session], capsys: pytest.CaptureFixture[str]
) -> None:
    assert ganstab(tmp_path, "compare", "main", "pr-7", "--fail", "modes:-1") == 1
    out = capsys.readouterr().out
    assert "REGRESSION (modes:-1)" in out
    assert out.rstrip().endswith(
        "1 regression(s): tests/test_gan.py::test_ring [nonsaturating on ring8] modes"
    )


def test_compare_exits_0_on_an_improvement_a_self_comparison_or_without_rules(
    tmp_path: Path, saved: dict[str, Session]
) -> None:
    assert ganstab(tmp_path, "compare", "pr-7", "main", "--fail") == 0
    assert ganstab(tmp_path, "compare", "main", "main", "--fail") == 0
    assert ganstab(tmp_path, "compare", "main") == 0  # against the latest; no rules, so only a listing


def test_bad_input_exits_2_with_one_line_on_stderr(
    tmp_path: Path, saved: dict[str, Session], capsys: pytest.CaptureFixture[str]
) -> None:
    assert ganstab(tmp_path, "show", "nosuch") == 2
    assert ganstab(tmp_path, "compare", "main", "pr-7", "--fail", "modes:+1") == 2
    assert ganstab(tmp_path, "trend", "fid") == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors[0].startswith("ganstab: error: no session 'nosuch'")
    assert errors[1].startswith("ganstab: error: --fail: bad rule 'modes:+1'")
    assert errors[2].startswith("ganstab: error: no saved run in ")
    with pytest.raises(SystemExit) as exited:
        ganstab(tmp_path, "compare")
    assert exited.value.code == 2


def test_a_corrupt_file_is_reported_and_the_rest_listed(
    tmp_path: Path, saved: dict[str, Session], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".ganstab" / "broken.json").write_text("{")
    assert ganstab(tmp_path, "list") == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 4  # header, rule, two sessions
    assert "ganstab: skipped " in captured.err
    assert "broken.json: not readable JSON" in captured.err


def test_trend_writes_a_png_per_test(
    tmp_path: Path, saved: dict[str, Session], capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "modes.png"
    assert ganstab(tmp_path, "trend", "modes", "--test", "*ring*", "--output", str(target)) == 0
    assert target.read_bytes().startswith(b"\x89PNG")
    assert capsys.readouterr().out.strip() == f"wrote {target} (1 run(s) over 2 saved session(s))"
    assert ganstab(tmp_path, "trend", "modes", "--test", "grid") == 2


def test_help_names_the_commands_and_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["help", "compare"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ganstab compare [-h] [--storage PATH] [--fail [RULES]] [--alpha ALPHA]")
    assert "examples:" in out
    assert "permutation test" in out


def test_the_command_runs_as_a_program(tmp_path: Path, saved: dict[str, Session]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_ganstab.cli", "--storage", str(tmp_path / ".ganstab"), "list"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert saved["pr"].id in done.stdout


def test_compare_prints_the_same_table_as_the_pytest_option(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    records: list[dict[str, Any]] = []
    monkeypatch.setattr(plugin_state, "session_records", lambda config: list(records))
    pytester.makepyfile("def test_gan():\n    pass\n")
    records[:] = [record([8, 8, 8, 8, 8, 8])]
    assert pytester.runpytest("--ganstab-save=main").ret == 0
    records[:] = [record([6, 6, 6, 6, 6, 8])]
    options = ["--ganstab-compare=main", "--ganstab-compare-fail=modes:-1", "--ganstab-save=pr"]
    in_pytest = pytester.runpytest(*options)
    assert in_pytest.ret == 1
    capsys.readouterr()

    storage = str(pytester.path / ".ganstab")
    assert main(["--storage", storage, "compare", "main", "pr", "--fail", "modes:-1"]) == 1
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("ganstab compare: ")  # the title names the two sessions, the rest is the same
    shown = in_pytest.stdout.lines
    start = shown.index(table[1])
    assert shown[start : start + len(table) - 1] == table[1:]


def test_a_store_that_is_a_file_is_an_error_naming_where_it_came_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    afile = tmp_path / "runs.json"
    afile.write_text("{}")
    assert main(["--storage", str(afile), "list"]) == 2
    monkeypatch.setenv("GANSTAB_STORAGE", str(afile))
    assert main(["list"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # not "no saved run"
    problem = f"{afile} is a file, not a folder of saved runs; give a folder"
    assert captured.err.splitlines() == [
        f"ganstab: error: --storage {afile}: {problem}",
        f"ganstab: error: GANSTAB_STORAGE {afile}: {problem}",
    ]


def test_trend_into_a_folder_that_is_a_file_is_one_line(
    tmp_path: Path, saved: dict[str, Session], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plots").write_text("")
    assert ganstab(tmp_path, "trend", "modes", "-o", str(tmp_path / "plots" / "modes.png")) == 2
    assert ganstab(tmp_path, "trend", "modes", "-o", str(tmp_path / "nosuch" / "modes.png")) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"ganstab: error: --output {tmp_path}/plots/modes.png: {tmp_path}/plots is not a folder; "
        "give a PNG path in an existing folder",
        f"ganstab: error: --output {tmp_path}/nosuch/modes.png: {tmp_path}/nosuch does not exist; "
        "give a PNG path in an existing folder",
    ]


def test_a_reader_that_goes_away_is_not_a_traceback(tmp_path: Path, saved: dict[str, Session]) -> None:
    # `ganstab list | head -1`: the reader closes the pipe before the command writes.
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_ganstab.cli", "--storage", str(tmp_path / ".ganstab"), "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    error = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141  # as a command killed by SIGPIPE
    assert error == ""


def test_compare_holds_alpha_over_the_family_it_is_given(
    tmp_path: Path, saved: dict[str, Session], capsys: pytest.CaptureFixture[str]
) -> None:
    assert ganstab(tmp_path, "compare", "main", "pr-7", "--fail", "modes:-1", "--family", "run") == 1
    assert "family-wise alpha=0.05 over each run alone" in capsys.readouterr().out
    assert ganstab(tmp_path, "compare", "main", "pr-7", "--family", "all") == 2
    assert (
        capsys.readouterr().err.strip()
        == "ganstab: error: --family: unknown family 'all'; choose session or run"
    )


def test_every_command_skips_a_mistyped_file_and_reports_it_once(
    tmp_path: Path, saved: dict[str, Session], capsys: pytest.CaptureFixture[str]
) -> None:
    assert saved["main"].path is not None
    bad = json.loads(saved["main"].path.read_text())
    bad.update(commit="abc123", id="deadbeef")
    (tmp_path / ".ganstab" / "bad.json").write_text(json.dumps(bad))
    problem = "bad.json: commit: 'abc123' is not an object or null"
    for command in (
        ["list"],
        ["show", "main"],
        ["compare", "main", "pr-7", "--fail"],
        ["trend", "modes", "-o", str(tmp_path / "t.png")],
    ):
        if command[0] == "trend":
            pytest.importorskip("matplotlib")
        assert ganstab(tmp_path, *command) in (0, 1), command
        errors = capsys.readouterr().err.splitlines()
        assert len(errors) == 1 and errors[0].startswith("ganstab: skipped ") and errors[0].endswith(problem)


def test_clean_removes_only_the_leftovers_of_stopped_saves(
    tmp_path: Path, saved: dict[str, Session], capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / ".ganstab"
    leftover = store / ".x1y2.json.part"
    leftover.write_text('{"sche')
    os.utime(leftover, (time.time() - 3600, time.time() - 3600))
    assert ganstab(tmp_path, "list") == 0
    assert "leftover " in capsys.readouterr().err
    assert ganstab(tmp_path, "clean") == 0
    assert capsys.readouterr().out.splitlines() == [f"removed {leftover}"]
    assert not leftover.exists() and len(list(store.glob("*.json"))) == 2
    assert ganstab(tmp_path, "clean") == 0
    assert capsys.readouterr().out.startswith("nothing to clean in ")
