"""Late audit records (probe B1): a line stamped before the last run but written after it.

Log shippers (fluentd, vector) buffer: a line stamped 10:13 may reach the file at 10:16,
after the 10:15 run. A JSONL source scans every line appended since its last read,
whatever its timestamp (it keeps the byte offset read so far); an audit table has no
order of arrival, so its rows are read back to the source's allowed lateness (default
15 minutes, configurable, at most a day). Real files, a real PostgreSQL table, and the
flow on the Prefect test harness with its watermark in a Variable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from flows import security_monitoring_flow
from flows.sources import load_watermark
from slack_alerts.live import run_security_scan
from slack_alerts.sources.audit import AuditFileSource, AuditSqlSource, AuditWatermark
from slack_alerts.testing import LocalWebhookServer

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
PHI = "Patient SSN 123-45-6789, MRN: 1234567"


def _record(
    at: datetime, output: str = "ok", principal: str = "dr-smith", status: str = "200"
) -> dict[str, Any]:
    return {
        "timestamp": at.isoformat(),
        "principal": principal,
        "ip": "10.0.0.1",
        "model_id": "triage-llm",
        "action": "predict",
        "status": status,
        "prompt": "hi",
        "output": output,
    }


def _append(path: Path, *records: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in records))


def _rules(events: list[Any]) -> list[str]:
    return sorted(str(getattr(e, "event_type", "")) for e in events)


def test_a_line_appended_late_is_scanned_whatever_its_timestamp(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _append(log, *(_record(T0 + timedelta(minutes=i)) for i in range(10)))
    source = AuditFileSource(path=str(log))
    first, mark = run_security_scan(source, None, None, T0 + timedelta(minutes=15))
    assert first.alerts == [] and mark.time == T0 + timedelta(minutes=15)

    # The probe's case: stamped 10:13, two minutes before the 10:15 run, written after it.
    _append(log, _record(T0 + timedelta(minutes=13), output=PHI))
    _append(log, _record(T0 + timedelta(minutes=16)))
    second, mark = run_security_scan(source, None, mark, T0 + timedelta(minutes=20))
    assert _rules(second.alerts) == ["phi_in_output"]
    (on_time_ish,) = second.alerts

    # Far beyond any lateness (stamped two hours back): a new line is still scanned.
    _append(log, _record(T0 - timedelta(hours=2), output=PHI, principal="dr-jones"))
    third, mark = run_security_scan(source, None, mark, T0 + timedelta(minutes=25))
    found = {a.metadata["first_seen"]: a for a in third.alerts}
    assert (T0 - timedelta(hours=2)).isoformat() in found
    # Any incident seen again through the context keeps its id (the pipeline posts it once).
    assert all(
        a.fingerprint == on_time_ish.fingerprint
        for first_seen, a in found.items()
        if first_seen != (T0 - timedelta(hours=2)).isoformat()
    )

    # Read once: the next run re-reads the context but reports nothing again.
    fourth, _ = run_security_scan(source, None, mark, T0 + timedelta(minutes=30))
    assert fourth.alerts == [] and fourth.report["already_reported"] == 1  # 10:13, in context
    assert fourth.report["malformed"] == []


def test_late_lines_join_the_burst_they_belong_to(tmp_path: Path) -> None:
    """Three failures on time, three stamped just before the watermark but written after:
    one burst of six, found by the next run (the context reaches back the allowed lateness)."""
    log = tmp_path / "audit.jsonl"
    cut = T0 + timedelta(minutes=15)
    failures = [
        _record(cut - timedelta(minutes=10) + timedelta(seconds=5 * i), status="401")
        for i in range(6)
    ]
    _append(log, *failures[:3])
    source = AuditFileSource(path=str(log))
    first, mark = run_security_scan(source, None, None, cut)
    assert first.alerts == []  # 3 < the 5 that make a burst
    _append(log, *failures[3:])
    second, _ = run_security_scan(source, None, mark, cut + timedelta(minutes=5))
    bursts = [a for a in second.alerts if a.event_type == "auth_failure_burst"]
    assert bursts and {a.metadata["records"] for a in bursts} == {6}


def test_allowed_lateness_is_explicit_and_bounded(tmp_path: Path) -> None:
    assert AuditFileSource(path=str(tmp_path)).allowed_lateness_seconds == 900
    for bad in (-1, 86401):
        with pytest.raises(ValidationError, match="allowed_lateness_seconds"):
            AuditFileSource(path=str(tmp_path), allowed_lateness_seconds=bad)
        with pytest.raises(ValidationError, match="allowed_lateness_seconds"):
            AuditSqlSource(connector="audit-db", table="audit", allowed_lateness_seconds=bad)


@pytest.fixture
def audit_table(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE audit_late (id serial PRIMARY KEY, ts timestamptz NOT NULL, "
                "principal text, ip text, model_id text, action text, status text, "
                "prompt text, output text)"
            )
        )
    yield engine
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE audit_late"))
    engine.dispose()


def _insert(engine: sa.Engine, *records: dict[str, Any]) -> None:
    rows = [{**r, "ts": datetime.fromisoformat(r["timestamp"])} for r in records]
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO audit_late (ts, principal, ip, model_id, action, status, prompt, "
                "output) VALUES (:ts, :principal, :ip, :model_id, :action, :status, :prompt, "
                ":output)"
            ),
            rows,
        )


def test_table_rows_arriving_within_the_allowed_lateness_are_scanned(
    audit_table: sa.Engine, postgres_url: str
) -> None:
    source = AuditSqlSource(url=postgres_url, table="audit_late", timestamp_column="ts")
    strict = source.model_copy(update={"allowed_lateness_seconds": 0.0})
    _insert(audit_table, *(_record(T0 + timedelta(minutes=i)) for i in range(10)))
    cut = T0 + timedelta(minutes=15)
    first, mark = run_security_scan(source, None, None, cut)
    assert first.alerts == [] and mark == AuditWatermark(time=cut)

    # Committed after the 10:15 run, stamped 10:13 and 10:05 (10 minutes late).
    _insert(audit_table, _record(T0 + timedelta(minutes=13), output=PHI))
    _insert(audit_table, _record(T0 + timedelta(minutes=5), output=PHI, principal="dr-jones"))
    later = cut + timedelta(minutes=5)
    second, _ = run_security_scan(source, None, mark, later)
    assert _rules(second.alerts) == ["phi_in_output", "phi_in_output"]
    assert second.report["since"] == (cut - timedelta(minutes=16)).isoformat()
    # Lateness 0: only the overlap (the longest rule window, 60 s) is read back.
    none_late, _ = run_security_scan(strict, None, mark, later)
    assert none_late.alerts == []


@pytest.mark.usefixtures("prefect_api")
def test_the_flow_posts_a_late_phi_line_once(
    tmp_path: Path, webhook_server: LocalWebhookServer
) -> None:
    log = tmp_path / "audit.jsonl"
    audit = {"kind": "jsonl", "path": str(log)}
    _append(log, *(_record(T0 + timedelta(minutes=i)) for i in range(10)))
    cut = T0 + timedelta(minutes=15)
    first = security_monitoring_flow(audit=audit, webhook=webhook_server.url, scheduled_time=cut)
    assert first.incidents == [] and webhook_server.payloads() == []
    mark = load_watermark(AuditFileSource(path=str(log)))
    assert mark is not None and mark.time == cut

    _append(log, _record(T0 + timedelta(minutes=13), output=PHI))
    later = cut + timedelta(minutes=5)
    second = security_monitoring_flow(audit=audit, webhook=webhook_server.url, scheduled_time=later)
    assert [i["rule"] for i in second.incidents] == ["phi_in_output"]
    assert [a.status for a in second.alerts] == ["sent"]
    assert len(webhook_server.payloads()) == 1
    assert "123-45-6789" not in json.dumps(webhook_server.payloads())  # the value is never sent

    # A retry of that slot posts nothing again.
    again = security_monitoring_flow(audit=audit, webhook=webhook_server.url, scheduled_time=later)
    assert {a.status for a in again.alerts} <= {"deduplicated"}
    assert len(webhook_server.payloads()) == 1
