"""Live-data benchmarks: window reads from PostgreSQL against the floor, memory, breakdown.

    make bench-live                       # everything (loads the tables on the first run)
    python benchmarks/live.py --load-only # just create the cached tables

Tables ``bench_live_1m`` and ``bench_live_10m`` (20 float features, a score,
a label, an id and a ``timestamptz`` with a B-tree index) live in the
database ``slack_alerts_bench`` on 127.0.0.1 and are kept between runs
(created with COPY if missing). Both have the same density (13,889 rows an
hour: 1M rows over 3 days, 10M over 30 days), so a window holds the same
rows in both and only the table's size differs.

The floor is ``pandas.read_sql`` of exactly the window's rows (the same
``SELECT ... WHERE ts >= :start AND ts < :end``), through the same driver,
psycopg 3 (``postgresql+psycopg``): the project's PostgreSQL driver already
(``SqlStateStore``, the tests), SQLAlchemy 2's maintained dialect for it,
with server-side cursors for streaming; psycopg2 would be a second driver
to install for no gain.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get(
    "BENCH_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DB = "slack_alerts_bench"
URL = ADMIN_URL.rsplit("/", 1)[0] + "/" + DB
FEATURES = [f"f{i:02d}" for i in range(20)]
START = datetime(2026, 1, 1, tzinfo=UTC)
ROWS_PER_HOUR = 13_889
SIZES = {"bench_live_1m": 1_000_000, "bench_live_10m": 10_000_000}
CHUNK = 250_000


def ensure_database() -> sa.Engine:
    admin = sa.create_engine(ADMIN_URL)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        exists = connection.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": DB}
        ).scalar()
        if not exists:
            connection.execute(sa.text(f'CREATE DATABASE "{DB}"'))
    admin.dispose()
    return sa.create_engine(URL)


def ensure_table(engine: sa.Engine, name: str, rows: int) -> None:
    """Create and fill ``name`` with COPY unless a complete one exists."""
    with engine.connect() as connection:
        present = connection.execute(sa.text("SELECT to_regclass(:n)"), {"n": name}).scalar()
        if present:
            count = connection.execute(
                sa.text("SELECT reltuples::bigint FROM pg_class WHERE relname = :n"), {"n": name}
            ).scalar()
            if count and abs(int(count) - rows) < rows * 0.01:
                return
    print(f"loading {name} ({rows:,} rows) with COPY...", flush=True)
    started = time.perf_counter()
    columns = ", ".join(f"{f} double precision" for f in FEATURES)
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        connection.execute(
            sa.text(
                f"CREATE UNLOGGED TABLE {name} (id bigint, ts timestamptz, {columns}, "
                "score double precision, label double precision)"
            )
        )
    rng = np.random.default_rng(7)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for offset in range(0, rows, CHUNK):
            n = min(CHUNK, rows - offset)
            ids = np.arange(offset, offset + n)
            seconds = ids * (3600.0 / ROWS_PER_HOUR)
            frame = pd.DataFrame(
                {"id": ids, "ts": pd.Timestamp(START) + pd.to_timedelta(seconds, unit="s")}
            )
            values = rng.normal(size=(n, len(FEATURES))).round(6)
            for i, feature in enumerate(FEATURES):
                frame[feature] = values[:, i]
            frame["score"] = rng.random(n).round(6)
            frame["label"] = (rng.random(n) < frame["score"]).astype(float)
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False, date_format="%Y-%m-%d %H:%M:%S.%f+00")
            copying = cursor.copy(f"COPY {name} FROM STDIN (FORMAT csv)")
            with copying as copy:
                copy.write(buffer.getvalue())
        raw.commit()
        cursor.execute(f"CREATE INDEX {name}_ts ON {name} (ts)")
        cursor.execute(f"ANALYZE {name}")
        raw.commit()
    finally:
        raw.close()
    print(f"  {name} ready in {time.perf_counter() - started:.0f} s", flush=True)


def _window(hours: float, offset_hours: float = 40.0) -> tuple[datetime, datetime]:
    start = START + timedelta(hours=offset_hours)
    return start, start + timedelta(hours=hours)


def bench_reads(engine: sa.Engine, repeat: int) -> list[dict[str, Any]]:
    from slack_alerts.sources import SqlSource
    from slack_alerts.windows import TimeWindow

    start, end = _window(6.0)
    window = TimeWindow(start=start, end=end)
    columns = ["id", "ts", *FEATURES, "score", "label"]
    results = []
    for name in SIZES:
        source = SqlSource(url=URL, table=name, timestamp_column="ts")
        floor_sql = sa.text(
            f"SELECT {', '.join(columns)} FROM {name} WHERE ts >= :start AND ts < :end"  # noqa: S608
        )
        ours_t, floor_t = [], []
        rows = 0
        source.read_window(window, columns, row_cap=10_000_000)  # warm: schema, cache
        for _ in range(repeat):
            began = time.perf_counter()
            with engine.connect() as connection:
                floor = pd.read_sql(floor_sql, connection, params={"start": start, "end": end})
            floor_t.append(time.perf_counter() - began)
            began = time.perf_counter()
            ours = source.read_window(window, columns, row_cap=10_000_000)
            ours_t.append(time.perf_counter() - began)
            rows = ours.rows_read
            assert rows == len(floor), (rows, len(floor))
        results.append(
            {
                "table": name,
                "table_rows": SIZES[name],
                "window_rows": rows,
                "ours_s": statistics.median(ours_t),
                "floor_s": statistics.median(floor_t),
            }
        )
    return results


_MEMORY_CHILD = """
import resource, sys, time, json
sys.path.insert(0, {root!r})
from datetime import datetime, timedelta, UTC
from slack_alerts.sources import SqlSource, DEFAULT_ROW_CAP
from slack_alerts.windows import TimeWindow
import pandas, sqlalchemy
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = datetime(2026, 1, 10, tzinfo=UTC)
source = SqlSource(url={url!r}, table="bench_live_10m", timestamp_column="ts")
began = time.perf_counter()
frame = source.read_window(TimeWindow(start=start, end=start + timedelta(days=1)))
elapsed = time.perf_counter() - began
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"rows_read": frame.rows_read, "rows_sampled": frame.rows_sampled,
    "row_cap": DEFAULT_ROW_CAP, "peak_rss_mib": after / 1024,
    "rss_after_imports_mib": before / 1024, "seconds": elapsed}}))
