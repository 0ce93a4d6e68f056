"""Block Kit messages for alerts, valid for any input.

Pure functions: an alert and some options in, a JSON-ready dict out. Every
user-supplied string goes through ``_user_text`` (PHI redaction, mrkdwn
escaping, truncation) and every element respects Slack's published limits,
so no alert can produce a payload Slack rejects with ``invalid_blocks``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from slack_alerts.models import Alert, DriftAlert, FAVESViolation, SafetyEvent, SeverityLevel
from slack_alerts.text import (
    escape_mrkdwn,
    redact_phi,
    redact_secrets,
    safe_http_url,
    single_line,
    truncate,
)


class BlockKitLimits:
    """Slack's limits for a message (https://api.slack.com/reference/block-kit)."""

    BLOCKS = 50
    HEADER_TEXT = 150
    SECTION_TEXT = 3000
    SECTION_FIELDS = 10
    FIELD_TEXT = 2000
    CONTEXT_ELEMENTS = 10
    CONTEXT_TEXT = 2000
    BUTTON_TEXT = 75
    BUTTON_URL = 3000
    ACTION_ELEMENTS = 25
    MESSAGE_TEXT = 4000


# Kept well below the hard limits so one alert stays readable on a phone.
MAX_DETAIL_FIELDS = 20
MAX_DETAIL_KEY = 80
MAX_DETAIL_VALUE = 500
MAX_GROUPS_SHOWN = 25

KIND_LABELS = {"drift": "Drift", "compliance": "FAVES violation", "safety": "Safety event"}

_MENTION_SPECIAL = {"here": "<!here>", "channel": "<!channel>", "everyone": "<!everyone>"}
_MENTION_ID = re.compile(r"[A-Z0-9]{2,32}")


def normalize_mention(value: str | None) -> str | None:
    """Turn a configured mention into Slack syntax.

    Accepts ``here``/``channel``/``everyone`` (with or without ``@``, ``!`` or
    angle brackets), a user id ``U…``/``W…`` or a user-group id ``S…``.
    Raises ValueError for anything else, so a typo cannot silently page no one.
    """
    if value is None or not value.strip():
        return None
    raw = value.strip().strip("<>").lstrip("!@")
    if raw.lower() in _MENTION_SPECIAL:
        return _MENTION_SPECIAL[raw.lower()]
    if raw.startswith("subteam^"):
        raw = raw.removeprefix("subteam^")
    if _MENTION_ID.fullmatch(raw):
        if raw[0] == "S":
            return f"<!subteam^{raw}>"
        if raw[0] in "UW":
            return f"<@{raw}>"
    raise ValueError(
        "mention_on_critical must be 'here', 'channel', a user id (U…) or a user-group id (S…)"
    )


@dataclass(frozen=True)
class FormatOptions:
    """Message settings that come from the client, not from the alert."""

    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    mention_on_critical: str | None = None  # already normalised Slack syntax
    redact_pii: bool = True
    dashboard_url_template: str | None = None
    runbook_url_template: str | None = None
    # Set for destinations that receive button presses (a Slack app with
    # interactivity): the receiver's key, carried in the buttons' value.
    interaction_key: str | None = None
    # The Prefect flow run that raised the alerts ("Open run"), when an
    # alert's details carry no ``run_url`` of their own.
    run_url: str | None = None


@dataclass(frozen=True)
class SuppressedSummary:
    """Alerts held back by the rate limiter, reported in the next message."""

    count: int
    since: datetime

    def sentence(self) -> str:
        since = self.since.astimezone(UTC).strftime("%H:%M")
        noun = "alert" if self.count == 1 else "alerts"
        return f"{self.count} more {noun} suppressed since {since} UTC"


def _user_text(value: object, limit: int, options: FormatOptions, *, one_line: bool = False) -> str:
    text = value if isinstance(value, str) else str(value)
    # Secrets never go out, whatever redact_pii says: user text includes error
    # messages that third parties wrote, and those echo URLs and tokens.
    text = redact_secrets(text)
    if options.redact_pii:
        text = redact_phi(text)
    if one_line:
        text = single_line(text)
    return truncate(escape_mrkdwn(text), limit)


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def _mrkdwn(text: str, limit: int) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": truncate(text, limit) or " "}


