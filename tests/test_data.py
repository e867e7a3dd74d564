"""The user's own data: a tensor, (x, labels), a Dataset or DataLoader, or a sampling function, read as a
Toy that the engine trains on, per seed and addressably; held-out rows for the metrics; known modes
when the user gives centres and a scale; one clear error for data of the wrong shape or type."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import torch

import pytest_ganstab as gs
from pytest_ganstab import rng
from pytest_ganstab.data import TensorData, as_toy
from pytest_ganstab.metrics import against_data, mode_coverage

SMALL = gs.recipe("nonsaturating", width=16, batch_size=32)
RING = gs.toy("ring8")
POINTS = RING.sample(1000, generator=torch.Generator().manual_seed(0))


class ItemDataset(torch.utils.data.Dataset[Any]):
    """A map-style data set of (sample, label) items, as torchvision's are."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], int(self.y[i])


LABELS = torch.cdist(POINTS, RING.centers).argmin(1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(POINTS, id="tensor"),
        pytest.param(POINTS.numpy(), id="numpy"),
        pytest.param((POINTS, LABELS), id="pair"),
        pytest.param(torch.utils.data.TensorDataset(POINTS, LABELS), id="tensor-dataset"),
        pytest.param(ItemDataset(POINTS, LABELS), id="item-dataset"),
        pytest.param(torch.utils.data.DataLoader(ItemDataset(POINTS, LABELS), batch_size=7), id="dataloader"),
    ],
)
def test_every_form_of_data_trains_and_draws_only_its_own_rows(data: Any) -> None:
    run = gs.train(SMALL, data, seeds=2, steps=3)
    assert run.toy.dim == 2 and not run.trace["nonfinite"].any()
    drawn = run.toy.sample_stacked(rng.seed_keys(0, [0, 1], "cpu"), 5, 64)
    assert (drawn.reshape(-1, 1, 2) == POINTS[None]).all(-1).any(1).all()  # every draw is one of the rows


def test_held_out_rows_are_never_drawn_for_training() -> None:
    toy = as_toy(POINTS)
    assert isinstance(toy, TensorData)
    held = toy.holdout(10_000)
    assert len(held) == 200  # 20 % of 1,000 rows
    drawn = toy.sample_stacked(rng.seed_keys(0, [0, 1, 2], "cpu"), 1, 2000).reshape(-1, 2)
    assert not (drawn[:, None] == held[None]).all(-1).any()


def test_a_seed_draws_the_same_rows_alone_or_beside_others() -> None:
    toy = as_toy(POINTS)
    three = toy.sample_stacked(rng.seed_keys(3, [0, 1, 2], "cpu"), 9, 32)
    alone = toy.sample_stacked(rng.seed_keys(3, [2], "cpu"), 9, 32)
    assert torch.equal(three[2], alone[0]) and not torch.equal(three[0], three[1])


def test_a_sampling_function_is_called_per_seed_under_its_own_seed() -> None:
    calls: list[int] = []

    def sampler(n: int) -> torch.Tensor:
        calls.append(n)
        return RING.sample(n)  # torch's global RNG: seeded per seed and stream by the adapter

    toy = as_toy(sampler)
    three = toy.sample_stacked(rng.seed_keys(0, [0, 1, 2], "cpu"), 4, 16)
    alone = toy.sample_stacked(rng.seed_keys(0, [1], "cpu"), 4, 16)
    assert torch.equal(three[1], alone[0]) and not torch.equal(three[0], three[1])
    assert gs.train(SMALL, sampler, seeds=2, steps=2).toy.name == "sampler"


def test_centres_and_a_scale_make_coverage_measurable_as_on_a_toy() -> None:
    toy = as_toy(POINTS, centers=RING.centers, scale=0.01)
    assert toy.n_modes == 8 and toy.hq_threshold == 3.0
    perfect = mode_coverage(toy.holdout(200), toy)
    assert int(perfect["modes"][0]) == 8 and float(perfect["hq"][0]) > 0.95
    one_mode = mode_coverage(POINTS[LABELS == 3][:100], toy)
    assert int(one_mode["modes"][0]) == 1


