"""Fairness (FAVES) monitoring flow: a thin shell around ``slack_alerts.checks.fairness``."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from pydantic import Field

from flows.artifacts import artifact_key, publish_summary, publish_table
from flows.dispatch import fail_if_undelivered, send_alerts
from flows.loading import load_frame
from flows.monitors import monitoring_flow
from flows.monitors.live import live_config, live_fields, run_live_checks, summary_lines
from flows.reports import MonitoringReport, outcome_lines
from flows.routing import WebhookRef
from flows.sources import scheduled_time
from slack_alerts.checks.fairness import (
    FairnessThresholds,
    fairness_findings,
    fairness_summary,
    faves_violations,
    group_metrics,
    rule_verdicts,
    summarize,
)
from slack_alerts.live import LiveModelConfig

__all__ = ["FairnessReport", "fairness_monitoring_flow", "fairness_summary", "group_metrics"]

NOT_ESTIMABLE = "not estimable"


class FairnessReport(MonitoringReport):
    groups: list[dict[str, Any]]
    summary: dict[str, Any]
    findings: list[dict[str, Any]]
    not_estimable: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Values with an empty denominator (NaN, None in groups): what, why, "
        "and the FAVES rules that could not use them",
    )
    unjudged_rules: list[str] = Field(
        default_factory=list,
        description="Rules left without a value they needed: neither firing nor healthy",
    )


def _shown(value: float, digits: int = 3) -> str:
    return NOT_ESTIMABLE if math.isnan(value) else f"{value:.{digits}f}"


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
    y_true: Any = None,
    y_pred: Any = None,
    sensitive_features: Any = None,
    webhook: WebhookRef = None,
    thresholds: FairnessThresholds | dict[str, Any] | None = None,
    data: pd.DataFrame | str | Path | None = None,
    encoding: str = "utf-8",
    live: LiveModelConfig | dict[str, Any] | None = None,
    scheduled_time: datetime | None = None,
) -> FairnessReport:
    """Check FAVES rules across patient groups.

    Two ways to pass data: arrays (``y_true``, ``y_pred`` and
    ``sensitive_features`` of equal length), or ``data`` (a DataFrame or a
    CSV/Parquet path) with those three arguments naming its columns
    (``sensitive_features`` may list several columns for intersectional
    groups; a CSV is read with ``encoding``). Labels are binary, 1 the
    positive class.

    ``live`` (a ``slack_alerts.live.LiveModelConfig`` or its dict) reads the
    current window's labelled rows from a source instead; the window ends at
    the run's scheduled start (or ``scheduled_time``).
    """
    if live is not None:
        return _live_fairness(model_id, model_name, live, webhook, scheduled_time)
    if y_true is None or y_pred is None or sensitive_features is None:
        raise ValueError("y_true, y_pred and sensitive_features: give all three, or live")
    logger = get_run_logger()
    limits = FairnessThresholds.model_validate(thresholds or {})
    if data is not None:
        y_true, y_pred, sensitive_features = _columns(
            load_frame(data, "data", encoding), y_true, y_pred, sensitive_features
        )
    groups = compute_group_metrics(y_true, y_pred, sensitive_features)
    findings = fairness_findings(groups, limits)
    violations = faves_violations(model_id, model_name, findings)
    summary = summarize(groups, limits)
    missing = summary.pop("not_estimable")
    unjudged, healthy = rule_verdicts(model_id, model_name, findings, missing)
    logger.info(
        "%d groups; demographic parity ratio %s; %d FAVES finding(s); %d value(s) not estimable",
        len(groups),
        _shown(summary["demographic_parity_ratio"]),
        len(findings),
        len(missing),
    )
    sent = send_alerts(violations, webhook, {model_id: healthy})
    report = FairnessReport(
        flow="fairness-monitoring",
        model_id=model_id,
        alerts=sent.alerts,
        resolved=sent.resolved,
        notes=sent.notes,
        problem=sent.problem,
        groups=[
            {"group": str(g), **row}
            for g, row in groups.astype(object)
            .where(groups.notna(), None)
            .to_dict(orient="index")
            .items()
        ],
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
        not_estimable=missing,
        unjudged_rules=unjudged,
    )
    key = artifact_key("fairness", model_id)
    publish_table(
        f"{key}-groups",
        groups.astype(object).where(groups.notna(), NOT_ESTIMABLE),
        f"Per-group metrics for {model_name} ({model_id}); "
        f"'{NOT_ESTIMABLE}' where a rate's denominator is empty",
    )
    if missing:
        publish_table(
            f"{key}-not-estimable",
            pd.DataFrame(
                [
                    {
                        "group": m["group"] or "(across groups)",
                        "metric": m["metric"],
                        "reason": m["reason"],
                        "rules not applied": ", ".join(m["rules"]) or "none",
                    }
                    for m in missing
                ]
            ),
            f"Values not estimable for {model_name} ({model_id}), never judged",
        )
    ratio, gap = summary["demographic_parity_ratio"], summary["demographic_parity_difference"]
    lines = [
        f"# Fairness (FAVES): {model_name} (`{model_id}`)",
        f"- Demographic parity ratio **{_shown(ratio)}** "
        f"(four-fifths rule: >= {limits.min_ratio}); difference {_shown(gap)}",
        f"- Equalized-odds difference **{_shown(summary['equalized_odds_difference'])}**",
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
        *[
            f"- Not estimable: {m['metric']} of {m['group'] or 'the groups'} ({m['reason']})"
            + (f"; not judged by {', '.join(m['rules'])}" if m["rules"] else "")
            for m in missing
        ],
        *([f"- Rules not fully checked this run: {', '.join(unjudged)}"] if unjudged else []),
        "",
        *outcome_lines(report),
    ]
    publish_summary(f"{key}-summary", lines, f"Fairness summary for {model_name}")
    fail_if_undelivered(report.problem)
    return report


def _live_fairness(
    model_id: str,
    model_name: str,
    live: LiveModelConfig | dict[str, Any],
    webhook: WebhookRef,
    when: datetime | None,
) -> FairnessReport:
    config = live_config(live, model_id, model_name)
    moment = scheduled_time(when)
    (result,) = run_live_checks(config, ["fairness"], moment)
    sent = send_alerts(result.alerts, webhook, {config.model_id: result.healthy_fingerprints})
    report = FairnessReport(
        flow="fairness-monitoring",
        model_id=config.model_id,
        alerts=sent.alerts,
        resolved=sent.resolved,
        notes=sent.notes,
        problem=sent.problem,
        groups=result.report.get("groups", []),
        summary=result.report.get("summary", {}),
        findings=result.report.get("findings", []),
        healthy_fingerprints=result.healthy_fingerprints,
        not_estimable=result.report.get("not_estimable", []),
        unjudged_rules=result.report.get("unjudged_rules", []),
        live=live_fields([result], moment),
    )
    key = artifact_key("fairness", config.model_id)
    if result.table is not None:
        groups = result.table
        publish_table(
            f"{key}-groups",
            groups.astype(object).where(groups.notna(), NOT_ESTIMABLE),
            f"Per-group metrics for {config.model_name} ({config.model_id})",
        )
    lines = [
        f"# Fairness (FAVES): {config.model_name} (`{config.model_id}`), "
        f"scheduled {moment.isoformat()}",
        *[
            f"- **{f['severity'].upper()} {f['violation_type']}** "
            f"({', '.join(f['affected_groups'])}): {f['description']}"
            for f in report.findings
        ],
        "",
        *summary_lines([result]),
        "",
        *outcome_lines(report),
    ]
    publish_summary(f"{key}-summary", lines, f"Fairness summary for {config.model_name}")
    fail_if_undelivered(report.problem)
    return report
