from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from slack_alerts import DriftAlert, FAVESViolation, SafetyEvent, SeverityLevel
from tests import factories


def drift(**overrides: object) -> DriftAlert:
    base: dict[str, object] = dict(
        model_name="Sepsis risk", metric="auc", current_value=0.78, baseline_value=0.86
    )
    return factories.drift(**{**base, **overrides})


class TestSeverityLevel:
    def test_values_and_colors(self) -> None:
        assert [s.value for s in SeverityLevel] == ["info", "warning", "critical"]
        assert SeverityLevel.INFO.to_color() == "#2EB67D"  # green
        assert SeverityLevel.WARNING.to_color() == "#F2A33A"  # orange
        assert SeverityLevel.CRITICAL.to_color() == "#E01E5A"  # red

    @pytest.mark.parametrize("spelling", ["critical", "Critical", "CRITICAL", " critical "])
    def test_case_insensitive(self, spelling: str) -> None:
        assert SeverityLevel(spelling) is SeverityLevel.CRITICAL
        assert drift(severity=spelling).severity is SeverityLevel.CRITICAL

    def test_ranks_order(self) -> None:
        assert SeverityLevel.INFO.rank < SeverityLevel.WARNING.rank < SeverityLevel.CRITICAL.rank

    def test_unknown_severity_names_field(self) -> None:
        with pytest.raises(ValidationError) as err:
            drift(severity="urgent")
        assert err.value.errors()[0]["loc"] == ("severity",)


class TestTimestamps:
    def test_default_is_aware_now(self) -> None:
        before = datetime.now(UTC)
        alert = drift()
        assert alert.timestamp.tzinfo is not None
        assert before <= alert.timestamp <= datetime.now(UTC)

    def test_iso_string_parses(self) -> None:
        alert = drift(timestamp="2026-03-01T12:30:00+02:00")
        assert alert.timestamp == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)

    def test_naive_is_utc(self) -> None:
        alert = drift(timestamp=datetime(2026, 3, 1, 12, 0))
        assert alert.timestamp.utcoffset() == timedelta(0)
        assert alert.timestamp.hour == 12

    def test_other_zone_kept_aware(self) -> None:
        tz = timezone(timedelta(hours=-5))
        alert = drift(timestamp=datetime(2026, 3, 1, 7, 0, tzinfo=tz))
        assert alert.timestamp.astimezone(UTC).hour == 12


class TestDriftPercentage:
    def test_computed_when_omitted(self) -> None:
        assert drift().drift_percentage == pytest.approx((0.78 - 0.86) / 0.86 * 100)

    def test_explicit_value_kept(self) -> None:
        assert drift(drift_percentage=12.5).drift_percentage == 12.5

    def test_overflowing_percentage_leaves_none(self) -> None:
        assert drift(current_value=1e308, baseline_value=-1e-308).drift_percentage is None

    def test_zero_baseline_leaves_none(self) -> None:
        assert drift(baseline_value=0.0).drift_percentage is None

    def test_negative_baseline_uses_magnitude(self) -> None:
        assert drift(current_value=-2.0, baseline_value=-1.0).drift_percentage == pytest.approx(
            -100.0
        )


class TestValidation:
    @pytest.mark.parametrize("field", ["current_value", "baseline_value", "threshold"])
    @pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
    def test_non_finite_rejected_naming_field(self, field: str, bad: float) -> None:
        with pytest.raises(ValidationError) as err:
            drift(**{field: bad})
        assert {e["loc"][0] for e in err.value.errors()} == {field}

    def test_non_finite_drift_percentage_rejected(self) -> None:
        with pytest.raises(ValidationError) as err:
            drift(drift_percentage=float("nan"))
        assert err.value.errors()[0]["loc"] == ("drift_percentage",)

    @pytest.mark.parametrize("model_id", ["", "   "])
    def test_empty_model_id(self, model_id: str) -> None:
        for build in (
            lambda: drift(model_id=model_id),
            lambda: FAVESViolation(
                model_id=model_id, model_name="m", violation_type="fairness", description="d"
            ),
            lambda: SafetyEvent(event_type="x", model_id=model_id, description="d"),
        ):
            with pytest.raises(ValidationError) as err:
                build()
            assert err.value.errors()[0]["loc"] == ("model_id",)

    def test_unknown_field_named(self) -> None:
        with pytest.raises(ValidationError) as err:
            drift(metrc="auc")
        assert "metrc" in str(err.value)

    def test_non_numeric_value_named(self) -> None:
        with pytest.raises(ValidationError) as err:
            drift(current_value="high")
        assert err.value.errors()[0]["loc"] == ("current_value",)


