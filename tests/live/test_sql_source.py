"""Live checks against a real PostgreSQL database, created and dropped by the test module."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.metrics import roc_auc_score

from slack_alerts.live import (
    LiveModelConfig,
    run_data_health_check,
    run_drift_check,
    run_performance_check,
)
from slack_alerts.sources import SourceError, SqlSource
from slack_alerts.sources.sql import engine_for
from slack_alerts.windows import TimeWindow

T0 = datetime(2026, 2, 1, tzinfo=UTC)
ROWS_PER_HOUR = 40
HOURS = 24 * 10
DRIFT_FROM = T0 + timedelta(hours=HOURS - 24)  # the last day drifts in "age"


def _predictions(hours: int, first_id: int = 0, start: datetime = T0) -> pd.DataFrame:
    rng = np.random.default_rng(first_id)
    n = hours * ROWS_PER_HOUR
    ts = pd.Timestamp(start) + pd.to_timedelta(np.arange(n) * (3600 / ROWS_PER_HOUR), unit="s")
    frame = pd.DataFrame({"pid": np.arange(first_id, first_id + n), "ts": ts})
    frame["age"] = rng.normal(60, 10, n)
    frame.loc[frame["ts"] >= pd.Timestamp(DRIFT_FROM), "age"] += 15
    frame["lactate"] = rng.gamma(2.0, 1.0, n)
    frame["site"] = rng.choice(["A", "B", "C"], n)
    frame["score"] = rng.random(n)
    frame["label"] = np.nan  # filled in later, as labels arrive
    return frame


@pytest.fixture(scope="module")
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "CREATE TABLE predictions (pid bigint PRIMARY KEY, ts timestamptz NOT NULL, "
                "age double precision, lactate double precision, site text, "
                "score double precision, label double precision)"
            )
        )
        connection.execute(sa.text("CREATE INDEX predictions_ts ON predictions (ts)"))
        connection.execute(
            sa.text(
                "CREATE TABLE outcomes (pid bigint, arrived timestamptz NOT NULL, "
                "outcome double precision)"
            )
        )
        connection.execute(sa.text("CREATE INDEX outcomes_arrived ON outcomes (arrived)"))
    _predictions(HOURS).to_sql("predictions", engine, if_exists="append", index=False)
    with engine.begin() as connection:
        connection.execute(sa.text("ANALYZE predictions"))
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def config(postgres_url: str, engine: sa.Engine) -> LiveModelConfig:
    return LiveModelConfig(
        model_id="sepsis-v3",
        model_name="Sepsis",
        source=SqlSource(url=postgres_url, table="predictions", timestamp_column="ts"),
        id_column="pid",
        score_column="score",
        features=["age", "lactate", "site"],
        current="last 6 hours",
        reference="previous 7 days",
    )


def _stats(engine: sa.Engine) -> tuple[int, int]:
    """The table's (sequential scans, tuples fetched by index), as the server counts them.

    A backend sends its counts to the server at most once a second, and only at a
    transaction's end: the index builds of the fixture (which count as sequential
    scans) may still be pending. Forcing the flush and committing before reading
    makes this backend's counts visible; a new transaction reads a fresh snapshot.
    """
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT pg_stat_force_next_flush()"))
        connection.commit()
        row = connection.execute(
            sa.text(
                "SELECT seq_scan, coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables "
                "WHERE relname = 'predictions'"
            )
        ).one()
    return int(row[0]), int(row[1])


def test_a_window_reads_only_its_rows(config: LiveModelConfig, engine: sa.Engine) -> None:
    window = TimeWindow(start=T0 + timedelta(hours=30), end=T0 + timedelta(hours=33))
    seq_before, fetched_before = _stats(engine)
    frame = config.source.read_window(window, ["ts", "age", "site"])
    expected = 3 * ROWS_PER_HOUR
    # A backend reports its counts when it ends: close the source's pooled connections.
    assert config.source.url is not None
    engine_for(config.source.url.get_secret_value()).dispose()
    deadline = time.monotonic() + 10
    while (stats := _stats(engine))[1] == fetched_before and time.monotonic() < deadline:
        time.sleep(0.1)
    seq_after, fetched_after = stats
    # Counted by the server: the index fetched exactly the window's rows, no table scan.
    assert fetched_after - fetched_before == expected
    assert seq_after == seq_before
    assert frame.rows_read == frame.rows_sampled == len(frame.frame) == expected
    assert frame.frame["ts"].min() >= window.start and frame.frame["ts"].max() < window.end
    assert frame.kinds == {"ts": "time", "age": "numeric", "site": "categorical"}


def test_sampling_to_the_row_cap_is_reproducible(config: LiveModelConfig) -> None:
    window = TimeWindow(start=T0, end=T0 + timedelta(days=2))
    first = config.source.read_window(window, ["pid", "age"], row_cap=500, seed=3)
    again = config.source.read_window(window, ["pid", "age"], row_cap=500, seed=3)
    other = config.source.read_window(window, ["pid", "age"], row_cap=500, seed=4)
    assert first.rows_read == 48 * ROWS_PER_HOUR and first.rows_sampled == 500
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert set(first.frame["pid"]) != set(other.frame["pid"])


def test_drift_fires_when_it_starts_and_a_backfill_reproduces_the_hour(
    config: LiveModelConfig, engine: sa.Engine
) -> None:
    quiet = run_drift_check(config, DRIFT_FROM)
    assert quiet.alerts == [] and quiet.rows_read == (6 + 168) * ROWS_PER_HOUR
    slot = DRIFT_FROM + timedelta(hours=6)
    fired = run_drift_check(config, slot)
    assert [a.metric for a in fired.alerts] == ["feature:age"]
    # Rows keep arriving after the slot; a backfill of the slot reads exactly its rows.
    _predictions(12, first_id=10**6, start=T0 + timedelta(hours=HOURS)).to_sql(
        "predictions", engine, if_exists="append", index=False
    )
    backfilled = run_drift_check(config, slot)
    assert backfilled.table is not None and fired.table is not None
    pd.testing.assert_frame_equal(backfilled.table, fired.table)
    assert [a.model_dump(exclude={"timestamp"}) for a in backfilled.alerts] == [
        a.model_dump(exclude={"timestamp"}) for a in fired.alerts
    ]
    assert backfilled.healthy_fingerprints == fired.healthy_fingerprints


def test_an_empty_window_raises_an_alert(config: LiveModelConfig) -> None:
    after_the_feed_stopped = T0 + timedelta(days=30)
    health = run_data_health_check(config, after_the_feed_stopped)
    (alert,) = health.alerts
    assert alert.metric == "data_health:rows" and alert.severity.value == "critical"
    assert alert.current_value == 0
    drift = run_drift_check(config, after_the_feed_stopped)
    assert drift.alerts == [] and drift.healthy_fingerprints == []
    assert any("has no rows" in n for n in drift.not_estimable)


def test_low_volume_and_missing_share_jump(config: LiveModelConfig, engine: sa.Engine) -> None:
    slot = T0 + timedelta(hours=100)
    with engine.begin() as connection:
        # The feed half broke: most rows of the window gone, and lactate missing in the rest.
        connection.execute(
            sa.text("DELETE FROM predictions WHERE ts >= :s AND ts < :e AND pid % 4 <> 0"),
            {"s": slot - timedelta(hours=6), "e": slot},
        )
        connection.execute(
            sa.text("UPDATE predictions SET lactate = NULL WHERE ts >= :s AND ts < :e"),
            {"s": slot - timedelta(hours=6), "e": slot},
        )
    health = run_data_health_check(config, slot)
    metrics = {a.metric: a.severity.value for a in health.alerts}
    assert metrics == {"data_health:rows": "warning", "data_health:missing:lactate": "warning"}


def test_labels_arriving_move_a_window_from_not_enough_labels_to_judged(
    postgres_url: str, engine: sa.Engine
) -> None:
    # Predictions of the last day (the window) and of three days before (the reference);
    # their labels arrive later, in an outcomes table joined on the prediction id.
    end = T0 + timedelta(days=40)
    scored = _predictions(24 * 4, first_id=5 * 10**6, start=end - timedelta(days=4))
    scored[["pid", "ts", "score"]].to_sql("scored", engine, if_exists="replace", index=False)
    rng = np.random.default_rng(11)
    scored["outcome"] = (rng.random(len(scored)) < scored["score"]).astype(float)
    config = LiveModelConfig(
        model_id="sepsis-v3",
        model_name="Sepsis",
        source={"kind": "sql", "url": postgres_url, "table": "scored", "timestamp_column": "ts"},
        score_column="score",
        outcomes={
            "source": {
                "kind": "sql",
                "url": postgres_url,
                "table": "outcomes",
                "timestamp_column": "arrived",
            },
            "prediction_id_column": "pid",
            "label_column": "outcome",
        },
        current="last 27 hours",
        reference={
            "kind": "fixed",
            "start": end - timedelta(days=4),
            "end": end - timedelta(days=1),
        },
        performance={"min_labels": 300},
    )
    current = scored[scored["ts"] >= pd.Timestamp(end - timedelta(days=1))]
    reference = scored[scored["ts"] < pd.Timestamp(end - timedelta(days=1))]
    batches = [reference, current.iloc[:60], current.iloc[60:400], current.iloc[400:]]
    for hour, batch in enumerate(batches):
        scored.loc[batch.index, "arrived"] = pd.Timestamp(end + timedelta(hours=hour - 0.5))
        scored.loc[batch.index, ["pid", "arrived", "outcome"]].to_sql(
            "outcomes", engine, if_exists="append", index=False
        )

    def known(at: datetime) -> pd.DataFrame:
        """The window's rows whose label had arrived by ``at``, computed independently."""
        in_window = (scored["ts"] >= pd.Timestamp(at - timedelta(hours=27))) & (
            scored["ts"] < pd.Timestamp(at)
        )
        return scored[in_window & (scored["arrived"] < pd.Timestamp(at))]

    # Runs scheduled an hour apart each see the labels that had arrived by their slot.
    times = [end + timedelta(hours=h) for h in (1, 2, 3)]
    runs = [run_performance_check(config, at) for at in times]
    counts = [r.report["current"]["n_labelled"] for r in runs]
    assert counts == [len(known(at)) for at in times]
    assert counts[0] < 300 <= counts[1] < counts[2]
    assert runs[0].not_estimable == [
        f"current window: not enough labels yet (n = {counts[0]}, minimum 300)"
    ]
    assert runs[0].alerts == [] and runs[0].healthy_fingerprints == []
    assert not runs[1].not_estimable and not runs[2].not_estimable
    assert runs[2].healthy_fingerprints or runs[2].alerts
    labelled = known(times[2])
    expected = roc_auc_score(labelled["outcome"], labelled["score"])
    assert runs[2].report["current"]["metrics"]["auroc"] == pytest.approx(expected, abs=1e-12)
    baseline = roc_auc_score(reference["outcome"], reference["score"])
    assert runs[2].report["reference"]["metrics"]["auroc"] == pytest.approx(baseline, abs=1e-12)


def test_errors_name_the_field_and_never_echo_the_password() -> None:
    secret = "postgresql+psycopg://reader:s3cr3t-pw@127.0.0.1:5432/nope"
    source = SqlSource(url=secret, table="predictions", timestamp_column="ts")
    assert "s3cr3t" not in repr(source) and "s3cr3t" not in str(source.model_dump())
    with pytest.raises(SourceError) as error:
        source.read_window(TimeWindow(start=T0, end=T0 + timedelta(hours=1)))
    assert "s3cr3t" not in str(error.value)
    with pytest.raises(ValueError, match="query must use both :start and :end"):
        SqlSource(url=secret, query="SELECT * FROM predictions", timestamp_column="ts")
    with pytest.raises(ValueError, match="exactly one of url"):
        SqlSource(table="predictions", timestamp_column="ts")
