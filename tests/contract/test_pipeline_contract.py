"""One contract for the pipeline, run over both backends, as Alertmanager's notify tests.

- ``embedded``: SQLite state, in-process limits (what the core client uses);
- ``postgresql``: state in a real PostgreSQL database (advisory locks);
- ``prefect``: state in Prefect Variables under a lock with a lease, limits
  as global concurrency limits, on a real Prefect API (the test harness).

The ordering rules are part of the contract: durable first, fail open,
success is Slack's acknowledgement, refused messages become dead letters,
and a failure after a delivered post is never reported as a failure.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from slack_alerts import (
    AlertStatus,
    DeliveryResult,
    DeliveryStatus,
    DurableOutbox,
    InProcessGate,
    KindRouter,
    Receiver,
    ReceiverSettings,
    RetryPolicy,
    SeverityLevel,
    WebhookSender,
)
from slack_alerts.delivery import MessageRef
from slack_alerts.gate import Gate
from slack_alerts.notify.preview import PreviewSink
from slack_alerts.pipeline import AlertPipeline
from slack_alerts.routing import Route, Router
from slack_alerts.silences import Silence, SilenceStore
from slack_alerts.sqlstate import SqliteStateStore, SqlStateStore
from slack_alerts.state import StateSession, StateStore, StateUnavailable
from slack_alerts.testing import LocalWebhookServer, ScriptedResponse
from tests.blockkit import problems
from tests.factories import drift, unique, violation

FAST = RetryPolicy(max_retries=0, backoff_factor=0.01, max_rate_limit_waits=1)


@dataclass
class Backend:
    name: str
    store: StateStore
    gate: Gate
    broken_store: StateStore  # same kind, but its backend cannot be reached
    silences: SilenceStore | None = None


@pytest.fixture(params=["embedded", "postgresql", "prefect"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    from sqlalchemy import create_engine

    if request.param == "embedded":
        broken = SqliteStateStore(tmp_path / "gone" / "broken.sqlite3")
        broken.engine.dispose()
        shutil.rmtree(tmp_path / "gone")  # SQLite cannot open a file in a missing folder
        embedded = SqliteStateStore(tmp_path / "state.sqlite3")
        yield Backend("embedded", embedded, InProcessGate(), broken, embedded)
        return
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        store, unreachable = SqlStateStore(url), SqlStateStore(url)
        unreachable.engine = create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:9/none", connect_args={"connect_timeout": 2}
        )
        yield Backend("postgresql", store, InProcessGate(), unreachable, store)
        store.engine.dispose()
        return
    request.getfixturevalue("prefect_api")
    from flows.backend.controlplane import ControlPlane
    from flows.backend.gate import PrefectGate
    from flows.backend.state import PrefectStateStore

    control = ControlPlane(timeout_seconds=10)
    dead = ControlPlane(timeout_seconds=3, api_url="http://127.0.0.1:9/api")
    from flows.backend.silences import PrefectSilenceStore

    yield Backend(
        "prefect",
        PrefectStateStore(control),
        PrefectGate(control),
        PrefectStateStore(dead),
        PrefectSilenceStore(control),
    )


def receiver(
    server: LocalWebhookServer | None, *, name: str | None = None, **settings: Any
) -> Receiver:
    """A receiver with a fresh key (so tests never share state on the shared Prefect API)."""
    notifier: Any = (
        WebhookSender(server.url, timeout_seconds=2, retry_policy=FAST)
        if server is not None
        else PreviewSink()
    )
    return Receiver(
        key=unique("receiver"),
        name=name or "test",
        notifier=notifier,
        settings=ReceiverSettings(**{"rate_limit_per_minute": 600, **settings}),
    )


def pipeline(
    backend: Backend,
    router: Router | Receiver,
    outbox: DurableOutbox,
    store: StateStore | None = None,
    **kw: Any,
) -> AlertPipeline:
    return AlertPipeline(
        router,
        store or backend.store,
        gate=backend.gate,
        outbox=outbox,
        silences=backend.silences,
        lock_wait_seconds=10,
        **kw,
    )


@pytest.fixture
def outbox(tmp_path: Path) -> DurableOutbox:
    return DurableOutbox(tmp_path / "undelivered")


def test_groups_dedups_and_resolves(
    backend: Backend, webhook_server: LocalWebhookServer, outbox: DurableOutbox
) -> None:
    run = pipeline(backend, receiver(webhook_server), outbox)
    models = [unique() for _ in range(2)]
    batch = [
        drift(model, metric=f"f{i}", severity="critical" if i == 0 else "warning")
        for model in models
        for i in range(5)
    ]
    first = run.submit(batch)
    assert len(first.delivered) == 10 and len(first.messages) == 2
    payloads = webhook_server.payloads()
    assert all(problems(p) == [] for p in payloads)
    assert all(
        "5 alerts for" in p["text"] and "1 critical, 4 warning" in p["text"] for p in payloads
    )
    again = run.submit(batch)
    assert again.messages == [] and len(again.deduplicated) == 10
    healed = run.submit([], healthy={models[0]: [a.fingerprint for a in batch[:5]]})
    assert healed.resolved == 5 and len(webhook_server.payloads()) == 3
    assert "Resolved: 5 alerts" in str(webhook_server.payloads()[-1])
    assert outbox.pending() == [] and outbox.dead_letters() == []


def test_dedup_is_per_destination(
    backend: Backend,
    webhook_server: LocalWebhookServer,
    outbox: DurableOutbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_ALERTS_OUTBOX", str(tmp_path / "preview"))
    alert = drift(unique())
    trial = pipeline(backend, receiver(None, name="preview"), outbox).submit([alert])
    assert trial.delivered == [alert.fingerprint]
    real = pipeline(backend, receiver(webhook_server, name="slack"), outbox).submit([alert])
    # Firing in the preview does not make it "already firing" in Slack.
    assert real.delivered == [alert.fingerprint] and len(webhook_server.payloads()) == 1


def test_each_alert_is_routed_before_grouping(backend: Backend, outbox: DurableOutbox) -> None:
    with LocalWebhookServer() as oncall, LocalWebhookServer(secret="DEFAULT") as channel:
        critical_only = receiver(oncall, name="oncall")
        router = KindRouter(
            receiver(channel, name="channel"),
            {"drift": Route(critical_only, min_severity="critical")},  # type: ignore[arg-type]
        )
        model = unique()
        batch = [drift(model, metric="auroc", severity="critical")] + [
            drift(model, metric=f"feature:f{i}", severity="warning") for i in range(3)
        ]
        outcome = pipeline(backend, router, outbox).submit(batch)
        assert len(outcome.delivered) == 4
        (page,) = oncall.payloads()
        (digest,) = channel.payloads()
        assert "auroc" in str(page) and "feature:f0" not in str(page)
        assert "3 alerts for" in digest["text"] and "auroc" not in str(digest)


def test_rate_limited_alerts_are_counted_into_the_next_message(
    backend: Backend, webhook_server: LocalWebhookServer, outbox: DurableOutbox
) -> None:
    slow = receiver(webhook_server, rate_limit_per_minute=1, burst=1, rate_limit_wait_seconds=0)
    run = pipeline(backend, slow, outbox)
    model = unique()
    assert run.submit([drift(model, metric="a")]).delivered
    held = run.submit([drift(model, metric="b"), drift(model, metric="c")])
    assert len(held.rate_limited) == 2 and held.messages == []
    assert outbox.pending() == []  # counted in the state: accounted for
    page = run.submit([drift(model, metric="d", severity="critical")])  # CRITICAL bypasses
    assert (
        page.delivered and "2 more alerts suppressed since" in webhook_server.payloads()[-1]["text"]
    )


class SpyStore:
    """Asserts the alerts are in the outbox before the first control-plane call."""

    def __init__(self, inner: StateStore, outbox: DurableOutbox) -> None:
        self.inner, self.outbox, self.calls = inner, outbox, 0

    def open(self, receiver: str, model_id: str, *, wait_seconds: float) -> StateSession:
        self.calls += 1
        assert any(r.model_id == model_id for r in self.outbox.pending()), "not durable first"
        return self.inner.open(receiver, model_id, wait_seconds=wait_seconds)


def test_durable_first(
    backend: Backend, webhook_server: LocalWebhookServer, outbox: DurableOutbox
) -> None:
    spy = SpyStore(backend.store, outbox)
    outcome = pipeline(backend, receiver(webhook_server), outbox, store=spy).submit(
        [drift(unique())]
    )
    assert spy.calls == 1 and outcome.delivered
    assert outbox.pending() == []  # delivered: removed


def test_fails_open_when_the_state_is_unreachable(
    backend: Backend, webhook_server: LocalWebhookServer, outbox: DurableOutbox
) -> None:
    run = pipeline(backend, receiver(webhook_server), outbox, store=backend.broken_store)
    alert = drift(unique())
    outcome = run.submit([alert])
    assert outcome.delivered == [alert.fingerprint]  # sent: a possible duplicate, never a loss
    assert any("sending without dedup" in note for note in outcome.notes)
    assert len(webhook_server.payloads()) == 1 and outbox.pending() == []


class _GoneAfterTheLock:
    """The backend's store, whose API stops answering once a group's lock is taken:
    reading the log and releasing the lock both fail (the lock is released for real
    first, so later tests are not blocked)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def open(self, receiver: str, model_id: str, *, wait_seconds: float) -> StateSession:
        real = self.store.open(receiver, model_id, wait_seconds=wait_seconds)
        return _GoneSession(real)


