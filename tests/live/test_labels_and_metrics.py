"""Live checks issue 13 asked for that had no test yet, on a real PostgreSQL database.

- Silence is not health: labels that stop arriving raise ``data_health:labels``,
  with a configurable delay and ratio; labels merely within the delay do not.
- Performance from delayed labels: every metric of a window equals
  scikit-learn's on the same rows, and ECE a direct computation of its formula.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn import metrics as skm

from slack_alerts.checks.data_health import DataHealthThresholds, health_fingerprint
from slack_alerts.checks.performance import expected_calibration_error
from slack_alerts.live import (
    CheckResult,
    LiveModelConfig,
    run_data_health_check,
    run_performance_check,
)
from slack_alerts.models import DriftAlert, SeverityLevel

T0 = datetime(2026, 1, 5, tzinfo=UTC)
PER_HOUR = 10
LABELS_STOP = T0 + timedelta(days=15)  # no label arrives for rows scored after this
PATCHY = T0 + timedelta(days=10)  # six hours from here: only 2 rows in 5 got their label
TOLERANCE = 1e-9


def _rows(days: int, seed: int) -> pd.DataFrame:
    n = days * 24 * PER_HOUR
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "pid": np.arange(n),
            "ts": pd.Timestamp(T0) + pd.to_timedelta(np.arange(n) * (3600 // PER_HOUR), unit="s"),
            "x": rng.normal(0, 1, n),
            # Scores rounded to 2 decimals, as many systems store them: some fall on bin edges.
            "score": np.round(rng.beta(2, 3, n), 2),
        }
    )


def _labelled() -> pd.DataFrame:
    frame = _rows(20, seed=1)
    rng = np.random.default_rng(2)
    frame["label"] = (rng.random(len(frame)) < frame["score"]).astype(float)
    stamps = frame["ts"]
    frame.loc[stamps >= pd.Timestamp(LABELS_STOP), "label"] = np.nan
    patchy = (stamps >= pd.Timestamp(PATCHY)) & (stamps < pd.Timestamp(PATCHY + timedelta(hours=6)))
    frame.loc[patchy & (frame["pid"] % 5 >= 2), "label"] = np.nan
    return frame


def _scored() -> pd.DataFrame:
    frame = _rows(10, seed=3)
    rng = np.random.default_rng(4)
    n = len(frame)
    frame["label"] = (rng.random(n) < np.clip(frame["score"] * 1.2, 0, 1)).astype(float)
    frame.loc[rng.random(n) < 0.3, "label"] = np.nan  # not arrived yet
    frame["decided"] = (frame["score"] >= 0.3).astype(float)  # the service's own cut
    frame["actual"] = rng.normal(50, 10, n)
    frame["estimate"] = frame["actual"] + rng.normal(0, 5, n)
    frame.loc[rng.random(n) < 0.3, "actual"] = np.nan
    return frame


LABELLED = _labelled()
SCORED = _scored()


@pytest.fixture(scope="module")
def url(postgres_url: str) -> Iterator[str]:
    engine = sa.create_engine(postgres_url)
    for name, frame in (("labelled", LABELLED), ("scored", SCORED)):
        frame.to_sql(name, engine, index=False, dtype={"ts": sa.TIMESTAMP(timezone=True)})
        with engine.begin() as connection:
            connection.execute(sa.text(f"CREATE INDEX {name}_ts ON {name} (ts)"))
    yield postgres_url
    engine.dispose()


def _in(frame: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    return frame[(frame["ts"] >= pd.Timestamp(start)) & (frame["ts"] < pd.Timestamp(end))]


# -- 5. silence is not health: labels that stop arriving ----------------------------------


def _health(url: str, at: datetime, **thresholds: Any) -> CheckResult:
    config = LiveModelConfig(
        model_id="sepsis-v3",
        model_name="Sepsis",
        source={"kind": "sql", "url": url, "table": "labelled", "timestamp_column": "ts"},
        features=["x"],
        id_column="pid",
        score_column="score",
        label_column="label",
        current="last 6 hours",
        reference="previous 7 days",
        data_health=DataHealthThresholds(**thresholds),
    )
    return run_data_health_check(config, at)


def _label_finding(result: CheckResult) -> dict[str, Any]:
    assert result.table is not None
    (row,) = result.table[result.table["metric"] == "data_health:labels"].to_dict("records")
    return {str(k): v for k, v in row.items()}


def _label_alerts(result: CheckResult) -> list[DriftAlert]:
    """The run's ``data_health:labels`` alerts (every data-health alert is a DriftAlert)."""
    assert all(isinstance(a, DriftAlert) for a in result.alerts)
    return [
        a for a in result.alerts if isinstance(a, DriftAlert) and a.metric == "data_health:labels"
    ]


