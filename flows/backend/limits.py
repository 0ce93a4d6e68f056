"""Per-destination, per-model limits held by the Prefect server, across all workers.

Each (receiver, model) group gets two global concurrency limits:

- ``slack-alerts-rate-<key>-<rate>m<burst>``: a rate limit (``slot_decay_per_second``
  = rate per minute / 60, ``limit`` = burst), one slot per message;
- ``slack-alerts-lock-<key>``: a limit of 1, held with a lease while the
  group's notification log is read, the message posted and the log saved.

The rate limit's settings are part of its name, so a changed block setting
takes effect at once and no call is spent checking settings: a limit is
created the first time the server says it does not exist (Prefect would
otherwise skip a missing limit silently), and never read or updated.

Leases are short (60 s, the server's minimum) and renewed every 20 s while
the holder is alive, so a killed worker frees its group within a minute,
well inside the waiters' budget (``DEFAULT_LOCK_WAIT_SECONDS``, 120 s).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectAlreadyExists

from flows.backend.controlplane import ControlPlane, ControlPlaneUnavailable
from slack_alerts.state import LockTimeout

PREFIX = "slack-alerts"
LEASE_SECONDS = 60.0  # the server's minimum lease
RENEW_EVERY_SECONDS = 20.0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_READABLE = 60


def limit_key(model_id: str, receiver: str = "") -> str:
    """A name-safe, collision-free key for a model (at one receiver).

    Prefect rejects ``/ % & < >`` in names; we keep a readable prefix of the
    id and add a hash of the whole id, so ``a/b`` and ``a-b`` stay distinct.
    """
    readable = _UNSAFE.sub("-", model_id).strip("-.")[:_MAX_READABLE] or "model"
    material = f"{receiver}\x1f{model_id}" if receiver else model_id
    digest = hashlib.sha256(material.encode("utf-8")).hexdigest()[: 10 if receiver else 8]
    return f"{readable}-{digest}"


@dataclass(frozen=True)
class LimitNames:
    rate: str
    lock: str


def limit_names(receiver: str, model_id: str, rate_per_minute: int, burst: int) -> LimitNames:
    key = limit_key(model_id, receiver)
    return LimitNames(
        rate=f"{PREFIX}-rate-{key}-{rate_per_minute}m{burst}", lock=f"{PREFIX}-lock-{key}"
    )


def _create(client: SyncPrefectClient, name: str, limit: int, decay: float) -> None:
    # Another worker may create it first, from the same settings.
    with contextlib.suppress(ObjectAlreadyExists):
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(
                name=name, limit=limit, slot_decay_per_second=decay, active=True
            )
        )


@dataclass(frozen=True)
class _Attempt:
    acquired: bool
    lease_id: UUID | None = None
    retry_after: float = 0.5


def _increment(
    client: SyncPrefectClient,
    name: str,
    mode: Literal["concurrency", "rate_limit"],
    limit: int,
    decay: float,
    lease_seconds: float | None,
) -> _Attempt:
    """One acquisition attempt; creates a missing limit once."""
    for _ in range(2):
        try:
            if lease_seconds is None:
                response = client.increment_concurrency_slots(names=[name], slots=1, mode=mode)
            else:
                response = client.increment_concurrency_slots_with_lease(
                    names=[name], slots=1, mode=mode, lease_duration=lease_seconds
                )
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code != 423:
                raise
            header = exc.response.headers.get("Retry-After") or ""
            try:
                return _Attempt(False, retry_after=max(0.05, float(header)))
            except ValueError:
                return _Attempt(False)
        body: Any = response.json()
        limits = body if isinstance(body, list) else body.get("limits", [])
        if limits:
            lease = UUID(body["lease_id"]) if isinstance(body, dict) else None
            return _Attempt(True, lease_id=lease)
        _create(client, name, limit, decay)
    raise ControlPlaneUnavailable(f"limit {name} could not be created")


def acquire(
    control: ControlPlane,
    name: str,
    *,
    mode: Literal["concurrency", "rate_limit"],
    limit: int,
    decay: float = 0.0,
    wait_seconds: float,
    lease_seconds: float | None = None,
) -> UUID | None:
    """Take one slot of ``name``, waiting at most ``wait_seconds``.

    Returns the lease id (when ``lease_seconds`` is given). Raises
    ``LockTimeout`` when no slot came in time, ``ControlPlaneUnavailable``
    when the server could not be reached or failed.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        attempt = control.call(
            lambda client: _increment(client, name, mode, limit, decay, lease_seconds),
            what=f"taking a slot of {name}",
        )
        if attempt.acquired:
            return attempt.lease_id
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockTimeout(f"no slot of {name} within {wait_seconds:g}s")
        time.sleep(min(attempt.retry_after, remaining))


class Lease:
    """A held lock slot, renewed in the background until ``release``."""

    def __init__(self, control: ControlPlane, lease_id: UUID, lease_seconds: float) -> None:
        self.control, self.lease_id, self.lease_seconds = control, lease_id, lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True, name="lease-renewal")
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_EVERY_SECONDS):
            with contextlib.suppress(ControlPlaneUnavailable):
                self.control.call(
                    lambda client: client.renew_concurrency_lease(
                        lease_id=self.lease_id, lease_duration=self.lease_seconds
                    ),
                    what="renewing a lease",
                )

    def release(self) -> None:
        self._stop.set()
        self.control.call(
            lambda client: client.release_concurrency_slots_with_lease(lease_id=self.lease_id),
            what="releasing a lease",
        )
