"""Prefect tasks that send alerts: Prefect-native retries, server-side limits.

Each task takes ``(alert, webhook=None, skip_rate_limit=False)`` and returns
the core's ``DeliveryResult``. Transient failures raise
``TransientDeliveryError`` so Prefect retries them (and shows the retries in
the UI); permanent Slack errors raise ``PermanentDeliveryError``, which the
retry condition refuses to retry.

Per-model limits live on the Prefect server (``flows.limits``): a rate
limit with slot decay, bypassed by CRITICAL alerts, and an in-flight limit
that nothing bypasses. An alert that gets no rate slot within its wait
budget is not dropped: it is counted on the server (``flows.ledger``) and
reported in that model's next message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import get_run_logger, task
from prefect.client.schemas.objects import State, TaskRun
from prefect.concurrency.sync import concurrency, rate_limit
from prefect.context import TaskRunContext
from prefect.tasks import Task, exponential_backoff

from flows.events import emit_alert_event
from flows.ledger import ServerSuppressionLedger
from flows.limits import ensure_model_limits
from flows.routing import WebhookRef, client_for, limits_for, resolve_webhook, wait_budget
from slack_alerts import (
    DeliveryResult,
    DeliveryStatus,
    DriftAlert,
    FAVESViolation,
    SafetyEvent,
    SeverityLevel,
)
from slack_alerts.models import Alert

TASK_RETRIES = 3
RETRY_DELAYS = exponential_backoff(backoff_factor=2)  # 2 s, 4 s, 8 s
RETRY_JITTER = 0.5
INFLIGHT_WAIT_SECONDS = 60.0
CACHE_PREFIX = "slack-alerts-send"

ledger = ServerSuppressionLedger()


class DeliveryError(Exception):
    """A send failed; ``result`` says how (secrets already removed)."""

    def __init__(self, result: DeliveryResult) -> None:
        self.result = result
        super().__init__(
            f"{result.status.value}: {result.error} after {result.attempts} attempt(s) "
            f"to {result.destination}"
        )

    def __reduce__(self) -> tuple[type[DeliveryError], tuple[DeliveryResult]]:
        # Prefect persists a failed task's exception; rebuild it from the result.
        return (type(self), (self.result,))


class TransientDeliveryError(DeliveryError):
    """Worth retrying: timeout, dropped connection, 5xx, 429 beyond the wait budget."""


class PermanentDeliveryError(DeliveryError):
    """Slack will refuse again (invalid payload, revoked webhook, archived channel)."""


def retry_unless_permanent(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect retry condition: retry only transient delivery failures."""
    try:
        state.result()
    except TransientDeliveryError:
        return True
    except Exception:
        return False
    return False


def alert_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """One key per alert occurrence, shared by every send task.

    Plain INPUTS caching would collide across tasks taking the same
    arguments, and would re-send when only ``webhook`` changed form.
    """
    alert: Alert = parameters["alert"]
    return f"{CACHE_PREFIX}:{alert.kind}:{alert.fingerprint}:{alert.timestamp.isoformat()}"


def deliver(
    alert: Alert, webhook: WebhookRef = None, skip_rate_limit: bool = False
) -> DeliveryResult:
    """The body of every send task. Raises DeliveryError on failure."""
    logger = get_run_logger()
    block = resolve_webhook(webhook, alert)
    client = client_for(block)
    names = ensure_model_limits(alert.model_id, limits_for(block))
    bypass = skip_rate_limit or alert.severity is SeverityLevel.CRITICAL
    if not bypass:
        try:
            rate_limit(names.rate, timeout_seconds=wait_budget(block), strict=True)
        except TimeoutError:
            ledger.add(alert.model_id, alert.timestamp)
            logger.warning(
                "Rate limit for model %s reached; %s alert %s counted for the next message",
                names.rate.removeprefix("slack-alerts-rate-"),
                alert.kind,
                alert.fingerprint,
            )
            result = DeliveryResult(
                status=DeliveryStatus.RATE_LIMITED,
                fingerprint=alert.fingerprint,
                destination=client.transport.destination,
                detail="counted for the model's next message",
            )
            emit_alert_event("suppressed", alert, result)
            return result
    try:
        with concurrency(names.inflight, timeout_seconds=INFLIGHT_WAIT_SECONDS, strict=True):
            suppressed = ledger.take(alert.model_id)
            result = client.deliver(alert, suppressed)
            if not result.ok and suppressed is not None:
                ledger.restore(alert.model_id, suppressed)
    except TimeoutError:
        result = DeliveryResult(
            status=DeliveryStatus.FAILED_TRANSIENT,
            error="inflight_limit_timeout",
            fingerprint=alert.fingerprint,
            destination=client.transport.destination,
            detail=f"no in-flight slot for the model within {INFLIGHT_WAIT_SECONDS:.0f}s",
        )
    if result.ok:
        logger.info(
            "Sent %s %s alert %s to %s (%d attempt(s), %.3fs)",
            alert.severity.value,
            alert.kind,
            alert.fingerprint,
            result.destination,
            result.attempts,
            result.elapsed_seconds,
        )
        emit_alert_event("sent", alert, result)
        return result
    emit_alert_event("failed", alert, result)
    logger.error(
        "Could not send %s alert %s to %s: %s (%s); kept for replay at %s",
        alert.kind,
        alert.fingerprint,
        result.destination,
        result.status.value,
        result.error,
        result.location or "(no durable outbox)",
    )
    if result.permanent:
        raise PermanentDeliveryError(result)
    raise TransientDeliveryError(result)


# Every task that posts to Slack retries the same way.
RETRY_OPTIONS: dict[str, Any] = dict(
    retries=TASK_RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_unless_permanent,
    tags=["slack-alerts"],
)
_TASK_OPTIONS: dict[str, Any] = dict(
    **RETRY_OPTIONS,
    cache_key_fn=alert_cache_key,
    cache_expiration=timedelta(days=7),
    persist_result=True,
)


@task(name="send_alert", **_TASK_OPTIONS)
def send_alert(
    alert: Alert, webhook: WebhookRef = None, skip_rate_limit: bool = False
) -> DeliveryResult:
    """Send any alert kind."""
    return deliver(alert, webhook, skip_rate_limit)


@task(name="send_drift_alert", **_TASK_OPTIONS)
def send_drift_alert(
    alert: DriftAlert, webhook: WebhookRef = None, skip_rate_limit: bool = False
) -> DeliveryResult:
    return deliver(alert, webhook, skip_rate_limit)


@task(name="send_faves_violation", **_TASK_OPTIONS)
def send_faves_violation(
    alert: FAVESViolation, webhook: WebhookRef = None, skip_rate_limit: bool = False
) -> DeliveryResult:
    return deliver(alert, webhook, skip_rate_limit)


@task(name="send_safety_event", **_TASK_OPTIONS)
def send_safety_event(
    alert: SafetyEvent, webhook: WebhookRef = None, skip_rate_limit: bool = False
) -> DeliveryResult:
    return deliver(alert, webhook, skip_rate_limit)