def test_data_without_modes_is_judged_against_held_out_rows() -> None:
    toy = as_toy(POINTS)
    good = against_data(toy.holdout(200)[None], toy.holdout(200))
    collapsed = against_data(torch.zeros(1, 200, 2) + RING.centers[0], toy.holdout(200))  # type: ignore[index]
    assert good["recall"][0] == 1.0 and collapsed["recall"][0] < 0.2
    assert collapsed["swd"][0] > 5 * good["swd"][0]
    assert list(good.columns) == ["seed", "precision", "recall", "density", "coverage", "swd"]


def test_the_image_toy_comes_at_any_size_and_channel_count() -> None:
    toy = gs.toy("blobs9", size=32, channels=3)
    assert toy.name == "blobs9-3x32x32" and toy.shape == (3, 32, 32) and toy.dim == 3072
    images = toy.sample(900, generator=torch.Generator().manual_seed(1))
    assert torch.bincount(torch.cdist(images, toy.centers).argmin(1), minlength=9).min() > 60  # type: ignore[arg-type]
    # True samples lie about √dim sd from their centre: the HQ threshold (1.25 √dim) keeps nearly all.
    assert float(mode_coverage(images, toy)["hq"][0]) > 0.99
    assert gs.toy("blobs9").hq_threshold == 20.0  # 1×16×16 as before


BAD = [
    pytest.param(
        torch.zeros(1, 2), ValueError, "data: 1 sample(s) of shape [2]; give at least 2", id="one-row"
    ),
    pytest.param(
        torch.zeros(10, 1, 4, 4, dtype=torch.uint8), TypeError, "is uint8: scale it to floats", id="uint8"
    ),
    pytest.param(torch.arange(10), TypeError, "data has dtype torch.int64", id="integers"),
    pytest.param(torch.tensor([[0.0, 1.0], [float("nan"), 0.0]]), ValueError, "NaN or Inf", id="nan"),
    pytest.param([{"image": torch.zeros(2)}], TypeError, "data is a dict; give a tensor", id="list-of-dicts"),
    pytest.param((POINTS, LABELS[:5]), ValueError, "1000 samples but labels shaped [5]", id="labels-short"),
    pytest.param((POINTS, torch.rand(1000)), TypeError, "whole class indices", id="float-labels"),
    pytest.param(
        lambda n: torch.zeros(n + 1, 2), ValueError, "returned shape [5, 2]; it must return 4", id="fn"
    ),
    pytest.param(lambda n: 3, TypeError, "function <lambda>(4) is an int; give a tensor", id="fn-int"),
    pytest.param("ring9", ValueError, "unknown toy 'ring9'", id="name"),
]


@pytest.mark.parametrize(("data", "error", "message"), BAD)
def test_data_of_the_wrong_shape_or_type_is_one_clear_error(data: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)) as raised:
        gs.train(SMALL, data, seeds=1, steps=1)
    assert "\n" not in str(raised.value)


def test_an_iterable_dataset_asks_for_a_sampling_function() -> None:
    class Stream(torch.utils.data.IterableDataset[torch.Tensor]):
        def __iter__(self) -> Any:
            return iter(POINTS)

    with pytest.raises(TypeError, match=r"pass a function f\(n\) returning n samples"):
        as_toy(Stream())


def test_g_of_the_wrong_shape_for_the_data_names_both() -> None:
    with pytest.raises(ValueError, match=re.escape("expected [4, 1, 4, 4] (or [4, 16]) for toy data")):
        gs.train(
            SMALL,
            torch.zeros(10, 1, 4, 4),
            seeds=1,
            steps=1,
            generator=lambda: torch.nn.Linear(2, 3),
        )


def test_numpy_and_tensor_data_train_the_same() -> None:
    a = gs.train(SMALL, POINTS, seeds=2, steps=3)
    b = gs.train(SMALL, POINTS.numpy(), seeds=2, steps=3)
    np.testing.assert_array_equal(a.trace.to_numpy(float), b.trace.to_numpy(float))
