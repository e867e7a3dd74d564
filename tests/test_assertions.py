"""Assertions on real (small, seeded) CPU runs: each phenomenon of docs/design.md §1 gets its verdict, with a
diagnosis that names seeds, numbers, steps, causes and remedies; plus the statistics across seeds."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from pytest_ganstab import (
    ClassCoverageError,
    Finding,
    GeneratorStuckError,
    Run,
    StabilityError,
    assert_generator_learns,
    assert_gradients_healthy,
    assert_mode_coverage,
    assert_no_discriminator_dominance,
    assert_no_divergence,
    assert_stable,
    metrics,
    recipe,
    train,
)
from pytest_ganstab.assertions import (
    DiscriminatorDominanceError,
    DivergenceError,
    GradientHealthError,
    ModeCoverageError,
    diagnose,
)
from pytest_ganstab.stats import bootstrap_ci, format_interval, required_passes

# A strong D: 10× G's learning rate and 4× its width. Minimax and nonsaturating differ only in G's loss.
STRONG_D = {"batch_size": 128, "d_lr": 1e-3, "g_width": 32, "d_width": 128}


@pytest.fixture(scope="module")
def minimax() -> Run:
    return train(recipe("minimax", **STRONG_D), "ring8", seeds=4, steps=400)


@pytest.fixture(scope="module")
def nonsaturating() -> Run:
    return train(recipe("nonsaturating", **STRONG_D), "ring8", seeds=4, steps=400)


@pytest.fixture(scope="module")
def exploding() -> Run:
    """A learning rate of 10 with plain SGD: three seeds go NaN within 5 steps, one blows up its loss."""
    return train(
        recipe("nonsaturating", width=32, batch_size=64, optimizer="sgd", g_lr=10, d_lr=10),
        "ring8",
        seeds=4,
        steps=100,
    )


@pytest.fixture(scope="module")
def stable() -> Run:
    return train(
        recipe("nonsaturating", width=64, batch_size=128, g_lr=1e-3, d_lr=1e-3),
        "mixture1d",
        seeds=4,
        steps=500,
    )


def fresh(run: Run) -> Run:
    """The same Run with no findings yet, so a test sees only what it appended."""
    return dataclasses.replace(run, findings=[])


# ---------------------------------------------------------------- real phenomena, real verdicts


def test_saturating_minimax_with_a_strong_d_is_dominated_and_g_loses_its_signal(minimax: Run) -> None:
    with pytest.raises(DiscriminatorDominanceError) as caught:
        assert_no_discriminator_dominance(fresh(minimax))
    finding = caught.value.findings[0]
    assert finding.failed_seeds == [0, 1, 2, 3]
    assert min(finding.values["auc_above"]) > 0.99
    assert max(finding.values["signal_ratio"]) < 1e-3
    assert finding.cause is not None and finding.cause.startswith("(1) asymmetric objectives")
    with pytest.raises(GradientHealthError, match="G's learning signal"):
        assert_gradients_healthy(fresh(minimax))


def test_nonsaturating_under_the_same_settings_keeps_a_far_larger_signal(
    minimax: Run, nonsaturating: Run
) -> None:
    saturating = metrics.key_metrics(minimax)["g_signal"]
    non_saturating = metrics.key_metrics(nonsaturating)["g_signal"]
    assert non_saturating.min() > 1000 * saturating.max()
    assert assert_gradients_healthy(fresh(nonsaturating)).passed
    # D still dominates; without the minimax loss the evidence points to balance and capacity instead.
    with pytest.raises(DiscriminatorDominanceError) as caught:
        assert_no_discriminator_dominance(fresh(nonsaturating))
    cause = caught.value.findings[0].cause
    assert cause is not None and cause.startswith("(2) broken balance") and "(4) capacity mismatch" in cause
    assert "(1)" not in cause


def test_a_learning_rate_of_10_fails_divergence_at_the_first_nonfinite_step_without_crashing(
    exploding: Run,
) -> None:
    with pytest.raises(DivergenceError) as caught:
        assert_no_divergence(fresh(exploding))
    finding = caught.value.findings[0]
    first = metrics.first_nonfinite(exploding)
    assert np.isfinite(first).sum() >= 2
    for seed, step in zip(exploding.seeds, first, strict=True):
        if np.isfinite(step):
            assert f"seed {seed}: non-finite loss or gradient from step {step:.0f}" in finding.message
    assert finding.step is not None and finding.step <= np.nanmin(first)
    assert finding.cause is not None and finding.cause.startswith("(3) loss geometry")
    assert 'optimizer="adam"' in finding.message
    assert len(diagnose(exploding)) == 5  # every other check still answers
    assert metrics.key_metrics(exploding)["nonfinite"].sum() >= 2


def test_a_stable_recipe_passes_every_assertion(stable: Run) -> None:
    run = fresh(stable)
    findings = assert_stable(run)
    assert [finding.check for finding in findings] == [
        "divergence",
        "discriminator_dominance",
        "gradients",
        "generator_learns",
        "mode_coverage",
    ]
    assert all(finding.passed and not finding.failed_seeds for finding in findings)
    assert run.findings == findings


CHECKS: list[tuple[Callable[..., Finding], type[StabilityError], str]] = [
    (assert_no_discriminator_dominance, DiscriminatorDominanceError, "minimax"),
    (assert_gradients_healthy, GradientHealthError, "minimax"),
    (assert_generator_learns, GeneratorStuckError, "minimax"),
    (assert_mode_coverage, ModeCoverageError, "minimax"),
    (assert_no_divergence, DivergenceError, "exploding"),
]


@pytest.mark.parametrize(("check", "error", "failing"), CHECKS, ids=[c[0].__name__ for c in CHECKS])
def test_every_assertion_fails_on_one_real_run_and_passes_on_another(
    check: Callable[..., Finding],
    error: type[StabilityError],
    failing: str,
    stable: Run,
    request: pytest.FixtureRequest,
) -> None:
    bad = fresh(request.getfixturevalue(failing))
    with pytest.raises(error):
        check(bad)
    assert len(bad.findings) == 1 and not bad.findings[0].passed  # appended before raising
    good = fresh(stable)
    assert check(good).passed and good.findings[0].passed


# ---------------------------------------------------------------- diagnoses


def test_the_failure_message_names_the_seeds_the_numbers_the_step_and_a_remedy(minimax: Run) -> None:
    with pytest.raises(DiscriminatorDominanceError) as caught:
        assert_no_discriminator_dominance(fresh(minimax), auc_threshold=0.9)
    finding, message = caught.value.findings[0], str(caught.value)
    assert message.startswith(
        "discriminator dominance in 4 of 4 seeds (needed all 4 to pass) — minimax on ring8"
    )
    for seed, auc, since in zip(
        finding.seeds, finding.values["d_auc"], finding.values["dominant_from"], strict=True
    ):
        assert f"seed {seed}: AUC {auc:.3f} (> 0.9 on 100% of the last 80 steps, limit 50%)" in message
        assert f"above it from step {since:.0f} on" in message
    assert finding.step == min(finding.values["dominant_from"])
    assert "likely cause: (1) asymmetric objectives" in message
    assert 'recipe("nonsaturating")' in message and "d_lr ≤ g_lr (now d_lr=0.001, g_lr=0.0001)" in message
    assert finding.thresholds == {"auc_threshold": 0.9, "max_dominant_fraction": 0.5}


def test_assert_stable_raises_the_first_failed_check_and_carries_every_failure(exploding: Run) -> None:
    run = fresh(exploding)
    with pytest.raises(DivergenceError) as caught:
        assert_stable(run)
    failed = [finding.check for finding in caught.value.findings]
    assert failed == [
        "divergence",
        "discriminator_dominance",
        "gradients",
        "generator_learns",
        "mode_coverage",
    ]
    assert len(run.findings) == 5
    assert "no finite record in the window (non-finite from step" in str(caught.value)


def test_diagnose_returns_the_same_findings_as_data_without_raising(minimax: Run) -> None:
    findings = minimax.diagnose()
    assert [f.passed for f in findings] == [True, False, False, False, False]
    with pytest.raises(StabilityError) as caught:
        assert_stable(fresh(minimax))
    assert [f.message for f in findings if not f.passed] == [f.message for f in caught.value.findings]
    assert all(isinstance(f.to_dict()["ci"], dict) for f in findings)


def test_toys_without_modes_skip_mode_coverage_in_assert_stable_but_are_refused_by_assert_mode_coverage() -> (
    None
):
    roll = train(recipe("nonsaturating", width=16, batch_size=32), "swissroll", seeds=2, steps=20)
    checks = [f.check for f in diagnose(roll)]
    assert checks == ["divergence", "discriminator_dominance", "gradients", "generator_learns"]
    with pytest.raises(
        ValueError, match=r"toy 'swissroll' has no modes to cover; judge it with metrics\.precision_recall"
    ):
        assert_mode_coverage(roll)


def test_a_conditional_run_is_also_judged_on_class_coverage_and_an_unconditional_one_is_not() -> None:
    small = recipe("nonsaturating", width=16, batch_size=32)
    conditional = train(small, "ring8", seeds=2, steps=20, conditional=True)
    assert [f.check for f in diagnose(conditional)] == [
        "divergence",
        "discriminator_dominance",
        "gradients",
        "generator_learns",
        "mode_coverage",
        "class_coverage",
    ]
    unconditional = train(small, "ring8", seeds=2, steps=20)
    assert "class_coverage" not in [f.check for f in diagnose(unconditional)]
    # assert_stable raises a class coverage failure as its own error, a kind of mode coverage error.
    assert issubclass(ClassCoverageError, ModeCoverageError)
    with pytest.raises(StabilityError) as caught:
        assert_stable(fresh(conditional))
    assert "class_coverage" in [f.check for f in caught.value.findings]


def test_generator_learning_is_judged_where_g_can_be_seen_before_training() -> None:
    """The recipe's G is rebuilt at its initial weights from the seeds' keys (they alone decide them): the
    rebuilt G's samples are the samples of a G that never updated, bit for bit."""
    never = train(
        recipe("nonsaturating", width=16, batch_size=32),
        "ring8",
        seeds=2,
        steps=5,
        scheduler=lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.0),
    )
    first = never.first_samples(300)
    assert first is not None and torch.equal(first, never.samples(300))
    assert torch.equal(never.samples(100), never.samples(300)[:, :100])  # the fixed latents are a prefix


