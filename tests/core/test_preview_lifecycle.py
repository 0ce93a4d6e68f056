"""The preview page shows a message's updates, its thread replies and its buttons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from slack_alerts import Receiver, ReceiverSettings
from slack_alerts.formatting import FormatOptions
from slack_alerts.notify.preview import PreviewSink, read_outbox
from slack_alerts.pipeline import AlertPipeline
from slack_alerts.preview import render_outbox, write_preview
from slack_alerts.sqlstate import SqliteStateStore
from tests.factories import drift, unique


def test_preview_shows_updates_thread_replies_and_buttons(tmp_path: Path) -> None:
    sink = PreviewSink(tmp_path / "outbox")
    key = unique("preview")
    target = Receiver(
        key=key,
        name="preview",
        notifier=sink,
        options=FormatOptions(
            interaction_key=key,
            runbook_url_template="https://wiki.example.org/runbooks/{model_id}",
            run_url="https://prefect.example.org/runs/flow-run/123",
        ),
        settings=ReceiverSettings(rate_limit_per_minute=600, update_message=True),
    )
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    model, start = unique(), datetime(2026, 11, 30, 14, 2, tzinfo=UTC)
    run = AlertPipeline(target, store)
    run.submit([drift(model, metric="psi")], now=start)
    run.submit(
        [drift(model, metric="psi"), drift(model, metric="ks")], now=start + timedelta(minutes=3)
    )
    (record,) = read_outbox(sink.directory)  # one message, updated in place
    assert len(record["edits"]) == 1 and len(record["replies"]) == 1
    page = render_outbox(read_outbox(sink.directory))
    assert "edited 1 time" in page and "1 reply" in page
    assert "1 new or repeating alert(s): ks" in page
    for label in ("Acknowledge", "Silence 4 h", "Silence 24 h"):
        assert f">{label}</span>" in page  # interactive: shown, acting in Slack
    assert 'href="https://wiki.example.org/runbooks/' in page and "Open runbook" in page
    assert 'href="https://prefect.example.org/runs/flow-run/123"' in page and "Open run" in page
    run.submit(
        [],
        healthy={model: [drift(model, metric=m).fingerprint for m in ("psi", "ks")]},
        now=start + timedelta(hours=2, minutes=13),
    )
    page = write_preview(sink.directory).read_text()
    assert "Resolved after 2 h 13 min" in page and "edited 2 times" in page and "2 replies" in page
