"""Fleet runs: one scheduled run per (check kind, schedule) fans out over its models.

``fleet_check_flow`` is what each generated deployment schedules. With
``shards == 1`` it checks its models itself; with ``shards = N`` it starts N
child runs of the fleet's shard deployment (``fleet_shard_flow``) through
``run_deployment``, so N workers on N machines share the fleet, and waits for
them. Every child gets the fleet file, its shard index and the parent's
scheduled time, so its windows are the parent's slot, whichever worker takes
it and however late.

Inside a run, each model is one ``check-model`` task on a thread pool of
``concurrency`` workers (Prefect's ``ThreadPoolTaskRunner``). A model whose
source fails or whose check raises gets a "monitor failed" alert (the same
alert ``flows.hooks.monitor_failure_hook`` sends for a failed monitoring flow)
and the others go on. Alerts go through ``flows.dispatch.send_alerts``, one
call per route. The run publishes a table artifact: per model, its checks,
rows read, alerts, status and duration.

Prefect API calls per model are bounded by a constant (see
benchmarks/README.md, "Fleet"): the check task's run and states (sent as
events, batched) and the delivery of a model with alerts (``notify_model``:
lock, one read of its log, rate slot, one write). Nothing is read per
fingerprint.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun, State, TaskRun
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run as runtime_flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field

from flows.artifacts import artifact_key, publish_summary, publish_table
from flows.dispatch import AlertsNotDelivered, fail_if_undelivered, send_alerts
from flows.hooks import MONITOR_WHAT_TO_DO, failure_event
from flows.monitors import monitoring_flow
from flows.sources import resolve_config
from slack_alerts import SafetyEvent, SeverityLevel
from slack_alerts.fleet import Fleet, FleetModel, read_fleet, run_check, shard
from slack_alerts.live import CheckResult
from slack_alerts.models import Alert
from slack_alerts.pipeline import AlertStatus
from slack_alerts.text import redact_secrets
from slack_alerts.windows import as_utc

DEFAULT_CONCURRENCY = 4
CHECK_FLOW = "fleet-check"
SHARD_FLOW = "fleet-shard"
FINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


def shard_deployment(fleet_name: str) -> str:
    """The ``flow/deployment`` name of a fleet's shard worker deployment."""
    return f"{SHARD_FLOW}/{fleet_name}-shard"


class ModelRun(BaseModel):
    """One model's check in a run: a row of the summary table."""

    model_id: str
    check: str
    status: str = Field(description="ok | alerting | failed | not delivered")
    rows_read: int = 0
    rows_sampled: int = 0
    alerts: int = 0
    duration_seconds: float = 0.0
    shard: int = 0
    detail: str = ""


class FleetRunReport(BaseModel):
    """What a fleet run did, model by model."""

    fleet: str
    check: str
    cron: str
    slot: datetime
    shards: int
    models: list[ModelRun] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for m in self.models if m.status == status)


class FleetRunIncomplete(AlertsNotDelivered):
    """A fleet run some of whose alerts were not delivered (they are in the outbox), or
    some of whose shard runs failed; ``report`` is what the run did."""

    def __init__(self, report: FleetRunReport) -> None:
        self.report = report
        super().__init__(
            f"fleet {report.fleet} {report.check} run not complete: "
            f"{'; '.join(report.problems)}. Undelivered alerts are kept in the outbox: once "
            "the cause above is fixed (`slack-alerts fleet validate FILE --connect` checks "
            "every route block and source), `slack-alerts replay` delivers them."
        )

    def __reduce__(self) -> tuple[Any, ...]:  # pickled with the failed state
        return (type(self), (self.report,))


@task(name="check-model", cache_policy=NO_CACHE, task_run_name="{kind}-{model_id}")
def check_model(kind: str, model_id: str, model: FleetModel, slot: datetime) -> CheckResult:
    """One model's check for the slot ending at ``slot`` (raises what the check raises)."""
    return run_check(kind, resolve_config(model.config), slot)


