"""Run by test_two_workers_bot in a separate process: one worker's run for a shared model.

python -m tests.core.two_worker_bot <state-url> <slack-api-url> <receiver-key> <model> <metric> <go>

Waits until the file <go> exists, so both workers submit at the same moment.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from slack_alerts import Receiver, ReceiverSettings, RetryPolicy
from slack_alerts.formatting import FormatOptions
from slack_alerts.notify.slack_api import SlackApiNotifier
from slack_alerts.pipeline import AlertPipeline
from slack_alerts.sqlstate import SqlStateStore
from slack_alerts.testing_slack import FAKE_BOT_TOKEN
from tests.factories import drift

if __name__ == "__main__":
    state_url, api_url, key, model, metric, go = sys.argv[1:7]
    store = SqlStateStore(state_url)
    bot = SlackApiNotifier(
        FAKE_BOT_TOKEN, channel="#ml-alerts", base_url=api_url, retry_policy=RetryPolicy(0)
    )
    receiver = Receiver(
        key=key,
        name="bot",
        notifier=bot,
        options=FormatOptions(interaction_key=key),
        settings=ReceiverSettings(rate_limit_per_minute=600, update_message=True),
    )
    pipeline = AlertPipeline(receiver, store, lock_wait_seconds=30)
    deadline = time.monotonic() + 30
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    outcome = pipeline.submit([drift(model, metric=metric)])
    print("RESULT " + json.dumps([o.status.value for o in outcome.alerts]))
