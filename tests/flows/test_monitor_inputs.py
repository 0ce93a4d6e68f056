"""The monitors' inputs end to end: files as users write them, through the flows.

Loading errors name the argument and the file; column kinds come from both
frames; undefined rates are reported, not judged; metric directions follow
the field's names; an edge timestamp does not hide a real incident.
"""

from __future__ import annotations

import json
import logging
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogWorker

from blocks import SlackAlertsWebhook
from flows import drift_monitoring_flow, fairness_monitoring_flow, security_monitoring_flow
from flows.artifacts import artifact_key
from flows.loading import InputFileError, load_frame
from flows.monitors.security import _rules
from slack_alerts.checks.metrics import UnknownMetricDirectionWarning
from slack_alerts.testing import LocalWebhookServer


def block(server: LocalWebhookServer) -> SlackAlertsWebhook:
    # As in test_monitoring_flows: slot requests can stall ~2 s on the SQLite harness.
    return SlackAlertsWebhook(webhook_url=server.url, rate_limit_wait_seconds=30)  # type: ignore[arg-type]


def artifact_data(key: str) -> Any:
    with get_client(sync_client=True) as client:
        (found,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=1
        )
    if isinstance(found.data, str) and found.type == "table":
        return json.loads(found.data)
    return found.data


# -- loading (no Prefect server needed: the task's function is called directly) ----


class TestLoading:
    def test_duplicate_csv_columns_name_the_file_and_columns(self, tmp_path: Path) -> None:
        path = tmp_path / "reference.csv"
        path.write_text("age,bmi,age,sex,sex\n50,28.1,51,F,F\n")
        with pytest.raises(InputFileError, match=r"reference: .*reference\.csv") as error:
            load_frame.fn(str(path), "reference")
        assert "duplicate column names: 'age', 'sex'" in str(error.value)

    def test_duplicate_parquet_columns(self, tmp_path: Path) -> None:
        path = tmp_path / "current.parquet"
        table = pa.table([pa.array([1, 2]), pa.array([3, 4])], names=["age", "age"])
        pq.write_table(table, path)
        with pytest.raises(InputFileError, match=r"current: .*current\.parquet has duplicate"):
            load_frame.fn(str(path), "current")

    def test_a_column_really_named_like_a_pandas_rename_is_fine(self, tmp_path: Path) -> None:
        path = tmp_path / "data.csv"
        path.write_text("age,age.1\n1,2\n")
        assert list(load_frame.fn(str(path), "data").columns) == ["age", "age.1"]

    def test_non_utf8_csv_names_the_argument_file_and_fix(self, tmp_path: Path) -> None:
        path = tmp_path / "current.csv"
        path.write_bytes("name,score\nJosé,1\n".encode("latin-1"))
        with pytest.raises(InputFileError) as error:
            load_frame.fn(str(path), "current")
        message = str(error.value)
        assert message.startswith(f"current: {path} is not valid utf-8 text")
        assert "byte 0xe9 at offset 14, line 2" in message
        assert "re-save it as UTF-8" in message and "encoding=" in message
        frame = load_frame.fn(str(path), "current", encoding="latin-1")
        assert frame["name"].tolist() == ["José"]

    def test_a_bad_byte_deep_in_a_large_file_is_located(self, tmp_path: Path) -> None:
        path = tmp_path / "reference.csv"
        path.write_bytes(b"x\n" + b"1\n" * 1_500_000 + b"\xff\n")
        with pytest.raises(InputFileError, match=r"byte 0xff at offset 3000002, line 1500002"):
            load_frame.fn(str(path), "reference")

    def test_missing_file_still_names_the_argument(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match="reference: no file at"):
            load_frame.fn(str(tmp_path / "nope.csv"), "reference")

    def test_an_empty_csv_names_the_argument_and_file(self, tmp_path: Path) -> None:
        empty = tmp_path / "current.csv"
        empty.write_text("")
        with pytest.raises(InputFileError, match=r"current: .*current\.csv is empty"):
            load_frame.fn(str(empty), "current")

    def test_rules_file_errors(self, tmp_path: Path) -> None:
        latin = tmp_path / "rules.json"
        latin.write_bytes('{"allow_list": {"m": ["Zoë"]}}'.encode("latin-1"))
        with pytest.raises(InputFileError) as error:
            _rules(str(latin))
        assert str(error.value).startswith(f"rules: {latin} is not valid utf-8 text")
        assert "re-save it as UTF-8" in str(error.value)
        broken = tmp_path / "broken.json"
        broken.write_text('{"allow_list": {"m": ["a",]}}')
        with pytest.raises(InputFileError, match=r"rules: .*broken.json is not valid JSON.*line 1"):
            _rules(str(broken))
        with pytest.raises(FileNotFoundError, match="rules: no file at"):
            _rules(str(tmp_path / "absent.json"))


