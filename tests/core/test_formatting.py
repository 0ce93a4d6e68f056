from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slack_alerts import (
    DriftAlert,
    FAVESViolation,
    SafetyEvent,
    SeverityLevel,
    SlackAlertClient,
    SuppressedSummary,
    format_alert,
    message_blocks,
)
from slack_alerts.formatting import FormatOptions, normalize_mention, plain_message, render_value
from slack_alerts.models import MAX_ID_LENGTH, MAX_NAME_LENGTH
from tests import factories
from tests.blockkit import all_text, problems

HOSTILE = st.one_of(
    st.text(max_size=50),
    # Huge strings by repetition: cheap to generate, still past every limit.
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=8), st.integers(500, 3000)),
    st.sampled_from(
        [
            "<!channel>",
            "<!here> hi",
            "<@U024BE7LH>",
            "<https://evil.example|click>",
            "@channel",
            "&amp;",
            "*bold* _it_ ~s~ `c`",
            "\u202e\u200b\x00",
            "🚨" * 200,
            "a&" * 2000,
            "MRN: 123456",
            "jane@hospital.org",
            "555-123-4567",
        ]
    ),
)
KEYS = st.one_of(
    st.text(max_size=300), st.integers(), st.sampled_from(["dashboard_url", "<!here>"])
)
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), HOSTILE),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
DETAILS = st.dictionaries(KEYS, VALUES, max_size=30) | st.builds(
    lambda n, v: {f"k{i}": v for i in range(n)}, st.integers(0, 2000), VALUES
)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
SEVERITY = st.sampled_from(list(SeverityLevel))
URLISH = st.one_of(
    st.none(),
    st.sampled_from(
        ["https://grafana.example/d/1", "javascript:alert(1)", "https://x/" + "a" * 3100]
    ),
    st.text(max_size=40),
)

# Identifiers and names are bounded at construction (MAX_ID_LENGTH, MAX_NAME_LENGTH).
IDENT = HOSTILE.map(lambda s: s[:MAX_ID_LENGTH]).filter(lambda s: s.strip())
NAME = HOSTILE.map(lambda s: s[:MAX_NAME_LENGTH]).filter(lambda s: s.strip())

