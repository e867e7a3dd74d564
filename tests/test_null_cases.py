"""Tests of the tests: each check must fail a null case and pass a real one under the same setting.

A check whose verdict does not change between samples that carry no information about the data (noise over
its bounding box, every sample at the origin, every sample on one mode, a G that never updates) and samples
of the data itself measures nothing. Hand-made samples are judged through ``fixed_runs.run_of``, a Run whose
G returns them; real trainings supply the nulls that need a training loop (a G or D that never learns).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from fixed_runs import run_of
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from pytest_ganstab import (
    DEFAULTS,
    GeneratorStuckError,
    ModeCoverageError,
    Run,
    Toy,
    assert_generator_learns,
    assert_mode_coverage,
    assert_no_discriminator_dominance,
    metrics,
    recipe,
    toy,
    train,
)
from pytest_ganstab.assertions.checks import GENERATOR_LEARNS
from pytest_ganstab.assertions.diagnosis import D_STILL, G_STILL

N = DEFAULTS.samples
SEEDS = 2


def draws(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def bounding_box(data: Toy) -> tuple[torch.Tensor, torch.Tensor]:
    """The smallest box holding 10,000 of the data's samples."""
    sample = data.sample(10_000, generator=draws(0))
    return sample.min(0).values, sample.max(0).values


def uniform_in_box(data: Toy) -> torch.Tensor:
    low, high = bounding_box(data)
    return low + (high - low) * torch.rand(SEEDS, N, data.dim, generator=draws(1))


def at_origin(data: Toy) -> torch.Tensor:
    return torch.zeros(SEEDS, N, data.dim)


def on_one_mode(data: Toy) -> torch.Tensor:
    assert data.centers is not None and data.std is not None
    return data.centers[0] + data.std[0] * torch.randn(SEEDS, N, data.dim, generator=draws(2))


def from_the_data(data: Toy) -> torch.Tensor:
    generator = draws(3)
    return torch.stack([data.sample(N, generator=generator) for _ in range(SEEDS)])


NULLS: dict[str, Callable[[Toy], torch.Tensor]] = {
    "uniform over the bounding box": uniform_in_box,
    "all at the origin": at_origin,
    "all on one mode": on_one_mode,
}
# The settings mode coverage is used with: the default (every mode), and the counts the suites ask of a short
# run (ring8 6 of 8, grid25 10 of 25) up to every mode.
SETTINGS = [
    *[("ring8", m) for m in (6, 7, 8, None)],
    *[("grid25", m) for m in (10, 15, 20, 25, None)],
    *[("blobs9", m) for m in (6, 9, None)],
]
SETTING_IDS = [f"{name}-min_modes={m}" for name, m in SETTINGS]


# ---------------------------------------------------------------- mode coverage


@pytest.mark.parametrize("null", list(NULLS))
@pytest.mark.parametrize(("name", "min_modes"), SETTINGS, ids=SETTING_IDS)
def test_every_null_sample_fails_mode_coverage_at_the_default_hq(
    name: str, min_modes: int | None, null: str
) -> None:
    data = toy(name)
    with pytest.raises(ModeCoverageError) as raised:
        assert_mode_coverage(run_of(NULLS[null](data), data), min_modes=min_modes)
    assert raised.value.findings[0].failed_seeds == list(range(SEEDS))


@pytest.mark.parametrize(("name", "min_modes"), SETTINGS, ids=SETTING_IDS)
def test_samples_of_the_data_pass_the_same_settings(name: str, min_modes: int | None) -> None:
    data = toy(name)
    finding = assert_mode_coverage(run_of(from_the_data(data), data), min_modes=min_modes)
    assert finding.passed and "spread" not in finding.message


def test_noise_passes_a_mode_count_without_an_hq_floor_and_the_finding_says_it_measures_spread() -> None:
    """The suites' short-run setting judges modes only (min_hq=0): uniform noise then counts most of grid25's
    modes, at an HQ no better than chance. The verdict cannot tell noise from capture at that setting, so the
    finding says so, seed by seed; at the default HQ the same noise fails (above)."""
    data = toy("grid25")
    noise = run_of(uniform_in_box(data), data)
    coverage = metrics.mode_coverage(noise.samples(N), data)
    assert (coverage["modes"] >= 20).all() and (coverage["hq"] < 0.03).all()
    finding = assert_mode_coverage(noise, min_modes=10, min_hq=0.0, max_reverse_kl=None)
    assert finding.passed
    for seed, modes, hq in zip(noise.seeds, coverage["modes"], coverage["hq"], strict=True):
        assert (
            f"seed {seed} passed, but its {modes} modes counted at HQ {hq:.1%} measure spread, not capture: "
            "below HQ 50% most samples lie off every mode"
        ) in finding.message
    assert finding.thresholds["capture_hq"] == DEFAULTS.min_hq


# ---------------------------------------------------------------- generator learns, on hand-made samples


def test_samples_that_never_move_fail_generator_learns_and_the_diagnosis_says_g_was_never_updated() -> None:
    data = toy("ring8")
    still = at_origin(data) + 0.05 * torch.randn(SEEDS, N, 2, generator=draws(4))
    with pytest.raises(GeneratorStuckError) as raised:
        assert_generator_learns(run_of(still, data, first=still))
    finding = raised.value.findings[0]
    assert finding.values["progress"] == [0.0, 0.0] and finding.values["moved"] == [0.0, 0.0]
    assert "its samples did not move at all" in finding.message
    assert finding.cause is not None and finding.cause.startswith(G_STILL)
    assert finding.remedies[0].startswith("check G's optimiser")