@pytest.mark.usefixtures("prefect_api")
class TestLoadingThroughFlows:
    def test_drift_flow_refuses_duplicate_columns(self, tmp_path: Path) -> None:
        (tmp_path / "reference.csv").write_text("age,age\n1,2\n3,4\n")
        (tmp_path / "current.csv").write_text("age\n1\n3\n")
        state = drift_monitoring_flow(
            "m", "M", str(tmp_path / "reference.csv"), str(tmp_path / "current.csv"),
            return_state=True,
        )  # fmt: skip
        assert state.is_failed()
        with pytest.raises(InputFileError, match=r"reference: .* duplicate column names: 'age'"):
            state.result()

    def test_security_flow_with_latin1_rules(self, tmp_path: Path) -> None:
        (tmp_path / "rules.json").write_bytes('{"allow_list": {"m": ["Zoë"]}}'.encode("latin-1"))
        (tmp_path / "audit.jsonl").write_text("")
        state = security_monitoring_flow(
            str(tmp_path / "audit.jsonl"), rules=str(tmp_path / "rules.json"), return_state=True
        )
        assert state.is_failed()
        with pytest.raises(InputFileError, match=r"rules: .*rules\.json is not valid utf-8"):
            state.result()


# -- not estimable, end to end ---------------------------------------------------


@pytest.mark.usefixtures("prefect_api")
def test_fairness_flow_reports_what_is_not_estimable(
    tmp_path: Path, webhook_server: LocalWebhookServer
) -> None:
    rng = np.random.default_rng(11)
    sites = np.repeat(["east", "north", "south"], 200)
    y_true = np.where(sites == "east", 0, (rng.random(600) < 0.4).astype(int))
    y_pred = np.where(y_true == 1, rng.random(600) < 0.9, rng.random(600) < 0.1).astype(int)
    y_pred[sites == "east"] = 0
    pd.DataFrame({"y_true": y_true, "y_pred": y_pred, "site": sites}).to_csv(
        tmp_path / "predictions.csv", index=False
    )
    model_id = f"sites-{uuid.uuid4().hex[:6]}"
    report = fairness_monitoring_flow(
        model_id,
        "Sites",
        "y_true",
        "y_pred",
        "site",
        webhook=block(webhook_server),
        data=str(tmp_path / "predictions.csv"),
    )
    # East selects nobody (nobody there has the label): demographic parity, which
    # ignores base rates, is estimable and flags it. Nothing else fires.
    assert [f["violation_type"] for f in report.findings] == ["fairness"]
    assert "safety" not in json.dumps(webhook_server.payloads())
    east = next(g for g in report.groups if g["group"] == "east")
    assert east["tpr"] is None and east["fnr"] is None and east["accuracy"] == 1.0
    missing = {(m["group"], m["metric"]): m for m in report.not_estimable}
    assert set(missing) == {("east", "tpr"), ("east", "fnr")}
    assert missing[("east", "fnr")]["reason"] == "no positive label in the group"
    assert missing[("east", "fnr")]["rules"] == ["safety"]
    # Neither firing nor healthy: a firing safety alert must not be resolved by this run.
    assert report.unjudged_rules == ["equalized_odds", "safety"]
    assert len(report.healthy_fingerprints) == 1  # validity
    key = artifact_key("fairness", model_id)
    groups = artifact_data(f"{key}-groups")
    east_row = next(row for row in groups if row["group"] == "east")
    assert east_row["fnr"] == "not estimable" and east_row["tpr"] == "not estimable"
    listed = artifact_data(f"{key}-not-estimable")
    assert {(row["group"], row["metric"]) for row in listed} == {("east", "tpr"), ("east", "fnr")}
    summary = artifact_data(f"{key}-summary")
    assert "Not estimable: fnr of east (no positive label in the group)" in summary


