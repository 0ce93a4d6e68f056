"""Storm benchmark: 10,000 alerts across 200 models against a Slack-like rate limit.

    python benchmarks/storm.py [--alerts 10000] [--models 200]

The local webhook server enforces 1 message/s per webhook with a burst of 5
and answers 429 + Retry-After beyond that, as Slack does. Reported: messages
posted, 429s received, wall time, and where every alert went (delivered in a
digest, deduplicated with a count, held by the rate limit, or undelivered in
the durable outbox); the accounting must cover every alert.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from slack_alerts import DriftAlert, DurableOutbox, RetryPolicy, SlackAlertClient  # noqa: E402
from slack_alerts.pipeline import AlertPipeline  # noqa: E402
from slack_alerts.sqlstate import SqliteStateStore  # noqa: E402
from slack_alerts.testing import LocalWebhookServer  # noqa: E402


@dataclass
class StormReport:
    alerts: int
    messages_posted: int
    responses_429: int
    wall_seconds: float
    delivered: int
    deduplicated: int
    rate_limited: int
    undelivered: int

    @property
    def accounted(self) -> int:
        return self.delivered + self.deduplicated + self.rate_limited + self.undelivered


def storm_alerts(alerts: int, models: int, problems_per_model: int = 5) -> list[DriftAlert]:
    """A noisy upstream: each model keeps re-raising a handful of problems."""
    now = datetime.now(UTC)
    return [
        DriftAlert(
            model_id=f"model-{i % models}",
            model_name=f"model-{i % models}",
            metric=f"feature:f{(i // models) % problems_per_model}",
            current_value=0.3,
            baseline_value=0.0,
            threshold=0.1,
            severity="critical" if i % 97 == 0 else "warning",
            timestamp=now,
        )
        for i in range(alerts)
    ]


def run_storm(alerts: int, models: int, workdir: Path, batch: int = 1000) -> StormReport:
    """``batch``: alerts arriving within one group_wait window (a storm's 30 s)."""
    with LocalWebhookServer(rate_limit_per_second=1, burst=5) as server:
        client = SlackAlertClient(
            server.url,
            rate_limit_per_minute=1000,
            retry_policy=RetryPolicy(max_retries=2, backoff_factor=0.2, max_rate_limit_waits=20),
            durable_outbox=DurableOutbox(workdir / "undelivered"),
        )
        pipeline = AlertPipeline(client, SqliteStateStore(workdir / "state.sqlite3"))
        stream = storm_alerts(alerts, models)
        started = time.perf_counter()
        outcomes = [pipeline.submit(stream[i : i + batch]) for i in range(0, alerts, batch)]
        wall = time.perf_counter() - started
        return StormReport(
            alerts=alerts,
            messages_posted=len(server.delivered()),
            responses_429=sum(1 for r in server.requests if r.status == 429),
            wall_seconds=wall,
            delivered=sum(len(o.delivered) for o in outcomes),
            deduplicated=sum(len(o.deduplicated) for o in outcomes),
            rate_limited=sum(len(o.rate_limited) for o in outcomes),
            undelivered=sum(len(o.undelivered) for o in outcomes),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--models", type=int, default=200)
    args = parser.parse_args()
    print(
        f"Storm: {args.alerts:,} alerts across {args.models} models; server allows 1 msg/s, burst 5"
    )
    report = run_storm(args.alerts, args.models, Path(tempfile.mkdtemp(prefix="storm-")))
    print(
        f"posted {report.messages_posted} messages, received {report.responses_429} 429s, "
        f"{report.wall_seconds:.1f} s\n"
        f"alerts: {report.delivered} delivered in digests, {report.deduplicated} deduplicated "
        f"with a count, {report.rate_limited} held by the rate limit, {report.undelivered} "
        f"undelivered (durable outbox); accounted {report.accounted} of {report.alerts}"
    )
    if report.accounted != report.alerts:
        raise SystemExit("accounting does not cover every alert")


if __name__ == "__main__":
    main()
