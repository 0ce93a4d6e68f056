"""Group fairness and the other FAVES checks: pure, vectorised, no I/O.

``group_metrics`` and ``fairness_summary`` equal fairlearn's ``MetricFrame``
values (selection rate, TPR, FPR, accuracy, count) and its
``demographic_parity_*`` / ``equalized_odds_difference`` to 1e-9, computed
with one ``pandas.factorize`` and a few ``numpy.bincount`` calls instead of a
loop over rows or groups.

Conventions (fairlearn's): binary labels with 1 as the positive class; a
group with no positives has TPR 0, with no negatives FPR 0. Missing values
in a sensitive feature form their own group, ``"(missing)"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from slack_alerts.models import FAVESViolation, SeverityLevel

MISSING_GROUP = "(missing)"


class FairnessThresholds(BaseModel):
    """FAVES rules. Defaults follow the four-fifths rule; all overridable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_ratio: float = Field(
        default=0.8, gt=0, le=1, description="Disparate impact below this is a violation"
    )
    critical_ratio: float = Field(
        default=0.6, gt=0, le=1, description="Disparate impact below this is CRITICAL"
    )
    max_equalized_odds_difference: float = Field(
        default=0.2, gt=0, le=1, description="Worst TPR/FPR gap allowed between groups"
    )
    min_group_size: int = Field(
        default=30, ge=1, description="Smaller groups are reported but not alerted on"
    )
    min_accuracy: float | None = Field(
        default=0.7, ge=0, le=1, description="Validity: accuracy floor per group (None: off)"
    )
    max_harmful_rate: float | None = Field(
        default=0.3, ge=0, le=1, description="Safety: ceiling on the harmful-outcome rate"
    )
    harmful_outcome: Literal["false_negative", "false_positive"] = Field(
        default="false_negative",
        description="Which error harms patients: missed cases (FNR) or false alarms (FPR)",
    )