# -- column kinds, end to end ------------------------------------------------------


def patient_windows(tmp_path: Path) -> tuple[Path, Path]:
    """January and April: the visit dates differ by construction, the labs do not."""
    rng = np.random.default_rng(7)
    days = 2000
    reference = pd.DataFrame(
        {
            "visit_day": pd.date_range("2026-01-01", periods=31, freq="D")
            .strftime("%Y-%m-%d")
            .to_numpy()[rng.integers(0, 31, days)],
            "lactate": rng.lognormal(0.4, 0.45, days).round(2),
            "ward": rng.choice(["A", "B", "C"], days),
        }
    )
    current = pd.DataFrame(
        {
            "visit_day": pd.date_range("2026-04-01", periods=30, freq="D")
            .strftime("%Y-%m-%d")
            .to_numpy()[rng.integers(0, 30, days)],
            "lactate": rng.lognormal(0.4, 0.45, days).round(2),
            "ward": rng.choice(["A", "B", "C"], days),
        }
    )
    reference.to_csv(tmp_path / "reference.csv", index=False)
    current.to_csv(tmp_path / "current.csv", index=False)
    return tmp_path / "reference.csv", tmp_path / "current.csv"


@pytest.mark.usefixtures("prefect_api")
class TestColumnKindsThroughTheDriftFlow:
    def test_iso_dates_in_two_csv_files_are_skipped_not_drift(
        self, tmp_path: Path, webhook_server: LocalWebhookServer
    ) -> None:
        reference, current = patient_windows(tmp_path)
        model_id = f"dates-{uuid.uuid4().hex[:6]}"
        report = drift_monitoring_flow(
            model_id, "Dates", str(reference), str(current), webhook=block(webhook_server)
        )
        features = {f["feature"]: f for f in report.features}
        assert features["visit_day"]["kind"] == "skipped"
        assert "datetime column" in features["visit_day"]["note"]
        assert features["visit_day"]["psi"] is None and features["visit_day"]["p_value"] is None
        assert report.drifted_features == [] and report.alerts == []
        assert webhook_server.payloads() == []
        assert features["lactate"]["kind"] == "numeric"
        assert features["ward"]["kind"] == "categorical"
        # Two features tested and fine; the skipped one is neither firing nor healthy.
        assert len(report.healthy_fingerprints) == 2

    def test_asking_for_time_compares_the_dates(self, tmp_path: Path) -> None:
        reference, current = patient_windows(tmp_path)
        report = drift_monitoring_flow(
            f"time-{uuid.uuid4().hex[:6]}",
            "Dates",
            str(reference),
            str(current),
            thresholds={"compare_time": True},
        )
        features = {f["feature"]: f for f in report.features}
        assert features["visit_day"]["kind"] == "time"
        assert report.drifted_features == ["visit_day"]  # January against April, as asked

    def test_declared_kinds_win(self, tmp_path: Path) -> None:
        reference, current = patient_windows(tmp_path)
        report = drift_monitoring_flow(
            f"kinds-{uuid.uuid4().hex[:6]}",
            "Dates",
            str(reference),
            str(current),
            kinds={"lactate": "skipped", "ward": "categorical"},
        )
        features = {f["feature"]: f for f in report.features}
        assert features["lactate"]["kind"] == "skipped"
        assert features["lactate"]["note"] == "not compared: declared"

    def test_numbers_written_differently_reconcile(self, tmp_path: Path) -> None:
        rng = np.random.default_rng(3)
        values = rng.integers(18, 90, 1500)
        # Integers in one file, the same numbers as decimals (and one "n/a") in the other.
        (tmp_path / "reference.csv").write_text(
            "age,code\n" + "".join(f"{v},{v % 3}\n" for v in values)
        )
        (tmp_path / "current.csv").write_text(
            "age,code\n" + "".join(f"{v}.0,{float(v % 3)}\n" for v in values[:-1]) + "n/a,1\n"
        )
        report = drift_monitoring_flow(
            f"nums-{uuid.uuid4().hex[:6]}",
            "Numbers",
            str(tmp_path / "reference.csv"),
            str(tmp_path / "current.csv"),
        )
        features = {f["feature"]: f for f in report.features}
        assert features["age"]["kind"] == "numeric" and features["age"]["ks_statistic"] < 1e-3
        assert features["code"]["kind"] == "numeric"
        assert report.drifted_features == []

    def test_a_column_empty_in_current_is_a_schema_alert(
        self, tmp_path: Path, webhook_server: LocalWebhookServer
    ) -> None:
        rng = np.random.default_rng(4)
        pd.DataFrame({"x": rng.normal(size=500), "wbc": rng.normal(9, 3, 500)}).to_csv(
            tmp_path / "reference.csv", index=False
        )
        pd.DataFrame({"x": rng.normal(size=500), "wbc": [None] * 500}).to_csv(
            tmp_path / "current.csv", index=False
        )
        model_id = f"empty-{uuid.uuid4().hex[:6]}"
        report = drift_monitoring_flow(
            model_id,
            "Empty",
            str(tmp_path / "reference.csv"),
            str(tmp_path / "current.csv"),
            webhook=block(webhook_server),
        )
        features = {f["feature"]: f for f in report.features}
        assert features["wbc"]["kind"] == "numeric"
        assert features["wbc"]["schema_change"] == "no_values_in_current"
        assert features["wbc"]["psi"] is None and "not estimable" in features["wbc"]["note"]
        assert [(a.title, a.severity) for a in report.alerts] == [("schema:wbc", "warning")]
        payload = json.dumps(webhook_server.payloads())
        assert "no_values_in_current" in payload


