"""feature_drift and friends, cross-checked against scipy, on random, edge-case and real data."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats
from scipy.spatial.distance import jensenshannon

from slack_alerts import SeverityLevel
from slack_alerts.checks.drift import (
    DriftThresholds,
    MetricNotComparedWarning,
    binned_counts,
    drift_alerts,
    feature_drift,
    ks_and_wasserstein,
    ks_pvalue,
    performance_drift,
    psi_from_counts,
    quantile_edges,
)

SAMPLES = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=300
)


@settings(max_examples=200, deadline=None)
@given(SAMPLES, SAMPLES)
def test_ks_and_wasserstein_equal_scipy(a: list[float], b: list[float]) -> None:
    x, y = np.sort(np.array(a)), np.sort(np.array(b))
    statistic, distance = ks_and_wasserstein(x, y)
    expected = stats.ks_2samp(x, y)
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert ks_pvalue(statistic, x, y) == pytest.approx(expected.pvalue, abs=1e-12)
    assert distance == pytest.approx(stats.wasserstein_distance(x, y), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("n1,n2", [(20_000, 15_000), (60_000, 80_000)])
@pytest.mark.parametrize("shift", [0.0, 0.01, 0.03])
def test_large_sample_pvalues(n1: int, n2: int, shift: float) -> None:
    rng = np.random.default_rng(n1 + int(shift * 1000))
    x, y = np.sort(rng.normal(size=n1)), np.sort(rng.normal(shift, 1, size=n2).round(3))
    statistic, _ = ks_and_wasserstein(x, y)
    expected = stats.ks_2samp(x, y)  # method='auto': asymptotic here
    assert statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert ks_pvalue(statistic, x, y, "scipy") == pytest.approx(
        expected.pvalue, rel=1e-9, abs=1e-300
    )
    # The fast default: within 1% of scipy's finite-n tail where p matters,
    # within 5% in the far tail where only its order of magnitude does.
    fast = ks_pvalue(statistic, x, y)
    tolerance = 1e-2 if expected.pvalue > 1e-3 else 5e-2
    assert fast == pytest.approx(expected.pvalue, rel=tolerance, abs=1e-300)


@pytest.mark.parametrize("en", [6000, 20000, 100000, 500000])
def test_asymptotic_pvalue_near_alpha(en: int) -> None:
    import math

    d = stats.kstwobign.isf(0.05) / math.sqrt(en)
    exact = stats.kstwo.sf(d, en)
    root = math.sqrt(en)
    ours = stats.kstwobign.sf(d * (root + 0.12 + 0.11 / root))
    assert ours == pytest.approx(exact, rel=5e-4)


def test_psi_matches_the_formula() -> None:
    rng = np.random.default_rng(7)
    ref, cur = np.sort(rng.normal(size=5000)), np.sort(rng.normal(0.3, 1, size=4000))
    edges = quantile_edges(ref, 10)
    assert np.allclose(edges, np.quantile(ref, np.linspace(0, 1, 11)[1:-1]))
    r, c = binned_counts(ref, edges), binned_counts(cur, edges)
    assert r.sum() == 5000 and c.sum() == 4000
    bounds = np.concatenate(([-np.inf], edges, [np.inf]))
    by_hand = [((cur > lo) & (cur <= hi)).sum() for lo, hi in itertools.pairwise(bounds)]
    assert c.tolist() == by_hand  # bins are (lo, hi], the reference's deciles
    p, q = (r + 0.5) / (r.sum() + 5), (c + 0.5) / (c.sum() + 5)
    assert psi_from_counts(r, c) == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    assert psi_from_counts(r, r) == pytest.approx(0.0, abs=1e-15)


def test_categorical_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"c": rng.choice(list("abcd"), 3000, p=[0.4, 0.3, 0.2, 0.1])})
    cur = pd.DataFrame({"c": rng.choice(list("abce"), 2000, p=[0.25, 0.25, 0.25, 0.25])})
    row = feature_drift(ref, cur).loc["c"]
    cats = sorted(set(ref["c"]) | set(cur["c"]))
    r = ref["c"].value_counts().reindex(cats, fill_value=0).to_numpy(float)
    c = cur["c"].value_counts().reindex(cats, fill_value=0).to_numpy(float)
    assert row["chi2_pvalue"] == pytest.approx(stats.chi2_contingency(np.vstack((r, c))).pvalue)
    assert row["js_distance"] == pytest.approx(jensenshannon(r / r.sum(), c / c.sum(), base=2))
    assert row["drifted"] and row["kind"] == "categorical"


def test_wasserstein_is_per_reference_std() -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"x": rng.normal(10, 4, 3000)})
    cur = pd.DataFrame({"x": rng.normal(12, 4, 3000)})
    row = feature_drift(ref, cur).loc["x"]
    raw = stats.wasserstein_distance(ref["x"], cur["x"])
    assert row["wasserstein"] == pytest.approx(raw / np.std(ref["x"]))


class TestDecisions:
    def test_shift_detected_with_severity(self) -> None:
        rng = np.random.default_rng(11)
        ref = pd.DataFrame(
            {
                "big": rng.normal(0, 1, 4000),
                "small": rng.normal(0, 1, 4000),
                "same": rng.normal(0, 1, 4000),
            }
        )
        cur = pd.DataFrame(
            {
                "big": rng.normal(1.5, 1, 4000),
                "small": rng.normal(0.45, 1, 4000),
                "same": rng.normal(0, 1, 4000),
            }
        )
        table = feature_drift(ref, cur)
        assert table.loc["big", "severity"] == "critical" and table.loc["big", "drifted"]
        assert table.loc["small", "severity"] == "warning" and table.loc["small", "drifted"]
        assert not table.loc["same", "drifted"] and table.loc["same", "severity"] == "info"

    def test_significant_but_tiny_shift_is_not_drift(self) -> None:
        rng = np.random.default_rng(12)
        ref = pd.DataFrame({"x": rng.normal(0, 1, 200_000)})
        cur = pd.DataFrame({"x": rng.normal(0.05, 1, 200_000)})
        row = feature_drift(ref, cur).loc["x"]
        assert row["p_value"] < 1e-10 and row["psi"] < 0.1 and not row["drifted"]

    def test_large_but_insignificant_psi_is_not_drift(self) -> None:
        ref = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 5.0]})
        cur = pd.DataFrame({"x": [4.0, 5.0, 6.0]})
        row = feature_drift(ref, cur).loc["x"]
        assert row["psi"] > 0.25 and row["p_value"] > 0.05 and not row["drifted"]

    def test_thresholds_override_and_validate(self) -> None:
        rng = np.random.default_rng(13)
        ref = pd.DataFrame({"x": rng.normal(0, 1, 4000)})
        cur = pd.DataFrame({"x": rng.normal(0.45, 1, 4000)})
        assert feature_drift(ref, cur).loc["x", "drifted"]
        assert not feature_drift(ref, cur, {"psi_warning": 0.5, "psi_critical": 0.9}).loc[
            "x", "drifted"
        ]
        with pytest.raises(ValidationError, match="psi_critical"):
            DriftThresholds(psi_warning=0.3, psi_critical=0.2)
        with pytest.raises(ValidationError, match="psi_warnng"):
            feature_drift(ref, cur, {"psi_warnng": 0.2})

    def test_bonferroni_divides_alpha(self) -> None:
        rng = np.random.default_rng(14)
        ref = pd.DataFrame({f"f{i}": rng.normal(size=500) for i in range(10)})
        table = feature_drift(ref, ref.sample(frac=1.0, random_state=1))
        assert table.attrs["alpha_per_test"] == pytest.approx(0.005)
        table = feature_drift(ref, ref, {"correction": "none"})
        assert table.attrs["alpha_per_test"] == pytest.approx(0.05)


class TestEdgeCases:
    def test_missing_values_are_dropped_and_reported(self) -> None:
        ref = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0], "c": ["a", None, "b", "a"]})
        cur = pd.DataFrame({"x": [1.0, 2.0, np.nan, np.nan], "c": ["a", "b", None, None]})
        table = feature_drift(ref, cur)
        assert table.loc["x", "n_reference"] == 3 and table.loc["x", "missing_current"] == 0.5
        assert table.loc["c", "n_current"] == 2 and table.loc["c", "missing_reference"] == 0.25

    def test_constant_columns(self) -> None:
        ref = pd.DataFrame({"k": [5.0] * 50, "moved": [5.0] * 50})
        cur = pd.DataFrame({"k": [5.0] * 40, "moved": [7.0] * 40})
        table = feature_drift(ref, cur)
        # Jeffreys smoothing leaves a trace (~5e-4) when the two sizes differ.
        assert table.loc["k", "psi"] < 1e-3 and table.loc["k", "ks_statistic"] == 0
        assert (
            math.isnan(table.loc["k", "wasserstein"])
            and "constant reference" in table.loc["k", "note"]
        )
        assert table.loc["moved", "drifted"] and table.loc["moved", "ks_statistic"] == 1.0

    def test_columns_in_one_frame_only(self) -> None:
        table = feature_drift(
            pd.DataFrame({"a": [1, 2], "old": [1, 2]}),
            pd.DataFrame({"a": [1, 2], "new": ["x", "y"]}),
        )
        assert (
            table.loc["old", "kind"] == "missing"
            and table.loc["old", "note"] == "only in reference"
        )
        assert (
            table.loc["new", "note"] == "only in current"
            and table.loc["new", "severity"] == "warning"
        )
        assert not table.loc["old", "drifted"]

    def test_non_numeric_junk_in_numeric_column(self) -> None:
        ref = pd.DataFrame({"x": np.arange(100, dtype=float)})
        cur = pd.DataFrame({"x": [*map(str, range(90)), *["n/a"] * 5, *["inf"] * 5]})
        row = feature_drift(ref, cur).loc["x"]
        assert row["kind"] == "numeric" and row["n_current"] == 90
        assert "10 non-numeric or infinite current values ignored" in row["note"]

    def test_all_missing_and_datetime_columns_are_skipped(self) -> None:
        ref = pd.DataFrame(
            {"gone": [np.nan] * 3, "when": pd.to_datetime(["2026-01-01"] * 3), "ok": [1, 2, 3]}
        )
        cur = pd.DataFrame(
            {"gone": [np.nan] * 3, "when": pd.to_datetime(["2026-02-01"] * 3), "ok": [1, 2, 3]}
        )
        table = feature_drift(ref, cur)
        assert (
            table.loc["gone", "kind"] == "skipped"
            and "no usable values" in table.loc["gone", "note"]
        )
        assert table.loc["when", "kind"] == "skipped" and "datetime" in table.loc["when", "note"]
        assert table.attrs["alpha_per_test"] == pytest.approx(0.05)  # only one feature tested

    def test_booleans_and_mixed_types_are_categorical(self) -> None:
        table = feature_drift(
            pd.DataFrame({"b": [True, False] * 20, "m": [1, "a"] * 20}),
            pd.DataFrame({"b": [True] * 40, "m": ["1", "a"] * 20}),
        )
        assert table.loc["b", "kind"] == "categorical" and table.loc["m", "kind"] == "categorical"
        assert table.loc["m", "psi"] == pytest.approx(
            0.0, abs=1e-12
        )  # 1 and "1" are the same category

    @pytest.mark.parametrize(
        ("reference", "current", "message"),
        [
            (pd.DataFrame(), pd.DataFrame({"a": [1]}), "reference has no rows"),
            (pd.DataFrame({"a": [1]}), pd.DataFrame({"a": []}), "current has no rows"),
            ([1, 2, 3], pd.DataFrame({"a": [1]}), "reference must be a pandas DataFrame"),
            (
                pd.DataFrame([[1, 2]], columns=["a", "a"]),
                pd.DataFrame({"a": [1]}),
                "duplicate columns: a",
            ),
        ],
    )
    def test_clear_errors(self, reference: object, current: object, message: str) -> None:
        with pytest.raises((ValueError, TypeError), match=message):
            feature_drift(reference, current)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    """scikit-learn's bundled breast-cancer data (569 rows, 30 numeric features)."""
    from sklearn.datasets import load_breast_cancer

    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame.copy()
    return frame


