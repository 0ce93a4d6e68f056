"""Group fairness and the other FAVES checks: pure, vectorised, no I/O.

``group_metrics`` gives per group the count, the label counts, selection
rate, TPR, FNR, FPR and accuracy; ``fairness_summary`` the demographic
parity difference and ratio, the equalized-odds difference and each
group's disparate impact. They are computed with one ``pandas.factorize``
and a few ``numpy.bincount`` calls, and equal fairlearn's ``MetricFrame``
(``selection_rate``, ``true_positive_rate``, ``false_negative_rate``,
``false_positive_rate``, accuracy) and ``demographic_parity_*`` /
``equalized_odds_difference`` to 1e-9 wherever the rate can be estimated.

Where it cannot, we differ from fairlearn on purpose. A rate whose
denominator is empty is *not estimable*: TPR and FNR of a group without a
positive label, FPR of a group without a negative one, any rate of an empty
group, disparate impact when no group is ever selected (a ratio to 0), and
a gap between groups when fewer than two groups have the rate. fairlearn
returns 0 by convention there (a group with no positives has TPR 0 *and*
FNR 0); we return NaN, ``not_estimable`` says which value and why, and no
FAVES rule judges it: 0 would read as "every case missed" and raise a
safety alert for a group in which there was nothing to miss. Gaps and
ratios are taken over the groups whose rate is estimable.

Labels are binary with 1 as the positive class. Missing values in a
sensitive feature form their own group, ``"(missing)"``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from slack_alerts.models import FAVESViolation, SeverityLevel

MISSING_GROUP = "(missing)"
RULES = ("fairness", "equalized_odds", "validity", "safety")


class FairnessThresholds(BaseModel):
    """FAVES rules. Defaults follow the four-fifths rule; all overridable."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

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
    min_rate_denominator: int = Field(
        default=10,
        ge=1,
        description=(
            "A rate estimated from fewer cases than this (positive labels for TPR/FNR, "
            "negative labels for FPR, rows otherwise) is reported, not judged: from 9 cases "
            "its 95% interval is wider than +/-0.25"
        ),
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


def _rate(numerator: npt.NDArray[np.float64], denominator: npt.NDArray[np.float64]) -> Any:
    """numerator / denominator, NaN where the denominator is 0 (not estimable)."""
    return np.divide(
        numerator,
        denominator,
        out=np.full_like(numerator, np.nan),
        where=denominator > 0,
    )


def group_metrics(y_true: Any, y_pred: Any, sensitive_features: Any) -> pd.DataFrame:
    """One row per group (indexed by a readable label, sorted).

    Columns: ``count``, ``positives`` and ``negatives`` (true labels),
    ``selection_rate`` (predicted positive / count), ``tpr`` (true positives
    / positives), ``fnr`` (false negatives / positives), ``fpr`` (false
    positives / negatives), ``accuracy``. A rate with an empty denominator
    is NaN (see the module docstring and ``not_estimable``).

    Raises:
        ValueError: labels are not binary 0/1, or the three inputs differ
            in length (naming the argument).
    """
    truth = _binary(y_true, "y_true")
    predicted = _binary(y_pred, "y_pred")
    if len(truth) != len(predicted):
        raise ValueError(f"y_pred has {len(predicted)} rows but y_true has {len(truth)}")
    codes, labels = _groups(sensitive_features, len(truth))
    k = len(labels)

    def per_group(weights: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.float64]:
        return np.asarray(np.bincount(codes, weights=weights, minlength=k), dtype=np.float64)

    count = per_group()
    positives = per_group(truth)
    predicted_positive = per_group(predicted)
    true_positive = per_group(truth * predicted)
    correct = per_group((truth == predicted).astype(np.float64))
    return pd.DataFrame(
        {
            "count": count.astype(np.int64),
            "positives": positives.astype(np.int64),
            "negatives": (count - positives).astype(np.int64),
            "selection_rate": _rate(predicted_positive, count),
            "tpr": _rate(true_positive, positives),
            "fnr": _rate(positives - true_positive, positives),
            "fpr": _rate(predicted_positive - true_positive, count - positives),
            "accuracy": _rate(correct, count),
        },
        index=pd.Index(labels, name="group"),
    )


def _estimable(values: pd.Series) -> pd.Series:
    return values[values.notna()]


def _gap(values: pd.Series) -> float:
    """Largest minus smallest over the groups with the rate; NaN with fewer than two."""
    known = _estimable(values)
    return float(known.max() - known.min()) if len(known) >= 2 else math.nan


def _ratio(values: pd.Series) -> float:
    """Smallest over largest; NaN with fewer than two groups or a largest of 0."""
    known = _estimable(values)
    if len(known) < 2 or not float(known.max()) > 0:
        return math.nan
    return float(known.min()) / float(known.max())


def _harmful(groups: pd.DataFrame, outcome: str) -> pd.Series:
    if outcome == "false_positive":
        return groups["fpr"]
    # Tables made before fnr was a column: 1 - TPR, NaN where TPR is NaN.
    return groups["fnr"] if "fnr" in groups else 1.0 - groups["tpr"]


def summarize(groups: pd.DataFrame, thresholds: FairnessThresholds | None = None) -> dict[str, Any]:
    """The fairness summary of a ``group_metrics`` table (or a subset of its rows).

    ``demographic_parity_difference`` / ``_ratio`` over the selection rates;
    ``equalized_odds_difference``, the larger of the TPR and FPR gaps (each
    over the groups where it is estimable; NaN when neither is);
    ``disparate_impact``, each group's selection rate over the most favoured
    group's (NaN when that is 0). ``not_estimable`` lists what is NaN and why
    (``not_estimable(groups, thresholds)`` as dicts).
    """
    selection = groups["selection_rate"]
    known = _estimable(selection)
    top = float(known.max()) if len(known) else math.nan
    gaps = [g for g in (_gap(groups["tpr"]), _gap(groups["fpr"])) if not math.isnan(g)]
    return {
        "demographic_parity_difference": _gap(selection),
        "demographic_parity_ratio": _ratio(selection),
        "equalized_odds_difference": max(gaps) if gaps else math.nan,
        "disparate_impact": {
            str(g): (float(v) / top if top > 0 and not math.isnan(v) else math.nan)
            for g, v in selection.items()
        },
        "not_estimable": [entry.as_dict() for entry in not_estimable(groups, thresholds)],
    }


def fairness_summary(y_true: Any, y_pred: Any, sensitive_features: Any) -> dict[str, Any]:
    """demographic_parity_difference / _ratio, equalized_odds_difference
    (worst of the TPR and FPR gaps), disparate_impact per group (its
    selection rate over the most favoured group's), and ``not_estimable``."""
    return summarize(group_metrics(y_true, y_pred, sensitive_features))


@dataclass(frozen=True)
class NotEstimable:
    """A value that could not be estimated, why, and the FAVES rules left without it.

    ``group`` is None for a value across groups (a ratio or a gap).
    """

    metric: str
    reason: str
    group: str | None = None
    rules: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"rules": list(self.rules)}


