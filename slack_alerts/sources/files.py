"""Rows of a window from files: CSV, Parquet or JSONL, through ``pyarrow.dataset``.

``path`` is one file, a glob (``logs/*.parquet``), a directory (optionally
hive-partitioned, ``date=2026-01-01/hour=07/part-0.parquet``) or an fsspec
URL (``s3://bucket/predictions/``) read through the same code. The window's
filter on ``timestamp_column`` is pushed into the scan: Parquet row groups
whose statistics lie outside it are skipped, and with ``partition_column``
(a hive partition key holding the time formatted by ``partition_format``)
whole partitions are pruned before any file is opened.

Column kinds come from the dataset's schema (one schema for every window,
unified over its files): numbers are ``numeric``; strings, booleans and
dictionaries ``categorical``; dates and timestamps ``time``.
"""

from __future__ import annotations

import contextlib
import glob as globbing
import os
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from slack_alerts.checks.columns import ColumnKind
from slack_alerts.sources.base import (
    DEFAULT_ROW_CAP,
    DEFAULT_SEED,
    SourceError,
    WindowFrame,
    sample_stream,
)
from slack_alerts.text import looks_like_secret
from slack_alerts.windows import TimeWindow

__all__ = ["FileSource", "arrow_kind"]

BATCH_ROWS = 65_536


def arrow_kind(data_type: pa.DataType) -> ColumnKind:
    """The drift kind of an Arrow type."""
    if pa.types.is_dictionary(data_type):
        return ColumnKind.CATEGORICAL
    if (
        pa.types.is_boolean(data_type)
        or pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
    ):
        return ColumnKind.CATEGORICAL
    if pa.types.is_temporal(data_type) and not pa.types.is_duration(data_type):
        return ColumnKind.TIME
    if (
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
        or pa.types.is_duration(data_type)
    ):
        return ColumnKind.NUMERIC
    return ColumnKind.SKIPPED


