"""Fault kinds found in the field, through the flows against a real Prefect API.

- a webhook URL given where a block name was expected works, and its secret
  appears nowhere (state, logs, events, results, the outbox, parameters);
- an edited block takes effect on the next send in the same process;
- a router routes each alert before grouping;
- a wrong block name keeps the alerts and fails the run visibly;
- a failing monitor tells Slack, with what to do;
- replay without a real destination refuses;
- ``from flows import slack_failure_hook`` loads no pandas or scipy.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from blocks import SlackAlertsRouter, SlackAlertsWebhook
from flows import drift_monitoring_flow, send_alert, slack_failure_hook
from flows.dispatch import (
    AlertsNotDelivered,
    fail_if_undelivered,
    send_alerts,
    undelivered_problem,
)
from slack_alerts import DurableOutbox
from slack_alerts.testing import LocalWebhookServer, ScriptedResponse
from tests.factories import drift, unique

pytestmark = pytest.mark.usefixtures("prefect_api")

ROOT = Path(__file__).resolve().parents[2]
CANARY = "CANARYtoken1234567890abcd"
FAST = dict(retry_delay_seconds=0.01, retry_jitter_factor=None)


def everything_written(*folders: Path) -> str:
    text = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                text.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(text)


class TestSecretGivenAsAName:
    def test_a_url_works_as_a_webhook(self) -> None:
        with LocalWebhookServer(secret=CANARY) as server:

            @flow
            def f() -> Any:
                return send_alert(drift(unique()), server.url)

            assert f().ok and len(server.payloads()) == 1
            hook = slack_failure_hook(server.url)

            @flow(on_failure=[hook])
            def broken() -> None:
                raise RuntimeError("scoring failed")

            assert broken(return_state=True).is_failed()
            assert len(server.payloads()) == 2 and "scoring failed" in str(server.payloads()[-1])

    def test_the_secret_appears_nowhere(
        self,
        caplog: pytest.LogCaptureFixture,
        asserting_events_worker: Any,
        capfd: pytest.CaptureFixture[str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from prefect.events.clients import AssertingEventsClient

        caplog.set_level(logging.DEBUG)
        undelivered = tmp_path / "undelivered"
        monkeypatch.setenv("SLACK_ALERTS_UNDELIVERED", str(undelivered))
        with LocalWebhookServer(secret=CANARY) as server:
            # An error page that echoes the request path, the webhook's secret.
            server.default = ScriptedResponse(404, f"Cannot POST {server.path}")
            task = send_alert.with_options(**FAST)

            @flow
            def f() -> tuple[str, Any, Any, Any]:
                state = task(drift(unique()), server.url, return_state=True)
                assert state.is_failed()
                error = state.result(raise_on_failure=False)
                details = state.state_details
                return str(state.message), error, details.task_run_id, details.flow_run_id

            # Task-run states travel as events (captured below), not as API writes.
            message, error, _, flow_run_id = f()
            with get_client(sync_client=True) as client:
                flow_run = client.read_flow_run(flow_run_id)
            asserting_events_worker.drain()
            events_client = asserting_events_worker._client
            assert isinstance(events_client, AssertingEventsClient)
            events = json.dumps([e.model_dump(mode="json") for e in events_client.events])
            report = drift_monitoring_flow(
                unique(),
                "m",
                ROOT / "data" / "sample" / "reference.csv",
                ROOT / "data" / "sample" / "current.csv",
                webhook=server.url,
                return_state=True,
            )
            with get_client(sync_client=True) as client:
                monitor_run = client.read_flow_run(report.state_details.flow_run_id)
        out, err = capfd.readouterr()
        sinks = {
            "task state": message,
            "exception": repr(error) + str(error),
            "flow run": flow_run.model_dump_json(),
            "monitor parameters": json.dumps(monitor_run.parameters),
            "logs": caplog.text,
            "process output": out + err,
            "events": events,
            "outbox": everything_written(undelivered),
        }
        assert "channel_not_found" not in sinks["outbox"]  # sanity: it is the 404 page
        assert "http_404" in sinks["exception"]
        leaks = [name for name, text in sinks.items() if CANARY in text]
        assert leaks == []

    @pytest.mark.parametrize(
        "where",
        ["reference", "encoding", "kinds", "thresholds"],
    )
    def test_a_secret_given_as_a_monitor_argument_is_nowhere(
        self, where: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A database URL or token passed where a file, an encoding, a column or a setting
        belongs: the run fails, and neither its stored state, its logs nor the failure
        message posted to Slack repeat it (pathlib turns "://" into ":/" on the way)."""
        caplog.set_level(logging.DEBUG)
        secret = f"postgresql://u:{CANARY}@db.example/prod"
        sample = ROOT / "data" / "sample"
        arguments: dict[str, Any] = {
            "reference": sample / "reference.csv",
            "current": sample / "current.csv",
        }
        if where == "reference":
            arguments["reference"] = secret
        elif where == "encoding":
            arguments["encoding"] = secret
        elif where == "kinds":
            arguments["kinds"] = {"age": secret}
        else:
            arguments["thresholds"] = {"psi_warning": secret}
        with LocalWebhookServer() as server:
            name = unique("hook")
            SlackAlertsWebhook(webhook_url=server.url).save(name)  # type: ignore[arg-type]
            state = drift_monitoring_flow(
                unique(), "m", webhook=name, return_state=True, **arguments
            )
            assert state.is_failed()
            with get_client(sync_client=True) as client:
                run = client.read_flow_run(state.state_details.flow_run_id)
            posted = json.dumps(server.payloads())
        error = state.result(raise_on_failure=False)
        sinks = {
            "state": str(state.message) + run.model_dump_json(),
            "exception": repr(error) + str(error),
            "logs": caplog.text,
            "slack": posted,
        }
        assert "flow_run_failed" in posted  # the failure was reported to Slack
        assert [name for name, text in sinks.items() if CANARY in text] == []

    def test_a_malformed_url_is_refused_without_echo(self) -> None:
        task = send_alert.with_options(**FAST)
        bad = f"https://hooks.slack.com/services/T0/B0/{CANARY} extra"

        @flow
        def f() -> tuple[bool, str, str]:
            state = task(drift(unique()), bad, return_state=True)
            error = str(state.result(raise_on_failure=False))
            return state.is_failed(), str(state.message), error

        failed, message, error = f()
        assert failed and CANARY not in message + error
        assert "not a valid http(s) webhook URL" in error


