"""Prefect events for every alert outcome, so Automations can react to alerts.

``slack_alerts.alert.sent`` / ``.suppressed`` / ``.failed``; the resource is
the model, and the payload carries severity, kind and fingerprint.
"""

from __future__ import annotations

from typing import Literal

from prefect.events import emit_event

from flows.limits import limit_key
from slack_alerts import DeliveryResult
from slack_alerts.models import Alert
from slack_alerts.text import redact_phi

Outcome = Literal["sent", "suppressed", "failed"]


def model_resource(model_id: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"slack-alerts.model.{limit_key(model_id)}",
        "prefect.resource.name": redact_phi(model_id),
    }


def emit_alert_event(outcome: Outcome, alert: Alert, result: DeliveryResult | None = None) -> None:
    payload: dict[str, object] = {
        "severity": alert.severity.value,
        "fingerprint": alert.fingerprint,
        "kind": alert.kind,
    }
    if result is not None:
        payload.update(status=result.status.value, attempts=result.attempts, error=result.error)
    emit_event(
        event=f"slack_alerts.alert.{outcome}",
        resource=model_resource(alert.model_id),
        payload=payload,
    )
