"""The reference design's examples, runnable with or without Slack.

With ``SLACK_WEBHOOK_URL`` unset, every message lands in the local preview
outbox (``$SLACK_ALERTS_OUTBOX``, default ``./outbox``) instead of Slack.

    python examples/slack_alerts_example.py
"""

from __future__ import annotations

import os
from collections import Counter

from slack_alerts import (
    DeliveryStatus,
    DriftAlert,
    FAVESViolation,
    SafetyEvent,
    SeverityLevel,
    SlackAlertClient,
)


def make_client(**overrides: object) -> SlackAlertClient:
    return SlackAlertClient(webhook_url=os.getenv("SLACK_WEBHOOK_URL"), **overrides)  # type: ignore[arg-type]


def example_drift_alert(client: SlackAlertClient) -> bool:
    """A performance metric fell below its baseline."""
    alert = DriftAlert(
        model_id="sepsis-risk-v3",
        model_name="Sepsis early warning",
        metric="auroc",
        current_value=0.78,
        baseline_value=0.86,
        threshold=0.05,
        severity=SeverityLevel.WARNING,
        details={"window": "last 24h", "n_predictions": 18_204, "psi_top_feature": "lactate"},
    )
    return client.send_drift_alert(alert)


def example_faves_violation(client: SlackAlertClient) -> bool:
    """A fairness check (four-fifths rule) failed for one patient group."""
    violation = FAVESViolation(
        model_id="readmission-v2",
        model_name="30-day readmission",
        violation_type="fairness",
        description="Selection-rate ratio 0.64 is below the four-fifths rule (0.80).",
        severity=SeverityLevel.CRITICAL,
        affected_groups=["age 75+", "Medicaid"],
        details={"demographic_parity_ratio": 0.64, "equalized_odds_difference": 0.19},
    )
    return client.send_faves_violation(violation)


def example_safety_event(client: SlackAlertClient) -> bool:
    """A security incident; critical events skip the rate limit."""
    event = SafetyEvent(
        event_type="phi_in_output",
        model_id="discharge-summary-llm",
        description="Model output contained a pattern that looks like an MRN: 12345678.",
        severity=SeverityLevel.CRITICAL,
        metadata={"incident_id": "inc-2026-0042", "principal": "svc-notes"},
    )
    return client.send_safety_event(event, skip_rate_limit=True)


def example_rate_limiting() -> Counter[str]:
    """Five alerts with a limit of two per minute: three are held and counted."""
    client = make_client(rate_limit_per_minute=2)
    outcomes: Counter[str] = Counter()
    for i in range(5):
        alert = DriftAlert(
            model_id="noisy-model",
            model_name="Noisy model",
            metric=f"feature_{i}_psi",
            current_value=0.3,
            baseline_value=0.0,
            threshold=0.25,
        )
        outcomes[client.send(alert).status.value] += 1
    pending = client.suppressed.pending("noisy-model")
    print(f"  rate limiting: {dict(outcomes)}; {pending} held for the next message")
    return outcomes


def example_skip_rate_limit() -> bool:
    """skip_rate_limit=True sends even when the model's budget is spent."""
    client = make_client(rate_limit_per_minute=1)
    alert = DriftAlert(
        model_id="icu-los",
        model_name="ICU length of stay",
        metric="mae_hours",
        current_value=31.0,
        baseline_value=22.0,
        threshold=5.0,
    )
    client.send_drift_alert(alert)
    return client.send_drift_alert(alert, skip_rate_limit=True)


def example_error_handling() -> None:
    """Bad input fails loudly and names the field; delivery problems never raise."""
    try:
        DriftAlert(
            model_id="",
            model_name="x",
            metric="auc",
            current_value=float("nan"),
            baseline_value=0.9,
            threshold=0.05,
        )
    except ValueError as err:  # pydantic.ValidationError is a ValueError
        fields = sorted({str(e["loc"][0]) for e in err.errors()})  # type: ignore[attr-defined]
        print(f"  invalid alert rejected, fields: {', '.join(fields)}")
    try:
        SlackAlertClient("ftp://not-a-webhook")
    except ValueError as err:
        print(f"  bad webhook URL rejected: {err}")
    unreachable = SlackAlertClient("http://127.0.0.1:9/services/T0/B0/x", max_retries=0)
    result = unreachable.send(
        SafetyEvent(event_type="test", model_id="m", description="unreachable webhook")
    )
    assert result.status is DeliveryStatus.FAILED_TRANSIENT
    print(f"  unreachable webhook: {result.status.value} ({result.error}), no exception")


def main() -> None:
    client = make_client()
    where = client.transport.destination
    print(f"Sending example alerts to {where}")
    sent = {
        "drift": example_drift_alert(client),
        "faves": example_faves_violation(client),
        "safety": example_safety_event(client),
    }
    print(f"  delivered: {sent}")
    example_rate_limiting()
    example_skip_rate_limit()
    example_error_handling()
    if client.is_preview:
        print(f"Preview messages are JSON files in {where.rsplit(' ', 1)[-1]}")


if __name__ == "__main__":
    main()
