"""The Slack Alerts Bot block: saved on the server, resolved by name through the flows'
routing, routes naming channels, its secrets kept out of reprs and errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from blocks import SlackAlertsBot, SlackAlertsRouter
from flows.delivery import CONTROL
from flows.routing import resolve_router
from slack_alerts.notify.slack_api import SlackApiNotifier
from slack_alerts.pipeline import AlertPipeline
from slack_alerts.sqlstate import SqliteStateStore
from slack_alerts.testing_slack import FAKE_BOT_TOKEN, LocalSlackApi
from tests.factories import drift, event, unique

pytestmark = pytest.mark.usefixtures("prefect_api")
SIGNING = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def slack() -> Iterator[LocalSlackApi]:
    with LocalSlackApi() as api:
        yield api


def bot(slack: LocalSlackApi, **settings: Any) -> SlackAlertsBot:
    return SlackAlertsBot(
        bot_token=FAKE_BOT_TOKEN,  # type: ignore[arg-type]
        signing_secret=SIGNING,  # type: ignore[arg-type]
        api_url=slack.base_url,
        **{"channel": "#ml-alerts", **settings},
    )


def test_a_saved_bot_block_posts_with_buttons_and_updates(
    slack: LocalSlackApi, tmp_path: Any
) -> None:
    name = unique("bot")
    bot(slack, thread_replies=False).save(name)
    (receiver,) = resolve_router(name, CONTROL).receivers()
    assert isinstance(receiver.notifier, SlackApiNotifier)
    assert receiver.key == f"block:{name}" and receiver.options.interaction_key == receiver.key
    assert receiver.settings.update_message and not receiver.settings.thread_replies
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    model = unique()
    AlertPipeline(resolve_router(name, CONTROL), store).submit([drift(model, metric="a")])
    AlertPipeline(resolve_router(name, CONTROL), store).submit([drift(model, metric="b")])
    (message,) = slack.posted("C0ALERTS")
    assert len(message.edits) == 1 and message.replies == []
    assert '"r":"block:' in str(message.payload)  # the buttons name the receiver


def test_router_routes_name_channels(slack: LocalSlackApi, tmp_path: Any) -> None:
    default, oncall = unique("bot"), unique("bot-oncall")
    bot(slack).save(default)
    bot(slack, channel="#oncall", min_severity="critical").save(oncall)
    router = unique("router")
    SlackAlertsRouter(
        default=SlackAlertsBot.load(default), safety=SlackAlertsBot.load(oncall)
    ).save(router)
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    run = AlertPipeline(resolve_router(router, CONTROL), store)
    run.submit([event(unique(), severity="critical"), drift(unique())])
    assert len(slack.posted("C0ONCALL")) == 1 and len(slack.posted("C0ALERTS")) == 1


def test_secrets_stay_hidden() -> None:
    block = SlackAlertsBot(
        bot_token=FAKE_BOT_TOKEN,  # type: ignore[arg-type]
        signing_secret=SIGNING,  # type: ignore[arg-type]
        channel="#ml-alerts",
    )
    assert FAKE_BOT_TOKEN not in repr(block) and SIGNING not in repr(block)
    with pytest.raises(ValidationError) as error:
        SlackAlertsBot(bot_token="xoxp-a-user-token-secretvalue", channel="#x")  # type: ignore[arg-type]
    assert "secretvalue" not in str(error.value) and "bot_token" in str(error.value)
    schema = SlackAlertsBot.model_json_schema()
    assert re.fullmatch(schema["properties"]["bot_token"]["pattern"], "*" * 8)
