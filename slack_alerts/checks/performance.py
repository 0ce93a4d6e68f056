"""Model performance on the rows labelled so far: scikit-learn's metrics, no I/O.

``performance_metrics`` computes, for binary classification (labels 0/1,
``score`` the predicted probability of 1, ``prediction`` the decided class):

- ``auroc``: ``roc_auc_score`` (needs both classes);
- ``average_precision``: ``average_precision_score`` (needs a positive);
- ``brier``: ``brier_score_loss``; ``log_loss``: ``log_loss`` (labels [0, 1]);
- ``accuracy``: ``accuracy_score``; ``f1``: ``f1_score`` (positive class 1);
- ``ece``: expected calibration error, ``sum_b (n_b / n) |mean(y)_b -
  mean(p)_b|`` over ``bins`` equal-width bins of the score (Naeini et al.,
  AAAI 2015; Guo et al., ICML 2017);

and for regression ``mae`` (``mean_absolute_error``) and ``rmse``
(``root_mean_squared_error``). A metric that cannot be estimated (AUROC
with one class present) is left out and named in ``not_estimable``, never
reported as 0 or 0.5.

Which way is worse is ``slack_alerts.checks.metrics.metric_direction``'s
rule (these names are all in its table). A window with fewer labelled rows
than ``min_labels`` is "not enough labels yet (n = ...)" and not judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from sklearn import metrics as skm

__all__ = [
    "CLASSIFICATION_METRICS",
    "REGRESSION_METRICS",
    "PerformanceResult",
    "PerformanceThresholds",
    "expected_calibration_error",
    "performance_metrics",
]

Task = Literal["classification", "regression"]
CLASSIFICATION_METRICS = (
    "auroc",
    "average_precision",
    "brier",
    "log_loss",
    "accuracy",
    "f1",
    "ece",
)
REGRESSION_METRICS = ("mae", "rmse")


class PerformanceThresholds(BaseModel):
    """When a window's labels are enough to judge it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_labels: int = Field(
        default=100, ge=1, description="Fewer labelled rows than this: not judged"
    )
    decision_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="Score at or above which the prediction is 1"
    )
    calibration_bins: int = Field(default=10, ge=2, le=100, description="Bins for ECE")
    metrics: list[str] | None = Field(
        default=None, description="Metrics to compute (default: all for the task)"
    )


@dataclass
class PerformanceResult:
    """Metrics of one window; ``judged`` False means not enough labels (see ``note``)."""

    n_labelled: int
    metrics: dict[str, float]
    judged: bool
    note: str = ""
    not_estimable: dict[str, str] = field(default_factory=dict)


def expected_calibration_error(
    y_true: npt.ArrayLike, score: npt.ArrayLike, bins: int = 10
) -> float:
    """ECE over ``bins`` equal-width score bins on [0, 1] (Guo et al., 2017).

    ``y_true`` 0/1, ``score`` probabilities in [0, 1], equal lengths, not
    empty. The last bin includes 1.0.
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(score, dtype=np.float64)
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(index, minlength=bins).astype(np.float64)
    hit = np.bincount(index, weights=y, minlength=bins)
    confidence = np.bincount(index, weights=p, minlength=bins)
    used = count > 0
    gap = np.abs(hit[used] / count[used] - confidence[used] / count[used])
    return float(np.sum(count[used] / len(y) * gap))


def _finite(values: Any, name: str) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    return array


def performance_metrics(
    y_true: Any,
    *,
    score: Any = None,
    prediction: Any = None,
    task: Task = "classification",
    thresholds: PerformanceThresholds | None = None,
) -> PerformanceResult:
    """Metrics of the labelled rows (rows whose label is missing are left out).

    Args:
        y_true: labels (0/1 for classification, numbers for regression), NaN
            where not yet known.
        score: predicted probability of class 1 (classification), or the
            predicted value (regression).
        prediction: decided class (0/1); default ``score >= decision_threshold``.
        task: ``"classification"`` or ``"regression"``.

    Raises:
        ValueError: no score and no prediction, lengths differ, or labels
            are not 0/1 for classification (naming the argument).
    """
    limits = thresholds or PerformanceThresholds()
    y = _finite(y_true, "y_true")
    s = None if score is None else _finite(score, "score")
    d = None if prediction is None else _finite(prediction, "prediction")
    if s is None and d is None:
        raise ValueError("score or prediction: give at least one")
    for name, values in (("score", s), ("prediction", d)):
        if values is not None and len(values) != len(y):
            raise ValueError(f"{name} has {len(values)} values, y_true {len(y)}")
    labelled = ~np.isnan(y)
    if s is not None:
        labelled &= ~np.isnan(s)
    if d is not None:
        labelled &= ~np.isnan(d)
    n = int(labelled.sum())
    if n < limits.min_labels:
        return PerformanceResult(
            n_labelled=n,
            metrics={},
            judged=False,
            note=f"not enough labels yet (n = {n}, minimum {limits.min_labels})",
        )
    y = y[labelled]
    s = s[labelled] if s is not None else None
    d = d[labelled] if d is not None else None
    wanted = limits.metrics or list(
        CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    )
    out: dict[str, float] = {}
    missing: dict[str, str] = {}
    if task == "regression":
        predicted = s if s is not None else d
        assert predicted is not None
        if "mae" in wanted:
            out["mae"] = float(skm.mean_absolute_error(y, predicted))
        if "rmse" in wanted:
            out["rmse"] = float(math.sqrt(skm.mean_squared_error(y, predicted)))
        return PerformanceResult(n_labelled=n, metrics=out, judged=True)

    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("y_true: classification labels must be 0 or 1")
    if d is None:
        assert s is not None
        d = (s >= limits.decision_threshold).astype(np.float64)
    both_classes = len(np.unique(y)) == 2
    for name in wanted:
        needs_score = name in ("auroc", "average_precision", "brier", "log_loss", "ece")
        if needs_score and s is None:
            missing[name] = "no score column"
            continue
        if name == "auroc":
            if both_classes:
                out[name] = float(skm.roc_auc_score(y, s))
            else:
                missing[name] = "only one class among the labelled rows"
        elif name == "average_precision":
            if y.sum() > 0:
                out[name] = float(skm.average_precision_score(y, s))
            else:
                missing[name] = "no positive label"
        elif name == "brier":
            out[name] = float(skm.brier_score_loss(y, s))
        elif name == "log_loss":
            out[name] = float(skm.log_loss(y, s, labels=[0, 1]))
        elif name == "accuracy":
            out[name] = float(skm.accuracy_score(y, d))
        elif name == "f1":
            if y.sum() > 0 or d.sum() > 0:
                out[name] = float(skm.f1_score(y, d, zero_division=np.nan))
            else:
                missing[name] = "no positive label or prediction"
        elif name == "ece":
            assert s is not None
            out[name] = expected_calibration_error(y, s, limits.calibration_bins)
        else:
            missing[name] = "not a metric computed here"
    return PerformanceResult(n_labelled=n, metrics=out, judged=True, not_estimable=missing)