def _field(label: str, value: str) -> dict[str, Any]:
    # label is ours; value is already escaped user text or ours.
    return _mrkdwn(f"*{label}*\n{value}", BlockKitLimits.FIELD_TEXT)


def _number(value: float | None, fmt: str = ".4g") -> str:
    return "n/a" if value is None else format(value, fmt)


def render_value(value: Any) -> str:
    """A details value as compact text: scalars as-is, containers as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return format(value, ".6g")
    if isinstance(value, bool | int) or value is None:
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    try:
        return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


_LINK_KEYS = ("dashboard_url", "runbook_url", "run_url")


def _detail_fields(
    details: Mapping[Any, Any], options: FormatOptions
) -> tuple[list[dict[str, Any]], int]:
    fields = []
    shown = 0
    total = 0
    for key, value in details.items():
        if key in _LINK_KEYS:
            continue
        total += 1
        if shown >= MAX_DETAIL_FIELDS:
            continue
        label = _user_text(key, MAX_DETAIL_KEY, options, one_line=True)
        text = _user_text(render_value(value), MAX_DETAIL_VALUE, options)
        fields.append(_field(label, text))
        shown += 1
    return fields, total - shown


def _sections_of_fields(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    size = BlockKitLimits.SECTION_FIELDS
    return [
        {"type": "section", "fields": fields[i : i + size]} for i in range(0, len(fields), size)
    ]


def _expand_template(template: str, alert: Alert) -> str:
    return (
        template.replace("{model_id}", quote(alert.model_id, safe=""))
        .replace("{fingerprint}", alert.fingerprint)
        .replace("{kind}", alert.kind)
    )


ACK_ACTION = "slack_alerts.ack"
SILENCE_ACTIONS = {"slack_alerts.silence_4h": 4, "slack_alerts.silence_24h": 24}
INTERACTIVE_ACTIONS = frozenset({ACK_ACTION, *SILENCE_ACTIONS})


def interaction_value(receiver_key: str, model_id: str) -> str:
    """What a button carries back: the group it acts on (never user text shown)."""
    return json.dumps({"r": receiver_key, "m": model_id}, separators=(",", ":"))


def _interactive_buttons(alert: Alert, options: FormatOptions) -> list[dict[str, Any]]:
    if not options.interaction_key:
        return []
    value = interaction_value(options.interaction_key, alert.model_id)
    labels = [(ACK_ACTION, "Acknowledge")] + [
        (action, f"Silence {hours} h") for action, hours in SILENCE_ACTIONS.items()
    ]
    return [
        {
            "type": "button",
            "text": _plain(label, BlockKitLimits.BUTTON_TEXT),
            "action_id": action,
            "value": value,
            **({"style": "primary"} if action == ACK_ACTION else {}),
        }
        for action, label in labels
    ]


def _buttons(
    alert: Alert, extras: Mapping[str, Any], options: FormatOptions
) -> list[dict[str, Any]]:
    candidates = [
        ("Open dashboard", extras.get("dashboard_url"), options.dashboard_url_template),
        ("Open runbook", extras.get("runbook_url"), options.runbook_url_template),
        ("Open run", extras.get("run_url") or options.run_url, None),
    ]
    buttons = []
    for label, given, template in candidates:
        url = given if isinstance(given, str) else None
        if url is None and template:
            url = _expand_template(template, alert)
        if url is None:
            continue
        safe = safe_http_url(url, max_length=BlockKitLimits.BUTTON_URL)
        # A URL carrying PHI is dropped, not redacted: a redacted URL is a
        # wrong link, and a wrong link in an incident wastes minutes.
        if safe is None or (options.redact_pii and redact_phi(safe) != safe):
            continue
        buttons.append(
            {
                "type": "button",
                "text": _plain(label, BlockKitLimits.BUTTON_TEXT),
                "url": safe,
                "action_id": label.lower().replace(" ", "_"),
            }
        )
    return _interactive_buttons(alert, options) + buttons


def _extras(alert: Alert) -> Mapping[str, Any]:
    return alert.metadata if isinstance(alert, SafetyEvent) else alert.details


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def drift_sentence(alert: DriftAlert, metric: str) -> tuple[str, str]:
    """(one readable sentence, the change) for a drift alert, naming its statistic.

    Reads the keys ``slack_alerts.checks.drift.drift_alerts`` puts in
    ``details``: ``statistic``/``test``/``p_value`` for a feature,
    ``schema_change`` for a column in one window only.
    """
    details = alert.details
    schema = details.get("schema_change")
    if schema == "missing_in_current":
        return f"{metric}: the column is missing from the current data", "column missing"
    if schema == "new_in_current":
        return f"{metric}: a new column, not in the reference data", "new column"
    statistic = details.get("statistic")
    if isinstance(statistic, str) and statistic:
        label = single_line(statistic)[:20]
        sentence = f"{metric}: {label} {alert.current_value:.2f} (threshold {alert.threshold:.2f})"
        test, p_value = details.get("test"), _finite(details.get("p_value"))
        if isinstance(test, str) and test and p_value is not None:
            sentence += f", {single_line(test)[:20]} p = {p_value:.2g}"
        return sentence, f"{label} {alert.current_value:.2f}"
    change = (
        "n/a (zero baseline)"
        if alert.drift_percentage is None
        else f"{alert.drift_percentage:+.1f}%"
    )
    if _finite(details.get("relative_degradation")) is not None:
        # A model metric: the threshold is a relative degradation.
        moved = "rose" if alert.current_value > alert.baseline_value else "fell"
        return (
            f"{metric} {moved} from {_number(alert.baseline_value)} to "
            f"{_number(alert.current_value)} ({change}; alerts at a "
            f"{alert.threshold * 100:.3g}% degradation)"
        ), change
    return (
        f"{metric} is {_number(alert.current_value)} against a baseline of "
        f"{_number(alert.baseline_value)} ({change}; threshold {_number(alert.threshold)})"
    ), change


def _summary_and_fields(
    alert: Alert, options: FormatOptions
) -> tuple[str, str, list[dict[str, Any]]]:
    """(one-line summary for the fallback text, section text, core fields)."""
    sev = alert.severity.value.upper()
    if isinstance(alert, DriftAlert):
        metric = _user_text(alert.metric, 200, options, one_line=True)
        name = _user_text(alert.model_name, 200, options, one_line=True)
        summary, change = drift_sentence(alert, metric)
        fields = [
            _field("Model", name),
            _field("Model ID", f"`{_user_text(alert.model_id, 200, options, one_line=True)}`"),
            _field("Metric", metric),
            _field("Severity", sev),
            _field("Current", _number(alert.current_value)),
            _field("Baseline", _number(alert.baseline_value)),
            _field("Change", change),
            _field("Threshold", _number(alert.threshold)),
        ]
        return summary, summary, fields
    if isinstance(alert, FAVESViolation):
        name = _user_text(alert.model_name, 200, options, one_line=True)
        vtype = _user_text(alert.violation_type, 200, options, one_line=True)
        description = _user_text(alert.description, BlockKitLimits.SECTION_TEXT, options)
        groups = alert.affected_groups[:MAX_GROUPS_SHOWN]
        more = len(alert.affected_groups) - len(groups)
        group_text = ", ".join(_user_text(g, 100, options, one_line=True) for g in groups)
        if more:
            group_text += f" and {more} more"
        fields = [
            _field("Model", name),
            _field("Model ID", f"`{_user_text(alert.model_id, 200, options, one_line=True)}`"),
            _field("Violation", vtype),
            _field("Severity", sev),
            _field("Affected groups", truncate(group_text or "none listed", 1500)),
        ]
        summary = f"{vtype} violation: {_user_text(alert.description, 300, options, one_line=True)}"
        return summary, description, fields
    event = _user_text(alert.event_type, 200, options, one_line=True)
    description = _user_text(alert.description, BlockKitLimits.SECTION_TEXT, options)
    fields = [
        _field("Event", event),
        _field("Model ID", f"`{_user_text(alert.model_id, 200, options, one_line=True)}`"),
        _field("Severity", sev),
    ]
    if alert.incident_id:
        fields.append(_field("Incident", f"`{_user_text(alert.incident_id, 100, options)}`"))
    summary = f"{event}: {_user_text(alert.description, 300, options, one_line=True)}"
    return summary, description, fields


def format_alert(
    alert: Alert,
    options: FormatOptions | None = None,
    *,
    suppressed: SuppressedSummary | None = None,
    extra_context: Sequence[str] = (),
) -> dict[str, Any]:
    """Build the webhook payload for one alert.

    ``extra_context``: our own sentences for the context line (not user text).
    """
    options = options or FormatOptions()
    severity = alert.severity
    label = KIND_LABELS[alert.kind]
    subject = _user_text(alert.title_subject, BlockKitLimits.HEADER_TEXT, options, one_line=True)
    header = f"{severity.emoji} {severity.value.upper()} · {label}: {subject}"
    summary, section_text, fields = _summary_and_fields(alert, options)
    extras = _extras(alert)
    detail_fields, hidden = _detail_fields(extras, options)

    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(header, BlockKitLimits.HEADER_TEXT)},
    ]
    if section_text:
        blocks.append(
            {"type": "section", "text": _mrkdwn(section_text, BlockKitLimits.SECTION_TEXT)}
        )
    blocks.extend(_sections_of_fields(fields))
    blocks.extend(_sections_of_fields(detail_fields))

    observed = alert.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    context = [f"Observed {observed}", f"Fingerprint `{alert.fingerprint}`"]
    if hidden:
        context.append(f"{hidden} more detail{'s' if hidden != 1 else ''} not shown")
    if suppressed is not None and suppressed.count > 0:
        context.append(f":mute: {suppressed.sentence()}")
    context += list(extra_context)
    blocks.append(
        {
            "type": "context",
            "elements": [
                _mrkdwn(c, BlockKitLimits.CONTEXT_TEXT)
                for c in context[: BlockKitLimits.CONTEXT_ELEMENTS]
            ],
        }
    )
    buttons = _buttons(alert, extras, options)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})

    mention = options.mention_on_critical if severity is SeverityLevel.CRITICAL else None
    fallback = f"[{severity.value.upper()}] {label} on {subject}: {summary}"
    if suppressed is not None and suppressed.count > 0:
        fallback += f" ({suppressed.sentence()})"
    if mention:
        fallback = f"{mention} {fallback}"
    return _envelope(fallback, severity, blocks[: BlockKitLimits.BLOCKS], options)


def _envelope(
    text: str, severity: SeverityLevel, blocks: list[dict[str, Any]], options: FormatOptions
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "text": truncate(text, BlockKitLimits.MESSAGE_TEXT),
        "attachments": [{"color": severity.to_color(), "blocks": blocks}],
    }
    if options.channel:
        payload["channel"] = options.channel
    if options.username:
        payload["username"] = options.username
    if options.icon_emoji:
        payload["icon_emoji"] = options.icon_emoji
    return payload


def message_blocks(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All blocks of a payload, wherever they sit (top level or attachments)."""
    blocks = list(payload.get("blocks", []))
    for attachment in payload.get("attachments", []):
        blocks.extend(attachment.get("blocks", []))
    return blocks


