"""A rate with an empty denominator is not estimable: NaN, listed with a reason, never judged."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from slack_alerts.checks.fairness import (
    FairnessThresholds,
    fairness_findings,
    fairness_summary,
    group_metrics,
    not_estimable,
)


def fairlearn(y_true: Any, y_pred: Any, groups: Any, metric: Any) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = MetricFrame(metrics=metric, y_true=y_true, y_pred=y_pred, sensitive_features=groups)
    return frame.by_group


def three_sites(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """200 patients per site; at east nobody has the label and everybody is predicted 0."""
    rng = np.random.default_rng(seed)
    sites = np.repeat(["east", "north", "south"], 200)
    y_true = np.where(sites == "east", 0, (rng.random(600) < 0.4).astype(int))
    # north: a good model; south: misses many cases (a real safety problem).
    hit = np.where(sites == "north", 0.9, 0.55)
    y_pred = np.where(y_true == 1, rng.random(600) < hit, rng.random(600) < 0.1).astype(int)
    y_pred[sites == "east"] = 0
    return y_true, y_pred, sites


class TestThreeSites:
    def test_east_missed_cases_are_not_estimable_not_zero(self) -> None:
        y_true, y_pred, sites = three_sites()
        table = group_metrics(y_true, y_pred, sites)
        # fairlearn's convention: a group with no positives has FNR 0 (and TPR 0).
        assert fairlearn(y_true, y_pred, sites, false_negative_rate)["east"] == 0.0
        assert fairlearn(y_true, y_pred, sites, true_positive_rate)["east"] == 0.0
        assert math.isnan(table.loc["east", "fnr"]) and math.isnan(table.loc["east", "tpr"])
        assert table.loc["east", "positives"] == 0 and table.loc["east", "accuracy"] == 1.0
        # The estimable values of the other sites are fairlearn's.
        for column, metric in (("fnr", false_negative_rate), ("fpr", false_positive_rate)):
            expected = fairlearn(y_true, y_pred, sites, metric)
            for site in ("north", "south"):
                assert table.loc[site, column] == pytest.approx(expected[site], abs=1e-12)
        assert (
            table.loc["east", "fpr"]
            == fairlearn(y_true, y_pred, sites, false_positive_rate)["east"]
        )
        listed = {(e.group, e.metric): e for e in not_estimable(table)}
        assert set(listed) == {("east", "tpr"), ("east", "fnr")}
        assert listed[("east", "fnr")].reason == "no positive label in the group"
        assert listed[("east", "fnr")].rules == ("safety",)
        assert listed[("east", "tpr")].rules == ("equalized_odds",)

    def test_no_safety_violation_for_east_only_for_south(self) -> None:
        y_true, y_pred, sites = three_sites()
        table = group_metrics(y_true, y_pred, sites)
        found = {f.violation_type: f for f in fairness_findings(table)}
        assert found["safety"].affected_groups == ["south"]
        south_fnr = fairlearn(y_true, y_pred, sites, false_negative_rate)["south"]
        assert south_fnr > 0.3
        assert found["safety"].details["harmful_rate"] == {"south": round(south_fnr, 4)}
        # Equalized odds are judged between north and south only, on fairlearn's numbers.
        eod = found["equalized_odds"].details["equalized_odds_difference"]
        rows = sites != "east"
        tpr = fairlearn(y_true[rows], y_pred[rows], sites[rows], true_positive_rate)
        fpr = fairlearn(y_true, y_pred, sites, false_positive_rate)
        assert eod == pytest.approx(max(tpr.max() - tpr.min(), fpr.max() - fpr.min()), abs=1e-12)
        assert "east" not in found["equalized_odds"].affected_groups

    def test_a_perfect_model_raises_no_error_rate_finding(self) -> None:
        y_true, y_pred, sites = three_sites()
        y_pred = y_true.copy()  # every site 100% correct, east included
        table = group_metrics(y_true, y_pred, sites)
        found = {f.violation_type: f for f in fairness_findings(table)}
        # Only demographic parity remains: east's selection rate of 0 is estimable
        # (200 patients, none selected), and parity ignores base rates by definition.
        assert set(found) == {"fairness"} and found["fairness"].affected_groups == ["east"]
        # fairlearn would call east's TPR 0 and the TPR gap 1.0 (an equalized-odds alarm).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert equalized_odds_difference(y_true, y_pred, sensitive_features=sites) == 1.0
        assert fairness_summary(y_true, y_pred, sites)["equalized_odds_difference"] == 0.0


class TestEveryRate:
    def test_no_negatives_makes_fpr_not_estimable_and_unjudged(self) -> None:
        groups = np.repeat(["a", "b"], 100)
        y_true = np.where(groups == "a", 1, np.arange(200) % 2)
        y_pred = np.where(groups == "a", 1, 0)
        table = group_metrics(y_true, y_pred, groups)
        assert fairlearn(y_true, y_pred, groups, false_positive_rate)["a"] == 0.0
        assert math.isnan(table.loc["a", "fpr"])
        rules = FairnessThresholds(harmful_outcome="false_positive", max_harmful_rate=0.05)
        listed = {(e.group, e.metric): e for e in not_estimable(table, rules)}
        assert listed[("a", "fpr")].rules == ("equalized_odds", "safety")
        assert listed[("a", "fpr")].reason == "no negative label in the group"
        assert ("a", "fnr") not in listed
        assert "safety" not in {f.violation_type for f in fairness_findings(table, rules)}
        # With FNR as the harm, an FPR that is missing leaves safety alone.
        default = {(e.group, e.metric): e for e in not_estimable(table)}
        assert default[("a", "fpr")].rules == ("equalized_odds",)

    def test_nobody_selected_leaves_disparate_impact_not_estimable(self) -> None:
        groups = np.repeat(["a", "b", "c"], 100)
        y_true = np.arange(300) % 2
        y_pred = np.zeros(300, dtype=int)
        table = group_metrics(y_true, y_pred, groups)
        summary = fairness_summary(y_true, y_pred, groups)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert math.isnan(demographic_parity_ratio(y_true, y_pred, sensitive_features=groups))
        assert math.isnan(summary["demographic_parity_ratio"])
        assert all(math.isnan(v) for v in summary["disparate_impact"].values())
        assert summary["demographic_parity_difference"] == 0.0  # 0 - 0: estimable
        entries = {e["metric"]: e for e in summary["not_estimable"] if e["group"] is None}
        assert entries["disparate_impact"]["rules"] == ["fairness"]
        assert "fairness" not in {f.violation_type for f in fairness_findings(table)}
        assert (table["selection_rate"] == selection_rate(y_true, y_pred)).all()

    def test_gaps_need_two_groups_with_the_rate(self) -> None:
        groups = np.repeat(["a", "b"], 100)
        y_true = np.where(groups == "a", 0, 1)  # a: no positives; b: no negatives
        y_pred = np.arange(200) % 2
        summary = fairness_summary(y_true, y_pred, groups)
        assert math.isnan(summary["equalized_odds_difference"])
        gaps = {e["metric"] for e in summary["not_estimable"] if e["group"] is None}
        assert gaps == {"tpr_gap", "fpr_gap"}
        found = {f.violation_type for f in fairness_findings(group_metrics(y_true, y_pred, groups))}
        assert "equalized_odds" not in found
        assert found == {"validity", "safety"}  # accuracy 0.5 at both; b misses half its cases

    def test_a_rate_from_one_case_is_reported_not_judged(self) -> None:
        # 200 patients at each site; at "rare" one has the label and was missed.
        rng = np.random.default_rng(3)
        sites = np.repeat(["common", "rare"], 200)
        y_true = np.where(sites == "common", (rng.random(400) < 0.4).astype(int), 0)
        y_true[200] = 1
        y_pred = np.where(y_true == 1, rng.random(400) < 0.9, rng.random(400) < 0.1).astype(int)
        y_pred[200] = 0
        table = group_metrics(y_true, y_pred, sites)
        # The value itself is fairlearn's: FNR 1.0 from one case.
        expected = fairlearn(y_true, y_pred, sites, false_negative_rate)["rare"]
        assert table.loc["rare", "fnr"] == pytest.approx(expected) == 1.0
        (entry,) = [e for e in not_estimable(table) if e.group == "rare" and e.metric == "fnr"]
        assert entry.reason.startswith("only 1 positive labels in the group")
        assert entry.rules == ("safety",)
        # No CRITICAL "safety" and no equalized-odds gap from one case (the
        # selection-rate finding is real: 200 rows back it).
        judged = {f.violation_type for f in fairness_findings(table)}
        assert "safety" not in judged and "equalized_odds" not in judged
        strict = FairnessThresholds(min_rate_denominator=1)
        assert {f.violation_type for f in fairness_findings(table, strict)} >= {"safety"}

    def test_small_groups_are_listed_but_no_rule_waits_on_them(self) -> None:
        groups = np.array(["big"] * 100 + ["tiny"] * 5)
        y_true = np.array([1, 0] * 50 + [0] * 5)
        y_pred = y_true.copy()
        table = group_metrics(y_true, y_pred, groups)
        (tiny_fnr,) = [e for e in not_estimable(table) if e.group == "tiny" and e.metric == "fnr"]
        assert tiny_fnr.rules == ()

    def test_hand_made_tables_without_label_counts(self) -> None:
        table = pd.DataFrame(
            {
                "count": [500, 400],
                "selection_rate": [0.4, 0.38],
                "tpr": [0.9, math.nan],
                "fpr": [0.1, 0.1],
                "accuracy": [0.9, 0.9],
            },
            index=pd.Index(["A", "B"], name="group"),
        )
        (entry,) = [e for e in not_estimable(table) if e.group is not None]
        assert (entry.group, entry.metric) == ("B", "tpr")
        assert entry.reason == "no value (empty denominator)"
        # 1 - TPR is NaN too: no safety finding for B.
        assert fairness_findings(table) == []
