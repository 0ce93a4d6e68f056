"""Prefect tasks, hooks and monitoring flows for slack-alerts."""

from flows.hooks import slack_failure_hook
from flows.tasks import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    send_alert,
    send_drift_alert,
    send_faves_violation,
    send_safety_event,
)

__all__ = [
    "DeliveryError",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "send_alert",
    "send_drift_alert",
    "send_faves_violation",
    "send_safety_event",
    "slack_failure_hook",
]
