"""``SlackAlertClient``: the reference API, a thin caller of the one pipeline."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

from pydantic import BaseModel

from slack_alerts.delivery import DeliveryResult, DeliveryStatus, MessageMeta
from slack_alerts.formatting import (
    FormatOptions,
    SuppressedSummary,
    format_alert,
    normalize_mention,
    plain_message,
)
from slack_alerts.gate import InProcessGate
from slack_alerts.models import Alert, DriftAlert, FAVESViolation, SafetyEvent, SeverityLevel
from slack_alerts.notify.base import Notifier
from slack_alerts.notify.preview import PreviewSink
from slack_alerts.notify.webhook import WebhookSender
from slack_alerts.outbox import DurableOutbox
from slack_alerts.pipeline import AlertPipeline, AlertStatus, PipelineOutcome
from slack_alerts.rate_limit import RateLimiter
from slack_alerts.retry import RetryPolicy
from slack_alerts.routing import Receiver, ReceiverSettings, receiver_key
from slack_alerts.state import MemoryStateStore

WEBHOOK_ENV = "SLACK_WEBHOOK_URL"


class SuppressedCounts:
    """How many alerts per model wait, held back, for the client's next message."""

    def __init__(self, store: MemoryStateStore, receiver: str) -> None:
        self._store, self._receiver = store, receiver

    def pending(self, model_id: str) -> int:
        log = self._store.logs.get((self._receiver, model_id))
        return log.suppressed.count if log is not None and log.suppressed else 0


