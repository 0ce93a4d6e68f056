"""Run by test_control_plane_failures in its own process.

python -m tests.flows.control_plane_sender sends <webhook-url> <model-id> <count>
    one send_alert task per alert, printing each task's final state
python -m tests.flows.control_plane_sender hold <webhook-url> <model-id>
    one alert whose post hangs (the test kills this process mid-send)
python -m tests.flows.control_plane_sender one <webhook-url> <model-id>
    one alert through the pipeline, printing its outcome and how long it took
"""

from __future__ import annotations

import os
import sys
import time

from prefect import flow

from blocks import SlackAlertsWebhook
from flows import send_alert
from flows.delivery import deliver
from slack_alerts import DriftAlert


def alert(model_id: str, metric: str) -> DriftAlert:
    return DriftAlert(
        model_id=model_id,
        model_name="m",
        metric=metric,
        current_value=0.5,
        baseline_value=0.8,
        threshold=0.05,
    )


@flow(name="control-plane-sends")
def sends(model_id: str, count: int) -> None:
    # The URL comes from the environment: a flow parameter is stored by Prefect in
    # the clear, and this process must leave no trace of the webhook's secret.
    url = os.environ["TEST_WEBHOOK_URL"]
    block = SlackAlertsWebhook(webhook_url=url, rate_limit_per_minute=600)  # type: ignore[arg-type]
    task = send_alert.with_options(retry_delay_seconds=0.2, retry_jitter_factor=None)
    for i in range(count):
        state = task(alert(model_id, f"m{i}"), block, return_state=True)
        message = "ok" if state.is_completed() else " ".join(str(state.message).split())
        print(f"STATE {i} {state.type.value} {message}", flush=True)


@flow(name="control-plane-one")
def one(model_id: str, timeout: float) -> str:
    url = os.environ["TEST_WEBHOOK_URL"]
    block = SlackAlertsWebhook(webhook_url=url, timeout_seconds=timeout)  # type: ignore[arg-type]
    outcome, _ = deliver([alert(model_id, "locked")], block)
    return outcome.alerts[0].status.value


if __name__ == "__main__":
    command, url, model_id = sys.argv[1], sys.argv[2], sys.argv[3]
    os.environ["TEST_WEBHOOK_URL"] = url
    started = time.monotonic()
    if command == "sends":
        sends(model_id, int(sys.argv[4]))
    else:
        print("HOLDING" if command == "hold" else "WAITING", flush=True)
        status = one(model_id, 600.0 if command == "hold" else 10.0)
        print(f"OUTCOME {status} {time.monotonic() - started:.1f}", flush=True)
