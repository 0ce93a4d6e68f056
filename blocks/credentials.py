"""Kept for imports written before the blocks had one module each; import from ``blocks``."""

from blocks.router import SlackAlertsRouter
from blocks.webhook import SlackAlertsWebhook

__all__ = ["SlackAlertsRouter", "SlackAlertsWebhook"]
