from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slack_alerts.text import (
    ELLIPSIS,
    escape_mrkdwn,
    find_phi,
    redact_phi,
    redact_secrets,
    redact_url,
    safe_http_url,
    truncate,
    valid_unicode,
)


class TestEscape:
    @pytest.mark.parametrize(
        "hostile",
        [
            "<!channel>",
            "<!here>",
            "<!everyone>",
            "<@U123ABC>",
            "<#C123>",
            "<!subteam^S1>",
            "<https://evil.example|click here>",
            "<mailto:x@y.z|mail>",
        ],
    )
    def test_control_sequences_neutralised(self, hostile: str) -> None:
        out = escape_mrkdwn(hostile)
        assert "<" not in out and ">" not in out
        assert out.startswith("&lt;")

    def test_ampersand_first(self) -> None:
        assert escape_mrkdwn("a & <b>") == "a &amp; &lt;b&gt;"
        # Already-escaped text is escaped again, so it shows literally.
        assert escape_mrkdwn("&lt;") == "&amp;lt;"

    @pytest.mark.parametrize("word", ["@channel", "@here", "@everyone", "@Channel"])
    def test_bare_broadcast_words_defused(self, word: str) -> None:
        out = escape_mrkdwn(f"hey {word} look")
        assert word not in out
        assert "\u2060" in out

    @given(st.text())
    def test_never_leaves_angle_brackets(self, s: str) -> None:
        out = escape_mrkdwn(s)
        assert "<" not in out and ">" not in out
        assert re.search(r"&(?!amp;|lt;|gt;)", out) is None


class TestRedactPHI:
    @pytest.mark.parametrize(
        ("text", "token", "secret"),
        [
            ("contact jane.doe+x@hospital.org now", "[EMAIL]", "jane.doe+x@hospital.org"),
            ("call 555-123-4567", "[PHONE]", "555-123-4567"),
            ("call (555) 123-4567", "[PHONE]", "123-4567"),
            ("call +1 555 123 4567", "[PHONE]", "555 123 4567"),
            ("call +15551234567", "[PHONE]", "5551234567"),
            ("ssn 123-45-6789", "[SSN]", "123-45-6789"),
            ("MRN: 123456", "[MRN]", "123456"),
            ("mrn#A12345", "[MRN]", "A12345"),
            ("medical record number 0098765", "[MRN]", "0098765"),
            ("Medical Record Number: 99887766", "[MRN]", "99887766"),
            ("ssn 123 45 6789", "[SSN]", "123 45 6789"),
            ("DOB: 01/02/1960", "[DOB]", "01/02/1960"),
            ("date of birth 1960-02-01", "[DOB]", "1960-02-01"),
            ("born on March 3, 1950", "[DOB]", "March 3, 1950"),
        ],
    )
    def test_patterns_masked(self, text: str, token: str, secret: str) -> None:
        out = redact_phi(text)
        assert token in out
        assert secret not in out

    @pytest.mark.parametrize(
        "text",
        [
            "auc dropped 0.86 -> 0.78",
            "run 1700000000123",
            "version 2026-11-29",
            "p=1e-5",
            "features 12-34",
            "model@v3",
            "window 2026-01-01 to 2026-01-08",
            "ids 123456789 and 123-45 6789",
        ],
    )
    def test_ordinary_ml_text_untouched(self, text: str) -> None:
        assert redact_phi(text) == text

    def test_find_phi_names_kinds_only(self) -> None:
        assert sorted(find_phi("a@b.io and 123-45-6789 MRN: 99999")) == ["email", "mrn", "ssn"]

    @given(st.text(alphabet="ab@.-0123456789 ()+:MRN", max_size=200))
    def test_idempotent(self, s: str) -> None:
        once = redact_phi(s)
        assert redact_phi(once) == once

    @pytest.mark.parametrize(
        "hostile",
        [
            "a" * 20_000,  # no "@": the classic quadratic email-regex input
            "a." * 10_000,
            "a@" * 10_000,
            "1-" * 10_000,
            "1 " * 10_000,
            ("x" * 63 + "@") * 300,
            "MRN " * 5_000,
            "<" * 20_000,
        ],
    )
    def test_hostile_input_completes(self, hostile: str) -> None:
        # Linear-time behaviour is measured in `make bench`; here we only
        # require that these inputs are handled and stay safe.
        out = escape_mrkdwn(redact_phi(hostile))
        assert "<" not in out