class _GoneSession:
    def __init__(self, real: StateSession) -> None:
        self.real = real

    def load(self) -> Any:
        raise StateUnavailable("reading the alert state: no answer")

    def save(self, log: Any) -> None:
        raise StateUnavailable("saving the alert state: no answer")

    def close(self) -> None:
        self.real.close()
        raise StateUnavailable("releasing a lease: no answer")


def test_fails_open_when_the_state_goes_away_after_the_lock(
    backend: Backend, webhook_server: LocalWebhookServer, outbox: DurableOutbox
) -> None:
    run = pipeline(
        backend, receiver(webhook_server), outbox, store=_GoneAfterTheLock(backend.store)
    )
    alert = drift(unique())
    outcome = run.submit([alert])
    assert outcome.delivered == [alert.fingerprint]  # a failed release is a note, not a failure
    assert any("sending without dedup" in note for note in outcome.notes)
    assert any("state lock release failed" in note for note in outcome.notes)
    assert len(webhook_server.payloads()) == 1 and outbox.pending() == []


def test_a_taken_lock_keeps_the_alerts_for_replay(
    backend: Backend, webhook_server: LocalWebhookServer, outbox: DurableOutbox
) -> None:
    target = receiver(webhook_server)
    model = unique()
    held = backend.store.open(target.key, model, wait_seconds=10)
    try:
        run = AlertPipeline(
            target, backend.store, gate=backend.gate, outbox=outbox, lock_wait_seconds=1
        )
        outcome = run.submit([drift(model)])
    finally:
        held.close()
    assert outcome.count(AlertStatus.KEPT) == 1 and webhook_server.payloads() == []
    (record,) = outbox.pending()
    assert record.error and "held this model's state" in record.error
    replayed = run.replay()
    assert replayed.count(AlertStatus.SENT) == 1 and outbox.pending() == []


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (ScriptedResponse(200, "invalid_payload"), AlertStatus.FAILED_PERMANENT),
        (
            ScriptedResponse(200, "<html><body>Sign in to the proxy</body></html>"),
            AlertStatus.FAILED_TRANSIENT,
        ),
        (ScriptedResponse(200, ""), AlertStatus.FAILED_TRANSIENT),
    ],
)
def test_success_is_slacks_acknowledgement(
    backend: Backend,
    webhook_server: LocalWebhookServer,
    outbox: DurableOutbox,
    answer: ScriptedResponse,
    status: AlertStatus,
) -> None:
    webhook_server.default = answer
    outcome = pipeline(backend, receiver(webhook_server), outbox).submit([drift(unique())])
    (result,) = outcome.alerts
    assert result.status is status and outcome.delivered == []
    kept = outbox.dead_letters() if status is AlertStatus.FAILED_PERMANENT else outbox.pending()
    assert len(kept) == 1 and kept[0].error