def plain_message(
    body: str,
    severity: SeverityLevel = SeverityLevel.INFO,
    options: FormatOptions | None = None,
    *,
    title: str | None = None,
) -> dict[str, Any]:
    """A free-text message (notifications, test messages), hygiene included."""
    options = options or FormatOptions()
    blocks: list[dict[str, Any]] = []
    fallback = _user_text(body, BlockKitLimits.MESSAGE_TEXT, options)
    if title:
        heading = _user_text(title, BlockKitLimits.HEADER_TEXT, options, one_line=True)
        blocks.append(
            {
                "type": "header",
                "text": _plain(f"{severity.emoji} {heading}", BlockKitLimits.HEADER_TEXT),
            }
        )
        fallback = truncate(f"{heading}: {fallback}", BlockKitLimits.MESSAGE_TEXT)
    section = _user_text(body, BlockKitLimits.SECTION_TEXT, options)
    if section:
        blocks.append({"type": "section", "text": _mrkdwn(section, BlockKitLimits.SECTION_TEXT)})
    return _envelope(fallback or " ", severity, blocks, options)


# -- digests and resolved notices (Alertmanager-style grouping) -------------------

MAX_DIGEST_LISTED = 20


def alert_title(alert: Alert) -> str:
    if isinstance(alert, DriftAlert):
        return alert.metric
    if isinstance(alert, FAVESViolation):
        return alert.violation_type
    return alert.event_type


