"""Notification logs in a SQL database, through SQLAlchemy: SQLite or PostgreSQL.

- **SQLite** (``SqliteStateStore``, the embedded default): a local file whose
  write lock (``BEGIN IMMEDIATE``) makes read-modify-write from several
  processes on one machine safe. The lock is machine-wide, whatever the group.
- **PostgreSQL** (``SqlStateStore("postgresql+psycopg://…")``): the database a
  production Prefect server already runs on. A group is locked by a
  transaction-level advisory lock (``pg_advisory_xact_lock``) on a hash of
  (receiver, model), so groups never wait for each other, and a crashed
  holder's lock ends with its connection.

Either way a log is one ``SELECT`` (plus the group row) and one bulk write,
whatever the number of fingerprints: the O(1) cost per model a fleet needs.
The store keeps silences too (it is a ``SilenceStore``).
The password of a database URL never appears in errors or ``repr``.
"""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from slack_alerts.delivery import MessageRef
from slack_alerts.formatting import SuppressedSummary
from slack_alerts.silences import Silence
from slack_alerts.state import (
    FingerprintState,
    LockTimeout,
    NotificationLog,
    SilencedSummary,
    StateSession,
    StateUnavailable,
)
from slack_alerts.text import redact_secrets

STATE_ENV = "SLACK_ALERTS_STATE"