def _shares(at: datetime, delay_hours: float) -> tuple[float, float, int, int]:
    """(labelled share due, reference share, labelled due, rows due), from the rows themselves."""
    lag = timedelta(hours=delay_hours)
    due = _in(LABELLED, at - timedelta(hours=6) - lag, at - lag)
    reference = _in(LABELLED, at - timedelta(hours=6 + 168) - lag, at - timedelta(hours=6) - lag)
    labelled = int(due["label"].notna().sum())
    return labelled / len(due), float(reference["label"].notna().mean()), labelled, len(due)


LABELS_FINGERPRINT = health_fingerprint("sepsis-v3", "Sepsis", "data_health:labels")


def test_labels_within_the_configured_delay_are_not_silence(url: str) -> None:
    at = LABELS_STOP + timedelta(hours=20)
    # The window's own rows (the last 6 hours) have no label at all yet...
    assert _in(LABELLED, at - timedelta(hours=6), at)["label"].isna().all()
    # ... and neither have any of the last 20 hours': labels take a day to arrive.
    result = _health(url, at, label_delay_hours=24)
    assert result.alerts == []
    assert LABELS_FINGERPRINT in result.healthy_fingerprints
    finding = _label_finding(result)
    share, reference, _, rows = _shares(at, 24)
    assert finding["firing"] is False and rows == 60
    assert finding["current"] == pytest.approx(share, abs=1e-12) and share == 1.0
    assert finding["baseline"] == pytest.approx(reference, abs=1e-12)

    # The same data, with labels expected after 12 hours, is silence.
    hasty = _health(url, at, label_delay_hours=12)
    (alert,) = _label_alerts(hasty)
    assert alert.severity == SeverityLevel.CRITICAL and alert.current_value == 0


def test_labels_that_stop_arriving_raise_an_alert(url: str) -> None:
    at = LABELS_STOP + timedelta(hours=40)
    result = _health(url, at)  # the default delay: a day
    assert DataHealthThresholds().label_delay_hours == 24
    assert len(result.alerts) == 1
    (alert,) = _label_alerts(result)
    assert alert.severity == SeverityLevel.CRITICAL
    share, reference, labelled, rows = _shares(at, 24)
    assert (labelled, rows) == (0, 60) and share == 0.0
    assert alert.current_value == 0 and alert.baseline_value == pytest.approx(reference)
    assert alert.details["labelled"] == 0 and alert.details["rows"] == 60
    assert LABELS_FINGERPRINT not in result.healthy_fingerprints
    # A run of the same slot with labels expected after two days looks at rows that have
    # theirs: not firing.
    patient = _health(url, at, label_delay_hours=48)
    assert patient.alerts == [] and LABELS_FINGERPRINT in patient.healthy_fingerprints


@pytest.mark.parametrize(
    ("min_label_ratio", "fires"), [(0.5, True), (0.41, True), (0.4, False), (0.3, False)]
)
def test_the_label_ratio_threshold_is_configurable(
    url: str, min_label_ratio: float, fires: bool
) -> None:
    at = PATCHY + timedelta(hours=6 + 24)  # the rows due a label are the patchy six hours
    share, reference, labelled, rows = _shares(at, 24)
    assert (labelled, rows, reference) == (24, 60, 1.0) and share == 0.4
    result = _health(url, at, label_delay_hours=24, min_label_ratio=min_label_ratio)
    finding = _label_finding(result)
    assert finding["firing"] is fires
    assert finding["current"] == pytest.approx(share, abs=1e-12)
    alerts = _label_alerts(result)
    if fires:
        (alert,) = alerts
        assert alert.severity == SeverityLevel.WARNING  # some labels still arrive
        assert alert.threshold == min_label_ratio
    else:
        assert alerts == [] and LABELS_FINGERPRINT in result.healthy_fingerprints


# -- 6. performance from delayed labels, against scikit-learn --------------------------------