def _severity_counts(alerts: list[Alert]) -> str:
    counts = {s: 0 for s in (SeverityLevel.CRITICAL, SeverityLevel.WARNING, SeverityLevel.INFO)}
    for alert in alerts:
        counts[alert.severity] += 1
    return ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)


def format_digest(
    alerts: list[Alert],
    options: FormatOptions | None = None,
    *,
    suppressed: SuppressedSummary | None = None,
    max_listed: int = MAX_DIGEST_LISTED,
    extra_context: Sequence[str] = (),
) -> dict[str, Any]:
    """One message for several alerts of one model, worst first.

    Beyond ``max_listed`` the rest is one line, "and N more", with a count per
    severity: a storm becomes one readable message, never a second flood.
    A single alert gets the ordinary ``format_alert`` message.
    """
    if not alerts:
        raise ValueError("format_digest needs at least one alert")
    if len(alerts) == 1:
        return format_alert(alerts[0], options, suppressed=suppressed, extra_context=extra_context)
    options = options or FormatOptions()
    ordered = sorted(alerts, key=lambda a: (-a.severity.rank, a.timestamp))
    worst = ordered[0].severity
    listed, rest = ordered[: max(1, min(max_listed, 40))], ordered[max(1, min(max_listed, 40)) :]
    subject = _user_text(
        ordered[0].title_subject, BlockKitLimits.HEADER_TEXT, options, one_line=True
    )
    header = f"{worst.emoji} {worst.value.upper()} · {len(alerts)} alerts for {subject}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(header, BlockKitLimits.HEADER_TEXT)},
        {
            "type": "section",
            "text": _mrkdwn(f"*{_severity_counts(ordered)}*", BlockKitLimits.SECTION_TEXT),
        },
    ]
    for alert in listed:
        summary, _, _ = _summary_and_fields(alert, options)
        title = _user_text(alert_title(alert), 200, options, one_line=True)
        # The title is already shown in code style; don't repeat it in the summary.
        summary = summary.removeprefix(f"{title} violation: ").removeprefix(f"{title}: ")
        severity = alert.severity
        line = (
            f"{severity.emoji} *{severity.value.upper()}* {KIND_LABELS[alert.kind]} "
            f"`{title}`: {summary}"
        )
        blocks.append({"type": "section", "text": _mrkdwn(line, 1000)})
    first = min(a.timestamp for a in ordered).astimezone(UTC).strftime("%H:%M")
    last = max(a.timestamp for a in ordered).astimezone(UTC).strftime("%H:%M")
    context = [
        f"Observed {first} to {last} UTC",
        f"Model `{_user_text(ordered[0].model_id, 200, options, one_line=True)}`",
    ]
    if rest:
        context.append(f"and {len(rest)} more: {_severity_counts(rest)}")
    if suppressed is not None and suppressed.count > 0:
        context.append(f":mute: {suppressed.sentence()}")
    context += list(extra_context)
    blocks.append(
        {
            "type": "context",
            "elements": [
                _mrkdwn(c, BlockKitLimits.CONTEXT_TEXT)
                for c in context[: BlockKitLimits.CONTEXT_ELEMENTS]
            ],
        }
    )
    buttons = _buttons(ordered[0], _extras(ordered[0]), options)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    mention = options.mention_on_critical if worst is SeverityLevel.CRITICAL else None
    fallback = (
        f"[{worst.value.upper()}] {len(alerts)} alerts for {subject}: {_severity_counts(ordered)}"
    )
    if suppressed is not None and suppressed.count > 0:
        fallback += f" ({suppressed.sentence()})"
    if mention:
        fallback = f"{mention} {fallback}"
    return _envelope(fallback, worst, blocks[: BlockKitLimits.BLOCKS], options)


