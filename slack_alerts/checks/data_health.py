"""Silence is not health: data-health rules over a window, pure, no I/O.

- **volume**: a window with fewer than ``min_rows`` rows (CRITICAL: the
  model stopped scoring, or its feed broke), or whose row rate is below
  ``min_volume_ratio`` times the reference's rate (WARNING);
- **missing share**: a feature whose share of missing values rose by more
  than ``max_missing_increase`` (absolute, e.g. 0.02 -> 0.30) over the
  reference (WARNING);
- **labels**: rows old enough to have their label (``label_delay_hours``)
  whose labelled share fell below ``min_label_ratio`` times the reference's
  labelled share (WARNING; CRITICAL when none at all has a label).

Each rule gives a ``HealthFinding``; ``health_alerts`` turns findings into
``DriftAlert``s with metrics ``data_health:rows``,
``data_health:missing:<feature>`` and ``data_health:labels``. A rule that
could not be evaluated (no reference rows, no rows in the label window) is
reported as not estimable and neither fires nor resolves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from slack_alerts.models import DriftAlert, SeverityLevel

__all__ = [
    "DataHealthThresholds",
    "HealthFinding",
    "health_alerts",
    "label_arrival",
    "missing_share_jumps",
    "row_volume",
]


class DataHealthThresholds(BaseModel):
    """Thresholds of the data-health rules. All overridable."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    min_rows: int = Field(default=1, ge=1, description="Fewer rows in a window: CRITICAL")
    min_volume_ratio: float = Field(
        default=0.5, ge=0, le=1, description="Row rate below this share of the reference's: WARNING"
    )
    max_missing_increase: float = Field(
        default=0.1, gt=0, le=1, description="Rise of a feature's missing share that alerts"
    )
    label_delay_hours: float = Field(
        default=24.0, ge=0, description="Age after which a row is expected to have its label"
    )
    min_label_ratio: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Labelled share below this share of the reference's: labels stopped",
    )
    check_labels: bool = True


@dataclass
class HealthFinding:
    """One rule's verdict. ``firing`` None: not estimable (see ``note``)."""

    metric: str
    firing: bool | None
    current: float
    baseline: float
    threshold: float
    severity: SeverityLevel = SeverityLevel.INFO
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def row_volume(
    rows: int,
    hours: float,
    reference_rows: int | None,
    reference_hours: float | None,
    thresholds: DataHealthThresholds | None = None,
) -> HealthFinding:
    """The volume rule: ``rows`` in a window of ``hours`` against the reference's rate."""
    limits = thresholds or DataHealthThresholds()
    rate = rows / hours if hours > 0 else float(rows)
    if rows < limits.min_rows:
        return HealthFinding(
            "data_health:rows",
            True,
            float(rows),
            float(limits.min_rows),
            float(limits.min_rows),
            SeverityLevel.CRITICAL,
            note=f"{rows} rows in the window (minimum {limits.min_rows}): "
            "the model stopped scoring, or its feed broke",
            details={"rows": rows, "window_hours": hours},
        )
    if not reference_rows or not reference_hours:
        return HealthFinding(
            "data_health:rows",
            False,
            rate,
            float("nan"),
            limits.min_volume_ratio,
            note="enough rows; no reference rows to compare the rate with",
            details={"rows": rows, "window_hours": hours},
        )
    expected = reference_rows / reference_hours
    ratio = rate / expected
    low = ratio < limits.min_volume_ratio
    return HealthFinding(
        "data_health:rows",
        low,
        rate,
        expected,
        limits.min_volume_ratio,
        SeverityLevel.WARNING if low else SeverityLevel.INFO,
        note=(
            f"{rate:.4g} rows/hour, {ratio:.0%} of the reference's {expected:.4g}"
            + (" (far fewer than usual)" if low else "")
        ),
        details={"rows": rows, "rows_per_hour": round(rate, 3), "ratio": round(ratio, 4)},
    )


def missing_share_jumps(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    thresholds: DataHealthThresholds | None = None,
) -> list[HealthFinding]:
    """One finding per column in both frames: the rise of its missing share."""
    limits = thresholds or DataHealthThresholds()
    findings = []
    for column in columns:
        metric = f"data_health:missing:{column}"
        if column not in reference.columns or column not in current.columns:
            continue
        if len(reference) == 0 or len(current) == 0:
            findings.append(
                HealthFinding(metric, None, float("nan"), float("nan"), 0.0, note="no rows")
            )
            continue
        before = float(reference[column].isna().mean())
        now = float(current[column].isna().mean())
        jump = now - before
        firing = jump > limits.max_missing_increase
        findings.append(
            HealthFinding(
                metric,
                firing,
                now,
                before,
                limits.max_missing_increase,
                SeverityLevel.WARNING if firing else SeverityLevel.INFO,
                note=f"missing share {before:.1%} -> {now:.1%}",
                details={"feature": column, "increase": round(jump, 4)},
            )
        )
    return findings


def label_arrival(
    labelled: int,
    rows: int,
    reference_labelled: int,
    reference_rows: int,
    thresholds: DataHealthThresholds | None = None,
) -> HealthFinding:
    """Whether labels still arrive: the labelled share of rows old enough to have labels."""
    limits = thresholds or DataHealthThresholds()
    metric = "data_health:labels"
    if rows == 0 or reference_rows == 0 or reference_labelled == 0:
        return HealthFinding(
            metric,
            None,
            float("nan"),
            float("nan"),
            limits.min_label_ratio,
            note="not estimable: no rows old enough to have labels, or none labelled in the "
            "reference",
        )
    share = labelled / rows
    expected = reference_labelled / reference_rows
    firing = share < limits.min_label_ratio * expected
    severity = (
        (SeverityLevel.CRITICAL if labelled == 0 else SeverityLevel.WARNING)
        if firing
        else SeverityLevel.INFO
    )
    return HealthFinding(
        metric,
        firing,
        share,
        expected,
        limits.min_label_ratio,
        severity,
        note=f"{share:.1%} of rows older than {limits.label_delay_hours:g} h labelled "
        f"(reference {expected:.1%})" + ("; labels stopped arriving" if firing else ""),
        details={"labelled": labelled, "rows": rows},
    )


def health_alerts(
    model_id: str,
    model_name: str,
    findings: Sequence[HealthFinding],
    extra: Mapping[str, Any] | None = None,
) -> list[DriftAlert]:
    """A ``DriftAlert`` per firing finding; ``details`` has ``check="data_health"``, ``note``."""
    return [
        DriftAlert(
            model_id=model_id,
            model_name=model_name,
            metric=f.metric,
            current_value=f.current,
            baseline_value=f.baseline if f.baseline == f.baseline else 0.0,
            threshold=f.threshold,
            severity=f.severity,
            details={"check": "data_health", "note": f.note, **f.details, **(extra or {})},
        )
        for f in findings
        if f.firing
    ]


def health_fingerprint(model_id: str, model_name: str, metric: str) -> str:
    """The fingerprint a finding's alert has (for resolving it when healthy)."""
    return DriftAlert(
        model_id=model_id,
        model_name=model_name,
        metric=metric,
        current_value=0.0,
        baseline_value=0.0,
        threshold=0.0,
    ).fingerprint