class FileSource(BaseModel):
    """A model's rows in files, read one time window at a time."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: Literal["files"] = "files"
    path: str = Field(description="A file, a glob, a directory or an fsspec URL (s3://...)")
    format: Literal["csv", "parquet", "jsonl"] = Field(description="File format")
    timestamp_column: str = Field(description="Column holding each row's time")
    partitioning: Literal["hive"] | None = Field(
        default=None, description="'hive' for key=value directories"
    )
    partition_column: str | None = Field(
        default=None, description="Hive key holding the row's time, for partition pruning"
    )
    partition_format: str = Field(
        default="%Y-%m-%d", description="strftime format of partition_column's values"
    )
    partition_step_hours: float = Field(
        default=24.0, gt=0, description="Time one partition value covers (24: daily)"
    )
    kinds: dict[str, ColumnKind] = Field(
        default_factory=dict, description="Declared column kinds; win over the schema"
    )
    delimiter: str | None = Field(
        default=None,
        min_length=1,
        max_length=1,
        description="CSV only: the field separator, e.g. ';' (default ',')",
    )
    decimal: Literal[".", ","] = Field(
        default=".",
        description="CSV only: the decimal mark, ',' for files written as 1,5 (often with ';')",
    )

    @model_validator(mode="after")
    def _delimiter_is_for_csv(self) -> FileSource:
        if self.delimiter is not None and self.format != "csv":
            raise ValueError("delimiter: only a csv source has one")
        if self.decimal != "." and self.format != "csv":
            raise ValueError("decimal: only a csv source has one")
        if self.decimal == "," and (self.delimiter or ",") == ",":
            raise ValueError("decimal: ',' needs another delimiter, e.g. delimiter: ';'")
        return self

    @field_validator("path")
    @classmethod
    def _no_secret_in_path(cls, value: str) -> str:
        # The path is shown in errors and logs: a password or token in it would be too.
        if looks_like_secret(value):
            raise ValueError(
                "holds a password or a token (not shown): paths are shown in errors and logs; "
                "give credentials through the environment (e.g. AWS_ACCESS_KEY_ID for s3://)"
            )
        return value

    def _format(self) -> ds.FileFormat | str:
        if self.format == "jsonl":
            return ds.JsonFileFormat()
        if self.delimiter is not None or self.decimal != ".":
            return ds.CsvFileFormat(
                parse_options=pacsv.ParseOptions(delimiter=self.delimiter or ","),
                convert_options=pacsv.ConvertOptions(decimal_point=self.decimal),
            )
        return self.format

    def _check_delimiter(self, schema: pa.Schema) -> None:
        """A CSV read with the wrong delimiter has one column named like the whole header."""
        if self.format != "csv" or self.delimiter is not None or len(schema.names) != 1:
            return
        header = schema.names[0]
        for candidate in (";", "\t", "|"):
            if candidate in header:
                raise SourceError(
                    f"path: {self.path!r} reads as one column: its header holds "
                    f"{candidate!r}; give delimiter: {candidate!r}"
                )

    def dataset(self) -> ds.Dataset:
        """The ``pyarrow.dataset`` over ``path``.

        Raises:
            SourceError: no file matches ``path``, or it cannot be opened.
        """
        filesystem: Any = None
        source: Any = self.path
        if "://" in self.path:
            import fsspec  # optional: only URLs need it

            fs, root = fsspec.core.url_to_fs(self.path)
            filesystem = fs
            source = sorted(fs.glob(root)) if globbing.has_magic(root) else root
        elif globbing.has_magic(self.path):
            source = sorted(globbing.glob(self.path, recursive=True))
        if isinstance(source, list) and not source:
            raise SourceError(f"path: no file matches {self.path!r}")
        try:
            dataset = ds.dataset(
                source, format=self._format(), partitioning=self.partitioning, filesystem=filesystem
            )
            schema = _unified_schema(
                dataset,
                f"{self.format}:{self.delimiter or ''}:{self.decimal}",
                every_file=self.partition_column is None,
            )
            self._check_delimiter(schema)
            if self.format == "jsonl":
                schema = _json_time_column(schema, self.timestamp_column)
            if not schema.equals(dataset.schema, check_metadata=False) or _index_columns(
                dataset.schema
            ):
                dataset = ds.dataset(
                    source,
                    schema=schema,
                    format=self._format(),
                    partitioning=self.partitioning,
                    filesystem=filesystem,
                )
            return dataset
        except FileNotFoundError:
            raise SourceError(f"path: no file or directory at {self.path!r}") from None
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as error:
            raise SourceError(
                f"path: cannot open {self.path!r} as {self.format}: {error}"
            ) from None

    def partition_keys(self, dataset: ds.Dataset | None = None) -> list[str]:
        """Hive partition keys (``date``, ``hour``): columns for filtering, not features."""
        if self.partitioning is None:
            return []
        partitioning = getattr(dataset or self.dataset(), "partitioning", None)
        return list(partitioning.schema.names) if partitioning is not None else []

    def schema_kinds(self, dataset: ds.Dataset | None = None) -> dict[str, ColumnKind]:
        schema = (dataset or self.dataset()).schema
        return {f.name: arrow_kind(f.type) for f in schema} | dict(self.kinds)

    def window_filter(self, dataset: ds.Dataset, window: TimeWindow) -> ds.Expression:
        """The pushed-down filter: the time range, and the partitions that can hold it."""
        schema = dataset.schema
        if self.timestamp_column not in schema.names:
            raise SourceError(
                f"timestamp_column: {self.timestamp_column!r} is not a column of {self.path!r} "
                f"(columns: {', '.join(schema.names)})"
            )
        stamp_type = schema.field(self.timestamp_column).type
        field = ds.field(self.timestamp_column)
        expression = (field >= _scalar(window.start, stamp_type)) & (
            field < _scalar(window.end, stamp_type)
        )
        if self.partition_column is not None:
            if self.partition_column not in schema.names:
                raise SourceError(
                    f"partition_column: {self.partition_column!r} is not a partition key of "
                    f"{self.path!r}"
                )
            values = _partition_values(window, self.partition_format, self.partition_step_hours)
            part_type = schema.field(self.partition_column).type
            options = (
                pa.array(values).cast(part_type)
                if not pa.types.is_string(part_type)
                else pa.array(values)
            )
            expression = ds.field(self.partition_column).isin(options) & expression
        return expression

    def read_window(
        self,
        window: TimeWindow,
        columns: Sequence[str] | None = None,
        row_cap: int = DEFAULT_ROW_CAP,
        seed: int = DEFAULT_SEED,
    ) -> WindowFrame:
        """The window's rows (``columns``, or all), sampled to ``row_cap``."""
        dataset = self.dataset()
        names = list(columns) if columns is not None else list(dataset.schema.names)
        unknown = [n for n in names if n not in dataset.schema.names]
        if unknown:
            raise SourceError(f"columns: not in {self.path!r}: {', '.join(unknown)}")
        scanner = dataset.scanner(
            columns=names, filter=self.window_filter(dataset, window), batch_size=BATCH_ROWS
        )

        def chunks() -> Iterator[pd.DataFrame]:
            for batch in scanner.to_batches():
                if batch.num_rows:
                    yield batch.to_pandas()

        try:
            kept, seen = sample_stream(chunks(), row_cap, seed)
        except (pa.ArrowInvalid, OSError) as error:
            hint = ""
            if self.format == "csv" and "columns, got" in str(error):
                hint = " (rows with more fields than the header: is delimiter right?)"
            raise SourceError(f"path: reading {self.path!r} failed: {error}{hint}") from None
        if kept is None:
            kept = pa.Table.from_batches(
                [], schema=pa.schema([dataset.schema.field(n) for n in names])
            ).to_pandas()
        if self.timestamp_column in kept.columns and len(kept):
            kept[self.timestamp_column] = pd.to_datetime(kept[self.timestamp_column], utc=True)
        kinds = self.schema_kinds(dataset)
        return WindowFrame(
            kept,
            rows_read=seen,
            rows_sampled=len(kept),
            kinds={n: kinds[n] for n in names if n in kinds},
            window=window,
        )

    def check(self) -> None:
        """Open the dataset and read its schema; raise ``SourceError`` if that fails."""
        dataset = self.dataset()
        if self.timestamp_column not in dataset.schema.names:
            raise SourceError(f"timestamp_column: {self.timestamp_column!r} is not a column")


