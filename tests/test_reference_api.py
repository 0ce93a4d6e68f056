"""The reference design's imports and calls, as written there (with slack_alerts as the package)."""

from __future__ import annotations

import os

import pytest

from slack_alerts.testing import LocalWebhookServer


def test_reference_usage(
    webhook_server: LocalWebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", webhook_server.url)

    from slack_alerts import (
        DriftAlert,
        FAVESViolation,
        SafetyEvent,
        SeverityLevel,
        SlackAlertClient,
    )

    client = SlackAlertClient(webhook_url=os.getenv("SLACK_WEBHOOK_URL"))
    client = SlackAlertClient(
        webhook_url=os.getenv("SLACK_WEBHOOK_URL"),
        channel="#alerts",
        username="Bot Name",
        rate_limit_per_minute=10,
        timeout_seconds=10,
    )
    alert = DriftAlert(
        model_id="m1",
        model_name="Model 1",
        metric="accuracy",
        current_value=0.81,
        baseline_value=0.9,
        threshold=0.05,
        drift_percentage=10.0,
        timestamp="2026-11-29T10:00:00Z",
        severity=SeverityLevel.WARNING,
        details={"n": 100},
    )
    assert client.send_drift_alert(alert) is True
    violation = FAVESViolation(
        model_id="m1",
        model_name="Model 1",
        violation_type="fairness",
        description="Disparate impact 0.7",
        severity=SeverityLevel.CRITICAL,
        timestamp="2026-11-29T10:00:00Z",
        affected_groups=["group_b"],
        details={},
    )
    assert client.send_faves_violation(violation) is True
    event = SafetyEvent(
        event_type="unauthorized_access",
        model_id="m1",
        description="x",
        severity=SeverityLevel.CRITICAL,
        timestamp="2026-11-29T10:00:00Z",
        metadata={},
    )
    assert client.send_safety_event(event, skip_rate_limit=True) is True
    assert isinstance(client.format_drift_message(alert), dict)
    assert isinstance(client.format_compliance_message(violation), dict)
    assert isinstance(client.format_safety_message(event), dict)
    assert client._send_message({"text": "raw"}) is True
    assert SeverityLevel.CRITICAL.to_color().startswith("#")
    assert len(webhook_server.payloads()) == 4

    from slack_alerts import RateLimiter

    limiter = RateLimiter(max_messages_per_window=1, window_size_seconds=60)
    assert limiter.is_allowed("m1") and not limiter.is_allowed("m1")
    assert limiter.get_retry_after("m1") > 0

    from slack_alerts import SlackAlertsConfig

    config = SlackAlertsConfig.from_env()
    assert (
        config.get_drift_client() and config.get_compliance_client() and config.get_safety_client()
    )
