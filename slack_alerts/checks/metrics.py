"""Which way is better for a model metric: the one place that decides it.

``performance_drift`` calls a fall in AUROC a degradation and a rise in MAE
a degradation. Reading a loss as higher-is-better turns a tripled error into
"improved" and a halved one into CRITICAL, so the direction is never
guessed:

1. a direction the user declared for the metric wins
   (``DriftThresholds.metric_directions``);
2. names known to the field: scikit-learn's metric functions and scorer
   names (``sklearn.metrics.get_scorer_names()``; every scorer is
   higher-is-better by construction, which is why its losses are
   ``neg_*``), and common monitoring names (``auroc``, ``ppv``, ``fnr``,
   ``ece``, ``rmse``...);
3. conventions: a ``neg_`` prefix negates a known metric (``neg_log_loss``
   is higher-is-better, and so is ``test_neg_log_loss`` or scikit-learn's
   ``mean_test_neg_log_loss``: qualifiers are read before suffixes); signed
   errors (``mean_error``, ``bias``) have no direction; the suffixes
   ``_error``, ``_loss``, ``_deviance`` and ``_error_rate`` mean
   lower-is-better; ``<metric>@k``,
   ``<metric>_at_k``, ``<metric>_macro`` (``_micro``, ``_weighted``,
   ``_samples``) and ``val_<metric>`` (``train_``, ``test_``, ``eval_``...)
   take the direction of ``<metric>`` (``recall@10``, ``val_auroc``);
4. anything else is ``"unknown"``: reported, never judged, with an
   ``UnknownMetricDirectionWarning``.

Names are compared after ``normalize_metric_name``: case, surrounding
spaces, and runs of spaces, hyphens or dots become one ``_``
(``"ROC-AUC"`` is ``roc_auc``).

The table is tested against scikit-learn (every scorer and the sign of its
underlying function, ``get_scorer(name)._sign``), so it cannot drift from
the library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from slack_alerts.logs import warn_and_record

Direction = Literal["higher_is_better", "lower_is_better"]
MetricDirection = Literal["higher_is_better", "lower_is_better", "unknown"]

HIGHER: Direction = "higher_is_better"
LOWER: Direction = "lower_is_better"
UNKNOWN: Literal["unknown"] = "unknown"


class UnknownMetricDirectionWarning(UserWarning):
    """A metric's direction is neither declared nor known; its change is not judged."""


def _variants(*bases: str) -> set[str]:
    """scikit-learn's averaging variants of classification scorers."""
    suffixes = ("", "_macro", "_micro", "_weighted", "_samples")
    return {base + suffix for base in bases for suffix in suffixes}


_HIGHER_IS_BETTER: frozenset[str] = frozenset(
    {
        # scikit-learn metric functions (higher is better)
        "accuracy_score",
        "adjusted_mutual_info_score",
        "adjusted_rand_score",
        "auc",
        "average_precision_score",
        "balanced_accuracy_score",
        "calinski_harabasz_score",
        "cohen_kappa_score",
        "completeness_score",
        "consensus_score",
        "d2_absolute_error_score",
        "d2_brier_score",
        "d2_log_loss_score",
        "d2_pinball_score",
        "d2_tweedie_score",
        "dcg_score",
        "explained_variance_score",
        "f1_score",
        "fbeta_score",
        "fowlkes_mallows_score",
        "homogeneity_score",
        "jaccard_score",
        "label_ranking_average_precision_score",
        "matthews_corrcoef",
        "mutual_info_score",
        "ndcg_score",
        "normalized_mutual_info_score",
        "positive_likelihood_ratio",
        "precision_score",
        "r2_score",
        "rand_score",
        "recall_score",
        "roc_auc_score",
        "silhouette_score",
        "top_k_accuracy_score",
        "v_measure_score",
        # scikit-learn scorer names (all higher is better; neg_* handled by rule)
        "accuracy",
        "average_precision",
        "balanced_accuracy",
        "explained_variance",
        "r2",
        "top_k_accuracy",
        "roc_auc",
        "roc_auc_ovr",
        "roc_auc_ovo",
        "roc_auc_ovr_weighted",
        "roc_auc_ovo_weighted",
        *_variants("f1", "precision", "recall", "jaccard"),
        # common monitoring names
        "acc",
        "auroc",
        "aucroc",
        "auc_roc",
        "auprc",
        "aupr",
        "pr_auc",
        "auc_pr",
        "ap",
        "map",
        "ndcg",
        "mrr",
        "f1",
        "f2",
        "fbeta",
        "ppv",
        "npv",
        "positive_predictive_value",
        "negative_predictive_value",
        "tpr",
        "tnr",
        "true_positive_rate",
        "true_negative_rate",
        "sensitivity",
        "specificity",
        "selectivity",
        "hit_rate",
        "mcc",
        "kappa",
        "cohen_kappa",
        "r_squared",
        "c_index",
        "concordance_index",
        "c_statistic",
        "youden_index",
        "youden_j",
        "net_benefit",
        "iou",
        "dice",
        "bleu",
        "rouge",
        "rouge_l",
        "meteor",
    }
)

