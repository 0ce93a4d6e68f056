"""Settings that every destination block has, defined once.

Each is a ``typing.Annotated`` type carrying its ``Field`` (title,
description, bounds) and validators, so ``SlackAlertsWebhook`` and
``SlackAlertsBot`` declare them in their own order with their own default,
and the rule behind each lives here alone.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from slack_alerts import SeverityLevel
from slack_alerts.formatting import normalize_mention


def _inline_severity_enum(schema: dict[str, Any]) -> None:
    """The severity as an inline enum, so the UI labels it with this field's own title.

    As a ``$ref`` to the shared ``SeverityLevel`` definition, the Prefect UI
    labelled the field with the definition's title ("SeverityLevel").
    """
    schema.pop("$ref", None)
    schema.pop("allOf", None)
    schema.update(type="string", enum=[level.value for level in SeverityLevel])


def _valid_mention(value: str | None) -> str | None:
    normalize_mention(value)  # raises ValueError naming what it takes
    return value


RateLimitPerMinute = Annotated[
    int,
    Field(
        ge=1,
        title="Rate limit per minute (per model)",
        description="Messages per model per minute, enforced across all workers by the server.",
    ),
]
RepeatIntervalSeconds = Annotated[
    float,
    Field(
        ge=0,
        title="Repeat interval (seconds)",
        description="A firing alert is not sent again within this time; its count grows instead.",
    ),
]
MentionOnCritical = Annotated[
    str | None,
    Field(
        title="Mention on CRITICAL",
        description="Who to ping on CRITICAL: here, channel, a user id (U…) or a group (S…).",
    ),
    AfterValidator(_valid_mention),
]
RedactPii = Annotated[
    bool,
    Field(
        title="Redact PHI/PII",
        description="Mask emails, phone numbers, SSNs and MRNs before anything leaves the process.",
    ),
]
MinSeverity = Annotated[
    SeverityLevel,
    Field(
        title="Minimum severity (when used as a route)",
        description="In a Slack Alerts Router, this route takes alerts of at least this severity.",
        json_schema_extra=_inline_severity_enum,
    ),
]
DashboardUrlTemplate = Annotated[
    str | None,
    Field(
        title="Dashboard URL template",
        description="Adds an 'Open dashboard' button; fills {model_id}, {fingerprint}, {kind}.",
    ),
]
RunbookUrlTemplate = Annotated[
    str | None,
    Field(
        title="Runbook URL template",
        description="Adds an 'Open runbook' button; fills {model_id}, {fingerprint}, {kind}.",
    ),
]
