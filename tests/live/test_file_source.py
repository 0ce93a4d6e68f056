"""File sources: Parquet partition pruning, and one schema for both windows (CSV, Parquet)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from slack_alerts.checks.columns import ColumnKind
from slack_alerts.sources import FileSource, SourceError
from slack_alerts.windows import TimeWindow

DAY0 = datetime(2026, 4, 1, tzinfo=UTC)


def _day(day: int, rows: int = 48) -> pd.DataFrame:
    start = pd.Timestamp(DAY0 + timedelta(days=day))
    return pd.DataFrame(
        {
            "ts": start + pd.to_timedelta(np.arange(rows) * 30, unit="min"),
            "age": np.arange(rows, dtype=float) + day,
            "site": ["A", "B"] * (rows // 2),
        }
    )


def test_hive_partitions_outside_the_window_are_never_opened(tmp_path: Path) -> None:
    for day in range(3):
        folder = tmp_path / f"date={(DAY0 + timedelta(days=day)):%Y-%m-%d}"
        folder.mkdir()
        pq.write_table(pa.Table.from_pandas(_day(day), preserve_index=False), folder / "0.parquet")
    # A corrupt file in the first day's partition: reading it would fail.
    (tmp_path / f"date={DAY0:%Y-%m-%d}" / "1.parquet").write_bytes(b"not parquet at all")
    source = FileSource(
        path=str(tmp_path),
        format="parquet",
        timestamp_column="ts",
        partitioning="hive",
        partition_column="date",
    )
    window = TimeWindow(start=DAY0 + timedelta(days=1, hours=6), end=DAY0 + timedelta(days=2))
    read = source.read_window(window, ["ts", "age"])
    assert read.rows_read == 36  # 18 h of the second day, every 30 min
    assert read.frame["ts"].min() == pd.Timestamp(window.start)
    with pytest.raises(SourceError, match="path: reading"):
        source.read_window(TimeWindow(start=DAY0, end=DAY0 + timedelta(hours=1)))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_both_windows_get_the_schema_kinds(tmp_path: Path, fmt: str) -> None:
    # The later file has no age at all in its rows: read on its own, an empty column
    # says nothing; the dataset's schema still says numeric, for both windows.
    early, late = _day(0), _day(1)
    late["age"] = np.nan
    for name, frame in (("a", early), ("b", late)):
        if fmt == "csv":
            frame.to_csv(tmp_path / f"{name}.csv", index=False)
        else:
            frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    source = FileSource(path=str(tmp_path / f"*.{fmt}"), format=fmt, timestamp_column="ts")
    reference = source.read_window(TimeWindow(start=DAY0, end=DAY0 + timedelta(days=1)))
    current = source.read_window(
        TimeWindow(start=DAY0 + timedelta(days=1), end=DAY0 + timedelta(days=2))
    )
    expected = {"ts": ColumnKind.TIME, "age": ColumnKind.NUMERIC, "site": ColumnKind.CATEGORICAL}
    assert reference.kinds == current.kinds == expected
    assert reference.rows_read == current.rows_read == 48
    assert current.frame["age"].isna().all()
