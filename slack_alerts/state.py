"""Alert state, with Alertmanager's semantics: the notification log, and ``plan``.

Each *destination* (receiver) keeps its own log per model: the firing
fingerprints (first and last seen, last sent, count) and the count of alerts
held back by the rate limit. Dedup and repeat are therefore per destination,
as in Alertmanager's notification log: an alert that fired into the local
preview during a trial is not "already firing" in Slack.

``plan`` is the pure decision for one (receiver, model) group:

- **Dedup**: an alert whose fingerprint was sent within ``repeat_interval``
  (default 4 h) is not sent again; its count and last-seen time grow.
- **Resolved**: a firing fingerprint that a monitor reports healthy gets one
  notice saying how long it fired.

A ``StateStore`` keeps the logs. ``open(receiver, model)`` locks one group's
log against every other writer (across processes) until ``close``, so
read-modify-write never loses a count; a lock that cannot be had within
``wait_seconds`` raises ``LockTimeout``, a store that cannot be reached
raises ``StateUnavailable``. Reading and writing a log are one call each,
whatever the number of fingerprints. Stores: ``MemoryStateStore`` (one
process), ``slack_alerts.sqlstate.SqlStateStore`` (SQLite for processes on
one machine, PostgreSQL for a fleet), and the Prefect server's Variables
(``flows.backend.state``, the flows' default).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from slack_alerts.delivery import MessageRef
from slack_alerts.formatting import ResolvedNotice, SuppressedSummary, alert_title
from slack_alerts.models import Alert
from slack_alerts.text import redact_phi, single_line, truncate

DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)
MAX_TITLE = 120


@dataclass(frozen=True)
class FingerprintState:
    """What one destination knows about one fingerprint across runs."""

    fingerprint: str
    model_id: str
    title: str
    first_seen: datetime
    last_seen: datetime
    last_sent: datetime | None
    count: int
    firing: bool
    # An acknowledged fingerprint is not repeated while its severity stays the
    # one last sent; a change of severity sends (and clears the acknowledgement).
    acked_by: str | None = None
    last_severity: str | None = None


@dataclass(frozen=True)
class SilencedSummary:
    """Alerts that arrived under silences (the last ending at ``until``); said in the
    group's next message."""

    count: int
    since: datetime
    until: datetime

    def sentence(self) -> str:
        noun = "alert" if self.count == 1 else "alerts"
        return (
            f"{self.count} {noun} arrived under a silence since "
            f"{self.since.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        )


@dataclass
class NotificationLog:
    """One destination's log for one model.

    - ``states``: the firing fingerprints;
    - ``suppressed``: alerts held back by the rate limit, for the next message;
    - ``silenced``: alerts that arrived under silences, for the first message after;
    - ``message`` / ``message_posted``: the group's message in Slack, when the
      notifier can address it again (bot tokens), and when it was first posted;
    - ``updated_at``: the last writer's clock, to warn about skewed clocks.
    """

    receiver: str
    model_id: str
    states: dict[str, FingerprintState] = field(default_factory=dict)
    suppressed: SuppressedSummary | None = None
    silenced: SilencedSummary | None = None
    message: MessageRef | None = None
    message_posted: datetime | None = None
    updated_at: datetime | None = None

    def add_silenced(self, count: int, since: datetime, until: datetime) -> None:
        current = self.silenced
        self.silenced = SilencedSummary(
            count=count + (current.count if current else 0),
            since=min(since, current.since) if current else since,
            until=max(until, current.until) if current else until,
        )

    def acknowledge(self, by: str) -> int:
        """Mark every firing fingerprint acknowledged by ``by``; returns how many."""
        acked = 0
        for fingerprint, state in list(self.states.items()):
            if state.firing:
                self.states[fingerprint] = replace(state, acked_by=by)
                acked += 1
        return acked

    def add_suppressed(self, count: int, since: datetime) -> SuppressedSummary:
        current = self.suppressed
        self.suppressed = SuppressedSummary(
            count=count + (current.count if current else 0),
            since=min(since, current.since) if current else since,
        )
        return self.suppressed


class LockTimeout(TimeoutError):
    """Another writer held the group's lock for longer than the wait allowed."""


class StateUnavailable(RuntimeError):
    """The state store could not be reached or did not answer in time."""


class StateSession(Protocol):
    """One locked (receiver, model) log."""

    def load(self) -> NotificationLog: ...

    def save(self, log: NotificationLog) -> None: ...

    def close(self) -> None: ...


class StateStore(Protocol):
    """Where notification logs live (see the module docstring)."""

    def open(self, receiver: str, model_id: str, *, wait_seconds: float) -> StateSession: ...


@dataclass
class Plan:
    """The decision for one group: what to send, what to fold in, new states."""

    to_send: list[Alert] = field(default_factory=list)
    deduplicated: list[Alert] = field(default_factory=list)
    resolved: list[ResolvedNotice] = field(default_factory=list)
    states: dict[str, FingerprintState] = field(default_factory=dict)


def plan(
    alerts: Iterable[Alert],
    states: dict[str, FingerprintState],
    now: datetime,
    repeat_interval: timedelta = DEFAULT_REPEAT_INTERVAL,
    healthy: Iterable[str] = (),
) -> Plan:
    """Decide, without I/O, which alerts to send and which fingerprints resolved."""
    decision = Plan(states=dict(states))
    sending: set[str] = set()
    for alert in alerts:
        current = decision.states.get(alert.fingerprint)
        # A negative age (a clock read before another writer's) never counts as recent.
        recently_sent = (
            current is not None
            and current.firing
            and current.last_sent is not None
            and timedelta(0) <= now - current.last_sent < repeat_interval
        )
        # Acknowledged: no repeats until the severity changes (or it resolves).
        acknowledged = (
            current is not None
            and current.firing
            and current.last_sent is not None
            and current.acked_by is not None
            and current.last_severity in (None, alert.severity.value)
        )
        if current is not None and (recently_sent or acknowledged):
            decision.deduplicated.append(alert)
            decision.states[alert.fingerprint] = replace(
                current, last_seen=now, count=current.count + 1
            )
            continue
        # A second occurrence in the same batch is folded into the first one's send.
        if alert.fingerprint in sending:
            decision.deduplicated.append(alert)
            state = decision.states[alert.fingerprint]
            decision.states[alert.fingerprint] = replace(state, count=state.count + 1)
            continue
        sending.add(alert.fingerprint)
        decision.to_send.append(alert)
        starts = current is None or not current.firing
        decision.states[alert.fingerprint] = FingerprintState(
            fingerprint=alert.fingerprint,
            model_id=alert.model_id,
            # Stored outside the process (the Prefect server): bounded, PHI-free.
            title=truncate(single_line(redact_phi(alert_title(alert))), MAX_TITLE),
            first_seen=now if starts or current is None else current.first_seen,
            last_seen=now,
            last_sent=None if starts or current is None else current.last_sent,
            count=1 if starts or current is None else current.count + 1,
            firing=True,
            last_severity=alert.severity.value,
        )
    for fingerprint in healthy:
        known = decision.states.get(fingerprint)
        if known is not None and known.firing and fingerprint not in sending:
            fired = max(0.0, (now - known.first_seen).total_seconds())
            decision.resolved.append(ResolvedNotice(known.model_id, known.title, fired))
            decision.states[fingerprint] = replace(known, firing=False, last_seen=now)
    return decision


# -- embedded stores -----------------------------------------------------------------


class _MemorySession:
    def __init__(self, store: MemoryStateStore, key: tuple[str, str], lock: threading.Lock):
        self.store, self.key, self.lock = store, key, lock

    def load(self) -> NotificationLog:
        log = self.store.logs.get(self.key)
        if log is None:
            return NotificationLog(*self.key)
        return replace(log, states=dict(log.states))

    def save(self, log: NotificationLog) -> None:
        firing = {k: v for k, v in log.states.items() if v.firing}
        self.store.logs[self.key] = replace(log, states=firing)

    def close(self) -> None:
        self.lock.release()


class MemoryStateStore:
    """Logs in this process's memory: the direct client's default (not shared)."""

    def __init__(self) -> None:
        self.logs: dict[tuple[str, str], NotificationLog] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def open(self, receiver: str, model_id: str, *, wait_seconds: float) -> StateSession:
        key = (receiver, model_id)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=max(0.0, wait_seconds)):
            raise LockTimeout(f"state of model {model_id!r} stayed locked for {wait_seconds:g}s")
        return _MemorySession(self, key, lock)


def acknowledge(
    store: StateStore, receiver: str, model_id: str, by: str, *, wait_seconds: float = 30.0
) -> int:
    """Acknowledge a group's firing alerts: no repeats until their severity changes.

    Returns how many firing fingerprints were acknowledged.
    """
    session = store.open(receiver, model_id, wait_seconds=wait_seconds)
    try:
        log = session.load()
        acked = log.acknowledge(by)
        session.save(log)
        return acked
    finally:
        session.close()
