"""A column's kind is decided once for both windows, never from how one frame was loaded."""

from __future__ import annotations

import io
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from slack_alerts.checks.columns import (
    ColumnKind,
    UnknownColumnWarning,
    category_counts,
    category_label,
    reconcile_columns,
    reconcile_kinds,
)
from slack_alerts.checks.drift import feature_drift, psi_from_counts

RNG = np.random.default_rng(2026)
N = 400


def kinds(reference: dict[str, Any], current: dict[str, Any], **declared: str) -> dict[str, str]:
    found = reconcile_kinds(pd.DataFrame(reference), pd.DataFrame(current), declared or None)
    return {name: kind.value for name, kind in found.items()}


def csv(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as it comes back from a CSV file."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)))


class TestTime:
    def test_iso_dates_in_both_csv_windows_are_time_and_skipped(self) -> None:
        january = pd.date_range("2026-01-01", periods=31).strftime("%Y-%m-%d")
        april = pd.date_range("2026-04-01", periods=30).strftime("%Y-%m-%d")
        reference = csv(
            pd.DataFrame({"visit_day": RNG.choice(january, N), "x": RNG.normal(size=N)})
        )
        current = csv(pd.DataFrame({"visit_day": RNG.choice(april, N), "x": RNG.normal(size=N)}))
        assert reconcile_kinds(reference, current)["visit_day"] is ColumnKind.TIME
        table = feature_drift(reference, current)
        row = table.loc["visit_day"]
        assert row["kind"] == "skipped" and "datetime column" in row["note"]
        assert math.isnan(row["psi"]) and not row["drifted"] and row["severity"] == "info"
        assert table.attrs["alpha_per_test"] == pytest.approx(0.05)  # only x was tested

    @pytest.mark.parametrize(
        ("reference", "current"),
        [
            (pd.to_datetime(["2026-01-01", "2026-01-02"]), ["2026-04-01", "2026-04-02"]),
            (["2026-01-01T08:00:00Z", "2026-01-02T09:30:00+05:00"], ["2026-04-01 10:00"] * 2),
            (
                pd.to_datetime(["2026-01-01", "2026-01-02"]).tz_localize("Europe/Paris"),
                pd.to_datetime(["2026-04-01", "2026-04-02"]),
            ),
            (["2026-01-01", "2026-01-02"], [None, None]),  # dates, and nothing
            # More than half dates: the odd "unknown" does not make it text.
            (["2026-01-01", "2026-01-02", "unknown"], ["2026-04-01", "2026-04-02", "2026-04-03"]),
            (pd.Series(["2026-01-01"] * 2, dtype="string"), pd.Series(["2026-04-01"] * 2)),
            # Other ways of writing dates and times of day are time too.
            (["01/15/2026", "01/16/2026"], ["04/15/2026", "04/16/2026"]),  # US
            (["15.01.2026", "16.01.2026"], ["15.04.2026", "16.04.2026"]),
            (["2026/01/15 08:00", "2026/01/16 09:30"], ["2026/04/15 10:00"] * 2),
            (["08:15", "09:30"], ["2:30 PM", "11:45 am"]),
        ],
    )
    def test_dates_in_either_window_make_time(self, reference: Any, current: Any) -> None:
        assert kinds({"d": reference}, {"d": current}) == {"d": "time"}

    def test_compare_time_compares_instants_in_utc(self) -> None:
        instants = pd.date_range("2026-01-01", periods=N, freq="h", tz="UTC")
        reference = pd.DataFrame({"t": instants.tz_convert("America/New_York")})
        current = pd.DataFrame({"t": [s.isoformat() for s in instants.tz_convert("Asia/Tokyo")]})
        row = feature_drift(reference, current, {"compare_time": True}).loc["t"]
        # The same instants, written in other zones: nothing moved.
        assert row["kind"] == "time" and row["ks_statistic"] == 0.0 and not row["drifted"]
        naive = pd.DataFrame({"t": instants.tz_localize(None)})  # naive is UTC
        assert feature_drift(reference, naive, {"compare_time": True}).loc["t", "ks_statistic"] == 0

    def test_compared_time_is_seconds_since_the_epoch(self) -> None:
        early = pd.to_datetime(RNG.integers(0, 10**9, N), unit="s")
        late = pd.to_datetime(RNG.integers(5 * 10**8, 2 * 10**9, N), unit="s")
        row = feature_drift(
            pd.DataFrame({"t": early}), pd.DataFrame({"t": late}), {"compare_time": True}
        ).loc["t"]
        seconds = (early.astype("int64") // 10**9, late.astype("int64") // 10**9)
        assert row["ks_statistic"] == stats.ks_2samp(*seconds).statistic
        assert row["drifted"]


class TestNumbers:
    def test_int_in_one_window_float_in_the_other(self) -> None:
        values = RNG.integers(0, 100, N)
        reference = pd.DataFrame({"age": values})
        current = pd.DataFrame({"age": values.astype(float)})
        assert kinds(reference, current) == {"age": "numeric"}
        row = feature_drift(reference, current).loc["age"]
        assert row["ks_statistic"] == 0.0 and row["psi"] == pytest.approx(0.0, abs=1e-12)

    def test_strings_of_numbers_against_numbers(self) -> None:
        values = RNG.normal(50, 10, N).round(1)
        reference = pd.DataFrame({"x": values})
        current = pd.DataFrame({"x": [f"{v:.1f}" for v in values]})  # an all-quoted CSV
        assert kinds(reference, current) == {"x": "numeric"}
        row = feature_drift(reference, current).loc["x"]
        assert row["ks_statistic"] == 0.0 and row["n_current"] == N

    def test_junk_is_counted_not_a_category(self) -> None:
        values = RNG.normal(size=N)
        current = [*map(str, values[:-6]), "n/a", "?", "error", "inf", "-inf", "nan"]
        reference = pd.DataFrame({"x": values})
        assert kinds(reference, {"x": current}) == {"x": "numeric"}
        row = feature_drift(reference, pd.DataFrame({"x": current})).loc["x"]
        assert row["n_current"] == N - 6
        assert "6 non-numeric or infinite current values ignored" in row["note"]

    @pytest.mark.parametrize(
        ("reference", "current"),
        [
            (pd.array([1, 2, None] * 10, dtype="Int64"), np.array([1.0, 2.0, np.nan] * 10)),
            (pd.array([1.5, None] * 10, dtype="Float64"), [1.5, 2.5] * 10),
            (pd.Series(["1", "2", None] * 10, dtype="string[pyarrow]"), [1, 2, 3] * 10),
            (pd.Series(["1", "2"] * 10, dtype="string[python]"), pd.array([1, 2] * 10, "Int64")),
        ],
    )
    def test_nullable_and_arrow_dtypes(self, reference: Any, current: Any) -> None:
        assert kinds({"x": reference}, {"x": current}) == {"x": "numeric"}

    def test_nullable_values_compare_as_their_numbers(self) -> None:
        values = RNG.integers(0, 9, N)
        reference = pd.DataFrame({"x": pd.array(values, dtype="Int64")})
        current = pd.DataFrame({"x": values.astype(str)})
        row = feature_drift(reference, current).loc["x"]
        assert row["kind"] == "numeric" and row["ks_statistic"] == 0.0

    def test_text_against_numbers_is_categorical(self) -> None:
        # ICD-9 codes then ICD-10 codes: a real change, compared as categories.
        reference = pd.DataFrame({"dx": RNG.choice(["250", "401", "428"], N)}).astype(int)
        current = pd.DataFrame({"dx": RNG.choice(["E11", "I10", "I50"], N)})
        assert kinds(reference, current) == {"dx": "categorical"}
        row = feature_drift(reference, current).loc["dx"]
        assert row["drifted"] and row["severity"] == "critical"

    def test_durations(self) -> None:
        hours = pd.to_timedelta(RNG.integers(1, 200, N), unit="h")
        assert kinds({"los": hours}, {"los": hours}) == {"los": "numeric"}
        row = feature_drift(pd.DataFrame({"los": hours}), pd.DataFrame({"los": hours})).loc["los"]
        assert row["kind"] == "numeric" and row["ks_statistic"] == 0.0
        assert kinds({"los": hours}, {"los": RNG.integers(1, 200, N)}) == {"los": "skipped"}


class TestCategories:
    def test_bool_against_zero_one(self) -> None:
        flags = RNG.random(N) < 0.3
        reference = pd.DataFrame({"smoker": flags})
        current = pd.DataFrame({"smoker": flags.astype(int)})
        assert kinds(reference, current) == {"smoker": "categorical"}
        row = feature_drift(reference, current).loc["smoker"]
        assert row["psi"] == pytest.approx(0.0, abs=1e-12) and row["chi2_pvalue"] == 1.0

    @pytest.mark.parametrize(
        "current",
        [
            pd.array([True, False, None] * 10, dtype="boolean"),
            ["True", "false", "TRUE"] * 10,
            pd.Series([True, False, None] * 10, dtype=object),  # a CSV bool column with gaps
        ],
    )
    def test_booleans_however_stored(self, current: Any) -> None:
        assert kinds({"b": [True, False, True] * 10}, {"b": current}) == {"b": "categorical"}

    def test_equal_numbers_are_one_category(self) -> None:
        assert {category_label(v) for v in (1, 1.0, "1", " 1.0 ", True, np.int64(1))} == {"1"}
        assert category_label(2**62 + 1) == str(2**62 + 1)  # large ids stay exact
        assert category_label("a") == "a" and category_label(2.5) == "2.5"
        counts = category_counts(pd.Series([1, 1.0, "1", "a", None, "true"], dtype=object))
        assert counts.to_dict() == {"1": 4, "a": 1}

    def test_text_that_only_looks_like_time_stays_text(self) -> None:
        for text in ("13/13/2026", "25:00", "3/4", "12:61", "ward 12:30b"):
            assert category_label(text) == text
        assert kinds({"c": ["13/13/2026", "25:00"] * 10}, {"c": ["3/4"] * 20}) == {
            "c": "categorical"
        }

    def test_unicode_forms_of_one_name_are_one_category(self) -> None:
        import unicodedata

        names = ["José", "Zoë", "Ana"]
        reference = pd.DataFrame({"n": [unicodedata.normalize("NFC", n) for n in names] * 50})
        current = pd.DataFrame({"n": [unicodedata.normalize("NFD", n) for n in names] * 50})
        row = feature_drift(reference, current).loc["n"]
        assert row["psi"] == pytest.approx(0.0, abs=1e-12) and not row["drifted"]

    def test_mixed_object_columns(self) -> None:
        reference = pd.DataFrame({"m": [1, "a"] * 20})
        current = pd.DataFrame({"m": ["1.0", "a"] * 20})
        assert kinds(reference, current) == {"m": "categorical"}
        row = feature_drift(reference, current).loc["m"]
        assert row["psi"] == pytest.approx(0.0, abs=1e-12)

    def test_category_dtype_is_a_declaration(self) -> None:
        codes = RNG.integers(1, 5, N)
        reference = pd.DataFrame({"asa": pd.Categorical(codes)})
        current = pd.DataFrame({"asa": codes})  # the same codes, from a CSV
        assert kinds(reference, current) == {"asa": "categorical"}
        row = feature_drift(reference, current).loc["asa"]
        r = np.bincount(codes, minlength=5)[1:].astype(float)
        assert row["psi"] == pytest.approx(psi_from_counts(r, r), abs=1e-12)

    def test_categorical_statistics_equal_scipy_on_the_labels(self) -> None:
        rng = np.random.default_rng(7)  # its own: the kind must not hang on test order
        reference = pd.DataFrame({"c": rng.choice([1, 2, 3], N)})
        # 60 % text: not a numeric column (numbers are not the majority), so 1 and "1"
        # meet as categories.
        current = pd.DataFrame({"c": rng.permutation(np.tile(["1", "2.0", "x", "y", "x"], N // 5))})
        row = feature_drift(reference, current).loc["c"]
        assert row["kind"] == "categorical"
        labels = ["1", "2", "3", "x", "y"]
        r = np.array([reference["c"].map(category_label).eq(v).sum() for v in labels], float)
        c = np.array([current["c"].map(category_label).eq(v).sum() for v in labels], float)
        assert row["chi2_pvalue"] == pytest.approx(stats.chi2_contingency(np.vstack((r, c))).pvalue)
        assert row["psi"] == pytest.approx(psi_from_counts(r, c))


class TestEmptyWindows:
    def test_numeric_column_entirely_missing_in_current(self) -> None:
        reference = pd.DataFrame({"wbc": RNG.normal(9, 3, N)})
        current = csv(pd.DataFrame({"wbc": [None] * N}))  # loads as float64, all NaN
        assert kinds(reference, current) == {"wbc": "numeric"}
        row = feature_drift(reference, current).loc["wbc"]
        assert row["kind"] == "numeric" and row["schema_change"] == "no_values_in_current"
        assert math.isnan(row["psi"]) and math.isnan(row["p_value"])
        assert "every current value is missing" in row["note"] and "not estimable" in row["note"]
        assert row["severity"] == "warning" and not row["drifted"]

    def test_the_other_window_decides_the_kind(self) -> None:
        assert kinds({"c": [np.nan] * 5}, {"c": ["a", "b", "a", "b", "a"]}) == {"c": "categorical"}
        assert kinds({"c": [None] * 5}, {"c": [1.5] * 5}) == {"c": "numeric"}

    def test_empty_in_both_is_skipped(self) -> None:
        row = feature_drift(pd.DataFrame({"g": [np.nan] * 5}), pd.DataFrame({"g": [None] * 5}))
        assert row.loc["g", "kind"] == "skipped" and row.loc["g", "severity"] == "info"

    def test_empty_reference_is_a_schema_change_too(self) -> None:
        table = feature_drift(pd.DataFrame({"c": [None] * 9}), pd.DataFrame({"c": ["a"] * 9}))
        assert table.loc["c", "schema_change"] == "no_values_in_reference"


class TestDeclared:
    def test_declared_kinds_win(self) -> None:
        values = RNG.integers(0, 3, N)
        reference, current = pd.DataFrame({"x": values}), pd.DataFrame({"x": values})
        decided = reconcile_columns(reference, current, {"x": "categorical"})["x"]
        assert decided.kind is ColumnKind.CATEGORICAL and decided.declared
        table = feature_drift(reference, current, kinds={"x": ColumnKind.SKIPPED})
        assert (
            table.loc["x", "kind"] == "skipped"
            and table.loc["x", "note"] == "not compared: declared"
        )

    def test_declared_numeric_with_text_is_not_estimable(self) -> None:
        table = feature_drift(
            pd.DataFrame({"x": [1.0, 2.0, 3.0]}),
            pd.DataFrame({"x": ["low", "high", "low"]}),
            kinds={"x": "numeric"},
        )
        row = table.loc["x"]
        assert row["schema_change"] == "no_values_in_current"
        assert "3 current values, none usable (3 not numeric)" in row["note"]

    def test_unknown_names_warn_and_bad_kinds_raise(self) -> None:
        frame = pd.DataFrame({"x": [1.0]})
        with pytest.warns(UnknownColumnWarning, match="'typo'"):
            reconcile_kinds(frame, frame, {"typo": "numeric"})
        with pytest.raises(ValueError, match=r"kinds\['x'\] = 'number' is not a kind"):
            reconcile_kinds(frame, frame, {"x": "number"})
        with pytest.raises(ValueError, match="cannot be declared"):
            reconcile_kinds(frame, frame, {"x": "missing"})

    def test_a_declared_column_in_one_frame_is_still_missing(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            found = reconcile_kinds(
                pd.DataFrame({"a": [1], "old": [1]}), pd.DataFrame({"a": [1]}), {"old": "numeric"}
            )
        assert found == {"a": ColumnKind.NUMERIC, "old": ColumnKind.MISSING}


class TestSameKindForBothWindows:
    """Swapping the windows, or how each was loaded, never changes a kind."""

    @pytest.mark.parametrize(
        ("one", "other"),
        [
            ([1, 2, 3], [1.5, 2.5, 3.5]),
            (["2026-01-01"] * 3, pd.to_datetime(["2026-02-01"] * 3)),
            ([True, False, True], [0, 1, 1]),
            (["a", "b", "c"], [1, 2, 3]),
            ([np.nan] * 3, ["a", "b", "c"]),
            (pd.array([1, None, 3], dtype="Int64"), ["1", "2", "3"]),
        ],
    )
    def test_symmetric(self, one: Any, other: Any) -> None:
        forward = kinds({"c": one}, {"c": other})
        backward = kinds({"c": other}, {"c": one})
        assert forward == backward
