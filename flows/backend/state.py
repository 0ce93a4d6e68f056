"""``PrefectStateStore``: notification logs on the Prefect server, shared by every worker.

A (receiver, model) group's log lives in Prefect Variables named
``slack_alerts_log_<hash>_<n>``: the firing fingerprints, compressed and
spread over as few variables as Prefect's 5,000-character value limit
allows (about 150 per variable), plus the held-back count. Reading a log
is **one** call (a filter on the name prefix, paged at 200 variables, some
30,000 fingerprints); saving writes only the variables that changed: one
for a typical model, one more per ~150 firing fingerprints beyond that.
Per-model cost does not grow with the number of features checked, only
with the number firing at once.

What is stored is bounded and PHI-free: fingerprints (hashes), titles
truncated and PHI-redacted, times and counts; the model id appears only
hashed, in the name.

The group is locked while its log is edited: a global concurrency limit of
1 held with a 60 s lease, renewed while the holder lives (see
``flows.backend.limits``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from datetime import UTC, datetime
from typing import Any

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import VariableCreate, VariableUpdate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from flows.backend.controlplane import ControlPlane, ControlPlaneUnavailable
from flows.backend.limits import LEASE_SECONDS, Lease, acquire, limit_names
from slack_alerts.delivery import MessageRef
from slack_alerts.formatting import SuppressedSummary
from slack_alerts.state import (
    FingerprintState,
    NotificationLog,
    SilencedSummary,
    StateSession,
    StateUnavailable,
)

VARIABLE_PREFIX = "slack_alerts_log_"
CHUNK_CHARACTERS = 4_500  # Prefect refuses values over 5,000 characters of JSON
PAGE = 200


def log_prefix(receiver: str, model_id: str) -> str:
    digest = hashlib.sha256(f"{receiver}\x1f{model_id}".encode()).hexdigest()[:24]
    return f"{VARIABLE_PREFIX}{digest}_"


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else round(value.timestamp(), 3)


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _pack(entries: dict[str, Any]) -> str:
    raw = json.dumps(entries, separators=(",", ":")).encode()
    return base64.b85encode(zlib.compress(raw, 9)).decode("ascii")


def _unpack(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(zlib.decompress(base64.b85decode(text)))
    return data


def _bucket(fingerprint: str, buckets: int) -> int:
    # Stable assignment: a fingerprint stays in its variable while the count holds.
    return (int(fingerprint[:8], 16) * buckets) >> 32


def encode(log: NotificationLog) -> list[dict[str, Any]]:
    """The log as variable values, each under ``CHUNK_CHARACTERS`` of JSON.

    Entries are compressed (zlib, base85): about 150 firing fingerprints fit
    in one variable, so a typical model's log is one variable.
    """
    entries = {
        s.fingerprint: [
            s.title,
            _epoch(s.first_seen),
            _epoch(s.last_seen),
            _epoch(s.last_sent),
            s.count,
            s.acked_by,
            s.last_severity,
        ]
        for s in sorted(log.states.values(), key=lambda s: s.fingerprint)
        if s.firing
    }
    suppressed, silenced, message = log.suppressed, log.silenced, log.message
    head: dict[str, Any] = {
        "u": _epoch(datetime.now(UTC)),
        "sup": [suppressed.count, _epoch(suppressed.since)] if suppressed else None,
        "sil": (
            [silenced.count, _epoch(silenced.since), _epoch(silenced.until)] if silenced else None
        ),
        "msg": ([message.channel, message.ts, _epoch(log.message_posted)] if message else None),
    }
    buckets = 1
    while True:
        groups: list[dict[str, Any]] = [{} for _ in range(buckets)]
        for fingerprint, entry in entries.items():
            groups[_bucket(fingerprint, buckets)][fingerprint] = entry
        chunks = [
            {**(head if i == 0 else {}), "n": buckets, "i": i, "z": _pack(group)}
            for i, group in enumerate(groups)
        ]
        if all(len(json.dumps(c)) <= CHUNK_CHARACTERS for c in chunks):
            return chunks
        buckets *= 2


def decode(receiver: str, model_id: str, values: list[dict[str, Any]]) -> NotificationLog:
    log = NotificationLog(receiver, model_id)
    # A save interrupted mid-way can leave variables of an older layout: read
    # the newest layout only (the largest bucket count present).
    layout = max((int(v.get("n", 1)) for v in values), default=1)
    for value in values:
        if int(value.get("n", 1)) != layout:
            continue
        if "u" in value:
            log.updated_at = _time(value.get("u"))
            sup = value.get("sup")
            if sup:
                since = _time(sup[1])
                if since is not None:
                    log.suppressed = SuppressedSummary(int(sup[0]), since)
            sil = value.get("sil")
            if sil:
                start, until = _time(sil[1]), _time(sil[2])
                if start is not None and until is not None:
                    log.silenced = SilencedSummary(int(sil[0]), start, until)
            msg = value.get("msg")
            if msg:
                log.message = MessageRef(str(msg[0]), str(msg[1]))
                log.message_posted = _time(msg[2])
        try:
            entries = _unpack(str(value.get("z", "")))
        except (ValueError, zlib.error):
            continue  # unreadable: fail open for these fingerprints
        for fingerprint, entry in entries.items():
            title, first, last, sent, count, *rest = entry
            acked_by, last_severity = [*rest, None, None][:2]
            log.states[fingerprint] = FingerprintState(
                fingerprint=fingerprint,
                model_id=model_id,
                title=str(title),
                first_seen=_time(first) or datetime.now(UTC),
                last_seen=_time(last) or datetime.now(UTC),
                last_sent=_time(sent),
                count=int(count),
                firing=True,
                acked_by=acked_by,
                last_severity=last_severity,
            )
    return log


class _PrefectSession:
    def __init__(
        self, control: ControlPlane, receiver: str, model_id: str, lease: Lease | None
    ) -> None:
        self.control, self.receiver, self.model_id, self.lease = control, receiver, model_id, lease
        self.prefix = log_prefix(receiver, model_id)
        self.loaded: dict[str, dict[str, Any]] = {}

    def _read(self, client: SyncPrefectClient) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            response = client.request(
                "POST",
                "/variables/filter",
                json={
                    "variables": {"name": {"like_": self.prefix}},
                    "limit": PAGE,
                    "offset": offset,
                },
            )
            page = response.json()
            for variable in page:
                if variable["name"].startswith(self.prefix) and isinstance(variable["value"], dict):
                    found[variable["name"]] = variable["value"]
            if len(page) < PAGE:
                return found
            offset += PAGE

    def load(self) -> NotificationLog:
        self.loaded = self.control.call(self._read, what="reading the alert state")
        ordered = [self.loaded[name] for name in sorted(self.loaded)]
        return decode(self.receiver, self.model_id, ordered)

    def save(self, log: NotificationLog) -> None:
        chunks = {f"{self.prefix}{i}": value for i, value in enumerate(encode(log))}
        if not log.states and not (log.suppressed or log.silenced or log.message):
            chunks = {}  # nothing firing, held back or posted: leave no variables behind
        stale = [name for name in self.loaded if name not in chunks]

        def write(client: SyncPrefectClient) -> None:
            for name, value in chunks.items():
                previous = self.loaded.get(name)
                if previous is not None and {k: v for k, v in previous.items() if k != "u"} == {
                    k: v for k, v in value.items() if k != "u"
                }:
                    continue  # unchanged: no call
                if previous is None:
                    try:
                        client.create_variable(VariableCreate(name=name, value=value))
                        continue
                    except ObjectAlreadyExists:
                        pass
                client.update_variable(VariableUpdate(name=name, value=value))
            for name in stale:
                try:
                    client.delete_variable_by_name(name)
                except ObjectNotFound:
                    continue

        self.control.call(write, what="saving the alert state")
        self.loaded = chunks

    def close(self) -> None:
        if self.lease is not None:
            lease, self.lease = self.lease, None
            lease.release()


class PrefectStateStore:
    """``StateStore`` on the Prefect server (see the module docstring)."""

    def __init__(self, control: ControlPlane) -> None:
        self.control = control

    def open(self, receiver: str, model_id: str, *, wait_seconds: float) -> StateSession:
        lock = limit_names(receiver, model_id, 0, 0).lock
        try:
            lease_id = acquire(
                self.control,
                lock,
                mode="concurrency",
                limit=1,
                wait_seconds=wait_seconds,
                lease_seconds=LEASE_SECONDS,
            )
        except ControlPlaneUnavailable as exc:
            raise StateUnavailable(str(exc)) from None
        lease = Lease(self.control, lease_id, LEASE_SECONDS) if lease_id is not None else None
        return _PrefectSession(self.control, receiver, model_id, lease)

    def read(self, receiver: str, model_id: str) -> NotificationLog:
        """The current log of one group, without locking it."""
        return _PrefectSession(self.control, receiver, model_id, None).load()

    def pending_suppressed(self, receiver: str, model_id: str) -> int:
        """Alerts held back by the rate limit, waiting for the group's next message."""
        suppressed = self.read(receiver, model_id).suppressed
        return suppressed.count if suppressed else 0
