"""Digests (one message per model, worst first, no second flood) and resolved notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from slack_alerts import DriftAlert, FAVESViolation, SafetyEvent, SeverityLevel, message_blocks
from slack_alerts.formatting import FormatOptions, ResolvedNotice, format_digest, format_resolved
from tests.blockkit import all_text, problems
from tests.core.test_formatting import ALERTS

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def alert(i: int, severity: str) -> DriftAlert:
    return DriftAlert(
        model_id="sepsis-v3",
        model_name="Sepsis",
        metric=f"feature:f{i}",
        current_value=0.3,
        baseline_value=0.0,
        threshold=0.1,
        severity=severity,
        timestamp=T0 + timedelta(minutes=i),
    )


def test_worst_first_with_counts() -> None:
    alerts = [alert(0, "info"), alert(1, "critical"), alert(2, "warning"), alert(3, "critical")]
    payload = format_digest(alerts, FormatOptions(mention_on_critical="<!here>"))
    assert problems(payload, allowed_mentions=("<!here>",)) == []
    blocks = message_blocks(payload)
    assert "CRITICAL · 4 alerts for Sepsis" in blocks[0]["text"]["text"]
    assert blocks[1]["text"]["text"] == "*2 critical, 1 warning, 1 info*"
    listed = [b["text"]["text"] for b in blocks[2:6]]
    assert ["f1" in listed[0], "f3" in listed[1], "f2" in listed[2], "f0" in listed[3]] == [
        True
    ] * 4
    assert payload["text"].startswith("<!here> [CRITICAL] 4 alerts for Sepsis")
    assert payload["attachments"][0]["color"] == SeverityLevel.CRITICAL.to_color()


def test_overflow_is_one_line_with_counts_per_severity() -> None:
    alerts = [alert(i, "critical" if i % 10 == 0 else "warning") for i in range(1000)]
    payload = format_digest(alerts)
    assert problems(payload) == []
    text = all_text(payload)
    assert (
        "and 980 more: 80 critical, 900 warning" in text
    )  # 20 listed: all 100 criticals come first
    assert len(message_blocks(payload)) < 30


def test_single_alert_is_an_ordinary_message() -> None:
    one = alert(0, "warning")
    assert "1 alerts" not in all_text(format_digest([one]))


@settings(max_examples=60)
@given(st.lists(ALERTS, min_size=2, max_size=8), st.integers(min_value=1, max_value=60))
def test_any_alerts_give_a_valid_digest(alerts: list[Any], max_listed: int) -> None:
    payload = format_digest(
        alerts, FormatOptions(mention_on_critical="<!here>"), max_listed=max_listed
    )
    assert problems(payload, allowed_mentions=("<!here>",)) == []


def test_mixed_kinds() -> None:
    alerts: list[Any] = [
        alert(0, "warning"),
        FAVESViolation(
            model_id="sepsis-v3",
            model_name="Sepsis",
            violation_type="fairness",
            description="<!channel>",
        ),
        SafetyEvent(
            model_id="sepsis-v3",
            event_type="phi_in_output",
            description="MRN: 1234567",
            severity="critical",
        ),
    ]
    payload = format_digest(alerts)
    text = all_text(payload)
    assert problems(payload) == [] and "1234567" not in text and "<!channel>" not in text
    assert "Safety event `phi_in_output`" in text and "FAVES violation `fairness`" in text


def test_resolved_notice() -> None:
    payload = format_resolved(
        [
            ResolvedNotice("sepsis-v3", "feature:age", fired_for_seconds=2 * 3600 + 13 * 60),
            ResolvedNotice("<!here>", "x", fired_for_seconds=42),
        ]
    )
    assert problems(payload) == []
    assert payload["attachments"][0]["color"] == SeverityLevel.INFO.to_color()  # green
    text = all_text(payload)
    assert "`feature:age` on `sepsis-v3` resolved after firing for 2h 13m" in text
    assert "after firing for 42s" in text and "Resolved: 2 alerts" in text
