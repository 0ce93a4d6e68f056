"""``PrefectSilenceStore``: silences as Prefect Variables, shared by every worker.

One variable per silence (``slack_alerts_silence_<id>``), so adding and
expiring never conflict; reading all of them is one filter call, cached for
a few seconds per process so a run over many models reads them once.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import VariableCreate, VariableUpdate
from prefect.exceptions import ObjectAlreadyExists

from flows.backend.controlplane import ControlPlane
from slack_alerts.silences import Silence

PREFIX = "slack_alerts_silence_"
CACHE_SECONDS = 10.0
_PAGE = 200


class PrefectSilenceStore:
    """``SilenceStore`` on the Prefect server."""

    def __init__(self, control: ControlPlane) -> None:
        self.control = control
        self._cache: tuple[float, list[Silence]] | None = None
        self._lock = threading.Lock()

    def _read(self, client: SyncPrefectClient) -> list[Silence]:
        found: list[Silence] = []
        offset = 0
        while True:
            page = client.request(
                "POST",
                "/variables/filter",
                json={"variables": {"name": {"like_": PREFIX}}, "limit": _PAGE, "offset": offset},
            ).json()
            for variable in page:
                if variable["name"].startswith(PREFIX) and isinstance(variable["value"], dict):
                    try:
                        found.append(Silence.model_validate(variable["value"]))
                    except ValueError:
                        continue  # not ours, or edited by hand into something invalid
            if len(page) < _PAGE:
                return found
            offset += _PAGE

    def all(self) -> list[Silence]:
        with self._lock:
            if self._cache is not None and time.monotonic() - self._cache[0] < CACHE_SECONDS:
                return list(self._cache[1])
        silences = self.control.call(self._read, what="reading silences")
        with self._lock:
            self._cache = (time.monotonic(), silences)
        return list(silences)

    def add(self, silence: Silence) -> Silence:
        name, value = PREFIX + silence.id, silence.model_dump(mode="json")

        def write(client: SyncPrefectClient) -> None:
            try:
                client.create_variable(VariableCreate(name=name, value=value))
            except ObjectAlreadyExists:
                client.update_variable(VariableUpdate(name=name, value=value))

        self.control.call(write, what="saving a silence")
        with self._lock:
            self._cache = None
        return silence

    def expire(self, silence_id: str, now: datetime | None = None) -> Silence | None:
        with self._lock:
            self._cache = None
        found = next((s for s in self.all() if s.id == silence_id), None)
        if found is None:
            return None
        # model_copy skips validation: an unstarted silence may end before it starts.
        return self.add(found.model_copy(update={"ends_at": now or datetime.now(UTC)}))
