"""Metrics against their definitions: analytic values on known samples, and traces with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from pytest_ganstab import metrics, recipe, toy, train
from pytest_ganstab.metrics import knn

# docs/design.md §4: true samples of a 2-D mixture are HQ with probability P[χ²₂ < 3²] = 1 − e^(−4.5).
HQ_TRUE_2D = 1 - math.exp(-4.5)


def true_samples(name: str, seeds: int = 4, n: int = 2500) -> torch.Tensor:
    data = toy(name)
    generator = torch.Generator().manual_seed(0)
    return torch.stack([data.sample(n, generator=generator) for _ in range(seeds)])


def uniform_samples(name: str, n: int = 2500) -> torch.Tensor:
    data = toy(name)
    assert data.centers is not None
    half_width = 1.2 * float(data.centers.abs().max())
    generator = torch.Generator().manual_seed(1)
    return (2 * torch.rand(1, n, data.dim, generator=generator) - 1) * half_width


# ---------------------------------------------------------------- mode coverage


@pytest.mark.parametrize(
    ("name", "expected_hq"), [("ring8", HQ_TRUE_2D), ("grid25", HQ_TRUE_2D), ("ring8-embedded", 1.0)]
)
def test_true_samples_capture_every_mode_at_the_chi_square_hq(name: str, expected_hq: float) -> None:
    data = toy(name)
    frame = metrics.mode_coverage(true_samples(name), data)
    assert list(frame["seed"]) == [0, 1, 2, 3]
    assert (frame["modes"] == data.n_modes).all()
    assert frame["hq"].to_numpy() == pytest.approx(expected_hq, abs=0.01)
    assert (frame["reverse_kl"] < 0.01).all()


@pytest.mark.parametrize("name", ["ring8", "grid25", "ring8-embedded"])
def test_samples_collapsed_onto_one_mode_score_one_mode_and_reverse_kl_log_m(name: str) -> None:
    data = toy(name)
    assert data.centers is not None
    collapsed = data.centers[3].expand(2500, -1).clone()
    frame = metrics.mode_coverage(collapsed, data)
    assert frame.loc[0, "modes"] == 1 and frame.loc[0, "hq"] == 1.0
    assert frame.loc[0, "reverse_kl"] == pytest.approx(math.log(data.n_modes), abs=1e-3)
    assert frame.loc[0, "count.3"] == 2500


@pytest.mark.parametrize("name", ["ring8", "grid25", "ring8-embedded"])
def test_samples_spread_uniformly_over_the_space_are_rarely_high_quality(name: str) -> None:
    assert metrics.mode_coverage(uniform_samples(name), toy(name)).loc[0, "hq"] < 0.05


def test_per_mode_counts_add_up_to_the_high_quality_samples() -> None:
    data = toy("grid25")
    frame = metrics.mode_coverage(true_samples("grid25", seeds=2), data, seeds=[7, 9])
    counts = frame[[f"count.{m}" for m in range(25)]].to_numpy()
    assert list(frame["seed"]) == [7, 9]
    assert counts.sum(1) == pytest.approx(frame["hq"].to_numpy() * 2500)


def test_a_seed_without_any_high_quality_sample_has_no_reverse_kl_and_nan_samples_never_count() -> None:
    far_and_broken = torch.tensor([[[50.0, 50.0], [math.nan, 0.0], [math.inf, 1.0]]])
    frame = metrics.mode_coverage(far_and_broken, toy("ring8"))
    assert frame.loc[0, "modes"] == 0 and frame.loc[0, "hq"] == 0.0
    assert math.isnan(frame.loc[0, "reverse_kl"])


def test_image_samples_are_scored_like_their_flat_features() -> None:
    data = toy("blobs9")
    flat = data.sample(300, generator=torch.Generator().manual_seed(0)).unsqueeze(0)
    images = flat.reshape(1, 300, *data.shape)
    pd.testing.assert_frame_equal(metrics.mode_coverage(images, data), metrics.mode_coverage(flat, data))
    assert metrics.mode_coverage(flat, data).loc[0, "modes"] == 9


def test_mode_coverage_refuses_samples_of_the_wrong_dimension_and_toys_without_modes() -> None:
    with pytest.raises(ValueError, match=r"do not fit toy 'ring8' \(dim 2\)"):
        metrics.mode_coverage(torch.zeros(4, 100, 3), toy("ring8"))
    with pytest.raises(ValueError, match="no samples"):
        metrics.mode_coverage(torch.zeros(4, 0, 2), toy("ring8"))
    with pytest.raises(ValueError, match="has no modes; judge it with precision_recall"):
        metrics.mode_coverage(torch.zeros(100, 2), toy("swissroll"))
    with pytest.raises(TypeError, match=r"torch\.Tensor or numpy array"):
        metrics.mode_coverage([[0.0, 0.0]], toy("ring8"))  # type: ignore[arg-type]


# ---------------------------------------------------------------- distribution-free metrics


@pytest.fixture(scope="module")
def fidelity() -> pd.DataFrame:
    """k-NN metrics of three fake sets against one real swiss-roll set: true, collapsed, spread out."""
    data = toy("swissroll")
    generator = torch.Generator().manual_seed(2)
    real = data.sample(1500, generator=generator)
    fakes = torch.stack(
        [
            data.sample(1500, generator=generator),
            real[0] + 0.01 * torch.randn(1500, 2, generator=generator),
            4 * torch.rand(1500, 2, generator=generator) - 2,
        ]
    )
    quality = metrics.precision_recall(real, fakes, k=5)
    return quality.merge(metrics.density_coverage(real, fakes, k=5), on="seed").set_index("seed")


def test_a_true_sample_scores_about_one_on_every_knn_metric(fidelity: pd.DataFrame) -> None:
    true = fidelity.loc[0]
    assert true["precision"] > 0.95 and true["recall"] > 0.95 and true["coverage"] > 0.9
    assert true["density"] == pytest.approx(1.0, abs=0.1)


def test_a_collapsed_sample_is_precise_but_recalls_and_covers_little(fidelity: pd.DataFrame) -> None:
    collapsed = fidelity.loc[1]
    assert collapsed["precision"] > 0.9
    assert collapsed["recall"] < 0.05 and collapsed["coverage"] < 0.05
    assert collapsed["density"] > 1  # crowding one dense spot, as Naeem et al. describe


def test_a_spread_out_sample_recalls_everything_but_is_imprecise_and_sparse(fidelity: pd.DataFrame) -> None:
    spread = fidelity.loc[2]
    assert spread["recall"] > 0.95
    assert spread["precision"] < 0.3 and spread["density"] < 0.3


def test_the_kd_tree_and_brute_force_answers_are_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = torch.Generator().manual_seed(3)
    real = toy("ring8").sample(400, generator=generator)
    fake = torch.stack(
        [toy("ring8").sample(400, generator=generator), torch.randn(400, 2, generator=generator)]
    )
    trees = metrics.precision_recall(real, fake).merge(metrics.density_coverage(real, fake))
    monkeypatch.setattr(knn, "KD_TREE_MAX_DIM", 0)  # the module Balls reads it from
    brute = metrics.precision_recall(real, fake).merge(metrics.density_coverage(real, fake))
    pd.testing.assert_frame_equal(trees, brute)


# Ties, counted by hand. Integer points, so every distance is exact (3-4-5 triangles), with k = 1:
#   real r0 (0, 0) and r1 (3, 4) are each other's nearest neighbour: both balls have radius 5;
#   real r2 (10, 0) and r3 (10, 2): radius 2.
#   fake f0 (-5, 0) lies exactly on r0's boundary, f1 (10, 4) on r3's, f2 (12, 0) on r2's, and each is
#   outside every other ball; f3 (1, 1) is strictly inside r0's and r1's balls.
TIE_REAL = torch.tensor([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0], [10.0, 2.0]])
TIE_FAKE = torch.tensor([[-5.0, 0.0], [10.0, 4.0], [12.0, 0.0], [1.0, 1.0]])


@pytest.mark.parametrize("path", ["kd-tree", "brute force"])
def test_a_fake_exactly_on_a_real_ball_boundary_is_outside_for_density_and_coverage_as_in_prdc(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "brute force":
        monkeypatch.setattr(knn, "KD_TREE_MAX_DIM", 0)
    spread = metrics.density_coverage(TIE_REAL, TIE_FAKE, k=1).loc[0]
    # Strictly inside: f3 twice, the boundary fakes never. Density = (2 balls) / (k · 4 fakes).
    assert spread["density"] == 2 / 4  # counting the boundary in would give 5/4
    # Real balls holding a fake strictly inside: r0 and r1 (f3); r2 and r3 hold theirs on the boundary.
    assert spread["coverage"] == 2 / 4  # counting the boundary in would give 4/4
    # Precision counts the boundary in, as Kynkäänniemi et al. define it (prdc's code would give 1/4).
    assert metrics.precision_recall(TIE_REAL, TIE_FAKE, k=1).loc[0, "precision"] == 4 / 4


@pytest.mark.parametrize("path", ["kd-tree", "brute force"])
def test_a_ball_holds_its_boundary_for_hit_and_not_for_counts_on_either_path(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if path == "brute force":
        monkeypatch.setattr(knn, "KD_TREE_MAX_DIM", 0)
    balls = knn.Balls(TIE_REAL.double().numpy(), 1)
    assert balls.radii.tolist() == [5.0, 5.0, 2.0, 2.0]
    assert balls.hit(TIE_FAKE.double().numpy()).tolist() == [True, True, True, True]
    assert balls.counts(TIE_FAKE.double().numpy()).tolist() == [1, 1, 0, 0]  # f3 in r0 and r1, strictly
    # Duplicates: a point's copy is a neighbour at distance 0, so a ball can have radius 0 and hold nothing.
    twins = knn.Balls(np.array([[1.0, 1.0], [1.0, 1.0], [4.0, 5.0]]), 1)
    assert twins.radii.tolist() == [0.0, 0.0, 5.0]
    queries = np.array([[1.0, 1.0], [2.0, 2.0]])  # on the twins (and on the third ball's boundary); inside it
    assert twins.hit(queries).tolist() == [True, True]
    assert twins.counts(queries).tolist() == [0, 0, 1]


def test_the_distance_to_the_data_is_the_median_nearest_neighbour_distance_both_ways(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Real points on a line at 0, 1, …, 9; fakes at 0.5 (0.5 from the data), 2, 3 (on it) and 20 (11 away).
    real = torch.tensor([[float(i), 0.0] for i in range(10)])
    fake = torch.tensor([[0.5, 0.0], [2.0, 0.0], [3.0, 0.0], [20.0, 0.0]])
    frame = metrics.data_distance(real, torch.stack((fake, fake + torch.tensor([0.0, 4.0]))))
    # Fake → real: median of (0.5, 0, 0, 11) = 0.25; shifted up by 4: median of (√16.25, 4, 4, √137) ≈ 4.02.
    assert frame.loc[0, "to_data"] == 0.25
    assert frame.loc[1, "to_data"] == pytest.approx((math.sqrt(16.25) + 4) / 2)
    # Real → fake: reals 0 … 9 lie 0.5, 0.5, 0, 0, 1, 2, 3, 4, 5, 6 from the nearest fake: median 1.5.
    assert frame.loc[0, "from_data"] == 1.5
    monkeypatch.setattr(knn, "KD_TREE_MAX_DIM", 0)
    pd.testing.assert_frame_equal(metrics.data_distance(real, fake), frame.iloc[:1])


def test_non_finite_samples_are_infinitely_far_from_the_data() -> None:
    real = torch.tensor([[float(i), 0.0] for i in range(10)])
    broken = torch.tensor([[[0.0, 0.0], [math.nan, 0.0], [math.inf, 1.0]], [[math.nan, 0.0]] * 3])
    frame = metrics.data_distance(real, broken)
    assert frame.loc[0, "to_data"] == math.inf and frame.loc[0, "from_data"] == 4.5  # one finite fake, at 0
    assert frame.loc[1, "to_data"] == math.inf and frame.loc[1, "from_data"] == math.inf


def test_knn_metrics_refuse_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="real samples have 2 dimensions but fake ones 3"):
        metrics.precision_recall(torch.zeros(50, 2), torch.zeros(50, 3))
    with pytest.raises(ValueError, match="real has 2 seeds but fake 3"):
        metrics.density_coverage(torch.zeros(2, 50, 2), torch.zeros(3, 50, 2))
    with pytest.raises(ValueError, match="k=5 needs more than k samples"):
        metrics.precision_recall(torch.zeros(5, 2), torch.zeros(50, 2))
    with pytest.raises(ValueError, match="k=0 must be an integer"):
        metrics.density_coverage(torch.zeros(50, 2), torch.zeros(50, 2), k=0)
    with pytest.raises(ValueError, match="flatten images"):
        metrics.precision_recall(torch.zeros(2, 50, 1, 4, 4), torch.zeros(2, 50, 1, 4, 4))


def test_sliced_wasserstein_is_zero_on_equal_sets_and_the_shift_over_root_d_on_shifted_ones() -> None:
    generator = torch.Generator().manual_seed(4)
    real = torch.randn(500, 2, generator=generator, dtype=torch.float64)
    shifted = torch.stack([real, real + torch.tensor([1.0, 0.0], dtype=torch.float64)])
    frame = metrics.sliced_wasserstein(real, shifted, projections=500, seed=0)
    assert frame.loc[0, "swd"] == pytest.approx(0.0, abs=1e-12)
    # W₂ of a shift v along direction θ is |θ·v|; averaged over directions in 2-D, E[(θ·v)²] = |v|²/2
    # (500 directions estimate it to about 3 %).
    assert frame.loc[1, "swd"] == pytest.approx(1 / math.sqrt(2), rel=0.06)


def test_sliced_wasserstein_is_seeded_and_compares_sets_of_different_sizes() -> None:
    generator = torch.Generator().manual_seed(5)
    real, fake = torch.randn(1000, 2, generator=generator), torch.randn(700, 2, generator=generator) + 3
    first = metrics.sliced_wasserstein(real, fake, seed=1)
    assert first.equals(metrics.sliced_wasserstein(real, fake, seed=1))
    assert first.loc[0, "swd"] == pytest.approx(3, rel=0.1)  # |(3, 3)| / √2
    with pytest.raises(ValueError, match="projections=0"):
        metrics.sliced_wasserstein(real, fake, projections=0)


# ---------------------------------------------------------------- trace-level metrics


def make_trace(steps: int, **columns: list[float] | np.ndarray) -> pd.DataFrame:
    """A one-seed trace with the given probe series; unset probes are a harmless 1."""
    probes = ("d_auc", "d_real", "d_fake", "g_grad_norm", "d_grad_norm", "g_signal", "d_loss", "g_loss")
    frame = pd.DataFrame({"seed": 0, "step": np.arange(steps)})
    for probe in probes:
        frame[probe] = np.asarray(columns.get(probe, np.ones(steps)), dtype=np.float64)
    frame["nonfinite"] = ~np.isfinite(frame[list(probes)]).all(axis=1)
    return frame


def test_dominance_reads_the_mean_auc_the_share_above_and_the_step_it_stays_above() -> None:
    auc = [0.5] * 50 + [0.99] * 10 + [0.6] * 5 + [0.99] * 35
    frame = metrics.dominance(make_trace(100, d_auc=auc), window=0.5, threshold=0.95)
    row = frame.loc[0]
    assert row["d_auc"] == pytest.approx((0.99 * 10 + 0.6 * 5 + 0.99 * 35) / 50)
    assert row["auc_above"] == pytest.approx(45 / 50)
    assert row["dominant_from"] == 65 and row["window_from"] == 50


def test_a_window_is_a_share_of_the_records_or_a_number_of_final_steps() -> None:
    auc = np.r_[np.full(90, 0.5), np.full(10, 1.0)]
    assert metrics.dominance(make_trace(100, d_auc=auc), window=10).loc[0, "auc_above"] == 1.0
    assert metrics.dominance(make_trace(100, d_auc=auc), window=0.2).loc[0, "auc_above"] == 0.5
    for bad, error in ((0, ValueError), (1.5, ValueError), (-0.1, ValueError), (True, TypeError)):
        with pytest.raises(error, match="window="):
            metrics.dominance(make_trace(10), window=bad)


def test_records_from_the_first_nonfinite_step_on_are_ignored() -> None:
    auc = np.r_[np.full(80, 0.6), [math.nan], np.full(19, 1.0)]  # garbage after the NaN must not count
    frame = metrics.dominance(make_trace(100, d_auc=auc), window=0.5)
    assert frame.loc[0, "d_auc"] == pytest.approx(0.6) and frame.loc[0, "auc_above"] == 0.0
    assert metrics.divergence(make_trace(100, d_auc=auc)).loc[0, "first_nonfinite"] == 80


def test_gradient_health_finds_the_step_where_the_signal_vanishes() -> None:
    signal = np.r_[np.full(40, 2.0), np.full(60, 1e-4)]
    frame = metrics.gradient_health(make_trace(100, g_signal=signal), window=0.2, signal_floor=0.05, smooth=5)
    row = frame.loc[0]
    assert row["g_signal_early"] == 2.0 and row["signal_ratio"] == pytest.approx(5e-5)
    assert row["vanished_from"] == 42  # the running median of 5 records crosses 2 records in
    assert math.isnan(row["exploded_at"])


def test_gradient_health_flags_exploding_norms_and_a_signal_that_was_always_zero() -> None:
    d_norm = np.r_[np.ones(70), np.full(30, 1e6)]
    frame = metrics.gradient_health(make_trace(100, d_grad_norm=d_norm, g_signal=np.zeros(100)))
    row = frame.loc[0]
    assert row["exploded_at"] == 70 and row["d_grad_max"] == 1e6
    assert row["signal_ratio"] == 0.0 and row["vanished_from"] == 10  # right after the early records


def test_divergence_tells_a_settled_trace_from_an_oscillating_one_and_finds_blowups() -> None:
    steps = np.arange(200)
    settled = make_trace(200, g_loss=0.7 + 0.001 * np.cos(steps))
    oscillating = make_trace(
        200, g_loss=0.7 + 0.5 * np.sin(steps / 3), d_loss=np.r_[np.ones(150), np.full(50, 5e3)]
    )
    calm, wild = metrics.divergence(settled).loc[0], metrics.divergence(oscillating, max_loss=1e3).loc[0]
    assert calm["g_loss_amplitude"] < 0.001 and abs(calm["g_loss_trend"]) < 0.01
    assert wild["g_loss_amplitude"] == pytest.approx(0.5 / math.sqrt(2), rel=0.1)
    assert wild["blowup_from"] == 150 and wild["loss_peak"] == 5e3
    assert math.isnan(calm["first_nonfinite"]) and calm["nonfinite"] == 0.0


def test_trace_metrics_explain_a_trace_without_the_probes_they_need() -> None:
    with pytest.raises(ValueError, match="trace lacks column"):
        metrics.dominance(make_trace(10).drop(columns=["d_auc"]))
    with pytest.raises(TypeError, match="give a Run or its trace DataFrame"):
        metrics.gradient_health([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"threshold=1\.5"):
        metrics.dominance(make_trace(10), threshold=1.5)


# ---------------------------------------------------------------- key metrics of a Run


def test_key_metrics_have_exactly_the_summary_columns_one_row_per_seed() -> None:
    run = train(recipe("nonsaturating", width=16, batch_size=32), "ring8", seeds=[2, 5], steps=10)
    frame = metrics.key_metrics(run)
    assert list(frame.columns) == ["seed", "modes", "hq", "reverse_kl", "d_auc", "g_signal", "nonfinite"]
    assert list(frame["seed"]) == [2, 5]
    assert frame["hq"].between(0, 1).all() and frame["d_auc"].between(0, 1).all()
    assert (frame["nonfinite"] == 0.0).all()


def test_key_metrics_leave_nan_where_a_run_has_nothing_to_measure() -> None:
    roll = train(recipe("nonsaturating", width=16, batch_size=32), "swissroll", seeds=1, steps=5)
    assert metrics.key_metrics(roll)[["modes", "hq", "reverse_kl"]].isna().all().all()
    blind = train(recipe("nonsaturating", width=16, batch_size=32), "ring8", seeds=1, steps=5, probes=False)
    assert metrics.key_metrics(blind)[["d_auc", "g_signal"]].isna().all().all()
