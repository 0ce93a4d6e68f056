"""Model performance on the rows labelled so far: scikit-learn's metrics, no I/O.

``performance_metrics`` computes, for binary classification (labels 0/1,
``score`` the predicted probability of 1, ``prediction`` the decided class):

- ``auroc``: ``roc_auc_score`` (needs both classes);
- ``average_precision``: ``average_precision_score`` (needs a positive);
- ``brier``: ``brier_score_loss``; ``log_loss``: ``log_loss`` (labels [0, 1]);
- ``accuracy``: ``accuracy_score``; ``f1``: ``f1_score`` (positive class 1);
- ``ece``: expected calibration error, ``sum_b (n_b / n) |mean(y)_b -
  mean(p)_b|`` over ``bins`` equal-width bins of the score (Naeini et al.,
  AAAI 2015; Guo et al., ICML 2017). This estimator is biased upwards, and
  the more so the fewer rows: a perfectly calibrated model reads about 0.09
  on 200 rows and 0.02 on 5,000 (Kumar, Liang & Ma, "Verified Uncertainty
  Calibration", NeurIPS 2019, sec. 5; Roelofs et al., "Mitigating Bias in
  Calibration Error Estimation", AISTATS 2022). Two windows of different
  sizes are therefore compared with ``ece_against_reference``, never by the
  relative change of their raw values;

and for regression ``mae`` (``mean_absolute_error``) and ``rmse``
(``root_mean_squared_error``). A metric that cannot be estimated (AUROC
with one class present) is left out and named in ``not_estimable``, never
reported as 0 or 0.5. Scores outside [0, 1] (logits, a 0-100 scale) are
not probabilities: Brier, log loss and ECE are not estimable, nor are
accuracy and F1 unless a ``prediction`` is given (a cut at
``decision_threshold`` means nothing on that scale); the rank metrics,
AUROC and average precision, are still computed.

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
    "PROBABILITY_METRICS",
    "REGRESSION_METRICS",
    "CalibrationComparison",
    "PerformanceResult",
    "PerformanceThresholds",
    "ece_against_reference",
    "expected_calibration_error",
    "not_probabilities",
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
# Metrics of a predicted probability: not estimable from logits or 0-100 scores.
PROBABILITY_METRICS = ("brier", "log_loss", "ece")


def not_probabilities(score: Any) -> str:
    """Why ``score`` cannot be read as probabilities ("" if it can: all in [0, 1] or NaN)."""
    values = np.asarray(score, dtype=np.float64)
    known = values[~np.isnan(values)]
    if not len(known) or (known.min() >= 0.0 and known.max() <= 1.0):
        return ""
    return (
        f"not estimable: scores are not probabilities in [0, 1] "
        f"(seen {known.min():.4g} to {known.max():.4g}; logits or a 0-100 scale?)"
    )


class PerformanceThresholds(BaseModel):
    """When a window's labels are enough to judge it."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

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


def score_bins(score: npt.NDArray[np.float64], bins: int) -> npt.NDArray[np.intp]:
    """Each score's bin: k where ``k / bins <= score < (k + 1) / bins``, 1.0 in the last.

    Compared with the edges ``k / bins`` themselves: ``floor(score * bins)``
    puts a score that is exactly an edge one bin too low when the product
    rounds down (0.29 * 100 = 28.999999999999996).
    """
    edges = np.arange(1, bins, dtype=np.float64) / bins
    return np.searchsorted(edges, score, side="right")


