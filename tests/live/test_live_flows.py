"""The monitoring flows on live sources, in Prefect: windows, watermarks, a killed worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from flows import drift_monitoring_flow, security_monitoring_flow
from flows.sources import load_watermark
from slack_alerts.sources.audit import AuditFileSource
from slack_alerts.testing import LocalWebhookServer

pytestmark = pytest.mark.usefixtures("prefect_api")
ROOT = Path(__file__).resolve().parents[2]
S1 = datetime(2026, 3, 2, 12, tzinfo=UTC)
IPS = {"mallory": "10.0.0.1", "trudy": "10.0.0.2", "eve": "10.0.0.3"}


def _records(start: datetime, principal: str, count: int, status: str = "401") -> list[str]:
    return [
        json.dumps(
            {
                "timestamp": (start + timedelta(seconds=5 * i)).isoformat(),
                "principal": principal,
                "ip": IPS[principal],
                "model_id": "triage-llm",
                "action": "predict",
                "status": status,
            }
        )
        for i in range(count)
    ]


def _append(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


@pytest.mark.slow
def test_a_worker_killed_between_scan_and_send_loses_nothing_and_posts_nothing_twice(
    tmp_path: Path, prefect_env: dict[str, str], webhook_server: LocalWebhookServer
) -> None:
    log = tmp_path / "audit.jsonl"
    # A burst of failures that straddles S1 - 30 s .. S1 + 15 s: split across two runs.
    _append(log, _records(S1 - timedelta(minutes=30), "mallory", 6))
    _append(log, _records(S1 - timedelta(seconds=30), "trudy", 3))
    source = AuditFileSource(path=str(log))
    marker = tmp_path / "scanned"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.live.scan_then_die",
            str(log),
            webhook_server.url,
            S1.isoformat(),
            str(marker),
        ],
        cwd=ROOT,
        env=prefect_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert worker.poll() is None, (
                worker.stderr.read().decode()[-3000:] if worker.stderr else ""
            )
            assert time.monotonic() < deadline, "the worker never reached the send"
            time.sleep(0.2)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert marker.read_text() == "2"  # it had found mallory's burst (by principal and by IP)
    assert webhook_server.payloads() == []
    assert load_watermark(source) is None  # not advanced: nothing was accounted for

    # The next run of the same slot (a retry, or the next worker) scans again and sends.
    first = security_monitoring_flow(
        audit={"kind": "jsonl", "path": str(log)}, webhook=webhook_server.url, scheduled_time=S1
    )
    assert [(i["rule"], i["records"]) for i in first.incidents] == [("auth_failure_burst", 6)] * 2
    assert [a.status for a in first.alerts] == ["sent"] * 2
    assert len(webhook_server.payloads()) == 1
    mark = load_watermark(source)
    assert mark is not None and mark.time == S1

    # Trudy's burst goes on after S1: the overlap joins both halves, and mallory's
    # incident, scanned already, is neither lost nor posted again.
    _append(log, _records(S1 + timedelta(seconds=1), "trudy", 3))
    second = security_monitoring_flow(
        audit={"kind": "jsonl", "path": str(log)},
        webhook=webhook_server.url,
        scheduled_time=S1 + timedelta(minutes=5),
    )
    assert [(i["rule"], i["records"]) for i in second.incidents] == [("auth_failure_burst", 6)] * 2
    assert second.live is not None and second.live["checks"]["security"]["records"] == 6
    assert [a.status for a in second.alerts] == ["sent"] * 2
    assert len(webhook_server.payloads()) == 2

    # A retry of that slot re-posts nothing.
    again = security_monitoring_flow(
        audit={"kind": "jsonl", "path": str(log)},
        webhook=webhook_server.url,
        scheduled_time=S1 + timedelta(minutes=5),
    )
    assert {a.status for a in again.alerts} <= {"deduplicated"}
    assert len(webhook_server.payloads()) == 2

    # Missed runs catch up: the next run, an hour later, reads everything since.
    _append(log, _records(S1 + timedelta(minutes=20), "eve", 5))
    late = security_monitoring_flow(
        audit={"kind": "jsonl", "path": str(log)},
        webhook=webhook_server.url,
        scheduled_time=S1 + timedelta(hours=1),
    )
    assert [(i["rule"], i["records"]) for i in late.incidents] == [("auth_failure_burst", 5)] * 2
    assert len(webhook_server.payloads()) == 3


def test_drift_flow_on_an_embedded_database_uses_the_scheduled_slot(
    tmp_path: Path, webhook_server: LocalWebhookServer
) -> None:
    url = f"sqlite:///{tmp_path / 'inference.db'}"
    rng = np.random.default_rng(5)
    n = 24 * 8 * 30
    ts = pd.Timestamp(S1 - timedelta(days=8)) + pd.to_timedelta(np.arange(n) * 120, unit="s")
    frame = pd.DataFrame({"ts": ts.tz_convert(None), "age": rng.normal(60, 10, n)})
    frame.loc[frame["ts"] >= pd.Timestamp(S1 - timedelta(hours=6)).tz_convert(None), "age"] += 20
    frame.to_sql("predictions", sa.create_engine(url), index=False)
    live = {
        "source": {"kind": "sql", "url": url, "table": "predictions", "timestamp_column": "ts"},
        "features": ["age"],
        "current": "last 6 hours",
    }
    quiet = drift_monitoring_flow(
        "m-1",
        "Model",
        webhook=webhook_server.url,
        live=live,
        scheduled_time=S1 - timedelta(hours=6),
    )
    fired = drift_monitoring_flow(
        "m-1", "Model", webhook=webhook_server.url, live=live, scheduled_time=S1
    )
    assert quiet.drifted_features == [] and fired.drifted_features == ["age"]
    assert fired.live is not None
    assert fired.live["checks"]["drift"]["windows"]["current"]["rows_read"] == 6 * 30
    assert fired.live["scheduled_time"] == S1.isoformat()
    assert [a.status for a in fired.alerts] == ["sent"]
    assert "sqlite" not in json.dumps(fired.model_dump(mode="json"))
