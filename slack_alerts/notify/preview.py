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

from slack_alerts.delivery import DeliveryResult, DeliveryStatus, MessageMeta, MessageRef
from slack_alerts.files import write_json_atomically

OUTBOX_ENV = "SLACK_ALERTS_OUTBOX"
PREVIEW_CHANNEL = "preview"


def default_outbox_dir() -> Path:
    """``$SLACK_ALERTS_OUTBOX``, else ``./outbox``."""
    return Path(os.environ.get(OUTBOX_ENV) or "outbox")


class PreviewSink:
    """Writes payloads as JSON files, for running without a Slack workspace.

    Files are named ``<ns-timestamp>-<fingerprint>-<pid>.json`` and written
    atomically (temp file, fsync, rename), so a reader never sees half a message.
    Like a bot token, it can update a message (the file keeps the earlier
    versions in ``edits``) and reply in its thread (``replies``): a receiver
    with ``update_message`` previews the whole message lifecycle.
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
            message_ref=MessageRef(PREVIEW_CHANNEL, str(stamp)),
        )

    def update(
        self, ref: MessageRef, payload: dict[str, Any], meta: MessageMeta | None = None
    ) -> DeliveryResult:
        """Replace the message's content; the earlier versions stay in ``edits``."""

        def edit(record: dict[str, Any]) -> None:
            record.setdefault("edits", []).append(
                {"payload": record.get("payload"), "until_ns": time.time_ns()}
            )
            record["payload"] = payload
            record["updated_at_ns"] = time.time_ns()

        return self._change(ref, edit, meta)

    def reply(
        self, ref: MessageRef, payload: dict[str, Any], meta: MessageMeta | None = None
    ) -> DeliveryResult:
        """Add a reply to the message's thread."""

        def add(record: dict[str, Any]) -> None:
            record.setdefault("replies", []).append(
                {"payload": payload, "written_at_ns": time.time_ns()}
            )

        return self._change(ref, add, meta)

    def _change(self, ref: MessageRef, change: Any, meta: MessageMeta | None) -> DeliveryResult:
        fingerprint = (meta.fingerprint or None) if meta is not None else None

        def failed(error: str, detail: str, status: DeliveryStatus) -> DeliveryResult:
            return DeliveryResult(
                status=status,
                attempts=1,
                error=error,
                detail=detail,
                fingerprint=fingerprint,
                destination=self.destination,
            )

        found = sorted(self.directory.glob(f"{ref.ts}-*.json")) if ref.ts.isdigit() else []
        if ref.channel != PREVIEW_CHANNEL or not found:
            return failed(
                "message_not_found", "no such preview message", DeliveryStatus.FAILED_PERMANENT
            )
        with self._lock:
            try:
                record = json.loads(found[0].read_text(encoding="utf-8"))
                change(record)
                write_json_atomically(found[0], record)
            except (OSError, ValueError) as exc:
                return failed(
                    "outbox_write_failed",
                    f"could not change {found[0].name}: {type(exc).__name__}",
                    DeliveryStatus.FAILED_TRANSIENT,
                )
        return DeliveryResult(
            status=DeliveryStatus.SENT,
            attempts=1,
            fingerprint=fingerprint,
            destination=self.destination,
            location=str(found[0]),
            message_ref=ref,
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
