from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from slack_alerts import (
    DeliveryStatus,
    DriftAlert,
    FAVESViolation,
    RateLimiter,
    SafetyEvent,
    SlackAlertClient,
    read_outbox,
)
from slack_alerts.testing import LocalWebhookServer, ScriptedResponse
from tests import factories
from tests.blockkit import problems


def drift(severity: str = "warning", **kw: Any) -> DriftAlert:
    return factories.drift(severity=severity, **kw)


def fast_client(url: str | None, **kw: Any) -> SlackAlertClient:
    return SlackAlertClient(url, backoff_factor=0.01, timeout_seconds=2, **kw)


def test_send_drift_alert_delivers_valid_payload(webhook_server: LocalWebhookServer) -> None:
    with fast_client(
        webhook_server.url, channel="#ml", username="ML bot", icon_emoji=":robot_face:"
    ) as c:
        assert c.send_drift_alert(drift()) is True
    (payload,) = webhook_server.payloads()
    assert problems(payload) == []
    assert payload["channel"] == "#ml" and payload["username"] == "ML bot"
    assert payload["icon_emoji"] == ":robot_face:"


def test_all_three_kinds(webhook_server: LocalWebhookServer) -> None:
    c = fast_client(webhook_server.url)
    assert c.send_faves_violation(
        FAVESViolation(model_id="m", model_name="M", violation_type="fairness", description="d")
    )
    assert c.send_safety_event(
        SafetyEvent(event_type="prompt_injection", model_id="m", description="d")
    )
    assert len(webhook_server.payloads()) == 2


def test_dicts_are_validated(webhook_server: LocalWebhookServer) -> None:
    c = fast_client(webhook_server.url)
    assert c.send_drift_alert(drift().model_dump())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="current_value"):
        c.send_drift_alert(
            {
                "model_id": "m",
                "model_name": "m",
                "metric": "x",  # type: ignore[arg-type]
                "current_value": "NaN",
                "baseline_value": 1,
                "threshold": 1,
            }
        )


def test_bool_methods_never_raise_on_delivery_problems(webhook_server: LocalWebhookServer) -> None:
    webhook_server.default = ScriptedResponse(404, "channel_not_found")
    c = fast_client(webhook_server.url)
    assert c.send_drift_alert(drift()) is False
    result = c.send(drift())
    assert result.status is DeliveryStatus.FAILED_PERMANENT and result.error == "channel_not_found"

    class Exploding:
        destination = "boom"

        def post(self, payload: dict[str, Any], meta: dict[str, Any] | None = None) -> Any:
            raise RuntimeError("transport bug")

        def close(self) -> None: ...

    c2 = SlackAlertClient(transport=Exploding())
    r = c2.send(drift())
    assert r.transient and r.error == "internal_error"


class TestRateLimiting:
    def test_per_model_limit_and_suppressed_count(self, webhook_server: LocalWebhookServer) -> None:
        c = fast_client(webhook_server.url, rate_limit_per_minute=2)
        results = [c.send(drift()) for _ in range(5)]
        assert [r.status for r in results] == [DeliveryStatus.SENT] * 2 + [
            DeliveryStatus.RATE_LIMITED
        ] * 3
        assert results[-1].retry_after_seconds is not None and results[-1].retry_after_seconds > 0
        assert c.suppressed.pending("sepsis-v3") == 3
        assert c.send(drift(model_id="other")).ok  # other models unaffected
        # The next delivered message for the model carries the count.
        c.rate_limiter.reset("sepsis-v3")
        assert c.send(drift()).ok
        last = webhook_server.payloads()[-1]
        assert "3 more alerts suppressed since" in last["text"]
        assert c.suppressed.pending("sepsis-v3") == 0

    def test_critical_and_skip_bypass(self, webhook_server: LocalWebhookServer) -> None:
        c = fast_client(webhook_server.url, rate_limit_per_minute=1)
        assert c.send_drift_alert(drift())
        assert not c.send_drift_alert(drift())
        assert c.send_drift_alert(drift(severity="critical"))
        assert c.send_drift_alert(drift(), skip_rate_limit=True)
        assert len(webhook_server.payloads()) == 3

    def test_failed_delivery_keeps_the_count(self, webhook_server: LocalWebhookServer) -> None:
        c = fast_client(webhook_server.url, rate_limit_per_minute=1, max_retries=0)
        c.send(drift())
        c.send(drift())  # suppressed
        c.rate_limiter.reset()
        webhook_server.script([ScriptedResponse(500, "down")])
        assert not c.send(drift()).ok
        assert c.suppressed.pending("sepsis-v3") == 1  # restored, not lost
        c.rate_limiter.reset()
        assert c.send(drift()).ok
        assert "1 more alert suppressed since" in webhook_server.payloads()[-1]["text"]

    def test_custom_limiter(self) -> None:
        c = SlackAlertClient(None, rate_limiter=RateLimiter(1, 1))
        assert c.send(drift()).ok and not c.send(drift()).ok


class TestPreviewSink:
    def test_no_url_writes_outbox(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SLACK_ALERTS_OUTBOX", str(tmp_path))
        c = SlackAlertClient(webhook_url=None)
        assert c.is_preview
        assert c.send_drift_alert(drift(model_name="Sepsis MRN: 123456"))
        (record,) = read_outbox(tmp_path)
        assert record["fingerprint"] == drift().fingerprint and record["kind"] == "drift"
        assert problems(record["payload"]) == []
        assert "123456" not in json.dumps(record)
        assert not list(tmp_path.glob("*.tmp"))

    def test_env_url_used_when_not_given(
        self, webhook_server: LocalWebhookServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", webhook_server.url)
        c = SlackAlertClient()
        assert not c.is_preview and c.send_drift_alert(drift())
        assert len(webhook_server.payloads()) == 1

    def test_explicit_outbox_dir_and_order(self, tmp_path: Path) -> None:
        c = SlackAlertClient(None, outbox_dir=tmp_path / "box")
        for metric in ("a", "b", "c"):
            c.send(drift().model_copy(update={"metric": metric}))
        records = read_outbox(tmp_path / "box")
        assert [r["payload"]["text"].split(":")[1].strip().split()[0] for r in records] == [
            "a",
            "b",
            "c",
        ]

    def test_unwritable_outbox_is_a_failed_result(self, tmp_path: Path) -> None:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        c = SlackAlertClient(None, outbox_dir=blocker / "sub")
        result = c.send(drift())
        assert result.transient and result.error == "outbox_write_failed"


def test_repr_is_safe(webhook_server: LocalWebhookServer) -> None:
    c = SlackAlertClient(webhook_server.url)
    assert "XXXXXXXX" not in repr(c) and "127.0.0.1" in repr(c)


def test_send_message(webhook_server: LocalWebhookServer) -> None:
    c = fast_client(webhook_server.url)
    assert c.send_message("<!channel> hello", title="Test").ok
    (payload,) = webhook_server.payloads()
    assert "<!channel>" not in json.dumps(payload)


@pytest.mark.parametrize(
    "kw", [{"rate_limit_per_minute": 0}, {"timeout_seconds": 0}, {"mention_on_critical": "#x"}]
)
def test_bad_settings(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SlackAlertClient(None, **kw)
