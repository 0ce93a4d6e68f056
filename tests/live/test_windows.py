"""Windows tied to the scheduled time: pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from slack_alerts.windows import (
    CurrentWindow,
    FixedRange,
    RollingRange,
    SeasonalRange,
    TimeWindow,
    parse_spec,
    resolve,
    scheduled_times,
)

T = datetime(2026, 3, 10, 7, tzinfo=UTC)


def test_current_window_ends_at_the_scheduled_time() -> None:
    window = resolve(CurrentWindow(hours=3), T)
    assert (window.start, window.end) == (T - timedelta(hours=3), T)
    assert window.contains(T - timedelta(seconds=1)) and not window.contains(T)


def test_reference_windows() -> None:
    current = resolve(CurrentWindow(hours=2), T)
    rolling = resolve(RollingRange(hours=168), T, current)
    assert rolling.end == current.start and rolling.hours == 168
    seasonal = resolve(SeasonalRange(lag_hours=168), T, current)
    assert seasonal == current.shift(-timedelta(days=7))
    fixed = resolve(FixedRange(start=datetime(2025, 1, 1), end=datetime(2025, 2, 1)), T)
    assert fixed.start.tzinfo is UTC  # naive is UTC


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("last 24 hours", CurrentWindow(hours=24)),
        ("Last 1 hour", CurrentWindow(hours=1)),
        ("previous 7 days", RollingRange(hours=168)),
        ("same hour last week", SeasonalRange(lag_hours=168)),
        ("same hour yesterday", SeasonalRange(lag_hours=24)),
    ],
)
def test_phrases(phrase: str, expected: object) -> None:
    assert parse_spec(phrase) == expected


def test_bad_phrase_and_window_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown window 'last fortnight'"):
        parse_spec("last fortnight")
    with pytest.raises(ValidationError, match="is after end"):
        TimeWindow(start=T, end=T - timedelta(hours=1))


def test_scheduled_times_are_inclusive() -> None:
    times = scheduled_times(T, T + timedelta(hours=3), timedelta(hours=1))
    assert times == [T + timedelta(hours=h) for h in range(4)]
