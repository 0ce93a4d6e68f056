"""Live sources, the parts issue 13 asked for that had no test yet.

- credentials from a ``prefect-sqlalchemy`` ``SqlAlchemyConnector`` block,
  saved on the Prefect test harness, pointing at a real PostgreSQL database
  this module creates and drops; the block's password never shows;
- JSONL windows (one file, a glob, ``file://`` and ``memory://`` fsspec URLs);
- the Parquet time filter pushed down: hive partitions and row groups
  outside the window are never read (each holds a corrupt file or chunk);
- the incremental security scan of an audit *table*, with its watermark on
  the Prefect server.
"""

from __future__ import annotations

import json
import re
import traceback
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from prefect_sqlalchemy import ConnectionComponents, SqlAlchemyConnector
from pydantic import SecretStr

import flows.monitors.security as security
from flows import security_monitoring_flow
from flows.sources import load_watermark, resolve_config, resolve_source, watermark_name
from slack_alerts.checks.columns import ColumnKind
from slack_alerts.live import LiveModelConfig
from slack_alerts.sources import FileSource, SourceError, SqlSource
from slack_alerts.sources.audit import AuditSqlSource
from slack_alerts.testing import LocalWebhookServer
from slack_alerts.windows import TimeWindow

T0 = datetime(2026, 2, 1, tzinfo=UTC)
PASSWORD = "pw-Kq83-must-never-show"  # trust auth on 127.0.0.1 ignores it
ROWS_PER_HOUR = 12


def _predictions(hours: int) -> pd.DataFrame:
    rng = np.random.default_rng(13)
    n = hours * ROWS_PER_HOUR
    return pd.DataFrame(
        {
            "pid": np.arange(n),
            "ts": pd.Timestamp(T0) + pd.to_timedelta(np.arange(n) * 300, unit="s"),
            "age": rng.normal(60, 10, n),
            "site": rng.choice(["A", "B"], n),
            "score": rng.random(n),
        }
    )


PREDICTIONS = _predictions(48)


@pytest.fixture(scope="module")
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE predictions (pid bigint PRIMARY KEY, ts timestamptz NOT NULL, "
                "age double precision, site text, score double precision)"
            )
        )
        connection.execute(
            sa.text(
                "CREATE TABLE audit_log (id serial PRIMARY KEY, ts timestamptz NOT NULL, "
                "principal text, ip text, model_id text, action text, status text)"
            )
        )
    PREDICTIONS.to_sql("predictions", engine, if_exists="append", index=False)
    yield engine
    engine.dispose()


def _save_block(info: ConnectionComponents | str) -> str:
    name = f"gaps-{uuid.uuid4().hex[:10]}"
    SqlAlchemyConnector(connection_info=info).save(name)
    return name


@pytest.fixture(scope="module")
def connectors(prefect_api: str, postgres_url: str, engine: sa.Engine) -> dict[str, str]:
    """Blocks on the harness, by how they hold the database: components, a URL, a bad database."""
    url = sa.make_url(postgres_url)
    components: dict[str, Any] = {
        "driver": "postgresql+psycopg",
        "username": url.username,
        "password": SecretStr(PASSWORD),
        "host": url.host,
        "port": url.port,
    }
    with_password = url.set(password=PASSWORD).render_as_string(hide_password=False)
    return {
        "components": _save_block(ConnectionComponents(**components, database=url.database)),
        "url": _save_block(with_password),
        "missing-database": _save_block(
            ConnectionComponents(**components, database=f"{url.database}_absent")
        ),
    }


def _in(frame: pd.DataFrame, window: TimeWindow, column: str = "ts") -> pd.DataFrame:
    stamps = frame[column]
    return frame[(stamps >= pd.Timestamp(window.start)) & (stamps < pd.Timestamp(window.end))]


