"""Hand-built run records, shaped as ``records.run_record`` makes them, for store, compare and CLI tests."""

from __future__ import annotations

from typing import Any

TEST = "tests/test_gan.py::test_ring"


def record(
    modes: list[float | None],
    *,
    hq: list[float] | None = None,
    speed: float = 1000.0,
    test: str = TEST,
    label: str = "nonsaturating on ring8",
) -> dict[str, Any]:
    """A record of one Run whose seeds captured ``modes``; the other metrics are healthy and constant."""
    return {
        "schema": 1,
        "test": test,
        "label": label,
        "recipe": "nonsaturating",
        "toy": "ring8",
        "seeds": len(modes),
        "steps": 200,
        "device": "cpu",
        "seed_steps_per_s": speed,
        "nonfinite_seeds": 0,
        "seed_ids": list(range(len(modes))),
        "metrics": {
            "modes": modes,
            "hq": hq if hq is not None else [0.95] * len(modes),
            "d_auc": [0.7] * len(modes),
            "nonfinite": [0.0] * len(modes),
        },
        "findings": [],
        "passed": None,
    }
