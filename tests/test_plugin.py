"""The pytest face, run end to end with pytester: opt-in, options, marker, fixtures, summary, xdist.

Inner test files train tiny GANs (width 8, batch 32, a few steps): these tests are about the plugin's
wiring, not about GANs.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap

import pytest

from pytest_ganstab.plugins import state, trainer
from pytest_ganstab.summary import COLUMNS

# In-process pytester runs put sys.modules back as they found it, and torch cannot load twice in one
# process: import what the inner runs load (torch.manual_seed loads torch._dynamo) once, here, to stay.
for _module in ("torch._dynamo", "pytest_ganstab.engine", "pytest_ganstab.metrics", "pytest_ganstab.records"):
    importlib.import_module(_module)

TINY = 'TINY = recipe("nonsaturating", width=8, depth=1, batch_size=32)\n'
HEADER = "import pytest\nfrom pytest_ganstab import recipe\n" + TINY


def write_tests(pytester: pytest.Pytester, body: str, name: str = "test_gan") -> None:
    pytester.makepyfile(**{name: HEADER + textwrap.dedent(body)})


# Writes what the ganstab fixture resolved to settings.json, so the outer test can read it.
REPORT_SETTINGS = """
import json

def report(ganstab):
    fields = ("device", "seeds", "steps_scale", "seed", "profile", "width")
    values = {name: str(getattr(ganstab, name)) for name in fields}
    with open("settings.json", "w") as file:
        json.dump(values, file)
"""


def resolved(pytester: pytest.Pytester, *args: str, marker: str = "") -> dict[str, str]:
    test = f"\n@pytest.mark.ganstab({marker})\ndef test_settings(ganstab):\n    report(ganstab)\n"
    write_tests(pytester, REPORT_SETTINGS + test)
    pytester.runpytest("--ganstab", *args).assert_outcomes(passed=1)
    with open(pytester.path / "settings.json") as file:
        values: dict[str, str] = json.load(file)
    return values


def test_marked_tests_are_skipped_with_how_to_run_them(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        @pytest.mark.ganstab
        def test_marked():
            pass

        def test_uses_the_fixture(ganstab):  # using the fixture opts in like the marker
            pass

        def test_plain():
            pass
        """,
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*GAN stability test: run it with pytest --ganstab (or GANSTAB=1)*"])
    pytester.runpytest("--ganstab").assert_outcomes(passed=3)


def test_ganstab_tests_can_be_turned_on_by_environment_or_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tests(pytester, "@pytest.mark.ganstab\ndef test_marked():\n    pass\n")
    monkeypatch.setenv("GANSTAB", "1")
    pytester.runpytest().assert_outcomes(passed=1)
    monkeypatch.delenv("GANSTAB")
    pytester.makeini("[pytest]\nganstab = true\n")
    pytester.runpytest().assert_outcomes(passed=1)


def test_without_options_a_test_gets_the_smoke_profile(pytester: pytest.Pytester) -> None:
    assert resolved(pytester) == {
        "device": "cpu" if not _cuda() else "cuda",
        "seeds": "4",
        "steps_scale": "1.0",
        "seed": "0",
        "profile": "smoke",
        "width": "64",
    }


def test_marker_beats_command_line_beats_environment_beats_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nganstab_seeds = 2\nganstab_seed = 11\nganstab_steps_scale = 0.5\n")
    monkeypatch.setenv("GANSTAB_SEEDS", "3")
    monkeypatch.setenv("GANSTAB_SEED", "12")
    assert resolved(pytester, "--ganstab-seeds", "5", marker="seeds=6")["seeds"] == "6"
    from_cli = resolved(pytester, "--ganstab-seeds", "5")
    assert (from_cli["seeds"], from_cli["seed"], from_cli["steps_scale"]) == ("5", "12", "0.5")
    assert resolved(pytester)["seeds"] == "3"
    monkeypatch.delenv("GANSTAB_SEEDS")
    assert resolved(pytester)["seeds"] == "2"