class TestFingerprint:
    def test_stable_across_values_and_time(self) -> None:
        a = drift(current_value=0.5, timestamp="2026-01-01T00:00:00Z")
        b = drift(current_value=0.7, severity="critical", details={"x": 1})
        assert a.fingerprint == b.fingerprint
        assert len(a.fingerprint) == 16 and int(a.fingerprint, 16) >= 0

    def test_identity_changes_fingerprint(self) -> None:
        base = drift()
        assert drift(metric="accuracy").fingerprint != base.fingerprint
        assert drift(model_id="other").fingerprint != base.fingerprint

    def test_kinds_do_not_collide(self) -> None:
        v = FAVESViolation(model_id="m", model_name="m", violation_type="auc", description="")
        s = SafetyEvent(model_id="m", event_type="auc")
        d = drift(model_id="m", metric="auc")
        assert len({v.fingerprint, s.fingerprint, d.fingerprint}) == 3

    def test_incident_id_is_identity_for_safety(self) -> None:
        a = SafetyEvent(model_id="m", event_type="auth_burst", metadata={"incident_id": "i-1"})
        b = SafetyEvent(model_id="m", event_type="auth_burst", metadata={"incident_id": "i-2"})
        c = SafetyEvent(
            model_id="m", event_type="auth_burst", metadata={"incident_id": "i-1", "n": 5}
        )
        assert a.fingerprint != b.fingerprint
        assert a.fingerprint == c.fingerprint

    def test_known_value(self) -> None:
        # Guards against accidental changes: stored fingerprints must keep matching.
        import hashlib

        expected = hashlib.sha256(b"drift\x1fsepsis-v3\x1fauc").hexdigest()[:16]
        assert drift().fingerprint == expected

    def test_dump_round_trips(self) -> None:
        a = drift(details={"psi": 0.3})
        again = DriftAlert.model_validate(a.model_dump(mode="json"))
        assert again == a and again.fingerprint == a.fingerprint


def test_reference_field_names() -> None:
    assert list(DriftAlert.model_fields) == [
        "model_id",
        "severity",
        "timestamp",
        "model_name",
        "metric",
        "current_value",
        "baseline_value",
        "threshold",
        "drift_percentage",
        "details",
    ]
    assert set(FAVESViolation.model_fields) == {
        "model_id",
        "model_name",
        "violation_type",
        "description",
        "severity",
        "timestamp",
        "affected_groups",
        "details",
    }
    assert set(SafetyEvent.model_fields) == {
        "event_type",
        "model_id",
        "description",
        "severity",
        "timestamp",
        "metadata",
    }


class TestBoundsAtConstruction:
    @pytest.mark.parametrize(
        ("field", "value"),
        [("model_id", "m" * 5000), ("metric", "x" * 257), ("model_name", "n" * 513)],
    )
    def test_identifiers_are_bounded_and_named(self, field: str, value: str) -> None:
        with pytest.raises(ValidationError) as err:
            drift(**{field: value})
        assert err.value.errors()[0]["loc"] == (field,)

    @pytest.mark.parametrize("stamp", ["0001-01-01T00:00+05:00", "9999-12-31T23:59-05:00"])
    def test_timestamps_must_fit_in_utc(self, stamp: str) -> None:
        with pytest.raises(ValidationError) as err:
            drift(timestamp=stamp)
        assert err.value.errors()[0]["loc"] == ("timestamp",)
        assert "UTC" in str(err.value)

    def test_edges_that_fit_are_kept_in_utc(self) -> None:
        assert drift(timestamp="0001-01-01T05:00+05:00").timestamp == datetime(1, 1, 1, tzinfo=UTC)
        assert drift(timestamp="9999-12-31T23:59+00:00").timestamp.tzinfo is UTC
