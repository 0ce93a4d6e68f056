"""Silences, as in Alertmanager: mute matching alerts for a while, and count them.

A ``Silence`` has matchers on ``model_id``, ``kind``, ``metric`` (the metric,
violation type or event type) and ``severity``; each is an exact value or a
shell-style pattern (``sepsis-*``), and every matcher given must match. It has
a start, an end, an author and a comment. A silenced alert is never lost: the
pipeline counts it in its group's log, and the group's next message after the
silence ended says how many alerts arrived under it.

``SilenceStore`` keeps them: ``MemorySilenceStore`` here, a SQL table in
``slack_alerts.sqlstate``, Prefect Variables in ``flows.backend.silences``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from slack_alerts.formatting import alert_title
from slack_alerts.models import MAX_ID_LENGTH, Alert

MatcherName = Literal["model_id", "kind", "metric", "severity"]
MATCHERS: tuple[MatcherName, ...] = ("model_id", "kind", "metric", "severity")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Silence(BaseModel):
    """Mute alerts matching ``matchers`` from ``starts_at`` until ``ends_at``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    matchers: dict[MatcherName, str] = Field(
        description="model_id, kind, metric, severity: exact values or patterns such as sepsis-*"
    )
    starts_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    ends_at: datetime
    created_by: str = Field(min_length=1, max_length=200)
    comment: str = Field(default="", max_length=1000)

    @field_validator("matchers")
    @classmethod
    def _some_matcher(cls, value: dict[MatcherName, str]) -> dict[MatcherName, str]:
        if not value or not any(v.strip() for v in value.values()):
            raise ValueError("a silence needs at least one matcher (model_id, kind, metric, ...)")
        for name, pattern in value.items():
            if len(pattern) > MAX_ID_LENGTH:
                raise ValueError(f"matcher {name} is longer than {MAX_ID_LENGTH} characters")
        return value

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @model_validator(mode="after")
    def _ends_after_start(self) -> Silence:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    @classmethod
    def lasting(
        cls,
        duration: timedelta,
        *,
        created_by: str,
        comment: str = "",
        now: datetime | None = None,
        **matchers: str,
    ) -> Silence:
        """From now for ``duration``: ``Silence.lasting(timedelta(hours=4), model_id=…)``."""
        start = now or datetime.now(UTC)
        return cls(
            matchers=matchers,
            starts_at=start,
            ends_at=start + duration,
            created_by=created_by,
            comment=comment,
        )

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, alert: Alert) -> bool:
        values = {
            "model_id": alert.model_id,
            "kind": alert.kind,
            "metric": alert_title(alert),
            "severity": alert.severity.value,
        }
        return all(fnmatchcase(values[name], pattern) for name, pattern in self.matchers.items())

    def describe(self) -> str:
        what = ", ".join(f"{k}={v}" for k, v in self.matchers.items())
        return f"{what} until {self.ends_at:%Y-%m-%d %H:%M} UTC by {self.created_by}"


def silencing(silences: Sequence[Silence], alert: Alert, now: datetime) -> Silence | None:
    """The active silence that mutes ``alert`` (the one ending last), if any."""
    found = [s for s in silences if s.active(now) and s.matches(alert)]
    return max(found, key=lambda s: s.ends_at) if found else None


@runtime_checkable
class SilenceStore(Protocol):
    """Where silences live; ``all`` is one read, whatever their number."""

    def all(self) -> list[Silence]: ...

    def add(self, silence: Silence) -> Silence: ...

    def expire(self, silence_id: str, now: datetime | None = None) -> Silence | None: ...


class MemorySilenceStore:
    """Silences in this process's memory (the direct client, tests)."""

    def __init__(self) -> None:
        self._silences: dict[str, Silence] = {}
        self._lock = threading.Lock()

    def all(self) -> list[Silence]:
        with self._lock:
            return list(self._silences.values())

    def add(self, silence: Silence) -> Silence:
        with self._lock:
            self._silences[silence.id] = silence
        return silence

    def expire(self, silence_id: str, now: datetime | None = None) -> Silence | None:
        with self._lock:
            found = self._silences.get(silence_id)
            if found is None:
                return None
            # model_copy skips validation: an unstarted silence may end before it starts.
            ended = found.model_copy(update={"ends_at": now or datetime.now(UTC)})
            self._silences[silence_id] = ended
            return ended