def test_a_profile_sets_seeds_steps_scale_and_width_unless_told_otherwise(pytester: pytest.Pytester) -> None:
    full = resolved(pytester, "--ganstab-profile", "full")
    assert [full[key] for key in ("profile", "seeds", "steps_scale", "width")] == ["full", "16", "5.0", "512"]
    assert resolved(pytester, "--ganstab-profile", "full", "--ganstab-seeds", "3")["seeds"] == "3"
    assert resolved(pytester, marker='profile="full"')["profile"] == "full"


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (
            ["--ganstab-profile", "fast"],
            {},
            "ERROR: --ganstab-profile: unknown profile 'fast'; choose smoke, nightly or full",
        ),
        (["--ganstab-device", "tpu"], {}, "ERROR: --ganstab-device: unknown device 'tpu'; use auto, cpu*"),
        (["--ganstab-seeds", "0"], {}, "ERROR: --ganstab-seeds: 0 is too small; give at least 1*"),
        ([], {"GANSTAB_STEPS_SCALE": "x"}, "ERROR: GANSTAB_STEPS_SCALE: 'x' is not a number"),
    ],
)
def test_a_bad_option_is_one_line_not_a_traceback(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    line: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = pytester.runpytest("--ganstab", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([line])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_a_marker_typo_is_a_collection_error_of_one_line(pytester: pytest.Pytester) -> None:
    write_tests(pytester, "@pytest.mark.ganstab(seed=3, steps=20)\ndef test_typo():\n    pass\n")
    result = pytester.runpytest("--ganstab")
    result.assert_outcomes(errors=1)
    assert (
        "test_typo: @pytest.mark.ganstab got unknown argument(s) seed; it takes seeds, steps, device, profile"
        in result.outlines
    )
    assert "Traceback" not in result.stdout.str()


def test_train_uses_the_resolved_steps_seeds_and_base_seed(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        def test_scaled(ganstab):
            run = ganstab.train(TINY, "ring8", steps=10)
            assert (run.steps, run.n_seeds, run.base_seed, run.device) == (5, 2, 7, "cpu")

        def test_a_case_calibrated_at_one_length_trains_it_exactly(ganstab):
            assert ganstab.train(TINY, "ring8", steps=10, scale_steps=False).steps == 10
            assert (ganstab.steps(10), ganstab.steps(10, scale_steps=False)) == (5, 10)

        @pytest.mark.ganstab(steps=4)
        def test_marker_steps_replace_the_tests(ganstab):
            assert ganstab.train(TINY, "ring8", steps=1000).steps == 2

        def test_explicit_seed_indices_are_kept(ganstab):
            assert ganstab.train(TINY, "ring8", steps=2, seeds=[5]).seeds == [5]

        @pytest.mark.ganstab(seeds=1)
        def test_marker_seeds_beat_the_calls(ganstab):
            assert ganstab.train(TINY, "ring8", steps=2, seeds=3).n_seeds == 1
        """,
    )
    options = ["--ganstab-steps-scale", "0.5", "--ganstab-seeds", "2", "--ganstab-seed", "7"]
    pytester.runpytest("--ganstab", *options, "--ganstab-device", "cpu").assert_outcomes(passed=5)


def test_bad_training_input_fails_the_test_with_one_line(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        import torch

        def test_zero_seeds(ganstab):
            ganstab.train(TINY, "ring8", steps=2, seeds=0)

        def test_generator_of_the_wrong_shape(ganstab):
            ganstab.train(TINY, "ring8", steps=2, generator=lambda: torch.nn.Linear(2, 3))
        """,
    )
    result = pytester.runpytest("--ganstab")
    result.assert_outcomes(failed=2)
    # One line each, in whichever order the tests ran (pytest-randomly shuffles the inner run too).
    result.stdout.fnmatch_lines(["ganstab.train: seeds=0: train at least 1 seed* (-vv shows the traceback)"])
    result.stdout.fnmatch_lines(
        ["ganstab.train: generator Linear returned shape [[]4, 3[]]*expected [[]4, 2[]]*"]
    )
    assert "engine.py" not in result.stdout.str()


def test_a_bug_in_the_users_own_module_keeps_its_traceback(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        import torch

        class Generator(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.layer = torch.nn.Linear(2, 2)
                self.calls = 0

            def forward(self, z):
                self.calls += 1
                if self.calls > 3:  # passes the engine's checks, then breaks in training
                    raise ValueError("a bug in my generator")
                return self.layer(z)

        def test_my_gan(ganstab):
            ganstab.train(TINY, "ring8", steps=5, seeds=1, generator=Generator)
        """,
    )
    result = pytester.runpytest("--ganstab")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ['*raise ValueError("a bug in my generator")*', "E*ValueError: a bug in my generator"]
    )


def test_toy_and_recipe_fixtures_take_names_indirectly(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        @pytest.mark.parametrize("ganstab_toy", ["ring8", "grid25"], indirect=True)
        @pytest.mark.parametrize("ganstab_recipe", ["wgan-gp"], indirect=True)
        def test_named(ganstab_toy, ganstab_recipe):
            assert ganstab_toy.name in ("ring8", "grid25") and ganstab_recipe.n_critic == 5

        def test_defaults_and_shortcuts(
            ganstab_toy, ganstab_recipe, ganstab_ring8, ganstab_grid25, ganstab_swissroll, ganstab_device
        ):
            assert (ganstab_toy.name, ganstab_recipe.name) == ("ring8", "nonsaturating")
            toys = (ganstab_ring8, ganstab_grid25, ganstab_swissroll)
            assert [toy.n_modes for toy in toys[:2]] + [toys[2].has_modes] == [8, 25, False]
            assert ganstab_device.type in ("cpu", "cuda")

        @pytest.mark.parametrize("ganstab_toy", ["ring9"], indirect=True)
        def test_unknown_name(ganstab_toy):
            pass
        """,
    )
    result = pytester.runpytest("-W", "error::DeprecationWarning")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["ganstab_toy fixture: unknown toy 'ring9'; known toys: *"])


OLD_FIXTURES = {
    "toy": "ganstab_toy",
    "gan_recipe": "ganstab_recipe",
    "ring8": "ganstab_ring8",
    "grid25": "ganstab_grid25",
    "swissroll": "ganstab_swissroll",
}


def test_the_01_fixture_names_still_work_and_warn_naming_their_replacement(pytester: pytest.Pytester) -> None:
    write_tests(
        pytester,
        """
        @pytest.mark.parametrize("toy", ["grid25"], indirect=True)
        @pytest.mark.parametrize("gan_recipe", ["wgan-gp"], indirect=True)
        def test_indirect(toy, gan_recipe):
            assert (toy.name, gan_recipe.n_critic) == ("grid25", 5)

        def test_shortcuts(ring8, grid25, swissroll):
            assert (ring8.n_modes, grid25.n_modes, swissroll.has_modes) == (8, 25, False)
        """,
    )
    result = pytester.runpytest("-W", "always::DeprecationWarning")
    result.assert_outcomes(passed=2)
    for old, new in OLD_FIXTURES.items():
        result.stdout.fnmatch_lines(
            [f"*the fixture '{old}' is deprecated and will be removed in 0.3; use '{new}'*"]
        )


def test_every_fixture_says_what_it_is_in_pytest_fixtures(pytester: pytest.Pytester) -> None:
    """``pytest --fixtures`` lists each fixture with its docstring's first line under its name."""
    result = pytester.runpytest("--fixtures")
    text = result.stdout.str()
    names = ["ganstab", "ganstab_device", *OLD_FIXTURES.values(), *OLD_FIXTURES]
    for name in names:
        after = text.split(f"\n{name} -- ", 1)
        assert len(after) == 2, f"{name} is not listed"
        description = after[1].split("\n")[1].strip()
        assert description and "no docstring available" not in description, name
    assert "use 'ganstab_toy'" in text or "use ``ganstab_toy``" in text


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def test_a_cuda_marker_skips_without_cuda_and_the_option_fails_clearly(pytester: pytest.Pytester) -> None:
    if _cuda():
        pytest.skip("this machine has CUDA")
    write_tests(
        pytester,
        """
        @pytest.mark.ganstab(device="cuda")
        def test_gpu_only(ganstab):
            ganstab.train(TINY, "ring8", steps=2)
        """,
    )
    result = pytester.runpytest("--ganstab", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.ganstab(device=...): needs cuda*"])
    write_tests(pytester, "def test_any(ganstab):\n    ganstab.train(TINY, 'ring8', steps=2)\n")
    result = pytester.runpytest("--ganstab", "--ganstab-device", "cuda")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["--ganstab-device: device='cuda': CUDA is not available*"])


SUMMARY_TESTS = """
from pytest_ganstab import Finding

def test_passes(ganstab):
    ganstab.train(TINY, "ring8", steps=3)
    ganstab.train(TINY, "grid25", steps=3)

def test_fails_a_check(ganstab):
    run = ganstab.train(TINY, "ring8", steps=3)
    run.notes.append("seeds ran one after another")
    run.findings.append(
        Finding(check="mode_coverage", passed=False, run=run.label, seeds=[0, 1], failed_seeds=[1],
                required=2, values={}, thresholds={}, message="seed 1 covers too few modes")
    )
    raise AssertionError(run.findings[0].message)
"""


def test_the_summary_lists_every_run_with_its_verdict(pytester: pytest.Pytester) -> None:
    write_tests(pytester, SUMMARY_TESTS)
    result = pytester.runpytest("--ganstab", "--ganstab-seeds", "2")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ganstab stability summary*",
            "profile smoke, 2 seeds, steps x1, base seed 0, device auto*",
            " *".join(COLUMNS),
            "test_gan.py::test_fails_a_check *ring8 *failed: mode_coverage *",  # in test order
            "test_gan.py::test_passes *nonsaturating *ring8 *2 *3 *cpu *?/8 *%*0/2 *passed *",
            "test_gan.py::test_passes *nonsaturating *grid25 *2 *3 *cpu *?/25 *",
            "notes:",
            "  - seeds ran one after another (test_gan.py::test_fails_a_check)",
        ]
    )
    assert not [line for line in result.outlines if line.startswith("  seed ")]  # per-seed rows need -v
    verbose = pytester.runpytest("--ganstab", "--ganstab-seeds", "2", "-v")
    verbose.stdout.fnmatch_lines(
        ["test_gan.py::test_fails_a_check *", "  seed 0 *", "  seed 1 * mode_coverage"]
    )