@dataclass
class _Checked:
    rows: dict[str, ModelRun] = field(default_factory=dict)
    alerts: dict[str, list[Alert]] = field(default_factory=lambda: defaultdict(list))
    healthy: dict[str, list[str]] = field(default_factory=dict)


def _failed_alert(
    kind: str, model: FleetModel, state: State[Any], run_id: uuid.UUID
) -> SafetyEvent:
    run = TaskRun(
        id=run_id,
        name=f"{kind}-{model.id}",
        task_key="check-model",
        dynamic_key=model.id,
        flow_run_id=runtime_flow_run.id and uuid.UUID(runtime_flow_run.id),
    )
    owner = type("Check", (), {"name": f"fleet {kind} check of {model.id}"})()
    event = failure_event(
        owner,
        run,
        state,
        SeverityLevel.CRITICAL,
        what_to_do=MONITOR_WHAT_TO_DO,
        model_id=model.id,
    )
    # One incident per check kind: a model whose drift and data-health checks both
    # fail gets two alerts, each deduplicated across slots while it stays broken.
    return event.model_copy(update={"metadata": event.metadata | {"incident_id": f"fleet-{kind}"}})


def _check_all(
    fleet: Fleet, kind: str, ids: Sequence[str], slot: datetime, concurrency: int, index: int
) -> _Checked:
    checked = _Checked()
    started: dict[str, float] = {}
    runner: ThreadPoolTaskRunner[Any]
    with ThreadPoolTaskRunner(max_workers=max(1, concurrency)) as runner:
        futures: dict[str, PrefectFuture[CheckResult]] = {}
        for model_id in ids:
            started[model_id] = time.perf_counter()
            # cast: the runner's stubs expect an async task.
            futures[model_id] = runner.submit(
                cast(Any, check_model),
                {"kind": kind, "model_id": model_id, "model": fleet.model(model_id), "slot": slot},
            )
        for model_id, future in futures.items():
            future.wait()
            state = future.state
            elapsed = time.perf_counter() - started[model_id]
            model = fleet.model(model_id)
            if state.is_completed():
                result: CheckResult = state.result()
                checked.alerts[model_id] += list(result.alerts)
                checked.healthy[model_id] = list(result.healthy_fingerprints)
                checked.rows[model_id] = ModelRun(
                    model_id=model_id,
                    check=kind,
                    status="alerting" if result.alerts else "ok",
                    rows_read=result.rows_read,
                    rows_sampled=result.rows_sampled,
                    alerts=len(result.alerts),
                    duration_seconds=round(elapsed, 3),
                    shard=index,
                    detail="; ".join(result.not_estimable)[:300],
                )
                continue
            failure = state.result(raise_on_failure=False)
            alert = _failed_alert(kind, model, state, future.task_run_id)
            checked.alerts[model_id].append(alert)
            checked.rows[model_id] = ModelRun(
                model_id=model_id,
                check=kind,
                status="failed",
                alerts=1,
                duration_seconds=round(elapsed, 3),
                shard=index,
                detail=redact_secrets(f"{type(failure).__name__}: {failure}")[:300],
            )
    return checked


def run_models(
    fleet: Fleet, kind: str, ids: Sequence[str], slot: datetime, concurrency: int, index: int = 0
) -> tuple[list[ModelRun], list[str]]:
    """Check ``ids`` for ``slot`` and send their alerts, one ``send_alerts`` per route.

    Returns the table rows and the delivery problems (destinations that
    could not be resolved; their alerts are in the outbox).
    """
    checked = _check_all(fleet, kind, ids, slot, concurrency, index)
    by_route: dict[str | None, list[str]] = defaultdict(list)
    for model_id in ids:
        by_route[fleet.model(model_id).route].append(model_id)
    problems: list[str] = []
    for route, members in by_route.items():
        alerts = [a for m in members for a in checked.alerts.get(m, [])]
        healthy = {m: checked.healthy[m] for m in members if checked.healthy.get(m)}
        if not alerts and not healthy:
            continue
        sent = send_alerts(alerts, route, healthy)
        if sent.problem:
            problems.append(f"route {route or 'default'}: {sent.problem}")
        unaccounted = {o.model_id for o in sent.alerts if not AlertStatus(o.status).accounted}
        for model_id in unaccounted & set(members):
            row = checked.rows[model_id]
            if row.status != "failed":
                row.status = "not delivered"
    return [checked.rows[m] for m in ids], problems


