"""What a monitoring flow reports: each alert's outcome, and the report's fields."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, Field

from slack_alerts.pipeline import AlertOutcome, AlertStatus


class MonitoringReport(BaseModel):
    """Fields every monitoring flow's report has."""

    flow: str
    model_id: str
    alerts: list[AlertOutcome] = Field(default_factory=list)
    healthy_fingerprints: list[str] = Field(
        default_factory=list, description="Checked and fine this run (for resolved notices)"
    )
    resolved: int = Field(default=0, description="Previously firing alerts found healthy")
    notes: list[str] = Field(
        default_factory=list, description="What the pipeline noticed (fail-open, clock skew)"
    )
    problem: str | None = Field(
        default=None, description="Why the alerts could not be attempted (kept for replay)"
    )
    live: dict[str, Any] | None = Field(
        default=None,
        description="Live-data runs: scheduled_time, rows_read, rows_sampled, not_estimable, "
        "checks (each check's report)",
    )

    def count(self, status: str) -> int:
        return sum(1 for a in self.alerts if a.status == status)

    @property
    def by_severity(self) -> Counter[str]:
        return Counter(a.severity for a in self.alerts)


def outcome_lines(report: MonitoringReport) -> list[str]:
    sent = report.count(AlertStatus.SENT)
    limited = report.count(AlertStatus.RATE_LIMITED)
    duplicates = report.count(AlertStatus.DEDUPLICATED)
    dead = report.count(AlertStatus.FAILED_PERMANENT)
    kept = len(report.alerts) - sent - limited - duplicates - dead
    resolved = f" {report.resolved} previously firing alert(s) resolved." if report.resolved else ""
    severities = ", ".join(f"{n} {s}" for s, n in sorted(report.by_severity.items())) or "none"
    lines = [
        f"**Alerts:** {len(report.alerts)} ({severities}); {sent} sent, "
        f"{duplicates} deduplicated (already firing, counted), "
        f"{limited} held by the rate limit (counted in the next message), "
        f"{kept} kept in the outbox for replay, {dead} refused by Slack (dead letters)." + resolved,
    ]
    if report.problem:
        lines.append(f"**Not delivered:** {report.problem}")
    lines += [f"- Note: {note}" for note in report.notes]
    return lines