def _no_password(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text


# -- 1. credentials from a SqlAlchemyConnector block -----------------------------------------


@pytest.mark.parametrize("held_as", ["components", "url"])
def test_a_connector_block_supplies_the_credentials(
    connectors: dict[str, str], held_as: str
) -> None:
    source = SqlSource(connector=connectors[held_as], table="predictions", timestamp_column="ts")
    window = TimeWindow(start=T0 + timedelta(hours=7), end=T0 + timedelta(hours=10, minutes=30))
    with pytest.raises(SourceError, match=r"^connector: block .* is not resolved"):
        source.read_window(window)

    resolved = resolve_source(source)
    assert resolved.connector is None and resolved.url is not None
    # The URL is the block's, password included (trust auth lets it through).
    assert PASSWORD in resolved.url.get_secret_value()
    read = resolved.read_window(window, ["pid", "ts", "age", "site"])
    expected = _in(PREDICTIONS, window)
    assert read.rows_read == read.rows_sampled == len(expected) == 42
    assert sorted(read.frame["pid"]) == sorted(expected["pid"])
    assert read.kinds == {
        "pid": ColumnKind.NUMERIC,
        "ts": ColumnKind.TIME,
        "age": ColumnKind.NUMERIC,
        "site": ColumnKind.CATEGORICAL,
    }
    _no_password(
        repr(resolved),
        str(resolved),
        f"{resolved}",
        resolved.model_dump_json(),
        str(resolved.model_dump()),
    )

    # A whole model's config, predictions and outcomes both through the block.
    config = LiveModelConfig(
        model_id="m",
        model_name="M",
        source=source,
        score_column="score",
        outcomes={
            "source": {
                "kind": "sql",
                "connector": connectors[held_as],
                "table": "predictions",
                "timestamp_column": "ts",
            },
            "prediction_id_column": "pid",
            "label_column": "score",
        },
    )
    whole = resolve_config(config)
    assert whole.outcomes is not None
    for part in (whole.source, whole.outcomes.source):
        assert isinstance(part, SqlSource) and part.url is not None and part.connector is None
    _no_password(repr(whole), str(whole), whole.model_dump_json())


def test_errors_through_a_connector_never_show_its_password(connectors: dict[str, str]) -> None:
    window = TimeWindow(start=T0, end=T0 + timedelta(hours=1))
    failures: list[SourceError] = []

    missing_table = resolve_source(
        SqlSource(connector=connectors["components"], table="no_such_table", timestamp_column="ts")
    )
    with pytest.raises(SourceError, match=r"^table: no table 'no_such_table'") as error:
        missing_table.read_window(window)
    failures.append(error.value)

    missing_relation = resolve_source(
        SqlSource(
            connector=connectors["url"],
            query="SELECT * FROM no_such_table WHERE ts >= :start AND ts < :end",
            timestamp_column="ts",
        )
    )
    with pytest.raises(SourceError, match=r'^query: reading failed: .*"no_such_table"') as error:
        missing_relation.read_window(window)
    failures.append(error.value)

    no_database = resolve_source(
        SqlSource(
            connector=connectors["missing-database"], table="predictions", timestamp_column="ts"
        )
    )
    with pytest.raises(
        SourceError, match=r"^url: cannot read the table's schema: .*does not exist"
    ) as error:
        no_database.read_window(window)
    failures.append(error.value)
    with pytest.raises(SourceError, match=r"^url: cannot connect") as error:
        no_database.check()
    failures.append(error.value)

    for failure in failures:
        _no_password(str(failure), repr(failure), "".join(traceback.format_exception(failure)))

    with pytest.raises(SourceError, match=r"^connector: no SqlAlchemyConnector block named"):
        resolve_source(SqlSource(connector="no-such-block", table="t", timestamp_column="ts"))


# -- 2. JSONL windows: one file, a glob, fsspec URLs -----------------------------------------


def _jsonl_day(day: int) -> pd.DataFrame:
    """48 rows, every 30 min; on day 0 nobody measured lactate (the column is all null)."""
    rows = 48
    start = pd.Timestamp(T0 + timedelta(days=day))
    return pd.DataFrame(
        {
            "pid": np.arange(rows) + 1000 * day,
            "ts": start + pd.to_timedelta(np.arange(rows) * 30, unit="min"),
            "age": np.arange(rows, dtype=float) + day,
            "lactate": [None] * rows if day == 0 else list(np.linspace(0.5, 4.0, rows)),
            "site": ["A", "B", "C"] * (rows // 3),
        }
    )


def _jsonl_lines(frame: pd.DataFrame) -> str:
    records = frame.assign(ts=frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_dict("records")
    return "".join(json.dumps(record) + "\n" for record in records)


DAYS = [_jsonl_day(0), _jsonl_day(1)]
ALL_DAYS = pd.concat(DAYS, ignore_index=True)
JSONL_KINDS = {
    "pid": ColumnKind.NUMERIC,
    "ts": ColumnKind.TIME,
    "age": ColumnKind.NUMERIC,
    "lactate": ColumnKind.NUMERIC,
    "site": ColumnKind.CATEGORICAL,
}


@pytest.fixture
def memory_folder() -> Iterator[str]:
    """A folder on fsspec's in-memory filesystem: only fsspec can read it, not pyarrow alone."""
    memory = fsspec.filesystem("memory")
    folder = f"/slack-alerts-{uuid.uuid4().hex[:8]}"
    for day, frame in enumerate(DAYS):
        memory.pipe(f"{folder}/day{day}.jsonl", _jsonl_lines(frame).encode())
    yield folder
    memory.rm(folder, recursive=True)


@pytest.mark.parametrize("form", ["glob", "file-url-glob", "file-url-directory", "memory-url"])
def test_jsonl_windows_read_exactly_their_rows_with_one_schema(
    tmp_path: Path, memory_folder: str, form: str
) -> None:
    for day, frame in enumerate(DAYS):
        (tmp_path / f"day{day}.jsonl").write_text(_jsonl_lines(frame))
    path = {
        "glob": f"{tmp_path}/*.jsonl",
        "file-url-glob": f"file://{tmp_path}/*.jsonl",
        "file-url-directory": f"file://{tmp_path}",
        "memory-url": f"memory://{memory_folder}/*.jsonl",
    }[form]
    source = FileSource(path=path, format="jsonl", timestamp_column="ts")
    # Lactate has no value on day 0: the reference window holds none, the current one some.
    reference_window = TimeWindow(start=T0 + timedelta(hours=2), end=T0 + timedelta(hours=20))
    current_window = TimeWindow(start=T0 + timedelta(hours=20), end=T0 + timedelta(hours=31))
    for window, nulls in ((reference_window, 36), (current_window, 8)):
        read = source.read_window(window)
        expected = _in(ALL_DAYS, window)
        assert read.rows_read == read.rows_sampled == len(expected)
        assert sorted(read.frame["pid"]) == sorted(expected["pid"])
        assert read.frame["ts"].min() == pd.Timestamp(window.start)
        assert read.frame["ts"].max() < pd.Timestamp(window.end)
        assert read.kinds == JSONL_KINDS
        assert int(read.frame["lactate"].isna().sum()) == nulls
        by_pid = read.frame.set_index("pid").sort_index()
        want = expected.set_index("pid").sort_index()
        np.testing.assert_array_equal(by_pid["age"].to_numpy(), want["age"].to_numpy())


def test_one_jsonl_file(tmp_path: Path) -> None:
    path = tmp_path / "day1.jsonl"
    path.write_text(_jsonl_lines(DAYS[1]))
    source = FileSource(path=str(path), format="jsonl", timestamp_column="ts")
    windows = [
        TimeWindow(start=T0 + timedelta(hours=20), end=T0 + timedelta(hours=31)),
        TimeWindow(start=T0 + timedelta(hours=40), end=T0 + timedelta(hours=44)),
    ]
    reads = [source.read_window(w, ["pid", "ts", "lactate"]) for w in windows]
    for window, read in zip(windows, reads, strict=True):
        assert sorted(read.frame["pid"]) == sorted(_in(DAYS[1], window)["pid"])
        assert read.kinds == {k: JSONL_KINDS[k] for k in ("pid", "ts", "lactate")}
    assert [r.rows_read for r in reads] == [14, 8]


# -- 3. the Parquet time filter, pushed down ---------------------------------------------------


def _parquet_day(day: int) -> pd.DataFrame:
    return _jsonl_day(day).drop(columns="lactate")


def test_hive_partitions_outside_the_window_are_never_opened(tmp_path: Path) -> None:
    days = [_parquet_day(d) for d in range(3)]
    for day, frame in enumerate(days):
        folder = tmp_path / f"date={(T0 + timedelta(days=day)):%Y-%m-%d}"
        folder.mkdir()
        if day == 2:
            # The third day's only file is unreadable: opening it fails.
            (folder / "part-0.parquet").write_bytes(b"PAR1 truncated by a crashed writer")
        else:
            pq.write_table(
                pa.Table.from_pandas(frame, preserve_index=False), folder / "part-0.parquet"
            )
    source = FileSource(
        path=str(tmp_path),
        format="parquet",
        timestamp_column="ts",
        partitioning="hive",
        partition_column="date",
    )
    both_good_days = TimeWindow(start=T0 + timedelta(hours=18), end=T0 + timedelta(hours=47))
    read = source.read_window(both_good_days, ["pid", "ts", "age"])
    expected = _in(pd.concat(days[:2]), both_good_days)
    assert read.rows_read == len(expected) == 58
    assert sorted(read.frame["pid"]) == sorted(expected["pid"])
    assert read.kinds == {"pid": "numeric", "ts": "time", "age": "numeric"}

    # The same read without pruning opens every partition, and fails on the third.
    unpruned = FileSource(
        path=str(tmp_path), format="parquet", timestamp_column="ts", partitioning="hive"
    )
    with pytest.raises(SourceError, match=r"^path: reading .* failed: .*date=2026-02-03"):
        unpruned.read_window(both_good_days)
    # A window that covers the broken partition names the problem and the file.
    with pytest.raises(SourceError, match=r"^path: reading .* failed: .*date=2026-02-03") as error:
        source.read_window(TimeWindow(start=T0 + timedelta(hours=47), end=T0 + timedelta(hours=49)))
    assert "magic bytes not found" in str(error.value)


def _corrupt_row_group(path: Path, index: int) -> None:
    """Overwrite every column chunk of one row group with junk; the footer stays intact."""
    metadata = pq.ParquetFile(path).metadata
    data = bytearray(path.read_bytes())
    group = metadata.row_group(index)
    for j in range(group.num_columns):
        chunk = group.column(j)
        start = chunk.data_page_offset
        if chunk.has_dictionary_page and chunk.dictionary_page_offset:
            start = min(start, chunk.dictionary_page_offset)
        data[start : start + chunk.total_compressed_size] = b"\xff" * chunk.total_compressed_size
    path.write_bytes(bytes(data))


def test_row_groups_outside_the_window_are_skipped_by_their_statistics(tmp_path: Path) -> None:
    frame = _parquet_day(1)  # 48 rows every 30 min: four row groups of 6 hours each
    path = tmp_path / "day.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=12)
    metadata = pq.ParquetFile(path).metadata
    assert metadata.num_row_groups == 4
    assert all(metadata.row_group(i).column(1).statistics.has_min_max for i in range(4))
    _corrupt_row_group(path, 0)
    with pytest.raises(OSError, match=r"[Dd]eserializ"):
        pq.read_table(path)  # the file really is broken: a full read fails

    source = FileSource(path=str(path), format="parquet", timestamp_column="ts")
    day = T0 + timedelta(days=1)
    later = TimeWindow(start=day + timedelta(hours=7), end=day + timedelta(hours=20))
    read = source.read_window(later)
    assert sorted(read.frame["pid"]) == sorted(_in(frame, later)["pid"])
    assert read.rows_read == 26
    with pytest.raises(SourceError, match=r"^path: reading .* failed: .*[Dd]eserializ"):
        source.read_window(TimeWindow(start=day + timedelta(hours=5), end=day + timedelta(hours=7)))


# -- 4. the incremental security scan of an audit table -------------------------------------

S1 = datetime(2026, 3, 2, 12, tzinfo=UTC)
IPS = {"mallory": "10.0.0.1", "trudy": "10.0.0.2", "eve": "10.0.0.3", "oscar": "10.0.0.4"}
OVERLAP = timedelta(seconds=60)  # the longest rule window of the default rules


class AuditTable:
    """The audit table, and every time stamped into it (to count what a window holds)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.stamps: list[datetime] = []

    def failures(self, start: datetime, principal: str, count: int) -> None:
        stamps = [start + timedelta(seconds=5 * i) for i in range(count)]
        rows = [
            {
                "ts": stamp,
                "principal": principal,
                "ip": IPS[principal],
                "model_id": "triage-llm",
                "action": "predict",
                "status": "401",
            }
            for stamp in stamps
        ]
        with self.engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO audit_log (ts, principal, ip, model_id, action, status) "
                    "VALUES (:ts, :principal, :ip, :model_id, :action, :status)"
                ),
                rows,
            )
        self.stamps += stamps

    def between(self, since: datetime | None, until: datetime) -> int:
        return sum(1 for t in self.stamps if (since is None or t >= since) and t < until)


def _bursts(incidents: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(principal or IP, records) of each auth-failure burst, sorted."""
    found = []
    for incident in incidents:
        assert incident["rule"] == "auth_failure_burst" and incident["model_id"] == "triage-llm"
        subject = re.search(r"from (?:principal|ip) (\S+) within", incident["description"])
        assert subject is not None, incident["description"]
        found.append((subject.group(1), int(incident["records"])))
    return sorted(found)


def _incident_posts(server: LocalWebhookServer) -> list[str]:
    """Delivered messages about auth-failure bursts (not the monitor-failure notice)."""
    texts = [json.dumps(p) for p in server.payloads()]
    return [t for t in texts if "authentication failures" in t]


@pytest.mark.usefixtures("prefect_api")
def test_audit_table_scans_are_incremental_and_the_watermark_lives_on_the_server(
    engine: sa.Engine,
    connectors: dict[str, str],
    webhook_server: LocalWebhookServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audit: dict[str, Any] = {
        "kind": "sql",
        "connector": connectors["components"],
        "table": "audit_log",
        "timestamp_column": "ts",
    }
    source = AuditSqlSource.model_validate(audit)
    # Each run reads from the watermark minus the overlap (and minus the source's allowed
    # lateness, where the source has one).
    before_mark = OVERLAP + timedelta(seconds=getattr(source, "allowed_lateness_seconds", 0.0))
    assert before_mark < timedelta(minutes=20)  # the layout below relies on it
    table = AuditTable(engine)
    assert load_watermark(source) is None
    table.failures(S1 - timedelta(minutes=30), "mallory", 6)  # a burst, well before S1
    table.failures(S1 - timedelta(seconds=30), "trudy", 3)  # half a burst, right before S1

    def worker_dies(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the worker died between the scan and the send")

    # A run that dies after the scan, before any alert is accounted for. (In-process: the
    # SIGKILL of a real worker is test_live_flows' JSONL test; the code after the scan is
    # the same for both kinds of source.)
    with monkeypatch.context() as patched:
        patched.setattr(security, "send_alerts", worker_dies)
        with pytest.raises(RuntimeError, match="worker died"):
            security_monitoring_flow(audit=audit, webhook=webhook_server.url, scheduled_time=S1)
    assert load_watermark(source) is None
    assert _incident_posts(webhook_server) == []

    # Its retry scans again (nothing was lost), sends, and only then saves the watermark.
    first = security_monitoring_flow(audit=audit, webhook=webhook_server.url, scheduled_time=S1)
    assert first.live is not None
    assert first.live["checks"]["security"]["since"] is None
    assert first.live["checks"]["security"]["records"] == table.between(None, S1) == 9
    assert _bursts(first.incidents) == [("10.0.0.1", 6), ("mallory", 6)]
    assert [a.status for a in first.alerts] == ["sent"] * 2
    assert len(_incident_posts(webhook_server)) == 1
    mark = load_watermark(source)  # read back from the Prefect server's Variable
    assert mark is not None and mark.time == S1
    assert datetime.fromisoformat(first.live["watermark"]["time"]) == S1

    # Trudy's burst goes on after S1, and oscar's starts right before the next slot. A record
    # from before the overlap and one after the next slot are in the table too: neither is read.
    s2 = S1 + timedelta(minutes=5)
    table.failures(S1 + timedelta(seconds=1), "trudy", 3)
    table.failures(s2 - timedelta(seconds=25), "oscar", 5)
    table.failures(S1 - timedelta(minutes=25), "eve", 1)
    table.failures(s2 + timedelta(seconds=10), "eve", 1)
    second = security_monitoring_flow(audit=audit, webhook=webhook_server.url, scheduled_time=s2)
    assert second.live is not None
    scanned = second.live["checks"]["security"]
    assert scanned["since"] == (S1 - before_mark).isoformat()
    assert scanned["until"] == s2.isoformat()
    assert scanned["records"] == table.between(S1 - before_mark, s2) == 3 + 3 + 5
    # Trudy's halves make one burst, caught now; mallory's, reported by the last run, is not.
    assert _bursts(second.incidents) == [
        ("10.0.0.2", 6),
        ("10.0.0.4", 5),
        ("oscar", 5),
        ("trudy", 6),
    ]
    assert [a.status for a in second.alerts] == ["sent"] * 4
    assert len(_incident_posts(webhook_server)) == 2
    mark = load_watermark(source)
    assert mark is not None and mark.time == s2

    # Oscar's burst goes on into the next run: read again through the overlap, it is the
    # same incident (same ids) and is not posted a second time.
    table.failures(s2 + timedelta(seconds=1), "oscar", 2)
    s3 = s2 + timedelta(minutes=5)
    third = security_monitoring_flow(audit=audit, webhook=webhook_server.url, scheduled_time=s3)
    assert third.live is not None
    assert third.live["checks"]["security"]["records"] == table.between(s2 - before_mark, s3)
    assert {("10.0.0.4", 7), ("oscar", 7)} <= set(_bursts(third.incidents))
    assert {i["incident_id"] for i in third.incidents} <= {
        i["incident_id"] for i in second.incidents
    }
    assert {a.status for a in third.alerts} == {"deduplicated"}
    assert len(_incident_posts(webhook_server)) == 2

    # Missed runs: the next run, an hour later, reads everything since the watermark.
    late_slot = S1 + timedelta(hours=1)
    table.failures(S1 + timedelta(minutes=20), "eve", 5)
    late = security_monitoring_flow(
        audit=audit, webhook=webhook_server.url, scheduled_time=late_slot
    )
    assert late.live is not None
    assert late.live["checks"]["security"]["records"] == table.between(s3 - before_mark, late_slot)
    new = [
        i
        for i in late.incidents
        if i["incident_id"] not in {j["incident_id"] for j in third.incidents}
    ]
    assert _bursts(new) == [("10.0.0.3", 5), ("eve", 5)]
    assert sorted(a.status for a in late.alerts) == sorted(
        ["sent"] * 2 + ["deduplicated"] * (len(late.alerts) - 2)
    )
    assert len(_incident_posts(webhook_server)) == 3
    mark = load_watermark(source)
    assert mark is not None and mark.time == late_slot


def test_each_audit_table_has_its_own_watermark(postgres_url: str, tmp_path: Path) -> None:
    """Same table name, other database: another source, another watermark.

    A rotated password is the same source (its watermark stays), and no
    password is in the Variable's name or the key it hashes.
    """
    url = sa.make_url(postgres_url).set(password=PASSWORD)

    def at(changed: sa.URL) -> str:
        return changed.render_as_string(hide_password=False)

    here = AuditSqlSource(url=at(url), table="audit_log")
    rotated = AuditSqlSource(url=at(url.set(password="another-pw")), table="audit_log")
    other_database = AuditSqlSource(url=at(url.set(database="another")), table="audit_log")
    other_host = AuditSqlSource(url=at(url.set(host="10.1.2.3")), table="audit_log")
    embedded = AuditSqlSource(url=f"sqlite:///{tmp_path / 'audit.db'}", table="audit_log")
    other_table = AuditSqlSource(url=at(url), table="audit_log_2")
    sources = (here, other_database, other_host, embedded, other_table)
    names = [watermark_name(s) for s in sources]
    assert len(set(names)) == len(sources)
    assert watermark_name(rotated) == watermark_name(here)
    _no_password(*names, *(s.key for s in sources))
