"""Prefect Blocks for slack-alerts. Register with ``slack-alerts register``.

``SlackAlertsWebhook`` (``blocks.webhook``) holds one Slack webhook and its
settings; ``SlackAlertsRouter`` (``blocks.router``) sends alerts to webhook
blocks by kind and severity.
"""

from blocks.router import SlackAlertsRouter
from blocks.webhook import SlackAlertsWebhook

__all__ = ["SlackAlertsRouter", "SlackAlertsWebhook"]