def test_an_edited_block_takes_effect_on_the_next_send() -> None:
    name = unique("rotated")
    with LocalWebhookServer() as old, LocalWebhookServer(secret="ROTATED") as new:
        SlackAlertsWebhook(webhook_url=old.url).save(name)  # type: ignore[arg-type]

        @flow
        def f(metric: str) -> None:
            send_alert(drift(unique(), metric=metric), name)

        f("before")
        SlackAlertsWebhook(webhook_url=new.url).save(name, overwrite=True)  # type: ignore[arg-type]
        f("after")  # same process, no restart
        assert len(old.payloads()) == 1 and len(new.payloads()) == 1
        assert "after" in str(new.payloads()[0])


def test_a_new_webhook_in_the_environment_gets_the_firing_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SLACK_WEBHOOK_URL pointed at another channel: the alert still firing is posted
    there, not held back as "already firing" by the first channel's log."""
    alert = drift(unique())
    with LocalWebhookServer() as first, LocalWebhookServer(secret="SECONDCHANNEL") as second:

        @flow
        def run() -> Any:
            return send_alerts([alert], None)

        monkeypatch.setenv("SLACK_WEBHOOK_URL", first.url)
        assert [o.status.value for o in run().alerts] == ["sent"]
        monkeypatch.setenv("SLACK_WEBHOOK_URL", second.url)
        assert [o.status.value for o in run().alerts] == ["sent"]
        assert len(first.payloads()) == 1 and len(second.payloads()) == 1


def test_a_router_routes_each_alert_before_grouping() -> None:
    name = unique("routes")
    with LocalWebhookServer() as channel, LocalWebhookServer(secret="ONCALL") as oncall:
        SlackAlertsRouter(
            default=SlackAlertsWebhook(webhook_url=channel.url),  # type: ignore[arg-type]
            drift=SlackAlertsWebhook(webhook_url=oncall.url, min_severity="critical"),  # type: ignore[arg-type]
        ).save(name)
        model = unique()
        batch = [drift(model, metric="psi-critical", severity="critical")] + [
            drift(model, metric=f"warn-{i}", severity="warning") for i in range(3)
        ]

        @flow
        def f() -> Any:
            return send_alerts(batch, name)

        sent = f()
        assert len(sent.alerts) == 4 and all(o.status == "sent" for o in sent.alerts)
        (page,) = oncall.payloads()
        (digest,) = channel.payloads()
        assert "psi-critical" in str(page) and "warn-0" not in str(page)
        assert "3 alerts for" in digest["text"] and "psi-critical" not in str(digest)