def test_a_poisoned_record_never_blocks_replay(
    backend: Backend, webhook_server: LocalWebhookServer, outbox: DurableOutbox
) -> None:
    target = receiver(webhook_server)
    run = pipeline(backend, target, outbox)
    webhook_server.default = ScriptedResponse(503, "down")
    for metric in ("first", "second", "third"):
        run.submit([drift(unique(), metric=metric)])
    assert len(outbox.pending()) == 3
    webhook_server.reset()
    webhook_server.default = ScriptedResponse()
    webhook_server.script([ScriptedResponse(400, "invalid_blocks")])  # the oldest is refused
    replayed = run.replay()
    assert replayed.count(AlertStatus.FAILED_PERMANENT) == 1
    assert replayed.count(AlertStatus.SENT) == 2
    assert outbox.pending() == [] and len(outbox.dead_letters()) == 1
    (dead,) = outbox.dead_letters()
    assert "invalid_blocks" in dead.reason and dead.alerts[0]["metric"] == "first"


def test_a_failing_destination_stops_only_itself_in_replay(
    backend: Backend, outbox: DurableOutbox
) -> None:
    with LocalWebhookServer() as down, LocalWebhookServer(secret="UP") as up:
        router = KindRouter(receiver(up, name="up"), {"drift": Route(receiver(down, name="down"))})
        run = pipeline(backend, router, outbox)
        down.default = up.default = ScriptedResponse(503, "down")
        run.submit([drift(unique())])
        run.submit([drift(unique())])
        run.submit([violation(unique())])
        assert len(outbox.pending()) == 3
        down.reset()
        up.default = ScriptedResponse()
        replayed = run.replay()
        # The failing destination was tried once, then skipped for the rest of the replay.
        assert len(down.requests) == 1 and replayed.count(AlertStatus.KEPT) == 1
        assert replayed.count(AlertStatus.FAILED_TRANSIENT) == 1
        assert replayed.count(AlertStatus.SENT) == 1 and len(up.payloads()) == 1
        assert len(outbox.pending()) == 2


