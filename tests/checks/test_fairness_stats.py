"""group_metrics / fairness_summary equal fairlearn's to 1e-9 where estimable; FAVES findings.

Where a rate's denominator is empty fairlearn returns 0 by convention; ours
is NaN and listed by ``not_estimable`` (asserted here for every such value).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score

from slack_alerts import SeverityLevel
from slack_alerts.checks.fairness import (
    FairnessThresholds,
    fairness_findings,
    fairness_summary,
    faves_violations,
    group_metrics,
    not_estimable,
)

# Our column: (fairlearn's metric, our column holding its denominator).
RATES: dict[str, tuple[Any, str]] = {
    "selection_rate": (selection_rate, "count"),
    "tpr": (true_positive_rate, "positives"),
    "fnr": (false_negative_rate, "positives"),
    "fpr": (false_positive_rate, "negatives"),
    "accuracy": (accuracy_score, "count"),
}


def fairlearn_frame(y_true: Any, y_pred: Any, groups: Any, metrics: dict[str, Any]) -> MetricFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=groups)


def labelled(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    frame = frame.copy()
    frame.index = [", ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in frame.index]
    return frame


def fairlearn_gap(y_true: Any, y_pred: Any, groups: Any, metric: Any, column: str) -> float:
    """fairlearn's between-group difference of ``metric`` over the groups where it is estimable."""
    ours = group_metrics(y_true, y_pred, groups)
    denominator = RATES[column][1]
    keep = [str(g) for g in ours.index[ours[denominator] > 0]]
    if len(keep) < 2:
        return math.nan
    if isinstance(groups, pd.DataFrame):
        rows_group = [", ".join(map(str, row)) for row in groups.itertuples(index=False)]
    else:
        rows_group = [str(g) for g in np.asarray(groups, dtype=object)]
    labels = np.asarray(rows_group, dtype=object)
    rows = np.isin(labels, keep)
    truth, predicted = np.asarray(y_true)[rows], np.asarray(y_pred)[rows]
    frame = fairlearn_frame(truth, predicted, labels[rows], metric)
    return float(frame.difference())


def assert_equal_to_fairlearn(y_true: Any, y_pred: Any, groups: Any) -> None:
    metrics = {"count": count} | {name: metric for name, (metric, _) in RATES.items()}
    expected = labelled(fairlearn_frame(y_true, y_pred, groups, metrics).by_group)
    ours = group_metrics(y_true, y_pred, groups).loc[expected.index]
    assert ours["count"].tolist() == expected["count"].astype(int).tolist()
    # NaN values only (rates from few cases are listed too, with their value).
    missing = {
        (e.group, e.metric)
        for e in not_estimable(ours)
        if e.group is None or math.isnan(ours.loc[e.group, e.metric])
    }
    convention = 0
    for column, (_, denominator) in RATES.items():
        for group in expected.index:
            if ours.loc[group, denominator] == 0:
                # fairlearn returns a number by convention; ours is not estimable.
                assert math.isnan(ours.loc[group, column]), (group, column)
                assert (group, column) in missing, (group, column)
                assert expected.loc[group, column] == 0.0, (group, column)
                convention += 1
            else:
                assert ours.loc[group, column] == pytest.approx(
                    float(expected.loc[group, column]), abs=1e-9
                ), (group, column)
    assert len([m for m in missing if m[0] is not None]) == convention
    summary = fairness_summary(y_true, y_pred, groups)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, reference in (
            ("demographic_parity_difference", demographic_parity_difference),
            ("demographic_parity_ratio", demographic_parity_ratio),
        ):
            # Every group has rows, so every selection rate is estimable.
            value = reference(y_true, y_pred, sensitive_features=groups)
            if np.isnan(value):
                assert math.isnan(summary[key]), key
            else:
                assert summary[key] == pytest.approx(value, abs=1e-9), key
        gaps = [
            fairlearn_gap(y_true, y_pred, groups, true_positive_rate, "tpr"),
            fairlearn_gap(y_true, y_pred, groups, false_positive_rate, "fpr"),
        ]
        known = [g for g in gaps if not math.isnan(g)]
        expected_eod = max(known) if known else math.nan
        if convention == 0:  # nothing missing: fairlearn's own number
            expected_eod = equalized_odds_difference(y_true, y_pred, sensitive_features=groups)
    if math.isnan(expected_eod):
        assert math.isnan(summary["equalized_odds_difference"])
    else:
        assert summary["equalized_odds_difference"] == pytest.approx(expected_eod, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=2, max_value=400).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 1), min_size=n, max_size=n),
            st.lists(st.integers(0, 1), min_size=n, max_size=n),
            st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=n, max_size=n),
        )
    )
)
def test_random_inputs_match_fairlearn(data: tuple[list[int], list[int], list[str]]) -> None:
    y_true, y_pred, groups = data
    if len(set(groups)) < 2:
        return
    assert_equal_to_fairlearn(np.array(y_true), np.array(y_pred), np.array(groups))