def test_a_wrong_block_name_keeps_the_alerts_and_fails_the_run(tmp_path: Path) -> None:
    state = drift_monitoring_flow(
        unique(),
        "Sepsis",
        ROOT / "data" / "sample" / "reference.csv",
        ROOT / "data" / "sample" / "current.csv",
        webhook="no-such-block",
        return_state=True,
    )
    assert state.is_failed()  # visibly not a success
    assert "no-such-block" in str(state.message) and "slack-alerts replay" in str(state.message)
    records = DurableOutbox().pending()
    assert records and all(r.route == {"block": "no-such-block"} for r in records)
    assert sum(len(r.alerts) for r in records) >= 3  # the drifted features, kept
    assert all("No Slack Alerts Webhook or Router block" in (r.error or "") for r in records)


def test_a_revoked_webhook_fails_the_run_and_keeps_the_alerts(
    webhook_server: LocalWebhookServer,
) -> None:
    revoked = webhook_server.url.rsplit("/", 1)[0] + "/REVOKEDtoken"  # answers 404 no_service
    state = drift_monitoring_flow(
        unique("revoked"),
        "Sepsis",
        ROOT / "data" / "sample" / "reference.csv",
        ROOT / "data" / "sample" / "current.csv",
        webhook=revoked,
        return_state=True,
    )
    assert state.is_failed()  # refused by Slack is not a success
    message = str(state.message)
    assert "refused by Slack" in message and "no_service" in message
    assert "REVOKEDtoken" not in message
    dead = DurableOutbox().dead_letters()
    assert any("no_service" in (r.error or "") for r in dead)


