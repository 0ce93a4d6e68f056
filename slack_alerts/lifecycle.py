"""Alert lifecycle, with Alertmanager's semantics: dedup, grouping, resolved notices.

- **Dedup**: an alert whose fingerprint already fired within
  ``repeat_interval`` (default 4 h) is not sent again; its count and
  last-seen time are updated instead.
- **Grouping**: the alerts of one model submitted together go out as one
  digest, worst first; beyond 20 they become "and N more" with counts per
  severity, never a second flood.
- **Resolved**: a firing fingerprint that a monitor reports healthy gets one
  green "Resolved" message saying how long it fired.

``plan`` is the pure decision; ``AlertPipeline`` applies it with a client and
a state store. ``SqliteStateStore`` is the embedded default: a local SQLite
file whose transactions make concurrent updates from several processes on
one machine safe (no lost counts).
"""

from __future__ import annotations

import os
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from slack_alerts.client import SlackAlertClient
from slack_alerts.delivery import DeliveryResult
from slack_alerts.formatting import ResolvedNotice, alert_title, format_digest, format_resolved
from slack_alerts.models import Alert

STATE_ENV = "SLACK_ALERTS_STATE"
DEFAULT_REPEAT_INTERVAL = timedelta(hours=4)


@dataclass(frozen=True)
class FingerprintState:
    """What is known about one fingerprint across runs."""

    fingerprint: str
    model_id: str
    title: str
    first_seen: datetime
    last_seen: datetime
    last_sent: datetime | None
    count: int
    firing: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "fingerprint": self.fingerprint,
            "model_id": self.model_id,
            "title": self.title[:200],
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "last_sent": self.last_sent.isoformat() if self.last_sent else None,
            "count": self.count,
            "firing": self.firing,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FingerprintState:
        return cls(
            fingerprint=str(data["fingerprint"]),
            model_id=str(data["model_id"]),
            title=str(data["title"]),
            first_seen=datetime.fromisoformat(data["first_seen"]),
            last_seen=datetime.fromisoformat(data["last_seen"]),
            last_sent=datetime.fromisoformat(data["last_sent"]) if data.get("last_sent") else None,
            count=int(data["count"]),
            firing=bool(data["firing"]),
        )


class StateSession(Protocol):
    """Read and write fingerprint states inside one store transaction."""

    def load(self, fingerprints: Iterable[str]) -> dict[str, FingerprintState]: ...

    def save(self, states: Iterable[FingerprintState]) -> None: ...


class StateStore(Protocol):
    """Where fingerprint states live. ``transaction`` excludes every other writer
    of those models (across processes) until it ends, so no count is lost."""

    def transaction(self, models: Sequence[str]) -> AbstractContextManager[StateSession]: ...


@dataclass
class Plan:
    """The decision for one batch: what to send, what to fold in, new states."""

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
    for alert in alerts:
        current = decision.states.get(alert.fingerprint)
        # A negative age (a clock read before another writer's) never counts as recent.
        recently_sent = (
            current is not None
            and current.firing
            and current.last_sent is not None
            and timedelta(0) <= now - current.last_sent < repeat_interval
        )
        if current is not None and recently_sent:
            decision.deduplicated.append(alert)
            decision.states[alert.fingerprint] = replace(
                current, last_seen=now, count=current.count + 1
            )
            continue
        # A second occurrence in the same batch is folded into the first one's send.
        if any(a.fingerprint == alert.fingerprint for a in decision.to_send):
            decision.deduplicated.append(alert)
            state = decision.states[alert.fingerprint]
            decision.states[alert.fingerprint] = replace(state, count=state.count + 1)
            continue
        decision.to_send.append(alert)
        starts = current is None or not current.firing
        decision.states[alert.fingerprint] = FingerprintState(
            fingerprint=alert.fingerprint,
            model_id=alert.model_id,
            title=alert_title(alert),
            first_seen=now if starts or current is None else current.first_seen,
            last_seen=now,
            last_sent=None,  # set when the send succeeds
            count=1 if starts or current is None else current.count + 1,
            firing=True,
        )
    for fingerprint in healthy:
        known = decision.states.get(fingerprint)
        if known is not None and known.firing:
            fired = max(0.0, (now - known.first_seen).total_seconds())
            decision.resolved.append(ResolvedNotice(known.model_id, known.title, fired))
            decision.states[fingerprint] = replace(known, firing=False, last_seen=now)
    return decision


class SqliteStateStore:
    """Fingerprint states in a local SQLite file (``$SLACK_ALERTS_STATE`` or ``~/.local/state``).

    ``transaction()`` takes SQLite's write lock for its whole block, so
    read-modify-write from several processes never loses an update.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        default = Path.home() / ".local" / "state" / "slack-alerts" / "alerts.sqlite3"
        self.path = Path(path) if path is not None else Path(os.environ.get(STATE_ENV) or default)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS fingerprints (fingerprint TEXT PRIMARY KEY,"
                " model_id TEXT, title TEXT, first_seen TEXT, last_seen TEXT, last_sent TEXT,"
                " count INTEGER, firing INTEGER)"
            )

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    @contextmanager
    def transaction(self, models: Sequence[str] = ()) -> Iterator[StateSession]:
        """One SQLite write transaction (a machine-wide lock, whatever the models)."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield _SqliteSession(connection)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()

    def get(self, fingerprint: str) -> FingerprintState | None:
        with self.transaction() as session:
            return session.load([fingerprint]).get(fingerprint)


