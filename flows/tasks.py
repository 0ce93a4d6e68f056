"""Prefect tasks that send alerts: thin callers of the pipeline, with Prefect's retries.

Each task takes ``(alert, webhook=None, skip_rate_limit=False)`` and returns
the core's ``DeliveryResult``. Everything between (outbox first, limits and
state on the Prefect server, formatting, posting) is ``flows.delivery.deliver``.

- A transient failure raises ``TransientDeliveryError``: Prefect retries it
  (2, 4, 8 s, shown in the UI), and the alert waits in the durable outbox.
- A permanent Slack error raises ``PermanentDeliveryError``, not retried; the
  message is in the dead letters with the reason.
- A destination that cannot be resolved raises ``DeliveryConfigurationError``,
  not retried; the alert is in the outbox for ``slack-alerts replay``.
- Held back by the rate limit is not a failure: the task returns a
  ``rate_limited`` result, and the model's next message carries the count.

The tasks carry no tags: a tag makes Prefect's engine ask the API for a tag
concurrency slot before the task body runs, a call that raises out of
``return_state=True`` when the API is down.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import task
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import TaskRunContext
from prefect.tasks import Task, exponential_backoff

from flows.delivery import CONFIGURATION, deliver
from flows.routing import WebhookRef
from slack_alerts import (
    DeliveryResult,
    DeliveryStatus,
    DriftAlert,
    FAVESViolation,
    SafetyEvent,
)
from slack_alerts.client import result_for
from slack_alerts.models import Alert

TASK_RETRIES = 3
RETRY_DELAYS = exponential_backoff(backoff_factor=2)  # 2 s, 4 s, 8 s
RETRY_JITTER = 0.5
CACHE_PREFIX = "slack-alerts-send"


class DeliveryError(Exception):
    """A send failed; ``result`` says how (secrets already removed)."""

    def __init__(self, result: DeliveryResult) -> None:
        self.result = result
        message = f"{result.status.value}: {result.error}"
        if result.detail:
            message += f" ({result.detail})"
        if result.attempts:
            message += f" after {result.attempts} attempt(s) to {result.destination}"
        if result.location:
            where = "in the dead letters" if result.permanent else "kept for replay"
            message += f"; {where} at {result.location}"
        super().__init__(message)

    def __reduce__(self) -> tuple[type[DeliveryError], tuple[DeliveryResult]]:
        # Prefect persists a failed task's exception; rebuild it from the result.
        return (type(self), (self.result,))


class TransientDeliveryError(DeliveryError):
    """Worth retrying: timeout, dropped connection, 5xx, 429 beyond the wait budget."""


class PermanentDeliveryError(DeliveryError):
    """Slack will refuse again (invalid payload, revoked webhook, archived channel)."""


class DeliveryConfigurationError(DeliveryError):
    """The destination could not be resolved (no such block, a malformed URL)."""


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


def raise_for(result: DeliveryResult) -> None:
    """Raise the ``DeliveryError`` that says how ``result`` failed (nothing when it did not)."""
    if result.ok or result.status is DeliveryStatus.RATE_LIMITED:
        return
    if result.error == CONFIGURATION:
        raise DeliveryConfigurationError(result)
    if result.permanent:
        raise PermanentDeliveryError(result)
    raise TransientDeliveryError(result)


def send_one(alert: Alert, webhook: WebhookRef, skip_rate_limit: bool) -> DeliveryResult:
    """The body of every send task. Raises ``DeliveryError`` on failure."""
    outcome, _ = deliver([alert], webhook, dedup=False, bypass_rate_limit=skip_rate_limit)
    where = next((o.receiver for o in outcome.alerts if o.receiver), "the outbox")
    result = result_for(alert, outcome, destination=where)
    raise_for(result)
    return result


# Every task that posts to Slack retries the same way.
RETRY_OPTIONS: dict[str, Any] = dict(
    retries=TASK_RETRIES,
    retry_delay_seconds=RETRY_DELAYS,
    retry_jitter_factor=RETRY_JITTER,
    retry_condition_fn=retry_unless_permanent,
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
    return send_one(alert, webhook, skip_rate_limit)


@task(name="send_drift_alert", **_TASK_OPTIONS)
def send_drift_alert(
    alert: DriftAlert, webhook: WebhookRef = None, skip_rate_limit: bool = False
) -> DeliveryResult:
    return send_one(alert, webhook, skip_rate_limit)


@task(name="send_faves_violation", **_TASK_OPTIONS)
def send_faves_violation(
    alert: FAVESViolation, webhook: WebhookRef = None, skip_rate_limit: bool = False
) -> DeliveryResult:
    return send_one(alert, webhook, skip_rate_limit)


@task(name="send_safety_event", **_TASK_OPTIONS)
def send_safety_event(
    alert: SafetyEvent, webhook: WebhookRef = None, skip_rate_limit: bool = False
) -> DeliveryResult:
    return send_one(alert, webhook, skip_rate_limit)
