"""How fast the engine trains, side by side with the usual loop (docs/design.md §5).

CPU, in one run: seed-steps/s of the plain eager loop (one seed, ``nn.Sequential`` + ``torch.optim``,
torch's RNG), the engine with 16 stacked seeds, and the same without probes; targets: stacked ≥ 2× the
plain loop per seed, probes ≤ 15 %. The ratios go in ``extra_info`` and the "ganstab benchmarks" summary.
GPU: the reference configuration of docs/design.md §5 across seed counts, against the ~60,000
seed-steps/s floor (on a CPU-only machine a tiny configuration exercises the same code instead).
Seed-steps/s come from the training loop's own clock (``wall_time_s``: building the networks and the
trace left out) in the best of the rounds: on a shared machine, the round that others disturbed least.
pytest-benchmark's table times the whole call.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from pytest_ganstab import bench
from pytest_ganstab.engine import train
from pytest_ganstab.recipes import Recipe, recipe
from pytest_ganstab.reference import ReferenceRun, TorchDraws, train_reference
from pytest_ganstab.run import Run
from pytest_ganstab.toys import toy

CUDA = torch.cuda.is_available()
SEEDS = 16
WIDTH = 128
# Steps per timed round: one to two seconds on a 2-core CPU (a WGAN-GP step costs ~6 non-saturating ones),
# enough that the first step's allocations do not weigh on the figure.
STEPS = {"nonsaturating": {"plain": 48, "engine": 8}, "wgan-gp": {"plain": 10, "engine": 5}}
ROUNDS = 5  # the best round is reported: on a shared machine, the one others disturbed least
WAYS = ("plain", "engine-no-probes", "engine")  # in this order, so the last one can report the ratios
TARGET_SPEEDUP, PROBE_BUDGET = 2.0, 0.15
FLOOR = 60_000  # seed-steps/s the H200 reaches at best, set by fp32 Adam's memory traffic (docs/design.md §5)


@pytest.fixture(scope="module")
def speeds() -> dict[str, dict[str, float]]:
    """Seed-steps/s by recipe and way, filled as the side-by-side benchmarks run."""
    return {}


def plain_loop(rc: Recipe, steps: int) -> ReferenceRun:
    torch.manual_seed(0)
    draws = TorchDraws(toy("ring8"), torch.Generator().manual_seed(0))
    return train_reference(rc, "ring8", steps=steps, base_seed=None, draws=draws, probes=False)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("name", list(STEPS))
def test_stacked_seeds_against_the_plain_loop(
    benchmark: Any,
    request: pytest.FixtureRequest,
    threads: int,
    speeds: dict[str, dict[str, float]],
    name: str,
    way: str,
) -> None:
    benchmark.group = f"cpu {name} width {WIDTH}"
    rc = recipe(name, width=WIDTH)
    seeds, steps = (1, STEPS[name]["plain"]) if way == "plain" else (SEEDS, STEPS[name]["engine"])
    loop_s: list[float] = []

    def once() -> Run | ReferenceRun:
        if way == "plain":
            run: Run | ReferenceRun = plain_loop(rc, steps)
        else:
            run = train(rc, "ring8", seeds=seeds, steps=steps, probes=way == "engine")
        loop_s.append(run.wall_time_s)
        return run

    timed = bench.measure(benchmark, once, rounds=ROUNDS)
    rate = bench.seed_steps_per_s(seeds, steps, min(loop_s[-len(timed.wall_s) :]))
    assert rate > 0 and math.isfinite(rate)
    if isinstance(timed.result, Run):  # what was timed must have trained soundly, or the figure means nothing
        assert (timed.result.first_nonfinite_step < 0).all()
    mine = speeds.setdefault(name, {})
    mine[way] = rate
    benchmark.extra_info.update(seeds=seeds, steps=steps, width=WIDTH, threads=threads, seed_steps_per_s=rate)
    if isinstance(timed.result, Run) and timed.result.trace.shape[0]:
        benchmark.extra_info["stability"] = bench.stability_info(timed.result)
    if way == WAYS[-1] and set(WAYS) <= set(mine):
        speedup = mine["engine"] / mine["plain"]
        probe_cost = mine["engine-no-probes"] / mine["engine"] - 1
        benchmark.extra_info.update(speedup_vs_plain=speedup, probe_cost=probe_cost)
        bench.report(
            request.config,
            f"{name} width {WIDTH}, {threads} thread(s): plain {mine['plain']:.0f}, "
            f"{SEEDS} stacked {mine['engine']:.0f} (no probes {mine['engine-no-probes']:.0f}) seed-steps/s; "
            f"stacked/plain {speedup:.2f}x (target >= {TARGET_SPEEDUP:g}x), "
            f"probes cost {probe_cost:+.0%} (budget {PROBE_BUDGET:.0%})",
        )


def _throughput(benchmark: Any, rc: Recipe, seeds: int, steps: int, device: str) -> float:
    """Seed-steps/s of whole ``train`` calls, as a user sees them."""
    timed = bench.measure(benchmark, lambda: train(rc, "ring8", seeds=seeds, steps=steps, device=device))
    rate = bench.seed_steps_per_s(seeds, steps, timed.best_s)
    assert rate > 0 and math.isfinite(rate)
    assert (timed.result.first_nonfinite_step < 0).all()  # a figure from a diverged run means nothing
    benchmark.extra_info.update(
        seeds=seeds, steps=steps, seed_steps_per_s=rate, stability=bench.stability_info(timed.result)
    )
    if timed.device_s:
        gpu_rate = bench.seed_steps_per_s(seeds, steps, min(timed.device_s))
        benchmark.extra_info["gpu_seed_steps_per_s"] = gpu_rate  # CUDA events: the GPU's own time
    return rate


@pytest.mark.skipif(not CUDA, reason="needs CUDA; test_small_configuration_on_the_cpu stands in for it")
@pytest.mark.parametrize("seeds", [1, 16, 64, 256, 1024])
def test_reference_configuration_on_the_gpu(
    benchmark: Any, request: pytest.FixtureRequest, seeds: int
) -> None:
    """G 2-512-512-512-2, D 2-512-512-512-1, ReLU, Adam 1e-4 (0.5, 0.9), batch 256, ring8, non-saturating."""
    benchmark.group = "gpu reference configuration"
    rc = recipe("nonsaturating", width=512, depth=3, latent_dim=2, batch_size=256)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True  # as the orientation figures were measured
    try:
        rate = _throughput(benchmark, rc, seeds, steps=20, device="cuda")
    except torch.cuda.OutOfMemoryError:
        pytest.skip(f"{seeds} seeds of the reference configuration do not fit on this GPU's memory")
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    benchmark.extra_info.update(tf32=True, fraction_of_floor=rate / FLOOR)
    bench.report(
        request.config,
        f"reference configuration, {seeds} seeds on {torch.cuda.get_device_name()}: {rate:,.0f} seed-steps/s "
        f"({rate / FLOOR:.1%} of the ~{FLOOR:,} floor)",
    )


@pytest.mark.parametrize("seeds", [1, 4])
def test_small_configuration_on_the_cpu(benchmark: Any, threads: int, seeds: int) -> None:
    """The GPU benchmark's code path at a size a CI CPU runs in a second."""
    benchmark.group = "cpu small configuration"
    small = recipe("nonsaturating", width=32, batch_size=64)
    rate = _throughput(benchmark, small, seeds, steps=10, device="cpu")
    benchmark.extra_info["threads"] = threads
    assert rate > 0
