"""``slack-alerts fleet deploy``: the fleet file's deployments on a Prefect server.

One deployment of ``fleet-check`` per (check kind, schedule) of the fleet's
plan, scheduled by its cron (UTC), plus one unscheduled ``fleet-shard``
deployment its runs fan out to. Every deployment is tagged
``fleet:<name>``: a deploy compares what is on the server with the plan and
creates what is missing, updates what differs, leaves the rest alone (an
unchanged deployment is not written, so re-deploying is idempotent) and
deletes the fleet's deployments the plan no longer has (a check kind or a
schedule that no model uses any more; Prefect deletes their scheduled runs
with them). Deployments are made with Prefect's ``RunnerDeployment``, run
by process workers from the directory the deploy ran in (no pull steps),
as ``prefect deploy`` does for deployments/prefect.yaml.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.exceptions import ObjectAlreadyExists

from flows.fleet import CHECK_FLOW, DEFAULT_CONCURRENCY, SHARD_FLOW
from slack_alerts.fleet import Fleet, plan_runs

CHECK_ENTRYPOINT = "flows/fleet.py:fleet_check_flow"
SHARD_ENTRYPOINT = "flows/fleet.py:fleet_shard_flow"


def fleet_tag(fleet_name: str) -> str:
    return f"fleet:{fleet_name}"


@dataclass(frozen=True)
class DeploymentSpec:
    """What one deployment of the fleet should be (compared with the server's)."""

    flow: str
    name: str
    entrypoint: str
    cron: str | None
    parameters: dict[str, Any]
    tags: tuple[str, ...]
    description: str
    queue: str = "default"

    @property
    def full_name(self) -> str:
        return f"{self.flow}/{self.name}"


def plan_deployments(
    fleet: Fleet,
    fleet_file: str,
    *,
    shards: int = 1,
    concurrency: int = DEFAULT_CONCURRENCY,
    webhook: str | None = None,
    queue: str = "default",
    shard_queue: str | None = None,
) -> list[DeploymentSpec]:
    """The fleet's deployments: one per planned run, plus the shard deployment. Pure."""
    tags = ("slack-alerts", "ml-monitoring", fleet_tag(fleet.name))
    specs = [
        DeploymentSpec(
            flow=CHECK_FLOW,
            name=f"{fleet.name}-{run.slug}",
            entrypoint=CHECK_ENTRYPOINT,
            cron=run.cron,
            parameters={
                "fleet_file": fleet_file,
                "kind": run.kind,
                "cron": run.cron,
                "shards": shards,
                "concurrency": concurrency,
                "webhook": webhook,
            },
            tags=(*tags, run.kind),
            description=(
                f"Fleet {fleet.name}: {run.kind} of {len(run.models)} model(s) on "
                f"'{run.cron}' (UTC), from {fleet_file}."
            ),
            queue=queue,
        )
        for run in plan_runs(fleet)
    ]
    specs.append(
        DeploymentSpec(
            flow=SHARD_FLOW,
            name=f"{fleet.name}-shard",
            entrypoint=SHARD_ENTRYPOINT,
            cron=None,
            parameters={},
            tags=tags,
            description=f"Fleet {fleet.name}: one shard of a fleet run (started by fleet-check).",
            queue=shard_queue or queue,
        )
    )
    return specs


def _same(spec: DeploymentSpec, existing: Any, work_pool: str, path: str) -> bool:
    crons = sorted(str(getattr(s.schedule, "cron", "")) for s in existing.schedules or [])
    return (
        crons == ([spec.cron] if spec.cron else [])
        and dict(existing.parameters or {}) == spec.parameters
        and existing.entrypoint == spec.entrypoint
        and existing.work_pool_name == work_pool
        and existing.work_queue_name == spec.queue
        and existing.path == path
        and sorted(existing.tags or []) == sorted(spec.tags)
        and existing.description == spec.description
    )


def _existing(client: Any, fleet_name: str) -> dict[str, Any]:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    found: dict[str, Any] = {}
    flows = {f.id: f.name for f in client.read_flows()}
    offset = 0
    while True:
        page = client.read_deployments(
            deployment_filter=DeploymentFilter(
                tags=DeploymentFilterTags(all_=[fleet_tag(fleet_name)])
            ),
            limit=200,
            offset=offset,
        )
        for deployment in page:
            found[f"{flows.get(deployment.flow_id, '?')}/{deployment.name}"] = deployment
        if len(page) < 200:
            return found
        offset += 200


def apply_deployments(
    specs: list[DeploymentSpec], fleet_name: str, work_pool: str
) -> list[tuple[str, str]]:
    """Make the server's deployments of ``fleet_name`` equal ``specs``.

    Returns ``(change, deployment)`` pairs, change one of created / updated /
    unchanged / removed. Needs a real server (the caller checks).
    """
    from prefect.client.orchestration import get_client
    from prefect.deployments.runner import RunnerDeployment

    path = str(Path.cwd())
    changes: list[tuple[str, str]] = []
    with get_client(sync_client=True) as client:
        existing = _existing(client, fleet_name)
        # The server files a deployment of an unknown queue under the pool's default one.
        for queue in sorted({s.queue for s in specs}):
            with contextlib.suppress(ObjectAlreadyExists):
                client.create_work_queue(queue, work_pool_name=work_pool)
    for spec in specs:
        current = existing.pop(spec.full_name, None)
        if current is not None and _same(spec, current, work_pool, path):
            changes.append(("unchanged", spec.full_name))
            continue
        deployment = RunnerDeployment.from_entrypoint(
            spec.entrypoint,
            name=spec.name,
            cron=spec.cron,
            parameters=spec.parameters,
            tags=list(spec.tags),
            description=spec.description,
            work_pool_name=work_pool,
            work_queue_name=spec.queue,
        )
        deployment.apply()
        changes.append(("created" if current is None else "updated", spec.full_name))
    with get_client(sync_client=True) as client:
        for full_name, deployment in sorted(existing.items()):
            client.delete_deployment(deployment.id)
            changes.append(("removed", full_name))
    return changes