def _binary(values: Any, name: str) -> npt.NDArray[np.float64]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if array.dtype == bool:
        return array.astype(np.float64)
    try:
        numbers = array.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold binary labels 0/1") from None
    if not np.isin(numbers, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold binary labels 0/1 (1 is the positive class)")
    return numbers


def _groups(sensitive_features: Any, n: int) -> tuple[npt.NDArray[np.intp], list[str]]:
    """Integer codes per row and a readable label per group."""
    if isinstance(sensitive_features, pd.DataFrame):
        if sensitive_features.shape[1] == 0:
            raise ValueError("sensitive_features has no columns")
        frame = sensitive_features.astype(object).where(sensitive_features.notna(), MISSING_GROUP)
        keys = pd.MultiIndex.from_frame(frame) if frame.shape[1] > 1 else frame.iloc[:, 0]
    else:
        series = pd.Series(np.asarray(sensitive_features, dtype=object))
        if series.ndim != 1:
            raise ValueError("sensitive_features must be one-dimensional or a DataFrame")
        keys = series.where(series.notna(), MISSING_GROUP)
    if len(keys) != n:
        raise ValueError(f"sensitive_features has {len(keys)} rows but y_true has {n}")
    codes, uniques = pd.factorize(keys, sort=True)
    labels = [", ".join(map(str, u)) if isinstance(u, tuple) else str(u) for u in uniques]
    return codes, labels


def _safe_ratio(numerator: npt.NDArray[np.float64], denominator: npt.NDArray[np.float64]) -> Any:
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def group_metrics(y_true: Any, y_pred: Any, sensitive_features: Any) -> pd.DataFrame:
    """One row per group: count, selection_rate, tpr, fpr, accuracy."""
    truth = _binary(y_true, "y_true")
    predicted = _binary(y_pred, "y_pred")
    if len(truth) != len(predicted):
        raise ValueError(f"y_pred has {len(predicted)} rows but y_true has {len(truth)}")
    codes, labels = _groups(sensitive_features, len(truth))
    k = len(labels)
    count = np.bincount(codes, minlength=k).astype(np.float64)
    predicted_positive = np.bincount(codes, weights=predicted, minlength=k)
    predicted_positive = np.asarray(predicted_positive, dtype=np.float64)
    positives = np.asarray(np.bincount(codes, weights=truth, minlength=k), dtype=np.float64)
    true_positive = np.asarray(
        np.bincount(codes, weights=truth * predicted, minlength=k), dtype=np.float64
    )
    correct = np.bincount(codes, weights=(truth == predicted).astype(np.float64), minlength=k)
    table = pd.DataFrame(
        {
            "count": count.astype(np.int64),
            "selection_rate": predicted_positive / count,
            "tpr": _safe_ratio(true_positive, positives),
            "fpr": _safe_ratio(predicted_positive - true_positive, count - positives),
            "accuracy": correct / count,
        },
        index=pd.Index(labels, name="group"),
    )
    return table


def _gap(values: pd.Series) -> float:
    return float(values.max() - values.min())


def _ratio(values: pd.Series) -> float:
    top = float(values.max())
    return float(values.min()) / top if top > 0 else math.nan


def summarize(groups: pd.DataFrame) -> dict[str, Any]:
    """The fairness summary of a ``group_metrics`` table (or a subset of its rows)."""
    selection = groups["selection_rate"]
    top = float(selection.max())
    return {
        "demographic_parity_difference": _gap(selection),
        "demographic_parity_ratio": _ratio(selection),
        "equalized_odds_difference": max(_gap(groups["tpr"]), _gap(groups["fpr"])),
        "disparate_impact": {
            str(g): (float(v) / top if top > 0 else math.nan) for g, v in selection.items()
        },
    }


def fairness_summary(y_true: Any, y_pred: Any, sensitive_features: Any) -> dict[str, Any]:
    """demographic_parity_difference / _ratio, equalized_odds_difference
    (worst of the TPR and FPR gaps) and disparate_impact per group (its
    selection rate over the most favoured group's)."""
    return summarize(group_metrics(y_true, y_pred, sensitive_features))


@dataclass(frozen=True)
class FairnessFinding:
    """One FAVES rule that failed, ready to become a FAVESViolation."""

    violation_type: str
    severity: SeverityLevel
    description: str
    affected_groups: list[str]
    details: dict[str, Any] = field(default_factory=dict)


def fairness_findings(
    groups: pd.DataFrame, thresholds: FairnessThresholds | None = None
) -> list[FairnessFinding]:
    """Apply the FAVES rules to a ``group_metrics`` table.

    Groups smaller than ``min_group_size`` are left out of every rule (their
    rates are noise), and are named in the details so nobody thinks they were
    forgotten.
    """
    limits = thresholds or FairnessThresholds()
    eligible = groups[groups["count"] >= limits.min_group_size]
    small = [str(g) for g in groups.index[groups["count"] < limits.min_group_size]]
    base: dict[str, Any] = {"min_group_size": limits.min_group_size}
    if small:
        base["groups_too_small_to_judge"] = small
    if len(eligible) < 2:
        return []
    summary = summarize(eligible)
    findings = []

    impact = summary["disparate_impact"]
    low = {g: r for g, r in impact.items() if not math.isnan(r) and r < limits.min_ratio}
    if low:
        ratio = min(low.values())
        favoured = str(eligible["selection_rate"].idxmax())
        findings.append(
            FairnessFinding(
                violation_type="fairness",
                severity=SeverityLevel.CRITICAL
                if ratio < limits.critical_ratio
                else SeverityLevel.WARNING,
                description=(
                    f"Selection-rate ratio {ratio:.2f} is below the four-fifths rule "
                    f"({limits.min_ratio:.2f}) against the most favoured group ({favoured})."
                ),
                affected_groups=sorted(low, key=low.__getitem__),
                details={
                    **base,
                    "demographic_parity_ratio": summary["demographic_parity_ratio"],
                    "demographic_parity_difference": summary["demographic_parity_difference"],
                    "disparate_impact": {g: round(r, 4) for g, r in low.items()},
                },
            )
        )

    eod = summary["equalized_odds_difference"]
    if eod > limits.max_equalized_odds_difference:
        worst = "tpr" if _gap(eligible["tpr"]) >= _gap(eligible["fpr"]) else "fpr"
        findings.append(
            FairnessFinding(
                violation_type="equalized_odds",
                severity=SeverityLevel.WARNING,
                description=(
                    f"Error rates differ across groups: equalized-odds difference {eod:.2f} "
                    f"exceeds {limits.max_equalized_odds_difference:.2f} "
                    f"(largest gap in {worst.upper()})."
                ),
                affected_groups=[str(eligible[worst].idxmin()), str(eligible[worst].idxmax())],
                details={**base, "equalized_odds_difference": eod},
            )
        )

    if limits.min_accuracy is not None:
        weak = eligible[eligible["accuracy"] < limits.min_accuracy]
        if len(weak):
            findings.append(
                FairnessFinding(
                    violation_type="validity",
                    severity=SeverityLevel.WARNING,
                    description=(
                        f"Accuracy below the floor of {limits.min_accuracy:.2f} for "
                        f"{len(weak)} group(s)."
                    ),
                    affected_groups=[str(g) for g in weak.index],
                    details={
                        **base,
                        "accuracy": {
                            str(g): round(float(a), 4) for g, a in weak["accuracy"].items()
                        },
                    },
                )
            )

    if limits.max_harmful_rate is not None:
        rate = (
            1.0 - eligible["tpr"] if limits.harmful_outcome == "false_negative" else eligible["fpr"]
        )
        harmed = rate[rate > limits.max_harmful_rate]
        if len(harmed):
            label = (
                "missed-case (false-negative)"
                if limits.harmful_outcome == "false_negative"
                else "false-alarm"
            )
            findings.append(
                FairnessFinding(
                    violation_type="safety",
                    severity=SeverityLevel.CRITICAL,
                    description=(
                        f"The {label} rate exceeds {limits.max_harmful_rate:.2f} for "
                        f"{len(harmed)} group(s)."
                    ),
                    affected_groups=[str(g) for g in harmed.index],
                    details={
                        **base,
                        "harmful_rate": {str(g): round(float(r), 4) for g, r in harmed.items()},
                    },
                )
            )
    return findings


def faves_violations(
    model_id: str, model_name: str, findings: list[FairnessFinding]
) -> list[FAVESViolation]:
    return [
        FAVESViolation(
            model_id=model_id,
            model_name=model_name,
            violation_type=f.violation_type,
            description=f.description,
            severity=f.severity,
            affected_groups=f.affected_groups,
            details=f.details,
        )
        for f in findings
    ]
