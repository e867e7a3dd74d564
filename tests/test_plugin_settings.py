"""How a ganstab test's settings are decided: precedence, profiles, bad values, GPU pinning (pure Python)."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest

from pytest_ganstab.options import lookup, option, process_sources
from pytest_ganstab.plugins.xdist import pinned_gpu, worker_threads
from pytest_ganstab.settings import PROFILES, Layer, SettingError, marker_layer, resolve


def layers(**by_kind: Mapping[str, object]) -> list[Layer]:
    return [Layer(kind, by_kind.get(kind, {})) for kind in ("marker", "cli", "env", "ini")]


def test_nothing_set_gives_the_smoke_profile_on_auto() -> None:
    settings = resolve(layers())
    smoke = PROFILES["smoke"]
    assert (settings.profile, settings.seeds, settings.steps_scale) == (smoke, smoke.seeds, smoke.steps_scale)
    assert (settings.device, settings.seed, settings.steps) == ("auto", 0, None)
    assert settings.sources["seeds"] == "profile smoke"


@pytest.mark.parametrize(
    ("present", "winner", "source"),
    [
        (("marker", "cli", "env", "ini"), 1, "@pytest.mark.ganstab(seeds=...)"),
        (("cli", "env", "ini"), 2, "--ganstab-seeds"),
        (("env", "ini"), 3, "GANSTAB_SEEDS"),
        (("ini",), 5, "ini option ganstab_seeds"),
    ],
)
def test_marker_beats_cli_beats_env_beats_ini(present: tuple[str, ...], winner: int, source: str) -> None:
    values = {"marker": 1, "cli": "2", "env": "3", "ini": "5"}
    settings = resolve(layers(**{kind: {"seeds": values[kind]} for kind in present}))
    assert settings.seeds == winner
    assert settings.sources["seeds"] == source


def test_a_profile_fills_only_what_no_layer_set() -> None:
    settings = resolve(layers(marker={"profile": "full"}, cli={"seeds": "8"}))
    assert settings.profile.name == "full"
    assert settings.seeds == 8  # the command line's, not the profile's 16
    assert settings.steps_scale == PROFILES["full"].steps_scale


def test_steps_are_scaled_and_never_reach_zero() -> None:
    settings = resolve(layers(env={"steps_scale": "0.25"}))
    assert settings.scaled(200) == 50
    assert settings.scaled(1) == 1


def test_only_the_marker_sets_steps() -> None:
    assert resolve(layers(marker={"steps": 30})).steps == 30


@pytest.mark.parametrize(
    ("kind", "key", "value", "message"),
    [
        (
            "cli",
            "profile",
            "fast",
            "--ganstab-profile: unknown profile 'fast'; choose smoke, nightly or full",
        ),
        ("env", "device", "tpu", "GANSTAB_DEVICE: unknown device 'tpu'; use auto, cpu, cuda or cuda:N"),
        ("cli", "seeds", "0", "--ganstab-seeds: 0 is too small; give at least 1 (e.g. seeds=4)"),
        ("ini", "seeds", "four", "ini option ganstab_seeds: 'four' is not a whole number"),
        ("cli", "steps_scale", "-1", "--ganstab-steps-scale: '-1' must be a positive number"),
        ("env", "seed", "-3", "GANSTAB_SEED: -3 is too small; give a base seed of 0 or more"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_source(kind: str, key: str, value: str, message: str) -> None:
    with pytest.raises(SettingError) as caught:
        resolve(layers(**{kind: {key: value}}))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_cuda_devices_are_accepted_by_name_without_torch() -> None:
    assert resolve(layers(cli={"device": "CUDA:1"})).device == "cuda:1"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {"seed": 3}, "@pytest.mark.ganstab got unknown argument(s) seed; it takes seeds, steps, device"),
        ((4,), {}, "@pytest.mark.ganstab takes keyword arguments only"),
        ((), {"steps": 0}, "@pytest.mark.ganstab(steps=...): 0 is too small"),
        ((), {"seeds": 2.5}, "@pytest.mark.ganstab(seeds=...): 2.5 is not a whole number"),
        ((), {"device": "gpu"}, "@pytest.mark.ganstab(device=...): unknown device 'gpu'"),
    ],
)
def test_marker_arguments_are_checked(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingError, match=re.escape(message)):
        marker_layer(args, kwargs)


def enabled(cli: bool | None, env: str | None, ini: str) -> bool:
    sources = process_sources(
        {"ganstab": cli}, ini={"ganstab": ini}, env={} if env is None else {"GANSTAB": env}
    )
    return bool(lookup(option("ganstab"), sources, False).value)


def test_opt_in_comes_from_the_flag_then_the_environment_then_the_ini() -> None:
    assert enabled(cli=True, env="0", ini="false")
    assert not enabled(cli=None, env="0", ini="true")
    assert enabled(cli=None, env=None, ini="true")
    with pytest.raises(SettingError, match="GANSTAB: 'maybe' is not a yes/no value; use 1 or 0"):
        enabled(cli=None, env="maybe", ini="")
    with pytest.raises(SettingError, match="ini option ganstab: 'maybe' is not a yes/no value"):
        enabled(cli=None, env=None, ini="maybe")


@pytest.mark.parametrize(
    ("worker", "visible", "count", "pinned"),
    [
        ("gw0", None, 4, "0"),
        ("gw5", None, 4, "1"),  # more workers than GPUs: round-robin
        ("gw1", "4,6", 8, "6"),  # indexes into the GPUs this job was given, not the machine's
        ("gw2", " 3, 5 ,", 0, "3"),
        ("gw1", "GPU-aa,GPU-bb", 0, "GPU-bb"),  # UUIDs work like indices
        ("gw1", "7", 8, None),  # one GPU: nothing to share out
        ("gw1", "", 8, None),  # CUDA hidden on purpose
        ("gw1", None, 0, None),  # no GPU
        (None, None, 4, None),  # not an xdist worker
    ],
)
def test_each_xdist_worker_gets_a_gpu_of_its_own(
    worker: str | None, visible: str | None, count: int, pinned: str | None
) -> None:
    assert pinned_gpu(worker, visible, count) == pinned


@pytest.mark.parametrize(
    ("workers", "cores", "preset", "expected"),
    [
        ("2", 2, None, "1"),  # two workers on two cores: one thread each, not two spinning against each other
        ("2", 16, None, "8"),
        ("8", 2, None, "1"),  # never zero threads
        ("2", 2, "4", None),  # the user's own OMP_NUM_THREADS wins
        (None, 2, None, None),  # not under xdist
    ],
)
def test_xdist_workers_share_the_cpu_cores(
    workers: str | None, cores: int, preset: str | None, expected: str | None
) -> None:
    assert worker_threads(workers, cores, preset) == expected