# ---------------------------------------------------------------- quorum and statistics across seeds


@pytest.fixture(scope="module")
def hq_between_two_seeds(stable: Run) -> float:
    """An HQ threshold that exactly one seed of the stable run misses."""
    hq = np.sort(metrics.mode_coverage(stable.samples(), stable.toy)["hq"].to_numpy())
    return float((hq[0] + hq[1]) / 2)


@pytest.mark.parametrize(
    ("quorum", "passes"), [(None, False), (4, False), (1.0, False), (3, True), (0.75, True)]
)
def test_a_quorum_of_seeds_decides(
    stable: Run, hq_between_two_seeds: float, quorum: Any, passes: bool
) -> None:
    findings = diagnose(stable, quorum=quorum, min_hq=hq_between_two_seeds)
    coverage = findings[-1]
    assert coverage.check == "mode_coverage" and coverage.passed is passes and len(coverage.failed_seeds) == 1
    assert coverage.required == required_passes(quorum, 4)


def test_a_quorum_pass_with_a_failed_seed_still_reports_it(stable: Run, hq_between_two_seeds: float) -> None:
    finding = assert_mode_coverage(fresh(stable), quorum=3, min_hq=hq_between_two_seeds)
    assert finding.passed and finding.message.startswith("mode coverage: 3 of 4 seeds passed (needed 3 of 4)")
    assert f"seed {finding.failed_seeds[0]}: 3 of 3 modes" in finding.message
    assert finding.cause is not None and finding.remedies == ()


