"""Shared test factories: alerts, unique ids, blocks and receivers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from slack_alerts import DriftAlert, FAVESViolation, SafetyEvent
from slack_alerts.testing import LocalWebhookServer

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def unique(prefix: str = "model") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def drift(model_id: str = "sepsis-v3", **overrides: Any) -> DriftAlert:
    data: dict[str, Any] = dict(
        model_id=model_id,
        model_name="Sepsis",
        metric="auroc",
        current_value=0.7,
        baseline_value=0.8,
        threshold=0.05,
    )
    return DriftAlert(**{**data, **overrides})


def violation(model_id: str = "readmission-v2", **overrides: Any) -> FAVESViolation:
    data: dict[str, Any] = dict(
        model_id=model_id,
        model_name="Readmission",
        violation_type="fairness",
        description="Selection-rate ratio 0.64 < 0.80",
    )
    return FAVESViolation(**{**data, **overrides})


def event(model_id: str = "triage-llm", **overrides: Any) -> SafetyEvent:
    data: dict[str, Any] = dict(
        event_type="auth_failure_burst", model_id=model_id, description="42 failures"
    )
    return SafetyEvent(**{**data, **overrides})


def block_for(server: LocalWebhookServer, **settings: Any) -> Any:
    """A ``SlackAlertsWebhook`` posting to ``server`` (imports Prefect only when called)."""
    from blocks import SlackAlertsWebhook

    return SlackAlertsWebhook(webhook_url=server.url, **settings)