def ece_by_formula(y: npt.NDArray[np.float64], p: npt.NDArray[np.float64], bins: int) -> float:
    """ECE = sum_b (n_b / n) |mean(y in b) - mean(p in b)|, straight from the definition.

    Binning: ``bins`` equal-width bins of the score, bin k = [k/bins, (k+1)/bins),
    the last one closed ([.., 1.0]), as ``expected_calibration_error`` documents.
    A score belongs to bin k when ``k/bins <= p`` (the edges computed as ``k / bins``).
    """
    total = 0.0
    for k in range(bins):
        low, high = k / bins, (k + 1) / bins
        inside = (p >= low) & ((p < high) if k < bins - 1 else (p <= 1.0))
        if inside.any():
            total += inside.sum() / len(p) * abs(y[inside].mean() - p[inside].mean())
    return total


@pytest.mark.parametrize("bins", [10, 15, 100])
def test_ece_is_its_documented_formula(bins: int) -> None:
    rng = np.random.default_rng(bins)
    # Two-decimal scores (many on bin edges for 10 and 100 bins), and both ends of [0, 1].
    p = np.concatenate([np.round(rng.random(3000), 2), [0.0, 1.0, 1.0]])
    y = (rng.random(len(p)) < p**1.3).astype(np.float64)
    # The formula itself, first: the bins cover every score once.
    counts = sum(
        int(((p >= k / bins) & ((p < (k + 1) / bins) if k < bins - 1 else (p <= 1.0))).sum())
        for k in range(bins)
    )
    assert counts == len(p)
    assert expected_calibration_error(y, p, bins) == pytest.approx(
        ece_by_formula(y, p, bins), abs=1e-12
    )


def _performance(url: str, **fields: Any) -> dict[str, Any]:
    config = LiveModelConfig.model_validate(
        {
            "model_id": "sepsis-v3",
            "model_name": "Sepsis",
            "source": {"kind": "sql", "url": url, "table": "scored", "timestamp_column": "ts"},
            "current": "last 24 hours",
            "reference": "previous 7 days",
            "performance": {"min_labels": 50},
            **fields,
        }
    )
    result = run_performance_check(config, T0 + timedelta(days=10))
    assert result.not_estimable == []
    return result.report


CURRENT = _in(SCORED, T0 + timedelta(days=9), T0 + timedelta(days=10))
REFERENCE = _in(SCORED, T0 + timedelta(days=2), T0 + timedelta(days=9))


def _close(report: dict[str, Any], expected: dict[str, float]) -> None:
    assert set(report["metrics"]) == set(expected)
    for name, value in expected.items():
        assert abs(report["metrics"][name] - value) <= TOLERANCE, name


def _classification(rows: pd.DataFrame, decided: pd.Series) -> dict[str, float]:
    y, p = rows["label"].to_numpy(), rows["score"].to_numpy()
    return {
        "auroc": skm.roc_auc_score(y, p),
        "average_precision": skm.average_precision_score(y, p),
        "brier": skm.brier_score_loss(y, p),
        "log_loss": skm.log_loss(y, p, labels=[0, 1]),
        "accuracy": skm.accuracy_score(y, decided.to_numpy()),
        "f1": skm.f1_score(y, decided.to_numpy()),
        "ece": ece_by_formula(y, p, 10),
    }


def test_classification_metrics_equal_scikit_learns_on_the_labelled_rows(url: str) -> None:
    report = _performance(url, id_column="pid", score_column="score", label_column="label")
    for name, rows in (("current", CURRENT), ("reference", REFERENCE)):
        known = rows[rows["label"].notna()]
        assert 0 < len(known) < len(rows)  # some labels have not arrived
        assert report[name]["n_labelled"] == len(known)
        _close(report[name], _classification(known, (known["score"] >= 0.5).astype(float)))


def test_a_prediction_column_decides_accuracy_and_f1(url: str) -> None:
    report = _performance(
        url, score_column="score", prediction_column="decided", label_column="label"
    )
    known = CURRENT[CURRENT["label"].notna()]
    expected = _classification(known, known["decided"])
    _close(report["current"], expected)
    # The service's cut (0.3) is not the default 0.5: F1 at the two cuts differs.
    at_half = skm.f1_score(known["label"], (known["score"] >= 0.5).astype(float))
    assert abs(expected["f1"] - at_half) > 0.05


def test_regression_metrics_equal_scikit_learns(url: str) -> None:
    report = _performance(url, task="regression", score_column="estimate", label_column="actual")
    for name, rows in (("current", CURRENT), ("reference", REFERENCE)):
        known = rows[rows["actual"].notna()]
        assert report[name]["n_labelled"] == len(known) < len(rows)
        _close(
            report[name],
            {
                "mae": skm.mean_absolute_error(known["actual"], known["estimate"]),
                "rmse": skm.root_mean_squared_error(known["actual"], known["estimate"]),
            },
        )
