"""One contract every Slack notifier passes, against its real local stand-in.

As Alertmanager's ``notify/test`` serves every notifier, these tests run over
the incoming-webhook sender (``WebhookSender`` against ``LocalWebhookServer``)
and the bot-token notifier (``SlackApiNotifier`` against ``LocalSlackApi``):

- a message Slack accepts is ``sent``, once;
- Slack's ``ok`` is the acknowledgement: a refusal Slack will repeat is
  ``failed_permanent`` after one attempt, a 5xx is ``failed_transient`` after
  the policy's retries;
- a 429 is waited out for its ``Retry-After`` and the message then goes;
- a server that cannot be reached gives ``failed_transient``, never an
  exception;
- the secret (webhook path, bot token) is in no result, repr or destination.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from slack_alerts import RetryPolicy
from slack_alerts.delivery import DeliveryResult, DeliveryStatus
from slack_alerts.notify.base import Notifier
from slack_alerts.notify.slack_api import SlackApiNotifier
from slack_alerts.notify.webhook import WebhookSender
from slack_alerts.testing import LocalWebhookServer, ScriptedResponse
from slack_alerts.testing_slack import FAKE_BOT_TOKEN, LocalSlackApi, SlackAnswer

FAST = RetryPolicy(max_retries=2, backoff_factor=0.01, max_backoff_seconds=0.05, jitter_ratio=0)
PAYLOAD: dict[str, Any] = {
    "text": "Drift on sepsis-v3",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "PSI 0.31 on *age*"}}],
}


@dataclass
class Stand:
    """A notifier, its stand-in's controls, and the secret it must never show."""

    notifier: Notifier
    secret: str
    refuse_permanently: Callable[[], None]  # the next post: an error Slack repeats
    fail_transiently: Callable[[int], None]  # the next n posts: a 5xx
    rate_limit_once: Callable[[float], None]  # the next post: 429 + Retry-After
    accepted: Callable[[], int]  # messages the stand-in accepted
    attempts: Callable[[], int]  # requests the stand-in received


def _webhook() -> Iterator[Stand]:
    with LocalWebhookServer() as server:
        sender = WebhookSender(server.url, retry_policy=FAST)
        yield Stand(
            notifier=sender,
            secret=server.url.rsplit("/", 1)[-1],
            refuse_permanently=lambda: server.script([ScriptedResponse(400, "invalid_blocks")]),
            fail_transiently=lambda n: server.script([ScriptedResponse(500, "oops")] * n),
            rate_limit_once=lambda s: server.script(
                [ScriptedResponse(429, "rate_limited", retry_after=f"{s}")]
            ),
            accepted=lambda: len(server.delivered()),
            attempts=lambda: len(server.requests),
        )
        sender.close()


def _slack_api() -> Iterator[Stand]:
    with LocalSlackApi() as slack:
        notifier = SlackApiNotifier(
            FAKE_BOT_TOKEN, channel="#ml-alerts", base_url=slack.base_url, retry_policy=FAST
        )
        yield Stand(
            notifier=notifier,
            secret=FAKE_BOT_TOKEN,
            refuse_permanently=lambda: slack.script([SlackAnswer("channel_not_found")]),
            fail_transiently=lambda n: slack.script([SlackAnswer("internal_error", 500)] * n),
            rate_limit_once=lambda s: slack.script([SlackAnswer("ratelimited", 429, f"{s}")]),
            accepted=lambda: len(slack.posted()),
            attempts=lambda: len([c for c in slack.calls if c.method == "chat.postMessage"]),
        )
        notifier.close()


STANDS = {"webhook": _webhook, "slack_api": _slack_api}


@pytest.fixture(params=sorted(STANDS))
def stand(request: pytest.FixtureRequest) -> Iterator[Stand]:
    yield from STANDS[request.param]()


def _no_secret(stand: Stand, result: DeliveryResult) -> None:
    shown = " ".join(
        [repr(stand.notifier), stand.notifier.destination, repr(result), str(result.to_dict())]
    )
    assert stand.secret not in shown


def test_an_accepted_message_is_sent_once(stand: Stand) -> None:
    result = stand.notifier.post(PAYLOAD)
    assert result.status is DeliveryStatus.SENT and result.ok
    assert stand.accepted() == 1 and stand.attempts() == 1
    _no_secret(stand, result)


def test_a_refusal_slack_repeats_is_permanent_after_one_attempt(stand: Stand) -> None:
    stand.refuse_permanently()
    result = stand.notifier.post(PAYLOAD)
    assert result.status is DeliveryStatus.FAILED_PERMANENT and not result.ok
    assert result.error  # Slack's code, for the dead-letter reason
    assert stand.attempts() == 1 and stand.accepted() == 0
    _no_secret(stand, result)


def test_a_5xx_is_retried_then_transient(stand: Stand) -> None:
    stand.fail_transiently(FAST.max_retries + 1)
    result = stand.notifier.post(PAYLOAD)
    assert result.status is DeliveryStatus.FAILED_TRANSIENT
    assert stand.attempts() == FAST.max_retries + 1 and stand.accepted() == 0
    _no_secret(stand, result)


def test_a_5xx_then_success_is_sent(stand: Stand) -> None:
    stand.fail_transiently(1)
    result = stand.notifier.post(PAYLOAD)
    assert result.ok and stand.attempts() == 2 and stand.accepted() == 1


def test_a_429_is_waited_out_then_sent(stand: Stand) -> None:
    stand.rate_limit_once(0.4)
    began = time.monotonic()
    result = stand.notifier.post(PAYLOAD)
    waited = time.monotonic() - began
    assert result.ok, result
    assert stand.attempts() == 2 and stand.accepted() == 1
    assert waited >= 0.4  # Slack's Retry-After, not our backoff (0.01 s)


def test_an_unreachable_server_is_transient_and_never_raises() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    notifiers: list[tuple[Notifier, str]] = [
        (
            WebhookSender(
                f"http://127.0.0.1:{port}/services/T0/B0/SECRETSECRET", retry_policy=FAST
            ),
            "SECRETSECRET",
        ),
        (
            SlackApiNotifier(
                FAKE_BOT_TOKEN,
                channel="#x",
                base_url=f"http://127.0.0.1:{port}/api/",
                retry_policy=FAST,
            ),
            FAKE_BOT_TOKEN,
        ),
    ]
    for notifier, secret in notifiers:
        result = notifier.post(PAYLOAD)
        assert result.status is DeliveryStatus.FAILED_TRANSIENT, (notifier, result)
        assert result.attempts == FAST.max_retries + 1
        assert secret not in repr(result) and secret not in result.detail
        notifier.close()
