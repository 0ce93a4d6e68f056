"""Run by test_prefect_layer in a separate process: send N alerts for one model.

python -m tests.flows.two_process_sender <block-name> <model-id> <count> <label>
"""

from __future__ import annotations

import json
import sys

from prefect import flow

from flows import send_alert
from slack_alerts import DriftAlert


@flow(name="two-process-sender")
def send_many(block: str, model_id: str, count: int, label: str) -> list[str]:
    statuses = []
    for i in range(count):
        alert = DriftAlert(
            model_id=model_id,
            model_name="Shared model",
            metric=f"{label}-{i}",
            current_value=0.5,
            baseline_value=0.8,
            threshold=0.05,
        )
        statuses.append(send_alert(alert, block).status.value)
    return statuses


if __name__ == "__main__":
    block, model_id, count, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    print("RESULT " + json.dumps(send_many(block, model_id, count, label)))
