"""Value objects that say what a message is and what happened to it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class DeliveryStatus(StrEnum):
    """What happened to one message."""

    SENT = "sent"
    # Held back by our own per-model limiter; counted and reported in the
    # model's next message, never silently dropped.
    RATE_LIMITED = "rate_limited"
    # Slack said no and will say no again (bad payload, revoked webhook...).
    FAILED_PERMANENT = "failed_permanent"
    # Worth trying again later: timeouts, dropped connections, 5xx, 429s
    # that outlasted the wait budget, an answer that was not Slack's "ok".
    FAILED_TRANSIENT = "failed_transient"


@dataclass(frozen=True)
class MessageMeta:
    """What a message is about, without its content.

    Travels with the message to the notifier, the preview and the outbox, so
    every place that shows a message can say what it carries. Never holds a
    secret: ``receiver`` is a display name, not a URL.
    """

    kind: str  # "drift", "compliance", "safety", "resolved" or "message"
    severity: str = "info"
    model_id: str = ""
    fingerprint: str = ""  # the lead alert's fingerprint; "" for free text
    alerts: int = 0  # alerts the message carries (a digest carries several)
    receiver: str = ""
    by_severity: dict[str, int] = field(default_factory=dict)  # the alerts, per severity

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WebhookResponse:
    """What the webhook answered to one HTTP attempt (``body`` already made safe)."""

    status_code: int
    body: str
    retry_after: str | None = None


@dataclass(frozen=True)
class MessageRef:
    """Where a posted message lives, when the notifier can address it again.

    Slack's Web API names a message by its channel and ``ts``; a webhook post
    cannot be addressed afterwards, so its result carries no ``MessageRef``.
    """

    channel: str
    ts: str


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of sending one message, after any retries.

    ``error`` is Slack's error code (``channel_not_found``) or ours
    (``timeout``, ``connection_error``, ``unexpected_response``); ``detail``
    is a human sentence with every secret removed. ``location`` is where the
    message can be found locally: the preview file, or the durable-outbox
    entry that keeps it for replay.
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
    location: str | None = None
    message_ref: MessageRef | None = None
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
