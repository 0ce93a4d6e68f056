"""What a monitoring flow reports: each alert's outcome, and the report's fields."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field


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
    resolved: int = Field(default=0, description="Previously firing alerts found healthy")

    def count(self, status: str) -> int:
        return sum(1 for a in self.alerts if a.status == status)

    @property
    def by_severity(self) -> Counter[str]:
        return Counter(a.severity for a in self.alerts)


def outcome_lines(report: MonitoringReport) -> list[str]:
    sent = report.count("sent")
    limited = report.count("rate_limited")
    duplicates = report.count("deduplicated")
    failed = len(report.alerts) - sent - limited - duplicates
    resolved = f" {report.resolved} previously firing alert(s) resolved." if report.resolved else ""
    severities = ", ".join(f"{n} {s}" for s, n in sorted(report.by_severity.items())) or "none"
    return [
        f"**Alerts:** {len(report.alerts)} ({severities}); {sent} sent, "
        f"{duplicates} deduplicated (already firing, counted), "
        f"{limited} held by the rate limit (counted in the next message), {failed} failed."
        + resolved,
    ]
