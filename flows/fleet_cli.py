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
    if failed:
        raise CliError(f"{failed} of {len(fleet.models)} source(s) did not answer (see above)")
    print(f"  all {len(fleet.models)} sources answer")
    return 0


def _safe(exc: BaseException) -> str:
    from slack_alerts.text import redact_secrets

    return redact_secrets(f"{type(exc).__name__}: {exc}")[:300]


def run(path: Path, at: str | None, only: list[str] | None, check: str | None) -> int:
    from flows.cli import CliError, _local_api_if_unset
    from flows.fleet import fleet_check_flow
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
        report = fleet_check_flow(
            str(path), planned.kind, planned.cron, at=slot.isoformat(), only=only
        )
        print(f"{planned.kind} ({planned.cron}), slot ending {slot.isoformat()}:")
        for row in report.models:
            print(
                f"  {row.model_id:30} {row.status:13} rows {row.rows_read:>8}  "
                f"alerts {row.alerts:>3}  {row.duration_seconds:6.2f}s  {row.detail[:80]}"
            )
        failed += report.count("failed")
        for problem in report.problems:
            print(f"  not delivered: {problem}")
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
    from flows.server import require_server

    if shards < 1 or concurrency < 1:
        raise CliError("--shards and --concurrency must be at least 1")
    api_url = require_server(f"slack-alerts fleet deploy {path}")
    fleet = _load(path)
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
    return 0


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
