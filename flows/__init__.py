"""Prefect tasks, hooks and monitoring flows for slack-alerts."""

from flows.grouping import AlertGroup, alert_group
from flows.hooks import slack_failure_hook
from flows.monitors.drift import DriftReport, drift_monitoring_flow
from flows.monitors.fairness import FairnessReport, fairness_monitoring_flow
from flows.monitors.security import SecurityReport, security_monitoring_flow
from flows.replay import ReplayReport, replay_outbox
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
    "AlertGroup",
    "DeliveryError",
    "DriftReport",
    "FairnessReport",
    "PermanentDeliveryError",
    "ReplayReport",
    "SecurityReport",
    "TransientDeliveryError",
    "alert_group",
    "drift_monitoring_flow",
    "fairness_monitoring_flow",
    "replay_outbox",
    "security_monitoring_flow",
    "send_alert",
    "send_drift_alert",
    "send_faves_violation",
    "send_safety_event",
    "slack_failure_hook",
]
