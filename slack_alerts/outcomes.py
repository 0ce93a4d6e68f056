"""Where each alert ended: statuses, outcomes, and who hears about them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from slack_alerts.delivery import DeliveryResult
from slack_alerts.formatting import alert_title
from slack_alerts.logs import logger
from slack_alerts.models import Alert
from slack_alerts.text import redact_phi, single_line, truncate


class AlertStatus(StrEnum):
    """Where one alert ended. Every alert ends in exactly one of these."""

    SENT = "sent"  # in a message Slack accepted
    DEDUPLICATED = "deduplicated"  # already firing and sent within the repeat interval
    RATE_LIMITED = "rate_limited"  # counted into the group's next message
    SILENCED = "silenced"  # muted by a silence; counted, said after it ends
    FAILED_TRANSIENT = "failed_transient"  # in the durable outbox, for replay
    FAILED_PERMANENT = "failed_permanent"  # in the dead letters, with the reason
    KEPT = "kept"  # not attempted (lock taken, bad configuration); in the outbox

    @property
    def accounted(self) -> bool:
        """True when nothing more needs doing for the alert."""
        return self in (
            AlertStatus.SENT,
            AlertStatus.DEDUPLICATED,
            AlertStatus.RATE_LIMITED,
            AlertStatus.SILENCED,
        )


@dataclass(frozen=True)
class AlertOutcome:
    """What happened to one alert, safe to show (ids and titles PHI-redacted)."""

    fingerprint: str
    model_id: str
    kind: str
    severity: str
    title: str
    status: AlertStatus
    receiver: str = ""
    error: str | None = None
    detail: str = ""
    location: str | None = None


def safe_text(text: str, limit: int = 200) -> str:
    return truncate(single_line(redact_phi(text)), limit)


def outcome_of(
    alert: Alert,
    status: AlertStatus,
    receiver: str = "",
    *,
    error: str | None = None,
    detail: str = "",
    location: str | None = None,
) -> AlertOutcome:
    return AlertOutcome(
        fingerprint=alert.fingerprint,
        model_id=safe_text(alert.model_id),
        kind=alert.kind,
        severity=alert.severity.value,
        title=safe_text(alert_title(alert)),
        status=status,
        receiver=receiver,
        error=error,
        detail=detail,
        location=location,
    )


@dataclass
class PipelineOutcome:
    """Where every alert went, the messages posted, and what the pipeline noticed."""

    alerts: list[AlertOutcome] = field(default_factory=list)
    messages: list[DeliveryResult] = field(default_factory=list)
    resolved: int = 0
    notes: list[str] = field(default_factory=list)
    results: dict[str, DeliveryResult] = field(default_factory=dict)

    def fingerprints(self, *statuses: AlertStatus) -> list[str]:
        return [o.fingerprint for o in self.alerts if o.status in statuses]

    def count(self, status: AlertStatus) -> int:
        return sum(1 for o in self.alerts if o.status is status)

    @property
    def delivered(self) -> list[str]:
        return self.fingerprints(AlertStatus.SENT)

    @property
    def deduplicated(self) -> list[str]:
        return self.fingerprints(AlertStatus.DEDUPLICATED)

    @property
    def rate_limited(self) -> list[str]:
        return self.fingerprints(AlertStatus.RATE_LIMITED)

    @property
    def undelivered(self) -> list[str]:
        return self.fingerprints(
            AlertStatus.FAILED_TRANSIENT, AlertStatus.FAILED_PERMANENT, AlertStatus.KEPT
        )

    @property
    def accounted(self) -> int:
        """Alerts with a known end (all of them, unless something is badly wrong)."""
        return len(self.alerts)

    def merge(self, other: PipelineOutcome) -> None:
        self.alerts += other.alerts
        self.messages += other.messages
        self.resolved += other.resolved
        self.notes += other.notes
        self.results.update(other.results)


class PipelineObserver(Protocol):
    """Hears about each alert's outcome and about what the pipeline noticed."""

    def on_alert(self, alert: Alert, outcome: AlertOutcome) -> None: ...

    def on_note(self, message: str) -> None: ...


class LoggingObserver:
    """Logs outcomes on the ``slack_alerts`` logger (the embedded default)."""

    def on_alert(self, alert: Alert, outcome: AlertOutcome) -> None:
        level = logging.INFO if outcome.status.accounted else logging.ERROR
        logger.log(
            level,
            "%s alert %s for model %s at %s: %s%s",
            outcome.kind,
            outcome.fingerprint,
            outcome.model_id,
            outcome.receiver or "(no destination resolved)",
            outcome.status.value,
            f" ({outcome.error})" if outcome.error else "",
        )

    def on_note(self, message: str) -> None:
        logger.warning("%s", message)
