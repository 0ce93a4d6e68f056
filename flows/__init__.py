"""Prefect tasks, hooks and monitoring flows for slack-alerts.

The monitoring flows (and their reports) are imported on first use, so
``from flows import slack_failure_hook`` or ``send_alert`` loads neither
pandas nor scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flows.grouping import AlertGroup, alert_group
from flows.hooks import slack_failure_hook
from flows.replay import ReplayReport, replay_outbox
from flows.run_log import send_core_logs_to_run_log
from flows.tasks import (
    DeliveryConfigurationError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
    send_alert,
    send_drift_alert,
    send_faves_violation,
    send_safety_event,
)

send_core_logs_to_run_log()

if TYPE_CHECKING:
    from flows.monitors.drift import DriftReport, drift_monitoring_flow
    from flows.monitors.fairness import FairnessReport, fairness_monitoring_flow
    from flows.monitors.security import SecurityReport, security_monitoring_flow

_LAZY = {
    "DriftReport": "flows.monitors.drift",
    "drift_monitoring_flow": "flows.monitors.drift",
    "FairnessReport": "flows.monitors.fairness",
    "fairness_monitoring_flow": "flows.monitors.fairness",
    "SecurityReport": "flows.monitors.security",
    "security_monitoring_flow": "flows.monitors.security",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flows' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "AlertGroup",
    "DeliveryConfigurationError",
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
