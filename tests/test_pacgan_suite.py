"""The helpers of suites/test_pacgan.py (PacGAN's Table 1 beside ours) and the tables suites/conftest.py
writes: the paper's networks, toys and metric definitions, sampling as the paper samples, the difference
stated per figure, and the remedies' mode counts beside their HQ."""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

import pytest_ganstab as gs
from pytest_ganstab.metrics.samples import mode_coverage

SUITES = Path(__file__).resolve().parent.parent / "suites"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def suite() -> ModuleType:
    return _load("pacgan_suite", SUITES / "test_pacgan.py")


@pytest.fixture(scope="module")
def conftest() -> ModuleType:
    return _load("pacgan_suites_conftest", SUITES / "conftest.py")


def test_maxout_takes_the_largest_of_each_units_consecutive_pieces(suite: ModuleType) -> None:
    """blocks' Maxout reshapes the Linear's output to [..., units, pieces] and takes the max over pieces."""
    layer = suite.Maxout(3, 4, 5)
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    linear = layer.linear(x)
    expected = torch.stack([linear[:, 5 * u : 5 * u + 5].max(dim=1).values for u in range(4)], dim=1)
    assert torch.equal(layer(x), expected)


def test_the_networks_are_the_papers(suite: ModuleType) -> None:
    g, d = suite.PacGANGenerator(), suite.PacGANDiscriminator()
    linears = [m for m in g.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features, m.bias is not None) for m in linears] == [
        (2, 400, False),
        (400, 400, False),
        (400, 400, False),
        (400, 400, False),
        (400, 2, True),
    ]
    norms = [m for m in g.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [(m.eps, m.momentum) for m in norms] == [(1e-4, 0.05)] * 4
    maxouts = [m for m in d.modules() if isinstance(m, suite.Maxout)]
    assert [(m.linear.in_features, m.width, m.pieces) for m in maxouts] == [
        (2, 200, 5),
        (200, 200, 5),
        (200, 200, 5),
    ]
    assert d(torch.zeros(7, 2)).shape == (7, 1)
    weights = torch.cat([m.weight.flatten() for m in d.modules() if isinstance(m, torch.nn.Linear)])
    assert abs(weights.std().item() - 0.02) < 1e-3 and all(
        bool((m.bias == 0).all()) for m in d.modules() if isinstance(m, torch.nn.Linear)
    )
    recipe = suite.PACGAN_GAN
    assert (recipe.loss, recipe.batch_size, recipe.latent_dim, recipe.g_lr, recipe.d_lr, recipe.betas) == (
        "nonsaturating",
        100,
        2,
        1e-4,
        1e-4,
        (0.8, 0.999),
    )


def test_our_toys_are_the_papers() -> None:
    """The paper's config.py: ring means (cos 2πi/8, sin 2πi/8) with sd 0.01; grid means {-4,-2,0,2,4}²
    with sd 0.05; equal weights."""
    ring, grid = gs.toy("ring8"), gs.toy("grid25")
    ring_means = {
        (round(math.cos(i * 2 * math.pi / 8), 6), round(math.sin(i * 2 * math.pi / 8), 6)) for i in range(8)
    }
    grid_means = {(float(i), float(j)) for i, j in itertools.product(range(-4, 5, 2), repeat=2)}
    assert {tuple(round(float(v), 6) for v in c) for c in ring.centers} == ring_means
    assert {tuple(float(v) for v in c) for c in grid.centers} == grid_means
    assert torch.allclose(ring.std, torch.tensor(0.01)) and torch.allclose(grid.std, torch.tensor(0.05))
    assert ring.hq_threshold == grid.hq_threshold == 3.0  # extensions.py: dis_thre=3, in sd
    assert torch.allclose(ring.weights, torch.full((8,), 1 / 8))


def test_our_metrics_are_the_papers() -> None:
    """extensions.py's MetricLogger: a sample is counted for its nearest mode when within 3 sd of it; a
    mode is covered when counted at least once; HQ is the counted share; the paper's code logs the counts'
    entropy H, and our reverse KL against equal weights is log M − H."""
    ring = gs.toy("ring8")
    sd = 0.01
    samples = torch.tensor(
        [
            [1 + 2.9 * sd, 0.0],  # mode 0, inside 3 sd
            [1 + 3.1 * sd, 0.0],  # mode 0, outside: not high quality
            [0.0, 1 - 1.0 * sd],  # mode 2
            [0.0, 1 + 0.5 * sd],  # mode 2
            [-1.0, 0.0],  # mode 4
            [0.3, 0.3],  # far from every mode
        ]
    )
    row = mode_coverage(samples, ring).iloc[0]
    counts = np.array([row[f"count.{m}"] for m in range(8)], dtype=float)
    assert counts.tolist() == [1, 0, 2, 0, 1, 0, 0, 0]
    assert row["modes"] == 3 and row["hq"] == pytest.approx(4 / 6)
    share = counts[counts > 0] / counts.sum()
    entropy = float(-(share * np.log(share)).sum())
    assert row["reverse_kl"] == pytest.approx(math.log(8) - entropy)


def test_the_difference_is_stated_in_the_figures_unit_share_and_z(suite: ModuleType) -> None:
    figure = suite.Figure((4.0, 5.0, 3.0, 4.0))
    assert figure.mean == 4.0 and figure.standard_error == pytest.approx(np.std([4, 5, 3, 4], ddof=1) / 2)
    z = (4.0 - 6.3) / math.hypot(0.5, figure.standard_error)
    assert suite.difference("modes", figure, 6.3, 0.5) == f"-2.3 modes (-37 %; z = {z:+.1f})"
    hq = suite.Figure((0.5, 0.7))
    assert suite.difference("hq", hq, 0.982, 0.002).startswith("-38.2 points (-39 %; z = ")
    assert suite.difference("reverse_kl", suite.Figure((math.nan, math.nan)), 0.45, 0.09).startswith(
        "not measured"
    )
    assert suite.Figure((math.nan, 1.0, 2.0)).mean == 1.5  # a seed without HQ samples is left out


def test_the_table_puts_the_papers_row_beside_ours(suite: ModuleType, conftest: ModuleType) -> None:
    coverage = {"modes": [5.0, 4.0], "hq": [0.01, 0.02], "reverse_kl": [0.9, math.nan]}
    rows = suite.table_rows("ring8", coverage)
    assert [row[2] for row in rows] == ["6.3 ± 0.5", "98.2 ± 0.2 %", "0.45 ± 0.09"]
    assert rows[0][3] == "4.5 ± 0.5 †"  # at HQ 1.5 % the count is spread, not capture
    assert rows[1][3] == "1.5 ± 0.5 %" and rows[2][3] == "0.90"
    assert rows[2][5] == "0.90, n/a (1 without an HQ sample)"
    table = {
        "toy": "ring8",
        "profile": "smoke",
        "seeds": 2,
        "steps": 80,
        "wall_s": 1.0,
        "cpu_s": 0.5,
        "threads": 1,
        "header": suite.HEADER,
        "rows": rows,
        "settings": suite.SETTINGS,
        "differences": suite.DIFFERENCES,
    }
    text = conftest.pacgan_markdown([table])
    line = "**ring8**: profile smoke, 2 seeds × 80 steps; training took 1.0 s wall, and train() 0.5 s CPU on "
    assert line + "1 thread" in text
    assert "| ring8 | modes captured | 6.3 ± 0.5 | 4.5 ± 0.5 † |" in text
    assert "† ours: HQ below 50%: most samples lie off every mode, so this mode count measures" in text
    assert "-1.8 modes (-29 %; z = -2.5)" in text
    assert all(line in text for line in suite.DIFFERENCES)


def test_a_mean_outside_its_measured_range_fails_and_unmeasured_runs_are_not_judged(
    suite: ModuleType,
) -> None:
    measured = suite.Measured(
        80, 4, modes=(5, 4, 4, 3), hq=(0.007, 0.004, 0.005, 0.005), reverse_kl=(0.5,) * 4
    )
    low, high = measured.bounds("modes")
    assert (low, high) == pytest.approx((4.0 - 4 * math.sqrt(2 / 3) / 2, 4.0 + 4 * math.sqrt(2 / 3) / 2))
    assert measured.bounds("reverse_kl") == pytest.approx((0.45, 0.55))  # no spread: the floor
    held = {"modes": [4, 4, 5, 3], "hq": [0.005] * 4, "reverse_kl": [0.5, 0.52, 0.48, 0.5]}
    assert suite.judge(measured, held, 80, 4) == []
    collapsed = {"modes": [1, 1, 1, 1], "hq": [0.0] * 4, "reverse_kl": [math.nan] * 4}
    failures = suite.judge(measured, collapsed, 80, 4)
    assert [line.split(" over ")[0] for line in failures] == [
        "mean modes captured 1",
        "mean high-quality samples 0",
        "mean reverse KL (nats) nan",
    ]
    assert suite.judge(measured, collapsed, 81, 4) == [] and suite.judge(None, collapsed, 80, 4) == []


def test_the_remedies_table_puts_hq_beside_every_mode_count_and_marks_spread(conftest: ModuleType) -> None:
    common = {"remedy": "ttur", "baseline": "nonsaturating", "toy": "ring8", "seeds_better": "0/4"}
    modes = {**common, "trial": "ttur-vs-collapse", "metric": "modes (higher wins)", "helps": False}
    modes |= {"baseline_mean": 1.0, "baseline_hq": 1.0, "remedy_mean": 3.0, "remedy_hq": 0.02}
    signal = {**common, "trial": "a-signal", "metric": "g_signal (higher wins)", "helps": True}
    signal |= {"baseline_mean": 3.55e-10, "remedy_mean": 36.1}
    text = conftest.remedies_markdown([modes, signal])
    assert "| modes (higher wins) | 1 (HQ 100%) | 3 (HQ 2%) † | 0/4 | no |" in text
    assert "| g_signal (higher wins) | 3.55e-10 | 36.1 | 0/4 | yes |" in text
    assert text.rstrip().endswith("measures spread, not capture.")
