"""What judging your own loop costs, and what batching your conv nets buys, side by side in one run.

Monitor: the plain training loop (``reference``: ``nn.Sequential`` + ``torch.optim``, one seed, torch's
RNG, non-saturating, width 128, batch 256 on ring8) timed bare and watched by a ``Monitor``; the same
draws and initialisation in both, so only the monitor's hooks and rows differ. Target: overhead ≤ 10 %.

User conv nets: a small DCGAN (the tutorial's, 16×16, batch 64) trained by the engine with 4 seeds
batched by ``torch.func.vmap`` and one after another. On a CPU a convolution's arithmetic is its cost,
and the notes say so; the figure is what that note stands on.

Each way's figure is its best round (on a shared machine, the round others disturbed least); the ratios
go in ``extra_info`` and the "ganstab benchmarks" summary. The monitor's overhead is judged on the
process's CPU time, which other jobs on a shared machine do not inflate (with one torch thread it is the
loop's own work); the wall-clock ratio is reported beside it.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from pytest_ganstab import bench, recipe, toy, train, user
from pytest_ganstab.reference import TorchDraws, train_reference

STEPS, ROUNDS = 200, 5  # about a second a round on a 2-core CPU: the monitor's fixed cost is amortised
OVERHEAD_BUDGET = 0.10
LOOP = recipe("nonsaturating", width=128)


@pytest.fixture(scope="module")
def seconds() -> dict[str, float]:
    """Best seconds by way, filled as the side-by-side benchmarks run."""
    return {}


def plain_loop(watched: bool) -> tuple[float, float]:
    """CPU and wall seconds for ``STEPS`` steps of the loop from the same seeds, watched or not: the whole
    call, so the monitor's attaching and its ``run()`` (where the last rows are made) count against it."""
    torch.manual_seed(0)
    draws = TorchDraws(toy("ring8"), torch.Generator().manual_seed(0))
    cpu, wall = time.process_time(), time.perf_counter()
    monitor = user.Monitor(data="ring8") if watched else None
    watch = None if monitor is None else monitor.watch
    train_reference(LOOP, "ring8", steps=STEPS, base_seed=None, draws=draws, probes=False, watch=watch)
    if monitor is not None:
        recorded = monitor.run()
        assert recorded.steps == STEPS and not recorded.trace["nonfinite"].any()
    return time.process_time() - cpu, time.perf_counter() - wall


@pytest.mark.parametrize("way", ["bare", "monitored"])
def test_the_monitor_against_the_same_loop_without_it(
    benchmark: Any, request: pytest.FixtureRequest, threads: int, seconds: dict[str, float], way: str
) -> None:
    benchmark.group = "cpu own loop, width 128"
    rounds: list[tuple[float, float]] = []
    timed = bench.measure(benchmark, lambda: rounds.append(plain_loop(way == "monitored")), rounds=ROUNDS)
    kept = rounds[-len(timed.wall_s) :]
    seconds[way], seconds[f"{way} wall"] = min(cpu for cpu, _ in kept), min(wall for _, wall in kept)
    assert seconds[way] > 0 and math.isfinite(seconds[way])
    benchmark.extra_info.update(
        steps=STEPS, threads=threads, cpu_s=seconds[way], wall_s=seconds[f"{way} wall"]
    )
    if way == "monitored" and "bare" in seconds:
        overhead = seconds["monitored"] / seconds["bare"] - 1
        wall = seconds["monitored wall"] / seconds["bare wall"] - 1
        benchmark.extra_info.update(overhead=overhead, wall_overhead=wall)
        bench.report(
            request.config,
            f"own loop width 128, {threads} thread(s): bare {STEPS / seconds['bare']:.0f}, monitored "
            f"{STEPS / seconds['monitored']:.0f} steps per CPU second; monitor overhead {overhead:+.1%} "
            f"(budget {OVERHEAD_BUDGET:.0%}; wall clock {wall:+.1%})",
        )


@pytest.mark.parametrize("way", ["batched", "looped"])
def test_a_small_conv_gan_batched_against_one_seed_after_another(
    benchmark: Any, request: pytest.FixtureRequest, threads: int, seconds: dict[str, float], way: str
) -> None:
    sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
    from test_usermodules import DCGAN, make_discriminator, make_generator

    benchmark.group = "cpu user DCGAN 16x16, 4 seeds"
    rc = recipe(DCGAN, batch_size=64)
    build = user.build_user_stacks
    loop_s: list[float] = []

    def once() -> None:
        user.build_user_stacks = lambda *a, **k: build(*a, **k, batch=None if way == "batched" else False)  # type: ignore[assignment]
        try:
            run = train(
                rc, "blobs9", seeds=4, steps=8, generator=make_generator, discriminator=make_discriminator
            )
        finally:
            user.build_user_stacks = build  # type: ignore[assignment]
        loop_s.append(run.wall_time_s)

    timed = bench.measure(benchmark, once, rounds=3)
    seconds[way] = min(loop_s[-len(timed.wall_s) :])
    benchmark.extra_info.update(seeds=4, steps=8, threads=threads, seconds=seconds[way])
    if way == "looped" and "batched" in seconds:
        speedup = seconds["looped"] / seconds["batched"]
        benchmark.extra_info["speedup"] = speedup
        bench.report(
            request.config,
            f"user DCGAN 16x16, 4 seeds, {threads} thread(s): batched {32 / seconds['batched']:.0f}, "
            f"one after another {32 / seconds['looped']:.0f} seed-steps/s; batched/looped {speedup:.2f}x",
        )
