"""The Slack Alerts Webhook block: one Slack incoming webhook, its settings and limits."""

from __future__ import annotations

from typing import cast

import anyio.to_thread
from prefect.blocks.abstract import NotificationBlock, NotificationError
from pydantic import ConfigDict, Field, SecretStr, field_validator

from blocks.fields import (
    DashboardUrlTemplate,
    MentionOnCritical,
    MinSeverity,
    RateLimitPerMinute,
    RedactPii,
    RepeatIntervalSeconds,
    RunbookUrlTemplate,
)
from blocks.metadata import (
    DOCUMENTATION_URL,
    LOGO_URL,
    MAX_WEBHOOK_URL_LENGTH,
    WEBHOOK_URL_PATTERN,
)
from slack_alerts import DurableOutbox, RetryPolicy, SeverityLevel, SlackAlertClient
from slack_alerts.notify.webhook import validate_webhook_url


class SlackAlertsWebhook(NotificationBlock):
    """A Slack incoming webhook for ML-monitoring alerts, with per-model limits."""

    # pydantic echoes the rejected input in errors; here that is the secret.
    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name = "Slack Alerts Webhook"
    _block_type_slug = "slack-alerts-webhook"
    _logo_url = LOGO_URL
    _documentation_url = DOCUMENTATION_URL
    _description = (
        "Slack incoming webhook for model drift, FAVES fairness and security alerts, "
        "with per-model rate and concurrency limits enforced by the Prefect server."
    )
    # The UI shows this on the block's page with BLOCK_NAME replaced by the
    # block's name (its first occurrence only, so it appears once).
    _code_example = """
    ```python
    from blocks import SlackAlertsWebhook

    slack_alerts_webhook = SlackAlertsWebhook.load("BLOCK_NAME")
    with slack_alerts_webhook.get_client() as client:
        client.send_message("Hello from slack-alerts", title="Test")
    ```
    """

    webhook_url: SecretStr = Field(
        default=...,
        title="Webhook URL",
        description=(
            "Slack incoming webhook URL (https://hooks.slack.com/services/...). Its path is "
            "the secret: it is stored encrypted and never shown in logs."
        ),
        json_schema_extra={"pattern": WEBHOOK_URL_PATTERN, "maxLength": MAX_WEBHOOK_URL_LENGTH},
    )
    channel: str | None = Field(
        default=None,
        title="Channel",
        description="Channel override such as #ml-alerts. Most webhooks are bound to one channel.",
    )
    username: str | None = Field(
        default=None, title="Username", description="Display name of the bot in Slack."
    )
    icon_emoji: str | None = Field(
        default=None, title="Icon emoji", description="Bot icon, for example :rotating_light:."
    )
    rate_limit_per_minute: RateLimitPerMinute = 10
    burst: int | None = Field(
        default=None,
        ge=1,
        title="Burst",
        description="Messages a model may send at once before the rate applies. Default: the rate.",
    )
    max_concurrent_per_model: int = Field(
        default=2,
        ge=1,
        title="Max in-flight sends per model (no longer used)",
        description=(
            "Kept so blocks saved by earlier versions still load. A model's messages to one "
            "destination now go one at a time, under the model's lock on the server."
        ),
    )
    rate_limit_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        title="Wait for a rate-limit slot (seconds)",
        description=(
            "How long a send waits for a slot. After that the alert is not dropped: it is "
            "counted and reported in the model's next message."
        ),
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, title="HTTP timeout (seconds)", description="Timeout of one post."
    )
    mention_on_critical: MentionOnCritical = None
    redact_pii: RedactPii = True
    min_severity: MinSeverity = SeverityLevel.INFO
    repeat_interval_seconds: RepeatIntervalSeconds = 4 * 3600.0
    send_resolved: bool = Field(
        default=True,
        title="Send resolved notices",
        description="Post a green 'Resolved' message when a firing alert's check is healthy again.",
    )
    dashboard_url_template: DashboardUrlTemplate = None
    runbook_url_template: RunbookUrlTemplate = None

    @field_validator("webhook_url")
    @classmethod
    def _valid_url(cls, value: SecretStr) -> SecretStr:
        validate_webhook_url(value.get_secret_value())
        return value

    @property
    def effective_burst(self) -> int:
        return self.burst or self.rate_limit_per_minute

    def get_client(
        self, retry_policy: RetryPolicy | None = None, durable_outbox: DurableOutbox | None = None
    ) -> SlackAlertClient:
        """A core client configured from this block.

        Inside Prefect tasks, pass ``RetryPolicy.rate_limit_only()``: Prefect
        then owns transient retries and the client only waits out 429s.
        """
        return SlackAlertClient(
            self.webhook_url.get_secret_value(),
            channel=self.channel,
            username=self.username,
            icon_emoji=self.icon_emoji,
            rate_limit_per_minute=self.rate_limit_per_minute,
            timeout_seconds=self.timeout_seconds,
            mention_on_critical=self.mention_on_critical,
            redact_pii=self.redact_pii,
            dashboard_url_template=self.dashboard_url_template,
            runbook_url_template=self.runbook_url_template,
            retry_policy=retry_policy,
            durable_outbox=durable_outbox,
        )

    async def notify(self, body: str, subject: str | None = None) -> None:
        """Send a plain notification (Prefect Automations call this)."""

        def send() -> None:
            with self.get_client() as client:
                result = client.send_message(body, title=subject)
            if not result.ok:
                message = f"Slack notification failed: {result.status.value} ({result.error})"
                self.logger.error(message)
                # _raise_on_failure is NotificationBlock's own flag, set by
                # its raise_on_failure() context manager; we only read it.
                if self._raise_on_failure:
                    raise NotificationError(log=message)

        await anyio.to_thread.run_sync(send)

    @classmethod
    def from_slack_webhook(cls, name: str, **settings: object) -> SlackAlertsWebhook:
        """Build from a saved Prefect ``SlackWebhook`` block (no secret re-entry)."""
        from prefect.blocks.notifications import SlackWebhook

        existing = cast(SlackWebhook, SlackWebhook.load(name, _sync=True))  # type: ignore[call-arg]
        return cls(webhook_url=existing.url, **settings)
