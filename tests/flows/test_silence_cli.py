"""``slack-alerts silence add | list | expire`` on the SQL state (``$SLACK_ALERTS_STATE_URL``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.cli import main
from flows.delivery import silence_store
from flows.silence_cli import parse_duration
from slack_alerts import AlertStatus
from slack_alerts.pipeline import AlertPipeline
from slack_alerts.testing import LocalWebhookServer
from tests.factories import drift, unique


@pytest.fixture
def state_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    monkeypatch.setenv("SLACK_ALERTS_STATE_URL", url)
    return url


def test_add_list_expire(state_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    model = unique()
    assert (
        main(
            [
                "silence",
                "add",
                "--model",
                model,
                "--duration",
                "2h",
                "--author",
                "ana",
                "--comment",
                "retraining",
            ]
        )
        == 0
    )
    added = capsys.readouterr().out
    silence_id = added.split()[1].rstrip(":")
    (silence,) = [s for s in silence_store().all() if s.id == silence_id]
    assert silence.matchers == {"model_id": model} and silence.created_by == "ana"
    assert abs((silence.ends_at - silence.starts_at) - timedelta(hours=2)) < timedelta(seconds=1)
    assert main(["silence", "list"]) == 0
    listing = capsys.readouterr().out
    assert silence_id in listing and "active" in listing and "retraining" in listing
    assert main(["silence", "expire", silence_id]) == 0
    capsys.readouterr()
    assert main(["silence", "list"]) == 0 and silence_id not in capsys.readouterr().out
    assert main(["silence", "list", "--all"]) == 0 and "expired" in capsys.readouterr().out


def test_mistakes_are_explained(state_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["silence", "add", "--duration", "2h"]) == 1
    assert "--model" in capsys.readouterr().err
    assert main(["silence", "add", "--model", "m", "--duration", "soon"]) == 1
    assert "'soon'" in capsys.readouterr().err
    assert main(["silence", "expire", "nope"]) == 1
    assert "no silence" in capsys.readouterr().err
    assert parse_duration("1d 2h") == timedelta(hours=26)


def test_a_cli_silence_mutes_the_pipeline_and_is_counted_after(state_url: str) -> None:
    from flows.delivery import state_store

    model = unique()
    assert main(["silence", "add", "--model", model, "--kind", "drift", "--author", "ana"]) == 0
    with LocalWebhookServer() as server:
        from tests.contract.test_pipeline_contract import receiver

        target = receiver(server)
        run = AlertPipeline(target, state_store(), silences=silence_store())
        muted = run.submit([drift(model, metric="a"), drift(model, metric="b")])
        assert muted.count(AlertStatus.SILENCED) == 2 and server.payloads() == []
        after = datetime.now(UTC) + timedelta(hours=5)
        assert run.submit([drift(model, metric="c")], now=after).delivered
        assert "2 alerts arrived under a silence" in str(server.payloads()[-1])


# -- probe findings: B4 (the CLI side), B5, D7, D8, E14 ---------------------------------------


def _added(out: str) -> str:
    return out.split()[1].rstrip(":")


def test_matchers_are_exact_unless_a_pattern_is_asked_for(
    state_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = unique()
    literal = f"{base}[v2]"
    assert main(["silence", "add", "--model", literal, "--author", "ana"]) == 0
    out = capsys.readouterr().out
    assert f"model_id={literal}" in out and "--model-pattern" in out  # a note, not an error
    assert "stored in the database named by $SLACK_ALERTS_STATE_URL" in out
    assert main(["silence", "add", "--model-pattern", f"{base}-*", "--author", "ana"]) == 0
    assert f"model_id~{base}-*" in capsys.readouterr().out
    with LocalWebhookServer() as server:
        from tests.contract.test_pipeline_contract import receiver

        run = AlertPipeline(receiver(server), silence_store(), silences=silence_store())
        muted = run.submit([drift(literal), drift(f"{base}-a"), drift(f"{base}2")])
        statuses = {a.model_id: a.status for a in muted.alerts}
        assert statuses[literal] == statuses[f"{base}-a"] == AlertStatus.SILENCED
        assert statuses[f"{base}2"] != AlertStatus.SILENCED  # not risk2 for risk[v2]
    # Alertmanager's rule: some matcher must not match everything.
    for everything in ("*", "?*", "*[!.]*"):
        assert main(["silence", "add", "--model-pattern", everything]) == 1
        assert "does not match everything" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "stored"),
    [
        (["--kind", "fairness"], {"kind": "compliance"}),
        (["--kind", "Security"], {"kind": "safety"}),
        (["--severity", "CRITICAL"], {"severity": "critical"}),
    ],
)
def test_kind_aliases_and_severity_case_are_normalized(
    state_url: str, capsys: pytest.CaptureFixture[str], flags: list[str], stored: dict[str, str]
) -> None:
    model = unique()
    assert main(["silence", "add", "--model", model, *flags]) == 0
    silence_id = _added(capsys.readouterr().out)
    (silence,) = [s for s in silence_store().all() if s.id == silence_id]
    assert silence.matchers == {"model_id": model, **stored}


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--kind", "nonsense"], "use one of drift, compliance, safety"),
        (["--severity", "catastrophic"], "use one of info, warning, critical"),
        (["--duration", "100000000d"], "longer than a silence may last (365d)"),
        (["--duration", "9" * 400 + "d"], "longer than a silence may last"),
        (["--model", "   "], "model_id: an empty value would never match"),
    ],
)
def test_silences_that_could_never_match_or_end_are_refused(
    state_url: str, capsys: pytest.CaptureFixture[str], flags: list[str], said: str
) -> None:
    before = len(silence_store().all())
    model = ["--model", unique()] if "--model" not in flags else []
    assert main(["silence", "add", *model, *flags]) == 1
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and "validation error" not in err
    assert len(silence_store().all()) == before


def test_without_a_server_or_a_state_database_silence_refuses(
    prefect_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """E14: no PREFECT_API_URL (and no $SLACK_ALERTS_STATE_URL): refused, as `register` is."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main(["silence", "add", "--model", unique()]) == 1
    err = capsys.readouterr().err
    assert "PREFECT_API_URL is not set" in err and "slack-alerts silence add" in err
    with temporary_settings({PREFECT_API_URL: prefect_api}):
        assert main(["silence", "add", "--model", unique(), "--duration", "1h"]) == 0
    assert f"stored on the Prefect server at {prefect_api}" in capsys.readouterr().out