def test_a_deployment_run_given_a_url_warns_without_echo(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A deployment run's parameters were stored by whoever created the run:
    # too late to mask, so the worker says so, without the value.
    url = f"https://hooks.slack.com/services/T0/B0/{CANARY}"
    parameters = {"model_id": "m", "model_name": "M", "reference": "r.csv", "current": "c.csv"}
    monkeypatch.delenv("PREFECT__FLOW_RUN_ID", raising=False)
    with caplog.at_level(logging.WARNING, logger="slack_alerts"):
        drift_monitoring_flow.validate_parameters(parameters | {"webhook": url})
        assert caplog.records == []  # a direct call: Prefect stored the masked value
        monkeypatch.setenv("PREFECT__FLOW_RUN_ID", "00000000-0000-0000-0000-000000000000")
        drift_monitoring_flow.validate_parameters(parameters | {"webhook": "ml-alerts"})
        assert caplog.records == []
        drift_monitoring_flow.validate_parameters(parameters | {"webhook": url})
    (record,) = caplog.records
    assert "webhook" in record.getMessage() and "save-webhook" in record.getMessage()
    assert CANARY not in caplog.text


def test_undelivered_problem_names_refused_and_kept() -> None:
    from slack_alerts.outcomes import AlertStatus
    from slack_alerts.pipeline import outcome_of

    alerts = [drift(metric=f"feature:f{i}") for i in range(4)]
    outcomes = [
        outcome_of(alerts[0], AlertStatus.SENT),
        outcome_of(alerts[1], AlertStatus.FAILED_PERMANENT, error="http_404", detail="no_service"),
        outcome_of(
            alerts[2],
            AlertStatus.FAILED_TRANSIENT,
            error="not_ok",
            detail="<html>",
            location="/outbox/a.json",
        ),
        outcome_of(alerts[3], AlertStatus.KEPT, error="lock_timeout", location="/outbox/b.json"),
    ]
    problem = undelivered_problem(outcomes)
    assert problem is not None and problem.startswith("3 of 4 alert(s) not delivered")
    assert "1 refused by Slack (http_404: no_service" in problem
    assert "2 kept in the outbox (not_ok: <html>" in problem
    assert "NOT kept" not in problem
    assert undelivered_problem(outcomes[:1]) is None


def test_undelivered_problem_says_lost_when_not_in_the_outbox() -> None:
    from slack_alerts.outcomes import AlertStatus
    from slack_alerts.pipeline import outcome_of

    alerts = [drift(metric=f"feature:f{i}") for i in range(3)]
    outcomes = [
        outcome_of(alerts[0], AlertStatus.FAILED_TRANSIENT, error="http_500", location=None),
        outcome_of(alerts[1], AlertStatus.FAILED_TRANSIENT, error="http_500", location="/o/x"),
        outcome_of(alerts[2], AlertStatus.KEPT, error="lock_timeout", location=None),
    ]
    problem = undelivered_problem(outcomes)
    assert problem is not None and problem.startswith("3 of 3 alert(s) not delivered")
    assert "1 kept in the outbox" in problem and "2 NOT kept (http_500" in problem
    assert "SLACK_ALERTS_UNDELIVERED" in problem and "lost" in problem
    with pytest.raises(AlertsNotDelivered) as raised:
        fail_if_undelivered(problem)
    assert "replay` delivers the alerts that were kept" in str(raised.value)


def test_an_unwritable_outbox_is_not_called_kept(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    webhook_server: LocalWebhookServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from flows import dispatch

    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("SLACK_ALERTS_UNDELIVERED", str(blocker / "sub"))  # unwritable, even as root
    monkeypatch.setattr(dispatch, "notify_model", dispatch.notify_model.with_options(retries=0))
    webhook_server.default = ScriptedResponse(500, "down")
    model = unique("ro-model")

    @flow
    def f() -> Any:
        return send_alerts(
            [drift(model, metric=f"feature:f{i}") for i in range(3)], webhook_server.url
        )

    with caplog.at_level("WARNING"):
        problem = f().problem
    assert "ALERTS NOT DURABLE" in caplog.text
    assert problem is not None and problem.startswith("3 of 3 alert(s) not delivered")
    assert "kept in the outbox" not in problem and "replay" not in problem
    assert "3 NOT kept" in problem and "SLACK_ALERTS_UNDELIVERED" in problem
    with pytest.raises(AlertsNotDelivered) as raised:
        fail_if_undelivered(problem)
    assert "kept in the outbox" not in str(raised.value) and "replay" not in str(raised.value)


def test_a_failing_monitor_tells_slack(webhook_server: LocalWebhookServer) -> None:
    name = unique("monitor-hook")
    SlackAlertsWebhook(webhook_url=webhook_server.url).save(name)  # type: ignore[arg-type]
    state = drift_monitoring_flow(
        "sepsis-v3",
        "Sepsis",
        "does/not/exist.csv",
        "does/not/exist.csv",
        webhook=name,
        return_state=True,
    )
    assert state.is_failed()
    (payload,) = webhook_server.payloads()
    text = json.dumps(payload)
    assert "drift-monitoring" in text and "sepsis-v3" in text
    assert "What to do" in text and "FileNotFoundError" in text


def test_replay_without_a_real_destination_refuses(
    tmp_path: Path, prefect_env: dict[str, str]
) -> None:
    outbox = tmp_path / "undelivered"
    env = prefect_env | {"SLACK_ALERTS_UNDELIVERED": str(outbox)}
    env.pop("SLACK_WEBHOOK_URL", None)
    seed = (
        "from flows.delivery import prefect_pipeline\n"
        "from tests.factories import drift\n"
        "pipeline = prefect_pipeline({'preview': 'outbox'})\n"
        "pipeline.intake([drift('m1')])\n"
    )
    subprocess.run([sys.executable, "-c", seed], cwd=ROOT, env=env, check=True, timeout=120)
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "replay"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert "no real destination" in done.stdout and "--webhook" in done.stdout
    assert "Replayed: 0 delivered" in done.stdout  # the summary, then exit 1
    assert "Traceback" not in done.stdout + done.stderr
    # The replay run itself ends Failed, not Completed (the CLI's exit 1 is no longer alone).
    assert "Finished in state Failed" in done.stdout + done.stderr
    assert "Finished in state Completed" not in done.stdout + done.stderr
    assert len(DurableOutbox(outbox).pending()) == 1  # nothing emptied into the preview


@pytest.mark.parametrize(
    ("statement", "forbidden"),
    [
        ("from flows import slack_failure_hook, send_alert", ("pandas", "scipy")),
        ("import slack_alerts; from slack_alerts import SlackAlertClient", ("numpy", "scipy")),
    ],
)
def test_imports_stay_light(statement: str, forbidden: tuple[str, ...]) -> None:
    code = f"import sys\n{statement}\nprint(sorted(m for m in {forbidden!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_state_in_postgresql_when_configured(
    webhook_server: LocalWebhookServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import create_engine, text

    monkeypatch.setenv("SLACK_ALERTS_STATE_URL", postgres_url)
    block = SlackAlertsWebhook(webhook_url=webhook_server.url)  # type: ignore[arg-type]
    alerts = [drift(unique(), metric=f"f{i}") for i in range(3)]

    @flow
    def twice() -> list[str]:
        first = send_alerts(alerts, block)
        second = send_alerts(alerts, block)
        return [o.status for o in first.alerts + second.alerts]

    assert twice() == ["sent"] * 3 + ["deduplicated"] * 3
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM slack_alerts_alert_state")).scalar()
    engine.dispose()
    assert stored == 3
