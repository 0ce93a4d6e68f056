"""The three monitoring flows end to end: Prefect harness, real local webhook server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from blocks import SlackAlertsWebhook
from flows import drift_monitoring_flow, fairness_monitoring_flow, security_monitoring_flow
from flows.artifacts import artifact_key
from slack_alerts import read_outbox
from slack_alerts.testing import LocalWebhookServer
from tests.blockkit import problems

pytestmark = pytest.mark.usefixtures("prefect_api")
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def block(server: LocalWebhookServer) -> SlackAlertsWebhook:
    # On the SQLite test harness a slot request can stall ~2 s behind
    # Prefect's own writers; a flow sending 4 alerts for one model at once
    # needs more than the default 10 s budget there (not on PostgreSQL).
    return SlackAlertsWebhook(webhook_url=server.url, rate_limit_wait_seconds=30)  # type: ignore[arg-type]


def artifact_keys(prefix: str) -> set[str]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_=prefix))
        )
    return {a.key for a in found if a.key}


def texts(server: LocalWebhookServer) -> list[str]:
    payloads = server.payloads()
    assert all(problems(p) == [] for p in payloads)
    return [p["text"] for p in payloads]


def test_drift_flow_on_sample_data(webhook_server: LocalWebhookServer) -> None:
    model_id = f"sepsis-{uuid.uuid4().hex[:6]}"
    metrics = json.loads((SAMPLE / "metrics.json").read_text())
    report = drift_monitoring_flow(
        model_id,
        "Sepsis early warning",
        str(SAMPLE / "reference.csv"),
        str(SAMPLE / "current.csv"),
        metrics["baseline"],
        metrics["current"],
        block(webhook_server),
    )
    assert report.drifted_features == ["age", "lactate", "admission_type"]
    assert sorted(a.title for a in report.alerts) == [
        "auroc",
        "feature:admission_type",
        "feature:age",
        "feature:lactate",
    ]
    assert all(a.status == "sent" for a in report.alerts)
    (digest,) = texts(webhook_server)  # one message for the model's four alerts
    assert "4 alerts for Sepsis early warning" in digest and "3 critical, 1 warning" in digest
    everything = json.dumps(webhook_server.payloads())
    assert "auroc fell from 0.86 to 0.78" in everything
    assert "feature:lactate" in everything and "feature:bmi" not in everything
    assert len(report.healthy_fingerprints) == 5 + 1  # 5 stable features, accuracy
    key = artifact_key("drift", model_id)
    assert {f"{key}-features", f"{key}-summary"} <= artifact_keys(key)


def test_drift_flow_with_frames_and_preview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_ALERTS_OUTBOX", str(tmp_path))
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=2000), "y": rng.normal(size=2000)})
    current = pd.DataFrame({"x": rng.normal(1, 1, size=2000), "y": rng.normal(size=2000)})
    report = drift_monitoring_flow(f"m-{uuid.uuid4().hex[:6]}", "M", reference, current)
    assert report.drifted_features == ["x"]
    (record,) = read_outbox(tmp_path)
    assert "feature:x" in record["payload"]["text"]


def test_drift_flow_bad_path_is_a_clear_error() -> None:
    state = drift_monitoring_flow(
        "m", "M", "/nonexistent/ref.csv", "/nonexistent/cur.csv", return_state=True
    )
    assert state.is_failed()
    with pytest.raises(FileNotFoundError, match="reference: no file at"):
        state.result()


def test_fairness_flow_with_columns(webhook_server: LocalWebhookServer) -> None:
    model_id = f"readmit-{uuid.uuid4().hex[:6]}"
    report = fairness_monitoring_flow(
        model_id,
        "30-day readmission",
        "y_true",
        "y_pred",
        "ethnicity",
        webhook=block(webhook_server),
        data=str(SAMPLE / "predictions.csv"),
    )
    kinds = {f["violation_type"]: f for f in report.findings}
    assert set(kinds) == {"fairness", "equalized_odds", "safety"}
    assert kinds["fairness"]["affected_groups"] == ["C"]
    assert "E" not in json.dumps(kinds["fairness"]["affected_groups"])
    (digest,) = texts(webhook_server)
    assert "3 alerts for 30-day readmission" in digest
    assert "four-fifths" in json.dumps(webhook_server.payloads())
    assert report.summary["demographic_parity_ratio"] < 0.4
    assert {g["group"] for g in report.groups} == {"A", "B", "C", "D", "E"}
    key = artifact_key("fairness", model_id)
    assert {f"{key}-groups", f"{key}-summary"} <= artifact_keys(key)


def test_fairness_flow_with_arrays_and_no_findings(webhook_server: LocalWebhookServer) -> None:
    rng = np.random.default_rng(4)
    n = 2000
    y_true = rng.integers(0, 2, n)
    y_pred = np.where(rng.random(n) < 0.9, y_true, 1 - y_true)
    groups = rng.choice(["F", "M"], n)
    report = fairness_monitoring_flow(
        f"fair-{uuid.uuid4().hex[:6]}",
        "Fair model",
        y_true.tolist(),
        y_pred.tolist(),
        groups.tolist(),
        webhook=block(webhook_server),
    )
    assert report.findings == [] and report.alerts == [] and webhook_server.payloads() == []
    assert len(report.healthy_fingerprints) == 4


def test_fairness_flow_bad_column_named() -> None:
    state = fairness_monitoring_flow(
        "m",
        "M",
        "label",
        "y_pred",
        "ethnicity",
        data=str(SAMPLE / "predictions.csv"),
        return_state=True,
    )
    assert state.is_failed()
    with pytest.raises(ValueError, match="y_true='label' is not a column of data"):
        state.result()


def test_security_flow_and_rescan_does_not_page_again(
    webhook_server: LocalWebhookServer, tmp_path: Path
) -> None:
    # Own model ids: alert state lives on the (shared) test server.
    suffix = uuid.uuid4().hex[:6]
    text = (SAMPLE / "audit_log.jsonl").read_text()
    text = text.replace("sepsis-risk-v3", f"sepsis-{suffix}").replace(
        "discharge-summary-llm", f"summary-{suffix}"
    )
    (tmp_path / "audit.jsonl").write_text(text)
    rules_text = (
        (SAMPLE / "security_rules.json").read_text().replace("sepsis-risk-v3", f"sepsis-{suffix}")
    )
    (tmp_path / "rules.json").write_text(rules_text)
    log, rules = str(tmp_path / "audit.jsonl"), str(tmp_path / "rules.json")
    report = security_monitoring_flow(log, block(webhook_server), rules)
    assert report.records == 463 and [m["line"] for m in report.malformed] == [51, 121]
    assert report.by_rule == {
        "auth_failure_burst": 2,
        "unauthorized_access": 1,
        "phi_in_output": 1,
        "prompt_injection": 1,
        "system_prompt_leak": 1,
        "request_rate_anomaly": 1,
    }
    sent = texts(webhook_server)
    assert len(sent) == 2  # one digest per model: 4 incidents and 3 incidents
    assert sorted(t.split(" alerts for ")[0][-1] for t in sent) == ["3", "4"]
    everything = json.dumps(webhook_server.payloads())
    assert "40221987" not in everything and "jane.roe@example.org" not in everything
    assert {a.status for a in report.alerts} == {"sent"} and len(report.alerts) == 7
    again = security_monitoring_flow(log, block(webhook_server), rules)
    assert {a.fingerprint for a in again.alerts} == {a.fingerprint for a in report.alerts}
    assert {a.status for a in again.alerts} == {"deduplicated"}
    assert len(webhook_server.payloads()) == 2  # same incidents: nothing new posted
    assert {"security-incidents", "security-summary"} <= artifact_keys("security")


def test_security_flow_from_iterable(webhook_server: LocalWebhookServer) -> None:
    principal = f"p{uuid.uuid4().hex[:6]}"
    events: list[Any] = [
        {
            "timestamp": f"2026-11-29T09:00:{i:02d}Z",
            "principal": principal,
            "ip": "10.2.0.1",
            "model_id": "m",
            "status": "401",
        }
        for i in range(6)
    ]
    report = security_monitoring_flow([*events, "garbage"], block(webhook_server))
    assert report.by_rule == {"auth_failure_burst": 2} and len(report.malformed) == 1
    (digest,) = texts(webhook_server)
    assert "2 alerts for m" in digest


def test_resolved_notice_when_drift_goes_away(webhook_server: LocalWebhookServer) -> None:
    model_id = f"heal-{uuid.uuid4().hex[:6]}"
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(size=3000)})
    drifted = pd.DataFrame({"x": rng.normal(2, 1, size=3000)})
    first = drift_monitoring_flow(
        model_id, "Healing model", reference, drifted, webhook=block(webhook_server)
    )
    assert [a.status for a in first.alerts] == ["sent"]
    again = drift_monitoring_flow(
        model_id, "Healing model", reference, drifted, webhook=block(webhook_server)
    )
    assert [a.status for a in again.alerts] == ["deduplicated"] and len(
        webhook_server.payloads()
    ) == 1
    healed = drift_monitoring_flow(
        model_id, "Healing model", reference, reference.copy(), webhook=block(webhook_server)
    )
    assert healed.alerts == [] and healed.resolved == 1
    notice = webhook_server.payloads()[-1]
    assert "Resolved: 1 alert" in json.dumps(notice) and "feature:x" in json.dumps(notice)
    assert notice["attachments"][0]["color"] == "#2EB67D"  # green


def test_alert_group_waits_then_sends_one_digest_per_model(
    webhook_server: LocalWebhookServer,
) -> None:
    import time

    from prefect import flow

    from flows import alert_group

    suffix = uuid.uuid4().hex[:6]

    def drift_alert(model: str, metric: str) -> Any:
        from slack_alerts import DriftAlert

        return DriftAlert(
            model_id=f"{model}-{suffix}",
            model_name=model,
            metric=metric,
            current_value=0.7,
            baseline_value=0.8,
            threshold=0.05,
        )

    @flow
    def scoring() -> list[str]:
        with alert_group(block(webhook_server), group_wait_seconds=1.0) as group:
            group.add(drift_alert("a", "m1"))
            group.add(drift_alert("a", "m2"))
            group.add(drift_alert("b", "m1"))
            time.sleep(1.2)
            group.add(drift_alert("a", "m3"))  # group_wait passed: a and b flush now (m3 included)
            group.add(drift_alert("a", "m4"))  # a new window, sent when the block ends
        return [o.status for o in group.outcomes]

    statuses = scoring()
    assert statuses == ["sent"] * 5
    texts_sent = sorted(p["text"] for p in webhook_server.payloads())
    assert len(texts_sent) == 3  # a (3 alerts), b (1 alert), then a (1 alert)
    assert sum("3 alerts for a" in t for t in texts_sent) == 1
