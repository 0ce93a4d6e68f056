"""Prefect Blocks for slack-alerts. Register with ``prefect block register -m blocks``."""

from blocks.credentials import SlackAlertsRouter, SlackAlertsWebhook

__all__ = ["SlackAlertsRouter", "SlackAlertsWebhook"]
