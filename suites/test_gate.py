"""The regression gate on real training: how often it false-alarms on A/A pairs, and whether it catches
G's learning rate at 10× D's, at 8 seeds a side with the default rules and alpha.

A/A pairs need many independent 8-seed runs of one recipe. Seed k of a Run depends only on (base seed, k)
(docs/design.md §5), so the seeds of ONE Run of many seeds are independent draws of the same training,
and disjoint groups of 8 of them are what separate 8-seed Runs would be: one Run of 480 seeds gives 60
groups, so 30 disjoint A/A pairs, without training 60 times. The case is issue 13's: non-saturating on
ring8 for 400 steps (exactly: the steps scale does not apply), at a cheap width so that it fits the CPU
smoke profile (about 45 s on two cores: 30 A/A pairs, 8 fast-G pairs); other profiles train 1,920 + 480
seeds (120 A/A pairs, 60 fast-G pairs).

The synthetic counterpart, with thousands of trials, is tests/test_gate_statistics.py; the README states
both sets of figures.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from pytest_ganstab import gate, recipe, train
from pytest_ganstab.compare import compare_records
from pytest_ganstab.records import RunRecord, run_record
from pytest_ganstab.rules import DEFAULT_ALPHA, DEFAULT_RULES, parse_rules

SIDE = 8  # seeds a side, as a CI gate would run
STEPS = 400
CHEAP = {"width": 32, "batch_size": 64}
RULES = parse_rules([DEFAULT_RULES])
REPAIRINGS = 10  # further random pairings of the same groups: a steadier rate, not independent trials


def groups(record: RunRecord, count: int) -> list[RunRecord]:
    """The first ``count`` disjoint groups of ``SIDE`` consecutive seeds, each as the record of an 8-seed
    run of one test (the same test and label, so that any two of them are compared as old and new)."""
    return [
        {
            **record,
            "label": "nonsaturating on ring8",
            "seeds": SIDE,
            "metrics": {
                metric: values[i * SIDE : (i + 1) * SIDE] for metric, values in record["metrics"].items()
            },
        }
        for i in range(count)
    ]


def alarms(old: RunRecord, new: RunRecord) -> bool:
    return bool(compare_records([old], [new], RULES).regressions)


def gate_test(old: RunRecord, new: RunRecord) -> gate.RunTest:
    """The gate's permutation test of one pair, on the metrics ``compare_records`` tests."""
    metrics = [
        rule.metric
        for rule in RULES
        if any(v is not None for v in old["metrics"][rule.metric])
        and any(v is not None for v in new["metrics"][rule.metric])
    ]
    return gate.run_test(old["metrics"], new["metrics"], metrics, {rule.metric: rule for rule in RULES})


def exact_alarm_chance(test: gate.RunTest) -> float:
    """P(the gate alarms | these 16 seeds): the share of the seeds' splits on which it would alarm."""
    return float(np.mean(test.cdf(test.null) <= DEFAULT_ALPHA))


def uncorrected_alarm(test: gate.RunTest) -> bool:
    """The gate before issue 13: each metric that reaches its rule tested at alpha on its own."""
    return bool(np.any(test.reached & (np.nan_to_num(test.p, nan=1.0) <= DEFAULT_ALPHA)))


def wilson(hits: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    rate = hits / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return centre - half, centre + half


@pytest.mark.ganstab
def test_the_gate_rarely_false_alarms_on_real_aa_pairs_and_catches_a_fast_generator(
    ganstab: Any, record_property: Any
) -> None:
    pool, fast = (480, 64) if ganstab.profile == "smoke" else (1920, 480)
    options = {"steps": STEPS, "device": ganstab.device, "seed": ganstab.seed}
    same = train(recipe("nonsaturating", **CHEAP), "ring8", seeds=pool, name="A/A pool", **options)
    # G at 10× D's learning rate, on seeds the pool does not use.
    faster = train(
        recipe("nonsaturating", **CHEAP, g_lr=1e-3, d_lr=1e-4),
        "ring8",
        seeds=list(range(pool, pool + fast)),
        name="G lr 10x D lr",
        **options,
    )
    aa = groups(run_record(same), pool // SIDE)
    pairs = [(aa[2 * i], aa[2 * i + 1]) for i in range(len(aa) // 2)]
    false_alarms = sum(alarms(old, new) for old, new in pairs)
    tests = [gate_test(old, new) for old, new in pairs]
    chance = float(np.mean([exact_alarm_chance(test) for test in tests]))
    rng = np.random.default_rng(0)
    repaired = [
        (aa[o[2 * i]], aa[o[2 * i + 1]])
        for o in (rng.permutation(len(aa)) for _ in range(REPAIRINGS))
        for i in range(len(pairs))
    ]
    repaired_alarms = sum(alarms(old, new) for old, new in repaired)
    uncorrected = sum(uncorrected_alarm(gate_test(old, new)) for old, new in repaired)
    regressed = groups(run_record(faster), fast // SIDE)
    caught = sum(alarms(aa[i], regressed[i]) for i in range(len(regressed)))

    low, high = wilson(false_alarms, len(pairs))
    power_low, _ = wilson(caught, len(regressed))
    figures = (
        f"A/A: {false_alarms}/{len(pairs)} independent pairs flagged ({false_alarms / len(pairs):.1%}, "
        f"95% CI [{low:.1%}, {high:.1%}]); exact chance given their seeds {chance:.2%}; "
        f"{repaired_alarms}/{len(repaired)} over {REPAIRINGS} re-pairings "
        f"({repaired_alarms / len(repaired):.1%}; each metric at alpha alone, as before: "
        f"{uncorrected / len(repaired):.1%}); "
        f"G lr 10x: {caught}/{len(regressed)} caught "
        f"(95% CI from {power_low:.1%})"
    )
    print(f"\nganstab gate, {SIDE} seeds a side, default rules, alpha {DEFAULT_ALPHA}: {figures}")
    record_property("gate", figures)
    assert chance <= DEFAULT_ALPHA, figures  # by construction, if the seeds are exchangeable
    assert false_alarms <= math.ceil(0.1 * len(pairs)), figures
    assert repaired_alarms <= 0.075 * len(repaired), figures
    assert caught >= 0.9 * len(regressed), figures