@dataclass(frozen=True)
class ResolvedNotice:
    """A previously firing alert that a monitor found healthy again."""

    model_id: str
    title: str
    fired_for_seconds: float


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)}s"
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return " ".join(p for p in parts if p)


def format_resolved(
    notices: list[ResolvedNotice], options: FormatOptions | None = None
) -> dict[str, Any]:
    """One green "Resolved" message saying how long each alert fired."""
    if not notices:
        raise ValueError("format_resolved needs at least one notice")
    options = options or FormatOptions()
    lines = [
        f":white_check_mark: `{_user_text(n.title, 200, options, one_line=True)}` on "
        f"`{_user_text(n.model_id, 200, options, one_line=True)}` resolved after firing for "
        f"{_duration(n.fired_for_seconds)}"
        for n in notices
    ]
    shown, hidden = lines[:MAX_DIGEST_LISTED], len(lines) - MAX_DIGEST_LISTED
    body = "\n".join(shown) + (f"\nand {hidden} more resolved" if hidden > 0 else "")
    header = f"Resolved: {len(notices)} alert{'s' if len(notices) != 1 else ''}"
    blocks = [
        {"type": "header", "text": _plain(header, BlockKitLimits.HEADER_TEXT)},
        {"type": "section", "text": _mrkdwn(body, BlockKitLimits.SECTION_TEXT)},
    ]
    return _envelope(
        truncate(f"[RESOLVED] {body}", BlockKitLimits.MESSAGE_TEXT),
        SeverityLevel.INFO,
        blocks,
        options,
    )


