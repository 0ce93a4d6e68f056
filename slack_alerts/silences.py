"""Silences, as in Alertmanager: mute matching alerts for a while, and count them.

A ``Silence`` has matchers on ``model_id``, ``kind``, ``metric`` (the metric,
violation type or event type) and ``severity``, and every matcher given must
match. As Alertmanager's ``=`` and ``=~``, a matcher is one of two kinds:

- ``matchers``: **exact** values (the default). ``model_id="risk[v2]"`` mutes
  the model ``risk[v2]`` and nothing else; ``*``, ``?`` and ``[`` are plain
  characters. The Slack buttons make these.
- ``patterns``: shell-style patterns (``fnmatch``: ``sepsis-*``), on
  ``model_id`` and ``metric`` only, and only when asked for
  (``--model-pattern`` on the CLI, ``patterns={"model_id": "sepsis-*"}``).

``kind`` must be an alert kind (``drift``, ``compliance``, ``safety``; the
README's flow names ``fairness`` and ``security`` are accepted for the last
two), ``severity`` a severity (any case): a silence that could never match is
refused, never stored. As in Alertmanager, a silence must have a matcher that
does not match everything. It lasts at most ``MAX_SILENCE``. It has a start,
an end, an author and a comment (plain text: escaped only where a Slack
message shows it). A silenced alert is never lost: the pipeline counts it in
its group's log, and the group's next message after the silence ended says
how many alerts arrived under it.

``SilenceStore`` keeps them: ``MemorySilenceStore`` here, a SQL table in
``slack_alerts.sqlstate``, Prefect Variables in ``flows.backend.silences``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Literal, Protocol, get_args, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from slack_alerts.formatting import alert_title
from slack_alerts.models import MAX_ID_LENGTH, Alert, AlertKind, SeverityLevel

MatcherName = Literal["model_id", "kind", "metric", "severity"]
MATCHERS: tuple[MatcherName, ...] = ("model_id", "kind", "metric", "severity")
PatternName = Literal["model_id", "metric"]
PATTERNS: tuple[PatternName, ...] = ("model_id", "metric")
KINDS: tuple[str, ...] = get_args(AlertKind)
# The flows' names, as the README uses them, for the kinds of alert they send.
KIND_ALIASES: dict[str, str] = {"fairness": "compliance", "security": "safety"}
SEVERITIES: tuple[str, ...] = tuple(level.value for level in SeverityLevel)
MAX_SILENCE = timedelta(days=365)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _valid_kind(value: str) -> str:
    key = value.strip().lower()
    key = KIND_ALIASES.get(key, key)
    if key not in KINDS:
        aliases = ", ".join(f"{a} (= {k})" for a, k in KIND_ALIASES.items())
        raise ValueError(
            f"kind: {value!r} is not an alert kind, so the silence would never match; "
            f"use one of {', '.join(KINDS)} (or {aliases})"
        )
    return key


def _valid_severity(value: str) -> str:
    key = value.strip().lower()
    if key not in SEVERITIES:
        raise ValueError(
            f"severity: {value!r} is not a severity, so the silence would never match; "
            f"use one of {', '.join(SEVERITIES)}"
        )
    return key


_UNLIKE_IDS = ("a", "Z", "0", "-", "_", "sepsis-v3", "risk[v2]", "x.y_z-1@2", "ÿ" * 3)


class Silence(BaseModel):
    """Mute alerts matching ``matchers`` (exact) and ``patterns`` from ``starts_at`` on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    matchers: dict[MatcherName, str] = Field(
        default_factory=dict,
        description="model_id, kind, metric, severity: exact values (risk[v2] is literal)",
    )
    patterns: dict[PatternName, str] = Field(
        default_factory=dict,
        description="model_id, metric: shell-style patterns such as sepsis-* (only when asked)",
    )
    starts_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    ends_at: datetime
    created_by: str = Field(min_length=1, max_length=200)
    comment: str = Field(default="", max_length=1000)

    @field_validator("matchers")
    @classmethod
    def _known_values(cls, value: dict[MatcherName, str]) -> dict[MatcherName, str]:
        # Ids are stripped, so " a" could never match: compare stripped values.
        checked: dict[MatcherName, str] = {name: given.strip() for name, given in value.items()}
        if "kind" in checked:
            checked["kind"] = _valid_kind(checked["kind"])
        if "severity" in checked:
            checked["severity"] = _valid_severity(checked["severity"])
        return checked

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @model_validator(mode="after")
    def _sane(self) -> Silence:
        both = sorted(set(self.matchers) & set(self.patterns))
        if both:
            raise ValueError(f"{both[0]}: give an exact value or a pattern, not both")
        for name, given in [*self.matchers.items(), *self.patterns.items()]:
            if len(given) > MAX_ID_LENGTH:
                raise ValueError(f"{name}: longer than {MAX_ID_LENGTH} characters")
            if not given.strip():
                raise ValueError(f"{name}: an empty value would never match; give a value")
        # As Alertmanager: some matcher must not match everything. Alertmanager asks that
        # it not match the empty string; ids are never empty, so a pattern that matches
        # every one of these unlike ids ("?*", "*[!.]*") counts as matching everything.
        if not self.matchers and all(
            all(fnmatchcase(probe, p) for probe in _UNLIKE_IDS) for p in self.patterns.values()
        ):
            raise ValueError(
                "a silence needs at least one matcher that does not match everything "
                "(model_id, kind, metric or severity)"
            )
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > MAX_SILENCE:
            raise ValueError(
                f"a silence lasts at most {MAX_SILENCE.days} days; for longer, change the "
                "route or the checks instead"
            )
        return self

    @classmethod
    def lasting(
        cls,
        duration: timedelta,
        *,
        created_by: str,
        comment: str = "",
        now: datetime | None = None,
        patterns: Mapping[PatternName, str] | None = None,
        **matchers: str,
    ) -> Silence:
        """From now for ``duration``: ``Silence.lasting(timedelta(hours=4), model_id=…)``.

        Keyword matchers are exact; ``patterns={"model_id": "sepsis-*"}`` are
        shell-style patterns.
        """
        if duration > MAX_SILENCE:
            raise ValueError(f"a silence lasts at most {MAX_SILENCE.days} days")
        start = now or datetime.now(UTC)
        return cls(
            matchers=matchers,
            patterns=dict(patterns or {}),
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
        return all(values[name] == value for name, value in self.matchers.items()) and all(
            fnmatchcase(values[name], pattern) for name, pattern in self.patterns.items()
        )

    def describe(self) -> str:
        """``model_id=risk[v2], kind=drift`` (exact) and ``model_id~sepsis-*`` (pattern)."""
        what = ", ".join(
            [f"{k}={v}" for k, v in self.matchers.items()]
            + [f"{k}~{v}" for k, v in self.patterns.items()]
        )
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
