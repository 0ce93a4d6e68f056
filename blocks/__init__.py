"""Prefect Blocks for slack-alerts. Register with ``slack-alerts register``.

``SlackAlertsWebhook`` (``blocks.webhook``) holds one Slack webhook and its
settings; ``SlackAlertsBot`` (``blocks.slack_app``) holds a Slack app's bot
token, for messages that update in place and take button presses;
``SlackAlertsRouter`` (``blocks.router``) sends alerts to webhook or bot
blocks by kind and severity.
"""

from blocks.router import SlackAlertsRouter
from blocks.slack_app import SlackAlertsBot
from blocks.webhook import SlackAlertsWebhook

__all__ = ["SlackAlertsBot", "SlackAlertsRouter", "SlackAlertsWebhook"]
