"""Value objects that say what happened to one message."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class DeliveryStatus(StrEnum):
    SENT = "sent"
    # Held back by our own per-model limiter; counted and reported in the
    # model's next message, never silently dropped.
    RATE_LIMITED = "rate_limited"
    # Slack said no and will say no again (bad payload, revoked webhook...).
    FAILED_PERMANENT = "failed_permanent"
    # Worth trying again later: timeouts, dropped connections, 5xx, 429s
    # that outlasted the wait budget.
    FAILED_TRANSIENT = "failed_transient"


@dataclass(frozen=True)
class WebhookResponse:
    """What the webhook answered to one HTTP attempt."""

    status_code: int
    body: str
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of sending one message, after any retries.

    ``error`` is Slack's error code (``channel_not_found``) or ours
    (``timeout``, ``connection_error``); ``detail`` is a human sentence with
    every secret removed.
    """

    status: DeliveryStatus
    attempts: int = 0
    error: str | None = None
    http_status: int | None = None
    elapsed_seconds: float = 0.0
    retry_after_seconds: float | None = None
    fingerprint: str | None = None
    destination: str = ""
    detail: str = ""
    location: str | None = None  # preview file, when delivered to the local outbox
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is DeliveryStatus.SENT

    @property
    def permanent(self) -> bool:
        return self.status is DeliveryStatus.FAILED_PERMANENT

    @property
    def transient(self) -> bool:
        return self.status is DeliveryStatus.FAILED_TRANSIENT

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data
