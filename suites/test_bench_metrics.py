"""How long the metrics take: 64 seeds × 2,500 samples must be scored in well under a second (issue 3).

Fake samples are true ring-of-8 samples, one independent set per seed from the engine's counter-based
streams, scored against one real set: the k-NN structure is that of a generator that learnt the toy.
The KD-tree and brute-force k-NN searches are timed side by side on the same samples (fewer seeds: the
brute force is quadratic). Run with ``pytest suites/test_bench_metrics.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture

from pytest_ganstab import metrics, rng, toy
from pytest_ganstab.metrics import knn

SEEDS, SAMPLES = 64, 2500
RING = toy("ring8")


@pytest.fixture(scope="module")
def samples() -> tuple[torch.Tensor, torch.Tensor]:
    """One real set ``[2500, 2]`` and fakes ``[64, 2500, 2]``."""
    keys = rng.seed_keys(0, list(range(SEEDS + 1)), torch.device("cpu"))
    drawn = RING.sample_stacked(keys, rng.stream_id(0xBE7C), SAMPLES)
    return drawn[SEEDS], drawn[:SEEDS]


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # Figures per core, and no spinning second thread on a shared machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _time(benchmark: BenchmarkFixture, score: Callable[[], Any]) -> Any:
    return benchmark.pedantic(score, rounds=3, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="metrics: 64 seeds × 2,500 ring-8 samples")
def test_mode_coverage(benchmark: BenchmarkFixture, samples: tuple[torch.Tensor, torch.Tensor]) -> None:
    frame = _time(benchmark, lambda: metrics.mode_coverage(samples[1], RING))
    assert len(frame) == SEEDS and (frame["modes"] == 8).all()


@pytest.mark.benchmark(group="metrics: 64 seeds × 2,500 ring-8 samples")
def test_precision_recall(benchmark: BenchmarkFixture, samples: tuple[torch.Tensor, torch.Tensor]) -> None:
    frame = _time(benchmark, lambda: metrics.precision_recall(*samples))
    assert len(frame) == SEEDS and (frame["precision"] > 0.95).all() and (frame["recall"] > 0.95).all()


@pytest.mark.benchmark(group="metrics: 64 seeds × 2,500 ring-8 samples")
def test_mode_coverage_and_precision_recall(
    benchmark: BenchmarkFixture, samples: tuple[torch.Tensor, torch.Tensor]
) -> None:
    real, fake = samples
    coverage, quality = _time(
        benchmark, lambda: (metrics.mode_coverage(fake, RING), metrics.precision_recall(real, fake))
    )
    assert len(coverage) == len(quality) == SEEDS


@pytest.mark.benchmark(group="k-NN search: precision/recall + density/coverage, 4 seeds × 2,500")
@pytest.mark.parametrize("search", ["kd-tree", "brute-force"])
def test_knn_search(
    benchmark: BenchmarkFixture,
    samples: tuple[torch.Tensor, torch.Tensor],
    search: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if search == "brute-force":
        monkeypatch.setattr(knn, "KD_TREE_MAX_DIM", 0)  # the module Balls reads it from
    real, fake = samples[0], samples[1][:4]
    quality, spread = _time(
        benchmark, lambda: (metrics.precision_recall(real, fake), metrics.density_coverage(real, fake))
    )
    assert (quality["precision"] > 0.95).all() and (spread["coverage"] > 0.9).all()
