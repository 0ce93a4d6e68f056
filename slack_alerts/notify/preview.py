"""The local preview outbox: messages as JSON files, for running without Slack.

``slack_alerts.preview`` renders the folder as one HTML page that looks like
Slack.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from slack_alerts.delivery import DeliveryResult, DeliveryStatus, MessageMeta
from slack_alerts.files import write_json_atomically

OUTBOX_ENV = "SLACK_ALERTS_OUTBOX"


def default_outbox_dir() -> Path:
    """``$SLACK_ALERTS_OUTBOX``, else ``./outbox``."""
    return Path(os.environ.get(OUTBOX_ENV) or "outbox")


class PreviewSink:
    """Writes payloads as JSON files, for running without a Slack workspace.

    Files are named ``<ns-timestamp>-<fingerprint>-<pid>.json`` and written
    atomically (temp file, fsync, rename), so a reader never sees half a message.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_outbox_dir()
        self.destination = f"local preview outbox {self.directory}"
        self._lock = threading.Lock()
        self._last_ns = 0

    def __repr__(self) -> str:
        return f"PreviewSink(directory={str(self.directory)!r})"

    def close(self) -> None:
        return None

    def _unique_ns(self) -> int:
        with self._lock:
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            return self._last_ns

    def post(self, payload: dict[str, Any], meta: MessageMeta | None = None) -> DeliveryResult:
        started = time.monotonic()
        fields = meta.to_dict() if meta is not None else {"kind": "message"}
        fingerprint = str(fields.get("fingerprint") or "") or None
        stamp = self._unique_ns()
        record = {"written_at_ns": stamp, **fields, "payload": payload}
        target = self.directory / f"{stamp}-{fingerprint or 'message'}-{os.getpid()}.json"
        try:
            write_json_atomically(target, record)
        except OSError as exc:
            return DeliveryResult(
                status=DeliveryStatus.FAILED_TRANSIENT,
                attempts=1,
                error="outbox_write_failed",
                detail=f"could not write to {self.directory}: {exc.strerror}",
                elapsed_seconds=time.monotonic() - started,
                fingerprint=fingerprint,
                destination=self.destination,
            )
        return DeliveryResult(
            status=DeliveryStatus.SENT,
            attempts=1,
            elapsed_seconds=time.monotonic() - started,
            fingerprint=fingerprint,
            destination=self.destination,
            location=str(target),
        )


def read_outbox(directory: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Preview records, oldest first (unreadable files are skipped)."""
    folder = Path(directory) if directory is not None else default_outbox_dir()
    if not folder.is_dir():
        return []
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return records
