"""The engine's contract: a Run per call, a trace per seed and step, NaN as a finding, clear errors."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from pytest_ganstab import Run, recipe, rng, toy, train
from pytest_ganstab.engine import _Loop
from pytest_ganstab.losses import get_loss
from pytest_ganstab.nets import build_mlps
from pytest_ganstab.probes import batch_auc
from pytest_ganstab.run import PROBES

SMALL = recipe("nonsaturating", width=16, batch_size=32)


@pytest.fixture(scope="module")
def small_run() -> Run:
    return train(SMALL, "ring8", seeds=3, steps=12, seed=5)


def test_a_run_carries_what_it_was_and_how_fast_it_went(small_run: Run) -> None:
    assert small_run.recipe == SMALL and small_run.toy.name == "ring8"
    assert small_run.seeds == [0, 1, 2] and small_run.base_seed == 5 and small_run.steps == 12
    assert small_run.device == "cpu" and small_run.wall_time_s > 0
    assert small_run.seed_steps_per_s == pytest.approx(3 * 12 / small_run.wall_time_s)


def test_the_trace_has_a_row_per_seed_and_step_and_every_probe(small_run: Run) -> None:
    trace = small_run.trace
    assert len(trace) == 3 * 12
    assert set(PROBES) <= set(trace.columns)
    assert {"g_grad_norm.l0", "g_grad_norm.l3", "d_grad_norm.l0", "d_grad_norm.l3"} <= set(trace.columns)
    assert trace.groupby("seed")["step"].apply(list).map(lambda steps: steps == list(range(12))).all()
    finite = trace.drop(columns=["seed", "step", "nonfinite"])
    assert finite.notna().all().all() and not trace["nonfinite"].any()
    assert trace["d_auc"].between(0, 1).all() and trace["d_real"].between(0, 1).all()


def test_per_layer_norms_add_up_to_the_whole_network(small_run: Run) -> None:
    trace = small_run.trace
    layers = trace[[f"g_grad_norm.l{i}" for i in range(4)]].pow(2).sum(axis=1).pow(0.5)
    pd.testing.assert_series_equal(layers, trace["g_grad_norm"], check_names=False, rtol=1e-5)


def test_samples_come_from_fixed_latents(small_run: Run) -> None:
    first = small_run.samples(100)
    assert first.shape == (3, 100, 2)
    assert torch.equal(first, small_run.samples(100))


def test_record_every_thins_the_trace_but_keeps_the_last_step() -> None:
    run = train(SMALL, "ring8", seeds=2, steps=10, record_every=4)
    assert sorted(run.trace["step"].unique()) == [0, 4, 8, 9]


def test_probes_off_records_nothing() -> None:
    assert train(SMALL, "ring8", seeds=2, steps=3, probes=False).trace.empty


def test_the_same_call_twice_gives_identical_traces() -> None:
    first = train(SMALL, "grid25", seeds=2, steps=8, seed=11)
    second = train(SMALL, "grid25", seeds=2, steps=8, seed=11)
    pd.testing.assert_frame_equal(first.trace, second.trace)
    assert torch.equal(first.samples(50), second.samples(50))


def test_a_seed_can_be_rerun_alone() -> None:
    together = train(SMALL, "ring8", seeds=3, steps=6, seed=2)
    alone = train(SMALL, "ring8", seeds=[1], steps=6, seed=2)
    pd.testing.assert_frame_equal(together.seed_trace(1), alone.seed_trace(1), check_exact=True)


def test_a_diverging_seed_is_recorded_and_never_stops_the_others() -> None:
    # SGD at lr 10 blows up within a few steps; the run still returns, with the step of the first NaN/Inf.
    run = train(
        recipe("nonsaturating", width=16, batch_size=32, optimizer="sgd", g_lr=10.0, d_lr=10.0),
        "ring8",
        seeds=2,
        steps=40,
    )
    assert (run.first_nonfinite_step >= 0).all()
    first = int(run.first_nonfinite_step[0])
    seed0 = run.seed_trace(0)
    assert not seed0.loc[seed0["step"] < first, "nonfinite"].any()
    assert seed0.loc[seed0["step"] == first, "nonfinite"].all()


def test_nan_in_one_seed_leaves_the_other_seeds_bit_identical() -> None:
    keys = rng.seed_keys(4, [0, 1], "cpu")
    ring = toy("ring8")

    def trace(poison_seed_0: bool) -> pd.DataFrame:
        nets = build_mlps(SMALL, ring, keys)
        loop = _Loop(SMALL, get_loss(SMALL.loss), ring, nets, keys, steps=5, record_every=1)

        def after_step(step: int, _steps: int) -> None:
            if poison_seed_0 and step == 2:
                with torch.no_grad():
                    nets.generator.parameters()[0][0].fill_(float("nan"))

        loop.run(after_step)
        return loop.trace([0, 1])

    healthy, broken = trace(poison_seed_0=False), trace(poison_seed_0=True)
    assert broken[broken["seed"] == 0]["nonfinite"].any()
    pd.testing.assert_frame_equal(broken[broken["seed"] == 1], healthy[healthy["seed"] == 1])


def test_batch_auc_counts_ties_as_half() -> None:
    real = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    fake = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(batch_auc(real, fake), torch.tensor([1.0, 0.5]))
    assert math.isclose(batch_auc(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 2.0]])).item(), 0.25)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"recipe": "wgan_gp"}, ValueError, "unknown recipe 'wgan_gp'"),
        ({"data": "ring9"}, ValueError, "unknown toy 'ring9'"),
        ({"seeds": 0}, ValueError, "seeds=0: train at least 1 seed"),
        ({"seeds": [1, 1]}, ValueError, "seed indices must be distinct"),
        ({"seeds": "8"}, TypeError, "give a count"),
        ({"steps": 0}, ValueError, "steps=0: must be an integer of at least 1"),
        ({"device": "tpu"}, ValueError, "device='tpu'"),
        ({"recipe": 3}, TypeError, "recipe=3: give a recipe name"),
    ],
)
def test_bad_arguments_name_the_argument_and_the_fix(
    kwargs: dict[str, object], error: type, message: str
) -> None:
    arguments: dict[str, object] = {"recipe": SMALL, "data": "ring8", "seeds": 1, "steps": 1, **kwargs}
    with pytest.raises(error, match=message):
        train(arguments.pop("recipe"), arguments.pop("data"), **arguments)  # type: ignore[arg-type]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_asking_for_cuda_without_cuda_says_so() -> None:
    with pytest.raises(ValueError, match="CUDA is not available on this machine; use device='cpu'"):
        train(SMALL, "ring8", seeds=1, steps=1, device="cuda")


def test_uniform_draws_stay_inside_the_open_interval_so_normals_stay_finite() -> None:
    # The largest 24-bit value once rounded up to exactly 1.0, an infinite normal and a false "diverged".
    edges = rng.unit_interval(torch.tensor([0.0, 2.0**24 - 1]))
    assert (edges > 0).all() and (edges < 1).all()
    assert torch.isfinite(torch.special.ndtri(edges)).all()


def test_a_loss_given_by_name_is_the_loss_the_run_records() -> None:
    run = train(SMALL, "ring8", seeds=1, steps=2, loss="minimax")
    assert run.recipe.loss == "minimax" and run.notes == []
