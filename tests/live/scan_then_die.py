"""Run by test_live_flows in its own process: scan the audit log, then hang before the send.

python -m tests.live.scan_then_die <audit-path> <webhook-url> <scheduled-iso> <marker-path>

The test SIGKILLs this process once the marker exists: a worker dying between
the security scan and the send.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import flows.monitors.security as security


def _hang(alerts: list[Any], *args: Any, **kwargs: Any) -> Any:
    Path(sys.argv[4]).write_text(str(len(alerts)))
    time.sleep(600)


if __name__ == "__main__":
    security.send_alerts = _hang  # type: ignore[assignment]
    security.security_monitoring_flow(
        audit={"kind": "jsonl", "path": sys.argv[1]},
        webhook=sys.argv[2],
        scheduled_time=datetime.fromisoformat(sys.argv[3]),
    )
