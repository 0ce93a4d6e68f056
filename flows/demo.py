"""The live part of ``slack-alerts demo``: scheduled checks over an embedded inference log.

Builds a small inference log in an SQLite file (two days of reference and a
few hours more, 300 predictions an hour, labelled), where drift in ``age``
and a fairness drop at site ``C`` start at a known hour and stop two hours
later. Then runs the drift and fairness flows for four consecutive hourly
scheduled times, exactly as the deployments would, and prints a timeline:
a quiet hour, the hour the alerts fire, the next hour deduplicated (counted,
not re-posted), and the resolved notices after recovery.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from flows.backfill import slot_line

MODEL_ID = "sepsis-risk-v3"
MODEL_NAME = "Sepsis early warning"
ROWS_PER_HOUR = 300
REFERENCE_DAYS = 2


def demo_times(now: datetime | None = None) -> tuple[datetime, list[datetime]]:
    """(the incident's start, the four scheduled times), on whole hours before ``now``."""
    hour = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    incident = hour - timedelta(hours=4)
    return incident, [incident + timedelta(hours=h) for h in range(4)]


def build_inference_db(folder: Path, incident: datetime) -> str:
    """Write the inference log to ``folder/inference.db``; its SQLAlchemy URL."""
    from slack_alerts.checks.sample_data import inference_log

    start = incident - timedelta(days=REFERENCE_DAYS, hours=1)
    hours = REFERENCE_DAYS * 24 + 4
    frame = inference_log(start, hours, incident, incident + timedelta(hours=2), ROWS_PER_HOUR)
    url = f"sqlite:///{folder / 'inference.db'}"
    engine = sa.create_engine(url)
    # SQLite has no time zone type: the column holds UTC wall times (read back as UTC).
    frame.assign(scored_at=frame["scored_at"].dt.tz_convert(None)).to_sql(
        "predictions", engine, index=False, if_exists="replace", chunksize=10_000
    )
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE INDEX predictions_at ON predictions (scored_at)"))
    engine.dispose()
    return url


def live_model(url: str) -> dict[str, Any]:
    """The model's live config, as a deployment's ``live`` parameter would hold it."""
    return {
        "source": {
            "kind": "sql",
            "url": url,
            "table": "predictions",
            "timestamp_column": "scored_at",
        },
        "id_column": "prediction_id",
        "features": ["age", "lactate", "site"],
        "score_column": "score",
        "label_column": "label",
        "sensitive_features": ["site"],
        "current": "last 1 hour",
        "reference": f"previous {REFERENCE_DAYS} days",
        # Hourly windows of 300 rows: judge the stable metrics only (Brier and log loss
        # move by more than 5% from hour to hour on so few rows).
        "performance": {"metrics": ["auroc", "accuracy"]},
        "data_health": {"check_labels": False},
    }


def run_live_demo(webhook: str | None) -> list[Any]:
    """Build the log, run the four scheduled slots, print the timeline; every report."""
    from flows.monitors.drift import drift_monitoring_flow
    from flows.monitors.fairness import fairness_monitoring_flow

    folder = Path(tempfile.mkdtemp(prefix="slack-alerts-demo-"))
    # A fresh alert state for this demo: a second demo run shows the same timeline.
    os.environ.setdefault("SLACK_ALERTS_STATE_URL", f"sqlite:///{folder / 'state.db'}")
    incident, times = demo_times()
    url = build_inference_db(folder, incident)
    live = live_model(url)
    print(
        f"      inference log: {url.removeprefix('sqlite:///')} "
        f"({ROWS_PER_HOUR} predictions/hour; drift and a fairness drop at site C "
        f"from {incident:%H:%M} to {incident + timedelta(hours=2):%H:%M} UTC)",
        flush=True,
    )
    reports: list[Any] = []
    lines = []
    for when in times:
        slot = [
            drift_monitoring_flow(
                MODEL_ID, MODEL_NAME, webhook=webhook, live=live, scheduled_time=when
            ),
            fairness_monitoring_flow(
                MODEL_ID, MODEL_NAME, webhook=webhook, live=live, scheduled_time=when
            ),
        ]
        reports += slot
        lines.append(slot_line(when, slot))
        print(f"      {lines[-1]}", flush=True)
    print("\nTimeline (each run checks the hour before its scheduled time):")
    for line in lines:
        print(f"  {line}")
    print()
    return reports
