"""The durable outbox: alerts survive outages, crashes, restarts and bad configuration.

The pipeline writes a model's alerts here *first*, before any call to a
control plane (limits, state, a Prefect server) and before any post. It
removes them only when every one of them is accounted for: delivered,
deduplicated with a count, silenced with a count, or counted for the
model's next message. What is left (Slack down, a process killed mid-send,
a block that does not exist, a model whose lock stayed taken) stays here
with the reason until ``replay``.

A message Slack refuses for good (``invalid_blocks``, ``channel_not_found``)
moves to the ``dead`` folder with its reason, so one poisoned entry never
blocks the ones behind it. ``revive`` puts it back once the cause is fixed.

Records hold the alerts with their free text PHI-redacted, and a *route*:
how to find the destination again (a block name, an environment variable,
the preview); never a webhook URL or a token. Delivery is at least once: a
process killed after Slack answered but before the removal may send that
message again on replay.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slack_alerts.files import write_json_atomically

UNDELIVERED_ENV = "SLACK_ALERTS_UNDELIVERED"
DEAD_FOLDER = "dead"
RECORD_VERSION = 2


def default_undelivered_dir() -> Path:
    """``$SLACK_ALERTS_UNDELIVERED``, else ``~/.local/state/slack-alerts/undelivered``."""
    configured = os.environ.get(UNDELIVERED_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".local" / "state" / "slack-alerts" / "undelivered"


class OutboxUnavailable(OSError):
    """The outbox folder cannot be written. The message names the folder."""


def record_id(model_id: str, parts: list[str]) -> str:
    """A stable id for a model's batch: the same alerts give the same record."""
    material = "\x1f".join([model_id, *sorted(parts)])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class OutboxRecord:
    """Alerts of one model not yet accounted for, and why.

    - ``route``: how to find the destination again, e.g. ``{"block": "ml-alerts"}``,
      ``{"env": "SLACK_WEBHOOK_URL"}`` or ``{"preview": "outbox"}``; never a secret.
    - ``alerts``: ``slack_alerts.models.alert_to_record`` dumps.
    - ``resolved``: resolved notices that were not delivered, each with the
      ``receiver`` key it belongs to.
    - ``payload``: a prebuilt message (free text, or an entry of an older
      version of this outbox) to post as it is.
    - ``reason``: why it is here ("intake", "failed_transient: timeout", ...).
    """

    id: str
    model_id: str
    route: dict[str, str]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    payload: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    reason: str = "intake"
    error: str | None = None
    attempts: int = 0
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    path: Path | None = None

    @property
    def fingerprints(self) -> list[str]:
        return [str(a.get("fingerprint", "")) for a in self.alerts]

    @property
    def size(self) -> int:
        """Alerts and notices it holds (a prebuilt message counts as one)."""
        return len(self.alerts) + len(self.resolved) + (1 if self.payload is not None else 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "id": self.id,
            "model_id": self.model_id,
            "route": self.route,
            "alerts": self.alerts,
            "resolved": self.resolved,
            "payload": self.payload,
            "meta": self.meta,
            "reason": self.reason,
            "error": self.error,
            "attempts": self.attempts,
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | None = None) -> OutboxRecord:
        if data.get("version") != RECORD_VERSION:
            return cls._from_version_1(data, path)
        return cls(
            id=str(data["id"]),
            model_id=str(data.get("model_id", "")),
            route={str(k): str(v) for k, v in dict(data.get("route") or {}).items()},
            alerts=list(data.get("alerts") or []),
            resolved=list(data.get("resolved") or []),
            payload=data.get("payload"),
            meta=dict(data.get("meta") or {}),
            reason=str(data.get("reason", "")),
            error=data.get("error"),
            attempts=int(data.get("attempts", 0)),
            created=datetime.fromisoformat(data["created"]),
            updated=datetime.fromisoformat(data.get("updated") or data["created"]),
            path=path,
        )

    @classmethod
    def _from_version_1(cls, data: dict[str, Any], path: Path | None) -> OutboxRecord:
        # Entries of the first outbox held a formatted payload and flat metadata.
        if "payload" not in data:
            raise ValueError("not an outbox record")
        occurred = datetime.fromisoformat(data.get("occurred") or datetime.now(UTC).isoformat())
        meta = {k: v for k, v in data.items() if k not in ("payload", "occurred")}
        return cls(
            id=(path.stem if path else str(meta.get("fingerprint") or "message")),
            model_id=str(meta.get("model_id", "")),
            route={},
            payload=dict(data["payload"]),
            meta=meta,
            reason="undelivered (outbox version 1)",
            created=occurred,
            updated=occurred,
            path=path,
        )


class DurableOutbox:
    """A folder of undelivered alerts (``pending``) and refused ones (``dead_letters``)."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_undelivered_dir()

    def __repr__(self) -> str:
        return f"DurableOutbox(directory={str(self.directory)!r})"

    @property
    def dead_directory(self) -> Path:
        return self.directory / DEAD_FOLDER

    def _path(self, record: OutboxRecord, folder: Path) -> Path:
        # Named by id: writing the same batch again (a retry) replaces its record.
        return folder / f"{record.id}.json"

    def _write(self, record: OutboxRecord, folder: Path) -> OutboxRecord:
        path = self._path(record, folder)
        try:
            write_json_atomically(path, record.to_json())
        except OSError as exc:
            raise OutboxUnavailable(
                f"cannot write the durable outbox at {folder}: {exc.strerror or type(exc).__name__}"
            ) from None
        return replace(record, path=path)

    def put(self, record: OutboxRecord) -> OutboxRecord:
        """Store (or overwrite) ``record``; returns it with its ``path``.

        A record already stored under the same id (the same batch written
        again, by a retry) keeps its creation time, so replay order holds.
        Raises ``OutboxUnavailable`` (naming the folder) when it cannot be written.
        """
        existing = self._path(record, self.directory)
        if record.path is None and existing.exists():
            try:
                stored = OutboxRecord.from_json(json.loads(existing.read_text(encoding="utf-8")))
                record = replace(record, created=min(record.created, stored.created))
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return self._write(record, self.directory)

    def remove(self, record: OutboxRecord | Path) -> None:
        """Mark accounted for. Missing already (another replay got it) is fine."""
        path = record if isinstance(record, Path) else record.path
        if path is not None:
            path.unlink(missing_ok=True)

    def bury(self, record: OutboxRecord) -> OutboxRecord:
        """Move ``record`` to the dead letters; returns it at its new place."""
        buried = self._write(replace(record, path=None), self.dead_directory)
        if record.path is not None and record.path != buried.path:
            record.path.unlink(missing_ok=True)
        return buried

    def revive(self, record: OutboxRecord) -> OutboxRecord:
        """Move a dead letter back to the pending records, for another replay."""
        revived = self._write(replace(record, path=None, reason="revived"), self.directory)
        if record.path is not None:
            record.path.unlink(missing_ok=True)
        return revived

    def _read(self, folder: Path) -> list[OutboxRecord]:
        if not folder.is_dir():
            return []
        records = []
        for path in folder.glob("*.json"):
            try:
                records.append(
                    OutboxRecord.from_json(json.loads(path.read_text(encoding="utf-8")), path)
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue  # removed meanwhile, or not ours; never fatal
        return sorted(records, key=lambda r: (r.created, r.id))

    def pending(self) -> list[OutboxRecord]:
        """Records waiting for replay, oldest first."""
        return self._read(self.directory)

    def dead_letters(self) -> list[OutboxRecord]:
        """Records Slack refused for good, oldest first."""
        return self._read(self.dead_directory)