class _SqliteSession:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def load(self, fingerprints: Iterable[str]) -> dict[str, FingerprintState]:
        wanted = list(dict.fromkeys(fingerprints))
        states: dict[str, FingerprintState] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            placeholders = ",".join("?" * len(chunk))
            rows = self.connection.execute(
                f"SELECT * FROM fingerprints WHERE fingerprint IN ({placeholders})",  # noqa: S608
                chunk,
            ).fetchall()
            for row in rows:
                columns = (
                    "fingerprint",
                    "model_id",
                    "title",
                    "first_seen",
                    "last_seen",
                    "last_sent",
                    "count",
                    "firing",
                )
                states[row[0]] = FingerprintState.from_dict(dict(zip(columns, row, strict=True)))
        return states

    def save(self, states: Iterable[FingerprintState]) -> None:
        self.connection.executemany(
            "INSERT OR REPLACE INTO fingerprints VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [tuple(s.to_dict().values()) for s in states],
        )


@dataclass
class PipelineOutcome:
    """Where every submitted alert went: nothing unaccounted for."""

    messages: list[DeliveryResult] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)  # fingerprints in a sent message
    deduplicated: list[str] = field(default_factory=list)
    rate_limited: list[str] = field(default_factory=list)  # counted for the next message
    undelivered: list[str] = field(default_factory=list)  # in the durable outbox / failed
    resolved: int = 0

    @property
    def accounted(self) -> int:
        return (
            len(self.delivered)
            + len(self.deduplicated)
            + len(self.rate_limited)
            + len(self.undelivered)
        )


class AlertPipeline:
    """Dedup, group per model and send, with resolved notices; for direct (non-flow) use."""

    def __init__(
        self,
        client: SlackAlertClient,
        store: StateStore | None = None,
        *,
        repeat_interval: timedelta = DEFAULT_REPEAT_INTERVAL,
        send_resolved: bool = True,
    ) -> None:
        self.client = client
        self.store: StateStore = store or SqliteStateStore()
        self.repeat_interval = repeat_interval
        self.send_resolved = send_resolved

    def submit(
        self,
        alerts: Iterable[Alert],
        healthy: Iterable[str] = (),
        now: datetime | None = None,
        models: Iterable[str] = (),
    ) -> PipelineOutcome:
        """Dedup, group and send ``alerts``; resolve ``healthy`` fingerprints.

        ``models`` names the models of ``healthy`` fingerprints that have no
        alert in this batch, so their state is locked too.
        """
        batch = list(alerts)
        healthy = list(healthy)
        outcome = PipelineOutcome()
        models = sorted({a.model_id for a in batch} | set(models))
        with self.store.transaction(models) as session:
            # Read the clock inside the lock: the previous holder's writes are older.
            now = now or datetime.now(UTC)
            states = session.load([a.fingerprint for a in batch] + healthy)
            decision = plan(batch, states, now, self.repeat_interval, healthy)
            outcome.deduplicated = [a.fingerprint for a in decision.deduplicated]
            by_model: dict[str, list[Alert]] = defaultdict(list)
            for alert in decision.to_send:
                by_model[alert.model_id].append(alert)
            sent_states = dict(decision.states)
            for model_id, group in by_model.items():
                fingerprints = [a.fingerprint for a in group]
                worst = max(group, key=lambda a: a.severity.rank)
                if not self.client.admit(worst):
                    # Counted into the model's next message, as the core client does.
                    for alert in group:
                        self.client.suppressed.add(model_id, alert.timestamp)
                    outcome.rate_limited += fingerprints
                    continue
                summary = self.client.suppressed.take(model_id)
                payload = format_digest(group, self.client.options, suppressed=summary)
                meta = {
                    "fingerprint": worst.fingerprint,
                    "kind": worst.kind,
                    "severity": worst.severity.value,
                    "model_id": model_id,
                }
                result = self.client.post_payload(payload, meta, worst.timestamp)
                outcome.messages.append(result)
                if result.ok:
                    outcome.delivered += fingerprints
                    for fingerprint in fingerprints:
                        sent_states[fingerprint] = replace(sent_states[fingerprint], last_sent=now)
                else:
                    if summary is not None:
                        self.client.suppressed.restore(model_id, summary)
                    outcome.undelivered += fingerprints
            if decision.resolved and self.send_resolved:
                notice = format_resolved(decision.resolved, self.client.options)
                meta = {"kind": "resolved", "severity": "info", "fingerprint": "resolved"}
                outcome.messages.append(self.client.post_payload(notice, meta, now))
                outcome.resolved = len(decision.resolved)
            session.save(sent_states.values())
        return outcome