ALERTS = st.one_of(
    st.builds(
        DriftAlert,
        model_id=IDENT,
        model_name=NAME,
        metric=IDENT,
        current_value=FINITE,
        baseline_value=FINITE,
        threshold=FINITE,
        severity=SEVERITY,
        details=DETAILS,
    ),
    st.builds(
        FAVESViolation,
        model_id=IDENT,
        model_name=NAME,
        violation_type=IDENT,
        description=HOSTILE,
        severity=SEVERITY,
        affected_groups=st.lists(HOSTILE, max_size=10)
        | st.builds(lambda g, n: [g] * n, HOSTILE, st.integers(0, 500)),
        details=DETAILS,
    ),
    st.builds(
        SafetyEvent,
        event_type=IDENT,
        model_id=IDENT,
        description=HOSTILE,
        severity=SEVERITY,
        metadata=DETAILS,
    ),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(alert=ALERTS, dashboard=URLISH, suppressed=st.integers(min_value=0, max_value=10**9))
def test_any_alert_gives_a_valid_payload(
    alert: Any, dashboard: str | None, suppressed: int
) -> None:
    if dashboard is not None:
        extras = alert.metadata if isinstance(alert, SafetyEvent) else alert.details
        extras["dashboard_url"] = dashboard
    options = FormatOptions(mention_on_critical="<!here>", channel="#ml-alerts")
    summary = (
        SuppressedSummary(suppressed, datetime(2026, 1, 1, tzinfo=UTC)) if suppressed else None
    )
    payload = format_alert(alert, options, suppressed=summary)
    assert problems(payload, allowed_mentions=("<!here>",)) == []
    text = all_text(payload)
    for phi in ("jane@hospital.org", "555-123-4567", "MRN: 123456"):
        assert phi not in text


def drift(**kw: Any) -> DriftAlert:
    base: dict[str, Any] = dict(
        model_name="Sepsis risk",
        metric="auc",
        current_value=0.78,
        baseline_value=0.86,
        timestamp="2026-11-29T10:15:00Z",
    )
    return factories.drift(**{**base, **kw})


class TestDriftMessage:
    def test_structure(self) -> None:
        payload = SlackAlertClient(None).format_drift_message(drift(severity="critical"))
        blocks = message_blocks(payload)
        assert [b["type"] for b in blocks] == ["header", "section", "section", "context"]
        assert blocks[0]["text"]["type"] == "plain_text"
        assert (
            "CRITICAL" in blocks[0]["text"]["text"] and "Sepsis risk" in blocks[0]["text"]["text"]
        )
        fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in blocks[2]["fields"]}
        assert fields["*Current*"] == "0.78" and fields["*Baseline*"] == "0.86"
        assert fields["*Change*"] == "-9.3%"
        assert payload["attachments"][0]["color"] == SeverityLevel.CRITICAL.to_color()
        assert "auc is 0.78 against a baseline of 0.86" in payload["text"]
        assert "2026-11-29 10:15:00 UTC" in blocks[-1]["elements"][0]["text"]

    def test_details_render_as_fields(self) -> None:
        alert = drift(details={"psi": 0.31234567, "features": {"age": 0.4, "bmi": [1, 2]}})
        blocks = message_blocks(format_alert(alert))
        texts = [f["text"] for b in blocks for f in b.get("fields", [])]
        assert "*psi*\n0.312346" in texts
        assert '*features*\n{"age":0.4,"bmi":[1,2]}' in texts

    def test_many_details_are_capped_and_counted(self) -> None:
        alert = drift(details={f"k{i}": i for i in range(45)})
        payload = format_alert(alert)
        assert problems(payload) == []
        assert "25 more details not shown" in all_text(payload)

    def test_buttons_from_details_and_templates(self) -> None:
        alert = drift(details={"runbook_url": "https://wiki.example/runbooks/drift"})
        options = FormatOptions(
            dashboard_url_template="https://grafana.example/d/{model_id}?fp={fingerprint}"
        )
        blocks = message_blocks(format_alert(alert, options))
        actions = next(b for b in blocks if b["type"] == "actions")["elements"]
        urls = {e["text"]["text"]: e["url"] for e in actions}
        assert (
            urls["Open dashboard"] == f"https://grafana.example/d/sepsis-v3?fp={alert.fingerprint}"
        )
        assert urls["Open runbook"] == "https://wiki.example/runbooks/drift"

    @pytest.mark.parametrize(
        "url",
        [
            "javascript:alert(1)",
            "https://x.example/" + "a" * 3000,
            "https://x.example/p?mrn=MRN:123456",
        ],
    )
    def test_unsafe_button_urls_dropped(self, url: str) -> None:
        blocks = message_blocks(format_alert(drift(details={"dashboard_url": url})))
        assert not [b for b in blocks if b["type"] == "actions"]

    def test_zero_baseline(self) -> None:
        payload = format_alert(drift(baseline_value=0.0, current_value=0.2))
        assert "n/a (zero baseline)" in payload["text"]


class TestInjection:
    def test_mentions_in_user_text_never_ping(self) -> None:
        alert = FAVESViolation(
            model_id="<!channel>",
            model_name="<!here> model",
            violation_type="<@U123>",
            description="see <https://evil.example|the dashboard> @channel",
            affected_groups=["<!everyone>"],
            details={"<!here>": "<#C1>"},
        )
        payload = format_alert(alert, FormatOptions(mention_on_critical="<!here>"))
        assert problems(payload) == []  # no mention allowed: severity is WARNING
        text = all_text(payload)
        assert "<!" not in text and "<@" not in text and "<https" not in text
        assert "@channel" not in text

    def test_configured_mention_only_for_critical(self) -> None:
        options = FormatOptions(mention_on_critical=normalize_mention("here"))
        warning = format_alert(drift(), options)
        critical = format_alert(drift(severity="critical"), options)
        assert "<!here>" not in all_text(warning)
        assert critical["text"].startswith("<!here> ")

    @pytest.mark.parametrize(
        ("given_value", "expected"),
        [
            ("here", "<!here>"),
            ("@channel", "<!channel>"),
            ("<!here>", "<!here>"),
            ("S0123ABCD", "<!subteam^S0123ABCD>"),
            ("U024BE7LH", "<@U024BE7LH>"),
            (None, None),
            ("", None),
        ],
    )
    def test_normalize_mention(self, given_value: str | None, expected: str | None) -> None:
        assert normalize_mention(given_value) == expected

    @pytest.mark.parametrize("bad", ["everyone please", "<https://evil|x>", "u123", "#general"])
    def test_bad_mention_rejected(self, bad: str) -> None:
        with pytest.raises(ValueError, match="mention_on_critical"):
            normalize_mention(bad)