class TestValidUnicode:
    def test_pairs_joined_lone_surrogates_replaced(self) -> None:
        assert valid_unicode("x\ud83d\ude00") == "x\U0001f600"
        assert valid_unicode("a\ud800b") == "a\ufffdb"
        assert valid_unicode("plain") == "plain"

    @given(st.text(alphabet=st.characters(codec=None), max_size=50))
    def test_always_encodable(self, s: str) -> None:
        valid_unicode(s).encode("utf-8")

    def test_alerts_repair_their_text(self) -> None:
        from slack_alerts import SafetyEvent

        event = SafetyEvent(
            model_id="m\ud800",
            event_type="x",
            description="x\ud83d\ude00",
            metadata={"k\udc00": ["v\ud800"]},
        )
        assert event.description == "x\U0001f600" and event.model_id == "m\ufffd"
        assert event.metadata == {"k\ufffd": ["v\ufffd"]}
        event.fingerprint.encode("utf-8")


class TestTruncate:
    def test_short_unchanged(self) -> None:
        assert truncate("abc", 3) == "abc"

    def test_ellipsis(self) -> None:
        assert truncate("abcdef", 4) == "abc" + ELLIPSIS

    def test_never_cuts_an_entity(self) -> None:
        s = escape_mrkdwn("ab<<<<")
        for limit in range(1, len(s) + 1):
            out = truncate(s, limit)
            assert len(out) <= limit
            assert re.search(r"&[a-z]*" + ELLIPSIS, out) is None

    @given(st.text(), st.integers(min_value=0, max_value=50))
    def test_limit_holds(self, s: str, limit: int) -> None:
        assert len(truncate(s, limit)) <= limit


class TestSecrets:
    URL = "https://hooks.slack.com/services/T0ABCDEF/B0GHIJKL/s3cr3tT0k3nV4lu3xyz"

    def test_redact_slack_url(self) -> None:
        assert redact_url(self.URL) == "https://hooks.slack.com/services/T…/B…/***"

    def test_redact_other_url(self) -> None:
        assert redact_url("http://127.0.0.1:8080/hook/abc") == "http://127.0.0.1:8080/***"

    def test_redact_secrets_in_exception_text(self) -> None:
        msg = f"HTTPSConnectionPool: Max retries exceeded with url: {self.URL[23:]}"
        out = redact_secrets(msg)
        assert "s3cr3t" not in out

    def test_registered_secret_path(self) -> None:
        secret = "http://127.0.0.1:9/custom/path/abcdef"
        out = redact_secrets("POST /custom/path/abcdef HTTP/1.1", [secret])
        assert "abcdef" not in out

    @pytest.mark.parametrize(
        ("text", "kept"),
        [
            ("no file at postgresql:/u:Secr3tPass@h/db", "no file at postgresql:/u:***@h/db"),
            ("postgresql://u:p@ss@Secr3tPass@h:5432/db x", "postgresql://u:***@h:5432/db x"),
            ("s3://AKIAEXAMPLE:Secr3tPass@bucket/key", "s3://AKIAEXAMPLE:***@bucket/key"),
            (
                "https://hooks.slack.com/workflows/T0/A0/1/Secr3tPass",
                "https://hooks.slack.com/workflows/***",
            ),
            (
                "https://hooks.slack.com/triggers/T0/1/Secr3tPass",
                "https://hooks.slack.com/triggers/***",
            ),
            ("Authorization: Bearer Secr3tPassToken", "Authorization: Bearer ***"),
            ("host=db password=Secr3tPass dbname=x", "host=db password=*** dbname=x"),
            ("api_key='Secr3tPass'", "api_key=***"),
        ],
    )
    def test_secret_shapes_found_in_the_field(self, text: str, kept: str) -> None:
        assert redact_secrets(text) == kept

    @pytest.mark.parametrize(
        "text",
        ["mail a@b.com at 10:30", "https://example.com/a/b", "bot_token: looks like a token"],
    )
    def test_ordinary_text_is_kept(self, text: str) -> None:
        assert redact_secrets(text) == text


class TestSafeUrl:
    @pytest.mark.parametrize(
        "url", ["javascript:alert(1)", "ftp://x/y", "https://", "not a url", "https://a b", ""]
    )
    def test_rejected(self, url: str) -> None:
        assert safe_http_url(url) is None

    def test_overlong_dropped(self) -> None:
        assert safe_http_url("https://x.io/" + "a" * 3000) is None

    def test_ok(self) -> None:
        assert safe_http_url("https://grafana.example/d/abc?var=1") is not None