def expected_calibration_error(
    y_true: npt.ArrayLike, score: npt.ArrayLike, bins: int = 10
) -> float:
    """ECE over ``bins`` equal-width score bins on [0, 1] (Guo et al., 2017).

    ``y_true`` 0/1, ``score`` probabilities in [0, 1], equal lengths, not
    empty. Bin k is ``[k/bins, (k+1)/bins)``; the last bin includes 1.0.
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(score, dtype=np.float64)
    index = score_bins(p, bins)
    count = np.bincount(index, minlength=bins).astype(np.float64)
    hit = np.bincount(index, weights=y, minlength=bins)
    confidence = np.bincount(index, weights=p, minlength=bins)
    used = count > 0
    gap = np.abs(hit[used] / count[used] - confidence[used] / count[used])
    return float(np.sum(count[used] / len(y) * gap))


@dataclass(frozen=True)
class CalibrationComparison:
    """The current window's ECE against the reference's, at the current's size.

    ``reference_at_size``: the mean ECE of ``draws`` bootstrap samples of
    the reference's labelled rows, each as large as the current window (the
    baseline with the same small-sample bias as ``current``); ``p_value``:
    the share of those samples whose ECE is at least ``current``, i.e. how
    often rows behaving like the reference's look this miscalibrated at this
    sample size.
    """

    current: float
    reference_at_size: float
    p_value: float
    draws: int
    n_current: int
    n_reference: int


def _labelled_scores(
    y_true: Any, score: Any
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    y = _finite(y_true, "y_true")
    p = _finite(score, "score")
    keep = ~(np.isnan(y) | np.isnan(p))
    return y[keep], p[keep]


def ece_against_reference(
    y_current: Any,
    score_current: Any,
    y_reference: Any,
    score_reference: Any,
    *,
    bins: int = 10,
    draws: int = 200,
    seed: int = 0,
) -> CalibrationComparison:
    """Compare ECE between windows of different sizes: a parametric-free bootstrap test.

    Binned ECE is biased upwards by an amount that shrinks with the number
    of rows (Kumar et al., NeurIPS 2019, sec. 5; Roelofs et al., AISTATS
    2022), so a 200-row window against a 5,000-row reference reads "+400 %"
    on a perfectly calibrated, stable model. Instead, the reference's
    labelled rows are resampled with replacement ``draws`` times at the
    current window's size (Efron & Tibshirani, *An Introduction to the
    Bootstrap*, 1993, ch. 16): the mean of those ECEs is the baseline at the
    same size (the same bias), and ``p_value = (1 + #{ECE_b >= ECE_current})
    / (draws + 1)`` (Davison & Hinkley, *Bootstrap Methods*, 1997, eq. 4.11)
    says whether the current window is more miscalibrated than sampling
    noise explains. Rows with a missing label or score are left out.
    Deterministic for a given ``seed``.

    Raises:
        ValueError: a window has no labelled row with a score.
    """
    y_cur, p_cur = _labelled_scores(y_current, score_current)
    y_ref, p_ref = _labelled_scores(y_reference, score_reference)
    if not len(y_cur) or not len(y_ref):
        raise ValueError("y_true: a window has no labelled row with a score")
    current = expected_calibration_error(y_cur, p_cur, bins)
    n = len(y_cur)
    rng = np.random.default_rng(seed)
    index_ref = score_bins(p_ref, bins)
    block = max(1, 2_000_000 // n)
    values: list[npt.NDArray[np.float64]] = []
    for start in range(0, draws, block):
        k = min(block, draws - start)
        rows = rng.integers(0, len(y_ref), size=(k, n))
        cell = (index_ref[rows] + bins * np.arange(k)[:, None]).ravel()
        hit = np.bincount(cell, weights=y_ref[rows].ravel(), minlength=k * bins).reshape(k, bins)
        conf = np.bincount(cell, weights=p_ref[rows].ravel(), minlength=k * bins).reshape(k, bins)
        # sum_b (n_b / n) |hit_b / n_b - conf_b / n_b| = sum_b |hit_b - conf_b| / n
        values.append(np.abs(hit - conf).sum(axis=1) / n)
    sample = np.concatenate(values)
    p_value = (1.0 + float(np.sum(sample >= current - 1e-12))) / (draws + 1.0)
    return CalibrationComparison(
        current=current,
        reference_at_size=float(sample.mean()),
        p_value=p_value,
        draws=draws,
        n_current=n,
        n_reference=len(y_ref),
    )


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
    not_probability = "" if s is None else not_probabilities(s)
    if d is None and not not_probability:
        assert s is not None
        d = (s >= limits.decision_threshold).astype(np.float64)
    both_classes = len(np.unique(y)) == 2
    for name in wanted:
        needs_score = name in ("auroc", "average_precision", "brier", "log_loss", "ece")
        if needs_score and s is None:
            missing[name] = "no score column"
            continue
        if name in PROBABILITY_METRICS and not_probability:
            missing[name] = not_probability
            continue
        if name in ("accuracy", "f1") and d is None:
            missing[name] = (
                f"{not_probability}: a cut at decision_threshold means nothing; "
                "give prediction_column"
            )
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
            assert d is not None
            out[name] = float(skm.accuracy_score(y, d))
        elif name == "f1":
            assert d is not None
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
