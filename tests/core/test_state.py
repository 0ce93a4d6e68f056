"""Alert state: ``plan`` (pure), the embedded stores across processes, and storms."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from slack_alerts import DriftAlert, SeverityLevel, SlackAlertClient
from slack_alerts.pipeline import AlertPipeline
from slack_alerts.sqlstate import SqliteStateStore
from slack_alerts.state import plan
from slack_alerts.testing import LocalWebhookServer
from tests.blockkit import problems

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def alert(model: str = "m1", metric: str = "auroc", severity: str = "warning") -> DriftAlert:
    return DriftAlert(
        model_id=model,
        model_name=model,
        metric=metric,
        current_value=0.7,
        baseline_value=0.8,
        threshold=0.05,
        severity=severity,
        timestamp=T0,
    )


class TestPlan:
    def test_dedup_within_repeat_interval_then_repeat(self) -> None:
        first = plan([alert()], {}, T0)
        assert len(first.to_send) == 1
        sent = {k: v.__class__(**{**v.__dict__, "last_sent": T0}) for k, v in first.states.items()}
        again = plan([alert()], sent, T0 + timedelta(hours=1))
        assert again.to_send == [] and len(again.deduplicated) == 1
        assert again.states[alert().fingerprint].count == 2
        later = plan([alert()], again.states, T0 + timedelta(hours=5))
        assert len(later.to_send) == 1  # repeat_interval (4 h) passed: remind
        assert later.states[alert().fingerprint].first_seen == T0  # same episode

    def test_zero_interval_and_clock_skew_never_dedup(self) -> None:
        first = plan([alert()], {}, T0)
        sent = {k: v.__class__(**{**v.__dict__, "last_sent": T0}) for k, v in first.states.items()}
        # A writer whose clock was read before the previous sender's: negative age.
        assert len(plan([alert()], sent, T0 - timedelta(seconds=1)).to_send) == 1
        assert len(plan([alert()], sent, T0, repeat_interval=timedelta(0)).to_send) == 1

    def test_same_fingerprint_twice_in_a_batch(self) -> None:
        decision = plan([alert(), alert(), alert(metric="psi")], {}, T0)
        assert len(decision.to_send) == 2 and len(decision.deduplicated) == 1
        assert decision.states[alert().fingerprint].count == 2

    def test_failed_send_is_retried_next_time(self) -> None:
        first = plan([alert()], {}, T0)  # last_sent stays None: the send did not succeed
        assert len(plan([alert()], first.states, T0 + timedelta(minutes=1)).to_send) == 1

    def test_resolved_and_new_episode(self) -> None:
        first = plan([alert()], {}, T0)
        fp = alert().fingerprint
        healed = plan(
            [], first.states, T0 + timedelta(hours=2, minutes=13), healthy=[fp, "unknown"]
        )
        (notice,) = healed.resolved
        assert notice.title == "auroc" and notice.fired_for_seconds == 2 * 3600 + 13 * 60
        assert not healed.states[fp].firing
        assert plan([], healed.states, T0 + timedelta(hours=3), healthy=[fp]).resolved == []
        again = plan([alert()], healed.states, T0 + timedelta(hours=4))
        assert len(again.to_send) == 1 and again.states[fp].first_seen == T0 + timedelta(hours=4)


def test_pipeline_groups_dedups_and_resolves(
    webhook_server: LocalWebhookServer, tmp_path: Path
) -> None:
    client = SlackAlertClient(webhook_server.url, rate_limit_per_minute=100)
    pipeline = AlertPipeline(client, SqliteStateStore(tmp_path / "state.db"))
    batch = [
        alert(f"model-{m}", f"f{i}", "critical" if i == 0 else "warning")
        for m in range(3)
        for i in range(10)
    ]
    first = pipeline.submit(batch)
    assert len(first.messages) == 3 and len(first.delivered) == 30 and first.accounted == 30
    payloads = webhook_server.payloads()
    assert all(problems(p) == [] for p in payloads)
    assert all(
        "10 alerts for model-" in p["text"] and "1 critical, 9 warning" in p["text"]
        for p in payloads
    )
    second = pipeline.submit(batch)
    assert second.messages == [] and len(second.deduplicated) == 30
    stored = SqliteStateStore(tmp_path / "state.db").read(client.receiver.key, "model-0")
    assert stored.states[batch[0].fingerprint].count == 2
    healed = pipeline.submit([], healthy={"model-0": [a.fingerprint for a in batch[:10]]})
    assert healed.resolved == 10 and len(webhook_server.payloads()) == 4
    resolved = webhook_server.payloads()[-1]
    assert resolved["attachments"][0]["color"] == SeverityLevel.INFO.to_color()
    assert "Resolved: 10 alerts" in str(resolved)


def test_two_processes_never_lose_counts(
    webhook_server: LocalWebhookServer, tmp_path: Path
) -> None:
    state = tmp_path / "shared.db"
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from slack_alerts import DriftAlert, SlackAlertClient\n"
        "from slack_alerts.pipeline import AlertPipeline\n"
        "from slack_alerts.sqlstate import SqliteStateStore\n"
        f"client = SlackAlertClient({webhook_server.url!r})\n"
        f"pipeline = AlertPipeline(client, SqliteStateStore({str(state)!r}))\n"
        "alert = DriftAlert(model_id='shared', model_name='shared', metric='auroc',"
        " current_value=0.7, baseline_value=0.8, threshold=0.05,"
        " timestamp=datetime(2026, 1, 1, tzinfo=UTC))\n"
        "for _ in range(40):\n"
        "    pipeline.submit([alert])\n"
    )
    workers = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT) for _ in range(2)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0]
    fingerprint = alert("shared").fingerprint
    key = SlackAlertClient(webhook_server.url).receiver.key
    stored = SqliteStateStore(state).read(key, "shared").states[fingerprint]
    assert stored.count == 80  # every update of both processes counted
    assert len(webhook_server.payloads()) == 1  # and the alert was posted once


def test_storm_accounting(tmp_path: Path) -> None:
    from benchmarks.storm import run_storm

    report = run_storm(1000, 10, tmp_path)
    assert report.accounted == 1000  # delivered in a digest, or deduplicated with a count
    assert (
        report.delivered == 50 and report.deduplicated == 950
    )  # 10 models x 5 problems, once each
    assert report.messages_posted == 10  # one digest per model, never a flood
    assert report.responses_429 > 0  # the server pushed back, and the client waited it out
    assert report.rate_limited == report.undelivered == 0


def test_prefect_store_two_processes_never_lose_counts(
    prefect_env: dict[str, str], webhook_server: LocalWebhookServer
) -> None:
    """The flows' shared state: one log per group in Variables, under the group's lock."""
    import uuid

    model = f"shared-{uuid.uuid4().hex[:6]}"
    per_process = 6
    code = (
        "from datetime import UTC, datetime\n"
        "from slack_alerts import DriftAlert, SlackAlertClient\n"
        "from slack_alerts.pipeline import AlertPipeline\n"
        "from flows.backend.controlplane import ControlPlane\n"
        "from flows.backend.state import PrefectStateStore\n"
        f"client = SlackAlertClient({webhook_server.url!r})\n"
        "pipeline = AlertPipeline(client, PrefectStateStore(ControlPlane()))\n"
        f"alert = DriftAlert(model_id={model!r}, model_name='m', metric='auroc', current_value=0.7,"
        " baseline_value=0.8, threshold=0.05, timestamp=datetime(2026, 1, 1, tzinfo=UTC))\n"
        f"for _ in range({per_process}):\n"
        "    pipeline.submit([alert])\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=prefect_env) for _ in range(2)
    ]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    from flows.backend.controlplane import ControlPlane
    from flows.backend.state import PrefectStateStore

    key = SlackAlertClient(webhook_server.url).receiver.key
    log = PrefectStateStore(ControlPlane()).read(key, model)
    assert log.states[alert(model).fingerprint].count == 2 * per_process  # no update lost
    assert len(webhook_server.payloads()) == 1  # posted once, then deduplicated


def test_a_skewed_clock_is_warned_about(webhook_server: LocalWebhookServer, tmp_path: Path) -> None:
    import sqlite3

    client = SlackAlertClient(webhook_server.url)
    pipeline = AlertPipeline(client, SqliteStateStore(tmp_path / "state.db"))
    assert pipeline.submit([alert("skewed")]).delivered
    ahead = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with sqlite3.connect(tmp_path / "state.db") as connection:
        connection.execute("UPDATE slack_alerts_group_state SET updated_at = ?", (ahead,))
    outcome = pipeline.submit([alert("skewed", metric="other")])
    assert any("clock skew" in note and "NTP" in note for note in outcome.notes)
