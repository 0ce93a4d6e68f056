"""group_metrics / fairness_summary equal fairlearn's to 1e-9; FAVES findings."""

from __future__ import annotations

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
)


def fairlearn_reference(
    y_true: Any, y_pred: Any, groups: Any
) -> tuple[pd.DataFrame, dict[str, float]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = MetricFrame(
            metrics={
                "count": count,
                "selection_rate": selection_rate,
                "tpr": true_positive_rate,
                "fpr": false_positive_rate,
                "accuracy": accuracy_score,
            },
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=groups,
        )
        summary = {
            "demographic_parity_difference": demographic_parity_difference(
                y_true, y_pred, sensitive_features=groups
            ),
            "demographic_parity_ratio": demographic_parity_ratio(
                y_true, y_pred, sensitive_features=groups
            ),
            "equalized_odds_difference": equalized_odds_difference(
                y_true, y_pred, sensitive_features=groups
            ),
        }
    return frame.by_group, summary


def assert_equal_to_fairlearn(y_true: Any, y_pred: Any, groups: Any) -> None:
    expected_groups, expected = fairlearn_reference(y_true, y_pred, groups)
    ours = group_metrics(y_true, y_pred, groups)
    expected_groups = expected_groups.copy()
    expected_groups.index = [
        ", ".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in expected_groups.index
    ]
    ours = ours.loc[expected_groups.index]
    for column in ("count", "selection_rate", "tpr", "fpr", "accuracy"):
        assert np.allclose(
            ours[column].to_numpy(float), expected_groups[column].to_numpy(float), atol=1e-9, rtol=0
        ), column
    summary = fairness_summary(y_true, y_pred, groups)
    for key, value in expected.items():
        if np.isnan(value):
            assert np.isnan(summary[key]), key
        else:
            assert summary[key] == pytest.approx(value, abs=1e-9), key


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
