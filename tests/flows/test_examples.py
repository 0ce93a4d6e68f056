from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from slack_alerts import read_outbox
from tests.blockkit import problems

ROOT = Path(__file__).resolve().parents[2]


def test_examples_run_against_preview_sink(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SLACK_ALERTS_OUTBOX": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "slack_alerts_example.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "delivered: {'drift': True, 'faves': True, 'safety': True}" in done.stdout
    assert "'sent': 2, 'rate_limited': 3" in done.stdout
    records = read_outbox(tmp_path)
    # 3 examples + 2 rate-limited sends + 2 skip-rate-limit sends
    assert len(records) == 7
    assert all(problems(r["payload"]) == [] for r in records)
    # The safety example's description holds an MRN; it must not reach the outbox.
    assert "12345678" not in json.dumps(records)
