"""Button presses end to end: a bot message on the fake Slack, a signed request to the
real endpoint (uvicorn on 127.0.0.1), the shared state, and the message updated.

Also: forged, stale, replayed and unknown-action requests; the allow-list with a
user group; Socket Mode against the local WebSocket stand-in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient

from flows.interactions import INTERACTIONS_PATH, interactions_app, running
from slack_alerts import AlertStatus, Receiver, ReceiverSettings, RetryPolicy
from slack_alerts.formatting import ACK_ACTION, FormatOptions
from slack_alerts.interactions import InteractionHandler, socket_mode_client
from slack_alerts.notify.slack_api import SlackApiNotifier
from slack_alerts.pipeline import AlertPipeline
from slack_alerts.sqlstate import SqliteStateStore
from slack_alerts.state import StateStore
from slack_alerts.testing_slack import (
    FAKE_APP_TOKEN,
    FAKE_BOT_TOKEN,
    LocalSlackApi,
    LocalSocketModeServer,
    SlackMessage,
    signed_request,
)
from tests.factories import drift, unique

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@dataclass
class World:
    slack: LocalSlackApi
    store: SqliteStateStore
    bot: SlackApiNotifier
    receiver: Receiver
    handler: InteractionHandler
    url: str

    def alert_message(self, model: str, now: datetime | None = None) -> SlackMessage:
        outcome = AlertPipeline(self.receiver, self.store, silences=self.store).submit(
            [drift(model)], now=now
        )
        assert outcome.delivered
        return self.slack.posted()[-1]

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        """Post, then wait until the handler finished acting (it answers first)."""
        before = sum(self.handler.counts[k] for k in OUTCOMES)
        answer = httpx.post(self.url + INTERACTIONS_PATH, content=body, headers=headers, timeout=10)
        if answer.status_code == 200:
            eventually(lambda: sum(self.handler.counts[k] for k in OUTCOMES) > before)
        return answer


OUTCOMES = ("acknowledged", "silenced", "ignored", "failed")


def eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def bot_receiver(slack: LocalSlackApi) -> tuple[SlackApiNotifier, Receiver]:
    bot = SlackApiNotifier(
        FAKE_BOT_TOKEN,
        channel="#ml-alerts",
        base_url=slack.base_url,
        retry_policy=RetryPolicy(max_retries=0),
    )
    key = unique("block:bot")
    receiver = Receiver(
        key=key,
        name="bot",
        notifier=bot,
        options=FormatOptions(interaction_key=key),
        settings=ReceiverSettings(rate_limit_per_minute=600, update_message=True),
    )
    return bot, receiver


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    store = SqliteStateStore(tmp_path_factory.mktemp("state") / "state.sqlite3")
    with LocalSlackApi() as slack:
        bot, receiver = bot_receiver(slack)
        handler = InteractionHandler(store=store, silences=store, editor=bot, signing_secret=SECRET)
        with running(interactions_app(handler)) as url:
            yield World(slack, store, bot, receiver, handler, url)


def state_of(store: StateStore, receiver: str, model: str) -> Any:
    session = store.open(receiver, model, wait_seconds=5)
    try:
        return session.load()
    finally:
        session.close()


def test_acknowledge_records_it_and_updates_the_message(world: World) -> None:
    model = unique()
    start = datetime.now(UTC)
    message = world.alert_message(model, start)
    body, headers = signed_request(world.slack.click(message, ACK_ACTION), SECRET)
    answer = world.post(body, headers)
    assert answer.status_code == 200
    log = state_of(world.store, world.receiver.key, model)
    assert [s.acked_by for s in log.states.values()] == ["@ana"]
    edited = world.slack.message(message.channel, message.ts)
    assert "Acknowledged by @ana" in str(edited.current)
    assert world.slack.click(edited, ACK_ACTION)["actions"][0]["value"]  # the buttons stay
    # Acknowledged: past the repeat interval, no new message until the severity changes.
    later = AlertPipeline(world.receiver, world.store, silences=world.store).submit(
        [drift(model)], now=start + timedelta(hours=5)
    )
    assert later.count(AlertStatus.DEDUPLICATED) == 1 and world.slack.posted()[-1] == message


def test_silence_buttons_record_a_silence_and_say_until_when(world: World) -> None:
    model = unique()
    message = world.alert_message(model)
    payload = world.slack.click(message, "slack_alerts.silence_4h", user_id="U0BEN", username="ben")
    body, headers = signed_request(payload, SECRET)
    assert world.post(body, headers).status_code == 200
    (silence,) = [s for s in world.store.all() if s.matchers.get("model_id") == model]
    assert silence.created_by == "@ben (U0BEN)"
    assert timedelta(hours=4) - (silence.ends_at - silence.starts_at) < timedelta(seconds=1)
    until = f"{silence.ends_at:%H:%M} UTC"
    assert f"Silenced until {until} by @ben" in str(world.slack.message(*_ref(message)).current)
    # Alerts for that model are now silenced, counted, not posted.
    muted = AlertPipeline(world.receiver, world.store, silences=world.store).submit(
        [drift(model, metric="psi")]
    )
    assert muted.count(AlertStatus.SILENCED) == 1


def _ref(message: SlackMessage) -> tuple[str, str]:
    return message.channel, message.ts


def test_forged_stale_and_replayed_requests_are_refused_and_counted(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    model = unique()
    message = world.alert_message(model)
    payload = world.slack.click(message, ACK_ACTION)
    refused_before = world.handler.counts["refused"]

    forged = signed_request(payload, "not-the-signing-secret")
    stale = signed_request(payload, SECRET, timestamp=time.time() - 301)
    unsigned = (forged[0], {"Content-Type": "application/x-www-form-urlencoded"})
    statuses = [world.post(*r).status_code for r in (forged, stale, unsigned)]
    assert statuses == [401, 401, 401]
    genuine = signed_request(payload, SECRET)
    assert world.post(*genuine).status_code == 200
    assert world.post(*genuine).status_code == 401  # replayed
    assert world.handler.counts["refused"] - refused_before == 4
    assert world.handler.counts["refused: replayed"] >= 1
    assert world.handler.counts["refused: stale"] >= 1
    # Counted in the logs, and nothing secret in them.
    assert "4 refused so far" in caplog.text or "refused so far" in caplog.text
    assert SECRET not in caplog.text and genuine[1]["X-Slack-Signature"] not in caplog.text
    health = httpx.get(world.url + "/healthz", timeout=5).json()
    assert health["counts"]["refused"] >= 4 and SECRET not in str(health)


def test_unknown_actions_are_ignored(world: World) -> None:
    model = unique()
    message = world.alert_message(model)
    for payload in (
        world.slack.click(message, "open_dashboard"),
        {**world.slack.click(message, ACK_ACTION), "type": "view_submission"},
        {
            **world.slack.click(message, ACK_ACTION),
            "actions": [{"action_id": ACK_ACTION, "value": "not json"}],
        },
    ):
        assert world.post(*signed_request(payload, SECRET)).status_code == 200
    log = state_of(world.store, world.receiver.key, model)
    assert all(s.acked_by is None for s in log.states.values())
    assert world.slack.message(*_ref(message)).edits == []
    bad = world.post(b"payload=%7Bnot", signed_request({}, SECRET)[1])
    assert bad.status_code == 401  # signature covers the body: a changed body is forged


def test_allow_list_with_a_user_group(world: World) -> None:
    world.slack.usergroups["S0ONCALL"] = ["U0ONCALL"]
    handler = InteractionHandler(
        store=world.store,
        silences=world.store,
        editor=world.bot,
        signing_secret=SECRET,
        allowed=["U0LEAD", "S0ONCALL"],
        members_of=lambda group: world.bot.client.usergroups_users_list(usergroup=group)["users"],
    )
    model = unique()
    message = world.alert_message(model)
    outsider = handler.handle_payload(world.slack.click(message, ACK_ACTION, user_id="U0OUT"))
    assert outsider.outcome == "ignored" and "allow-list" in outsider.reason
    member = handler.handle_payload(
        world.slack.click(message, ACK_ACTION, user_id="U0ONCALL", username="oncall")
    )
    lead = handler.handle_payload(world.slack.click(message, ACK_ACTION, user_id="U0LEAD"))
    assert member.outcome == lead.outcome == "acknowledged"


def test_socket_mode_feeds_the_same_handler(world: World) -> None:
    model = unique()
    message = world.alert_message(model)
    with LocalSocketModeServer() as sockets:
        world.slack.socket_url = sockets.url
        client = socket_mode_client(
            world.handler,
            FAKE_APP_TOKEN,
            WebClient(token=FAKE_BOT_TOKEN, base_url=world.slack.base_url),
        )
        client.connect()
        try:
            assert sockets.wait_for_client()
            envelope = sockets.send_interaction(world.slack.click(message, ACK_ACTION))
            assert sockets.wait_for_ack(envelope)
            deadline = time.monotonic() + 10
            while not world.slack.message(*_ref(message)).edits and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            client.close()
    assert "Acknowledged by @ana" in str(world.slack.message(*_ref(message)).current)
    log = state_of(world.store, world.receiver.key, model)
    assert [s.acked_by for s in log.states.values()] == ["@ana"]


# -- probe findings: B4, E15, E17, E13 ------------------------------------------------------


def _press_silence(world: World, message: SlackMessage, **user: str) -> None:
    payload = world.slack.click(message, "slack_alerts.silence_4h", **user)
    body, headers = signed_request(payload, SECRET)
    assert world.post(body, headers).status_code == 200


@pytest.mark.parametrize("shape", ["{}[v2]", "*"])
def test_the_silence_button_mutes_exactly_its_own_model(world: World, shape: str) -> None:
    """B4: the model id is a value, not a pattern: on ``risk[v2]`` the button never mutes
    ``risk2`` (and always mutes ``risk[v2]``); on a model named ``*``, no other model, and no
    other model's CRITICAL "monitor failed" alert."""
    base = unique()
    model = shape.format(base)
    message = world.alert_message(model)
    _press_silence(world, message)
    (silence,) = [s for s in world.store.all() if s.matchers.get("model_id") == model]
    try:
        run = AlertPipeline(world.receiver, world.store, silences=world.store)
        assert run.submit([drift(model, metric="psi")]).count(AlertStatus.SILENCED) == 1
        lookalike = f"{base}2" if "[" in model else unique()
        failed = drift(lookalike, metric="task_run_failed", severity="critical")
        assert run.submit([failed]).delivered
    finally:
        world.store.expire(silence.id)


