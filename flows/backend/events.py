"""``PrefectObserver``: a Prefect event and a run-log line for every alert outcome.

Events ``slack_alerts.alert.sent`` / ``.suppressed`` / ``.failed`` let
Automations react to alerts; the resource is the model, and the payload
carries severity, kind, fingerprint, status and the error code. Nothing in
them is user free text or a secret: ids are PHI-redacted, errors are codes.
"""

from __future__ import annotations

import logging
from typing import Literal

from prefect import get_run_logger
from prefect.events import emit_event
from prefect.exceptions import MissingContextError
from prefect.logging import get_logger

from flows.backend.limits import limit_key
from slack_alerts.models import Alert
from slack_alerts.pipeline import AlertOutcome, AlertStatus
from slack_alerts.text import redact_phi

Outcome = Literal["sent", "suppressed", "failed"]

_EVENT_OF: dict[AlertStatus, Outcome] = {
    AlertStatus.SENT: "sent",
    AlertStatus.DEDUPLICATED: "suppressed",
    AlertStatus.RATE_LIMITED: "suppressed",
    AlertStatus.SILENCED: "suppressed",
    AlertStatus.FAILED_TRANSIENT: "failed",
    AlertStatus.FAILED_PERMANENT: "failed",
    AlertStatus.KEPT: "failed",
}


def model_resource(model_id: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"slack-alerts.model.{limit_key(model_id)}",
        "prefect.resource.name": redact_phi(model_id)[:200],
    }


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except MissingContextError:
        return get_logger("slack_alerts.flows")


class PrefectObserver:
    """Emits one event per alert outcome and logs it on the run's logger."""

    def on_alert(self, alert: Alert, outcome: AlertOutcome) -> None:
        logger = run_logger()
        level = logging.INFO if outcome.status.accounted else logging.ERROR
        logger.log(
            level,
            "%s %s alert %s (%s) for model %s at %s: %s%s",
            outcome.severity,
            outcome.kind,
            outcome.fingerprint,
            outcome.title,
            outcome.model_id,
            outcome.receiver or "(no destination resolved)",
            outcome.status.value,
            _where(outcome.error, outcome.location, outcome.status.accounted),
        )
        try:
            emit_event(
                event=f"slack_alerts.alert.{_EVENT_OF[outcome.status]}",
                resource=model_resource(alert.model_id),
                payload={
                    "severity": outcome.severity,
                    "fingerprint": outcome.fingerprint,
                    "kind": outcome.kind,
                    "status": outcome.status.value,
                    "error": outcome.error,
                    "receiver": outcome.receiver,
                },
            )
        except Exception as exc:  # events are best effort; the alert's fate is decided
            logger.debug("event not emitted: %s", type(exc).__name__)

    def on_note(self, message: str) -> None:
        run_logger().warning("%s", message)


def _where(error: str | None, location: str | None, accounted: bool) -> str:
    """The log line's tail: the error, and where an undelivered alert is kept (or not)."""
    if not error:
        return ""
    if location:
        return f" ({error}; kept at {location})"
    return f" ({error})" if accounted else f" ({error}; NOT kept: no outbox copy)"
