"""drift_alerts puts what a formatter needs in details: the statistic, the test, the change."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from slack_alerts import SeverityLevel
from slack_alerts.checks.drift import drift_alerts, feature_drift, performance_drift


@pytest.fixture(scope="module")
def alerts() -> dict[str, Any]:
    rng = np.random.default_rng(21)
    reference = pd.DataFrame(
        {
            "age": rng.normal(58, 14, 3000),
            "ward": rng.choice(["A", "B", "C"], 3000, p=[0.6, 0.3, 0.1]),
            "gone": rng.normal(size=3000),
            "empty_now": rng.normal(size=3000),
        }
    )
    current = pd.DataFrame(
        {
            "age": rng.normal(67, 14, 3000),
            "ward": rng.choice(["A", "B", "C"], 3000, p=[0.2, 0.3, 0.5]),
            "new": rng.normal(size=3000),
            "empty_now": [np.nan] * 3000,
        }
    )
    table = feature_drift(reference, current)
    changes = performance_drift({"auroc": 0.86, "rmse": 1.0}, {"auroc": 0.70, "rmse": 1.3})
    found = {a.metric: a for a in drift_alerts("m", "Model", table, changes)}
    found["table"] = table
    found["frames"] = (reference, current)
    return found


def test_numeric_feature(alerts: dict[str, Any]) -> None:
    alert = alerts["feature:age"]
    reference, current = alerts["frames"]
    details = alert.details
    assert details["statistic"] == "PSI" and details["test"] == "KS"
    assert details["psi"] == round(alert.current_value, 4)
    expected = stats.ks_2samp(reference["age"], current["age"])
    assert details["ks_statistic"] == round(expected.statistic, 4)
    assert details["p_value"] == details["ks_pvalue"] < 1e-10
    assert details["kind"] == "numeric" and details["n_reference"] == 3000
    assert "wasserstein_per_std" in details


def test_categorical_feature(alerts: dict[str, Any]) -> None:
    details = alerts["feature:ward"].details
    assert details["statistic"] == "PSI" and details["test"] == "chi-square"
    assert details["p_value"] == details["chi2_pvalue"] < 1e-10
    assert 0 < details["js_distance"] <= 1 and details["kind"] == "categorical"


@pytest.mark.parametrize(
    ("metric", "change", "current", "baseline"),
    [
        ("schema:gone", "missing_in_current", 0.0, 1.0),
        ("schema:new", "new_in_current", 1.0, 0.0),
        ("schema:empty_now", "no_values_in_current", 0.0, 1.0),
    ],
)
def test_schema_changes(
    alerts: dict[str, Any], metric: str, change: str, current: float, baseline: float
) -> None:
    alert = alerts[metric]
    assert alert.details["schema_change"] == change
    assert (alert.current_value, alert.baseline_value) == (current, baseline)
    assert alert.severity is SeverityLevel.WARNING


def test_existing_change_text_is_kept(alerts: dict[str, Any]) -> None:
    assert alerts["schema:gone"].details["change"] == "column disappeared"
    assert alerts["schema:new"].details["change"] == "new column"


def test_metrics_carry_their_direction(alerts: dict[str, Any]) -> None:
    assert alerts["auroc"].details == {
        "direction": "higher_is_better",
        "relative_degradation": round(0.16 / 0.86, 4),
    }
    assert alerts["rmse"].details["direction"] == "lower_is_better"


def test_only_these_alerts(alerts: dict[str, Any]) -> None:
    metrics = {k for k in alerts if k not in ("table", "frames")}
    assert metrics == {
        "feature:age",
        "feature:ward",
        "schema:gone",
        "schema:new",
        "schema:empty_now",
        "auroc",
        "rmse",
    }