_INDEX_COLUMN = re.compile(r"^__index_level_\d+__$")
_PHYSICAL: dict[tuple[str, str, int, int], pa.Schema] = {}
_PHYSICAL_LOCK = threading.Lock()


def _index_columns(schema: pa.Schema) -> set[str]:
    """pandas index columns stored by ``DataFrame.to_parquet()`` (``__index_level_0__``...)."""
    names = {n for n in schema.names if _INDEX_COLUMN.match(n)}
    metadata = schema.pandas_metadata if schema.metadata else None
    for column in (metadata or {}).get("index_columns", []):
        if isinstance(column, str):
            names.add(column)
    return names & set(schema.names)


def _physical_schema(fragment: ds.Fragment, reader: str) -> pa.Schema:
    """A file's own schema, cached per local file (path, size, mtime) and ``reader``."""
    path = str(getattr(fragment, "path", ""))
    try:
        stat = os.stat(path) if isinstance(fragment.filesystem, pafs.LocalFileSystem) else None
    except OSError:
        stat = None
    if stat is None:
        return fragment.physical_schema
    key = (path, reader, stat.st_size, stat.st_mtime_ns)
    with _PHYSICAL_LOCK:
        cached = _PHYSICAL.get(key)
    if cached is None:
        cached = fragment.physical_schema
        with _PHYSICAL_LOCK:
            if len(_PHYSICAL) > 100_000:
                _PHYSICAL.clear()
            _PHYSICAL[key] = cached
    return cached


