"""``group_wait`` inside a flow run: buffer a model's alerts, then send one digest.

    @flow
    def score_batches(...):
        with alert_group("ml-alerts") as alerts:        # group_wait 30 s by default
            for batch in batches:
                ...
                alerts.add(DriftAlert(...))             # buffered per model

A model's buffered alerts go out as one digest (through the same dedup,
limits, resolved notices and durable outbox as the monitoring flows) once
``group_wait`` has passed since its first buffered alert, checked at each
``add``, and everything left is sent when the block ends, even on error.
Direct calls outside a group (``send_alert``, ``AlertPipeline.submit``) have
a group_wait of 0.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flows.dispatch import send_alerts
from flows.routing import WebhookRef
from slack_alerts.models import Alert
from slack_alerts.pipeline import AlertOutcome

DEFAULT_GROUP_WAIT_SECONDS = 30.0


@dataclass
class AlertGroup:
    webhook: WebhookRef = None
    group_wait_seconds: float = DEFAULT_GROUP_WAIT_SECONDS
    outcomes: list[AlertOutcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _buffer: dict[str, list[Alert]] = field(default_factory=dict)
    _opened: dict[str, float] = field(default_factory=dict)

    def add(self, alert: Alert) -> None:
        self._buffer.setdefault(alert.model_id, []).append(alert)
        self._opened.setdefault(alert.model_id, time.monotonic())
        due = [
            model
            for model, opened in self._opened.items()
            if time.monotonic() - opened >= self.group_wait_seconds
        ]
        if due:
            self.flush(due)

    def flush(self, models: list[str] | None = None) -> None:
        chosen = list(self._buffer) if models is None else models
        batch = [a for m in chosen for a in self._buffer.pop(m, [])]
        for model in chosen:
            self._opened.pop(model, None)
        if batch:
            sent = send_alerts(batch, self.webhook)
            self.outcomes += sent.alerts
            if sent.problem:
                self.problems.append(sent.problem)


@contextmanager
def alert_group(
    webhook: WebhookRef = None, group_wait_seconds: float = DEFAULT_GROUP_WAIT_SECONDS
) -> Iterator[AlertGroup]:
    group = AlertGroup(webhook, group_wait_seconds)
    try:
        yield group
    finally:
        group.flush()
