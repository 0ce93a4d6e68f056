"""Two worker processes, one model, one Slack message: the second finds the first's
``(channel, ts)`` in the shared PostgreSQL state and updates it in place."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from slack_alerts.testing_slack import LocalSlackApi
from tests.factories import unique

ROOT = Path(__file__).resolve().parents[2]


def test_two_workers_update_one_message(postgres_url: str, tmp_path: Path) -> None:
    key, model, go = unique("block:bot"), unique(), tmp_path / "go"
    with LocalSlackApi() as slack:
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.core.two_worker_bot",
                    postgres_url,
                    slack.base_url,
                    key,
                    model,
                    metric,
                    str(go),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for metric in ("psi", "auroc")
        ]
        go.touch()
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err[-2000:]
            results += json.loads(out.split("RESULT ", 1)[1])
        assert results == ["sent", "sent"]
        (message,) = slack.posted()  # one message, not two
        assert len(message.edits) == 1 and len(message.replies) == 1
        assert "psi" in str(message.current) and "auroc" in str(message.current)