def _slot(at: datetime | str | None) -> datetime:
    if at is not None:
        return as_utc(datetime.fromisoformat(at) if isinstance(at, str) else at)
    scheduled = runtime_flow_run.scheduled_start_time
    if isinstance(scheduled, datetime):
        return as_utc(scheduled)
    return as_utc(datetime.fromisoformat(str(scheduled)))


def _models_of(fleet: Fleet, kind: str, cron: str, only: Sequence[str] | None) -> list[str]:
    ids = [m.id for m in fleet.models if m.checks.get(kind) == cron]
    if only:
        ids = [i for i in ids if i in set(only)]
    return ids


def _publish(report: FleetRunReport, key: str) -> None:
    columns = list(ModelRun.model_fields)
    frame = pd.DataFrame([r.model_dump() for r in report.models], columns=columns)
    publish_table(
        key,
        frame.set_index("model_id"),
        f"Fleet {report.fleet}: {report.check} ({report.cron}) for the slot ending "
        f"{report.slot.isoformat()}",
    )
    counts = ", ".join(
        f"{report.count(s)} {s}" for s in ("ok", "alerting", "failed", "not delivered")
    )
    publish_summary(
        f"{key}-summary",
        [
            f"# Fleet {report.fleet}: {report.check} (`{report.cron}`)",
            f"Slot ending {report.slot.isoformat()}, {len(report.models)} models in "
            f"{report.shards} shard(s): {counts}; "
            f"{sum(m.rows_read for m in report.models)} rows read, "
            f"{sum(m.alerts for m in report.models)} alerts.",
            *[f"- Not delivered: {p}" for p in report.problems],
        ],
        f"Fleet {report.fleet} {report.check} summary",
    )


@monitoring_flow(SHARD_FLOW, log_prints=False)
def fleet_shard_flow(
    fleet_file: str,
    kind: str,
    cron: str,
    shard_index: int,
    shards: int,
    at: str,
    concurrency: int = DEFAULT_CONCURRENCY,
    webhook: str | None = None,
) -> FleetRunReport:
    """One shard of a fleet run: the models ``shard(models, shards)[shard_index]``, for
    the parent's slot ``at`` (ISO-8601). ``webhook`` gets the alert if the shard itself
    fails (each model's alerts go to its own route)."""
    fleet = read_fleet(fleet_file)
    slot = _slot(at)
    ids = shard(_models_of(fleet, kind, cron, None), shards)[shard_index]
    order = {m.id: i for i, m in enumerate(fleet.models)}
    ids = sorted(ids, key=order.__getitem__)
    rows, problems = run_models(fleet, kind, ids, slot, concurrency, shard_index)
    report = FleetRunReport(
        fleet=fleet.name,
        check=kind,
        cron=cron,
        slot=slot,
        shards=shards,
        models=rows,
        problems=problems,
    )
    _publish(report, artifact_key("fleet", fleet.name, kind, "shard", str(shard_index)))
    get_run_logger().info(
        "shard %d/%d: %d models, %d failed",
        shard_index + 1,
        shards,
        len(rows),
        report.count("failed"),
    )
    fail_if_undelivered("; ".join(problems))
    return report