_RATES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # rate: (denominator column, what an empty one means, rules that use the rate)
    "selection_rate": ("count", "the group is empty", ("fairness",)),
    "tpr": ("positives", "no positive label in the group", ("equalized_odds",)),
    "fnr": ("positives", "no positive label in the group", ("safety",)),
    "fpr": ("negatives", "no negative label in the group", ("equalized_odds", "safety")),
    "accuracy": ("count", "the group is empty", ("validity",)),
}
_CASES = {"count": "rows", "positives": "positive labels", "negatives": "negative labels"}


def judgeable(groups: pd.DataFrame, thresholds: FairnessThresholds | None = None) -> pd.DataFrame:
    """The table as the rules see it: a rate from too few cases is NaN.

    ``min_rate_denominator`` applies to each rate's own denominator (a group
    of 200 with one positive label has an FNR from one case). Tables
    without the label counts are returned as they are.
    """
    limits = thresholds or FairnessThresholds()
    masked = groups.copy()
    for metric, (denominator, _, _) in _RATES.items():
        if metric in masked and denominator in masked:
            few = masked[denominator] < limits.min_rate_denominator
            masked.loc[few, metric] = math.nan
    return masked


def not_estimable(
    groups: pd.DataFrame, thresholds: FairnessThresholds | None = None
) -> list[NotEstimable]:
    """Every NaN of a ``group_metrics`` table and of its summary, with the reason.

    Per group: each rate whose denominator is empty. Across groups (over the
    groups large enough to judge, as the FAVES rules see them): disparate
    impact when no group is selected, and the TPR and FPR gaps when fewer
    than two groups have the rate. ``rules`` names the FAVES rules that
    could not use the value (empty for a group too small to be judged
    anyway); ``fpr`` feeds ``safety`` only when ``harmful_outcome`` is
    ``false_positive``, ``fnr`` only when it is ``false_negative``.
    """
    limits = thresholds or FairnessThresholds()
    harmful = "fpr" if limits.harmful_outcome == "false_positive" else "fnr"
    judged = {str(g): bool(c >= limits.min_group_size) for g, c in groups["count"].items()}
    found: list[NotEstimable] = []
    for metric, (denominator, reason, rules) in _RATES.items():
        if metric not in groups:
            continue
        used = tuple(r for r in rules if r != "safety" or metric == harmful)
        # Without the label counts in the table, only that the value is missing is known.
        why = reason if denominator in groups else "no value (empty denominator)"
        counts = groups[denominator].tolist() if denominator in groups else [None] * len(groups)
        for group, value, cases in zip(groups.index, groups[metric], counts, strict=True):
            label = str(group)
            if math.isnan(value):
                found.append(NotEstimable(metric, why, label, used if judged[label] else ()))
            elif cases is not None and cases < limits.min_rate_denominator:
                few = (
                    f"only {cases} {_CASES[denominator]} in the group "
                    f"(fewer than min_rate_denominator = {limits.min_rate_denominator})"
                )
                found.append(NotEstimable(metric, few, label, used if judged[label] else ()))
    eligible = judgeable(groups[groups["count"] >= limits.min_group_size], limits)
    if len(eligible) >= 2:
        selected = _estimable(eligible["selection_rate"])
        if len(selected) and not float(selected.max()) > 0:
            found.append(
                NotEstimable(
                    "disparate_impact",
                    "no group has a positive prediction: ratios to a selection rate of 0",
                    rules=("fairness",),
                )
            )
        for metric, label in (("tpr", "positive"), ("fpr", "negative")):
            if metric in eligible and len(_estimable(eligible[metric])) < 2:
                found.append(
                    NotEstimable(
                        f"{metric}_gap",
                        f"fewer than two groups with enough {label} labels "
                        f"(min_rate_denominator = {limits.min_rate_denominator})",
                        rules=("equalized_odds",),
                    )
                )
    return found


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
    forgotten. A value that is not estimable (NaN, or from fewer cases than
    ``min_rate_denominator``, see ``not_estimable``) is left out of every rule
    too: no rule reads a missing rate as 0.
    """
    limits = thresholds or FairnessThresholds()
    eligible = judgeable(groups[groups["count"] >= limits.min_group_size], limits)
    small = [str(g) for g in groups.index[groups["count"] < limits.min_group_size]]
    base: dict[str, Any] = {"min_group_size": limits.min_group_size}
    if small:
        base["groups_too_small_to_judge"] = small
    if len(eligible) < 2:
        return []
    summary = summarize(eligible, limits)
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
        # The rate whose gap is the difference (a NaN gap is never it).
        worst = "tpr" if _gap(eligible["tpr"]) == eod else "fpr"
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
        rate = _harmful(eligible, limits.harmful_outcome)
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


def rule_verdicts(
    model_id: str,
    model_name: str,
    findings: list[FairnessFinding],
    missing: list[dict[str, Any]],
) -> tuple[list[str], list[str]]:
    """(rules left unjudged, fingerprints of rules found healthy).

    A rule that lacked a value it needed (``missing``: the ``not_estimable``
    entries as dicts) was not fully checked: it neither fires nor resolves
    an alert that is firing.
    """
    failed = {f.violation_type for f in findings}
    unjudged = sorted({rule for entry in missing for rule in entry["rules"]} - failed)
    healthy = [
        FAVESViolation(model_id=model_id, model_name=model_name, violation_type=rule).fingerprint
        for rule in RULES
        if rule not in failed and rule not in unjudged
    ]
    return unjudged, healthy


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
