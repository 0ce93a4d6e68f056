"""Column kinds for drift: decided once for both windows, never from one frame's load.

A column read from ``reference.csv`` and ``current.csv`` can come back as
ISO-date strings in one frame and ``datetime64`` in another, as ``int64`` in
one and ``float64`` or strings of numbers in the other, as ``bool`` in one
and 0/1 integers in the other. Deciding its kind from one frame's dtype then
compares different things (dates as categories, for example, which is always
"drift"). ``reconcile_kinds`` decides the kind of every column once, for
both windows: from a declared schema when given, else from what *both*
frames hold.

Kinds (``ColumnKind``):

- ``numeric``: compared with PSI over quantile bins, KS and Wasserstein;
- ``categorical``: compared over categories (PSI, chi-square, Jensen-Shannon);
  values equal as numbers are one category (``1``, ``1.0``, ``"1"``), and
  booleans are the numbers 1 and 0 (``True`` is the category ``1``);
- ``time``: dates or timestamps. Never compared unless asked
  (``DriftThresholds.compare_time``): a January window and an April window
  always differ in time, which says nothing about the model's inputs;
- ``skipped``: cannot be compared (no values in either window, durations
  against plain numbers, or declared so);
- ``missing``: the column is in one frame only (a schema change).

Inference, per window, from the non-missing values (a window whose values
are all missing carries no evidence, whatever its dtype, because an empty
CSV column loads as ``float64``):

1. datetime, period or date values (any dtype, tz-aware or naive), or
   strings of which more than half are ISO-8601 dates or timestamps
   (``2026-01-01``, ``2026-01-01T08:00:00+05:00``), other written dates
   (``01/15/2026``, ``15.01.2026``, ``2026/01/15``, with an optional time) or
   times of day (``14:30``, ``2:30 PM``): *time*. Datetime dtypes
   count even when empty, since no loader invents them;
2. ``bool`` / ``boolean`` dtypes, or values that are all booleans (or the
   strings ``true``/``false``, any case): *boolean*;
3. numeric dtypes (``int``, ``float``, nullable ``Int64``/``Float64``,
   Arrow numbers), or values of which more than half are numbers or strings
   of numbers: *number* (the rest is junk, counted when compared);
4. ``timedelta`` values: *duration*; anything else: *text*.

Then, for both windows together: time in either window gives ``time``; a
pandas ``category`` dtype in either window gives ``categorical``; number
and number give ``numeric``; duration and duration give ``numeric`` (in
seconds); duration against anything else gives ``skipped`` (the units are
unknown); booleans with booleans or numbers, and text with anything, give
``categorical``; a window without evidence takes the other's kind; no
evidence in either window gives ``skipped``.

A declared kind (``declared={"visit_day": "time"}``, as a schema would give)
wins over inference. Declaring a name that is in neither frame warns with
``UnknownColumnWarning`` and is otherwise ignored; declaring ``missing`` is
an error, since that is read off the frames.
"""

from __future__ import annotations

import datetime as dt
import decimal
import numbers
import re
import unicodedata
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from slack_alerts.logs import warn_and_record
from slack_alerts.text import redact_secrets


class ColumnKind(StrEnum):
    """How a column is compared between the reference and current windows."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    TIME = "time"
    SKIPPED = "skipped"
    MISSING = "missing"


class UnknownColumnWarning(UserWarning):
    """A declared kind names a column that is in neither frame."""


class Evidence(StrEnum):
    """What one window's values look like, before the two windows are reconciled."""

    EMPTY = "empty"
    TIME = "time"
    BOOLEAN = "boolean"
    NUMBER = "number"
    DURATION = "duration"
    TEXT = "text"


@dataclass(frozen=True)
class WindowEvidence:
    """One window's evidence: its class, whether its dtype is ``category``, and how it was read."""

    evidence: Evidence
    categorical_dtype: bool
    source: str


@dataclass(frozen=True)
class KindDecision:
    """The kind of one column for both windows, and why, in words."""

    kind: ColumnKind
    reason: str
    declared: bool = False


DECLARABLE = frozenset(k for k in ColumnKind if k is not ColumnKind.MISSING)

