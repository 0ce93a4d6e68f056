"""Replay the durable outbox: deliver what outages and crashes left behind.

Oldest first, through the same per-model rate limits as live alerts, and
never twice: an entry is removed only after Slack accepted it. The first
entry that still cannot be delivered stops the replay, so the order holds
and a Slack that is still down is not hammered; the rest waits for the next
replay.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.concurrency.sync import rate_limit
from pydantic import BaseModel

from flows.limits import ensure_model_limits
from flows.routing import WebhookRef, client_for, limits_for, resolve_webhook, wait_budget
from flows.tasks import (
    RETRY_OPTIONS,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from slack_alerts import DeliveryResult, DeliveryStatus, DurableOutbox
from slack_alerts.outbox import OutboxEntry


class ReplayReport(BaseModel):
    delivered: int
    remaining: int
    stopped_by: str | None = None


@task(name="replay_message", **RETRY_OPTIONS)
def replay_entry(entry: OutboxEntry, webhook: WebhookRef = None) -> DeliveryResult:
    meta = entry.meta
    block = resolve_webhook(
        webhook, kind=str(meta.get("kind", "")), severity=str(meta.get("severity", "info"))
    )
    client = client_for(block)
    # model_id in an entry is the log-safe form of the id (redacted, at most 120 characters);
    # for ordinary ids it is the id itself, so replays share the model's live limits.
    names = ensure_model_limits(str(meta.get("model_id") or "unknown"), limits_for(block))
    if meta.get("severity") != "critical":
        try:
            rate_limit(names.rate, timeout_seconds=wait_budget(block), strict=True)
        except TimeoutError:
            raise TransientDeliveryError(
                DeliveryResult(
                    status=DeliveryStatus.RATE_LIMITED,
                    error="rate_limited",
                    fingerprint=meta.get("fingerprint"),
                    destination=client.transport.destination,
                )
            ) from None
    result = client.transport.post(entry.payload, meta)
    if result.ok:
        entry.path.unlink(missing_ok=True)  # delivered: only now is it removed
        return result
    if result.permanent:
        raise PermanentDeliveryError(result)
    raise TransientDeliveryError(result)


@flow(name="replay-outbox")
def replay_outbox(webhook: WebhookRef = None, outbox_dir: str | None = None) -> ReplayReport:
    """Deliver the durable outbox (``$SLACK_ALERTS_UNDELIVERED`` unless ``outbox_dir``)."""
    logger = get_run_logger()
    outbox = DurableOutbox(Path(outbox_dir) if outbox_dir else None)
    pending = outbox.pending()
    logger.info("%d undelivered message(s) in %s", len(pending), outbox.directory)
    delivered, stopped_by = 0, None
    for entry in pending:
        state = replay_entry(entry, webhook, return_state=True)
        if not state.is_completed():
            failure = state.result(raise_on_failure=False)
            stopped_by = (
                getattr(getattr(failure, "result", None), "error", None) or type(failure).__name__
            )
            logger.warning("Replay stopped at %s: %s", entry.path.name, stopped_by)
            break
        delivered += 1
    return ReplayReport(delivered=delivered, remaining=len(outbox.pending()), stopped_by=stopped_by)
