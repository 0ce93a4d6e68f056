"""Metric directions: one table, checked against scikit-learn so it cannot drift from it."""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest
import sklearn.metrics
from sklearn.metrics import get_scorer, get_scorer_names

from slack_alerts import SeverityLevel
from slack_alerts.checks.drift import (
    DRIFT_COLUMNS,
    DriftThresholds,
    drift_alerts,
    performance_drift,
)
from slack_alerts.checks.metrics import (
    UnknownMetricDirectionWarning,
    metric_direction,
    normalize_metric_name,
)

# scikit-learn's metric functions with a name that says what they are; every
# one must be in the table (a new one fails here until it is added).
SKLEARN_FUNCTIONS = sorted(
    name
    for name in sklearn.metrics.__all__
    if name.endswith(("_score", "_loss", "_error", "_deviance", "corrcoef")) or name == "auc"
)
# The only *_score that is lower-is-better (sklearn: "lower values indicating better clustering").
LOWER_SCORES = {"davies_bouldin_score"}


def known(name: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownMetricDirectionWarning)
        return metric_direction(name)


class TestAgainstScikitLearn:
    @pytest.mark.parametrize("name", get_scorer_names())
    def test_every_scorer_is_higher_is_better(self, name: str) -> None:
        # A scorer's value is sign * metric: greater is better by construction.
        assert known(name) == "higher_is_better"

    @pytest.mark.parametrize("name", get_scorer_names())
    def test_the_metric_behind_each_scorer(self, name: str) -> None:
        scorer = get_scorer(name)
        function = scorer._score_func.__name__
        expected = "lower_is_better" if scorer._sign == -1 else "higher_is_better"
        assert known(function) == expected, function
        if name.startswith("neg_"):
            assert scorer._sign == -1
            assert known(name.removeprefix("neg_")) == "lower_is_better"

    @pytest.mark.parametrize("name", SKLEARN_FUNCTIONS)
    def test_every_named_metric_function(self, name: str) -> None:
        lower = name.endswith(("_loss", "_error", "_deviance")) or name in LOWER_SCORES
        assert known(name) == ("lower_is_better" if lower else "higher_is_better")

    @pytest.mark.parametrize("name", get_scorer_names())
    def test_cross_validation_keys_keep_the_scorers_direction(self, name: str) -> None:
        # cross_validate's test_<scorer>/train_<scorer> and GridSearchCV's
        # cv_results_ mean_test_<scorer>/split0_train_<scorer> hold scorer
        # values, higher-is-better like the scorer (test_neg_mean_squared_error).
        for key in (f"test_{name}", f"train_{name}", f"mean_test_{name}", f"split3_train_{name}"):
            assert known(key) == "higher_is_better", key

    def test_the_function_list_is_not_empty(self) -> None:
        assert len(SKLEARN_FUNCTIONS) > 40 and "mean_absolute_error" in SKLEARN_FUNCTIONS


class TestNames:
    @pytest.mark.parametrize(
        ("written", "normal"),
        [
            ("ROC-AUC", "roc_auc"),
            ("  Mean Absolute Error ", "mean_absolute_error"),
            ("mean-absolute--error", "mean_absolute_error"),
            ("Brier.Score", "brier_score"),
            ("_f1_", "f1"),
        ],
    )
    def test_normalize(self, written: str, normal: str) -> None:
        assert normalize_metric_name(written) == normal

    @pytest.mark.parametrize(
        ("name", "direction"),
        [
            ("MAE", "lower_is_better"),
            ("RMSE", "lower_is_better"),
            ("log loss", "lower_is_better"),
            ("Brier", "lower_is_better"),
            ("ECE", "lower_is_better"),
            ("calibration-error", "lower_is_better"),
            ("FNR", "lower_is_better"),
            ("false positive rate", "lower_is_better"),
            ("error rate", "lower_is_better"),
            ("hamming loss", "lower_is_better"),
            ("zero-one loss", "lower_is_better"),
            ("val_loss", "lower_is_better"),
            ("custom_pinball_deviance", "lower_is_better"),
            ("AUROC", "higher_is_better"),
            ("AUC", "higher_is_better"),
            ("average precision", "higher_is_better"),
            ("F1", "higher_is_better"),
            ("specificity", "higher_is_better"),
            ("TPR", "higher_is_better"),
            ("balanced accuracy", "higher_is_better"),
            ("R2", "higher_is_better"),
            ("recall@10", "higher_is_better"),
            ("precision_at_5", "higher_is_better"),
            ("val_auroc", "higher_is_better"),
            ("auroc_macro", "higher_is_better"),
            ("neg_log_loss", "higher_is_better"),
        ],
    )
    def test_field_conventions(self, name: str, direction: str) -> None:
        assert known(name) == direction

    @pytest.mark.parametrize(
        "name",
        ["wobble", "ks", "latency_ms", "neg_wobble", "score", "mean_error", "bias", "val_bias"],
    )
    def test_unknown_warns_and_is_not_guessed(self, name: str) -> None:
        with pytest.warns(UnknownMetricDirectionWarning, match=repr(name)):
            assert metric_direction(name) == "unknown"

    def test_declared_wins_and_is_normalized(self) -> None:
        declared = {"Latency MS": "lower_is_better", "auroc": "lower_is_better"}
        assert known_declared("latency-ms", declared) == "lower_is_better"
        assert known_declared("AUROC", declared) == "lower_is_better"  # the user's word wins
        with pytest.raises(ValueError, match="metric_directions"):
            metric_direction("x", {"x": "up"})  # type: ignore[dict-item]