@pytest.mark.parametrize(
    "case",
    [
        "no_positives_in_group",
        "no_negatives_in_group",
        "all_zero_predictions",
        "multi_column",
        "booleans",
    ],
)
def test_edge_cases_match_fairlearn(case: str) -> None:
    rng = np.random.default_rng(0)
    n = 300
    groups: Any = rng.choice(["x", "y", "z"], n)
    y_true, y_pred = rng.integers(0, 2, n), rng.integers(0, 2, n)
    if case == "no_positives_in_group":
        y_true[groups == "x"] = 0
    elif case == "no_negatives_in_group":
        y_true[groups == "y"] = 1
    elif case == "all_zero_predictions":
        y_pred[:] = 0
    elif case == "multi_column":
        groups = pd.DataFrame(
            {"sex": rng.choice(["F", "M"], n), "age": rng.choice(["<65", "65+"], n)}
        )
    elif case == "booleans":
        y_true, y_pred = y_true.astype(bool), y_pred.astype(bool)
    assert_equal_to_fairlearn(y_true, y_pred, groups)


def test_large_input_matches() -> None:
    # 1M rows are compared in `make bench`; fairlearn alone takes ~30 s there.
    rng = np.random.default_rng(9)
    n = 100_000
    groups = rng.choice(list("abcde"), n)
    y_true = rng.integers(0, 2, n)
    y_pred = (rng.random(n) < np.where(groups == "a", 0.5, 0.4)).astype(int)
    assert_equal_to_fairlearn(y_true, y_pred, groups)


def test_missing_group_values_form_a_group() -> None:
    table = group_metrics([1, 0, 1, 0], [1, 0, 0, 0], pd.Series(["a", None, "a", np.nan]))
    assert list(table.index) == ["(missing)", "a"] and table.loc["(missing)", "count"] == 2


@pytest.mark.parametrize(
    ("y_true", "y_pred", "groups", "message"),
    [
        ([0, 1, 2], [0, 1, 1], ["a", "b", "c"], "y_true must hold binary labels"),
        ([0, 1], [0, 1, 1], ["a", "b"], "y_pred has 3 rows but y_true has 2"),
        ([0, 1], [0, 1], ["a"], "sensitive_features has 1 rows but y_true has 2"),
        ([], [], [], "y_true is empty"),
        (["yes", "no"], [0, 1], ["a", "b"], "y_true must hold binary labels"),
    ],
)
def test_clear_errors(y_true: Any, y_pred: Any, groups: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        group_metrics(y_true, y_pred, groups)


class TestFindings:
    def table(self, rates: dict[str, tuple[int, float, float, float, float]]) -> pd.DataFrame:
        return pd.DataFrame(
            [
                dict(zip(["count", "selection_rate", "tpr", "fpr", "accuracy"], v, strict=True))
                for v in rates.values()
            ],
            index=pd.Index(list(rates), name="group"),
        )

    def test_four_fifths_rule(self) -> None:
        groups = self.table(
            {
                "A": (500, 0.40, 0.9, 0.1, 0.9),
                "B": (400, 0.30, 0.88, 0.1, 0.9),
                "C": (300, 0.38, 0.9, 0.1, 0.9),
            }
        )
        (finding,) = fairness_findings(groups)
        assert finding.violation_type == "fairness" and finding.affected_groups == ["B"]
        assert finding.severity is SeverityLevel.WARNING  # 0.75: below 0.8, above 0.6
        groups.loc["B", "selection_rate"] = 0.2
        assert fairness_findings(groups)[0].severity is SeverityLevel.CRITICAL

    def test_small_groups_reported_not_judged(self) -> None:
        groups = self.table(
            {
                "A": (500, 0.4, 0.9, 0.1, 0.9),
                "B": (400, 0.39, 0.9, 0.1, 0.9),
                "tiny": (12, 0.0, 0.0, 0.0, 0.2),
            }
        )
        assert fairness_findings(groups) == []
        groups.loc["B", "selection_rate"] = 0.1
        (finding, *_rest) = fairness_findings(groups)
        assert finding.details["groups_too_small_to_judge"] == ["tiny"]
        assert "tiny" not in finding.affected_groups

    def test_validity_safety_and_equalized_odds(self) -> None:
        groups = self.table({"A": (500, 0.4, 0.90, 0.10, 0.90), "B": (400, 0.4, 0.55, 0.12, 0.62)})
        found = {f.violation_type: f for f in fairness_findings(groups)}
        assert set(found) == {"equalized_odds", "validity", "safety"}
        assert (
            found["safety"].affected_groups == ["B"]
            and found["safety"].severity is SeverityLevel.CRITICAL
        )
        assert found["validity"].affected_groups == ["B"]
        quiet = FairnessThresholds(
            min_accuracy=None, max_harmful_rate=None, max_equalized_odds_difference=0.5
        )
        assert fairness_findings(groups, quiet) == []

    def test_false_positive_harm(self) -> None:
        groups = self.table({"A": (500, 0.4, 0.9, 0.35, 0.8), "B": (400, 0.4, 0.9, 0.1, 0.9)})
        rules = FairnessThresholds(
            harmful_outcome="false_positive", max_equalized_odds_difference=0.5
        )
        (finding,) = fairness_findings(groups, rules)
        assert finding.violation_type == "safety" and finding.affected_groups == ["A"]

    def test_violations(self) -> None:
        groups = self.table({"A": (500, 0.40, 0.9, 0.1, 0.9), "B": (400, 0.10, 0.9, 0.1, 0.9)})
        (violation,) = faves_violations("m", "Model", fairness_findings(groups))
        assert violation.violation_type == "fairness" and violation.affected_groups == ["B"]
        assert violation.details["disparate_impact"] == {"B": 0.25}