# ISO 8601 calendar dates, optionally with a time and an offset (the extended
# format with dashes; "20260101" is a number, not a date).
_ISO_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}"  # date
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?"  # time
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"  # offset
)
# Other common ways to write a date or a time of day: 01/15/2026, 15.01.2026,
# 2026/01/15 (with an optional time), and 14:30 or 2:30 PM. They are time,
# however a CSV reader loaded them, so they are never compared as categories.
_SLASH_DATE_RE = re.compile(
    r"(?:(?P<a>\d{1,2})[/.](?P<b>\d{1,2})[/.]\d{4}|\d{4}/(?P<m>\d{1,2})/(?P<d>\d{1,2}))"
    r"(?:[ T](?P<time>.+))?"
)
_TIME_OF_DAY_RE = re.compile(
    r"(?P<h>\d{1,2}):(?P<min>\d{2})(?::(?P<s>\d{2})(?:[.,]\d{1,9})?)?(?: ?(?P<ampm>[AaPp][Mm]))?"
)
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(
    r"[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?|inf(?:inity)?)", re.IGNORECASE
)
_BOOL_WORDS = {"true": True, "false": False}


def _is_time_dtype(dtype: Any) -> bool:
    return bool(pd.api.types.is_datetime64_any_dtype(dtype)) or isinstance(dtype, pd.PeriodDtype)


def _is_number_dtype(dtype: Any) -> bool:
    return (
        bool(pd.api.types.is_numeric_dtype(dtype))
        and not pd.api.types.is_bool_dtype(dtype)
        and not pd.api.types.is_complex_dtype(dtype)
    )


def _classify_value(value: Any) -> Evidence:
    """The evidence class of one non-missing value."""
    if isinstance(value, bool | np.bool_):
        return Evidence.BOOLEAN
    if isinstance(value, dt.datetime | dt.date | np.datetime64 | pd.Period):
        return Evidence.TIME
    if isinstance(value, dt.timedelta | np.timedelta64):
        return Evidence.DURATION
    if isinstance(value, numbers.Real | decimal.Decimal):
        return Evidence.NUMBER
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _BOOL_WORDS:
            return Evidence.BOOLEAN
        if _INT_RE.fullmatch(text) or _FLOAT_RE.fullmatch(text):
            return Evidence.NUMBER
        if _ISO_RE.fullmatch(text) and _parses_as_iso(text):
            return Evidence.TIME
        if _is_other_date(text) or _is_time_of_day(text):
            return Evidence.TIME
    return Evidence.TEXT


def _is_time_of_day(text: str) -> bool:
    match = _TIME_OF_DAY_RE.fullmatch(text)
    if not match:
        return False
    hour_limit = 12 if match.group("ampm") else 24
    return (
        int(match.group("h")) <= hour_limit
        and int(match.group("min")) < 60
        and int(match.group("s") or 0) < 61
    )


def _is_other_date(text: str) -> bool:
    match = _SLASH_DATE_RE.fullmatch(text)
    if not match:
        return False
    if match.group("time") is not None and not _is_time_of_day(match.group("time")):
        return False
    if match.group("m") is not None:  # year first: always year/month/day
        return 1 <= int(match.group("m")) <= 12 and 1 <= int(match.group("d")) <= 31
    first, second = int(match.group("a")), int(match.group("b"))
    # Month-first (US) or day-first: either reading must be a real day and month.
    return (1 <= first <= 12 and 1 <= second <= 31) or (1 <= second <= 12 and 1 <= first <= 31)


