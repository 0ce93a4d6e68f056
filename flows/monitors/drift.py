"""Drift monitoring flow: a thin Prefect shell around ``slack_alerts.checks.drift``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task

from flows.artifacts import artifact_key, publish_summary, publish_table
from flows.dispatch import fail_if_undelivered, send_alerts
from flows.loading import load_frame
from flows.monitors import monitoring_flow
from flows.monitors.live import (
    default_kinds,
    live_config,
    live_fields,
    run_live_checks,
    summary_lines,
)
from flows.reports import MonitoringReport, outcome_lines
from flows.routing import WebhookRef
from flows.sources import scheduled_time
from slack_alerts.checks.drift import (
    DriftThresholds,
    PerformanceChange,
    drift_alerts,
    feature_drift,
    healthy_fingerprints,
    performance_drift,
)
from slack_alerts.live import LiveModelConfig

__all__ = ["DriftReport", "drift_monitoring_flow", "feature_drift"]


class DriftReport(MonitoringReport):
    features: list[dict[str, Any]]
    drifted_features: list[str]
    performance: list[dict[str, Any]]


@task(name="feature-drift")
def compute_feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    thresholds: DriftThresholds,
    kinds: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    return feature_drift(reference, current, thresholds, kinds=kinds)


def _metric_line(change: PerformanceChange) -> str:
    moved = f"{change.baseline:.4g} -> {change.current:.4g}"
    if not change.judged:
        return (
            f"- Metric **{change.metric}**: {moved}; direction unknown, not judged "
            "(declare it in thresholds.metric_directions)"
        )
    better = change.direction.replace("_", " ")
    return f"- Metric **{change.metric}**: {moved} ({better}; {change.severity.value})"


@monitoring_flow("drift-monitoring", log_prints=False)
def drift_monitoring_flow(
    model_id: str,
    model_name: str,
    reference: pd.DataFrame | str | Path | None = None,
    current: pd.DataFrame | str | Path | None = None,
    baseline_metrics: Mapping[str, float] | None = None,
    current_metrics: Mapping[str, float] | None = None,
    webhook: WebhookRef = None,
    thresholds: DriftThresholds | dict[str, Any] | None = None,
    kinds: dict[str, str] | None = None,
    encoding: str = "utf-8",
    live: LiveModelConfig | dict[str, Any] | None = None,
    scheduled_time: datetime | None = None,
) -> DriftReport:
    """Compare current data with its reference and a model's metrics with their baseline.

    ``reference`` / ``current`` are DataFrames or CSV/Parquet paths (CSV read
    with ``encoding``). Thresholds default to PSI 0.1 (WARNING) / 0.25
    (CRITICAL) with Bonferroni-corrected alpha 0.05, and a 5% (WARNING) /
    10% (CRITICAL) relative metric drop; ``thresholds["metric_directions"]``
    declares which way a metric is better. ``kinds`` declares column kinds
    (``numeric``, ``categorical``, ``time``, ``skipped``), as a schema would;
    undeclared columns get one kind for both windows from both frames.

    ``live`` (a ``slack_alerts.live.LiveModelConfig`` or its dict, without
    ``model_id``/``model_name``) reads both windows from a source instead:
    the current window ends at the run's scheduled start (or
    ``scheduled_time``), and the run also checks data health and, with
    scores and labels, performance.
    """
    if live is not None:
        return _live_drift(model_id, model_name, live, webhook, scheduled_time)
    if reference is None or current is None:
        raise ValueError("reference and current: give both (frames or files), or live (a source)")
    logger = get_run_logger()
    limits = DriftThresholds.model_validate(thresholds or {})
    ref = load_frame(reference, "reference", encoding)
    cur = load_frame(current, "current", encoding)
    table = compute_feature_drift(ref, cur, limits, kinds)
    changes = performance_drift(baseline_metrics or {}, current_metrics or {}, limits)
    alerts = drift_alerts(model_id, model_name, table, changes, limits)
    drifted = [str(f) for f in table.index[table["drifted"]]]
    logger.info(
        "%d features compared, %d drifted (%s); %d metrics checked; %d alerts",
        len(table),
        len(drifted),
        ", ".join(drifted) or "none",
        len(changes),
        len(alerts),
    )
    healthy = healthy_fingerprints(model_id, model_name, table, changes)
    sent = send_alerts(alerts, webhook, {model_id: healthy})
    report = DriftReport(
        flow="drift-monitoring",
        model_id=model_id,
        alerts=sent.alerts,
        resolved=sent.resolved,
        notes=sent.notes,
        problem=sent.problem,
        features=[
            {"feature": str(k), **v}
            for k, v in table.astype(object)
            .where(table.notna(), None)
            .to_dict(orient="index")
            .items()
        ],
        drifted_features=drifted,
        performance=[c.__dict__ | {"severity": c.severity.value} for c in changes],
        healthy_fingerprints=healthy,
    )
    key = artifact_key("drift", model_id)
    publish_table(
        f"{key}-features",
        table[
            [
                "kind",
                "psi",
                "p_value",
                "ks_statistic",
                "wasserstein",
                "js_distance",
                "drifted",
                "severity",
                "note",
                "schema_change",
            ]
        ],
        f"Feature drift for {model_name} ({model_id})",
    )
    tested = table[table["p_value"].notna()]
    worst = tested.sort_values("psi", ascending=False).head(5)
    untested = table[table["p_value"].isna()]
    lines = [
        f"# Drift: {model_name} (`{model_id}`)",
        f"{len(tested)} of {len(table)} features compared against the reference; "
        f"**{len(drifted)} drifted** (PSI >= {limits.psi_warning} and "
        f"p < {table.attrs['alpha_per_test']:.2g}).",
        "",
        "| feature | kind | PSI | p-value | severity |",
        "|---|---|---|---|---|",
        *[
            f"| {f} | {r['kind']} | {r['psi']:.3f} | {r['p_value']:.2g} | {r['severity']} |"
            for f, r in worst.iterrows()
        ],
        "",
        *[f"- Not compared: **{f}** ({r['kind']}): {r['note']}" for f, r in untested.iterrows()],
        "",
        *[_metric_line(c) for c in changes],
        "",
        *outcome_lines(report),
    ]
    publish_summary(f"{key}-summary", lines, f"Drift summary for {model_name}")
    fail_if_undelivered(report.problem)
    return report


def _live_drift(
    model_id: str,
    model_name: str,
    live: LiveModelConfig | dict[str, Any],
    webhook: WebhookRef,
    when: datetime | None,
) -> DriftReport:
    logger = get_run_logger()
    config = live_config(live, model_id, model_name)
    moment = scheduled_time(when)
    results = run_live_checks(config, default_kinds(config), moment)
    by_check = {r.check: r for r in results}
    alerts = [a for r in results for a in r.alerts]
    healthy = [f for r in results for f in r.healthy_fingerprints]
    table = by_check["drift"].table
    drifted = [] if table is None else [str(f) for f in table.index[table["drifted"]]]
    logger.info(
        "scheduled %s: %d rows read (%d kept); %d alerts; drifted: %s",
        moment.isoformat(),
        sum(r.rows_read for r in results),
        sum(r.rows_sampled for r in results),
        len(alerts),
        ", ".join(drifted) or "none",
    )
    sent = send_alerts(alerts, webhook, {config.model_id: healthy})
    performance = by_check.get("performance")
    report = DriftReport(
        flow="drift-monitoring",
        model_id=config.model_id,
        alerts=sent.alerts,
        resolved=sent.resolved,
        notes=sent.notes,
        problem=sent.problem,
        features=by_check["drift"].report.get("features", []),
        drifted_features=drifted,
        performance=[] if performance is None else performance.report.get("changes", []),
        healthy_fingerprints=healthy,
        live=live_fields(results, moment),
    )
    key = artifact_key("drift", config.model_id)
    if table is not None:
        publish_table(
            f"{key}-features",
            table[["kind", "psi", "p_value", "drifted", "severity", "note", "schema_change"]],
            f"Feature drift for {config.model_name} ({config.model_id})",
        )
    health = by_check["data_health"].table
    if health is not None:
        publish_table(f"{key}-data-health", health, f"Data health of {config.model_name}")
    lines = [
        f"# Drift: {config.model_name} (`{config.model_id}`), scheduled {moment.isoformat()}",
        f"**{len(drifted)} drifted** feature(s): {', '.join(drifted) or 'none'}.",
        "",
        *summary_lines(results),
        "",
        *outcome_lines(report),
    ]
    publish_summary(f"{key}-summary", lines, f"Drift summary for {config.model_name}")
    fail_if_undelivered(report.problem)
    return report
