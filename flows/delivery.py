"""The pipeline with its Prefect strategies, and the one way flows deliver alerts.

``deliver`` is what every caller in ``flows`` uses (the send tasks, the
monitoring flows' digests, the failure hook, replay):

1. intake: the alerts go to the durable outbox before any call to the API;
2. the destination is resolved (a block is loaded: the first API call);
3. the rest of ``slack_alerts.pipeline.AlertPipeline``: group, dedup, gate,
   notify, record, with state and limits on the Prefect server.

A destination that cannot be resolved (no block of that name, a malformed
URL) keeps the alerts in the outbox with the reason, and the outcome's
``problem`` says so: callers make the run visibly fail instead of reporting
success.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flows.backend.controlplane import ControlPlane, ControlPlaneUnavailable
from flows.backend.events import PrefectObserver
from flows.backend.gate import PrefectGate
from flows.backend.silences import PrefectSilenceStore
from flows.backend.state import PrefectStateStore
from flows.routing import WebhookInvalid, WebhookNotFound, WebhookRef, resolve_router, route_for
from slack_alerts.models import Alert
from slack_alerts.outbox import DurableOutbox, OutboxRecord
from slack_alerts.pipeline import AlertPipeline, HealthyRef, PipelineOutcome
from slack_alerts.routing import Router
from slack_alerts.silences import SilenceStore
from slack_alerts.state import StateStore

CONTROL = ControlPlane()
CONFIGURATION = "configuration"
CONTROL_PLANE = "control_plane_unavailable"
STATE_URL_ENV = "SLACK_ALERTS_STATE_URL"
_stores: dict[str, StateStore] = {}


def state_store() -> StateStore:
    """Where the flows keep alert state: Prefect Variables (no setup), or a SQL
    database when ``$SLACK_ALERTS_STATE_URL`` names one (``postgresql://…``): one
    query per model's log however many fingerprints, for large fleets."""
    url = os.environ.get(STATE_URL_ENV)
    if not url:
        return PrefectStateStore(CONTROL)
    if url not in _stores:
        from slack_alerts.sqlstate import SqlStateStore, database_url

        _stores[url] = SqlStateStore(database_url(url))
    return _stores[url]


_PREFECT_SILENCES = PrefectSilenceStore(CONTROL)


def silence_store() -> SilenceStore:
    """Silences live beside the state: on the Prefect server, or in the SQL database."""
    store = state_store()
    return store if isinstance(store, SilenceStore) else _PREFECT_SILENCES


def prefect_pipeline(route: Mapping[str, str], router: Router | None = None) -> AlertPipeline:
    """An ``AlertPipeline`` whose state, limits, silences and events live on the Prefect server."""
    return AlertPipeline(
        router,
        state_store(),
        gate=PrefectGate(CONTROL),
        outbox=DurableOutbox(),
        observer=PrefectObserver(),
        silences=silence_store(),
        route=route,
    )


@dataclass
class Resolution:
    """A pipeline ready to process, or the reason the destination is unknown."""

    pipeline: AlertPipeline
    records: dict[str, OutboxRecord | None]
    problem: str | None = None
    error: str | None = None


def intake_and_route(alerts: list[Alert], webhook: WebhookRef) -> Resolution:
    """Steps 1 and 2: durable first, then the destination."""
    pipeline = prefect_pipeline(route_for(webhook))
    records = pipeline.intake(alerts)
    try:
        pipeline.router = resolve_router(webhook, CONTROL)
    except (WebhookNotFound, WebhookInvalid, ValueError) as exc:
        return Resolution(pipeline, records, problem=str(exc), error=CONFIGURATION)
    except ControlPlaneUnavailable as exc:
        return Resolution(
            pipeline,
            records,
            problem=f"the destination could not be loaded ({exc}); kept for replay",
            error=CONTROL_PLANE,
        )
    return Resolution(pipeline, records)


def deliver(
    alerts: Iterable[Alert],
    webhook: WebhookRef,
    healthy: HealthyRef = (),
    *,
    dedup: bool = True,
    bypass_rate_limit: bool = False,
) -> tuple[PipelineOutcome, str | None]:
    """Deliver ``alerts`` to ``webhook``; returns the outcome and any configuration problem."""
    batch = list(alerts)
    resolution = intake_and_route(batch, webhook)
    if resolution.problem is not None:
        kept = resolution.pipeline.keep(
            batch,
            resolution.records,
            error=resolution.error or CONFIGURATION,
            detail=resolution.problem,
        )
        return kept, resolution.problem
    outcome = resolution.pipeline.process(
        batch,
        healthy,
        records=resolution.records,
        dedup=dedup,
        bypass_rate_limit=bypass_rate_limit,
    )
    return outcome, None
