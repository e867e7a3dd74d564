"""Bad input to the engine and the toys is one clear line naming the argument and the fix; nothing is
silently accepted (issue 13's list); a seed that goes NaN is recorded like any other, whatever its index."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import pytest_ganstab as gs

SMALL = gs.recipe("nonsaturating", width=16, batch_size=32)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"seed": -1}, ValueError, "seed=-1: the base seed must be a non-negative integer"),
        ({"seed": "x"}, TypeError, "seed='x': the base seed must be a non-negative integer, e.g. seed=0"),
        ({"seed": 1.5}, TypeError, "seed=1.5: the base seed must be a non-negative integer"),
        ({"seeds": ["a"]}, TypeError, "seeds=['a']: seed indices must be integers, e.g. seeds=[3, 5]"),
        ({"seeds": [True]}, TypeError, "seeds=[True]: seed indices must be integers"),
    ],
)
def test_train_names_a_bad_seed_and_the_fix(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)) as raised:
        gs.train(SMALL, "ring8", steps=1, **{"seeds": 1, **kwargs})
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("ring", {"n": 2.5}, "toy 'ring': n=2.5 must be a whole number of at least 1"),
        ("ring", {"n": True}, "toy 'ring': n=True must be a whole number of at least 1"),
        ("ring", {"radius": "1"}, "toy 'ring': radius='1' must be a positive number"),
        ("grid", {"spacing": float("nan")}, "toy 'grid': spacing=nan must be a positive number"),
        ("blobs9", {"size": 1.5}, "toy 'blobs9': size=1.5 must be a whole number of at least 1"),
        ("blobs9", {"channels": 0}, "toy 'blobs9': channels=0 must be a whole number of at least 1"),
        ("mixture1d", {"means": "ab"}, "means='ab': give a list of at least one number"),
    ],
)
def test_a_bad_toy_option_is_one_line_naming_it(name: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        gs.toy(name, **options)
    assert "\n" not in str(raised.value)


def nan_generator_at(seed: int) -> Callable[[], nn.Module]:
    """A factory whose module for seed ``seed`` (built in seed order) outputs NaN from the first step."""
    built = {"count": 0}

    def make() -> nn.Module:
        module = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
        if built["count"] == seed:
            with torch.no_grad():
                module[2].bias.fill_(float("nan"))
        built["count"] += 1
        return module

    return make


@pytest.mark.parametrize("bad", [0, 1, 2, 4], ids=["first", "second", "middle", "last"])
def test_a_seed_that_goes_nan_is_recorded_like_any_other_whatever_its_index(bad: int) -> None:
    """Seeds 0 and 1 are the ones the batched-vs-looped check runs on: a NaN there must not crash it."""
    run = gs.train(
        gs.recipe("nonsaturating", batch_size=32), "ring8", seeds=5, steps=4, generator=nan_generator_at(bad)
    )
    assert run.notes == []  # NaN in both ways agrees: still batched
    assert run.first_nonfinite_step.tolist() == [0 if k == bad else -1 for k in range(5)]
    finding = next(f for f in run.diagnose() if f.check == "divergence")
    assert finding.failed_seeds == [bad]
    healthy = run.trace[run.trace["seed"] != bad]
    assert not healthy["nonfinite"].any()
