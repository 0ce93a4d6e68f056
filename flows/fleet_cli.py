"""``slack-alerts fleet validate | run | deploy | schema``: a fleet of models from one file."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the core's imports (pandas, scipy) load only when a fleet command runs
    from slack_alerts.fleet import Fleet

DEFAULT_POOL = "slack-alerts"


def register(commands: Any) -> None:
    """Add the ``fleet`` command and its subcommands to the CLI's subparsers."""
    fleet = commands.add_parser("fleet", help="a fleet of models from one YAML file")
    sub = fleet.add_subparsers(dest="fleet_command", required=True)
    validate = sub.add_parser("validate", help="check a fleet file (and its sources)")
    validate.add_argument("file", type=Path)
    validate.add_argument(
        "--connect", action="store_true", help="also check that every source answers"
    )
    run = sub.add_parser("run", help="run the fleet's checks once, locally, for one slot")
    run.add_argument("file", type=Path)
    run.add_argument(
        "--at",
        help="ISO-8601 time (UTC if no offset); each schedule's slot ending at or before it "
        "(default: now, i.e. the last slot boundary)",
    )
    run.add_argument("--only", nargs="+", metavar="MODEL", help="only these model ids")
    run.add_argument("--check", help="only this check kind (drift, performance, ...)")
    deploy = sub.add_parser("deploy", help="create/update the fleet's Prefect deployments")
    deploy.add_argument("file", type=Path)
    deploy.add_argument(
        "--pool", default=DEFAULT_POOL, help="process work pool (default: %(default)s)"
    )
    deploy.add_argument(
        "--shards",
        type=int,
        default=1,
        help="child runs per fleet run, spread over the pool's workers (default: 1; see README)",
    )
    deploy.add_argument(
        "--concurrency", type=int, default=4, help="models checked at once in a run (default: 4)"
    )
    deploy.add_argument("--webhook", help="block told when a fleet run itself fails")
    deploy.add_argument(
        "--queue", default="default", help="work queue of the scheduled runs (default: %(default)s)"
    )
    deploy.add_argument(
        "--shard-queue",
        help="work queue of the shard runs (default: --queue); a separate queue keeps "
        "waiting fleet runs from holding the slots their shards need",
    )
    sub.add_parser("schema", help="print the fleet file's JSON Schema")


def _load(path: Path) -> Fleet:
    from flows.cli import CliError
    from slack_alerts.fleet import FleetError, read_fleet
    from slack_alerts.yamlfile import YamlError

    try:
        return read_fleet(path)
    except (FleetError, YamlError) as exc:
        raise CliError(f"{exc}\nNext: fix the lines above, then run the command again.") from None


def validate(path: Path, connect: bool) -> int:
    from flows.cli import CliError
    from slack_alerts.fleet import plan_runs

    fleet = _load(path)
    runs = plan_runs(fleet)
    print(
        f"{path}: fleet {fleet.name!r} is valid: {len(fleet.models)} models, "
        f"{len(runs)} scheduled run(s)"
    )
    for run in runs:
        print(f"  {run.kind:12} {run.cron:15} {len(run.models)} model(s)")
    if not connect:
        return 0
    from flows.sources import resolve_config

    failed = 0
    for model in fleet.models:
        try:
            resolve_config(model.config).source.check()
        except Exception as exc:
            failed += 1
            print(f"  {model.id}: source does not answer: {_safe(exc)}")
    bad_routes = _check_routes(fleet)
    problems = []
    if failed:
        problems.append(f"{failed} of {len(fleet.models)} source(s) did not answer")
    if bad_routes:
        problems.append(f"{bad_routes} route(s) cannot be used")
    if problems:
        raise CliError(" and ".join(problems) + " (see above)")
    print(f"  all {len(fleet.models)} sources answer")
    return 0


def _by_route(fleet: Fleet) -> dict[str | None, list[str]]:
    routes: dict[str | None, list[str]] = {}
    for model in fleet.models:
        routes.setdefault(model.route, []).append(model.id)
    return routes


def _some(ids: list[str]) -> str:
    return ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")


def _check_routes(fleet: Fleet) -> int:
    """Load every route block from the server (as a run would); print and count the bad."""
    from flows.delivery import CONTROL
    from flows.routing import ControlPlaneUnavailable, WebhookInvalid, WebhookNotFound, load_webhook
    from flows.server import configured_api_url

    routes = {r: ids for r, ids in _by_route(fleet).items() if r is not None}
    if not routes:
        return 0
    api_url = configured_api_url()
    if not api_url:
        print(
            f"  {len(routes)} route(s) not checked: PREFECT_API_URL is not set, and route "
            "blocks live on your Prefect server; `prefect config set PREFECT_API_URL=...` "
            "then run this again"
        )
        return len(routes)
    bad = 0
    for route, ids in sorted(routes.items()):
        try:
            load_webhook(route, CONTROL)
        except WebhookNotFound:
            bad += 1
            print(
                f"  route {route!r} ({_some(ids)}): no Slack Alerts Webhook, Bot or Router "
                f"block of that name on {api_url}; their alerts would be kept undelivered. "
                f"Fix the name in the fleet file, or save the block (`slack-alerts "
                f"save-webhook {route}`)"
            )
        except (WebhookInvalid, ControlPlaneUnavailable) as exc:
            bad += 1
            print(f"  route {route!r} ({_some(ids)}): {_safe(exc)}")
    if not bad:
        print(f"  all {len(routes)} route block(s) exist on {api_url}")
    return bad