_LOWER_IS_BETTER: frozenset[str] = frozenset(
    {
        # scikit-learn metric functions (lower is better)
        "brier_score_loss",
        "coverage_error",
        "davies_bouldin_score",
        "hamming_loss",
        "hinge_loss",
        "label_ranking_loss",
        "log_loss",
        "max_error",
        "mean_absolute_error",
        "mean_absolute_percentage_error",
        "mean_gamma_deviance",
        "mean_pinball_loss",
        "mean_poisson_deviance",
        "mean_squared_error",
        "mean_squared_log_error",
        "mean_tweedie_deviance",
        "median_absolute_error",
        "negative_likelihood_ratio",
        "root_mean_squared_error",
        "root_mean_squared_log_error",
        "zero_one_loss",
        # common monitoring names
        "loss",
        "error",
        "error_rate",
        "misclassification_rate",
        "logloss",
        "cross_entropy",
        "nll",
        "negative_log_likelihood",
        "brier",
        "brier_score",
        "ece",
        "mce",
        "ace",
        "calibration_error",
        "expected_calibration_error",
        "maximum_calibration_error",
        "mae",
        "mse",
        "rmse",
        "msle",
        "rmsle",
        "mape",
        "smape",
        "wape",
        "medae",
        "fpr",
        "fnr",
        "fdr",
        "false_positive_rate",
        "false_negative_rate",
        "false_discovery_rate",
        "false_omission_rate",
        "miss_rate",
        "fall_out",
        "fallout",
        "perplexity",
        "wer",
        "cer",
        "word_error_rate",
        "character_error_rate",
        "hamming",
        "zero_one",
    }
)

_LOWER_SUFFIXES = ("_error", "_loss", "_deviance", "_error_rate")
_SEPARATORS = re.compile(r"[\s\-.]+")
_AT_K = re.compile(r"(?P<base>.+?)(?:@|_at_)(?:k|\d+)")
_SPLIT_PREFIX = re.compile(
    r"(?:train|training|val|valid|validation|test|eval|holdout)_(?P<base>.+)"
)
_AVERAGE_SUFFIX = re.compile(r"(?P<base>.+?)_(?:macro|micro|weighted|samples)")
# scikit-learn's cv_results_ / cross_validate keys: mean_test_<scorer>, split0_train_<scorer>.
_CV_RESULT_PREFIX = re.compile(r"(?:mean|split\d+)_(?:train|test)_(?P<base>.+)")
# Signed errors (bias): better is closer to zero, not lower, so no direction fits.
_SIGNED: frozenset[str] = frozenset(
    {"mean_error", "mean_bias_error", "mbe", "bias", "mean_signed_error", "mean_signed_deviation"}
)


def normalize_metric_name(name: str) -> str:
    """Lower case; spaces, hyphens and dots become ``_``; no leading or trailing ``_``."""
    return _SEPARATORS.sub("_", name.strip().lower()).strip("_")


def _flip(direction: MetricDirection) -> MetricDirection:
    if direction == HIGHER:
        return LOWER
    if direction == LOWER:
        return HIGHER
    return UNKNOWN


def _known(name: str) -> MetricDirection:
    if name in _HIGHER_IS_BETTER:
        return HIGHER
    if name in _LOWER_IS_BETTER:
        return LOWER
    if name in _SIGNED:
        return UNKNOWN
    if name.startswith("neg_"):
        # scikit-learn negates losses so that every scorer is higher-is-better.
        return _flip(_known(name[len("neg_") :]))
    # Prefixes and qualifiers before the suffix rule: in
    # ``test_neg_mean_squared_error`` the ``neg_`` decides, not ``_error``.
    for pattern in (_CV_RESULT_PREFIX, _SPLIT_PREFIX, _AT_K, _AVERAGE_SUFFIX):
        match = pattern.fullmatch(name)
        if match:
            return _known(match.group("base"))
    if name.endswith(_LOWER_SUFFIXES):
        return LOWER
    return UNKNOWN


def metric_direction(
    name: str, declared: Mapping[str, Direction] | None = None, *, warn: bool = True
) -> MetricDirection:
    """``"higher_is_better"``, ``"lower_is_better"`` or ``"unknown"`` for a metric name.

    Args:
        name: the metric as the user wrote it (``"AUROC"``, ``"val-loss"``).
        declared: directions the user declared, by metric name (normalised
            the same way before matching); they win over the table.
        warn: warn with ``UnknownMetricDirectionWarning`` when unknown.

    Returns:
        The direction; ``"unknown"`` when neither declared nor known (see the
        module docstring for the table and the conventions).

    Raises:
        ValueError: a declared direction is not one of the two above.
    """
    key = normalize_metric_name(name)
    for declared_name, direction in (declared or {}).items():
        if normalize_metric_name(declared_name) == key:
            if direction not in (HIGHER, LOWER):
                raise ValueError(
                    f"metric_directions[{declared_name!r}] = {direction!r}; "
                    f"use {HIGHER!r} or {LOWER!r}"
                )
            return direction
    found = _known(key)
    if found == UNKNOWN and warn:
        warn_and_record(
            f"metric {name!r}: direction unknown (not a scikit-learn metric or scorer name, "
            "nor *_error/*_loss/*_deviance); its change is reported but not judged. Declare it, "
            f"e.g. DriftThresholds(metric_directions={{{name!r}: 'lower_is_better'}})",
            UnknownMetricDirectionWarning,
            stacklevel=3,
        )
    return found
