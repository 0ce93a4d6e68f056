"""``slack-alerts backfill --dry-run``: each past slot reads its own rows, as its run did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from flows.cli import main
from flows.demo import build_inference_db, live_model
from slack_alerts.live import LiveModelConfig, run_drift_check

INCIDENT = datetime(2026, 3, 5, 9, tzinfo=UTC)


def test_backfill_reproduces_each_slot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = build_inference_db(tmp_path, INCIDENT)
    model = {"model_id": "sepsis-risk-v3", "model_name": "Sepsis", **live_model(url)}
    path = tmp_path / "sepsis.yaml"
    path.write_text(yaml.safe_dump(model))
    start, end = INCIDENT, INCIDENT + timedelta(hours=1)
    code = main(
        [
            "backfill",
            "--model",
            str(path),
            "--start",
            start.isoformat(),
            "--end",
            end.isoformat(),
            "--every",
            "1h",
            "--checks",
            "drift",
            "--dry-run",
        ]
    )
    assert code == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if " UTC  " in line]
    assert len(lines) == 2
    config = LiveModelConfig.model_validate(model)
    for line, hour in zip(lines, range(2), strict=True):
        slot = INCIDENT + timedelta(hours=hour)
        direct = run_drift_check(config, slot)
        assert line.startswith(f"{slot:%Y-%m-%d %H:%M} UTC")
        for alert in direct.alerts:
            assert f"'{alert.metric} ({alert.severity.value})'" in line
    assert "feature:age (critical)" in lines[1] and "feature:age" not in lines[0]


def test_backfill_names_the_bad_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("model_id: m\nmodel_name: M\nsource:\n  kind: sql\n  table: t\n")
    code = main(["backfill", "--model", str(path), "--start", "2026-01-01", "--end", "2026-01-02"])
    assert code == 1
    error = capsys.readouterr().err
    assert "bad.yaml:4" in error and "source" in error
