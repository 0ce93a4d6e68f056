"""Per-model limits held by the Prefect server, so they apply across all workers.

Each model gets two global concurrency limits:

- ``slack-alerts-rate-<model>``: a rate limit (``slot_decay_per_second``),
  burst = ``limit``, refill = rate per minute / 60, used with
  ``prefect.concurrency.sync.rate_limit``;
- ``slack-alerts-inflight-<model>``: at most N sends in flight, used with
  ``prefect.concurrency.sync.concurrency``.

Prefect silently skips limits that do not exist, so they are created on
first use from the webhook block's settings (and updated if those change).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from dataclasses import dataclass

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

PREFIX = "slack-alerts"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_READABLE = 60


def limit_key(model_id: str) -> str:
    """A name-safe, collision-free key for a model id.

    Prefect rejects ``/ % & < >`` in names; we keep a readable prefix of the
    id and add a hash of the whole id, so ``a/b`` and ``a-b`` stay distinct.
    """
    readable = _UNSAFE.sub("-", model_id).strip("-.")[:_MAX_READABLE] or "model"
    digest = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}"


@dataclass(frozen=True)
class ModelLimits:
    """The limit settings for one model, from a webhook block."""

    rate_limit_per_minute: int = 10
    burst: int = 10
    max_concurrent: int = 2

    @property
    def slot_decay_per_second(self) -> float:
        return self.rate_limit_per_minute / 60.0


@dataclass(frozen=True)
class LimitNames:
    rate: str
    inflight: str
    lock: str  # a limit of 1: the model's alert state is edited by one worker at a time


def limit_names(model_id: str) -> LimitNames:
    key = limit_key(model_id)
    return LimitNames(
        rate=f"{PREFIX}-rate-{key}",
        inflight=f"{PREFIX}-inflight-{key}",
        lock=f"{PREFIX}-lock-{key}",
    )


_ensured: set[tuple[str, int, float]] = set()
# Held across the API calls: concurrent first sends for a new model would
# otherwise race to create the same limit (harmless, but noisy server logs).
_ensured_lock = threading.Lock()


def ensure_limit(name: str, limit: int, decay: float = 0.0) -> None:
    marker = (name, limit, decay)
    with _ensured_lock:
        if marker in _ensured:
            return
        with get_client(sync_client=True) as client:
            try:
                existing = client.read_global_concurrency_limit_by_name(name)
            except ObjectNotFound:
                existing = None
            if existing is None:
                # Another worker may create it first, from the same settings.
                with contextlib.suppress(ObjectAlreadyExists):
                    client.create_global_concurrency_limit(
                        GlobalConcurrencyLimitCreate(
                            name=name, limit=limit, slot_decay_per_second=decay, active=True
                        )
                    )
            elif existing.limit != limit or (existing.slot_decay_per_second or 0.0) != decay:
                client.update_global_concurrency_limit(
                    name,
                    GlobalConcurrencyLimitUpdate(limit=limit, slot_decay_per_second=decay),
                )
        _ensured.add(marker)


def ensure_model_limits(model_id: str, settings: ModelLimits) -> LimitNames:
    """Create (or align) the model's two limits on the server; cached per process."""
    names = limit_names(model_id)
    ensure_limit(names.rate, settings.burst, settings.slot_decay_per_second)
    ensure_limit(names.inflight, settings.max_concurrent)
    return names
