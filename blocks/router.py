"""The Slack Alerts Router block: alerts by kind and severity to saved webhook blocks."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field

from blocks.metadata import DOCUMENTATION_URL, LOGO_URL
from blocks.slack_app import SlackAlertsBot
from blocks.webhook import SlackAlertsWebhook
from slack_alerts import SeverityLevel
from slack_alerts.models import Alert


class SlackAlertsRouter(Block):
    """Routes alerts by kind and minimum severity to saved webhook or bot blocks.

    A route may be a Slack Alerts Bot block: its channel is the route's channel.

    For each alert the kind's route is used when the alert's severity is at
    least that route's ``min_severity``; every other alert goes to
    ``default``. So a security team can take CRITICAL safety events in its
    own channel while everything else stays in the ML channel.
    """

    _block_type_name = "Slack Alerts Router"
    _block_type_slug = "slack-alerts-router"
    _logo_url = LOGO_URL
    _documentation_url = DOCUMENTATION_URL
    _description = "Routes ML alerts to Slack Alerts Webhook blocks by kind and severity."
    # The UI shows this on the block's page with BLOCK_NAME replaced by the
    # block's name (its first occurrence only, so it appears once).
    _code_example = """
    ```python
    from blocks import SlackAlertsRouter

    slack_alerts_router = SlackAlertsRouter.load("BLOCK_NAME")
    webhook = slack_alerts_router.route_for("safety", "critical")  # where those alerts go
    ```
    """

    default: SlackAlertsWebhook | SlackAlertsBot = Field(
        default=...,
        title="Default route",
        description="Receives every alert that no other route takes.",
    )
    drift: SlackAlertsWebhook | SlackAlertsBot | None = Field(
        default=None, title="Drift route", description="Drift alerts (model and data drift)."
    )
    compliance: SlackAlertsWebhook | SlackAlertsBot | None = Field(
        default=None, title="Compliance route", description="FAVES violations."
    )
    safety: SlackAlertsWebhook | SlackAlertsBot | None = Field(
        default=None, title="Safety route", description="Security and safety events."
    )

    def route(self, alert: Alert) -> SlackAlertsWebhook | SlackAlertsBot:
        return self.route_for(alert.kind, alert.severity)

    def route_for(
        self, kind: str, severity: SeverityLevel | str
    ) -> SlackAlertsWebhook | SlackAlertsBot:
        candidate: SlackAlertsWebhook | SlackAlertsBot | None = getattr(self, kind, None)
        if candidate is not None and SeverityLevel(severity).rank >= candidate.min_severity.rank:
            return candidate
        return self.default
