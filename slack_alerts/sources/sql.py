"""Rows of a window from a SQL database, through SQLAlchemy Core.

``SqlSource`` reads ``table`` filtered on ``timestamp_column`` (the
``WHERE`` is pushed to the database, so an index on the timestamp makes a
window cost its own rows, whatever the table's size), or runs ``query``
with the bound parameters ``:start`` and ``:end``. Rows are streamed
(a server-side cursor on PostgreSQL, ``stream_results``) in chunks and
sampled to the row cap on the way (``slack_alerts.sources.base``).

Credentials: ``url`` is a SQLAlchemy URL held as a ``SecretStr`` (never in
a repr, a log or an error), or ``connector`` names a ``prefect-sqlalchemy``
``SqlAlchemyConnector`` block, which the flows layer resolves into a URL
(``flows.sources.resolve_source``); the core never talks to Prefect.

Column kinds come from the table's schema (SQLAlchemy reflection), the same
for every window: numbers are ``numeric``; text, booleans and enums
``categorical``; dates and timestamps ``time``. A query's columns have no
declared schema: their kinds come from the result's values (pass
``kinds`` to declare them).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sqlalchemy.engine import Engine

from slack_alerts.checks.columns import ColumnKind
from slack_alerts.sources.base import (
    DEFAULT_ROW_CAP,
    DEFAULT_SEED,
    SourceError,
    WindowFrame,
    sample_stream,
)
from slack_alerts.text import looks_like_secret, redact_secrets
from slack_alerts.windows import TimeWindow, as_utc

__all__ = ["SqlSource", "engine_for", "sql_kind"]

CHUNK_ROWS = 50_000
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def sql_kind(column_type: sa.types.TypeEngine[Any]) -> ColumnKind:
    """The drift kind of a SQL column type."""
    if isinstance(column_type, sa.Boolean | sa.Enum | sa.String):
        return ColumnKind.CATEGORICAL
    if isinstance(column_type, sa.DateTime | sa.Date | sa.Time):
        return ColumnKind.TIME
    if isinstance(column_type, sa.Integer | sa.Numeric | sa.Float):
        return ColumnKind.NUMERIC
    if isinstance(column_type, sa.Interval):
        return ColumnKind.NUMERIC
    return ColumnKind.SKIPPED


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine_for(url: str) -> Engine:
    """One pooled engine per URL for the process (connections are reused across windows).

    PostgreSQL sessions run in UTC (``-c timezone=UTC`` added to the
    connection's ``options``, after any the URL gives): a ``timestamp``
    column without a time zone holds UTC wall times, and comparing it with
    the window's bounds (``timestamptz``) converts through the session's
    time zone. A database or role with ``SET timezone`` (or ``PGTZ``) would
    otherwise shift every window of a ``query`` source by its offset.
    """
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = sa.create_engine(
                url, pool_pre_ping=True, connect_args=_utc_session(sa.make_url(url))
            )
        return engine


def _utc_session(url: sa.URL) -> dict[str, Any]:
    """``connect_args`` that make a PostgreSQL session's time zone UTC (nothing elsewhere)."""
    if url.get_backend_name() != "postgresql":
        return {}
    given = url.query.get("options", "")
    options = " ".join(given) if isinstance(given, tuple) else given
    return {"options": f"{options} -c timezone=UTC".strip()}


class SqlSource(BaseModel):
    """A model's rows in a SQL table (or a query), read one time window at a time."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: Literal["sql"] = "sql"
    url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db (kept secret)",
    )
    connector: str | None = Field(
        default=None,
        description="Name of a prefect-sqlalchemy SqlAlchemyConnector block (the credentials)",
    )
    table: str | None = Field(default=None, description="Table (or view) name")
    db_schema: str | None = Field(default=None, description="Database schema of the table")
    query: str | None = Field(
        default=None, description="SELECT with :start and :end bound to the window (UTC)"
    )
    timestamp_column: str = Field(description="Column holding each row's time")
    kinds: dict[str, ColumnKind] = Field(
        default_factory=dict, description="Declared column kinds; win over the schema"
    )

    @model_validator(mode="after")
    def _one_of_each(self) -> SqlSource:
        if (self.url is None) == (self.connector is None):
            raise ValueError("give exactly one of url (a secret) or connector (a block name)")
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table or query")
        if self.query is not None and not (":start" in self.query and ":end" in self.query):
            raise ValueError("query must use both :start and :end (the window's bounds)")
        return self

    # Field validators, so an error names its field; none repeats the value (it may be
    # a URL with a password put in the wrong field).
    @field_validator("table", "db_schema", "timestamp_column")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None and not _IDENTIFIER.match(value):
            raise ValueError(
                "must be a plain SQL identifier: letters, digits, _ and $ (the value is not "
                "shown); put the schema in db_schema, and use query for anything else"
            )
        return value

    @field_validator("connector")
    @classmethod
    def _block_name(cls, value: str | None) -> str | None:
        if value is not None and (looks_like_secret(value) or "://" in value):
            raise ValueError(
                "looks like a URL or a token (not shown): connector is the name of a saved "
                "SqlAlchemyConnector block; give the database URL as url (kept secret), or "
                "save it as a block and give the block's name here"
            )
        return value

    def __repr__(self) -> str:
        where = self.table or "query"
        via = f"connector={self.connector!r}" if self.connector else "url=***"
        return f"SqlSource({via}, {where}, timestamp_column={self.timestamp_column!r})"

    __str__ = __repr__

    def with_url(self, url: str | SecretStr) -> SqlSource:
        """This source with its credentials resolved (done by the flows layer for ``connector``)."""
        secret = url if isinstance(url, SecretStr) else SecretStr(url)
        return self.model_copy(update={"url": secret, "connector": None})

    # -- reading --------------------------------------------------------------

    def _engine(self) -> Engine:
        if self.url is None:
            raise SourceError(
                f"connector: block {self.connector!r} is not resolved; in a flow, "
                "flows.sources.resolve_source does it"
            )
        try:
            return engine_for(self.url.get_secret_value())
        except Exception as error:
            raise SourceError(
                f"url: not a usable SQLAlchemy URL ({type(error).__name__})"
            ) from None

    @functools.cached_property
    def _table(self) -> sa.Table:
        assert self.table is not None
        try:
            return sa.Table(
                self.table, sa.MetaData(), schema=self.db_schema, autoload_with=self._engine()
            )
        except sa.exc.NoSuchTableError:
            raise SourceError(f"table: no table {self.table!r} in the database") from None
        except sa.exc.SQLAlchemyError as error:
            raise SourceError(f"url: cannot read the table's schema: {_why(error)}") from None

    def schema_kinds(self) -> dict[str, ColumnKind]:
        """Kinds from the table's schema (empty for a query), declared kinds winning."""
        if self.table is None:
            return dict(self.kinds)
        return {c.name: sql_kind(c.type) for c in self._table.columns} | dict(self.kinds)

    def _statement(self, window: TimeWindow, columns: Sequence[str] | None) -> sa.Executable:
        if self.query is not None:
            return sa.text(self.query).bindparams(start=window.start, end=window.end)
        table = self._table
        names = list(columns) if columns is not None else [c.name for c in table.columns]
        unknown = [n for n in names if n not in table.c]
        if unknown:
            raise SourceError(f"columns: not in table {self.table!r}: {', '.join(unknown)}")
        if self.timestamp_column not in table.c:
            raise SourceError(
                f"timestamp_column: {self.timestamp_column!r} is not a column of {self.table!r}"
            )
        stamp = table.c[self.timestamp_column]
        columns_out = (table.c[n] for n in names)
        if self._engine().dialect.name == "sqlite" and isinstance(
            stamp.type, sa.String | sa.DateTime | sa.Date
        ):
            return sa.select(*columns_out).where(*_sqlite_window(stamp, window))
        if isinstance(stamp.type, sa.String):
            raise SourceError(
                f"timestamp_column: {self.timestamp_column!r} holds text in {self.table!r}, not "
                "timestamps: store it as a timestamp type, or read it with a query that casts "
                f"it, e.g. WHERE CAST({self.timestamp_column} AS TIMESTAMP WITH TIME ZONE) "
                ">= :start AND ... < :end"
            )
        start, end = _bound(window.start, stamp), _bound(window.end, stamp)
        return sa.select(*columns_out).where(stamp >= start, stamp < end)

    def _chunks(
        self, statement: sa.Executable, columns: Sequence[str] | None
    ) -> Iterator[pd.DataFrame]:
        with self._engine().connect() as connection:
            result = connection.execution_options(
                stream_results=True, yield_per=CHUNK_ROWS
            ).execute(statement)
            keys = list(result.keys())
            for rows in result.partitions():
                # Plain tuples: given SQLAlchemy rows, pandas probes each one with
                # hasattr(row, "dtype"), a failed key lookup per row (measured: 0.5 s
                # of a 1.4 s read of 83k rows x 24 columns; 1.0 s with tuples).
                frame = pd.DataFrame.from_records(
                    [tuple(row) for row in rows], columns=keys, coerce_float=True
                )
                if columns is not None and self.query is not None:
                    frame = frame[[c for c in columns if c in frame.columns]]
                yield frame

    def read_window(
        self,
        window: TimeWindow,
        columns: Sequence[str] | None = None,
        row_cap: int = DEFAULT_ROW_CAP,
        seed: int = DEFAULT_SEED,
    ) -> WindowFrame:
        """The window's rows (``columns``, or all), sampled to ``row_cap``.

        Raises:
            SourceError: a bad table, column or URL (naming the field, never
                echoing credentials), or the database refused the query.
        """
        statement = self._statement(window, columns)
        try:
            kept, seen = sample_stream(self._chunks(statement, columns), row_cap, seed)
        except sa.exc.SQLAlchemyError as error:
            raise SourceError(
                f"{'query' if self.query else 'table'}: reading failed: {_why(error)}"
            ) from None
        kinds = self.schema_kinds()
        if kept is None:
            names = list(columns) if columns is not None else list(kinds)
            kept = pd.DataFrame({n: pd.Series(dtype=object) for n in names})
        kept = _normalize_times(kept, self.timestamp_column)
        shown = {c: kinds[c] for c in kept.columns if c in kinds}
        return WindowFrame(kept, rows_read=seen, rows_sampled=len(kept), kinds=shown, window=window)

    def check(self) -> None:
        """Connect and read the table's schema; raise ``SourceError`` if that fails."""
        try:
            with self._engine().connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as error:
            raise SourceError(f"url: cannot connect: {_why(error)}") from None
        if self.table is not None:
            self.schema_kinds()


def _bound(moment: datetime, column: sa.ColumnElement[Any]) -> datetime:
    """A naive timestamp column holds UTC wall times: compare it with naive UTC bounds."""
    column_type = column.type
    if isinstance(column_type, sa.DateTime) and not column_type.timezone:
        return moment.replace(tzinfo=None)
    return moment


_SQLITE_TIME = "%Y-%m-%d %H:%M:%f"


def _sqlite_window(
    column: sa.ColumnElement[Any], window: TimeWindow
) -> list[sa.ColumnElement[bool]]:
    """The window's filter on a SQLite time column, which holds text.

    SQLite has no time type: a ``DATETIME`` or ``TEXT`` column holds
    whatever text was written, ``2026-03-01 05:00:00`` (pandas,
    SQLAlchemy) or ISO 8601 with a ``T`` and an offset
    (``2026-03-01T05:00:00+00:00``), and those compare as text, wrongly
    (``T`` sorts after a space). Both sides are normalised by SQLite's
    ``strftime('%Y-%m-%d %H:%M:%f', ...)``, which reads either form and
    applies the offset (a time without one is UTC), to the millisecond. A
    text range one day wider than the window on each side comes first, so
    an index on the column still narrows the scan.
    """

    def utc_text(moment: datetime) -> str:
        return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S.%f")

    def normalized(value: Any) -> sa.ColumnElement[Any]:
        return sa.func.strftime(_SQLITE_TIME, value)

    low = (as_utc(window.start) - timedelta(days=1)).strftime("%Y-%m-%d")
    high = (as_utc(window.end) + timedelta(days=2)).strftime("%Y-%m-%d")
    text = sa.type_coerce(column, sa.Text)
    return [
        text >= low,
        text < high,
        normalized(column) >= normalized(utc_text(window.start)),
        normalized(column) < normalized(utc_text(window.end)),
    ]


def _normalize_times(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    if column in frame.columns and len(frame):
        values = frame[column]
        known = values.dropna()
        text = len(known) > 0 and isinstance(known.iloc[0], str)
        # SQLite holds times as text, in whichever ISO 8601 form each writer used.
        frame[column] = pd.to_datetime(values, utc=True, format="ISO8601" if text else None)
    return frame


def _why(error: BaseException) -> str:
    """A database error in one line, with anything shaped like a secret removed."""
    original = getattr(error, "orig", None) or error
    text = (
        str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    )
    return redact_secrets(text)[:300]