def _safe(exc: BaseException) -> str:
    from slack_alerts.text import redact_secrets

    return redact_secrets(f"{type(exc).__name__}: {exc}")[:300]


def run(path: Path, at: str | None, only: list[str] | None, check: str | None) -> int:
    from flows.cli import CliError, _local_api_if_unset
    from flows.fleet import FleetRunIncomplete, fleet_check_flow
    from slack_alerts.fleet import CHECK_KINDS, last_slot, plan_runs

    fleet = _load(path)
    if check and check not in CHECK_KINDS:
        raise CliError(f"--check {check!r}: not a check kind ({', '.join(CHECK_KINDS)})")
    if only:
        try:
            fleet.select(only)
        except KeyError as exc:
            raise CliError(f"no model {exc.args[0]} in {path}") from None
    moment = datetime.now(UTC) if at is None else datetime.fromisoformat(at)
    _local_api_if_unset()
    failed = 0
    for planned in plan_runs(fleet):
        if check and planned.kind != check:
            continue
        if only and not set(only) & set(planned.models):
            continue
        slot = last_slot(planned.cron, moment)
        try:
            report = fleet_check_flow(
                str(path), planned.kind, planned.cron, at=slot.isoformat(), only=only
            )
        except FleetRunIncomplete as exc:
            report = exc.report  # printed below; the problems make the exit code 1
        print(f"{planned.kind} ({planned.cron}), slot ending {slot.isoformat()}:")
        for row in report.models:
            print(
                f"  {row.model_id:30} {row.status:13} rows {row.rows_read:>8}  "
                f"alerts {row.alerts:>3}  {row.duration_seconds:6.2f}s  {row.detail[:80]}"
            )
        failed += report.count("failed") + len(report.problems)
        for problem in report.problems:
            print(f"  not delivered: {problem}")
    if failed:
        print(
            "Next: fix what is shown above; undelivered alerts are in the outbox "
            "(`slack-alerts outbox`), `slack-alerts replay` delivers them.",
            file=sys.stderr,
        )
    return 1 if failed else 0


def deploy(
    path: Path,
    pool: str,
    shards: int,
    concurrency: int,
    webhook: str | None,
    queue: str = "default",
    shard_queue: str | None = None,
) -> int:
    from flows.cli import CliError
    from flows.fleet_deploy import apply_deployments, plan_deployments
    from flows.routing import block_name_problem
    from flows.server import require_server
    from slack_alerts.fleet import plan_runs

    if shards < 1 or concurrency < 1:
        raise CliError("--shards and --concurrency must be at least 1")
    if webhook is not None and (problem := block_name_problem(webhook)) is not None:
        # A deployment's parameters are stored, shown and sent in events: names only.
        raise CliError(f"--webhook: {problem}")
    fleet = _load(path)
    largest = max(len(run.models) for run in plan_runs(fleet))
    if shards > largest:
        raise CliError(
            f"--shards {shards}: the fleet's largest scheduled run has {largest} model(s), "
            f"so shards beyond {largest} would be empty runs; use --shards {largest} or fewer "
            "(about one per worker process)"
        )
    api_url = require_server(f"slack-alerts fleet deploy {path}")
    _require_pool(pool, api_url)
    # Workers run from this directory: keep the path relative when it is inside it.
    resolved = path.resolve()
    try:
        stored = str(resolved.relative_to(Path.cwd()))
    except ValueError:
        stored = str(resolved)
    specs = plan_deployments(
        fleet,
        stored,
        shards=shards,
        concurrency=concurrency,
        webhook=webhook,
        queue=queue,
        shard_queue=shard_queue,
    )
    changes = apply_deployments(specs, fleet.name, pool)
    print(f"Fleet {fleet.name!r} on {api_url} (work pool {pool}):")
    for change, name in changes:
        print(f"  {change:9} {name}")
    counts = {
        c: sum(1 for x, _ in changes if x == c)
        for c in ("created", "updated", "unchanged", "removed")
    }
    print("  " + ", ".join(f"{n} {c}" for c, n in counts.items()))
    unrouted = _by_route(fleet).get(None, [])
    if unrouted:
        print(
            f"warning: {len(unrouted)} of {len(fleet.models)} model(s) have no route "
            f"({_some(unrouted)}): their alerts go to SLACK_WEBHOOK_URL as set on the worker, "
            "else to the local preview folder on the worker, where nobody sees them. Next: "
            f"set `route` (or the owner's entry in `owners`) in {path}, then deploy again.",
            file=sys.stderr,
        )
    return 0


def _require_pool(pool: str, api_url: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from flows.cli import CliError

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
        except ObjectNotFound:
            raise CliError(
                f"no work pool {pool!r} on {api_url}. Next: `prefect work-pool create {pool} "
                f"--type process`, start a worker (`prefect worker start --pool {pool}`), then "
                "run this again (or give an existing pool with --pool)"
            ) from None


def schema() -> int:
    from slack_alerts.fleet import fleet_json_schema

    json.dump(fleet_json_schema(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def main(args: argparse.Namespace) -> int:
    command = args.fleet_command
    if command == "validate":
        return validate(args.file, args.connect)
    if command == "run":
        return run(args.file, args.at, args.only, args.check)
    if command == "deploy":
        return deploy(
            args.file,
            args.pool,
            args.shards,
            args.concurrency,
            args.webhook,
            args.queue,
            args.shard_queue,
        )
    return schema()
