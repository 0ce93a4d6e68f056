"""Sending a flow run's alerts: durable first, one digest task per model.

``send_alerts`` writes the run's alerts to the durable outbox, resolves the
destination once (one block load per run), then submits one
``notify_model`` task per model, so models go out concurrently and each
model's work is one pipeline pass: lock, read its log, one rate slot, one
message, save its log, unlock. Prefect API calls per model are bounded by a
constant (about 6), whatever the number of alerts or fingerprints.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from flows.delivery import Resolution, intake_and_route, prefect_pipeline
from flows.routing import WebhookRef
from flows.tasks import RETRY_OPTIONS, TransientDeliveryError
from slack_alerts.client import result_for
from slack_alerts.models import Alert
from slack_alerts.outbox import UNDELIVERED_ENV, OutboxRecord
from slack_alerts.pipeline import AlertOutcome, AlertStatus, outcome_of
from slack_alerts.routing import Router


class Dispatched(BaseModel):
    """Every alert's outcome, resolved notices, and what went wrong with the destination."""

    alerts: list[AlertOutcome] = Field(default_factory=list)
    resolved: int = 0
    notes: list[str] = Field(default_factory=list)
    problem: str | None = Field(
        default=None,
        description="Why alerts were not delivered (no such block, refused, kept for replay)",
    )


class ModelDeliveryFailed(TransientDeliveryError):
    """Some of a model's messages failed transiently; Prefect retries the model."""


# Not cached: the inputs hold live notifiers (sessions, locks), and a digest's
# dedup is the alert state's job, which is shared by every worker.
@task(name="notify_model", cache_policy=NO_CACHE, **RETRY_OPTIONS)
def notify_model(
    model_id: str,
    alerts: list[Any],
    healthy: list[str],
    router: Any,
    route: dict[str, str],
    record: OutboxRecord | None,
) -> Dispatched:
    """One model's alerts of a flow run through the pipeline (dedup, one digest, resolved).

    Raises ``ModelDeliveryFailed`` when a message failed transiently, so
    Prefect retries: the retry plans again from the saved state, and what was
    sent meanwhile is deduplicated, not re-sent.
    """
    pipeline = prefect_pipeline(route, router=router)
    outcome = pipeline.process(
        alerts,
        {model_id: healthy},
        records={model_id: record} if record is not None else {},
        models=[model_id],
    )
    failed = next((o for o in outcome.alerts if o.status is AlertStatus.FAILED_TRANSIENT), None)
    if failed is not None:
        alert = next(a for a in alerts if a.fingerprint == failed.fingerprint)
        raise ModelDeliveryFailed(result_for(alert, outcome, failed.receiver))
    return Dispatched(alerts=outcome.alerts, resolved=outcome.resolved, notes=outcome.notes)


def send_alerts(
    alerts: Sequence[Alert], webhook: WebhookRef, healthy: dict[str, list[str]] | None = None
) -> Dispatched:
    """Send a flow run's alerts; ``healthy`` maps model ids to fingerprints found fine.

    Never raises on delivery: failures are in the outcomes (and the alerts in
    the outbox). A destination that cannot be resolved is in ``problem``.
    """
    batch = list(alerts)
    healthy = healthy or {}
    resolution = intake_and_route(batch, webhook)
    if resolution.problem is not None:
        kept = resolution.pipeline.keep(
            batch,
            resolution.records,
            error=resolution.error or "configuration",
            detail=resolution.problem,
        )
        return Dispatched(alerts=kept.alerts, notes=kept.notes, problem=resolution.problem)
    router: Router = resolution.pipeline.router
    by_model: dict[str, list[Alert]] = defaultdict(list)
    for alert in batch:
        by_model[alert.model_id].append(alert)
    models = sorted(set(by_model) | {m for m, fps in healthy.items() if fps})
    route = resolution.pipeline.route
    futures = [
        notify_model.submit(
            model,
            by_model.get(model, []),
            healthy.get(model, []),
            router,
            route,
            resolution.records.get(model),
        )
        for model in models
    ]
    result = Dispatched()
    for model, future in zip(models, futures, strict=True):
        future.wait()
        state = future.state
        if state.is_completed():
            done: Dispatched = state.result()
            result.alerts += done.alerts
            result.resolved += done.resolved
            result.notes += done.notes
            continue
        failure = state.result(raise_on_failure=False)
        delivery = failure.result if isinstance(failure, TransientDeliveryError) else None
        result.alerts += [
            outcome_of(
                alert,
                AlertStatus.FAILED_TRANSIENT,
                error=delivery.error if delivery else type(failure).__name__,
                detail=delivery.detail if delivery else "",
                location=_where_kept(delivery.location if delivery else None, model, resolution),
            )
            for alert in {a.fingerprint: a for a in by_model.get(model, [])}.values()
        ]
    result.problem = undelivered_problem(result.alerts)
    return result


def _where_kept(location: str | None, model: str, resolution: Resolution) -> str | None:
    """Where a failed model's alerts are on disk: the failure's record, else the intake's."""
    if location:
        return location
    record = resolution.records.get(model)
    return str(record.path) if record is not None and record.path else None


NOT_KEPT = "NOT kept"


def undelivered_problem(outcomes: Sequence[AlertOutcome]) -> str | None:
    """What went wrong, when some alerts were attempted but not delivered; else None.

    Refused (dead letters) and kept (outbox) alerts make a run that must not
    look like a success: nobody was told about them yet. An undelivered alert
    with no outbox location was not written anywhere (the outbox folder could
    not be written): it is said to be lost, and replay is not promised.
    """
    refused = [o for o in outcomes if o.status is AlertStatus.FAILED_PERMANENT]
    pending = [o for o in outcomes if o.status in (AlertStatus.FAILED_TRANSIENT, AlertStatus.KEPT)]
    kept = [o for o in pending if o.location]
    lost = [o for o in pending if not o.location]
    if not refused and not pending:
        return None
    parts = []
    if refused:
        parts.append(
            f"{len(refused)} refused by Slack ({_reason(refused[0])}; in the dead letters, "
            "`slack-alerts replay --dead` once fixed)"
        )
    if kept:
        parts.append(
            f"{len(kept)} kept in the outbox ({_reason(kept[0])}; "
            "`slack-alerts replay` delivers them)"
        )
    if lost:
        parts.append(
            f"{len(lost)} {NOT_KEPT} ({_reason(lost[0])}; the outbox folder could not be "
            f"written, so these alerts are lost: make ${UNDELIVERED_ENV} a writable folder, "
            "see the ALERTS NOT DURABLE warning, then run the monitor again)"
        )
    return f"{len(refused) + len(pending)} of {len(outcomes)} alert(s) not delivered: " + "; ".join(
        parts
    )


def _reason(outcome: AlertOutcome) -> str:
    return ": ".join(part for part in (outcome.error, outcome.detail) if part) or "no reason given"


class AlertsNotDelivered(RuntimeError):
    """Raised at the end of a monitoring run whose alerts were not all delivered.

    The message says where the alerts are (the durable outbox, the dead
    letters, or nowhere when the outbox could not be written), why, and what
    to do. The run fails visibly instead of reporting a success nobody was
    told about.
    """


def fail_if_undelivered(problem: str | None) -> None:
    if problem:
        advice = "Fix the destination, then run `slack-alerts replay`."
        if NOT_KEPT in problem:
            advice = "Fix the outbox folder and the destination, then run the monitor again."
            if "kept in the outbox" in problem or "refused by Slack" in problem:
                advice += " `slack-alerts replay` delivers the alerts that were kept."
        raise AlertsNotDelivered(f"alerts not delivered: {problem}. {advice}")
