"""Blocks, tasks, limits, hooks and events against a real Prefect API (the test harness)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from blocks import SlackAlertsRouter, SlackAlertsWebhook
from flows import (
    PermanentDeliveryError,
    send_alert,
    send_drift_alert,
    send_safety_event,
    slack_failure_hook,
)
from flows.backend.controlplane import ControlPlane
from flows.backend.limits import limit_key, limit_names
from flows.backend.state import PrefectStateStore
from flows.routing import receiver_for
from slack_alerts import DeliveryStatus, SafetyEvent, read_outbox
from slack_alerts.testing import LocalWebhookServer, ScriptedResponse
from tests.blockkit import problems
from tests.factories import block_for, drift, unique

pytestmark = pytest.mark.usefixtures("prefect_api")

FAST = dict(retry_delay_seconds=0.01, retry_jitter_factor=None)


def pending(block: SlackAlertsWebhook, model_id: str) -> int:
    """Alerts held back for ``model_id`` at ``block``, on the Prefect server."""
    return PrefectStateStore(ControlPlane()).pending_suppressed(receiver_for(block).key, model_id)


class TestBlock:
    def test_save_load_and_masking(self, webhook_server: LocalWebhookServer) -> None:
        name = unique("hook")
        block_for(webhook_server, channel="#ml", rate_limit_per_minute=7).save(name)
        loaded = SlackAlertsWebhook.load(name)
        assert loaded.webhook_url.get_secret_value() == webhook_server.url
        assert loaded.channel == "#ml" and loaded.rate_limit_per_minute == 7
        secret = webhook_server.path.rsplit("/", 1)[1]
        for shown in (
            repr(loaded),
            str(loaded),
            str(loaded.model_dump()),
            loaded.model_dump_json(),
        ):
            assert secret not in shown
        with get_client(sync_client=True) as client:
            doc = client.read_block_document_by_name(
                name, "slack-alerts-webhook", include_secrets=False
            )
        assert secret not in str(doc.data) and doc.data["webhook_url"].startswith("*")

    def test_block_type_metadata_and_descriptions(self) -> None:
        schema = SlackAlertsWebhook.model_json_schema()
        for field, spec in schema["properties"].items():
            assert spec.get("description"), f"{field} has no description"
            assert spec.get("title"), f"{field} has no title"
        assert SlackAlertsWebhook.get_block_type_slug() == "slack-alerts-webhook"
        assert "notify" in SlackAlertsWebhook.get_block_capabilities()

    def test_registration_with_cli(self, prefect_env: dict[str, str]) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "prefect", "block", "register", "-m", "blocks"],
            env=prefect_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        with get_client(sync_client=True) as client:
            slugs = {bt.slug for bt in client.read_block_types()}
        assert {"slack-alerts-webhook", "slack-alerts-router"} <= slugs

    def test_from_slack_webhook(self, webhook_server: LocalWebhookServer) -> None:
        from prefect.blocks.notifications import SlackWebhook

        name = unique("prefect-slack")
        SlackWebhook(url=webhook_server.url).save(name)  # type: ignore[arg-type]
        ours = SlackAlertsWebhook.from_slack_webhook(name, channel="#x")
        assert ours.webhook_url.get_secret_value() == webhook_server.url and ours.channel == "#x"

    def test_notify(self, webhook_server: LocalWebhookServer) -> None:
        from prefect.blocks.abstract import NotificationError

        block = block_for(webhook_server)
        asyncio.run(block.notify("Flow <!channel> failed", subject="Automation"))
        (payload,) = webhook_server.payloads()
        assert problems(payload) == [] and "Automation" in payload["text"]
        webhook_server.default = ScriptedResponse(403, "invalid_token")
        asyncio.run(block.notify("quietly fails"))  # no raise by default
        with pytest.raises(NotificationError), block.raise_on_failure():
            asyncio.run(block.notify("loudly fails"))

    def test_bad_values_named(self) -> None:
        from pydantic import ValidationError

        with pytest.raises(ValidationError) as err:
            SlackAlertsWebhook(webhook_url="ftp://x/SECRET", rate_limit_per_minute=0)  # type: ignore[arg-type]
        text = str(err.value)
        assert "webhook_url" in text and "rate_limit_per_minute" in text and "SECRET" not in text


class TestRouting:
    def test_by_kind_and_min_severity(self) -> None:
        with LocalWebhookServer() as ml, LocalWebhookServer(secret="SECURITY") as security:
            router = SlackAlertsRouter(
                default=block_for(ml),
                safety=SlackAlertsWebhook(webhook_url=security.url, min_severity="critical"),  # type: ignore[arg-type]
            )
            name = unique("router")
            router.save(name)

            @flow
            def send_three() -> None:
                send_safety_event(
                    SafetyEvent(event_type="x", model_id=unique(), severity="critical"), name
                )
                send_safety_event(
                    SafetyEvent(event_type="y", model_id=unique(), severity="warning"), name
                )
                send_drift_alert(drift(unique()), name)

            send_three()
            assert len(security.payloads()) == 1 and len(ml.payloads()) == 2


class TestTasks:
    def test_5xx_then_success_three_attempts(self, webhook_server: LocalWebhookServer) -> None:
        webhook_server.script([ScriptedResponse(500, "a"), ScriptedResponse(502, "b")])
        task = send_drift_alert.with_options(**FAST)

        @flow
        def f() -> Any:
            return task(drift(unique()), block_for(webhook_server), return_state=True)

        state = f()
        assert state.is_completed()
        result = state.result()
        assert result.status is DeliveryStatus.SENT
        assert len(webhook_server.requests) == 3  # Prefect retried twice; the client never looped
        with get_client(sync_client=True) as client:
            run = client.read_task_run(state.state_details.task_run_id)
        assert run.run_count == 3

    def test_permanent_error_one_attempt(self, webhook_server: LocalWebhookServer) -> None:
        webhook_server.default = ScriptedResponse(404, "channel_not_found")
        task = send_drift_alert.with_options(**FAST)

        @flow
        def f() -> Any:
            # A delivery failure must not crash the flow: it inspects the state.
            state = task(drift(unique()), block_for(webhook_server), return_state=True)
            assert state.is_failed()
            return state.result(raise_on_failure=False)

        error = f()
        assert isinstance(error, PermanentDeliveryError)
        assert error.result.error == "channel_not_found"
        assert len(webhook_server.requests) == 1

    def test_transient_exhausts_prefect_retries(self, webhook_server: LocalWebhookServer) -> None:
        webhook_server.default = ScriptedResponse(503, "down")
        task = send_alert.with_options(**FAST)

        @flow
        def f() -> bool:
            return task(drift(unique()), block_for(webhook_server), return_state=True).is_failed()

        assert f() is True
        assert len(webhook_server.requests) == 4  # 1 + 3 Prefect retries, never 16

    def test_preview_when_no_webhook(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SLACK_ALERTS_OUTBOX", str(tmp_path))

        @flow
        def f() -> Any:
            return send_alert(drift(unique()))

        result = f()
        assert result.ok and result.location
        assert len(read_outbox(tmp_path)) == 1

    def test_limits_created_with_block_settings(self, webhook_server: LocalWebhookServer) -> None:
        model_id = "team/a%b&c<d>e " + uuid.uuid4().hex[:6]

        @flow
        def f() -> Any:
            block = block_for(webhook_server, rate_limit_per_minute=30, burst=4)
            return send_alert(drift(model_id), block)

        assert f().ok
        key = receiver_for(block_for(webhook_server)).key
        names = limit_names(key, model_id, 30, 4)
        assert not set("/%&<>") & set(names.rate + names.lock)
        with get_client(sync_client=True) as client:
            rate = client.read_global_concurrency_limit_by_name(names.rate)
            lock = client.read_global_concurrency_limit_by_name(names.lock)
        assert rate.limit == 4 and rate.slot_decay_per_second == pytest.approx(0.5)
        assert lock.limit == 1 and not lock.slot_decay_per_second and lock.active_slots == 0
        assert limit_key("a/b") != limit_key("a-b")


class TestNoDrops:
    def test_rate_limited_alerts_are_counted_and_reported(
        self, webhook_server: LocalWebhookServer
    ) -> None:
        model_id = unique()
        block = block_for(
            webhook_server, rate_limit_per_minute=1, burst=1, rate_limit_wait_seconds=0.3
        )

        @flow
        def f() -> list[Any]:
            results = [send_alert(drift(model_id, metric=f"m{i}"), block) for i in range(3)]
            # CRITICAL bypasses the rate limit and carries the count.
            results.append(send_alert(drift(model_id, severity="critical"), block))
            return results

        results = f()
        assert [r.status for r in results] == [
            DeliveryStatus.SENT,
            DeliveryStatus.RATE_LIMITED,
            DeliveryStatus.RATE_LIMITED,
            DeliveryStatus.SENT,
        ]
        payloads = webhook_server.payloads()
        assert len(payloads) == 2
        assert "2 more alerts suppressed since" in payloads[-1]["text"]
        assert pending(block, model_id) == 0

    def test_count_survives_failed_delivery(self, webhook_server: LocalWebhookServer) -> None:
        model_id = unique()
        block = block_for(
            webhook_server, rate_limit_per_minute=1, burst=1, rate_limit_wait_seconds=0.2
        )
        task = send_alert.with_options(**FAST)

        @flow
        def f() -> bool:
            task(drift(model_id, metric="a"), block)
            task(drift(model_id, metric="b"), block)  # held back, counted
            task(drift(model_id, metric="c"), block)  # held back, counted
            webhook_server.default = ScriptedResponse(404, "channel_not_found")
            alert = drift(model_id, severity="critical")
            return task(alert, block, return_state=True).is_failed()

        assert f() is True
        assert pending(block, model_id) == 2  # the failed message did not take the count
        webhook_server.default = ScriptedResponse()

        @flow
        def g() -> None:
            task(drift(model_id, metric="d", severity="critical"), block)

        g()
        assert "2 more alerts suppressed since" in webhook_server.payloads()[-1]["text"]
        assert pending(block, model_id) == 0


class TestIdempotency:
    def test_flow_retry_does_not_resend(self, webhook_server: LocalWebhookServer) -> None:
        alert = drift(unique())
        block = block_for(webhook_server)
        attempts: list[int] = []

        @flow(retries=1, retry_delay_seconds=0)
        def flaky() -> None:
            send_drift_alert(alert, block)
            attempts.append(1)
            if len(attempts) == 1:
                raise RuntimeError("downstream step failed")

        flaky()
        assert len(attempts) == 2
        assert len(webhook_server.payloads()) == 1

    def test_different_tasks_same_alert_share_the_key(
        self, webhook_server: LocalWebhookServer
    ) -> None:
        alert = drift(unique())
        block = block_for(webhook_server)

        @flow
        def twice() -> None:
            send_drift_alert(alert, block)
            send_alert(alert, block)

        twice()
        twice()  # a re-run of the same work
        assert len(webhook_server.payloads()) == 1

    def test_new_occurrence_is_sent(self, webhook_server: LocalWebhookServer) -> None:
        model_id = unique()
        block = block_for(webhook_server)

        @flow
        def f(ts: str) -> None:
            send_drift_alert(drift(model_id, timestamp=ts), block)

        f("2026-11-29T10:00:00Z")
        f("2026-11-29T11:00:00Z")
        assert len(webhook_server.payloads()) == 2


class TestFailureHook:
    def test_failing_flow_notifies_and_stays_failed(
        self, webhook_server: LocalWebhookServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from prefect.settings import PREFECT_UI_URL, temporary_settings

        hook = slack_failure_hook(block_for(webhook_server))

        @flow(name="nightly-scoring", on_failure=[hook], on_crashed=[hook])
        def nightly(model_id: str) -> None:
            raise ValueError("feature store unreachable")

        with temporary_settings({PREFECT_UI_URL: "http://prefect.example/"}):
            state = nightly("sepsis-v3", return_state=True)
        assert state.is_failed()
        (payload,) = webhook_server.payloads()
        text = str(payload)
        assert problems(payload) == []
        assert (
            "nightly-scoring" in text
            and "ValueError" in text
            and "feature store unreachable" in text
        )
        assert f"http://prefect.example/runs/flow-run/{state.state_details.flow_run_id}" in text
        assert "sepsis-v3" in text  # the run's model_id parameter names the model

    def test_broken_webhook_never_changes_state(self) -> None:
        hook = slack_failure_hook(
            SlackAlertsWebhook(webhook_url="http://127.0.0.1:9/services/T/B/x")
        )  # type: ignore[arg-type]

        @flow(on_failure=[hook])
        def boom() -> None:
            raise KeyError("x")

        state = boom(return_state=True)
        assert state.is_failed()
        with pytest.raises(KeyError):
            state.result()

    def test_task_hook(self, webhook_server: LocalWebhookServer) -> None:
        from prefect import task

        @task(on_failure=[slack_failure_hook(block_for(webhook_server), severity="warning")])
        def step() -> None:
            raise RuntimeError("bad batch")

        @flow
        def f() -> bool:
            return step(return_state=True).is_failed()

        assert f() is True
        (payload,) = webhook_server.payloads()
        assert "task_run_failed" in str(payload) and "RuntimeError" in str(payload)


class TestEvents:
    def test_sent_suppressed_failed(
        self, asserting_events_worker: Any, webhook_server: LocalWebhookServer
    ) -> None:
        from prefect.events.clients import AssertingEventsClient

        model_id = unique()
        block = block_for(
            webhook_server, rate_limit_per_minute=1, burst=1, rate_limit_wait_seconds=0.2
        )
        task = send_alert.with_options(retries=0)

        @flow
        def f() -> None:
            task(drift(model_id), block)
            task(drift(model_id, metric="psi"), block)
            webhook_server.default = ScriptedResponse(404, "no_service")
            task(drift(model_id, metric="x", severity="critical"), block, return_state=True)

        f()
        asserting_events_worker.drain()
        client = asserting_events_worker._client
        assert isinstance(client, AssertingEventsClient)
        ours = [e for e in client.events if e.event.startswith("slack_alerts.alert.")]
        assert [e.event for e in ours] == [
            "slack_alerts.alert.sent",
            "slack_alerts.alert.suppressed",
            "slack_alerts.alert.failed",
        ]
        for event in ours:
            assert event.resource.id == f"slack-alerts.model.{limit_key(model_id)}"
            assert event.payload["fingerprint"] and event.payload["severity"]


@pytest.mark.slow
def test_rate_limit_holds_across_two_processes(
    webhook_server: LocalWebhookServer, prefect_env: dict[str, str]
) -> None:
    import json
    import time

    rate_per_minute, burst, per_process = 60, 2, 6
    name = unique("shared")
    block_for(
        webhook_server,
        rate_limit_per_minute=rate_per_minute,
        burst=burst,
        rate_limit_wait_seconds=1.5,
    ).save(name)
    model_id = unique("shared-model")
    root = Path(__file__).resolve().parents[2]
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.flows.two_process_sender",
                name,
                model_id,
                str(per_process),
                label,
            ],
            cwd=root,
            env=prefect_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for label in ("a", "b")
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outputs)
    statuses = [
        s for out in outputs for s in json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    ]
    delivered = webhook_server.delivered()
    assert len(statuses) == 2 * per_process
    assert statuses.count("sent") == len(delivered)

    # The limit held across both processes: a bucket of `burst` refilled at 1/s
    # never lets more than burst + 1 through in any one second.
    assert webhook_server.max_in_window(1.0) <= burst + 1
    span = max(r.at for r in delivered) - min(r.at for r in delivered)
    assert len(delivered) <= burst + span * rate_per_minute / 60 + 1
    # Nothing lost: every rate-limited alert is reported in a later message or still pending.
    reported = webhook_server.reported_suppressed()
    held = PrefectStateStore(ControlPlane()).pending_suppressed(f"block:{name}", model_id)
    assert reported + held == statuses.count("rate_limited")
    sent, limited = statuses.count("sent"), statuses.count("rate_limited")
    print(
        f"two processes: {sent} sent, {limited} rate-limited ({reported} reported, "
        f"{held} pending) in {time.monotonic() - started:.1f}s"
    )