def test_samples_that_move_away_from_the_data_fail_generator_learns() -> None:
    data = toy("ring8")
    start = at_origin(data) + 0.05 * torch.randn(SEEDS, N, 2, generator=draws(5))
    with pytest.raises(GeneratorStuckError, match="seed 0: G moved away from the data") as raised:
        assert_generator_learns(run_of(start + 10, data, first=start))
    assert max(raised.value.findings[0].values["progress"]) < -5


def test_samples_that_reach_the_data_pass_and_samples_that_start_there_have_nothing_to_learn() -> None:
    data = toy("ring8")
    start = at_origin(data) + 0.05 * torch.randn(SEEDS, N, 2, generator=draws(6))
    learned = assert_generator_learns(run_of(from_the_data(data), data, first=start))
    assert min(learned.values["progress"]) > 0.99
    # Already at the data both ways (within twice its own distance): passes, whatever the progress says.
    assert assert_generator_learns(run_of(from_the_data(data), data, first=from_the_data(data))).passed


def test_a_run_that_cannot_show_its_g_before_training_is_refused_and_skipped_by_the_checks_table() -> None:
    data = toy("ring8")
    blind = run_of(from_the_data(data), data)  # a user's G, and no samples kept from before training
    assert not GENERATOR_LEARNS.applies(blind)
    with pytest.raises(ValueError, match=r"kept no samples from before training.*Run\.initial_samples"):
        assert_generator_learns(blind)


# ---------------------------------------------------------------- generator learns, on real trainings


def freeze(learning_rate: float) -> Callable[[torch.optim.Optimizer], LambdaLR]:
    """An lr scheduler factory that sets to 0 the optimiser started at ``learning_rate`` (G's or D's, when
    the recipe gives them different rates) and leaves the other alone."""

    def schedule(optimizer: torch.optim.Optimizer) -> LambdaLR:
        frozen = optimizer.param_groups[0]["lr"] == learning_rate
        return LambdaLR(optimizer, lambda step: 0.0 if frozen else 1.0)

    return schedule


class ConstantD(nn.Module):
    """A D stuck at chance: the same score for every input, so it gives G no gradient and learns nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] * 0 * self.weight


@pytest.fixture(scope="module")
def healthy() -> Run:
    """The default recipe on ring8 for 300 steps: not yet on the modes, but well on its way to the data."""
    return train("nonsaturating", "ring8", seeds=4, steps=300)


def test_a_short_default_run_learns_though_it_has_not_captured_the_modes_yet(healthy: Run) -> None:
    finding = assert_generator_learns(healthy)
    assert min(finding.values["progress"]) > 0.25  # measured 0.29, 0.61, 0.73, 0.69
    with pytest.raises(ModeCoverageError):  # learning is not converging: that is mode coverage's verdict
        assert_mode_coverage(healthy)


def trained_null(how: str) -> Run:
    if how == "G at learning rate 0":
        return train(
            recipe("nonsaturating", g_lr=2e-4), "ring8", seeds=SEEDS, steps=100, scheduler=freeze(2e-4)
        )
    if how == "G and D at learning rate 0":
        zero = lambda optimizer: LambdaLR(optimizer, lambda step: 0.0)  # noqa: E731
        return train("nonsaturating", "ring8", seeds=SEEDS, steps=100, scheduler=zero)
    if how == "D at learning rate 0":
        # 300 steps: a D that never updates pushes G along one direction for ever, and on ring8 that way
        # crosses the data first (at 50 and 100 steps G is still passing through it and "learns").
        return train(
            recipe("nonsaturating", d_lr=2e-4), "ring8", seeds=SEEDS, steps=300, scheduler=freeze(2e-4)
        )
    return train("nonsaturating", "ring8", seeds=SEEDS, steps=100, discriminator=ConstantD)


@pytest.mark.parametrize(
    ("how", "leads"),
    [
        ("G at learning rate 0", [G_STILL]),
        ("G and D at learning rate 0", [G_STILL, D_STILL]),
        ("D at learning rate 0", [D_STILL]),
        ("D constant, at chance", [G_STILL, D_STILL]),
    ],
)
def test_a_g_or_d_that_never_learns_fails_generator_learns_with_its_cause(how: str, leads: list[str]) -> None:
    run = trained_null(how)
    with pytest.raises(GeneratorStuckError) as raised:
        assert_generator_learns(run)
    finding = raised.value.findings[0]
    assert finding.failed_seeds == list(range(SEEDS))
    assert max(finding.values["progress"]) <= 0
    assert finding.cause is not None and finding.cause.startswith("; also ".join(leads))


def test_a_frozen_d_passes_the_dominance_check_so_only_generator_learns_names_it() -> None:
    """A D that never updates keeps its initial scores: G runs away along them, and D's AUC falls to 0,
    far from dominance. Without this check only mode coverage would fail, blaming complex data (cause 5)."""
    run = trained_null("D at learning rate 0")
    assert assert_no_discriminator_dominance(run).passed
    with pytest.raises(GeneratorStuckError, match="moved away from the data"):
        assert_generator_learns(run)
