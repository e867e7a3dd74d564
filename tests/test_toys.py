"""Toy distributions: the papers' settings, sampling from either source of randomness, and look-up by name."""

from __future__ import annotations

import math

import pytest
import torch

from pytest_ganstab import list_toys, rng, toy


def nearest_distance_in_sd(samples: torch.Tensor, name: str) -> torch.Tensor:
    t = toy(name)
    assert t.centers is not None and t.std is not None
    distance, mode = torch.cdist(samples, t.centers).min(dim=1)
    return distance / t.std[mode]


def test_ring8_follows_pacgan() -> None:
    ring = toy("ring8")
    assert (ring.dim, ring.n_modes, ring.hq_threshold) == (2, 8, 3.0)
    assert torch.allclose(ring.centers.norm(dim=1), torch.ones(8))
    assert torch.allclose(ring.std, torch.full((8,), 0.01))
    assert torch.allclose(ring.weights.sum(), torch.tensor(1.0))


def test_grid25_follows_pacgan() -> None:
    grid = toy("grid25")
    assert grid.n_modes == 25
    assert set(grid.centers[:, 0].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert torch.allclose(grid.std, torch.full((25,), 0.05))


def test_options_override_defaults() -> None:
    assert torch.allclose(toy("grid25", std=0.1).std, torch.full((25,), 0.1))
    assert toy("ring", n=12).n_modes == 12


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_true_samples_are_high_quality_at_the_chi_square_rate(name: str) -> None:
    samples = toy(name).sample(20_000, generator=torch.Generator().manual_seed(0))
    high_quality = (nearest_distance_in_sd(samples, name) < 3).float().mean().item()
    expected = 1 - math.exp(-9 / 2)  # P[χ²₂ < 9] ≈ 98.9 %
    assert abs(high_quality - expected) < 0.005


def test_embedded_ring_keeps_its_noise_in_the_plane() -> None:
    embedded = toy("ring8-embedded")
    assert embedded.dim == 128 and embedded.hq_threshold == 10
    samples = embedded.sample(2_000, generator=torch.Generator().manual_seed(1))
    assert (nearest_distance_in_sd(samples, "ring8-embedded") < 10).all()


def test_mixture1d_and_swissroll() -> None:
    assert toy("mixture1d").dim == 1
    roll = toy("swissroll")
    assert not roll.has_modes and roll.n_modes == 0
    samples = roll.sample(5_000, generator=torch.Generator().manual_seed(2))
    radius = samples.norm(dim=1) / roll.scale
    # make_swiss_roll's t spans [1.5π, 4.5π]; the radius follows t, blurred by the noise.
    assert 1.5 * math.pi - 1 < radius.min() and radius.max() < 4.5 * math.pi + 1


def test_blob_images_read_their_mode_off_the_blob_position() -> None:
    blobs = toy("blobs9")
    assert blobs.shape == (1, 16, 16) and blobs.dim == 256
    samples = blobs.sample(900, generator=torch.Generator().manual_seed(3))
    assert samples.min() > -1.5 and samples.max() < 1.5
    modes = torch.cdist(samples, blobs.centers).argmin(dim=1)
    assert torch.bincount(modes, minlength=9).min() > 60  # every position is drawn


def test_stacked_sampling_is_addressable_per_seed() -> None:
    ring = toy("ring8")
    three = ring.sample_stacked(rng.seed_keys(7, [0, 1, 2], "cpu"), stream=5, n=64)
    alone = ring.sample_stacked(rng.seed_keys(7, [2], "cpu"), stream=5, n=64)
    assert torch.equal(three[2], alone[0])
    assert not torch.equal(three[0], three[1])


def test_stacked_and_generator_sampling_draw_the_same_distribution() -> None:
    grid = toy("grid25")
    stacked = grid.sample_stacked(rng.seed_keys(0, [0], "cpu"), stream=1, n=20_000)[0]
    drawn = grid.sample(20_000, generator=torch.Generator().manual_seed(0))
    per_mode = [
        torch.bincount(torch.cdist(x, grid.centers).argmin(1), minlength=25) / 20_000
        for x in (stacked, drawn)
    ]
    assert (per_mode[0] - per_mode[1]).abs().max() < 0.01


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown toy 'ring9'; known toys: .*ring8"):
        toy("ring9")
    assert {"ring8", "grid25", "swissroll", "ring8-embedded", "mixture1d", "blobs9"} <= set(list_toys())


@pytest.mark.parametrize(
    ("name", "options", "message"), [("ring8", {"std": 0}, "std=0"), ("grid25", {"sd": 1}, "sd")]
)
def test_bad_options_say_which(name: str, options: dict[str, float], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        toy(name, **options)
