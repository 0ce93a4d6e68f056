"""The durable outbox: undelivered messages survive crashes, outages and restarts.

A message is written here *before* it is sent and removed only *after*
Slack accepted it. So an alert whose retries all failed (Slack down, the
network gone, a revoked webhook), or whose process was killed mid-send,
stays here until ``replay`` delivers it. Entries hold the formatted,
already-redacted payload (never the webhook URL) and are named by
fingerprint and occurrence time, so writing the same alert twice keeps
one entry and replays are idempotent. Delivery is at least once: a process
killed after Slack answered but before the removal sends that one message
again on replay.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

UNDELIVERED_ENV = "SLACK_ALERTS_UNDELIVERED"


def default_undelivered_dir() -> Path:
    """``$SLACK_ALERTS_UNDELIVERED``, else ``~/.local/state/slack-alerts/undelivered``."""
    configured = os.environ.get(UNDELIVERED_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".local" / "state" / "slack-alerts" / "undelivered"


def write_json_atomically(path: Path, record: dict[str, Any]) -> None:
    """Write, fsync, then rename: a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(record, handle, ensure_ascii=False, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@dataclass(frozen=True)
class OutboxEntry:
    path: Path
    record: dict[str, Any]

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = self.record["payload"]
        return payload

    @property
    def meta(self) -> dict[str, Any]:
        return {k: v for k, v in self.record.items() if k != "payload"}


class DurableOutbox:
    """A folder of undelivered messages, oldest first."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_undelivered_dir()

    def __repr__(self) -> str:
        return f"DurableOutbox(directory={str(self.directory)!r})"

    def put(self, payload: dict[str, Any], meta: dict[str, Any], occurred: datetime) -> Path:
        """Store a message before it is sent; returns the entry to remove after."""
        stamp = occurred.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        fingerprint = str(meta.get("fingerprint") or "message")
        path = self.directory / f"{stamp}-{fingerprint}.json"
        record = {**meta, "occurred": occurred.astimezone(UTC).isoformat(), "payload": payload}
        write_json_atomically(path, record)
        return path

    def remove(self, path: Path) -> None:
        """Mark delivered. Missing already (another replay got it) is fine."""
        path.unlink(missing_ok=True)

    def pending(self) -> list[OutboxEntry]:
        """Undelivered entries, oldest occurrence first."""
        if not self.directory.is_dir():
            return []
        entries = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                entries.append(OutboxEntry(path, json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError):
                continue  # removed meanwhile, or not ours; never fatal
        return entries
