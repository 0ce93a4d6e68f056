"""Security monitoring flow: a thin Prefect shell around ``slack_alerts.checks.security``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import TypeAdapter

from flows.artifacts import artifact_key, publish_summary, publish_table
from flows.dispatch import fail_if_undelivered, send_alerts
from flows.loading import InputFileError, not_text_error
from flows.monitors import monitoring_flow
from flows.monitors.live import live_fields
from flows.reports import MonitoringReport, outcome_lines
from flows.routing import WebhookRef
from flows.sources import load_watermark, resolve_source, save_watermark
from flows.sources import scheduled_time as flow_scheduled_time
from slack_alerts.checks.security import ScanResult, SecurityRules, scan, scan_events
from slack_alerts.live import CheckResult, run_security_scan
from slack_alerts.models import SafetyEvent
from slack_alerts.sources.audit import (
    AuditFileSource,
    AuditSource,
    AuditSqlSource,
    AuditWatermark,
)

__all__ = ["SecurityReport", "scan_events", "security_monitoring_flow"]


class SecurityReport(MonitoringReport):
    records: int
    malformed: list[dict[str, Any]]
    by_rule: dict[str, int]
    incidents: list[dict[str, Any]]


@task(name="scan-audit-log")
def scan_audit_log(events: str | Path | list[Any], rules: SecurityRules) -> ScanResult:
    if isinstance(events, str | Path):
        path = Path(events)
        if not path.exists():
            raise FileNotFoundError(f"events: no audit log at {path}")
        with path.open(encoding="utf-8", errors="replace") as lines:
            return scan(lines, rules)
    return scan(events, rules)


def _rules(rules: SecurityRules | dict[str, Any] | str | Path | None) -> SecurityRules:
    """Rules as given, or read from a JSON file; file errors name ``rules`` and the file."""
    if not isinstance(rules, str | Path):
        return SecurityRules.model_validate(rules or {})
    path = Path(rules)
    if not path.exists():
        raise FileNotFoundError(f"rules: no file at {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise not_text_error(
            "rules", path, "utf-8", "JSON files are UTF-8 (RFC 8259): re-save it as UTF-8"
        ) from None
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputFileError(
            f"rules: {path} is not valid JSON: {error.msg} (line {error.lineno}, "
            f"column {error.colno})"
        ) from None
    return SecurityRules.model_validate(loaded)


def incident_row(event: SafetyEvent) -> dict[str, Any]:
    """One incident as the report and the artifact table show it."""
    return {
        "rule": event.event_type,
        "severity": event.severity.value,
        "model_id": event.model_id,
        "incident_id": event.metadata["incident_id"],
        "first_seen": event.metadata["first_seen"],
        "records": event.metadata["records"],
        "description": event.description,
    }


@monitoring_flow("security-monitoring")
def security_monitoring_flow(
    events: str | Path | list[Any] | None = None,
    webhook: WebhookRef = None,
    rules: SecurityRules | dict[str, Any] | str | None = None,
    audit: AuditFileSource | AuditSqlSource | dict[str, Any] | None = None,
    scheduled_time: datetime | None = None,
) -> SecurityReport:
    """Scan an audit log (a JSONL path, or a list of dicts) for security incidents.

    ``events`` is typed as a list on purpose: pydantic turns an ``Iterable``
    parameter into a one-shot iterator that Prefect consumes before the scan.

    ``rules`` is a dict, ``SecurityRules`` or a path to a JSON file of them
    (allow-lists, thresholds, markers). Malformed lines are counted and
    listed, never fatal. Incident ids are stable, so re-scanning a log does
    not page again.

    ``audit`` (``{"kind": "jsonl", "path": ...}`` or ``{"kind": "sql",
    "connector": ..., "table": ...}``) scans incrementally instead: only the
    records after the source's watermark (a Prefect Variable), plus an
    overlap as long as the longest rule window and the source's
    ``allowed_lateness_seconds`` (default 900), up to the run's scheduled
    start (or ``scheduled_time``). A JSONL source scans every line appended
    since its last read, however late its timestamp. The watermark advances only after the
    run's alerts are accounted for (sent, or in the outbox), so a crash
    between the scan and the send loses nothing; a missed run catches up.
    """
    config = _rules(rules)
    if audit is not None:
        return _incremental(audit, config, webhook, scheduled_time)
    if events is None:
        raise ValueError("events: give an audit log (a JSONL path or a list), or audit (a source)")
    logger = get_run_logger()
    result = scan_audit_log(events, config)
    logger.info(
        "%d records scanned, %d malformed, %d incident(s)",
        result.records,
        len(result.malformed),
        len(result.events),
    )
    models = sorted({e.model_id for e in result.events}) or ["(none)"]
    incidents = [incident_row(e) for e in result.events]
    sent = send_alerts(result.events, webhook)
    report = SecurityReport(
        flow="security-monitoring",
        model_id=", ".join(models),
        alerts=sent.alerts,
        notes=sent.notes,
        problem=sent.problem,
        records=result.records,
        malformed=[{"line": m.line, "reason": m.reason} for m in result.malformed],
        by_rule=dict(result.by_rule()),
        incidents=incidents,
    )
    key = artifact_key("security")
    if incidents:
        publish_table(
            f"{key}-incidents", pd.DataFrame(incidents), "Security incidents found in the audit log"
        )
    lines = [
        "# Security scan",
        f"{result.records} records scanned; {len(result.malformed)} malformed line(s)"
        + (
            f" (lines {', '.join(str(m.line) for m in result.malformed[:20])})"
            if result.malformed
            else ""
        )
        + ".",
        "",
        *[
            f"- **{i['severity'].upper()} {i['rule']}** on `{i['model_id']}` "
            f"({i['incident_id']}): {i['description']}"
            for i in incidents
        ],
        "",
        *outcome_lines(report),
    ]
    publish_summary(f"{key}-summary", lines, "Security scan summary")
    fail_if_undelivered(report.problem)
    return report


# An Annotated union: mypy's view of TypeAdapter's argument differs between cold
# and warm caches, so the argument is Any and the result typed here.
_AUDIT: TypeAdapter[AuditFileSource | AuditSqlSource] = TypeAdapter(cast(Any, AuditSource))


@task(name="scan-audit-source", cache_policy=NO_CACHE)
def scan_audit_source(
    source: AuditFileSource | AuditSqlSource,
    rules: SecurityRules,
    watermark: AuditWatermark | None,
    when: datetime,
) -> tuple[CheckResult, AuditWatermark]:
    return run_security_scan(resolve_source(source), rules, watermark, when)


def _incremental(
    audit: AuditFileSource | AuditSqlSource | dict[str, Any],
    rules: SecurityRules,
    webhook: WebhookRef,
    when: datetime | None,
) -> SecurityReport:
    logger = get_run_logger()
    source = (
        audit
        if isinstance(audit, AuditFileSource | AuditSqlSource)
        else _AUDIT.validate_python(audit)
    )
    moment = flow_scheduled_time(when)
    mark = load_watermark(source)
    result, new_mark = scan_audit_source(source, rules, mark, moment)
    logger.info(
        "records %s .. %s: %d scanned, %d incident(s) (%d already reported)",
        result.report["since"] or "the start",
        result.report["until"],
        result.report["records"],
        len(result.alerts),
        result.report["already_reported"],
    )
    sent = send_alerts(result.alerts, webhook)
    # Every alert is now delivered or in the durable outbox: only now may the
    # watermark move, and never backwards (a backfill of an older slot).
    if mark is None or mark.time is None or (new_mark.time and new_mark.time > mark.time):
        save_watermark(source, new_mark)
    events = [a for a in result.alerts if isinstance(a, SafetyEvent)]
    report = SecurityReport(
        flow="security-monitoring",
        model_id=", ".join(sorted({e.model_id for e in events})) or "(none)",
        alerts=sent.alerts,
        notes=sent.notes,
        problem=sent.problem,
        records=result.report["records"],
        malformed=result.report["malformed"],
        by_rule=result.report["by_rule"],
        incidents=[incident_row(e) for e in events],
        live=live_fields([result], moment) | {"watermark": new_mark.model_dump(mode="json")},
    )
    lines = [
        "# Security scan (incremental)",
        f"Records from {result.report['since'] or 'the start'} to {result.report['until']}: "
        f"{result.report['records']} scanned, {len(result.report['malformed'])} malformed; "
        f"{len(events)} new incident(s), {result.report['already_reported']} already reported.",
        "",
        *outcome_lines(report),
    ]
    publish_summary(f"{artifact_key('security')}-summary", lines, "Security scan summary")
    fail_if_undelivered(report.problem)
    return report