metadata = MetaData()
alert_state = Table(
    "slack_alerts_alert_state",
    metadata,
    Column("receiver", String(200), primary_key=True),
    Column("model_id", String(300), primary_key=True),
    Column("fingerprint", String(32), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("last_sent", DateTime(timezone=True)),
    Column("count", Integer, nullable=False),
    Column("acked_by", String(200)),
    Column("last_severity", String(20)),
)
group_state = Table(
    "slack_alerts_group_state",
    metadata,
    Column("receiver", String(200), primary_key=True),
    Column("model_id", String(300), primary_key=True),
    Column("suppressed_count", Integer, nullable=False, default=0),
    Column("suppressed_since", DateTime(timezone=True)),
    Column("silenced_count", Integer, nullable=False, default=0),
    Column("silenced_since", DateTime(timezone=True)),
    Column("silenced_until", DateTime(timezone=True)),
    Column("message_channel", String(64)),
    Column("message_ts", String(64)),
    Column("message_posted", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
)
silence_table = Table(
    "slack_alerts_silence",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("document", String(4000), nullable=False),
)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything here is UTC.
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _lock_key(receiver: str, model_id: str) -> int:
    digest = hashlib.sha256(f"{receiver}\x1f{model_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)  # PostgreSQL's bigint


class _SqlSession:
    def __init__(self, connection: Connection, receiver: str, model_id: str) -> None:
        self.connection, self.receiver, self.model_id = connection, receiver, model_id
        self.transaction = connection.begin() if not connection.in_transaction() else None

    def _where(self, table: Table) -> Any:
        return (table.c.receiver == self.receiver) & (table.c.model_id == self.model_id)

    def load(self) -> NotificationLog:
        log = NotificationLog(self.receiver, self.model_id)
        for row in self.connection.execute(select(alert_state).where(self._where(alert_state))):
            log.states[row.fingerprint] = FingerprintState(
                fingerprint=row.fingerprint,
                model_id=self.model_id,
                title=row.title,
                first_seen=_aware(row.first_seen) or datetime.now(UTC),
                last_seen=_aware(row.last_seen) or datetime.now(UTC),
                last_sent=_aware(row.last_sent),
                count=int(row._mapping["count"]),
                firing=True,
                acked_by=row.acked_by,
                last_severity=row.last_severity,
            )
        group = self.connection.execute(select(group_state).where(self._where(group_state))).first()
        if group is not None:
            since = _aware(group.suppressed_since)
            if group.suppressed_count and since is not None:
                log.suppressed = SuppressedSummary(int(group.suppressed_count), since)
            silenced_since, until = _aware(group.silenced_since), _aware(group.silenced_until)
            if group.silenced_count and silenced_since and until:
                log.silenced = SilencedSummary(int(group.silenced_count), silenced_since, until)
            if group.message_channel and group.message_ts:
                log.message = MessageRef(group.message_channel, group.message_ts)
                log.message_posted = _aware(group.message_posted)
            log.updated_at = _aware(group.updated_at)
        return log

    def save(self, log: NotificationLog) -> None:
        self.connection.execute(delete(alert_state).where(self._where(alert_state)))
        rows = [
            {
                "receiver": self.receiver,
                "model_id": self.model_id,
                "fingerprint": s.fingerprint,
                "title": s.title,
                "first_seen": s.first_seen,
                "last_seen": s.last_seen,
                "last_sent": s.last_sent,
                "count": s.count,
                "acked_by": s.acked_by,
                "last_severity": s.last_severity,
            }
            for s in log.states.values()
            if s.firing
        ]
        if rows:
            self.connection.execute(insert(alert_state), rows)
        self.connection.execute(delete(group_state).where(self._where(group_state)))
        suppressed, silenced, message = log.suppressed, log.silenced, log.message
        self.connection.execute(
            insert(group_state).values(
                receiver=self.receiver,
                model_id=self.model_id,
                suppressed_count=suppressed.count if suppressed else 0,
                suppressed_since=suppressed.since if suppressed else None,
                silenced_count=silenced.count if silenced else 0,
                silenced_since=silenced.since if silenced else None,
                silenced_until=silenced.until if silenced else None,
                message_channel=message.channel if message else None,
                message_ts=message.ts if message else None,
                message_posted=log.message_posted if message else None,
                updated_at=datetime.now(UTC),
            )
        )

    def close(self) -> None:
        try:
            if self.connection.in_transaction():
                self.connection.commit()
        finally:
            self.connection.close()


class SqlStateStore:
    """``StateStore`` in SQLite or PostgreSQL (see the module docstring).

    ``url`` is a SQLAlchemy URL (``sqlite:///path``, ``postgresql+psycopg://…``)
    or an ``Engine``. Tables are created when missing.
    """

    def __init__(self, url: str | Engine) -> None:
        self.engine = url if isinstance(url, Engine) else create_engine(url, pool_pre_ping=True)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            self._listen_sqlite(self.engine)
        deadline = time.monotonic() + 30
        while True:
            # Processes starting together race to switch SQLite to WAL and to
            # create the tables; the loser is told "locked" or "exists": retry.
            try:
                if self.dialect == "sqlite":
                    raw = self.engine.raw_connection()  # outside any transaction
                    try:
                        raw.driver_connection.execute("PRAGMA journal_mode=WAL")  # type: ignore[union-attr]
                    finally:
                        raw.close()
                metadata.create_all(self.engine)
                return
            except SQLAlchemyError as exc:
                if time.monotonic() > deadline:
                    raise StateUnavailable(
                        f"cannot prepare the alert state in {self}: {type(exc).__name__}"
                    ) from None
                time.sleep(0.05)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_secrets(str(self.engine.url))!r})"

    @staticmethod
    def _listen_sqlite(engine: Engine) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we need the
        # write lock at the start (BEGIN IMMEDIATE), and WAL for readers.
        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    def open(self, receiver: str, model_id: str, *, wait_seconds: float) -> StateSession:
        try:
            connection = self.engine.connect()
        except SQLAlchemyError as exc:
            raise StateUnavailable(f"cannot reach {self}: {type(exc).__name__}") from None
        try:
            if self.dialect == "sqlite":
                # On the driver's connection: through SQLAlchemy, the PRAGMA
                # would open the transaction before the wait was set.
                raw: Any = connection.connection.driver_connection
                raw.execute(f"PRAGMA busy_timeout = {int(wait_seconds * 1000)}")
                connection.begin()
            else:
                connection.begin()
                connection.execute(
                    text(f"SET LOCAL lock_timeout = '{int(max(wait_seconds, 0.001) * 1000)}ms'")
                )
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": _lock_key(receiver, model_id)},
                )
        except (OperationalError, DBAPIError) as exc:
            connection.close()
            if any(w in str(exc.orig) for w in ("locked", "busy", "lock timeout")):
                raise LockTimeout(
                    f"the state of model {model_id!r} stayed locked for {wait_seconds:g}s"
                ) from None
            raise StateUnavailable(
                f"cannot lock the state in {self}: {type(exc).__name__}"
            ) from None
        return _SqlSession(connection, receiver, model_id)

    def read(self, receiver: str, model_id: str) -> NotificationLog:
        """The current log of one group (locks it briefly)."""
        session = self.open(receiver, model_id, wait_seconds=60)
        try:
            return session.load()
        finally:
            session.close()

    # -- silences (the same database) -------------------------------------------
    def all(self) -> list[Silence]:
        """Every silence (a ``SilenceStore``)."""
        with self.engine.connect() as connection:
            rows: list[str] = list(connection.execute(select(silence_table.c.document)).scalars())
            connection.rollback()
        return [Silence.model_validate_json(document) for document in rows]

    def add(self, silence: Silence) -> Silence:
        with self.engine.begin() as connection:
            connection.execute(delete(silence_table).where(silence_table.c.id == silence.id))
            connection.execute(
                insert(silence_table).values(id=silence.id, document=silence.model_dump_json())
            )
        return silence

    def expire(self, silence_id: str, now: datetime | None = None) -> Silence | None:
        found = next((s for s in self.all() if s.id == silence_id), None)
        if found is None:
            return None
        # model_copy skips validation: an unstarted silence may end before it starts.
        return self.add(found.model_copy(update={"ends_at": now or datetime.now(UTC)}))


class SqliteStateStore(SqlStateStore):
    """The embedded store: a SQLite file (``$SLACK_ALERTS_STATE`` or ``~/.local/state``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        default = Path.home() / ".local" / "state" / "slack-alerts" / "alerts.sqlite3"
        self.path = Path(path) if path is not None else Path(os.environ.get(STATE_ENV) or default)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(f"sqlite:///{self.path}")


def database_url(url: str) -> str:
    """``url`` with a driver SQLAlchemy can use for PostgreSQL (``psycopg``)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)
