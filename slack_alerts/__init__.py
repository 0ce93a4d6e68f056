"""slack_alerts: ML-monitoring alerts to Slack, safe for any input.

The orchestrator-agnostic core: alert models, Block Kit formatting, the one
delivery pipeline (route, group, dedup, gate, notify, record) with its
notifiers, state stores, gate and durable outbox, and secret/PHI hygiene.
It never imports Prefect, and importing it does not import numpy, pandas or
scipy (the statistics live in ``slack_alerts.checks``).
"""

from typing import TYPE_CHECKING, Any

from slack_alerts.client import SlackAlertClient
from slack_alerts.config import ConfigError, KindRoute, SlackAlertsConfig
from slack_alerts.delivery import DeliveryResult, DeliveryStatus, MessageMeta, WebhookResponse
from slack_alerts.formatting import (
    BlockKitLimits,
    FormatOptions,
    SuppressedSummary,
    format_alert,
    message_blocks,
)
from slack_alerts.gate import Admission, Gate, InProcessGate
from slack_alerts.models import (
    Alert,
    AlertKind,
    DriftAlert,
    FAVESViolation,
    SafetyEvent,
    SeverityLevel,
)
from slack_alerts.notify import Notifier, PreviewSink, WebhookSender, read_outbox
from slack_alerts.outbox import DurableOutbox, OutboxRecord
from slack_alerts.pipeline import AlertOutcome, AlertPipeline, AlertStatus, PipelineOutcome
from slack_alerts.rate_limit import RateLimiter
from slack_alerts.retry import RetryPolicy
from slack_alerts.routing import KindRouter, Receiver, ReceiverSettings, Router, StaticRouter
from slack_alerts.state import MemoryStateStore, StateStore
from slack_alerts.text import escape_mrkdwn, redact_phi, redact_secrets, redact_url

__all__ = [
    "Admission",
    "Alert",
    "AlertKind",
    "AlertOutcome",
    "AlertPipeline",
    "AlertStatus",
    "BlockKitLimits",
    "ConfigError",
    "DeliveryResult",
    "DeliveryStatus",
    "DriftAlert",
    "DurableOutbox",
    "FAVESViolation",
    "FormatOptions",
    "Gate",
    "InProcessGate",
    "KindRoute",
    "KindRouter",
    "MemoryStateStore",
    "MessageMeta",
    "Notifier",
    "OutboxRecord",
    "PipelineOutcome",
    "PreviewSink",
    "RateLimiter",
    "Receiver",
    "ReceiverSettings",
    "RetryPolicy",
    "Router",
    "SafetyEvent",
    "SeverityLevel",
    "SlackAlertClient",
    "SlackAlertsConfig",
    "SqlStateStore",
    "SqliteStateStore",
    "StateStore",
    "StaticRouter",
    "SuppressedSummary",
    "WebhookResponse",
    "WebhookSender",
    "escape_mrkdwn",
    "format_alert",
    "message_blocks",
    "read_outbox",
    "redact_phi",
    "redact_secrets",
    "redact_url",
]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from slack_alerts.sqlstate import SqliteStateStore, SqlStateStore


def __getattr__(name: str) -> Any:
    # The SQL stores need SQLAlchemy: imported on first use, not with the package.
    if name in ("SqliteStateStore", "SqlStateStore"):
        from slack_alerts import sqlstate

        return getattr(sqlstate, name)
    raise AttributeError(f"module 'slack_alerts' has no attribute {name!r}")
