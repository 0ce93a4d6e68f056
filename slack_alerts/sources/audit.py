"""Audit-log sources for incremental security scans.

A scan reads only the records after its watermark, plus an overlap as long
as the longest rule window, so a burst that spans two runs is still seen
whole; records are bounded above by the run's scheduled time, so a
re-run of a slot reads the same records. The watermark is a small JSON-able
``AuditWatermark`` (the flows layer keeps it in a Prefect Variable per
source, and advances it only after the run's alerts are accounted for).

Audit records arrive late: a log shipper (fluentd, vector) buffers them, so
a line stamped 10:13 may be written at 10:16, after the 10:15 run. Each
source has an **allowed lateness** (``allowed_lateness_seconds``, default
15 minutes, at most a day), as in streaming systems:

- ``AuditFileSource``: a growing JSONL file, or a directory of them. The
  watermark keeps, per file, how far it was read (a byte offset), so every
  line appended since the last run is scanned, **whatever its timestamp**:
  no lateness loses a line. The allowed lateness only widens the context
  re-read before the watermark (the overlap), so that a late line joins the
  burst it belongs to. A run reads the new bytes plus that context, never
  the whole log.
- ``AuditSqlSource``: a table with a timestamp column; the time range is a
  ``WHERE`` on it. A table has no order of arrival, so each run reads the
  rows stamped from ``watermark - allowed lateness - overlap``: a row
  that arrives up to the allowed lateness after its timestamp is scanned;
  a later one is not (stamp the rows at ingestion, or raise the lateness).

``AuditRead.fresh_since`` says which incidents may be new: those whose last
record is at or after it (older ones were reported by an earlier run). An
incident seen again through the context keeps its id, so the pipeline does
not post it twice.

A missed run needs nothing special: the next run reads from the last
watermark up to its own scheduled time.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from slack_alerts.sources.base import SourceError
from slack_alerts.sources.sql import SqlSource, engine_for
from slack_alerts.windows import as_utc

__all__ = ["AuditFileSource", "AuditRead", "AuditSource", "AuditSqlSource", "AuditWatermark"]


class AuditWatermark(BaseModel):
    """Where the last accounted-for scan ended.

    ``time``: records before it were scanned (UTC); ``offsets``: per file,
    the byte offset to resume reading from (the overlap's first line).
    """

    model_config = ConfigDict(extra="forbid")

    time: datetime | None = None
    offsets: dict[str, int] = Field(default_factory=dict)


class AuditRead(BaseModel):
    """One incremental read's records, and the watermark to save once they are accounted for.

    ``fresh_since``: an incident whose last record is before it was already
    scanned by an accounted-for run (None: every incident may be new).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    records: list[Any]
    since: datetime | None
    until: datetime
    new_watermark: AuditWatermark
    bytes_read: int = 0
    fresh_since: datetime | None = None


DEFAULT_ALLOWED_LATENESS_SECONDS = 900.0
MAX_ALLOWED_LATENESS_SECONDS = 86400.0


def _lateness_field() -> Any:
    return Field(
        default=DEFAULT_ALLOWED_LATENESS_SECONDS,
        ge=0,
        le=MAX_ALLOWED_LATENESS_SECONDS,
        description="How late (seconds after their timestamp) records may arrive and still "
        "be scanned with their context; default 900 (15 minutes), at most 86400 (a day)",
    )


def _record_time(line: str) -> datetime | None:
    try:
        raw = json.loads(line)
        return as_utc(datetime.fromisoformat(str(raw["timestamp"]).replace("Z", "+00:00")))
    except (ValueError, KeyError, TypeError):
        return None


class AuditFileSource(BaseModel):
    """A JSONL audit log (one file, or every ``*.jsonl`` in a directory)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["jsonl"] = "jsonl"
    path: str = Field(description="A JSONL file, or a directory of *.jsonl files")
    allowed_lateness_seconds: float = _lateness_field()

    @property
    def key(self) -> str:
        return f"jsonl:{os.path.abspath(self.path)}"

    def files(self) -> list[Path]:
        root = Path(self.path)
        if root.is_dir():
            return sorted(root.glob("*.jsonl"))
        if root.exists():
            return [root]
        raise SourceError(f"path: no audit log at {self.path}")

    def check(self) -> None:
        self.files()

    def read_after(
        self, watermark: AuditWatermark | None, overlap: timedelta, until: datetime
    ) -> AuditRead:
        """Every complete line appended since the last read and timed before ``until``,
        plus, as context, the lines read before and timed in
        ``[watermark.time - allowed lateness - overlap, until)``.

        A new line is scanned whatever its timestamp (late lines are not lost);
        one timed at or after ``until`` waits for the run whose slot it is in.
        Lines that are not JSON or have no readable time are passed on (the
        scan counts them as malformed) only when they are new bytes, so one
        bad line is reported once.
        """
        mark = watermark or AuditWatermark()
        until = as_utc(until)
        lateness = timedelta(seconds=self.allowed_lateness_seconds)
        since = mark.time - lateness - overlap if mark.time is not None else None
        next_from = until - lateness - overlap
        fresh_since = mark.time
        records: list[Any] = []
        offsets: dict[str, int] = {}
        total = 0
        for file in self.files():
            name = str(file)
            size = file.stat().st_size
            start = mark.offsets.get(name, 0)
            old_end = mark.offsets.get(f"{name}#end", start)
            if start > size or old_end > size:
                start = old_end = 0  # the file was truncated or rotated: read it again
            resume: int | None = None
            with file.open("rb") as handle:
                handle.seek(start)
                position = start
                for raw in handle:
                    line_start = position
                    position += len(raw)
                    if not raw.endswith(b"\n"):
                        position = line_start  # a line still being written: next run
                        break
                    total += len(raw)
                    new = line_start >= old_end
                    text = raw.decode("utf-8", errors="replace")
                    moment = _record_time(text)
                    if moment is None:
                        if new and text.strip():
                            records.append(text)
                        continue
                    if moment >= until:
                        if resume is None:
                            resume = line_start
                        continue
                    if resume is None and moment >= next_from:
                        resume = line_start
                    if new:
                        records.append(text)
                        if mark.time is not None and fresh_since is not None:
                            fresh_since = min(fresh_since, moment)
                    elif since is None or moment >= since:
                        records.append(text)
            offsets[name] = resume if resume is not None else position
            offsets[f"{name}#end"] = position
        return AuditRead(
            records=records,
            since=since,
            until=until,
            new_watermark=AuditWatermark(time=until, offsets=offsets),
            bytes_read=total,
            fresh_since=fresh_since,
        )


class AuditSqlSource(BaseModel):
    """An audit table with one row per record (columns as in the JSONL records)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: Literal["sql"] = "sql"
    url: SecretStr | None = None
    connector: str | None = None
    table: str
    timestamp_column: str = "timestamp"
    allowed_lateness_seconds: float = _lateness_field()

    @model_validator(mode="after")
    def _credentials(self) -> AuditSqlSource:
        if (self.url is None) == (self.connector is None):
            raise ValueError("give exactly one of url (a secret) or connector (a block name)")
        return self

    def __repr__(self) -> str:
        via = f"connector={self.connector!r}" if self.connector else "url=***"
        return f"AuditSqlSource({via}, table={self.table!r})"

    __str__ = __repr__

    @property
    def key(self) -> str:
        """The connector block and table, or the URL's database (hashed, no password) and table."""
        if self.connector is not None:
            return f"sql:{self.connector}:{self.table}"
        assert self.url is not None
        raw = self.url.get_secret_value()
        try:
            where = sa.make_url(raw).render_as_string(hide_password=True)
        except sa.exc.ArgumentError:
            where = raw
        return f"sql:url-{hashlib.sha256(where.encode('utf-8')).hexdigest()[:16]}:{self.table}"

    def with_url(self, url: str | SecretStr) -> AuditSqlSource:
        secret = url if isinstance(url, SecretStr) else SecretStr(url)
        return self.model_copy(update={"url": secret, "connector": None})

    def _rows(self) -> SqlSource:
        if self.url is None:
            raise SourceError(f"connector: block {self.connector!r} is not resolved")
        return SqlSource(url=self.url, table=self.table, timestamp_column=self.timestamp_column)

    def check(self) -> None:
        self._rows().check()

    def read_after(
        self, watermark: AuditWatermark | None, overlap: timedelta, until: datetime
    ) -> AuditRead:
        """Rows timed in ``[watermark.time - allowed lateness - overlap, until)``."""
        mark = watermark or AuditWatermark()
        until = as_utc(until)
        lateness = timedelta(seconds=self.allowed_lateness_seconds)
        since = mark.time - lateness - overlap if mark.time is not None else None
        rows = self._rows()
        table = rows._table  # reflected once: the schema decides naive vs aware bounds
        stamp = table.c[self.timestamp_column]
        query = sa.select(table).where(stamp < _naive_if(stamp, until)).order_by(stamp)
        if since is not None:
            query = query.where(stamp >= _naive_if(stamp, since))
        assert self.url is not None
        records: list[Any] = []
        with engine_for(self.url.get_secret_value()).connect() as connection:
            for row in connection.execute(query).mappings():
                record = dict(row)
                moment = record.get(self.timestamp_column)
                if isinstance(moment, datetime):
                    record["timestamp"] = as_utc(moment).isoformat()
                records.append(record)
        return AuditRead(
            records=records,
            since=since,
            until=until,
            new_watermark=AuditWatermark(time=until),
            fresh_since=mark.time - lateness if mark.time is not None else None,
        )


def _naive_if(column: sa.ColumnElement[Any], moment: datetime) -> datetime:
    column_type = column.type
    if isinstance(column_type, sa.DateTime) and not column_type.timezone:
        return moment.replace(tzinfo=None)
    return moment


AuditSource = Annotated[AuditFileSource | AuditSqlSource, Field(discriminator="kind")]


def iter_lines(read: AuditRead) -> Iterator[Any]:
    yield from read.records