def known_declared(name: str, declared: dict[str, str]) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownMetricDirectionWarning)
        return metric_direction(name, declared)  # type: ignore[arg-type]


class TestPerformanceDrift:
    def test_a_rising_error_degrades_a_falling_one_does_not(self) -> None:
        (worse,) = performance_drift({"mean_absolute_error": 0.1}, {"mean_absolute_error": 0.3})
        assert worse.direction == "lower_is_better" and worse.degraded
        assert worse.degradation == pytest.approx(2.0) and worse.severity is SeverityLevel.CRITICAL
        (better,) = performance_drift({"mean_absolute_error": 0.1}, {"mean_absolute_error": 0.05})
        assert not better.degraded and better.severity is SeverityLevel.INFO
        assert better.degradation == pytest.approx(-0.5)

    @pytest.mark.parametrize(
        ("metric", "baseline", "current", "degraded"),
        [
            ("neg_mean_squared_error", -0.10, -0.30, True),  # a scorer: higher is better
            ("neg_mean_squared_error", -0.30, -0.10, False),
            ("fnr", 0.10, 0.20, True),
            ("specificity", 0.90, 0.80, True),
            ("ece", 0.05, 0.04, False),
        ],
    )
    def test_directions_in_use(
        self, metric: str, baseline: float, current: float, degraded: bool
    ) -> None:
        (change,) = performance_drift({metric: baseline}, {metric: current})
        assert change.degraded is degraded

    def test_unknown_is_reported_with_no_verdict(self) -> None:
        with pytest.warns(UnknownMetricDirectionWarning):
            (change,) = performance_drift({"wobble": 1.0}, {"wobble": 0.1})
        assert change.direction == "unknown" and not change.judged
        assert math.isnan(change.degradation) and not change.degraded
        assert change.severity is SeverityLevel.INFO
        assert drift_alerts("m", "M", _empty_table(), [change]) == []

    def test_declared_direction_through_thresholds(self) -> None:
        limits = DriftThresholds(metric_directions={"latency_ms": "lower_is_better"})
        (change,) = performance_drift({"latency_ms": 100.0}, {"latency_ms": 120.0}, limits)
        assert change.direction == "lower_is_better" and change.degraded
        with pytest.raises(ValueError, match="metric_directions"):
            DriftThresholds(metric_directions={"x": "sideways"})  # type: ignore[dict-item]

    def test_overrides_match_names_like_directions(self) -> None:
        (change,) = performance_drift(
            {"auroc": 0.86}, {"auroc": 0.845}, {"performance_overrides": {"AUROC": 0.01}}
        )
        assert change.threshold == 0.01 and change.degraded
        (plain,) = performance_drift({"auroc": 0.86}, {"auroc": 0.845})
        assert plain.threshold == 0.05 and not plain.degraded

    def test_alert_details_carry_the_direction(self) -> None:
        changes = performance_drift({"auroc": 0.9, "mae": 0.1}, {"auroc": 0.7, "mae": 0.3})
        alerts = {a.metric: a for a in drift_alerts("m", "M", _empty_table(), changes)}
        assert alerts["auroc"].details["direction"] == "higher_is_better"
        assert alerts["mae"].details["direction"] == "lower_is_better"
        assert alerts["mae"].details["relative_degradation"] == pytest.approx(2.0)


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in DRIFT_COLUMNS}).astype({"drifted": bool})
