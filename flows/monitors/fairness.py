"""Fairness (FAVES) monitoring flow: a thin shell around ``slack_alerts.checks.fairness``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task

from flows.artifacts import artifact_key, publish_summary, publish_table
from flows.dispatch import fail_if_undelivered, send_alerts
from flows.loading import load_frame
from flows.monitors import monitoring_flow
from flows.reports import MonitoringReport, outcome_lines
from flows.routing import WebhookRef
from slack_alerts import FAVESViolation
from slack_alerts.checks.fairness import (
    FairnessThresholds,
    fairness_findings,
    fairness_summary,
    faves_violations,
    group_metrics,
    summarize,
)

__all__ = ["FairnessReport", "fairness_monitoring_flow", "fairness_summary", "group_metrics"]

RULES = ("fairness", "equalized_odds", "validity", "safety")


class FairnessReport(MonitoringReport):
    groups: list[dict[str, Any]]
    summary: dict[str, Any]
    findings: list[dict[str, Any]]


@task(name="group-metrics")
def compute_group_metrics(y_true: Any, y_pred: Any, sensitive: Any) -> pd.DataFrame:
    return group_metrics(y_true, y_pred, sensitive)


def _columns(data: pd.DataFrame, y_true: Any, y_pred: Any, sensitive: Any) -> tuple[Any, Any, Any]:
    def column(name: Any, argument: str) -> Any:
        if not isinstance(name, str) or name not in data.columns:
            raise ValueError(
                f"{argument}={name!r} is not a column of data ({', '.join(map(str, data.columns))})"
            )
        return data[name]

    names = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    groups = pd.concat([column(n, "sensitive_features") for n in names], axis=1)
    return column(y_true, "y_true"), column(y_pred, "y_pred"), groups


@monitoring_flow("fairness-monitoring")
def fairness_monitoring_flow(
    model_id: str,
    model_name: str,
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    webhook: WebhookRef = None,
    thresholds: FairnessThresholds | dict[str, Any] | None = None,
    data: pd.DataFrame | str | Path | None = None,
) -> FairnessReport:
    """Check FAVES rules across patient groups.

    Two ways to pass data: arrays (``y_true``, ``y_pred`` and
    ``sensitive_features`` of equal length), or ``data`` (a DataFrame or a
    CSV/Parquet path) with those three arguments naming its columns
    (``sensitive_features`` may list several columns for intersectional
    groups). Labels are binary, 1 the positive class.
    """
    logger = get_run_logger()
    limits = FairnessThresholds.model_validate(thresholds or {})
    if data is not None:
        y_true, y_pred, sensitive_features = _columns(
            load_frame(data, "data"), y_true, y_pred, sensitive_features
        )
    groups = compute_group_metrics(y_true, y_pred, sensitive_features)
    findings = fairness_findings(groups, limits)
    violations = faves_violations(model_id, model_name, findings)
    failed = {f.violation_type for f in findings}
    healthy = [
        FAVESViolation(model_id=model_id, model_name=model_name, violation_type=rule).fingerprint
        for rule in RULES
        if rule not in failed
    ]
    summary = summarize(groups)
    logger.info(
        "%d groups; demographic parity ratio %.3f; %d FAVES finding(s)",
        len(groups),
        summary["demographic_parity_ratio"],
        len(findings),
    )
    sent = send_alerts(violations, webhook, {model_id: healthy})
    report = FairnessReport(
        flow="fairness-monitoring",
        model_id=model_id,
        alerts=sent.alerts,
        resolved=sent.resolved,
        notes=sent.notes,
        problem=sent.problem,
        groups=[{"group": str(g), **row} for g, row in groups.to_dict(orient="index").items()],
        summary=summary,
        findings=[
            {
                "violation_type": f.violation_type,
                "severity": f.severity.value,
                "affected_groups": f.affected_groups,
                "description": f.description,
            }
            for f in findings
        ],
        healthy_fingerprints=healthy,
    )
    key = artifact_key("fairness", model_id)
    publish_table(f"{key}-groups", groups, f"Per-group metrics for {model_name} ({model_id})")
    ratio, gap = summary["demographic_parity_ratio"], summary["demographic_parity_difference"]
    lines = [
        f"# Fairness (FAVES): {model_name} (`{model_id}`)",
        f"- Demographic parity ratio **{ratio:.3f}** "
        f"(four-fifths rule: >= {limits.min_ratio}); difference {gap:.3f}",
        f"- Equalized-odds difference **{summary['equalized_odds_difference']:.3f}**",
        f"- Groups under {limits.min_group_size} rows are reported, not judged: "
        + (
            ", ".join(str(g) for g in groups.index[groups["count"] < limits.min_group_size])
            or "none"
        ),
        "",
        *[
            f"- **{f.severity.value.upper()} {f.violation_type}** "
            f"({', '.join(f.affected_groups)}): {f.description}"
            for f in findings
        ],
        "",
        *outcome_lines(report),
    ]
    publish_summary(f"{key}-summary", lines, f"Fairness summary for {model_name}")
    fail_if_undelivered(report.problem)
    return report
