"""Sending a flow run's alerts: one digest task per model."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import get_run_logger, task
from prefect.concurrency.sync import concurrency, rate_limit
from pydantic import BaseModel

from flows.events import emit_alert_event
from flows.limits import ensure_model_limits
from flows.reports import AlertOutcome
from flows.routing import WebhookRef, client_for, limits_for, resolve_webhook, wait_budget
from flows.state import PrefectStateStore
from flows.tasks import (
    INFLIGHT_WAIT_SECONDS,
    RETRY_OPTIONS,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    ledger,
)
from slack_alerts import DeliveryStatus, SeverityLevel
from slack_alerts.formatting import alert_title, format_digest, format_resolved
from slack_alerts.lifecycle import plan
from slack_alerts.models import Alert
from slack_alerts.text import redact_phi


def _outcome(alert: Alert, status: str, error: str | None = None) -> AlertOutcome:
    return AlertOutcome(
        kind=alert.kind,
        fingerprint=alert.fingerprint,
        severity=alert.severity.value,
        title=redact_phi(alert_title(alert)),
        status=status,
        error=error,
    )


class DigestOutcome(BaseModel):
    alerts: list[AlertOutcome]
    resolved: int = 0


@task(name="send_model_digest", **RETRY_OPTIONS)
def send_model_digest(
    model_id: str, alerts: list[Any], healthy: list[str], webhook: WebhookRef = None
) -> DigestOutcome:
    """One model's alerts of a flow run: dedup, one digest, resolved notices.

    Runs under the model's lock with its state on the Prefect server; the
    digest goes through the model's rate and in-flight limits and the
    durable outbox. A failed send raises before the state is saved, so a
    Prefect retry plans again from the same state (counts stay exact).
    """
    logger = get_run_logger()
    worst = max(alerts, key=lambda a: a.severity.rank) if alerts else None
    block = resolve_webhook(webhook, worst)
    client = client_for(block)
    repeat = timedelta(seconds=block.repeat_interval_seconds if block else 4 * 3600.0)
    send_resolved = block.send_resolved if block else True
    names = ensure_model_limits(model_id, limits_for(block))
    outcomes: dict[str, AlertOutcome] = {}
    with PrefectStateStore().transaction([model_id]) as session:
        # Read the clock inside the lock: the previous holder's writes are older.
        now = datetime.now(UTC)
        decision = plan(
            alerts, session.load([a.fingerprint for a in alerts] + healthy), now, repeat, healthy
        )
        states = dict(decision.states)
        for alert in decision.deduplicated:
            outcomes.setdefault(alert.fingerprint, _outcome(alert, "deduplicated"))
            emit_alert_event("suppressed", alert)
        if decision.to_send:
            to_send = decision.to_send
            allowed = any(a.severity is SeverityLevel.CRITICAL for a in to_send)
            if not allowed:
                try:
                    rate_limit(names.rate, timeout_seconds=wait_budget(block), strict=True)
                    allowed = True
                except TimeoutError:
                    ledger.add(model_id, now, count=len(to_send))
            if not allowed:
                for alert in to_send:
                    outcomes[alert.fingerprint] = _outcome(alert, DeliveryStatus.RATE_LIMITED.value)
                    emit_alert_event("suppressed", alert)
            else:
                with concurrency(
                    names.inflight, timeout_seconds=INFLIGHT_WAIT_SECONDS, strict=True
                ):
                    suppressed = ledger.take(model_id)
                    lead = max(to_send, key=lambda a: a.severity.rank)
                    meta = {
                        "fingerprint": lead.fingerprint,
                        "kind": lead.kind,
                        "severity": lead.severity.value,
                        "model_id": model_id,
                    }
                    payload = format_digest(to_send, client.options, suppressed=suppressed)
                    result = client.post_payload(payload, meta, lead.timestamp)
                    if not result.ok:
                        if suppressed is not None:
                            ledger.restore(model_id, suppressed)
                        for alert in to_send:
                            emit_alert_event("failed", alert, result)
                        logger.error(
                            "Digest for model %s (%d alerts) not delivered: %s; kept at %s",
                            model_id,
                            len(to_send),
                            result.error,
                            result.location,
                        )
                        if result.permanent:
                            raise PermanentDeliveryError(result)
                        raise TransientDeliveryError(result)
                for alert in to_send:
                    outcomes[alert.fingerprint] = _outcome(alert, DeliveryStatus.SENT.value)
                    states[alert.fingerprint] = replace(states[alert.fingerprint], last_sent=now)
                    emit_alert_event("sent", alert, result)
        if decision.resolved and send_resolved:
            notice = format_resolved(decision.resolved, client.options)
            meta = {
                "kind": "resolved",
                "severity": "info",
                "model_id": model_id,
                "fingerprint": "resolved",
            }
            client.post_payload(notice, meta, now)  # a failure stays in the durable outbox
        session.save(states.values())
    logger.info(
        "Model %s: %d sent in one message, %d deduplicated, %d resolved",
        model_id,
        sum(o.status == "sent" for o in outcomes.values()),
        sum(o.status == "deduplicated" for o in outcomes.values()),
        len(decision.resolved),
    )
    ordered = [outcomes[a.fingerprint] for a in dict((a.fingerprint, a) for a in alerts).values()]
    return DigestOutcome(alerts=ordered, resolved=len(decision.resolved))


def send_alerts(
    alerts: Sequence[Alert], webhook: WebhookRef, healthy: dict[str, list[str]] | None = None
) -> tuple[list[AlertOutcome], int]:
    """Send a flow run's alerts: one digest task per model, submitted together.

    ``healthy`` maps model ids to fingerprints checked and found fine this
    run, for resolved notices. Returns each alert's outcome and how many
    alerts resolved. A delivery failure is recorded, never raised.
    """
    by_model: dict[str, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_model[alert.model_id].append(alert)
    models = sorted(set(by_model) | set(healthy or {}))
    futures = [
        send_model_digest.submit(m, by_model.get(m, []), (healthy or {}).get(m, []), webhook)
        for m in models
    ]
    outcomes: list[AlertOutcome] = []
    resolved = 0
    for model, future in zip(models, futures, strict=True):
        future.wait()
        state = future.state
        if state.is_completed():
            digest = state.result()
            outcomes += digest.alerts
            resolved += digest.resolved
            continue
        failure = state.result(raise_on_failure=False)
        status, error = (
            (failure.result.status.value, failure.result.error)
            if isinstance(failure, DeliveryError)
            else (DeliveryStatus.FAILED_TRANSIENT.value, type(failure).__name__)
        )
        seen = dict((a.fingerprint, a) for a in by_model.get(model, []))
        outcomes += [_outcome(a, status, error) for a in seen.values()]
    return outcomes, resolved
