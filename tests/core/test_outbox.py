"""The durable outbox: nothing is lost to an outage, exhausted retries or a killed process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slack_alerts import DurableOutbox, OutboxRecord, SlackAlertClient
from slack_alerts.models import alert_to_record
from slack_alerts.testing import LocalWebhookServer, ScriptedResponse
from tests.factories import drift

ROOT = Path(__file__).resolve().parents[2]


def record(model_id: str, when: datetime, **kw: Any) -> OutboxRecord:
    alerts = [alert_to_record(drift(model_id))]
    return OutboxRecord(
        id=f"id-{model_id}", model_id=model_id, route={}, alerts=alerts, created=when, **kw
    )


class TestDurableOutbox:
    def test_put_pending_remove(self, tmp_path: Path) -> None:
        outbox = DurableOutbox(tmp_path)
        later = outbox.put(record("b", datetime(2026, 1, 2, tzinfo=UTC)))
        earlier = outbox.put(record("a", datetime(2026, 1, 1, tzinfo=UTC)))
        assert [r.model_id for r in outbox.pending()] == ["a", "b"]  # oldest first
        outbox.remove(earlier)
        outbox.remove(earlier)  # already gone: fine
        assert [r.path for r in outbox.pending()] == [later.path]
        assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))

    def test_same_id_is_one_record(self, tmp_path: Path) -> None:
        outbox = DurableOutbox(tmp_path)
        when = datetime(2026, 1, 1, tzinfo=UTC)
        outbox.put(record("m", when))
        outbox.put(record("m", when, reason="failed_transient"))
        (only,) = outbox.pending()
        assert only.reason == "failed_transient"

    def test_dead_letters_bury_and_revive(self, tmp_path: Path) -> None:
        outbox = DurableOutbox(tmp_path)
        kept = outbox.put(record("m", datetime(2026, 1, 1, tzinfo=UTC)))
        buried = outbox.bury(kept)
        assert outbox.pending() == [] and [r.id for r in outbox.dead_letters()] == [kept.id]
        assert buried.path is not None and buried.path.parent.name == "dead"
        outbox.revive(outbox.dead_letters()[0])
        assert outbox.dead_letters() == [] and len(outbox.pending()) == 1

    def test_unreadable_files_are_skipped(self, tmp_path: Path) -> None:
        (tmp_path / "broken.json").write_text("{half")
        (tmp_path / "other.json").write_text('{"not": "ours"}')
        assert DurableOutbox(tmp_path).pending() == []

    def test_records_of_the_first_outbox_are_replayed(
        self, tmp_path: Path, webhook_server: LocalWebhookServer
    ) -> None:
        # The first version kept a formatted payload with flat metadata.
        (tmp_path / "20260101T000000000000Z-abc.json").write_text(
            json.dumps(
                {
                    "fingerprint": "abc",
                    "kind": "drift",
                    "severity": "warning",
                    "model_id": "m",
                    "occurred": "2026-01-01T00:00:00+00:00",
                    "payload": {"text": "kept by version 1"},
                }
            )
        )
        client = SlackAlertClient(webhook_server.url, durable_outbox=DurableOutbox(tmp_path))
        (result,) = client.replay_undelivered()
        assert result.ok and webhook_server.payloads() == [{"text": "kept by version 1"}]
        assert DurableOutbox(tmp_path).pending() == []


def test_core_client_keeps_and_replays(webhook_server: LocalWebhookServer, tmp_path: Path) -> None:
    outbox = DurableOutbox(tmp_path)
    client = SlackAlertClient(
        webhook_server.url, max_retries=1, backoff_factor=0.01, durable_outbox=outbox
    )
    assert client.send(drift()).ok and outbox.pending() == []  # delivered: nothing kept
    webhook_server.default = ScriptedResponse(503, "slack_down")
    failed = client.send(drift(metric="accuracy"))
    assert failed.transient and failed.location and Path(failed.location).exists()
    (entry,) = outbox.pending()
    assert entry.fingerprints == [drift(metric="accuracy").fingerprint]
    assert entry.reason == "failed_transient" and entry.error
    assert webhook_server.path not in json.dumps(entry.to_json())  # never the secret
    assert client.replay_undelivered()[-1].transient and len(outbox.pending()) == 1  # still down
    webhook_server.default = ScriptedResponse()
    (replayed,) = client.replay_undelivered()
    assert replayed.ok and outbox.pending() == []
    assert "accuracy" in webhook_server.payloads()[-1]["text"]
    assert client.replay_undelivered() == []


@pytest.mark.usefixtures("prefect_api")
def test_prefect_send_failing_after_retries_is_replayed(webhook_server: LocalWebhookServer) -> None:
    from prefect import flow

    from blocks import SlackAlertsWebhook
    from flows import replay_outbox, send_alert
    from flows.dispatch import AlertsNotDelivered
    from flows.replay import ReplayIncomplete

    block = SlackAlertsWebhook(webhook_url=webhook_server.url)  # type: ignore[arg-type]
    alert = drift(model_id=f"m-{uuid.uuid4().hex[:6]}")
    webhook_server.default = ScriptedResponse(503, "slack_down")
    task = send_alert.with_options(retry_delay_seconds=0.01, retry_jitter_factor=None)

    @flow
    def send() -> bool:
        return task(alert, block, return_state=True).is_failed()

    assert send() is True
    assert len(webhook_server.requests) == 4  # 1 + 3 Prefect retries
    outbox = DurableOutbox()
    (entry,) = outbox.pending()
    assert entry.fingerprints == [alert.fingerprint]

    # Slack still down: the entry stays, and the replay run ends Failed, not Completed.
    state = replay_outbox(block, return_state=True)
    assert state.is_failed()
    with pytest.raises(ReplayIncomplete) as raised:
        replay_outbox(block)
    assert isinstance(raised.value, AlertsNotDelivered)
    down = raised.value.report
    assert down.delivered == 0 and down.remaining == 1 and down.stopped_by == "slack_down"
    assert "1 record(s) still pending" in str(raised.value) and "slack_down" in str(raised.value)
    webhook_server.default = ScriptedResponse()
    report = replay_outbox(block)
    assert report.delivered == 1 and report.remaining == 0
    assert (
        alert.fingerprint
        in webhook_server.payloads()[-1]["attachments"][0]["blocks"][-1]["elements"][1]["text"]
    )
    assert replay_outbox(block).delivered == 0  # idempotent: nothing left to send


def test_process_killed_mid_send_is_replayed(tmp_path: Path) -> None:
    with LocalWebhookServer() as server:
        server.script([ScriptedResponse(delay_seconds=30)])  # the first post hangs
        code = (
            "import sys\n"
            "from slack_alerts import DriftAlert, DurableOutbox, SlackAlertClient\n"
            f"client = SlackAlertClient({server.url!r}, timeout_seconds=60, "
            f"durable_outbox=DurableOutbox({str(tmp_path)!r}))\n"
            "client.send(DriftAlert(model_id='m', model_name='m', metric='killed', current_value=1,"
            " baseline_value=2, threshold=1))\n"
        )
        process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
        outbox = DurableOutbox(tmp_path)
        deadline = time.monotonic() + 60
        while not outbox.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the post is now in flight
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert len(outbox.pending()) == 1  # written before sending, never marked
        client = SlackAlertClient(server.url, durable_outbox=outbox)
        (result,) = client.replay_undelivered()
        assert result.ok and outbox.pending() == []
        assert "killed" in server.payloads()[-1]["text"]


@pytest.mark.parametrize("how", ["read-only folder", "path under a file"])
def test_an_unwritable_outbox_never_blocks_delivery(
    how: str,
    tmp_path: Path,
    webhook_server: LocalWebhookServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if how == "read-only folder":
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o500)
        if os.access(folder, os.W_OK):  # root ignores permissions: use a file instead
            folder.chmod(0o700)
            folder.rmdir()
            folder.write_text("not a folder")
    else:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        folder = blocker / "sub"
    client = SlackAlertClient(webhook_server.url, durable_outbox=DurableOutbox(folder))
    with caplog.at_level("WARNING", logger="slack_alerts"):
        result = client.send(drift())
    assert result.ok and len(webhook_server.payloads()) == 1  # posted anyway
    assert "ALERTS NOT DURABLE" in caplog.text and str(folder) in caplog.text
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