def human_duration(seconds: float) -> str:
    """``2 h 13 min``, ``3 d 4 h``, ``45 s``: how long something fired."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def format_resolved_message(
    model_id: str,
    notices: list[ResolvedNotice],
    fired_at: datetime,
    resolved_at: datetime,
    options: FormatOptions | None = None,
) -> dict[str, Any]:
    """A group's message turned green when all its alerts resolved (an in-place update)."""
    options = options or FormatOptions()
    model = _user_text(model_id, 200, options, one_line=True)
    took = human_duration((resolved_at - fired_at).total_seconds())
    header = f":white_check_mark: RESOLVED · {model}"
    titles = ", ".join(
        f"`{_user_text(n.title, 200, options, one_line=True)}`" for n in notices[:20]
    )
    more = f" and {len(notices) - 20} more" if len(notices) > 20 else ""
    body = (
        f"*Resolved after {took}*: fired {fired_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC, "
        f"resolved {resolved_at.astimezone(UTC):%H:%M} UTC.\n{titles}{more}"
    )
    blocks = [
        {"type": "header", "text": _plain(header, BlockKitLimits.HEADER_TEXT)},
        {"type": "section", "text": _mrkdwn(body, BlockKitLimits.SECTION_TEXT)},
    ]
    return _envelope(
        f"[RESOLVED] {model} resolved after {took}", SeverityLevel.INFO, blocks, options
    )


def thread_reply(text: str, options: FormatOptions | None = None) -> dict[str, Any]:
    """A short reply in a message's thread: our own sentence, no header."""
    return plain_message(text, SeverityLevel.INFO, options)
