"""``slack-alerts backfill``: re-run a model's live checks for a past range of scheduled times.

Each slot's current window ends at its scheduled time, so a backfilled slot
reads exactly the rows that slot covers and gives the result the scheduled
run gave (or would have given). With ``--dry-run`` the checks run here,
without Prefect or Slack; otherwise each slot is a run of the monitoring
flows (``drift-monitoring`` for drift, data health and performance,
``fairness-monitoring`` for fairness), through the pipeline (dedup,
resolved notices, limits) like a scheduled run.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from slack_alerts.formatting import alert_title
from slack_alerts.windows import as_utc, scheduled_times
from slack_alerts.yamlfile import describe_errors, load_yaml

if TYPE_CHECKING:
    from slack_alerts.live import LiveModelConfig

__all__ = ["backfill", "load_model_config", "parse_every", "slot_line"]

CHECK_NAMES = ("drift", "fairness")


class BackfillError(ValueError):
    """A bad model file or range; the message says what to fix."""


def load_model_config(path: Path) -> LiveModelConfig:
    """A ``LiveModelConfig`` from a YAML (or JSON) file; errors name the file and line."""
    from slack_alerts.live import LiveModelConfig

    if not path.exists():
        raise BackfillError(f"--model: no file at {path}")
    document = load_yaml(path.read_text(encoding="utf-8"), str(path))
    try:
        return LiveModelConfig.model_validate(document.data)
    except ValidationError as error:
        raise BackfillError("\n".join(describe_errors(error, document))) from None


def parse_every(text: str) -> timedelta:
    """``"1h"``, ``"30m"``, ``"1d"`` as a timedelta."""
    units = {"m": 60, "h": 3600, "d": 86400}
    try:
        return timedelta(seconds=float(text[:-1]) * units[text[-1]])
    except (KeyError, ValueError, IndexError):
        raise BackfillError(f"--every: {text!r} is not like 30m, 1h or 1d") from None


def slot_line(when: datetime, reports: Sequence[Any]) -> str:
    """One timeline line for a slot: what fired, what was deduplicated, what resolved."""
    statuses: Counter[str] = Counter()
    fired: list[str] = []
    resolved = 0
    unjudged: list[str] = []
    for report in reports:
        resolved += report.resolved
        for outcome in report.alerts:
            statuses[str(outcome.status)] += 1
            if outcome.status == "sent":
                fired.append(f"{outcome.title} ({outcome.severity})")
        if report.live:
            unjudged += [n for n in report.live.get("not_estimable", []) if "label" in n]
    if statuses.get("sent"):
        verdict = "FIRES"
    elif resolved:
        verdict = "resolved"
    elif statuses.get("deduplicated"):
        verdict = "still firing (deduplicated)"
    elif statuses:
        verdict = ", ".join(f"{n} {s}" for s, n in statuses.items())
    else:
        verdict = "quiet"
    parts = [f"{when:%Y-%m-%d %H:%M} UTC  {verdict}"]
    if fired:
        parts.append("sent: " + "; ".join(fired))
    if statuses.get("deduplicated"):
        parts.append(f"{statuses['deduplicated']} deduplicated (counted)")
    if resolved:
        parts.append(f"{resolved} resolved notice(s)")
    parts += unjudged[:1]
    return " | ".join(parts)


def _run_slot(
    config: LiveModelConfig, checks: Sequence[str], when: datetime, webhook: str | None
) -> list[Any]:
    from flows.monitors.drift import drift_monitoring_flow
    from flows.monitors.fairness import fairness_monitoring_flow

    reports: list[Any] = []
    if "drift" in checks:
        reports.append(
            drift_monitoring_flow(
                config.model_id,
                config.model_name,
                webhook=webhook,
                live=config,
                scheduled_time=when,
            )
        )
    if "fairness" in checks and config.sensitive_features:
        reports.append(
            fairness_monitoring_flow(
                config.model_id,
                config.model_name,
                webhook=webhook,
                live=config,
                scheduled_time=when,
            )
        )
    return reports


def _dry_slot(config: LiveModelConfig, checks: Sequence[str], when: datetime) -> str:
    from flows.monitors.live import CHECKS, default_kinds

    kinds = [k for k in default_kinds(config) if "drift" in checks]
    if "fairness" in checks and config.sensitive_features:
        kinds.append("fairness")
    results = [CHECKS[kind](config, when) for kind in kinds]
    alerts = [f"{alert_title(a)} ({a.severity.value})" for r in results for a in r.alerts]
    rows = sum(r.rows_read for r in results)
    return f"{when:%Y-%m-%d %H:%M} UTC  {len(alerts)} alert(s) {alerts} from {rows:,} rows"


def backfill(
    config: LiveModelConfig,
    start: datetime,
    end: datetime,
    every: timedelta,
    checks: Sequence[str] = CHECK_NAMES,
    webhook: str | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Run the checks for every scheduled time from ``start`` to ``end``; the timeline lines."""
    from flows.sources import resolve_config

    times = scheduled_times(as_utc(start), as_utc(end), every)
    if not times:
        raise BackfillError("--start is after --end: no scheduled time in the range")
    lines = []
    resolved = resolve_config(config) if dry_run else config
    for when in times:
        line = (
            _dry_slot(resolved, checks, when)
            if dry_run
            else slot_line(when, _run_slot(config, checks, when, webhook))
        )
        print(line, flush=True)
        lines.append(line)
    return lines


def run_backfill(args: Any) -> int:
    """The ``backfill`` command (arguments from ``flows.cli``); 1 with a one-line error."""
    from slack_alerts.sources import SourceError

    try:
        return _backfill_command(args)
    except (BackfillError, SourceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _backfill_command(args: Any) -> int:
    config = load_model_config(Path(args.model))
    checks = [c.strip() for c in args.checks.split(",") if c.strip()]
    unknown = sorted(set(checks) - set(CHECK_NAMES))
    if unknown:
        raise BackfillError(
            f"--checks: unknown {', '.join(unknown)} (use {', '.join(CHECK_NAMES)})"
        )
    try:
        start = datetime.fromisoformat(args.start)
        end = datetime.fromisoformat(args.end)
    except ValueError as error:
        raise BackfillError(f"--start/--end: not ISO-8601 times ({error})") from None
    print(
        f"backfill {config.model_id}: {', '.join(checks)} from {as_utc(start).isoformat()} "
        f"to {as_utc(end).isoformat()} every {args.every}"
        + (" (dry run: no Prefect, no Slack)" if args.dry_run else ""),
        flush=True,
    )
    backfill(config, start, end, parse_every(args.every), checks, args.webhook, args.dry_run)
    return 0


def add_parser(commands: Any) -> None:
    """Register ``backfill`` on the CLI's subparsers."""
    parser = commands.add_parser(
        "backfill", help="re-run a model's live checks for a past range of scheduled times"
    )
    parser.add_argument("--model", required=True, help="YAML file of one LiveModelConfig")
    parser.add_argument("--start", required=True, help="first scheduled time (ISO-8601, UTC)")
    parser.add_argument("--end", required=True, help="last scheduled time (ISO-8601, UTC)")
    parser.add_argument("--every", default="1h", help="between scheduled times: 30m, 1h, 1d")
    parser.add_argument("--checks", default="drift,fairness", help="drift, fairness")
    parser.add_argument("--webhook", help="a saved Slack Alerts Webhook/Router block")
    parser.add_argument(
        "--dry-run", action="store_true", help="run the checks here, without Prefect or Slack"
    )
