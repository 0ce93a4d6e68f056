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
