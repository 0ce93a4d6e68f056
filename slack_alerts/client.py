"""``SlackAlertClient``: format, rate-limit and deliver alerts."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from datetime import datetime
from types import TracebackType
from typing import Any

from pydantic import BaseModel

from slack_alerts.delivery import DeliveryResult, DeliveryStatus
from slack_alerts.formatting import (
    FormatOptions,
    SuppressedSummary,
    format_alert,
    normalize_mention,
    plain_message,
)
from slack_alerts.logs import logger
from slack_alerts.models import Alert, DriftAlert, FAVESViolation, SafetyEvent, SeverityLevel
from slack_alerts.outbox import DurableOutbox
from slack_alerts.rate_limit import RateLimiter, SuppressionLedger
from slack_alerts.retry import RetryPolicy
from slack_alerts.text import redact_phi, single_line, truncate
from slack_alerts.webhook import PreviewSink, Transport, WebhookSender

WEBHOOK_ENV = "SLACK_WEBHOOK_URL"


def _log_id(text: str) -> str:
    """Model ids are user text: keep PHI and control characters out of logs."""
    return truncate(single_line(redact_phi(text)), 120)


class SlackAlertClient:
    """Sends drift alerts, FAVES violations and safety events to Slack.

    With no ``webhook_url`` (and ``SLACK_WEBHOOK_URL`` unset) messages go to
    the local preview outbox instead, so everything runs without Slack.

    ``send()`` returns a ``DeliveryResult``; the ``send_*`` methods of the
    reference API return a bool and never raise on delivery problems.
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
        transport: Transport | None = None,
        durable_outbox: DurableOutbox | None = None,
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
            else:
                transport = PreviewSink(outbox_dir)
        self.transport: Transport = transport
        self.rate_limiter = (
            rate_limiter if rate_limiter is not None else RateLimiter(rate_limit_per_minute, 60.0)
        )
        self.suppressed = SuppressionLedger()
        # Written before each post and removed after Slack accepts it, so
        # nothing is lost to an outage or a crash (``replay_undelivered``).
        self.durable_outbox = durable_outbox if not self.is_preview else None

    # -- lifecycle -------------------------------------------------------
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
    def admit(self, alert: Alert, skip_rate_limit: bool = False) -> bool:
        """Ask the per-model limiter; CRITICAL and skip_rate_limit always pass."""
        if skip_rate_limit or alert.severity is SeverityLevel.CRITICAL:
            return True
        return self.rate_limiter.is_allowed(alert.model_id)

    def send(self, alert: Alert, skip_rate_limit: bool = False) -> DeliveryResult:
        """Rate-limit, format and deliver one alert. Never raises on delivery."""
        if not self.admit(alert, skip_rate_limit):
            pending = self.suppressed.add(alert.model_id, alert.timestamp)
            retry_after = self.rate_limiter.get_retry_after(alert.model_id)
            logger.warning(
                "rate limit: suppressed %s alert %s for model %s (%d pending, next slot in %.0fs)",
                alert.kind,
                alert.fingerprint,
                _log_id(alert.model_id),
                pending.count,
                retry_after,
            )
            return DeliveryResult(
                status=DeliveryStatus.RATE_LIMITED,
                fingerprint=alert.fingerprint,
                retry_after_seconds=retry_after,
                destination=self.transport.destination,
                detail=f"{pending.count} alerts for this model are waiting for the next message",
            )
        suppressed = self.suppressed.take(alert.model_id)
        result = self.deliver(alert, suppressed)
        if not result.ok and suppressed is not None:
            # Not delivered, so nobody has seen the count: put it back.
            self.suppressed.restore(alert.model_id, suppressed)
        return result

    def deliver(self, alert: Alert, suppressed: SuppressedSummary | None = None) -> DeliveryResult:
        """Format and post ``alert`` now, carrying a suppressed-count summary.

        No rate limiting and no ledger here: callers that enforce limits and
        keep counts elsewhere (the Prefect tasks) use this, and put the
        summary back themselves when the result is not ``ok``.
        """
        payload = format_alert(alert, self.options, suppressed=suppressed)
        meta = {
            "fingerprint": alert.fingerprint,
            "kind": alert.kind,
            "severity": alert.severity.value,
            "model_id": _log_id(alert.model_id),
        }
        result = self.post_payload(payload, meta, alert.timestamp)
        self._log_result(alert, result)
        return result

    def post_payload(
        self, payload: dict[str, Any], meta: dict[str, Any], occurred: datetime
    ) -> DeliveryResult:
        """Post a formatted message: durable outbox first, removed once Slack accepts.

        Never raises: a failure inside delivery becomes a FAILED_TRANSIENT result.
        """
        started = time.monotonic()
        outbox = self.durable_outbox
        try:
            entry = outbox.put(payload, meta, occurred) if outbox is not None else None
            result = self.transport.post(payload, meta)
            if outbox is not None and entry is not None:
                if result.ok:
                    outbox.remove(entry)
                else:
                    result = replace(result, location=str(entry))
        except Exception as exc:  # a delivery problem must never crash the caller
            result = DeliveryResult(
                status=DeliveryStatus.FAILED_TRANSIENT,
                attempts=1,
                error="internal_error",
                detail=f"{type(exc).__name__} while delivering",
                elapsed_seconds=time.monotonic() - started,
                fingerprint=meta.get("fingerprint"),
                destination=self.transport.destination,
            )
        return result

    def replay_undelivered(self) -> list[DeliveryResult]:
        """Post what the durable outbox holds, oldest first; stop at the first failure.

        Stopping keeps the order and does not hammer a Slack that is still
        down; what is left stays for the next replay.
        """
        if self.durable_outbox is None:
            return []
        results = []
        for entry in self.durable_outbox.pending():
            result = self.transport.post(entry.payload, entry.meta)
            results.append(result)
            if not result.ok:
                break
            self.durable_outbox.remove(entry.path)
        return results

    def send_message(
        self, text: str, *, title: str | None = None, severity: SeverityLevel = SeverityLevel.INFO
    ) -> DeliveryResult:
        """Send free text (test messages, notifications), with the same hygiene."""
        payload = plain_message(text, severity, self.options, title=title)
        return self.transport.post(payload, {"kind": "message", "severity": severity.value})

    def _log_result(self, alert: Alert, result: DeliveryResult) -> None:
        if result.ok:
            logger.info(
                "delivered %s alert %s for model %s to %s in %d attempt(s), %.3fs",
                alert.kind,
                alert.fingerprint,
                _log_id(alert.model_id),
                result.destination,
                result.attempts,
                result.elapsed_seconds,
            )
        else:
            logger.error(
                "could not deliver %s alert %s for model %s to %s: %s (%s) after %d attempt(s)",
                alert.kind,
                alert.fingerprint,
                _log_id(alert.model_id),
                result.destination,
                result.status.value,
                result.error,
                result.attempts,
            )

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