# -- metric directions, end to end -----------------------------------------------


@pytest.mark.usefixtures("prefect_api")
class TestMetricDirectionsThroughTheDriftFlow:
    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng = np.random.default_rng(5)
        return (
            pd.DataFrame({"x": rng.normal(size=300)}),
            pd.DataFrame({"x": rng.normal(size=300)}),
        )

    def test_a_tripled_error_is_critical_a_halved_one_is_fine(
        self, webhook_server: LocalWebhookServer
    ) -> None:
        reference, current = self.frames()
        worse = drift_monitoring_flow(
            f"mae-{uuid.uuid4().hex[:6]}",
            "Regressor",
            reference,
            current,
            baseline_metrics={"mean_absolute_error": 0.1},
            current_metrics={"mean_absolute_error": 0.3},
            webhook=block(webhook_server),
        )
        (alert,) = worse.alerts
        assert alert.title == "mean_absolute_error" and alert.severity == "critical"
        (change,) = worse.performance
        assert change["direction"] == "lower_is_better"
        assert change["degradation"] == pytest.approx(2.0)
        assert "lower_is_better" in json.dumps(webhook_server.payloads())
        better = drift_monitoring_flow(
            f"mae-{uuid.uuid4().hex[:6]}",
            "Regressor",
            reference,
            current,
            baseline_metrics={"mean_absolute_error": 0.1},
            current_metrics={"mean_absolute_error": 0.05},
        )
        assert better.alerts == [] and better.performance[0]["severity"] == "info"

    def test_unknown_metric_is_reported_not_judged(self) -> None:
        reference, current = self.frames()
        with pytest.warns(UnknownMetricDirectionWarning, match="'wobble'"):
            report = drift_monitoring_flow(
                f"wobble-{uuid.uuid4().hex[:6]}",
                "Model",
                reference,
                current,
                baseline_metrics={"wobble": 1.0, "auroc": 0.9},
                current_metrics={"wobble": 0.2, "auroc": 0.9},
            )
        changes = {c["metric"]: c for c in report.performance}
        assert changes["wobble"]["direction"] == "unknown"
        assert changes["wobble"]["degraded"] is False and report.alerts == []
        # auroc and x were judged fine; wobble was not judged, so it is not "healthy".
        assert len(report.healthy_fingerprints) == 2

    def test_the_warning_is_in_the_run_log(self) -> None:
        reference, current = self.frames()
        with pytest.warns(UnknownMetricDirectionWarning):
            state = drift_monitoring_flow(
                f"wobble-{uuid.uuid4().hex[:6]}",
                "Model",
                reference,
                current,
                baseline_metrics={"wobble": 1.0},
                current_metrics={"wobble": 0.2},
                return_state=True,
            )
        assert state.is_completed()
        APILogWorker.drain_all(timeout=30)
        with get_client(sync_client=True) as client:
            logs = client.read_logs(
                LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
            )
        warned = [log for log in logs if "UnknownMetricDirectionWarning" in log.message]
        assert len(warned) == 1, [log.message for log in logs]
        assert "metric 'wobble': direction unknown" in warned[0].message
        assert warned[0].level == logging.WARNING

    def test_declared_direction(self) -> None:
        reference, current = self.frames()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a declared name must not warn
            report = drift_monitoring_flow(
                f"latency-{uuid.uuid4().hex[:6]}",
                "Model",
                reference,
                current,
                baseline_metrics={"latency_ms": 100.0},
                current_metrics={"latency_ms": 180.0},
                thresholds={"metric_directions": {"Latency-MS": "lower_is_better"}},
            )
        assert [a.title for a in report.alerts] == ["latency_ms"]

    def test_a_metric_not_estimable_still_sends_the_feature_alerts(
        self, webhook_server: LocalWebhookServer
    ) -> None:
        rng = np.random.default_rng(6)
        reference = pd.DataFrame({"x": rng.normal(size=300)})
        current = pd.DataFrame({"x": rng.normal(3, 1, size=300)})
        report = drift_monitoring_flow(
            f"nan-{uuid.uuid4().hex[:6]}",
            "Model",
            reference,
            current,
            baseline_metrics={"auroc": 0.9},
            current_metrics={"auroc": float("nan")},  # one class in the window
            webhook=block(webhook_server),
        )
        assert [a.title for a in report.alerts] == ["feature:x"]
        (change,) = report.performance
        assert change["note"] == "current value not estimable (nan)"
        assert "feature:x" in json.dumps(webhook_server.payloads())