def test_every_verdict_carries_per_seed_values_and_a_confidence_interval(stable: Run) -> None:
    for finding in diagnose(stable):
        assert finding.seeds == [0, 1, 2, 3]
        assert all(len(values) == 4 for values in finding.values.values())
        for mean, low, high in finding.ci.values():
            assert low <= mean <= high
        assert "over 4 seeds" in finding.message


def test_more_seeds_give_a_narrower_interval_and_one_seed_says_it_has_none() -> None:
    values = np.array([0.7, 0.9] * 4)
    eight, two = bootstrap_ci(values), bootstrap_ci(values[:2])
    assert two == (0.8, 0.7, 0.9)  # two seeds: the interval is all their resampled means can say
    assert 0.7 < eight.low < eight.high < 0.9
    assert bootstrap_ci(values) == eight  # seeded: the same values give the same interval
    assert bootstrap_ci([0.7]) == (0.7, 0.7, 0.7)
    assert "1 seed: no confidence interval" in format_interval(bootstrap_ci([0.7]), 1)
    assert format_interval(eight, 8).endswith("over 8 seeds")
    assert all(math.isnan(x) for x in bootstrap_ci([math.nan]))


def test_a_quorum_is_all_seeds_a_count_or_a_fraction() -> None:
    assert required_passes(None, 8) == 8 and required_passes(5, 8) == 5
    assert required_passes(0.75, 4) == 3 and required_passes(0.5, 3) == 2 and required_passes(1.0, 4) == 4
    for bad in (0, 9, 0.0, 1.5, -0.5):
        with pytest.raises(ValueError, match="quorum="):
            required_passes(bad, 8)
    with pytest.raises(TypeError, match="quorum=True"):
        required_passes(True, 8)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("check", "thresholds", "named"),
    [
        (assert_no_discriminator_dominance, {"auc_threshold": 1.2}, "auc_threshold=1.2"),
        (assert_no_discriminator_dominance, {"max_dominant_fraction": 1.0}, "max_dominant_fraction=1.0"),
        (assert_gradients_healthy, {"signal_floor": 0}, "signal_floor=0"),
        (assert_gradients_healthy, {"grad_ceiling": -1}, "grad_ceiling=-1"),
        (assert_generator_learns, {"min_progress": 0}, "min_progress=0"),
        (assert_generator_learns, {"chance_auc": 1.0}, "chance_auc=1.0"),
        (assert_mode_coverage, {"min_hq": 1.5}, "min_hq=1.5"),
        (assert_mode_coverage, {"min_modes": 9}, "min_modes=9"),
        (assert_mode_coverage, {"max_reverse_kl": -0.1}, "max_reverse_kl=-0.1"),
        (assert_no_divergence, {"max_loss": 0}, "max_loss=0"),
        (assert_no_divergence, {"window": 2.0}, "window=2.0"),
        (assert_no_divergence, {"quorum": 5}, "quorum=5"),
    ],
)
def test_thresholds_out_of_range_are_refused_by_name(
    stable: Run, check: Callable[..., Finding], thresholds: dict[str, Any], named: str
) -> None:
    run = fresh(stable)
    with pytest.raises(ValueError, match=named):
        check(run, **thresholds)
    assert run.findings == []


def test_an_empty_run_and_unknown_thresholds_get_clear_errors(stable: Run) -> None:
    no_seeds = dataclasses.replace(stable, seeds=[], trace=stable.trace.iloc[:0], findings=[])
    with pytest.raises(ValueError, match="has no seeds; there is nothing to judge"):
        assert_stable(no_seeds)
    blind = train(recipe("nonsaturating", width=16, batch_size=32), "ring8", seeds=1, steps=3, probes=False)
    with pytest.raises(ValueError, match=r"recorded no steps \(trained with probes=False\?\)"):
        assert_no_discriminator_dominance(blind)
    with pytest.raises(TypeError, match=r"unknown threshold.*auc_treshold"):
        diagnose(stable, auc_treshold=0.9)
    with pytest.raises(TypeError, match="give the Run that train"):
        assert_no_divergence(stable.trace)  # type: ignore[arg-type]
