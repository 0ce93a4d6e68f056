from __future__ import annotations

import pytest

from slack_alerts import ConfigError, SlackAlertsConfig
from slack_alerts.testing import LocalWebhookServer

SECRET_A = "https://hooks.slack.com/services/T1/B1/aaaaaaaaaaaa"
SECRET_B = "https://hooks.slack.com/services/T2/B2/bbbbbbbbbbbb"


def test_from_env_defaults_to_preview() -> None:
    config = SlackAlertsConfig.from_env({})
    assert config.webhook_url is None
    assert config.get_drift_client().is_preview


def test_per_kind_override_and_fallback() -> None:
    config = SlackAlertsConfig.from_env(
        {
            "SLACK_WEBHOOK_URL": SECRET_A,
            "SLACK_SAFETY_WEBHOOK_URL": SECRET_B,
            "SLACK_SAFETY_CHANNEL": "#security",
            "SLACK_CHANNEL": "#ml-alerts",
            "SLACK_RATE_LIMIT_PER_MINUTE": "5",
            "SLACK_COMPLIANCE_RATE_LIMIT_PER_MINUTE": "2",
            "SLACK_MENTION_ON_CRITICAL": "here",
        }
    )
    drift, compliance, safety = (
        config.get_drift_client(),
        config.get_compliance_client(),
        config.get_safety_client(),
    )
    assert drift.options.channel == "#ml-alerts" and safety.options.channel == "#security"
    assert safety is not drift and drift is not compliance  # different rate limits
    assert drift.rate_limiter.max_messages_per_window == 5
    assert compliance.rate_limiter.max_messages_per_window == 2
    assert drift.options.mention_on_critical == "<!here>"
    assert "T1" not in repr(drift) and "aaaaaaaa" not in repr(config)
    assert "bbbbbbbb" not in repr(safety)
    assert config.get_drift_client() is drift  # cached: one pool per webhook


def test_kinds_with_same_settings_share_a_client() -> None:
    config = SlackAlertsConfig.from_env({"SLACK_WEBHOOK_URL": SECRET_A})
    assert config.get_drift_client() is config.get_safety_client()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SLACK_WEBHOOK_URL", "not-a-url-SECRETVALUE"),
        ("SLACK_DRIFT_WEBHOOK_URL", "ftp://SECRETVALUE"),
        ("SLACK_RATE_LIMIT_PER_MINUTE", "ten-SECRETVALUE"),
        ("SLACK_RATE_LIMIT_PER_MINUTE", "0"),
        ("SLACK_SAFETY_RATE_LIMIT_PER_MINUTE", "-3"),
        ("SLACK_TIMEOUT_SECONDS", "soonSECRETVALUE"),
        ("SLACK_REDACT_PII", "maybeSECRETVALUE"),
        ("SLACK_MENTION_ON_CRITICAL", "#generalSECRETVALUE"),
    ],
)
def test_misconfiguration_names_variable_not_value(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as err:
        SlackAlertsConfig.from_env({name: value})
    assert name in str(err.value)
    assert "SECRETVALUE" not in str(err.value)


def test_routes_deliver_to_their_webhooks() -> None:
    with LocalWebhookServer() as default, LocalWebhookServer(secret="SAFETYSECRET") as security:
        config = SlackAlertsConfig.from_env(
            {"SLACK_WEBHOOK_URL": default.url, "SLACK_SAFETY_WEBHOOK_URL": security.url}
        )
        from slack_alerts import DriftAlert, SafetyEvent

        assert config.client_for(SafetyEvent(event_type="x", model_id="m")).send_safety_event(
            SafetyEvent(event_type="x", model_id="m")
        )
        assert config.get_drift_client().send_drift_alert(
            DriftAlert(
                model_id="m",
                model_name="m",
                metric="a",
                current_value=1,
                baseline_value=2,
                threshold=1,
            )
        )
        assert len(security.payloads()) == 1 and len(default.payloads()) == 1
        config.close()