class SlackAlertClient:
    """Sends drift alerts, FAVES violations and safety events to Slack.

    With no ``webhook_url`` (and ``SLACK_WEBHOOK_URL`` unset) messages go to
    the local preview outbox instead, so everything runs without Slack.

    ``send()`` returns a ``DeliveryResult``; the ``send_*`` methods of the
    reference API return a bool and never raise on delivery problems. Each
    call goes through ``AlertPipeline`` with this client's destination, its
    in-process rate limit (per ``model_id``; CRITICAL and ``skip_rate_limit``
    bypass it) and, when given, its ``durable_outbox``. Held-back alerts are
    counted into the model's next message.
    """

    def __init__(
        self,
        webhook_url: str | None = None,
        channel: str | None = None,
        username: str | None = None,
        icon_emoji: str | None = None,
        rate_limit_per_minute: int = 10,
        timeout_seconds: float = 10,
        max_retries: int = 3,
        backoff_factor: float = 1.0,
        max_retry_after_seconds: float = 60,
        *,
        mention_on_critical: str | None = None,
        redact_pii: bool = True,
        dashboard_url_template: str | None = None,
        runbook_url_template: str | None = None,
        outbox_dir: str | os.PathLike[str] | None = None,
        retry_policy: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        transport: Notifier | None = None,
        durable_outbox: DurableOutbox | None = None,
        name: str | None = None,
    ) -> None:
        if rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be >= 1")
        if not timeout_seconds > 0:
            raise ValueError("timeout_seconds must be > 0")
        self.retry_policy = retry_policy or RetryPolicy(
            max_retries=max_retries,
            backoff_factor=backoff_factor,
            max_retry_after_seconds=max_retry_after_seconds,
        )
        self.options = FormatOptions(
            channel=channel,
            username=username,
            icon_emoji=icon_emoji,
            mention_on_critical=normalize_mention(mention_on_critical),
            redact_pii=redact_pii,
            dashboard_url_template=dashboard_url_template,
            runbook_url_template=runbook_url_template,
        )
        if transport is None:
            url = webhook_url if webhook_url is not None else os.environ.get(WEBHOOK_ENV)
            if url:
                transport = WebhookSender(
                    url, timeout_seconds=timeout_seconds, retry_policy=self.retry_policy
                )
                key = receiver_key("webhook", url.strip())
            else:
                transport = PreviewSink(outbox_dir)
                key = receiver_key("preview", str(transport.directory.resolve()))
        else:
            key = receiver_key("notifier", transport.destination)
        self.rate_limiter = (
            rate_limiter if rate_limiter is not None else RateLimiter(rate_limit_per_minute, 60.0)
        )
        self.receiver = Receiver(
            key=key,
            name=name or transport.destination,
            notifier=transport,
            options=self.options,
            settings=ReceiverSettings(rate_limit_per_minute=rate_limit_per_minute),
        )
        self.gate = InProcessGate(self.rate_limiter)
        self.store = MemoryStateStore()
        self.suppressed = SuppressedCounts(self.store, key)
        # Written before each post and removed after Slack accepts it, so
        # nothing is lost to an outage or a crash (``replay_undelivered``).
        self.durable_outbox = durable_outbox if not self.is_preview else None
        self.pipeline = AlertPipeline(
            self.receiver,
            self.store,
            gate=self.gate,
            outbox=self.durable_outbox,
            route={"client": key},
        )

    # -- lifecycle -------------------------------------------------------
    @property
    def transport(self) -> Notifier:
        return self.receiver.notifier

    def __repr__(self) -> str:
        return (
            f"SlackAlertClient(destination={self.transport.destination!r}, "
            f"channel={self.options.channel!r}, "
            f"rate_limit_per_minute={self.rate_limiter.max_messages_per_window})"
        )

    __str__ = __repr__

    @property
    def is_preview(self) -> bool:
        return isinstance(self.transport, PreviewSink)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> SlackAlertClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- formatting (reference API) --------------------------------------
    def format_drift_message(
        self, alert: DriftAlert, suppressed: SuppressedSummary | None = None
    ) -> dict[str, Any]:
        return format_alert(alert, self.options, suppressed=suppressed)

    def format_compliance_message(
        self, violation: FAVESViolation, suppressed: SuppressedSummary | None = None
    ) -> dict[str, Any]:
        return format_alert(violation, self.options, suppressed=suppressed)

    def format_safety_message(
        self, event: SafetyEvent, suppressed: SuppressedSummary | None = None
    ) -> dict[str, Any]:
        return format_alert(event, self.options, suppressed=suppressed)

    # -- sending ---------------------------------------------------------
    def send(self, alert: Alert, skip_rate_limit: bool = False) -> DeliveryResult:
        """Rate-limit, format and deliver one alert. Never raises on delivery."""
        outcome = self.pipeline.submit([alert], dedup=False, bypass_rate_limit=skip_rate_limit)
        return result_for(alert, outcome, self.transport.destination)

    def replay_undelivered(self) -> list[DeliveryResult]:
        """Post what the durable outbox holds, oldest first (see ``AlertPipeline.replay``)."""
        return self.pipeline.replay().messages

    def send_message(
        self, text: str, *, title: str | None = None, severity: SeverityLevel = SeverityLevel.INFO
    ) -> DeliveryResult:
        """Send free text (test messages, notifications), with the same hygiene."""
        payload = plain_message(text, severity, self.options, title=title)
        return self.transport.post(payload, MessageMeta(kind="message", severity=severity.value))

    @staticmethod
    def _coerce(alert: Any, model: type[BaseModel]) -> Any:
        # Accept a plain dict too; a wrong type fails with the field named.
        return alert if isinstance(alert, model) else model.model_validate(alert)

    def send_drift_alert(self, alert: DriftAlert, skip_rate_limit: bool = False) -> bool:
        return self.send(self._coerce(alert, DriftAlert), skip_rate_limit).ok

    def send_faves_violation(
        self, violation: FAVESViolation, skip_rate_limit: bool = False
    ) -> bool:
        return self.send(self._coerce(violation, FAVESViolation), skip_rate_limit).ok

    def send_safety_event(self, event: SafetyEvent, skip_rate_limit: bool = False) -> bool:
        return self.send(self._coerce(event, SafetyEvent), skip_rate_limit).ok

    def _send_message(self, message: dict[str, Any]) -> bool:
        """Post a prebuilt payload (reference API; kept private as there)."""
        return self.transport.post(message).ok


def result_for(alert: Alert, outcome: PipelineOutcome, destination: str) -> DeliveryResult:
    """The ``DeliveryResult`` of the message that carried ``alert`` (or why none did)."""
    result = outcome.results.get(alert.fingerprint)
    found = next((o for o in outcome.alerts if o.fingerprint == alert.fingerprint), None)
    if result is not None:
        if found is not None and found.location and not result.location:
            return DeliveryResult(**{**result.__dict__, "location": found.location})
        return result
    if found is not None and found.status is AlertStatus.DEDUPLICATED:
        return DeliveryResult(
            status=DeliveryStatus.SENT,
            fingerprint=alert.fingerprint,
            destination=destination,
            detail="deduplicated: already sent in this batch",
        )
    return DeliveryResult(
        status=DeliveryStatus.FAILED_TRANSIENT,
        fingerprint=alert.fingerprint,
        destination=destination,
        error=(found.error if found else None) or "not_attempted",
        detail=(found.detail if found else "") or "kept for replay",
        location=found.location if found else None,
    )