def _parses_as_iso(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text.replace(",", ".").replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _value_counts(values: pd.Series) -> pd.Series:
    """Counts of the distinct non-missing values (unhashable values as text)."""
    try:
        return values.value_counts(dropna=True, sort=False)
    except TypeError:  # lists or dicts in an object column
        return values.dropna().astype(str).value_counts(sort=False)


def _has_values(series: pd.Series) -> bool:
    """Whether any value is present (a numpy float column is checked without a full pass
    when its first value is present)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return len(series) > 0
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = series.to_numpy()
        return len(values) > 0 and (not np.isnan(values[0]) or not bool(np.isnan(values).all()))
    return bool(series.notna().any())


_NUMPY_KINDS = {
    "f": Evidence.NUMBER,
    "i": Evidence.NUMBER,
    "u": Evidence.NUMBER,
    "b": Evidence.BOOLEAN,
    "M": Evidence.TIME,
    "m": Evidence.DURATION,
}


def window_evidence(series: pd.Series) -> WindowEvidence:
    """Classify one window of a column (see the module docstring for the rules)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in _NUMPY_KINDS:
        # Plain numpy dtypes are read off their kind: pandas' type checks cost
        # more than the rest of a wide frame's reconciliation.
        evidence = _NUMPY_KINDS[dtype.kind]
        if evidence in (Evidence.TIME, Evidence.DURATION) or _has_values(series):
            return WindowEvidence(evidence, False, f"{dtype} dtype")
        return WindowEvidence(Evidence.EMPTY, False, "no values")
    categorical = isinstance(dtype, pd.CategoricalDtype)
    if _is_time_dtype(dtype):
        return WindowEvidence(Evidence.TIME, False, f"{dtype} dtype")
    if isinstance(dtype, pd.CategoricalDtype) and _is_time_dtype(dtype.categories.dtype):
        return WindowEvidence(Evidence.TIME, True, "category dtype of datetimes")
    if pd.api.types.is_timedelta64_dtype(dtype):
        return WindowEvidence(Evidence.DURATION, False, f"{dtype} dtype")
    if not _has_values(series):
        return WindowEvidence(Evidence.EMPTY, categorical, "no values")
    if pd.api.types.is_bool_dtype(dtype):
        return WindowEvidence(Evidence.BOOLEAN, False, f"{dtype} dtype")
    if _is_number_dtype(dtype):
        return WindowEvidence(Evidence.NUMBER, False, f"{dtype} dtype")
    counts = _value_counts(series)
    weights: dict[Evidence, int] = dict.fromkeys(Evidence, 0)
    for value, count in counts.items():
        weights[_classify_value(value)] += int(count)
    total = sum(weights.values())
    described = "category dtype" if categorical else f"{dtype} values"
    if weights[Evidence.TIME] * 2 > total:
        return WindowEvidence(Evidence.TIME, categorical, f"dates or timestamps ({described})")
    if weights[Evidence.BOOLEAN] == total:
        return WindowEvidence(Evidence.BOOLEAN, categorical, f"booleans ({described})")
    if weights[Evidence.NUMBER] * 2 > total:
        return WindowEvidence(Evidence.NUMBER, categorical, f"numbers ({described})")
    if weights[Evidence.NUMBER] + weights[Evidence.BOOLEAN] == total:
        # Flags stored as a mix of True/False and 0/1: booleans.
        return WindowEvidence(Evidence.BOOLEAN, categorical, f"booleans and 0/1 ({described})")
    if weights[Evidence.DURATION] * 2 > total:
        return WindowEvidence(Evidence.DURATION, categorical, f"durations ({described})")
    return WindowEvidence(Evidence.TEXT, categorical, f"text ({described})")


def _combine(reference: WindowEvidence, current: WindowEvidence) -> KindDecision:
    evidences = {reference.evidence, current.evidence}
    where = f"reference: {reference.source}; current: {current.source}"
    if Evidence.TIME in evidences:
        return KindDecision(ColumnKind.TIME, f"dates or timestamps ({where})")
    if reference.categorical_dtype or current.categorical_dtype:
        if evidences == {Evidence.EMPTY}:
            return KindDecision(ColumnKind.SKIPPED, f"no values in either window ({where})")
        return KindDecision(ColumnKind.CATEGORICAL, f"category dtype ({where})")
    evidences.discard(Evidence.EMPTY)
    if not evidences:
        return KindDecision(ColumnKind.SKIPPED, f"no values in either window ({where})")
    if evidences == {Evidence.NUMBER}:
        return KindDecision(ColumnKind.NUMERIC, f"numbers ({where})")
    if evidences == {Evidence.DURATION}:
        return KindDecision(ColumnKind.NUMERIC, f"durations, compared in seconds ({where})")
    if Evidence.DURATION in evidences:
        return KindDecision(
            ColumnKind.SKIPPED, f"durations against other values, units unknown ({where})"
        )
    if evidences <= {Evidence.BOOLEAN, Evidence.NUMBER}:
        return KindDecision(
            ColumnKind.CATEGORICAL, f"booleans, compared as categories, True = 1 ({where})"
        )
    return KindDecision(ColumnKind.CATEGORICAL, f"text ({where})")


def _declared_kinds(
    declared: Mapping[str, ColumnKind | str] | None, names: set[str]
) -> dict[str, ColumnKind]:
    kinds: dict[str, ColumnKind] = {}
    for name, value in (declared or {}).items():
        try:
            kind = ColumnKind(str(value).strip().lower())
        except ValueError:
            allowed = ", ".join(sorted(k.value for k in DECLARABLE))
            shown = redact_secrets(f"kinds[{name!r}] = {value!r}")
            raise ValueError(f"{shown} is not a kind ({allowed})") from None
        if kind is ColumnKind.MISSING:
            raise ValueError(
                f"kinds[{name!r}]: 'missing' is read off the frames (a column in one frame "
                "only), it cannot be declared"
            )
        if str(name) not in names:
            warn_and_record(
                f"kinds[{name!r}]: no column of that name in reference or current; ignored",
                UnknownColumnWarning,
                stacklevel=4,
            )
            continue
        kinds[str(name)] = kind
    return kinds


def reconcile_columns(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    declared: Mapping[str, ColumnKind | str] | None = None,
) -> dict[str, KindDecision]:
    """The kind of every column of either frame, with the reason.

    Args:
        reference, current: the two windows (any number of rows; column names
            are compared as strings).
        declared: kinds from a schema, by column name; they win over inference.

    Returns:
        ``{column: KindDecision}``: columns shared by both frames in the
        reference's order, then those only in the reference, then those only
        in the current frame (``ColumnKind.MISSING``).

    Raises:
        ValueError: a declared kind is not a ``ColumnKind`` or is ``missing``.

    Warns:
        UnknownColumnWarning: a declared name is in neither frame.
    """
    ref_names = [str(c) for c in reference.columns]
    cur_names = [str(c) for c in current.columns]
    ref_columns: dict[str, Hashable] = dict(zip(ref_names, reference.columns, strict=True))
    cur_columns: dict[str, Hashable] = dict(zip(cur_names, current.columns, strict=True))
    kinds = _declared_kinds(declared, set(ref_names) | set(cur_names))
    decisions: dict[str, KindDecision] = {}
    for name in ref_names:
        if name not in cur_columns:
            continue
        if name in kinds:
            decisions[name] = KindDecision(kinds[name], "declared", declared=True)
        else:
            decisions[name] = _combine(
                window_evidence(reference[ref_columns[name]]),
                window_evidence(current[cur_columns[name]]),
            )
    for name in ref_names:
        if name not in cur_columns:
            decisions[name] = KindDecision(ColumnKind.MISSING, "only in reference")
    for name in cur_names:
        if name not in ref_columns:
            decisions[name] = KindDecision(ColumnKind.MISSING, "only in current")
    return decisions


def reconcile_kinds(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    declared: Mapping[str, ColumnKind | str] | None = None,
) -> dict[str, ColumnKind]:
    """``{column: ColumnKind}`` for both windows; see ``reconcile_columns``."""
    return {name: d.kind for name, d in reconcile_columns(reference, current, declared).items()}


# -- turning a window into comparable values -----------------------------------


def category_label(value: Any) -> str:
    """The category a value falls in: values equal as numbers share one label.

    ``1``, ``1.0``, ``"1"``, ``" 1.0 "`` and ``True`` are all ``"1"``;
    ``"true"``/``"false"`` (any case) are ``"1"``/``"0"``; other text is
    itself in Unicode NFC; anything else is ``str(value)``.
    """
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real | decimal.Decimal):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, str):
        text = value.strip()
        lowered = text.lower()
        if lowered in _BOOL_WORDS:
            return "1" if _BOOL_WORDS[lowered] else "0"
        if _INT_RE.fullmatch(text):
            return str(int(text))
        if _FLOAT_RE.fullmatch(text):
            return category_label(float(text))
        # "José" typed on two systems may be composed or decomposed (NFC/NFD):
        # the same name must be one category.
        return unicodedata.normalize("NFC", value)
    return str(value)