"""


def bench_memory() -> dict[str, Any]:
    code = _MEMORY_CHILD.format(root=str(ROOT), url=URL)
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=900
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench_breakdown() -> dict[str, float]:
    """One model, one slot (10k rows x 20 features from PostgreSQL): read, stats, Prefect, Slack.

    The drift flow runs in live mode against a Prefect test harness and a local
    webhook server; read and statistics times come from its checks' reports,
    Slack is the same alerts sent through the core pipeline to the same server,
    and Prefect is what remains of the flow's wall time.
    """
    # The harness's server would write a telemetry session to its SQLite file at start-up
    # and log "database is locked" when that races its own migrations.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    from flows import drift_monitoring_flow
    from slack_alerts.client import SlackAlertClient
    from slack_alerts.pipeline import AlertPipeline
    from slack_alerts.testing import LocalWebhookServer

    rows = 10_000
    start = START + timedelta(hours=40)
    end = start + timedelta(seconds=rows * 3600.0 / ROWS_PER_HOUR)
    live = {
        "source": {"kind": "sql", "url": URL, "table": "bench_live_1m", "timestamp_column": "ts"},
        "features": FEATURES,
        "current": {"kind": "last", "hours": (end - start).total_seconds() / 3600},
        "reference": {"kind": "seasonal", "lag_hours": 24.0},
    }
    with prefect_test_harness(server_startup_timeout=300), LocalWebhookServer() as server:
        drift_monitoring_flow(
            "bench-model", "Bench", webhook=server.url, live=live, scheduled_time=end
        )  # warm: imports, blocks, limits
        began = time.perf_counter()
        report = drift_monitoring_flow(
            "bench-model-2", "Bench", webhook=server.url, live=live, scheduled_time=end
        )
        total = time.perf_counter() - began
    assert report.live is not None
    checks = report.live["checks"]
    read = sum(c.get("seconds", {}).get("read", 0.0) for c in checks.values())
    stats = sum(c.get("seconds", {}).get("statistics", 0.0) for c in checks.values())
    from slack_alerts.live import LiveModelConfig, run_drift_check

    config = LiveModelConfig.model_validate({"model_id": "bench-3", "model_name": "B", **live})
    alerts = run_drift_check(config, end).alerts
    with LocalWebhookServer() as server:
        began = time.perf_counter()
        AlertPipeline(SlackAlertClient(webhook_url=server.url)).submit(alerts)
        slack = time.perf_counter() - began
    return {
        "read (drift + data-health windows)": read,
        "statistics": stats,
        "Slack (pipeline to a local webhook)": slack,
        "Prefect (the rest of the flow run)": max(total - read - stats - slack, 0.0),
        "flow wall time": total,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--load-only", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip", default="", help="comma list of: reads,memory,breakdown")
    args = parser.parse_args()
    engine = ensure_database()
    for name, rows in SIZES.items():
        ensure_table(engine, name, rows)
    if args.load_only:
        return
    skip = set(filter(None, args.skip.split(",")))
    out: dict[str, Any] = {}
    if "reads" not in skip:
        out["reads"] = bench_reads(engine, args.repeat)
        print("\n## Window read (6 h, all 24 columns) vs pandas.read_sql, psycopg 3\n")
        print("| table rows | window rows | SqlSource.read_window | read_sql floor | ratio |")
        print("|---|---|---|---|---|")
        for r in out["reads"]:
            ratio = r["ours_s"] / r["floor_s"]
            print(
                f"| {r['table_rows']:,} | {r['window_rows']:,} | {r['ours_s']:.3f} s | "
                f"{r['floor_s']:.3f} s | {ratio:.2f}x |"
            )
    if "memory" not in skip:
        out["memory"] = memory = bench_memory()
        print("\n## One-day window of the 10M table, default row cap\n")
        print(
            f"{memory['rows_read']:,} rows read, {memory['rows_sampled']:,} kept "
            f"(cap {memory['row_cap']:,}); peak RSS {memory['peak_rss_mib']:.0f} MiB "
            f"(after imports {memory['rss_after_imports_mib']:.0f} MiB), "
            f"{memory['seconds']:.2f} s (target < 1024 MiB)"
        )
    if "breakdown" not in skip:
        out["breakdown"] = parts = bench_breakdown()
        print("\n## One model, one hour (10k x 20) from PostgreSQL: drift flow wall time\n")
        print("| part | seconds |\n|---|---|")
        for part, seconds in parts.items():
            print(f"| {part} | {seconds:.3f} |")
    (ROOT / "benchmarks" / "live-last-run.json").write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
