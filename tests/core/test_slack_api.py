"""The bot-token notifier against the fake Slack Web API on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from slack_alerts import DeliveryStatus, RetryPolicy
from slack_alerts.delivery import MessageRef
from slack_alerts.messaging import MessageEditor
from slack_alerts.notify.slack_api import SlackApiNotifier, validate_bot_token
from slack_alerts.testing_slack import FAKE_BOT_TOKEN, LocalSlackApi, SlackAnswer

FAST = RetryPolicy(max_retries=1, backoff_factor=0.0, jitter_ratio=0, max_rate_limit_waits=2)


@pytest.fixture
def slack() -> Iterator[LocalSlackApi]:
    with LocalSlackApi() as api:
        yield api


def bot(
    slack: LocalSlackApi, sleeps: list[float] | None = None, token: str = FAKE_BOT_TOKEN
) -> SlackApiNotifier:
    return SlackApiNotifier(
        token,
        channel="#ml-alerts",
        base_url=slack.base_url,
        timeout_seconds=2,
        retry_policy=FAST,
        sleep=(sleeps.append if sleeps is not None else lambda _: None),
    )


def test_posts_updates_and_replies_in_the_thread(slack: LocalSlackApi) -> None:
    notifier = bot(slack)
    assert isinstance(notifier, MessageEditor)
    posted = notifier.post({"text": "first", "attachments": [{"color": "#FF0000", "blocks": []}]})
    assert posted.ok and posted.message_ref == MessageRef("C0ALERTS", posted.message_ref.ts)
    ref = posted.message_ref
    assert notifier.update(ref, {"text": "second", "username": "ignored"}).ok
    assert notifier.reply(ref, {"text": "what changed"}).ok
    (message,) = slack.posted()
    assert message.payload["text"] == "first"
    assert message.edits == [{"text": "second"}]  # chat.update carries content only
    assert [r["text"] for r in message.replies] == ["what changed"]
    # A route's channel comes in the payload and wins over the block's.
    other = notifier.post({"text": "oncall", "channel": "#oncall"})
    assert other.message_ref is not None and other.message_ref.channel == "C0ONCALL"


def test_waits_out_429_with_retry_after(slack: LocalSlackApi, sleeps: list[float]) -> None:
    slack.script([SlackAnswer("ratelimited", 429, "2")])
    result = bot(slack, sleeps).post({"text": "x"})
    assert result.ok and result.attempts == 2 and sleeps == [2.0]
    slack.script([SlackAnswer("ratelimited", 429, "1")] * 3)
    held = bot(slack, sleeps).post({"text": "y"})
    assert held.status is DeliveryStatus.FAILED_TRANSIENT and held.error == "ratelimited"
    assert held.retry_after_seconds == 1.0 and len(slack.posted()) == 1


@pytest.mark.parametrize(
    "error",
    ["channel_not_found", "not_in_channel", "invalid_auth", "account_inactive", "msg_too_long"],
)
def test_permanent_errors_are_not_retried(slack: LocalSlackApi, error: str) -> None:
    slack.script([SlackAnswer(error)])
    result = bot(slack).post({"text": "x"})
    assert result.status is DeliveryStatus.FAILED_PERMANENT and result.error == error
    assert len(slack.calls) == 1


def test_errors_from_the_request_itself(slack: LocalSlackApi) -> None:
    notifier = bot(slack)
    assert notifier.post({"text": "x", "channel": "#nowhere"}).error == "channel_not_found"
    slack.not_in_channel.add("C0ALERTS")
    assert notifier.post({"text": "x"}).error == "not_in_channel"
    slack.not_in_channel.clear()
    assert notifier.post({"text": "x" * 40_001}).error == "msg_too_long"
    wrong = bot(slack, token="xoxb-1-2-wrongtoken")
    assert wrong.post({"text": "x"}).error == "invalid_auth"
    gone = notifier.update(MessageRef("C0ALERTS", "1.2"), {"text": "x"})
    assert gone.permanent and gone.error == "message_not_found"


def test_server_errors_are_transient_and_retried(slack: LocalSlackApi) -> None:
    slack.script([SlackAnswer("internal_error", 500)])
    result = bot(slack).post({"text": "x"})
    assert result.ok and result.attempts == 2
    slack.script([SlackAnswer("fatal_error", 503)] * 2)
    failed = bot(slack).post({"text": "x"})
    assert failed.transient and failed.error == "fatal_error" and failed.attempts == 2


def test_unreachable_api_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notifier = SlackApiNotifier(
        FAKE_BOT_TOKEN,
        channel="C1",
        base_url=f"http://127.0.0.1:{port}/api/",
        retry_policy=RetryPolicy(max_retries=0),
    )
    result = notifier.post({"text": "x"})
    assert result.transient and result.error == "connection_error"


def test_the_token_never_shows(slack: LocalSlackApi, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = bot(slack)
    slack.script([SlackAnswer("invalid_auth"), SlackAnswer("ratelimited", 429, "0")])
    results = [notifier.post({"text": "x"}), notifier.post({"text": "y"})]
    text = repr(notifier) + str(results) + caplog.text
    assert FAKE_BOT_TOKEN not in text and "localfakebottoken" not in text
    with pytest.raises(ValueError) as error:
        validate_bot_token("xoxp-user-token-secret")
    assert "secret" not in str(error.value)