class TestRealData:
    """Real data: no false alarms on random halves, the known features on the label split."""

    @pytest.mark.parametrize("seed", range(5))
    def test_random_halves_flag_almost_nothing(self, cancer: pd.DataFrame, seed: int) -> None:
        features = cancer.drop(columns="target")
        shuffled = features.sample(frac=1.0, random_state=seed)
        half = len(shuffled) // 2
        table = feature_drift(shuffled.iloc[:half], shuffled.iloc[half:])
        assert int(table["drifted"].sum()) <= 1, table[table["drifted"]]

    def test_label_split_flags_known_features(self, cancer: pd.DataFrame) -> None:
        features = cancer.drop(columns="target")
        malignant, benign = features[cancer["target"] == 0], features[cancer["target"] == 1]
        table = feature_drift(benign, malignant)
        known = [
            "mean radius",
            "mean perimeter",
            "mean area",
            "mean concave points",
            "worst radius",
            "worst perimeter",
            "worst area",
            "worst concave points",
        ]
        assert table.loc[known, "drifted"].all()
        assert (table.loc[known, "severity"] == "critical").all()
        # Features that barely differ between the classes stay quiet.
        assert not table.loc["mean fractal dimension", "drifted"]


class TestPerformance:
    def test_drop_and_lower_is_better(self) -> None:
        with pytest.warns(MetricNotComparedWarning, match="'accuracy_at_k'"):
            changes = {
                c.metric: c
                for c in performance_drift(
                    {"auc": 0.86, "accuracy": 0.81, "log_loss": 0.30, "brier": 0.1},
                    {
                        "auc": 0.78,
                        "accuracy": 0.80,
                        "log_loss": 0.36,
                        "brier": 0.099,
                        "accuracy_at_k": 0.5,
                    },
                )
            }
        assert set(changes) == {"auc", "accuracy", "log_loss", "brier", "accuracy_at_k"}
        assert not changes["accuracy_at_k"].judged
        assert changes["accuracy_at_k"].note == "no baseline"
        assert changes["auc"].degraded and changes["auc"].severity is SeverityLevel.WARNING
        assert changes["auc"].degradation == pytest.approx(0.08 / 0.86)
        assert not changes["accuracy"].degraded
        assert (
            changes["log_loss"].degraded and changes["log_loss"].severity is SeverityLevel.CRITICAL
        )
        assert not changes["brier"].degraded

    def test_override_and_bad_values(self) -> None:
        (c,) = performance_drift(
            {"auc": 0.86}, {"auc": 0.85}, {"performance_overrides": {"auc": 0.01}}
        )
        assert c.degraded
        with pytest.raises(ValueError, match=r"current_metrics\['auc'\] must be a number, got str"):
            performance_drift({"auc": 0.86}, {"auc": "0.8"})

    @pytest.mark.parametrize("value", [float("nan"), None, float("inf")])
    def test_a_value_that_cannot_be_estimated_is_reported_not_judged(self, value: Any) -> None:
        # AUROC of a window with one class is NaN: not a reason to fail the run.
        (c,) = performance_drift({"auc": 0.86}, {"auc": value})
        assert not c.judged and not c.degraded and c.severity is SeverityLevel.INFO
        assert c.note.startswith("current value not estimable")
        table = feature_drift(pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"x": [1.0, 2.0]}))
        assert drift_alerts("m", "M", table, [c]) == []

    def test_names_match_like_directions_and_strays_warn(self) -> None:
        (c,) = performance_drift({"auroc": 0.9}, {"AUROC": 0.5})
        assert c.judged and c.severity is SeverityLevel.CRITICAL
        with pytest.warns(MetricNotComparedWarning, match="'auroc' is in baseline_metrics"):
            (missing,) = performance_drift({"auroc": 0.9}, {})
        assert missing.note == "no current value" and not missing.judged

    def test_alerts(self) -> None:
        rng = np.random.default_rng(2)
        ref = pd.DataFrame({"x": rng.normal(size=3000), "gone": 1.0})
        cur = pd.DataFrame({"x": rng.normal(2, 1, size=3000)})
        table = feature_drift(ref, cur)
        changes = performance_drift({"auc": 0.9}, {"auc": 0.7})
        alerts = drift_alerts("m1", "Model", table, changes)
        metrics = {a.metric: a for a in alerts}
        assert set(metrics) == {"feature:x", "schema:gone", "auc"}
        assert metrics["feature:x"].severity is SeverityLevel.CRITICAL
        assert metrics["feature:x"].details["ks_pvalue"] < 1e-10
        assert metrics["auc"].drift_percentage == pytest.approx(-22.2222, rel=1e-4)