class SaveFails:
    """A store whose saves fail after a successful post."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner

    def open(self, receiver: str, model_id: str, *, wait_seconds: float) -> StateSession:
        session = self.inner.open(receiver, model_id, wait_seconds=wait_seconds)

        class Session:
            def load(self) -> Any:
                return session.load()

            def save(self, log: Any) -> None:
                raise StateUnavailable("value too long")

            def close(self) -> None:
                session.close()

        return Session()


def test_a_failure_after_the_post_is_not_a_failure(
    backend: Backend, webhook_server: LocalWebhookServer, outbox: DurableOutbox
) -> None:
    run = pipeline(backend, receiver(webhook_server), outbox, store=SaveFails(backend.store))
    outcome = run.submit([drift(unique())])
    assert outcome.count(AlertStatus.SENT) == 1 and outcome.undelivered == []
    assert any("not saved" in note for note in outcome.notes)
    assert outbox.pending() == []  # never re-sent by replay
    assert len(webhook_server.payloads()) == 1


def test_repeat_after_the_interval(
    backend: Backend, webhook_server: LocalWebhookServer, outbox: DurableOutbox
) -> None:
    from datetime import UTC, datetime

    target = receiver(webhook_server, repeat_interval=timedelta(hours=4))
    run = pipeline(backend, target, outbox)
    alert = drift(unique())
    start = datetime.now(UTC)
    assert run.submit([alert], now=start).delivered
    assert run.submit([alert], now=start + timedelta(hours=1)).deduplicated
    assert run.submit([alert], now=start + timedelta(hours=5)).delivered  # a reminder
    assert len(webhook_server.payloads()) == 2


def test_silenced_alerts_are_counted_and_said_after_the_silence(
    backend: Backend, webhook_server: LocalWebhookServer, outbox: DurableOutbox
) -> None:
    from datetime import UTC, datetime

    assert backend.silences is not None
    run = pipeline(backend, receiver(webhook_server), outbox)
    model = unique()
    start = datetime.now(UTC)
    silence = backend.silences.add(
        Silence.lasting(
            timedelta(hours=4), created_by="U123", comment="known", now=start, model_id=model
        )
    )
    muted = run.submit([drift(model, metric="a"), drift(model, metric="b")], now=start)
    assert muted.count(AlertStatus.SILENCED) == 2 and webhook_server.payloads() == []
    assert outbox.pending() == []  # counted, so accounted for
    other = run.submit([drift(unique())], now=start)  # other models are not muted
    assert other.delivered
    backend.silences.expire(silence.id, now=start + timedelta(hours=1))
    later = run.submit([drift(model, metric="c")], now=start + timedelta(hours=2))
    assert later.delivered
    assert "2 alerts arrived under a silence" in str(webhook_server.payloads()[-1])


def test_acknowledged_alerts_stop_repeating_until_severity_changes(
    backend: Backend, webhook_server: LocalWebhookServer, outbox: DurableOutbox
) -> None:
    from datetime import UTC, datetime

    from slack_alerts.state import acknowledge

    target = receiver(webhook_server, repeat_interval=timedelta(hours=1))
    run = pipeline(backend, target, outbox)
    model, start = unique(), datetime.now(UTC)
    assert run.submit([drift(model)], now=start).delivered
    assert acknowledge(backend.store, target.key, model, "U42") == 1
    quiet = run.submit([drift(model)], now=start + timedelta(hours=3))  # past the repeat
    assert quiet.deduplicated and len(webhook_server.payloads()) == 1
    worse = run.submit([drift(model, severity="critical")], now=start + timedelta(hours=4))
    assert worse.delivered and len(webhook_server.payloads()) == 2


class RecordingEditor:
    """An in-memory notifier that can update messages and reply in threads."""

    destination = "recording editor"

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}
        self.replies: list[tuple[str, str]] = []

    def post(self, payload: dict[str, Any], meta: Any = None) -> DeliveryResult:
        ts = f"{len(self.messages) + 1}.000"
        self.messages[ts] = payload
        return DeliveryResult(DeliveryStatus.SENT, message_ref=MessageRef("C1", ts))

    def update(self, ref: MessageRef, payload: dict[str, Any], meta: Any = None) -> DeliveryResult:
        if ref.ts not in self.messages:
            return DeliveryResult(DeliveryStatus.FAILED_PERMANENT, error="message_not_found")
        self.messages[ref.ts] = payload
        return DeliveryResult(DeliveryStatus.SENT, message_ref=ref)

    def reply(self, ref: MessageRef, payload: dict[str, Any], meta: Any = None) -> DeliveryResult:
        self.replies.append((ref.ts, str(payload["text"])))
        return DeliveryResult(DeliveryStatus.SENT, message_ref=ref)

    def close(self) -> None:
        return None


def test_a_group_message_updates_in_place_and_turns_green(
    backend: Backend, outbox: DurableOutbox
) -> None:
    from datetime import UTC, datetime

    editor = RecordingEditor()
    target = Receiver(
        key=unique("receiver"),
        name="bot",
        notifier=editor,
        settings=ReceiverSettings(rate_limit_per_minute=600, update_message=True),
    )
    model, start = unique(), datetime(2026, 11, 30, 14, 2, tzinfo=UTC)
    first = pipeline(backend, target, outbox).submit([drift(model, metric="a")], now=start)
    assert first.delivered and list(editor.messages) == ["1.000"]
    # A restart: a new pipeline finds the message in the shared state.
    second = pipeline(backend, target, outbox).submit(
        [drift(model, metric="a"), drift(model, metric="b")], now=start + timedelta(minutes=5)
    )
    assert second.delivered == [drift(model, metric="b").fingerprint]
    assert list(editor.messages) == ["1.000"]  # updated in place, not posted again
    assert "2 alerts for" in editor.messages["1.000"]["text"]
    assert editor.replies and "1 new or repeating alert(s): b" in editor.replies[-1][1]
    healed = pipeline(backend, target, outbox).submit(
        [],
        healthy={model: [drift(model, metric=m).fingerprint for m in ("a", "b")]},
        now=start + timedelta(hours=2, minutes=13),
    )
    assert healed.resolved == 2 and list(editor.messages) == ["1.000"]
    green = editor.messages["1.000"]
    assert green["attachments"][0]["color"] == SeverityLevel.INFO.to_color()
    assert "Resolved after 2 h 13 min" in str(green) and "14:02 UTC" in str(green)
    assert editor.replies[-1] == ("1.000", "Resolved after 2 h 13 min.")


def test_a_bot_message_on_slack_updates_threads_and_survives_restarts(
    backend: Backend, outbox: DurableOutbox
) -> None:
    from datetime import UTC, datetime

    from slack_alerts.formatting import FormatOptions
    from slack_alerts.notify.slack_api import SlackApiNotifier
    from slack_alerts.testing_slack import FAKE_BOT_TOKEN, LocalSlackApi

    key, model = unique("receiver"), unique()
    start = datetime(2026, 11, 30, 14, 2, tzinfo=UTC)

    def worker(slack: LocalSlackApi, **settings: Any) -> AlertPipeline:
        """A fresh process's view: a new Web API client and pipeline, the shared state."""
        bot = SlackApiNotifier(
            FAKE_BOT_TOKEN, channel="#ml-alerts", base_url=slack.base_url, retry_policy=FAST
        )
        target = Receiver(
            key=key,
            name="bot",
            notifier=bot,
            options=FormatOptions(interaction_key=key),
            settings=ReceiverSettings(rate_limit_per_minute=600, update_message=True, **settings),
        )
        return pipeline(backend, target, outbox)

    with LocalSlackApi() as slack:
        assert worker(slack).submit([drift(model, metric="a")], now=start).delivered
        (message,) = slack.posted()
        labels = [
            e["text"]["text"]
            for b in message.payload["attachments"][0]["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
        ]
        assert labels[:3] == ["Acknowledge", "Silence 4 h", "Silence 24 h"]
        later = start + timedelta(minutes=5)
        both = [drift(model, metric="a"), drift(model, metric="b")]
        assert worker(slack).submit(both, now=later).delivered  # after a restart
        assert len(slack.posted()) == 1 and len(message.edits) == 1
        assert "2 alerts for" in message.current["text"]
        assert [r["text"] for r in message.replies] == ["1 new or repeating alert(s): b"]
        # Another restart between the last update and the resolution.
        healed = worker(slack).submit(
            [],
            healthy={model: [a.fingerprint for a in both]},
            now=start + timedelta(hours=2, minutes=13),
        )
        assert healed.resolved == 2 and len(slack.posted()) == 1
        green = message.current
        assert green["attachments"][0]["color"] == SeverityLevel.INFO.to_color()
        assert "Resolved after 2 h 13 min" in str(green) and "14:02 UTC" in str(green)
        assert message.replies[-1]["text"] == "Resolved after 2 h 13 min."
        # The next firing starts a new message; without thread replies none are posted.
        quiet = worker(slack, thread_replies=False)
        assert quiet.submit([drift(model, metric="c")], now=start + timedelta(hours=3)).delivered
        assert quiet.submit(
            [drift(model, metric="c"), drift(model, metric="d")], now=start + timedelta(hours=4)
        ).delivered
        first, second = slack.posted()
        assert len(second.edits) == 1 and second.replies == [] and len(first.replies) == 2
        # A message deleted in Slack is posted again, not lost.
        slack.messages.clear()
        again = worker(slack).submit([drift(model, metric="e")], now=start + timedelta(hours=5))
        assert again.delivered and len(slack.posted()) == 1