def category_counts(values: pd.Series) -> pd.Series:
    """Counts per category label (see ``category_label``) of the non-missing values."""
    counts = _value_counts(values)
    labels = [category_label(v) for v in counts.index]
    grouped = counts.groupby(np.asarray(labels, dtype=object), sort=False).sum()
    return grouped.astype(np.int64)


def time_seconds(values: pd.Series) -> tuple[npt.NDArray[np.float64], int]:
    """Seconds since 1970-01-01 UTC (NaN where missing or unreadable), and the unreadable count.

    Naive datetimes are taken as UTC (the project's convention for naive
    times); aware ones are converted to UTC; strings are read as ISO 8601.
    """
    if isinstance(values.dtype, pd.PeriodDtype):
        values = values.dt.to_timestamp()
    elif isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.to_datetime(values, utc=True)
    else:
        stamps = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        if bool(stamps.isna().sum() > values.isna().sum()):
            # Mixed datetime objects and strings: let pandas try each one.
            stamps = pd.to_datetime(values, utc=True, format="mixed", errors="coerce")
    elapsed = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    seconds: npt.NDArray[np.float64] = np.asarray(
        elapsed.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64
    )
    unreadable = int(np.isnan(seconds).sum()) - int(values.isna().sum())
    return seconds, max(unreadable, 0)
