"""slack_alerts: ML-monitoring alerts to Slack, safe for any input.

The orchestrator-agnostic core: alert models, Block Kit formatting, a
webhook sender with pooled connections and retries, a per-model rate
limiter, and secret/PHI hygiene. It never imports Prefect.
"""

from slack_alerts.client import SlackAlertClient
from slack_alerts.config import ConfigError, KindRoute, SlackAlertsConfig
from slack_alerts.delivery import DeliveryResult, DeliveryStatus, WebhookResponse
from slack_alerts.formatting import (
    BlockKitLimits,
    FormatOptions,
    SuppressedSummary,
    format_alert,
    message_blocks,
)
from slack_alerts.models import (
    Alert,
    AlertKind,
    DriftAlert,
    FAVESViolation,
    SafetyEvent,
    SeverityLevel,
)
from slack_alerts.outbox import DurableOutbox
from slack_alerts.rate_limit import RateLimiter, SuppressionLedger
from slack_alerts.retry import RetryPolicy
from slack_alerts.text import escape_mrkdwn, redact_phi, redact_url
from slack_alerts.webhook import PreviewSink, WebhookSender, read_outbox

__all__ = [
    "Alert",
    "AlertKind",
    "BlockKitLimits",
    "ConfigError",
    "DeliveryResult",
    "DeliveryStatus",
    "DriftAlert",
    "DurableOutbox",
    "FAVESViolation",
    "FormatOptions",
    "KindRoute",
    "PreviewSink",
    "RateLimiter",
    "RetryPolicy",
    "SafetyEvent",
    "SeverityLevel",
    "SlackAlertClient",
    "SlackAlertsConfig",
    "SuppressedSummary",
    "SuppressionLedger",
    "WebhookResponse",
    "WebhookSender",
    "escape_mrkdwn",
    "format_alert",
    "message_blocks",
    "read_outbox",
    "redact_phi",
    "redact_url",
]
__version__ = "0.1.0"
