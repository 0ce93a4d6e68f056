"""Running the live checks (``slack_alerts.live``) inside the monitoring flows.

The flows pass ``live`` (a ``LiveModelConfig`` or its dict) and optionally
``scheduled_time``; the current window ends at the run's scheduled start
(``flows.sources.scheduled_time``). Each check is one task, so its time
shows in the UI; a ``connector`` block is resolved once per run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.sources import resolve_config
from slack_alerts.live import (
    CheckResult,
    LiveModelConfig,
    run_data_health_check,
    run_drift_check,
    run_fairness_check,
    run_performance_check,
)

CHECKS: dict[str, Callable[[LiveModelConfig, datetime], CheckResult]] = {
    "drift": run_drift_check,
    "performance": run_performance_check,
    "fairness": run_fairness_check,
    "data_health": run_data_health_check,
}


def live_config(
    live: LiveModelConfig | dict[str, Any], model_id: str, model_name: str
) -> LiveModelConfig:
    """The flow's ``live`` parameter as a config, with the flow's model id and name as defaults."""
    if isinstance(live, LiveModelConfig):
        return live
    return LiveModelConfig.model_validate({"model_id": model_id, "model_name": model_name, **live})


# Not cached: a check reads the source as it is now (labels arrive late).
@task(name="live-check", cache_policy=NO_CACHE)
def live_check(kind: str, config: LiveModelConfig, when: datetime) -> CheckResult:
    return CHECKS[kind](config, when)


def run_live_checks(
    config: LiveModelConfig, kinds: Sequence[str], when: datetime
) -> list[CheckResult]:
    resolved = resolve_config(config)
    return [live_check.with_options(name=f"live-{kind}")(kind, resolved, when) for kind in kinds]


def default_kinds(config: LiveModelConfig) -> list[str]:
    """Drift and data health always; performance when there are scores and labels."""
    kinds = ["drift", "data_health"]
    has_output = config.score_column is not None or config.prediction_column is not None
    if has_output and (config.label_column is not None or config.outcomes is not None):
        kinds.append("performance")
    return kinds


def summary_lines(results: Sequence[CheckResult]) -> list[str]:
    """Markdown lines: each window's rows read and sampled, and what was not estimable."""
    lines: list[str] = []
    for result in results:
        for name, window in result.report.get("windows", {}).items():
            sampled = (
                f", sampled to {window['rows_sampled']:,}"
                if window["rows_sampled"] < window["rows_read"]
                else ""
            )
            lines.append(
                f"- {result.check} / {name} window {window['window']}: "
                f"{window['rows_read']:,} rows{sampled}"
            )
        lines += [f"- {result.check}: not estimable: {n}" for n in result.not_estimable]
    return lines


def live_fields(results: Sequence[CheckResult], when: datetime) -> dict[str, Any]:
    """Report fields shared by the flows' reports in live mode."""
    return {
        "scheduled_time": when.isoformat(),
        "rows_read": sum(r.rows_read for r in results),
        "rows_sampled": sum(r.rows_sampled for r in results),
        "not_estimable": [f"{r.check}: {n}" for r in results for n in r.not_estimable],
        "checks": {r.check: r.report for r in results},
    }
