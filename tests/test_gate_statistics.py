"""The regression gate's error rates, measured on synthetic seeds: how often it cries wolf, how often it
catches a real regression.

The seed model is built to be hard on a gate: the six metrics share a latent "seed quality" (a seed that
covers more modes also has more HQ samples and a lower reverse KL), modes are small integers, about 8 %
of seeds diverge and then have no other metric, and the default rules (``DEFAULT_RULES``) are all on.
Without a correction for testing six metrics the gate false-alarmed about 11 % of the time (issue 13);
the README quotes the figures these tests compute. Fixed seeds: the figures are the same on every run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pytest_ganstab.compare import DEFAULT_RULES, compare_records, parse_rules

RULES = parse_rules([DEFAULT_RULES])


def seeds(rng: np.random.Generator, n: int, regression: str | None = None) -> dict[str, list[float | None]]:
    """Per-seed key metrics of one synthetic run of ``n`` seeds.

    ``regression``: "one_mode" lowers every seed's modes by one (before rounding and clipping);
    "fast_g" is G's learning rate at 10× D's as the suites measure it (docs/design.md §1, cause 5): G
    covers almost no mode, its samples are rarely HQ, D's AUC falls to 0.5 and G's signal to 0.4 %.
    """
    quality = rng.standard_normal(n)
    noise = rng.standard_normal((6, n))

    def mix(loading: float, k: int) -> np.ndarray:  # unit variance, correlated through ``quality``
        return loading * quality + math.sqrt(1 - loading * loading) * noise[k]

    drop = 1.0 if regression == "one_mode" else 0.0
    metrics = {
        "modes": np.clip(np.round(6.2 + mix(0.8, 0) - drop), 0, 8),
        "hq": np.clip(0.35 + 0.06 * mix(0.7, 1), 0, 1),
        "reverse_kl": np.maximum(0, 1.1 + 0.15 * mix(-0.6, 2)),
        "d_auc": np.clip(0.85 + 0.05 * mix(-0.5, 3), 0.5, 1),
        "g_signal": 10 * np.exp(0.5 * mix(0.4, 4)),
    }
    if regression == "fast_g":
        collapsed = rng.standard_normal((3, n))
        metrics["modes"] = np.clip(np.round(0.2 + 0.5 * collapsed[0]), 0, 8)
        metrics["hq"] = np.clip(0.003 + 0.005 * collapsed[1], 0, 1)
        metrics["d_auc"] = 0.5 + 0.02 * collapsed[2]
        metrics["g_signal"] = metrics["g_signal"] * 0.004
    diverged = mix(-0.3, 5) > 1.405  # about 8 % of seeds, more often the poorer ones
    out: dict[str, list[float | None]] = {
        name: [None if gone else float(value) for value, gone in zip(values, diverged, strict=True)]
        for name, values in metrics.items()
    }
    out["nonfinite"] = [float(gone) for gone in diverged]
    return out


def session(rng: np.random.Generator, n: int, runs: int, regression: str | None = None) -> tuple[Any, Any]:
    """Old and new records of a session of ``runs`` runs; only run 0 carries ``regression``."""
    old = [{"test": "t", "label": f"run {i}", "metrics": seeds(rng, n)} for i in range(runs)]
    new = [
        {"test": "t", "label": f"run {i}", "metrics": seeds(rng, n, regression if i == 0 else None)}
        for i in range(runs)
    ]
    return old, new


def flagged(old: Any, new: Any, family: str = "session") -> set[str]:
    """The runs the gate fails, at its defaults (alpha 0.05, every default rule)."""
    return {row.label for row in compare_records(old, new, RULES, family=family).regressions}


def wilson(hits: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a rate (Wilson 1927): honest near 0 and near 1."""
    rate = hits / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return centre - half, centre + half


def test_one_run_false_alarms_at_most_alpha_over_all_its_rules() -> None:
    rng = np.random.default_rng(13)
    trials = 6_000  # 6 seeds a side: 924 splits, every one enumerated
    alarms = sum(bool(flagged(*session(rng, 6, 1))) for _ in range(trials))
    low, high = wilson(alarms, trials)
    assert alarms / trials <= 0.05  # 264 of 6,000: 4.4 % [3.9 %, 4.9 %]
    assert high <= 0.0525, f"{alarms}/{trials} A/A runs flagged: 95% interval [{low:.2%}, {high:.2%}]"


def test_a_session_of_ten_runs_false_alarms_at_most_alpha_and_per_run_families_would_not() -> None:
    rng = np.random.default_rng(14)
    trials = 300
    sessions = [session(rng, 6, 10) for _ in range(trials)]
    alarms = sum(bool(flagged(old, new)) for old, new in sessions)
    low, high = wilson(alarms, trials)  # 10 of 300: 3.3 % [1.8 %, 6.0 %]
    assert high <= 0.065, f"{alarms}/{trials} A/A sessions flagged: 95% interval [{low:.2%}, {high:.2%}]"
    # Each run held at alpha on its own: the chances add up over the session's ten runs (115 of 300).
    per_run = sum(bool(flagged(old, new, family="run")) for old, new in sessions)
    assert wilson(per_run, trials)[0] >= 0.25


def test_g_learning_rate_at_ten_times_d_is_caught_at_8_seeds() -> None:
    rng = np.random.default_rng(15)
    trials = 100
    caught = sum(flagged(*session(rng, 8, 1, "fast_g")) == {"run 0"} for _ in range(trials))
    assert wilson(caught, trials)[0] >= 0.9, f"caught {caught}/{trials}"  # 100 of 100: [96.3 %, 100 %]


def test_a_drop_of_one_mode_is_caught_only_sometimes_at_8_seeds() -> None:
    # A mode is about one seed-to-seed sd, and the rule modes:-1 asks for the whole mode: 8 seeds a side
    # catch it only sometimes (90 of 300: 30 % [25 %, 35 %]). More seeds, or modes:-0.5, catch more.
    rng = np.random.default_rng(16)
    trials = 300
    caught = sum(flagged(*session(rng, 8, 1, "one_mode")) == {"run 0"} for _ in range(trials))
    low, high = wilson(caught, trials)
    assert low >= 0.2 and high <= 0.45, f"caught {caught}/{trials}: [{low:.1%}, {high:.1%}]"