def test_a_button_silence_keeps_the_author_as_plain_text(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """E15: stored and listed as typed; escaped only in the Slack message."""
    import argparse

    from flows import silence_cli

    model = unique()
    message = world.alert_message(model)
    _press_silence(world, message, user_id="U0EVE", username="<!channel> @here")
    (silence,) = [s for s in world.store.all() if s.matchers.get("model_id") == model]
    assert silence.created_by == "@<!channel> @here (U0EVE)"
    shown = str(world.slack.message(*_ref(message)).current)
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
    args = argparse.Namespace(silence_command="list", all=False)
    assert silence_cli.run(args, store=world.store) == 0
    listed = capsys.readouterr().out
    assert "by @<!channel> @here (U0EVE)" in listed and "&lt;" not in listed
    world.store.expire(silence.id)


def test_allowed_users_must_be_slack_ids() -> None:
    """E17: a name that starts with U, W or S is not an id."""
    from pydantic import ValidationError

    from blocks import SlackAlertsBot

    def bot(allowed: list[str]) -> SlackAlertsBot:
        return SlackAlertsBot(bot_token=FAKE_BOT_TOKEN, channel="#x", allowed_users=allowed)

    assert bot([" U024BE7LH", "W0ABC", "S0ONCALL"]).allowed_users == [
        "U024BE7LH",
        "W0ABC",
        "S0ONCALL",
    ]
    for wrong in (["Sam"], ["U024be7lh"], ["U0OK", "Walter"], ["S"], ["@ana"]):
        with pytest.raises(ValidationError, match=r"allowed_users\[\d\] is not a Slack id"):
            bot(wrong)


def test_serve_interactions_says_where_it_listens(prefect_env: dict[str, str]) -> None:
    """E13: one line with host, port and path once the port is bound, and how to stop."""
    import os
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    name = unique("probe-bot").replace(":", "-").lower()
    save = (
        "from blocks import SlackAlertsBot\n"
        f"SlackAlertsBot(bot_token={FAKE_BOT_TOKEN!r}, signing_secret={SECRET!r}, "
        f"channel='#x').save({name!r}, overwrite=True)\n"
    )
    subprocess.run([sys.executable, "-c", save], cwd=root, env=prefect_env, check=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve-interactions", "--bot", name, "--port", "0"],
        cwd=root,
        env=prefect_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        import select

        ready, _, _ = select.select([server.stdout], [], [], 120)  # no line: fail, not hang
        line = server.stdout.readline() if ready else ""
        found = re.search(r"on (http://127\.0\.0\.1:(\d+))/slack/interactions ", line)
        assert found and "Ctrl+C to stop" in line, line
        health = httpx.get(found.group(1) + "/healthz", timeout=10)
        assert health.status_code == 200
        os.kill(server.pid, signal.SIGINT)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    bad = subprocess.run(
        [sys.executable, "-m", "flows.cli", "serve-interactions", "--bot", name, "--port", "99999"],
        cwd=root,
        env=prefect_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "--port 99999" in bad.stderr and "Traceback" not in bad.stderr
