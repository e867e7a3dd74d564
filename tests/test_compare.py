"""Comparing two sessions: directions, rules, and the seed-noise test that keeps flukes out."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from records_factory import record

from pytest_ganstab.compare import DEFAULT_RULES, Rule, RuleError, compare_records, parse_rules
from pytest_ganstab.gate import run_test, splits

Records = list[dict[str, Any]]


def verdicts(old: Records, new: Records, rules: str = DEFAULT_RULES) -> dict[str, str]:
    comparison = compare_records(old, new, parse_rules([rules]))
    return {row.metric: row.verdict for row in comparison.rows}


def test_a_session_compared_with_itself_has_no_regression() -> None:
    runs = [record([8, 7, 8, 6, 8, 8], hq=[0.9, 0.95, 0.97, 0.8, 0.99, 0.9])]
    comparison = compare_records(runs, runs, parse_rules(["default", "time:+10%"]))
    assert comparison.regressions == []
    assert {row.verdict for row in comparison.rows} == {"same"}


def test_fewer_modes_on_most_seeds_is_a_regression() -> None:
    old = [record([8, 8, 8, 8, 8, 8])]
    new = [record([6, 6, 6, 6, 6, 8])]
    comparison = compare_records(old, new, parse_rules(["modes:-1"]))
    (row,) = [row for row in comparison.rows if row.metric == "modes"]
    assert row.regression
    # As extreme: the splits that give "new" all five 6s and one of the seven 8s, 7 of C(12, 6) = 924.
    assert row.p == pytest.approx(7 / math.comb(12, 6))
    assert "REGRESSION (modes:-1)" in comparison.table()


def test_a_slower_step_is_a_regression_by_its_rule_alone() -> None:
    assert verdicts([record([8] * 4, speed=1000.0)], [record([8] * 4, speed=800.0)], "time:+10%")["time"] == (
        "REGRESSION"
    )
    assert verdicts([record([8] * 4, speed=1000.0)], [record([8] * 4, speed=950.0)], "time:+10%")["time"] == (
        "worse"
    )


def test_an_improvement_is_never_a_regression() -> None:
    old, new = [record([5, 5, 6, 5, 5, 6], speed=800.0)], [record([8] * 6, speed=1000.0)]
    found = verdicts(old, new, "modes:0,time:0")
    assert found["modes"] == "better"
    assert found["time"] == "better"


def test_a_one_seed_fluke_within_noise_is_not_flagged() -> None:
    # The mean drops by 1 mode (the rule), but only because one seed of six collapsed.
    comparison = compare_records([record([8] * 6)], [record([8, 8, 8, 8, 8, 2])], parse_rules(["modes:-1"]))
    (row,) = [row for row in comparison.rows if row.metric == "modes"]
    assert row.change == pytest.approx(-1)
    assert row.p == pytest.approx(0.5)
    assert row.verdict == "within noise"
    assert comparison.regressions == []


def test_a_significant_change_below_the_rule_is_worse_but_passes() -> None:
    assert verdicts([record([8] * 6)], [record([7] * 6)], "modes:-2")["modes"] == "worse"


def test_relative_rules_compare_with_the_old_mean() -> None:
    old = [record([8] * 6, hq=[0.90] * 6)]
    assert verdicts(old, [record([8] * 6, hq=[0.80] * 6)], "hq:-5%")["hq"] == "REGRESSION"  # -11%
    assert verdicts(old, [record([8] * 6, hq=[0.88] * 6)], "hq:-5%")["hq"] == "worse"  # -2%


def test_too_few_seeds_can_never_be_significant() -> None:
    # Two seeds a side: the most extreme split has p = 1/C(4, 2) = 1/6, so no verdict beyond "too few seeds".
    (row,) = [
        row for row in compare_records([record([8, 8])], [record([1, 1])]).rows if row.metric == "modes"
    ]
    assert row.p == pytest.approx(1 / 6)
    assert verdicts([record([8, 8])], [record([1, 1])], "modes:-1")["modes"] == "too few seeds"


def test_missing_values_are_left_out_of_their_metric() -> None:
    comparison = compare_records([record([8, 8, 8, 8])], [record([8, None, 8, 8])], parse_rules(["modes:-1"]))
    (row,) = [row for row in comparison.rows if row.metric == "modes"]
    assert row.new == (8.0, 8.0, 8.0)
    assert row.verdict == "same"


def test_runs_match_by_test_and_label_and_the_rest_is_listed() -> None:
    old = [record([8] * 4, label="a"), record([8] * 4, label="a"), record([8] * 4, test="t.py::gone")]
    new = [record([8] * 4, label="a"), record([1] * 4, label="a"), record([8] * 4, test="t.py::new")]
    comparison = compare_records(old, new, parse_rules(["modes:-1"]))
    assert [(row.label, row.verdict) for row in comparison.regressions] == [("a #2", "REGRESSION")]
    assert comparison.only_old == ("t.py::gone [nonsaturating on ring8]",)
    assert comparison.only_new == ("t.py::new [nonsaturating on ring8]",)


def test_the_permutation_test_is_exact_for_small_groups() -> None:
    # Three seeds a side, all new values worse than all old: 1 split of C(6, 3) = 20 is as extreme.
    test = run_test({"modes": [8, 8, 8]}, {"modes": [5, 6, 7]}, ["modes"], {})
    assert (test.splits, test.p[0]) == (20, pytest.approx(1 / 20))
    better = run_test({"modes": [5, 6, 7]}, {"modes": [8, 8, 8]}, ["modes"], {})
    assert better.p[0] == pytest.approx(1 / 20)  # one-sided the way the mean moved: better, as rarely


def test_the_permutation_test_is_a_fixed_seed_monte_carlo_for_large_groups() -> None:
    old = [8.0, 7.0, 8.0, 8.0, 6.0, 8.0, 7.0, 8.0, 8.0, 8.0, 7.0, 8.0]  # C(24, 12) splits: sampled
    new = [7.0, 6.0, 8.0, 6.0, 6.0, 7.0, 7.0, 5.0, 8.0, 6.0, 7.0, 6.0]
    member, exact = splits(12, 12)
    assert (member.shape, exact) == ((10_000, 24), False)  # 9,999 drawn splits and the observed one
    assert member[0].tolist() == [1] * 12 + [0] * 12
    first = run_test({"modes": old}, {"modes": new}, ["modes"], {})
    again = run_test({"modes": old}, {"modes": new}, ["modes"], {})
    assert first.p[0] == again.p[0]
    assert 1 / 10_000 <= first.p[0] < 0.01  # the observed split counts: never 0 (Phipson & Smyth 2010)


def test_rules_parse_with_their_sign_or_without() -> None:
    assert parse_rules(["modes:-1, hq:-5%", "d_auc:0.05"]) == [
        Rule("modes", 1.0, relative=False),
        Rule("hq", 0.05, relative=True),
        Rule("d_auc", 0.05, relative=False),
    ]
    assert [str(rule) for rule in parse_rules(["default"])] == DEFAULT_RULES.split(",")
    assert parse_rules(["modes:-1", "modes:-2"]) == [Rule("modes", 2.0, relative=False)]  # the later wins


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("modes:+1", "modes is better when higher, so only a change of sign - can be a regression"),
        ("modes:+1", "write modes:-1"),
        ("time:-10%", "write time:+10%"),
        ("fid:+1", "unknown metric 'fid'"),
        ("modes=-1", "a rule is METRIC:[+|-]X[%]"),
        ("modes:-x", "a rule is METRIC:[+|-]X[%]"),
    ],
)
def test_bad_rules_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=re.escape(message)):
        parse_rules([text])


def test_alpha_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match=r"alpha=1\.5 must lie strictly between 0 and 1"):
        compare_records([], [], alpha=1.5)


def test_a_drop_of_exactly_the_rule_reaches_it_despite_rounding() -> None:
    # 41/6 - 35/6 is computed as 0.9999999999999996: still a drop of one mode.
    old, new = [record([7, 7, 7, 7, 7, 6])], [record([6, 6, 6, 6, 6, 5])]
    assert verdicts(old, new, "modes:-1")["modes"] == "REGRESSION"
    assert Rule("modes", 1.0, relative=False).reached(41 / 6, 35 / 6 - 41 / 6)
    assert not Rule("modes", 1.0, relative=False).reached(7.0, -0.999)


def test_the_table_shows_the_metric_alone_and_the_family_adjusted_p() -> None:
    old = [record([8] * 6, label="a"), record([8] * 6, label="b")]
    new = [record([6, 6, 6, 6, 6, 8], label="a"), record([8, 8, 8, 7, 8, 8], label="b")]
    comparison = compare_records(old, new, parse_rules(["modes:-1"]))
    (row,) = [row for row in comparison.regressions]
    assert row.p == pytest.approx(7 / 924)
    # Run b can reach the rule only when its one 7 joins five 8s on the old side... never: a drop of 1/6.
    # So it costs run a nothing, and a's adjusted p is its own.
    assert row.p_adj == pytest.approx(7 / 924)
    lines = comparison.table().splitlines()
    assert lines[1].endswith("family-wise alpha=0.05 over the session's 2 matched run(s)")
    assert lines[2].split() == ["metric", "old", "new", "change", "p", "p", "adj", "verdict"]
    assert "0.0076  0.0076  REGRESSION (modes:-1)" in comparison.table()


def noisy(label: str) -> dict[str, Any]:
    """An A/A run whose seeds spread enough to reach modes:-1 in some splits of its own seeds."""
    return record([8, 5, 7, 6, 8, 4, 7, 6], label=label)


def test_a_family_of_many_runs_needs_stronger_evidence_from_each() -> None:
    old = [record([8, 8, 8, 7, 8, 8, 7, 8], label="drop")]
    new = [record([6, 7, 7, 6, 7, 8, 6, 7], label="drop")]
    alone = compare_records(old, new, parse_rules(["modes:-1"]))
    (flagged,) = alone.regressions
    aa = [noisy(f"aa{index}") for index in range(20)]
    crowd = compare_records(old + aa, new + aa[::-1], parse_rules(["modes:-1"]))
    (row,) = [row for row in crowd.rows if row.label == "drop" and row.metric == "modes"]
    assert row.p == flagged.p  # the metric alone: unchanged
    assert row.p_adj > 0.05 > flagged.p_adj  # 21 chances to false-alarm cost evidence
    assert row.verdict == "within noise"
    per_run = compare_records(old + aa, new + aa[::-1], parse_rules(["modes:-1"]), family="run")
    assert [(row.label, row.p_adj) for row in per_run.regressions] == [("drop", flagged.p_adj)]


def test_a_session_too_large_for_its_seeds_says_so() -> None:
    # Four seeds a side: the best a run can get is 1/70, and twelve runs that each could false-alarm
    # that often make 1 - (1 - 1/70)^12 > 0.05: nothing in this session could be flagged.
    runs = [(record([8, 8, 8, 8], label=f"r{i}"), record([7, 6, 5, 4], label=f"r{i}")) for i in range(12)]
    comparison = compare_records(
        [old for old, _ in runs], [new for _, new in runs], parse_rules(["modes:-1"])
    )
    assert {row.verdict for row in comparison.rows if row.metric == "modes"} == {
        "too few seeds for a session of 12 runs"
    }
    alone = compare_records([runs[0][0]], [runs[0][1]], parse_rules(["modes:-1"]))
    assert [row.verdict for row in alone.rows if row.metric == "modes"] == ["REGRESSION"]


def test_seeds_move_whole_so_missing_values_and_correlation_go_with_them() -> None:
    # Every new seed diverged: modes, hq and d_auc were not measured; nonfinite went from 0 to 1.
    old = [record([8] * 6)]
    new = [record([None] * 6, hq=[None] * 6)]  # type: ignore[list-item]
    new[0]["metrics"]["d_auc"] = [None] * 6
    new[0]["metrics"]["nonfinite"] = [1.0] * 6
    found = verdicts(old, new)
    assert found["nonfinite"] == "REGRESSION"
    assert found["modes"] == "" and found["hq"] == ""  # nothing measured on the new side


def test_the_family_is_checked() -> None:
    with pytest.raises(ValueError, match="family='all' is unknown; choose session or run"):
        compare_records([], [], family="all")
