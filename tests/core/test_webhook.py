"""The sender against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from slack_alerts import (
    DeliveryStatus,
    DriftAlert,
    MessageMeta,
    RetryPolicy,
    SlackAlertClient,
    WebhookSender,
)
from slack_alerts.notify.webhook import validate_webhook_url
from slack_alerts.retry import parse_retry_after
from slack_alerts.testing import LocalWebhookServer, ScriptedResponse

PERMANENT = [
    (400, "invalid_payload"),
    (400, "invalid_blocks"),
    (400, "no_text"),
    (403, "action_prohibited"),
    (403, "invalid_token"),
    (403, "team_disabled"),
    (404, "channel_not_found"),
    (404, "no_service"),
    (410, "channel_is_archived"),
]


def sender(server: LocalWebhookServer, sleeps: list[float], **policy: float) -> WebhookSender:
    defaults: dict[str, float] = dict(max_retries=3, backoff_factor=0.5)
    defaults.update(policy)
    return WebhookSender(
        server.url,
        timeout_seconds=2,
        retry_policy=RetryPolicy(**defaults),
        sleep=sleeps.append,  # type: ignore[arg-type]
    )


PAYLOAD = {"text": "hello"}


def test_success_posts_json(webhook_server: LocalWebhookServer, sleeps: list[float]) -> None:
    result = sender(webhook_server, sleeps).post(
        PAYLOAD, MessageMeta(kind="drift", fingerprint="abc")
    )
    assert result.ok and result.attempts == 1 and result.http_status == 200
    assert result.fingerprint == "abc" and result.elapsed_seconds > 0
    assert webhook_server.payloads() == [PAYLOAD]
    assert webhook_server.requests[0].headers["Content-Type"].startswith("application/json")


def test_5xx_then_success(webhook_server: LocalWebhookServer, sleeps: list[float]) -> None:
    webhook_server.script([ScriptedResponse(500, "rollup_error"), ScriptedResponse(503, "x")])
    result = sender(webhook_server, sleeps).post(PAYLOAD)
    assert result.ok and result.attempts == 3
    assert len(webhook_server.requests) == 3
    # Exponential backoff with jitter: ~0.5s then ~1.0s (+/-25%).
    assert 0.375 <= sleeps[0] <= 0.625 and 0.75 <= sleeps[1] <= 1.25


def test_5xx_exhausts_retries(webhook_server: LocalWebhookServer, sleeps: list[float]) -> None:
    webhook_server.default = ScriptedResponse(502, "bad_gateway")
    result = sender(webhook_server, sleeps, max_retries=2).post(PAYLOAD)
    assert result.status is DeliveryStatus.FAILED_TRANSIENT
    assert result.attempts == 3 and result.error == "bad_gateway" and result.http_status == 502
    assert len(webhook_server.requests) == 3


def test_429_waits_retry_after(webhook_server: LocalWebhookServer, sleeps: list[float]) -> None:
    webhook_server.script([ScriptedResponse(429, "rate_limited", retry_after="7")])
    result = sender(webhook_server, sleeps).post(PAYLOAD)
    assert result.ok and result.attempts == 2
    assert sleeps == [7.0]


def test_429_http_date_and_cap(webhook_server: LocalWebhookServer, sleeps: list[float]) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    webhook_server.script([ScriptedResponse(429, "rate_limited", retry_after=later)])
    result = sender(webhook_server, sleeps, max_retry_after_seconds=30).post(PAYLOAD)
    assert result.ok and sleeps == [30.0]


def test_429_forever_is_transient_with_retry_after(
    webhook_server: LocalWebhookServer, sleeps: list[float]
) -> None:
    webhook_server.default = ScriptedResponse(429, "rate_limited", retry_after="2")
    result = sender(webhook_server, sleeps, max_rate_limit_waits=2).post(PAYLOAD)
    assert result.status is DeliveryStatus.FAILED_TRANSIENT and result.error == "rate_limited"
    assert result.retry_after_seconds == 2.0 and result.attempts == 3 and sleeps == [2.0, 2.0]


def test_rate_limit_only_policy_never_loops_on_5xx(
    webhook_server: LocalWebhookServer, sleeps: list[float]
) -> None:
    webhook_server.default = ScriptedResponse(500, "oops")
    s = WebhookSender(
        webhook_server.url, retry_policy=RetryPolicy.rate_limit_only(), sleep=sleeps.append
    )
    result = s.post(PAYLOAD)
    assert result.transient and result.attempts == 1 and len(webhook_server.requests) == 1


def test_dropped_connection_is_retried(
    webhook_server: LocalWebhookServer, sleeps: list[float]
) -> None:
    webhook_server.script([ScriptedResponse(drop=True)])
    result = sender(webhook_server, sleeps).post(PAYLOAD)
    assert result.ok and result.attempts == 2


def test_dropped_connection_every_time(
    webhook_server: LocalWebhookServer, sleeps: list[float]
) -> None:
    webhook_server.default = ScriptedResponse(drop=True)
    result = sender(webhook_server, sleeps, max_retries=1).post(PAYLOAD)
    assert result.transient and result.error == "connection_error" and result.attempts == 2


def test_timeout_is_retried(webhook_server: LocalWebhookServer, sleeps: list[float]) -> None:
    webhook_server.script([ScriptedResponse(delay_seconds=1.5)])
    s = WebhookSender(
        webhook_server.url,
        timeout_seconds=0.3,
        retry_policy=RetryPolicy(max_retries=1, backoff_factor=0.01),
        sleep=sleeps.append,
    )
    result = s.post(PAYLOAD)
    assert result.ok and result.attempts == 2


def test_timeout_every_time(webhook_server: LocalWebhookServer, sleeps: list[float]) -> None:
    webhook_server.default = ScriptedResponse(delay_seconds=1.0)
    s = WebhookSender(
        webhook_server.url,
        timeout_seconds=0.2,
        retry_policy=RetryPolicy(max_retries=1, backoff_factor=0.01),
        sleep=sleeps.append,
    )
    result = s.post(PAYLOAD)
    assert result.transient and result.error == "timeout" and result.attempts == 2


@pytest.mark.parametrize(("status", "code"), PERMANENT)
def test_permanent_errors_sent_exactly_once(
    webhook_server: LocalWebhookServer, sleeps: list[float], status: int, code: str
) -> None:
    webhook_server.default = ScriptedResponse(status, code)
    result = sender(webhook_server, sleeps).post(PAYLOAD)
    assert result.status is DeliveryStatus.FAILED_PERMANENT
    assert result.error == code and result.http_status == status and result.attempts == 1
    assert len(webhook_server.requests) == 1 and sleeps == []


def test_connection_refused(sleeps: list[float]) -> None:
    with LocalWebhookServer() as server:
        url = server.url
    s = WebhookSender(
        url, retry_policy=RetryPolicy(max_retries=1, backoff_factor=0.01), sleep=sleeps.append
    )
    result = s.post(PAYLOAD)
    assert result.transient and result.error == "connection_error"


def test_pool_reuses_connections(webhook_server: LocalWebhookServer, sleeps: list[float]) -> None:
    s = sender(webhook_server, sleeps)
    for _ in range(20):
        assert s.post(PAYLOAD).ok
    # One TCP connection served all 20 posts.
    assert len({r.client_port for r in webhook_server.requests}) == 1
    s.close()


class TestSecretNeverLeaks:
    def test_not_in_debug_logs_reprs_or_results(
        self, webhook_server: LocalWebhookServer, debug_logs: pytest.LogCaptureFixture
    ) -> None:
        secret = webhook_server.path.rsplit("/", 1)[1]
        webhook_server.script(
            [
                ScriptedResponse(500, "x"),
                ScriptedResponse(drop=True),
                ScriptedResponse(404, "no_service"),
            ]
        )
        client = SlackAlertClient(webhook_server.url, max_retries=3, backoff_factor=0.01)
        alert = DriftAlert(
            model_id="m",
            model_name="m",
            metric="auc",
            current_value=1,
            baseline_value=2,
            threshold=0.1,
        )
        result = client.send(alert)
        assert result.permanent
        assert any("urllib3" in r.name for r in debug_logs.records), (
            "urllib3 DEBUG logs were not captured"
        )
        everything = "\n".join(
            [r.getMessage() for r in debug_logs.records]
            + [
                repr(client),
                str(client),
                repr(result),
                str(result.to_dict()),
                repr(client.transport),
            ]
        )
        assert secret not in everything
        assert "/services/T…/B…/***" in everything or "/***" in everything

    def test_not_in_exception_detail(self, debug_logs: pytest.LogCaptureFixture) -> None:
        url = "http://127.0.0.1:9/services/T0/B0/topsecretvalue123"  # port 9: refused
        s = WebhookSender(url, retry_policy=RetryPolicy(max_retries=0))
        result = s.post(PAYLOAD)
        assert result.transient
        assert "topsecretvalue123" not in result.detail
        assert "topsecretvalue123" not in "\n".join(r.getMessage() for r in debug_logs.records)

    @pytest.mark.parametrize("bad", ["ftp://x/y", "hooks.slack.com/services/a", "", "javascript:x"])
    def test_bad_url_rejected_without_echo(self, bad: str) -> None:
        with pytest.raises(ValueError) as err:
            SlackAlertClient(bad + "SECRETPART" if bad else "  ")
        assert "SECRETPART" not in str(err.value)
        assert "webhook_url" in str(err.value)

    def test_validate_names_variable(self) -> None:
        with pytest.raises(ValueError, match="SLACK_DRIFT_WEBHOOK_URL"):
            validate_webhook_url("nope", name="SLACK_DRIFT_WEBHOOK_URL")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("1.5", 1.5),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0


def test_requests_is_the_http_stack() -> None:
    # Guards the assumption behind the log filter: requests+urllib3 do the I/O.
    assert requests.Session is not None
    logging.getLogger("urllib3.connectionpool")