def _wait_for_children(ids: list[uuid.UUID], poll_seconds: float) -> dict[uuid.UUID, str]:
    """Final state of each child run: one API call per poll, whatever the fleet's size."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    states: dict[uuid.UUID, str] = {}
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids)
            )
            states = {r.id: (r.state.type.value if r.state else "PENDING") for r in runs}
            if len(states) == len(ids) and all(s in FINAL for s in states.values()):
                return states
            time.sleep(poll_seconds)


def _child_rows(ids: list[uuid.UUID]) -> list[ModelRun]:
    """The shard runs' table rows, read back from their artifacts (one API call)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterType,
    )

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=ids),
                type=ArtifactFilterType(any_=["table"]),
            )
        )
    rows: list[ModelRun] = []
    for artifact in artifacts:
        data = artifact.data
        table = json.loads(data) if isinstance(data, str) else data
        for row in cast(list[dict[str, Any]], table or []):
            rows.append(ModelRun.model_validate({k: v for k, v in row.items() if v is not None}))
    return rows


@monitoring_flow(CHECK_FLOW, log_prints=False)
def fleet_check_flow(
    fleet_file: str,
    kind: str,
    cron: str,
    shards: int = 1,
    concurrency: int = DEFAULT_CONCURRENCY,
    at: str | None = None,
    only: list[str] | None = None,
    webhook: str | None = None,
    poll_seconds: float = 2.0,
) -> FleetRunReport:
    """Run check ``kind`` over the fleet's models on schedule ``cron``, for the slot
    ending at ``at`` (ISO-8601; default: this run's scheduled start time).

    ``shards > 1`` fans out to that many runs of the shard deployment
    (``fleet deploy`` creates it) and waits for them; ``only`` restricts the
    run to some model ids (local runs). ``webhook`` gets the alert if the run
    itself fails.
    """
    logger = get_run_logger()
    fleet = read_fleet(fleet_file)
    slot = _slot(at)
    ids = _models_of(fleet, kind, cron, only)
    # Never more shards than models: a shard beyond them would be an empty run.
    shards = min(shards, max(1, len(ids)))
    report = FleetRunReport(fleet=fleet.name, check=kind, cron=cron, slot=slot, shards=shards)
    if shards <= 1 or only:
        report.shards = 1
        report.models, report.problems = run_models(fleet, kind, ids, slot, concurrency)
    else:
        from prefect.deployments import run_deployment

        children = [
            cast(
                FlowRun,
                run_deployment(
                    shard_deployment(fleet.name),
                    parameters={
                        "fleet_file": fleet_file,
                        "kind": kind,
                        "cron": cron,
                        "shard_index": index,
                        "shards": shards,
                        "at": slot.isoformat(),
                        "concurrency": concurrency,
                        "webhook": webhook,
                    },
                    timeout=0,
                    as_subflow=True,
                ),
            )
            for index in range(shards)
        ]
        child_ids = [c.id for c in children]
        states = _wait_for_children(child_ids, poll_seconds)
        report.models = _child_rows(child_ids)
        seen = {m.model_id for m in report.models}
        report.problems = [
            f"shard run {run_id} ended {state}"
            for run_id, state in states.items()
            if state != "COMPLETED"
        ]
        for model_id in ids:
            if model_id not in seen:
                # The shard's own failure hook has alerted its webhook; say so here too.
                report.models.append(
                    ModelRun(
                        model_id=model_id,
                        check=kind,
                        status="failed",
                        detail="its shard run did not finish",
                    )
                )
        order = {m: i for i, m in enumerate(ids)}
        report.models.sort(key=lambda m: order.get(m.model_id, len(order)))
    _publish(report, artifact_key("fleet", fleet.name, kind))
    logger.info(
        "%s over %d models (%d shards): %d ok, %d alerting, %d failed",
        kind,
        len(report.models),
        report.shards,
        report.count("ok"),
        report.count("alerting"),
        report.count("failed"),
    )
    if report.problems:
        # Not a success: a route that does not exist, alerts kept for replay, a shard lost.
        raise FleetRunIncomplete(report)
    return report
