"""Monitor live data: one model's checks over time windows of its source.

``LiveModelConfig`` says where a model's rows live (a ``Source``), which
columns are features, score, prediction and label (a nullable column
filled in later, or an outcomes table joined on a prediction id), the
current and reference windows, and the thresholds. One function per check
kind, each ``(config, scheduled_time) -> CheckResult``:

- ``run_drift_check``: ``feature_drift`` of the current window against the
  reference, with the column kinds from the source's schema;
- ``run_performance_check``: scikit-learn metrics on the rows labelled so
  far, against the reference window's (not judged below ``min_labels``);
  ECE against the reference's at the current window's size
  (``ece_against_reference``: its bias depends on the number of rows);
- ``run_fairness_check``: the FAVES rules on the labelled rows;
- ``run_data_health_check``: empty or low-volume windows, missing-share
  jumps (of the features and of the score or prediction: a scoring outage),
  labels that stopped arriving;

and ``run_security_scan(source, rules, watermark, scheduled_time)`` for an
audit log, incremental. They do I/O only through the source objects and
never import Prefect; the current window ends at ``scheduled_time`` (the
run's scheduled start), so a re-run of a slot reads the same rows and, for
drift, data health and security, gives the same result. Performance and
fairness use the labels known when they run (labels arrive late by nature).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from slack_alerts.checks.columns import ColumnKind
from slack_alerts.checks.data_health import (
    DataHealthThresholds,
    HealthFinding,
    health_alerts,
    health_fingerprint,
    label_arrival,
    missing_share_jumps,
    row_volume,
)
from slack_alerts.checks.drift import (
    DRIFT_COLUMNS,
    DriftThresholds,
    PerformanceChange,
    drift_alerts,
    feature_drift,
    healthy_fingerprints,
    performance_drift,
)
from slack_alerts.checks.fairness import (
    FairnessThresholds,
    fairness_findings,
    faves_violations,
    group_metrics,
    rule_verdicts,
    summarize,
)
from slack_alerts.checks.performance import (
    CalibrationComparison,
    PerformanceThresholds,
    Task,
    ece_against_reference,
    not_probabilities,
    performance_metrics,
)
from slack_alerts.checks.security import SecurityRules, scan
from slack_alerts.models import Alert, ModelId, SeverityLevel
from slack_alerts.sources import DEFAULT_ROW_CAP, DEFAULT_SEED, Source, SourceError, WindowFrame
from slack_alerts.sources.audit import AuditFileSource, AuditSqlSource, AuditWatermark
from slack_alerts.sources.files import FileSource
from slack_alerts.windows import (
    CurrentWindow,
    ReferenceSpec,
    RollingRange,
    TimeWindow,
    as_utc,
    parse_spec,
    resolve,
)

__all__ = [
    "CheckResult",
    "LiveModelConfig",
    "OutcomesJoin",
    "run_data_health_check",
    "run_drift_check",
    "run_fairness_check",
    "run_performance_check",
    "run_security_scan",
]


def _phrase(value: Any) -> Any:
    return parse_spec(value) if isinstance(value, str) else value


class OutcomesJoin(BaseModel):
    """Labels kept apart from the predictions, joined on a prediction id.

    Outcomes are read from the predictions window's start up to the run's
    scheduled time (by the outcomes' own timestamp: labels come after the
    prediction), so a run sees the labels that had arrived by its slot.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    source: Source
    prediction_id_column: str = Field(description="The id column in the predictions")
    outcome_id_column: str | None = Field(
        default=None, description="The id column in the outcomes (default: the same name)"
    )
    label_column: str = Field(description="The label column in the outcomes")

    @property
    def id_in_outcomes(self) -> str:
        return self.outcome_id_column or self.prediction_id_column


