"""Edge cases of sources and metrics from real data: duplicate rows under the row cap,
ECE on small windows, unscored rows, session time zones, SQLite text timestamps,
schemas that grow, partition keys, pandas index columns, logit scores, text labels and
semicolon CSVs.

SQL cases run on a real PostgreSQL database (``postgres_url``: created and
dropped for this module) whose default time zone is America/New_York, as a
database with ``ALTER DATABASE ... SET timezone`` has.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from fairlearn.metrics import MetricFrame, false_negative_rate, selection_rate
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, roc_auc_score

from slack_alerts.checks.performance import (
    ece_against_reference,
    expected_calibration_error,
    performance_metrics,
)
from slack_alerts.live import (
    LiveModelConfig,
    label_numbers,
    run_data_health_check,
    run_drift_check,
    run_fairness_check,
    run_performance_check,
)
from slack_alerts.sources import FileSource, SourceError, SqlSource, sample_stream
from slack_alerts.sources.sql import engine_for
from slack_alerts.windows import TimeWindow

T0 = datetime(2026, 3, 1, tzinfo=UTC)
PER_HOUR = 200
HOURS = 26  # hour 25 (the last) is miscalibrated; hour 24 has half of site B unscored


def _calibrated(hours: int, seed: int) -> pd.DataFrame:
    """A perfectly calibrated, stationary model: label ~ Bernoulli(score)."""
    rng = np.random.default_rng(seed)
    n = hours * PER_HOUR
    frame = pd.DataFrame(
        {
            "ts": pd.Timestamp(T0) + pd.to_timedelta(np.arange(n) * 3600 / PER_HOUR, unit="s"),
            "site": rng.choice(["A", "B", "C"], n),
            "score": rng.random(n),
        }
    )
    frame["label"] = (rng.random(n) < frame["score"]).astype(float)
    return frame


def _hour(frame: pd.DataFrame, hour: int) -> pd.Series:
    start = pd.Timestamp(T0 + timedelta(hours=hour))
    return (frame["ts"] >= start) & (frame["ts"] < start + pd.Timedelta(hours=1))


# -- C3: the row-cap sample is uniform over rows, duplicates included -------------------


def _batches(seed: int = 0) -> pd.DataFrame:
    """Nightly batch scoring: one timestamp per batch, few distinct values (many duplicates)."""
    rng = np.random.default_rng(seed)
    frames = [
        pd.DataFrame(
            {
                "ts": pd.Timestamp(f"2026-03-0{day}T06:00Z"),
                "site": rng.choice(list("ABC"), 3000, p=[0.5, 0.3, 0.2]),
                "insured": rng.choice(["yes", "no"], 3000),
            }
        )
        for day in (1, 2, 3)
    ]
    return pd.concat(frames, ignore_index=True)


def _chunks(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [frame.iloc[i : i + size] for i in range(0, len(frame), size)]


def test_the_sample_keeps_each_categorys_share_among_duplicate_rows() -> None:
    data = _batches()
    kept, seen = sample_stream(_chunks(data, 700), 1000, seed=0)
    assert kept is not None and seen == len(data) and len(kept) == 1000
    # Every (batch, site, insured) cell keeps its share within sampling error: a chi-square
    # goodness-of-fit test of the sample's cell counts against the full data's shares.
    cells = ["ts", "site", "insured"]
    full = data.groupby(cells).size()
    sample = kept.groupby(cells).size().reindex(full.index, fill_value=0)
    assert (sample > 0).all()  # no category vanishes
    expected = full / full.sum() * len(kept)
    assert stats.chisquare(sample.to_numpy(), expected.to_numpy()).pvalue > 1e-3
    # And over many seeds the sampler is unbiased: each site's mean share is its true share.
    shares = [
        sample_stream(_chunks(data, 700), 1000, seed=s)[0]["site"].value_counts(normalize=True)  # type: ignore[index]
        for s in range(40)
    ]
    mean = pd.concat(shares, axis=1).fillna(0).mean(axis=1)
    truth = data["site"].value_counts(normalize=True)
    # Standard error of a mean of 40 shares of 1000 rows: below 0.0025.
    assert np.abs(mean - truth.reindex(mean.index)).max() < 0.01


def test_the_sample_is_the_same_for_the_same_rows_and_seed_whatever_the_order() -> None:
    data = _batches()
    first, _ = sample_stream(_chunks(data, 700), 1000, seed=7)
    again, _ = sample_stream(_chunks(data, 700), 1000, seed=7)
    shuffled = data.sample(frac=1.0, random_state=3).reset_index(drop=True)
    reordered, _ = sample_stream(_chunks(shuffled, 2048), 1000, seed=7)
    other, _ = sample_stream(_chunks(data, 700), 1000, seed=8)
    assert first is not None and again is not None and reordered is not None and other is not None
    pd.testing.assert_frame_equal(first, again)
    # Identical rows are interchangeable: the same rows, in the same order.
    pd.testing.assert_frame_equal(first, reordered)
    assert not first.equals(other)


def test_batch_scored_files_show_no_drift_under_the_row_cap(tmp_path: Path) -> None:
    path = tmp_path / "batch.parquet"
    _batches().to_parquet(path, index=False)
    config = LiveModelConfig(
        model_id="batch",
        model_name="Nightly batch",
        source=FileSource(path=str(path), format="parquet", timestamp_column="ts"),
        current="last 1 day",
        reference="previous 2 days",
        row_cap=1000,
    )
    result = run_drift_check(config, datetime(2026, 3, 4, tzinfo=UTC))
    assert result.rows_sampled == 2000 and result.rows_read == 9000
    assert result.alerts == []
    assert result.table is not None and (result.table["psi"] < 0.02).all()


# -- C1: ECE compared at the same sample size, judged by a bootstrap test --------------


def test_ece_matches_scikit_learns_calibration_curve() -> None:
    rng = np.random.default_rng(1)
    score = rng.random(5000)
    y = (rng.random(5000) < score**1.3).astype(float)
    prob_true, prob_pred = calibration_curve(y, score, n_bins=10, strategy="uniform")
    counts = np.histogram(score, bins=np.linspace(0, 1, 11))[0]
    weights = counts[counts > 0] / len(y)
    assert expected_calibration_error(y, score, 10) == pytest.approx(
        float(np.sum(weights * np.abs(prob_true - prob_pred))), abs=1e-12
    )


def test_the_ece_baseline_is_the_references_ece_at_the_current_size() -> None:
    rng = np.random.default_rng(2)
    reference_score = rng.random(4800)
    reference_y = (rng.random(4800) < reference_score).astype(float)
    current_score = rng.random(200)
    current_y = (rng.random(200) < current_score).astype(float)
    comparison = ece_against_reference(
        current_y, current_score, reference_y, reference_score, draws=200, seed=5
    )
    # The same resamples, drawn by hand: the mean and the tail share of their ECEs.
    rows = np.random.default_rng(5).integers(0, 4800, size=(200, 200))
    resampled = np.array(
        [expected_calibration_error(reference_y[r], reference_score[r]) for r in rows]
    )
    assert comparison.reference_at_size == pytest.approx(resampled.mean(), abs=1e-12)
    assert comparison.p_value == pytest.approx(
        (1 + np.sum(resampled >= comparison.current)) / 201, abs=1e-12
    )
    # The bias the comparison removes: a 200-row sample reads several times the full ECE.
    assert comparison.reference_at_size > 3 * expected_calibration_error(
        reference_y, reference_score
    )


def test_the_ece_test_holds_its_false_alarm_rate_and_finds_miscalibration() -> None:
    rng = np.random.default_rng(3)

    def window(n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        score = rng.random(n)
        return (rng.random(n) < np.clip(score + shift, 0, 1)).astype(float), score

    stable = [
        ece_against_reference(*window(200), *window(4800), seed=i).p_value for i in range(200)
    ]
    # Under the null, P(p < 0.05) is at most 0.05: 200 runs give <= 0.09 with 99 % odds.
    assert np.mean(np.array(stable) < 0.05) <= 0.09
    shifted = [
        ece_against_reference(*window(200, 0.2), *window(4800), seed=i).p_value for i in range(50)
    ]
    assert np.mean(np.array(shifted) < 0.05) >= 0.95


# -- D: scores that are not probabilities ---------------------------------------------


def test_logit_scores_keep_the_rank_metrics_and_say_why_the_rest_are_not_estimable() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 500).astype(float)
    logit = rng.normal(0, 1, 500) + 2 * y
    result = performance_metrics(y, score=logit)
    assert result.judged
    assert result.metrics["auroc"] == pytest.approx(roc_auc_score(y, logit), abs=1e-12)
    assert result.metrics["average_precision"] == pytest.approx(
        average_precision_score(y, logit), abs=1e-12
    )
    for name in ("brier", "log_loss", "ece", "accuracy", "f1"):
        assert name not in result.metrics
        assert "scores are not probabilities in [0, 1]" in result.not_estimable[name]
    # With a decided class, accuracy and F1 come back.
    decided = performance_metrics(y, score=logit, prediction=(logit > 1).astype(float))
    assert {"accuracy", "f1"} <= set(decided.metrics)


# -- E6: labels stored as text ------------------------------------------------------


def test_text_labels_read_as_booleans_or_fail_naming_the_column() -> None:
    values = pd.Series(["yes", "No", " TRUE ", "f", "1", "0.0", None, "", True], dtype=object)
    assert label_numbers(values).tolist()[:6] == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert np.isnan(label_numbers(values).iloc[6]) and np.isnan(label_numbers(values).iloc[7])
    assert label_numbers(values).iloc[8] == 1.0
    with pytest.raises(SourceError, match=r"^label_column: 2 label\(s\).*'neg', 'pos'"):
        label_numbers(pd.Series(["pos", "neg", "yes"]))


# -- Files: partition keys, schemas that grow, pandas index columns ----------------------


def test_hive_partition_keys_are_not_features_but_still_filter(tmp_path: Path) -> None:
    data = _calibrated(48, seed=5)
    data["age"] = np.random.default_rng(5).normal(60, 10, len(data))
    for (day, hour), part in data.groupby([data["ts"].dt.strftime("%Y-%m-%d"), data["ts"].dt.hour]):
        folder = tmp_path / f"date={day}" / f"hour={hour:02d}"
        folder.mkdir(parents=True)
        part.to_parquet(folder / "part-0.parquet", index=False)
    source = FileSource(
        path=str(tmp_path),
        format="parquet",
        timestamp_column="ts",
        partitioning="hive",
        partition_column="date",
    )
    config = LiveModelConfig(
        model_id="hive",
        model_name="Hive",
        source=source,
        score_column="score",
        label_column="label",
        current="last 1 hour",
        reference="previous 24 hours",
    )
    assert config.feature_columns() == ["site", "age"]
    result = run_drift_check(config, T0 + timedelta(hours=30))
    assert result.alerts == []
    assert result.rows_read == 25 * PER_HOUR
    # Still columns: readable when asked for.
    read = source.read_window(TimeWindow(start=T0, end=T0 + timedelta(hours=1)), ["ts", "hour"])
    assert set(read.frame["hour"]) == {0}


def test_columns_added_in_newer_files_are_seen(tmp_path: Path) -> None:
    old = _calibrated(24, seed=6)
    new = _calibrated(24, seed=7)
    new["ts"] += pd.Timedelta(hours=24)
    new["lactate"] = np.random.default_rng(7).gamma(2.0, 1.0, len(new))
    old.to_parquet(tmp_path / "a.parquet", index=False)
    new.to_parquet(tmp_path / "b.parquet", index=False)
    source = FileSource(path=str(tmp_path), format="parquet", timestamp_column="ts")
    assert source.schema_kinds()["lactate"] == "numeric"
    early = source.read_window(TimeWindow(start=T0, end=T0 + timedelta(hours=1)), ["ts", "lactate"])
    late = source.read_window(
        TimeWindow(start=T0 + timedelta(hours=30), end=T0 + timedelta(hours=31)), ["ts", "lactate"]
    )
    assert early.kinds == late.kinds == {"ts": "time", "lactate": "numeric"}
    assert early.frame["lactate"].isna().all() and late.frame["lactate"].notna().all()


def test_parquet_written_with_a_pandas_index_is_read_without_it(tmp_path: Path) -> None:
    data = _calibrated(25, seed=8)
    data[data["site"] != "C"].to_parquet(tmp_path / "filtered.parquet")  # keeps the index
    assert "__index_level_0__" in pq.read_schema(tmp_path / "filtered.parquet").names
    config = LiveModelConfig(
        model_id="idx",
        model_name="Index",
        source=FileSource(
            path=str(tmp_path / "filtered.parquet"), format="parquet", timestamp_column="ts"
        ),
        score_column="score",
        label_column="label",
        current="last 1 hour",
        reference="previous 24 hours",
    )
    assert config.feature_columns() == ["site"]
    result = run_drift_check(config, T0 + timedelta(hours=25))
    assert result.table is not None and list(result.table.index) == ["site"]


# -- PostgreSQL ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    name = sa.make_url(postgres_url).database
    admin = sa.create_engine(postgres_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text(f"ALTER DATABASE \"{name}\" SET timezone = 'America/New_York'"))
    admin.dispose()
    engine = sa.create_engine(postgres_url)  # new connections: New York time
    data = _calibrated(HOURS, seed=9)
    last = _hour(data, HOURS - 1)
    rng = np.random.default_rng(10)
    # The last hour is miscalibrated: events far more often than the score says.
    data.loc[last, "label"] = (
        rng.random(int(last.sum())) < 0.25 + 0.75 * data.loc[last, "score"]
    ).astype(float)
    # In hour 24 the model is right every time, but half of site B went unscored.
    outage = _hour(data, HOURS - 2)
    data.loc[outage, "score"] = np.where(data.loc[outage, "label"] == 1, 0.9, 0.1)
    site_b = np.flatnonzero(outage & (data["site"] == "B"))
    data.loc[data.index[site_b[::2]], "score"] = np.nan
    data.to_sql("calib", engine, index=False)
    naive = data[["ts", "score"]].assign(ts=data["ts"].dt.tz_localize(None))
    naive.to_sql("naive", engine, index=False)  # timestamp without time zone (UTC wall times)
    with engine.begin() as connection:
        connection.execute(
            sa.text("CREATE TABLE textts AS SELECT ts::text AS ts, score FROM calib")
        )
        connection.execute(
            sa.text(
                "CREATE TABLE wordy AS SELECT ts, score, "
                "CASE WHEN label = 1 THEN 'yes' ELSE 'no' END AS label FROM calib"
            )
        )
    yield engine
    engine.dispose()


def _sql_config(postgres_url: str, table: str = "calib", **extra: object) -> LiveModelConfig:
    values: dict[str, object] = {
        "model_id": "pg",
        "model_name": "PG",
        "source": SqlSource(url=postgres_url, table=table, timestamp_column="ts"),
        "score_column": "score",
        "label_column": "label",
        "sensitive_features": ["site"],
        "features": ["site"],
        "current": "last 1 hour",
        "reference": "previous 24 hours",
    }
    return LiveModelConfig.model_validate(values | extra)


def test_the_database_really_defaults_to_new_york_and_our_sessions_to_utc(
    postgres_url: str, engine: sa.Engine
) -> None:
    with engine.connect() as connection:
        assert connection.execute(sa.text("SHOW timezone")).scalar() == "America/New_York"
    with engine_for(postgres_url).connect() as connection:
        assert connection.execute(sa.text("SHOW timezone")).scalar() == "UTC"


def test_a_query_on_a_naive_timestamp_reads_the_utc_hour(
    postgres_url: str, engine: sa.Engine
) -> None:
    window = TimeWindow(start=T0 + timedelta(hours=5), end=T0 + timedelta(hours=6))
    query = SqlSource(
        url=postgres_url,
        query="SELECT ts, score FROM naive WHERE ts >= :start AND ts < :end",
        timestamp_column="ts",
    ).read_window(window)
    table = SqlSource(url=postgres_url, table="naive", timestamp_column="ts").read_window(window)
    for read in (query, table):
        assert read.rows_read == PER_HOUR
        assert read.frame["ts"].min() >= window.start and read.frame["ts"].max() < window.end


def test_a_text_timestamp_column_says_what_to_do(postgres_url: str, engine: sa.Engine) -> None:
    source = SqlSource(url=postgres_url, table="textts", timestamp_column="ts")
    with pytest.raises(SourceError, match=r"^timestamp_column: 'ts' holds text .* CAST\(ts AS"):
        source.read_window(TimeWindow(start=T0, end=T0 + timedelta(hours=1)))


def test_a_calibrated_stable_model_does_not_page_ece(postgres_url: str, engine: sa.Engine) -> None:
    config = _sql_config(postgres_url)
    raised = []
    for hour in range(HOURS - 8, HOURS - 2):
        result = run_performance_check(config, T0 + timedelta(hours=hour + 1))
        raised += [a.metric for a in result.alerts if a.metric == "ece"]
        comparison = result.report["ece_comparison"]
        # The raw values differ by the small window's bias; the comparison removes it.
        assert comparison["n_current"] == PER_HOUR
        assert comparison["n_reference"] == min(hour, 24) * PER_HOUR
        assert (
            result.report["current"]["metrics"]["ece"]
            > result.report["reference"]["metrics"]["ece"]
        )
        (ece,) = [c for c in result.report["changes"] if c["metric"] == "ece"]
        assert ece["baseline"] == pytest.approx(comparison["reference_at_size"])
    assert raised == []


def test_a_miscalibrated_current_window_pages_ece(postgres_url: str, engine: sa.Engine) -> None:
    result = run_performance_check(_sql_config(postgres_url), T0 + timedelta(hours=HOURS))
    assert result.report["ece_comparison"]["p_value"] < 0.05
    assert [a.severity.value for a in result.alerts if a.metric == "ece"] == ["critical"]


def test_unscored_rows_are_left_out_of_fairness_and_reported(
    postgres_url: str, engine: sa.Engine
) -> None:
    config = _sql_config(postgres_url)
    at = T0 + timedelta(hours=HOURS - 1)
    result = run_fairness_check(config, at)
    assert result.alerts == []
    frame = pd.read_sql(
        sa.text("SELECT * FROM calib WHERE ts >= :s AND ts < :e"),
        engine,
        params={"s": at - timedelta(hours=1), "e": at},
    )
    unscored = int(frame["score"].isna().sum())
    assert unscored > 10 and result.report["missing_prediction"] == unscored
    assert any(
        f"{unscored} of {PER_HOUR} labelled rows have no prediction" in n
        for n in result.not_estimable
    )
    # The rates are fairlearn's on the scored rows (a perfect model: FNR 0 everywhere).
    scored = frame[frame["score"].notna()]
    predicted = (scored["score"] >= 0.5).astype(int)
    reference = MetricFrame(
        metrics={"selection_rate": selection_rate, "fnr": false_negative_rate},
        y_true=scored["label"].astype(int),
        y_pred=predicted,
        sensitive_features=scored["site"],
    ).by_group
    assert result.table is not None
    for column in ("selection_rate", "fnr"):
        np.testing.assert_allclose(result.table[column].to_numpy(), reference[column].to_numpy())
    # The outage itself is a data-health alert.
    health = run_data_health_check(
        config.model_copy(
            update={"data_health": config.data_health.model_copy(update={"check_labels": False})}
        ),
        at,
    )
    assert "data_health:missing:score" in [a.metric for a in health.alerts]


def test_text_labels_in_the_database_are_read(postgres_url: str, engine: sa.Engine) -> None:
    config = _sql_config(postgres_url, table="wordy", sensitive_features=[], features=["score"])
    result = run_performance_check(config, T0 + timedelta(hours=10))
    assert result.report["current"]["n_labelled"] == PER_HOUR


# -- SQLite, the embedded default: timestamps stored as text ------------------------------


@pytest.mark.parametrize(
    "form",
    [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S+00:00",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S+00:00",
    ],
)
@pytest.mark.parametrize("declared", ["DATETIME", "TEXT", "TIMESTAMP"])
def test_sqlite_text_timestamps_in_any_iso_form_are_windowed(
    tmp_path: Path, form: str, declared: str
) -> None:
    path = tmp_path / "log.db"
    with sqlite3.connect(path) as connection:
        connection.execute(f"CREATE TABLE log (ts {declared}, score REAL)")
        moments = [T0 + timedelta(minutes=7 * i) for i in range(60)]  # 7 h of rows
        connection.executemany(
            "INSERT INTO log VALUES (?, ?)", [(m.strftime(form), 0.5) for m in moments]
        )
    source = SqlSource(url=f"sqlite:///{path}", table="log", timestamp_column="ts")
    window = TimeWindow(start=T0 + timedelta(hours=2), end=T0 + timedelta(hours=3))
    read = source.read_window(window)
    expected = [m for m in moments if window.start <= m < window.end]
    assert read.rows_read == len(expected) == 8
    assert sorted(read.frame["ts"]) == [pd.Timestamp(m) for m in expected]
    # An offset is applied: 07:00+05:00 is 02:00 UTC.
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO log VALUES ('2026-03-01T07:00:00+05:00', 0.5)")
    assert source.read_window(window).rows_read == 9


# -- E8: a CSV with another delimiter ------------------------------------------------------


def test_a_semicolon_csv_reads_with_delimiter_and_says_so_without(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    _calibrated(2, seed=11).to_csv(path, sep=";", index=False)
    window = TimeWindow(start=T0, end=T0 + timedelta(hours=1))
    with pytest.raises(SourceError, match="delimiter: ';'"):
        FileSource(path=str(path), format="csv", timestamp_column="ts").read_window(window)
    read = FileSource(
        path=str(path), format="csv", timestamp_column="ts", delimiter=";"
    ).read_window(window)
    assert read.rows_read == PER_HOUR and read.kinds["score"] == "numeric"


def test_decimal_commas_read_as_numbers_with_decimal(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    frame = _calibrated(2, seed=12)
    frame.to_csv(path, sep=";", decimal=",", index=False)
    window = TimeWindow(start=T0, end=T0 + timedelta(hours=1))
    as_text = FileSource(path=str(path), format="csv", timestamp_column="ts", delimiter=";")
    assert as_text.read_window(window).kinds["score"] == "categorical"  # "0,53" is text
    source = FileSource(
        path=str(path), format="csv", timestamp_column="ts", delimiter=";", decimal=","
    )
    read = source.read_window(window)
    assert read.kinds["score"] == "numeric"
    expected = frame[(frame["ts"] >= window.start) & (frame["ts"] < window.end)]["score"]
    np.testing.assert_allclose(
        np.sort(read.frame["score"].to_numpy()), np.sort(expected.to_numpy()), rtol=1e-12
    )
    with pytest.raises(ValueError, match="decimal: ',' needs another delimiter"):
        FileSource(path=str(path), format="csv", timestamp_column="ts", decimal=",")


def test_jsonl_written_by_pandas_has_fractional_iso_times(tmp_path: Path) -> None:
    frame = _calibrated(2, seed=13)
    frame["ts"] = frame["ts"] + pd.to_timedelta(np.arange(len(frame)) % 997, unit="ms")
    path = tmp_path / "p.jsonl"
    frame.to_json(path, orient="records", lines=True, date_format="iso", date_unit="ms")
    assert ".0" in path.read_text().split('"ts":"')[1][:25] or "." in path.read_text()[:200]
    window = TimeWindow(start=T0, end=T0 + timedelta(hours=1))
    read = FileSource(path=str(path), format="jsonl", timestamp_column="ts").read_window(window)
    inside = frame[(frame["ts"] >= window.start) & (frame["ts"] < window.end)]
    assert read.rows_read == len(inside) == PER_HOUR
    assert read.kinds["ts"] == "time" and read.kinds["score"] == "numeric"


def test_unscored_logits_do_not_reach_the_fairness_rules(tmp_path: Path) -> None:
    data = _calibrated(25, seed=12)
    data["score"] = np.log(data["score"] / (1 - data["score"]))
    data.to_parquet(tmp_path / "logit.parquet", index=False)
    config = LiveModelConfig(
        model_id="logit",
        model_name="Logit",
        source=FileSource(
            path=str(tmp_path / "logit.parquet"), format="parquet", timestamp_column="ts"
        ),
        score_column="score",
        label_column="label",
        sensitive_features=["site"],
        current="last 1 hour",
        reference="previous 24 hours",
    )
    fairness = run_fairness_check(config, T0 + timedelta(hours=25))
    assert fairness.alerts == [] and "scores are not probabilities" in fairness.not_estimable[0]
    performance = run_performance_check(config, T0 + timedelta(hours=25))
    assert {c["metric"] for c in performance.report["changes"]} == {"auroc", "average_precision"}
    assert any(
        "current brier: not estimable: scores are not probabilities" in n
        for n in performance.not_estimable
    )
