"""The Slack Alerts Bot block: a Slack app's bot token, signing secret and message settings."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, HttpUrl, SecretStr, field_validator

from blocks.fields import (
    DashboardUrlTemplate,
    MentionOnCritical,
    MinSeverity,
    RateLimitPerMinute,
    RedactPii,
    RepeatIntervalSeconds,
    RunbookUrlTemplate,
)
from blocks.metadata import LOGO_URL
from slack_alerts import SeverityLevel
from slack_alerts.notify.slack_api import SLACK_API_URL, validate_bot_token
from slack_alerts.text import safe_http_url

BOT_TOKEN_PATTERN = r"^(?:\*{8}|xoxb-[A-Za-z0-9-]{1,250})$"  # noqa: S105 - a pattern
APP_TOKEN_PATTERN = r"^(?:\*{8}|xapp-[A-Za-z0-9-]{1,250})$"  # noqa: S105 - a pattern


class SlackAlertsBot(Block):
    """A Slack app (bot token) that posts alerts, updates them in place and takes button presses.

    Messages go through Slack's Web API, so a group's message is edited as it
    changes and turns green when it resolves; its thread says what changed.
    The buttons (Acknowledge, Silence 4 h, Silence 24 h) reach
    ``slack-alerts serve-interactions``, verified with the signing secret, or
    arrive over Socket Mode with the app-level token.
    """

    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name = "Slack Alerts Bot"
    _block_type_slug = "slack-alerts-bot"
    _logo_url = LOGO_URL
    _documentation_url = HttpUrl("https://api.slack.com/methods/chat.postMessage")
    _description = (
        "Slack app with a bot token: ML alerts that update in place, thread replies, "
        "and Acknowledge / Silence buttons."
    )
    _code_example = """
    ```python
    from blocks import SlackAlertsBot

    slack_alerts_bot = SlackAlertsBot.load("BLOCK_NAME")
    # pass its name as the monitoring flows' `webhook`, or serve its buttons:
    # slack-alerts serve-interactions --bot BLOCK_NAME
    ```
    """

    bot_token: SecretStr = Field(
        default=...,
        title="Bot token",
        description="The app's bot token (xoxb-…), from OAuth & Permissions. Needs chat:write.",
        json_schema_extra={"pattern": BOT_TOKEN_PATTERN},
    )
    signing_secret: SecretStr | None = Field(
        default=None,
        title="Signing secret",
        description="From Basic Information; verifies button presses sent to the "
        "interactivity URL.",
    )
    app_token: SecretStr | None = Field(
        default=None,
        title="App-level token (Socket Mode)",
        description="xapp-… with connections:write, to receive button presses without an "
        "inbound URL.",
        json_schema_extra={"pattern": APP_TOKEN_PATTERN},
    )
    channel: str = Field(
        default=...,
        title="Channel",
        description="Channel name or id, such as #ml-alerts. Invite the app to it.",
    )
    update_message: bool = Field(
        default=True,
        title="Update messages in place",
        description="Alertmanager's update_message: a model's alerts keep one message, edited "
        "as they change and turned green when they resolve.",
    )
    thread_replies: bool = Field(
        default=True,
        title="Thread replies",
        description="Say what changed (new alerts, resolution) in the message's thread.",
    )
    allowed_users: list[str] = Field(
        default_factory=list,
        title="Who may acknowledge or silence",
        description="Slack user ids (U…) and user-group ids (S…). Empty: anyone in the channel.",
    )
    rate_limit_per_minute: RateLimitPerMinute = 10
    repeat_interval_seconds: RepeatIntervalSeconds = 4 * 3600.0
    send_resolved: bool = Field(
        default=True,
        title="Send resolved notices",
        description="Turn the message green when its alerts' checks are healthy again.",
    )
    mention_on_critical: MentionOnCritical = None
    redact_pii: RedactPii = True
    min_severity: MinSeverity = SeverityLevel.INFO
    dashboard_url_template: DashboardUrlTemplate = None
    runbook_url_template: RunbookUrlTemplate = None
    timeout_seconds: float = Field(
        default=10.0, gt=0, title="HTTP timeout (seconds)", description="Timeout of one call."
    )
    api_url: str = Field(
        default=SLACK_API_URL,
        title="Slack API URL",
        description="Slack's Web API; change only for a proxy or a local stand-in.",
    )

    @field_validator("bot_token")
    @classmethod
    def _valid_token(cls, value: SecretStr) -> SecretStr:
        validate_bot_token(value.get_secret_value())
        return value

    @field_validator("app_token")
    @classmethod
    def _valid_app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("app_token must be an app-level token (xapp-…) with connections:write")
        return value

    @field_validator("allowed_users")
    @classmethod
    def _valid_ids(cls, value: list[str]) -> list[str]:
        import re

        # Slack's ids: U/W (users) or S (user groups), then upper-case letters and digits.
        shape = re.compile(r"[UWS][A-Z0-9]{2,}")
        for position, item in enumerate(value):
            if not shape.fullmatch(item.strip()):
                raise ValueError(
                    f"allowed_users[{position}] is not a Slack id: give user ids (U…, W…) or "
                    "user group ids (S…) such as U024BE7LH, not names (Slack: profile > "
                    "⋮ > Copy member ID)"
                )
        return [item.strip() for item in value]

    @field_validator("api_url")
    @classmethod
    def _valid_api_url(cls, value: str) -> str:
        url = value if value.endswith("/") else f"{value}/"
        if safe_http_url(url) is None:
            raise ValueError("api_url must be an http(s) URL such as https://slack.com/api/")
        return url
