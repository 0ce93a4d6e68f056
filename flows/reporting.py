"""What every monitoring flow shares: sending its alerts, artifacts, the report."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from pydantic import BaseModel, Field

from flows.routing import WebhookRef
from flows.tasks import DeliveryError, send_alert
from slack_alerts import DeliveryStatus
from slack_alerts.models import Alert
from slack_alerts.text import redact_phi, single_line

_KEY_UNSAFE = re.compile(r"[^a-z0-9-]+")


class AlertOutcome(BaseModel):
    """What happened to one alert a flow raised."""

    kind: str
    fingerprint: str
    severity: str
    title: str
    status: str
    error: str | None = None


class MonitoringReport(BaseModel):
    """Fields every monitoring flow's report has."""

    flow: str
    model_id: str
    alerts: list[AlertOutcome] = Field(default_factory=list)
    healthy_fingerprints: list[str] = Field(
        default_factory=list, description="Checked and fine this run (for resolved notices)"
    )

    def count(self, status: str) -> int:
        return sum(1 for a in self.alerts if a.status == status)

    @property
    def by_severity(self) -> Counter[str]:
        return Counter(a.severity for a in self.alerts)


def send_alerts(alerts: Sequence[Alert], webhook: WebhookRef) -> list[AlertOutcome]:
    """Send through the Prefect tasks; a delivery failure is recorded, never raised."""
    # Submitted together: each send mostly waits on the network and on the
    # Prefect server's limits. Worst first, so the channel reads in order.
    ordered = sorted(alerts, key=lambda a: -a.severity.rank)
    futures = [send_alert.submit(alert, webhook) for alert in ordered]
    outcomes = []
    for alert, future in zip(ordered, futures, strict=True):
        future.wait()
        state = future.state
        title = str(
            getattr(alert, "metric", None)
            or getattr(alert, "violation_type", None)
            or getattr(alert, "event_type", "")
        )
        if state.is_completed():
            result = state.result()
            status, error = result.status.value, result.error
            if state.name == "Cached":
                # Sent by an earlier run (same fingerprint and occurrence time).
                status = "deduplicated"
        else:
            outcome = state.result(raise_on_failure=False)
            if isinstance(outcome, DeliveryError):
                status, error = outcome.result.status.value, outcome.result.error
            else:
                status, error = DeliveryStatus.FAILED_TRANSIENT.value, type(outcome).__name__
        outcomes.append(
            AlertOutcome(
                kind=alert.kind,
                fingerprint=alert.fingerprint,
                severity=alert.severity.value,
                title=redact_phi(title),
                status=status,
                error=error,
            )
        )
    return outcomes


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes."""
    key = _KEY_UNSAFE.sub("-", "-".join(parts).lower()).strip("-")
    return key[:100] or "report"


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact_phi(single_line(value))
    if isinstance(value, float):
        return None if value != value else round(value, 6)  # NaN is not JSON
    return value


def publish_table(key: str, frame: pd.DataFrame, description: str) -> None:
    """A table artifact; user text in it is PHI-redacted first."""
    rows = [
        {str(k): _clean(v) for k, v in row.items()}
        for row in frame.reset_index().to_dict(orient="records")
    ]
    create_table_artifact(key=key, table=rows, description=redact_phi(description))


def publish_summary(key: str, lines: Iterable[str], description: str) -> None:
    create_markdown_artifact(
        key=key, markdown=redact_phi("\n".join(lines)), description=redact_phi(description)
    )


def outcome_lines(report: MonitoringReport) -> list[str]:
    sent = report.count("sent")
    limited = report.count("rate_limited")
    duplicates = report.count("deduplicated")
    failed = len(report.alerts) - sent - limited - duplicates
    severities = ", ".join(f"{n} {s}" for s, n in sorted(report.by_severity.items())) or "none"
    return [
        f"**Alerts:** {len(report.alerts)} ({severities}); {sent} sent, "
        f"{duplicates} already sent by an earlier run, "
        f"{limited} held by the rate limit (counted in the next message), {failed} failed.",
    ]


@task(name="load-table")
def load_frame(source: pd.DataFrame | str | Path, name: str = "data") -> pd.DataFrame:
    """A DataFrame as given, or read from a CSV or Parquet path."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{name}: no file at {path}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise ValueError(f"{name}: {path.name} is neither .csv nor .parquet")