class TestOtherKinds:
    def test_faves(self) -> None:
        v = FAVESViolation(
            model_id="readmit-2",
            model_name="Readmission",
            violation_type="fairness",
            description="Selection-rate ratio 0.62 < 0.80 for group B",
            severity="critical",
            affected_groups=[f"g{i}" for i in range(30)],
        )
        payload = SlackAlertClient(None).format_compliance_message(v)
        text = all_text(payload)
        assert "FAVES violation" in text and "g0, g1" in text and "and 5 more" in text
        assert problems(payload) == []

    def test_safety(self) -> None:
        e = SafetyEvent(
            event_type="auth_failure_burst",
            model_id="triage-llm",
            description="42 failures",
            severity="critical",
            metadata={"incident_id": "inc-7", "principal": "svc-a"},
        )
        payload = SlackAlertClient(None).format_safety_message(e)
        text = all_text(payload)
        assert "Safety event" in text and "inc-7" in text and "svc-a" in text
        assert problems(payload) == []

    def test_suppressed_notice(self) -> None:
        payload = format_alert(
            drift(), suppressed=SuppressedSummary(7, datetime(2026, 1, 1, 9, 5, tzinfo=UTC))
        )
        assert "7 more alerts suppressed since 09:05 UTC" in payload["text"]
        assert "7 more alerts suppressed since 09:05 UTC" in all_text(message_blocks(payload))  # type: ignore[arg-type]

    def test_plain_message_hygiene(self) -> None:
        payload = plain_message("<!channel> MRN: 123456", SeverityLevel.INFO, title="<@U1> test")
        assert problems(payload) == []
        assert "123456" not in all_text(payload)

    def test_redaction_can_be_disabled(self) -> None:
        payload = format_alert(drift(model_name="jane@x.org"), FormatOptions(redact_pii=False))
        assert "jane@x.org" in all_text(payload)


def test_render_value_survives_cycles() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    assert "{...}" in render_value(cyclic)


class TestReadableDriftLines:
    def test_feature_drift_names_its_statistic(self) -> None:
        alert = DriftAlert(
            model_id="m",
            model_name="M",
            metric="feature:age",
            current_value=0.3927,
            baseline_value=0.0,
            threshold=0.1,
            details={"statistic": "PSI", "test": "KS", "p_value": 1.234e-8, "psi": 0.3927},
        )
        text = format_alert(alert)["text"]
        assert "feature:age: PSI 0.39 (threshold 0.10), KS p = 1.2e-08" in text
        assert "against a baseline of 0" not in text and "zero baseline" not in text

    @pytest.mark.parametrize(
        ("change", "phrase"),
        [
            ("missing_in_current", "the column is missing from the current data"),
            ("new_in_current", "a new column, not in the reference data"),
        ],
    )
    def test_schema_changes_say_what_happened(self, change: str, phrase: str) -> None:
        alert = DriftAlert(
            model_id="m",
            model_name="M",
            metric="schema:lactate",
            current_value=0.0,
            baseline_value=1.0,
            threshold=0.0,
            details={"schema_change": change},
        )
        text = format_alert(alert)["text"]
        assert f"schema:lactate: {phrase}" in text and "against a baseline" not in text

    def test_words_about_phi_are_not_redacted(self) -> None:
        alert = SafetyEvent(
            event_type="phi_in_output",
            model_id="m",
            description="Model output contained email, mrn pattern(s); MRN: 40221987 leaked",
        )
        text = str(format_alert(alert))
        assert "mrn pattern(s)" in text and "40221987" not in text and "[MRN]" in text
