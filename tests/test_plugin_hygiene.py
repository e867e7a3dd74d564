"""Plugin hygiene: one entry point, each role disabled by its own name without breaking the others, and
one header line saying what the GAN tests run with.

pytest-ganstab has one ``pytest11`` entry point, ``ganstab`` (the core plugin), which registers its
siblings under their own names: ``-p no:ganstab`` turns the whole product off, ``-p no:ganstab-history``
(say) one role.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from inner_runs import warm_up

from pytest_ganstab.plugins.core import SIBLINGS, cuda_visible

warm_up()  # in-process inner runs train, write Parquet, event files and figures: load all that once
pytest.importorskip("matplotlib")

PROJECT = {
    "test_gan": """
        from pytest_ganstab import recipe

        def test_gan(ganstab):
            ganstab.train(recipe("nonsaturating", width=8, depth=1, batch_size=32), "ring8", steps=2, seeds=1)
        """,
    # The bench suite's pattern: the threads option, GPU-aware timing, a line for the summary.
    "test_bench_like": """
        from pytest_ganstab import bench
        from pytest_ganstab.plugins.bench import bench_threads

        def test_timed(benchmark, request):
            assert bench_threads(request.config) == 2
            bench.measure(benchmark, lambda: 1, rounds=1, warmup_rounds=0)
            bench.report(request.config, "a benchmark line")
        """,
}


def effects(root: Path, output: str) -> dict[str, bool]:
    """What each plugin left behind after one inner run, by plugin name."""
    summary = root / "summary.md"
    return {
        "ganstab": "ganstab stability summary" in output,
        "ganstab-history": any((root / ".ganstab").glob("*.json")),
        "ganstab-report": (root / "report" / "index.html").exists(),
        "ganstab-bench": "ganstab benchmarks" in output,
        "ganstab-traces": any((root / "traces").rglob("trace.*")),
        "ganstab-ci": summary.exists() and "ganstab stability summary" in summary.read_text(),
    }


def run_with_every_role_asked_for(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str):
    """Every role switched on through its environment twin, so a disabled plugin's option is no error."""
    pytester.makepyfile(**{name: textwrap.dedent(body) for name, body in PROJECT.items()})
    for name, value in {
        "GANSTAB": "1",
        "GANSTAB_AUTOSAVE": "1",
        "GANSTAB_REPORT": "report",
        "GANSTAB_TRACES": "traces",
        "GITHUB_STEP_SUMMARY": str(pytester.path / "summary.md"),
    }.items():
        monkeypatch.setenv(name, value)
    return pytester.runpytest(*args)


def test_every_role_works_when_all_are_on(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_with_every_role_asked_for(pytester, monkeypatch)
    result.assert_outcomes(passed=2)
    assert effects(pytester.path, result.stdout.str()) == dict.fromkeys(["ganstab", *SIBLINGS], True)


@pytest.mark.parametrize("disabled", SIBLINGS)
def test_disabling_one_role_leaves_the_others_working(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, disabled: str
) -> None:
    result = run_with_every_role_asked_for(pytester, monkeypatch, "-p", f"no:{disabled}")
    result.assert_outcomes(passed=2)
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    expected = {name: name != disabled for name in ["ganstab", *SIBLINGS]}
    assert effects(pytester.path, result.stdout.str()) == expected


def test_no_ganstab_turns_the_whole_product_off(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_with_every_role_asked_for(pytester, monkeypatch, "-p", "no:ganstab", "test_bench_like.py")
    result.assert_outcomes(passed=1)  # the bench suite's helpers work without any ganstab plugin
    assert not any(effects(pytester.path, result.stdout.str()).values())
    assert "ganstab" not in pytester.runpytest("-p", "no:ganstab", "--help").stdout.str()
    gan_test = pytester.runpytest("-p", "no:ganstab", "test_gan.py")
    gan_test.assert_outcomes(errors=1)
    gan_test.stdout.fnmatch_lines(["*fixture 'ganstab' not found*"])


def test_the_header_line_says_profile_device_seeds_and_where_results_go(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    quiet = pytester.runpytest()
    assert not [line for line in quiet.outlines if line.startswith("ganstab:")]  # not asked for: no line
    result = pytester.runpytest(
        "--ganstab", "--ganstab-seeds=3", "--ganstab-storage=runs", "--ganstab-traces=tr"
    )
    result.stdout.fnmatch_lines(
        ["ganstab: profile smoke, 3 seeds, steps x1, base seed 0, device auto; store */runs; traces */tr"]
    )
    without_history = pytester.runpytest("--ganstab", "-p", "no:ganstab-history")
    without_history.stdout.fnmatch_lines(
        ["ganstab: profile smoke, 4 seeds, steps x1, base seed 0, device auto"]
    )


@pytest.mark.skipif(cuda_visible(), reason="the line is for machines without a GPU")
def test_the_full_profile_on_a_machine_without_a_gpu_says_it_is_sized_for_one(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    full = pytester.runpytest("--ganstab", "--ganstab-profile=full")
    full.stdout.fnmatch_lines(["ganstab: profile full is sized for a GPU and none is visible: *hours*"])
    nightly = pytester.runpytest("--ganstab", "--ganstab-profile=nightly")
    assert "sized for a GPU" not in nightly.stdout.str()
