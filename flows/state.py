"""Alert lifecycle state on the Prefect server, shared by every worker.

Each fingerprint's state (first/last seen, last sent, count, firing) is a
Prefect Variable. A model's states are edited under that model's lock, a
global concurrency limit of 1, so two workers never interleave a
read-modify-write and no count is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import VariableCreate, VariableUpdate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists

from flows.limits import ensure_limit, limit_names
from slack_alerts.lifecycle import FingerprintState, StateSession

LOCK_WAIT_SECONDS = 120.0
_PREFIX = "slack_alerts_fp_"


def variable_name(fingerprint: str) -> str:
    return _PREFIX + fingerprint  # fingerprints are 16 lowercase hex digits


class _PrefectSession:
    def __init__(self, client: SyncPrefectClient) -> None:
        self.client = client

    def load(self, fingerprints: Iterable[str]) -> dict[str, FingerprintState]:
        states = {}
        for fingerprint in dict.fromkeys(fingerprints):
            variable = self.client.read_variable_by_name(variable_name(fingerprint))
            if variable is not None and isinstance(variable.value, dict):
                states[fingerprint] = FingerprintState.from_dict(variable.value)
        return states

    def save(self, states: Iterable[FingerprintState]) -> None:
        for state in states:
            name, value = variable_name(state.fingerprint), state.to_dict()
            try:
                self.client.create_variable(VariableCreate(name=name, value=value))
            except ObjectAlreadyExists:
                self.client.update_variable(VariableUpdate(name=name, value=value))


class PrefectStateStore:
    """``StateStore`` on the Prefect server (see ``slack_alerts.lifecycle``)."""

    @contextmanager
    def transaction(self, models: Sequence[str]) -> Iterator[StateSession]:
        locks = [limit_names(model).lock for model in sorted(set(models))]
        for name in locks:
            ensure_limit(name, 1)
        with (
            concurrency(locks, timeout_seconds=LOCK_WAIT_SECONDS, strict=True),
            get_client(sync_client=True) as client,
        ):
            yield _PrefectSession(client)

    def get(self, fingerprint: str) -> FingerprintState | None:
        with get_client(sync_client=True) as client:
            return _PrefectSession(client).load([fingerprint]).get(fingerprint)
