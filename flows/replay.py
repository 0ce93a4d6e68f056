"""Replay the durable outbox: deliver what outages, crashes and bad configuration kept.

Oldest first, each record to the destination it was meant for (its block,
``$SLACK_WEBHOOK_URL``), or to ``webhook`` when given, through the whole
pipeline: dedup (an alert a later run already sent is not sent again),
limits, dead letters. A refused message moves to the dead letters and
replay goes on; a destination that still fails keeps its records for the
next replay without blocking the others.

Replay never delivers into the local preview: a record with no real
destination (the preview, or a webhook URL given inline, which the outbox
does not store) needs ``webhook``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from pydantic import BaseModel, Field

from flows.backend.controlplane import ControlPlaneUnavailable
from flows.delivery import CONTROL, prefect_pipeline
from flows.dispatch import AlertsNotDelivered
from flows.routing import WebhookNotFound, WebhookRef, resolve_router
from slack_alerts.client import WEBHOOK_ENV
from slack_alerts.outbox import DurableOutbox, OutboxRecord
from slack_alerts.pipeline import AlertStatus


class ReplayReport(BaseModel):
    delivered: int = Field(0, description="Alerts (and notices) delivered now")
    deduplicated: int = Field(0, description="Already sent by a later run: not sent again")
    dead: int = Field(0, description="Refused by Slack: moved to the dead letters")
    remaining: int = Field(0, description="Records still pending in the outbox")
    skipped: list[str] = Field(
        default_factory=list, description="Why some records were not attempted"
    )
    stopped_by: str | None = Field(None, description="The first error that kept records")


class ReplayIncomplete(AlertsNotDelivered):
    """A replay that left records in the outbox; ``report`` is what it did.

    Raised at the end of ``replay_outbox`` so that its run ends Failed, as a
    monitoring run with undelivered alerts does, instead of Completed.
    """

    def __init__(self, report: ReplayReport) -> None:
        self.report = report
        reasons = [report.stopped_by] if report.stopped_by else []
        reasons += report.skipped
        super().__init__(
            f"replay not complete: {report.remaining} record(s) still pending in the outbox "
            f"({'; '.join(reasons) or 'see the log'}); {report.delivered} delivered, "
            f"{report.deduplicated} deduplicated, {report.dead} refused by Slack. Fix the "
            "cause (`slack-alerts send-test --block NAME`), then run `slack-alerts replay` again."
        )

    def __reduce__(self) -> tuple[Any, ...]:  # pickled with the failed state
        return (type(self), (self.report,))


def replay_records(records: list[OutboxRecord], webhook: WebhookRef = None) -> ReplayReport:
    report = ReplayReport()
    groups: dict[tuple[tuple[str, str], ...], list[OutboxRecord]] = defaultdict(list)
    for record in records:
        groups[tuple(sorted(record.route.items()))].append(record)
    for key, batch in groups.items():
        route = dict(key)
        ref: WebhookRef
        if webhook is not None:
            ref = webhook
        elif "block" in route:
            ref = route["block"]
        elif "env" in route and os.environ.get(WEBHOOK_ENV):
            ref = None  # resolves to $SLACK_WEBHOOK_URL
        else:
            report.skipped.append(
                f"{len(batch)} record(s) have no real destination to replay to "
                f"({', '.join(f'{k}' for k in route) or 'unknown'}); pass --webhook BLOCK"
            )
            continue
        try:
            router = resolve_router(ref, CONTROL)
        except (WebhookNotFound, ValueError, ControlPlaneUnavailable) as exc:
            report.skipped.append(f"{len(batch)} record(s): {exc}")
            continue
        outcome = prefect_pipeline(route, router=router).replay(batch)
        report.delivered += outcome.count(AlertStatus.SENT) + outcome.resolved
        report.deduplicated += outcome.count(AlertStatus.DEDUPLICATED)
        report.dead += outcome.count(AlertStatus.FAILED_PERMANENT)
        kept = [
            o
            for o in outcome.alerts
            if o.status in (AlertStatus.FAILED_TRANSIENT, AlertStatus.KEPT)
        ]
        if kept and report.stopped_by is None:
            report.stopped_by = kept[0].error
    return report


@flow(name="replay-outbox")
def replay_outbox(
    webhook: WebhookRef = None, outbox_dir: str | None = None, dead: bool = False
) -> ReplayReport:
    """Deliver the durable outbox (``$SLACK_ALERTS_UNDELIVERED`` unless ``outbox_dir``).

    ``dead=True`` first moves the dead letters back (after you fixed what
    Slack refused), then replays everything. Raises ``ReplayIncomplete`` (the
    run ends Failed, its ``report`` attached) when records are still pending.
    """
    logger = get_run_logger()
    outbox = DurableOutbox(Path(outbox_dir) if outbox_dir else None)
    if dead:
        for record in outbox.dead_letters():
            outbox.revive(record)
    pending = outbox.pending()
    logger.info("%d undelivered record(s) in %s", len(pending), outbox.directory)
    report = replay_records(pending, webhook)
    report.remaining = len(outbox.pending())
    for reason in report.skipped:
        logger.warning("Not replayed: %s", reason)
    if report.remaining:
        raise ReplayIncomplete(report)
    return report
