"""Every bad input is one clear line: it names the input, where it came from, and what to write instead.

One test per surface a user (or a hostile CI system) feeds values through: recipe knobs, command-line
options, environment variables, ini keys, the marker, the ``ganstab`` command and the store's files.
Each case lists the input and the whole line it must produce; no case may print a traceback.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from records_factory import record

from pytest_ganstab import recipe
from pytest_ganstab.cli import main
from pytest_ganstab.history import Store

REPO = "def test_gan():\n    raise AssertionError('trained')\n"


def only_line(lines: list[str]) -> str:
    (line,) = [line for line in lines if line.strip()]
    return line


@pytest.mark.parametrize(
    ("knob", "value", "line"),
    [
        ("gp_weight", math.nan, "gp_weight=nan must be 0 (off) or a finite positive number, e.g. 10"),
        ("g_lr", math.inf, "g_lr=inf must be a finite positive number, e.g. 1e-4"),
        ("g_lr", "a", "g_lr='a' must be a finite positive number, e.g. 1e-4"),
        ("betas", 0.5, "betas=0.5 must be two numbers in [0, 1), e.g. (0.5, 0.9)"),
        ("r1_weight", -1, "r1_weight=-1 must be 0 (off) or a finite positive number, e.g. 1"),
        ("spectral_norm", "yes", "spectral_norm='yes' must be True or False"),
    ],
)
def test_recipe_knobs(knob: str, value: Any, line: str) -> None:
    with pytest.raises(ValueError) as caught:
        recipe("wgan-gp", **{knob: value})
    assert str(caught.value) == f"recipe 'wgan-gp': {line}"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--ganstab-save="], "--ganstab-save: an empty value; give a value or leave the option out"),
        (
            ["--ganstab-save=a b"],
            "--ganstab-save: session name 'a b' is not allowed: use 1-64 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit, and not 'latest'",
        ),
        (
            ["--ganstab-compare-fail="],
            "--ganstab-compare-fail: an empty value; give RULES (e.g. modes:-1,hq:-5%) "
            "or write the option alone for the default rules",
        ),
        (
            ["--ganstab-compare-family=all"],
            "--ganstab-compare-family: unknown family 'all'; choose session or run",
        ),
        (
            ["--ganstab-compare-alpha=1"],
            "--ganstab-compare-alpha: '1' must be a number strictly between 0 and 1, e.g. 0.05",
        ),
        (
            ["--ganstab-storage=history", "--ganstab-autosave"],
            "--ganstab-storage history: {path}/history is a file, not a folder of saved runs; give a folder",
        ),
    ],
)
def test_command_line_options(pytester: pytest.Pytester, args: list[str], line: str) -> None:
    pytester.makepyfile(REPO)
    (pytester.path / "history").write_text("")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert only_line(result.errlines) == "ERROR: " + line.format(path=pytester.path)
    assert "trained" not in result.stdout.str()


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"GANSTAB_COMPARE_FAMILY": "both"},
            "GANSTAB_COMPARE_FAMILY: unknown family 'both'; choose session or run",
        ),
        (
            {"GANSTAB_AUTOSAVE": "maybe"},
            "GANSTAB_AUTOSAVE: 'maybe' is not a yes/no value; use 1 or 0 (true/false, yes/no, on/off)",
        ),
        (
            {"GANSTAB_SAVE": "main", "GANSTAB_STORAGE": "history/runs"},
            "GANSTAB_STORAGE history/runs: cannot save "
            "into {path}/history/runs (Not a directory); give a writable folder",
        ),
    ],
)
def test_environment_variables(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], line: str
) -> None:
    pytester.makepyfile(REPO)
    (pytester.path / "history").write_text("")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert only_line(result.errlines) == "ERROR: " + line.format(path=pytester.path)


@pytest.mark.parametrize(
    ("ini", "line"),
    [
        (
            "ganstab = maybe",
            "ini option ganstab: 'maybe' is not a yes/no value; use 1 or 0 (true/false, yes/no, on/off)",
        ),
        (
            "ganstab_autosave = maybe",
            "ini option ganstab_autosave: 'maybe' is not a yes/no value; use 1 or 0 "
            "(true/false, yes/no, on/off)",
        ),
        (
            "ganstab_compare_family = sessions",
            "ini option ganstab_compare_family: unknown family 'sessions'; choose session or run",
        ),
        (
            "ganstab_compare_fail = modes:+1",
            "ini option ganstab_compare_fail: bad rule 'modes:+1': modes is "
            "better when higher, so only a change of sign - can be a regression; write modes:-1",
        ),
    ],
)
def test_ini_keys(pytester: pytest.Pytester, ini: str, line: str) -> None:
    pytester.makepyfile(REPO)
    pytester.makeini(f"[pytest]\n{ini}\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert only_line(result.errlines) == "ERROR: " + line


def test_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.ganstab(seeds='x')\n" + REPO)
    result = pytester.runpytest("--ganstab")
    result.assert_outcomes(errors=1)
    assert "test_gan: @pytest.mark.ganstab(seeds=...): 'x' is not a whole number" in result.outlines
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--storage", "{tmp}/file", "list"],
            "--storage {tmp}/file: {tmp}/file is a file, not a folder of saved runs; give a folder",
        ),
        (["--storage", "", "list"], "--storage: an empty value; give a value or leave the option out"),
        (
            ["--storage", "{tmp}", "trend", "modes", "-o", "{tmp}/file/modes.png"],
            "--output {tmp}/file/modes.png: "
            "{tmp}/file is not a folder; give a PNG path in an existing folder",
        ),
        (["--storage", "{tmp}", "compare", "a", "--alpha", "5%"], "--alpha: '5%' is not a number"),
        (
            ["--storage", "{tmp}", "compare", "a", "--family", "each"],
            "--family: unknown family 'each'; choose session or run",
        ),
        (
            ["--storage", "{tmp}", "compare", "a", "--fail", "hq:+5%"],
            "--fail: bad rule 'hq:+5%': hq is better when "
            "higher, so only a change of sign - can be a regression; write hq:-5%",
        ),
        (
            ["--storage", "{tmp}", "show", "{tmp}/other/file.json"],
            '{tmp}/other/file.json: not a pytest-ganstab session (no "kind": "pytest-ganstab-session")',
        ),
    ],
)
def test_the_ganstab_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], line: str
) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "file.json").write_text("{}")
    assert main([arg.format(tmp=tmp_path) for arg in args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert only_line(captured.err.splitlines()) == "ganstab: error: " + line.format(tmp=tmp_path)


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            lambda d: d["records"][0]["metrics"].update(modes=["a", 8]),
            "records[0].metrics.modes[0]: 'a' is not a finite number or null",
        ),
        (lambda d: d.update(machine=5), "machine: 5 is not an object"),
        (lambda d: d.update(commit="abc123"), "commit: 'abc123' is not an object or null"),
        (lambda d: d.update(schema=2), "schema 2 is newer than this pytest-ganstab reads (1); upgrade it"),
    ],
)
def test_store_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Any, line: str) -> None:
    store = Store(tmp_path)
    good = store.save([record([8, 8])], "good")
    assert good.path is not None
    data = json.loads(good.path.read_text())
    change(data)
    (tmp_path / "bad.json").write_text(json.dumps(data))
    assert main(["--storage", str(tmp_path), "list"]) == 0
    captured = capsys.readouterr()
    assert good.id in captured.out  # the good file still lists
    assert only_line(captured.err.splitlines()) == f"ganstab: skipped {tmp_path / 'bad.json'}: {line}"
