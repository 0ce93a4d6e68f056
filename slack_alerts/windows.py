"""Time windows tied to a run's scheduled time: pure, no I/O.

A window is half-open, ``[start, end)``, in UTC. The current window ends at
the flow run's *scheduled* start time (never the wall clock), so a late,
retried or backfilled run covers exactly the rows of its slot and gives the
same result. Reference windows are one of:

- ``FixedRange``: a fixed period, e.g. the training data's;
- ``RollingRange``: the ``hours`` before the current window ("the previous
  7 days" is ``RollingRange(hours=168)``);
- ``SeasonalRange``: the current window shifted back by ``lag_hours``
  ("the same hour last week" is ``SeasonalRange(lag_hours=168)``).

Specs also parse from short phrases (for YAML files): ``"last 24 hours"``,
``"previous 7 days"``, ``"same hour last week"``, ``"same hour yesterday"``,
``"2026-01-01/2026-02-01"`` (a fixed ISO range).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "CurrentWindow",
    "FixedRange",
    "ReferenceSpec",
    "RollingRange",
    "SeasonalRange",
    "TimeWindow",
    "as_utc",
    "current_window",
    "parse_spec",
    "resolve",
    "scheduled_times",
]


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive time is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class TimeWindow(BaseModel):
    """``[start, end)`` in UTC. ``start`` must not be after ``end`` (an empty window is allowed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.start > self.end:
            raise ValueError(
                f"start ({self.start.isoformat()}) is after end ({self.end.isoformat()})"
            )
        return self

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def hours(self) -> float:
        return self.duration.total_seconds() / 3600.0

    def shift(self, delta: timedelta) -> TimeWindow:
        """The same window moved by ``delta`` (negative: into the past)."""
        return TimeWindow(start=self.start + delta, end=self.end + delta)

    def contains(self, moment: datetime) -> bool:
        return self.start <= as_utc(moment) < self.end

    def label(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


class CurrentWindow(BaseModel):
    """The current window: the last ``hours`` ending at the scheduled time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["last"] = "last"
    hours: float = Field(default=1.0, gt=0, description="Length of the current window, in hours")


class FixedRange(BaseModel):
    """A fixed reference period, e.g. the training data's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["fixed"] = "fixed"
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @model_validator(mode="after")
    def _ordered(self) -> FixedRange:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class RollingRange(BaseModel):
    """The ``hours`` right before the current window ("the previous 7 days": 168)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["rolling"] = "rolling"
    hours: float = Field(default=168.0, gt=0, description="Length, in hours")


class SeasonalRange(BaseModel):
    """The current window moved back by ``lag_hours`` ("the same hour last week": 168)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["seasonal"] = "seasonal"
    lag_hours: float = Field(default=168.0, gt=0, description="How far back, in hours")


_UNITS = {"hour": 1.0, "day": 24.0, "week": 168.0}
_PHRASES: list[tuple[re.Pattern[str], Any]] = [
    (
        re.compile(r"last (\d+(?:\.\d+)?) ?(hour|day|week)s?"),
        lambda m: CurrentWindow(hours=float(m[1]) * _UNITS[m[2]]),
    ),
    (
        re.compile(r"previous (\d+(?:\.\d+)?) ?(hour|day|week)s?"),
        lambda m: RollingRange(hours=float(m[1]) * _UNITS[m[2]]),
    ),
    (re.compile(r"same (?:hour|window) last week"), lambda m: SeasonalRange(lag_hours=168.0)),
    (re.compile(r"same (?:hour|window) yesterday"), lambda m: SeasonalRange(lag_hours=24.0)),
]


def parse_spec(text: str) -> CurrentWindow | FixedRange | RollingRange | SeasonalRange:
    """A spec from a short phrase (see the module docstring).

    Raises:
        ValueError: the phrase is not one of the known forms (quoting it).
    """
    phrase = " ".join(text.lower().split())
    for pattern, build in _PHRASES:
        match = pattern.fullmatch(phrase)
        if match:
            spec: CurrentWindow | FixedRange | RollingRange | SeasonalRange = build(match)
            return spec
    if "/" in phrase:
        start, _, end = text.partition("/")
        return FixedRange(
            start=datetime.fromisoformat(start.strip()), end=datetime.fromisoformat(end.strip())
        )
    raise ValueError(
        f"unknown window {text!r}: use 'last N hours', 'previous N days', "
        "'same hour last week', 'same hour yesterday' or 'START/END' (ISO-8601)"
    )


def _from_phrase(value: Any) -> Any:
    return parse_spec(value) if isinstance(value, str) else value


ReferenceSpec = Annotated[FixedRange | RollingRange | SeasonalRange, Field(discriminator="kind")]


def current_window(spec: CurrentWindow, scheduled_time: datetime) -> TimeWindow:
    """``[scheduled - hours, scheduled)``."""
    end = as_utc(scheduled_time)
    return TimeWindow(start=end - timedelta(hours=spec.hours), end=end)


def resolve(
    spec: CurrentWindow | FixedRange | RollingRange | SeasonalRange,
    scheduled_time: datetime,
    current: CurrentWindow | TimeWindow | None = None,
) -> TimeWindow:
    """The window a spec covers for a run scheduled at ``scheduled_time``.

    ``current`` (a spec or a resolved window; default: the last hour) is
    what rolling and seasonal references are relative to.
    """
    if isinstance(spec, CurrentWindow):
        return current_window(spec, scheduled_time)
    if isinstance(spec, FixedRange):
        return TimeWindow(start=spec.start, end=spec.end)
    now = (
        current
        if isinstance(current, TimeWindow)
        else current_window(current or CurrentWindow(), scheduled_time)
    )
    if isinstance(spec, RollingRange):
        return TimeWindow(start=now.start - timedelta(hours=spec.hours), end=now.start)
    return now.shift(-timedelta(hours=spec.lag_hours))


def scheduled_times(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    """Scheduled times ``start, start + every, ...`` up to and including ``end`` (UTC)."""
    if every <= timedelta(0):
        raise ValueError("every must be positive")
    first, last = as_utc(start), as_utc(end)
    times = []
    moment = first
    while moment <= last:
        times.append(moment)
        moment += every
    return times