def test_sibling_plugins_read_the_sessions_records_and_runs(pytester: pytest.Pytester) -> None:
    write_tests(pytester, SUMMARY_TESTS)
    recorder = pytester.inline_run("--ganstab", "--ganstab-seeds", "2")
    config = recorder.getcalls("pytest_sessionfinish")[0].session.config
    records = state.session_records(config)
    # In test order whatever order the tests ran in; a test's own Runs in the order it made them.
    assert [(r["test"], r["toy"], r["outcome"]) for r in records] == [
        ("test_gan.py::test_fails_a_check", "ring8", "failed"),
        ("test_gan.py::test_passes", "ring8", "passed"),
        ("test_gan.py::test_passes", "grid25", "passed"),
    ]
    assert records[0]["findings"][0]["failed_seeds"] == [1]  # appended in the test body, kept at teardown
    assert [(test, run.toy.name) for test, run in state.session_runs(config)] == [
        (r["test"], r["toy"]) for r in records
    ]


def test_long_runs_show_progress_and_short_ones_stay_quiet(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tests(pytester, "def test_run(ganstab):\n    ganstab.train(TINY, 'ring8', steps=3, seeds=1)\n")
    assert "[nonsaturating on ring8" not in pytester.runpytest("--ganstab").stdout.str()
    monkeypatch.setattr(trainer, "PROGRESS_AFTER_S", 0.0)
    pytester.runpytest("--ganstab").stdout.fnmatch_lines(["*[[]nonsaturating on ring8 * done in *s[]]*"])


def test_under_xdist_each_worker_pins_a_gpu_and_the_controller_lists_every_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    body = """
        import os

        @pytest.mark.parametrize("ganstab_toy", ["ring8", "grid25"], indirect=True)
        def test_train(ganstab, ganstab_toy):
            ganstab.train(TINY, ganstab_toy, steps=2)
            with open(os.environ["PYTEST_XDIST_WORKER"] + ".gpu", "w") as file:
                file.write(os.environ["CUDA_VISIBLE_DEVICES"])
        """
    write_tests(pytester, body, "test_a")
    write_tests(pytester, body, "test_b")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")  # the GPUs this job may use; no CUDA is needed
    result = pytester.runpytest_subprocess("--ganstab", "--ganstab-seeds=1", "-n", "2", "--dist", "loadfile")
    result.assert_outcomes(passed=4)
    pinned = {path.stem: path.read_text() for path in pytester.path.glob("gw*.gpu")}
    assert pinned == {"gw0": "4", "gw1": "6"}
    result.stdout.fnmatch_lines(
        [
            "*ganstab stability summary*",
            "test_a.py::test_train[[]grid25[]] *",  # sorted by test: workers finish in any order
            "test_a.py::test_train[[]ring8[]] *",
            "test_b.py::test_train[[]grid25[]] *",
            "test_b.py::test_train[[]ring8[]] *",
        ]
    )


def test_importing_the_plugin_and_collecting_leave_torch_unimported(pytester: pytest.Pytester) -> None:
    check = "import pytest_ganstab.plugins.core, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", check], check=True)
    write_tests(pytester, "@pytest.mark.ganstab\ndef test_marked(ganstab):\n    pass\n")
    pytester.makeconftest(
        "import sys\n\ndef pytest_collection_finish(session):\n    assert 'torch' not in sys.modules\n"
    )
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