class LiveModelConfig(BaseModel):
    """One model to monitor from live data. Errors name the field."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    model_id: ModelId
    model_name: str = Field(min_length=1, max_length=512)
    source: Source
    task: Task = "classification"
    features: list[str] | Literal["all"] = Field(
        default="all",
        description="Feature columns, or 'all': every column but the time, id, score, "
        "prediction and label (and a file source's hive partition keys)",
    )
    id_column: str | None = None
    score_column: str | None = None
    prediction_column: str | None = None
    label_column: str | None = Field(
        default=None, description="Nullable label column in the predictions, filled in later"
    )
    outcomes: OutcomesJoin | None = None
    sensitive_features: list[str] = Field(default_factory=list)
    current: Annotated[CurrentWindow, BeforeValidator(_phrase)] = CurrentWindow()
    reference: Annotated[ReferenceSpec, BeforeValidator(_phrase)] = Field(
        default_factory=RollingRange, description="Reference window (default: previous 7 days)"
    )
    drift: DriftThresholds = DriftThresholds()
    fairness: FairnessThresholds = FairnessThresholds()
    performance: PerformanceThresholds = PerformanceThresholds()
    data_health: DataHealthThresholds = DataHealthThresholds()
    row_cap: int = Field(default=DEFAULT_ROW_CAP, ge=100, description="Rows kept per window")
    seed: int = Field(default=DEFAULT_SEED, ge=0, description="Seed of the bottom-k sample")

    @model_validator(mode="after")
    def _consistent(self) -> LiveModelConfig:
        if self.label_column is not None and self.outcomes is not None:
            raise ValueError("give label_column or outcomes, not both")
        if self.outcomes is not None and self.id_column is None:
            object.__setattr__(self, "id_column", self.outcomes.prediction_id_column)
        return self

    @property
    def timestamp_column(self) -> str:
        return self.source.timestamp_column

    def windows(self, scheduled_time: datetime) -> tuple[TimeWindow, TimeWindow]:
        """(current, reference) for a run scheduled at ``scheduled_time``."""
        current = resolve(self.current, scheduled_time)
        return current, resolve(self.reference, scheduled_time, current)

    def role_columns(self) -> list[str]:
        """Columns that are not features: time, id, score, prediction, label."""
        names = [
            self.timestamp_column,
            self.id_column,
            self.score_column,
            self.prediction_column,
            self.label_column,
        ]
        return [n for n in names if n is not None]

    def feature_columns(self, kinds: dict[str, ColumnKind] | None = None) -> list[str]:
        if self.features != "all":
            return list(self.features)
        schema = kinds if kinds is not None else self.source.schema_kinds()
        roles = set(self.role_columns())
        if isinstance(self.source, FileSource):
            # Hive partition keys (date=.../hour=...) restate the time: not features.
            roles |= set(self.source.partition_keys())
        names = [n for n in schema if n not in roles]
        if not names:
            raise SourceError(
                "features: no feature column found in the source's schema (a query source has "
                "none): list them, e.g. features: [age, lactate]"
            )
        return names


@dataclass
class CheckResult:
    """What one check found for one model and one scheduled time.

    ``alerts`` go to the pipeline; ``healthy_fingerprints`` resolve firing
    alerts found fine (only what was judged); ``rows_read`` /
    ``rows_sampled`` over every window read; ``report`` is JSON-able (for
    the flow's report and artifacts), ``table`` the main table if any;
    ``not_estimable`` says what could not be judged and why.
    """

    check: str
    model_id: str
    scheduled_time: datetime
    alerts: list[Alert] = field(default_factory=list)
    healthy_fingerprints: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_sampled: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    table: pd.DataFrame | None = None
    not_estimable: list[str] = field(default_factory=list)

    def add_windows(self, **frames: WindowFrame) -> None:
        for name, frame in frames.items():
            self.rows_read += frame.rows_read
            self.rows_sampled += frame.rows_sampled
            self.report.setdefault("windows", {})[name] = frame.summary()


# -- reading -------------------------------------------------------------------


def _read(
    config: LiveModelConfig, window: TimeWindow, columns: Sequence[str], *, cap: int | None = None
) -> WindowFrame:
    wanted = list(dict.fromkeys([config.timestamp_column, *columns]))
    return config.source.read_window(
        window, wanted, row_cap=cap or config.row_cap, seed=config.seed
    )


def _with_labels(
    config: LiveModelConfig, frame: WindowFrame, scheduled_time: datetime
) -> pd.Series:
    """The label of each row of ``frame`` known at ``scheduled_time`` (NaN if none yet)."""
    if config.label_column is not None:
        return label_numbers(frame.frame[config.label_column], "label_column")
    if config.outcomes is None:
        raise SourceError("label_column: give label_column or outcomes to judge performance")
    join = config.outcomes
    until = max(as_utc(scheduled_time), frame.window.end)
    outcome_window = TimeWindow(start=frame.window.start, end=until)
    # Outcomes are joined, not sampled: a sample would drop labels at random.
    outcomes = join.source.read_window(
        outcome_window,
        [join.id_in_outcomes, join.label_column],
        row_cap=max(config.row_cap * 20, 1_000_000),
        seed=config.seed,
    ).frame
    labels = (
        outcomes.drop_duplicates(join.id_in_outcomes, keep="last")
        .set_index(join.id_in_outcomes)[join.label_column]
        .pipe(label_numbers, "outcomes.label_column")
    )
    ids = frame.frame[join.prediction_id_column]
    return pd.Series(ids.map(labels).to_numpy(dtype=np.float64), index=frame.frame.index)


_TRUE_SPELLINGS = frozenset({"1", "1.0", "true", "t", "yes", "y"})
_FALSE_SPELLINGS = frozenset({"0", "0.0", "false", "f", "no", "n"})


def label_numbers(values: pd.Series, field_name: str = "label_column") -> pd.Series:
    """Labels as float: numbers as they are, the boolean spellings as 1/0, missing as NaN.

    A numeric or boolean column is taken as is. In a text column, numbers
    are parsed, and ``true/false``, ``yes/no``, ``t/f``, ``y/n`` (any case,
    surrounding spaces ignored) and Python booleans read 1/0; ``None``, NaN
    and the empty string are missing (not labelled yet). Anything else is
    never coerced to "missing" (that would read "0 labels" forever).

    Raises:
        SourceError: values that are none of those, naming ``field_name``
            and a few of the values seen.
    """
    if pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return pd.Series(
            values.to_numpy(dtype="float64", na_value=np.nan), index=values.index, name=values.name
        )
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    pending = (numbers.isna() & values.notna()).to_numpy()
    rest = values[pending]
    if len(rest):
        text = rest.map(lambda v: str(v).strip().lower())
        mapped = text.map(
            lambda t: 1.0 if t in _TRUE_SPELLINGS else 0.0 if t in _FALSE_SPELLINGS else np.nan
        ).astype("float64")
        unreadable = rest[mapped.isna() & (text != "")]
        if len(unreadable):
            seen = sorted({str(v)[:20] for v in unreadable})
            raise SourceError(
                f"{field_name}: {len(unreadable)} label(s) are neither numbers nor "
                f"true/false or yes/no (seen {', '.join(map(repr, seen[:5]))}"
                f"{', ...' if len(seen) > 5 else ''}); store 0/1 or map them in a query"
            )
        filled = numbers.to_numpy(copy=True)
        filled[pending] = mapped.to_numpy()
        numbers = pd.Series(filled, index=values.index, name=values.name)
    return numbers


def _output_columns(config: LiveModelConfig) -> list[str]:
    names = [config.score_column, config.prediction_column, config.label_column, config.id_column]
    return [n for n in names if n is not None]


# -- the checks ----------------------------------------------------------------


def run_drift_check(config: LiveModelConfig, scheduled_time: datetime) -> CheckResult:
    """Feature drift of the current window against the reference.

    Kinds come from the source's schema, for both windows alike. An empty
    window makes drift not estimable (the data-health check alerts on it).
    """
    current_window, reference_window = config.windows(scheduled_time)
    result = CheckResult("drift", config.model_id, as_utc(scheduled_time))
    schema = config.source.schema_kinds()
    features = config.feature_columns(schema)
    began = time.perf_counter()
    current = _read(config, current_window, features)
    reference = _read(config, reference_window, features)
    read_seconds = time.perf_counter() - began
    result.add_windows(current=current, reference=reference)
    result.report["seconds"] = {"read": read_seconds, "statistics": 0.0}
    for name, frame in (("current", current), ("reference", reference)):
        if frame.empty:
            result.not_estimable.append(
                f"{name} window {frame.window.label()} has no rows: drift not estimable"
            )
    if result.not_estimable:
        return result
    began = time.perf_counter()
    kinds = {n: k for n, k in (schema | current.kinds).items() if n in features}
    table = feature_drift(
        reference.frame[features], current.frame[features], config.drift, kinds=kinds
    )
    result.table = table
    result.alerts = list(
        drift_alerts(config.model_id, config.model_name, table, None, config.drift)
    )
    result.healthy_fingerprints = healthy_fingerprints(
        config.model_id, config.model_name, table, []
    )
    result.not_estimable += [
        f"feature {f}: {r['note']}"
        for f, r in table.iterrows()
        if pd.isna(r["p_value"]) and r["note"]
    ]
    result.report["seconds"]["statistics"] = time.perf_counter() - began
    result.report["features"] = _records(table)
    result.report["drifted_features"] = [str(f) for f in table.index[table["drifted"]]]
    return result


def run_performance_check(config: LiveModelConfig, scheduled_time: datetime) -> CheckResult:
    """Metrics on the current window's rows labelled so far, against the reference's.

    Below ``performance.min_labels`` labelled rows, a window is "not enough
    labels yet (n = ...)" and nothing is judged (no alert, nothing resolved).
    """
    if config.score_column is None and config.prediction_column is None:
        raise SourceError("score_column: give score_column or prediction_column")
    current_window, reference_window = config.windows(scheduled_time)
    result = CheckResult("performance", config.model_id, as_utc(scheduled_time))
    columns = _output_columns(config)
    measured = {}
    scored: dict[str, tuple[np.ndarray[Any, np.dtype[np.float64]], Any]] = {}
    for name, window in (("current", current_window), ("reference", reference_window)):
        frame = _read(config, window, columns)
        result.add_windows(**{name: frame})
        labels = _with_labels(config, frame, scheduled_time).to_numpy(dtype=np.float64)
        score = None if config.score_column is None else frame.frame[config.score_column]
        prediction = (
            None if config.prediction_column is None else frame.frame[config.prediction_column]
        )
        measured[name] = performance_metrics(
            labels,
            score=score,
            prediction=prediction,
            task=config.task,
            thresholds=config.performance,
        )
        if prediction is not None:
            # The rows performance_metrics used: a label, a score and a prediction.
            labels = np.where(pd.to_numeric(prediction).isna().to_numpy(), np.nan, labels)
        scored[name] = (labels, score)
        result.report[name] = {
            "n_labelled": measured[name].n_labelled,
            "metrics": measured[name].metrics,
            "note": measured[name].note,
            "not_estimable": measured[name].not_estimable,
        }
    current, baseline = measured["current"], measured["reference"]
    if not current.judged:
        result.not_estimable.append(f"current window: {current.note}")
    if not baseline.judged:
        result.not_estimable.append(f"reference window: {baseline.note}")
    for name, outcome in measured.items():
        result.not_estimable += [f"{name} {m}: {why}" for m, why in outcome.not_estimable.items()]
    if not (current.judged and baseline.judged):
        return result
    reference_metrics = dict(baseline.metrics)
    calibration = None
    if "ece" in current.metrics and "ece" in reference_metrics:
        # ECE's bias depends on the window's size: compare at the current's size.
        calibration = ece_against_reference(
            *scored["current"],
            *scored["reference"],
            bins=config.performance.calibration_bins,
            seed=config.seed,
        )
        reference_metrics["ece"] = calibration.reference_at_size
        result.report["ece_comparison"] = _jsonable(asdict(calibration))
    changes = performance_drift(reference_metrics, current.metrics, config.drift)
    if calibration is not None:
        changes = [
            _ece_verdict(c, calibration, config.drift.alpha) if c.metric == "ece" else c
            for c in changes
        ]
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in DRIFT_COLUMNS})
    empty["drifted"] = empty["drifted"].astype(bool)
    result.alerts = list(
        drift_alerts(config.model_id, config.model_name, empty, changes, config.drift)
    )
    result.healthy_fingerprints = healthy_fingerprints(
        config.model_id, config.model_name, empty, changes
    )
    result.table = pd.DataFrame([c.__dict__ | {"severity": c.severity.value} for c in changes])
    result.report["changes"] = _records(result.table)
    return result


def _ece_verdict(
    change: PerformanceChange, calibration: CalibrationComparison, alpha: float
) -> PerformanceChange:
    """An ECE rise judged only when the bootstrap test says it exceeds sampling noise."""
    if not change.degraded or calibration.p_value < alpha:
        return change
    return replace(
        change,
        degraded=False,
        severity=SeverityLevel.INFO,
        note=f"within sampling noise at n = {calibration.n_current} "
        f"(bootstrap p = {calibration.p_value:.3f} >= alpha {alpha})",
    )


def run_fairness_check(config: LiveModelConfig, scheduled_time: datetime) -> CheckResult:
    """The FAVES rules on the current window's labelled rows.

    Needs ``sensitive_features``, labels and a prediction (or a score, cut
    at ``performance.decision_threshold``). Fewer labelled rows than
    ``performance.min_labels``: not judged.
    """
    if not config.sensitive_features:
        raise SourceError("sensitive_features: name at least one column")
    if config.score_column is None and config.prediction_column is None:
        raise SourceError("score_column: give score_column or prediction_column")
    current_window, _ = config.windows(scheduled_time)
    result = CheckResult("fairness", config.model_id, as_utc(scheduled_time))
    frame = _read(config, current_window, [*_output_columns(config), *config.sensitive_features])
    result.add_windows(current=frame)
    labels = _with_labels(config, frame, scheduled_time)
    labelled = labels.notna().to_numpy()
    n = int(labelled.sum())
    if n < config.performance.min_labels:
        result.not_estimable.append(
            f"not enough labels yet (n = {n}, minimum {config.performance.min_labels})"
        )
        result.report["n_labelled"] = n
        return result
    rows = frame.frame[labelled]
    if config.prediction_column is not None:
        output = config.prediction_column
        predicted = pd.to_numeric(rows[output], errors="coerce")
    else:
        assert config.score_column is not None
        output = config.score_column
        score = pd.to_numeric(rows[output], errors="coerce")
        why = not_probabilities(score)
        if why:
            result.not_estimable.append(
                f"{output}: {why}; a cut at decision_threshold means nothing on that scale: "
                "give prediction_column; fairness not judged"
            )
            result.report["n_labelled"] = n
            return result
        # NaN >= t is False: without the mask a missing score would read "predicted negative".
        predicted = (
            (score >= config.performance.decision_threshold).astype(float).where(score.notna())
        )
    # A row without a prediction (a scoring outage) is not a negative: leave it out, and say so.
    has_prediction = predicted.notna().to_numpy()
    dropped = int((~has_prediction).sum())
    result.report["missing_prediction"] = dropped
    if dropped:
        result.not_estimable.append(
            f"{output}: {dropped} of {n} labelled rows have no prediction; left out of the "
            "fairness rates (the data-health check alerts on a missing-share jump)"
        )
    rows, predicted = rows[has_prediction], predicted[has_prediction]
    n = len(rows)
    if n < config.performance.min_labels:
        result.not_estimable.append(
            f"not enough labelled rows with a prediction (n = {n}, minimum "
            f"{config.performance.min_labels})"
        )
        result.report["n_labelled"] = n
        return result
    groups = group_metrics(
        labels[labelled].to_numpy()[has_prediction],
        predicted.to_numpy(),
        rows[config.sensitive_features],
    )
    findings = fairness_findings(groups, config.fairness)
    summary = summarize(groups, config.fairness)
    missing = summary.pop("not_estimable")
    unjudged, healthy = rule_verdicts(config.model_id, config.model_name, findings, missing)
    result.alerts = list(faves_violations(config.model_id, config.model_name, findings))
    result.healthy_fingerprints = healthy
    result.table = groups
    result.not_estimable += [
        f"{e['group'] or 'across groups'} {e['metric']}: {e['reason']}" for e in missing
    ]
    result.report.update(
        n_labelled=n,
        summary=_jsonable(summary),
        groups=_records(groups),
        unjudged_rules=unjudged,
        findings=[
            {
                "violation_type": f.violation_type,
                "severity": f.severity.value,
                "affected_groups": f.affected_groups,
                "description": f.description,
            }
            for f in findings
        ],
        not_estimable=_jsonable(missing),
    )
    return result


def run_data_health_check(config: LiveModelConfig, scheduled_time: datetime) -> CheckResult:
    """Volume, missing-share jumps and label arrival for the current window."""
    limits = config.data_health
    current_window, reference_window = config.windows(scheduled_time)
    result = CheckResult("data_health", config.model_id, as_utc(scheduled_time))
    features = config.feature_columns()
    # The model's outputs too: a scoring outage shows as a jump in their missing share.
    outputs = [c for c in (config.score_column, config.prediction_column) if c is not None]
    watched = list(dict.fromkeys([*features, *outputs]))
    current = _read(config, current_window, watched)
    reference = _read(config, reference_window, watched)
    result.add_windows(current=current, reference=reference)
    findings: list[HealthFinding] = [
        row_volume(
            current.rows_read,
            current_window.hours,
            reference.rows_read,
            reference_window.hours,
            limits,
        )
    ]
    findings += missing_share_jumps(reference.frame, current.frame, watched, limits)
    has_labels = config.label_column is not None or config.outcomes is not None
    if limits.check_labels and has_labels:
        lag = timedelta(hours=limits.label_delay_hours)
        due_window = current_window.shift(-lag)
        columns = [c for c in (config.label_column, config.id_column) if c]
        due = _read(config, due_window, columns)
        before = _read(config, reference_window.shift(-lag), columns)
        result.add_windows(labels_due=due, labels_reference=before)
        due_labels = _with_labels(config, due, scheduled_time)
        before_labels = _with_labels(config, before, scheduled_time)
        findings.append(
            label_arrival(
                int(due_labels.notna().sum()),
                len(due_labels),
                int(before_labels.notna().sum()),
                len(before_labels),
                limits,
            )
        )
    extra = {"window": current_window.label()}
    result.alerts = list(health_alerts(config.model_id, config.model_name, findings, extra))
    result.healthy_fingerprints = [
        health_fingerprint(config.model_id, config.model_name, f.metric)
        for f in findings
        if f.firing is False
    ]
    result.not_estimable += [f"{f.metric}: {f.note}" for f in findings if f.firing is None]
    result.table = pd.DataFrame(
        [
            {
                "metric": f.metric,
                "firing": f.firing,
                "current": f.current,
                "baseline": f.baseline,
                "severity": f.severity.value,
                "note": f.note,
            }
            for f in findings
        ]
    )
    result.report["findings"] = _records(result.table)
    return result


def run_security_scan(
    source: AuditFileSource | AuditSqlSource,
    rules: SecurityRules | dict[str, Any] | None,
    watermark: AuditWatermark | None,
    scheduled_time: datetime,
) -> tuple[CheckResult, AuditWatermark]:
    """Scan the audit records after ``watermark`` up to ``scheduled_time``.

    The read starts an overlap (the longest rule window) and the source's
    allowed lateness before the watermark, so a burst spanning two runs is
    seen whole and late records are scanned (a JSONL source scans every new
    line, whatever its time); an incident made only of records an earlier
    run already scanned (``read.fresh_since``) is not reported again (its id
    is stable, so it would be deduplicated anyway). Returns the result and
    the watermark to save **after** the alerts are accounted for.
    """
    config = SecurityRules.model_validate(rules or {})
    overlap = timedelta(seconds=max(config.auth_window_seconds, config.rate_window_seconds))
    read = source.read_after(watermark, overlap, scheduled_time)
    scanned = scan(read.records, config)
    fresh_from = read.fresh_since
    events = [
        e
        for e in scanned.events
        if fresh_from is None or datetime.fromisoformat(e.metadata["last_seen"]) >= fresh_from
    ]
    result = CheckResult("security", "(audit)", as_utc(scheduled_time))
    result.alerts = list(events)
    result.rows_read = result.rows_sampled = scanned.records
    result.report = {
        "since": read.since.isoformat() if read.since else None,
        "until": read.until.isoformat(),
        "records": scanned.records,
        "bytes_read": read.bytes_read,
        "malformed": [{"line": m.line, "reason": m.reason} for m in scanned.malformed],
        "already_reported": len(scanned.events) - len(events),
        "by_rule": dict(scanned.by_rule()),
    }
    return result, read.new_watermark


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return value


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    rows = table.astype(object).where(table.notna(), None).reset_index().to_dict(orient="records")
    return [_jsonable(r) for r in rows]