def _unified_schema(dataset: ds.Dataset, reader: str, *, every_file: bool = True) -> pa.Schema:
    """One schema over every file of the dataset, and its partition keys.

    ``pyarrow.dataset`` takes a dataset's schema from its first file alone:
    columns added in newer files would be invisible, and a CSV or JSON
    column empty in the first file would get the null type. The files'
    schemas are unified instead, column by column (``pyarrow.unify_schemas``,
    permissive promotion: int64 and double give double, null takes the other
    type; types with no common one keep the first file's, and the scan casts
    the others), with the partition keys last, and pandas index columns
    (``__index_level_0__``, written by ``DataFrame.to_parquet()``) left
    out: they are not data. The same schema serves every window.

    With ``every_file`` False (partition pruning: files outside a window
    are never opened), only the oldest and the newest file (by path) are:
    a column added over time is seen, one added and dropped again is not.
    A file that cannot be opened is left out here; reading a window that
    needs it fails, naming it.
    """
    fragments = sorted(dataset.get_fragments(), key=lambda f: str(getattr(f, "path", "")))
    if not every_file and len(fragments) > 2:
        fragments = [fragments[0], fragments[-1]]
    schemas = []
    for fragment in fragments:
        # An unreadable file fails the read of a window that needs it, naming the file.
        with contextlib.suppress(pa.ArrowInvalid, OSError):
            schemas.append(_physical_schema(fragment, reader))
    partitioning = getattr(dataset, "partitioning", None)
    keys = partitioning.schema if partitioning is not None else pa.schema([])
    if not schemas:
        return dataset.schema
    fields: dict[str, pa.Field] = {}
    for schema in [*schemas, keys]:
        for item in schema:
            known = fields.get(item.name)
            if known is None:
                fields[item.name] = item
            elif not known.type.equals(item.type):
                # No common type (double vs string): the first file's, the scan casts the rest.
                with contextlib.suppress(pa.ArrowInvalid, pa.ArrowTypeError, NotImplementedError):
                    fields[item.name] = pa.unify_schemas(
                        [pa.schema([known]), pa.schema([item])], promote_options="permissive"
                    ).field(0)
    index = set().union(*(_index_columns(s) for s in [*schemas, dataset.schema]))
    return pa.schema([f for name, f in fields.items() if name not in index])


def _json_time_column(schema: pa.Schema, column: str) -> pa.Schema:
    """JSON has no time type, and pyarrow infers one only for whole-second ISO text: a text
    time column is declared UTC timestamps, which the scan parses ("…T11:00:18.797Z", as
    pandas' ``to_json`` writes, and "…+02:00" alike)."""
    index = schema.get_field_index(column)
    if index < 0 or not pa.types.is_string(schema.field(index).type):
        return schema
    return schema.set(index, pa.field(column, pa.timestamp("us", tz="UTC")))


def _scalar(moment: datetime, data_type: pa.DataType) -> pa.Scalar[Any]:
    """``moment`` (UTC) as a scalar comparable with the column: naive columns hold UTC."""
    if pa.types.is_timestamp(data_type):
        value = moment if data_type.tz else moment.replace(tzinfo=None)
        return pa.scalar(value, type=pa.timestamp("us", tz=data_type.tz)).cast(data_type)
    if pa.types.is_date(data_type):
        return pa.scalar(moment.date(), type=data_type)
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        raise SourceError(
            "timestamp_column: holds text, not timestamps; store ISO-8601 times that the "
            "reader parses (CSV/JSON) or a timestamp type (Parquet)"
        )
    raise SourceError(f"timestamp_column: has type {data_type}, not a timestamp")


def _partition_values(window: TimeWindow, fmt: str, step_hours: float) -> list[str]:
    """Every partition value a window touches (each partition covers ``step_hours``)."""
    step = timedelta(hours=step_hours)
    epoch = datetime(1970, 1, 1, tzinfo=window.start.tzinfo)
    slots = int((window.start - epoch) / step)
    moment = epoch + slots * step
    values: list[str] = []
    while moment < window.end or not values:
        values.append(moment.strftime(fmt))
        moment += step
    return sorted(set(values))