# -- security: an edge timestamp next to a real incident -------------------------


@pytest.mark.usefixtures("prefect_api")
def test_security_flow_alerts_a_phi_incident_next_to_edge_timestamps(
    tmp_path: Path, webhook_server: LocalWebhookServer
) -> None:
    model = f"summary-{uuid.uuid4().hex[:6]}"

    def record(stamp: str, output: str = "ok") -> str:
        fields = {"timestamp": stamp, "principal": "svc-notes", "model_id": model}
        return json.dumps(fields | {"output": output})

    log = tmp_path / "audit.jsonl"
    log.write_text(
        "\n".join(
            [
                record("2026-11-29T08:00:00Z"),
                record("0001-01-01T00:00+05:00"),
                record("2026-11-29T08:01:00Z", "Patient MRN: 40221987, jane.roe@example.org"),
                record("9999-12-31T23:59-05:00"),
            ]
        )
    )
    report = security_monitoring_flow(str(log), block(webhook_server))
    assert report.by_rule == {"phi_in_output": 1}
    assert report.malformed == [
        {"line": 2, "reason": "timestamp outside the range UTC can represent"},
        {"line": 4, "reason": "timestamp outside the range UTC can represent"},
    ]
    assert [a.status for a in report.alerts] == ["sent"]
    payload = json.dumps(webhook_server.payloads())
    assert "phi_in_output" in payload and "40221987" not in payload
